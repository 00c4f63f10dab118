//! How long to postpone a lead's next touch.

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Dialog;
use crate::domain::lead::LeadId;
use crate::present;
use crate::tui::app::{App, Command};
use crate::tui::io::IoRequest;
use crate::tui::theme::Theme;

/// The snooze choices.
pub const SNOOZE_CHOICES: [(&str, i64); 3] = [("1 day", 1), ("3 days", 3), ("1 week", 7)];

/// The frame's title.
pub const TITLE: &str = " snooze ";
/// Columns wide.
pub const WIDTH: u16 = 40;

/// 1–3 snoozes for that long on the engine's clock; Esc, q or n cancels.
pub fn key(app: &mut App, key: &KeyEvent, id: LeadId, name: String) -> Vec<Command> {
    let choice = match key.code {
        KeyCode::Char(c @ '1'..='3') => Some(usize::from(c as u8 - b'1')),
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('n') => return Vec::new(),
        _ => None,
    };
    match choice {
        Some(i) => {
            let until = app.now() + Duration::days(SNOOZE_CHOICES[i].1);
            vec![Command::Io(IoRequest::Snooze { id, name, until })]
        }
        None => {
            app.dialog = Dialog::Snooze { id, name };
            Vec::new()
        }
    }
}

/// The choices, numbered.
pub fn lines(name: &str, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(format!("Snooze {} for:", present::safe(name))),
        Line::default(),
    ];
    for (i, (label, _)) in SNOOZE_CHOICES.iter().enumerate() {
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", i + 1), Style::default().fg(t.accent)),
            Span::raw(*label),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "esc: cancel",
        Style::default().fg(t.muted),
    )));
    lines
}
