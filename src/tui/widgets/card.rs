//! A lead's card on the board: name (with hot, failed and in-doubt marks),
//! company, and what comes next. Name and company come from the lead, so
//! they are drawn [`present::safe`] and cut to the card's display width.

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::domain::lead::Lead;
use crate::domain::sequence::Channel;
use crate::engine::BoardCard;
use crate::present::{self, relative};
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
        sending,
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
    let width = usize::from(area.width);
    let marks: usize = name.iter().map(|s| present::width(&s.content)).sum();
    let shown = present::safe(&lead.name);
    name.push(Span::styled(
        present::truncate(&shown, width.saturating_sub(marks)).into_owned(),
        Style::default().fg(t.text).add_modifier(Modifier::BOLD),
    ));
    let company = present::safe(lead.company.as_deref().unwrap_or_default());
    let company = Span::styled(
        present::truncate(&company, width).into_owned(),
        Style::default().fg(t.muted),
    );
    let lines = vec![
        Line::from(name),
        Line::from(company),
        next_line(lead, *sending, now, t),
    ];
    frame.render_widget(Paragraph::new(lines).style(Style::default().bg(bg)), area);
}

/// "email · in 3h", coloured by urgency ("email · now" when due, "email ·
/// sending" while it goes out); a stopped lead shows its status.
pub fn next_line(
    lead: &Lead,
    sending: Option<Channel>,
    now: DateTime<Utc>,
    t: &Theme,
) -> Line<'static> {
    if let Some(channel) = sending {
        return Line::from(Span::styled(
            format!("{channel} · sending"),
            Style::default().fg(t.due_soon),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::{Due, LeadId, LeadInput};
    use crate::tui::theme::{ColorDepth, Themes};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn lead_due(at: DateTime<Utc>) -> Lead {
        let mut lead = LeadInput {
            name: "Grace Hopper".into(),
            email: Some("grace@lead.test".into()),
            ..LeadInput::default()
        }
        .validate(None)
        .unwrap()
        .into_lead(
            LeadId(ulid::Ulid::from_parts(1, 0)),
            "default".into(),
            now(),
        );
        lead.next = Some(Due {
            at,
            step: 0,
            step_id: "intro".into(),
            channel: Channel::Email,
            awaiting_human: false,
            immediate: false,
        });
        lead
    }

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_touch_due_now_or_going_out_says_so() {
        let theme = Themes::load(None, ColorDepth::Ansi16).resolve("dark").0;
        let t = &theme;
        assert_eq!(
            text(&next_line(&lead_due(now()), None, now(), t)),
            "email · now"
        );
        let lead = lead_due(now() + Duration::hours(24));
        assert_eq!(text(&next_line(&lead, None, now(), t)), "email · in 24h");
        let mut sending = lead_due(now());
        sending.next = None;
        assert_eq!(
            text(&next_line(&sending, Some(Channel::Email), now(), t)),
            "email · sending"
        );
    }
}
