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
