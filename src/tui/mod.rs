//! The terminal UI: a live kanban of leads by stage.
//!
//! # Layout
//!
//! * [`app`] — the [`app::App`], the pure [`app::update`] function (message
//!   in, state changed, [`app::Command`]s out), and which screen and popup
//!   are in front; it routes keys and engine answers to them.
//! * [`screens`] — one file per screen (board, detail, activity, stats,
//!   search): its state, its keys and its drawing.
//! * [`popups`] — one file per dialog (confirm, snooze, filter, note, the
//!   add/edit form, help).
//! * [`widgets`] — pieces several of them draw: the card, toasts, a text input.
//! * [`io`] — the requests to the engine and the background thread that
//!   runs them: the only code that holds the `EngineHandle`.
//! * [`view`] — the frame: title, footer, the screen in front, toasts and
//!   the open popup, from one [`view::ViewContext`].
//! * [`keys`] — the [`Action`] enum and the remappable key map.
//! * [`theme`] — colour roles from `themes/*.toml`, parents, 16-colour fallbacks.
//!
//! The shell here wires them together: [`run_loop`] is generic over
//! ratatui's `Backend`, so tests and benchmarks drive the real loop on a
//! `TestBackend`; [`run_terminal`] adds the real terminal (raw mode, the
//! alternate screen, restoring it on panic and SIGTERM), the key reader and
//! the change subscription.

pub mod app;
pub mod io;
pub mod keys;
pub mod popups;
pub mod screens;
pub mod theme;
pub mod view;
pub mod widgets;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

pub use app::IDLE_TICK;

use ratatui::Terminal;
use ratatui::backend::Backend;

pub use keys::Action;

use crate::engine::Change;
use crate::handle::{EngineHandle, RemoteEngine};
use app::{App, AppConfig, Command, Msg};
use io::IoRequest;

/// Why the TUI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up, drawn or restored.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// Drawing failed in the backend.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The engine could not be opened or reached.
    #[error("{0}")]
    Open(String),
}

/// Opens the engine, on a background thread after the first frame is
/// drawn: opening sled takes longer than a first frame may. Returns the
/// handle and where change notifications come from, or why it failed.
pub type Opener = Box<dyn FnOnce() -> Result<(EngineHandle, Subscription), String> + Send>;

/// Where change notifications come from.
pub enum Subscription {
    /// This process's engine.
    Local(tokio::sync::broadcast::Receiver<Change>),
    /// A `nudge serve` on this data dir: a second socket connection.
    Remote(PathBuf),
    /// None (tests drive changes by hand).
    None,
}

/// The tick while a toast is showing.
const TOAST_TICK: Duration = Duration::from_secs(1);

/// Runs the app until it quits or `inbox` closes: draws, waits for a
/// message, applies every queued message, sends requests to `io`, and draws
/// again only if something changed. `bell` rings the terminal bell.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    first: Vec<Command>,
    inbox: &Receiver<Msg>,
    io: &Sender<IoRequest>,
    bell: &mut dyn FnMut(),
) -> Result<(), TuiError> {
    dispatch(first, io, bell);
    draw(terminal, app)?;
    let mut last_draw = Instant::now();
    while !app.quit {
        let tick = if app.toasts.items.is_empty() {
            app.idle_tick
        } else {
            TOAST_TICK.min(app.idle_tick)
        };
        let first = match inbox.recv_timeout(tick) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => Msg::Tick,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut dirty = false;
        for msg in std::iter::once(first).chain(inbox.try_iter()) {
            let toasts = app.toasts.items.len();
            let tick = matches!(msg, Msg::Tick);
            let commands = app::update(app, msg);
            dirty |= !tick || app.toasts.items.len() != toasts;
            dispatch(commands, io, bell);
            if app.quit {
                return Ok(());
            }
        }
        if dirty || last_draw.elapsed() >= app.idle_tick {
            draw(terminal, app)?;
            last_draw = Instant::now();
        }
    }
    Ok(())
}

/// Runs `commands` to completion on this thread: each request through
/// `executor`, its result back into `app`, until nothing is left. Tests and
/// benchmarks use it to drive the app headless and deterministically.
/// Returns how many times the bell rang.
pub fn settle(app: &mut App, executor: &mut io::Executor, commands: Vec<Command>) -> usize {
    let mut queue: std::collections::VecDeque<Command> = commands.into();
    let mut bells = 0;
    while let Some(command) = queue.pop_front() {
        match command {
            Command::Io(request) => {
                let result = executor.run(request);
                queue.extend(app::update(app, Msg::Io(result)));
            }
            Command::Bell => bells += 1,
        }
    }
    bells
}

