//! Actions and the key map. Keys are data, not code: the defaults below are
//! partially overridden by `[keys]` in the config (`x = "replied"`), and the
//! help screen is generated from the active map, so it never lies.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::{Deserialize, Serialize};

/// Everything a key can ask for. Derives `Deserialize` so config values map
/// straight to actions, as in television's key bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Previous card.
    Up,
    /// Next card.
    Down,
    /// Previous column.
    Left,
    /// Next column.
    Right,
    /// First card of the column.
    First,
    /// Last card of the column.
    Last,
    /// A screenful up.
    PageUp,
    /// A screenful down.
    PageDown,
    /// Open the selected lead's detail.
    Open,
    /// Close the detail, help or a dialog.
    Back,
    /// Mark the selected lead replied.
    Replied,
    /// Mark it booked.
    Booked,
    /// Pause an active lead, resume a paused one.
    PauseResume,
    /// Hand it off to a human.
    HandOff,
    /// Opt it out (asks first: it is final).
    OptOut,
    /// Postpone its next touch (asks how long).
    Snooze,
    /// Send its next touch now (asks first).
    SendNow,
    /// Undo the last mark, within 10 seconds.
    Undo,
    /// Board → activity → stats → board.
    NextScreen,
    /// Every key.
    Help,
    /// Next theme.
    Theme,
    /// Fold or unfold the Done column.
    ToggleDone,
    /// Add a note to the selected lead.
    Note,
    /// Add a lead (a form).
    AddLead,
    /// Edit the selected lead (the same form, filled in).
    Edit,
    /// Find leads by name, email or company.
    Search,
    /// Show only one sequence's or source's leads.
    Filter,
    /// Leave.
    Quit,
}

impl Action {
    /// One line for the help screen.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Up => "previous card",
            Action::Down => "next card",
            Action::Left => "previous column",
            Action::Right => "next column",
            Action::First => "first card",
            Action::Last => "last card",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Open => "lead detail",
            Action::Back => "close / back",
            Action::Replied => "mark replied",
            Action::Booked => "mark booked",
            Action::PauseResume => "pause / resume",
            Action::HandOff => "hand off",
            Action::OptOut => "opt out (asks first)",
            Action::Snooze => "snooze: 1 day, 3 days, 1 week",
            Action::SendNow => "send next touch now (asks first)",
            Action::Undo => "undo last mark (10 s)",
            Action::NextScreen => "board/activity/stats",
            Action::Help => "this help",
            Action::Theme => "next theme",
            Action::ToggleDone => "fold / unfold Done",
            Action::Note => "add a note",
            Action::AddLead => "add a lead",
            Action::Edit => "edit lead",
            Action::Search => "search name/email/company",
            Action::Filter => "filter: sequence or source",
            Action::Quit => "quit",
        }
    }
}

/// A key as written in the config: a character (`r`, `H`, `?`) or a name
/// (`enter`, `tab`, `ctrl-c`…). Shift is part of the character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

/// Why an entry in `[keys]` could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The left side is not a key.
    #[error(
        "[keys] `{0}` is not a key (use a character, enter, esc, tab, backtab, up, down, left, right, home, end, pageup, pagedown, space or ctrl-<char>)"
    )]
    NotAKey(String),
    /// The right side is not an action.
    #[error(
        "[keys] {key} = \"{action}\": `{action}` is not an action (see the comment above [keys] in the config for the list)"
    )]
    NotAnAction {
        /// The key as written.
        key: String,
        /// The action as written.
        action: String,
    },
}

impl Key {
    /// A plain character key.
    pub const fn char(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: false,
        }
    }

    const fn code(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    /// Parses the config notation.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let err = || KeyError::NotAKey(text.to_string());
        if let Some(rest) = text.strip_prefix("ctrl-") {
            let mut chars = rest.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Key {
                    code: KeyCode::Char(c.to_ascii_lowercase()),
                    ctrl: true,
                }),
                _ => Err(err()),
            };
        }
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(Key::char(c));
        }
        let code = match text.to_ascii_lowercase().as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            _ => return Err(err()),
        };
        Ok(Key::code(code))
    }

    /// The key a terminal event stands for (shift folded into the character).
    pub fn from_event(event: &KeyEvent) -> Key {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let code = match event.code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        Key { code, ctrl }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            _ => f.write_str("?"),
        }
    }
}

