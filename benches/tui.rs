//! TUI speed with 100,000 leads, driving the real app, I/O executor and
//! renderer on a `TestBackend` (no terminal needed):
//!
//! * first frame: the board's chrome with "opening database…", drawn
//!   before the store opens (as the app does) — the target is under
//!   300 ms; then the first frame with data: store open, counts and visible
//!   pages read, drawn;
//! * stats and a no-match search at this size (both run off the UI thread);
//! * key press → redrawn frame, p50/p99 over 2,000 moves (including the
//!   page reads they trigger, run synchronously here, so this is an upper
//!   bound) — target under 16 ms p99;
//! * a change notification → counts and pages re-read (off the UI thread
//!   in the real app);
//! * idle: CPU used by the real loop over 3 s with nothing happening —
//!   target under 1%;
//! * RSS — target under 150 MB.
//!
//! Run: `cargo bench --bench tui` (`TUI_BENCH_LEADS=N` to change the size).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use nudge::catalog::Catalog;
use nudge::clock::ManualClock;
use nudge::domain::lead::LeadInput;
use nudge::domain::render::Sender;
use nudge::domain::status::Status;
use nudge::domain::touch::RetryPolicy;
use nudge::engine::{Change, Engine, Settings};
use nudge::handle::EngineHandle;
use nudge::store::Store;
use nudge::tui::app::{App, AppConfig, Msg, UserZone, update};
use nudge::tui::io::Executor;
use nudge::tui::keys::KeyMap;
use nudge::tui::theme::{ColorDepth, Themes};

