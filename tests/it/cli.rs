//! init, add, leads, show, export, erase, status, dev seed and id prefixes.

use std::collections::HashMap;

use predicates::prelude::*;

use crate::common::{CALL_FIRST, Env, event_types, json_lines, stderr, stdout, unique_prefix};

const BUILTIN_DEFAULT: &str = include_str!("../../sequences/default.toml");

/// `status` lines `  active      2` as a map, plus `due now`.
fn status_counts(text: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["due", "now", n] => {
                counts.insert("due now".to_string(), n.parse().expect("count"));
            }
            [name, n] if n.parse::<u64>().is_ok() => {
                counts.insert(name.to_string(), n.parse().expect("count"));
            }
            _ => {}
        }
    }
    counts
}

// ---------------------------------------------------------------- init

#[test]
fn init_writes_config_sequence_and_themes() {
    let env = Env::bare();
    let out = env.ok(&["init"]);
    let config = std::fs::read_to_string(env.config_file()).expect("config written");
    assert!(config.contains("[general]") && config.contains("default_tz = \"UTC\""));
    assert!(config.contains("[sender]") && config.contains("[store]"));
    let seq = std::fs::read_to_string(env.config_dir().join("sequences/default.toml"))
        .expect("default sequence written");
    assert_eq!(seq, BUILTIN_DEFAULT);
    for theme in ["dark", "light", "high-contrast"] {
        let path = env.config_dir().join(format!("themes/{theme}.toml"));
        assert!(path.is_file(), "{} missing", path.display());
        assert!(
            out.contains(&format!("wrote {}", path.display())),
            "init reports each file: {out}"
        );
    }
    assert!(out.contains(&format!("wrote {}", env.config_file().display())));
    // No temporary files left behind.
    assert!(!env.config_dir().join("config.tmp-nudge").exists());
    // The written config works, and the default sequence now comes from the file.
    let list = env.ok(&["seq", "list"]);
    assert!(
        list.contains(
            &env.config_dir()
                .join("sequences/default.toml")
                .display()
                .to_string()
        ),
        "{list}"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let env = Env::bare();
    env.ok(&["init"]);
    std::fs::write(env.config_file(), "# mine\n").expect("edit config");
    let err = env.fails(&["init"]);
    assert!(
        err.contains(&env.config_file().display().to_string()),
        "{err}"
    );
    assert!(err.contains("already exists; pass --force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(env.config_file()).expect("config"),
        "# mine\n",
        "the existing config is untouched"
    );
}

#[test]
fn init_force_rewrites_config_but_keeps_edited_sequences() {
    let env = Env::bare();
    env.ok(&["init"]);
    std::fs::write(env.config_file(), "# mine\n").expect("edit config");
    let seq_path = env.config_dir().join("sequences/default.toml");
    let edited = BUILTIN_DEFAULT.replace("7 touches over three weeks", "my edited sequence");
    std::fs::write(&seq_path, &edited).expect("edit sequence");
    let out = env.ok(&["init", "--force"]);
    let config = std::fs::read_to_string(env.config_file()).expect("config");
    assert!(config.contains("[general]"), "config rewritten: {config}");
    assert_eq!(
        std::fs::read_to_string(&seq_path).expect("sequence"),
        edited
    );
    assert!(
        out.contains(&format!("kept {} (already there)", seq_path.display())),
        "{out}"
    );
}

// ---------------------------------------------------------------- add

#[test]
fn add_prints_id_and_stores_every_field() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "  Ada Lovelace ",
        "--email",
        "Ada@Example.COM",
        "--phone",
        "+1 (415) 555-2671",
        "--company",
        "Analytical Engines",
        "--tz",
        "Europe/Berlin",
        "--source",
        "webinar",
        "--field",
        "plan=pro",
        "--field",
        "seats=12",
        "--email-consent",
        "signup form",
        "--sms-consent",
        "web form",
    ]);
    let leads = env.leads();
    assert_eq!(leads.len(), 1);
    let lead = &leads[0];
    assert_eq!(lead["id"], id.as_str());
    assert_eq!(lead["name"], "Ada Lovelace");
    assert_eq!(lead["email"], "ada@example.com");
    assert_eq!(lead["phone"], "+14155552671");
    assert_eq!(lead["company"], "Analytical Engines");
    assert_eq!(lead["tz"], "Europe/Berlin");
    assert_eq!(lead["source"], "webinar");
    assert_eq!(lead["sequence"], "default");
    assert_eq!(lead["status"], "active");
    assert_eq!(lead["stage"], "new");
    assert_eq!(lead["fields"]["plan"], "pro");
    assert_eq!(lead["fields"]["seats"], "12");
    assert_eq!(lead["consent"]["email"]["how"], "signup form");
    assert_eq!(lead["consent"]["sms"]["how"], "web form");
    assert_eq!(lead["next"]["step_id"], "intro");
    assert_eq!(lead["next"]["channel"], "email");

    let shown = env.show(&id);
    assert_eq!(
        event_types(&shown["events"]),
        ["captured", "touch_scheduled"]
    );
    assert_eq!(shown["events"][0]["source"], "webinar");
    assert_eq!(shown["next"]["step"], "intro");
    assert_eq!(shown["next"]["time_zone"], "Europe/Berlin");
    assert_eq!(shown["next"]["subject"], "Ada, the guide you asked about");
}

