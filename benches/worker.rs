//! Worker benchmarks against a real SMTP server: Postfix's `smtp-sink` on a
//! free loopback port, started through the test launcher
//! (`tests/it/support/smtp_sink.rs`).
//!
//! ```text
//! cargo bench --bench worker                   # everything (~2-3 minutes)
//! cargo bench --bench worker -- speed          # only speed to lead (both kinds)
//! cargo bench --bench worker -- saturday       # only the shipped default, Saturday night
//! cargo bench --bench worker -- throughput     # only throughput
//! benches/worker.sh                            # the same, from any directory
//! ```
//!
//! The worker is wired as `nudge serve` wires it: a store in a temp dir, the
//! sequence loaded with `Catalog::load`, `Transports::from_config` with
//! `[email] smtp_url = "smtp://127.0.0.1:PORT?tls=none"`, the worker options
//! `serve` builds (pace on; `[engine] concurrency`), and `Worker::run` in a
//! two-thread tokio runtime. Nothing is logged (`NUDGE_LOG=info` turns the
//! worker's log lines on, to stderr).
//!
//! 1. **Speed to lead**: `NUDGE_BENCH_BURST` (100) leads are added with
//!    `EngineHandle::add` (in-process, i.e. `Engine::add`) in one burst from a
//!    plain thread while the worker runs. Per lead: the instant the `add`
//!    call began → the instant `smtp-sink` finished writing that lead's
//!    message (its dump file's mtime, matched by the `To:` address). Target:
//!    p50 < 100 ms, p99 < 1 s. Split in two: *add → due* (when the scheduler
//!    said the first touch is due, from the lead's `TouchScheduled` event) and
//!    *due → accepted* (the worker and SMTP). *add → due* should be ~0:
//!    before 1331a80 the scheduler rounded it up to the next whole minute
//!    (0–60 s).
//!    Dump-file mtimes come from the kernel's coarse clock: they may read up
//!    to one tick (4 ms at HZ=250) early, so spans under ~5 ms are imprecise.
//!    Run twice: `speed` with the 24/7 one-step `burst` sequence, and
//!    `speed-saturday-night` with the shipped `sequences/default.toml` for
//!    leads in a zone where it is Saturday night at the current UTC time (on
//!    days when no zone is, the zone furthest outside business hours; the
//!    zone and its local time are printed). Its intro email has
//!    `window = "always"`, so the same targets apply.
//! 2. **Throughput**: `NUDGE_BENCH_TOUCHES` (1000; `NUDGE_BENCH_TOUCHES_C1`,
//!    200, at concurrency 1) touches already due when the worker starts; the
//!    clock stops when every outcome is durable (nothing due, nothing
//!    `sending`). Against the same sink in the same run, two bare lettre
//!    programs send equivalent messages (same headers, same sizes: the mean
//!    dumped size is printed) with as many in flight; their clocks stop when
//!    the last send returns. The baseline is a bare lettre program as
//!    lettre documents it: a pooled `AsyncSmtpTransport` ([`bare_rate`]).
//!    Target: nudge ≥ 0.7 × that. lettre's pool cannot set `TCP_NODELAY`, so
//!    it waits ~40 ms per message for a delayed ACK; nudge opens its own
//!    connections with nodelay and is far faster. So a stricter reference
//!    row, without target, compares against lettre's connection API over
//!    `TCP_NODELAY` sockets with no disk at all ([`nodelay_rate`]): what is
//!    left between the two is nudge's durable writes (every claim is flushed
//!    before its send).
//!
//! Each measurement runs `NUDGE_BENCH_RUNS` (3) times, each with a fresh sink,
//! store and connection pool; the summary shows the median of the runs, the
//! min..max spread and PASS/FAIL per target. Throughput runs alternate which
//! variant goes first. `NUDGE_BENCH_CONCURRENCY` ("1,8") lists the throughput
//! concurrencies; `NUDGE_BENCH_SPEED_CONCURRENCY` (8) is the `[engine]
//! concurrency` for speed to lead.
//!
//! Without `--bench` (`cargo test --all-targets`) a tiny smoke version runs
//! (a few seconds), so the test suite stays fast; it still needs `smtp-sink`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use nudge::catalog::Catalog;
use nudge::channels::Transports;
use nudge::clock::{Clock, SystemClock};
use nudge::config::Config;
use nudge::domain::lead::{LeadId, LeadInput};
use nudge::domain::links;
use nudge::domain::touch::message_id;
use nudge::engine::worker::{Worker, WorkerOptions};
use nudge::engine::{Engine, Settings};
use nudge::store::Store;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

