//! `nudge seq list|lint|preview` and broken sequence files.

use chrono::{DateTime, Datelike, Timelike, Weekday};
use serde_json::Value;

use crate::common::{CALL_FIRST, Env, SENDER_CONFIG, json_lines, line_of, stderr, stdout};

const STEPS: [&str; 7] = [
    "intro",
    "text-hello",
    "resource",
    "call",
    "case-study",
    "objection",
    "close",
];

fn preview(env: &Env, args: &[&str]) -> Vec<Value> {
    json_lines(&env.ok(&[&["seq", "preview"], args, &["--json"]].concat()))
}

fn strings(touches: &[Value], key: &str) -> Vec<String> {
    touches
        .iter()
        .map(|t| t[key].as_str().unwrap_or("null").to_string())
        .collect()
}

/// `local` and `utc` are the same instant, and the local wall time is inside
/// the default sequence's window (Mon–Fri 09:00–17:00).
fn assert_consistent(touch: &Value) {
    let local = DateTime::parse_from_rfc3339(touch["local"].as_str().expect("local"))
        .expect("local is RFC 3339");
    let utc =
        DateTime::parse_from_rfc3339(touch["utc"].as_str().expect("utc")).expect("utc is RFC 3339");
    assert_eq!(local, utc, "same instant: {touch}");
    assert_eq!(utc.offset().local_minus_utc(), 0, "utc is UTC: {touch}");
    let tz: chrono_tz::Tz = touch["time_zone"]
        .as_str()
        .expect("time_zone")
        .parse()
        .expect("IANA zone");
    assert_eq!(
        local.naive_local(),
        utc.with_timezone(&tz).naive_local(),
        "local wall time is the zone's: {touch}"
    );
    assert!(
        !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
        "weekday: {touch}"
    );
    assert!(
        (9..17).contains(&local.hour()),
        "inside 09:00-17:00: {touch}"
    );
}

#[test]
fn preview_default_in_berlin_as_json() {
    let env = Env::new();
    let touches = preview(
        &env,
        &[
            "default",
            "--start",
            "2026-12-04T10:00:00Z",
            "--tz",
            "Europe/Berlin",
        ],
    );
    assert_eq!(touches.len(), 7);
    for key in ["step", "channel", "local", "utc", "subject", "body"] {
        assert!(
            touches.iter().all(|t| t.get(key).is_some()),
            "every touch has `{key}`"
        );
    }
    assert_eq!(strings(&touches, "step"), STEPS);
    assert_eq!(
        strings(&touches, "channel"),
        ["email", "sms", "email", "call", "email", "sms", "email"]
    );
    // Friday 11:00 Berlin is inside the window, so the intro goes out at the start.
    assert_eq!(
        strings(&touches, "utc"),
        [
            "2026-12-04T10:00:00+00:00",
            "2026-12-07T08:00:00+00:00",
            "2026-12-09T08:00:00+00:00",
            "2026-12-11T08:00:00+00:00",
            "2026-12-14T08:00:00+00:00",
            "2026-12-17T08:00:00+00:00",
            "2026-12-21T08:00:00+00:00",
        ]
    );
    assert_eq!(touches[0]["local"], "2026-12-04T11:00:00+01:00");
    for touch in &touches {
        assert_consistent(touch);
        assert_eq!(touch["time_zone"], "Europe/Berlin");
        assert!(
            touch["local"].as_str().expect("local").ends_with("+01:00"),
            "Berlin is UTC+1 in December: {touch}"
        );
        let body = touch["body"].as_str().expect("body");
        assert!(body.contains("Alex"), "sample lead's name: {body}");
        if touch["channel"] == "email" {
            assert!(touch["subject"].is_string(), "{touch}");
            assert!(body.contains("Sam Seller, Acme Tools"), "footer: {body}");
        } else {
            assert!(touch["subject"].is_null(), "{touch}");
        }
    }
    assert_eq!(touches[0]["subject"], "Alex, the guide you asked about");
    assert_eq!(touches[2]["subject"], "Re: Alex, the guide you asked about");
    assert!(
        touches[1]["body"]
            .as_str()
            .expect("body")
            .ends_with("Reply STOP to opt out"),
        "first SMS carries the opt-out line"
    );
    assert!(
        touches[0]["body"]
            .as_str()
            .expect("body")
            .contains("https://cal.example.com/sam")
    );
    // No database is needed for a preview.
    assert!(!env.data_dir().exists());
}

