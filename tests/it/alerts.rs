//! Alert webhooks against real HTTP receivers on 127.0.0.1: a lead's reply
//! posts Slack's `{"text": ...}` and a signed CRM event; a receiver that
//! fails twice gets exactly one delivery after the retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use nudge::alerts::{AlertRetry, Alerter};
use nudge::config::{AlertSettings, Secret};
use nudge::domain::mark::Mark;
use sha2::Sha256;

use crate::worker::{add, engine_on_manual_clock};

const SEQUENCE: &str = r#"
name = "test"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Hi."
"#;

const CRM_SECRET: &str = "crm-secret";

/// A webhook receiver: answers 500 to the first `failures` requests, then
/// 200, and keeps what it accepted.
#[derive(Default)]
struct Receiver {
    failures: usize,
    hits: AtomicUsize,
    accepted: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if receiver.hits.fetch_add(1, Ordering::SeqCst) < receiver.failures {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    receiver.accepted.lock().unwrap().push((headers, body));
    StatusCode::OK
}

fn start_receiver(rt: &tokio::runtime::Runtime, failures: usize) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        failures,
        ..Receiver::default()
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

/// Waits until `receiver` accepted `n` requests (bounded).
fn wait_for(receiver: &Receiver, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..200 {
        let accepted = receiver.accepted.lock().unwrap().clone();
        if accepted.len() >= n {
            return accepted;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the receiver never got {n} deliveries");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn fast_retry() -> AlertRetry {
    AlertRetry {
        attempts: 5,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
    }
}

#[test]
fn a_reply_posts_to_slack_and_a_signed_event_to_the_crm() {
    let rt = runtime();
    let (slack, slack_url) = start_receiver(&rt, 0);
    let (crm_receiver, crm_url) = start_receiver(&rt, 0);
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let alerter = Alerter::from_config(&AlertSettings {
        slack_webhook_url: Secret::from(slack_url.as_str()),
        crm_webhook_url: Secret::from(crm_url.as_str()),
        crm_webhook_secret: Secret::from(CRM_SECRET),
        ..AlertSettings::default()
    })
    .unwrap()
    .unwrap()
    .with_retry(fast_retry());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = rt.spawn(alerter.run(engine.subscribe_alerts(), stopped));
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    engine.mark(id, Mark::Replied, None).unwrap();

    let slack = wait_for(&slack, 1);
    let text: serde_json::Value = serde_json::from_slice(&slack[0].1).unwrap();
    assert_eq!(
        text["text"],
        "*Ada Lovelace (ada@example.com)* replied. The sequence has stopped."
    );
    assert_eq!(slack[0].0["content-type"], "application/json");

    let crm = wait_for(&crm_receiver, 1);
    let (headers, body) = &crm[0];
    // Verify as a receiver would: HMAC-SHA256 of the raw body.
    let mut mac = Hmac::<Sha256>::new_from_slice(CRM_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-nudge-signature"].to_str().unwrap(), expected);
    assert_eq!(headers["x-nudge-event"], "replied");
    let event: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event"], "replied");
    assert_eq!(event["lead_id"], id.to_string());
    assert_eq!(event["name"], "Ada Lovelace");
    assert_eq!(event["email"], "ada@example.com");
    assert_eq!(event["status"], "replied");
    let at = chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(
        headers["x-nudge-timestamp"].to_str().unwrap(),
        at.timestamp().to_string()
    );

    // A note raises no alert; a booking after the reply does.
    engine
        .record(
            id,
            nudge::domain::event::EventKind::Note {
                text: "called back".into(),
            },
        )
        .unwrap();
    engine.mark(id, Mark::Booked, None).unwrap();
    let accepted = wait_for(&crm_receiver, 2);
    let second: serde_json::Value = serde_json::from_slice(&accepted[1].1).unwrap();
    assert_eq!(second["event"], "booked");
    assert_eq!(second["status"], "booked");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        crm_receiver.accepted.lock().unwrap().len(),
        2,
        "the note raised no alert"
    );
    let _ = stop.send(true);
    rt.block_on(task).unwrap();
}

#[test]
fn a_failing_receiver_gets_exactly_one_delivery_after_retries() {
    let rt = runtime();
    let (crm, crm_url) = start_receiver(&rt, 2);
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let alerter = Alerter::from_config(&AlertSettings {
        crm_webhook_url: Secret::from(crm_url.as_str()),
        crm_webhook_secret: Secret::from(CRM_SECRET),
        ..AlertSettings::default()
    })
    .unwrap()
    .unwrap()
    .with_retry(fast_retry());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = rt.spawn(alerter.run(engine.subscribe_alerts(), stopped));
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    engine.mark(id, Mark::Booked, None).unwrap();
    let accepted = wait_for(&crm, 1);
    assert_eq!(accepted.len(), 1);
    let event: serde_json::Value = serde_json::from_slice(&accepted[0].1).unwrap();
    assert_eq!(event["event"], "booked");
    // Nothing more arrives: the delivery is not repeated once accepted.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(crm.accepted.lock().unwrap().len(), 1);
    assert_eq!(crm.hits.load(Ordering::SeqCst), 3);
    let _ = stop.send(true);
    rt.block_on(task).unwrap();
}

#[test]
fn a_receiver_that_never_recovers_is_tried_a_bounded_number_of_times() {
    let rt = runtime();
    let (crm, crm_url) = start_receiver(&rt, usize::MAX);
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let alerter = Alerter::from_config(&AlertSettings {
        crm_webhook_url: Secret::from(crm_url.as_str()),
        crm_webhook_secret: Secret::from(CRM_SECRET),
        ..AlertSettings::default()
    })
    .unwrap()
    .unwrap()
    .with_retry(fast_retry());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = rt.spawn(alerter.run(engine.subscribe_alerts(), stopped));
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    engine.mark(id, Mark::Replied, None).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(crm.hits.load(Ordering::SeqCst), 5);
    assert!(crm.accepted.lock().unwrap().is_empty());
    let _ = stop.send(true);
    rt.block_on(task).unwrap();
}
