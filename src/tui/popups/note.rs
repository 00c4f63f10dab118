//! A one-line note for a lead, typed into a prompt.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Dialog;
use crate::domain::lead::LeadId;
use crate::present;
use crate::tui::app::{App, Command};
use crate::tui::io::IoRequest;
use crate::tui::theme::Theme;
use crate::tui::widgets::text_input;
use crate::tui::widgets::toast::ToastKind;

/// The frame's title.
pub const TITLE: &str = " note ";
/// Columns wide.
pub const WIDTH: u16 = 64;

/// Keys in the prompt: typing, Backspace, Enter saves, Esc cancels.
pub fn key(
    app: &mut App,
    key: &KeyEvent,
    id: LeadId,
    name: String,
    mut text: String,
) -> Vec<Command> {
    match key.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Enter if text.trim().is_empty() => {
            app.toasts
                .push(ToastKind::Info, "empty note: nothing saved");
            return Vec::new();
        }
        KeyCode::Enter => return vec![Command::Io(IoRequest::Note { id, name, text })],
        _ => {
            text_input::edit(&mut text, key);
        }
    }
    app.dialog = Dialog::Note { id, name, text };
    Vec::new()
}

/// The prompt and what is typed so far.
pub fn lines(name: &str, text: &str, t: &Theme) -> Vec<Line<'static>> {
    vec![
        Line::from(format!("Note for {}:", present::safe(name))),
        text_input::line("> ", text, Style::default(), t),
        Line::default(),
        Line::from(Span::styled(
            "enter: save    esc: cancel",
            Style::default().fg(t.muted),
        )),
    ]
}
