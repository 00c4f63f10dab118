//! The worker against a scripted in-process transport and a manual clock:
//! retries, in-doubt, recovery after a crash, opt-out races, windows, caps,
//! and human tasks. (The real SMTP server is exercised in `worker_smtp`.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use nudge::catalog::Catalog;
use nudge::channels::{Outgoing, Receipt, SendError, Transport};
use nudge::clock::{Clock, ManualClock};
use nudge::domain::lead::{LeadId, LeadInput};
use nudge::domain::mark::Mark;
use nudge::domain::render::Sender;
use nudge::domain::status::Status;
use nudge::domain::touch::{self, Resolution, RetryPolicy, TouchState};
use nudge::engine::worker::{Channels, Worker, WorkerOptions};
use nudge::engine::{Engine, Settings};
use nudge::store::Store;
use tempfile::TempDir;

/// Monday 2026-06-01 10:00 in Europe/Berlin (08:00 UTC): inside office hours.
pub fn monday_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

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
id = "text"
delay = "1d"
channel = "sms"
body = "Hi {{ first_name }}, a quick note."

[[steps]]
id = "ring"
delay = "1d"
channel = "call"
body = "Call {{ first_name }}."

[[steps]]
id = "bye"
delay = "2d"
channel = "email"
body = "Should I stop?"
"#;

/// What the fake transport should answer, call by call; `Ok` when empty.
type Script = Arc<Mutex<VecDeque<Result<Receipt, SendError>>>>;

/// Runs inside a fake send, to interleave another action deterministically.
type Hook = Box<dyn FnMut(&Outgoing) + Send>;

/// Records every send and answers from a script. The hook runs inside
/// `send`, to make races deterministic.
struct Fake {
    sent: Arc<Mutex<Vec<Outgoing>>>,
    script: Script,
    hook: Mutex<Option<Hook>>,
}

#[async_trait::async_trait]
impl Transport for Fake {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        if let Some(hook) = self.hook.lock().unwrap().as_mut() {
            hook(touch);
        }
        self.sent.lock().unwrap().push(touch.clone());
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Receipt {
                provider_id: Some("fake-1".into()),
                dry_run: false,
            }))
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "fake".into()
    }
}

struct Rig {
    _dir: TempDir,
    clock: Arc<ManualClock>,
    engine: Arc<Engine>,
    worker: Worker,
    sent: Arc<Mutex<Vec<Outgoing>>>,
    script: Script,
    email: Arc<Fake>,
}

/// A store, catalog (with `sequence` as `sequences/test.toml`) and engine on
/// a manual clock set to Monday morning in Berlin.
pub fn engine_on_manual_clock(sequence: &str) -> (TempDir, Arc<ManualClock>, Arc<Engine>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sequences")).unwrap();
    std::fs::write(dir.path().join("sequences/test.toml"), sequence).unwrap();
    let catalog = Catalog::load(dir.path()).unwrap();
    let store = Store::open(&dir.path().join("data"), 1 << 20).unwrap();
    let clock = Arc::new(ManualClock::new(monday_morning()));
    let settings = Settings {
        default_tz: chrono_tz::Europe::Berlin,
        default_region: None,
        sender: Sender {
            name: "Sam".into(),
            company: "Acme".into(),
            booking_url: "https://cal.example.com/sam".into(),
        },
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::minutes(1),
            cap: Duration::hours(1),
        },
    };
    let engine = Arc::new(Engine::new(store, catalog, settings, clock.clone()));
    (dir, clock, engine)
}

fn rig_with(options: WorkerOptions, call_transport: bool) -> Rig {
    let (dir, clock, engine) = engine_on_manual_clock(SEQUENCE);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let script: Script = Arc::new(Mutex::new(VecDeque::new()));
    let fake = || {
        Arc::new(Fake {
            sent: sent.clone(),
            script: script.clone(),
            hook: Mutex::new(None),
        })
    };
    let email = fake();
    let channels = Channels {
        email: email.clone(),
        sms: fake(),
        call: call_transport.then(|| fake() as Arc<dyn Transport>),
        personaliser: None,
    };
    let worker = Worker::new(engine.clone(), channels, options);
    Rig {
        _dir: dir,
        clock,
        engine,
        worker,
        sent,
        script,
        email,
    }
}

fn rig() -> Rig {
    rig_with(
        WorkerOptions {
            pace: false,
            message_id_domain: "example.com".into(),
            postal_address: "Example Inc, 1 Main St".into(),
            unsubscribe: Some(("https://nudge.example.com".into(), b"secret".to_vec())),
            unsubscribe_mailto: Some("mailto:sam@example.com?subject=unsubscribe".into()),
            ..WorkerOptions::default()
        },
        false,
    )
}

