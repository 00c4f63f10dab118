//! The worker with the real channel clients: SMTP against a real smtp-sink
//! that is down and then comes up, Twilio SMS and an OpenAI-compatible LLM
//! against fakes on 127.0.0.1 that speak the providers' wire formats.

use std::sync::Arc;

use chrono::Duration;
use nudge::channels::{DryRunTransport, EmailTransport, LlmClient, SmsTransport, Transport};
use nudge::config::{AiSettings, EmailSettings, Secret, SmsSettings};
use nudge::domain::breaker::Health;
use nudge::domain::sequence::Channel;
use nudge::domain::status::Status;
use nudge::domain::touch::TouchState;
use nudge::engine::worker::{Channels, Personaliser, Worker, WorkerOptions};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::smtp_sink::{SmtpSink, free_port};
use crate::worker::{add, engine_on_manual_clock};

const EMAIL_ONLY: &str = r#"
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
body = "Hi {{ first_name }}, the guide: {{ booking_url }} Reply stop to opt out."
ai = true
[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

/// An SMS first, then an email (shared with `worker_health`).
pub(crate) const SMS_FIRST: &str = r#"
name = "test"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "08:00"
end = "21:00"
[[steps]]
id = "text"
delay = "0m"
channel = "sms"
body = "Hi {{ first_name }}, Sam here."
[[steps]]
id = "bye"
delay = "3d"
channel = "email"
subject = "Bye"
body = "Should I stop?"
"#;

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn dry(channel: Channel) -> Arc<dyn Transport> {
    Arc::new(DryRunTransport::new(channel, "test"))
}

pub(crate) fn options() -> WorkerOptions {
    WorkerOptions {
        pace: false,
        message_id_domain: "example.com".into(),
        ..WorkerOptions::default()
    }
}

#[test]
fn smtp_down_then_up_holds_touches_without_spending_attempts_and_delivers() {
    let rt = runtime();
    let port = free_port();
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(format!("smtp://127.0.0.1:{port}?tls=none").as_str()),
        from: "Sam <sam@example.com>".into(),
        ..EmailSettings::default()
    })
    .unwrap();
    let (_dir, clock, engine) = engine_on_manual_clock(EMAIL_ONLY);
    let channels = Channels {
        email: Arc::new(email),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options());
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    let due_at = engine.store().lead(id).unwrap().unwrap().next.unwrap().at;
    // Nothing listens: the channel is down, not the lead.
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Pending, "{touch:?}");
    assert_eq!(touch.attempts, 0, "no attempt spent on a down channel");
    let next = engine.store().lead(id).unwrap().unwrap().next.unwrap();
    assert_eq!(next.at, due_at, "still due as before, in its place");
    let health = engine.status().unwrap().channels;
    let email_health = health.iter().find(|c| c.channel == Channel::Email).unwrap();
    assert!(
        matches!(email_health.health, Health::Down { .. }),
        "{email_health:?}"
    );
    // A lead captured during the outage waits too, with nothing tried.
    let grace = add(&engine, "Grace Hopper", "grace@example.com", None);
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (0, 2), "{report:?}");
    assert!(engine.store().touch(grace, 0).unwrap().is_none());
    let waiting = engine.status().unwrap().channels;
    assert_eq!(
        waiting
            .iter()
            .find(|c| c.channel == Channel::Email)
            .unwrap()
            .waiting,
        2
    );
    // A probe before the server is up fails; none of the touches moves.
    clock.advance(Duration::seconds(5));
    rt.block_on(worker.check_channels());
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (0, 2), "{report:?}");
    // The server comes up; the next probe (10 s later) closes the breaker
    // and both go out, in due order, with one attempt each.
    let sink = SmtpSink::start_on(port);
    clock.advance(Duration::seconds(10));
    rt.block_on(worker.check_channels());
    let report = rt.block_on(worker.run_due()).unwrap();
    assert_eq!((report.sent, report.held), (2, 0), "{report:?}");
    let mail = sink.wait_for_messages(2, std::time::Duration::from_secs(30));
    let mut subjects: Vec<_> = mail.iter().filter_map(|m| m.header("Subject")).collect();
    subjects.sort();
    assert_eq!(subjects, ["Hello Ada", "Hello Grace"]);
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Sent);
    assert_eq!(touch.attempts, 1);
    assert!(
        mail.iter()
            .any(|m| m.header("Message-ID") == touch.message_id)
    );
    let health = engine.status().unwrap().channels;
    assert!(
        health
            .iter()
            .all(|c| matches!(c.health, Health::Live | Health::Dry)),
        "{health:?}"
    );
}