#[path = "../tests/it/support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::SmtpSink;
#[path = "worker/speed.rs"]
mod speed;
#[path = "../tests/it/support/zones.rs"]
mod zones;
use speed::{Burst, speed_rows};

/// One email step, any day, any hour: every lead is due the moment it exists.
const SEQUENCE: &str = r#"name = "burst"
email_footer = "Reply stop and I will not write again."
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"

[[steps]]
id = "only"
delay = "0m"
channel = "email"
subject = "A guide for {{ first_name }}"
body = "Hi {{ first_name }}, here is the guide you asked for."
"#;

const FROM: &str = "Sam Seller <sam@example.com>";
const POSTAL: &str = "Acme Tools, 1 Main St, Springfield";
const PUBLIC_URL: &str = "https://nudge.example.com";
const LINK_SECRET: &str = "bench-link-secret";
/// `[engine] concurrency`'s default, which `nudge serve` uses.
const SERVE_CONCURRENCY: usize = 8;

fn config_text(smtp_url: &str, concurrency: usize) -> String {
    format!(
        r#"[sender]
name = "Sam Seller"
company = "Acme Tools"
booking_url = "https://cal.example.com/sam"

[email]
smtp_url = "{smtp_url}"
from = "{FROM}"
postal_address = "{POSTAL}"

[engine]
concurrency = {concurrency}

[server]
public_url = "{PUBLIC_URL}"
link_secret = "{LINK_SECRET}"
"#
    )
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid value")),
        Err(_) => default,
    }
}

/// The wall clock, read through the crate's clock like everything else.
fn wall() -> SystemTime {
    SystemTime::from(SystemClock.now())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty());
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Median and min..max of per-run values.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

/// The runtime `nudge serve` uses.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A fresh engine (store and sequences in a temp dir) and a worker sending
/// to `sink`, wired as `nudge serve` wires them.
struct Nudge {
    engine: Arc<Engine>,
    worker: Arc<Worker>,
    _dir: tempfile::TempDir,
}

impl Nudge {
    fn new(sink: &SmtpSink, concurrency: usize) -> Nudge {
        Nudge::with_sequence(sink, concurrency, ("burst.toml", SEQUENCE))
    }

    /// As [`Nudge::new`], with `file` (name, text) as the only sequence file.
    fn with_sequence(sink: &SmtpSink, concurrency: usize, file: (&str, &str)) -> Nudge {
        let dir = tempfile::Builder::new()
            .prefix("nudge-bench-worker-")
            .tempdir()
            .expect("temp dir");
        let sequences = dir.path().join("sequences");
        std::fs::create_dir_all(&sequences).expect("sequences dir");
        std::fs::write(sequences.join(file.0), file.1).expect("write sequence");
        let config_file = dir.path().join("config.toml");
        let config = Config::parse(
            &config_file,
            &config_text(&sink.url(), concurrency),
            std::iter::empty::<(String, String)>(),
        )
        .expect("bench config");
        let store = Store::open(
            &dir.path().join("data"),
            config.store.cache_mb * 1024 * 1024,
        )
        .expect("open store");
        let catalog = Catalog::load(dir.path()).expect("load sequences");
        let engine = Arc::new(Engine::new(
            store,
            catalog,
            Settings::from_config(&config),
            Arc::new(SystemClock),
        ));
        let transports = Transports::from_config(&config).expect("transports");
        assert!(transports.email.is_live(), "email must go to the sink");
        let options = WorkerOptions::from_config(&config);
        assert!(options.pace, "nudge serve paces sends");
        assert_eq!(options.concurrency, concurrency);
        let worker = Arc::new(Worker::new(engine.clone(), transports.into(), options));
        Nudge {
            engine,
            worker,
            _dir: dir,
        }
    }

    /// Whether every touch has a durable outcome: nothing due, nothing sending.
    fn settled(&self) -> bool {
        let store = self.engine.store();
        store.next_due_at().expect("due head").is_none()
            && store.sending().expect("sending").is_empty()
    }
}

fn lead_input(i: usize) -> LeadInput {
    LeadInput {
        name: format!("Lead {i}"),
        email: Some(format!("lead{i}@example.com")),
        source: "bench".into(),
        sequence: Some("burst".into()),
        ..LeadInput::default()
    }
}

