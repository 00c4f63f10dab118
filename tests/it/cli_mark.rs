//! `nudge mark`: every mark, its effect on status, schedule and suppression.

use crate::common::{CALL_FIRST, Env, event_types};

fn ada(env: &Env) -> String {
    env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--phone",
        "+14155552671",
    ])
}

#[test]
fn replied_stops_the_sequence() {
    let env = Env::new();
    let id = ada(&env);
    assert!(env.show(&id)["next"].is_object());
    let out = env.ok(&["mark", &id, "replied", "--note", "wants a demo"]);
    assert_eq!(out.trim(), format!("{id} Ada Lovelace → replied"));
    let lead = env.lead(&id);
    assert_eq!(lead["status"], "replied");
    assert_eq!(lead["stage"], "replied");
    assert!(lead.get("next").is_none(), "no next touch: {lead}");
    let shown = env.show(&id);
    assert!(shown["next"].is_null(), "{shown}");
    assert_eq!(
        event_types(&shown["events"]),
        ["captured", "touch_scheduled", "replied", "note"]
    );
    assert_eq!(shown["events"][3]["text"], "wants a demo");
    let text = env.ok(&["show", &id]);
    assert!(text.contains("none (lead is not active)"), "{text}");
    assert!(text.contains("note: wants a demo"), "{text}");
}

#[test]
fn booked_and_handed_off_are_recorded() {
    let env = Env::new();
    let a = ada(&env);
    let b = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    env.ok(&["mark", &a, "booked"]);
    env.ok(&["mark", &b, "handed-off"]);
    assert_eq!(env.lead(&a)["status"], "booked");
    assert_eq!(env.lead(&b)["status"], "handed-off");
    assert!(env.show(&a)["next"].is_null());
    assert!(env.show(&b)["next"].is_null());
    assert_eq!(event_types(&env.show(&a)["events"])[2], "booked");
    assert_eq!(event_types(&env.show(&b)["events"])[2], "handed_off");
    // booked → handed-off is a legal move; handed-off → paused is not.
    env.ok(&["mark", &a, "handed-off"]);
    assert_eq!(env.lead(&a)["status"], "handed-off");
    let err = env.fails(&["mark", &b, "paused"]);
    assert!(
        err.contains("a lead cannot go from handed-off to paused"),
        "{err}"
    );
    assert_eq!(env.lead(&b)["status"], "handed-off");
}

#[test]
fn paused_then_resumed_schedules_again() {
    let env = Env::new();
    let id = ada(&env);
    let out = env.ok(&["mark", &id, "paused"]);
    assert_eq!(out.trim(), format!("{id} Ada Lovelace → paused"));
    let lead = env.lead(&id);
    assert_eq!(lead["status"], "paused");
    assert!(lead.get("next").is_none(), "{lead}");
    assert!(env.show(&id)["next"].is_null());
    let err = env.fails(&["mark", &id, "paused"]);
    assert!(
        err.contains("a lead cannot go from paused to paused"),
        "{err}"
    );

    let out = env.ok(&["mark", &id, "resumed"]);
    assert!(
        out.starts_with(&format!("{id} Ada Lovelace → active; next: intro (email)")),
        "{out}"
    );
    let lead = env.lead(&id);
    assert_eq!(lead["status"], "active");
    assert_eq!(lead["next"]["step_id"], "intro");
    let shown = env.show(&id);
    assert_eq!(shown["next"]["step"], "intro");
    assert_eq!(
        event_types(&shown["events"]),
        [
            "captured",
            "touch_scheduled",
            "paused",
            "resumed",
            "touch_scheduled"
        ]
    );
}

