//! Channels: how a claimed touch leaves the building. One trait, and every
//! error classified so the worker knows whether to retry, stop that channel,
//! or ask a human (in doubt).
//!
//! * [`email`] — SMTP through lettre (pooled, rustls).
//! * [`sms`] — the Twilio Messaging REST API.
//! * [`call`] — the Twilio Calls API (when `[call] mode = "twilio"`).
//! * [`dry_run`] — records instead of sending; the default for anything unconfigured.
//! * [`llm`] — OpenAI-compatible personalisation of a rendered message.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::lead::LeadId;
use crate::domain::sequence::Channel;

/// A touch ready to send, with everything the wire format needs. Built by
/// the worker from the outbox record, so a retry sends exactly the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Stable id of this touch (lead + step); also seeds the Message-ID.
    pub touch_id: String,
    /// The lead.
    pub lead_id: LeadId,
    /// Channel to use.
    pub channel: Channel,
    /// Email address or E.164 phone.
    pub to: String,
    /// The lead's name, for the `To:` header.
    pub to_name: String,
    /// Email subject.
    pub subject: Option<String>,
    /// Final text/plain body, footer included.
    pub body: String,
    /// Deterministic `Message-ID` (with angle brackets), email only.
    pub message_id: Option<String>,
    /// `In-Reply-To` for follow-ups, the first email's Message-ID.
    pub in_reply_to: Option<String>,
    /// `References`, oldest first.
    pub references: Vec<String>,
    /// `List-Unsubscribe` targets: an https URL and/or a mailto URL.
    pub list_unsubscribe: Vec<String>,
}

/// Proof of delivery from the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Provider id (Twilio SID, SMTP queue id) when given.
    pub provider_id: Option<String>,
    /// Recorded, not sent.
    pub dry_run: bool,
}

/// Why a send did not succeed, classified for the retry policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Definitely not delivered; try again later.
    #[error("temporary failure: {reason}")]
    Transient {
        /// What happened.
        reason: String,
        /// Provider's hint (Retry-After).
        retry_after: Option<Duration>,
    },
    /// Definitely not delivered and never will be on this channel
    /// (recipient rejected, invalid number).
    #[error("permanent failure: {reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
    /// May or may not have been delivered (connection lost after the final
    /// dot, HTTP timeout). Never retried automatically.
    #[error("outcome unknown: {reason}")]
    InDoubt {
        /// What happened.
        reason: String,
    },
    /// The provider says the recipient opted out (Twilio 21610).
    #[error("recipient has opted out: {reason}")]
    OptedOut {
        /// What happened.
        reason: String,
    },
}

/// A way to deliver touches.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends one touch. Must not retry internally: the worker owns retries.
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError>;

    /// Whether messages really leave (false for dry-run).
    fn is_live(&self) -> bool;

    /// A short description for `nudge serve`'s start-up line; never contains secrets.
    fn describe(&self) -> String;
}
