//! Search: leads found by part of a name, email or company, as you type.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Outcome;
use crate::domain::lead::Lead;
use crate::present;
use crate::tui::io::IoRequest;
use crate::tui::view::ViewContext;
use crate::tui::widgets::text_input::{self, Edit};

/// Search stops after this many matches (the engine's scan is bounded by it).
pub const SEARCH_LIMIT: usize = 200;

/// The search screen: what is typed and what it found.
#[derive(Debug, Clone, Default)]
pub struct SearchState {
    /// The text typed.
    pub query: String,
    /// Matches for `found_for`, newest first.
    pub results: Vec<Lead>,
    /// The query the results answer.
    pub found_for: String,
    /// The selected result.
    pub cursor: usize,
}

impl SearchState {
    /// Keys on the search screen: typing edits the query (each change asks
    /// for matches; newer asks supersede older ones still queued), arrows
    /// move through the results, Enter opens one, Esc clears and then leaves.
    pub fn key(&mut self, key: &KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return Outcome::Quit,
            KeyCode::Esc if self.query.is_empty() => return Outcome::Board,
            KeyCode::Esc => {
                *self = SearchState::default();
                return Outcome::Read(Vec::new());
            }
            KeyCode::Tab => return Outcome::Board,
            KeyCode::Up => {
                self.cursor = self.cursor.saturating_sub(1);
                return Outcome::Read(Vec::new());
            }
            KeyCode::Down => {
                self.cursor = (self.cursor + 1).min(self.results.len().saturating_sub(1));
                return Outcome::Read(Vec::new());
            }
            KeyCode::Enter => {
                return match self.selected() {
                    Some(lead) => Outcome::Open(lead.id),
                    None => Outcome::Read(Vec::new()),
                };
            }
            _ => {
                if text_input::edit(&mut self.query, key) == Edit::Ignored {
                    return Outcome::Read(Vec::new());
                }
            }
        }
        if self.query.trim().is_empty() {
            self.results.clear();
            self.found_for.clear();
            self.cursor = 0;
            return Outcome::Read(Vec::new());
        }
        Outcome::Read(vec![IoRequest::Search {
            query: self.query.clone(),
        }])
    }

    /// Takes in matches for `query`; an answer to an older query is dropped.
    pub fn found(&mut self, query: String, leads: Vec<Lead>) {
        if query == self.query {
            self.results = leads;
            self.found_for = query;
            self.cursor = self.cursor.min(self.results.len().saturating_sub(1));
        }
    }

    /// Whether lead `id` is among the results on show.
    pub fn shows(&self, id: crate::domain::lead::LeadId) -> bool {
        !self.found_for.is_empty() && self.results.iter().any(|l| l.id == id)
    }

    /// The selected lead.
    pub fn selected(&self) -> Option<&Lead> {
        self.results.get(self.cursor)
    }
}

/// Draws the query and the results that fit, the selected one scrolled into view.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let search = ctx.search;
    let [input, list] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(text_input::line(
            "/ ",
            &search.query,
            Style::default().fg(t.text),
            t,
        ))
        .block(
            Block::default()
                .borders(Borders::BOTTOM)
                .border_style(Style::default().fg(t.muted)),
        ),
        input,
    );
    let muted = Style::default().fg(t.muted);
    if search.query.trim().is_empty() {
        frame.render_widget(
            Paragraph::new("type part of a name, email or company").style(muted),
            list,
        );
        return;
    }
    let mut lines = Vec::new();
    let waiting = search.found_for != search.query;
    let count = search.results.len();
    let more = if count >= SEARCH_LIMIT { "+" } else { "" };
    lines.push(Line::from(Span::styled(
        if waiting {
            "searching…".to_string()
        } else {
            format!("{count}{more} found")
        },
        muted,
    )));
    let rows = usize::from(list.height.saturating_sub(1));
    let first = search.cursor.saturating_sub(rows.saturating_sub(1));
    for (i, lead) in search.results.iter().enumerate().skip(first).take(rows) {
        let style = if i == search.cursor {
            Style::default().fg(t.text).bg(t.selected)
        } else {
            Style::default().fg(t.text)
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {}", present::cell(&lead.name, 22)), style),
            Span::styled(
                format!(
                    " {}",
                    present::cell(lead.company.as_deref().unwrap_or("-"), 18)
                ),
                muted,
            ),
            Span::styled(
                format!(
                    " {}",
                    present::cell(lead.email.as_deref().unwrap_or("-"), 24)
                ),
                muted,
            ),
            Span::styled(format!(" {}", lead.stage()), Style::default().fg(t.accent)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), list);
}
