//! Touches and the outbox state machine, decided purely.
//!
//! `pending → sending → sent | failed | in-doubt | cancelled`. `sending` is
//! made durable before a channel is called; a `sending` found at start-up
//! becomes `in-doubt` and is never resent without a human saying so.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventKind};
use super::lead::{Due, Lead, LeadId};
use super::mark::{LeadUpdate, reschedule};
use super::render::Message;
use super::sequence::{Channel, QUIET_HOURS_START, Sequence};
use super::status::Status;
use chrono_tz::Tz;

/// Where a touch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TouchState {
    /// Rendered and waiting (first attempt or a retry).
    Pending,
    /// Claimed; the channel is being called.
    Sending,
    /// Delivered (or recorded, for dry-run).
    Sent,
    /// Given up: permanent error or too many attempts.
    Failed,
    /// The outcome is unknown; a human decides.
    InDoubt,
    /// Not sent because the lead stopped being active at the last moment.
    Cancelled,
}

impl TouchState {
    /// Name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            TouchState::Pending => "pending",
            TouchState::Sending => "sending",
            TouchState::Sent => "sent",
            TouchState::Failed => "failed",
            TouchState::InDoubt => "in-doubt",
            TouchState::Cancelled => "cancelled",
        }
    }
}

/// One touch to one lead: the outbox record. Holds the exact words, so a
/// retry sends what was first rendered (and what the human previewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// The lead.
    pub lead_id: LeadId,
    /// Step index in the lead's sequence.
    pub step: u32,
    /// Step id.
    pub step_id: String,
    /// Channel.
    pub channel: Channel,
    /// State.
    pub state: TouchState,
    /// Channel calls so far.
    pub attempts: u32,
    /// Address or number it goes to.
    pub to: String,
    /// The lead's name, for the `To:` header.
    #[serde(default)]
    pub to_name: String,
    /// Subject and final body.
    pub message: Message,
    /// Deterministic Message-ID (email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Thread parent (email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Thread chain (email).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// `List-Unsubscribe` targets (email).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list_unsubscribe: Vec<String>,
    /// The text/html alternative, for email steps that ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The original targets of the message's tracked links, by index: the
    /// click redirect goes only to one of these (no open redirect). Stored
    /// with the claim, so before the message leaves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// The channel runs dry: recorded, not sent.
    pub dry_run: bool,
    /// What personalisation did ("personalised", or why the plain text was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_note: Option<String>,
    /// Last error, for the human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Provider id from the receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// First rendered.
    pub created_at: DateTime<Utc>,
    /// Last state change.
    pub updated_at: DateTime<Utc>,
}

impl Touch {
    /// The touch's stable id: lead id and 1-based step number.
    pub fn id(&self) -> String {
        touch_id(self.lead_id, self.step)
    }
}

/// Stable touch id for (lead, step): also the seed of the email Message-ID.
pub fn touch_id(lead: LeadId, step: u32) -> String {
    format!("{lead}-{}", step + 1)
}

/// The deterministic Message-ID of a touch, so a resend after a crash carries
/// the same id and receivers can deduplicate.
pub fn message_id(lead: LeadId, step: u32, domain: &str) -> String {
    format!("<{}@{domain}>", touch_id(lead, step).to_ascii_lowercase())
}

/// The subject of an email step: its own when it has one; otherwise a reply
/// to `root`, the subject of the first email the lead really received, or,
/// when none was sent, the rendered subject without its `Re:` (a new
/// thread: never a reply to a message the lead never saw).
pub fn thread_subject(rendered: &str, own_subject: bool, root: Option<&str>) -> String {
    if own_subject {
        return rendered.to_string();
    }
    let strip = |s: &str| {
        let mut s = s.trim();
        while let Some(rest) = s.strip_prefix("Re: ").or_else(|| s.strip_prefix("RE: ")) {
            s = rest.trim_start();
        }
        s.to_string()
    };
    match root {
        Some(root) => format!("Re: {}", strip(root)),
        None => strip(rendered),
    }
}