#[test]
fn add_defaults_source_and_uses_configured_region_and_zone() {
    let env = Env::new();
    env.write_config(&format!(
        "[general]\ndefault_tz = \"America/New_York\"\ndefault_region = \"DE\"\n{}",
        crate::common::SENDER_CONFIG
    ));
    let id = env.add(&["--name", "Konrad Zuse", "--phone", "030 901820"]);
    let lead = env.lead(&id);
    assert_eq!(lead["phone"], "+4930901820");
    assert_eq!(lead["source"], "cli");
    assert!(lead.get("tz").is_none(), "no zone stored: {lead}");
    let shown = env.show(&id);
    // Without an email the first email step is skipped; the SMS step needs consent.
    assert_eq!(shown["next"]["time_zone"], "America/New_York");
    assert_eq!(shown["next"]["channel"], "call");
    let text = env.ok(&["show", &id]);
    assert!(text.contains("America/New_York (default)"), "{text}");
}

#[test]
fn add_with_sms_consent_gets_the_sms_steps() {
    let env = Env::new();
    let with = env.add(&[
        "--name",
        "Grace Hopper",
        "--phone",
        "+14155550123",
        "--sms-consent",
        "verbal on call",
    ]);
    let without = env.add(&["--name", "Alan Turing", "--phone", "+442079460958"]);
    // Neither has an email, so the intro email is skipped; the SMS step is next
    // only for the lead who gave SMS consent.
    assert_eq!(env.show(&with)["next"]["step"], "text-hello");
    assert_eq!(env.show(&with)["next"]["channel"], "sms");
    assert_eq!(env.show(&without)["next"]["step"], "call");
    // The plan says why: no SMS consent (and no email) for one, all texts for the other.
    let plan = |id: &str| {
        json_lines(&env.ok(&[
            "seq",
            "preview",
            "default",
            "--lead",
            id,
            "--start",
            "2026-12-04T10:00:00Z",
            "--json",
        ]))
    };
    let steps = |touches: &[serde_json::Value]| -> Vec<String> {
        touches
            .iter()
            .map(|t| t["step"].as_str().expect("step").to_string())
            .collect()
    };
    assert_eq!(
        steps(&plan(&with)),
        ["text-hello", "call", "objection"],
        "emails skipped, texts kept"
    );
    let touches = plan(&without);
    assert_eq!(steps(&touches), ["call"]);
    let skipped: Vec<(String, String)> = touches[0]["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            ("intro".to_string(), "no email address".to_string()),
            ("text-hello".to_string(), "no SMS consent".to_string()),
            ("resource".to_string(), "no email address".to_string()),
        ]
    );
}