/// Draws one frame of `app`.
pub fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &App) -> Result<(), TuiError> {
    let ctx = view::ViewContext::of(app);
    terminal
        .draw(|frame| view::render(frame, &ctx))
        .map_err(|e| TuiError::Draw(e.to_string()))?;
    Ok(())
}

fn dispatch(commands: Vec<Command>, io: &Sender<IoRequest>, bell: &mut dyn FnMut()) {
    for command in commands {
        match command {
            // A closed channel means the I/O thread is gone; the loop ends
            // when the inbox closes too.
            Command::Io(request) => {
                let _ = io.send(request);
            }
            Command::Bell => bell(),
        }
    }
}

/// Starts the background thread that opens the engine with `open`, then
/// owns its handle; returns where to send requests. Requests sent before
/// the engine is open wait in the channel. The inbox hears `Opened` (and
/// the change subscription starts) or `OpenFailed`.
pub fn spawn_io(open: Opener, inbox: Sender<Msg>) -> Sender<IoRequest> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || match open() {
        Ok((handle, subscription)) => {
            if inbox.send(Msg::Opened).is_err() {
                return;
            }
            spawn_subscription(subscription, inbox.clone());
            io::serve(io::Executor::new(handle), rx, inbox);
        }
        Err(why) => {
            let _ = inbox.send(Msg::OpenFailed(why));
        }
    });
    tx
}

/// Forwards change notifications to the inbox from a background thread.
pub fn spawn_subscription(subscription: Subscription, inbox: Sender<Msg>) {
    match subscription {
        Subscription::Local(mut changes) => {
            std::thread::spawn(move || {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let msg = match changes.blocking_recv() {
                        Ok(change) => Msg::Changed(change),
                        Err(RecvError::Lagged(_)) => Msg::Resync,
                        Err(RecvError::Closed) => return,
                    };
                    if inbox.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
        Subscription::Remote(data_dir) => {
            std::thread::spawn(move || {
                let Some(remote) = RemoteEngine::connect(&data_dir) else {
                    let _ = inbox.send(Msg::Io(io::IoResult::Failed(
                        "cannot subscribe to the running nudge: the board will not update live"
                            .into(),
                    )));
                    return;
                };
                let result = remote.subscribe(|change| inbox.send(Msg::Changed(change)).is_ok());
                if let Err(e) = result {
                    let _ = inbox.send(Msg::Io(io::IoResult::Failed(format!(
                        "live updates stopped: {e}"
                    ))));
                }
            });
        }
        Subscription::None => {}
    }
}

/// Puts the terminal back: cooked mode, main screen, visible cursor.
pub fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, however the TUI ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the TUI on the real terminal until the user quits, SIGTERM/SIGHUP
/// arrives or the engine goes away. The first frame ("opening database…")
/// is drawn before `open` runs on the I/O thread. The terminal is restored
/// in every case, a panic included.
pub fn run_terminal(open: Opener, config: AppConfig) -> Result<(), TuiError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    crossterm::terminal::enable_raw_mode()?;
    let _guard = TerminalGuard;
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = Terminal::new(backend)?;
    let size = terminal.size()?;
    let (inbox_tx, inbox) = mpsc::channel();
    spawn_keys(inbox_tx.clone());
    spawn_signals(inbox_tx.clone())?;
    let io = spawn_io(open, inbox_tx);
    let (mut app, first) = App::new(config, size.width, size.height);
    app.opening = true;
    let mut bell = || {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x07");
        let _ = out.flush();
    };
    run_loop(&mut terminal, &mut app, first, &inbox, &io, &mut bell)?;
    match app.fatal.take() {
        Some(why) => Err(TuiError::Open(why)),
        None => Ok(()),
    }
}

/// Reads terminal events on a thread: keys and resizes become messages.
fn spawn_keys(inbox: Sender<Msg>) {
    std::thread::spawn(move || {
        use crossterm::event::{Event, KeyEventKind};
        loop {
            let msg = match crossterm::event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => Msg::Key(key),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => Msg::Quit,
            };
            if inbox.send(msg).is_err() {
                return;
            }
        }
    });
}

/// SIGTERM and SIGHUP end the loop, so the terminal is restored on the way out.
fn spawn_signals(inbox: Sender<Msg>) -> Result<(), TuiError> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = inbox.send(Msg::Quit);
        }
    });
    Ok(())
}
