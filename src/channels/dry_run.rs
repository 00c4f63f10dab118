//! The transport for anything not configured: records instead of sending, so
//! a newcomer sees the whole pipeline move without a single real message.

use super::{Outgoing, Receipt, SendError, Transport};
use crate::domain::sequence::Channel;

/// Accepts every touch without touching the network; receipts say `dry_run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunTransport {
    /// The channel it stands in for, for the start-up line.
    pub channel: Channel,
    /// Why this channel runs dry (what is missing), shown at start-up so a
    /// half-finished config is noticed.
    pub reason: String,
}

impl DryRunTransport {
    /// A dry-run stand-in for `channel`, with the reason it is not live.
    pub fn new(channel: Channel, reason: impl Into<String>) -> Self {
        DryRunTransport {
            channel,
            reason: reason.into(),
        }
    }
}

#[async_trait::async_trait]
impl Transport for DryRunTransport {
    async fn send(&self, _touch: &Outgoing) -> Result<Receipt, SendError> {
        Ok(Receipt {
            provider_id: None,
            dry_run: true,
        })
    }

    fn is_live(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        if self.reason.is_empty() {
            format!("{}: dry-run", self.channel)
        } else {
            format!("{}: dry-run ({})", self.channel, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadId;

    #[tokio::test]
    async fn records_without_sending() {
        let t = DryRunTransport::new(Channel::Sms, "no [sms] account_sid");
        let touch = Outgoing {
            touch_id: "t1".into(),
            lead_id: LeadId(ulid::Ulid::nil()),
            channel: Channel::Sms,
            to: "+14155552671".into(),
            to_name: "Alex".into(),
            subject: None,
            body: "hi".into(),
            message_id: None,
            in_reply_to: None,
            references: vec![],
            list_unsubscribe: vec![],
            html: None,
        };
        let receipt = t.send(&touch).await.unwrap();
        assert_eq!(
            receipt,
            Receipt {
                provider_id: None,
                dry_run: true
            }
        );
        assert!(!t.is_live());
        assert_eq!(t.describe(), "sms: dry-run (no [sms] account_sid)");
    }
}
