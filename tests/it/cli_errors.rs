//! Bad input: every failure exits non-zero, says what is wrong and where, and
//! leaves nothing half-written.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{Env, SENDER_CONFIG};

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

// ---------------------------------------------------------------- lead input

#[test]
fn invalid_email_is_refused() {
    let env = Env::new();
    for (email, why) in [
        ("ada@", "invalid email `ada@`"),
        ("ada@localhost", "public host name"),
        ("not an email", "invalid email `not an email`"),
    ] {
        let err = env.fails(&["add", "--name", "Ada", "--email", email]);
        assert!(err.contains(why), "{email}: {err}");
    }
    env.assert_no_leads();
}

#[test]
fn invalid_phone_is_refused_unless_an_email_carries_the_lead() {
    let env = Env::new();
    let err = env.fails(&["add", "--name", "Ada", "--phone", "12"]);
    assert!(err.contains("invalid phone `12`"), "{err}");
    assert!(err.contains("no country code"), "{err}");
    let err = env.fails(&["add", "--name", "Ada", "--phone", "+1 555"]);
    assert!(err.contains("invalid phone `+1 555`"), "{err}");
    env.assert_no_leads();
    // Next to a good email a bad phone is a warning: the lead is kept
    // without it, the raw value in field phone_raw.
    let assert = env
        .run(&[
            "add",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--phone",
            "call me",
        ])
        .success();
    let err = crate::common::stderr(&assert);
    assert!(err.contains("warning: invalid phone `call me`"), "{err}");
    let leads = env.leads();
    assert_eq!(leads.len(), 1);
    assert!(leads[0].get("phone").is_none(), "{leads:?}");
    assert_eq!(leads[0]["fields"]["phone_raw"], "call me");
}

#[test]
fn unknown_time_zone_is_refused() {
    let env = Env::new();
    let err = env.fails(&[
        "add",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--tz",
        "Mars/Olympus",
    ]);
    assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
    assert!(err.contains("IANA name"), "{err}");
    env.assert_no_leads();
}

#[test]
fn missing_name_contact_or_bad_field_is_refused() {
    let env = Env::new();
    let err = env.fails(&["add", "--name", "  ", "--email", "ada@example.com"]);
    assert!(err.contains("missing name"), "{err}");
    let err = env.fails(&["add", "--name", "Ada"]);
    assert!(
        err.contains("a lead needs an email or a phone number"),
        "{err}"
    );
    let err = env.fails(&[
        "add",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--field",
        "oops",
    ]);
    assert!(
        err.contains("invalid field `oops`: expected KEY=VALUE"),
        "{err}"
    );
    let err = env.fails(&[
        "add",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
        "--sequence",
        "nope",
    ]);
    assert!(
        err.contains("no sequence named `nope` (known: default)"),
        "{err}"
    );
    // Missing --name is a usage error.
    env.run(&["add", "--email", "ada@example.com"]).code(2);
    env.assert_no_leads();
}

// ---------------------------------------------------------------- config

#[test]
fn bad_config_value_names_file_line_and_key() {
    let env = Env::new();
    env.write_config("# mine\n[general]\ndefault_tz = \"Mars/Olympus\"\n");
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    let file = env.config_file().display().to_string();
    assert!(err.contains(&format!("{file}:3:")), "{err}");
    assert!(err.contains("general.default_tz"), "{err}");
    assert!(err.contains("Mars/Olympus"), "{err}");
    assert!(!env.data_dir().exists(), "no database was created");
    // Every command that reads the config refuses it.
    let err = env.fails(&["leads"]);
    assert!(err.contains("general.default_tz"), "{err}");
}

#[test]
fn unknown_config_key_and_bad_toml_are_located() {
    let env = Env::new();
    env.write_config("[sender]\nnmae = \"Sam\"\n");
    let err = env.fails(&["status"]);
    let file = env.config_file().display().to_string();
    assert!(err.contains(&format!("{file}:2:")), "{err}");
    assert!(err.contains("sender.nmae"), "{err}");
    assert!(err.contains("unknown field `nmae`"), "{err}");

    env.write_config("[general]\ndefault_tz = \"UTC\n");
    let err = env.fails(&["status"]);
    assert!(err.contains(&format!("{file}:2:")), "{err}");
    assert!(!env.data_dir().exists());
}

#[test]
fn named_config_file_must_exist() {
    let env = Env::bare();
    let err = env.fails(&["leads"]);
    assert!(
        err.contains(&format!(
            "cannot read config file {}",
            env.config_file().display()
        )),
        "{err}"
    );
    assert!(!env.data_dir().exists());
}

#[test]
fn bad_env_override_names_the_variable() {
    let env = Env::new();
    let assert = env
        .cmd()
        .args(["add", "--name", "Ada", "--email", "ada@example.com"])
        .env("NUDGE_STORE_CACHE_MB", "lots")
        .assert()
        .code(1);
    let err = crate::common::stderr(&assert);
    assert!(
        err.contains("environment variable NUDGE_STORE_CACHE_MB"),
        "{err}"
    );
    assert!(err.contains("lots"), "{err}");
    assert!(!env.data_dir().exists(), "no database was created");

    let assert = env
        .cmd()
        .arg("status")
        .env("NUDGE_GENERAL_DEFAULT_TZ", "Mars/Olympus")
        .assert()
        .code(1);
    let err = crate::common::stderr(&assert);
    assert!(
        err.contains("environment variable NUDGE_GENERAL_DEFAULT_TZ"),
        "{err}"
    );
}