/// The lead number from a `To:` header such as `"Lead 7" <lead7@example.com>`.
fn lead_number(to: &str) -> Option<usize> {
    let at = to.find("@example.com")?;
    let start = to[..at].rfind("lead")? + 4;
    to[start..at].parse().ok()
}

fn dump_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("read the sink directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("msg."))
        .map(|e| e.path())
        .collect()
}

fn clear_dumps(dir: &Path) {
    for path in dump_files(dir) {
        std::fs::remove_file(&path).expect("remove a dumped message");
    }
}

/// Mean size in bytes of the messages in the sink.
fn mean_dump_size(dir: &Path) -> f64 {
    let files = dump_files(dir);
    let total: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    total as f64 / files.len().max(1) as f64
}

/// Stops the worker and waits for it, failing loudly if it failed.
fn stop_worker(
    rt: &tokio::runtime::Runtime,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<Result<(), nudge::engine::EngineError>>,
) {
    stop.send(true).expect("worker still listening");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("worker stops within 60 s")
            .expect("worker task")
            .expect("worker run");
    });
}

// ---------------------------------------------------------------------------
// 2. Throughput
// ---------------------------------------------------------------------------

/// Seeds `n` leads that are due now, in batches under one flush (fast, and
/// not what is measured), captured two minutes ago so that every one is
/// due when the worker starts.
fn seed(engine: &Engine, n: usize) {
    let now = engine.now() - chrono::Duration::minutes(2);
    let mut batch = Vec::new();
    for i in 0..n {
        let valid = engine.validate(&lead_input(i)).expect("valid lead");
        batch.push(engine.prepare(valid, Some("burst"), now).expect("prepare"));
        if batch.len() == 500 || i + 1 == n {
            engine.store().insert_leads(&batch).expect("insert leads");
            batch.clear();
        }
    }
    engine.store().flush().expect("flush");
}

