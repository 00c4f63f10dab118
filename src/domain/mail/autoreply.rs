//! Automatic answers: RFC 3834 headers, subjects in eight languages, body
//! phrases for clients that send no header (Lotus Notes, AOL); the return
//! date (iCloud's `X-Apple-Criteria` end date first, then the text); an
//! address retired or moved; and challenge-response filters.

use chrono::NaiveDate;
use mail_parser::Message;

use super::dates::{Order, return_date};
use super::rules::{RULES, find};
use super::{AutoReply, Facts, ReturnDate, header};

/// A challenge-response filter's request, with its verification link:
/// a known service named anywhere, or an automated message (headers, a
/// daemon sender, a report) asking us to verify.
pub fn challenge(facts: &Facts) -> Option<Option<String>> {
    let rules = &RULES.challenge;
    let named = find(&rules.senders, &facts.from)
        .or_else(|| find(&rules.senders, &facts.from_raw))
        .or_else(|| find(&rules.senders, &facts.body))
        .is_some();
    let automated = facts.auto_header
        || facts.from_raw.contains("mailer-daemon")
        || facts.from_raw.contains("<>");
    let asks = find(&rules.phrases, &facts.body).is_some();
    (named && asks || automated && asks && link(&facts.body).is_some()).then(|| link(&facts.body))
}

/// The verification link: the first URL that says what it is for, else the first.
fn link(body: &str) -> Option<String> {
    let urls: Vec<&str> = body
        .split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')'))
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .collect();
    urls.iter()
        .find(|u| {
            ["verify", "confirm", "challenge", "approve", "accept"]
                .iter()
                .any(|k| u.contains(k))
        })
        .or_else(|| urls.first())
        .map(|u| u.trim_end_matches(['.', ',', ';']).to_string())
}

/// An automatic answer and what it says, or `None` for a person's words.
pub fn read(
    message: &Message<'_>,
    facts: &Facts,
    sent: NaiveDate,
    today: NaiveDate,
) -> Option<AutoReply> {
    let rules = &RULES.autoreply;
    let apple =
        header(message, "X-Apple-Action").is_some_and(|v| v.eq_ignore_ascii_case("vacation"));
    // Exchange sets this on its automatic replies, but Outlook also on some
    // people's messages: it counts only with another sign.
    let suppress = header(message, "X-Auto-Response-Suppress").is_some();
    let subject = find(&rules.subjects, &facts.subject).is_some();
    let phrase = find(&rules.body_phrases, &facts.body).is_some();
    let retired = find(&rules.retired, &facts.body);
    let automatic = facts.auto_header || apple || subject || (phrase && !quotes_us(&facts.body));
    if !automatic && !(suppress && (subject || phrase)) {
        return None;
    }
    if let Some(address) = new_address(&facts.body, &facts.from) {
        return Some(AutoReply::Moved(address));
    }
    if let Some(retired) = retired {
        return Some(AutoReply::Retired(retired.to_string()));
    }
    let english = ["until", "back", "return", "office", "away"]
        .iter()
        .any(|w| facts.body.contains(w));
    let domain = facts.from.rsplit('@').next().unwrap_or_default();
    let order = Order::guess(english, domain);
    let back = apple_end(message, today).or_else(|| {
        return_date(
            &format!("{} {}", facts.subject, facts.body),
            sent,
            today,
            order,
        )
    });
    Some(AutoReply::Away(back))
}

/// Whether the text quotes an earlier message (a person replying inline),
/// so body phrases alone must not make it automatic.
fn quotes_us(body: &str) -> bool {
    body.lines().any(|l| l.trim_start().starts_with('>'))
        || body.contains("-----original message-----")
}

/// iCloud's vacation end: `X-Apple-Criteria: {kind=VACATION,…,endDate=2020-01-10T14:59:59Z}`;
/// the person is back the day after it.
fn apple_end(message: &Message<'_>, today: NaiveDate) -> Option<ReturnDate> {
    let criteria = header(message, "X-Apple-Criteria")?;
    let end = criteria.split("endDate=").nth(1)?;
    let day = end.get(..10)?;
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()?
        .succ_opt()?;
    let limit = today + chrono::Duration::days(super::dates::MAX_DAYS_AHEAD);
    (date > today && date <= limit).then(|| ReturnDate {
        date,
        phrase: format!("X-Apple-Criteria endDate={day}"),
    })
}

/// The address after a "my new address is" phrase, when it is not the sender's.
fn new_address(body: &str, from: &str) -> Option<String> {
    let rules = &RULES.autoreply;
    rules.new_address.iter().find_map(|phrase| {
        let at = body.find(phrase.as_str())?;
        let rest = body.get(at + phrase.len()..)?;
        rest.split(|c: char| {
            c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | ':')
        })
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '!' || c == '\''))
        .map(|w| w.trim_start_matches("mailto:"))
        .find(|w| crate::domain::lead::normalize_email(w).is_ok())
        .map(str::to_string)
        .filter(|w| w != from)
    })
}
