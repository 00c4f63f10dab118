//! Channel health and worker safety at the library level, on a manual
//! clock: a send task that panics, a lead whose name would inject a header,
//! an SMTP server that refuses the password (a tiny responder that counts
//! connections), and a Twilio fake that answers 503 for a while.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use nudge::channels::{EmailTransport, Outgoing, Receipt, SendError, SmsTransport, Transport};
use nudge::config::{EmailSettings, Secret, SmsSettings};
use nudge::domain::breaker::Health;
use nudge::domain::event::{AlertKind, EventKind};
use nudge::domain::lead::LeadInput;
use nudge::domain::sequence::Channel;
use nudge::domain::touch::TouchState;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::engine::{ChannelAlertKind, Engine, Notification};
use tokio::sync::broadcast;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::smtp_sink::free_port;
use crate::worker::{add, engine_on_manual_clock};
use crate::worker_channels::{SMS_FIRST as SMS, dry, options, runtime};

const EMAIL: &str = r#"
name = "test"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}."
[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

fn email_worker(engine: &Arc<Engine>, email: Arc<dyn Transport>) -> Worker {
    let channels = Channels {
        email,
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    Worker::new(engine.clone(), channels, options())
}

/// Everything announced so far.
fn drain(alerts: &mut broadcast::Receiver<Notification>) -> Vec<Notification> {
    let mut out = Vec::new();
    while let Ok(n) = alerts.try_recv() {
        out.push(n);
    }
    out
}

fn channel_alerts(notes: &[Notification]) -> Vec<ChannelAlertKind> {
    notes
        .iter()
        .filter_map(|n| match n {
            Notification::Channel(a) => Some(a.kind),
            Notification::Lead(_) => None,
        })
        .collect()
}

fn health_of(engine: &Engine, channel: Channel) -> (Health, usize) {
    let status = engine.status().unwrap();
    let c = status
        .channels
        .into_iter()
        .find(|c| c.channel == channel)
        .unwrap();
    (c.health, c.waiting)
}

/// A transport with a bug: it panics mid-send.
struct Panicking;

#[async_trait::async_trait]
impl Transport for Panicking {
    async fn send(&self, _touch: &Outgoing) -> Result<Receipt, SendError> {
        panic!("fault injected: the transport fell over");
    }
    fn is_live(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        "panicking".into()
    }
}

#[test]
fn a_panicking_send_is_in_doubt_with_the_panic_message_and_alerts() {
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(EMAIL);
    let mut alerts = engine.subscribe_alerts();
    let worker = email_worker(&engine, Arc::new(Panicking));
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::InDoubt, "{touch:?}");
    let reason = touch.last_error.unwrap();
    assert!(reason.contains("fault injected"), "{reason}");
    // Nothing is left in `sending`, and a human hears of it.
    assert!(engine.store().sending().unwrap().is_empty());
    let notes = drain(&mut alerts);
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Notification::Lead(a) if a.kind == AlertKind::InDoubt)),
        "{notes:?}"
    );
    let view = engine.show(id).unwrap();
    assert!(view.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::TouchInDoubt { reason, .. } if reason.contains("panic")
    )));
}

#[test]
fn a_name_that_would_inject_a_header_is_a_permanent_failure_not_a_stuck_touch() {
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(EMAIL);
    let mut alerts = engine.subscribe_alerts();
    // Stored bypassing intake's validation, as an older database might hold it.
    let valid = engine
        .validate(&LeadInput {
            name: "Evil".into(),
            email: Some("evil@lead.test".into()),
            source: "test".into(),
            ..LeadInput::default()
        })
        .unwrap();
    let mut write = engine.prepare(valid, Some("test"), engine.now()).unwrap();
    write.lead.name = "Evil\r\nBcc: victim@other.test\r\nX-Injected: 1".into();
    let id = write.lead.id;
    engine.store().insert_leads(&[write]).unwrap();
    engine.store().flush().unwrap();
    // A real SMTP transport; nothing listens, and nothing needs to: the
    // message is refused before any connection.
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(format!("smtp://127.0.0.1:{}?tls=none", free_port()).as_str()),
        from: "Sam <sam@example.com>".into(),
        ..EmailSettings::default()
    })
    .unwrap();
    let worker = email_worker(&engine, Arc::new(email));
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Failed, "{touch:?}");
    let reason = touch.last_error.unwrap();
    assert!(reason.contains("invalid header value in name"), "{reason}");
    assert!(engine.store().sending().unwrap().is_empty());
    // Alerted like a bounce; an email-only lead stops as for any bounce.
    let notes = drain(&mut alerts);
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Notification::Lead(a) if a.kind == AlertKind::Bounced)),
        "{notes:?}"
    );
    let lead = engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.next, None);
    // And the channel was never blamed for it.
    assert_eq!(health_of(&engine, Channel::Email).0, Health::Live);
}

