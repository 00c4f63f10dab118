use super::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-0123456789";
const BOOKING: &str = "https://cal.example.com/sam/intro";
const UNSUB: &str = "https://nudge.example.com/u/abc123";

fn client(server: &MockServer) -> LlmClient {
    LlmClient::new(&AiSettings {
        base_url: format!("{}/v1/", server.uri()),
        model: "test-model".into(),
        api_key: Secret::from(KEY),
        timeout_secs: 20,
    })
    .unwrap()
}

fn brief() -> Brief {
    Brief {
        voice: "Friendly, direct, no fluff".into(),
        offer: "A 20-minute demo of Acme Scheduler".into(),
    }
}

fn facts() -> Vec<(String, String)> {
    vec![
        ("company".into(), "Example Co".into()),
        ("fields.team_size".into(), "12".into()),
    ]
}

fn email() -> Message {
    Message {
        subject: Some("Scheduling at Example Co".into()),
        body: format!(
            "Hi Alex,\n\nWant to see how teams like yours save an hour a day? Pick a time: {BOOKING}\n\nSam\n\n--\nAcme Inc, 1 Main St, Springfield\nUnsubscribe: {UNSUB}"
        ),
    }
}

fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    }))
}

fn rewrite_json(subject: &str, body: &str) -> String {
    serde_json::json!({"subject": subject, "body": body}).to_string()
}

async fn server_answering(content: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion(content))
        .mount(&server)
        .await;
    server
}

async fn personalise(
    server: &MockServer,
    message: &Message,
    channel: Channel,
) -> Result<Message, AiError> {
    client(server)
        .personalise(&brief(), &facts(), message, channel, &[BOOKING.to_string()])
        .await
}

#[tokio::test]
async fn a_good_rewrite_keeps_links_and_the_footer_verbatim() {
    let server = MockServer::start().await;
    let new_body = format!(
        "Hi Alex,\n\nWith 12 people at Example Co, shared calendars get messy fast. Happy to show you a fix in 20 minutes: {BOOKING}\n\nSam"
    );
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(completion(&format!(
            "```json\n{}\n```",
            rewrite_json("A calmer calendar for Example Co", &new_body)
        )))
        .expect(1)
        .mount(&server)
        .await;
    let out = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap();
    assert_eq!(
        out.subject.as_deref(),
        Some("A calmer calendar for Example Co")
    );
    assert_eq!(
        out.body,
        format!("{new_body}\n\n--\nAcme Inc, 1 Main St, Springfield\nUnsubscribe: {UNSUB}")
    );

    let request = &server.received_requests().await.unwrap()[0];
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent["model"], "test-model");
    assert_eq!(sent["temperature"], TEMPERATURE);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["role"], "user");
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Friendly, direct, no fluff"), "{system}");
    assert!(
        system.contains("A 20-minute demo of Acme Scheduler"),
        "{system}"
    );
    assert!(system.contains("just checking in"), "{system}");
    let user = sent["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("- company: Example Co"), "{user}");
    assert!(user.contains(BOOKING), "{user}");
    // The footer is never shown to the model.
    assert!(
        !user.contains("Springfield") && !user.contains(UNSUB),
        "{user}"
    );
}

#[tokio::test]
async fn dropping_the_booking_link_is_refused() {
    let server = server_answering(&rewrite_json(
        "Quick idea for Example Co",
        "Hi Alex, reply and I'll send times. Sam",
    ))
    .await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert_eq!(err, AiError::MissingRequired(BOOKING.into()));
}

#[tokio::test]
async fn a_new_link_is_refused() {
    let server = server_answering(&rewrite_json(
        "Quick idea",
        &format!("Hi Alex, see https://evil.example.net/x and book: {BOOKING}"),
    ))
    .await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AiError::UnexpectedLink("https://evil.example.net/x".into())
    );
}

#[tokio::test]
async fn nagging_phrases_are_refused() {
    let server = server_answering(&rewrite_json(
        "Hi",
        &format!("Hi Alex, just checking in! Book here: {BOOKING}"),
    ))
    .await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert_eq!(err, AiError::Spammy("just checking in".into()));
}