/// What the channel said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered or recorded.
    Sent {
        /// Provider id.
        provider_id: Option<String>,
    },
    /// Definitely not delivered; retry.
    Transient {
        /// Why.
        reason: String,
        /// Provider hint.
        retry_after: Option<Duration>,
    },
    /// Definitely not delivered, never will be on this channel.
    Permanent {
        /// Why.
        reason: String,
    },
    /// Unknown.
    InDoubt {
        /// Why.
        reason: String,
    },
    /// The provider says the person opted out.
    OptedOut {
        /// Why.
        reason: String,
    },
    /// The channel itself was unusable and nothing was sent: the touch goes
    /// back to waiting, due as before, and the attempt is not counted.
    ChannelDown {
        /// Why.
        reason: String,
        /// The lead's next touch as it was when claimed.
        due: Due,
    },
}

/// When a touch due at `due_at` stops being worth sending: `due_at` plus
/// the step's `expires_after`; without one, an SMS expires when the same
/// day's quiet-hours window closes (21:00 lead-local: a text held back by
/// an outage is not sent the next morning out of the blue); anything else
/// never expires.
pub fn expires_at(
    expires_after: Option<Duration>,
    channel: Channel,
    due_at: DateTime<Utc>,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    if let Some(after) = expires_after {
        return Some(due_at + after);
    }
    if channel != Channel::Sms {
        return None;
    }
    let local = due_at.with_timezone(&tz);
    let close = |date: chrono::NaiveDate| {
        let minutes = u32::from(QUIET_HOURS_START.0);
        let end = date.and_hms_opt(minutes / 60, minutes % 60, 0)?;
        tz.from_local_datetime(&end)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let today = close(local.date_naive())?;
    if today > due_at {
        Some(today)
    } else {
        close(local.date_naive().succ_opt()?)
    }
}

/// Retry policy knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// First wait; doubles each attempt.
    pub base: Duration,
    /// Longest wait.
    pub cap: Duration,
}

/// Exponential backoff with ±20% jitter. The jitter is derived from the touch
/// id and attempt, so it spreads retries without making tests random.
pub fn backoff(policy: &RetryPolicy, touch: &str, attempt: u32) -> Duration {
    let exp = policy.base * 2i32.saturating_pow(attempt.saturating_sub(1).min(20));
    let wait = exp.min(policy.cap);
    let hash = touch.bytes().fold(u64::from(attempt), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let jitter_permille = (hash % 401) as i64 - 200;
    wait + Duration::milliseconds(wait.num_milliseconds() * jitter_permille / 1000)
}

/// Everything needed to decide what an outcome does to a lead.
pub struct OutcomeContext<'a> {
    /// The lead's sequence.
    pub sequence: &'a Sequence,
    /// Events so far.
    pub events: &'a [Event],
    /// Now.
    pub now: DateTime<Utc>,
    /// Zone for leads without one.
    pub default_tz: Tz,
    /// Retry policy.
    pub retry: RetryPolicy,
}

/// Whether a lead can still be reached on any channel other than `failed`.
fn has_other_channel(lead: &Lead, failed: Channel) -> bool {
    match failed {
        Channel::Email => lead.phone.is_some(),
        Channel::Sms | Channel::Call => lead.email.is_some(),
        Channel::Task => true,
    }
}

