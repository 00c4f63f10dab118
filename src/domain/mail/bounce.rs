//! Bounces: RFC 3464 reports (every per-recipient block), RFC 3463
//! enhanced status codes by class and subject, `X-Failed-Recipients`, and
//! the SMTP reply quoted in plain-text notices (Exim, qmail, Yahoo, old
//! Gmail, Exchange 2003, Sendmail V5). Structure first, phrases second.

use std::sync::LazyLock;

use mail_parser::{Message, MessageParser, MimeHeaders};
use regex::Regex;

use super::rules::{RULES, find};
use super::{Bounce, BounceKind, Facts, header, normalise_id};

/// An RFC 3463 enhanced status code.
static STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.\s|\.$|$)")
        .unwrap_or_else(|e| panic!("{e}"))
});
/// A basic SMTP reply code at the start of a reply ("550 ", "550-", "#550").
static SMTP_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s:#(])([45][0-5]\d)(?:[\s\-]|$)").unwrap_or_else(|e| panic!("{e}"))
});
/// A Message-ID header line, quoted or embedded.
static MESSAGE_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^[\s>]*message-id:\s*<?([^\s<>]+@[^\s<>]+)>?")
        .unwrap_or_else(|e| panic!("{e}"))
});
/// An email address.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
        .unwrap_or_else(|e| panic!("{e}"))
});

/// Lines after which a plain-text notice quotes our own message.
const ORIGINAL_MARKERS: &[&str] = &[
    "------ this is a copy of the message",
    "--- below this line is a copy of the message",
    "original message follows",
    "----- original message -----",
    "------ original message ------",
    "message headers follow",
    "the headers of the original message",
    "----- the header of the original message",
    "--- the header of the original message",
    "content-type: message/rfc822",
    "\nreturn-path:",
    "\nreceived: from",
];

/// Is this a delivery failure report at all? A `multipart/report` of type
/// delivery-status, `X-Failed-Recipients`, or a daemon sender (or `From:
/// <>`) whose subject or body reads like a failure.
pub fn is_bounce(message: &Message<'_>, facts: &Facts) -> bool {
    if report_type(message).is_some_and(|t| t == "delivery-status") {
        return true;
    }
    if header(message, "X-Failed-Recipients").is_some() {
        return true;
    }
    let local = facts.from.split('@').next().unwrap_or_default();
    let daemon = facts.from_raw.is_empty()
        || facts.from_raw.contains("<>")
        || RULES.bounce.daemon_senders.iter().any(|d| d == local)
        || find(&RULES.bounce.daemon_names, &facts.from_raw).is_some();
    let subject = find(&RULES.bounce.subjects, &facts.subject).is_some();
    let returned = message.parts.iter().any(|p| {
        is_type(p, "message", &["rfc822", "global"]) || is_type(p, "text", &["rfc822-headers"])
    }) || ORIGINAL_MARKERS.iter().any(|m| facts.body.contains(m));
    let marker = find(&RULES.bounce.body_markers, &facts.body).is_some();
    daemon
        && (subject
            || STATUS.is_match(&facts.body)
            || delivery_status_part(message)
            || (returned && marker))
}

/// A `multipart/report` that is not about delivery (read receipts, abuse
/// feedback): nothing nudge acts on.
pub fn is_other_report(message: &Message<'_>) -> bool {
    report_type(message).is_some()
}

fn report_type(message: &Message<'_>) -> Option<String> {
    let ct = message.root_part().content_type()?;
    let report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"));
    report.then(|| {
        ct.attribute("report-type")
            .unwrap_or_default()
            .to_ascii_lowercase()
    })
}

fn delivery_status_part(message: &Message<'_>) -> bool {
    message
        .parts
        .iter()
        .any(|p| is_type(p, "message", &["delivery-status", "global-delivery-status"]))
}

fn is_type(part: &mail_parser::MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
    })
}

/// The Message-IDs of the returned original: an embedded `message/rfc822`,
/// `text/rfc822-headers`, or headers quoted in the text (skipping the
/// report's own id).
pub fn returned_ids(message: &Message<'_>, raw: &[u8]) -> Vec<String> {
    let own = message.message_id().map(normalise_id);
    let mut found = Vec::new();
    for part in &message.parts {
        if is_type(part, "message", &["rfc822", "global"]) {
            if let Some(id) = part.message().and_then(|m| m.message_id()) {
                found.push(normalise_id(id));
            }
        } else if is_type(part, "text", &["rfc822-headers", "global-headers"]) {
            let headers = MessageParser::default().parse_headers(part.contents());
            if let Some(id) = headers.as_ref().and_then(|m| m.message_id()) {
                found.push(normalise_id(id));
            }
        }
    }
    let text = String::from_utf8_lossy(raw);
    for cap in MESSAGE_ID.captures_iter(&text) {
        found.push(normalise_id(&cap[1]));
    }
    found.retain(|id| Some(id) != own.as_ref());
    let mut seen = std::collections::HashSet::new();
    found.retain(|id| seen.insert(id.clone()));
    found
}

