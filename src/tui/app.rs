//! The TUI's state and its pure update logic.
//!
//! State is a handful of small structs (board, detail, toasts, activity,
//! dialog, undo, theme), not one god object. [`update`] turns a message (a
//! key, a loaded page, an engine change) into state changes plus
//! [`Command`]s for the shell to run: engine requests go to a background
//! thread, so no key press ever waits on the disk or the socket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::form::{FormKey, FormMode, FormState, field_of_error};
use super::keys::{Action, KeyMap};
use super::theme::{Theme, Themes};
use crate::clock::Clock;
use crate::domain::event::{AlertKind, EventKind};
use crate::domain::lead::LeadInput;
use crate::domain::lead::{Lead, LeadId, Stage};
use crate::domain::mark::Mark;
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::stats::Stats;
use crate::domain::status::Status;
use crate::engine::{BoardCard, Change, LeadEdit, LeadView};
use crate::store::BoardFilter;

/// Columns narrower than this do not fit a card.
pub const MIN_COLUMN_WIDTH: u16 = 20;
/// Lines per card, including the gap under it.
pub const CARD_HEIGHT: u16 = 4;
/// How long `u` can take back a mark.
pub const UNDO_WINDOW: StdDuration = StdDuration::from_secs(10);
/// How long a toast stays up.
pub const TOAST_TTL: StdDuration = StdDuration::from_secs(6);
/// How often the loop wakes with nothing to do: often enough to move
/// "in 3h" along, rare enough to cost nothing while idle.
pub const IDLE_TICK: StdDuration = StdDuration::from_secs(30);
/// Activity lines kept in memory.
const ACTIVITY_KEEP: usize = 500;
/// Search stops after this many matches (the engine's scan is bounded by it).
pub const SEARCH_LIMIT: usize = 200;
/// Stats are re-read at most this often while changes stream in: each read
/// walks every lead, so a busy worker must not keep the I/O thread on it.
pub const STATS_REFRESH: StdDuration = StdDuration::from_secs(5);
/// Sources listed in the filter picker.
pub const SOURCES_LIMIT: usize = 50;

/// Which screen fills the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// The kanban.
    #[default]
    Board,
    /// What the worker is doing, live.
    Activity,
    /// The funnel, rates, speed to lead and today's sends.
    Stats,
    /// Leads found by name, email or company.
    Search,
    /// One lead in full.
    Detail,
}

/// Which leads the board shows, owned, for requests to the I/O thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardQuery {
    /// Only this sequence.
    pub sequence: Option<String>,
    /// Only this source.
    pub source: Option<String>,
}

impl BoardQuery {
    /// The borrowed form the engine takes.
    pub fn as_filter(&self) -> BoardFilter<'_> {
        BoardFilter {
            sequence: self.sequence.as_deref(),
            source: self.source.as_deref(),
        }
    }
}

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

    fn follow_focus(&mut self) {
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
    fn missing_pages(&self, force: bool) -> Vec<IoRequest> {
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

    /// Everything the screen shows, re-read (after a change).
    fn refresh(&self) -> Vec<IoRequest> {
        let mut out = vec![IoRequest::Counts {
            filter: self.query(),
        }];
        out.extend(self.missing_pages(true));
        out
    }

    fn apply_counts(&mut self, counts: Vec<(Stage, usize)>) {
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

    fn apply_page(&mut self, stages: &[Stage], offset: usize, cards: Vec<BoardCard>) {
        if let Some(column) = self.columns.iter_mut().find(|c| c.stages == stages) {
            column.page_offset = offset;
            column.cards = cards;
        }
    }
}

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
    /// The selected lead.
    pub fn selected(&self) -> Option<&Lead> {
        self.results.get(self.cursor)
    }
}

/// One choice in the filter picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterChoice {
    /// Every lead.
    All,
    /// One sequence (its steps make the columns).
    Sequence(String),
    /// One source.
    Source(String),
}

/// How a toast looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    /// Good news (a reply, a booking).
    Success,
    /// Feedback on what you did.
    Info,
    /// Something failed.
    Error,
}

/// A message that shows for a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// The text.
    pub text: String,
    /// Its colour.
    pub kind: ToastKind,
    /// When it appeared, for expiry.
    pub at: Instant,
}

/// Recent toasts, newest last.
#[derive(Debug, Clone, Default)]
pub struct Toasts {
    /// Showing now.
    pub items: VecDeque<Toast>,
}

impl Toasts {
    /// Shows a toast.
    pub fn push(&mut self, kind: ToastKind, text: impl Into<String>) {
        self.items.push_back(Toast {
            text: text.into(),
            kind,
            at: Instant::now(),
        });
        while self.items.len() > 3 {
            self.items.pop_front();
        }
    }

    /// Drops expired toasts; true when one went.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.items.len();
        self.items
            .retain(|t| now.saturating_duration_since(t.at) < TOAST_TTL);
        self.items.len() != before
    }
}

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

/// A question on top of the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// Nothing asked.
    None,
    /// Yes or no before a consequential request.
    Confirm {
        /// The question.
        prompt: String,
        /// What yes does.
        then: IoRequest,
    },
    /// How long to snooze.
    Snooze {
        /// The lead.
        id: LeadId,
        /// Its name, for the title.
        name: String,
    },
    /// Every key.
    Help,
    /// A one-line note for a lead.
    Note {
        /// The lead.
        id: LeadId,
        /// Its name, for the title.
        name: String,
        /// What is typed.
        text: String,
    },
    /// The add / edit lead form.
    Form(Box<FormState>),
    /// Pick a sequence or source to filter the board by.
    Filter {
        /// The choices (sources arrive after a read).
        choices: Vec<FilterChoice>,
        /// The highlighted one.
        cursor: usize,
    },
}

/// The snooze choices.
pub const SNOOZE_CHOICES: [(&str, i64); 3] = [("1 day", 1), ("3 days", 3), ("1 week", 7)];

/// The last mark, so `u` can take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoEntry {
    /// The lead.
    pub id: LeadId,
    /// Its name, for the toast.
    pub name: String,
    /// The mark that reverses it.
    pub inverse: Mark,
    /// When the mark landed.
    pub at: Instant,
}

/// The active theme and the others `t` cycles through.
#[derive(Debug, Clone)]
pub struct ThemeState {
    /// Every theme.
    pub themes: Themes,
    /// The one in use.
    pub current: Theme,
}

impl ThemeState {
    /// Loads `name` (errors become toasts at start).
    pub fn new(themes: Themes, name: &str, toasts: &mut Toasts) -> ThemeState {
        for problem in &themes.problems {
            toasts.push(ToastKind::Error, format!("theme: {problem}"));
        }
        let (current, problem) = themes.resolve(name);
        if let Some(problem) = problem {
            toasts.push(
                ToastKind::Error,
                format!("theme: {problem}; using {}", current.name),
            );
        }
        ThemeState { themes, current }
    }

    fn cycle(&mut self) -> Option<String> {
        let names = self.themes.names();
        let at = names.iter().position(|n| *n == self.current.name)?;
        let next = &names[(at + 1) % names.len()];
        let (theme, problem) = self.themes.resolve(next);
        self.current = theme;
        problem.map(|p| p.to_string())
    }
}