/// An SMTP server that offers AUTH and refuses every password with 535,
/// counting the connections it accepts.
fn refusing_smtp() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 fake.test ESMTP\r\n");
                let mut line = String::new();
                // Bounded: a client gets at most 20 lines of conversation.
                for _ in 0..20 {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-fake.test\r\n250 AUTH PLAIN LOGIN\r\n",
                        "AUTH" => b"535 5.7.8 Authentication credentials invalid\r\n",
                        "QUIT" => b"221 bye\r\n",
                        _ => b"502 5.5.2 not here\r\n",
                    };
                    if stream.write_all(reply).is_err() || verb == "QUIT" {
                        return;
                    }
                }
            });
        }
    });
    (port, connections)
}

#[test]
fn a_refused_password_pauses_email_alerts_once_and_never_hammers_the_server() {
    let rt = runtime();
    let (port, connections) = refusing_smtp();
    let (_dir, clock, engine) = engine_on_manual_clock(EMAIL);
    let mut alerts = engine.subscribe_alerts();
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(format!("smtp://sam:wrong@127.0.0.1:{port}?tls=none").as_str()),
        from: "Sam <sam@example.com>".into(),
        ..EmailSettings::default()
    })
    .unwrap();
    let worker = email_worker(&engine, Arc::new(email));
    let first = add(&engine, "Ada Lovelace", "ada@example.com", None);
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(first, 0).unwrap().unwrap();
    assert_eq!((touch.state, touch.attempts), (TouchState::Pending, 0));
    let (health, _) = health_of(&engine, Channel::Email);
    assert!(matches!(health, Health::Paused { .. }), "{health:?}");
    // Leads keep arriving; hours pass; the worker keeps looking.
    let mut ids = vec![first];
    for i in 0..5 {
        ids.push(add(
            &engine,
            &format!("Lead {i}"),
            &format!("lead{i}@example.com"),
            None,
        ));
        clock.advance(Duration::minutes(30));
        rt.block_on(worker.check_channels());
        let report = rt.block_on(worker.run_due()).unwrap();
        assert_eq!(report.sent, 0, "{report:?}");
    }
    // One connection in all: no probes, no retries with a known-bad password.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    let (_, waiting) = health_of(&engine, Channel::Email);
    assert_eq!(waiting, ids.len());
    for id in &ids {
        let lead = engine.store().lead(*id).unwrap().unwrap();
        assert!(lead.next.is_some(), "every touch still waits");
        let failed = engine
            .store()
            .events(*id)
            .unwrap()
            .into_iter()
            .any(|e| matches!(e.kind, EventKind::TouchFailed { .. }));
        assert!(!failed, "nothing counted against a lead");
    }
    let notes = drain(&mut alerts);
    let paused = notes.iter().find_map(|n| match n {
        Notification::Channel(a) if a.kind == ChannelAlertKind::Paused => Some(a.describe()),
        _ => None,
    });
    let paused = paused.expect("a paused alert");
    assert!(
        paused.starts_with("email paused: the SMTP server refused the password"),
        "{paused}"
    );
    assert!(
        !paused.contains("wrong"),
        "the password never shows: {paused}"
    );
    let notes = channel_alerts(&notes);
    assert_eq!(
        notes,
        [ChannelAlertKind::Paused, ChannelAlertKind::StillDown],
        "paused at once, a reminder after 15 minutes, nothing more"
    );
}

