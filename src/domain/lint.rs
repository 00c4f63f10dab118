//! Copy checks for sequences: the rules that keep follow-up useful rather than
//! annoying, and compliant. Warnings, not errors: the file is valid either way.

use chrono::Duration;
use serde::Serialize;

use super::lead::Lead;
use super::render::{Sender, render_step};
use super::sequence::{Channel, Sequence};
use super::span::{CaptureRun, capture_runs, day_time, days, span_by_weekday};

/// One thing worth fixing in a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    /// Step id, or `None` for the sequence as a whole.
    pub step: Option<String>,
    /// What to fix.
    pub message: String,
}

/// Phrases that add no value and read as nagging.
pub const SPAMMY_PHRASES: &[&str] = &[
    "just checking in",
    "just following up",
    "just wanted to follow up",
    "just wanted to check",
    "touching base",
    "circling back",
    "bumping this",
    "any update",
    "did you get a chance",
    "following up on my last",
    "as per my last",
];

/// Phrases that count as an opt-out line in an email.
const OPT_OUT_PHRASES: &[&str] = &[
    "unsubscribe",
    "opt out",
    "opt-out",
    "reply stop",
    "reply \"stop\"",
    "reply 'stop'",
];

/// GSM 03.38 basic characters (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension characters (two septets each).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How an SMS body is encoded and how many characters it occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsSize {
    /// Whether every character is in the GSM-7 alphabet.
    pub gsm7: bool,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
}

impl SmsSize {
    /// Measures `text` the way carriers do.
    pub fn of(text: &str) -> SmsSize {
        let mut septets = 0;
        for c in text.chars() {
            if GSM7_BASIC.contains(c) {
                septets += 1;
            } else if GSM7_EXTENDED.contains(c) {
                septets += 2;
            } else {
                return SmsSize {
                    gsm7: false,
                    units: text.encode_utf16().count(),
                };
            }
        }
        SmsSize {
            gsm7: true,
            units: septets,
        }
    }

    /// The single-segment limit for this encoding.
    pub fn limit(self) -> usize {
        if self.gsm7 { 160 } else { 70 }
    }
}

/// A sample lead for rendering checks and previews.
pub fn sample_lead(created_at: chrono::DateTime<chrono::Utc>) -> Lead {
    use super::lead::{LeadId, LeadInput};
    let input = LeadInput {
        name: "Alex Rivera".into(),
        email: Some("alex@example.com".into()),
        phone: Some("+14155552671".into()),
        company: Some("Example Co".into()),
        source: "preview".into(),
        sms_consent: Some("preview".into()),
        ..LeadInput::default()
    };
    let valid = match input.validate(None) {
        Ok(v) => v,
        Err(e) => unreachable!("the built-in sample lead is valid: {e}"),
    };
    valid.into_lead(LeadId(ulid::Ulid::nil()), String::new(), created_at)
}

fn contains_any<'a>(text: &str, phrases: &[&'a str]) -> Option<&'a str> {
    let lower = text.to_lowercase();
    phrases.iter().copied().find(|p| lower.contains(p))
}

/// A sender variable a sequence's templates use while its `[sender]` key is
/// unset or blank: every message that uses it renders with a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderGap {
    /// The template variable, e.g. `booking_url`.
    pub variable: &'static str,
    /// The `[sender]` key that sets it, e.g. `booking_url`.
    pub key: &'static str,
    /// The channels of the steps that use it, in step order, without repeats.
    pub channels: Vec<Channel>,
}

/// The sender variables that `seq`'s templates use, on steps whose channel
/// `counts`, while `sender` leaves them empty. The sequence's email footer
/// counts for its email steps.
pub fn sender_gaps(
    seq: &Sequence,
    sender: &Sender,
    counts: impl Fn(Channel) -> bool,
) -> Vec<SenderGap> {
    let mut gaps = Vec::new();
    for (variable, value, key) in [
        ("sender_name", &sender.name, "name"),
        ("sender_company", &sender.company, "company"),
        ("booking_url", &sender.booking_url, "booking_url"),
    ] {
        if !value.trim().is_empty() {
            continue;
        }
        let mut channels = Vec::new();
        for step in seq.steps.iter().filter(|s| counts(s.channel)) {
            let footer = match step.channel {
                Channel::Email => seq.email_footer.as_deref().unwrap_or(""),
                _ => "",
            };
            let uses = [step.subject.as_deref().unwrap_or(""), &step.body, footer]
                .iter()
                .any(|text| text.contains(variable));
            if uses && !channels.contains(&step.channel) {
                channels.push(step.channel);
            }
        }
        if !channels.is_empty() {
            gaps.push(SenderGap {
                variable,
                key,
                channels,
            });
        }
    }
    gaps
}