/// One recipient's block of a delivery-status report.
#[derive(Debug, Default)]
struct Recipient {
    address: Option<String>,
    action: String,
    status: Option<String>,
    diagnostic: String,
}

/// The verdict on a delivery report: `None` when it reports success
/// (delivered, relayed, expanded).
pub fn read(message: &Message<'_>, facts: &Facts) -> Option<Bounce> {
    let text = notice_text(&facts.body);
    let blocks = recipient_blocks(message);
    let mut failed = Vec::new();
    for block in &blocks {
        let kind = match block.action.as_str() {
            "delivered" | "relayed" | "expanded" => continue,
            "delayed" => BounceKind::Soft,
            _ => judge(block.status.as_deref(), &block.diagnostic, &text).0,
        };
        failed.push((kind, block));
    }
    if !blocks.is_empty() && failed.is_empty() {
        return None;
    }
    let failed_header: Vec<String> = header(message, "X-Failed-Recipients")
        .map(|v| {
            v.split(',')
                .map(|a| a.trim().trim_matches(['<', '>']).to_lowercase())
                .filter(|a| a.contains('@'))
                .collect()
        })
        .unwrap_or_default();
    if let Some(worst) = failed.iter().map(|(k, _)| *k).min_by_key(|k| severity(*k)) {
        let mut recipients: Vec<String> = failed
            .iter()
            .filter_map(|(_, b)| b.address.clone())
            .collect();
        recipients.extend(failed_header);
        let first = failed.iter().find(|(k, _)| *k == worst).map(|(_, b)| *b);
        let status = first.and_then(|b| b.status.clone());
        let reason = first
            .map(|b| b.diagnostic.clone())
            .filter(|d| !d.is_empty())
            .or_else(|| status.as_ref().map(|s| format!("status {s}")))
            .unwrap_or_else(|| one_line(&text));
        return Some(Bounce {
            kind: worst,
            recipients: dedup(recipients),
            status,
            reason: one_line(&reason),
        });
    }
    // No report blocks: a plain-text notice.
    let status = STATUS.captures(&text).map(|c| c[1].to_string());
    let (kind, _) = judge(status.as_deref(), "", &text);
    let mut recipients = failed_header;
    if recipients.is_empty() {
        recipients = ADDRESS
            .find_iter(&text)
            .map(|m| m.as_str().trim_end_matches('.').to_string())
            .filter(|a| a != &facts.from)
            .collect();
    }
    Some(Bounce {
        kind,
        recipients: dedup(recipients),
        status,
        reason: reason_line(&text),
    })
}

/// Hard first: when recipients differ, the worst verdict speaks.
fn severity(kind: BounceKind) -> u8 {
    match kind {
        BounceKind::Hard => 0,
        BounceKind::Policy => 1,
        BounceKind::Soft => 2,
    }
}

fn dedup(mut list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.retain(|a| seen.insert(a.clone()));
    list
}

