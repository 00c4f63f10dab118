//! The Stats screen: the funnel, speed to lead, today's sends against the
//! caps, and reply and booking rates per step. Each read walks every lead,
//! so it is throttled while changes stream in.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Sparkline};

use crate::domain::stats::Stats;
use crate::present;
use crate::tui::io::{BoardQuery, IoRequest};
use crate::tui::view::ViewContext;

/// Stats are re-read at most this often while changes stream in: each read
/// walks every lead, so a busy worker must not keep the I/O thread on it.
pub const STATS_REFRESH: Duration = Duration::from_secs(5);

/// The Stats screen: the last numbers and whether they are being re-read.
#[derive(Debug, Clone, Default)]
pub struct StatsState {
    /// The last numbers read.
    pub stats: Option<Box<Stats>>,
    /// A read is on its way.
    pub loading: bool,
    /// Something changed since the last read.
    pub stale: bool,
    /// When the last read was asked for.
    pub asked: Option<Instant>,
}

impl StatsState {
    /// Asks for the numbers now, unless a read is on its way.
    pub fn ask(&mut self, filter: BoardQuery) -> Vec<IoRequest> {
        if self.loading {
            self.stale = true;
            return Vec::new();
        }
        self.loading = true;
        self.stale = false;
        self.asked = Some(Instant::now());
        vec![IoRequest::Stats { filter }]
    }

    /// Re-reads after a change, at most every [`STATS_REFRESH`], and only
    /// while the screen is `shown`; otherwise the numbers are marked stale.
    pub fn changed(&mut self, shown: bool, filter: BoardQuery) -> Vec<IoRequest> {
        if !shown {
            self.stale = true;
            return Vec::new();
        }
        let recent = self.asked.is_some_and(|at| at.elapsed() < STATS_REFRESH);
        if recent || self.loading {
            self.stale = true;
            return Vec::new();
        }
        self.ask(filter)
    }

    /// Takes in the numbers read.
    pub fn loaded(&mut self, stats: Box<Stats>) {
        self.stats = Some(stats);
        self.loading = false;
    }
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

/// Draws the funnel, sending, per-step numbers and reply rates.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
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
