//! The lead status machine.
//!
//! A lead is worked by the sequence only while `Active`. Every other status is a
//! human or a signal having taken over; which moves are legal is decided here, once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a lead stands; the sequence sends only to `Active` leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The sequence is running.
    Active,
    /// Held by a human; resumes where it left off.
    Paused,
    /// The lead answered; a human takes over.
    Replied,
    /// The lead booked a meeting.
    Booked,
    /// Passed to a human owner for good.
    HandedOff,
    /// The lead asked not to be contacted; terminal.
    OptedOut,
    /// Email hard-bounced and no other channel is left.
    Bounced,
    /// Every step was sent without a response.
    Completed,
}

/// A move the status machine forbids; names both ends so the user sees why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a lead cannot go from {from} to {to}")]
pub struct IllegalTransition {
    /// The status the lead is in.
    pub from: Status,
    /// The status that was asked for.
    pub to: Status,
}

impl Status {
    /// All statuses, in board order.
    pub const ALL: [Status; 8] = [
        Status::Active,
        Status::Paused,
        Status::Replied,
        Status::Booked,
        Status::HandedOff,
        Status::OptedOut,
        Status::Bounced,
        Status::Completed,
    ];

    /// The name used on the command line, in JSON and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Replied => "replied",
            Status::Booked => "booked",
            Status::HandedOff => "handed-off",
            Status::OptedOut => "opted-out",
            Status::Bounced => "bounced",
            Status::Completed => "completed",
        }
    }

    /// A stable one-byte code, used as an index key prefix.
    pub fn code(self) -> u8 {
        match self {
            Status::Active => 1,
            Status::Paused => 2,
            Status::Replied => 3,
            Status::Booked => 4,
            Status::HandedOff => 5,
            Status::OptedOut => 6,
            Status::Bounced => 7,
            Status::Completed => 8,
        }
    }

    /// Whether the sequence may send to a lead in this status.
    pub fn is_sendable(self) -> bool {
        self == Status::Active
    }

    /// The only way to change status: returns the new status or names the illegal move.
    pub fn transition(self, to: Status) -> Result<Status, IllegalTransition> {
        use Status::*;
        let legal = match self {
            Active => matches!(
                to,
                Paused | Replied | Booked | HandedOff | OptedOut | Bounced | Completed
            ),
            Paused => matches!(
                to,
                Active | Replied | Booked | HandedOff | OptedOut | Bounced
            ),
            Replied => matches!(to, Active | Booked | HandedOff | OptedOut),
            Booked => matches!(to, Active | Replied | HandedOff | OptedOut | Completed),
            HandedOff => matches!(to, Replied | Booked | OptedOut | Completed),
            // Only by the person's own request (SMS START); a human then resumes.
            OptedOut => matches!(to, Paused),
            Bounced => matches!(to, Active | Replied | Booked | HandedOff | OptedOut),
            Completed => matches!(to, Active | Replied | Booked | HandedOff | OptedOut),
        };
        if legal {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status `{0}` (expected one of: active, paused, replied, booked, handed-off, opted-out, bounced, completed)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opted_out_only_leaves_by_resubscribing_to_paused() {
        for to in Status::ALL {
            if to == Status::Paused {
                assert_eq!(Status::OptedOut.transition(to), Ok(to));
                continue;
            }
            let err = Status::OptedOut.transition(to).unwrap_err();
            assert_eq!(err.from, Status::OptedOut);
            assert_eq!(err.to, to);
        }
    }

    #[test]
    fn illegal_move_names_both_states() {
        let err = Status::Paused.transition(Status::Completed).unwrap_err();
        assert_eq!(err.to_string(), "a lead cannot go from paused to completed");
    }

    #[test]
    fn active_can_stop_every_way() {
        for to in [
            Status::Paused,
            Status::Replied,
            Status::Booked,
            Status::HandedOff,
            Status::OptedOut,
            Status::Bounced,
            Status::Completed,
        ] {
            assert_eq!(Status::Active.transition(to), Ok(to));
        }
        assert!(Status::Active.transition(Status::Active).is_err());
    }

    #[test]
    fn names_round_trip() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>(), Ok(st));
        }
        assert_eq!("Handed_Off".parse::<Status>(), Ok(Status::HandedOff));
        assert!("gone".parse::<Status>().is_err());
    }
}