#[test]
fn preview_follows_daylight_saving_time() {
    let env = Env::new();
    // Thursday 10:00 EST; New York switches to EDT on Sunday 2026-03-08.
    let touches = preview(
        &env,
        &[
            "default",
            "--start",
            "2026-03-05T15:00:00Z",
            "--tz",
            "America/New_York",
        ],
    );
    assert_eq!(touches.len(), 7);
    let local = strings(&touches, "local");
    assert_eq!(local[0], "2026-03-05T10:00:00-05:00");
    assert_eq!(local[1], "2026-03-06T10:00:00-05:00");
    assert_eq!(local[2], "2026-03-09T09:00:00-04:00", "{local:?}");
    for touch in &touches {
        assert_consistent(touch);
    }
    assert!(
        local[2..].iter().all(|l| l.ends_with("-04:00")),
        "{local:?}"
    );
}

#[test]
fn preview_uses_the_leads_zone_and_details() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--phone",
        "+14155552671",
        "--company",
        "Engines",
        "--tz",
        "Asia/Kathmandu",
        "--sms-consent",
        "form",
    ]);
    let start = "2026-12-04T10:00:00Z";
    let touches = preview(&env, &["default", "--lead", &id, "--start", start]);
    assert_eq!(touches.len(), 7);
    for touch in &touches {
        assert_eq!(touch["time_zone"], "Asia/Kathmandu");
        assert!(
            touch["local"].as_str().expect("local").ends_with("+05:45"),
            "{touch}"
        );
        assert_consistent(touch);
        assert!(
            touch["body"].as_str().expect("body").contains("Ada"),
            "{touch}"
        );
    }
    assert_eq!(touches[0]["subject"], "Ada, the guide you asked about");
    assert!(
        touches[4]["body"]
            .as_str()
            .expect("body")
            .contains("for Engines"),
        "{}",
        touches[4]["body"]
    );
    // The same calendar as a sample lead in that zone, different from Berlin's.
    let sample = preview(
        &env,
        &["default", "--tz", "Asia/Kathmandu", "--start", start],
    );
    assert_eq!(strings(&touches, "utc"), strings(&sample, "utc"));
    let berlin = preview(
        &env,
        &["default", "--tz", "Europe/Berlin", "--start", start],
    );
    assert_ne!(strings(&touches, "utc"), strings(&berlin, "utc"));
    // Previewing does not change the lead.
    assert_eq!(env.lead(&id)["status"], "active");
    assert_eq!(env.show(&id)["events"].as_array().expect("events").len(), 2);
}

#[test]
fn preview_skips_steps_the_lead_cannot_receive() {
    let env = Env::new();
    let id = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let touches = preview(
        &env,
        &["default", "--lead", &id, "--start", "2026-12-04T10:00:00Z"],
    );
    assert_eq!(
        strings(&touches, "step"),
        ["intro", "resource", "case-study", "close"]
    );
    assert_eq!(touches[1]["skipped"][0]["step"], "text-hello");
    assert_eq!(touches[1]["skipped"][0]["reason"], "no phone number");
    assert_eq!(touches[3]["skipped"][0]["step"], "objection");
}

