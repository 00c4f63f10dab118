//! The inbound HTTP server on a real socket (127.0.0.1, a free port), driven
//! by a real HTTP client: intake, one-click unsubscribe, the Twilio SMS
//! webhook (signed as Twilio signs), and arbitrary bytes that must never
//! produce a 5xx or store anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use nudge::config::Secret;
use nudge::domain::links;
use nudge::domain::status::Status;
use nudge::engine::Engine;
use nudge::inbound::{Inbound, launch, twilio_signature};
use proptest::prelude::*;
use reqwest::StatusCode;

use crate::worker::{add, engine_on_manual_clock};

const SEQUENCE: &str = r#"
name = "test"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Hi. Reply stop to opt out."
"#;

const TOKEN: &str = "intake-token-123";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const PUBLIC: &str = "https://nudge.example.com";

struct Server {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    base: String,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn server() -> Server {
    let (dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut sources = BTreeMap::new();
    sources.insert(
        "webflow".to_string(),
        BTreeMap::from([("email".to_string(), "Your Work Address".to_string())]),
    );
    let state = Arc::new(Inbound {
        engine: engine.clone(),
        intake_token: Secret::from(TOKEN),
        link_secret: Secret::from("link-secret"),
        twilio_auth_token: Secret::from(TWILIO_TOKEN),
        cal_secret: Secret::default(),
        calendly_signing_key: Secret::default(),
        public_url: PUBLIC.into(),
        sources,
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
        engine,
        base,
        rt,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

impl Server {
    fn post_json(
        &self,
        path: &str,
        body: serde_json::Value,
        idempotency: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body);
        if let Some(key) = idempotency {
            request = request.header("Idempotency-Key", key);
        }
        self.rt.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json().await.unwrap_or(serde_json::Value::Null),
            )
        })
    }

    fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>, auth: bool) -> StatusCode {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if auth {
            request = request.bearer_auth(TOKEN);
        }
        self.rt
            .block_on(async { request.send().await.unwrap().status() })
    }

    fn leads(&self) -> usize {
        self.engine.store().lead_count()
    }

    fn sms(&self, from: &str, body: &str, sign: bool) -> (StatusCode, String) {
        let params: Vec<(String, String)> = vec![
            (
                "MessageSid".into(),
                "SM0123456789abcdef0123456789abcdef".into(),
            ),
            ("From".into(), from.into()),
            ("To".into(), "+15005550006".into()),
            ("Body".into(), body.into()),
        ];
        let signature = if sign {
            twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}/hooks/twilio/sms"), &params)
        } else {
            "bm90IGEgc2lnbmF0dXJl".into()
        };
        let request = self
            .client
            .post(format!("{}/hooks/twilio/sms", self.base))
            .header("X-Twilio-Signature", signature)
            .form(&params);
        self.rt.block_on(async {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
    }
}

#[test]
fn json_intake_creates_a_durable_lead_and_schedules_the_first_touch() {
    let s = server();
    let (status, body) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "Ada Lovelace", "email": "Ada@Example.com", "company": "Engines", "budget": 5000}),
        None,
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.email.as_deref(), Some("ada@example.com"));
    assert_eq!(lead.source, "api");
    assert_eq!(lead.fields.get("budget").map(String::as_str), Some("5000"));
    assert!(lead.next.is_some(), "the first touch is scheduled at once");
}

