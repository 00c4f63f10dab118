//! Pipeline statistics, computed purely from leads and their events: the
//! funnel, reply and booking rates per step, speed to lead and sends per
//! day. The engine feeds it one lead at a time (off the TUI's thread); no
//! clock reads, no I/O, so tests give it fixed data.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventKind};
use super::lead::Lead;
use super::sequence::Channel;

/// How many days the sends-per-day history covers.
pub const HISTORY_DAYS: usize = 14;

/// Leads at each stage of the funnel; each stage is a subset of the one before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    /// Every lead.
    pub captured: u64,
    /// Leads with at least one touch sent.
    pub contacted: u64,
    /// Leads that replied (or booked, which implies an answer).
    pub replied: u64,
    /// Leads that booked a meeting.
    pub booked: u64,
}

/// Replies and bookings credited to one step: each goes to the last touch
/// sent before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStats {
    /// Step number, 1-based.
    pub step: u32,
    /// Touches sent at this step.
    pub sent: u64,
    /// Replies that came after this step (and before the next).
    pub replied: u64,
    /// Bookings that came after this step (and before the next).
    pub booked: u64,
}

impl StepStats {
    /// Replies per touch sent, 0 to 1.
    pub fn reply_rate(&self) -> f64 {
        ratio(self.replied, self.sent)
    }

    /// Bookings per touch sent, 0 to 1.
    pub fn booking_rate(&self) -> f64 {
        ratio(self.booked, self.sent)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Live sends today on one channel, against its daily cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelToday {
    /// The channel.
    pub channel: Channel,
    /// Live sends this UTC day.
    pub sent: u64,
    /// The daily cap; 0 means none.
    pub cap: u64,
}

/// Everything the Stats screen shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The funnel.
    pub funnel: Funnel,
    /// Per step, in step order.
    pub steps: Vec<StepStats>,
    /// Median time from capture to the first touch, in seconds.
    pub median_speed_secs: Option<i64>,
    /// Touches sent per UTC day (dry runs included), oldest first, ending today.
    pub sends_per_day: Vec<u64>,
    /// Live sends today per channel, against the caps.
    pub today: Vec<ChannelToday>,
    /// When they were computed (engine time).
    pub computed_at: Option<DateTime<Utc>>,
}

/// Accumulates [`Stats`] one lead at a time, so the caller streams leads
/// from the store instead of holding them all.
#[derive(Debug, Clone)]
pub struct StatsBuilder {
    stats: Stats,
    speeds: Vec<i64>,
    today: DateTime<Utc>,
}

impl StatsBuilder {
    /// A builder whose day history ends on the UTC day of `now`.
    pub fn new(now: DateTime<Utc>) -> StatsBuilder {
        StatsBuilder {
            stats: Stats {
                sends_per_day: vec![0; HISTORY_DAYS],
                computed_at: Some(now),
                ..Stats::default()
            },
            speeds: Vec::new(),
            today: now,
        }
    }

    /// Adds one lead and its events (oldest first). `step_of` maps a step id
    /// to its 1-based number in the lead's sequence.
    pub fn add(&mut self, lead: &Lead, events: &[Event], step_of: impl Fn(&str) -> Option<u32>) {
        let stats = &mut self.stats;
        stats.funnel.captured += 1;
        let mut last_step: Option<u32> = None;
        let mut first_sent: Option<DateTime<Utc>> = None;
        let (mut replied, mut booked) = (false, false);
        for event in events {
            match &event.kind {
                EventKind::TouchSent { step, .. } => {
                    first_sent.get_or_insert(event.at);
                    let number = step_of(step);
                    if let Some(n) = number {
                        step_row(&mut stats.steps, n).sent += 1;
                    }
                    last_step = number.or(last_step);
                    let days = (self.today.date_naive() - event.at.date_naive()).num_days();
                    if let Ok(back) = usize::try_from(days)
                        && back < HISTORY_DAYS
                    {
                        stats.sends_per_day[HISTORY_DAYS - 1 - back] += 1;
                    }
                }
                EventKind::Replied if !replied => {
                    replied = true;
                    if let Some(n) = last_step {
                        step_row(&mut stats.steps, n).replied += 1;
                    }
                }
                EventKind::Booked if !booked => {
                    booked = true;
                    if let Some(n) = last_step {
                        step_row(&mut stats.steps, n).booked += 1;
                    }
                }
                _ => {}
            }
        }
        if let Some(at) = first_sent {
            stats.funnel.contacted += 1;
            self.speeds
                .push((at - lead.created_at).max(Duration::zero()).num_seconds());
        }
        if replied || booked {
            stats.funnel.replied += 1;
        }
        if booked {
            stats.funnel.booked += 1;
        }
    }

