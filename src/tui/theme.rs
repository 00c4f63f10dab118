//! Themes: colours by role (column header, card, hot, overdue…), loaded from
//! TOML. Built-in themes are compiled in; files in the config dir's
//! `themes/` add or replace them. A theme may name a `parent` and override
//! only some roles. Each role has a true-colour `rgb` and a 16-colour `ansi`
//! fallback, used over SSH and in terminals without true colour.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::Color;
use serde::Deserialize;

use crate::domain::toml_pos::locate;

/// The theme used when none is named or the named one is broken.
pub const DEFAULT_THEME: &str = "dark";

/// Compiled-in themes: name, file label, text.
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "dark",
        "(built-in dark.toml)",
        include_str!("../../themes/dark.toml"),
    ),
    (
        "light",
        "(built-in light.toml)",
        include_str!("../../themes/light.toml"),
    ),
    (
        "high-contrast",
        "(built-in high-contrast.toml)",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The roles a theme colours, in file order.
pub const ROLES: &[&str] = &[
    "background",
    "text",
    "muted",
    "accent",
    "column_header",
    "card",
    "selected",
    "hot",
    "due_soon",
    "overdue",
    "success",
    "error",
];

/// A theme file problem, naming the file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    /// Bad TOML, an unknown key or a bad colour.
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        /// File (or built-in label).
        file: String,
        /// 1-based line.
        line: usize,
        /// Dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read.
    #[error("{file}: {message}")]
    Read {
        /// File.
        file: String,
        /// Why.
        message: String,
    },
    /// `parent` names no theme, or parents loop.
    #[error("{file}: parent: {message}")]
    Parent {
        /// File.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorDepth {
    /// 24-bit colour: use `rgb`.
    TrueColor,
    /// The 16 ANSI colours: use `ansi`.
    Ansi16,
}

impl ColorDepth {
    /// `truecolor`, `16`, or `auto` (true colour when `COLORTERM` says so).
    pub fn from_setting(setting: &str, colorterm: Option<&str>) -> ColorDepth {
        match setting.trim().to_ascii_lowercase().as_str() {
            "truecolor" | "24bit" => ColorDepth::TrueColor,
            "16" | "ansi" => ColorDepth::Ansi16,
            _ => match colorterm {
                Some(v) if v.contains("truecolor") || v.contains("24bit") => ColorDepth::TrueColor,
                _ => ColorDepth::Ansi16,
            },
        }
    }
}

/// One role's colours as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    rgb: Option<toml::Spanned<String>>,
    ansi: Option<toml::Spanned<String>>,
}

/// A theme file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    parent: Option<String>,
    #[serde(default)]
    roles: BTreeMap<toml::Spanned<String>, RoleSpec>,
}

/// A parsed theme before its parent is applied.
#[derive(Debug, Clone)]
struct Parsed {
    file: String,
    parent: Option<String>,
    roles: BTreeMap<String, (Option<Color>, Option<Color>)>,
}

fn parse_rgb(text: &str) -> Option<Color> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

fn parse_ansi(text: &str) -> Option<Color> {
    Some(
        match text.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
            "black" => Color::Black,
            "red" => Color::Red,
            "green" => Color::Green,
            "yellow" => Color::Yellow,
            "blue" => Color::Blue,
            "magenta" => Color::Magenta,
            "cyan" => Color::Cyan,
            "gray" | "grey" => Color::Gray,
            "darkgray" | "darkgrey" => Color::DarkGray,
            "lightred" => Color::LightRed,
            "lightgreen" => Color::LightGreen,
            "lightyellow" => Color::LightYellow,
            "lightblue" => Color::LightBlue,
            "lightmagenta" => Color::LightMagenta,
            "lightcyan" => Color::LightCyan,
            "white" => Color::White,
            _ => return None,
        },
    )
}

