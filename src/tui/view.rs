//! Rendering. [`render`] takes one [`ViewContext`] holding everything a
//! frame needs and hands ratatui only what is visible: the cards of the
//! columns on screen, never a whole column.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Sparkline, Wrap};

use super::app::{
    ActivityLog, App, BoardState, CARD_HEIGHT, DONE_STAGES, DetailState, Dialog, SEARCH_LIMIT,
    Screen, SearchState, StatsState, UserZone,
};
use super::keys::{Action, KeyMap};
use super::popups;
use super::theme::Theme;
use super::widgets::toast::{self, Toasts};
use super::widgets::{card, text_input};
use crate::domain::event::EventKind;
use crate::present::{self, relative};

/// The smallest terminal the layout supports.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Everything one frame needs, borrowed.
pub struct ViewContext<'a> {
    /// The kanban.
    pub board: &'a BoardState,
    /// The detail screen.
    pub detail: &'a DetailState,
    /// Toasts.
    pub toasts: &'a Toasts,
    /// Activity stream.
    pub activity: &'a ActivityLog,
    /// An open dialog.
    pub dialog: &'a Dialog,
    /// Colours.
    pub theme: &'a Theme,
    /// Keys, for hints and help.
    pub keys: &'a KeyMap,
    /// Screen in front.
    pub screen: Screen,
    /// Engine time.
    pub now: DateTime<Utc>,
    /// "Your" zone.
    pub user_zone: UserZone,
    /// Zone of leads without one.
    pub default_tz: Tz,
    /// "local", "attached", "demo".
    pub mode: &'a str,
    /// The Stats screen.
    pub stats: &'a StatsState,
    /// The search screen.
    pub search: &'a SearchState,
    /// The database is still opening.
    pub opening: bool,
}

