//! The kanban: a column per stage (New, one per sequence step, Hot, the
//! human stages, a foldable Done), read a page at a time around what is
//! visible, never a whole column.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Outcome;
use crate::domain::lead::Stage;
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::status::Status;
use crate::engine::BoardCard;
use crate::tui::io::{BoardQuery, IoRequest};
use crate::tui::keys::Action;
use crate::tui::view::ViewContext;
use crate::tui::widgets::card;

/// Columns narrower than this do not fit a card.
pub const MIN_COLUMN_WIDTH: u16 = 20;
/// Lines per card, including the gap under it.
pub const CARD_HEIGHT: u16 = 4;

/// One board column: which stages it shows, its count, the cursor and the
/// page of cards read around what is visible.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Stages merged into this column (Done has three).
    pub stages: Vec<Stage>,
    /// Header text, e.g. "2 · SMS".
    pub title: String,
    /// Leads in the column.
    pub count: usize,
    /// Selected card, as an index into the whole column.
    pub cursor: usize,
    /// First visible card, as an index into the whole column.
    pub scroll: usize,
    /// Column index of `cards[0]`.
    pub page_offset: usize,
    /// The cards read so far (around the visible ones).
    pub cards: Vec<BoardCard>,
    /// Whether this is the foldable Done column.
    pub done: bool,
}

impl Column {
    fn new(title: impl Into<String>, stages: Vec<Stage>) -> Column {
        Column {
            stages,
            title: title.into(),
            count: 0,
            cursor: 0,
            scroll: 0,
            page_offset: 0,
            cards: Vec::new(),
            done: false,
        }
    }

    /// The card at a column index, if it is loaded.
    pub fn card(&self, index: usize) -> Option<&BoardCard> {
        index
            .checked_sub(self.page_offset)
            .and_then(|i| self.cards.get(i))
    }

    /// Whether every card in `scroll..scroll+rows` is loaded.
    fn covers(&self, rows: usize) -> bool {
        let want_end = (self.scroll + rows).min(self.count);
        self.scroll >= self.page_offset
            && want_end <= self.page_offset + self.cards.len()
            && !(self.count > 0 && self.cards.is_empty())
    }

    fn clamp(&mut self, rows: usize) {
        self.cursor = self.cursor.min(self.count.saturating_sub(1));
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        }
        if rows > 0 && self.cursor >= self.scroll + rows {
            self.scroll = self.cursor + 1 - rows;
        }
        self.scroll = self.scroll.min(self.count.saturating_sub(rows.max(1)));
    }
}

/// The kanban: columns, focus, and how much of it fits on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardState {
    /// The sequence whose steps make the step columns.
    pub sequence: String,
    /// Whether to filter by sequence (only when several exist).
    pub filter: bool,
    /// Only leads from this source (the `f` picker).
    pub source: Option<String>,
    /// Columns in board order.
    pub columns: Vec<Column>,
    /// The focused column.
    pub focus: usize,
    /// The leftmost visible column.
    pub first_visible: usize,
    /// Whether Done shows only its counts.
    pub done_collapsed: bool,
    /// Columns that fit across.
    pub visible_columns: usize,
    /// Cards that fit down a column.
    pub rows: usize,
    /// Leads per stage, for the Done breakdown.
    pub stage_counts: Vec<(Stage, usize)>,
}

/// A short title for a channel.
fn channel_title(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Call => "Call",
        Channel::Task => "Task",
    }
}

/// The stages the Done column merges.
pub const DONE_STAGES: [Stage; 3] = [
    Stage::Status(Status::Completed),
    Stage::Status(Status::OptedOut),
    Stage::Status(Status::Bounced),
];

impl BoardState {
    /// Columns for `sequence`: New, one per step, Hot, the human stages, Done.
    pub fn new(sequence: &Sequence, filter: bool) -> BoardState {
        let mut columns = vec![Column::new("New", vec![Stage::New])];
        for (i, step) in sequence.steps.iter().enumerate() {
            columns.push(Column::new(
                format!("{} · {}", i + 1, channel_title(step.channel)),
                vec![Stage::Step(i as u32 + 1)],
            ));
        }
        columns.push(Column::new("Hot", vec![Stage::Hot]));
        for (title, status) in [
            ("Replied", Status::Replied),
            ("Booked", Status::Booked),
            ("Handed off", Status::HandedOff),
            ("Paused", Status::Paused),
        ] {
            columns.push(Column::new(title, vec![Stage::Status(status)]));
        }
        let mut done = Column::new("Done", DONE_STAGES.to_vec());
        done.done = true;
        columns.push(done);
        BoardState {
            sequence: sequence.name.clone(),
            filter,
            source: None,
            columns,
            focus: 0,
            first_visible: 0,
            done_collapsed: true,
            visible_columns: 4,
            rows: 5,
            stage_counts: Vec::new(),
        }
    }

