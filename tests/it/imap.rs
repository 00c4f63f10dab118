//! The IMAP reply watch against a real Dovecot: a reply, a reply with a
//! rewritten subject, an out-of-office with a return date and a DSN bounce
//! each change the right lead, once, even across a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use nudge::config::{ImapSettings, Secret};
use nudge::domain::lead::{Lead, LeadId};
use nudge::domain::sequence::Channel;
use nudge::domain::status::Status;
use nudge::engine::Engine;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::inbound::imap::{WatchOptions, Watcher};

use crate::dovecot::Dovecot;
use crate::worker::{add, engine_on_manual_clock};

const SEQUENCE: &str = r#"
name = "test"
email_footer = "Reply stop to opt out."
[window]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}, here is the guide."

[[steps]]
id = "follow"
delay = "2d"
channel = "email"
body = "Any questions?"

[[steps]]
id = "bye"
delay = "3d"
channel = "email"
body = "Should I stop?"
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends every due first touch with dry-run channels, so each lead has an
/// outbox record carrying its Message-ID.
fn send_first_touches(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>) {
    let dry = |c| Arc::new(nudge::channels::DryRunTransport::new(c, "test")) as _;
    let channels = Channels {
        email: dry(Channel::Email),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    let options = WorkerOptions {
        pace: false,
        message_id_domain: "example.com".into(),
        ..WorkerOptions::default()
    };
    let worker = Worker::new(engine.clone(), channels, options);
    rt.block_on(worker.run_due()).unwrap();
}

fn message_id(engine: &Engine, id: LeadId) -> String {
    engine
        .store()
        .touch(id, 0)
        .unwrap()
        .and_then(|t| t.message_id)
        .expect("the first touch carries a Message-ID")
}

fn watcher(engine: &Arc<Engine>, imap: &Dovecot, use_idle: bool) -> Watcher {
    let settings = ImapSettings {
        url: imap.url(),
        user: imap.user.clone(),
        password: Secret::from(imap.password.as_str()),
        mailbox: "INBOX".into(),
        ooo_delay_hours: 72,
        soft_bounce_limit: 3,
        policy_pause_hours: 24,
        ca_file: String::new(),
    };
    Watcher::from_config(engine.clone(), &settings)
        .unwrap()
        .expect("a URL is configured")
        .with_options(WatchOptions {
            poll: Duration::from_millis(200),
            use_idle,
            backoff_base: Duration::from_millis(100),
            ..WatchOptions::default()
        })
}

fn lead(engine: &Engine, id: LeadId) -> Lead {
    engine.store().lead(id).unwrap().unwrap()
}

/// Polls `done` until it holds or `limit` passes; bounded, no timing asserted.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Makes each reply's Message-ID unique.
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn reply(from: &str, subject: &str, in_reply_to: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: sam@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{}.{}@mail.example.org>\r\nIn-Reply-To: {in_reply_to}\r\n\
         References: {in_reply_to}\r\nDate: Mon, 1 Jun 2026 10:00:00 +0200\r\n\r\n\
         Sounds good, let's talk.\r\n",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
    .into_bytes()
}

fn out_of_office(from: &str, in_reply_to: &str, back: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: sam@example.com\r\nSubject: Automatic reply: Hello\r\n\
         Auto-Submitted: auto-replied\r\nIn-Reply-To: {in_reply_to}\r\n\r\n\
         I am out of the office and back on {back}. I will answer then.\r\n"
    )
    .into_bytes()
}

fn bounce(recipient: &str, original_id: &str) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n\
         To: sam@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n\
         Action: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: sam@example.com\r\nTo: {recipient}\r\nSubject: Hello\r\nMessage-ID: {original_id}\r\n\r\n\
         --B--\r\n"
    )
    .into_bytes()
}