/// Which zone "your time" is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserZone {
    /// The machine's local zone.
    Local,
    /// A fixed zone (tests, or a server in UTC).
    Named(Tz),
}

/// The whole TUI state: small parts, each owning one concern.
pub struct App {
    /// The kanban.
    pub board: BoardState,
    /// The lead detail.
    pub detail: DetailState,
    /// The Stats screen.
    pub stats: StatsState,
    /// The search screen.
    pub search: SearchState,
    /// Transient messages.
    pub toasts: Toasts,
    /// Live worker activity.
    pub activity: ActivityLog,
    /// An open question.
    pub dialog: Dialog,
    /// What `u` would undo.
    pub undo: Option<UndoEntry>,
    /// Key bindings.
    pub keys: KeyMap,
    /// Colours.
    pub theme: ThemeState,
    /// Screen in front.
    pub screen: Screen,
    /// The engine's time (a manual clock in the demo and in tests).
    pub clock: Arc<dyn Clock>,
    /// Where "your time" is.
    pub user_zone: UserZone,
    /// Zone of leads without one.
    pub default_tz: Tz,
    /// Whether alerts (reply, booking, hot, bounce, in doubt) ring the bell.
    pub bell: bool,
    /// Shown in the title: "local", "attached", "demo".
    pub mode: String,
    /// Leads marked from here recently: their change notes are not news.
    own_marks: Vec<(LeadId, Instant)>,
    /// Set by quit; the loop ends.
    pub quit: bool,
    /// The database is still opening (the first frame comes before it).
    pub opening: bool,
    /// Why the engine could not be reached at all; the loop ends with it.
    pub fatal: Option<String>,
    /// Every sequence, for the filter picker and the add form.
    pub sequences: Vec<Sequence>,
    /// The default sequence (the board's when unfiltered).
    pub default_sequence: String,
    /// Region for phone numbers without a country code, for validation.
    pub default_region: Option<String>,
    /// The terminal size, to rebuild the board when the filter changes.
    pub size: (u16, u16),
    /// Redraw at least this often (relative times move on); short in the
    /// demo, whose clock runs fast.
    pub idle_tick: StdDuration,
}

/// A request the background thread runs against the `EngineHandle`.
#[derive(Debug, Clone, PartialEq)]
pub enum IoRequest {
    /// Leads per stage.
    Counts {
        /// Which leads.
        filter: BoardQuery,
    },
    /// One page of a column.
    Page {
        /// The column's stages.
        stages: Vec<Stage>,
        /// Which leads.
        filter: BoardQuery,
        /// Cards to skip.
        offset: usize,
        /// Cards to read.
        limit: usize,
    },
    /// A lead in full.
    Detail {
        /// Which.
        id: LeadId,
    },
    /// A changed lead, to see whether it is news (a reply, a booking).
    Watch {
        /// Which.
        id: LeadId,
    },
    /// Mark a lead.
    Mark {
        /// Which.
        id: LeadId,
        /// Its name, for messages.
        name: String,
        /// The mark.
        mark: Mark,
        /// Its status before, to know the undo.
        before: Status,
        /// Whether this is an undo (which itself cannot be undone).
        undo: bool,
    },
    /// Postpone the next touch.
    Snooze {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
        /// Until.
        until: DateTime<Utc>,
    },
    /// Make the next touch due now.
    SendNow {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
    },
    /// The Stats screen's numbers.
    Stats {
        /// Which leads.
        filter: BoardQuery,
    },
    /// Leads matching a text.
    Search {
        /// The text.
        query: String,
    },
    /// The lead sources, for the filter picker.
    Sources,
    /// Add a note.
    Note {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
        /// The note.
        text: String,
    },
    /// Add a lead from the form.
    Add {
        /// The form's input (boxed: it is the largest request).
        input: Box<LeadInput>,
    },
    /// Change a lead from the form.
    Edit {
        /// Which.
        id: LeadId,
        /// What changes.
        edit: LeadEdit,
    },
}

impl IoRequest {
    /// Requests with the same key supersede each other in the queue: only
    /// the newest page of a column, or the newest count, is worth reading.
    pub fn supersedes(&self, other: &IoRequest) -> bool {
        match (self, other) {
            (IoRequest::Counts { .. }, IoRequest::Counts { .. }) => true,
            (IoRequest::Page { stages: a, .. }, IoRequest::Page { stages: b, .. }) => a == b,
            (IoRequest::Detail { id: a }, IoRequest::Detail { id: b }) => a == b,
            (IoRequest::Watch { id: a }, IoRequest::Watch { id: b }) => a == b,
            (IoRequest::Stats { .. }, IoRequest::Stats { .. })
            | (IoRequest::Search { .. }, IoRequest::Search { .. })
            | (IoRequest::Sources, IoRequest::Sources) => true,
            _ => false,
        }
    }
}

/// What the background thread answers.
#[derive(Debug, Clone)]
pub enum IoResult {
    /// Leads per stage.
    Counts(Vec<(Stage, usize)>),
    /// A page of a column.
    Page {
        /// The column's stages.
        stages: Vec<Stage>,
        /// Index of the first card.
        offset: usize,
        /// The cards.
        cards: Vec<BoardCard>,
    },
    /// A lead in full.
    Detail(Box<LeadView>),
    /// A changed lead and its events since last seen.
    Watched {
        /// The lead now.
        lead: Box<Lead>,
        /// Its new events.
        new: Vec<EventKind>,
    },
    /// A mark landed.
    Marked {
        /// The lead after.
        lead: Box<Lead>,
        /// The mark.
        mark: Mark,
        /// Status before.
        before: Status,
        /// Whether it was an undo.
        undo: bool,
    },
    /// The Stats screen's numbers.
    Stats(Box<Stats>),
    /// Search results.
    Found {
        /// The query they answer.
        query: String,
        /// The matches.
        leads: Vec<Lead>,
    },
    /// The lead sources.
    Sources(Vec<String>),
    /// The form's lead was added or changed.
    Saved {
        /// The lead's name.
        name: String,
        /// Added (else edited).
        added: bool,
    },
    /// The engine refused the form; the text says why.
    Rejected(String),
    /// Something else landed; the text says what.
    Done(String),
    /// A request failed; the text says why.
    Failed(String),
}

/// What the shell must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run this on the background thread.
    Io(IoRequest),
    /// Ring the terminal bell.
    Bell,
}

/// Input to [`update`].
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The terminal's new size.
    Resize(u16, u16),
    /// The background thread answered.
    Io(IoResult),
    /// The engine changed something.
    Changed(Change),
    /// Change notifications were missed; re-read everything.
    Resync,
    /// Time passed (toasts expire, relative times move).
    Tick,
    /// Stop: a signal arrived or the terminal went away.
    Quit,
    /// The database is open; the board's reads are being answered.
    Opened,
    /// The database could not be opened; the TUI ends with this error.
    OpenFailed(String),
}