#[test]
fn twilio_503_for_a_while_then_201_holds_sms_then_sends_each_once() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    let messages = "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json";
    let account = "/2010-04-01/Accounts/AC0123456789abcdef.json";
    rt.block_on(async {
        // The API is down: the first send and the first probe get 503.
        Mock::given(method("POST"))
            .and(path(messages))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(account))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(account))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .with_priority(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(messages))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM1"})),
            )
            .with_priority(2)
            .mount(&server)
            .await;
    });
    let sms = SmsTransport::new(&SmsSettings {
        account_sid: "AC0123456789abcdef".into(),
        auth_token: Secret::from("tok-s3cret-value"),
        from: "+15005550006".into(),
        base_url: server.uri(),
        ..SmsSettings::default()
    })
    .unwrap();
    let (_dir, clock, engine) = engine_on_manual_clock(SMS);
    let mut alerts = engine.subscribe_alerts();
    let channels = Channels {
        email: dry(Channel::Email),
        sms: Arc::new(sms),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options());
    let ada = add(
        &engine,
        "Ada Lovelace",
        "ada@example.com",
        Some("+14155552671"),
    );
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(ada, 0).unwrap().unwrap();
    assert_eq!((touch.state, touch.attempts), (TouchState::Pending, 0));
    let grace = add(
        &engine,
        "Grace Hopper",
        "grace@example.com",
        Some("+14155552672"),
    );
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (0, 2));
    // Other channels keep working while SMS is down: email is dry-run here
    // and unaffected.
    assert_eq!(health_of(&engine, Channel::Email).0, Health::Dry);
    // First probe: still 503.
    clock.advance(Duration::seconds(5));
    rt.block_on(worker.check_channels());
    assert!(matches!(
        health_of(&engine, Channel::Sms).0,
        Health::Down { .. }
    ));
    // Second probe: the API answers; both texts go out, once each.
    clock.advance(Duration::seconds(10));
    rt.block_on(worker.check_channels());
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (2, 0));
    for id in [ada, grace] {
        let touch = engine.store().touch(id, 0).unwrap().unwrap();
        assert_eq!((touch.state, touch.attempts), (TouchState::Sent, 1));
    }
    let posts = rt
        .block_on(server.received_requests())
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 3, "one refused, then one per lead");
    let notes = channel_alerts(&drain(&mut alerts));
    assert_eq!(notes, [ChannelAlertKind::Down, ChannelAlertKind::Back]);
}

/// Fails every send with a transient error until `failures` are used up,
/// then accepts, keeping what it was given.
struct Flaky {
    failures: AtomicUsize,
    sent: std::sync::Mutex<Vec<Outgoing>>,
}

#[async_trait::async_trait]
impl Transport for Flaky {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SendError::Transient {
                reason: "450 mailbox busy".into(),
                retry_after: None,
            });
        }
        self.sent.lock().unwrap().push(touch.clone());
        Ok(Receipt::default())
    }
    fn is_live(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

#[test]
fn an_intro_never_sent_means_the_follow_up_starts_its_own_thread() {
    let rt = runtime();
    let (_dir, clock, engine) = engine_on_manual_clock(EMAIL);
    // The intro fails its three attempts (the rig's max) and is given up.
    let flaky = Arc::new(Flaky {
        failures: AtomicUsize::new(3),
        sent: std::sync::Mutex::new(Vec::new()),
    });
    let worker = email_worker(&engine, flaky.clone());
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    // Bounded: three attempts, then the follow-up.
    for _ in 0..4 {
        if let Some(next) = engine.store().lead(id).unwrap().unwrap().next {
            clock.set(next.at.max(engine.now()));
        }
        rt.block_on(worker.run_due()).unwrap();
        if !flaky.sent.lock().unwrap().is_empty() {
            break;
        }
    }
    let intro = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(intro.state, TouchState::Failed);
    let sent = flaky.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let follow_up = &sent[0];
    assert_eq!(follow_up.subject.as_deref(), Some("Hello Ada"));
    assert_eq!(follow_up.in_reply_to, None);
    assert!(follow_up.references.is_empty());
}

/// A channel that is down until switched on; counts sends and probes.
#[derive(Default)]
struct Switch {
    up: std::sync::atomic::AtomicBool,
    sends: AtomicUsize,
    probes: AtomicUsize,
}

#[async_trait::async_trait]
impl Transport for Switch {
    async fn send(&self, _touch: &Outgoing) -> Result<Receipt, SendError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok(Receipt::default())
        } else {
            Err(SendError::Unavailable {
                reason: "connection refused".into(),
                credentials: false,
            })
        }
    }
    async fn probe(&self) -> Result<(), SendError> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(SendError::Unavailable {
                reason: "connection refused".into(),
                credentials: false,
            })
        }
    }
    fn is_live(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        "switch".into()
    }
}