fn parse(file: &str, text: &str, default_name: &str) -> Result<(String, Parsed), ThemeError> {
    let invalid = |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| {
        let (line, _, field) = locate(text, span);
        ThemeError::Invalid {
            file: file.to_string(),
            line,
            key: key.unwrap_or(field),
            message,
        }
    };
    let raw: ThemeFile = toml::from_str(text)
        .map_err(|e| invalid(e.span(), None, e.message().trim().to_string()))?;
    let mut roles = BTreeMap::new();
    for (role, spec) in raw.roles {
        let name = role.get_ref().clone();
        if !ROLES.contains(&name.as_str()) {
            return Err(invalid(
                Some(role.span()),
                Some(format!("roles.{name}")),
                format!("unknown role (expected one of: {})", ROLES.join(", ")),
            ));
        }
        let rgb = match &spec.rgb {
            Some(v) => Some(parse_rgb(v.get_ref()).ok_or_else(|| {
                invalid(
                    Some(v.span()),
                    Some(format!("roles.{name}.rgb")),
                    format!("`{}` is not a colour like \"#89b4fa\"", v.get_ref()),
                )
            })?),
            None => None,
        };
        let ansi = match &spec.ansi {
            Some(v) => Some(parse_ansi(v.get_ref()).ok_or_else(|| {
                invalid(
                    Some(v.span()),
                    Some(format!("roles.{name}.ansi")),
                    format!(
                        "`{}` is not one of the 16 colours (black, red, green, yellow, blue, magenta, cyan, gray, darkgray, light…, white)",
                        v.get_ref()
                    ),
                )
            })?),
            None => None,
        };
        roles.insert(name, (rgb, ansi));
    }
    let name = raw.name.unwrap_or_else(|| default_name.to_string());
    Ok((
        name,
        Parsed {
            file: file.to_string(),
            parent: raw.parent,
            roles,
        },
    ))
}

/// Resolved colours, one per role, for the terminal's colour depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Theme name.
    pub name: String,
    /// Screen background.
    pub background: Color,
    /// Body text.
    pub text: Color,
    /// Secondary text (company, counts).
    pub muted: Color,
    /// Highlights and the title.
    pub accent: Color,
    /// Column titles.
    pub column_header: Color,
    /// Card background.
    pub card: Color,
    /// Selected card background.
    pub selected: Color,
    /// Hot leads.
    pub hot: Color,
    /// Touches due within the hour.
    pub due_soon: Color,
    /// Touches past due.
    pub overdue: Color,
    /// Replies, bookings.
    pub success: Color,
    /// Failures, in-doubt touches.
    pub error: Color,
}

/// Every theme nudge can show, and the problems found loading them.
#[derive(Debug, Clone)]
pub struct Themes {
    parsed: BTreeMap<String, Parsed>,
    depth: ColorDepth,
    /// Files that could not be used, each named with its key; shown once.
    pub problems: Vec<ThemeError>,
}

