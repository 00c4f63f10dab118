//! Yes or no before a consequential request (opt out, send now).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Dialog;
use crate::present;
use crate::tui::app::{App, Command};
use crate::tui::io::IoRequest;
use crate::tui::theme::Theme;

/// The frame's title.
pub const TITLE: &str = " confirm ";
/// Columns wide.
pub const WIDTH: u16 = 60;

/// y or Enter runs `then`; n, Esc or q drops it; other keys keep asking.
pub fn key(app: &mut App, key: &KeyEvent, prompt: String, then: IoRequest) -> Vec<Command> {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => vec![Command::Io(then)],
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => Vec::new(),
        _ => {
            app.dialog = Dialog::Confirm { prompt, then };
            Vec::new()
        }
    }
}

/// The question and how to answer it.
pub fn lines(prompt: &str, t: &Theme) -> Vec<Line<'static>> {
    vec![
        Line::from(present::safe(prompt).into_owned()),
        Line::default(),
        Line::from(Span::styled(
            "y / enter: yes    n / esc: no",
            Style::default().fg(t.muted),
        )),
    ]
}