#[test]
fn add_refuses_duplicates_by_normalised_email_and_phone() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--phone",
        "+14155552671",
    ]);
    let err = env.fails(&["add", "--name", "Ada Again", "--email", " ADA@example.COM "]);
    assert!(
        err.contains(&format!("a lead with this email already exists: {id}")),
        "{err}"
    );
    let err = env.fails(&["add", "--name", "Ada Phone", "--phone", "+1 415-555-2671"]);
    assert!(
        err.contains(&format!("a lead with this phone already exists: {id}")),
        "{err}"
    );
    assert_eq!(env.leads().len(), 1);
}

// ---------------------------------------------------------------- leads

#[test]
fn leads_lists_newest_first_and_filters() {
    let env = Env::new();
    env.write_sequence("calls.toml", CALL_FIRST);
    let a = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let b = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let c = env.add(&[
        "--name",
        "Cleo",
        "--email",
        "cleo@example.com",
        "--phone",
        "+14155550123",
        "--sequence",
        "calls",
    ]);
    env.ok(&["mark", &b, "replied"]);
    env.ok(&["mark", &c, "called"]);

    let ids = |args: &[&str]| -> Vec<String> {
        json_lines(&env.ok(&[&["leads", "--json"], args].concat()))
            .iter()
            .map(|l| l["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(&[]), [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(ids(&["--status", "replied"]), [b.as_str()]);
    assert_eq!(ids(&["--status", "active"]), [c.as_str(), a.as_str()]);
    assert_eq!(ids(&["--sequence", "calls"]), [c.as_str()]);
    assert_eq!(ids(&["--sequence", "default"]), [b.as_str(), a.as_str()]);
    assert_eq!(ids(&["--stage", "new"]), [a.as_str()]);
    assert_eq!(ids(&["--stage", "step-1"]), [c.as_str()]);
    assert_eq!(ids(&["--stage", "replied"]), [b.as_str()]);
    assert_eq!(ids(&["--limit", "2"]), [c.as_str(), b.as_str()]);
    assert_eq!(
        ids(&["--status", "active", "--sequence", "default"]),
        [a.as_str()]
    );
    assert!(ids(&["--status", "booked"]).is_empty());

    let text = env.ok(&["leads"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS"),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].starts_with(&c) && lines[1].contains("step-1"),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&b) && lines[2].contains("replied"),
        "{text}"
    );
    assert!(
        lines[3].starts_with(&a) && lines[3].contains("email"),
        "{text}"
    );
    let none = env.ok(&["leads", "--status", "booked"]);
    assert!(none.contains("(no leads match)"), "{none}");
}

#[test]
fn leads_rejects_unknown_status_and_stage() {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let err = env.fails(&["leads", "--status", "zombie"]);
    assert!(err.contains("unknown status `zombie`"), "{err}");
    let err = env.fails(&["leads", "--stage", "step-0"]);
    assert!(err.contains("step numbers start at 1"), "{err}");
    let err = env.fails(&["leads", "--stage", "limbo"]);
    assert!(err.contains("unknown stage `limbo`"), "{err}");
}

#[test]
fn leads_json_on_empty_database_prints_nothing() {
    let env = Env::new();
    env.run(&["leads", "--json"])
        .success()
        .stdout(predicate::str::is_empty());
}

// ---------------------------------------------------------------- show

#[test]
fn show_prints_contact_timeline_and_next_touch() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--company",
        "Analytical Engines",
        "--field",
        "plan=pro",
        "--tz",
        "Asia/Tokyo",
    ]);
    let text = env.ok(&["show", &id]);
    assert!(text.starts_with(&format!("Ada Lovelace  ({id})")), "{text}");
    for needle in [
        "email      ada@example.com",
        "phone      -",
        "company    Analytical Engines",
        "time zone  Asia/Tokyo",
        "source     cli",
        "sequence   default",
        "status     active · stage new",
        "field      plan = pro",
        "Timeline",
        "captured from cli",
        "scheduled intro (email)",
        "Next touch",
        "#1 intro · email",
        "Subject: Ada, the guide you asked about",
        "| Hi Ada,",
        "Analytical Engines",
        "https://cal.example.com/sam",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

// ---------------------------------------------------------------- export

#[test]
fn export_jsonl_has_every_field_and_every_event() {
    let env = Env::new();
    let a = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--phone",
        "+14155552671",
        "--company",
        "Engines",
        "--tz",
        "Europe/London",
        "--field",
        "plan=pro",
        "--sms-consent",
        "form",
    ]);
    let b = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    env.ok(&["mark", &b, "replied", "--note", "asked for pricing"]);

    let rows = json_lines(&env.ok(&["export", "--format", "jsonl"]));
    assert_eq!(rows.len(), 2);
    // Oldest first.
    assert_eq!(rows[0]["id"], a.as_str());
    assert_eq!(rows[1]["id"], b.as_str());
    let ada = &rows[0];
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["phone"], "+14155552671");
    assert_eq!(ada["company"], "Engines");
    assert_eq!(ada["tz"], "Europe/London");
    assert_eq!(ada["fields"]["plan"], "pro");
    assert_eq!(ada["consent"]["sms"]["how"], "form");
    assert_eq!(ada["stage"], "new");
    assert_eq!(event_types(&ada["events"]), ["captured", "touch_scheduled"]);
    let bob = &rows[1];
    assert_eq!(bob["status"], "replied");
    assert_eq!(
        event_types(&bob["events"]),
        ["captured", "touch_scheduled", "replied", "note"]
    );
    assert_eq!(bob["events"][3]["text"], "asked for pricing");
    // Same events as `show`.
    assert_eq!(bob["events"], env.show(&b)["events"]);
    // The default format is jsonl.
    assert_eq!(json_lines(&env.ok(&["export"])), rows);
}

