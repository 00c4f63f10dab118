//! What a read message does to the lead it is about: finding the lead
//! (our Message-ID first, then addresses) and applying the verdict of
//! [`crate::domain::mail`] through the engine.

use chrono::{DateTime, TimeZone, Utc};

use super::Handled;
use crate::config::ImapSettings;
use crate::domain::event::EventKind;
use crate::domain::lead::{LeadId, normalize_email};
use crate::domain::mail::{
    AutoReply, Bounce, BounceKind, ReturnDate, Verdict, classify, effect, normalise_id,
};
use crate::domain::mark::{Mark, MarkError};
use crate::engine::{Engine, EngineError};
use crate::store::StoreError;

/// How read messages act on leads: `[imap] ooo_delay_hours`,
/// `soft_bounce_limit` and `policy_pause_hours`.
#[derive(Debug, Clone, Copy)]
pub struct MailRules {
    /// Postponement after an auto-reply without a usable return date.
    pub ooo_delay: chrono::Duration,
    /// Soft bounces in a row that count as a hard bounce.
    pub soft_bounce_limit: u32,
    /// How long sends to a domain pause after a policy rejection.
    pub policy_pause: chrono::Duration,
}

impl MailRules {
    /// The rules `[imap]` asks for (hours clamped to a year).
    pub fn from_settings(settings: &ImapSettings) -> MailRules {
        let hours = |h: u64| chrono::Duration::hours(i64::try_from(h.min(24 * 366)).unwrap_or(72));
        MailRules {
            ooo_delay: hours(settings.ooo_delay_hours),
            soft_bounce_limit: u32::try_from(settings.soft_bounce_limit.clamp(1, 100)).unwrap_or(3),
            policy_pause: hours(settings.policy_pause_hours),
        }
    }
}

/// The lead a Message-ID nudge sent belongs to: nudge's ids are
/// `<LEADID-STEP@domain>` (see [`crate::domain::touch::message_id`]), and the
/// stored touch must carry exactly that id, so a look-alike cannot match.
fn lead_of_message_id(engine: &Engine, id: &str) -> Result<Option<LeadId>, EngineError> {
    let Some((local, _)) = id.split_once('@') else {
        return Ok(None);
    };
    let Some((lead, step)) = local.rsplit_once('-') else {
        return Ok(None);
    };
    let (Ok(lead), Ok(step)) = (lead.parse::<LeadId>(), step.parse::<u32>()) else {
        return Ok(None);
    };
    let Some(index) = step.checked_sub(1) else {
        return Ok(None);
    };
    let touch = engine.store().touch(lead, index)?;
    Ok(touch
        .and_then(|t| t.message_id)
        .filter(|sent| normalise_id(sent) == id)
        .map(|_| lead))
}

/// The lead a message is about: our Message-ID in its thread (or in the
/// returned original) first, so a forwarded address or rewritten subject
/// still matches; then the given addresses, each by exact match.
fn lead_of(
    engine: &Engine,
    thread: &[String],
    addresses: &[&str],
) -> Result<Option<LeadId>, EngineError> {
    for id in thread {
        if let Some(lead) = lead_of_message_id(engine, id)? {
            return Ok(Some(lead));
        }
    }
    for address in addresses {
        if let Ok(email) = normalize_email(address)
            && let Some(lead) = engine.store().lead_by_contact(&email)?
        {
            return Ok(Some(lead));
        }
    }
    Ok(None)
}