#[test]
fn form_posts_work_with_a_query_token_and_a_source_mapping() {
    let s = server();
    let status = s.rt.block_on(async {
        s.client
            .post(format!("{}/api/leads?source=webflow&token={TOKEN}", s.base))
            .form(&[
                ("Full Name", "Grace Hopper"),
                ("Your Work Address", "grace@example.com"),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::CREATED);
    let id = s
        .engine
        .store()
        .lead_by_contact("grace@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().source,
        "webflow"
    );
}

#[test]
fn a_retried_post_creates_one_lead() {
    let s = server();
    let body = serde_json::json!({"name": "Ada", "email": "ada@example.com"});
    let (first, a) = s.post_json("/api/leads", body.clone(), Some("form-42"));
    let (second, b) = s.post_json("/api/leads", body, Some("form-42"));
    assert_eq!(first, StatusCode::CREATED);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(a["id"], b["id"]);
    assert_eq!(b["duplicate"], true);
    assert_eq!(s.leads(), 1);
    // The same contact without a key is a duplicate too: same id, 200.
    let (third, c) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "Ada L", "email": "ADA@example.com"}),
        None,
    );
    assert_eq!(third, StatusCode::OK);
    assert_eq!(c["id"], a["id"]);
}

#[test]
fn bad_fields_are_each_named_and_nothing_is_stored() {
    let s = server();
    let (status, body) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "", "email": "not-an-email", "phone": "12", "tz": "Mars/Olympus"}),
        None,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = body["errors"].as_object().unwrap();
    for field in ["name", "email", "phone", "tz"] {
        assert!(errors.contains_key(field), "{field} named: {body}");
    }
    assert!(errors["email"].as_str().unwrap().contains("not-an-email"));
    assert_eq!(s.leads(), 0);
}

#[test]
fn a_bad_phone_next_to_a_good_email_is_a_warning_and_a_country_reads_it() {
    let s = server();
    let (status, body) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "Kim Min-jun", "email": "kim@example.kr", "phone": "010-1234-5678"}),
        None,
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("invalid phone `010-1234-5678`")),
        "{body}"
    );
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.phone, None);
    assert_eq!(lead.fields["phone_raw"], "010-1234-5678");
    let (status, body) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "Lee", "email": "lee@example.kr", "phone": "010-2345-6789", "country": "South Korea"}),
        None,
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("warnings").is_none(), "{body}");
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.phone.as_deref(), Some("+821023456789"));
}

