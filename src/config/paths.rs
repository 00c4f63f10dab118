//! Where nudge keeps its files: the config file and dir, and the data dir.

use std::path::{Path, PathBuf};

use super::ConfigError;

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