/// The verdict for a status (if any) and the server's words, and which
/// rule decided. Order: a status listed exactly (5.1.1, 5.2.2…), then a
/// status class listed by prefix (5.7.…) unless it is generic, then the
/// phrase lists, then the class (4 soft, 5 hard). A 4xx reply never makes
/// a hard bounce.
pub fn judge(status: Option<&str>, diagnostic: &str, text: &str) -> (BounceKind, &'static str) {
    // Folded lines ("timed\nout") read as one.
    let lower = format!("{diagnostic} {text}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    // The remote server's own code (in the diagnostic) over the one the
    // reporting MTA put in the Status field; the notice's text last.
    let code = |t: &str| {
        STATUS
            .captures(t)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    };
    let status = code(diagnostic)
        .or(status.map(str::to_string))
        .or_else(|| code(text));
    let status = status.as_deref();
    let class = status.and_then(|s| s.chars().next()).or_else(|| {
        let codes: Vec<char> = SMTP_CODE
            .captures_iter(&lower)
            .filter_map(|c| c[1].chars().next())
            .collect();
        codes
            .iter()
            .copied()
            .find(|c| *c == '5')
            .or(codes.first().copied())
    });
    let temporary = class == Some('4');
    let soften = |kind| match kind {
        BounceKind::Hard if temporary => BounceKind::Soft,
        other => other,
    };
    for rule in &RULES.bounce.overrides {
        if find_word(&rule.phrases, &lower).is_some() {
            return (rule.verdict, "override");
        }
    }
    if let Some(status) = status {
        for rule in &RULES.bounce.status {
            if rule.codes.iter().any(|c| !c.ends_with('.') && c == status) {
                return (rule.verdict, "status");
            }
        }
        if !generic(status) {
            for rule in &RULES.bounce.status {
                if rule
                    .codes
                    .iter()
                    .any(|c| c.ends_with('.') && status.starts_with(c.as_str()))
                {
                    return (rule.verdict, "status class");
                }
            }
        }
    }
    for rule in &RULES.bounce.phrases {
        if find_word(&rule.phrases, &lower).is_some() {
            return (soften(rule.verdict), "phrase");
        }
    }
    if temporary {
        (BounceKind::Soft, "class")
    } else {
        (BounceKind::Hard, "class")
    }
}

/// Statuses that say little: `x.0.y`, `x.y.0` (other) and `x.5.y`
/// (protocol); `x.6.y` (content) and `x.7.y` (policy) always say enough.
fn generic(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    let subject = parts.next().unwrap_or("0");
    let detail = parts.next().unwrap_or("0");
    match subject {
        "6" | "7" => false,
        _ => subject == "0" || detail == "0" || subject == "5",
    }
}

/// The first phrase found starting at a word boundary (so "rbl" does not
/// match inside "verbless").
fn find_word<'a>(phrases: &'a [String], lower: &str) -> Option<&'a str> {
    phrases.iter().map(String::as_str).find(|p| {
        lower.match_indices(p).any(|(i, _)| {
            lower[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
    })
}

/// The notice's own words, without the copy of our message it returns.
fn notice_text(body: &str) -> String {
    let cut = ORIGINAL_MARKERS
        .iter()
        .filter_map(|m| body.find(m))
        .min()
        .unwrap_or(body.len());
    body[..cut].to_string()
}

/// The line of a notice most likely to hold the server's reason.
fn reason_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| SMTP_CODE.is_match(l) || STATUS.is_match(l))
        .or_else(|| {
            text.lines().map(str::trim).find(|l| {
                RULES
                    .bounce
                    .phrases
                    .iter()
                    .any(|r| find_word(&r.phrases, l).is_some())
            })
        })
        .unwrap_or_else(|| text.trim());
    one_line(line)
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(200).collect()
}

/// Every per-recipient block of the delivery-status parts.
fn recipient_blocks(message: &Message<'_>) -> Vec<Recipient> {
    let mut out = Vec::new();
    for part in &message.parts {
        if !is_type(
            part,
            "message",
            &["delivery-status", "global-delivery-status"],
        ) {
            continue;
        }
        let text = String::from_utf8_lossy(part.contents());
        for block in field_blocks(&text) {
            let field = |name: &str| {
                block
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            };
            let recipient = field("Original-Recipient").or(field("Final-Recipient"));
            let Some(recipient) = recipient else {
                continue;
            };
            let address = recipient.rsplit(';').next().unwrap_or(recipient);
            let address = address.trim().trim_matches(['<', '>']).to_lowercase();
            let diagnostic = field("Diagnostic-Code")
                .map(|d| d.split_once(';').map_or(d, |(_, t)| t).trim().to_string())
                .unwrap_or_default();
            let status = field("Status")
                .and_then(|s| STATUS.captures(&format!(" {s} ")).map(|c| c[1].to_string()));
            out.push(Recipient {
                address: address.contains('@').then_some(address),
                action: field("Action")
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase(),
                status,
                diagnostic,
            });
        }
    }
    out
}

/// The field blocks of a `message/delivery-status` body (RFC 3464): the
/// per-message block, then one per recipient; folded lines unfolded.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if blocks.last().is_some_and(|b| !b.is_empty()) {
                blocks.push(Vec::new());
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = blocks.last_mut().and_then(|b| b.last_mut()) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let (Some(block), Some((name, value))) = (blocks.last_mut(), line.split_once(':'))
        {
            block.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    blocks
}
