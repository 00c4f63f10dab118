//! A one-line text field, as the search box, the note prompt and the form
//! use it: printable keys type, Backspace deletes, and a bar shows the cursor
//! at the end.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::present;
use crate::tui::theme::Theme;

/// What an editing key did to the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// A character was typed.
    Typed,
    /// Backspace (the text may already have been empty).
    Deleted,
    /// Not an editing key; the text is unchanged.
    Ignored,
}

/// Applies `key` to `text`: a character without Ctrl is typed, Backspace
/// deletes the last character.
pub fn edit(text: &mut String, key: &KeyEvent) -> Edit {
    match key.code {
        KeyCode::Backspace => {
            text.pop();
            Edit::Deleted
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            text.push(c);
            Edit::Typed
        }
        _ => Edit::Ignored,
    }
}

/// The field drawn: `prompt`, the text (made safe: a paste can hold
/// anything) in `style`, the cursor bar.
pub fn line(prompt: &'static str, text: &str, style: Style, t: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(prompt, Style::default().fg(t.accent)),
        Span::styled(present::safe(text).into_owned(), style),
        Span::styled("▏", Style::default().fg(t.accent)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn typing_and_backspace_edit_ctrl_keys_do_not() {
        let mut text = String::new();
        assert_eq!(
            edit(&mut text, &key(KeyCode::Char('a'), KeyModifiers::NONE)),
            Edit::Typed
        );
        edit(&mut text, &key(KeyCode::Char('B'), KeyModifiers::SHIFT));
        assert_eq!(
            edit(&mut text, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Edit::Ignored
        );
        assert_eq!(text, "aB");
        assert_eq!(
            edit(&mut text, &key(KeyCode::Backspace, KeyModifiers::NONE)),
            Edit::Deleted
        );
        assert_eq!(text, "a");
        assert_eq!(
            edit(&mut text, &key(KeyCode::Enter, KeyModifiers::NONE)),
            Edit::Ignored
        );
    }
}
