//! What a read message does to its lead, decided purely (the engine
//! applies it atomically): a hard bounce blocks email, soft bounces count
//! until they become hard, an attention notice pauses the lead and alerts
//! the founder, an auto-reply moves the next touch.

use chrono::{DateTime, Utc};

use crate::domain::event::{Event, EventKind};
use crate::domain::lead::Lead;
use crate::domain::mark::{LeadUpdate, MarkContext, reschedule};
use crate::domain::sequence::Channel;
use crate::domain::status::Status;

/// A permanent email failure, decided as the worker decides a permanent
/// SMTP failure: the email channel is blocked (the last email touch failed
/// for good); a lead with no other channel becomes `bounced` (if its status
/// allows), others continue by SMS or call.
pub fn hard_bounce(current: &Lead, reason: &str, ctx: &MarkContext<'_>) -> LeadUpdate {
    let mut lead = current.clone();
    let mut events = Vec::new();
    let last_email_step = ctx.events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TouchSent {
            step,
            channel: Channel::Email,
            ..
        } => Some(step.clone()),
        _ => None,
    });
    let mut history = ctx.events.to_vec();
    if let Some(step) = last_email_step {
        let failed = EventKind::TouchFailed {
            step,
            channel: Channel::Email,
            reason: reason.to_string(),
            permanent: true,
            gave_up: false,
        };
        history.push(Event {
            at: ctx.now,
            kind: failed.clone(),
        });
        events.push(failed);
    }
    events.push(EventKind::Bounced {
        reason: reason.to_string(),
    });
    if lead.phone.is_none() || history.len() == ctx.events.len() {
        if lead.status.transition(Status::Bounced).is_ok() {
            lead.status = Status::Bounced;
            lead.next = None;
        }
    } else if lead.status.is_sendable() {
        events.extend(reschedule(
            &mut lead,
            ctx.sequence,
            &history,
            ctx.now,
            ctx.default_tz,
        ));
    }
    LeadUpdate::of(lead, events)
}

/// Soft bounces since the last sign the address works (an open, a click,
/// a reply, a booking), not counting the one being recorded.
pub fn soft_bounces_in_a_row(events: &[Event]) -> u32 {
    let mut count = 0;
    for event in events.iter().rev() {
        match event.kind {
            EventKind::SoftBounced { .. } => count += 1,
            EventKind::Opened
            | EventKind::Clicked { .. }
            | EventKind::Replied
            | EventKind::Booked
            | EventKind::Bounced { .. } => break,
            _ => {}
        }
    }
    count
}

/// A temporary failure: recorded, and the sequence carries on (the next
/// touch is the retry); the `limit`-th in a row is a hard bounce.
pub fn soft_bounce(current: &Lead, reason: &str, limit: u32, ctx: &MarkContext<'_>) -> LeadUpdate {
    let count = soft_bounces_in_a_row(ctx.events).saturating_add(1);
    if count >= limit.max(1) {
        let why = format!("{count} soft bounces in a row, the last: {reason}");
        let mut update = hard_bounce(current, &why, ctx);
        update.events.insert(
            0,
            EventKind::SoftBounced {
                reason: reason.to_string(),
            },
        );
        return update;
    }
    LeadUpdate::of(
        current.clone(),
        vec![EventKind::SoftBounced {
            reason: format!("{reason} ({count} of {limit} before it counts as a bounce)"),
        }],
    )
}

/// Something the founder must settle: an alert on the lead and, with
/// `pause`, the sequence held (when its status allows) until they resume it.
pub fn attention(current: &Lead, reason: &str, pause: bool) -> LeadUpdate {
    let mut lead = current.clone();
    let mut events = Vec::new();
    if pause && lead.status.transition(Status::Paused).is_ok() {
        lead.status = Status::Paused;
        events.push(EventKind::Paused);
    }
    events.push(EventKind::Attention {
        reason: reason.to_string(),
    });
    LeadUpdate::of(lead, events)
}

/// The next touch not before `until`, with why on the timeline: an
/// auto-reply's return date, a paused sending domain.
pub fn postpone(
    current: &Lead,
    until: DateTime<Utc>,
    why: &str,
    ctx: &MarkContext<'_>,
) -> LeadUpdate {
    let mut lead = current.clone();
    let snoozed = EventKind::Snoozed { until };
    let mut events = vec![
        EventKind::Note {
            text: why.to_string(),
        },
        snoozed.clone(),
    ];
    let mut history = ctx.events.to_vec();
    history.push(Event {
        at: ctx.now,
        kind: snoozed,
    });
    if lead.status.is_sendable() {
        events.extend(reschedule(
            &mut lead,
            ctx.sequence,
            &history,
            ctx.now,
            ctx.default_tz,
        ));
    }
    LeadUpdate::of(lead, events)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::lint::sample_lead;
    use crate::domain::render::Sender;
    use crate::domain::sequence::Sequence;

    const SEQ: &str = r#"
name = "t"
email_footer = "Reply stop to opt out."
[[steps]]
id = "a"
delay = "0m"
channel = "email"
subject = "Hi"
body = "Hello"
[[steps]]
id = "b"
delay = "2d"
channel = "email"
body = "Again"
"#;

    fn at(kind: EventKind) -> Event {
        Event {
            at: Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap(),
            kind,
        }
    }

    fn soft() -> Event {
        at(EventKind::SoftBounced {
            reason: "full".into(),
        })
    }

    #[test]
    fn soft_bounces_count_until_a_sign_of_life() {
        assert_eq!(soft_bounces_in_a_row(&[soft(), soft()]), 2);
        assert_eq!(
            soft_bounces_in_a_row(&[soft(), at(EventKind::Opened), soft()]),
            1
        );
        assert_eq!(soft_bounces_in_a_row(&[]), 0);
    }

    #[test]
    fn the_third_soft_bounce_is_hard_and_attention_pauses() {
        let seq = Sequence::parse("t.toml", SEQ, "t").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 6, 2, 8, 0, 0).unwrap();
        let sender = Sender::default();
        let mut lead = sample_lead(now);
        lead.phone = None;
        let sent = at(EventKind::TouchSent {
            step: "a".into(),
            channel: Channel::Email,
            subject: Some("Hi".into()),
            body: "Hello".into(),
            dry_run: false,
        });
        let events = vec![sent.clone(), soft()];
        let ctx = MarkContext {
            sequence: &seq,
            events: &events,
            now,
            default_tz: chrono_tz::Europe::Berlin,
            sender: &sender,
        };
        let second = soft_bounce(&lead, "552 full", 3, &ctx);
        assert_eq!(second.lead.status, lead.status);
        assert!(
            matches!(&second.events[..], [EventKind::SoftBounced { reason }] if reason.contains("2 of 3"))
        );
        let events = vec![sent, soft(), soft()];
        let ctx = MarkContext {
            events: &events,
            ..ctx
        };
        let third = soft_bounce(&lead, "552 full", 3, &ctx);
        assert_eq!(third.lead.status, Status::Bounced);
        assert!(third.events.iter().any(|e| matches!(
            e,
            EventKind::TouchFailed {
                permanent: true,
                ..
            }
        )));

        let paused = attention(&lead, "verify at https://x.example", true);
        assert_eq!(paused.lead.status, Status::Paused);
        assert!(matches!(
            paused.events.last(),
            Some(EventKind::Attention { .. })
        ));
        let kept = attention(&lead, "policy", false);
        assert_eq!(kept.lead.status, lead.status);
    }
}
