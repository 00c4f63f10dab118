//! The TUI: snapshots of every screen at 80×24 and 160×48 on a `TestBackend`
//! (manual clock, fixed zones, lead ids blanked), and one end-to-end run of
//! the real binary inside tmux.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use nudge::catalog::Catalog;
use nudge::channels::{DryRunTransport, Transport};
use nudge::clock::ManualClock;
use nudge::domain::lead::LeadInput;
use nudge::domain::mark::Mark;
use nudge::domain::render::Sender;
use nudge::domain::sequence::Channel;
use nudge::domain::touch::RetryPolicy;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::engine::{Engine, Settings};
use nudge::handle::EngineHandle;
use nudge::store::Store;
use nudge::tui::app::{App, AppConfig, Msg, UserZone, update};
use nudge::tui::io::Executor;
use nudge::tui::keys::KeyMap;
use nudge::tui::theme::{ColorDepth, Themes};

use crate::common::Env;

/// A database with leads in several stages, on a clock frozen at a Tuesday
/// afternoon (UTC), and the app over it with the first screen read.
struct Fixture {
    _dir: tempfile::TempDir,
    app: App,
    executor: Executor,
    engine: Arc<Engine>,
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

fn fixture(width: u16, height: u16) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("data"), 8 << 20).expect("store");
    let catalog = Catalog::load(dir.path()).expect("built-in sequences");
    let settings = Settings {
        default_tz: chrono_tz::UTC,
        default_region: None,
        sender: Sender {
            name: "Sam Seller".into(),
            company: "Acme Tools".into(),
            booking_url: "https://cal.example.com/sam".into(),
        },
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::seconds(60),
            cap: Duration::hours(6),
        },
    };
    let clock = Arc::new(ManualClock::new(start()));
    let engine = Arc::new(Engine::new(store, catalog, settings, clock.clone()));
    let people = [
        ("Ada Lovelace", "Analytical Engines", "Europe/London"),
        ("Grace Hopper", "Cobol Works", "America/New_York"),
        ("Alan Turing", "Bletchley Labs", "Europe/London"),
        ("Katherine Johnson", "Orbit Math", "America/Los_Angeles"),
        ("Hedy Lamarr", "Spread Spectrum", "Europe/Berlin"),
        ("Claude Shannon", "Bit Theory", "Australia/Sydney"),
        ("Barbara Liskov", "Substitution Inc", "America/New_York"),
        ("Edsger Dijkstra", "Shortest Path", "Europe/Berlin"),
        ("Frances Allen", "Compiler Corp", "Asia/Kathmandu"),
    ];
    let mut ids = Vec::new();
    for (i, (name, company, tz)) in people.iter().enumerate() {
        let id = engine
            .add(&LeadInput {
                name: name.to_string(),
                email: Some(format!("lead{i}@example.com")),
                company: Some(company.to_string()),
                tz: Some(tz.to_string()),
                source: "test".into(),
                ..LeadInput::default()
            })
            .expect("lead added");
        ids.push(id);
    }
    let mut changes = engine.subscribe();
    let dry = |channel| Arc::new(DryRunTransport::new(channel, "test")) as Arc<dyn Transport>;
    let worker = Worker::new(
        engine.clone(),
        Channels {
            email: dry(Channel::Email),
            sms: dry(Channel::Sms),
            call: None,
            personaliser: None,
        },
        WorkerOptions {
            pace: false,
            ..WorkerOptions::default()
        },
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(worker.run_due())
        .expect("worker pass");
    clock.advance(Duration::minutes(30));
    // Alan Turing clicked enough to turn hot: he leaves his step for Hot.
    engine
        .update(ids[2], |current, _, _| {
            let mut lead = current.clone();
            lead.hot = true;
            Ok::<_, nudge::engine::EngineError>(nudge::domain::mark::LeadUpdate {
                lead,
                events: vec![nudge::domain::event::EventKind::Hot { score: 6 }],
                suppress: None,
                touch: None,
            })
        })
        .expect("hot");
    for (i, mark) in [
        (1, Mark::Replied),
        (3, Mark::Booked),
        (5, Mark::Paused),
        (6, Mark::HandedOff),
        (8, Mark::OptedOut),
    ] {
        engine.mark(ids[i], mark, None).expect("mark");
    }
    let (mut app, first) = App::new(
        AppConfig {
            sequences: engine.catalog().iter().map(|(s, _)| s.clone()).collect(),
            default_region: None,
            sequence: engine.catalog().get("default").expect("default").clone(),
            filter: false,
            keys: KeyMap::default(),
            themes: Themes::load(None, ColorDepth::TrueColor),
            theme: "dark".into(),
            clock,
            user_zone: UserZone::Named(chrono_tz::Europe::Berlin),
            default_tz: chrono_tz::UTC,
            bell: true,
            mode: "test".into(),
            idle_tick: nudge::tui::IDLE_TICK,
        },
        width,
        height,
    );
    while let Ok(change) = changes.try_recv() {
        if matches!(change, nudge::engine::Change::Activity { .. }) {
            update(&mut app, Msg::Changed(change));
        }
    }
    let mut executor = Executor::new(EngineHandle::Local(engine.clone()));
    nudge::tui::settle(&mut app, &mut executor, first);
    Fixture {
        _dir: dir,
        app,
        executor,
        engine,
    }
}