#[tokio::test]
async fn over_long_output_is_refused() {
    let long = format!("{} {BOOKING}", "Lots of words here. ".repeat(40));
    let server = server_answering(&rewrite_json("Hi", &long)).await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AiError::TooLong {
                unit: "characters",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_sms_stays_in_one_segment_and_keeps_its_opt_out() {
    let sms = Message {
        subject: None,
        body: format!("Hi Alex, 20 min to see Acme? {BOOKING} {SMS_OPT_OUT}"),
    };
    // Curly quotes are straightened; the opt-out line comes back verbatim.
    let server = server_answering(&rewrite_json(
        "ignored",
        &format!("Alex \u{2013} Example Co\u{2019}s team could save hours. Demo? {BOOKING}"),
    ))
    .await;
    let out = personalise(&server, &sms, Channel::Sms).await.unwrap();
    assert_eq!(
        out.body,
        format!("Alex - Example Co's team could save hours. Demo? {BOOKING} {SMS_OPT_OUT}")
    );
    assert_eq!(out.subject, None);

    let long = format!("Alex, {} {BOOKING}", "more words ".repeat(12));
    let server = server_answering(&rewrite_json("", &long)).await;
    let err = personalise(&server, &sms, Channel::Sms).await.unwrap_err();
    assert!(
        matches!(
            err,
            AiError::TooLong {
                limit: 160,
                unit: "GSM-7 characters",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_reply_subject_is_kept_for_threading() {
    let mut follow_up = email();
    follow_up.subject = Some("Re: Scheduling at Example Co".into());
    let server = server_answering(&rewrite_json(
        "Something new",
        &format!("Alex, a thought for Example Co: {BOOKING}"),
    ))
    .await;
    let out = personalise(&server, &follow_up, Channel::Email)
        .await
        .unwrap();
    assert_eq!(out.subject.as_deref(), Some("Re: Scheduling at Example Co"));
}

#[tokio::test]
async fn http_errors_carry_the_provider_message_but_never_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {
                "message": format!("Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        })))
        .mount(&server)
        .await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    let AiError::Http { status, message } = &err else {
        panic!("expected an HTTP error, got {err:?}");
    };
    assert_eq!(*status, 401);
    assert!(
        message.starts_with("Incorrect API key provided"),
        "{message}"
    );
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?} {:?}", client(&server)).contains(KEY));
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(completion("{}").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let err = client(&server)
        .with_timeout(Duration::from_millis(300))
        .personalise(&brief(), &facts(), &email(), Channel::Email, &[])
        .await
        .unwrap_err();
    assert_eq!(err, AiError::Timeout(Duration::from_millis(300)));
}

#[tokio::test]
async fn malformed_responses_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"choices\": [oops"))
        .mount(&server)
        .await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert!(matches!(err, AiError::BadResponse(_)), "{err:?}");

    let server = server_answering("Sure! Here is a friendlier version: Hi Alex...").await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert!(matches!(err, AiError::BadOutput(_)), "{err:?}");

    let server = server_answering("{\"subject\": \"Hi\", \"body\": \"unterminated}").await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert!(matches!(err, AiError::BadOutput(_)), "{err:?}");

    let server = server_answering("   ").await;
    let err = personalise(&server, &email(), Channel::Email)
        .await
        .unwrap_err();
    assert_eq!(err, AiError::Empty);
}

#[tokio::test]
async fn no_key_means_no_authorization_header() {
    let server = server_answering(&rewrite_json("Hi", &format!("Hi Alex: {BOOKING}"))).await;
    let local = LlmClient::new(&AiSettings {
        base_url: format!("{}/v1", server.uri()),
        model: "llama3.1".into(),
        ..AiSettings::default()
    })
    .unwrap();
    local
        .personalise(&brief(), &[], &email(), Channel::Email, &[])
        .await
        .unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    assert!(request.headers.get("authorization").is_none());
}

#[test]
fn required_parts_finds_every_link_once() {
    let m = Message {
        subject: Some("See https://a.example.com/x".into()),
        body: "Book (https://cal.example.com/s/intro). Or mail <mailto:sam@example.com>, \
               again https://a.example.com/x, and https://w.example.org/wiki/A_(b)."
            .into(),
    };
    assert_eq!(
        required_parts(&m),
        vec![
            "https://a.example.com/x",
            "https://cal.example.com/s/intro",
            "mailto:sam@example.com",
            "https://w.example.org/wiki/A_(b)",
        ]
    );
    let plain = Message {
        subject: None,
        body: "no links, just http:// and xhttps://nope".into(),
    };
    assert!(required_parts(&plain).is_empty());
}

#[test]
fn settings_are_validated_without_leaking_the_key() {
    let err = LlmClient::new(&AiSettings {
        base_url: "localhost:11434".into(),
        model: "m".into(),
        api_key: Secret::from(KEY),
        timeout_secs: 20,
    })
    .unwrap_err();
    assert!(err.to_string().contains("base_url"), "{err}");
    assert!(!err.to_string().contains(KEY));
}
