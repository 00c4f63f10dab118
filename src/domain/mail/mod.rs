//! Reading mail nudge did not write: is an incoming message a bounce (hard,
//! soft or about our sending policy), an auto-reply (with a return date, or
//! saying the address is retired or moved), a challenge-response filter, or
//! a person's reply? Pure: a message's bytes and today's date in, a
//! [`Reading`] out. The IMAP watch (`inbound::imap`) applies it to the lead.
//!
//! The phrases and status patterns are data in `rules.toml` ([`rules`]);
//! structured facts (RFC 3464 reports, RFC 3463 codes, RFC 3834 headers)
//! decide before phrases do.

pub mod autoreply;
pub mod bounce;
pub mod dates;
pub mod effect;
pub mod rules;

use chrono::NaiveDate;
use mail_parser::{HeaderValue, Message, MessageParser};
use serde::{Deserialize, Serialize};

pub use dates::ReturnDate;

/// How bad a bounce is, which decides what happens to the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceKind {
    /// The address or domain does not exist: the lead's email is suppressed.
    Hard,
    /// Mailbox full, delayed, timed out, 4.x.x: retry later; several in a
    /// row count as hard.
    Soft,
    /// The rejection is about the sender (SPF/DKIM/DMARC, blocklists,
    /// reputation, rate limits): alert the founder, pause the domain.
    Policy,
}

impl BounceKind {
    /// Its name on the timeline and in the corpus's `expected.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            BounceKind::Hard => "hard",
            BounceKind::Soft => "soft",
            BounceKind::Policy => "policy",
        }
    }
}

/// A delivery failure report, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The verdict.
    pub kind: BounceKind,
    /// The failed recipients, normalised, when the report names them.
    pub recipients: Vec<String>,
    /// The enhanced status (`5.1.1`) the verdict came from, if any.
    pub status: Option<String>,
    /// The server's words, one line.
    pub reason: String,
}

/// What an auto-reply says about the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoReply {
    /// Away; back on this date when the text says.
    Away(Option<ReturnDate>),
    /// The address is no longer read ("no longer monitored"); the phrase.
    Retired(String),
    /// The person moved to this address.
    Moved(String),
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A delivery failure.
    Bounce(Bounce),
    /// An automatic answer; never a reply.
    AutoReply(AutoReply),
    /// A filter asks us to prove we are human before it delivers; the
    /// verification link when one is given.
    Challenge(Option<String>),
    /// A person wrote back.
    Reply,
    /// Nothing nudge acts on (a delivery success notice, a read receipt,
    /// a feedback report, bytes that are not a message).
    Ignore,
}

/// A message, read: who it is from, which of our messages it is about, and
/// what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The sender's address, normalised (lower case).
    pub from: Option<String>,
    /// Message-IDs it refers to, without brackets, lower case: In-Reply-To,
    /// References, and for a bounce or challenge the returned original's.
    pub thread: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// What it is.
    pub verdict: Verdict,
}

/// Reads raw message bytes. `today` is the day it is read: return dates
/// written without a year are the next such day after the message's own
/// `Date`, and dates in the past or more than 60 days after `today` are
/// dropped (the caller then waits `ooo_delay_hours`).
pub fn classify(raw: &[u8], today: NaiveDate) -> Reading {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Reading {
            from: None,
            thread: Vec::new(),
            subject: String::new(),
            verdict: Verdict::Ignore,
        };
    };
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty());
    let mut thread = ids(message.in_reply_to());
    thread.extend(ids(message.references()));
    let subject = message.subject().unwrap_or_default().to_string();
    let sent = message
        .date()
        .and_then(|d| {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
        })
        .unwrap_or(today);
    let facts = Facts::of(&message, raw, from.as_deref(), &subject);
    let verdict = if let Some(link) = autoreply::challenge(&facts) {
        thread.extend(bounce::returned_ids(&message, raw));
        Verdict::Challenge(link)
    } else if bounce::is_bounce(&message, &facts) {
        thread.extend(bounce::returned_ids(&message, raw));
        match bounce::read(&message, &facts) {
            Some(b) => Verdict::Bounce(b),
            None => Verdict::Ignore,
        }
    } else if bounce::is_other_report(&message) {
        Verdict::Ignore
    } else if let Some(auto) = autoreply::read(&message, &facts, sent, today) {
        Verdict::AutoReply(auto)
    } else {
        Verdict::Reply
    };
    thread.dedup();
    Reading {
        from,
        thread,
        subject,
        verdict,
    }
}

/// What several readers look at, lowered once.
pub struct Facts {
    /// Subject, lower case.
    pub subject: String,
    /// Sender address, lower case (empty when none).
    pub from: String,
    /// The raw `From` header, lower case (`<>`, `MAILER-DAEMON (Mail…)`).
    pub from_raw: String,
    /// The first text part (HTML converted), lower case.
    pub body: String,
    /// `Auto-Submitted` other than `no`, `Precedence: bulk/junk/auto_reply`,
    /// `X-Autoreply`, `X-Autorespond`, Exchange's rules-loop header.
    pub auto_header: bool,
}

impl Facts {
    fn of(message: &Message<'_>, raw: &[u8], from: Option<&str>, subject: &str) -> Facts {
        let auto_submitted = header(message, "Auto-Submitted").is_some_and(|v| {
            let kind = v.split(';').next().unwrap_or_default().trim();
            !kind.is_empty() && !kind.eq_ignore_ascii_case("no")
        });
        let precedence = header(message, "Precedence").is_some_and(|v| {
            ["auto_reply", "bulk", "junk"]
                .iter()
                .any(|p| v.eq_ignore_ascii_case(p))
        });
        let flagged = [
            "X-Autoreply",
            "X-Autorespond",
            "X-MS-Exchange-Inbox-Rules-Loop",
        ]
        .iter()
        .any(|h| header(message, h).is_some());
        let from_raw = raw_header(raw, "from").unwrap_or_default().to_lowercase();
        Facts {
            subject: subject.to_lowercase(),
            from: from.unwrap_or_default().to_string(),
            from_raw,
            body: message.body_text(0).unwrap_or_default().to_lowercase(),
            auto_header: auto_submitted || precedence || flagged,
        }
    }
}

/// A header's text, its name matched without regard to case.
pub fn header<'a>(message: &'a Message<'_>, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .and_then(|h| h.value().as_text())
        .map(str::trim)
}

/// A top-level header as written (before any decoding), for the forms
/// mail-parser reads as no address at all (`From: <>`).
fn raw_header(raw: &[u8], name: &str) -> Option<String> {
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .map_or(raw, |end| &raw[..end]);
    let text = String::from_utf8_lossy(head);
    let prefix = format!("{name}:");
    text.lines().find_map(|l| {
        l.get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(&prefix))
            .and_then(|_| l.get(prefix.len()..))
            .map(|v| v.trim().to_string())
    })
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .flat_map(|v| v.split_whitespace())
        .map(normalise_id)
        .filter(|id| !id.is_empty())
        .collect()
}

/// A Message-ID without brackets, lower case.
pub fn normalise_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
