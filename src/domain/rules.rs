//! Behaviour rules, decided purely: what an engaged open or click does to a
//! lead (activate the nudge step, pull the next touch earlier) and when the
//! lead turns hot. The scheduling itself lives in [`super::schedule`].

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::event::{Event, EventKind};
use super::lead::Lead;
use super::mark::{LeadUpdate, reschedule};
use super::schedule::{hot_score, next_touch, pull_earlier};
use super::sequence::Sequence;

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
    LeadUpdate {
        lead,
        events,
        suppress: None,
        touch: None,
    }
}