/// Applies a channel outcome to the claimed `touch` and its `lead`.
pub fn apply_outcome(
    lead: &Lead,
    touch: &Touch,
    outcome: Outcome,
    ctx: &OutcomeContext<'_>,
) -> LeadUpdate {
    let mut lead = lead.clone();
    let mut touch = touch.clone();
    touch.updated_at = ctx.now;
    let mut events = Vec::new();
    let mut suppress = None;
    let step = touch.step_id.clone();
    let channel = touch.channel;
    let mut history = ctx.events.to_vec();
    match outcome {
        Outcome::Sent { provider_id } => {
            touch.state = TouchState::Sent;
            touch.provider_id = provider_id;
            touch.last_error = None;
            let sent = EventKind::TouchSent {
                step,
                channel,
                subject: touch.message.subject.clone(),
                body: touch.message.body.clone(),
                dry_run: touch.dry_run,
            };
            history.push(Event {
                at: ctx.now,
                kind: sent.clone(),
            });
            events.push(sent);
            lead.last_step = Some(touch.step);
            events.extend(reschedule(
                &mut lead,
                ctx.sequence,
                &history,
                ctx.now,
                ctx.default_tz,
            ));
        }
        Outcome::Transient {
            reason,
            retry_after,
        } => {
            let gave_up = touch.attempts >= ctx.retry.max_attempts;
            touch.last_error = Some(reason.clone());
            touch.state = if gave_up {
                TouchState::Failed
            } else {
                TouchState::Pending
            };
            let failed = EventKind::TouchFailed {
                step: step.clone(),
                channel,
                reason: if gave_up {
                    format!("{reason} (gave up after {} attempts)", touch.attempts)
                } else {
                    reason
                },
                permanent: false,
                gave_up,
            };
            history.push(Event {
                at: ctx.now,
                kind: failed.clone(),
            });
            events.push(failed);
            if gave_up {
                events.extend(reschedule(
                    &mut lead,
                    ctx.sequence,
                    &history,
                    ctx.now,
                    ctx.default_tz,
                ));
            } else if lead.status.is_sendable() {
                let wait = backoff(&ctx.retry, &touch.id(), touch.attempts)
                    .max(retry_after.unwrap_or_default());
                let at = ctx.now + wait;
                lead.next = Some(Due {
                    at,
                    step: touch.step,
                    step_id: step.clone(),
                    channel,
                    awaiting_human: false,
                    immediate: false,
                });
                events.push(EventKind::TouchScheduled {
                    step,
                    channel,
                    due: at,
                });
            }
        }
        Outcome::Permanent { reason } => {
            touch.state = TouchState::Failed;
            touch.last_error = Some(reason.clone());
            let failed = EventKind::TouchFailed {
                step,
                channel,
                reason: reason.clone(),
                permanent: true,
                gave_up: false,
            };
            history.push(Event {
                at: ctx.now,
                kind: failed.clone(),
            });
            events.push(failed);
            if channel == Channel::Email {
                events.push(EventKind::Bounced { reason });
                if !has_other_channel(&lead, channel)
                    && lead.status.transition(Status::Bounced).is_ok()
                {
                    lead.status = Status::Bounced;
                    lead.next = None;
                }
            }
            events.extend(reschedule(
                &mut lead,
                ctx.sequence,
                &history,
                ctx.now,
                ctx.default_tz,
            ));
        }
        Outcome::InDoubt { reason } => {
            touch.state = TouchState::InDoubt;
            touch.last_error = Some(reason.clone());
            events.push(EventKind::TouchInDoubt {
                step,
                channel,
                reason,
            });
            lead.next = None;
        }
        Outcome::ChannelDown { reason, due } => {
            touch.state = TouchState::Pending;
            touch.attempts = touch.attempts.saturating_sub(1);
            touch.last_error = Some(reason.clone());
            if lead.status.is_sendable() && lead.next.is_none() {
                lead.next = Some(due);
            }
            events.push(EventKind::Note {
                text: format!(
                    "{step} waits: {channel} is unavailable ({reason}); no attempt spent"
                ),
            });
        }
        Outcome::OptedOut { reason } => {
            touch.state = TouchState::Failed;
            touch.last_error = Some(reason.clone());
            events.push(EventKind::TouchFailed {
                step,
                channel,
                reason,
                permanent: true,
                gave_up: false,
            });
            if lead.status.transition(Status::OptedOut).is_ok() {
                lead.status = Status::OptedOut;
                events.push(EventKind::OptedOut);
            }
            lead.next = None;
            suppress = Some("opted out with the provider".to_string());
        }
    }
    LeadUpdate {
        lead,
        events,
        suppress,
        touch: Some(touch),
    }
}

