//! Channel health: a per-channel circuit breaker, kept apart from touch
//! outcomes. When the channel itself is unusable (the SMTP server is
//! unreachable, refuses us at the greeting, refuses the password; Twilio
//! answers 401/403, 429 or 5xx), that says nothing about any lead: the
//! breaker opens, due touches on that channel wait without spending an
//! attempt, and the worker probes the channel on a backoff until it answers.
//!
//! Pure: every method takes `now`, so the state machine is tested with a
//! manual clock and the worker decides what to do with the [`Notice`]s.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// First probe after the breaker opens.
pub const FIRST_PROBE: Duration = Duration::seconds(5);
/// Longest wait between two probes.
pub const MAX_PROBE: Duration = Duration::minutes(5);
/// How long a channel is down before the founder hears "still down".
pub const STILL_DOWN_AFTER: Duration = Duration::minutes(15);

/// What `nudge status`, `nudge doctor` and the TUI header show for a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Health {
    /// Messages really leave.
    Live,
    /// Recorded, not sent (the channel is not configured).
    Dry,
    /// Unreachable since `since`; probed on a backoff, touches wait.
    Down {
        /// When it went down.
        since: DateTime<Utc>,
        /// The last error.
        reason: String,
    },
    /// The server refused our credentials: touches wait until the config is
    /// fixed and `nudge serve` restarts. Never retried on its own, so a
    /// wrong password is not hammered at the server.
    Paused {
        /// When it was paused.
        since: DateTime<Utc>,
        /// The server's words.
        reason: String,
    },
}

impl Health {
    /// One line for people: "live", "down since 14:02 UTC: …".
    pub fn describe(&self) -> String {
        match self {
            Health::Live => "live".into(),
            Health::Dry => "dry-run (recorded, not sent)".into(),
            Health::Down { since, reason } => {
                format!(
                    "down since {}: {reason}",
                    since.format("%Y-%m-%d %H:%M UTC")
                )
            }
            Health::Paused { since, reason } => format!(
                "paused for credentials since {}: {reason}",
                since.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }

    /// Whether touches on the channel wait.
    pub fn is_holding(&self) -> bool {
        matches!(self, Health::Down { .. } | Health::Paused { .. })
    }
}

/// Something the founder should hear about a channel, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The channel just went down (or its credentials were refused).
    Down {
        /// The error that tripped it.
        reason: String,
        /// The server refused our credentials: paused until restart.
        credentials: bool,
    },
    /// Down for [`STILL_DOWN_AFTER`] and not back yet.
    StillDown {
        /// When it went down.
        since: DateTime<Utc>,
    },
    /// A probe succeeded: the channel works again.
    Back {
        /// When it went down.
        since: DateTime<Utc>,
    },
}

/// An open breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    since: DateTime<Utc>,
    reason: String,
    credentials: bool,
    /// Failed probes since it opened.
    probes: u32,
    next_probe: DateTime<Utc>,
    told_still_down: bool,
}

/// One channel's breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    live: bool,
    open: Option<Open>,
}

/// Wait before probe number `probes + 1`: 5 s doubling to 5 min.
pub fn probe_wait(probes: u32) -> Duration {
    let factor = 2i32.saturating_pow(probes.min(16));
    (FIRST_PROBE * factor).min(MAX_PROBE)
}

impl Breaker {
    /// A closed breaker for a live or dry-run channel (a dry one never trips).
    pub fn new(live: bool) -> Breaker {
        Breaker { live, open: None }
    }

    /// A live channel that was down when nudge last stopped (since
    /// `since`): it stays open, probes at once, and says nothing new (the
    /// founder heard "down" before the restart).
    pub fn resume(since: DateTime<Utc>, now: DateTime<Utc>) -> Breaker {
        Breaker {
            live: true,
            open: Some(Open {
                since,
                reason: "down before the last restart".into(),
                credentials: false,
                probes: 0,
                next_probe: now,
                told_still_down: now - since >= STILL_DOWN_AFTER,
            }),
        }
    }