#[test]
fn opted_out_suppresses_the_contact_for_good() {
    let env = Env::new();
    let id = ada(&env);
    env.ok(&["mark", &id, "opted-out"]);
    let lead = env.lead(&id);
    assert_eq!(lead["status"], "opted-out");
    assert!(lead.get("next").is_none());
    // Neither the email (any case) nor the phone (any format) can come back.
    let err = env.fails(&["add", "--name", "Ada", "--email", "ADA@Example.com"]);
    assert!(
        err.contains("this contact is on the suppression list (opted out)"),
        "{err}"
    );
    let err = env.fails(&["add", "--name", "Ada", "--phone", "+1 (415) 555-2671"]);
    assert!(err.contains("suppression list (opted out)"), "{err}");
    // Opted out is final.
    for mark in ["resumed", "replied", "booked"] {
        let err = env.fails(&["mark", &id, mark]);
        assert!(err.contains("a lead cannot go from opted-out to"), "{err}");
    }
    assert_eq!(env.leads().len(), 1);
    assert_eq!(env.lead(&id)["status"], "opted-out");
}

#[test]
fn called_fails_when_the_next_touch_is_an_email() {
    let env = Env::new();
    let id = ada(&env);
    let err = env.fails(&["mark", &id, "called"]);
    assert!(
        err.contains("no call is due for this lead; the next touch is intro (email)"),
        "{err}"
    );
    let shown = env.show(&id);
    assert_eq!(shown["lead"]["status"], "active");
    assert_eq!(event_types(&shown["events"]).len(), 2, "nothing recorded");
}

#[test]
fn called_records_the_call_and_moves_on() {
    let env = Env::new();
    env.write_sequence("calls.toml", CALL_FIRST);
    let id = env.add(&[
        "--name",
        "Grace Hopper",
        "--email",
        "grace@example.com",
        "--phone",
        "+14155552671",
        "--company",
        "Navy",
        "--sequence",
        "calls",
    ]);
    let lead = env.lead(&id);
    assert_eq!(lead["sequence"], "calls");
    assert_eq!(lead["next"]["step_id"], "first-call");
    assert_eq!(lead["next"]["channel"], "call");

    let out = env.ok(&["mark", &id, "called", "--note", "left a voicemail"]);
    assert!(
        out.starts_with(&format!(
            "{id} Grace Hopper → active; next: follow-up (email)"
        )),
        "{out}"
    );
    let shown = env.show(&id);
    assert_eq!(shown["lead"]["stage"], "step-1");
    assert_eq!(shown["lead"]["last_step"], 0);
    assert_eq!(shown["next"]["step"], "follow-up");
    assert_eq!(shown["next"]["subject"], "Good talking, Grace");
    let types = event_types(&shown["events"]);
    assert_eq!(
        types,
        [
            "captured",
            "touch_scheduled",
            "touch_sent",
            "called",
            "touch_scheduled",
            "note"
        ]
    );
    let sent = &shown["events"][2];
    assert_eq!(sent["step"], "first-call");
    assert_eq!(sent["channel"], "call");
    assert_eq!(sent["body"], "Call Grace at Navy.");
    assert_eq!(shown["events"][5]["text"], "left a voicemail");

    // The call is done: marking it again names the step that is next instead.
    let err = env.fails(&["mark", &id, "called"]);
    assert!(
        err.contains("no call is due for this lead; the next touch is follow-up (email)"),
        "{err}"
    );
}

#[test]
fn called_without_anything_scheduled_says_so() {
    let env = Env::new();
    let id = ada(&env);
    env.ok(&["mark", &id, "paused"]);
    let err = env.fails(&["mark", &id, "called"]);
    assert!(err.contains("no call is due for this lead"), "{err}");
    assert!(!err.contains("next touch is"), "{err}");
}

#[test]
fn unknown_mark_is_refused() {
    let env = Env::new();
    let id = ada(&env);
    let err = env.fails(&["mark", &id, "ghosted"]);
    assert!(err.contains("unknown mark `ghosted`"), "{err}");
    assert!(err.contains("replied, booked, paused, resumed"), "{err}");
    assert_eq!(env.lead(&id)["status"], "active");
}
