//! Pick a sequence or a source to filter the board (and the stats) by.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Dialog;
use crate::present;
use crate::tui::app::{App, Command, Screen};
use crate::tui::screens::board::BoardState;
use crate::tui::theme::Theme;

/// Sources listed in the filter picker.
pub const SOURCES_LIMIT: usize = 50;

/// One choice in the filter picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterChoice {
    /// Every lead.
    All,
    /// One sequence (its steps make the columns).
    Sequence(String),
    /// One source.
    Source(String),
}

/// The frame's title.
pub const TITLE: &str = " filter ";
/// Columns wide.
pub const WIDTH: u16 = 48;

/// Keys in the picker: arrows or j/k move, Enter applies, Esc closes.
pub fn key(
    app: &mut App,
    key: &KeyEvent,
    choices: Vec<FilterChoice>,
    mut cursor: usize,
) -> Vec<Command> {
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') => return Vec::new(),
        KeyCode::Up | KeyCode::Char('k') => cursor = cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            cursor = (cursor + 1).min(choices.len().saturating_sub(1))
        }
        KeyCode::Enter => {
            return match choices.get(cursor).cloned() {
                Some(choice) => apply(app, choice),
                None => Vec::new(),
            };
        }
        _ => {}
    }
    app.dialog = Dialog::Filter { choices, cursor };
    Vec::new()
}

/// Switches the board to a filter and re-reads it.
pub fn apply(app: &mut App, choice: FilterChoice) -> Vec<Command> {
    let default = app
        .sequences
        .iter()
        .find(|s| s.name == app.default_sequence)
        .or(app.sequences.first())
        .cloned();
    let source = app.board.source.clone();
    let rebuilt = match &choice {
        FilterChoice::All => default.map(|s| BoardState::new(&s, false)),
        FilterChoice::Sequence(name) => app.sequences.iter().find(|s| &s.name == name).map(|s| {
            let mut board = BoardState::new(s, true);
            board.source = source;
            board
        }),
        FilterChoice::Source(source) => {
            app.board.source = Some(source.clone());
            app.board.focus = 0;
            app.board.first_visible = 0;
            for column in &mut app.board.columns {
                column.cursor = 0;
                column.scroll = 0;
                column.cards.clear();
            }
            None
        }
    };
    if let Some(mut board) = rebuilt {
        board.done_collapsed = app.board.done_collapsed;
        board.resize(app.size.0, app.size.1);
        app.board = board;
    }
    app.stats.stale = true;
    let mut commands: Vec<Command> = app.board.refresh().into_iter().map(Command::Io).collect();
    if app.screen == Screen::Stats {
        commands.extend(app.ask_stats());
    }
    commands
}

/// The choices, the highlighted one marked.
pub fn lines(choices: &[FilterChoice], cursor: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from("Show only:"), Line::default()];
    for (i, choice) in choices.iter().enumerate() {
        let label = match choice {
            FilterChoice::All => "all leads".to_string(),
            FilterChoice::Sequence(name) => format!("sequence  {}", present::safe(name)),
            FilterChoice::Source(name) => format!("source    {}", present::safe(name)),
        };
        let style = if i == cursor {
            Style::default().fg(t.text).bg(t.selected)
        } else {
            Style::default().fg(t.text)
        };
        lines.push(Line::from(Span::styled(format!(" {label} "), style)));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "↑↓ move · enter apply · esc cancel",
        Style::default().fg(t.muted),
    )));
    lines
}