    /// Fits the board to a terminal of `width` × `height`.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.visible_columns = usize::from((width / MIN_COLUMN_WIDTH).max(1));
        // Title and footer lines, then two header lines per column.
        self.rows = usize::from(height.saturating_sub(4) / CARD_HEIGHT).max(1);
        self.follow_focus();
        let rows = self.rows;
        for column in &mut self.columns {
            column.clamp(rows);
        }
    }

    pub(crate) fn follow_focus(&mut self) {
        if self.focus < self.first_visible {
            self.first_visible = self.focus;
        }
        if self.focus >= self.first_visible + self.visible_columns {
            self.first_visible = self.focus + 1 - self.visible_columns;
        }
        let max_first = self.columns.len().saturating_sub(self.visible_columns);
        self.first_visible = self.first_visible.min(max_first);
    }

    /// Indexes of the columns on screen.
    pub fn visible(&self) -> std::ops::Range<usize> {
        let end = (self.first_visible + self.visible_columns).min(self.columns.len());
        self.first_visible..end
    }

    /// Whether a column shows cards (a folded Done shows only counts).
    pub fn shows_cards(&self, index: usize) -> bool {
        self.columns
            .get(index)
            .is_some_and(|c| !(c.done && self.done_collapsed))
    }

    /// The selected card, if it is loaded.
    pub fn selected(&self) -> Option<&BoardCard> {
        if !self.shows_cards(self.focus) {
            return None;
        }
        let column = self.columns.get(self.focus)?;
        column.card(column.cursor)
    }

    /// Which leads the board shows.
    pub fn query(&self) -> BoardQuery {
        BoardQuery {
            sequence: self.filter.then(|| self.sequence.clone()),
            source: self.source.clone(),
        }
    }

    /// Requests for every visible column whose visible cards are not loaded.
    pub(crate) fn missing_pages(&self, force: bool) -> Vec<IoRequest> {
        let mut out = Vec::new();
        for i in self.visible() {
            let column = &self.columns[i];
            if !self.shows_cards(i) || (!force && column.covers(self.rows)) {
                continue;
            }
            out.push(self.page_request(column));
        }
        out
    }

    fn page_request(&self, column: &Column) -> IoRequest {
        // A screenful above and below, so short moves need no read.
        let offset = column.scroll.saturating_sub(self.rows);
        IoRequest::Page {
            stages: column.stages.clone(),
            filter: self.query(),
            offset,
            limit: self.rows * 3,
        }
    }

    /// Moves the focus or the cursor; Enter opens the selected card.
    pub fn navigate(&mut self, action: Action) -> Outcome {
        let rows = self.rows;
        let columns = self.columns.len();
        match action {
            Action::Left => self.focus = self.focus.saturating_sub(1),
            Action::Right => self.focus = (self.focus + 1).min(columns.saturating_sub(1)),
            Action::ToggleDone => self.done_collapsed = !self.done_collapsed,
            Action::Open => {
                return match self.selected() {
                    Some(card) => Outcome::Open(card.lead.id),
                    None => Outcome::Read(Vec::new()),
                };
            }
            _ => {
                if let Some(column) = self.columns.get_mut(self.focus) {
                    let last = column.count.saturating_sub(1);
                    column.cursor = match action {
                        Action::Up => column.cursor.saturating_sub(1),
                        Action::Down => (column.cursor + 1).min(last),
                        Action::First => 0,
                        Action::Last => last,
                        Action::PageUp => column.cursor.saturating_sub(rows),
                        Action::PageDown => (column.cursor + rows).min(last),
                        _ => column.cursor,
                    };
                    column.clamp(rows);
                }
            }
        }
        self.follow_focus();
        Outcome::Read(self.missing_pages(false))
    }

    /// Everything the screen shows, re-read (after a change).
    pub(crate) fn refresh(&self) -> Vec<IoRequest> {
        let mut out = vec![IoRequest::Counts {
            filter: self.query(),
        }];
        out.extend(self.missing_pages(true));
        out
    }

    /// Takes in new counts per stage.
    pub(crate) fn apply_counts(&mut self, counts: Vec<(Stage, usize)>) {
        for column in &mut self.columns {
            column.count = counts
                .iter()
                .filter(|(s, _)| column.stages.contains(s))
                .map(|(_, n)| n)
                .sum();
        }
        self.stage_counts = counts;
        let rows = self.rows;
        for column in &mut self.columns {
            column.clamp(rows);
        }
    }

    /// Takes in a page of a column's cards.
    pub(crate) fn apply_page(&mut self, stages: &[Stage], offset: usize, cards: Vec<BoardCard>) {
        if let Some(column) = self.columns.iter_mut().find(|c| c.stages == stages) {
            column.page_offset = offset;
            column.cards = cards;
        }
    }
}

/// Draws the visible columns, with arrows when others are off screen.
pub fn render(frame: &mut Frame, area: Rect, ctx: &ViewContext) {
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
