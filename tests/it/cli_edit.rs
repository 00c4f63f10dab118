//! `nudge note` and `nudge edit`, and the engine's search and stats on a
//! small known dataset (the TUI's `n`, `e`, `/` and Stats screen use the
//! same engine calls through the `EngineHandle`).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use nudge::catalog::Catalog;
use nudge::clock::ManualClock;
use nudge::domain::event::EventKind;
use nudge::domain::lead::LeadInput;
use nudge::domain::mark::Mark;
use nudge::domain::render::Sender;
use nudge::domain::sequence::Channel;
use nudge::domain::touch::RetryPolicy;
use nudge::engine::{Engine, EngineError, Settings};
use nudge::store::{BoardFilter, Store};

use crate::common::{Env, event_types};

#[test]
fn note_adds_to_the_timeline_by_id_prefix() {
    let env = Env::new();
    let id = env.add(&["--name", "Ada Lovelace", "--email", "ada@example.com"]);
    let out = env.ok(&["note", &id[..20], "call", "back", "Tuesday"]);
    assert!(out.contains("note added"), "{out}");
    let show = env.ok(&["show", &id]);
    assert!(show.contains("note: call back Tuesday"), "{show}");
    let err = env.fails(&["note", &id, "   "]);
    assert!(err.contains("a note needs some text"), "{err}");
}

#[test]
fn edit_changes_fields_and_records_each_change() {
    let env = Env::new();
    let id = env.add(&["--name", "Ada Lovelace", "--email", "ada@example.com"]);
    let out = env.ok(&[
        "edit",
        &id,
        "--email",
        "Ada@Engines.example.com",
        "--phone",
        "+1 415 555 2671",
        "--company",
        "Analytical Engines",
    ]);
    assert!(out.contains("ada@engines.example.com"), "{out}");
    let lead = env.lead(&id);
    assert_eq!(lead["email"], "ada@engines.example.com");
    assert_eq!(lead["phone"], "+14155552671");
    assert_eq!(lead["company"], "Analytical Engines");
    let show = env.show(&id);
    let edited = event_types(&show["events"])
        .iter()
        .filter(|t| *t == "edited")
        .count();
    assert_eq!(edited, 3, "one event per changed field");
    // The email index moved with the lead: the old address is free, the new one taken.
    env.add(&["--name", "Someone Else", "--email", "ada@example.com"]);
    let dup = env.fails(&[
        "add",
        "--name",
        "Copy",
        "--email",
        "ada@engines.example.com",
    ]);
    assert!(dup.contains("already exists"), "{dup}");
    let nothing = env.fails(&["edit", &id]);
    assert!(nothing.contains("nothing to change"), "{nothing}");
}

