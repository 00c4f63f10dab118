//! The copy we ship, scored by SpamAssassin (local rules, no network) as the
//! lead's server would receive it: every email of `sequences/default.toml`
//! for a sample lead, through the real worker and SMTP client to smtp-sink.

use nudge::channels::spam_check::{self, TARGET_SCORE};
use nudge::domain::lead::LeadInput;

use crate::mail_format::deliver_sequence;

#[test]
fn every_default_email_scores_below_the_target() {
    let program = spam_check::find_spamassassin().expect(
        "spamassassin is not installed; apt-get install -y spamassassin (.ci/run does this)",
    );
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sequences/default.toml"),
    )
    .unwrap();
    let sequence = shipped.replacen("name = \"default\"", "name = \"test\"", 1);
    let delivered = deliver_sequence(
        &sequence,
        LeadInput {
            name: "Ada Lovelace".into(),
            email: Some("ada@analytical.example.org".into()),
            company: Some("Analytical Engines".into()),
            source: "web form".into(),
            sequence: Some("test".into()),
            ..LeadInput::default()
        },
        4,
    );
    let mut failures = Vec::new();
    for m in &delivered.messages {
        let raw = as_sent(&std::fs::read(&m.path).unwrap());
        let report = spam_check::score(&program, &raw).unwrap();
        let subject = m.header("Subject").unwrap_or_default();
        println!("{:>5.1} {subject}", report.score);
        for line in report.rule_lines() {
            println!("        {line}");
        }
        if report.score >= TARGET_SCORE {
            failures.push(format!(
                "{subject}: {:.1} points\n  {}\n--- message ---\n{}",
                report.score,
                report.rule_lines().join("\n  "),
                m.raw
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The message as our client sent it: without the `X-*` and `Received:`
/// lines smtp-sink puts on top. A loopback `Received:` would earn the
/// message ALL_TRUSTED (-1.0), which no real receiver grants, and its real
/// date against the test's manual clock would look like a stale `Date:`.
fn as_sent(dump: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(dump);
    let mut lines = text.split_inclusive('\n').peekable();
    let mut skipped = false;
    while let Some(line) = lines.peek() {
        let sink_line = line.starts_with("X-Client-")
            || line.starts_with("X-Helo-")
            || line.starts_with("X-Mail-")
            || line.starts_with("X-Rcpt-")
            || line.starts_with("Received:")
            || (skipped && line.starts_with([' ', '\t']));
        if !sink_line {
            break;
        }
        skipped = true;
        lines.next();
    }
    assert!(
        skipped,
        "smtp-sink's lines were not where expected:\n{text}"
    );
    lines.collect::<String>().into_bytes()
}

const SPAMMY: &str = r#"
name = "spammy"
[[steps]]
id = "blast"
delay = "0m"
channel = "email"
subject = "FREE MONEY!!! ACT NOW $$$ GUARANTEED"
body = """
DEAR FRIEND!!! CLICK HERE to claim your FREE prize of $1,000,000 USD!!!
100% GUARANTEED, NO RISK. You have been selected as a WINNER. Act now!!!
"""
"#;

#[test]
fn seq_lint_spam_scores_each_email_and_names_the_rules() {
    let env = crate::common::Env::new();
    let spammy = env.write_sequence("spammy.toml", SPAMMY);
    let assert = env
        .run(&["seq", "lint", "--spam", spammy.to_str().unwrap()])
        .code(3);
    let out = crate::common::stdout(&assert);
    assert!(out.contains("warning: too spammy: FREE MONEY"), "{out}");
    assert!(out.contains("DEAR_FRIEND"), "the rules that fired: {out}");

    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sequences/default.toml");
    let out = env.ok(&["seq", "lint", "--spam", default.to_str().unwrap()]);
    let scored: Vec<&str> = out.lines().filter(|l| l.contains(": spam: ")).collect();
    assert_eq!(scored.len(), 4, "one line per email step: {out}");
    assert!(scored.iter().all(|l| l.contains(" ok: ")), "{out}");
}
