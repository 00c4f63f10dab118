//! Parsing and validation of sequence files.

use super::*;

const GOOD: &str = r#"
name = "t"
[window]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hi {{ first_name }}"
body = "Hello {{ first_name }} at {{ company or 'your team' }}"

[[steps]]
id = "text"
delay = "2d"
channel = "sms"
body = "Hi {{ first_name }}"
"#;

#[test]
fn good_file_parses() {
    let seq = Sequence::parse("t.toml", GOOD, "x").unwrap();
    assert_eq!(seq.name, "t");
    assert_eq!(seq.steps.len(), 2);
    assert_eq!(seq.steps[1].delay, Duration::days(2));
    assert_eq!(seq.span(), Duration::days(2));
}

#[test]
fn bad_delay_names_line_and_field() {
    let src = GOOD.replace("\"2d\"", "\"2 fortnights\"");
    let e = Sequence::parse("t.toml", &src, "x").unwrap_err();
    assert_eq!(e.field, "steps[1].delay");
    assert_eq!(e.line, 17);
    assert!(e.message.contains("2 fortnights"), "{e}");
}

#[test]
fn unknown_key_is_an_error() {
    let src = GOOD
        .replace("ai = ", "x")
        .replace("channel = \"sms\"", "channel = \"sms\"\ndealy = \"1d\"");
    let e = Sequence::parse("t.toml", &src, "x").unwrap_err();
    assert_eq!(e.field, "steps[1].dealy");
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn undefined_variable_fails_at_load() {
    let src = GOOD.replace(
        "body = \"Hi {{ first_name }}\"",
        "body = \"Hi {{ frist_name }}\"",
    );
    let e = Sequence::parse("t.toml", &src, "x").unwrap_err();
    assert!(e.message.contains("frist_name"), "{e}");
    assert_eq!(e.field, "steps[1].body");
}

#[test]
fn sms_needs_daytime_window() {
    let src = GOOD
        .replace("\"09:00\"", "\"21:30\"")
        .replace("\"17:00\"", "\"23:00\"");
    let e = Sequence::parse("t.toml", &src, "x").unwrap_err();
    assert_eq!(e.field, "window.end");
    assert!(e.message.contains("sms"), "{e}");
}

const RULES: &str = r#"
[rules]
nudge_after_open = { step = "nudge", after = "1d" }
clicked = "pull-earlier"
[rules.hot]
clicked = 4

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hi"
body = "Hello"

[[steps]]
id = "nudge"
delay = "0m"
channel = "email"
optional = true
body = "Saw you had a look"
"#;

#[test]
fn rules_parse_and_validate() {
    let seq = Sequence::parse("r.toml", RULES, "r").unwrap();
    assert_eq!(
        seq.rules.nudge_after_open,
        Some(NudgeRule {
            step: 1,
            after: Duration::days(1)
        })
    );
    assert!(seq.rules.pull_earlier_on_click);
    assert_eq!(
        (
            seq.rules.hot.opened,
            seq.rules.hot.clicked,
            seq.rules.hot.replied
        ),
        (1, 4, 10)
    );
    assert!(seq.steps[1].optional);

    let e = Sequence::parse(
        "r.toml",
        &RULES.replace("\"pull-earlier\"", "\"yank\""),
        "r",
    )
    .unwrap_err();
    assert_eq!(e.field, "rules.clicked");
    let e = Sequence::parse("r.toml", &RULES.replace("optional = true\n", ""), "r").unwrap_err();
    assert!(e.message.contains("optional = true"), "{e}");
    let e = Sequence::parse(
        "r.toml",
        &RULES.replace("step = \"nudge\"", "step = \"nope\""),
        "r",
    )
    .unwrap_err();
    assert!(e.message.contains("nope"), "{e}");
    let orphan = RULES.replace(
        "nudge_after_open = { step = \"nudge\", after = \"1d\" }\n",
        "",
    );
    let e = Sequence::parse("r.toml", &orphan, "r").unwrap_err();
    assert!(e.message.contains("never sent"), "{e}");
    assert_eq!(e.field, "steps[1].id");
    let e =
        Sequence::parse("r.toml", &RULES.replace("clicked = 4", "clickd = 4"), "r").unwrap_err();
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn on_cancel_names_an_existing_step_which_may_be_optional() {
    let src = RULES.replace(
        "nudge_after_open = { step = \"nudge\", after = \"1d\" }\n",
        "on_cancel = \"nudge\"\n",
    );
    let seq = Sequence::parse("r.toml", &src, "r").unwrap();
    assert_eq!(seq.rules.on_cancel, Some(1));
    assert_eq!(seq.rules.nudge_after_open, None);
    let e = Sequence::parse(
        "r.toml",
        &src.replace("on_cancel = \"nudge\"", "on_cancel = \"rebok\""),
        "r",
    )
    .unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_str()),
        ("r.toml", 3, "rules.on_cancel")
    );
    assert!(e.to_string().starts_with("r.toml:3:"), "{e}");
    assert!(e.message.contains("`rebok`"), "{e}");
}

#[test]
fn duplicate_ids_rejected() {
    let src = GOOD.replace("id = \"text\"", "id = \"hello\"");
    let e = Sequence::parse("t.toml", &src, "x").unwrap_err();
    assert!(e.message.contains("duplicate step id"), "{e}");
    assert_eq!(e.line, 16);
}
