//! Configuration: the TOML file, `NUDGE_<SECTION>_<KEY>` overrides, and the
//! config and data directories.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use crate::domain::render::Sender;
use crate::domain::toml_pos::locate;

/// Sections that environment variables may override. Other `NUDGE_*`
/// variables (`NUDGE_CONFIG`, `NUDGE_DATA_DIR`) are not config keys.
pub const SECTIONS: &[&str] = &["general", "sender", "store"];

/// The whole configuration, defaults filled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Time zone and phone defaults.
    #[serde(default)]
    pub general: General,
    /// Who messages come from.
    #[serde(default)]
    pub sender: Sender,
    /// Database tuning.
    #[serde(default)]
    pub store: StoreSettings,
}

/// `[general]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// Zone for leads without one; sending windows are in the lead's zone.
    #[serde(default = "default_tz")]
    pub default_tz: Tz,
    /// ISO country for phone numbers written without `+country`, e.g. `US`.
    #[serde(default)]
    pub default_region: Option<String>,
}

fn default_tz() -> Tz {
    Tz::UTC
}

impl Default for General {
    fn default() -> Self {
        General {
            default_tz: default_tz(),
            default_region: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sled page cache in MiB; sled's default (1 GiB) is far too much for a small server.
    #[serde(default = "default_cache_mb", deserialize_with = "number_or_string")]
    pub cache_mb: u64,
}

fn default_cache_mb() -> u64 {
    32
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_mb: default_cache_mb(),
        }
    }
}

/// Accepts `64` from the file or `"64"` from an environment variable.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Num(n) => Ok(n),
        Raw::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number"))),
    }
}

/// A config problem, located in the file or the environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file was asked for but cannot be read.
    #[error("cannot read config file {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad TOML or a bad value in the file.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A bad value in an environment variable.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// No home directory to put files in.
    #[error("cannot find a home directory; pass --config and --data-dir")]
    NoHome,
}

/// Where nudge keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (may not exist).
    pub config_file: PathBuf,
    /// Holds `config.toml`, `sequences/` and `themes/`.
    pub config_dir: PathBuf,
    /// The sled database.
    pub data_dir: PathBuf,
    /// Whether the config file was named explicitly (then it must exist).
    pub config_explicit: bool,
}

impl Paths {
    /// Resolves directories: explicit paths win, else the platform's
    /// (`~/.config/nudge`, `~/.local/share/nudge` on Linux).
    pub fn resolve(
        config: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> Result<Paths, ConfigError> {
        let project = directories::ProjectDirs::from("", "", "nudge");
        let config_explicit = config.is_some();
        let config_file = match config {
            Some(file) => file,
            None => project
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .config_dir()
                .join("config.toml"),
        };
        let config_dir = config_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let data_dir = match data_dir {
            Some(dir) => dir,
            None => project
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .data_dir()
                .to_path_buf(),
        };
        Ok(Paths {
            config_file,
            config_dir,
            data_dir,
            config_explicit,
        })
    }
}

impl Config {
    /// Loads the file (missing is fine unless it was named explicitly), then
    /// applies `NUDGE_<SECTION>_<KEY>` variables from `env`, which win.
    pub fn load(
        paths: &Paths,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(&paths.config_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.config_explicit => {
                String::new()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: paths.config_file.clone(),
                    source,
                });
            }
        };
        Config::parse(&paths.config_file, &text, env)
    }

    /// Parses config text plus environment overrides.
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |span, message: String| {
            let (line, column, field) = locate(text, span);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                field,
                message,
            }
        };
        // The file alone first, so its errors point at its lines.
        let mut config: Config =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        // Then each override in turn, so a bad one is named.
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        vars.sort();
        for (var, value) in vars {
            let Some((section, key)) = var.strip_prefix("NUDGE_").and_then(|r| r.split_once('_'))
            else {
                continue;
            };
            let section = section.to_ascii_lowercase();
            if !SECTIONS.contains(&section.as_str()) {
                continue;
            }
            if let toml::Value::Table(t) = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                t.insert(key.to_ascii_lowercase(), toml::Value::String(value));
            }
            config = Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Env {
                    var: var.clone(),
                    message: e.message().trim().to_string(),
                }
            })?;
        }
        Ok(config)
    }
}

/// The commented config `nudge init` writes.
pub const CONFIG_TEMPLATE: &str = r#"# nudge configuration.
# Every key can also be set with an environment variable NUDGE_<SECTION>_<KEY>,
# which wins over this file, e.g. NUDGE_GENERAL_DEFAULT_TZ=Europe/Berlin.

[general]
# Time zone for leads that have none; sending windows are in the lead's zone.
default_tz = "UTC"
# Country for phone numbers written without +<country>, e.g. "US" or "DE".
# default_region = "US"

[sender]
# Fill the sender_name, sender_company and booking_url template variables.
name = ""
company = ""
booking_url = ""

[store]
# sled page cache in MiB.
cache_mb = 32
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn template_parses_and_env_wins() {
        let c = Config::parse(
            Path::new("c.toml"),
            CONFIG_TEMPLATE,
            env(&[
                ("NUDGE_GENERAL_DEFAULT_TZ", "Europe/Berlin"),
                ("NUDGE_STORE_CACHE_MB", "8"),
                ("NUDGE_DATA_DIR", "/tmp/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.general.default_tz, chrono_tz::Europe::Berlin);
        assert_eq!(c.store.cache_mb, 8);
    }

    #[test]
    fn file_errors_name_line_and_field() {
        let text = "[general]\ndefault_tz = \"Mars/Olympus\"\n";
        let e = Config::parse(Path::new("c.toml"), text, env(&[])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("c.toml:2:"), "{msg}");
        assert!(msg.contains("general.default_tz"), "{msg}");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = Config::parse(
            Path::new("c.toml"),
            "",
            env(&[("NUDGE_STORE_CACHE_MB", "lots")]),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("NUDGE_STORE_CACHE_MB") && msg.contains("lots"),
            "{msg}"
        );
        let e =
            Config::parse(Path::new("c.toml"), "", env(&[("NUDGE_SENDER_NMAE", "x")])).unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
    }
}