pub fn add(engine: &Engine, name: &str, email: &str, phone: Option<&str>) -> LeadId {
    engine
        .add(&LeadInput {
            name: name.into(),
            email: Some(email.into()),
            phone: phone.map(str::to_string),
            sms_consent: phone.map(|_| "web form".to_string()),
            source: "test".into(),
            sequence: Some("test".into()),
            ..LeadInput::default()
        })
        .unwrap()
}

fn run(rig: &Rig) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(rig.worker.run_due())
        .unwrap();
}

fn sent_to(rig: &Rig, id: LeadId) -> Vec<Outgoing> {
    rig.sent
        .lock()
        .unwrap()
        .iter()
        .filter(|o| o.lead_id == id)
        .cloned()
        .collect()
}

#[test]
fn first_touch_goes_out_with_headers_and_footer_and_the_next_is_scheduled() {
    let rig = rig();
    let id = add(
        &rig.engine,
        "Ada Lovelace",
        "ada@example.com",
        Some("+14155552671"),
    );
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.to, "ada@example.com");
    assert_eq!(email.subject.as_deref(), Some("Hello Ada"));
    assert_eq!(
        email.message_id.as_deref(),
        Some(touch::message_id(id, 0, "example.com").as_str())
    );
    assert!(
        email.body.contains("Example Inc, 1 Main St"),
        "{}",
        email.body
    );
    assert!(
        email
            .body
            .contains("Unsubscribe: https://nudge.example.com/u/"),
        "{}",
        email.body
    );
    assert_eq!(email.list_unsubscribe.len(), 2);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.last_step, Some(0));
    let next = lead.next.unwrap();
    assert_eq!(next.step_id, "text");
    assert_eq!(next.at, monday_morning() + Duration::days(1));
    let touch = rig.engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Sent);
    assert_eq!(
        rig.engine
            .store()
            .sent_on(nudge::domain::sequence::Channel::Email, monday_morning())
            .unwrap(),
        1
    );
    // Nothing else is due: a second pass sends nothing.
    run(&rig);
    assert_eq!(sent_to(&rig, id).len(), 1);
}

#[test]
fn follow_up_email_threads_under_the_first() {
    let rig = rig();
    let id = add(&rig.engine, "Ada Lovelace", "ada@example.com", None);
    run(&rig);
    // No phone: the SMS and call steps are skipped, the last email is 4 days on.
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.next.as_ref().unwrap().step_id, "bye");
    rig.clock.set(lead.next.unwrap().at);
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 2);
    let first = sent[0].message_id.clone().unwrap();
    assert_eq!(sent[1].in_reply_to.as_deref(), Some(first.as_str()));
    assert_eq!(sent[1].references, vec![first]);
    assert_eq!(sent[1].subject.as_deref(), Some("Re: Hello Ada"));
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Completed);
}

#[test]
fn transient_failure_retries_with_the_same_words_then_gives_up() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    let transient = || {
        Err(SendError::Transient {
            reason: "451 try later".into(),
            retry_after: None,
        })
    };
    rig.script
        .lock()
        .unwrap()
        .extend([transient(), transient(), transient()]);
    run(&rig);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    let retry_at = lead.next.as_ref().unwrap().at;
    assert!(
        retry_at > monday_morning(),
        "a retry is scheduled in the future"
    );
    assert!(retry_at <= monday_morning() + Duration::minutes(2));
    rig.clock.set(retry_at);
    run(&rig);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    rig.clock.set(lead.next.unwrap().at);
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 3, "three attempts");
    assert!(
        sent.iter()
            .all(|s| s.body == sent[0].body && s.message_id == sent[0].message_id)
    );
    let touch = rig.engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::Failed);
    assert_eq!(touch.attempts, 3);
    // Gave up on the step, moved on to the next one the lead can receive.
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.next.unwrap().step_id, "bye");
}

#[test]
fn permanent_email_rejection_bounces_an_email_only_lead() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::Permanent {
            reason: "550 no such user".into(),
        }));
    run(&rig);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Bounced);
    assert!(lead.next.is_none());
    rig.clock.advance(Duration::days(10));
    run(&rig);
    assert_eq!(sent_to(&rig, id).len(), 1, "no more email after a bounce");
}

#[test]
fn permanent_email_rejection_continues_on_other_channels() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", Some("+14155552671"));
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::Permanent {
            reason: "550 no such user".into(),
        }));
    run(&rig);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    assert_eq!(lead.status, Status::Active);
    assert_eq!(lead.next.as_ref().unwrap().step_id, "text");
    // The closing email is skipped later: the email channel is bad for this lead.
    let events = rig.engine.store().events(id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, nudge::domain::event::EventKind::Bounced { .. }))
    );
}