#[test]
fn a_backlog_drains_within_the_daily_cap_after_recovery() {
    let rt = runtime();
    let (_dir, clock, engine) = engine_on_manual_clock(EMAIL);
    let switch = Arc::new(Switch::default());
    let mut caps = std::collections::HashMap::new();
    caps.insert(Channel::Email, 3);
    let channels = Channels {
        email: switch.clone(),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(
        engine.clone(),
        channels,
        WorkerOptions {
            daily_caps: caps,
            ..options()
        },
    );
    let ids: Vec<_> = (0..6)
        .map(|i| {
            add(
                &engine,
                &format!("Lead {i}"),
                &format!("l{i}@example.com"),
                None,
            )
        })
        .collect();
    rt.block_on(worker.run_due()).unwrap();
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (0, 6));
    let tried = switch.sends.load(Ordering::SeqCst);
    assert!(
        tried <= 8,
        "at most one round of claims hit the down channel: {tried}"
    );
    switch.up.store(true, Ordering::SeqCst);
    clock.advance(Duration::seconds(5));
    rt.block_on(worker.check_channels());
    assert_eq!(switch.probes.load(Ordering::SeqCst), 1);
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!(report.sent, 3, "the cap holds for a backlog: {report:?}");
    let sent: Vec<bool> = ids
        .iter()
        .map(|id| {
            engine
                .store()
                .touch(*id, 0)
                .unwrap()
                .is_some_and(|t| t.state == TouchState::Sent)
        })
        .collect();
    // The oldest three went; the rest wait for tomorrow, in order.
    assert_eq!(sent, [true, true, true, false, false, false]);
    for id in &ids[3..] {
        let next = engine.store().lead(*id).unwrap().unwrap().next.unwrap();
        assert!(next.at > engine.now() + Duration::hours(1), "{next:?}");
    }
}

const EXPIRING: &str = r#"
name = "test"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}."
expires_after = "1h"
[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

#[test]
fn a_touch_past_its_useful_life_is_skipped_with_a_reason_not_sent_late() {
    let rt = runtime();
    let (_dir, clock, engine) = engine_on_manual_clock(EXPIRING);
    let switch = Arc::new(Switch::default());
    let worker = email_worker(&engine, switch.clone());
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    rt.block_on(worker.run_due()).unwrap();
    // The outage outlasts the step's useful life; then the channel is back.
    clock.advance(Duration::hours(2));
    switch.up.store(true, Ordering::SeqCst);
    rt.block_on(worker.check_channels());
    rt.block_on(worker.run_due()).unwrap();
    assert_eq!(switch.sends.load(Ordering::SeqCst), 1, "only the first try");
    let intro = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(intro.state, TouchState::Failed);
    let events = engine.store().events(id).unwrap();
    assert!(
        events.iter().any(|e| matches!(
            &e.kind,
            EventKind::TouchFailed { reason, .. } if reason.contains("past its useful life")
        )),
        "{events:?}"
    );
    // The sequence moved on to the next step.
    let next = engine.store().lead(id).unwrap().unwrap().next.unwrap();
    assert_eq!(next.step_id, "bye");
}