/// nudge's rate: the worker starts with `n` touches due and the clock stops
/// when every outcome is durable. Returns (touches/s, mean message bytes).
fn nudge_rate(sink: &SmtpSink, n: usize, concurrency: usize) -> (f64, f64) {
    clear_dumps(sink.dir());
    let nudge = Nudge::new(sink, concurrency);
    seed(&nudge.engine, n);
    let rt = runtime();
    let (stop, stopped) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64);
    let start = Instant::now();
    let worker_task = rt.spawn(nudge.worker.clone().run(stopped));
    while !nudge.settled() {
        assert!(
            Instant::now() < deadline,
            "nudge did not settle {n} touches"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    stop_worker(&rt, stop, worker_task);
    let in_doubt = nudge.engine.store().in_doubt().expect("in doubt").len();
    assert_eq!(in_doubt, 0, "no touch may end in doubt");
    drop(nudge);
    let mail = sink.wait_for_messages(n, Duration::from_secs(60));
    assert_eq!(mail.len(), n, "every touch reached the sink exactly once");
    (n as f64 / elapsed.as_secs_f64(), mean_dump_size(sink.dir()))
}

/// A message equivalent to what nudge sends lead `i`: same headers (From, To
/// with name, Subject, Date, Message-ID, Content-Type, List-Unsubscribe with
/// an https and a mailto target, List-Unsubscribe-Post) and body size.
fn bare_message(i: usize, id: LeadId) -> Message {
    let token = links::sign(LINK_SECRET.as_bytes(), "unsubscribe", id);
    let url = format!("{PUBLIC_URL}/u/{token}");
    let body = format!(
        "Hi Lead, here is the guide you asked for.\n\nReply stop and I will not write again.\n\n\
         {POSTAL}\nUnsubscribe: {url}"
    );
    Message::builder()
        .from(FROM.parse().expect("from"))
        .to(Mailbox::new(
            Some(format!("Lead {i}")),
            format!("lead{i}@example.com").parse().expect("to"),
        ))
        .subject("A guide for Lead")
        .date(wall())
        .message_id(Some(message_id(id, 0, "example.com")))
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{url}>, <mailto:sam@example.com?subject=unsubscribe>"),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ))
        .body(body)
        .expect("build message")
}

/// The bare lettre rate: a pooled transport, `concurrency` sends in flight,
/// the clock stops when the last send returns. Returns (messages/s, mean bytes).
fn bare_rate(sink: &SmtpSink, n: usize, concurrency: usize) -> (f64, f64) {
    clear_dumps(sink.dir());
    let ids: Vec<LeadId> = {
        let mut generator = ulid::Generator::new();
        (0..n)
            .map(|_| LeadId(generator.generate().expect("ulid")))
            .collect()
    };
    let port = sink.port();
    let rt = runtime();
    let elapsed = rt.block_on(async move {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let limit = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut sends = JoinSet::new();
        let start = Instant::now();
        for (i, id) in ids.into_iter().enumerate() {
            let permit = limit.clone().acquire_owned().await.expect("semaphore");
            let transport = transport.clone();
            sends.spawn(async move {
                let result = transport.send(bare_message(i, id)).await;
                drop(permit);
                result
            });
            while let Some(done) = sends.try_join_next() {
                done.expect("send task").expect("bare send");
            }
        }
        while let Some(done) = sends.join_next().await {
            done.expect("send task").expect("bare send");
        }
        start.elapsed()
    });
    let mail = sink.wait_for_messages(n, Duration::from_secs(60));
    assert_eq!(mail.len(), n, "every bare message reached the sink");
    (n as f64 / elapsed.as_secs_f64(), mean_dump_size(sink.dir()))
}

/// The strict reference: the same messages through lettre's connection API over
/// sockets with `TCP_NODELAY`, which lettre 0.11.23's pooled transport
/// cannot set (its writes end each message with a separate small `.` write
/// that Nagle's algorithm holds until the server's delayed ACK, ~40 ms).
/// One connection per in-flight slot, each taking the next message.
fn nodelay_rate(sink: &SmtpSink, n: usize, concurrency: usize) -> f64 {
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    use std::sync::atomic::{AtomicUsize, Ordering};

    clear_dumps(sink.dir());
    let ids: Arc<Vec<LeadId>> = Arc::new({
        let mut generator = ulid::Generator::new();
        (0..n)
            .map(|_| LeadId(generator.generate().expect("ulid")))
            .collect()
    });
    let port = sink.port();
    let rt = runtime();
    let elapsed = rt.block_on(async move {
        let next = Arc::new(AtomicUsize::new(0));
        let mut slots = JoinSet::new();
        let start = Instant::now();
        for _ in 0..concurrency.max(1) {
            let (next, ids) = (next.clone(), ids.clone());
            slots.spawn(async move {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                let mut conn = AsyncSmtpConnection::connect_with_transport(
                    Box::new(stream),
                    &ClientId::default(),
                )
                .await
                .expect("EHLO");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let message = bare_message(i, ids[i]);
                    conn.send(message.envelope(), &message.formatted())
                        .await
                        .expect("nodelay send");
                }
                let _ = conn.quit().await;
            });
        }
        while let Some(done) = slots.join_next().await {
            done.expect("nodelay slot");
        }
        start.elapsed()
    });
    let mail = sink.wait_for_messages(n, Duration::from_secs(60));
    assert_eq!(mail.len(), n, "every nodelay message reached the sink");
    n as f64 / elapsed.as_secs_f64()
}

struct ThroughputRun {
    nudge: f64,
    bare: f64,
    nodelay: f64,
    nudge_bytes: f64,
    bare_bytes: f64,
}

fn throughput(n: usize, concurrency: usize, nudge_first: bool) -> ThroughputRun {
    let sink = SmtpSink::start();
    let (nudge, bare) = if nudge_first {
        let nudge = nudge_rate(&sink, n, concurrency);
        (nudge, bare_rate(&sink, n, concurrency))
    } else {
        let bare = bare_rate(&sink, n, concurrency);
        (nudge_rate(&sink, n, concurrency), bare)
    };
    ThroughputRun {
        nudge: nudge.0,
        bare: bare.0,
        nodelay: nodelay_rate(&sink, n, concurrency),
        nudge_bytes: nudge.1,
        bare_bytes: bare.1,
    }
}

// ---------------------------------------------------------------------------
// Driver and summary
// ---------------------------------------------------------------------------