    /// The channel's health now.
    pub fn health(&self) -> Health {
        match (&self.open, self.live) {
            (_, false) => Health::Dry,
            (None, true) => Health::Live,
            (Some(o), true) if o.credentials => Health::Paused {
                since: o.since,
                reason: o.reason.clone(),
            },
            (Some(o), true) => Health::Down {
                since: o.since,
                reason: o.reason.clone(),
            },
        }
    }

    /// Whether due touches on this channel must wait.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// A send or probe failed because the channel is unusable. Opens the
    /// breaker (a notice the first time) or, if a credentials refusal comes
    /// while it is already open, turns "down" into "paused" (a notice too:
    /// that one needs the founder).
    pub fn trip(&mut self, now: DateTime<Utc>, reason: &str, credentials: bool) -> Option<Notice> {
        if !self.live {
            return None;
        }
        match &mut self.open {
            None => {
                self.open = Some(Open {
                    since: now,
                    reason: reason.to_string(),
                    credentials,
                    probes: 0,
                    next_probe: now + probe_wait(0),
                    told_still_down: false,
                });
                Some(Notice::Down {
                    reason: reason.to_string(),
                    credentials,
                })
            }
            Some(open) => {
                let newly_paused = credentials && !open.credentials;
                open.reason = reason.to_string();
                open.credentials |= credentials;
                newly_paused.then(|| Notice::Down {
                    reason: reason.to_string(),
                    credentials: true,
                })
            }
        }
    }

    /// When the next probe is due: `None` when closed, or paused for
    /// credentials (those wait for a restart with a fixed config).
    pub fn probe_at(&self) -> Option<DateTime<Utc>> {
        self.open
            .as_ref()
            .filter(|o| !o.credentials)
            .map(|o| o.next_probe)
    }

    /// A probe failed: the next one waits twice as long (up to 5 min).
    pub fn probe_failed(
        &mut self,
        now: DateTime<Utc>,
        reason: &str,
        credentials: bool,
    ) -> Option<Notice> {
        let notice = self.trip(now, reason, credentials);
        if let Some(open) = &mut self.open {
            open.probes = open.probes.saturating_add(1);
            open.next_probe = now + probe_wait(open.probes);
        }
        notice
    }

    /// A probe (or a send) succeeded: the breaker closes.
    pub fn succeeded(&mut self) -> Option<Notice> {
        self.open.take().map(|o| Notice::Back { since: o.since })
    }

    /// "Still down", once, when the channel has been down for
    /// [`STILL_DOWN_AFTER`].
    pub fn still_down(&mut self, now: DateTime<Utc>) -> Option<Notice> {
        let open = self.open.as_mut()?;
        if open.told_still_down || now - open.since < STILL_DOWN_AFTER {
            return None;
        }
        open.told_still_down = true;
        Some(Notice::StillDown { since: open.since })
    }

