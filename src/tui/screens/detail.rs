//! One lead in full: its details, the next touch as it will go out, and
//! the timeline with every message sent.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::Screen;
use crate::domain::event::EventKind;
use crate::domain::lead::LeadId;
use crate::engine::LeadView;
use crate::present::{self, relative};
use crate::tui::keys::Action;
use crate::tui::view::{ViewContext, format_user};

/// The lead detail screen.
#[derive(Debug, Clone, Default)]
pub struct DetailState {
    /// The lead shown.
    pub id: Option<LeadId>,
    /// What was read; `None` while loading.
    pub view: Option<Box<LeadView>>,
    /// Lines scrolled down.
    pub scroll: u16,
    /// Where Esc goes back to.
    pub back: Screen,
}

impl DetailState {
    /// Scrolls with the movement keys.
    pub fn navigate(&mut self, action: Action) {
        match action {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = self.scroll.saturating_add(1),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            Action::First => self.scroll = 0,
            _ => {}
        }
    }
}

/// Draws the lead, its next touch and its timeline, newest first.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(Style::default().fg(t.muted));
    let Some(view) = &ctx.detail.view else {
        frame.render_widget(
            Paragraph::new("loading…")
                .block(block)
                .style(Style::default().fg(t.muted)),
            area,
        );
        return;
    };
    let lead = &view.lead;
    let tz = lead.tz.unwrap_or(ctx.default_tz);
    let key = Style::default().fg(t.muted);
    let val = Style::default().fg(t.text);
    let head = Style::default()
        .fg(t.column_header)
        .add_modifier(Modifier::BOLD);
    // Values come from the lead: always drawn made safe.
    let row = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<10} "), key),
            Span::styled(present::safe(&v).into_owned(), val),
        ])
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(present::safe(&lead.name).into_owned(), head),
            Span::styled(format!("  {}", lead.id), key),
        ]),
        row("email", lead.email.clone().unwrap_or_else(|| "-".into())),
        row("phone", lead.phone.clone().unwrap_or_else(|| "-".into())),
        row(
            "company",
            lead.company.clone().unwrap_or_else(|| "-".into()),
        ),
        row(
            "time zone",
            match lead.tz {
                Some(z) => z.name().to_string(),
                None => format!("{} (default)", tz.name()),
            },
        ),
        row("source", lead.source.clone()),
        row(
            "status",
            format!(
                "{} · stage {} · sequence {}",
                lead.status,
                lead.stage(),
                lead.sequence
            ),
        ),
    ];
    let consent = |c: &Option<crate::domain::lead::ConsentGrant>| match c {
        Some(g) => format!("{} ({})", g.how, g.at.format("%Y-%m-%d")),
        None => "not recorded".into(),
    };
    lines.push(row(
        "consent",
        format!(
            "email: {}; sms: {}",
            consent(&lead.consent.email),
            consent(&lead.consent.sms)
        ),
    ));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("Next touch", head)));
    match &view.next {
        Some((due, message)) => {
            let waiting = if due.awaiting_human {
                " · waiting for you"
            } else {
                ""
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!(
                        "#{} {} · {}{waiting}",
                        due.step + 1,
                        due.step_id,
                        due.channel
                    ),
                    val,
                ),
                Span::styled(format!("  {}", relative(due.at, ctx.now)), key),
            ]));
            lines.push(row(
                "lead time",
                format!(
                    "{} {}",
                    due.at.with_timezone(&tz).format("%a %Y-%m-%d %H:%M"),
                    tz.name()
                ),
            ));
            lines.push(row(
                "your time",
                format_user(due.at, ctx.user_zone, "%a %Y-%m-%d %H:%M %Z"),
            ));
            if let Some(subject) = &message.subject {
                lines.push(row("subject", subject.clone()));
            }
            lines.extend(gutter_lines(&message.body, "  │ ", area.width, val));
        }
        None => lines.push(Line::from(Span::styled(
            if lead.status.is_sendable() {
                "none (sequence finished)"
            } else {
                "none (lead is not active)"
            },
            key,
        ))),
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("Timeline", head)));
    for event in view.events.iter().rev() {
        let colour = match &event.kind {
            EventKind::Replied | EventKind::Booked => t.success,
            EventKind::TouchFailed { .. }
            | EventKind::TouchInDoubt { .. }
            | EventKind::Bounced { .. } => t.error,
            _ => t.text,
        };
        lines.push(Line::from(vec![
            Span::styled(format_user(event.at, ctx.user_zone, "%Y-%m-%d %H:%M "), key),
            Span::styled(
                present::safe(&event.kind.describe()).into_owned(),
                Style::default().fg(colour),
            ),
        ]));
        if let EventKind::TouchSent { subject, body, .. } = &event.kind {
            if let Some(subject) = subject {
                lines.push(Line::from(Span::styled(
                    format!("      Subject: {}", present::safe(subject)),
                    key,
                )));
            }
            lines.extend(gutter_lines(body, "      │ ", area.width, key));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((ctx.detail.scroll, 0)),
        area,
    );
}

/// A message body as lines behind `gutter`, wrapped here by display width
/// to fit `width` columns, so every wrapped line keeps the gutter too. The
/// body comes from lead data: it is made safe first (newlines kept).
fn gutter_lines(body: &str, gutter: &'static str, width: u16, style: Style) -> Vec<Line<'static>> {
    let room = usize::from(width)
        .saturating_sub(present::width(gutter))
        .max(1);
    present::safe_multiline(body)
        .lines()
        .flat_map(|line| textwrap::wrap(line, room))
        .map(|piece| Line::from(Span::styled(format!("{gutter}{piece}"), style)))
        .collect()
}