impl Themes {
    /// The built-ins plus `*.toml` in `dir` (user themes win by name).
    pub fn load(dir: Option<&Path>, depth: ColorDepth) -> Themes {
        let mut themes = Themes {
            parsed: BTreeMap::new(),
            depth,
            problems: Vec::new(),
        };
        for (name, file, text) in BUILTIN {
            themes.add(file, text, name);
        }
        if let Some(dir) = dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let label = path.display().to_string();
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match std::fs::read_to_string(&path) {
                    Ok(text) => themes.add(&label, &text, &stem),
                    Err(e) => themes.problems.push(ThemeError::Read {
                        file: label,
                        message: e.to_string(),
                    }),
                }
            }
        }
        themes
    }

    /// Adds one theme file's text; a broken one is recorded in `problems`.
    pub fn add(&mut self, file: &str, text: &str, default_name: &str) {
        match parse(file, text, default_name) {
            Ok((name, parsed)) => {
                self.parsed.insert(name, parsed);
            }
            Err(e) => self.problems.push(e),
        }
    }

    /// Theme names, sorted, for cycling.
    pub fn names(&self) -> Vec<String> {
        self.parsed.keys().cloned().collect()
    }

    /// The theme called `name`, with its parents applied; a missing or
    /// broken one gives the error and the default instead.
    pub fn resolve(&self, name: &str) -> (Theme, Option<ThemeError>) {
        match self.try_resolve(name) {
            Ok(theme) => (theme, None),
            Err(e) => {
                let fallback = self
                    .try_resolve(DEFAULT_THEME)
                    .unwrap_or_else(|_| self.build(DEFAULT_THEME, &BTreeMap::new()));
                (fallback, Some(e))
            }
        }
    }

    fn try_resolve(&self, name: &str) -> Result<Theme, ThemeError> {
        let mut chain: Vec<&Parsed> = Vec::new();
        let mut next = Some(name.to_string());
        let mut seen = Vec::new();
        while let Some(current) = next {
            let file = chain
                .last()
                .map(|p| p.file.clone())
                .unwrap_or_else(|| format!("theme `{name}`"));
            if seen.contains(&current) {
                return Err(ThemeError::Parent {
                    file,
                    message: format!("themes inherit in a loop through `{current}`"),
                });
            }
            let parsed = self
                .parsed
                .get(&current)
                .ok_or_else(|| ThemeError::Parent {
                    file,
                    message: format!(
                        "no theme named `{current}` (known: {})",
                        self.names().join(", ")
                    ),
                })?;
            seen.push(current);
            chain.push(parsed);
            next = parsed.parent.clone();
        }
        // A role a child names replaces the parent's whole role, so a
        // 16-colour child is not overridden by its parent's true colours.
        let mut roles = BTreeMap::new();
        for parsed in chain.iter().rev() {
            for (role, colours) in &parsed.roles {
                roles.insert(role.clone(), *colours);
            }
        }
        Ok(self.build(name, &roles))
    }

    fn build(&self, name: &str, roles: &BTreeMap<String, (Option<Color>, Option<Color>)>) -> Theme {
        let pick = |role: &str, fallback: Color| {
            let (rgb, ansi) = roles.get(role).copied().unwrap_or((None, None));
            match self.depth {
                ColorDepth::TrueColor => rgb.or(ansi).unwrap_or(fallback),
                ColorDepth::Ansi16 => ansi.unwrap_or(fallback),
            }
        };
        Theme {
            name: name.to_string(),
            background: pick("background", Color::Reset),
            text: pick("text", Color::Reset),
            muted: pick("muted", Color::DarkGray),
            accent: pick("accent", Color::LightBlue),
            column_header: pick("column_header", Color::LightCyan),
            card: pick("card", Color::Reset),
            selected: pick("selected", Color::Blue),
            hot: pick("hot", Color::LightRed),
            due_soon: pick("due_soon", Color::Yellow),
            overdue: pick("overdue", Color::Red),
            success: pick("success", Color::Green),
            error: pick("error", Color::LightRed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve_with_parents_and_fallbacks() {
        let themes = Themes::load(None, ColorDepth::TrueColor);
        assert!(themes.problems.is_empty(), "{:?}", themes.problems);
        assert_eq!(themes.names(), ["dark", "high-contrast", "light"]);
        let (dark, err) = themes.resolve("dark");
        assert!(err.is_none());
        assert_eq!(dark.accent, Color::Rgb(0x89, 0xb4, 0xfa));
        // high-contrast gives only ansi colours; true colour falls back to them.
        let (hc, _) = themes.resolve("high-contrast");
        assert_eq!(hc.hot, Color::LightMagenta);
        let ansi = Themes::load(None, ColorDepth::Ansi16);
        assert_eq!(ansi.resolve("dark").0.accent, Color::LightBlue);
    }

    #[test]
    fn child_overrides_only_what_it_names() {
        let mut themes = Themes::load(None, ColorDepth::TrueColor);
        themes.add(
            "mine.toml",
            "parent = \"light\"\n[roles]\nhot = { rgb = \"#ff0000\" }\n",
            "mine",
        );
        let (mine, err) = themes.resolve("mine");
        assert!(err.is_none());
        assert_eq!(mine.hot, Color::Rgb(255, 0, 0));
        assert_eq!(mine.text, themes.resolve("light").0.text);
    }

    #[test]
    fn broken_theme_names_file_and_key_then_falls_back() {
        let mut themes = Themes::load(None, ColorDepth::TrueColor);
        themes.add("bad.toml", "[roles]\ntext = { rgb = \"#12\" }\n", "bad");
        let e = themes.problems[0].to_string();
        assert!(e.starts_with("bad.toml:2: roles.text.rgb:"), "{e}");
        themes.add("typo.toml", "[roles]\nhott = { ansi = \"red\" }\n", "typo");
        let e = themes.problems[1].to_string();
        assert!(e.contains("typo.toml:2: roles.hott"), "{e}");
        themes.add("orphan.toml", "parent = \"nope\"\n", "orphan");
        let (theme, err) = themes.resolve("orphan");
        assert_eq!(theme.name, "dark");
        assert!(err.unwrap().to_string().contains("no theme named `nope`"));
        let (theme, err) = themes.resolve("missing");
        assert_eq!(theme.name, "dark");
        assert!(err.is_some());
    }
}