#[test]
fn export_csv_has_header_and_json_cells() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "Ada, \"the Countess\"",
        "--email",
        "ada@example.com",
        "--field",
        "note=line one\nline two",
    ]);
    env.ok(&["mark", &id, "paused"]);
    let text = env.ok(&["export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .expect("header row")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        headers,
        [
            "id",
            "name",
            "email",
            "phone",
            "company",
            "time_zone",
            "source",
            "sequence",
            "status",
            "stage",
            "created_at",
            "updated_at",
            "next_due",
            "next_step",
            "next_channel",
            "email_consent",
            "sms_consent",
            "fields",
            "events",
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    let row: HashMap<&str, &str> = headers
        .iter()
        .map(String::as_str)
        .zip(rows[0].iter())
        .collect();
    assert_eq!(row["id"], id);
    assert_eq!(row["name"], "Ada, \"the Countess\"");
    assert_eq!(row["email"], "ada@example.com");
    assert_eq!(row["status"], "paused");
    assert_eq!(row["stage"], "paused");
    assert_eq!(row["next_due"], "", "a paused lead has no next touch");
    let fields: serde_json::Value = serde_json::from_str(row["fields"]).expect("fields JSON");
    assert_eq!(fields["note"], "line one\nline two");
    let events: serde_json::Value = serde_json::from_str(row["events"]).expect("events JSON");
    assert_eq!(
        event_types(&events),
        ["captured", "touch_scheduled", "paused"]
    );
}

#[test]
fn export_out_writes_the_file_atomically() {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let expected = env.ok(&["export", "--format", "jsonl"]);
    let out = env.path().join("out.jsonl");
    let assert = env
        .run(&["export", "--format", "jsonl", "--out", "out.jsonl"])
        .success();
    assert_eq!(stdout(&assert), "", "nothing on stdout with --out");
    assert!(
        stderr(&assert).contains("exported 2 leads to out.jsonl"),
        "{}",
        stderr(&assert)
    );
    assert_eq!(std::fs::read_to_string(&out).expect("written"), expected);
    assert!(!env.path().join("out.tmp-nudge").exists());

    env.ok(&["export", "--format", "csv", "--out", "out.csv"]);
    let csv_text = std::fs::read_to_string(env.path().join("out.csv")).expect("csv written");
    assert!(csv_text.starts_with("id,name,email,"), "{csv_text}");
    assert_eq!(csv_text.lines().count(), 3);
}

#[test]
fn export_out_into_missing_directory_fails_cleanly() {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let err = env.fails(&["export", "--out", "no/such/dir/out.jsonl"]);
    assert!(
        err.contains("cannot create no/such/dir/out.tmp-nudge"),
        "{err}"
    );
    assert!(!env.path().join("no").exists());
}

// ---------------------------------------------------------------- erase

#[test]
fn erase_removes_the_lead_but_keeps_contacts_suppressed() {
    let env = Env::new();
    let id = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--phone",
        "+14155552671",
    ]);
    let other = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let out = env.ok(&["erase", &id]);
    assert_eq!(
        out.trim(),
        format!("erased {id} (Ada Lovelace) and 2 events; their contacts stay suppressed")
    );
    let leads = env.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["id"], other.as_str());
    let err = env.fails(&["show", &id]);
    assert!(err.contains(&format!("no lead matches `{id}`")), "{err}");
    let export = env.ok(&["export"]);
    assert!(
        !export.contains("ada@example.com") && !export.contains(&id),
        "{export}"
    );

    // Suppression survives the erase, for the email and for the phone.
    let err = env.fails(&["add", "--name", "Ada", "--email", "ADA@example.com"]);
    assert!(err.contains("suppression list (erased)"), "{err}");
    let err = env.fails(&["add", "--name", "Ada", "--phone", "+1 415 555 2671"]);
    assert!(err.contains("suppression list (erased)"), "{err}");
    assert_eq!(env.leads().len(), 1);
    // Erasing twice is an unknown id.
    let err = env.fails(&["erase", &id]);
    assert!(err.contains("no lead matches"), "{err}");
}

