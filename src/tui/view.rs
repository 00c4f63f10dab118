//! The frame. [`render`] takes one [`ViewContext`] holding everything a
//! frame needs, draws the title and footer, lets the screen in front draw
//! the body (each hands ratatui only what is visible), then the toasts and
//! the open popup on top.

use crate::domain::breaker::Health;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::app::{App, Dialog, UserZone};
use super::keys::{Action, KeyMap};
use super::popups;
use super::screens::Screen;
use super::screens::activity::{self, ActivityLog};
use super::screens::board::{self, BoardState};
use super::screens::detail::{self, DetailState};
use super::screens::search::{self, SearchState};
use super::screens::stats::{self, StatsState};
use super::theme::Theme;
use super::widgets::toast::{self, Toasts};
use crate::present;

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
    /// Each channel's health; a down or paused one shows in the title.
    pub channels: &'a [crate::engine::ChannelStatus],
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
            channels: &app.channels,
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
        Screen::Board => board::render(frame, body, ctx),
        Screen::Activity => activity::render(frame, body, ctx),
        Screen::Stats => stats::render(frame, body, ctx),
        Screen::Search => search::render(frame, body, ctx),
        Screen::Detail => detail::render(frame, body, ctx),
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
        Some(source) => format!(" · source {}", present::safe(source)),
        None => String::new(),
    };
    let mut spans = vec![
        Span::styled(" nudge ", Style::default().fg(t.background).bg(t.accent)),
        Span::styled(
            format!(
                " {screen} · {}{source} · {total} leads · {}",
                present::safe(&ctx.board.sequence),
                ctx.mode
            ),
            Style::default().fg(t.text),
        ),
    ];
    // A channel that holds touches back is the founder's business at once.
    for channel in ctx.channels.iter().filter(|c| c.health.is_holding()) {
        let what = match channel.health {
            Health::Paused { .. } => "paused: check credentials",
            _ => "down",
        };
        spans.push(Span::styled(
            format!(
                " · {} {what} ({} waiting)",
                channel.channel, channel.waiting
            ),
            Style::default().fg(t.overdue),
        ));
    }
    let left = Line::from(spans);
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

/// `at` in "your" zone, as `format` says.
pub fn format_user(at: DateTime<Utc>, zone: UserZone, format: &str) -> String {
    match zone {
        UserZone::Local => at.with_timezone(&chrono::Local).format(format).to_string(),
        UserZone::Named(tz) => at.with_timezone(&tz).format(format).to_string(),
    }
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