#[test]
fn in_doubt_is_never_resent_until_a_human_says_so() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::InDoubt {
            reason: "connection lost after the final dot".into(),
        }));
    run(&rig);
    let touch = rig.engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.state, TouchState::InDoubt);
    assert_eq!(rig.engine.store().in_doubt().unwrap().len(), 1);
    rig.clock.advance(Duration::days(3));
    run(&rig);
    assert_eq!(sent_to(&rig, id).len(), 1, "not resent automatically");
    rig.engine.resolve_touch(id, Resolution::Resend).unwrap();
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].message_id, sent[1].message_id,
        "same Message-ID so receivers dedupe"
    );
    assert!(rig.engine.store().in_doubt().unwrap().is_empty());
    assert_eq!(
        rig.engine.store().touch(id, 0).unwrap().unwrap().state,
        TouchState::Sent
    );
}

#[test]
fn resolving_as_sent_moves_the_sequence_on() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::InDoubt {
            reason: "timeout".into(),
        }));
    run(&rig);
    let lead = rig.engine.resolve_touch(id, Resolution::Sent).unwrap();
    assert_eq!(lead.next.unwrap().step_id, "bye");
    assert!(
        rig.engine.resolve_touch(id, Resolution::Sent).is_err(),
        "nothing left in doubt"
    );
}

#[test]
fn a_touch_left_sending_by_a_crash_becomes_in_doubt() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    // Claim by hand, as the worker does, and "crash" before sending.
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    let due = lead.next.clone().unwrap();
    let pending = nudge::domain::touch::Touch {
        lead_id: id,
        step: 0,
        step_id: "hello".into(),
        channel: nudge::domain::sequence::Channel::Email,
        state: TouchState::Pending,
        attempts: 0,
        to: "ada@example.com".into(),
        to_name: "Ada".into(),
        message: nudge::domain::render::Message {
            subject: Some("Hello".into()),
            body: "Hi".into(),
        },
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        list_unsubscribe: Vec::new(),
        html: None,
        links: Vec::new(),
        dry_run: false,
        ai_note: None,
        last_error: None,
        provider_id: None,
        created_at: monday_morning(),
        updated_at: monday_morning(),
    };
    rig.engine
        .store()
        .update_lead(id, monday_morning(), |current, facts| {
            touch::claim(
                current,
                facts.suppressed_for(nudge::domain::sequence::Channel::Email),
                &due,
                lead.event_count,
                &pending,
                monday_morning(),
            )
        })
        .unwrap()
        .unwrap();
    rig.engine.store().flush().unwrap();
    assert_eq!(rig.engine.store().sending().unwrap().len(), 1);
    assert_eq!(rig.worker.recover().unwrap(), 1);
    assert!(rig.engine.store().sending().unwrap().is_empty());
    assert_eq!(
        rig.engine.store().touch(id, 0).unwrap().unwrap().state,
        TouchState::InDoubt
    );
    run(&rig);
    assert!(sent_to(&rig, id).is_empty(), "recovery never resends");
}

#[test]
fn opt_out_before_the_claim_means_no_send() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    rig.engine.mark(id, Mark::OptedOut, None).unwrap();
    run(&rig);
    assert!(sent_to(&rig, id).is_empty());
    assert!(rig.engine.store().touch(id, 0).unwrap().is_none());
}

#[test]
fn opt_out_while_another_touch_is_sending_stops_the_next() {
    let rig = rig_with(
        WorkerOptions {
            pace: false,
            concurrency: 1,
            ..WorkerOptions::default()
        },
        false,
    );
    let first = add(&rig.engine, "Ada", "ada@example.com", None);
    let second = add(&rig.engine, "Bob", "bob@example.com", None);
    // Both are claimed in one pass; while the first is being sent, the second opts out.
    let engine = rig.engine.clone();
    *rig.email.hook.lock().unwrap() = Some(Box::new(move |o: &Outgoing| {
        if o.lead_id == first {
            engine.mark(second, Mark::OptedOut, None).unwrap();
        }
    }));
    run(&rig);
    assert_eq!(sent_to(&rig, first).len(), 1);
    assert!(
        sent_to(&rig, second).is_empty(),
        "the opted-out lead got nothing"
    );
    let touch = rig.engine.store().touch(second, 0).unwrap();
    assert!(
        touch.is_none_or(|t| t.state == TouchState::Cancelled),
        "never claimed, or cancelled"
    );
}