    /// The next instant this breaker needs the worker: a probe or the
    /// "still down" notice.
    pub fn next_check(&self) -> Option<DateTime<Utc>> {
        let open = self.open.as_ref()?;
        let still = (!open.told_still_down).then_some(open.since + STILL_DOWN_AFTER);
        [self.probe_at(), still].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use chrono::TimeZone;

    fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())
    }

    #[test]
    fn a_live_channel_starts_closed_and_a_dry_one_never_trips() {
        let clock = clock();
        assert_eq!(Breaker::new(true).health(), Health::Live);
        let mut dry = Breaker::new(false);
        assert_eq!(dry.trip(clock.now(), "refused", false), None);
        assert!(!dry.is_open());
        assert_eq!(dry.health(), Health::Dry);
    }

    #[test]
    fn the_first_trip_tells_once_and_probes_back_off_from_5s_to_5min() {
        let clock = clock();
        let start = clock.now();
        let mut b = Breaker::new(true);
        assert_eq!(
            b.trip(start, "connection refused", false),
            Some(Notice::Down {
                reason: "connection refused".into(),
                credentials: false
            })
        );
        // More failures while open say nothing new.
        assert_eq!(b.trip(start, "connection refused", false), None);
        assert!(b.is_open());
        assert_eq!(
            b.health(),
            Health::Down {
                since: start,
                reason: "connection refused".into()
            }
        );
        let mut waits = Vec::new();
        for _ in 0..9 {
            let at = b.probe_at().unwrap();
            waits.push((at - clock.now()).num_seconds());
            clock.set(at);
            b.probe_failed(clock.now(), "connection refused", false);
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn still_down_is_told_once_after_15_minutes() {
        let clock = clock();
        let start = clock.now();
        let mut b = Breaker::new(true);
        b.trip(start, "timeout", false);
        assert_eq!(b.next_check(), Some(start + FIRST_PROBE));
        clock.advance(Duration::minutes(14));
        assert_eq!(b.still_down(clock.now()), None);
        clock.advance(Duration::minutes(1));
        assert_eq!(
            b.still_down(clock.now()),
            Some(Notice::StillDown { since: start })
        );
        assert_eq!(b.still_down(clock.now()), None);
        clock.advance(Duration::hours(2));
        assert_eq!(b.still_down(clock.now()), None);
    }

    #[test]
    fn a_successful_probe_closes_and_says_since_when() {
        let clock = clock();
        let start = clock.now();
        let mut b = Breaker::new(true);
        b.trip(start, "503", false);
        clock.advance(Duration::seconds(5));
        b.probe_failed(clock.now(), "503", false);
        clock.advance(Duration::seconds(10));
        assert_eq!(b.succeeded(), Some(Notice::Back { since: start }));
        assert!(!b.is_open());
        assert_eq!(b.health(), Health::Live);
        assert_eq!(b.succeeded(), None);
        assert_eq!(b.next_check(), None);
        // A later outage starts the backoff afresh.
        b.trip(clock.now(), "503", false);
        assert_eq!(b.probe_at(), Some(clock.now() + FIRST_PROBE));
    }

    #[test]
    fn a_resumed_outage_probes_at_once_and_tells_nothing_twice() {
        let clock = clock();
        let since = clock.now();
        clock.advance(Duration::minutes(3));
        let mut b = Breaker::resume(since, clock.now());
        assert!(b.is_open());
        assert_eq!(b.probe_at(), Some(clock.now()));
        // Another failure is no news.
        assert_eq!(b.probe_failed(clock.now(), "refused", false), None);
        assert_eq!(b.probe_at(), Some(clock.now() + Duration::seconds(10)));
        clock.advance(Duration::minutes(12));
        assert_eq!(b.still_down(clock.now()), Some(Notice::StillDown { since }));
        assert_eq!(b.succeeded(), Some(Notice::Back { since }));
    }

    #[test]
    fn refused_credentials_pause_without_probes() {
        let clock = clock();
        let start = clock.now();
        let mut b = Breaker::new(true);
        let notice = b.trip(start, "535 authentication failed", true);
        assert_eq!(
            notice,
            Some(Notice::Down {
                reason: "535 authentication failed".into(),
                credentials: true
            })
        );
        assert_eq!(b.probe_at(), None);
        assert!(matches!(b.health(), Health::Paused { .. }));
        // Only the "still down" reminder is left to schedule.
        assert_eq!(b.next_check(), Some(start + STILL_DOWN_AFTER));
    }

    #[test]
    fn a_down_channel_that_then_refuses_credentials_becomes_paused_and_says_so() {
        let clock = clock();
        let mut b = Breaker::new(true);
        b.trip(clock.now(), "refused", false);
        clock.advance(Duration::seconds(5));
        let notice = b.probe_failed(clock.now(), "535", true);
        assert!(
            matches!(
                notice,
                Some(Notice::Down {
                    credentials: true,
                    ..
                })
            ),
            "{notice:?}"
        );
        assert_eq!(b.probe_at(), None);
        assert!(b.health().is_holding());
    }
}
