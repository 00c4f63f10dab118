//! Reply-to-stop latency: a reply landing in the mailbox stops the lead's
//! sequence within 2 s (target), with the watcher in IDLE against a real
//! Dovecot (the test launcher, `tests/it/support/dovecot.rs`).
//!
//! ```text
//! cargo bench --bench imap        # NUDGE_BENCH_REPLIES (20) replies, one at a time
//! ```
//!
//! Per reply: the instant before `doveadm save` starts (so delivery is
//! included) → the instant the lead reads `replied` in the store (polled
//! every 2 ms). The watcher runs as `nudge serve` runs it: `Watcher::run` in
//! a two-thread tokio runtime, IDLE on, engine on the system clock.

#[path = "../tests/it/support/dovecot.rs"]
mod dovecot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge::catalog::Catalog;
use nudge::channels::DryRunTransport;
use nudge::clock::SystemClock;
use nudge::config::{ImapSettings, Secret};
use nudge::domain::lead::LeadInput;
use nudge::domain::render::Sender;
use nudge::domain::sequence::Channel;
use nudge::domain::status::Status;
use nudge::domain::touch::RetryPolicy;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::engine::{Engine, Settings};
use nudge::inbound::imap::Watcher;
use nudge::store::Store;

const SEQUENCE: &str = r#"
name = "bench"
email_footer = "Reply stop to opt out."
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "23:59"

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}."

[[steps]]
id = "follow"
delay = "2d"
channel = "email"
body = "Any questions?"
"#;

fn main() {
    let replies: usize = std::env::var("NUDGE_BENCH_REPLIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let imap = dovecot::Dovecot::start();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("sequences")).expect("sequences dir");
    std::fs::write(dir.path().join("sequences/bench.toml"), SEQUENCE).expect("sequence");
    let catalog = Catalog::load(dir.path()).expect("catalog");
    let store = Store::open(&dir.path().join("data"), 8 << 20).expect("store");
    let settings = Settings {
        default_tz: chrono_tz::UTC,
        default_region: None,
        sender: Sender::default(),
        retry: RetryPolicy {
            max_attempts: 3,
            base: chrono::Duration::minutes(1),
            cap: chrono::Duration::hours(1),
        },
    };
    let engine = Arc::new(Engine::new(store, catalog, settings, Arc::new(SystemClock)));
    let leads: Vec<_> = (0..replies)
        .map(|i| {
            engine
                .add(&LeadInput {
                    name: format!("Lead {i}"),
                    email: Some(format!("lead{i}@example.com")),
                    source: "bench".into(),
                    sequence: Some("bench".into()),
                    ..LeadInput::default()
                })
                .expect("lead added")
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dry = |c| Arc::new(DryRunTransport::new(c, "bench")) as _;
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
            message_id_domain: "example.com".into(),
            ..WorkerOptions::default()
        },
    );
    rt.block_on(worker.run_due())
        .expect("first touches recorded");
    let settings = ImapSettings {
        url: imap.url(),
        user: imap.user.clone(),
        password: Secret::from(imap.password.as_str()),
        mailbox: "INBOX".into(),
        ooo_delay_hours: 72,
        soft_bounce_limit: 3,
        policy_pause_hours: 24,
        ca_file: String::new(),
    };
    let watcher = || {
        Watcher::from_config(engine.clone(), &settings)
            .expect("valid settings")
            .expect("a URL")
    };
    rt.block_on(watcher().sync()).expect("initial sync");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = rt.spawn(watcher().run(stopped));
    // Let the watcher reach IDLE before the first reply.
    std::thread::sleep(Duration::from_millis(500));

    let mut spans = Vec::with_capacity(replies);
    let mut saves = Vec::with_capacity(replies);
    for (i, id) in leads.iter().enumerate() {
        let message_id = engine
            .store()
            .touch(*id, 0)
            .expect("store")
            .and_then(|t| t.message_id)
            .expect("Message-ID");
        let raw = format!(
            "From: lead{i}@example.com\r\nSubject: Re: Hello\r\nIn-Reply-To: {message_id}\r\n\r\nYes!\r\n"
        );
        let start = Instant::now();
        imap.deliver(raw.as_bytes());
        saves.push(start.elapsed());
        let deadline = start + Duration::from_secs(30);
        while engine.store().lead(*id).expect("store").map(|l| l.status) != Some(Status::Replied) {
            assert!(Instant::now() < deadline, "reply {i} not handled in 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        spans.push(start.elapsed());
    }
    let _ = stop.send(true);
    let _ = rt.block_on(running);

    spans.sort();
    saves.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| spans[((spans.len() - 1) as f64 * q).round() as usize];
    println!(
        "imap reply → replied ({} replies, IDLE): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (target < 2000 ms)",
        spans.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(1.0)),
    );
    println!(
        "  of which `doveadm save` (delivery): p50 {:.0} ms",
        ms(saves[saves.len() / 2])
    );
}