/// Settings an [`App`] starts with.
pub struct AppConfig {
    /// The board's sequence.
    pub sequence: Sequence,
    /// Whether to filter by it (several sequences exist).
    pub filter: bool,
    /// Key bindings.
    pub keys: KeyMap,
    /// Themes, and the one to start with.
    pub themes: Themes,
    /// Starting theme.
    pub theme: String,
    /// The engine's clock.
    pub clock: Arc<dyn Clock>,
    /// "Your" zone.
    pub user_zone: UserZone,
    /// Zone of leads without one.
    pub default_tz: Tz,
    /// Ring the bell on news.
    pub bell: bool,
    /// "local", "attached" or "demo".
    pub mode: String,
    /// Redraw at least this often.
    pub idle_tick: StdDuration,
    /// Every sequence (the filter picker, the add form).
    pub sequences: Vec<Sequence>,
    /// Region for phone numbers without a country code.
    pub default_region: Option<String>,
}

impl App {
    /// A new app; returns the requests that fill the first screen.
    pub fn new(config: AppConfig, width: u16, height: u16) -> (App, Vec<Command>) {
        let mut toasts = Toasts::default();
        let theme = ThemeState::new(config.themes, &config.theme, &mut toasts);
        let mut board = BoardState::new(&config.sequence, config.filter);
        board.resize(width, height);
        let default_sequence = config.sequence.name.clone();
        let app = App {
            board,
            detail: DetailState::default(),
            stats: StatsState::default(),
            search: SearchState::default(),
            toasts,
            activity: ActivityLog::default(),
            dialog: Dialog::None,
            undo: None,
            keys: config.keys,
            theme,
            screen: Screen::Board,
            clock: config.clock,
            user_zone: config.user_zone,
            default_tz: config.default_tz,
            bell: config.bell,
            mode: config.mode,
            own_marks: Vec::new(),
            quit: false,
            idle_tick: config.idle_tick,
            opening: false,
            fatal: None,
            sequences: config.sequences,
            default_sequence,
            default_region: config.default_region,
            size: (width, height),
        };
        let first = app.board.refresh().into_iter().map(Command::Io).collect();
        (app, first)
    }

    /// The engine's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn selected_lead(&self) -> Option<&Lead> {
        match self.screen {
            Screen::Detail => self.detail.view.as_ref().map(|v| &v.lead),
            Screen::Search => self.search.selected(),
            Screen::Board => self.board.selected().map(|c| &c.lead),
            Screen::Activity | Screen::Stats => None,
        }
    }

    fn sequence_names(&self) -> Vec<String> {
        self.sequences.iter().map(|s| s.name.clone()).collect()
    }

    /// Asks for the Stats screen's numbers now, unless a read is on its way.
    fn ask_stats(&mut self) -> Vec<Command> {
        if self.stats.loading {
            self.stats.stale = true;
            return Vec::new();
        }
        self.stats.loading = true;
        self.stats.stale = false;
        self.stats.asked = Some(Instant::now());
        vec![Command::Io(IoRequest::Stats {
            filter: self.board.query(),
        })]
    }

    /// Re-reads stats after a change, at most every [`STATS_REFRESH`].
    fn stats_changed(&mut self) -> Vec<Command> {
        if self.screen != Screen::Stats {
            self.stats.stale = true;
            return Vec::new();
        }
        let recent = self
            .stats
            .asked
            .is_some_and(|at| at.elapsed() < STATS_REFRESH);
        if recent || self.stats.loading {
            self.stats.stale = true;
            return Vec::new();
        }
        self.ask_stats()
    }
}

fn io(requests: Vec<IoRequest>) -> Vec<Command> {
    requests.into_iter().map(Command::Io).collect()
}

/// The pure heart of the TUI: applies one message, returns what to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(key) => key_pressed(app, &key),
        Msg::Resize(width, height) => {
            app.size = (width, height);
            app.board.resize(width, height);
            io(app.board.missing_pages(false))
        }
        Msg::Io(result) => loaded(app, result),
        Msg::Changed(Change::Lead(id)) => {
            let mut out = app.board.refresh();
            out.push(IoRequest::Watch { id });
            if app.screen == Screen::Detail && app.detail.id == Some(id) {
                out.push(IoRequest::Detail { id });
            }
            // A result on show changed (status, name): ask again, so the list
            // never shows a stale lead.
            if app.screen == Screen::Search
                && !app.search.found_for.is_empty()
                && app.search.results.iter().any(|l| l.id == id)
            {
                out.push(IoRequest::Search {
                    query: app.search.found_for.clone(),
                });
            }
            let mut commands = io(out);
            commands.extend(app.stats_changed());
            commands
        }
        Msg::Changed(Change::Activity { lead, who, text }) => {
            let at = app.now();
            app.activity.lines.push_back(ActivityLine {
                at,
                lead,
                who,
                text,
            });
            while app.activity.lines.len() > ACTIVITY_KEEP {
                app.activity.lines.pop_front();
            }
            Vec::new()
        }
        Msg::Resync => io(app.board.refresh()),
        Msg::Tick => {
            app.toasts.expire(Instant::now());
            if app.stats.stale {
                app.stats_changed()
            } else {
                Vec::new()
            }
        }
        Msg::Quit => {
            app.quit = true;
            Vec::new()
        }
        Msg::Opened => {
            app.opening = false;
            Vec::new()
        }
        Msg::OpenFailed(why) => {
            app.fatal = Some(why);
            app.quit = true;
            Vec::new()
        }
    }
}

/// Keys on the search screen: typing edits the query (each change asks
/// for matches; newer asks supersede older ones still queued), arrows move
/// through the results, Enter opens one, Esc clears and then leaves.
fn search_key(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    let search = &mut app.search;
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c') if ctrl => {
            app.quit = true;
            return Vec::new();
        }
        KeyCode::Esc if search.query.is_empty() => {
            app.screen = Screen::Board;
            return Vec::new();
        }
        KeyCode::Esc => {
            *search = SearchState::default();
            return Vec::new();
        }
        KeyCode::Tab => {
            app.screen = Screen::Board;
            return Vec::new();
        }
        KeyCode::Up => {
            search.cursor = search.cursor.saturating_sub(1);
            return Vec::new();
        }
        KeyCode::Down => {
            search.cursor = (search.cursor + 1).min(search.results.len().saturating_sub(1));
            return Vec::new();
        }
        KeyCode::Enter => {
            let Some(id) = search.selected().map(|l| l.id) else {
                return Vec::new();
            };
            return open_detail(app, id, Screen::Search);
        }
        KeyCode::Backspace => {
            search.query.pop();
        }
        KeyCode::Char(c) if !ctrl => search.query.push(c),
        _ => return Vec::new(),
    }
    if search.query.trim().is_empty() {
        search.results.clear();
        search.found_for.clear();
        search.cursor = 0;
        return Vec::new();
    }
    vec![Command::Io(IoRequest::Search {
        query: search.query.clone(),
    })]
}

/// Keys in the note prompt: typing, Backspace, Enter saves, Esc cancels.
fn note_key(
    app: &mut App,
    key: &KeyEvent,
    id: LeadId,
    name: String,
    mut text: String,
) -> Vec<Command> {
    match key.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Enter if text.trim().is_empty() => {
            app.toasts
                .push(ToastKind::Info, "empty note: nothing saved");
            return Vec::new();
        }
        KeyCode::Enter => return vec![Command::Io(IoRequest::Note { id, name, text })],
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        _ => {}
    }
    app.dialog = Dialog::Note { id, name, text };
    Vec::new()
}