fn settings() -> Settings {
    Settings {
        default_tz: chrono_tz::UTC,
        default_region: None,
        sender: Sender::default(),
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::seconds(60),
            cap: Duration::hours(6),
        },
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

/// Fills a store with `n` leads spread over the board's stages.
fn seed(dir: &std::path::Path, n: usize) {
    let store = Store::open(dir, 32 << 20).expect("store");
    let clock = Arc::new(ManualClock::new(start()));
    let engine = Engine::new(
        store,
        Catalog::load(dir).expect("catalog"),
        settings(),
        clock,
    );
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..n {
        let input = LeadInput {
            name: format!("Bench Lead {i}"),
            email: Some(format!("lead{i}@bench.example.com")),
            company: Some(format!("Company {}", i % 997)),
            source: "bench".into(),
            ..LeadInput::default()
        };
        let valid = engine.validate(&input).expect("valid");
        let mut write = engine.prepare(valid, None, start()).expect("prepared");
        match i % 10 {
            0..=5 => write.lead.last_step = Some((i % 7) as u32),
            6 => write.lead.status = Status::Replied,
            7 => write.lead.status = Status::Completed,
            8 => write.lead.status = Status::Paused,
            _ => {}
        }
        if write.lead.status != Status::Active {
            write.lead.next = None;
        }
        batch.push(write);
        if batch.len() == batch.capacity() {
            engine.store().insert_leads(&batch).expect("insert");
            batch.clear();
        }
    }
    engine.store().insert_leads(&batch).expect("insert");
    engine.store().flush().expect("flush");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let leads: usize = std::env::var("TUI_BENCH_LEADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // Seeding runs in a child process, so its memory does not count
    // towards the RSS measured here.
    if let Ok(dir) = std::env::var("TUI_BENCH_SEED_INTO") {
        seed(std::path::Path::new(&dir), leads);
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let seeded = Instant::now();
    let status = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .env("TUI_BENCH_SEED_INTO", &data)
        .status()
        .expect("seeding process");
    assert!(status.success(), "seeding failed");
    println!(
        "seeded {leads} leads in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );

    let (w, h) = (160, 48);
    // As the real TUI does: the chrome ("opening database…") is drawn before
    // the store opens; the store opens (on the I/O thread in the app), then
    // the counts and visible pages are read and the frame is drawn again.
    let t0 = Instant::now();
    let clock = Arc::new(ManualClock::new(start() + Duration::hours(1)));
    let catalog = Catalog::load(dir.path()).expect("catalog");
    let sequence = catalog.get("default").expect("default").clone();
    let (mut app, first) = App::new(
        AppConfig {
            sequences: vec![sequence.clone()],
            default_region: None,
            sequence,
            filter: false,
            keys: KeyMap::default(),
            themes: Themes::load(None, ColorDepth::TrueColor),
            theme: "dark".into(),
            clock: clock.clone(),
            user_zone: UserZone::Named(chrono_tz::UTC),
            default_tz: chrono_tz::UTC,
            bell: false,
            mode: "bench".into(),
            idle_tick: nudge::tui::IDLE_TICK,
        },
        w,
        h,
    );
    app.opening = true;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    nudge::tui::draw(&mut terminal, &app).expect("draw");
    let first_frame = t0.elapsed();
    let store = Store::open(&data, 32 << 20).expect("store");
    let engine = Arc::new(Engine::new(store, catalog, settings(), clock));
    let opened = t0.elapsed();
    update(&mut app, Msg::Opened);
    let mut executor = Executor::new(EngineHandle::Local(engine.clone()));
    nudge::tui::settle(&mut app, &mut executor, first);
    nudge::tui::draw(&mut terminal, &app).expect("draw");
    let filled = t0.elapsed();
    println!(
        "first frame ({w}x{h}, \"opening database…\"): {:.1} ms (target < 300 ms); store open done at {:.1} ms; first frame with counts and visible cards {:.1} ms",
        first_frame.as_secs_f64() * 1000.0,
        opened.as_secs_f64() * 1000.0,
        filled.as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    let stats = engine.stats(&Default::default()).expect("stats");
    println!(
        "  stats over {} leads (one read of every lead and its events, off the UI thread): {:.0} ms",
        stats.funnel.captured,
        t.elapsed().as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    let found = engine.search("zzz-no-match", 200).expect("search");
    println!(
        "  search with no match (worst case: every lead read): {:.0} ms ({} found)",
        t.elapsed().as_secs_f64() * 1000.0,
        found.len()
    );
    let t = Instant::now();
    let counts = engine.stage_counts(&Default::default()).expect("counts");
    println!(
        "  stage counts (one pass over the stage index, {} stages): {:.1} ms",
        counts.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    // Key → frame: down the column, sometimes a column over, sometimes to the end.
    let mut times = Vec::new();
    for i in 0..2_000 {
        let code = match i % 200 {
            199 => KeyCode::Char('l'),
            99 => KeyCode::Char('G'),
            149 => KeyCode::Char('g'),
            _ if i % 50 == 0 => KeyCode::PageDown,
            _ => KeyCode::Char('j'),
        };
        let t = Instant::now();
        let commands = update(&mut app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        nudge::tui::settle(&mut app, &mut executor, commands);
        nudge::tui::draw(&mut terminal, &app).expect("draw");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "key → frame over {} presses: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 16 ms)",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0.0)
    );

    // A change notification: counts (one pass over the stage index) and pages.
    let mut refresh = Vec::new();
    let id = app
        .board
        .columns
        .iter()
        .flat_map(|c| c.cards.first())
        .map(|c| c.lead.id)
        .next();
    for _ in 0..10 {
        let Some(id) = id else { break };
        let t = Instant::now();
        let commands = update(&mut app, Msg::Changed(Change::Lead(id)));
        nudge::tui::settle(&mut app, &mut executor, commands);
        nudge::tui::draw(&mut terminal, &app).expect("draw");
        refresh.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    refresh.sort_by(f64::total_cmp);
    if !refresh.is_empty() {
        println!(
            "change → counts + pages re-read + frame: p50 {:.1} ms (background thread in the app)",
            percentile(&refresh, 0.5)
        );
    }
    println!(
        "RSS after the key loop: {:.0} MB (target < 150 MB)",
        rss_mb()
    );

    // Idle: the real loop with nothing arriving.
    let (inbox_tx, inbox) = mpsc::channel();
    let (io_tx, _io_rx) = mpsc::channel();
    let idle = std::thread::spawn(move || {
        let mut bell = || {};
        nudge::tui::run_loop(
            &mut terminal,
            &mut app,
            Vec::new(),
            &inbox,
            &io_tx,
            &mut bell,
        )
        .expect("loop");
    });
    std::thread::sleep(StdDuration::from_millis(200));
    let cpu0 = cpu_seconds();
    let wall = Instant::now();
    std::thread::sleep(StdDuration::from_secs(3));
    let cpu = cpu_seconds() - cpu0;
    let share = cpu / wall.elapsed().as_secs_f64() * 100.0;
    println!("idle for 3 s: {cpu:.3} s CPU ({share:.2}%) (target < 1%)");
    let _ = inbox_tx.send(Msg::Quit);
    let _ = idle.join();
}
