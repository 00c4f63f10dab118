//! Looking at one due entry before it is claimed: human tasks, sending
//! windows, daily caps, retries of stored touches, and the claim itself.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{Claimed, Prepared, Worker};
use crate::domain::event::{Event, EventKind};
use crate::domain::lead::{Due, Lead, LeadId};
use crate::domain::mark::{LeadUpdate, reschedule};
use crate::domain::schedule::{in_window, next_open};
use crate::domain::sequence::{Channel, Sequence, Window};
use crate::domain::touch::{self, ClaimRefused, Touch, TouchState};
use crate::engine::{Change, EngineError};

/// Where a touch on `channel` goes for `lead` as it is now.
pub(super) fn address(lead: &Lead, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => lead.email.clone(),
        Channel::Sms | Channel::Call => lead.phone.clone(),
        Channel::Task => Some(String::new()),
    }
}

/// The window a due touch must be inside: its step's (a `window = "always"`
/// step has none but quiet hours), or only the quiet-hours limit when a
/// human asked for "now".
fn effective_window(seq: &Sequence, due: &Due) -> Window {
    if due.immediate {
        Window::ALWAYS.for_channel(due.channel)
    } else {
        seq.step_window(due.step as usize)
    }
}

impl Worker {
    /// Moves the lead's next touch to `at`, with a note saying why.
    fn postpone(
        &self,
        lead: &Lead,
        due: &Due,
        at: DateTime<Utc>,
        why: String,
    ) -> Result<(), EngineError> {
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                let mut next = expected.clone();
                next.at = at;
                events.push(EventKind::TouchScheduled {
                    step: next.step_id.clone(),
                    channel: next.channel,
                    due: at,
                });
                events.push(EventKind::Note { text: why.clone() });
                lead.next = Some(next);
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }

    /// Looks at one due entry: hands human tasks to the human, moves touches
    /// outside their window or over a cap, and claims the rest.
    pub(super) async fn prepare(
        &self,
        at: DateTime<Utc>,
        id: LeadId,
        step: u32,
        now: DateTime<Utc>,
        claimed_now: &HashMap<Channel, u64>,
    ) -> Result<Prepared, EngineError> {
        let store = self.engine.store();
        let settings = self.engine.settings();
        let lead = store.lead(id)?;
        let due = lead.as_ref().and_then(|l| {
            l.next.clone().filter(|d| {
                d.step == step
                    && d.at.timestamp_millis() == at.timestamp_millis()
                    && !d.awaiting_human
            })
        });
        let (Some(lead), Some(due)) = (lead, due) else {
            // An index entry nothing points at any more.
            store.remove_due(at, id)?;
            return Ok(Prepared::Done);
        };
        let seq = match self.engine.catalog().get(&lead.sequence) {
            Ok(seq) if (due.step as usize) < seq.steps.len() => seq,
            Ok(_) | Err(_) => {
                let why = format!(
                    "sequence `{}` (step {}) is not available; retrying in an hour",
                    lead.sequence, due.step_id
                );
                tracing::error!(lead = %id, "{why}");
                self.postpone(&lead, &due, now + Duration::hours(1), why)?;
                return Ok(Prepared::Done);
            }
        };
        let Some(transport) = self.transport(due.channel) else {
            self.hand_to_human(&lead, &due)?;
            return Ok(Prepared::Done);
        };
        let tz = lead.tz.unwrap_or(settings.default_tz);
        let stored = store.touch(id, due.step)?;
        // Its useful life counts from when it first came due: a retry or a
        // wait for a down channel does not extend it.
        let first_due = stored
            .as_ref()
            .filter(|t| t.state == TouchState::Pending)
            .map_or(due.at, |t| t.created_at.min(due.at));
        let step = &seq.steps[due.step as usize];
        if let Some(expired) =
            touch::expires_at(step.expires_after, due.channel, first_due, tz).filter(|e| now >= *e)
        {
            let why = format!(
                "skipped {}: past its useful life (due {}, expired {}); not sent late",
                due.step_id,
                first_due.format("%Y-%m-%d %H:%M UTC"),
                expired.format("%Y-%m-%d %H:%M UTC")
            );
            let pending = stored.filter(|t| t.state == TouchState::Pending);
            self.give_up_step_with(&lead, &due, why, pending)?;
            return Ok(Prepared::Done);
        }
        if self.is_held(due.channel) {
            // The channel is down: the touch waits in place, in due order,
            // with nothing written and no attempt spent.
            return Ok(Prepared::Held(due.channel));
        }
        let window = effective_window(seq, &due);
        if let Some(open) = next_open(now, tz, window).filter(|_| !in_window(now, tz, window)) {
            self.postpone(
                &lead,
                &due,
                open,
                format!("{} moved to the next sending window", due.step_id),
            )?;
            return Ok(Prepared::Done);
        }
        let cap = self
            .options
            .daily_caps
            .get(&due.channel)
            .copied()
            .unwrap_or(0);
        if cap > 0 && transport.is_live() {
            let sent = store.sent_on(due.channel, now)?;
            let in_flight = claimed_now.get(&due.channel).copied().unwrap_or(0);
            if sent < cap && sent + in_flight >= cap {
                // Claims of this pass fill the cap, but they may yet fail
                // (a channel found down spends nothing): decide after them.
                return Ok(Prepared::Deferred);
            }
            if sent >= cap {
                let tomorrow = (now + Duration::days(1))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(now + Duration::days(1));
                let open = next_open(tomorrow, tz, window).unwrap_or(tomorrow);
                self.postpone(
                    &lead,
                    &due,
                    open,
                    format!(
                        "daily {} cap of {cap} reached; moved to the next day",
                        due.channel
                    ),
                )?;
                return Ok(Prepared::Done);
            }
        }
        let touch = match stored {
            Some(mut existing) if existing.state == TouchState::Pending => {
                // A retry keeps its words, but goes to the contact the lead
                // has now: an edit since the last attempt may have corrected
                // (or removed) the address the touch was built for.
                let Some(to) = address(&lead, existing.channel) else {
                    let why = format!("lead has no address for {}", existing.channel);
                    self.give_up_step(&lead, &due, why)?;
                    return Ok(Prepared::Done);
                };
                existing.to = to;
                existing.to_name = lead.name.clone();
                existing
            }
            Some(existing) => {
                // Never send a touch twice: a settled touch is not claimed again.
                let why = format!(
                    "{} is already {}; not sending it again",
                    existing.step_id,
                    existing.state.as_str()
                );
                self.hold(&lead, &due, why)?;
                return Ok(Prepared::Done);
            }
            None => match self
                .build_touch(&lead, seq, &due, transport.as_ref(), now)
                .await
            {
                Ok(touch) => touch,
                Err(why) => {
                    self.give_up_step(&lead, &due, why)?;
                    return Ok(Prepared::Done);
                }
            },
        };
        let seen = lead.event_count;
        let claimed_touch = touch.clone();
        let expected = due.clone();
        let outcome = store.update_lead(id, now, |current, facts| {
            touch::claim(
                current,
                facts.suppressed_for(claimed_touch.channel),
                &expected,
                seen,
                &claimed_touch,
                now,
            )
        })?;
        match outcome {
            Ok(after) if after.status.is_sendable() => {
                let mut touch = touch;
                touch.state = TouchState::Sending;
                touch.attempts += 1;
                Ok(Prepared::Claimed(Box::new(Claimed {
                    touch,
                    transport,
                    due: expected,
                })))
            }
            Ok(_) => {
                self.engine.changed(Change::Lead(id));
                Ok(Prepared::Done)
            }
            Err(ClaimRefused::Stale) => Ok(Prepared::Done),
        }
    }