/// A human settles an in-doubt touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It did arrive: record it as sent and move on.
    Sent,
    /// It did not: send it again now, with the same words and Message-ID.
    Resend,
}

/// Why a resolution cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing in doubt for this lead.
    #[error("lead {0} has no touch in doubt")]
    NothingInDoubt(LeadId),
}

/// Settles an in-doubt `touch` of `lead`.
pub fn resolve(
    lead: &Lead,
    touch: &Touch,
    how: Resolution,
    ctx: &OutcomeContext<'_>,
) -> Result<LeadUpdate, ResolveError> {
    if touch.state != TouchState::InDoubt {
        return Err(ResolveError::NothingInDoubt(lead.id));
    }
    match how {
        Resolution::Sent => Ok(apply_outcome(
            lead,
            touch,
            Outcome::Sent { provider_id: None },
            ctx,
        )),
        Resolution::Resend => {
            let mut lead = lead.clone();
            let mut touch = touch.clone();
            touch.state = TouchState::Pending;
            touch.updated_at = ctx.now;
            let mut events = Vec::new();
            if lead.status.is_sendable() {
                lead.next = Some(Due {
                    at: ctx.now,
                    step: touch.step,
                    step_id: touch.step_id.clone(),
                    channel: touch.channel,
                    awaiting_human: false,
                    immediate: false,
                });
                events.push(EventKind::TouchScheduled {
                    step: touch.step_id.clone(),
                    channel: touch.channel,
                    due: ctx.now,
                });
            }
            Ok(LeadUpdate {
                lead,
                events,
                suppress: None,
                touch: Some(touch),
            })
        }
    }
}

/// Why a claim did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefused {
    /// The lead changed since it was read; it will be looked at again.
    Stale,
}

/// Claims a due touch: re-checks, in the claiming transaction, that the lead
/// is still active, still due for exactly this touch, and not suppressed.
/// An opt-out therefore wins every race with the worker.
pub fn claim(
    lead: &Lead,
    suppressed: Option<&str>,
    due: &Due,
    seen_events: u32,
    touch: &Touch,
    now: DateTime<Utc>,
) -> Result<LeadUpdate, ClaimRefused> {
    if lead.event_count != seen_events
        || lead.next.as_ref() != Some(due)
        || !lead.status.is_sendable()
    {
        return Err(ClaimRefused::Stale);
    }
    let mut lead = lead.clone();
    lead.next = None;
    if let Some(reason) = suppressed {
        lead.status = Status::OptedOut;
        return Ok(LeadUpdate {
            lead,
            events: vec![
                EventKind::OptedOut,
                EventKind::Note {
                    text: format!("not sent: the contact is on the suppression list ({reason})"),
                },
            ],
            suppress: None,
            touch: None,
        });
    }
    let mut touch = touch.clone();
    touch.state = TouchState::Sending;
    touch.attempts += 1;
    touch.updated_at = now;
    Ok(LeadUpdate {
        lead,
        events: Vec::new(),
        suppress: None,
        touch: Some(touch),
    })
}

