//! Every key, generated from the active key map so it never lies.

use crossterm::event::KeyEvent;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::present;
use crate::tui::app::{App, Command};
use crate::tui::keys::{Action, KeyMap};
use crate::tui::theme::Theme;

/// The frame's title.
pub const TITLE: &str = " keys ";
/// Columns wide.
pub const WIDTH: u16 = 80;

/// Any key closes help; the quit key also quits.
pub fn key(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    if app.keys.action(key) == Some(Action::Quit) {
        app.quit = true;
    }
    Vec::new()
}

/// Two columns, so every key fits in 80×24.
pub fn lines(keys: &KeyMap, t: &Theme) -> Vec<Line<'static>> {
    let entries: Vec<(String, &str)> = keys
        .by_action()
        .into_iter()
        .map(|(action, keys)| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            (keys.join(" "), action.describe())
        })
        .collect();
    let half = entries.len().div_ceil(2);
    let cell = |e: Option<&(String, &str)>| -> Vec<Span<'static>> {
        match e {
            Some((keys, what)) => vec![
                Span::styled(format!("{keys:<11} "), Style::default().fg(t.accent)),
                Span::raw(present::cell(what, 26)),
            ],
            None => Vec::new(),
        }
    };
    let mut lines: Vec<Line> = (0..half)
        .map(|i| {
            let mut spans = cell(entries.get(i));
            spans.push(Span::raw(" "));
            spans.extend(cell(entries.get(i + half)));
            Line::from(spans)
        })
        .collect();
    lines.push(Line::from(Span::styled(
        "dialogs: y/enter yes · n/esc no · 1-3 pick · any key closes help",
        Style::default().fg(t.muted),
    )));
    lines
}
