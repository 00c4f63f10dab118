//! Behaviour rules, decided purely: what an engaged open or click does to a
//! lead (activate the nudge step, pull the next touch earlier), when the
//! lead turns hot, and where a cancelled booking resumes (`on_cancel`). The
//! scheduling itself lives in [`super::schedule`].

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::event::{Event, EventKind};
use super::lead::Lead;
use super::mark::{LeadUpdate, MarkError, reschedule};
use super::schedule::{hot_score, next_touch, pull_earlier};
use super::sequence::Sequence;
use super::status::Status;

/// An engagement signal from tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The lead opened an email.
    Opened,
    /// The lead clicked a link.
    Clicked {
        /// The link, when known.
        url: Option<String>,
    },
}

impl Signal {
    /// The event that records it.
    pub fn event(&self) -> EventKind {
        match self {
            Signal::Opened => EventKind::Opened,
            Signal::Clicked { url } => EventKind::Clicked { url: url.clone() },
        }
    }
}

/// What [`on_signal`] may look at besides the lead.
pub struct SignalContext<'a> {
    /// The lead's sequence (its `[rules]`).
    pub sequence: &'a Sequence,
    /// The lead's events so far.
    pub events: &'a [Event],
    /// The instant of the signal.
    pub now: DateTime<Utc>,
    /// Zone for leads without one.
    pub default_tz: Tz,
    /// Score at which the lead turns hot; 0 turns hot scoring off.
    pub hot_threshold: u32,
}

/// The score at which a lead turns hot when `[engine] hot_threshold` is not set.
pub const DEFAULT_HOT_THRESHOLD: u32 = 5;

