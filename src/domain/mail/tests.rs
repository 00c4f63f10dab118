//! The classifier against the fixture corpus (`tests/fixtures/mail/`, see
//! its `SOURCES.md`): every message, its expected verdict and return date,
//! accuracy per class; plus fuzzing for panics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Expected {
    message: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    verdict: String,
    back: Option<NaiveDate>,
    today: Option<NaiveDate>,
    /// A miss we know of and list in the README; the test checks it still
    /// misses, so fixing it means updating the README.
    #[serde(default)]
    known_miss: bool,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

/// The verdict's name as `expected.toml` writes it.
fn name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Bounce(b) => b.kind.as_str(),
        Verdict::AutoReply(AutoReply::Away(_)) => "away",
        Verdict::AutoReply(AutoReply::Retired(_)) => "retired",
        Verdict::AutoReply(AutoReply::Moved(_)) => "moved",
        Verdict::Challenge(_) => "challenge",
        Verdict::Reply => "reply",
        Verdict::Ignore => "ignore",
    }
}

/// The class a verdict is counted in for accuracy.
fn class(verdict: &str) -> &'static str {
    match verdict {
        "hard" | "soft" | "policy" => "bounce",
        "away" | "retired" | "moved" => "auto-reply",
        "challenge" => "challenge",
        "reply" => "reply",
        _ => "other",
    }
}

/// The date the message was written, from its `Date` header.
fn sent(raw: &[u8]) -> Option<NaiveDate> {
    let message = MessageParser::default().parse(raw)?;
    let d = message.date()?;
    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
}

#[test]
fn every_fixture_gets_its_verdict() {
    let wrong = run_corpus(&corpus_dir());
    assert!(wrong.is_empty(), "unexpected results: {wrong:#?}");
}

/// A corpus kept outside the repository (same layout, `expected.toml`
/// included), to measure the rules on messages they were not tuned on:
/// `NUDGE_MAIL_CORPUS=/path cargo nextest run -E 'test(/held_out/)' --run-ignored only --no-capture`.
#[test]
#[ignore = "needs NUDGE_MAIL_CORPUS"]
fn held_out_corpus() {
    let dir = std::env::var("NUDGE_MAIL_CORPUS").expect("NUDGE_MAIL_CORPUS");
    run_corpus(std::path::Path::new(&dir));
}

/// Runs every message of `dir/expected.toml`, prints accuracy per class
/// and the misses, and returns the files whose result differs from what
/// `expected.toml` says (a known miss that now passes included).
fn run_corpus(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("expected.toml")).unwrap();
    let expected: Expected = toml::from_str(&text).unwrap();
    assert!(
        expected.message.len() >= 60 || dir != corpus_dir(),
        "the corpus keeps at least 60 messages"
    );
    let mut right: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut dates = (0, 0);
    let mut misses = Vec::new();
    let mut wrong = Vec::new();
    for case in &expected.message {
        let raw = std::fs::read(dir.join(&case.file)).unwrap();
        let today = case
            .today
            .or_else(|| sent(&raw))
            .unwrap_or(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        let reading = classify(&raw, today);
        let got = name(&reading.verdict);
        let mut ok = got == case.verdict;
        if let Some(back) = case.back {
            dates.1 += 1;
            let read = match &reading.verdict {
                Verdict::AutoReply(AutoReply::Away(Some(r))) => Some(r.date),
                _ => None,
            };
            if read == Some(back) {
                dates.0 += 1;
            } else {
                ok = false;
                misses.push(format!("{}: back {back}, read {read:?}", case.file));
            }
        } else if let Verdict::AutoReply(AutoReply::Away(Some(r))) = &reading.verdict {
            ok = false;
            misses.push(format!("{}: no date expected, read {:?}", case.file, r));
        }
        let entry = right.entry(class(&case.verdict)).or_default();
        entry.1 += 1;
        if ok {
            entry.0 += 1;
        } else {
            misses.push(format!(
                "{}: expected {}, got {got} ({:?})",
                case.file, case.verdict, reading.verdict
            ));
        }
        if ok == case.known_miss {
            wrong.push(case.file.clone());
        }
    }
    for (class, (ok, all)) in &right {
        println!("{class}: {ok}/{all}");
    }
    println!("return dates: {}/{}", dates.0, dates.1);
    for miss in &misses {
        println!("miss: {miss}");
    }
    wrong
}

#[test]
fn rules_file_parses() {
    assert!(!rules::RULES.bounce.phrases.is_empty());
    assert!(!rules::RULES.autoreply.subjects.is_empty());
}

#[test]
fn a_bounce_answering_our_message_is_never_a_reply() {
    let raw = "From: MAILER-DAEMON@mx.example.org\r\nSubject: Re: Hello\r\n\
        In-Reply-To: <01JX-1@nudge.example>\r\nAuto-Submitted: auto-replied\r\n\r\n\
        550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown\r\n";
    let reading = classify(raw.as_bytes(), NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
    match reading.verdict {
        Verdict::Bounce(b) => {
            assert_eq!(b.kind, BounceKind::Hard);
            assert_eq!(b.recipients, vec!["ada@example.com".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_codes_by_class_and_subject() {
    use bounce::judge;
    assert_eq!(judge(Some("5.1.1"), "", "").0, BounceKind::Hard);
    assert_eq!(judge(Some("5.2.2"), "mailbox full", "").0, BounceKind::Soft);
    assert_eq!(
        judge(Some("5.7.26"), "unauthenticated", "").0,
        BounceKind::Policy
    );
    assert_eq!(judge(Some("4.4.7"), "", "").0, BounceKind::Soft);
    assert_eq!(judge(Some("5.0.0"), "user unknown", "").0, BounceKind::Hard);
    assert_eq!(
        judge(Some("5.0.0"), "blocked using spamhaus", "").0,
        BounceKind::Policy
    );
    // A temporary reply never makes a hard bounce, whatever it says.
    assert_eq!(judge(Some("4.0.0"), "user unknown", "").0, BounceKind::Soft);
    assert_eq!(
        judge(None, "452 too many connections", "").0,
        BounceKind::Policy
    );
    assert_eq!(judge(None, "", "").0, BounceKind::Hard);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = classify(&raw, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
    }

    #[test]
    fn truncated_and_mangled_fixtures_never_panic(
        pick in 0usize..1000,
        cut in 0usize..20_000,
        flip in proptest::collection::vec((0usize..20_000, any::<u8>()), 0..8),
    ) {
        let dir = corpus_dir();
        let files: Vec<_> = ["bounce", "auto", "challenge", "reply"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap().map(|e| e.unwrap().path()))
            .collect();
        let mut raw = std::fs::read(&files[pick % files.len()]).unwrap();
        raw.truncate(cut.min(raw.len()));
        let len = raw.len();
        for (at, byte) in flip {
            if len > 0 {
                raw[at % len] = byte;
            }
        }
        let _ = classify(&raw, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
    }

    #[test]
    fn huge_headers_and_odd_charsets_never_panic(
        name in "[A-Za-z-]{1,40}",
        value in ".{0,2000}",
        charset in "[a-z0-9-]{0,20}",
    ) {
        let raw = format!(
            "From: <>\r\n{name}: {value}\r\nSubject: {}\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset={charset}\r\n\r\n{value}\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; {value}\r\n\
             Status: {value}\r\n--b",
            value.repeat(20)
        );
        let _ = classify(raw.as_bytes(), NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
    }
}