// ---------------------------------------------------------------- status, dev seed

#[test]
fn status_counts_by_status_with_and_without_subcommand() {
    let env = Env::new();
    let a = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let c = env.add(&["--name", "Cleo", "--email", "cleo@example.com"]);
    env.ok(&["mark", &a, "paused"]);
    env.ok(&["mark", &c, "opted-out"]);
    let out = env.ok(&["status"]);
    assert!(
        out.starts_with(&format!("data dir  {}", env.data_dir().display())),
        "{out}"
    );
    let counts = status_counts(&out);
    assert_eq!(counts["active"], 1);
    assert_eq!(counts["paused"], 1);
    assert_eq!(counts["opted-out"], 1);
    assert_eq!(counts["replied"], 0);
    assert_eq!(counts["completed"], 0);
    assert!(counts.contains_key("due now"), "{out}");
    assert_eq!(env.ok(&[]), out, "no subcommand is `status`");
}

#[test]
fn status_on_a_fresh_install_shows_zeroes_and_hints() {
    let env = Env::new();
    let out = env.ok(&[]);
    let counts = status_counts(&out);
    assert_eq!(counts.len(), 9, "8 statuses and due now: {out}");
    assert!(counts.values().all(|n| *n == 0), "{out}");
    assert!(out.contains("nudge add --name NAME --email EMAIL"), "{out}");
}