    /// A call or task came due: it waits for the human, out of the worker's way.
    fn hand_to_human(&self, lead: &Lead, due: &Due) -> Result<(), EngineError> {
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            if let Some(next) = lead.next.as_mut().filter(|n| **n == expected) {
                next.awaiting_human = true;
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, Vec::new()))
        })?;
        self.engine.activity(
            lead.id,
            format!("{} ({}) is due: over to you", due.step_id, due.channel),
        );
        Ok(())
    }

    /// Takes the lead off the due index with a note, for a human to look at.
    fn hold(&self, lead: &Lead, due: &Due, why: String) -> Result<(), EngineError> {
        let expected = due.clone();
        tracing::warn!(lead = %lead.id, "{why}");
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                lead.next = None;
                events.push(EventKind::Note { text: why.clone() });
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }

    /// A step that cannot be built for this lead (a template fails): record
    /// it as failed and move on to the next step.
    fn give_up_step(&self, lead: &Lead, due: &Due, why: String) -> Result<(), EngineError> {
        tracing::error!(lead = %lead.id, "{why}");
        self.give_up_step_with(lead, due, why, None)
    }

    /// [`Self::give_up_step`], also settling the step's `pending` touch (a
    /// retry that will not happen) as failed.
    fn give_up_step_with(
        &self,
        lead: &Lead,
        due: &Due,
        why: String,
        pending: Option<Touch>,
    ) -> Result<(), EngineError> {
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, ctx| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                let failed = EventKind::TouchFailed {
                    step: expected.step_id.clone(),
                    channel: expected.channel,
                    reason: why.clone(),
                    permanent: false,
                    gave_up: true,
                };
                let mut history = ctx.events.to_vec();
                history.push(Event {
                    at: ctx.now,
                    kind: failed.clone(),
                });
                events.push(failed);
                events.extend(reschedule(
                    &mut lead,
                    ctx.sequence,
                    &history,
                    ctx.now,
                    ctx.settings.default_tz,
                ));
                let mut update = LeadUpdate::of(lead, events);
                update.touch = pending.clone().map(|mut t| {
                    t.state = TouchState::Failed;
                    t.last_error = Some(why.clone());
                    t.updated_at = ctx.now;
                    t
                });
                return Ok(update);
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }
}
