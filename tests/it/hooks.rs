//! Booking webhooks on a real socket (127.0.0.1, a free port): Cal.com and
//! Calendly events signed as each provider signs them, plus every refusal.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use hmac::{Hmac, KeyInit, Mac};
use nudge::clock::ManualClock;
use nudge::config::Secret;
use nudge::domain::lead::LeadId;
use nudge::domain::status::Status;
use nudge::engine::Engine;
use nudge::inbound::{Inbound, launch};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::worker::{add, engine_on_manual_clock};

const SEQUENCE: &str = r#"
name = "test"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Hi. Reply stop to opt out."

[[steps]]
id = "follow"
delay = "2d"
channel = "email"
body = "Still there? Reply stop to opt out."
"#;

const CAL_SECRET: &str = "cal-secret";
const CALENDLY_KEY: &str = "calendly-key";

pub struct Server {
    _dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub engine: Arc<Engine>,
    pub base: String,
    pub rt: tokio::runtime::Runtime,
    pub client: reqwest::Client,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// An inbound server with booking secrets and a link secret, over `sequence`.
pub fn server(sequence: &str) -> Server {
    let (dir, clock, engine) = engine_on_manual_clock(sequence);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = Arc::new(Inbound {
        engine: engine.clone(),
        intake_token: Secret::default(),
        link_secret: Secret::from("link-secret"),
        twilio_auth_token: Secret::default(),
        cal_secret: Secret::from(CAL_SECRET),
        calendly_signing_key: Secret::from(CALENDLY_KEY),
        public_url: "https://nudge.example.com".into(),
        sources: BTreeMap::new(),
        prefetch_window: chrono::Duration::seconds(10),
        limits: nudge::inbound::IntakeLimits::off(),
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    rt.spawn(launch(listener, state, stopped));
    Server {
        _dir: dir,
        clock,
        engine,
        base,
        rt,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

impl Server {
    fn post(&self, headers: &[(&str, String)], body: &[u8]) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/hooks/booking", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.rt.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    fn cal(&self, trigger: &str, email: &str) -> (StatusCode, Value) {
        let body = json!({
            "triggerEvent": trigger,
            "createdAt": "2026-06-01T09:00:00.000Z",
            "payload": {
                "title": "Intro call",
                "organizer": { "email": "sam@acme.example", "name": "Sam" },
                "attendees": [{ "email": email, "name": "Ada", "timeZone": "Europe/Berlin" }],
            }
        })
        .to_string();
        let signature = hmac_hex(CAL_SECRET, &[body.as_bytes()]);
        self.post(&[("X-Cal-Signature-256", signature)], body.as_bytes())
    }

    fn calendly_at(&self, body: &Value, t: i64) -> (StatusCode, Value) {
        let body = body.to_string();
        let t = t.to_string();
        let v1 = hmac_hex(CALENDLY_KEY, &[t.as_bytes(), b".", body.as_bytes()]);
        self.post(
            &[("Calendly-Webhook-Signature", format!("t={t},v1={v1}"))],
            body.as_bytes(),
        )
    }

    fn calendly(&self, body: &Value) -> (StatusCode, Value) {
        self.calendly_at(body, self.engine.now().timestamp())
    }

    fn status(&self, id: LeadId) -> Status {
        self.engine.store().lead(id).unwrap().unwrap().status
    }
}

#[test]
fn cal_booking_marks_booked_and_cancellation_resumes_with_a_next_touch() {
    let s = server(SEQUENCE);
    let id = add(&s.engine, "Ada Lovelace", "ada@example.com", None);

    let (status, body) = s.cal("BOOKING_CREATED", "ADA@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "booked");
    assert_eq!(body["lead"], id.to_string());
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Booked);
    assert_eq!(lead.next, None, "a booking stops the sequence");

    // A reschedule of a booked lead changes nothing but the timeline.
    let (status, body) = s.cal("BOOKING_RESCHEDULED", "ada@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["note"].as_str().unwrap().contains("booked"), "{body}");
    assert_eq!(s.status(id), Status::Booked);

    let (status, body) = s.cal("BOOKING_CANCELLED", "ada@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Active);
    assert!(lead.next.is_some(), "cancellation schedules the next touch");
    let timeline: Vec<String> = s
        .engine
        .store()
        .events(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.describe())
        .collect();
    assert!(
        timeline
            .iter()
            .any(|t| t.contains("Cal.com BOOKING_CANCELLED")),
        "{timeline:?}"
    );
}

const ON_CANCEL: &str = r#"
name = "test"
[rules]
on_cancel = "rebook"

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Hi. Reply stop to opt out."

[[steps]]
id = "follow"
delay = "2d"
channel = "email"
body = "Still there? Reply stop to opt out."

[[steps]]
id = "rebook"
delay = "0m"
channel = "email"
optional = true
body = "Sorry the time did not work out. Pick another? Reply stop to opt out."
"#;

#[test]
fn a_cancellation_schedules_the_on_cancel_step() {
    let s = server(ON_CANCEL);
    let id = add(&s.engine, "Ada Lovelace", "ada@example.com", None);
    // Before any booking, the optional step is not in the plan.
    let next = s.engine.store().lead(id).unwrap().unwrap().next.unwrap();
    assert_eq!(next.step_id, "hello");

    let (status, body) = s.cal("BOOKING_CREATED", "ada@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s.cal("BOOKING_CANCELLED", "ada@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    let next = lead.next.unwrap();
    assert_eq!(next.step_id, "rebook");
    assert!(next.at >= nudge::clock::Clock::now(s.clock.as_ref()));
    let timeline: Vec<String> = s
        .engine
        .store()
        .events(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.describe())
        .collect();
    assert!(
        timeline
            .iter()
            .any(|t| t == "booking cancelled; continues with rebook"),
        "{timeline:?}"
    );
}

#[test]
fn cal_refusals_bad_json_unknown_lead_and_ignored_events() {
    let s = server(SEQUENCE);
    let id = add(&s.engine, "Ada Lovelace", "ada@example.com", None);
    let body = br#"{"triggerEvent":"BOOKING_CREATED","payload":{"attendees":[{"email":"ada@example.com"}]}}"#;

    let (status, _) = s.post(&[], body);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no signature");
    let wrong = hmac_hex("not-the-secret", &[body]);
    let (status, _) = s.post(&[("X-Cal-Signature-256", wrong)], body);
    assert_eq!(status, StatusCode::FORBIDDEN, "wrong signature");
    let (status, _) = s.post(&[("X-Cal-Signature-256", "zz".into())], body);
    assert_eq!(status, StatusCode::FORBIDDEN, "garbage signature");
    assert_eq!(s.status(id), Status::Active, "nothing changed");

    let garbage = b"{not json";
    let signed = hmac_hex(CAL_SECRET, &[garbage]);
    let (status, _) = s.post(&[("X-Cal-Signature-256", signed)], garbage);
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = s.cal("BOOKING_CREATED", "stranger@example.com");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["note"].is_string());

    let (status, body) = s.cal("PING", "ada@example.com");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.status(id), Status::Active);
}

#[test]
fn calendly_created_and_canceled_with_fresh_signatures_only() {
    let s = server(SEQUENCE);
    let id = add(&s.engine, "Ada Lovelace", "ada@example.com", None);
    let created = json!({
        "event": "invitee.created",
        "created_at": "2026-06-01T09:00:00.000000Z",
        "payload": { "email": "ada@example.com", "name": "Ada Lovelace", "rescheduled": false }
    });

    let stale = s.engine.now().timestamp() - 6 * 60;
    let (status, _) = s.calendly_at(&created, stale);
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a replayed (stale) signature"
    );
    let (status, _) = s.post(
        &[("Calendly-Webhook-Signature", "t=1,v1=00".into())],
        created.to_string().as_bytes(),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "a forged signature");
    assert_eq!(s.status(id), Status::Active);

    let (status, body) = s.calendly(&created);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.status(id), Status::Booked);

    // The cancellation half of a reschedule keeps the lead booked.
    s.clock.advance(Duration::minutes(1));
    let rescheduled = json!({
        "event": "invitee.canceled",
        "payload": { "email": "ada@example.com", "rescheduled": true }
    });
    let (status, _) = s.calendly(&rescheduled);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.status(id), Status::Booked);

    let canceled = json!({
        "event": "invitee.canceled",
        "payload": { "email": "ada@example.com", "rescheduled": false }
    });
    let (status, body) = s.calendly(&canceled);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert!(s.engine.store().lead(id).unwrap().unwrap().next.is_some());

    let unknown =
        json!({ "event": "invitee.created", "payload": { "email": "nobody@example.com" } });
    let (status, _) = s.calendly(&unknown);
    assert_eq!(status, StatusCode::ACCEPTED);
}

const RULED: &str = r#"
name = "test"
[rules]
nudge_after_open = { step = "nudge", after = "1d" }
clicked = "pull-earlier"
[rules.hot]
opened = 2
clicked = 3

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Hi. Reply stop to opt out."

[[steps]]
id = "nudge"
delay = "0m"
channel = "email"
optional = true
body = "You had a look. Reply stop to opt out."

[[steps]]
id = "later"
delay = "5d"
channel = "email"
body = "Later. Reply stop to opt out."
"#;

#[test]
fn record_signal_activates_the_nudge_pulls_earlier_and_marks_hot_once() {
    use nudge::domain::event::EventKind;
    use nudge::domain::rules::Signal;

    let (_dir, clock, engine) = engine_on_manual_clock(RULED);
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    // Pretend `hello` went out now, as the worker records it.
    engine
        .record(
            id,
            EventKind::TouchSent {
                step: "hello".into(),
                channel: nudge::domain::sequence::Channel::Email,
                subject: None,
                body: String::new(),
                dry_run: true,
            },
        )
        .unwrap();
    let lead = engine.snooze(id, engine.now()).unwrap();
    assert_eq!(lead.next.as_ref().unwrap().step_id, "later");

    clock.advance(Duration::hours(1));
    let opened_at = engine.now();
    let lead = engine.record_signal(id, Signal::Opened).unwrap();
    let next = lead.next.clone().unwrap();
    assert_eq!(next.step_id, "nudge", "an open activates the nudge");
    assert_eq!(next.at, opened_at + Duration::days(1));
    assert!(!lead.hot, "score 2 < 5");

    let lead = engine
        .record_signal(
            id,
            Signal::Clicked {
                url: Some("https://example.com".into()),
            },
        )
        .unwrap();
    assert!(lead.hot, "score 5 reaches the default threshold");
    assert!(
        lead.next.unwrap().at <= next.at,
        "a click never pushes a touch later"
    );
    engine.record_signal(id, Signal::Opened).unwrap();
    let hot_events = engine
        .store()
        .events(id)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Hot { .. }))
        .count();
    assert_eq!(hot_events, 1, "hot is announced once");
}