/// Applies one raw message to the lead it is about. Blocking (it flushes).
pub fn handle(engine: &Engine, raw: &[u8], rules: &MailRules) -> Result<Handled, EngineError> {
    let now = engine.now();
    let reading = classify(raw, now.date_naive());
    let from: Vec<&str> = reading.from.as_deref().into_iter().collect();
    let subject = one_line(&reading.subject);
    match reading.verdict {
        Verdict::Ignore => Ok(Handled::Ignored),
        // A bounce names the lead by our Message-ID or its recipient,
        // never by its sender (a mailer daemon).
        Verdict::Bounce(bounce) => {
            let recipients: Vec<&str> = bounce.recipients.iter().map(String::as_str).collect();
            let Some(id) = lead_of(engine, &reading.thread, &recipients)? else {
                return Ok(Handled::Ignored);
            };
            apply_bounce(engine, id, &bounce, rules)
        }
        Verdict::Challenge(link) => {
            let Some(id) = lead_of(engine, &reading.thread, &from)? else {
                return Ok(Handled::Ignored);
            };
            let reason = match link {
                Some(link) => {
                    format!("a challenge-response filter holds our email until you verify: {link}")
                }
                None => format!(
                    "a challenge-response filter holds our email until you verify (see \"{subject}\")"
                ),
            };
            engine.apply_mail(id, |lead, _| effect::attention(lead, &reason, true))?;
            engine.activity(id, reason);
            Ok(Handled::Attention(id))
        }
        Verdict::Reply => {
            let Some(id) = lead_of(engine, &reading.thread, &from)? else {
                return Ok(Handled::Ignored);
            };
            let note = format!("email reply: {subject}");
            match engine.mark(id, Mark::Replied, Some(&note)) {
                Ok(_) => {}
                // Already replied (or opted out): keep the message as a note.
                Err(EngineError::Mark(MarkError::Illegal(_))) => {
                    engine.record(id, EventKind::Note { text: note.clone() })?;
                }
                Err(e) => return Err(e),
            }
            engine.activity(id, note);
            Ok(Handled::Replied(id))
        }
        Verdict::AutoReply(auto) => {
            let Some(id) = lead_of(engine, &reading.thread, &from)? else {
                return Ok(Handled::Ignored);
            };
            match auto {
                AutoReply::Retired(phrase) => {
                    let reason = format!("the address is retired (auto-reply says \"{phrase}\")");
                    engine.apply_mail(id, |lead, ctx| effect::hard_bounce(lead, &reason, ctx))?;
                    engine.activity(id, format!("email bounced: {reason}"));
                    Ok(Handled::Bounced(id))
                }
                AutoReply::Moved(address) => {
                    let reason = format!(
                        "new address {address} (auto-reply \"{subject}\"); update it with `nudge edit {id} --email {address}`, then resume"
                    );
                    engine.apply_mail(id, |lead, _| effect::attention(lead, &reason, true))?;
                    engine.activity(id, reason);
                    Ok(Handled::Attention(id))
                }
                AutoReply::Away(back) => {
                    let until = away_until(engine, id, back.as_ref(), rules)?;
                    let why = match &back {
                        Some(back) => format!(
                            "auto-reply ({subject}): back on {} (read from \"{}\"); next touch not before {}",
                            back.date,
                            back.phrase,
                            until.to_rfc3339()
                        ),
                        None => format!(
                            "auto-reply ({subject}): no return date read; next touch not before {}",
                            until.to_rfc3339()
                        ),
                    };
                    engine.apply_mail(id, |lead, ctx| effect::postpone(lead, until, &why, ctx))?;
                    engine.activity(id, why);
                    Ok(Handled::Postponed(id, until))
                }
            }
        }
    }
}

/// When an away lead's next touch may go: the start of the day after the
/// return date in the lead's zone (the sequence window then picks the
/// morning), or `ooo_delay` from now when no date was read.
fn away_until(
    engine: &Engine,
    id: LeadId,
    back: Option<&ReturnDate>,
    rules: &MailRules,
) -> Result<DateTime<Utc>, EngineError> {
    let now = engine.now();
    let lead = engine
        .store()
        .lead(id)?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    let tz = lead.tz.unwrap_or(engine.settings().default_tz);
    Ok(back
        .and_then(|b| b.date.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| tz.from_local_datetime(&d).earliest())
        .map(|d| d.with_timezone(&Utc))
        .filter(|d| *d > now)
        .unwrap_or(now + rules.ooo_delay))
}

/// A bounce's effect: hard blocks email, soft counts toward hard, policy
/// alerts the founder on this lead and pauses every lead at that domain.
fn apply_bounce(
    engine: &Engine,
    id: LeadId,
    bounce: &Bounce,
    rules: &MailRules,
) -> Result<Handled, EngineError> {
    let status = bounce
        .status
        .as_ref()
        .map(|s| format!("{s} "))
        .unwrap_or_default();
    let reason = format!("{} bounce: {status}{}", bounce.kind.as_str(), bounce.reason);
    match bounce.kind {
        BounceKind::Hard => {
            engine.apply_mail(id, |lead, ctx| effect::hard_bounce(lead, &reason, ctx))?;
            engine.activity(id, format!("email bounced: {reason}"));
            Ok(Handled::Bounced(id))
        }
        BounceKind::Soft => {
            let lead = engine.apply_mail(id, |lead, ctx| {
                effect::soft_bounce(lead, &reason, rules.soft_bounce_limit, ctx)
            })?;
            engine.activity(id, format!("email bounced temporarily: {reason}"));
            Ok(if lead.status == crate::domain::status::Status::Bounced {
                Handled::Bounced(id)
            } else {
                Handled::SoftBounced(id)
            })
        }
        BounceKind::Policy => {
            let lead = engine
                .store()
                .lead(id)?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            let domain = lead
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_string());
            let until = engine.now() + rules.policy_pause;
            let why = match &domain {
                Some(d) => format!(
                    "{d} refused our email on policy grounds ({status}{}); check the sending setup (SPF, DKIM, DMARC, blocklists, volume); sends to {d} paused until {}",
                    bounce.reason,
                    until.to_rfc3339()
                ),
                None => format!(
                    "our email was refused on policy grounds: {status}{}",
                    bounce.reason
                ),
            };
            engine.apply_mail(id, |lead, _| effect::attention(lead, &why, false))?;
            if let Some(domain) = &domain {
                engine.pause_domain(domain, until, &why)?;
            }
            engine.activity(id, why);
            Ok(Handled::Policy(id))
        }
    }
}

fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "(no subject)".into()
    } else {
        line.chars().take(120).collect()
    }
}
