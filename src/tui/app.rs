//! The TUI's router and its pure update logic.
//!
//! [`App`] holds each screen's state (from [`super::screens`]), the open
//! popup (from [`super::popups`]), toasts, undo and theme, and which screen
//! is in front (the detail remembers the screen it was opened from).
//! [`update`] routes a message (a key, an engine answer, a change) to the
//! part it concerns and returns [`Command`]s for the shell to run: engine
//! requests go to a background thread, so no key press ever waits on the
//! disk or the socket.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use crossterm::event::KeyEvent;

use super::io::{IoRequest, IoResult};
use super::keys::{Action, KeyMap};
use super::popups;
pub use super::popups::Dialog;
use super::popups::filter::FilterChoice;
use super::popups::form::{FormState, field_of_error};
use super::screens::Outcome;
pub use super::screens::Screen;
use super::screens::activity::{ActivityLine, ActivityLog};
use super::screens::board::BoardState;
use super::screens::detail::DetailState;
use super::screens::search::SearchState;
use super::screens::stats::StatsState;
use super::theme::{Theme, Themes};
use super::widgets::toast::{ToastKind, Toasts};
use crate::clock::Clock;
use crate::domain::event::AlertKind;
use crate::domain::lead::{Lead, LeadId};
use crate::domain::mark::Mark;
use crate::domain::sequence::Sequence;
use crate::domain::status::Status;
use crate::engine::Change;

/// How long `u` can take back a mark.
pub const UNDO_WINDOW: StdDuration = StdDuration::from_secs(10);
/// How often the loop wakes with nothing to do: often enough to move
/// "in 3h" along, rare enough to cost nothing while idle.
pub const IDLE_TICK: StdDuration = StdDuration::from_secs(30);

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

/// How often the title bar's channel health is re-read.
const HEALTH_REFRESH: StdDuration = StdDuration::from_secs(5);

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
    /// Each channel's health, for the title bar (a down or paused channel
    /// shows there).
    pub channels: Vec<crate::engine::ChannelStatus>,
    /// When the channels' health was last asked for.
    pub(crate) health_asked: Option<Instant>,
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
            channels: Vec::new(),
            // Asked for once the database is open, then every few seconds.
            health_asked: Some(Instant::now()),
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
        io(self.stats.ask(self.board.query()))
    }

    /// Re-reads stats after a change, at most every
    /// [`super::screens::stats::STATS_REFRESH`], and only while they are on screen.
    fn stats_changed(&mut self) -> Vec<Command> {
        let shown = self.screen == Screen::Stats;
        io(self.stats.changed(shown, self.board.query()))
    }

    /// Does what a screen's key asked for.
    fn follow(&mut self, outcome: Outcome, from: Screen) -> Vec<Command> {
        match outcome {
            Outcome::Read(requests) => io(requests),
            Outcome::Open(id) => open_detail(self, id, from),
            Outcome::Board => {
                self.screen = Screen::Board;
                Vec::new()
            }
            Outcome::Quit => {
                self.quit = true;
                Vec::new()
            }
        }
    }
}

pub(crate) fn io(requests: Vec<IoRequest>) -> Vec<Command> {
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
            if app.screen == Screen::Search && app.search.shows(id) {
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
            app.activity.push(ActivityLine {
                at,
                lead,
                who,
                text,
            });
            Vec::new()
        }
        Msg::Resync => io(app.board.refresh()),
        Msg::Tick => {
            app.toasts.expire(Instant::now());
            let mut out = if app.stats.stale {
                app.stats_changed()
            } else {
                Vec::new()
            };
            if !app.opening
                && app
                    .health_asked
                    .is_none_or(|at| at.elapsed() >= HEALTH_REFRESH)
            {
                app.health_asked = Some(Instant::now());
                out.push(Command::Io(IoRequest::Health));
            }
            out
        }
        Msg::Quit => {
            app.quit = true;
            Vec::new()
        }
        Msg::Opened => {
            app.opening = false;
            app.health_asked = Some(Instant::now());
            vec![Command::Io(IoRequest::Health)]
        }
        Msg::OpenFailed(why) => {
            app.fatal = Some(why);
            app.quit = true;
            Vec::new()
        }
    }
}

fn key_pressed(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    let dialog = std::mem::replace(&mut app.dialog, Dialog::None);
    if dialog != Dialog::None {
        return popups::key(app, key, dialog);
    }
    if app.screen == Screen::Search {
        let outcome = app.search.key(key);
        return app.follow(outcome, Screen::Search);
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

/// Movement keys go to the screen in front.
fn navigate(app: &mut App, action: Action) -> Vec<Command> {
    match app.screen {
        Screen::Detail => {
            app.detail.navigate(action);
            Vec::new()
        }
        Screen::Board => {
            let outcome = app.board.navigate(action);
            app.follow(outcome, Screen::Board)
        }
        Screen::Activity | Screen::Stats | Screen::Search => Vec::new(),
    }
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
        IoResult::Health(channels) => {
            app.channels = channels;
            Vec::new()
        }
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
            app.stats.loaded(stats);
            Vec::new()
        }
        IoResult::Found { query, leads } => {
            app.search.found(query, leads);
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
