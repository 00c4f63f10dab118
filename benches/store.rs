//! Store read benchmarks: the due head the worker polls, plus the reads behind
//! `nudge leads` and `nudge show`.
//!
//! ```text
//! cargo bench --bench store                          # seeds a small temp DB
//! NUDGE_BENCH_LEADS=1000000 cargo bench --bench store  # seeds 1M first (slow)
//! NUDGE_BENCH_DB=/path/to/data cargo bench --bench store  # an existing DB
//! ```
//!
//! Environment:
//!
//! * `NUDGE_BENCH_DB`: data dir of an existing database (e.g. one built with
//!   `nudge dev seed --leads 1000000 --due 1000`). It is opened, never written
//!   beyond what `Store::open` itself does. Without it, a temporary database is
//!   seeded through the CLI's own `dev seed` code and deleted afterwards.
//! * `NUDGE_BENCH_LEADS` (default 20000) and `NUDGE_BENCH_DUE` (default 1000):
//!   the size of that temporary database.
//! * `NUDGE_BENCH_ITERS` (default 2000): timed iterations per measurement.
//! * `NUDGE_BENCH_CACHE_MB` (default 32, as `[store] cache_mb`): sled's cache.
//!
//! Output is one `name key=value…` line per measurement, so scripts can grep
//! it. Under `cargo test --all-targets` (no `--bench` argument) it runs a tiny
//! smoke version so the test suite stays fast.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use nudge::cli::{Cli, run};
use nudge::clock::{Clock, SystemClock};
use nudge::domain::status::Status;
use nudge::store::{ListFilter, Store};

/// How many entries the worker reads from the due head per poll.
const DUE_HEAD: usize = 1000;
/// `nudge leads` default page.
const PAGE: usize = 50;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid value")),
        Err(_) => default,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1e3)
}

/// Times `f` `iters` times after `warmup` untimed runs; prints p50/p90/p99/max.
fn measure<T>(name: &str, warmup: usize, iters: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    for _ in 0..warmup {
        black_box(f());
    }
    let mut samples: Vec<Duration> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name} p50={} p90={} p99={} max={} mean={} iters={}",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(pct(1.0)),
        ms(mean),
        samples.len()
    );
    samples
}

/// Seeds a fresh database in `dir` with the same code as `nudge dev seed`.
fn seed(dir: &Path, leads: u64, due: u64) {
    let config = dir.join("config.toml");
    std::fs::write(&config, "").expect("writing the bench config");
    let data = dir.join("data");
    let cli = Cli::try_parse_from([
        "nudge".into(),
        "--config".into(),
        config.into_os_string(),
        "--data-dir".into(),
        data.into_os_string(),
        "dev".into(),
        "seed".into(),
        "--leads".into(),
        leads.to_string().into(),
        "--due".into(),
        due.to_string().into(),
    ])
    .expect("seed arguments");
    let started = Instant::now();
    run(cli).expect("seeding the bench database");
    println!(
        "seed leads={leads} due={due} time={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let cache_mb: u64 = env_or("NUDGE_BENCH_CACHE_MB", 32);
    let iters: usize = env_or("NUDGE_BENCH_ITERS", if bench_mode { 2000 } else { 20 });

    let _scratch; // keeps a temporary database alive until the end
    let (data, expected_due): (PathBuf, Option<u64>) = match std::env::var_os("NUDGE_BENCH_DB") {
        Some(path) => (PathBuf::from(path), None),
        None => {
            let leads: u64 = env_or("NUDGE_BENCH_LEADS", if bench_mode { 20_000 } else { 2_000 });
            let due: u64 = env_or("NUDGE_BENCH_DUE", 1000.min(leads));
            let dir = tempfile::Builder::new()
                .prefix("nudge-bench-")
                .tempdir()
                .expect("creating a temporary directory");
            seed(dir.path(), leads, due);
            let data = dir.path().join("data");
            _scratch = dir;
            (data, Some(due))
        }
    };

    // Opening is what every CLI command pays first. sled 0.34 replays its log
    // since the last snapshot (written at open), so the first open after a
    // big write is slower than the steady state that the second one shows.
    let cache_bytes = cache_mb * 1024 * 1024;
    let started = Instant::now();
    let store = Store::open(&data, cache_bytes).expect("opening the database");
    let first = started.elapsed();
    drop(store);
    let started = Instant::now();
    let store = Store::open(&data, cache_bytes).expect("reopening the database");
    println!(
        "open time={} first={} cache_mb={cache_mb} db={}",
        ms(started.elapsed()),
        ms(first),
        data.display()
    );

    // The first read after open touches cold pages; report it on its own.
    let now = SystemClock.now();
    let started = Instant::now();
    let head = store
        .due_until(now, DUE_HEAD)
        .expect("reading the due head");
    println!(
        "due_head_{DUE_HEAD}_first time={} entries={}",
        ms(started.elapsed()),
        head.len()
    );
    if let Some(due) = expected_due {
        assert_eq!(
            head.len() as u64,
            due.min(DUE_HEAD as u64),
            "the due head should hold every seeded due lead"
        );
    }

    measure(&format!("due_head_{DUE_HEAD}"), 20, iters, || {
        store.due_until(now, DUE_HEAD).expect("due_until")
    });

    let active = ListFilter {
        status: Some(Status::Active),
        ..ListFilter::default()
    };
    measure(&format!("list_active_{PAGE}"), 5, iters.div_ceil(4), || {
        store.list(&active, PAGE).expect("list")
    });
    measure(&format!("list_all_{PAGE}"), 5, iters.div_ceil(4), || {
        store.list(&ListFilter::default(), PAGE).expect("list")
    });

    // Point reads spread over the due head (what `show` and the worker do).
    let ids: Vec<_> = head.iter().map(|(_, id, _)| *id).collect();
    if !ids.is_empty() {
        let mut i = 0;
        measure("lead_get", 50, iters, || {
            i = (i + 1) % ids.len();
            store.lead(ids[i]).expect("lead").expect("lead exists")
        });
        let mut i = 0;
        measure("lead_events", 50, iters, || {
            i = (i + 1) % ids.len();
            store.events(ids[i]).expect("events")
        });
    }
}