/// Checks copy and cadence; `sample` is rendered to measure SMS length.
pub fn lint(seq: &Sequence, sample: &Lead, sender: &Sender) -> Vec<LintWarning> {
    let mut out = Vec::new();
    let mut warn = |step: Option<&str>, message: String| {
        out.push(LintWarning {
            step: step.map(str::to_string),
            message,
        })
    };
    let n = seq.steps.len();
    if !(5..=8).contains(&n) {
        warn(None, format!("{n} steps; most sales need 5–8 touches"));
    }
    let runs = capture_runs(seq);
    let first_wait = runs
        .iter()
        .max_by_key(|r| r.first_wait())
        .filter(|r| r.first_wait() > Duration::zero());
    if let (Some(step), Some(worst)) = (seq.steps.first().filter(|s| !s.any_hour), first_wait) {
        warn(
            Some(&step.id),
            format!(
                "the first touch waits for the window: a lead captured {} hears from you {} ({} hours later); set window = \"always\" on this step to answer at any hour",
                day_time(worst.captured),
                day_time(worst.first),
                worst.first_wait().num_hours()
            ),
        );
    }
    let outside = |r: &CaptureRun| r.span() < Duration::days(14) || r.span() > Duration::days(21);
    for (shortest, longest) in span_by_weekday(&runs) {
        if let Some(run) = [longest, shortest].into_iter().find(outside) {
            warn(
                None,
                format!(
                    "a lead captured {} gets its touches over {} days on the real calendar (the last one {}); keep every capture day within 14–21 days",
                    day_time(run.captured),
                    days(run.span()),
                    day_time(run.last)
                ),
            );
        }
    }
    for gap in sender_gaps(seq, sender, |_| true) {
        warn(
            None,
            format!(
                "templates use {} but [sender] {} is not set in the config; it renders empty",
                gap.variable, gap.key
            ),
        );
    }
    let footer_opts_out = seq
        .email_footer
        .as_deref()
        .and_then(|f| contains_any(f, OPT_OUT_PHRASES))
        .is_some();
    for (i, step) in seq.steps.iter().enumerate() {
        let id = Some(step.id.as_str());
        let text = format!("{}\n{}", step.subject.as_deref().unwrap_or(""), step.body);
        if let Some(phrase) = contains_any(&text, SPAMMY_PHRASES) {
            warn(
                id,
                format!(
                    "\"{phrase}\" adds nothing; offer a resource, an answer or a reason to reply"
                ),
            );
        }
        if step.channel == Channel::Email
            && !footer_opts_out
            && contains_any(&step.body, OPT_OUT_PHRASES).is_none()
        {
            warn(
                id,
                "email has no opt-out line (in the body or the sequence's email_footer)".into(),
            );
        }
        match render_step(seq, i, sample, sender) {
            Ok(msg) if step.channel == Channel::Sms => {
                let size = SmsSize::of(&msg.body);
                if size.units > size.limit() {
                    warn(
                        id,
                        format!(
                            "SMS is {} {} long, over one segment ({} for {}); it will be billed and may arrive split",
                            size.units,
                            if size.gsm7 {
                                "GSM-7 characters"
                            } else {
                                "UCS-2 units"
                            },
                            size.limit(),
                            if size.gsm7 { "GSM-7" } else { "UCS-2" },
                        ),
                    );
                }
            }
            Ok(_) => {}
            Err(e) => warn(id, format!("does not render for a sample lead: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_and_ucs2_are_measured_like_carriers() {
        assert_eq!(
            SmsSize::of("Hi Ada"),
            SmsSize {
                gsm7: true,
                units: 6
            }
        );
        assert_eq!(
            SmsSize::of("€5"),
            SmsSize {
                gsm7: true,
                units: 3
            }
        );
        assert_eq!(
            SmsSize::of("Hi 👋"),
            SmsSize {
                gsm7: false,
                units: 5
            }
        );
        assert_eq!(SmsSize::of("ü").limit(), 160);
        assert_eq!(SmsSize::of("ł").limit(), 70);
    }

    #[test]
    fn lint_flags_nagging_and_missing_opt_out() {
        let src = r#"
[[steps]]
id = "a"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Just checking in on this."
[[steps]]
id = "b"
delay = "1d"
channel = "sms"
body = "{{ first_name }}, here is a very long text that goes on and on about our product and keeps going well past the length of a single message segment, sadly."
"#;
        let seq = Sequence::parse("t.toml", src, "t").unwrap();
        let warnings = lint(
            &seq,
            &sample_lead(chrono::DateTime::UNIX_EPOCH),
            &Sender::default(),
        );
        let text: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
        assert!(
            text.iter().any(|m| m.contains("just checking in")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|m| m.contains("no opt-out line")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|m| m.contains("over one segment")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("2 steps")), "{text:?}");
        assert!(
            text.iter()
                .any(|m| m.contains("a lead captured Monday") && m.contains("real calendar")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|m| m.contains("the first touch waits for the window: a lead captured Friday 17:00 hears from you Monday 09:00")),
            "{text:?}"
        );
    }

    #[test]
    fn sender_gaps_name_the_keys_and_the_channels_that_use_them() {
        let src = r#"
email_footer = "{{ sender_company }} · reply stop to opt out"
[[steps]]
id = "a"
delay = "0m"
channel = "email"
subject = "Hello"
body = "Book here: {{ booking_url }}"
[[steps]]
id = "b"
delay = "1d"
channel = "sms"
body = "{{ sender_name }} here"
"#;
        let seq = Sequence::parse("t.toml", src, "t").unwrap();
        let empty = Sender::default();
        let all = sender_gaps(&seq, &empty, |_| true);
        let named: Vec<(&str, Vec<Channel>)> =
            all.iter().map(|g| (g.key, g.channels.clone())).collect();
        assert_eq!(
            named,
            vec![
                ("name", vec![Channel::Sms]),
                ("company", vec![Channel::Email]),
                ("booking_url", vec![Channel::Email]),
            ]
        );
        let email_only = sender_gaps(&seq, &empty, |c| c == Channel::Email);
        assert_eq!(email_only.len(), 2, "{email_only:?}");
        let full = Sender {
            name: "Sam".into(),
            company: "Acme".into(),
            booking_url: "https://cal.example.com".into(),
        };
        assert!(sender_gaps(&seq, &full, |_| true).is_empty());
        let blank = Sender {
            name: "  ".into(),
            ..full
        };
        assert_eq!(sender_gaps(&seq, &blank, |_| true)[0].key, "name");
    }
}