fn twilio(server: &MockServer) -> SmsTransport {
    SmsTransport::new(&SmsSettings {
        account_sid: "AC0123456789abcdef".into(),
        auth_token: Secret::from("tok-s3cret-value"),
        from: "+15005550006".into(),
        base_url: server.uri(),
        ..SmsSettings::default()
    })
    .unwrap()
}

#[test]
fn sms_goes_to_twilio_with_the_opt_out_line() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path(
                "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json",
            ))
            .and(header(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnRvay1zM2NyZXQtdmFsdWU=",
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "sid": "SM0123456789abcdef0123456789abcdef",
                "status": "queued"
            })))
            .expect(1)
            .mount(&server),
    );
    let (_dir, _clock, engine) = engine_on_manual_clock(SMS_FIRST);
    let channels = Channels {
        email: dry(Channel::Email),
        sms: Arc::new(twilio(&server)),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options());
    let id = add(
        &engine,
        "Ada Lovelace",
        "ada@example.com",
        Some("+14155552671"),
    );
    rt.block_on(worker.run_due()).unwrap();
    let requests = rt.block_on(server.received_requests()).unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    assert!(
        form.contains(&("To".into(), "+14155552671".into())),
        "{form:?}"
    );
    assert!(
        form.contains(&("From".into(), "+15005550006".into())),
        "{form:?}"
    );
    assert!(
        form.contains(&(
            "Body".into(),
            "Hi Ada, Sam here. Reply STOP to opt out".into()
        )),
        "{form:?}"
    );
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Sent);
    assert_eq!(
        touch.provider_id.as_deref(),
        Some("SM0123456789abcdef0123456789abcdef")
    );
}

#[test]
fn twilio_unsubscribed_recipient_opts_the_lead_out_everywhere() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "code": 21610,
                "message": "Attempt to send to unsubscribed recipient",
                "more_info": "https://www.twilio.com/docs/errors/21610",
                "status": 400
            })))
            .mount(&server),
    );
    let (_dir, clock, engine) = engine_on_manual_clock(SMS_FIRST);
    let channels = Channels {
        email: dry(Channel::Email),
        sms: Arc::new(twilio(&server)),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options());
    let id = add(
        &engine,
        "Ada Lovelace",
        "ada@example.com",
        Some("+14155552671"),
    );
    rt.block_on(worker.run_due()).unwrap();
    let lead = engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::OptedOut);
    assert!(
        engine
            .store()
            .suppression("+14155552671")
            .unwrap()
            .is_some()
    );
    assert!(
        engine
            .store()
            .suppression("ada@example.com")
            .unwrap()
            .is_some()
    );
    clock.advance(Duration::days(5));
    rt.block_on(worker.run_due()).unwrap();
    assert!(
        engine.store().touch(id, 1).unwrap().is_none(),
        "the email step never happens"
    );
}

fn llm(server: &MockServer) -> LlmClient {
    LlmClient::new(&AiSettings {
        base_url: server.uri(),
        model: "test-model".into(),
        api_key: Secret::from("sk-test-key"),
        timeout_secs: 20,
    })
    .unwrap()
}

fn completion(content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }]
    })
}