#[test]
fn auth_size_and_type_are_enforced() {
    let s = server();
    let json = br#"{"name":"Ada","email":"ada@example.com"}"#.to_vec();
    assert_eq!(
        s.post_raw("/api/leads", "application/json", json.clone(), false),
        StatusCode::UNAUTHORIZED
    );
    let wrong = s.rt.block_on(async {
        s.client
            .post(format!("{}/api/leads", s.base))
            .bearer_auth("intake-token-124")
            .json(&serde_json::json!({"name": "Ada", "email": "ada@example.com"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    let big = format!(
        r#"{{"name":"Ada","email":"ada@example.com","notes":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_eq!(
        s.post_raw("/api/leads", "application/json", big.into_bytes(), true),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        s.post_raw("/api/leads", "text/plain", json, true),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(s.leads(), 0);
}

#[test]
fn a_suppressed_contact_gets_409() {
    let s = server();
    let id = add(&s.engine, "Ada", "ada@example.com", None);
    s.engine.erase(id).unwrap();
    let (status, _) = s.post_json(
        "/api/leads",
        serde_json::json!({"name": "Ada", "email": "ada@example.com"}),
        None,
    );
    assert_eq!(status, StatusCode::CONFLICT);
}

#[test]
fn one_click_unsubscribe_opts_out_and_suppresses() {
    let s = server();
    let id = add(&s.engine, "Ada", "ada@example.com", Some("+14155552671"));
    let token = links::sign(b"link-secret", "unsubscribe", id);
    let page = s.rt.block_on(async {
        let r = s
            .client
            .get(format!("{}/u/{token}", s.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert_eq!(page.0, StatusCode::OK);
    assert!(page.1.contains("List-Unsubscribe"), "{}", page.1);
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::Active,
        "GET alone changes nothing (link scanners follow GETs)"
    );
    let status = s.post_raw(
        &format!("/u/{token}"),
        "application/x-www-form-urlencoded",
        b"List-Unsubscribe=One-Click".to_vec(),
        false,
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::OptedOut
    );
    assert!(
        s.engine
            .store()
            .suppression("ada@example.com")
            .unwrap()
            .is_some()
    );
    // Idempotent, and forged tokens go nowhere.
    let again = s.post_raw(
        &format!("/u/{token}"),
        "application/x-www-form-urlencoded",
        b"List-Unsubscribe=One-Click".to_vec(),
        false,
    );
    assert_eq!(again, StatusCode::OK);
    let forged = links::sign(b"other-secret", "unsubscribe", id);
    let status = s.post_raw(
        &format!("/u/{forged}"),
        "application/x-www-form-urlencoded",
        b"List-Unsubscribe=One-Click".to_vec(),
        false,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn sms_stop_opts_out_with_one_confirmation_and_start_resubscribes() {
    let s = server();
    let id = add(&s.engine, "Ada", "ada@example.com", Some("+14155552671"));
    let (status, twiml) = s.sms("+14155552671", "  stop ", true);
    assert_eq!(status, StatusCode::OK);
    assert!(
        twiml.contains("<Message>You have been unsubscribed"),
        "{twiml}"
    );
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::OptedOut
    );
    assert!(
        s.engine
            .store()
            .suppression("+14155552671")
            .unwrap()
            .is_some()
    );
    let (_, twiml) = s.sms("+14155552671", "START", true);
    assert!(twiml.contains("resubscribed"), "{twiml}");
    assert!(
        s.engine
            .store()
            .suppression("+14155552671")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::Paused
    );
}

#[test]
fn sms_stop_from_an_unknown_number_is_still_suppressed() {
    let s = server();
    let (status, _) = s.sms("+14155550000", "UNSUBSCRIBE", true);
    assert_eq!(status, StatusCode::OK);
    assert!(
        s.engine
            .store()
            .suppression("+14155550000")
            .unwrap()
            .is_some()
    );
}

#[test]
fn sms_help_and_replies() {
    let s = server();
    let id = add(&s.engine, "Ada", "ada@example.com", Some("+14155552671"));
    let (_, twiml) = s.sms("+14155552671", "help", true);
    assert!(twiml.contains("Reply STOP to opt out"), "{twiml}");
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::Active
    );
    let (status, twiml) = s.sms("+14155552671", "Sounds good, call me Tuesday", true);
    assert_eq!(status, StatusCode::OK);
    assert!(
        !twiml.contains("<Message>"),
        "no auto-answer to a real reply: {twiml}"
    );
    let lead = s.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Replied);
    let events = s.engine.store().events(id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind.describe().contains("call me Tuesday"))
    );
}

#[test]
fn unsigned_or_forged_sms_is_refused_and_changes_nothing() {
    let s = server();
    let id = add(&s.engine, "Ada", "ada@example.com", Some("+14155552671"));
    let (status, _) = s.sms("+14155552671", "STOP", false);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.engine.store().lead(id).unwrap().unwrap().status,
        Status::Active
    );
    assert!(
        s.engine
            .store()
            .suppression("+14155552671")
            .unwrap()
            .is_none()
    );
}

#[test]
fn healthz_answers() {
    let s = server();
    let status = s.rt.block_on(async {
        s.client
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::OK);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever arrives, intake answers 4xx (or 2xx for a valid lead), never
    /// 5xx; anything refused stores nothing.
    #[test]
    fn arbitrary_intake_bodies_never_500(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        json in any::<bool>(),
    ) {
        let s = SHARED.with(|s| s.clone());
        let before = s.leads();
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        let status = s.post_raw("/api/leads", content_type, body, true);
        prop_assert!(!status.is_server_error(), "{status}");
        if !status.is_success() {
            prop_assert_eq!(s.leads(), before);
        }
    }
}

thread_local! {
    static SHARED: Arc<Server> = Arc::new(server());
}
