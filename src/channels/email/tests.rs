use super::*;
use crate::channels::smtp_sink::{SmtpSink, free_port};
use crate::channels::test_helpers::sample_touch;
use crate::clock::ManualClock;
use crate::domain::sequence::Channel;
use chrono::TimeZone;

const PASSWORD: &str = "hunter2-S3cret";
/// Generous: only a broken test waits this long.
const DELIVERY: Duration = Duration::from_secs(20);

fn settings(smtp_url: &str) -> EmailSettings {
    EmailSettings {
        smtp_url: Secret::from(smtp_url),
        from: "Sam Founder <sam@example.com>".into(),
        reply_to: Some("replies@example.com".into()),
        postal_address: "Acme Inc, 1 Main St, Springfield".into(),
        daily_cap: 0,
        allow_plain: false,
        ..EmailSettings::default()
    }
}

fn transport(smtp_url: &str) -> EmailTransport {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap());
    EmailTransport::new(&settings(smtp_url))
        .unwrap()
        .with_clock(Arc::new(clock))
}

fn follow_up() -> Outgoing {
    let mut t = sample_touch(
        Channel::Email,
        "alex@example.com",
        "Hi Alex,\n\nOne idea for Example Co: book 20 minutes at https://cal.example.com/sam.\n\nSam\n\n--\nAcme Inc, 1 Main St, Springfield\nUnsubscribe: https://nudge.example.com/u/tok123",
    );
    t.subject = Some("Re: Scheduling at Example Co".into());
    t.message_id = Some("<01J00000000000000000000000.s2@nudge.example.com>".into());
    t.in_reply_to = Some("<01J00000000000000000000000.s1@nudge.example.com>".into());
    t.references = vec![
        "<01J00000000000000000000000.s0@nudge.example.com>".into(),
        "<01J00000000000000000000000.s1@nudge.example.com>".into(),
    ];
    t.list_unsubscribe = vec![
        "https://nudge.example.com/u/tok123".into(),
        "mailto:unsubscribe@example.com?subject=unsubscribe".into(),
    ];
    t
}

