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

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::io::{BoardQuery, IoRequest, IoResult};
use super::keys::{Action, KeyMap};
pub use super::popups::Dialog;
use super::popups::filter::FilterChoice;
use super::popups::form::{FormState, field_of_error};
use super::popups::{self};
use super::theme::{Theme, Themes};
use super::widgets::text_input::{self, Edit};
use super::widgets::toast::{ToastKind, Toasts};
use crate::clock::Clock;
use crate::domain::event::AlertKind;
use crate::domain::lead::{Lead, LeadId, Stage};
use crate::domain::mark::Mark;
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::stats::Stats;
use crate::domain::status::Status;
use crate::engine::{BoardCard, Change, LeadView};

/// Columns narrower than this do not fit a card.
pub const MIN_COLUMN_WIDTH: u16 = 20;
/// Lines per card, including the gap under it.
pub const CARD_HEIGHT: u16 = 4;
/// How long `u` can take back a mark.
pub const UNDO_WINDOW: StdDuration = StdDuration::from_secs(10);
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
    pub(crate) fn refresh(&self) -> Vec<IoRequest> {
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

    pub(crate) fn sequence_names(&self) -> Vec<String> {
        self.sequences.iter().map(|s| s.name.clone()).collect()
    }

    /// Asks for the Stats screen's numbers now, unless a read is on its way.
    pub(crate) fn ask_stats(&mut self) -> Vec<Command> {
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
        _ => {
            if text_input::edit(&mut search.query, key) == Edit::Ignored {
                return Vec::new();
            }
        }
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

fn key_pressed(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    let dialog = std::mem::replace(&mut app.dialog, Dialog::None);
    if dialog != Dialog::None {
        return popups::key(app, key, dialog);
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
mod tests;