/// A target: its text and whether a median passes.
type Target = (&'static str, fn(f64) -> bool);

/// One line of the summary table.
struct Row {
    metric: String,
    values: Vec<f64>,
    unit: &'static str,
    target: Option<Target>,
}

/// One span of speed to lead across runs.
struct Dist {
    name: &'static str,
    /// p50, p90, p99 and max of each run.
    per_run: [Vec<f64>; 4],
    /// Every sample of every run.
    pooled: Vec<f64>,
}

fn print_summary(runs: usize, rows: &[Row]) {
    println!();
    println!("worker benchmarks: median of {runs} run(s), [min..max] across runs");
    println!(
        "{:<50} {:>12}  {:<22} {:<12} result",
        "metric", "median", "spread", "target"
    );
    for row in rows {
        let (median, min, max) = summary(&row.values);
        let digits = if row.unit == "x" { 2 } else { 1 };
        let (target, result) = match row.target {
            Some((text, passes)) => (text, if passes(median) { "PASS" } else { "FAIL" }),
            None => ("", ""),
        };
        println!(
            "{:<50} {:>9.digits$} {:<2} {:<22} {:<12} {result}",
            row.metric,
            median,
            row.unit,
            format!("[{min:.digits$}..{max:.digits$}]"),
            target
        );
    }
}

fn main() {
    // `NUDGE_LOG=debug` shows what the worker and lettre do; off by default.
    if let Ok(filter) = std::env::var("NUDGE_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    // Sequences are also read from `./sequences`; keep the repo's out of it.
    let scratch = tempfile::tempdir().expect("scratch dir");
    std::env::set_current_dir(scratch.path()).expect("enter the scratch dir");

    let (runs, burst, touches, touches_c1) = if full {
        (
            env_or("NUDGE_BENCH_RUNS", 3usize).max(1),
            env_or("NUDGE_BENCH_BURST", 100usize).max(1),
            env_or("NUDGE_BENCH_TOUCHES", 1000usize).max(1),
            env_or("NUDGE_BENCH_TOUCHES_C1", 200usize).max(1),
        )
    } else {
        (1, 5, 10, 5)
    };
    let speed_concurrency = env_or("NUDGE_BENCH_SPEED_CONCURRENCY", SERVE_CONCURRENCY).max(1);
    let concurrencies: Vec<usize> = env_or("NUDGE_BENCH_CONCURRENCY", "1,8".to_string())
        .split(',')
        .map(|c| c.trim().parse().expect("NUDGE_BENCH_CONCURRENCY: numbers"))
        .collect();

    let mut rows = Vec::new();
    let saturday = zones::saturday_night_zone(SystemClock.now());
    for (name, to) in [
        ("speed", Burst::AllHours),
        ("speed-saturday-night", Burst::ShippedDefault(saturday)),
    ] {
        if !wanted(name) {
            continue;
        }
        if let Burst::ShippedDefault(tz) = to {
            println!(
                "speed_to_lead: shipped default sequence, leads in {tz} (local {})",
                SystemClock.now().with_timezone(&tz).format("%a %H:%M")
            );
        }
        rows.extend(speed_rows(name, runs, burst, speed_concurrency, to));
    }
    if wanted("throughput") {
        for &c in &concurrencies {
            let n = if c == 1 { touches_c1 } else { touches };
            let (mut nudge, mut bare, mut ratio, mut nodelay, mut strict) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for run in 1..=runs {
                let r = throughput(n, c, run % 2 == 1);
                println!(
                    "throughput run={run} concurrency={c} touches={n} nudge={:.1}/s \
                     bare={:.1}/s ratio={:.2} mean_bytes nudge={:.0} bare={:.0} \
                     (strict reference: lettre connections with TCP_NODELAY, no disk \
                     {:.1}/s, ratio {:.2})",
                    r.nudge,
                    r.bare,
                    r.nudge / r.bare,
                    r.nudge_bytes,
                    r.bare_bytes,
                    r.nodelay,
                    r.nudge / r.nodelay
                );
                strict.push(r.nudge / r.nodelay);
                nodelay.push(r.nodelay);
                nudge.push(r.nudge);
                bare.push(r.bare);
                ratio.push(r.nudge / r.bare);
            }
            rows.push(Row {
                metric: format!("throughput c={c} nudge ({n})"),
                values: nudge,
                unit: "/s",
                target: None,
            });
            rows.push(Row {
                metric: format!("throughput c={c} bare lettre"),
                values: bare,
                unit: "/s",
                target: None,
            });
            rows.push(Row {
                metric: format!("throughput c={c} nudge/bare"),
                values: ratio,
                unit: "x",
                target: Some((">= 0.70", |v| v >= 0.7)),
            });
            rows.push(Row {
                metric: format!("  strict: nodelay, no disk c={c}"),
                values: nodelay,
                unit: "/s",
                target: None,
            });
            rows.push(Row {
                metric: format!("  strict: nudge/nodelay c={c}"),
                values: strict,
                unit: "x",
                target: None,
            });
        }
    }
    if rows.is_empty() {
        eprintln!("no benchmark matches {filters:?} (use `speed` or `throughput`)");
        std::process::exit(2);
    }
    print_summary(runs, &rows);
}