impl Fixture {
    fn key(&mut self, code: KeyCode) {
        let commands = update(
            &mut self.app,
            Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        );
        nudge::tui::settle(&mut self.app, &mut self.executor, commands);
        // Toasts depend on wall-clock expiry; snapshots show the screen under them.
        self.app.toasts.items.clear();
    }

    fn typed(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn screen(&self, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        nudge::tui::draw(&mut terminal, &self.app).expect("draw");
        terminal.backend().to_string()
    }
}

fn snapshot(name: &str, screen: &str) {
    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        filters => vec![(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "[LEAD-ID]")],
    }, {
        insta::assert_snapshot!(name, screen);
    });
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

#[test]
fn board_snapshots() {
    for (w, h) in SIZES {
        let f = fixture(w, h);
        snapshot(&format!("board_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn board_with_done_unfolded_and_scrolled_right() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Char('z'));
        f.key(KeyCode::Char('G'));
        f.key(KeyCode::End);
        for _ in 0..12 {
            f.key(KeyCode::Char('l'));
        }
        snapshot(&format!("board_done_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn detail_snapshots() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Char('l'));
        f.key(KeyCode::Enter);
        snapshot(&format!("detail_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn help_and_dialog_snapshots() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Char('?'));
        snapshot(&format!("help_{w}x{h}"), &f.screen(w, h));
        f.key(KeyCode::Esc);
        f.key(KeyCode::Char('s'));
        snapshot(&format!("snooze_{w}x{h}"), &f.screen(w, h));
        f.key(KeyCode::Esc);
        f.key(KeyCode::Char('o'));
        snapshot(&format!("confirm_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn activity_snapshots() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Tab);
        snapshot(&format!("activity_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn board_with_a_hot_column() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        while f.app.board.columns[f.app.board.focus].title != "Hot" {
            f.key(KeyCode::Char('l'));
        }
        let hot = &f.app.board.columns[f.app.board.focus];
        assert_eq!(hot.count, 1);
        snapshot(&format!("board_hot_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn stats_snapshots() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Tab);
        f.key(KeyCode::Tab);
        let stats = f.app.stats.stats.as_deref().expect("stats read");
        assert_eq!(stats.funnel.captured, 9);
        assert_eq!(
            stats.funnel.contacted, 9,
            "the intro goes out at any hour, inside the window or not"
        );
        assert_eq!(stats.funnel.replied, 2, "one reply, one booking");
        assert_eq!(stats.funnel.booked, 1);
        snapshot(&format!("stats_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn search_snapshots() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Char('/'));
        f.typed("OV");
        assert_eq!(f.app.search.results.len(), 2, "Lovelace and Liskov");
        f.key(KeyCode::Down);
        snapshot(&format!("search_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn add_form_with_inline_errors() {
    for (w, h) in SIZES {
        let mut f = fixture(w, h);
        f.key(KeyCode::Char('a'));
        f.key(KeyCode::Tab);
        f.typed("ada@");
        f.key(KeyCode::Tab);
        f.typed("12");
        f.key(KeyCode::Enter);
        snapshot(&format!("add_form_{w}x{h}"), &f.screen(w, h));
    }
}

#[test]
fn add_and_edit_through_the_form_reach_the_store() {
    let mut f = fixture(80, 24);
    f.key(KeyCode::Char('a'));
    f.typed("Ada King");
    f.key(KeyCode::Tab);
    f.typed("lead0@example.com");
    f.key(KeyCode::Enter);
    // A duplicate email: refused by the engine, shown beside the field.
    let nudge::tui::app::Dialog::Form(form) = &f.app.dialog else {
        panic!("the form stays open");
    };
    let email = form
        .fields
        .iter()
        .find(|x| x.name == "email")
        .expect("email");
    assert!(
        email
            .error
            .as_deref()
            .unwrap_or("")
            .contains("already exists"),
        "{email:?}"
    );
    for _ in 0..30 {
        f.key(KeyCode::Backspace);
    }
    f.typed("ada.king@example.com");
    f.key(KeyCode::Enter);
    assert_eq!(f.app.dialog, nudge::tui::app::Dialog::None);
    let found = EngineHandle::Local(engine_of(&f))
        .search("ada king", 10)
        .expect("search");
    assert_eq!(found.len(), 1);
    // Edit the company of the first card in the first step column.
    f.key(KeyCode::Char('l'));
    let name = f.app.board.selected().expect("a card").lead.name.clone();
    f.key(KeyCode::Char('e'));
    for _ in 0..3 {
        f.key(KeyCode::Tab);
    }
    for _ in 0..40 {
        f.key(KeyCode::Backspace);
    }
    f.typed("New Co");
    f.key(KeyCode::Enter);
    let found = EngineHandle::Local(engine_of(&f))
        .search(&name, 10)
        .expect("search");
    assert_eq!(found[0].company.as_deref(), Some("New Co"));
}

fn engine_of(f: &Fixture) -> Arc<Engine> {
    f.engine.clone()
}

#[test]
fn too_small_terminal_says_so() {
    let f = fixture(79, 24);
    let screen = f.screen(79, 24);
    assert!(screen.contains("terminal too small"), "{screen}");
    let screen = f.screen(80, 23);
    assert!(screen.contains("terminal too small"), "{screen}");
}

#[test]
fn marking_on_the_board_moves_the_card_at_once() {
    let mut f = fixture(80, 24);
    // The first step column holds the leads whose intro went out.
    f.key(KeyCode::Char('l'));
    let name = f
        .app
        .board
        .selected()
        .map(|c| c.lead.name.clone())
        .expect("a selected card");
    f.key(KeyCode::Char('r'));
    // The engine announces the change; the app re-reads what it shows.
    let id = f.app.undo.as_ref().expect("undo is offered").id;
    let commands = update(&mut f.app, Msg::Changed(nudge::engine::Change::Lead(id)));
    nudge::tui::settle(&mut f.app, &mut f.executor, commands);
    let at = |f: &Fixture| {
        f.app
            .board
            .columns
            .iter()
            .position(|c| c.title == "Replied")
            .expect("a Replied column")
    };
    assert_eq!(f.app.board.columns[at(&f)].count, 2);
    // Off screen, its cards are not read until it scrolls into view.
    while f.app.board.focus < at(&f) {
        f.key(KeyCode::Char('l'));
    }
    let replied = &f.app.board.columns[at(&f)];
    assert!(replied.cards.iter().any(|c| c.lead.name == name));
    assert!(f.screen(80, 24).contains(&name));
}

/// tmux servers started by this process, so each test has its own.
static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A tmux server of our own (`-L`), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "this test needs tmux (apt-get install tmux; .ci/run installs it): {found:?}"
        );
        Tmux {
            socket: format!(
                "nudge-it-{}-{}",
                std::process::id(),
                SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn pane(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-t", "tui", "-p"]).stdout).into_owned()
    }

    /// Polls the pane until `ok` holds; panics with the last screen after 30 s.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + StdDuration::from_secs(30);
        loop {
            let pane = self.pane();
            if ok(&pane) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{pane}"
            );
            std::thread::sleep(StdDuration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "tui"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn tmux_press_r_moves_the_card_to_replied_and_the_store_agrees() {
    let tmux = Tmux::new();
    let env = Env::new();
    // The shipped intro goes out at once, at any hour; a day's delay keeps
    // the card in New while the test looks at it, whatever the time.
    let intro_tomorrow = nudge::catalog::BUILTIN_DEFAULT.replace(
        "id = \"intro\"\ndelay = \"0m\"",
        "id = \"intro\"\ndelay = \"1d\"",
    );
    assert_ne!(intro_tomorrow, nudge::catalog::BUILTIN_DEFAULT);
    env.write_sequence("default.toml", &intro_tomorrow);
    let id = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--company",
        "Analytical Engines",
    ]);
    let command = format!(
        "cd {} && exec env -u NUDGE_LOG NUDGE_DATA_DIR={} NUDGE_CONFIG={} {}",
        env.path().display(),
        env.data_dir().display(),
        env.config_file().display(),
        env!("CARGO_BIN_EXE_nudge"),
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("the card on the board", |p| {
        p.contains("New 1") && p.contains("Ada Lovelace")
    });
    tmux.run(&["send-keys", "-t", "tui", "r"]);
    tmux.wait_for("the card to leave New", |p| p.contains("New 0"));
    for _ in 0..9 {
        tmux.run(&["send-keys", "-t", "tui", "l"]);
    }
    tmux.wait_for("the card in Replied", |p| {
        p.contains("Replied 1") && p.contains("Ada Lovelace")
    });
    // A note, typed into the prompt, lands on the timeline.
    tmux.run(&["send-keys", "-t", "tui", "n"]);
    tmux.wait_for("the note prompt", |p| p.contains("Note for Ada Lovelace"));
    tmux.run(&["send-keys", "-t", "tui", "-l", "call back on Tuesday"]);
    tmux.run(&["send-keys", "-t", "tui", "Enter"]);
    tmux.wait_for("the note saved", |p| p.contains("note added"));
    tmux.run(&["send-keys", "-t", "tui", "q"]);
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "nudge did not quit on q");
        std::thread::sleep(StdDuration::from_millis(100));
    }
    assert_eq!(env.lead(&id)["status"], "replied");
    assert_eq!(env.lead(&id)["stage"], "replied");
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("note: call back on Tuesday"), "{shown}");
}

/// A lead as a stranger could write it: escapes that set the terminal
/// title, colour and clear the screen, a C1 CSI and a bidi override.
const HOSTILE_NAME: &str = "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{202e}";
const HOSTILE_COMPANY: &str = "Co\u{1b}[2J\u{9b}2J";

/// `current` rewritten with hostile text and a hostile note, written past
/// input validation (as data stored before it, or by another way in, is).
/// Nothing is scheduled, so no worker sends to it while the screen is read.
fn hostile(current: &nudge::domain::lead::Lead) -> nudge::domain::mark::LeadUpdate {
    let mut lead = current.clone();
    lead.name = HOSTILE_NAME.into();
    lead.company = Some(HOSTILE_COMPANY.into());
    lead.next = None;
    nudge::domain::mark::LeadUpdate::of(
        lead,
        vec![nudge::domain::event::EventKind::Note {
            text: format!("from {HOSTILE_NAME} at {HOSTILE_COMPANY}"),
        }],
    )
}

/// No cell holds a character a terminal would act on.
fn assert_terminal_safe(terminal: &Terminal<TestBackend>) {
    for cell in terminal.backend().buffer().content() {
        let bad: Vec<char> = cell
            .symbol()
            .chars()
            .filter(|c| nudge::present::is_unsafe_char(*c))
            .collect();
        assert!(bad.is_empty(), "unsafe characters in the buffer: {bad:?}");
    }
}

#[test]
fn a_hostile_lead_is_escaped_on_the_board_and_in_the_detail() {
    let mut f = fixture(160, 48);
    let id = f
        .engine
        .add(&LeadInput {
            name: "Placeholder".into(),
            email: Some("mal@example.com".into()),
            source: "web".into(),
            ..LeadInput::default()
        })
        .expect("lead added");
    f.engine
        .update(id, |current, _, _| {
            Ok::<_, nudge::engine::EngineError>(hostile(current))
        })
        .expect("stored");
    let commands = update(&mut f.app, Msg::Changed(nudge::engine::Change::Lead(id)));
    nudge::tui::settle(&mut f.app, &mut f.executor, commands);
    for _ in 0..20 {
        if f.app.board.selected().is_some_and(|c| c.lead.id == id) {
            break;
        }
        f.key(KeyCode::Char('j'));
    }
    assert_eq!(f.app.board.selected().map(|c| c.lead.id), Some(id));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    nudge::tui::draw(&mut terminal, &f.app).expect("draw");
    assert_terminal_safe(&terminal);
    let board = terminal.backend().to_string();
    // The card cuts them to its width; what shows is the escaped text.
    assert!(board.contains(r"Mal\u{1b}]0;pwned…"), "{board}");
    assert!(board.contains(r"Co\u{1b}[2J\u{9b}…"), "{board}");

    f.key(KeyCode::Enter);
    nudge::tui::draw(&mut terminal, &f.app).expect("draw");
    assert_terminal_safe(&terminal);
    let detail = terminal.backend().to_string();
    assert!(
        detail.contains(r"Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{202e}"),
        "{detail}"
    );
    assert!(
        detail.contains(r"company    Co\u{1b}[2J\u{9b}2J"),
        "{detail}"
    );
    assert!(detail.contains(r"note: from Mal\u{1b}]0;pwned"), "{detail}");
}

#[test]
fn cards_cut_wide_characters_by_display_width() {
    let mut f = fixture(80, 24);
    for (name, company) in [
        ("Wei 李", "深圳科技有限公司"),
        ("李小龍李小龍李小龍李小龍", "深圳科技有限公司深圳分公司"),
    ] {
        f.engine
            .add(&LeadInput {
                name: name.into(),
                email: Some(format!("{}@example.cn", name.len())),
                company: Some(company.into()),
                source: "test".into(),
                ..LeadInput::default()
            })
            .expect("lead added");
    }
    let commands = nudge::tui::app::act(&mut f.app, nudge::tui::Action::First);
    nudge::tui::settle(&mut f.app, &mut f.executor, commands);
    let commands = update(&mut f.app, Msg::Resync);
    nudge::tui::settle(&mut f.app, &mut f.executor, commands);
    let screen = f.screen(80, 24);
    assert!(screen.contains("Wei 李"), "{screen}");
    assert!(screen.contains("李小龍李小龍李小…"), "{screen}");
    assert!(screen.contains("深圳科技有限公司…"), "{screen}");
    snapshot("board_wide_80x24", &screen);
}

#[test]
fn the_detail_wraps_long_body_lines_behind_the_gutter() {
    let mut f = fixture(80, 24);
    f.key(KeyCode::Char('l'));
    f.key(KeyCode::Enter);
    let screen = f.screen(80, 24);
    let lines: Vec<&str> = screen.lines().collect();
    let body = lines
        .iter()
        .position(|l| l.contains("subject    "))
        .expect("the next touch's subject");
    let footer = lines.len() - 1;
    assert!(body + 3 < footer, "{screen}");
    for line in &lines[body + 1..footer] {
        assert!(
            line.starts_with("\"  │ "),
            "a body line without its gutter: {line}\n{screen}"
        );
    }
}

#[test]
fn tmux_a_hostile_lead_shows_escaped_and_leaves_the_terminal_alone() {
    let tmux = Tmux::new();
    let env = Env::new();
    let id = env.add(&["--name", "Placeholder", "--email", "mal@example.com"]);
    {
        let store = Store::open(&env.data_dir(), 1 << 20).expect("store");
        let lead_id: nudge::domain::lead::LeadId = id.parse().expect("lead id");
        store
            .update_lead(lead_id, start(), |current, _| {
                Ok::<_, std::convert::Infallible>(hostile(current))
            })
            .expect("stored")
            .expect("written");
        store.flush().expect("flushed");
    }
    let command = format!(
        "cd {} && exec env -u NUDGE_LOG NUDGE_DATA_DIR={} NUDGE_CONFIG={} {}",
        env.path().display(),
        env.data_dir().display(),
        env.config_file().display(),
        env!("CARGO_BIN_EXE_nudge"),
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("the escaped card", |p| p.contains(r"Mal\u{1b}]0;pwned"));
    tmux.run(&["send-keys", "-t", "tui", "Enter"]);
    let pane = tmux.wait_for("the escaped detail", |p| {
        p.contains(r"Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{202e}")
    });
    assert!(pane.contains(r"Co\u{1b}[2J\u{9b}2J"), "{pane}");
    let title = tmux.run(&["display-message", "-p", "-t", "tui", "#{pane_title}"]);
    let title = String::from_utf8_lossy(&title.stdout);
    assert!(!title.contains("pwned"), "the lead set the title: {title}");
    tmux.run(&["send-keys", "-t", "tui", "q"]);
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "nudge did not quit on q");
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

#[test]
fn the_detail_says_sending_while_a_touch_goes_out() {
    let mut f = fixture(80, 24);
    f.key(KeyCode::Char('l'));
    f.key(KeyCode::Enter);
    // As the worker leaves it mid-send: the touch claimed, no next one yet.
    let view = f.app.detail.view.as_mut().expect("the detail is read");
    let touch = view.touches.first_mut().expect("the intro went out");
    touch.state = nudge::domain::touch::TouchState::Sending;
    view.next = None;
    let screen = f.screen(80, 24);
    assert!(screen.contains("#1 intro · email  sending"), "{screen}");
    assert!(!screen.contains("sequence finished"), "{screen}");
}