/// Keys in the form; a submit validates first and sends only a clean form.
fn form_key(app: &mut App, key: &KeyEvent, mut form: Box<FormState>) -> Vec<Command> {
    if form.busy {
        // Waiting for the engine: only Esc (give up waiting) does anything.
        if key.code != KeyCode::Esc {
            app.dialog = Dialog::Form(form);
        }
        return Vec::new();
    }
    let commands = match form.key(key) {
        FormKey::Cancel => return Vec::new(),
        FormKey::Edit => Vec::new(),
        FormKey::Submit => {
            let names = app.sequence_names();
            if form.validate(app.default_region.as_deref(), &names) {
                let request = match &form.mode {
                    FormMode::Add => Some(IoRequest::Add {
                        input: Box::new(form.input()),
                    }),
                    FormMode::Edit { id, .. } => {
                        let edit = form.changes();
                        (!edit.is_empty()).then_some(IoRequest::Edit { id: *id, edit })
                    }
                };
                match request {
                    Some(request) => {
                        form.busy = true;
                        vec![Command::Io(request)]
                    }
                    None => {
                        app.toasts.push(ToastKind::Info, "nothing changed");
                        return Vec::new();
                    }
                }
            } else {
                Vec::new()
            }
        }
    };
    app.dialog = Dialog::Form(form);
    commands
}

/// Keys in the filter picker: arrows or j/k move, Enter applies, Esc closes.
fn filter_key(
    app: &mut App,
    key: &KeyEvent,
    choices: Vec<FilterChoice>,
    mut cursor: usize,
) -> Vec<Command> {
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') => return Vec::new(),
        KeyCode::Up | KeyCode::Char('k') => cursor = cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            cursor = (cursor + 1).min(choices.len().saturating_sub(1))
        }
        KeyCode::Enter => {
            return match choices.get(cursor).cloned() {
                Some(choice) => apply_filter(app, choice),
                None => Vec::new(),
            };
        }
        _ => {}
    }
    app.dialog = Dialog::Filter { choices, cursor };
    Vec::new()
}

/// Switches the board to a filter and re-reads it.
fn apply_filter(app: &mut App, choice: FilterChoice) -> Vec<Command> {
    let default = app
        .sequences
        .iter()
        .find(|s| s.name == app.default_sequence)
        .or(app.sequences.first())
        .cloned();
    let source = app.board.source.clone();
    let rebuilt = match &choice {
        FilterChoice::All => default.map(|s| BoardState::new(&s, false)),
        FilterChoice::Sequence(name) => app.sequences.iter().find(|s| &s.name == name).map(|s| {
            let mut board = BoardState::new(s, true);
            board.source = source;
            board
        }),
        FilterChoice::Source(source) => {
            app.board.source = Some(source.clone());
            app.board.focus = 0;
            app.board.first_visible = 0;
            for column in &mut app.board.columns {
                column.cursor = 0;
                column.scroll = 0;
                column.cards.clear();
            }
            None
        }
    };
    if let Some(mut board) = rebuilt {
        board.done_collapsed = app.board.done_collapsed;
        board.resize(app.size.0, app.size.1);
        app.board = board;
    }
    app.stats.stale = true;
    let mut commands = io(app.board.refresh());
    if app.screen == Screen::Stats {
        commands.extend(app.ask_stats());
    }
    commands
}

fn key_pressed(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    match std::mem::replace(&mut app.dialog, Dialog::None) {
        Dialog::None => {}
        Dialog::Confirm { prompt, then } => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    vec![Command::Io(then)]
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                    Vec::new()
                }
                _ => {
                    app.dialog = Dialog::Confirm { prompt, then };
                    Vec::new()
                }
            };
        }
        Dialog::Snooze { id, name } => {
            let choice = match key.code {
                KeyCode::Char(c @ '1'..='3') => Some(usize::from(c as u8 - b'1')),
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('n') => return Vec::new(),
                _ => None,
            };
            return match choice {
                Some(i) => {
                    let until = app.now() + Duration::days(SNOOZE_CHOICES[i].1);
                    vec![Command::Io(IoRequest::Snooze { id, name, until })]
                }
                None => {
                    app.dialog = Dialog::Snooze { id, name };
                    Vec::new()
                }
            };
        }
        Dialog::Help => {
            // Any key closes help; the quit key also quits.
            if app.keys.action(key) == Some(Action::Quit) {
                app.quit = true;
            }
            return Vec::new();
        }
        Dialog::Note { id, name, text } => return note_key(app, key, id, name, text),
        Dialog::Form(form) => return form_key(app, key, form),
        Dialog::Filter { choices, cursor } => return filter_key(app, key, choices, cursor),
    }
    if app.screen == Screen::Search {
        return search_key(app, key);
    }
    match app.keys.action(key) {
        Some(action) => act(app, action),
        None => Vec::new(),
    }
}

/// Applies one action; public so tests and remaps can drive it directly.
pub fn act(app: &mut App, action: Action) -> Vec<Command> {
    match action {
        Action::Quit => {
            app.quit = true;
            Vec::new()
        }
        Action::Help => {
            app.dialog = Dialog::Help;
            Vec::new()
        }
        Action::Theme => {
            if let Some(problem) = app.theme.cycle() {
                app.toasts
                    .push(ToastKind::Error, format!("theme: {problem}"));
            } else {
                let name = app.theme.current.name.clone();
                app.toasts.push(ToastKind::Info, format!("theme: {name}"));
            }
            Vec::new()
        }
        Action::NextScreen => {
            app.screen = match app.screen {
                Screen::Board => Screen::Activity,
                Screen::Activity => Screen::Stats,
                Screen::Stats | Screen::Search | Screen::Detail => Screen::Board,
            };
            if app.screen == Screen::Stats {
                app.ask_stats()
            } else {
                Vec::new()
            }
        }
        Action::Back => {
            app.screen = match app.screen {
                Screen::Detail => app.detail.back,
                _ => Screen::Board,
            };
            Vec::new()
        }
        Action::Search => {
            app.screen = Screen::Search;
            Vec::new()
        }
        Action::AddLead => {
            app.dialog = Dialog::Form(Box::new(FormState::add(&app.default_sequence)));
            Vec::new()
        }
        Action::Filter => {
            let mut choices = vec![FilterChoice::All];
            choices.extend(
                app.sequences
                    .iter()
                    .map(|s| FilterChoice::Sequence(s.name.clone())),
            );
            app.dialog = Dialog::Filter { choices, cursor: 0 };
            vec![Command::Io(IoRequest::Sources)]
        }
        Action::Undo => undo(app),
        Action::Up
        | Action::Down
        | Action::Left
        | Action::Right
        | Action::First
        | Action::Last
        | Action::PageUp
        | Action::PageDown
        | Action::ToggleDone
        | Action::Open => navigate(app, action),
        Action::Replied
        | Action::Booked
        | Action::PauseResume
        | Action::HandOff
        | Action::OptOut
        | Action::Snooze
        | Action::SendNow
        | Action::Note
        | Action::Edit => lead_action(app, action),
    }
}