    /// The statistics, with today's live sends per channel.
    pub fn finish(mut self, today: Vec<ChannelToday>) -> Stats {
        self.speeds.sort_unstable();
        self.stats.median_speed_secs = median(&self.speeds);
        self.stats.steps.sort_by_key(|s| s.step);
        self.stats.today = today;
        self.stats
    }
}

fn step_row(steps: &mut Vec<StepStats>, step: u32) -> &mut StepStats {
    match steps.iter().position(|s| s.step == step) {
        Some(i) => &mut steps[i],
        None => {
            steps.push(StepStats {
                step,
                ..StepStats::default()
            });
            let last = steps.len() - 1;
            &mut steps[last]
        }
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::{LeadId, LeadInput};

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-03T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    fn lead(n: u64) -> Lead {
        LeadInput {
            name: format!("Lead {n}"),
            email: Some(format!("l{n}@example.com")),
            ..LeadInput::default()
        }
        .validate(None)
        .unwrap()
        .into_lead(
            LeadId(ulid::Ulid::from_parts(n, 0)),
            "default".into(),
            at(0),
        )
    }

    fn sent(step: &str, minutes: i64) -> Event {
        Event {
            at: at(minutes),
            kind: EventKind::TouchSent {
                step: step.into(),
                channel: Channel::Email,
                subject: None,
                body: String::new(),
                dry_run: false,
            },
        }
    }

    fn ev(kind: EventKind, minutes: i64) -> Event {
        Event {
            at: at(minutes),
            kind,
        }
    }

    fn step_of(id: &str) -> Option<u32> {
        ["intro", "follow", "last"]
            .iter()
            .position(|s| *s == id)
            .map(|i| i as u32 + 1)
    }

    #[test]
    fn funnel_rates_and_speed_from_known_leads() {
        let mut b = StatsBuilder::new(at(60 * 24 * 3));
        // Contacted after 1 min, replied after step 1.
        b.add(
            &lead(1),
            &[sent("intro", 1), ev(EventKind::Replied, 30)],
            step_of,
        );
        // Contacted after 3 min, booked after step 2 (counts as replied too).
        b.add(
            &lead(2),
            &[
                sent("intro", 3),
                sent("follow", 60 * 24),
                ev(EventKind::Booked, 60 * 25),
            ],
            step_of,
        );
        // Contacted after 5 min, silent.
        b.add(&lead(3), &[sent("intro", 5)], step_of);
        // Never contacted.
        b.add(&lead(4), &[], step_of);
        let stats = b.finish(vec![ChannelToday {
            channel: Channel::Email,
            sent: 2,
            cap: 50,
        }]);
        assert_eq!(
            stats.funnel,
            Funnel {
                captured: 4,
                contacted: 3,
                replied: 2,
                booked: 1
            }
        );
        assert_eq!(
            stats.steps,
            vec![
                StepStats {
                    step: 1,
                    sent: 3,
                    replied: 1,
                    booked: 0
                },
                StepStats {
                    step: 2,
                    sent: 1,
                    replied: 0,
                    booked: 1
                },
            ]
        );
        assert!((stats.steps[0].reply_rate() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(stats.steps[1].booking_rate(), 1.0);
        assert_eq!(stats.median_speed_secs, Some(180));
        // Three sends three days ago, one two days ago; none today.
        assert_eq!(stats.sends_per_day.len(), HISTORY_DAYS);
        assert_eq!(stats.sends_per_day[HISTORY_DAYS - 4], 3);
        assert_eq!(stats.sends_per_day[HISTORY_DAYS - 3], 1);
        assert_eq!(stats.sends_per_day[HISTORY_DAYS - 1], 0);
        assert_eq!(stats.today[0].sent, 2);
    }

    #[test]
    fn medians_and_empty_stats() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 3]), Some(2));
        assert_eq!(median(&[1, 2, 9]), Some(2));
        let stats = StatsBuilder::new(at(0)).finish(Vec::new());
        assert_eq!(stats.funnel, Funnel::default());
        assert!(stats.steps.is_empty());
        assert_eq!(StepStats::default().reply_rate(), 0.0);
    }
}