/// The default bindings, in help-screen order.
const DEFAULTS: &[(Key, Action)] = &[
    (Key::code(KeyCode::Up), Action::Up),
    (Key::char('k'), Action::Up),
    (Key::code(KeyCode::Down), Action::Down),
    (Key::char('j'), Action::Down),
    (Key::code(KeyCode::Left), Action::Left),
    (Key::char('h'), Action::Left),
    (Key::code(KeyCode::Right), Action::Right),
    (Key::char('l'), Action::Right),
    (Key::char('g'), Action::First),
    (Key::code(KeyCode::Home), Action::First),
    (Key::char('G'), Action::Last),
    (Key::code(KeyCode::End), Action::Last),
    (Key::code(KeyCode::PageUp), Action::PageUp),
    (Key::code(KeyCode::PageDown), Action::PageDown),
    (Key::code(KeyCode::Enter), Action::Open),
    (Key::code(KeyCode::Esc), Action::Back),
    (Key::char('r'), Action::Replied),
    (Key::char('b'), Action::Booked),
    (Key::char('p'), Action::PauseResume),
    (Key::char('H'), Action::HandOff),
    (Key::char('o'), Action::OptOut),
    (Key::char('s'), Action::Snooze),
    (Key::char('d'), Action::SendNow),
    (Key::char('u'), Action::Undo),
    (Key::code(KeyCode::Tab), Action::NextScreen),
    (Key::char('?'), Action::Help),
    (Key::char('t'), Action::Theme),
    (Key::char('z'), Action::ToggleDone),
    (Key::char('n'), Action::Note),
    (Key::char('a'), Action::AddLead),
    (Key::char('e'), Action::Edit),
    (Key::char('/'), Action::Search),
    (Key::char('f'), Action::Filter),
    (Key::char('q'), Action::Quit),
    (
        Key {
            code: KeyCode::Char('c'),
            ctrl: true,
        },
        Action::Quit,
    ),
];

/// Which key does what: the defaults with the config's overrides on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    /// In help order: the defaults, then added keys. A few dozen entries, so
    /// a scan beats a map and keeps the order stable.
    bindings: Vec<(Key, Action)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            bindings: DEFAULTS.to_vec(),
        }
    }
}

impl KeyMap {
    /// The defaults with `overrides` (config key text → action) applied.
    /// `[keys]` stays text in the config (the config sits below the TUI);
    /// the names become actions here.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<KeyMap, KeyError> {
        let mut map = KeyMap::default();
        for (text, name) in overrides {
            let key = Key::parse(text)?;
            let action = Action::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new(name))
            .map_err(|_| KeyError::NotAnAction {
                key: text.clone(),
                action: name.clone(),
            })?;
            match map.bindings.iter_mut().find(|(k, _)| *k == key) {
                Some(binding) => binding.1 = action,
                None => map.bindings.push((key, action)),
            }
        }
        Ok(map)
    }

    /// The action bound to a terminal key event, if any.
    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(event);
        self.bindings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, a)| *a)
    }

    /// Every action with its keys, in action order, for the help screen.
    pub fn by_action(&self) -> Vec<(Action, Vec<Key>)> {
        let mut out: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for (key, action) in &self.bindings {
            out.entry(*action).or_default().push(*key);
        }
        out.into_iter().collect()
    }

    /// The first key bound to `action`, for hints in the footer.
    pub fn key_for(&self, action: Action) -> Option<Key> {
        self.bindings
            .iter()
            .find(|(_, a)| *a == action)
            .map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: char) -> KeyEvent {
        let modifiers = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(KeyCode::Char(c), modifiers)
    }

    #[test]
    fn defaults_cover_the_issue_table() {
        let map = KeyMap::default();
        assert_eq!(map.action(&press('r')), Some(Action::Replied));
        assert_eq!(map.action(&press('H')), Some(Action::HandOff));
        assert_eq!(map.action(&press('h')), Some(Action::Left));
        assert_eq!(map.action(&press('G')), Some(Action::Last));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map.action(&ctrl_c), Some(Action::Quit));
        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(map.action(&tab), Some(Action::NextScreen));
    }

    #[test]
    fn overrides_come_from_toml() {
        let table: BTreeMap<String, String> =
            toml::from_str("x = \"replied\"\nr = \"booked\"\nctrl-x = \"quit\"").unwrap();
        let map = KeyMap::with_overrides(&table).unwrap();
        assert_eq!(map.action(&press('x')), Some(Action::Replied));
        assert_eq!(map.action(&press('r')), Some(Action::Booked));
        assert_eq!(map.key_for(Action::Replied), Some(Key::char('x')));
        let bad = BTreeMap::from([("x".to_string(), "dance".to_string())]);
        let err = KeyMap::with_overrides(&bad).unwrap_err().to_string();
        assert!(err.contains("`dance` is not an action"), "{err}");
        let unknown = BTreeMap::from([("shift-f13".to_string(), "quit".to_string())]);
        assert!(
            KeyMap::with_overrides(&unknown)
                .unwrap_err()
                .to_string()
                .contains("shift-f13")
        );
    }
}
