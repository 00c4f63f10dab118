//! A channel outage never costs a touch, through the real binary: `nudge
//! serve` starts with no SMTP server listening, leads arrive, `serve` is
//! killed with `kill -9` mid-outage and restarted, and only then does a real
//! SMTP server (smtp-sink) come up on the configured port. Every intro
//! arrives exactly once, in capture order, nothing is given up, and the
//! founder hears "down" once and "back" once (a Slack webhook receiver on
//! 127.0.0.1 counts them).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use nudge::domain::event::EventKind;
use nudge::domain::touch::TouchState;
use nudge::store::Store;

use crate::common::Env;
use crate::serve::{Serve, received, wait_for_socket, wait_until_quiet};
use crate::smtp_sink::{SmtpSink, free_port};

const INTRO: &str = r#"name = "intro"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"

[[steps]]
id = "intro"
delay = "0m"
channel = "email"
subject = "A guide for {{ first_name }}"
body = "Hi {{ first_name }}, here is the guide you asked for. Reply stop to opt out."

[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

/// Slack texts received, in order.
type Texts = Arc<Mutex<Vec<String>>>;

async fn slack(State(texts): State<Texts>, body: axum::body::Bytes) -> &'static str {
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = value["text"].as_str().unwrap_or_default().to_string();
    texts.lock().unwrap().push(text);
    "ok"
}

fn start_slack(rt: &tokio::runtime::Runtime) -> (Texts, String) {
    let texts: Texts = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/slack", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/slack", post(slack))
        .with_state(texts.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    (texts, url)
}

/// Waits (bounded) until some Slack text satisfies `pred`.
fn wait_for_text(texts: &Texts, what: &str, pred: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !texts.lock().unwrap().iter().any(|t| pred(t)) {
        assert!(
            Instant::now() < deadline,
            "no {what} alert; got {:?}",
            texts.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_smtp_outage_with_a_kill_9_costs_no_touch_and_alerts_down_and_back_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (texts, slack_url) = start_slack(&rt);
    let port = free_port();
    let env = Env::new();
    env.write_config(&format!(
        r#"[email]
smtp_url = "smtp://127.0.0.1:{port}?tls=none"
from = "Sam Seller <sam@example.com>"
postal_address = "Acme Tools, 1 Main St, Springfield"

[engine]
concurrency = 1
retry_base_secs = 1
max_attempts = 3

[alerts]
slack_webhook_url = "{slack_url}"

[server]
listen = ""
"#
    ));
    env.write_sequence("intro.toml", INTRO);
    // Fifteen leads are waiting when serve starts…
    let mut csv = String::from("name,email\n");
    for i in 0..15 {
        csv.push_str(&format!("Lead{i:02} Test,lead{i:02}@example.com\n"));
    }
    let file = env.write_file("leads.csv", csv);
    env.ok(&["import", file.to_str().unwrap(), "--sequence", "intro"]);
    let serve = Serve::start(&env);
    wait_for_text(&texts, "down", |t| t.contains("email is down"));
    wait_for_socket(&env);
    // …and five more arrive during the outage, through the running serve.
    for i in 15..20 {
        env.add(&[
            "--name",
            &format!("Lead{i:02} Test"),
            "--email",
            &format!("lead{i:02}@example.com"),
            "--sequence",
            "intro",
        ]);
    }
    // `nudge status` shows it (bounded wait for the worker's next pass).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = env.ok(&["status"]);
        if status.contains("email: down since") && status.contains("20 touches waiting") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Far more than max_attempts × retry_base_secs passes; nothing is
    // given up. Then a kill -9 mid-outage, and a restart.
    std::thread::sleep(Duration::from_secs(8));
    serve.kill9();
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    std::thread::sleep(Duration::from_secs(2));
    // The SMTP server comes up at last.
    let sink = SmtpSink::start_on(port);
    wait_until_quiet(&sink, 20);
    wait_for_text(&texts, "back", |t| t.contains("email is back"));
    serve.stop();

    // Every intro exactly once, counted by Message-ID at the server.
    let counts = received(&sink);
    assert_eq!(counts.len(), 20, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // Nothing given up, nothing in doubt: each intro sent on its first
    // counted attempt.
    // (File times at the server are too coarse to order messages sent a
    // millisecond apart; nudge's own record of each send is not.)
    let store = Store::open(&env.data_dir(), 1 << 20).unwrap();
    let mut leads: Vec<_> = store.iter_leads().map(Result::unwrap).collect();
    leads.sort_by_key(|l| l.id);
    let mut sent_at = Vec::new();
    for lead in &leads {
        let intro = store.touch(lead.id, 0).unwrap().unwrap();
        assert_eq!(
            (intro.state, intro.attempts),
            (TouchState::Sent, 1),
            "{intro:?}"
        );
        let events = store.events(lead.id).unwrap();
        let failed = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::TouchFailed { .. }));
        assert!(!failed, "no failure counted against {}", lead.name);
        sent_at.extend(
            events
                .iter()
                .find(|e| matches!(e.kind, EventKind::TouchSent { .. }))
                .map(|e| e.at),
        );
    }
    assert_eq!(leads.len(), 20);
    assert_eq!(sent_at.len(), 20);
    assert!(
        sent_at.windows(2).all(|w| w[0] <= w[1]),
        "sent in capture order: {sent_at:?}"
    );
    // One "down", one "back", whatever the kill did.
    let texts = texts.lock().unwrap().clone();
    let count = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    assert_eq!(count("email is down"), 1, "{texts:?}");
    assert_eq!(count("email is back"), 1, "{texts:?}");
}
