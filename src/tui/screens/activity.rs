//! What the worker is doing, live: sends, retries and failures as the
//! engine announces them.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::domain::lead::LeadId;
use crate::present;
use crate::tui::view::{ViewContext, format_user};

/// Activity lines kept in memory.
const ACTIVITY_KEEP: usize = 500;
/// Search stops after this many matches (the engine's scan is bounded by it).
pub const SEARCH_LIMIT: usize = 200;

/// One line of the activity stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityLine {
    /// Engine time.
    pub at: DateTime<Utc>,
    /// The lead.
    pub lead: LeadId,
    /// Its name and company.
    pub who: String,
    /// What happened.
    pub text: String,
}

/// The worker's recent activity, newest last.
#[derive(Debug, Clone, Default)]
pub struct ActivityLog {
    /// The lines.
    pub lines: VecDeque<ActivityLine>,
}

impl ActivityLog {
    /// Adds a line, dropping the oldest beyond [`ACTIVITY_KEEP`].
    pub fn push(&mut self, line: ActivityLine) {
        self.lines.push_back(line);
        while self.lines.len() > ACTIVITY_KEEP {
            self.lines.pop_front();
        }
    }
}

/// Draws the newest lines that fit, newest first.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" worker activity, newest first ")
        .border_style(Style::default().fg(t.muted));
    let rows = usize::from(area.height.saturating_sub(1));
    let lines: Vec<Line> = if ctx.activity.lines.is_empty() {
        vec![Line::from(Span::styled(
            "nothing yet: sends, retries and failures appear here as the worker runs",
            Style::default().fg(t.muted),
        ))]
    } else {
        ctx.activity
            .lines
            .iter()
            .rev()
            .take(rows)
            .map(|line| {
                let text = present::safe(&line.text);
                let colour = if text.contains("fail") || text.contains("doubt") {
                    t.error
                } else {
                    t.text
                };
                let who = if line.who.is_empty() {
                    line.lead.to_string()
                } else {
                    present::safe(&line.who).into_owned()
                };
                Line::from(vec![
                    Span::styled(
                        format_user(line.at, ctx.user_zone, "%m-%d %H:%M  "),
                        Style::default().fg(t.muted),
                    ),
                    Span::styled(
                        who,
                        Style::default().fg(t.text).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(" · ", Style::default().fg(t.muted)),
                    Span::styled(text.into_owned(), Style::default().fg(colour)),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