#[test]
fn replies_auto_replies_and_bounces_each_change_their_lead_once() {
    let imap = Dovecot::start();
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let ada = add(&engine, "Ada Lovelace", "ada@example.com", None);
    let bob = add(&engine, "Bob Stone", "bob@example.com", None);
    let cleo = add(&engine, "Cleo Park", "cleo@example.com", None);
    let dan = add(&engine, "Dan Moss", "dan@example.com", None);
    let eve = add(&engine, "Eve Hart", "eve@example.com", None);
    send_first_touches(&rt, &engine);

    // The first look only records where the mailbox stands.
    assert_eq!(
        rt.block_on(watcher(&engine, &imap, true).sync()).unwrap(),
        vec![]
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = rt.spawn(watcher(&engine, &imap, true).run(stopped));

    imap.deliver(&reply(
        "Ada Lovelace <Ada@Example.com>",
        "Re: Hello Ada",
        &message_id(&engine, ada),
    ));
    // From another address, subject rewritten: only In-Reply-To matches.
    imap.deliver(&reply(
        "bob.private@elsewhere.example",
        "Budget for Q3",
        &message_id(&engine, bob),
    ));
    imap.deliver(&out_of_office(
        "cleo@example.com",
        &message_id(&engine, cleo),
        "2026-06-15",
    ));
    imap.deliver(&bounce("dan@example.com", &message_id(&engine, dan)));
    imap.deliver(&reply(
        "stranger@nowhere.example",
        "Hi",
        "<unrelated@x.example>",
    ));

    let back = chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2026, 6, 15, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let postponed = |l: &Lead| l.next.as_ref().is_some_and(|d| d.at >= back);
    let all_done = wait_until(Duration::from_secs(30), || {
        lead(&engine, ada).status == Status::Replied
            && lead(&engine, bob).status == Status::Replied
            && postponed(&lead(&engine, cleo))
            && lead(&engine, dan).status == Status::Bounced
    });
    stop.send(true).unwrap();
    rt.block_on(running).unwrap();
    assert!(
        all_done,
        "not every message was handled; dovecot log:\n{}",
        imap.log()
    );

    let cleo_lead = lead(&engine, cleo);
    assert_eq!(
        cleo_lead.status,
        Status::Active,
        "an auto-reply is not a reply"
    );
    assert!(postponed(&cleo_lead), "{:?}", cleo_lead.next);
    assert!(lead(&engine, ada).next.is_none(), "the sequence stopped");
    assert_eq!(lead(&engine, eve).status, Status::Active);
    let notes = |id| {
        engine
            .show(id)
            .unwrap()
            .events
            .iter()
            .map(|e| e.kind.describe())
            .collect::<Vec<_>>()
    };
    assert!(
        notes(bob).iter().any(|n| n.contains("Budget for Q3")),
        "{:?}",
        notes(bob)
    );
    assert!(
        notes(dan).iter().any(|n| n.contains("550 5.1.1")),
        "{:?}",
        notes(dan)
    );

    // A restart handles nothing twice: the UID is tracked durably.
    let counts: Vec<usize> = [ada, bob, cleo, dan, eve]
        .iter()
        .map(|id| engine.store().events(*id).unwrap().len())
        .collect();
    assert_eq!(
        rt.block_on(watcher(&engine, &imap, true).sync()).unwrap(),
        vec![]
    );
    let after: Vec<usize> = [ada, bob, cleo, dan, eve]
        .iter()
        .map(|id| engine.store().events(*id).unwrap().len())
        .collect();
    assert_eq!(counts, after);

    // Without IDLE, polling picks up what arrives next, and only that.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = rt.spawn(watcher(&engine, &imap, false).run(stopped));
    imap.deliver(&reply(
        "eve@example.com",
        "Re: Hello Eve",
        "<none@x.example>",
    ));
    let eve_replied = wait_until(Duration::from_secs(30), || {
        lead(&engine, eve).status == Status::Replied
    });
    stop.send(true).unwrap();
    rt.block_on(running).unwrap();
    assert!(
        eve_replied,
        "polling missed the reply; dovecot log:\n{}",
        imap.log()
    );
    let last = [ada, bob, cleo, dan]
        .iter()
        .map(|id| engine.store().events(*id).unwrap().len())
        .collect::<Vec<_>>();
    assert_eq!(last, counts[..4]);
}

#[test]
fn a_wrong_password_is_reported_without_the_password() {
    let imap = Dovecot::start();
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let settings = ImapSettings {
        url: imap.url(),
        user: imap.user.clone(),
        password: Secret::from("hunter2-wrong"),
        mailbox: "INBOX".into(),
        ooo_delay_hours: 72,
        soft_bounce_limit: 3,
        policy_pause_hours: 24,
        ca_file: String::new(),
    };
    let watcher = Watcher::from_config(engine.clone(), &settings)
        .unwrap()
        .unwrap();
    let err = rt.block_on(watcher.sync()).unwrap_err().to_string();
    assert!(err.contains("login"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

fn settings_for(url: String, imap: &Dovecot, ca_file: Option<&std::path::Path>) -> ImapSettings {
    ImapSettings {
        url,
        user: imap.user.clone(),
        password: Secret::from(imap.password.as_str()),
        mailbox: "INBOX".into(),
        ooo_delay_hours: 72,
        soft_bounce_limit: 3,
        policy_pause_hours: 24,
        ca_file: ca_file.map(|p| p.display().to_string()).unwrap_or_default(),
    }
}

#[test]
fn starttls_upgrades_before_the_login_and_checks_the_certificate() {
    let imap = Dovecot::start_tls();
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let ada = add(&engine, "Ada Lovelace", "ada@example.com", None);
    send_first_touches(&rt, &engine);
    let ca = Dovecot::ca_file();
    let sync = |settings: &ImapSettings| {
        let watcher = Watcher::from_config(engine.clone(), settings)
            .unwrap()
            .unwrap();
        rt.block_on(watcher.sync())
    };

    let starttls = settings_for(imap.starttls_url(), &imap, Some(&ca));
    let watcher = Watcher::from_config(engine.clone(), &starttls)
        .unwrap()
        .unwrap();
    assert!(
        watcher.describe().ends_with("(STARTTLS)"),
        "{}",
        watcher.describe()
    );
    assert_eq!(sync(&starttls).unwrap(), vec![]);
    imap.deliver(&reply(
        "Ada Lovelace <ada@example.com>",
        "Re: Hello Ada",
        &message_id(&engine, ada),
    ));
    assert_eq!(
        sync(&starttls).unwrap(),
        vec![nudge::inbound::imap::Handled::Replied(ada)]
    );
    // Dovecot's own record: every login came over TLS.
    let log = imap.log();
    let logins: Vec<&str> = log.lines().filter(|l| l.contains("Login: user=")).collect();
    assert!(!logins.is_empty(), "{log}");
    assert!(logins.iter().all(|l| l.contains(", TLS")), "{log}");

    // Without the test CA the certificate is not trusted: no login is sent.
    let untrusted = sync(&settings_for(imap.starttls_url(), &imap, None)).unwrap_err();
    let shown = untrusted.to_string();
    assert!(shown.contains("certificate"), "{shown}");
    assert!(!shown.contains(&imap.password), "{shown}");
}

#[test]
fn a_bad_ca_file_is_named_at_start() {
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for path in [junk.clone(), dir.path().join("missing.pem")] {
        let settings = ImapSettings {
            url: "imap://imap.example.com".into(),
            ca_file: path.display().to_string(),
            ..ImapSettings::default()
        };
        let err = Watcher::from_config(engine.clone(), &settings)
            .err()
            .expect("a bad ca_file is refused");
        assert!(err.to_string().starts_with("[imap] ca_file "), "{err}");
    }
}

#[test]
fn a_server_without_starttls_gets_no_login() {
    let imap = Dovecot::start();
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let settings = settings_for(imap.starttls_url(), &imap, None);
    let watcher = Watcher::from_config(engine.clone(), &settings)
        .unwrap()
        .unwrap();
    let err = rt.block_on(watcher.sync()).unwrap_err().to_string();
    assert!(err.contains("refused STARTTLS"), "{err}");
    assert!(
        !imap.log().contains("Login: user="),
        "no login was attempted: {}",
        imap.log()
    );
}

/// Our Message-ID and the lead's address in the written fixtures
/// (`tests/fixtures/mail/SOURCES.md`), swapped for a real lead's.
const FIXTURE_ID: &str = "<01JXAMPLE0000000000000000-1@nudge.example>";
const FIXTURE_LEAD: &str = "ada@example.com";

/// A corpus fixture addressed to `email` and answering `id`, with
/// `extra` replacements (a real fixture's own recipient).
fn fixture(path: &str, email: &str, id: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(path);
    let mut text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    text = text.replace(FIXTURE_ID, id).replace(FIXTURE_LEAD, email);
    for (from, to) in extra {
        text = text.replace(from, to);
    }
    text.into_bytes()
}

fn kinds(engine: &Engine, id: LeadId) -> Vec<String> {
    engine
        .show(id)
        .unwrap()
        .events
        .iter()
        .map(|e| e.kind.describe())
        .collect()
}

/// One corpus message per verdict, delivered to Dovecot and read by the
/// running watcher, each changes its own lead as the README says, and no
/// other lead.
#[test]
fn each_verdict_from_the_corpus_changes_its_lead_and_no_other() {
    let imap = Dovecot::start();
    let rt = runtime();
    let (_dir, _clock, engine) = engine_on_manual_clock(SEQUENCE);
    let hard = add(&engine, "Hana Hard", "kijitora@2jo.example.jp", None);
    let soft = add(&engine, "Sol Soft", "sol@full.example", None);
    let policy = add(&engine, "Polly Policy", "polly@strict.example", None);
    let sibling = add(&engine, "Sib Strict", "sib@strict.example", None);
    let away = add(&engine, "Anna Away", "anna@beispiel.de", None);
    let retired = add(&engine, "Rex Retired", "rex@old.example", None);
    let moved = add(&engine, "Mo Moved", "mo@moved.example", None);
    let challenge = add(&engine, "Cy Challenge", "cy@boxed.example", None);
    let reply = add(&engine, "Ray Reply", "ray@example.org", None);
    let bystander = add(&engine, "Bea Bystander", "bea@strict-not.example", None);
    send_first_touches(&rt, &engine);
    let mut alerts = engine.subscribe_alerts();
    assert_eq!(
        rt.block_on(watcher(&engine, &imap, true).sync()).unwrap(),
        vec![]
    );
    let before = engine.store().events(bystander).unwrap().len();
    let sibling_before = engine.store().lead(sibling).unwrap().unwrap().next;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = rt.spawn(watcher(&engine, &imap, true).run(stopped));
    let id = |lead| message_id(&engine, lead);
    let lead_email = |lead| engine.store().lead(lead).unwrap().unwrap().email.unwrap();
    // A real Postfix bounce (sisimai corpus): found by its recipient.
    imap.deliver(&fixture("bounce/lhost-postfix-14.eml", "", "", &[]));
    for _ in 0..2 {
        imap.deliver(&fixture(
            "bounce/written-postfix-552-full.eml",
            &lead_email(soft),
            &id(soft),
            &[],
        ));
    }
    imap.deliver(&fixture(
        "bounce/written-o365-dmarc.eml",
        &lead_email(policy),
        &id(policy),
        &[],
    ));
    imap.deliver(&fixture(
        "auto/de-abwesenheitsnotiz.eml",
        &lead_email(away),
        &id(away),
        &[("ada@beispiel.de", "anna@beispiel.de")],
    ));
    imap.deliver(&fixture(
        "auto/retired-no-longer-monitored.eml",
        &lead_email(retired),
        &id(retired),
        &[],
    ));
    imap.deliver(&fixture(
        "auto/moved-new-address.eml",
        &lead_email(moved),
        &id(moved),
        &[],
    ));
    imap.deliver(&fixture(
        "challenge/boxbe-dsn-470.eml",
        &lead_email(challenge),
        &id(challenge),
        &[],
    ));
    // A person who mentions being out of the office is still a reply.
    imap.deliver(&fixture(
        "reply/outlook-desktop.eml",
        &lead_email(reply),
        &id(reply),
        &[],
    ));

    let status = |lead| engine.store().lead(lead).unwrap().unwrap().status;
    let count = |lead, what: &str| {
        kinds(&engine, lead)
            .iter()
            .filter(|k| k.starts_with(what))
            .count()
    };
    let handled = wait_until(Duration::from_secs(30), || {
        status(hard) == Status::Bounced
            && count(soft, "bounced temporarily") == 2
            && count(policy, "needs attention") == 1
            && count(away, "snoozed") == 1
            && status(retired) == Status::Bounced
            && status(moved) == Status::Paused
            && status(challenge) == Status::Paused
            && status(reply) == Status::Replied
    });
    assert!(
        handled,
        "not every message was handled; dovecot log:\n{}",
        imap.log()
    );
    assert_eq!(
        status(soft),
        Status::Active,
        "two soft bounces are a retry, not a bounce"
    );

    // The third soft bounce in a row is a hard one.
    imap.deliver(&fixture(
        "bounce/written-postfix-552-full.eml",
        &lead_email(soft),
        &id(soft),
        &[],
    ));
    let third = wait_until(Duration::from_secs(30), || status(soft) == Status::Bounced);
    stop.send(true).unwrap();
    rt.block_on(running).unwrap();
    assert!(third, "the third soft bounce did not bounce the lead");
    assert!(
        kinds(&engine, soft)
            .iter()
            .any(|k| k.contains("3 soft bounces in a row")),
        "{:?}",
        kinds(&engine, soft)
    );

    // Policy: not bounced, the founder alerted with the cause, the domain paused.
    assert_eq!(status(policy), Status::Active);
    let policy_note = kinds(&engine, policy)
        .into_iter()
        .find(|k| k.starts_with("needs attention"))
        .unwrap();
    assert!(
        policy_note.contains("DMARC") && policy_note.contains("strict.example"),
        "{policy_note}"
    );
    let mut attention = Vec::new();
    while let Ok(notification) = alerts.try_recv() {
        if let nudge::engine::Notification::Lead(alert) = notification
            && alert.kind == nudge::domain::event::AlertKind::Attention
        {
            attention.push(alert.lead.id);
        }
    }
    attention.sort();
    let mut expected = vec![policy, moved, challenge];
    expected.sort();
    assert_eq!(
        attention, expected,
        "an alert for each lead that needs the founder"
    );
    let pause_end = monday() + chrono::Duration::hours(24);
    let sibling_next = engine.store().lead(sibling).unwrap().unwrap().next.unwrap();
    assert!(
        sibling_next.at >= pause_end,
        "{sibling_next:?} (was {sibling_before:?})"
    );
    assert_eq!(status(sibling), Status::Active);

    // Away: the morning after the return date, with the date and its phrase.
    let away_lead = engine.store().lead(away).unwrap().unwrap();
    assert_eq!(
        away_lead.status,
        Status::Active,
        "an auto-reply is not a reply"
    );
    let day_after = chrono_tz::Europe::Berlin
        .with_ymd_and_hms(2026, 6, 13, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert!(
        away_lead.next.as_ref().unwrap().at >= day_after,
        "{:?}",
        away_lead.next
    );
    assert!(
        kinds(&engine, away)
            .iter()
            .any(|k| k.contains("back on 2026-06-12") && k.contains("bis 12.06.2026")),
        "{:?}",
        kinds(&engine, away)
    );

    // New address and challenge: paused, with what the founder needs.
    assert!(
        kinds(&engine, moved)
            .iter()
            .any(|k| k.contains("ada.lovelace@newco.example"))
    );
    assert!(
        kinds(&engine, challenge)
            .iter()
            .any(|k| k.contains("https://www.boxbe.com/verify?tc=55555"))
    );
    assert_eq!(count(challenge, "replied"), 0);
    assert_eq!(count(challenge, "bounced"), 0);

    // No message touched a lead other than its own.
    assert_eq!(engine.store().events(bystander).unwrap().len(), before);
    assert_eq!(count(sibling, "needs attention"), 0);
    assert_eq!(count(sibling, "bounced"), 0);
}

fn monday() -> chrono::DateTime<Utc> {
    crate::worker::monday_morning()
}
