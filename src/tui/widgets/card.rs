//! A lead's card on the board: name (with hot, failed and in-doubt marks),
//! company, and what comes next.

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::domain::lead::Lead;
use crate::engine::BoardCard;
use crate::present::relative;
use crate::tui::theme::Theme;

/// Draws one card in `area`: `…` while it is not loaded yet.
pub fn render(
    frame: &mut Frame,
    area: Rect,
    card: Option<&BoardCard>,
    selected: bool,
    now: DateTime<Utc>,
    t: &Theme,
) {
    let bg = if selected { t.selected } else { t.card };
    let block = Block::default().style(Style::default().bg(bg));
    frame.render_widget(block, area);
    let Some(BoardCard {
        lead,
        in_doubt,
        failed,
    }) = card
    else {
        frame.render_widget(
            Paragraph::new("…").style(Style::default().fg(t.muted).bg(bg)),
            area,
        );
        return;
    };
    let mut name = vec![];
    if lead.hot {
        name.push(Span::styled("★ ", Style::default().fg(t.hot)));
    }
    if *failed {
        name.push(Span::styled("✗ ", Style::default().fg(t.error)));
    }
    if *in_doubt {
        name.push(Span::styled("? ", Style::default().fg(t.error)));
    }
    name.push(Span::styled(
        lead.name.clone(),
        Style::default().fg(t.text).add_modifier(Modifier::BOLD),
    ));
    let company = Span::styled(
        lead.company.clone().unwrap_or_default(),
        Style::default().fg(t.muted),
    );
    let lines = vec![
        Line::from(name),
        Line::from(company),
        next_line(lead, now, t),
    ];
    frame.render_widget(Paragraph::new(lines).style(Style::default().bg(bg)), area);
}

/// "email · in 3h", coloured by urgency; a stopped lead shows its status.
fn next_line(lead: &Lead, now: DateTime<Utc>, t: &Theme) -> Line<'static> {
    match &lead.next {
        Some(next) if next.awaiting_human => Line::from(Span::styled(
            format!("{} · your turn", next.channel),
            Style::default().fg(t.due_soon),
        )),
        Some(next) => {
            let colour = if next.at <= now {
                t.overdue
            } else if next.at - now < Duration::hours(1) {
                t.due_soon
            } else {
                t.muted
            };
            Line::from(Span::styled(
                format!("{} · {}", next.channel, relative(next.at, now)),
                Style::default().fg(colour),
            ))
        }
        None => Line::from(Span::styled(
            format!("{} · {}", lead.status, ago(lead.updated_at, now)),
            Style::default().fg(t.muted),
        )),
    }
}

/// "3h ago", for a past instant.
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match relative(at, now).strip_prefix("overdue ") {
        Some(span) => format!("{span} ago"),
        None => "just now".to_string(),
    }
}
