use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::present::is_unsafe_char;

fn lead(name: &str) -> LeadInput {
    LeadInput {
        name: name.into(),
        email: Some("ada@example.com".into()),
        ..LeadInput::default()
    }
}

fn refused(input: &LeadInput) -> String {
    match input.validate(None) {
        Err(LeadError::Gate(e)) => e.to_string(),
        other => panic!("expected a gate refusal, got {other:?}"),
    }
}

#[test]
fn crlf_and_escapes_in_single_line_fields_are_refused_by_name() {
    let msg = refused(&lead("Evil\r\nBcc: victim@other.test"));
    assert_eq!(
        msg,
        "name contains a control character (\\u{d}) at character 5; it must be one line of plain text"
    );
    let msg = refused(&LeadInput {
        company: Some("Co\u{1b}[2J".into()),
        ..lead("Ada")
    });
    assert!(
        msg.starts_with("company contains a control character (\\u{1b})"),
        "{msg}"
    );
    for (field, input) in [
        (
            "source",
            LeadInput {
                source: "we\u{85}b".into(),
                ..lead("Ada")
            },
        ),
        (
            "email",
            LeadInput {
                email: Some("a\u{7f}@example.com".into()),
                ..lead("Ada")
            },
        ),
        (
            "phone",
            LeadInput {
                phone: Some("+1415\u{0}5552671".into()),
                ..lead("Ada")
            },
        ),
        (
            "sequence",
            LeadInput {
                sequence: Some("def\u{2028}ault".into()),
                ..lead("Ada")
            },
        ),
    ] {
        let msg = refused(&input);
        assert!(
            msg.starts_with(&format!("{field} contains a control character")),
            "{msg}"
        );
    }
}

#[test]
fn bidi_overrides_are_refused_in_names() {
    for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        let msg = refused(&lead(&format!("Ada{c}ecnalevoL")));
        assert!(
            msg.starts_with("name contains a bidirectional control"),
            "{msg}"
        );
        assert!(msg.contains(&format!("({})", escaped(c))), "{msg}");
    }
    let msg = refused(&LeadInput {
        company: Some("Acme \u{202e}cni".into()),
        ..lead("Ada")
    });
    assert!(
        msg.starts_with("company contains a bidirectional control"),
        "{msg}"
    );
    // Right-to-left scripts themselves are fine.
    assert!(lead("مريم العلي").validate(None).is_ok());
}

#[test]
fn lengths_are_limited_and_the_message_does_not_echo_the_value() {
    let msg = refused(&lead(&"x".repeat(20_000)));
    assert_eq!(
        msg,
        "name is 20000 characters long; at most 200 are accepted"
    );
    assert!(
        lead(&"é".repeat(MAX_NAME)).validate(None).is_ok(),
        "characters, not bytes"
    );
    let long_email = format!("{}@example.com", "a".repeat(250));
    let msg = refused(&LeadInput {
        email: Some(long_email),
        ..lead("Ada")
    });
    assert!(
        msg.starts_with("email is 262 characters long; at most 254"),
        "{msg}"
    );
    let msg = refused(&LeadInput {
        company: Some("c".repeat(MAX_COMPANY + 1)),
        ..lead("Ada")
    });
    assert!(msg.starts_with("company is 201 characters"), "{msg}");
}

#[test]
fn custom_fields_are_counted_and_checked() {
    let many: BTreeMap<String, String> = (0..=MAX_FIELDS)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    let msg = refused(&LeadInput {
        fields: many,
        ..lead("Ada")
    });
    assert_eq!(msg, "51 custom fields; at most 50 are accepted");
    let fifty: BTreeMap<String, String> = (0..MAX_FIELDS)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    assert!(
        LeadInput {
            fields: fifty,
            ..lead("Ada")
        }
        .validate(None)
        .is_ok()
    );

    let with = |k: &str, v: &str| LeadInput {
        fields: BTreeMap::from([(k.to_string(), v.to_string())]),
        ..lead("Ada")
    };
    // Values may span lines, as a form's message box does.
    let ok = with("message", "Hi,\r\n\tplease call.\nThanks").validate(None);
    assert_eq!(
        ok.map(|v| v.fields["message"].clone()),
        Ok("Hi,\r\n\tplease call.\nThanks".to_string())
    );
    let msg = refused(&with("message", "hi \u{1b}]52;c;cHduZWQ=\u{7}"));
    assert!(
        msg.starts_with("field `message` contains a control character (\\u{1b})"),
        "{msg}"
    );
    let msg = refused(&with("notes", &"v".repeat(MAX_FIELD_VALUE + 1)));
    assert_eq!(
        msg,
        "field `notes` is 2001 characters long; at most 2000 are accepted"
    );
    let msg = refused(&with("bad\nkey", "v"));
    assert!(
        msg.starts_with("field key `bad\\u{a}key` contains a control character"),
        "{msg}"
    );
    let msg = refused(&with(&"k".repeat(MAX_FIELD_KEY + 1), "v"));
    assert!(msg.starts_with("field key `kkkk"), "{msg}");
    assert!(
        msg.len() < 120,
        "the key is cut short in the message: {msg}"
    );
}

#[test]
fn problems_name_each_field_once_and_never_echo_raw_controls() {
    let input = LeadInput {
        name: "Mal\u{1b}]0;pwned\u{7}".into(),
        email: Some("x\u{1b}@evil".into()),
        company: Some("=HYPERLINK(\"http://evil.test\")".into()),
        ..LeadInput::default()
    };
    let problems = input.problems(None);
    let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, ["name", "email"]);
    for (_, e) in &problems {
        assert!(!e.to_string().chars().any(is_unsafe_char), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the input, the gate answers without panicking, its messages
    /// carry no raw control character, and what it lets through carries no
    /// control or bidi character in a single-line field.
    #[test]
    fn whatever_passes_is_safe_and_messages_are_printable(
        name in any::<String>(),
        company in proptest::option::of(any::<String>()),
        key in any::<String>(),
        value in any::<String>(),
    ) {
        let input = LeadInput {
            name,
            company,
            fields: BTreeMap::from([(key, value)]),
            ..lead("")
        };
        for (_, e) in input.problems(None) {
            prop_assert!(!e.to_string().chars().any(is_unsafe_char), "{}", e);
        }
        if let Ok(valid) = input.validate(None) {
            for text in [Some(&valid.name), valid.company.as_ref()].into_iter().flatten() {
                prop_assert!(!text.chars().any(is_unsafe_char));
                prop_assert!(text.chars().count() <= MAX_NAME);
            }
            for (k, v) in &valid.fields {
                prop_assert!(!k.chars().any(is_unsafe_char));
                prop_assert!(!v.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')));
            }
        }
    }
}