#[test]
fn edit_refuses_duplicates_suppressed_contacts_and_invalid_phones() {
    let env = Env::new();
    let ada = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let bob = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let dup = env.fails(&["edit", &bob, "--email", "ADA@example.com"]);
    assert!(
        dup.contains("a lead with this email already exists"),
        "{dup}"
    );
    env.ok(&["mark", &ada, "opted-out"]);
    env.ok(&["erase", &ada]);
    let suppressed = env.fails(&["edit", &bob, "--email", "ada@example.com"]);
    assert!(suppressed.contains("suppression list"), "{suppressed}");
    // A bad phone next to a good email is a warning, not a refusal.
    let assert = env.run(&["edit", &bob, "--phone", "12"]).success();
    let warning = crate::common::stderr(&assert);
    assert!(warning.contains("warning: invalid phone `12`"), "{warning}");
    let empty = env.fails(&["edit", &bob, "--email", ""]);
    assert!(empty.contains("needs an email or a phone"), "{empty}");
    assert_eq!(
        env.lead(&bob)["email"],
        "bob@example.com",
        "nothing changed"
    );
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

fn engine(dir: &std::path::Path) -> (Engine, Arc<ManualClock>) {
    let store = Store::open(&dir.join("data"), 8 << 20).expect("store");
    let clock = Arc::new(ManualClock::new(start()));
    let settings = Settings {
        default_tz: chrono_tz::UTC,
        default_region: None,
        sender: Sender::default(),
        retry: RetryPolicy {
            max_attempts: 3,
            base: Duration::seconds(60),
            cap: Duration::hours(6),
        },
    };
    let engine = Engine::new(
        store,
        Catalog::load(dir).expect("catalog"),
        settings,
        clock.clone(),
    )
    .with_daily_caps(vec![(Channel::Email, 200), (Channel::Sms, 50)]);
    (engine, clock)
}

fn sent(engine: &Engine, id: nudge::domain::lead::LeadId, step: &str) {
    engine
        .record(
            id,
            EventKind::TouchSent {
                step: step.into(),
                channel: Channel::Email,
                subject: None,
                body: String::new(),
                dry_run: true,
            },
        )
        .expect("sent");
}

#[test]
fn search_and_stats_on_a_known_dataset() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (engine, clock) = engine(dir.path());
    let people = [
        ("Ada Lovelace", "Analytical Engines"),
        ("Grace Hopper", "Cobol Works"),
        ("Alan Turing", "Bletchley Labs"),
        ("Barbara Liskov", "Substitution Inc"),
    ];
    let mut ids = Vec::new();
    for (i, (name, company)) in people.iter().enumerate() {
        ids.push(
            engine
                .add(&LeadInput {
                    name: name.to_string(),
                    email: Some(format!("lead{i}@example.com")),
                    company: Some(company.to_string()),
                    source: if i % 2 == 0 { "web" } else { "csv" }.into(),
                    ..LeadInput::default()
                })
                .expect("added"),
        );
    }
    let names = |found: Vec<nudge::domain::lead::Lead>| -> Vec<String> {
        found.into_iter().map(|l| l.name).collect()
    };
    assert_eq!(
        names(engine.search("LOVE", 200).expect("search")),
        vec!["Ada Lovelace"]
    );
    assert_eq!(
        names(engine.search("works", 200).expect("search")),
        vec!["Grace Hopper"]
    );
    assert_eq!(engine.search("example.com", 2).expect("search").len(), 2);
    assert!(engine.search("  ", 200).expect("search").is_empty());
    assert_eq!(engine.sources(10).expect("sources"), vec!["csv", "web"]);

    // Ada: intro after 2 min, replied. Grace: intro after 4 min, then the
    // second step a day later, then booked. Alan: intro after 6 min. Barbara: nothing.
    let step = |n: usize| {
        engine.catalog().get("default").expect("default").steps[n]
            .id
            .clone()
    };
    clock.advance(Duration::minutes(2));
    sent(&engine, ids[0], &step(0));
    clock.advance(Duration::minutes(2));
    sent(&engine, ids[1], &step(0));
    clock.advance(Duration::minutes(2));
    sent(&engine, ids[2], &step(0));
    engine.mark(ids[0], Mark::Replied, None).expect("replied");
    clock.advance(Duration::days(1));
    sent(&engine, ids[1], &step(1));
    engine.mark(ids[1], Mark::Booked, None).expect("booked");

    let stats = engine.stats(&BoardFilter::default()).expect("stats");
    let f = stats.funnel;
    assert_eq!((f.captured, f.contacted, f.replied, f.booked), (4, 3, 2, 1));
    assert_eq!(stats.steps.len(), 2);
    assert_eq!(
        (
            stats.steps[0].step,
            stats.steps[0].sent,
            stats.steps[0].replied
        ),
        (1, 3, 1)
    );
    assert_eq!(
        (
            stats.steps[1].step,
            stats.steps[1].sent,
            stats.steps[1].booked
        ),
        (2, 1, 1)
    );
    assert_eq!(stats.median_speed_secs, Some(4 * 60));
    assert_eq!(stats.sends_per_day.iter().sum::<u64>(), 4);
    assert_eq!(*stats.sends_per_day.last().expect("today"), 1);
    // Dry runs do not count against the caps.
    assert_eq!(stats.today[0].channel, Channel::Email);
    assert_eq!((stats.today[0].sent, stats.today[0].cap), (0, 200));
    assert_eq!(stats.today[1].cap, 50);
    // A source filter narrows everything.
    let web = engine
        .stats(&BoardFilter {
            source: Some("web"),
            ..BoardFilter::default()
        })
        .expect("stats");
    assert_eq!(web.funnel.captured, 2);
    assert_eq!(web.funnel.replied, 1);
}

#[test]
fn a_hot_lead_leaves_its_step_for_the_hot_stage() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (engine, _) = engine(dir.path());
    let id = engine
        .add(&LeadInput {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            source: "web".into(),
            ..LeadInput::default()
        })
        .expect("added");
    engine
        .update(id, |current, _, _| {
            let mut lead = current.clone();
            lead.hot = true;
            Ok::<_, EngineError>(nudge::domain::mark::LeadUpdate {
                lead,
                events: vec![EventKind::Hot { score: 5 }],
                suppress: None,
                touch: None,
            })
        })
        .expect("hot");
    let counts = engine
        .stage_counts(&BoardFilter::default())
        .expect("counts");
    assert_eq!(counts, vec![(nudge::domain::lead::Stage::Hot, 1)]);
    engine.mark(id, Mark::Replied, None).expect("replied");
    let counts = engine
        .stage_counts(&BoardFilter::default())
        .expect("counts");
    assert_eq!(
        counts,
        vec![(
            nudge::domain::lead::Stage::Status(nudge::domain::status::Status::Replied),
            1
        )],
        "a hot lead that replies is in Replied"
    );
}