#[tokio::test]
async fn delivers_threading_and_unsubscribe_headers_to_a_real_smtp_server() {
    let sink = SmtpSink::start();
    let t = transport(&sink.url());
    let receipt = t.send(&follow_up()).await.unwrap();
    assert!(!receipt.dry_run);
    let mail = sink.wait_for_messages(1, DELIVERY);
    let m = &mail[0];
    let h = |name: &str| {
        m.header(name)
            .unwrap_or_else(|| panic!("no {name} in\n{}", m.raw))
    };
    assert_eq!(h("X-Mail-Args"), "<sam@example.com>");
    assert_eq!(h("X-Rcpt-Args"), "<alex@example.com>");
    assert_eq!(h("From"), "\"Sam Founder\" <sam@example.com>");
    assert_eq!(h("To"), "\"Alex Rivera\" <alex@example.com>");
    assert_eq!(h("Reply-To"), "replies@example.com");
    assert_eq!(h("Subject"), "Re: Scheduling at Example Co");
    assert_eq!(h("Date"), "Mon, 02 Mar 2026 09:30:00 +0000");
    assert_eq!(
        h("Message-ID"),
        "<01J00000000000000000000000.s2@nudge.example.com>"
    );
    assert_eq!(
        h("In-Reply-To"),
        "<01J00000000000000000000000.s1@nudge.example.com>"
    );
    assert_eq!(
        h("References"),
        "<01J00000000000000000000000.s0@nudge.example.com> <01J00000000000000000000000.s1@nudge.example.com>"
    );
    assert_eq!(
        h("List-Unsubscribe"),
        "<https://nudge.example.com/u/tok123>, <mailto:unsubscribe@example.com?subject=unsubscribe>"
    );
    assert_eq!(h("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    assert_eq!(h("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(m.body(), follow_up().body);
}

#[tokio::test]
async fn a_first_email_has_no_threading_and_mailto_only_has_no_one_click() {
    let sink = SmtpSink::start();
    let t = transport(&sink.url());
    let mut first = follow_up();
    first.subject = Some("Scheduling at Example Co".into());
    first.in_reply_to = None;
    first.references = vec![];
    first.list_unsubscribe = vec!["mailto:unsubscribe@example.com".into()];
    t.send(&first).await.unwrap();
    // A second message on the same transport reuses the pooled connection.
    let mut second = follow_up();
    second.message_id = Some("<second@nudge.example.com>".into());
    t.send(&second).await.unwrap();
    let mail = sink.wait_for_messages(2, DELIVERY);
    let first_mail = mail
        .iter()
        .find(|m| m.header("Subject").as_deref() == Some("Scheduling at Example Co"))
        .expect("first message");
    assert_eq!(first_mail.header("In-Reply-To"), None);
    assert_eq!(first_mail.header("References"), None);
    assert_eq!(
        first_mail.header("List-Unsubscribe").as_deref(),
        Some("<mailto:unsubscribe@example.com>")
    );
    assert_eq!(first_mail.header("List-Unsubscribe-Post"), None);
    assert!(
        mail.iter()
            .any(|m| m.header("Message-ID").as_deref() == Some("<second@nudge.example.com>"))
    );
}

#[tokio::test]
async fn a_drop_after_the_final_dot_is_in_doubt() {
    let sink = SmtpSink::start_with(&["-q", "."]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
    // And rightly so: the server did receive the whole message.
    let mail = sink.wait_for_messages(1, DELIVERY);
    assert_eq!(
        mail[0].header("Message-ID").as_deref(),
        Some("<01J00000000000000000000000.s2@nudge.example.com>")
    );
}

#[tokio::test]
async fn a_421_after_the_final_dot_is_transient() {
    let sink = SmtpSink::start_with(&["-Q", "."]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    match err {
        SendError::Transient { reason, .. } => assert!(reason.contains("421"), "{reason}"),
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn a_soft_rejected_recipient_is_transient() {
    let sink = SmtpSink::start_with(&["-r", "RCPT"]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    match err {
        SendError::Transient { reason, .. } => assert!(reason.contains("450"), "{reason}"),
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hard_rejected_recipient_is_permanent_with_the_servers_words() {
    let sink = SmtpSink::start_with(&[
        "-f",
        "RCPT",
        "-B",
        "550 5.1.1 <alex@example.com>: Recipient address rejected: User unknown",
    ]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    match err {
        SendError::Permanent { reason } => {
            assert!(reason.contains("550"), "{reason}");
            assert!(reason.contains("User unknown"), "{reason}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_means_the_channel_is_unavailable() {
    let port = free_port();
    let t = transport(&format!("smtp://127.0.0.1:{port}?tls=none"));
    let err = t.send(&follow_up()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Unavailable {
                credentials: false,
                ..
            }
        ),
        "{err:?}"
    );
    let probed = t.probe().await.unwrap_err();
    assert!(
        matches!(probed, SendError::Unavailable { .. }),
        "{probed:?}"
    );
}

#[tokio::test]
async fn a_probe_of_a_working_server_parks_the_connection_and_sends_nothing() {
    let sink = SmtpSink::start();
    let t = transport(&sink.url());
    t.probe().await.unwrap();
    assert_eq!(t.pool.idle_count(), 1);
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn tls_that_cannot_be_established_means_the_channel_is_unavailable() {
    let sink = SmtpSink::start();
    // STARTTLS required, but smtp-sink does not offer it.
    let err = transport(&format!("smtp://127.0.0.1:{}", sink.port()))
        .send(&follow_up())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
    // Implicit TLS against a clear-text greeting.
    let err = transport(&format!("smtps://127.0.0.1:{}", sink.port()))
        .send(&follow_up())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_silent_server_times_out_in_doubt() {
    // Waits 10 s before answering the final dot; we give up after 0.5 s.
    let sink = SmtpSink::start_with(&["-W", ".:10"]);
    let t = transport(&sink.url()).with_send_timeout(Duration::from_millis(500));
    let err = t.send(&follow_up()).await.unwrap_err();
    assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
    // The connection with the reply still unread was dropped, not parked.
    assert_eq!(t.pool.idle_count(), 0);
}

#[tokio::test]
async fn a_server_silent_before_the_message_times_out_transient() {
    // Waits 10 s before answering RCPT: the message was never written.
    let sink = SmtpSink::start_with(&["-W", "RCPT:10"]);
    let t = transport(&sink.url()).with_send_timeout(Duration::from_millis(500));
    let err = t.send(&follow_up()).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    assert_eq!(t.pool.idle_count(), 0);
}

#[tokio::test]
async fn a_drop_before_data_is_transient_because_nothing_was_sent() {
    let sink = SmtpSink::start_with(&["-q", "RCPT"]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    match err {
        SendError::Transient { reason, .. } => {
            assert!(reason.contains("before the message was sent"), "{reason}")
        }
        other => panic!("expected transient, got {other:?}"),
    }
    // smtp-sink opens a dump file at MAIL FROM; no message reached it.
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.header("Message-ID").is_none())
    );
}

#[tokio::test]
async fn a_refused_sender_is_transient_not_the_leads_fault() {
    let sink = SmtpSink::start_with(&["-f", "MAIL", "-B", "553 5.7.1 sender rejected"]);
    let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
    match err {
        SendError::Transient { reason, .. } => {
            assert!(reason.contains("553"), "{reason}");
            assert!(reason.contains("[email] from"), "{reason}");
        }
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn connections_are_reused_with_nodelay() {
    let sink = SmtpSink::start();
    let t = transport(&sink.url());
    t.send(&follow_up()).await.unwrap();
    assert_eq!(t.pool.idle_count(), 1);
    t.send(&follow_up()).await.unwrap();
    // The second send took the parked connection and parked it again.
    assert_eq!(t.pool.idle_count(), 1);
    assert_eq!(sink.wait_for_messages(2, DELIVERY).len(), 2);
}

#[tokio::test]
async fn an_invalid_recipient_is_permanent_without_connecting() {
    let t = transport(&format!("smtp://127.0.0.1:{}?tls=none", free_port()));
    let mut touch = follow_up();
    touch.to = "not an address".into();
    let err = t.send(&touch).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
}

#[tokio::test]
async fn a_control_character_in_a_header_is_permanent_and_sends_nothing() {
    let sink = SmtpSink::start();
    let t = transport(&sink.url());
    let mut touch = follow_up();
    touch.to_name = "Evil\r\nBcc: victim@other.test".into();
    let err = t.send(&touch).await.unwrap_err();
    match err {
        SendError::Permanent { reason } => {
            assert!(reason.contains("invalid header value in name"), "{reason}")
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    let mut touch = follow_up();
    touch.subject = Some("Hi\r\nX-Injected: 1".into());
    let err = t.send(&touch).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent { reason } if reason.contains("subject")),
        "{err:?}"
    );
    assert!(sink.messages().is_empty());
}

#[test]
fn plain_smtp_to_a_remote_host_is_refused_without_showing_the_password() {
    let url = format!("smtp://sam:{PASSWORD}@mail.example.com:25?tls=none");
    let err = EmailTransport::new(&settings(&url)).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("mail.example.com"), "{shown}");
    assert!(shown.contains("allow_plain"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");

    let mut allowed = settings(&url);
    allowed.allow_plain = true;
    let t = EmailTransport::new(&allowed).unwrap();
    let shown = format!("{} {t:?}", t.describe());
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("sam:"),
        "{shown}"
    );
    assert_eq!(t.describe(), "email via smtp://mail.example.com:25 (plain)");
}

#[test]
fn malformed_urls_never_echo_the_password() {
    for url in [
        format!("smtps://sam:{PASSWORD}@"),
        format!("smtps://sam:{PASSWORD}@host:99999"),
        format!("http://sam:{PASSWORD}@host"),
        format!("sam:{PASSWORD}@host"),
        format!("smtp://sam:{PASSWORD}@host?tls=maybe"),
        format!("smtp://sam:{PASSWORD}@host?password={PASSWORD}"),
        format!("smtps://sam:{PASSWORD}@host?tls=none"),
        format!("smtp://sam:{PASSWORD}%ff@host"),
    ] {
        let err = EmailTransport::new(&settings(&url)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("smtp_url"), "{shown}");
        assert!(!shown.contains(PASSWORD), "{url}: {shown}");
    }
}

#[test]
fn urls_map_to_the_documented_security() {
    let describe = |url: &str| EmailTransport::new(&settings(url)).unwrap().describe();
    assert_eq!(
        describe(&format!("smtps://sam:{PASSWORD}@smtp.example.com")),
        "email via smtps://smtp.example.com:465 (implicit TLS)"
    );
    assert_eq!(
        describe("smtp://smtp.example.com:587"),
        "email via smtp://smtp.example.com:587 (STARTTLS)"
    );
    assert_eq!(
        describe("smtp://127.0.0.1:2525?tls=none"),
        "email via smtp://127.0.0.1:2525 (plain)"
    );
    assert_eq!(
        describe("smtp://localhost:2525?tls=none"),
        "email via smtp://localhost:2525 (plain)"
    );
    assert_eq!(
        describe("smtp://[::1]:2525?tls=none"),
        "email via smtp://[::1]:2525 (plain)"
    );
    let err =
        EmailTransport::new(&settings("smtp://mx.example.com?tls=opportunistic")).unwrap_err();
    assert!(matches!(err, ChannelError::PlainSmtp { .. }), "{err}");
}

#[test]
fn bad_sender_addresses_are_named() {
    let mut s = settings("smtp://127.0.0.1:2525?tls=none");
    s.from = "Sam <not-an-address>".into();
    let err = EmailTransport::new(&s).unwrap_err();
    assert!(err.to_string().starts_with("[email] from:"), "{err}");
}
