//! The first touch goes out in seconds at any hour with the shipped default
//! sequence: in-process on a manual clock set to a Saturday night, and
//! through `nudge serve` to a real SMTP server (smtp-sink) for a lead whose
//! local time, picked from the current UTC time, is outside business hours.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use nudge::catalog::{BUILTIN_DEFAULT, Catalog};
use nudge::channels::{DryRunTransport, EmailTransport};
use nudge::clock::{Clock, ManualClock, SystemClock};
use nudge::config::{EmailSettings, Secret};
use nudge::domain::lead::LeadInput;
use nudge::domain::render::Sender;
use nudge::domain::sequence::Channel;
use nudge::domain::touch::RetryPolicy;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::engine::{Engine, Settings};
use nudge::store::Store;

use crate::common::{Env, SENDER_CONFIG};
use crate::smtp_sink::SmtpSink;
use crate::zones::saturday_night_zone;

#[test]
fn saturday_night_intro_goes_out_at_once_on_a_manual_clock() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sequences")).unwrap();
    std::fs::write(dir.path().join("sequences/default.toml"), BUILTIN_DEFAULT).unwrap();
    let catalog = Catalog::load(dir.path()).unwrap();
    let store = Store::open(&dir.path().join("data"), 1 << 20).unwrap();
    // Saturday 23:30 in New York.
    let saturday_night: DateTime<Utc> = "2026-12-06T04:30:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(saturday_night));
    let settings = Settings {
        default_tz: chrono_tz::UTC,
        default_region: None,
        sender: Sender {
            name: "Sam".into(),
            company: "Acme".into(),
            booking_url: "https://cal.example.com/sam".into(),
        },
        retry: RetryPolicy {
            max_attempts: 3,
            base: chrono::Duration::minutes(1),
            cap: chrono::Duration::hours(1),
        },
    };
    let engine = Arc::new(Engine::new(store, catalog, settings, clock.clone()));
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(sink.url().as_str()),
        from: "Sam <sam@example.com>".into(),
        ..EmailSettings::default()
    })
    .unwrap();
    let channels = Channels {
        email: Arc::new(email),
        sms: Arc::new(DryRunTransport::new(Channel::Sms, "test")),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(
        engine.clone(),
        channels,
        WorkerOptions {
            pace: false,
            message_id_domain: "example.com".into(),
            ..WorkerOptions::default()
        },
    );
    let id = engine
        .add(&LeadInput {
            name: "Grace Hopper".into(),
            email: Some("grace@lead.test".into()),
            tz: Some("America/New_York".into()),
            source: "web form".into(),
            ..LeadInput::default()
        })
        .unwrap();
    let next = engine.store().lead(id).unwrap().unwrap().next.unwrap();
    assert_eq!((next.step_id.as_str(), next.at), ("intro", saturday_night));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(worker.run_due())
        .unwrap();
    let mail = sink.wait_for_messages(1, StdDuration::from_secs(20));
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].header("Subject").as_deref(),
        Some("Grace, the guide you asked about")
    );
    // The next email (text-hello skipped: no phone) keeps the window: three
    // days on, Tuesday 23:30 New York, moves to Wednesday 09:00 (14:00Z).
    let next = engine.store().lead(id).unwrap().unwrap().next.unwrap();
    assert_eq!(next.step_id, "resource");
    assert_eq!(
        next.at,
        "2026-12-09T14:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

/// `nudge serve`, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_sends_the_intro_within_seconds_outside_business_hours() {
    let sink = SmtpSink::start();
    let env = Env::new();
    env.write_config(&format!(
        "{SENDER_CONFIG}
[email]
smtp_url = \"{}\"
from = \"Sam Seller <sam@example.com>\"
postal_address = \"Acme Tools, 1 Main St, Springfield\"

[server]
listen = \"\"
public_url = \"https://nudge.example.com\"
link_secret = \"test-secret\"
",
        sink.url()
    ));
    let tz = saturday_night_zone(SystemClock.now());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nudge"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NUDGE_") {
            cmd.env_remove(key);
        }
    }
    let log = std::fs::File::create(env.path().join("serve.stderr")).unwrap();
    let serve = Serve(
        cmd.arg("serve")
            .current_dir(env.path())
            .env("NUDGE_DATA_DIR", env.data_dir())
            .env("NUDGE_CONFIG", env.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nudge serve"),
    );
    // `add` talks to serve over its socket once it listens.
    let socket = env.data_dir().join("nudge.sock");
    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve never listened");
        std::thread::sleep(StdDuration::from_millis(50));
    }
    let id = env.add(&[
        "--name",
        "Grace Hopper",
        "--email",
        "grace@lead.test",
        "--tz",
        tz.name(),
    ]);
    let mail = sink.wait_for_messages(1, StdDuration::from_secs(20));
    drop(serve);
    let log = std::fs::read_to_string(env.path().join("serve.stderr")).unwrap_or_default();
    assert_eq!(mail.len(), 1, "zone {tz}; serve log:\n{log}");
    assert_eq!(
        mail[0].header("Subject").as_deref(),
        Some("Grace, the guide you asked about")
    );
    assert!(
        mail[0]
            .header("To")
            .is_some_and(|to| to.contains("grace@lead.test"))
    );
    // The rest of the sequence still waits for the lead's business hours.
    let shown = env.show(&id);
    let local = DateTime::parse_from_rfc3339(shown["next"]["local"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("next.local in {shown}: {e}"));
    assert!(
        (9..17).contains(&local.hour()) && !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
        "{shown}"
    );
}
