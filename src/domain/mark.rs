//! What a human (or a signal) marking a lead does to it, decided purely.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::event::{Event, EventKind};
use super::lead::{Due, Lead};
use super::render::{Sender, render_step};
use super::schedule::{PlannedTouch, next_touch};
use super::sequence::{Channel, Sequence};
use super::status::{IllegalTransition, Status};

/// The marks `nudge mark` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The lead answered.
    Replied,
    /// The lead booked.
    Booked,
    /// Hold the sequence.
    Paused,
    /// Continue the sequence.
    Resumed,
    /// A human owns the lead now.
    HandedOff,
    /// Never contact again.
    OptedOut,
    /// The due call task was done.
    Called,
}

impl Mark {
    /// All marks, as typed on the command line.
    pub const NAMES: &'static str =
        "replied, booked, paused, resumed, handed-off, opted-out, called";
}

impl FromStr for Mark {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "replied" => Mark::Replied,
                "booked" => Mark::Booked,
                "paused" => Mark::Paused,
                "resumed" => Mark::Resumed,
                "handed-off" => Mark::HandedOff,
                "opted-out" => Mark::OptedOut,
                "called" => Mark::Called,
                other => {
                    return Err(format!(
                        "unknown mark `{other}` (expected one of: {})",
                        Mark::NAMES
                    ));
                }
            },
        )
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Mark::Replied => "replied",
            Mark::Booked => "booked",
            Mark::Paused => "paused",
            Mark::Resumed => "resumed",
            Mark::HandedOff => "handed-off",
            Mark::OptedOut => "opted-out",
            Mark::Called => "called",
        })
    }
}

/// A decided change to one lead: its new state, the events to append, and
/// whether its contacts join the suppression list.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadUpdate {
    /// The lead after the change.
    pub lead: Lead,
    /// Events to append, stamped with the change's instant.
    pub events: Vec<EventKind>,
    /// Suppress the lead's contacts with this reason.
    pub suppress: Option<String>,
    /// The outbox record to write with the change.
    pub touch: Option<crate::domain::touch::Touch>,
}

impl LeadUpdate {
    /// A change of state and events that suppresses nothing and writes no
    /// outbox record: most updates.
    pub fn of(lead: Lead, events: Vec<EventKind>) -> LeadUpdate {
        LeadUpdate {
            lead,
            events,
            suppress: None,
            touch: None,
        }
    }
}

/// Why a mark cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkError {
    /// The status machine forbids it.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// `called` with no call step next.
    #[error("no call is due for this lead{0}")]
    NoCallDue(String),
    /// The next step's template fails for this lead.
    #[error("cannot render the next touch: {0}")]
    Render(String),
}

/// Everything a decision needs besides the lead itself.
pub struct MarkContext<'a> {
    /// The lead's sequence.
    pub sequence: &'a Sequence,
    /// The lead's events so far.
    pub events: &'a [Event],
    /// The instant of the mark.
    pub now: DateTime<Utc>,
    /// Zone for leads without one.
    pub default_tz: Tz,
    /// Fills sender variables when recording a call script.
    pub sender: &'a Sender,
}

/// Puts the lead's next touch (if any) on the calendar, or marks it completed
/// when nothing is left. Returns the scheduling event to append.
pub fn reschedule(
    lead: &mut Lead,
    seq: &Sequence,
    events: &[Event],
    now: DateTime<Utc>,
    default_tz: Tz,
) -> Option<EventKind> {
    match next_touch(lead, seq, events, now, default_tz) {
        Some(PlannedTouch {
            step,
            step_id,
            channel,
            at,
            ..
        }) => {
            lead.next = Some(Due {
                at,
                step: step as u32,
                step_id: step_id.clone(),
                channel,
                awaiting_human: false,
                immediate: false,
            });
            Some(EventKind::TouchScheduled {
                step: step_id,
                channel,
                due: at,
            })
        }
        None => {
            lead.next = None;
            if lead.status == Status::Active && lead.last_step.is_some() {
                lead.status = Status::Completed;
            }
            None
        }
    }
}

/// Decides what `mark` does to `lead`.
pub fn decide(lead: &Lead, mark: Mark, ctx: &MarkContext<'_>) -> Result<LeadUpdate, MarkError> {
    let mut lead = lead.clone();
    let mut events = Vec::new();
    let mut suppress = None;
    let to_status = |lead: &mut Lead, to: Status| -> Result<(), MarkError> {
        lead.status = lead.status.transition(to)?;
        lead.next = None;
        Ok(())
    };
    match mark {
        Mark::Replied => {
            to_status(&mut lead, Status::Replied)?;
            events.push(EventKind::Replied);
        }
        Mark::Booked => {
            to_status(&mut lead, Status::Booked)?;
            events.push(EventKind::Booked);
        }
        Mark::Paused => {
            to_status(&mut lead, Status::Paused)?;
            events.push(EventKind::Paused);
        }
        Mark::HandedOff => {
            to_status(&mut lead, Status::HandedOff)?;
            events.push(EventKind::HandedOff);
        }
        Mark::OptedOut => {
            to_status(&mut lead, Status::OptedOut)?;
            events.push(EventKind::OptedOut);
            suppress = Some("opted out".to_string());
        }
        Mark::Resumed => {
            to_status(&mut lead, Status::Active)?;
            events.push(EventKind::Resumed);
            events.extend(reschedule(
                &mut lead,
                ctx.sequence,
                ctx.events,
                ctx.now,
                ctx.default_tz,
            ));
        }
        Mark::Called => {
            let due = lead
                .next
                .clone()
                .filter(|d| matches!(d.channel, Channel::Call | Channel::Task))
                .ok_or_else(|| {
                    MarkError::NoCallDue(match &lead.next {
                        Some(d) => format!("; the next touch is {} ({})", d.step_id, d.channel),
                        None => String::new(),
                    })
                })?;
            let step = due.step as usize;
            let script = render_step(ctx.sequence, step, &lead, ctx.sender)
                .map_err(|e| MarkError::Render(e.to_string()))?;
            let sent = EventKind::TouchSent {
                step: due.step_id.clone(),
                channel: due.channel,
                subject: None,
                body: script.body,
                dry_run: false,
            };
            let mut history = ctx.events.to_vec();
            history.push(Event {
                at: ctx.now,
                kind: sent.clone(),
            });
            events.push(sent);
            events.push(EventKind::Called);
            lead.last_step = Some(due.step);
            events.extend(reschedule(
                &mut lead,
                ctx.sequence,
                &history,
                ctx.now,
                ctx.default_tz,
            ));
        }
    }
    Ok(LeadUpdate {
        lead,
        events,
        suppress,
        touch: None,
    })
}