impl<'a> ViewContext<'a> {
    /// The context for `app` at its clock's now.
    pub fn of(app: &'a App) -> ViewContext<'a> {
        ViewContext {
            board: &app.board,
            detail: &app.detail,
            toasts: &app.toasts,
            activity: &app.activity,
            dialog: &app.dialog,
            theme: &app.theme.current,
            keys: &app.keys,
            screen: app.screen,
            now: app.now(),
            user_zone: app.user_zone,
            default_tz: app.default_tz,
            mode: &app.mode,
            stats: &app.stats,
            search: &app.search,
            opening: app.opening,
        }
    }
}

/// Draws one frame.
pub fn render(frame: &mut Frame, ctx: &ViewContext) {
    let area = frame.area();
    let t = ctx.theme;
    let base = Style::default().fg(t.text).bg(t.background);
    frame.render_widget(Block::default().style(base), area);
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = format!(
            "terminal too small: {}×{} (nudge needs {}×{})",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_title(frame, title, ctx);
    match ctx.screen {
        _ if ctx.opening => render_opening(frame, body, ctx),
        Screen::Board => render_board(frame, body, ctx),
        Screen::Activity => render_activity(frame, body, ctx),
        Screen::Stats => render_stats(frame, body, ctx),
        Screen::Search => render_search(frame, body, ctx),
        Screen::Detail => render_detail(frame, body, ctx),
    }
    render_footer(frame, footer, ctx);
    toast::render(frame, body, ctx.toasts, ctx.theme);
    popups::render(frame, area, ctx);
}

fn render_title(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let total: usize = ctx.board.columns.iter().map(|c| c.count).sum();
    let screen = match ctx.screen {
        Screen::Board => "board",
        Screen::Activity => "activity",
        Screen::Stats => "stats",
        Screen::Search => "search",
        Screen::Detail => "lead",
    };
    let source = match &ctx.board.source {
        Some(source) => format!(" · source {source}"),
        None => String::new(),
    };
    let left = Line::from(vec![
        Span::styled(" nudge ", Style::default().fg(t.background).bg(t.accent)),
        Span::styled(
            format!(
                " {screen} · {}{source} · {total} leads · {}",
                ctx.board.sequence, ctx.mode
            ),
            Style::default().fg(t.text),
        ),
    ]);
    let right = format!("{} ", format_user(ctx.now, ctx.user_zone, "%a %H:%M %Z"));
    frame.render_widget(Paragraph::new(left), area);
    frame.render_widget(
        Paragraph::new(right)
            .style(Style::default().fg(t.muted))
            .right_aligned(),
        area,
    );
}

fn render_footer(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let hint = |action: Action, label: &str| -> Vec<Span<'static>> {
        match ctx.keys.key_for(action) {
            Some(key) => vec![
                Span::styled(format!(" {key}"), Style::default().fg(t.accent)),
                Span::styled(format!(" {label} "), Style::default().fg(t.muted)),
            ],
            None => Vec::new(),
        }
    };
    let hints: &[(Action, &str)] = match ctx.screen {
        Screen::Board => &[
            (Action::Open, "open"),
            (Action::Replied, "replied"),
            (Action::Note, "note"),
            (Action::Search, "search"),
            (Action::AddLead, "add"),
            (Action::NextScreen, "screen"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Screen::Stats => &[
            (Action::NextScreen, "board"),
            (Action::Filter, "filter"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Screen::Search => {
            let text = " type to search · ↑↓ move · enter open · esc clear / back";
            frame.render_widget(
                Paragraph::new(text).style(Style::default().fg(t.muted)),
                area,
            );
            return;
        }
        Screen::Detail => &[
            (Action::Back, "back"),
            (Action::Replied, "replied"),
            (Action::Booked, "booked"),
            (Action::SendNow, "send now"),
            (Action::Note, "note"),
            (Action::Edit, "edit"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
        Screen::Activity => &[
            (Action::NextScreen, "board"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
        ],
    };
    let spans: Vec<Span> = hints.iter().flat_map(|(a, l)| hint(*a, l)).collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_board(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let board = ctx.board;
    let visible = board.visible();
    let n = visible.len().max(1) as u32;
    let constraints = vec![Constraint::Ratio(1, n); visible.len()];
    let areas = Layout::horizontal(constraints).split(area);
    for (slot, index) in visible.clone().enumerate() {
        render_column(frame, areas[slot], ctx, index);
    }
    // Arrows when columns are off screen.
    let t = ctx.theme;
    let style = Style::default().fg(t.accent);
    if visible.start > 0 {
        frame.render_widget(
            Paragraph::new(format!("◀{}", visible.start)).style(style),
            Rect {
                width: 4,
                height: 1,
                ..area
            },
        );
    }
    let after = board.columns.len() - visible.end;
    if after > 0 {
        frame.render_widget(
            Paragraph::new(format!("{after}▶"))
                .style(style)
                .right_aligned(),
            Rect {
                x: area.right().saturating_sub(4),
                width: 4,
                height: 1,
                ..area
            },
        );
    }
}

fn render_column(frame: &mut Frame, area: Rect, ctx: &ViewContext, index: usize) {
    let t = ctx.theme;
    let board = ctx.board;
    let column = &board.columns[index];
    let focused = index == board.focus;
    let inner = Rect {
        x: area.x + 1,
        width: area.width.saturating_sub(2),
        ..area
    };
    let mut header_style = Style::default()
        .fg(t.column_header)
        .add_modifier(Modifier::BOLD);
    if focused {
        header_style = header_style.add_modifier(Modifier::UNDERLINED);
    }
    let fold = if column.done {
        if board.done_collapsed { " ▸" } else { " ▾" }
    } else {
        ""
    };
    let header = Line::from(vec![
        Span::styled(column.title.clone(), header_style),
        Span::styled(
            format!(" {}{fold}", column.count),
            Style::default().fg(t.muted),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(header).centered(),
        Rect { height: 1, ..inner },
    );
    let rule = "─".repeat(usize::from(inner.width));
    frame.render_widget(
        Paragraph::new(rule).style(Style::default().fg(if focused { t.accent } else { t.muted })),
        Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        },
    );
    let cards_area = Rect {
        y: inner.y + 2,
        height: inner.height.saturating_sub(2),
        ..inner
    };
    if !board.shows_cards(index) {
        render_done_summary(frame, cards_area, ctx);
        return;
    }
    if column.count == 0 {
        frame.render_widget(
            Paragraph::new("—")
                .centered()
                .style(Style::default().fg(t.muted)),
            Rect {
                height: 1,
                ..cards_area
            },
        );
        return;
    }
    let end = (column.scroll + board.rows).min(column.count);
    for (slot, at) in (column.scroll..end).enumerate() {
        let y = cards_area.y + slot as u16 * CARD_HEIGHT;
        if y + CARD_HEIGHT - 1 > cards_area.bottom() {
            break;
        }
        let card_area = Rect {
            y,
            height: CARD_HEIGHT - 1,
            ..cards_area
        };
        let selected = focused && at == column.cursor;
        card::render(
            frame,
            card_area,
            column.card(at),
            selected,
            ctx.now,
            ctx.theme,
        );
    }
    if end < column.count {
        let more = format!("↓ {} more", column.count - end);
        frame.render_widget(
            Paragraph::new(more)
                .right_aligned()
                .style(Style::default().fg(t.muted)),
            Rect {
                y: cards_area.bottom().saturating_sub(1),
                height: 1,
                ..cards_area
            },
        );
    }
}

fn render_done_summary(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let lines: Vec<Line> = DONE_STAGES
        .iter()
        .map(|stage| {
            let n = ctx
                .board
                .stage_counts
                .iter()
                .find(|(s, _)| s == stage)
                .map_or(0, |(_, n)| *n);
            Line::from(vec![
                Span::styled(format!("{stage:<10}"), Style::default().fg(t.muted)),
                Span::styled(format!("{n:>6}"), Style::default().fg(t.text)),
            ])
        })
        .chain(std::iter::once(Line::from(Span::styled(
            match ctx.keys.key_for(Action::ToggleDone) {
                Some(k) => format!("{k} to unfold"),
                None => String::new(),
            },
            Style::default().fg(t.muted),
        ))))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn format_user(at: DateTime<Utc>, zone: UserZone, format: &str) -> String {
    match zone {
        UserZone::Local => at.with_timezone(&chrono::Local).format(format).to_string(),
        UserZone::Named(tz) => at.with_timezone(&tz).format(format).to_string(),
    }
}

fn render_detail(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
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
    let row = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<10} "), key),
            Span::styled(v, val),
        ])
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(lead.name.clone(), head),
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
            for line in message.body.lines() {
                lines.push(Line::from(Span::styled(format!("  │ {line}"), val)));
            }
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
            Span::styled(event.kind.describe(), Style::default().fg(colour)),
        ]));
        if let EventKind::TouchSent { subject, body, .. } = &event.kind {
            if let Some(subject) = subject {
                lines.push(Line::from(Span::styled(
                    format!("      Subject: {subject}"),
                    key,
                )));
            }
            for line in body.lines() {
                lines.push(Line::from(Span::styled(format!("      │ {line}"), key)));
            }
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

fn render_activity(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
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
                let text = &line.text;
                let colour = if text.contains("fail") || text.contains("doubt") {
                    t.error
                } else {
                    t.text
                };
                let who = if line.who.is_empty() {
                    line.lead.to_string()
                } else {
                    line.who.clone()
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
                    Span::styled(text.clone(), Style::default().fg(colour)),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_opening(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let y = area.y + area.height / 2;
    frame.render_widget(
        Paragraph::new("opening database…")
            .centered()
            .style(Style::default().fg(t.muted)),
        Rect {
            y,
            height: 1,
            ..area
        },
    );
}

/// "42s", "3m", "2h 5m", "1d 4h".
fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m", secs / 60),
        3_600..86_400 => format!("{}h {}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

fn render_stats(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
    let t = ctx.theme;
    let Some(stats) = ctx.stats.stats.as_deref() else {
        frame.render_widget(
            Paragraph::new("reading the leads…")
                .block(Block::default().borders(Borders::TOP))
                .style(Style::default().fg(t.muted)),
            area,
        );
        return;
    };
    let muted = Style::default().fg(t.muted);
    let block = |title: String| {
        Block::default()
            .borders(Borders::ALL)
            .title(title)
            .border_style(muted)
    };
    let [top, bottom] = Layout::vertical([Constraint::Length(10), Constraint::Min(4)]).areas(area);
    let [funnel_area, sending_area] =
        Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(top);
    let [steps_area, rates_area] =
        Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(bottom);

    let f = stats.funnel;
    let bars: Vec<Bar> = [
        ("captured", f.captured),
        ("contacted", f.contacted),
        ("replied", f.replied),
        ("booked", f.booked),
    ]
    .into_iter()
    .map(|(label, value)| {
        Bar::default()
            .value(value)
            .label(Line::from(label))
            .style(Style::default().fg(t.accent))
            .value_style(Style::default().fg(t.background).bg(t.accent))
    })
    .collect();
    let inner_width = funnel_area.width.saturating_sub(2);
    let bar_width = (inner_width.saturating_sub(3) / 4).clamp(1, 12);
    frame.render_widget(
        BarChart::default()
            .block(block(" funnel ".into()))
            .data(BarGroup::default().bars(&bars))
            .bar_width(bar_width)
            .bar_gap(1),
        funnel_area,
    );

    let mut lines = vec![Line::from(vec![
        Span::styled("speed to lead  ", muted),
        Span::styled(
            match stats.median_speed_secs {
                Some(secs) => format!("median {}", short_duration(secs)),
                None => "no touch sent yet".into(),
            },
            Style::default().fg(t.text),
        ),
    ])];
    for today in &stats.today {
        let cap = if today.cap == 0 {
            "no cap".to_string()
        } else {
            format!("cap {}", today.cap)
        };
        let colour = if today.cap > 0 && today.sent >= today.cap {
            t.overdue
        } else {
            t.text
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<6} today  ", today.channel), muted),
            Span::styled(format!("{:>5}", today.sent), Style::default().fg(colour)),
            Span::styled(format!(" sent · {cap}"), muted),
        ]));
    }
    let total: u64 = stats.sends_per_day.iter().sum();
    lines.push(Line::from(Span::styled(
        format!(
            "touches per day, last {} days ({total}):",
            stats.sends_per_day.len()
        ),
        muted,
    )));
    let sending_inner = block(String::new()).inner(sending_area);
    frame.render_widget(block(" sending ".into()), sending_area);
    let text_height = lines.len() as u16;
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: text_height.min(sending_inner.height),
            ..sending_inner
        },
    );
    let spark = Rect {
        y: sending_inner.y + text_height,
        height: sending_inner.height.saturating_sub(text_height),
        ..sending_inner
    };
    if spark.height > 0 {
        frame.render_widget(
            Sparkline::default()
                .data(&stats.sends_per_day)
                .style(Style::default().fg(t.accent)),
            spark,
        );
    }

    let step_title = |n: u32| {
        let column = ctx.board.columns.get(n as usize);
        match column {
            Some(c) if c.stages == [crate::domain::lead::Stage::Step(n)] => c.title.clone(),
            _ => format!("step {n}"),
        }
    };
    let head = Style::default()
        .fg(t.column_header)
        .add_modifier(Modifier::BOLD);
    let mut rows = vec![Line::from(Span::styled(
        format!(
            "{:<10}{:>5}{:>8}{:>5}{:>7}{:>5}",
            "step", "sent", "replied", "%", "booked", "%"
        ),
        head,
    ))];
    if stats.steps.is_empty() {
        rows.push(Line::from(Span::styled("no touch sent yet", muted)));
    }
    for step in &stats.steps {
        rows.push(Line::from(format!(
            "{:<10}{:>5}{:>8}{:>5.0}{:>7}{:>5.0}",
            present::truncate(&step_title(step.step), 9),
            step.sent,
            step.replied,
            step.reply_rate() * 100.0,
            step.booked,
            step.booking_rate() * 100.0
        )));
    }
    frame.render_widget(
        Paragraph::new(rows).block(block(" per step (credit: last touch) ".into())),
        steps_area,
    );

    let rate_bars: Vec<Bar> = stats
        .steps
        .iter()
        .map(|step| {
            Bar::default()
                .value((step.reply_rate() * 100.0).round() as u64)
                .text_value(format!("{:.0}%", step.reply_rate() * 100.0))
                .label(Line::from(format!("{}", step.step)))
                .style(Style::default().fg(t.success))
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .block(block(" reply rate by step ".into()))
            .data(BarGroup::default().bars(&rate_bars))
            .bar_width(4)
            .bar_gap(1)
            .max(100),
        rates_area,
    );
}

fn render_search(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
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