#[test]
fn dev_seed_fills_the_database() {
    let env = Env::new();
    let out = env.ok(&["dev", "seed", "--leads", "30", "--due", "7"]);
    assert!(out.starts_with("seeded 30 leads (7 due now)"), "{out}");
    let counts = status_counts(&env.ok(&["status"]));
    assert_eq!(counts["active"], 30);
    assert_eq!(counts["due now"], 7);
    let leads = env.leads();
    assert_eq!(leads.len(), 30);
    assert!(leads.iter().all(|l| l["source"] == "seed"));
    assert_eq!(
        json_lines(&env.ok(&["leads", "--json", "--limit", "5"])).len(),
        5
    );
    // Seeded leads are real leads: their contacts are taken.
    let err = env.fails(&["add", "--name", "X", "--email", "lead3@seed.example.com"]);
    assert!(err.contains("already exists"), "{err}");
}

// ---------------------------------------------------------------- ids

#[test]
fn every_id_command_accepts_a_unique_prefix() {
    let env = Env::new();
    let a = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--tz",
        "Asia/Tokyo",
    ]);
    let b = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let pa = unique_prefix(&a, &[&b]).to_lowercase();
    let pb = unique_prefix(&b, &[&a]);
    assert!(pa.len() < 26 && pb.len() < 26);

    assert_eq!(env.show(&pa)["lead"]["id"], a.as_str());
    let out = env.ok(&["mark", &pa, "paused"]);
    assert!(
        out.starts_with(&format!("{a} Ada Lovelace → paused")),
        "{out}"
    );
    let preview = json_lines(&env.ok(&[
        "seq",
        "preview",
        "default",
        "--lead",
        &pa,
        "--start",
        "2026-12-04T10:00:00Z",
        "--json",
    ]));
    assert_eq!(preview[0]["time_zone"], "Asia/Tokyo");
    let out = env.ok(&["erase", &pb]);
    assert!(out.starts_with(&format!("erased {b} (Bob)")), "{out}");
    let ids: Vec<String> = env.leads().iter().map(|l| l["id"].to_string()).collect();
    assert_eq!(ids, [format!("\"{a}\"")]);
}

#[test]
fn ambiguous_prefix_is_refused_by_every_id_command() {
    let env = Env::new();
    let a = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let b = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let prefix = &a[..2];
    assert_eq!(
        prefix,
        &b[..2],
        "ids made moments apart share their time prefix"
    );
    let cases: [&[&str]; 4] = [
        &["show", prefix],
        &["mark", prefix, "replied"],
        &["erase", prefix],
        &["seq", "preview", "default", "--lead", prefix],
    ];
    for args in cases {
        let err = env.fails(args);
        assert!(
            err.contains(&format!("`{prefix}` is ambiguous")),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&a) && err.contains(&b),
            "{args:?} lists both: {err}"
        );
        assert!(err.contains("type more characters"), "{err}");
    }
    // Nothing changed.
    let leads = env.leads();
    assert_eq!(leads.len(), 2);
    assert!(leads.iter().all(|l| l["status"] == "active"), "{leads:?}");
}

#[test]
fn unknown_or_malformed_id_is_refused_by_every_id_command() {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    // A well-formed id that no lead has, and a prefix no lead starts with.
    for id in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "7ZZZ"] {
        let cases: [&[&str]; 4] = [
            &["show", id],
            &["mark", id, "replied"],
            &["erase", id],
            &["seq", "preview", "default", "--lead", id],
        ];
        for args in cases {
            let err = env.fails(args);
            assert!(
                err.contains(&format!("no lead matches `{id}`")),
                "{args:?}: {err}"
            );
        }
    }
    let err = env.fails(&["show", "not-an-id!"]);
    assert!(err.contains("`NOT-AN-ID!` is not a lead id"), "{err}");
    let err = env.fails(&["mark", "", "replied"]);
    assert!(err.contains("empty lead id"), "{err}");
    assert_eq!(env.leads().len(), 1);
    assert_eq!(env.leads()[0]["status"], "active");
}