#[test]
fn preview_as_text() {
    let env = Env::new();
    let out = env.ok(&[
        "seq",
        "preview",
        "default",
        "--start",
        "2026-12-04T10:00:00Z",
        "--tz",
        "Europe/Berlin",
    ]);
    for needle in [
        "default for Alex Rivera (Europe/Berlin), starting 2026-12-04T10:00:00+00:00",
        "  #1 intro · email · Fri 2026-12-04 11:00 Europe/Berlin (2026-12-04 10:00 UTC, now)",
        "    Subject: Alex, the guide you asked about",
        "    | Hi Alex,",
        "  #2 text-hello · sms · Mon 2026-12-07 09:00 Europe/Berlin (2026-12-07 08:00 UTC, in 2d)",
        "  #7 close · email · Mon 2026-12-21 09:00 Europe/Berlin",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
}

#[test]
fn preview_bad_arguments() {
    let env = Env::new();
    let err = env.fails(&["seq", "preview", "default", "--start", "next friday"]);
    assert!(
        err.contains("--start `next friday` is not an RFC 3339 time"),
        "{err}"
    );
    let err = env.fails(&["seq", "preview", "nope"]);
    assert!(
        err.contains("no sequence named `nope` (known: default)"),
        "{err}"
    );
    let err = env.fails(&["seq", "preview", "default", "--tz", "Mars/Olympus"]);
    assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
    // --lead and --tz conflict: a usage error from the argument parser.
    let assert = env
        .run(&["seq", "preview", "default", "--lead", "01", "--tz", "UTC"])
        .code(2);
    assert!(
        stderr(&assert).contains("cannot be used with"),
        "{}",
        stderr(&assert)
    );
}

#[test]
fn seq_list_shows_every_source() {
    let env = Env::new();
    let out = env.ok(&["seq", "list"]);
    assert!(
        out.contains(
            "default          7 steps over 15 days (email, sms, email, call, email, sms, email)  (built-in)"
        ),
        "{out}"
    );
    assert!(
        out.contains("7 touches over three weeks: an instant intro, SMS"),
        "description: {out}"
    );

    let calls = env.write_sequence("calls.toml", CALL_FIRST);
    // ./sequences (the working directory's) is searched after the config dir.
    env.write_file(
        "sequences/local.toml",
        CALL_FIRST.replace("name = \"calls\"", "name = \"local\""),
    );
    env.write_file(
        "sequences/shadowed.toml",
        CALL_FIRST.replace(
            "description = \"a call first, then an email\"",
            "description = \"from cwd\"",
        ),
    );
    let out = env.ok(&["seq", "list"]);
    assert!(
        out.contains(&format!(
            "calls            2 steps over 1 days (call, email)  {}",
            calls.display()
        )),
        "{out}"
    );
    assert!(out.contains("local            2 steps"), "{out}");
    assert!(out.contains("sequences/local.toml"), "{out}");
    // `shadowed.toml` also names itself `calls`: the config dir's file wins.
    assert!(!out.contains("from cwd"), "{out}");
    assert!(out.contains("(built-in)"), "{out}");
}

#[test]
fn seq_lint_all_visible_sequences() {
    let env = Env::new();
    env.run(&["seq", "lint"])
        .success()
        .stdout("(built-in): ok\n");

    // Without a [sender], the default's templates render empty sender fields.
    let env = Env::new();
    env.write_config("");
    let assert = env.run(&["seq", "lint"]).code(3);
    let out = stdout(&assert);
    assert!(
        out.contains("(built-in): warning: templates use sender_name but [sender] name is not set"),
        "{out}"
    );
    assert!(out.contains("booking_url"), "{out}");
}

#[test]
fn seq_lint_files_flags_copy_problems() {
    let env = Env::new();
    env.write_config(SENDER_CONFIG);
    let naggy = CALL_FIRST.replace(
        "Thanks for the call. Reply stop and I will not write again.",
        "Just checking in on this.",
    );
    env.write_file("naggy.toml", naggy);
    let good = env.write_file("good.toml", include_str!("../../sequences/default.toml"));
    let assert = env
        .run(&["seq", "lint", "naggy.toml", &good.display().to_string()])
        .code(3);
    let out = stdout(&assert);
    assert!(
        out.contains("naggy.toml: step `follow-up`: warning: \"just checking in\" adds nothing"),
        "{out}"
    );
    assert!(
        out.contains("naggy.toml: step `follow-up`: warning: email has no opt-out line"),
        "{out}"
    );
    assert!(out.contains("naggy.toml: warning: 2 steps"), "{out}");
    assert!(out.contains(&format!("{}: ok", good.display())), "{out}");
}

#[test]
fn seq_lint_broken_file_names_file_line_and_field() {
    let env = Env::new();
    let broken = CALL_FIRST.replace("delay = \"1d\"", "dealy = \"1d\"");
    let line = line_of(&broken, "dealy");
    env.write_file("broken.toml", &broken);
    env.write_file("good.toml", CALL_FIRST);
    let assert = env
        .run(&["seq", "lint", "good.toml", "broken.toml"])
        .code(1);
    let out = stdout(&assert);
    assert!(
        out.contains(&format!(
            "error: broken.toml:{line}:1: steps[1].dealy: unknown field `dealy`"
        )),
        "{out}"
    );
    assert!(
        stderr(&assert).contains("1 of 2 sequence files are invalid"),
        "{}",
        stderr(&assert)
    );
    let err = env.fails(&["seq", "lint", "missing.toml"]);
    assert!(err.contains("1 of 1 sequence files are invalid"), "{err}");
}

#[test]
fn broken_sequence_in_config_dir_stops_add_and_names_the_spot() {
    let env = Env::new();
    let broken = CALL_FIRST.replace("delay = \"1d\"", "dealy = \"1d\"");
    let line = line_of(&broken, "dealy");
    let path = env.write_sequence("calls.toml", &broken);
    let spot = format!(
        "{}:{line}:1: steps[1].dealy: unknown field `dealy`",
        path.display()
    );
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(err.contains(&spot), "{err}");
    env.assert_no_leads();
    let err = env.fails(&["seq", "list"]);
    assert!(err.contains(&spot), "{err}");
    let err = env.fails(&["seq", "lint"]);
    assert!(err.contains(&spot), "{err}");
    env.write_file("people.csv", "name,email\nAda,ada@example.com\n");
    let err = env.fails(&["import", "people.csv"]);
    assert!(err.contains(&spot), "{err}");
    env.assert_no_leads();
}

#[test]
fn undefined_template_variable_is_caught_at_load() {
    let env = Env::new();
    let broken = CALL_FIRST.replace("Call {{ first_name }}", "Call {{ frist_name }}");
    let line = line_of(&broken, "frist_name");
    let path = env.write_sequence("calls.toml", &broken);
    let err = env.fails(&[
        "add",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--sequence",
        "calls",
    ]);
    assert!(
        err.contains(&format!("{}:{line}:", path.display())),
        "names file and line: {err}"
    );
    assert!(err.contains("steps[0].body"), "{err}");
    assert!(
        err.contains("undefined template variable `frist_name`"),
        "{err}"
    );
    assert!(err.contains("known: name, first_name"), "{err}");
    env.assert_no_leads();

    let assert = env
        .run(&["seq", "lint", &path.display().to_string()])
        .code(1);
    assert!(
        stdout(&assert).contains("undefined template variable `frist_name`"),
        "{}",
        stdout(&assert)
    );
}

/// The default sequence as it shipped before the first touch went out at any
/// hour: every step in the business-hours window, 21 days of delays.
fn office_hours_default() -> String {
    let mut out = include_str!("../../sequences/default.toml").replace("window = \"always\"\n", "");
    for (old, new) in [
        (
            "id = \"call\"\ndelay = \"2d\"",
            "id = \"call\"\ndelay = \"3d\"",
        ),
        (
            "id = \"case-study\"\ndelay = \"3d\"",
            "id = \"case-study\"\ndelay = \"4d\"",
        ),
        (
            "id = \"objection\"\ndelay = \"3d\"",
            "id = \"objection\"\ndelay = \"4d\"",
        ),
        (
            "id = \"close\"\ndelay = \"4d\"",
            "id = \"close\"\ndelay = \"7d\"",
        ),
    ] {
        assert!(out.contains(old), "default.toml still has `{old}`");
        out = out.replace(old, new);
    }
    out.replace("name = \"default\"", "name = \"office\"")
}

#[test]
fn seq_lint_names_the_first_touch_wait_and_the_real_calendar_span() {
    let env = Env::new();
    env.write_config(SENDER_CONFIG);
    let office = env.write_file("office.toml", office_hours_default());
    let assert = env
        .run(&["seq", "lint", &office.display().to_string()])
        .code(3);
    let out = stdout(&assert);
    assert!(
        out.contains(
            "step `intro`: warning: the first touch waits for the window: a lead captured Friday 17:00 hears from you Monday 09:00 (64 hours later)"
        ),
        "{out}"
    );
    // 21 days of delays, but weekends push the last touch past three weeks.
    assert!(
        out.contains("warning: a lead captured Friday")
            && out.contains("days on the real calendar"),
        "{out}"
    );
    // The shipped default: immediate first touch, inside 14–21 days for
    // every capture weekday.
    env.run(&["seq", "lint"])
        .success()
        .stdout("(built-in): ok\n");
}

#[test]
fn saturday_night_lead_gets_the_intro_at_once_and_the_rest_in_the_window() {
    let env = Env::new();
    // Saturday 23:30 in New York (EST).
    let touches = preview(
        &env,
        &[
            "default",
            "--start",
            "2026-12-06T04:30:00Z",
            "--tz",
            "America/New_York",
        ],
    );
    assert_eq!(touches[0]["step"], "intro");
    assert_eq!(touches[0]["local"], "2026-12-05T23:30:00-05:00");
    for touch in &touches[1..] {
        assert_consistent(touch);
    }
    let sim = env.ok(&[
        "simulate",
        "default",
        "--leads",
        "1",
        "--start",
        "2026-12-06T04:30:00Z",
        "--json",
    ]);
    let sim: Value = serde_json::from_str(&sim).expect("simulate --json");
    assert_eq!(sim["timeline"][0]["at"], "2026-12-06T04:30:00Z", "{sim}");
    assert!(
        sim["timeline"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("intro via email")),
        "{sim}"
    );
}

#[test]
fn a_click_pulls_the_next_email_to_the_next_window_start_in_simulate() {
    let env = Env::new();
    env.write_sequence("office.toml", &office_hours_default());
    // Sunday 08:48 New York; the click lands Wednesday 08:48, before the
    // resource email planned for Thursday 09:00.
    let sim = env.ok(&[
        "simulate",
        "office",
        "--leads",
        "1",
        "--start",
        "2026-11-29T13:48:00Z",
        "--script",
        "clicked@3d",
        "--json",
    ]);
    let sim: Value = serde_json::from_str(&sim).expect("simulate --json");
    let timeline = sim["timeline"].as_array().expect("timeline");
    let at = |needle: &str| {
        timeline
            .iter()
            .find(|l| l["text"].as_str().is_some_and(|t| t.contains(needle)))
            .map(|l| l["at"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        at("lead clicked").as_deref(),
        Some("2026-12-02T13:48:00Z"),
        "{sim}"
    );
    // Wednesday 09:00 EST, not Thursday.
    assert_eq!(
        at("resource via email").as_deref(),
        Some("2026-12-02T14:00:00Z"),
        "{sim}"
    );
}