#[test]
fn env_override_wins_over_the_file() {
    let env = Env::new();
    env.write_config(&format!(
        "[general]\ndefault_tz = \"Europe/Berlin\"\n{SENDER_CONFIG}"
    ));
    let id = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    assert_eq!(env.show(&id)["next"]["time_zone"], "Europe/Berlin");
    let assert = env
        .cmd()
        .args(["show", &id, "--json"])
        .env("NUDGE_GENERAL_DEFAULT_TZ", "Asia/Tokyo")
        .assert()
        .success();
    let shown: serde_json::Value =
        serde_json::from_str(&crate::common::stdout(&assert)).expect("JSON");
    assert_eq!(shown["next"]["time_zone"], "Asia/Tokyo");
}

// ---------------------------------------------------------------- data directory

#[test]
fn data_dir_with_unrelated_files_is_refused_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.data_dir()).expect("dir");
    std::fs::write(env.data_dir().join("notes.txt"), "mine").expect("file");
    let before = listing(&env.data_dir());
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    let dir = env.data_dir().display().to_string();
    assert!(
        err.contains(&format!("{dir} is not a nudge data directory")),
        "{err}"
    );
    assert!(err.contains("notes.txt"), "names what it found: {err}");
    assert_eq!(listing(&env.data_dir()), before, "nothing written");
    let err = env.fails(&["leads"]);
    assert!(err.contains("not a nudge data directory"), "{err}");
    assert_eq!(listing(&env.data_dir()), before);
}

#[test]
fn data_dir_that_is_a_file_is_refused_untouched() {
    let env = Env::new();
    std::fs::write(env.data_dir(), "not a directory").expect("file");
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(
        err.contains(&format!(
            "{} is not a nudge data directory (it is a file)",
            env.data_dir().display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(env.data_dir()).expect("still a file"),
        "not a directory"
    );
}

#[test]
fn garbage_database_files_are_reported_corrupt() {
    let env = Env::new();
    let dir = env.data_dir();
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("conf"),
        "this is not a sled config file at all\n".repeat(4),
    )
    .expect("conf");
    std::fs::write(dir.join("db"), "garbage ".repeat(600)).expect("db");
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(
        err.contains(&format!("the database in {} is corrupt", dir.display())),
        "{err}"
    );
    let err = env.fails(&["leads", "--json"]);
    assert!(err.contains("is corrupt"), "still refused: {err}");
}

#[test]
fn garbage_database_with_empty_config_is_not_adopted() {
    let env = Env::new();
    let dir = env.data_dir();
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("conf"), "").expect("conf");
    std::fs::write(dir.join("db"), "garbage ".repeat(600)).expect("db");
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(
        err.contains(&format!("the database in {} is corrupt", dir.display())),
        "{err}"
    );
    // Refused every time: the damaged directory is never taken over as new.
    let err = env.fails(&["leads", "--json"]);
    assert!(err.contains("is corrupt"), "{err}");
}

#[test]
fn sled_database_of_another_program_is_refused() {
    let env = Env::new();
    let dir = env.data_dir();
    {
        let db = sled::open(&dir).expect("sled db");
        db.open_tree("meta")
            .and_then(|t| t.insert("app", "someone-else"))
            .expect("marker");
        db.flush().expect("flush");
    }
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(err.contains("is not a nudge data directory"), "{err}");
    assert!(err.contains("belonging to another program"), "{err}");

    let env = Env::new();
    let dir = env.data_dir();
    {
        let db = sled::open(&dir).expect("sled db");
        db.insert("customer:1", "Ada").expect("insert");
        db.open_tree("orders")
            .and_then(|t| t.insert("1", "tea"))
            .expect("tree");
        db.flush().expect("flush");
    }
    let err = env.fails(&["leads"]);
    assert!(err.contains("is not a nudge data directory"), "{err}");
    assert!(err.contains("not created by nudge"), "{err}");
}

#[test]
fn database_in_use_by_another_process_is_refused() {
    let env = Env::new();
    let store = nudge::store::Store::open(&env.data_dir(), 1 << 20).expect("open store");
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(err.contains("in use by another nudge process"), "{err}");
    assert!(
        err.contains(&format!("(pid {})", std::process::id())),
        "names the holder: {err}"
    );
    assert!(err.contains(&env.data_dir().display().to_string()), "{err}");
    let err = env.fails(&["leads", "--json"]);
    assert!(err.contains("in use by another nudge process"), "{err}");
    assert_eq!(store.lead_count(), 0, "nothing was written");
}

#[test]
fn database_from_a_newer_nudge_is_refused() {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    {
        let db = sled::open(env.data_dir()).expect("sled db");
        db.open_tree("meta")
            .and_then(|t| t.insert("schema", &99u32.to_be_bytes()))
            .expect("schema");
        db.flush().expect("flush");
    }
    let err = env.fails(&["leads", "--json"]);
    assert!(
        err.contains(&format!(
            "the database in {} has schema 99, newer than this nudge understands",
            env.data_dir().display()
        )),
        "{err}"
    );
    assert!(err.contains("upgrade nudge"), "{err}");
}

#[test]
fn unreadable_record_is_named() {
    let env = Env::new();
    let id = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let lead_id: nudge::domain::lead::LeadId = id.parse().expect("lead id");
    {
        let db = sled::open(env.data_dir()).expect("sled db");
        db.open_tree("leads")
            .and_then(|t| t.insert(lead_id.to_bytes(), &b"\x01{not json"[..]))
            .expect("overwrite");
        db.flush().expect("flush");
    }
    for args in [&["leads", "--json"][..], &["show", &id], &["export"]] {
        let err = env.fails(args);
        assert!(
            err.contains("unreadable record in tree `leads`"),
            "{args:?}: {err}"
        );
    }
}