/// Records `signal` and applies the sequence's rules:
/// * an open re-plans the next touch when that activates the nudge step;
/// * a click with `clicked = "pull-earlier"` moves the next touch to the next
///   window start if that is sooner;
/// * crossing the hot threshold sets `hot` and appends a `Hot` event (once).
///
/// Touches already in a human's hands (a due call) or asked for "now" are
/// left alone.
pub fn on_signal(lead: &Lead, signal: &Signal, ctx: &SignalContext<'_>) -> LeadUpdate {
    let mut lead = lead.clone();
    let event = signal.event();
    let mut history = ctx.events.to_vec();
    history.push(Event {
        at: ctx.now,
        kind: event.clone(),
    });
    let mut events = vec![event];
    let rules = &ctx.sequence.rules;
    let movable = lead.status.is_sendable()
        && lead
            .next
            .as_ref()
            .is_none_or(|n| !n.awaiting_human && !n.immediate);
    if movable {
        match signal {
            Signal::Opened if rules.nudge_after_open.is_some() => {
                let planned = next_touch(&lead, ctx.sequence, &history, ctx.now, ctx.default_tz);
                let current = lead.next.as_ref().map(|n| n.step as usize);
                if planned.is_some_and(|p| Some(p.step) != current) {
                    events.extend(reschedule(
                        &mut lead,
                        ctx.sequence,
                        &history,
                        ctx.now,
                        ctx.default_tz,
                    ));
                }
            }
            Signal::Clicked { .. } if rules.pull_earlier_on_click => {
                let tz = lead.tz.unwrap_or(ctx.default_tz);
                if let Some(next) = lead.next.as_mut() {
                    // The business window even for an any-hour step: a click pulls
                    // to an opening, never to lead-local midnight.
                    let window = ctx.sequence.window.for_channel(next.channel);
                    if let Some(at) = pull_earlier(next.at, ctx.now, tz, window) {
                        next.at = at;
                        events.push(EventKind::TouchScheduled {
                            step: next.step_id.clone(),
                            channel: next.channel,
                            due: at,
                        });
                        events.push(EventKind::Note {
                            text: format!("{} pulled earlier by a click", next.step_id),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    let score = hot_score(&history, &rules.hot);
    if !lead.hot && ctx.hot_threshold > 0 && score >= ctx.hot_threshold {
        lead.hot = true;
        events.push(EventKind::Hot { score });
    }
    LeadUpdate::of(lead, events)
}

/// A booking was cancelled: the booked lead is active again. With
/// `[rules] on_cancel = "step"` it continues from that step (its delay
/// counting from now), unless that step was already sent, in which case, as
/// without the rule, it continues where it left off.
pub fn on_booking_cancelled(
    lead: &Lead,
    sequence: &Sequence,
    events: &[Event],
    now: DateTime<Utc>,
    default_tz: Tz,
) -> Result<LeadUpdate, MarkError> {
    let mut lead = lead.clone();
    lead.status = lead.status.transition(Status::Active)?;
    lead.next = None;
    let target = sequence
        .rules
        .on_cancel
        .and_then(|i| sequence.steps.get(i))
        .map(|s| s.id.clone());
    let already_sent = |id: &str| {
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::TouchSent { step, .. } if step == id))
    };
    let mut out = Vec::new();
    let step = match target {
        Some(id) if already_sent(&id) => {
            out.push(EventKind::Note {
                text: format!(
                    "on_cancel step {id} was already sent; continuing where the lead left off"
                ),
            });
            None
        }
        other => other,
    };
    let cancelled = EventKind::BookingCancelled { step };
    let mut history = events.to_vec();
    history.push(Event {
        at: now,
        kind: cancelled.clone(),
    });
    out.insert(0, cancelled);
    out.extend(reschedule(&mut lead, sequence, &history, now, default_tz));
    Ok(LeadUpdate::of(lead, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadId;
    use crate::domain::sequence::Channel;
    use chrono::TimeZone;

    const SEQ: &str = r#"
name = "t"
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"
[rules]
on_cancel = "rebook"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hi"
body = "Hi"
[[steps]]
id = "case"
delay = "2d"
channel = "email"
body = "A case"
[[steps]]
id = "rebook"
delay = "1h"
channel = "email"
optional = true
body = "Sorry the time did not work; pick another?"
[[steps]]
id = "close"
delay = "7d"
channel = "email"
body = "Should I stop?"
"#;

    fn booked_lead(now: DateTime<Utc>) -> Lead {
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        let mut lead = crate::domain::lead::LeadInput {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            source: "test".into(),
            ..Default::default()
        }
        .validate(None)
        .unwrap()
        .into_lead(id, "t".into(), now);
        lead.status = Status::Booked;
        lead.last_step = Some(0);
        lead
    }

    fn sent(step: &str, at: DateTime<Utc>) -> Event {
        Event {
            at,
            kind: EventKind::TouchSent {
                step: step.into(),
                channel: Channel::Email,
                subject: None,
                body: String::new(),
                dry_run: false,
            },
        }
    }

    #[test]
    fn a_cancellation_continues_from_the_on_cancel_step_then_onwards() {
        let seq = Sequence::parse("t.toml", SEQ, "t").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
        let now = start + chrono::Duration::days(1);
        let events = vec![
            sent("hello", start),
            Event {
                at: start,
                kind: EventKind::Booked,
            },
        ];
        let update =
            on_booking_cancelled(&booked_lead(start), &seq, &events, now, Tz::UTC).unwrap();
        assert_eq!(update.lead.status, Status::Active);
        assert_eq!(
            update.events[0],
            EventKind::BookingCancelled {
                step: Some("rebook".into())
            }
        );
        let next = update.lead.next.clone().unwrap();
        assert_eq!(
            (next.step_id.as_str(), next.at),
            ("rebook", now + chrono::Duration::hours(1))
        );
        // Once the rebook step is sent, the sequence goes on to the close.
        let mut history = events.clone();
        history.extend(update.events.iter().map(|kind| Event {
            at: now,
            kind: kind.clone(),
        }));
        history.push(sent("rebook", next.at));
        let mut lead = update.lead.clone();
        reschedule(&mut lead, &seq, &history, next.at, Tz::UTC);
        assert_eq!(lead.next.unwrap().step_id, "close");
    }

    #[test]
    fn without_the_rule_or_once_the_step_was_sent_it_continues_where_it_left_off() {
        let mut seq = Sequence::parse("t.toml", SEQ, "t").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
        let now = start + chrono::Duration::days(1);
        let events = vec![sent("hello", start)];
        let mut already = events.clone();
        already.push(sent("rebook", start));
        let update =
            on_booking_cancelled(&booked_lead(start), &seq, &already, now, Tz::UTC).unwrap();
        assert_eq!(update.events[0], EventKind::BookingCancelled { step: None });
        assert!(
            matches!(&update.events[1], EventKind::Note { text } if text.contains("already sent"))
        );
        seq.rules.on_cancel = None;
        let update =
            on_booking_cancelled(&booked_lead(start), &seq, &events, now, Tz::UTC).unwrap();
        assert_eq!(update.events[0], EventKind::BookingCancelled { step: None });
        assert_eq!(update.lead.next.unwrap().step_id, "case");
        // Only a booked (or otherwise resumable) lead can be cancelled back.
        let mut replied = booked_lead(start);
        replied.status = Status::OptedOut;
        assert!(on_booking_cancelled(&replied, &seq, &events, now, Tz::UTC).is_err());
    }
}
