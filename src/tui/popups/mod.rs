//! Dialogs and pickers drawn on top of a screen, one file each: the state
//! it needs (in [`Dialog`]), its keys and its lines. This module routes a
//! key to the open one and draws the frame around it.
//!
//! * [`confirm`] — yes or no before opt-out and send-now.
//! * [`snooze`] — how long to postpone.
//! * [`filter`] — a sequence or a source for the board.
//! * [`note`] — a one-line note.
//! * [`form`] — add or edit a lead.
//! * [`help`] — every key.

pub mod confirm;
pub mod filter;
pub mod form;
pub mod help;
pub mod note;
pub mod snooze;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::domain::lead::LeadId;
use crate::tui::app::{App, Command};
use crate::tui::io::IoRequest;
use crate::tui::view::ViewContext;
use filter::FilterChoice;
use form::FormState;

/// A question on top of the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// Nothing asked.
    None,
    /// Yes or no before a consequential request.
    Confirm {
        /// The question.
        prompt: String,
        /// What yes does.
        then: IoRequest,
    },
    /// How long to snooze.
    Snooze {
        /// The lead.
        id: LeadId,
        /// Its name, for the title.
        name: String,
    },
    /// Every key.
    Help,
    /// A one-line note for a lead.
    Note {
        /// The lead.
        id: LeadId,
        /// Its name, for the title.
        name: String,
        /// What is typed.
        text: String,
    },
    /// The add / edit lead form.
    Form(Box<FormState>),
    /// Pick a sequence or source to filter the board by.
    Filter {
        /// The choices (sources arrive after a read).
        choices: Vec<FilterChoice>,
        /// The highlighted one.
        cursor: usize,
    },
}

/// Applies `key` to `dialog`, which is open and was taken out of the app:
/// a popup that stays open puts itself back in `app.dialog`.
pub fn key(app: &mut App, key: &KeyEvent, dialog: Dialog) -> Vec<Command> {
    match dialog {
        Dialog::None => Vec::new(),
        Dialog::Confirm { prompt, then } => confirm::key(app, key, prompt, then),
        Dialog::Snooze { id, name } => snooze::key(app, key, id, name),
        Dialog::Help => help::key(app, key),
        Dialog::Note { id, name, text } => note::key(app, key, id, name, text),
        Dialog::Form(form) => form::key(app, key, form),
        Dialog::Filter { choices, cursor } => filter::key(app, key, choices, cursor),
    }
}

/// Draws the open dialog, if any, centred in `area`.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let (title, lines, width): (&str, Vec<Line>, u16) = match ctx.dialog {
        Dialog::None => return,
        Dialog::Confirm { prompt, .. } => {
            (confirm::TITLE, confirm::lines(prompt, t), confirm::WIDTH)
        }
        Dialog::Snooze { name, .. } => (snooze::TITLE, snooze::lines(name, t), snooze::WIDTH),
        Dialog::Note { name, text, .. } => (note::TITLE, note::lines(name, text, t), note::WIDTH),
        Dialog::Form(form) => (form.title(), form::lines(form, t), form::WIDTH),
        Dialog::Filter { choices, cursor } => (
            filter::TITLE,
            filter::lines(choices, *cursor, t),
            filter::WIDTH,
        ),
        Dialog::Help => (help::TITLE, help::lines(ctx.keys, t), help::WIDTH),
    };
    let height = lines.len() as u16 + 2;
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .border_style(Style::default().fg(t.accent)),
            )
            .style(Style::default().fg(t.text).bg(t.card)),
        rect,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