/// A claimed touch whose lead stopped being active before the channel was
/// called (an opt-out or reply landed in between): it is not sent.
pub fn cancel(lead: &Lead, touch: &Touch, now: DateTime<Utc>) -> LeadUpdate {
    let mut touch = touch.clone();
    touch.state = TouchState::Cancelled;
    touch.updated_at = now;
    LeadUpdate {
        lead: lead.clone(),
        events: vec![EventKind::Note {
            text: format!(
                "{} not sent: the lead became {} first",
                touch.step_id, lead.status
            ),
        }],
        suppress: None,
        touch: Some(touch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_reply_subject_only_replies_to_what_was_sent() {
        assert_eq!(thread_subject("Re: Hello Ada", false, None), "Hello Ada");
        assert_eq!(
            thread_subject("Re: Hello Ada", false, Some("Hello Ada")),
            "Re: Hello Ada"
        );
        assert_eq!(
            thread_subject("Re: Hello Ada", false, Some("Re: Hello Ada")),
            "Re: Hello Ada"
        );
        assert_eq!(thread_subject("Own words", true, None), "Own words");
    }

    #[test]
    fn a_step_expiry_counts_from_when_it_was_due() {
        let due = at("2026-06-01T08:00:00Z");
        assert_eq!(
            expires_at(Some(Duration::days(2)), Channel::Email, due, chrono_tz::UTC),
            Some(at("2026-06-03T08:00:00Z"))
        );
        assert_eq!(expires_at(None, Channel::Email, due, chrono_tz::UTC), None);
    }

    #[test]
    fn an_sms_expires_when_the_same_days_quiet_hours_begin_lead_local() {
        // 10:00 in Berlin (CEST, UTC+2): expires at 21:00 Berlin, 19:00 UTC.
        let due = at("2026-06-01T08:00:00Z");
        assert_eq!(
            expires_at(None, Channel::Sms, due, chrono_tz::Europe::Berlin),
            Some(at("2026-06-01T19:00:00Z"))
        );
        // Due after 21:00 (a human's "now" waits for morning): the next day's.
        let late = at("2026-06-01T20:30:00Z");
        assert_eq!(
            expires_at(None, Channel::Sms, late, chrono_tz::Europe::Berlin),
            Some(at("2026-06-02T19:00:00Z"))
        );
    }

    #[test]
    fn channel_down_puts_the_touch_back_without_spending_the_attempt() {
        use crate::domain::lead::LeadInput;
        let now = at("2026-06-01T08:00:00Z");
        let seq = crate::domain::sequence::Sequence::parse(
            "t.toml",
            "name = \"t\"\n[[steps]]\nid = \"a\"\ndelay = \"0m\"\nchannel = \"email\"\nsubject = \"Hi\"\nbody = \"Hello\"\n",
            "t",
        )
        .unwrap();
        let lead = LeadInput {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            ..LeadInput::default()
        }
        .validate(None)
        .unwrap()
        .into_lead(LeadId(ulid::Ulid::nil()), "t".into(), now);
        let due = Due {
            at: now,
            step: 0,
            step_id: "a".into(),
            channel: Channel::Email,
            awaiting_human: false,
            immediate: false,
        };
        let touch = Touch {
            lead_id: lead.id,
            step: 0,
            step_id: "a".into(),
            channel: Channel::Email,
            state: TouchState::Sending,
            attempts: 1,
            to: "ada@example.com".into(),
            to_name: "Ada".into(),
            message: Message {
                subject: Some("Hi".into()),
                body: "Hello".into(),
            },
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            list_unsubscribe: Vec::new(),
            html: None,
            links: Vec::new(),
            dry_run: false,
            ai_note: None,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
        };
        let ctx = OutcomeContext {
            sequence: &seq,
            events: &[],
            now: now + Duration::seconds(1),
            default_tz: chrono_tz::UTC,
            retry: RetryPolicy {
                max_attempts: 1,
                base: Duration::seconds(60),
                cap: Duration::hours(1),
            },
        };
        let update = apply_outcome(
            &lead,
            &touch,
            Outcome::ChannelDown {
                reason: "connection refused".into(),
                due: due.clone(),
            },
            &ctx,
        );
        let after = update.touch.unwrap();
        assert_eq!(after.state, TouchState::Pending);
        assert_eq!(after.attempts, 0);
        // Due exactly as before: its place in the queue is kept.
        assert_eq!(update.lead.next, Some(due));
        assert!(
            !update
                .events
                .iter()
                .any(|e| matches!(e, EventKind::TouchFailed { .. }))
        );
    }
}