fn navigate(app: &mut App, action: Action) -> Vec<Command> {
    if app.screen == Screen::Detail {
        match action {
            Action::Up => app.detail.scroll = app.detail.scroll.saturating_sub(1),
            Action::Down => app.detail.scroll = app.detail.scroll.saturating_add(1),
            Action::PageUp => app.detail.scroll = app.detail.scroll.saturating_sub(10),
            Action::PageDown => app.detail.scroll = app.detail.scroll.saturating_add(10),
            Action::First => app.detail.scroll = 0,
            _ => {}
        }
        return Vec::new();
    }
    if app.screen != Screen::Board {
        return Vec::new();
    }
    let board = &mut app.board;
    let rows = board.rows;
    let columns = board.columns.len();
    match action {
        Action::Left => board.focus = board.focus.saturating_sub(1),
        Action::Right => board.focus = (board.focus + 1).min(columns.saturating_sub(1)),
        Action::ToggleDone => board.done_collapsed = !board.done_collapsed,
        Action::Open => {
            let Some(card) = board.selected() else {
                return Vec::new();
            };
            let id = card.lead.id;
            return open_detail(app, id, Screen::Board);
        }
        _ => {
            if let Some(column) = board.columns.get_mut(board.focus) {
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
    board.follow_focus();
    io(board.missing_pages(false))
}

fn lead_action(app: &mut App, action: Action) -> Vec<Command> {
    let Some(lead) = app.selected_lead() else {
        return Vec::new();
    };
    if action == Action::Edit {
        app.dialog = Dialog::Form(Box::new(FormState::edit(lead)));
        return Vec::new();
    }
    let (id, name, status) = (lead.id, lead.name.clone(), lead.status);
    let mark = |mark| {
        vec![Command::Io(IoRequest::Mark {
            id,
            name: name.clone(),
            mark,
            before: status,
            undo: false,
        })]
    };
    match action {
        Action::Replied => mark(Mark::Replied),
        Action::Booked => mark(Mark::Booked),
        Action::HandOff => mark(Mark::HandedOff),
        Action::PauseResume => mark(if status == Status::Paused {
            Mark::Resumed
        } else {
            Mark::Paused
        }),
        Action::OptOut => {
            app.dialog = Dialog::Confirm {
                prompt: format!("Opt out {name}? They will never be contacted again."),
                then: IoRequest::Mark {
                    id,
                    name: name.clone(),
                    mark: Mark::OptedOut,
                    before: status,
                    undo: false,
                },
            };
            Vec::new()
        }
        Action::Snooze => {
            app.dialog = Dialog::Snooze { id, name };
            Vec::new()
        }
        Action::SendNow => {
            app.dialog = Dialog::Confirm {
                prompt: format!("Send {name}'s next touch now?"),
                then: IoRequest::SendNow { id, name },
            };
            Vec::new()
        }
        Action::Note => {
            app.dialog = Dialog::Note {
                id,
                name,
                text: String::new(),
            };
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// The mark that takes `mark` back, when the status machine allows one.
pub fn inverse(mark: Mark, before: Status) -> Option<Mark> {
    match (mark, before) {
        (Mark::Replied | Mark::Booked | Mark::Paused, Status::Active) => Some(Mark::Resumed),
        (Mark::Resumed, Status::Paused) => Some(Mark::Paused),
        _ => None,
    }
}

fn undo(app: &mut App) -> Vec<Command> {
    let Some(entry) = app.undo.take() else {
        app.toasts.push(ToastKind::Info, "nothing to undo");
        return Vec::new();
    };
    if entry.at.elapsed() > UNDO_WINDOW {
        app.toasts
            .push(ToastKind::Info, "too late to undo (10 s have passed)");
        return Vec::new();
    }
    vec![Command::Io(IoRequest::Mark {
        id: entry.id,
        name: entry.name,
        mark: entry.inverse,
        before: Status::Active,
        undo: true,
    })]
}

fn loaded(app: &mut App, result: IoResult) -> Vec<Command> {
    match result {
        IoResult::Counts(counts) => {
            app.board.apply_counts(counts);
            io(app.board.missing_pages(false))
        }
        IoResult::Page {
            stages,
            offset,
            cards,
        } => {
            app.board.apply_page(&stages, offset, cards);
            Vec::new()
        }
        IoResult::Detail(view) => {
            if app.detail.id == Some(view.lead.id) {
                app.detail.view = Some(view);
            }
            Vec::new()
        }
        IoResult::Watched { lead, new } => {
            app.own_marks
                .retain(|(_, at)| at.elapsed() < StdDuration::from_secs(5));
            if app.own_marks.iter().any(|(id, _)| *id == lead.id) {
                return Vec::new();
            }
            let news = new.iter().find_map(|e| match e.alert()? {
                AlertKind::Replied => Some((ToastKind::Success, "replied")),
                AlertKind::Booked => Some((ToastKind::Success, "booked a meeting")),
                AlertKind::Hot => Some((ToastKind::Success, "is hot")),
                AlertKind::Bounced => Some((ToastKind::Error, "bounced")),
                AlertKind::InDoubt => Some((ToastKind::Error, "has a send in doubt (resolve it)")),
                AlertKind::Attention => Some((ToastKind::Error, "needs your attention")),
            });
            match news {
                Some((kind, what)) => {
                    app.toasts.push(kind, format!("{} {what}", lead.name));
                    if app.bell {
                        vec![Command::Bell]
                    } else {
                        Vec::new()
                    }
                }
                None => Vec::new(),
            }
        }
        IoResult::Marked {
            lead,
            mark,
            before,
            undo,
        } => {
            app.own_marks.push((lead.id, Instant::now()));
            let verb = if undo { "undone:" } else { "marked" };
            let hint = match (undo, inverse(mark, before)) {
                (false, Some(inv)) => {
                    app.undo = Some(UndoEntry {
                        id: lead.id,
                        name: lead.name.clone(),
                        inverse: inv,
                        at: Instant::now(),
                    });
                    app.keys
                        .key_for(Action::Undo)
                        .map(|k| format!(" ({k} to undo)"))
                        .unwrap_or_default()
                }
                _ => {
                    app.undo = None;
                    String::new()
                }
            };
            app.toasts.push(
                ToastKind::Info,
                format!("{} {verb} {}{hint}", lead.name, lead.status),
            );
            Vec::new()
        }
        IoResult::Stats(stats) => {
            app.stats.stats = Some(stats);
            app.stats.loading = false;
            Vec::new()
        }
        IoResult::Found { query, leads } => {
            if query == app.search.query {
                app.search.results = leads;
                app.search.found_for = query;
                app.search.cursor = app
                    .search
                    .cursor
                    .min(app.search.results.len().saturating_sub(1));
            }
            Vec::new()
        }
        IoResult::Sources(sources) => {
            if let Dialog::Filter { choices, .. } = &mut app.dialog {
                choices.retain(|c| !matches!(c, FilterChoice::Source(_)));
                choices.extend(sources.into_iter().map(FilterChoice::Source));
            }
            Vec::new()
        }
        IoResult::Saved { name, added } => {
            if matches!(app.dialog, Dialog::Form(_)) {
                app.dialog = Dialog::None;
            }
            let verb = if added { "added" } else { "saved" };
            app.toasts.push(ToastKind::Info, format!("{name} {verb}"));
            Vec::new()
        }
        IoResult::Rejected(why) => {
            match &mut app.dialog {
                Dialog::Form(form) => form.reject(field_of_error(&why), why),
                _ => app.toasts.push(ToastKind::Error, why),
            }
            Vec::new()
        }
        IoResult::Done(text) => {
            if !text.is_empty() {
                app.toasts.push(ToastKind::Info, text);
            }
            Vec::new()
        }
        IoResult::Failed(text) => {
            app.toasts.push(ToastKind::Error, text);
            Vec::new()
        }
    }
}

/// Shows lead `id` in full and asks for its view; Esc returns to `back`.
fn open_detail(app: &mut App, id: LeadId, back: Screen) -> Vec<Command> {
    app.detail = DetailState {
        id: Some(id),
        view: None,
        scroll: 0,
        back,
    };
    app.screen = Screen::Detail;
    vec![Command::Io(IoRequest::Detail { id })]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::BUILTIN_DEFAULT;
    use crate::clock::ManualClock;
    use crate::domain::lead::LeadInput;
    use crate::tui::theme::{ColorDepth, Themes};

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn lead(n: u64, status: Status) -> Lead {
        let input = LeadInput {
            name: format!("Lead {n}"),
            email: Some(format!("lead{n}@example.com")),
            source: "test".into(),
            ..LeadInput::default()
        };
        let id = LeadId(ulid::Ulid::from_parts(1_000 + n, 0));
        let mut lead = input
            .validate(None)
            .unwrap()
            .into_lead(id, "default".into(), start());
        lead.status = status;
        lead
    }

    fn card(n: u64) -> BoardCard {
        BoardCard {
            lead: lead(n, Status::Active),
            in_doubt: false,
            failed: false,
        }
    }

    /// An 80×24 app whose New column holds `count` leads, the first page loaded.
    fn app(count: usize) -> App {
        let sequence = Sequence::parse("default.toml", BUILTIN_DEFAULT, "default").unwrap();
        let (mut app, first) = App::new(
            AppConfig {
                sequences: vec![sequence.clone()],
                default_region: None,
                sequence,
                filter: false,
                keys: KeyMap::default(),
                themes: Themes::load(None, ColorDepth::Ansi16),
                theme: "dark".into(),
                clock: Arc::new(ManualClock::new(start())),
                user_zone: UserZone::Named(Tz::UTC),
                default_tz: Tz::UTC,
                bell: true,
                mode: "test".into(),
                idle_tick: IDLE_TICK,
            },
            80,
            24,
        );
        assert!(matches!(first[0], Command::Io(IoRequest::Counts { .. })));
        update(
            &mut app,
            Msg::Io(IoResult::Counts(vec![(Stage::New, count)])),
        );
        let cards = (0..count.min(15) as u64).map(card).collect();
        update(
            &mut app,
            Msg::Io(IoResult::Page {
                stages: vec![Stage::New],
                offset: 0,
                cards,
            }),
        );
        app
    }

    fn press(app: &mut App, c: char) -> Vec<Command> {
        update(
            app,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        )
    }

    fn mark_of(commands: &[Command]) -> Option<(Mark, Status, bool)> {
        match commands {
            [
                Command::Io(IoRequest::Mark {
                    mark, before, undo, ..
                }),
            ] => Some((*mark, *before, *undo)),
            _ => None,
        }
    }

    #[test]
    fn mark_keys_become_engine_marks() {
        let mut app = app(3);
        assert_eq!(
            mark_of(&press(&mut app, 'r')),
            Some((Mark::Replied, Status::Active, false))
        );
        assert_eq!(mark_of(&press(&mut app, 'b')).unwrap().0, Mark::Booked);
        assert_eq!(mark_of(&press(&mut app, 'H')).unwrap().0, Mark::HandedOff);
        assert_eq!(mark_of(&press(&mut app, 'p')).unwrap().0, Mark::Paused);
    }

    #[test]
    fn pause_resumes_a_paused_lead() {
        let mut app = app(1);
        app.board.columns[0].cards[0].lead.status = Status::Paused;
        assert_eq!(
            mark_of(&press(&mut app, 'p')),
            Some((Mark::Resumed, Status::Paused, false))
        );
    }

    #[test]
    fn opt_out_and_send_now_ask_first() {
        let mut app = app(2);
        assert!(press(&mut app, 'o').is_empty());
        assert!(matches!(app.dialog, Dialog::Confirm { .. }));
        assert!(
            press(&mut app, 'x').is_empty(),
            "other keys keep the question"
        );
        assert!(press(&mut app, 'n').is_empty());
        assert_eq!(app.dialog, Dialog::None);
        press(&mut app, 'o');
        assert_eq!(mark_of(&press(&mut app, 'y')).unwrap().0, Mark::OptedOut);
        press(&mut app, 'd');
        let sent = press(&mut app, 'y');
        assert!(matches!(
            sent.as_slice(),
            [Command::Io(IoRequest::SendNow { .. })]
        ));
    }

    #[test]
    fn snooze_picks_a_duration_on_the_engine_clock() {
        let mut app = app(1);
        assert!(press(&mut app, 's').is_empty());
        let commands = press(&mut app, '2');
        match commands.as_slice() {
            [Command::Io(IoRequest::Snooze { until, .. })] => {
                assert_eq!(*until, start() + Duration::days(3));
            }
            other => panic!("expected a snooze, got {other:?}"),
        }
    }

    #[test]
    fn moving_past_the_loaded_page_reads_only_the_next_page() {
        let mut app = app(100);
        assert_eq!(app.board.rows, 5);
        assert!(press(&mut app, 'j').is_empty(), "the next card is loaded");
        let commands = press(&mut app, 'G');
        let column = &app.board.columns[0];
        assert_eq!((column.cursor, column.scroll), (99, 95));
        assert_eq!(
            commands,
            vec![Command::Io(IoRequest::Page {
                stages: vec![Stage::New],
                filter: BoardQuery::default(),
                offset: 90,
                limit: 15,
            })]
        );
        press(&mut app, 'g');
        assert_eq!(app.board.columns[0].cursor, 0);
    }

    #[test]
    fn columns_scroll_sideways_and_load_what_comes_into_view() {
        let mut app = app(1);
        assert_eq!(app.board.visible(), 0..4);
        for _ in 0..4 {
            press(&mut app, 'l');
        }
        assert_eq!(app.board.focus, 4);
        assert_eq!(app.board.visible(), 1..5);
        press(&mut app, 'h');
        assert_eq!(app.board.focus, 3);
    }

    #[test]
    fn undo_takes_back_a_mark_within_ten_seconds() {
        let mut app = app(1);
        let marked = lead(0, Status::Replied);
        update(
            &mut app,
            Msg::Io(IoResult::Marked {
                lead: Box::new(marked),
                mark: Mark::Replied,
                before: Status::Active,
                undo: false,
            }),
        );
        assert_eq!(
            mark_of(&press(&mut app, 'u')),
            Some((Mark::Resumed, Status::Active, true))
        );
        assert!(press(&mut app, 'u').is_empty(), "one undo per mark");
        app.undo = Some(UndoEntry {
            id: lead(0, Status::Active).id,
            name: "Lead 0".into(),
            inverse: Mark::Resumed,
            at: Instant::now() - StdDuration::from_secs(11),
        });
        assert!(press(&mut app, 'u').is_empty());
        assert!(app.toasts.items.iter().any(|t| t.text.contains("too late")));
        assert_eq!(inverse(Mark::HandedOff, Status::Active), None);
        assert_eq!(inverse(Mark::Resumed, Status::Paused), Some(Mark::Paused));
    }

    #[test]
    fn hot_bounce_and_in_doubt_raise_toasts_and_the_bell_too() {
        let mut app = app(1);
        let cases = [
            (
                EventKind::Hot { score: 7 },
                "Lead 1 is hot",
                ToastKind::Success,
            ),
            (
                EventKind::Bounced {
                    reason: "550 user unknown".into(),
                },
                "Lead 2 bounced",
                ToastKind::Error,
            ),
            (
                EventKind::TouchInDoubt {
                    step: "s1".into(),
                    channel: Channel::Email,
                    reason: "connection lost".into(),
                },
                "Lead 3 has a send in doubt",
                ToastKind::Error,
            ),
        ];
        for (id, (event, text, kind)) in (1..).zip(cases) {
            let commands = update(
                &mut app,
                Msg::Io(IoResult::Watched {
                    lead: Box::new(lead(id, Status::Active)),
                    new: vec![EventKind::Note { text: "x".into() }, event],
                }),
            );
            assert_eq!(commands, vec![Command::Bell], "{text}");
            let toast = app.toasts.items.back().unwrap();
            assert!(toast.text.contains(text), "{}", toast.text);
            assert_eq!(toast.kind, kind);
        }
        // Ordinary news is no alert.
        let commands = update(
            &mut app,
            Msg::Io(IoResult::Watched {
                lead: Box::new(lead(4, Status::Active)),
                new: vec![EventKind::Note { text: "x".into() }],
            }),
        );
        assert!(commands.is_empty());
        assert_eq!(app.toasts.items.len(), 3);
    }

    #[test]
    fn a_reply_from_elsewhere_raises_a_toast_and_the_bell() {
        let mut app = app(1);
        let watched = |app: &mut App, id: u64| {
            update(
                app,
                Msg::Io(IoResult::Watched {
                    lead: Box::new(lead(id, Status::Replied)),
                    new: vec![EventKind::Replied],
                }),
            )
        };
        assert_eq!(watched(&mut app, 7), vec![Command::Bell]);
        assert!(
            app.toasts
                .items
                .back()
                .unwrap()
                .text
                .contains("Lead 7 replied")
        );
        app.bell = false;
        assert!(watched(&mut app, 8).is_empty());
        assert_eq!(app.toasts.items.len(), 2);
        // A mark made here is not news.
        app.bell = true;
        update(
            &mut app,
            Msg::Io(IoResult::Marked {
                lead: Box::new(lead(9, Status::Replied)),
                mark: Mark::Replied,
                before: Status::Active,
                undo: false,
            }),
        );
        assert!(watched(&mut app, 9).is_empty());
    }

    #[test]
    fn a_change_rereads_counts_visible_pages_and_the_lead() {
        let mut app = app(1);
        let id = lead(0, Status::Active).id;
        let commands = update(&mut app, Msg::Changed(Change::Lead(id)));
        assert!(matches!(commands[0], Command::Io(IoRequest::Counts { .. })));
        assert!(commands.contains(&Command::Io(IoRequest::Watch { id })));
        let pages = commands
            .iter()
            .filter(|c| matches!(c, Command::Io(IoRequest::Page { .. })))
            .count();
        assert_eq!(pages, 4, "the four visible columns");
    }

    #[test]
    fn enter_opens_the_detail_and_esc_returns() {
        let mut app = app(1);
        let commands = update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        );
        assert_eq!(app.screen, Screen::Detail);
        assert!(matches!(
            commands.as_slice(),
            [Command::Io(IoRequest::Detail { .. })]
        ));
        update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        );
        assert_eq!(app.screen, Screen::Board);
        press(&mut app, '?');
        assert_eq!(app.dialog, Dialog::Help);
        press(&mut app, 'x');
        assert_eq!(app.dialog, Dialog::None);
        press(&mut app, 'q');
        assert!(app.quit);
    }

    fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
        update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn typed(app: &mut App, text: &str) -> Vec<Command> {
        text.chars().flat_map(|c| press(app, c)).collect()
    }

    #[test]
    fn the_board_has_a_hot_column_before_replied() {
        let app = app(1);
        let titles: Vec<&str> = app.board.columns.iter().map(|c| c.title.as_str()).collect();
        let hot = titles.iter().position(|t| *t == "Hot").unwrap();
        assert_eq!(titles[hot + 1], "Replied");
        assert!(
            titles[hot - 1].contains(" · "),
            "after the steps: {titles:?}"
        );
        assert_eq!(app.board.columns[hot].stages, vec![Stage::Hot]);
    }

    #[test]
    fn tab_reaches_stats_which_reads_once_and_throttles_changes() {
        let mut app = app(1);
        assert!(key(&mut app, KeyCode::Tab).is_empty());
        assert_eq!(app.screen, Screen::Activity);
        let commands = key(&mut app, KeyCode::Tab);
        assert_eq!(app.screen, Screen::Stats);
        assert_eq!(
            commands,
            vec![Command::Io(IoRequest::Stats {
                filter: BoardQuery::default()
            })]
        );
        // A change while the read is on its way only marks the numbers stale.
        let id = lead(0, Status::Active).id;
        let changed = update(&mut app, Msg::Changed(Change::Lead(id)));
        assert!(
            !changed
                .iter()
                .any(|c| matches!(c, Command::Io(IoRequest::Stats { .. })))
        );
        assert!(app.stats.stale);
        update(&mut app, Msg::Io(IoResult::Stats(Box::default())));
        assert!(app.stats.stats.is_some() && !app.stats.loading);
        // Within the refresh interval a tick does not re-read either.
        assert!(update(&mut app, Msg::Tick).is_empty());
        app.stats.asked = Some(Instant::now() - STATS_REFRESH);
        assert!(matches!(
            update(&mut app, Msg::Tick).as_slice(),
            [Command::Io(IoRequest::Stats { .. })]
        ));
        key(&mut app, KeyCode::Tab);
        assert_eq!(app.screen, Screen::Board);
    }

    #[test]
    fn slash_searches_as_you_type_and_enter_opens_a_result() {
        let mut app = app(1);
        assert!(press(&mut app, '/').is_empty());
        assert_eq!(app.screen, Screen::Search);
        let commands = typed(&mut app, "ad");
        assert_eq!(
            commands.last(),
            Some(&Command::Io(IoRequest::Search { query: "ad".into() }))
        );
        // Keys are text here: `q` does not quit.
        press(&mut app, 'q');
        assert!(!app.quit);
        key(&mut app, KeyCode::Backspace);
        // A stale answer is ignored; the current one fills the list.
        update(
            &mut app,
            Msg::Io(IoResult::Found {
                query: "a".into(),
                leads: vec![lead(9, Status::Active)],
            }),
        );
        assert!(app.search.results.is_empty());
        update(
            &mut app,
            Msg::Io(IoResult::Found {
                query: "ad".into(),
                leads: vec![lead(1, Status::Active), lead(2, Status::Active)],
            }),
        );
        // A change to a lead on show asks again; one to another lead does not.
        let asks_again = |commands: &[Command]| {
            commands
                .iter()
                .any(|c| matches!(c, Command::Io(IoRequest::Search { query }) if query == "ad"))
        };
        let id1 = lead(1, Status::Active).id;
        assert!(asks_again(&update(
            &mut app,
            Msg::Changed(Change::Lead(id1))
        )));
        let id7 = lead(7, Status::Active).id;
        assert!(!asks_again(&update(
            &mut app,
            Msg::Changed(Change::Lead(id7))
        )));
        key(&mut app, KeyCode::Down);
        let commands = key(&mut app, KeyCode::Enter);
        assert_eq!(
            commands,
            vec![Command::Io(IoRequest::Detail {
                id: lead(2, Status::Active).id
            })]
        );
        assert_eq!(app.screen, Screen::Detail);
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.screen, Screen::Search, "esc returns to the results");
        key(&mut app, KeyCode::Esc);
        assert!(app.search.query.is_empty() && app.search.results.is_empty());
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.screen, Screen::Board);
    }

    #[test]
    fn n_prompts_for_a_note_and_enter_sends_it() {
        let mut app = app(1);
        assert!(press(&mut app, 'n').is_empty());
        assert!(matches!(app.dialog, Dialog::Note { .. }));
        assert!(typed(&mut app, "call back").is_empty());
        let commands = key(&mut app, KeyCode::Enter);
        match commands.as_slice() {
            [Command::Io(IoRequest::Note { text, name, .. })] => {
                assert_eq!(text, "call back");
                assert_eq!(name, "Lead 0");
            }
            other => panic!("expected a note, got {other:?}"),
        }
        assert_eq!(app.dialog, Dialog::None);
        press(&mut app, 'n');
        assert!(key(&mut app, KeyCode::Esc).is_empty());
        assert_eq!(app.dialog, Dialog::None);
    }

    #[test]
    fn a_opens_the_form_which_validates_before_sending() {
        let mut app = app(1);
        assert!(press(&mut app, 'a').is_empty());
        let Dialog::Form(form) = &app.dialog else {
            panic!("a form");
        };
        assert_eq!(form.value("sequence"), "default");
        // Nothing typed: errors inline, nothing sent.
        assert!(key(&mut app, KeyCode::Enter).is_empty());
        let Dialog::Form(form) = &app.dialog else {
            panic!("still a form");
        };
        assert!(form.fields[0].error.is_some());
        typed(&mut app, "Ada");
        key(&mut app, KeyCode::Tab);
        typed(&mut app, "ada@example.com");
        let commands = key(&mut app, KeyCode::Enter);
        match commands.as_slice() {
            [Command::Io(IoRequest::Add { input })] => {
                assert_eq!(input.name, "Ada");
                assert_eq!(input.email.as_deref(), Some("ada@example.com"));
                assert_eq!(input.sequence.as_deref(), Some("default"));
            }
            other => panic!("expected an add, got {other:?}"),
        }
        // The engine refuses a duplicate: the error lands beside the email.
        update(
            &mut app,
            Msg::Io(IoResult::Rejected(
                "a lead with this email already exists: X".into(),
            )),
        );
        let Dialog::Form(form) = &app.dialog else {
            panic!("the form stays open");
        };
        assert!(
            form.fields[1]
                .error
                .as_deref()
                .unwrap()
                .contains("already exists")
        );
        update(
            &mut app,
            Msg::Io(IoResult::Saved {
                name: "Ada".into(),
                added: true,
            }),
        );
        assert_eq!(app.dialog, Dialog::None);
    }

    #[test]
    fn e_edits_the_selected_lead_sending_only_changes() {
        let mut app = app(1);
        press(&mut app, 'e');
        let Dialog::Form(form) = &app.dialog else {
            panic!("a form");
        };
        assert_eq!(form.value("name"), "Lead 0");
        assert!(
            key(&mut app, KeyCode::Enter).is_empty(),
            "nothing changed, nothing sent"
        );
        press(&mut app, 'e');
        for _ in 0..3 {
            key(&mut app, KeyCode::Tab);
        }
        typed(&mut app, "Acme");
        let commands = key(&mut app, KeyCode::Enter);
        match commands.as_slice() {
            [Command::Io(IoRequest::Edit { edit, .. })] => assert_eq!(
                *edit,
                LeadEdit {
                    company: Some("Acme".into()),
                    ..LeadEdit::default()
                }
            ),
            other => panic!("expected an edit, got {other:?}"),
        }
    }

    #[test]
    fn f_picks_a_sequence_or_source_and_the_board_rereads() {
        let mut app = app(1);
        let commands = press(&mut app, 'f');
        assert_eq!(commands, vec![Command::Io(IoRequest::Sources)]);
        update(
            &mut app,
            Msg::Io(IoResult::Sources(vec!["csv".into(), "web".into()])),
        );
        let Dialog::Filter { choices, .. } = &app.dialog else {
            panic!("a picker");
        };
        assert_eq!(
            choices,
            &vec![
                FilterChoice::All,
                FilterChoice::Sequence("default".into()),
                FilterChoice::Source("csv".into()),
                FilterChoice::Source("web".into()),
            ]
        );
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Down);
        let commands = key(&mut app, KeyCode::Enter);
        assert_eq!(
            commands[0],
            Command::Io(IoRequest::Counts {
                filter: BoardQuery {
                    sequence: None,
                    source: Some("csv".into())
                }
            })
        );
        press(&mut app, 'f');
        key(&mut app, KeyCode::Down);
        let commands = key(&mut app, KeyCode::Enter);
        assert_eq!(
            commands[0],
            Command::Io(IoRequest::Counts {
                filter: BoardQuery {
                    sequence: Some("default".into()),
                    source: Some("csv".into())
                }
            })
        );
        press(&mut app, 'f');
        let commands = key(&mut app, KeyCode::Enter);
        assert_eq!(
            commands[0],
            Command::Io(IoRequest::Counts {
                filter: BoardQuery::default()
            })
        );
    }

    #[test]
    fn activity_lines_name_the_lead_and_opening_ends() {
        let mut app = app(1);
        let id = lead(0, Status::Active).id;
        update(
            &mut app,
            Msg::Changed(Change::Activity {
                lead: id,
                who: "Ada Lovelace (Acme)".into(),
                text: "intro (email) sent".into(),
            }),
        );
        assert_eq!(app.activity.lines[0].who, "Ada Lovelace (Acme)");
        app.opening = true;
        update(&mut app, Msg::Opened);
        assert!(!app.opening);
        update(&mut app, Msg::OpenFailed("locked".into()));
        assert!(app.quit);
        assert_eq!(app.fatal.as_deref(), Some("locked"));
    }
}
