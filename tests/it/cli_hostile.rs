//! A lead written by a stranger (terminal escapes, C1 controls, bidi
//! overrides) is shown escaped by every CLI command, while `show --json`
//! stays JSON with the same values and `export --format jsonl` stays
//! byte-exact. The lead is written through the library's store, past any
//! input validation, as data stored before validation existed would be.

use std::sync::Arc;

use nudge::catalog::Catalog;
use nudge::clock::{Clock, SystemClock};
use nudge::config::Config;
use nudge::domain::event::{Event, EventKind};
use nudge::domain::lead::LeadInput;
use nudge::domain::sequence::Channel;
use nudge::engine::{Engine, Settings};
use nudge::export::Format;
use nudge::store::{InsertOutcome, Store};

use crate::common::{Env, stderr, stdout};

const NAME: &str = "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED";
const COMPANY: &str = "Co\u{1b}[2J";
const SOURCE: &str = "web\u{9b}5m";
const FIELD_VALUE: &str = "gift\u{202e}txt.exe";
const NOTE: &str = "call back \u{1b}]52;c;cHduZWQ=\u{7} soon";
const BODY: &str = "Hi Mal\u{1b}[31m,\n\u{9b}2Jsecond line\u{85}";

/// Stores the hostile lead with a note and a sent touch; returns its id and
/// the library's own JSONL export of the database.
fn store_hostile_lead(env: &Env) -> (String, Vec<u8>) {
    let store = Store::open(&env.data_dir(), 8 << 20).expect("store");
    let catalog = Catalog::load(&env.config_dir()).expect("catalog");
    let engine = Engine::new(
        store,
        catalog,
        Settings::from_config(&Config::default()),
        Arc::new(SystemClock),
    );
    let now = SystemClock.now();
    let clean = LeadInput {
        name: "Placeholder".into(),
        email: Some("mal@lead.test".into()),
        source: "test".into(),
        ..LeadInput::default()
    };
    let valid = engine.validate(&clean).expect("valid");
    let mut write = engine.prepare(valid, None, now).expect("prepared");
    write.lead.name = NAME.into();
    write.lead.company = Some(COMPANY.into());
    write.lead.source = SOURCE.into();
    write
        .lead
        .fields
        .insert("attachment\u{1b}[8m".into(), FIELD_VALUE.into());
    write.events.push(Event {
        at: now,
        kind: EventKind::Note { text: NOTE.into() },
    });
    write.events.push(Event {
        at: now,
        kind: EventKind::TouchSent {
            step: "intro".into(),
            channel: Channel::Email,
            subject: Some("Re: \u{1b}[5mhello".into()),
            body: BODY.into(),
            dry_run: true,
        },
    });
    let outcome = engine.store().insert_leads(&[write]).expect("insert");
    let id = match outcome.as_slice() {
        [InsertOutcome::Inserted(id)] => id.to_string(),
        other => panic!("not inserted: {other:?}"),
    };
    engine.store().flush().expect("flush");
    let mut export = Vec::new();
    nudge::export::export(engine.store(), Format::Jsonl, &mut export).expect("export");
    (id, export)
}

/// Panics if `text` holds ESC, BEL, any other C0 control but newline and
/// tab, DEL, a C1 control or a bidi control.
fn assert_terminal_safe(what: &str, text: &str) {
    let bad: Vec<String> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(bad.is_empty(), "{what} prints {bad:?}:\n{text}");
}

#[test]
fn hostile_lead_text_never_reaches_the_terminal_raw() {
    let env = Env::new();
    let (id, library_export) = store_hostile_lead(&env);

    // The export is data, not display: byte for byte what the store holds.
    let export = env.run(&["export", "--format", "jsonl"]).success();
    assert_eq!(
        export.get_output().stdout,
        library_export,
        "`nudge export --format jsonl` is the library's export, byte for byte"
    );
    let text = stdout(&export);
    assert!(
        text.contains('\u{9b}'),
        "export is not rewritten for the terminal"
    );
    let exported: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSONL");
    assert_eq!(exported["name"], NAME);

    let list = env.ok(&["leads"]);
    assert_terminal_safe("leads", &list);
    assert!(
        list.contains("Mal\\u{1b}]0;pwned"),
        "escaped, not dropped: {list}"
    );

    let show = env.ok(&["show", &id]);
    assert_terminal_safe("show", &show);
    for visible in [
        "Mal\\u{1b}]0;pwned\\u{7}\\u{1b}[31mRED",
        "Co\\u{1b}[2J",
        "web\\u{9b}5m",
        "gift\\u{202e}txt.exe",
        "note: call back \\u{1b}]52;c;cHduZWQ=\\u{7} soon",
        "Subject: Re: \\u{1b}[5mhello",
        "| \\u{9b}2Jsecond line\\u{85}",
    ] {
        assert!(show.contains(visible), "show lacks {visible}:\n{show}");
    }

    let json = env.ok(&["show", &id, "--json"]);
    assert_terminal_safe("show --json", &json);
    let value: serde_json::Value = serde_json::from_str(&json).expect("show --json is JSON");
    assert_eq!(value["lead"]["name"], NAME, "JSON keeps the exact value");
    assert_eq!(value["lead"]["source"], SOURCE);
    assert_eq!(value["lead"]["fields"]["attachment\u{1b}[8m"], FIELD_VALUE);

    let lines = env.ok(&["leads", "--json"]);
    assert_terminal_safe("leads --json", &lines);
    let first: serde_json::Value = serde_json::from_str(lines.trim()).expect("JSON line");
    assert_eq!(first["company"], COMPANY);

    let preview = env.ok(&["seq", "preview", "default", "--lead", &id]);
    assert_terminal_safe("seq preview --lead", &preview);
    assert!(preview.contains("Mal\\u{1b}"), "{preview}");
    let preview_json = env.ok(&["seq", "preview", "default", "--lead", &id, "--json"]);
    assert_terminal_safe("seq preview --lead --json", &preview_json);

    for args in [
        vec!["note", id.as_str(), "seen"],
        vec!["mark", id.as_str(), "paused"],
        vec!["status"],
    ] {
        let out = env.ok(&args);
        assert_terminal_safe(&args.join(" "), &out);
    }

    // An edit re-validates the whole record: the stored name fails the gate,
    // and the refusal names it without echoing the escape.
    let refused = stderr(&env.run(&["edit", &id, "--phone", ""]).code(1));
    assert_terminal_safe("edit refused", &refused);
    assert!(
        refused.contains("name contains a control character"),
        "{refused}"
    );

    let failed = env.run(&["show", "\u{1b}]0;x\u{7}"]).code(1);
    assert_terminal_safe("an error quoting a value", &stderr(&failed));
}
