//! The append-only history of a lead. The timeline, progress through the
//! sequence and every statistic are derived from these events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sequence::Channel;

/// One thing that happened to a lead, at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Tagged by `type` in JSON so exports stay readable and new
/// kinds can be added without breaking old records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The lead entered nudge.
    Captured {
        /// Source label.
        source: String,
    },
    /// A touch was put on the calendar.
    TouchScheduled {
        /// Step id in the sequence.
        step: String,
        /// Channel it will use.
        channel: Channel,
        /// When it is due.
        due: DateTime<Utc>,
    },
    /// A touch was delivered (or done, for call tasks).
    TouchSent {
        /// Step id.
        step: String,
        /// Channel used.
        channel: Channel,
        /// Subject line, for email.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// The exact text sent.
        body: String,
        /// Rendered and recorded but not sent, because the channel runs dry.
        #[serde(default)]
        dry_run: bool,
    },
    /// A touch failed.
    TouchFailed {
        /// Step id.
        step: String,
        /// Channel used.
        channel: Channel,
        /// What went wrong, as reported by the channel.
        reason: String,
        /// Permanent failures are not retried and block the channel.
        permanent: bool,
        /// Transient failures that used up every attempt; the sequence moves on.
        #[serde(default)]
        gave_up: bool,
    },
    /// The channel may or may not have delivered; a human decides
    /// (`nudge resolve`).
    TouchInDoubt {
        /// Step id.
        step: String,
        /// Channel used.
        channel: Channel,
        /// What happened.
        reason: String,
    },
    /// Sending was postponed by a human.
    Snoozed {
        /// Until when.
        until: DateTime<Utc>,
    },
    /// An email was opened.
    Opened,
    /// A link was clicked.
    Clicked {
        /// The link, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// An open or click made by a machine (a mail privacy proxy fetching
    /// images, a link scanner): kept for the record, never engagement.
    Prefetched {
        /// `opened` or `clicked`.
        signal: String,
        /// The link, for a click.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Why it looks automated.
        reason: String,
    },
    /// The hot score crossed the threshold.
    Hot {
        /// The score at that moment.
        score: u32,
    },
    /// The lead answered.
    Replied,
    /// The lead booked a meeting.
    Booked,
    /// The lead cancelled the booking and is active again.
    BookingCancelled {
        /// The step the sequence continues from (`[rules] on_cancel`);
        /// `None` continues where it left off.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// The lead opted out.
    OptedOut,
    /// Email bounced permanently.
    Bounced {
        /// Diagnostic from the server.
        reason: String,
    },
    /// Email bounced temporarily (mailbox full, delayed); several in a row
    /// count as a permanent bounce.
    SoftBounced {
        /// Diagnostic from the server.
        reason: String,
    },
    /// Something only the founder can settle: our sending was refused by
    /// policy, the lead gave a new address, a filter asks us to verify.
    Attention {
        /// What happened and what to do.
        reason: String,
    },
    /// A human paused the sequence.
    Paused,
    /// A human resumed the sequence.
    Resumed,
    /// A human took the lead over.
    HandedOff,
    /// A call task was done by a human.
    Called,
    /// A free-text note.
    Note {
        /// The note.
        text: String,
    },
    /// A field was changed by hand.
    Edited {
        /// Field name.
        field: String,
        /// Old value (empty when unset).
        from: String,
        /// New value (empty when cleared).
        to: String,
    },
}

/// Events a human should hear about at once (a toast, the bell, Slack, the
/// CRM): the lead answered, booked, turned hot, bounced, or a send is in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The lead replied.
    Replied,
    /// The lead booked a meeting.
    Booked,
    /// The hot score crossed the threshold.
    Hot,
    /// Email bounced permanently.
    Bounced,
    /// A send may or may not have been delivered; a human decides.
    InDoubt,
    /// The founder must act (sending policy, a new address, a verification).
    Attention,
}

impl AlertKind {
    /// Its name in webhooks (`replied`, `in_doubt`…).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Replied => "replied",
            AlertKind::Booked => "booked",
            AlertKind::Hot => "hot",
            AlertKind::Bounced => "bounced",
            AlertKind::InDoubt => "in_doubt",
            AlertKind::Attention => "attention",
        }
    }
}

impl EventKind {
    /// The alert this event raises, if any.
    pub fn alert(&self) -> Option<AlertKind> {
        match self {
            EventKind::Replied => Some(AlertKind::Replied),
            EventKind::Booked => Some(AlertKind::Booked),
            EventKind::Hot { .. } => Some(AlertKind::Hot),
            EventKind::Bounced { .. } => Some(AlertKind::Bounced),
            EventKind::TouchInDoubt { .. } => Some(AlertKind::InDoubt),
            EventKind::Attention { .. } => Some(AlertKind::Attention),
            _ => None,
        }
    }

    /// A short human label for timelines.
    pub fn describe(&self) -> String {
        match self {
            EventKind::Captured { source } => format!("captured from {source}"),
            EventKind::TouchScheduled { step, channel, due } => {
                format!("scheduled {step} ({channel}) for {}", due.to_rfc3339())
            }
            EventKind::TouchSent {
                step,
                channel,
                dry_run,
                ..
            } => {
                let dry = if *dry_run { " [dry-run]" } else { "" };
                format!("sent {step} ({channel}){dry}")
            }
            EventKind::TouchFailed {
                step,
                channel,
                reason,
                permanent,
                ..
            } => {
                let kind = if *permanent {
                    "permanently"
                } else {
                    "temporarily"
                };
                format!("{step} ({channel}) failed {kind}: {reason}")
            }
            EventKind::TouchInDoubt {
                step,
                channel,
                reason,
            } => {
                format!("{step} ({channel}) in doubt: {reason}; settle with `nudge resolve`")
            }
            EventKind::Snoozed { until } => format!("snoozed until {}", until.to_rfc3339()),
            EventKind::Opened => "opened".into(),
            EventKind::Clicked { url } => match url {
                Some(url) => format!("clicked {url}"),
                None => "clicked".into(),
            },
            EventKind::Prefetched { signal, reason, .. } => {
                format!("{signal} by a machine ({reason}); not counted")
            }
            EventKind::Hot { score } => format!("hot (score {score})"),
            EventKind::Replied => "replied".into(),
            EventKind::Booked => "booked".into(),
            EventKind::BookingCancelled { step } => match step {
                Some(step) => format!("booking cancelled; continues with {step}"),
                None => "booking cancelled; the sequence continues".into(),
            },
            EventKind::OptedOut => "opted out".into(),
            EventKind::Bounced { reason } => format!("bounced: {reason}"),
            EventKind::SoftBounced { reason } => format!("bounced temporarily: {reason}"),
            EventKind::Attention { reason } => format!("needs attention: {reason}"),
            EventKind::Paused => "paused".into(),
            EventKind::Resumed => "resumed".into(),
            EventKind::HandedOff => "handed off".into(),
            EventKind::Called => "call done".into(),
            EventKind::Note { text } => format!("note: {text}"),
            EventKind::Edited { field, from, to } => format!("{field}: `{from}` → `{to}`"),
        }
    }
}