fn ai_rig(server: &MockServer) -> (tempfile::TempDir, Arc<nudge::engine::Engine>, Worker) {
    let (dir, _clock, engine) = engine_on_manual_clock(EMAIL_ONLY);
    let channels = Channels {
        email: dry(Channel::Email),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: Some(Arc::new(llm(server)) as Arc<dyn Personaliser>),
    };
    let worker = Worker::new(engine.clone(), channels, options());
    (dir, engine, worker)
}

#[test]
fn ai_rewrite_is_stored_and_sent_when_it_keeps_the_links() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    let rewrite = serde_json::json!({
        "subject": "Hello Ada",
        "body": "Ada, the Analytical Engine crowd loved this guide: https://cal.example.com/sam Reply stop to opt out."
    })
    .to_string();
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/chat/completions"))
            .and(header("authorization", "Bearer sk-test-key"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(&rewrite)))
            .mount(&server),
    );
    let (_dir, engine, worker) = ai_rig(&server);
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.ai_note.as_deref(), Some("personalised"));
    assert!(
        touch.message.body.contains("Analytical Engine crowd"),
        "{}",
        touch.message.body
    );
    let events = engine.store().events(id).unwrap();
    let sent = events.iter().find_map(|e| match &e.kind {
        nudge::domain::event::EventKind::TouchSent { body, .. } => Some(body.clone()),
        _ => None,
    });
    assert_eq!(
        sent.as_deref(),
        Some(touch.message.body.as_str()),
        "the timeline has the words sent"
    );
}

#[test]
fn ai_failure_sends_the_plain_template_and_says_why() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    let dropped_link = serde_json::json!({"subject": "Hello Ada", "body": "Ada, want the guide? Reply stop to opt out."}).to_string();
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(&dropped_link)))
            .mount(&server),
    );
    let (_dir, engine, worker) = ai_rig(&server);
    let id = add(&engine, "Ada Lovelace", "ada@example.com", None);
    rt.block_on(worker.run_due()).unwrap();
    let touch = engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Sent);
    assert!(
        touch
            .message
            .body
            .starts_with("Hi Ada, the guide: https://cal.example.com/sam"),
        "{}",
        touch.message.body
    );
    let note = touch.ai_note.unwrap();
    assert!(note.starts_with("plain template sent:"), "{note}");
    assert!(
        note.contains("https://cal.example.com/sam"),
        "names the part the rewrite lost: {note}"
    );
    assert!(!note.contains("sk-test-key"));
}

const HTML_STEP: &str = r#"
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
body = "Hi {{ first_name }} at {{ company }}, the guide: {{ booking_url }} Reply stop to opt out."
html = true
"#;

#[test]
fn html_steps_send_a_multipart_alternative_with_lead_values_escaped() {
    let rt = runtime();
    let sink = SmtpSink::start();
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(sink.url().as_str()),
        from: "Sam <sam@example.com>".into(),
        ..EmailSettings::default()
    })
    .unwrap();
    let (_dir, _clock, engine) = engine_on_manual_clock(HTML_STEP);
    let channels = Channels {
        email: Arc::new(email),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options());
    engine
        .add(&nudge::domain::lead::LeadInput {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            company: Some("<script>alert(1)</script> & Co".into()),
            source: "test".into(),
            sequence: Some("test".into()),
            ..Default::default()
        })
        .unwrap();
    rt.block_on(worker.run_due()).unwrap();
    let mail = sink.wait_for_messages(1, std::time::Duration::from_secs(30));
    // Undo quoted-printable soft breaks and `=` escapes to read the parts.
    let raw = &mail[0].raw.replace("=\n", "").replace("=3D", "=");
    assert!(
        mail[0]
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{raw}"
    );
    assert!(raw.contains("text/plain"), "{raw}");
    assert!(raw.contains("text/html"), "{raw}");
    assert!(
        raw.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{raw}"
    );
    assert!(
        raw.contains("<a href=\"https://cal.example.com/sam\">"),
        "links are clickable: {raw}"
    );
    assert!(!raw.contains("<script>alert(1)</script> &amp;"), "{raw}");
}