#[test]
fn outside_the_window_moves_to_the_next_opening_never_dropped() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    // The worker was down; it is now 19:30 in Berlin on Friday.
    rig.clock.set(
        DateTime::parse_from_rfc3339("2026-06-05T17:30:00Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    run(&rig);
    assert!(sent_to(&rig, id).is_empty());
    let next = rig.engine.store().lead(id).unwrap().unwrap().next.unwrap();
    // Monday 09:00 CEST.
    assert_eq!(
        next.at,
        DateTime::parse_from_rfc3339("2026-06-08T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    );
    rig.clock.set(next.at);
    run(&rig);
    assert_eq!(sent_to(&rig, id).len(), 1);
}

#[test]
fn daily_cap_moves_the_overflow_to_the_next_day() {
    let mut options = WorkerOptions {
        pace: false,
        ..WorkerOptions::default()
    };
    options
        .daily_caps
        .insert(nudge::domain::sequence::Channel::Email, 1);
    let rig = rig_with(options, false);
    let a = add(&rig.engine, "Ada", "ada@example.com", None);
    let b = add(&rig.engine, "Bob", "bob@example.com", None);
    run(&rig);
    assert_eq!(sent_to(&rig, a).len() + sent_to(&rig, b).len(), 1);
    let waiting = if sent_to(&rig, a).is_empty() { a } else { b };
    let next = rig
        .engine
        .store()
        .lead(waiting)
        .unwrap()
        .unwrap()
        .next
        .unwrap();
    assert_eq!(
        next.at,
        DateTime::parse_from_rfc3339("2026-06-02T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    );
    rig.clock.set(next.at);
    run(&rig);
    assert_eq!(sent_to(&rig, waiting).len(), 1);
}

#[test]
fn call_steps_wait_for_the_human_in_task_mode() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", Some("+14155552671"));
    run(&rig); // email
    rig.clock.advance(Duration::days(1));
    run(&rig); // sms
    rig.clock.advance(Duration::days(1));
    run(&rig); // call: handed to the human
    assert_eq!(sent_to(&rig, id).len(), 2);
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    let next = lead.next.unwrap();
    assert_eq!(next.step_id, "ring");
    assert!(next.awaiting_human);
    assert!(
        rig.engine
            .store()
            .due_until(rig.clock.now() + Duration::days(30), 10)
            .unwrap()
            .is_empty()
    );
    let lead = rig
        .engine
        .mark(id, Mark::Called, Some("left a voicemail"))
        .unwrap();
    assert_eq!(lead.next.unwrap().step_id, "bye");
}

#[test]
fn call_steps_go_out_when_a_call_transport_exists() {
    let rig = rig_with(
        WorkerOptions {
            pace: false,
            ..WorkerOptions::default()
        },
        true,
    );
    let id = add(&rig.engine, "Ada", "ada@example.com", Some("+14155552671"));
    for _ in 0..3 {
        run(&rig);
        rig.clock.advance(Duration::days(1));
    }
    let channels: Vec<_> = sent_to(&rig, id).iter().map(|o| o.channel).collect();
    use nudge::domain::sequence::Channel;
    assert_eq!(channels, vec![Channel::Email, Channel::Sms, Channel::Call]);
}

#[test]
fn replied_lead_gets_nothing_more() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", Some("+14155552671"));
    run(&rig);
    rig.engine.mark(id, Mark::Replied, None).unwrap();
    rig.clock.advance(Duration::days(30));
    run(&rig);
    assert_eq!(sent_to(&rig, id).len(), 1);
}

#[test]
fn a_retry_after_an_edit_goes_to_the_new_address_with_the_same_words() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", None);
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::Transient {
            reason: "451 try later".into(),
            retry_after: None,
        }));
    run(&rig);
    // The address was wrong (or someone else's): the human corrects it
    // before the retry.
    rig.engine
        .edit(
            id,
            &nudge::engine::LeadEdit {
                email: Some("ada@lovelace.example".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    rig.clock.set(lead.next.unwrap().at);
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, "ada@example.com");
    assert_eq!(sent[1].to, "ada@lovelace.example", "never the old address");
    // A retry keeps its words and Message-ID.
    assert_eq!(sent[1].body, sent[0].body);
    assert_eq!(sent[1].message_id, sent[0].message_id);
    let touch = rig.engine.store().touch(id, 0).unwrap().unwrap();
    assert_eq!(touch.to, "ada@lovelace.example");
}

#[test]
fn a_retry_after_the_address_was_removed_is_not_sent() {
    let rig = rig();
    let id = add(&rig.engine, "Ada", "ada@example.com", Some("+14155552671"));
    rig.script
        .lock()
        .unwrap()
        .push_back(Err(SendError::Transient {
            reason: "451 try later".into(),
            retry_after: None,
        }));
    run(&rig);
    rig.engine
        .edit(
            id,
            &nudge::engine::LeadEdit {
                email: Some(String::new()),
                ..Default::default()
            },
        )
        .unwrap();
    let lead = rig.engine.store().lead(id).unwrap().unwrap();
    rig.clock.set(lead.next.unwrap().at);
    run(&rig);
    let sent = sent_to(&rig, id);
    assert_eq!(sent.len(), 1, "no email once the lead has no email address");
}
