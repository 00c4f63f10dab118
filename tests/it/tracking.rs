//! Open and click tracking end to end: the worker sends through a real
//! smtp-sink with tracking on, the test reads the delivered message, then
//! follows its links and loads its pixel on the real HTTP server.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use nudge::channels::{DryRunTransport, EmailTransport};
use nudge::config::{EmailSettings, Secret};
use nudge::domain::event::EventKind;
use nudge::domain::lead::LeadId;
use nudge::domain::links::{LinkRef, sign_link};
use nudge::domain::sequence::Channel;
use nudge::engine::Engine;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::inbound::{Inbound, launch};
use reqwest::StatusCode;

use crate::smtp_sink::SmtpSink;
use crate::worker::{add, engine_on_manual_clock};

const SECRET: &str = "link-secret";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

const TRACKED: &str = r#"
name = "test"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"
[rules]
clicked = "pull-earlier"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}, the guide: {{ booking_url }}\nAnd the docs: https://docs.example.com/start?a=1&b=2.\nWrite to mailto:sam@example.com"
html = true
[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

struct Rig {
    _dir: tempfile::TempDir,
    clock: Arc<nudge::clock::ManualClock>,
    engine: Arc<Engine>,
    rt: tokio::runtime::Runtime,
    base: String,
    client: reqwest::Client,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Rig {
    fn get(&self, path_or_url: &str, agent: Option<&str>) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut request = self.client.get(url);
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        self.rt.block_on(request.send()).unwrap()
    }

    fn events(&self, id: LeadId) -> Vec<EventKind> {
        self.engine
            .store()
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn rig() -> Rig {
    let (dir, clock, engine) = engine_on_manual_clock(TRACKED);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Inbound {
        engine: engine.clone(),
        intake_token: Secret::default(),
        link_secret: Secret::from(SECRET),
        twilio_auth_token: Secret::default(),
        cal_secret: Secret::default(),
        calendly_signing_key: Secret::default(),
        public_url: base.clone(),
        sources: BTreeMap::new(),
        prefetch_window: Duration::seconds(10),
        limits: nudge::inbound::IntakeLimits::off(),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    rt.spawn(launch(listener, state, stopped));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("")
        .build()
        .unwrap();
    Rig {
        _dir: dir,
        clock,
        engine,
        rt,
        base,
        client,
        _stop: stop,
    }
}

/// Sends the lead's first email through a real smtp-sink and returns the
/// delivered text and HTML parts.
fn send_first_email(rig: &Rig, tracking: bool) -> (String, String) {
    let _inside = rig.rt.enter();
    let sink = SmtpSink::start();
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
    let options = WorkerOptions {
        pace: false,
        message_id_domain: "example.com".into(),
        unsubscribe: Some((rig.base.clone(), SECRET.as_bytes().to_vec())),
        tracking,
        ..WorkerOptions::default()
    };
    let worker = Worker::new(rig.engine.clone(), channels, options);
    let report = rig.rt.block_on(worker.run_due()).unwrap();
    assert_eq!(report.sent, 1);
    let mail = sink.wait_for_messages(1, std::time::Duration::from_secs(30));
    let parsed = mail_parser::MessageParser::default()
        .parse(mail[0].raw.as_bytes())
        .expect("a parsable message");
    let text = parsed.body_text(0).unwrap_or_default().into_owned();
    let html = parsed.body_html(0).unwrap_or_default().into_owned();
    (text, html)
}

/// Every `{base}{prefix}TOKEN` in `text`, in order.
fn urls_with(text: &str, base: &str, prefix: &str) -> Vec<String> {
    let start = format!("{base}{prefix}");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&start) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"<>".contains(c))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',']).to_string();
        if !out.contains(&url) {
            out.push(url);
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn sent_links_redirect_only_to_their_targets_and_opens_and_clicks_are_recorded() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    let (text, html) = send_first_email(&rig, true);

    // The text part: both links rewritten, unsubscribe and mailto untouched.
    let clicks = urls_with(&text, &rig.base, "/c/");
    assert_eq!(clicks.len(), 2, "{text}");
    assert!(!text.contains("https://cal.example.com/sam"), "{text}");
    assert!(!text.contains("https://docs.example.com"), "{text}");
    assert!(text.contains("mailto:sam@example.com"), "{text}");
    assert_eq!(urls_with(&text, &rig.base, "/u/").len(), 1, "{text}");
    // The HTML part: the same redirects as hrefs, the originals as the
    // visible text, the unsubscribe link untouched, and the pixel.
    assert_eq!(urls_with(&html, &rig.base, "/c/"), clicks, "{html}");
    assert!(html.contains(">https://cal.example.com/sam</a>"), "{html}");
    assert_eq!(urls_with(&html, &rig.base, "/u/").len(), 1, "{html}");
    let pixels = urls_with(&html, &rig.base, "/o/");
    assert_eq!(pixels.len(), 1, "{html}");
    assert!(pixels[0].ends_with(".gif"), "{html}");
    // The originals are stored on the touch before the send.
    let touch = rig.engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(
        touch.links,
        vec![
            "https://cal.example.com/sam",
            "https://docs.example.com/start?a=1&b=2"
        ]
    );

    // A browser click seconds after the send is a scanner: redirected, but
    // recorded as prefetched and no rule fires.
    let response = rig.get(&clicks[0], Some(BROWSER));
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "https://cal.example.com/sam"
    );
    assert!(matches!(
        rig.events(id).last(),
        Some(EventKind::Prefetched { signal, .. }) if signal == "clicked"
    ));

    rig.clock.advance(Duration::minutes(5));
    // Apple's privacy proxy loads the pixel: recorded, not an open.
    let response = rig.get(&pixels[0], Some("Mozilla/5.0"));
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        rig.events(id).last(),
        Some(EventKind::Prefetched { reason, .. }) if reason.contains("Apple")
    ));
    // A person opens, then clicks the second link.
    let response = rig.get(&pixels[0], Some(BROWSER));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let body = rig.rt.block_on(response.bytes()).unwrap();
    assert!(body.starts_with(b"GIF89a"));
    let response = rig.get(&clicks[1], Some(BROWSER));
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "https://docs.example.com/start?a=1&b=2"
    );
    let events = rig.events(id);
    assert!(events.contains(&EventKind::Opened), "{events:?}");
    assert!(
        events.contains(&EventKind::Clicked {
            url: Some("https://docs.example.com/start?a=1&b=2".into())
        }),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EventKind::Prefetched { .. }))
            .count(),
        2
    );
    // The click rule fired: the next touch was pulled earlier.
    assert!(
        events.iter().any(
            |e| matches!(e, EventKind::Note { text } if text.contains("pulled earlier by a click"))
        ),
        "{events:?}"
    );

    // Forged, swapped, out-of-range and malformed tokens are all 404.
    let token = clicks[0].rsplit('/').next().unwrap();
    let mut forged: Vec<char> = token.chars().collect();
    forged[3] = if forged[3] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let before = rig.events(id).len();
    for path in [
        format!("/c/{forged}"),
        format!("/o/{forged}.gif"),
        format!("/o/{token}.gif"),
        format!(
            "/o/{}",
            pixels[0]
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".gif")
        ),
        "/c/not-a-token".to_string(),
        "/o/x.gif".to_string(),
    ] {
        let status = rig.get(&path, Some(BROWSER)).status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let beyond = sign_link(
        SECRET.as_bytes(),
        "click",
        LinkRef {
            lead: id,
            step: 0,
            index: 2,
        },
    );
    let status = rig.get(&format!("/c/{beyond}"), Some(BROWSER)).status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unsent = sign_link(
        SECRET.as_bytes(),
        "click",
        LinkRef {
            lead: id,
            step: 1,
            index: 0,
        },
    );
    let status = rig.get(&format!("/c/{unsent}"), Some(BROWSER)).status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(rig.events(id).len(), before, "404s record nothing");
}

#[test]
fn without_tracking_links_and_html_are_left_alone() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    let (text, html) = send_first_email(&rig, false);
    assert!(text.contains("https://cal.example.com/sam"), "{text}");
    assert!(urls_with(&text, &rig.base, "/c/").is_empty(), "{text}");
    assert!(
        html.contains("<a href=\"https://cal.example.com/sam\">"),
        "{html}"
    );
    assert!(urls_with(&html, &rig.base, "/o/").is_empty(), "{html}");
    assert!(
        rig.engine
            .store()
            .touch(id, 0)
            .unwrap()
            .unwrap()
            .links
            .is_empty()
    );
}
