//! `nudge demo`: the real engine and worker on a throwaway database, with
//! dry-run channels, about 40 sample leads and a manual clock that runs fast
//! (one hour a second by default). Scripted opens, clicks, replies, bookings
//! and an opt-out make leads move across the board within seconds. Nothing
//! is sent and nothing is kept.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use tokio::sync::watch;

use crate::catalog::Catalog;
use crate::channels::{DryRunTransport, Transport};
use crate::clock::{Clock, ManualClock};
use crate::domain::lead::{LeadId, LeadInput};
use crate::domain::mark::Mark;
use crate::domain::sequence::Channel;
use crate::engine::worker::{Channels, Worker, WorkerOptions};
use crate::engine::{Engine, EngineError, Settings};
use crate::simulate::{Signal, apply};
use crate::store::{Store, StoreError};

/// Sample people.
const PEOPLE: &[(&str, &str)] = &[
    ("Ada Lovelace", "Analytical Engines"),
    ("Grace Hopper", "Cobol Works"),
    ("Alan Turing", "Bletchley Labs"),
    ("Katherine Johnson", "Orbit Math"),
    ("Linus Pauling", "Vitamin Co"),
    ("Hedy Lamarr", "Spread Spectrum"),
    ("Claude Shannon", "Bit Theory"),
    ("Barbara Liskov", "Substitution Inc"),
    ("Edsger Dijkstra", "Shortest Path"),
    ("Frances Allen", "Compiler Corp"),
    ("Margaret Hamilton", "Apollo Guidance"),
    ("John Backus", "Formula Translate"),
    ("Radia Perlman", "Spanning Trees"),
    ("Donald Knuth", "TeX Press"),
    ("Sophie Wilson", "Acorn Chips"),
    ("Ken Thompson", "Bell Systems"),
    ("Anita Borg", "Systers Network"),
    ("Tim Berners-Lee", "Hypertext Ltd"),
    ("Shafi Goldwasser", "Zero Knowledge"),
    ("Leslie Lamport", "Paxos Partners"),
    ("Dennis Ritchie", "Pointer Labs"),
    ("Mary Somerville", "Orbital Press"),
    ("John McCarthy", "Lambda Lisp"),
    ("Jean Sammet", "Formac Systems"),
    ("Vint Cerf", "Packet Switch"),
    ("Karen Sparck Jones", "Inverse Frequency"),
    ("Niklaus Wirth", "Pascal Tools"),
    ("Annie Easley", "Centaur Rockets"),
    ("Ivan Sutherland", "Sketchpad Studio"),
    ("Adele Goldberg", "Smalltalk Co"),
    ("Tony Hoare", "Quicksort Ltd"),
    ("Evelyn Berezin", "Word Processing Inc"),
    ("Bjarne Stroustrup", "Classes Consulting"),
    ("Lynn Conway", "VLSI Design"),
    ("Guido van Rossum", "Indentation Ltd"),
    ("Mary Kenneth Keller", "Basic Learning"),
    ("Ward Cunningham", "Wiki Works"),
    ("Joan Clarke", "Hut Eight"),
    ("Brian Kernighan", "Awk & Co"),
    ("Carol Shaw", "River Raid Games"),
];

/// Zones the sample leads cycle through, so windows and quiet hours show.
const ZONES: &[Tz] = &[
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::Europe::London,
    chrono_tz::America::Los_Angeles,
    chrono_tz::Australia::Sydney,
    chrono_tz::Asia::Kathmandu,
];

/// What `nudge demo` runs.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Simulated seconds per real second (3600 = one hour a second).
    pub speed: f64,
    /// Sample leads.
    pub leads: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            speed: 3600.0,
            leads: 40,
        }
    }
}

/// A running demo's parts. Dropping it deletes the database.
pub struct Demo {
    /// The engine the TUI talks to.
    pub engine: Arc<Engine>,
    /// The fast clock.
    pub clock: Arc<ManualClock>,
    /// The worker the driver calls.
    pub worker: Arc<Worker>,
    /// Signals to play: when, who, what.
    pub script: Vec<(DateTime<Utc>, LeadId, Signal)>,
    /// The throwaway directory; removed on drop.
    _dir: tempfile::TempDir,
}

/// Tuesday 15:00 UTC on or after `now`: business hours in New York, Berlin
/// and London, so the first touches go out at once and the rest soon after.
pub fn demo_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = now.date_naive();
    while day.weekday() != Weekday::Tue {
        day = day.succ_opt().unwrap_or(day);
    }
    let at = day.and_hms_opt(15, 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&at)
}

/// The scripted behaviour of sample lead `i`, as offsets from the start.
fn script_for(i: usize) -> Vec<(Duration, Signal)> {
    let h = |n: usize| Duration::hours(n as i64);
    match i % 8 {
        0 => vec![(h(3 + i), Signal::Opened), (h(6 + i), Signal::Replied)],
        1 => vec![
            (h(2), Signal::Opened),
            (h(5), Signal::Clicked),
            (h(12 + i), Signal::Booked),
        ],
        2 => vec![(h(30 + i), Signal::Opened)],
        3 if i % 16 == 3 => vec![(h(40), Signal::OptedOut)],
        5 => vec![(h(20 + 2 * i), Signal::Replied)],
        6 => vec![(h(4), Signal::Opened), (h(50 + i), Signal::Booked)],
        _ => Vec::new(),
    }
}

impl Demo {
    /// Creates the database and the sample leads, starting at `start`.
    pub fn new(
        catalog: Catalog,
        settings: Settings,
        start: DateTime<Utc>,
        options: &DemoOptions,
    ) -> Result<Demo, EngineError> {
        let dir = tempfile::tempdir().map_err(|e| {
            EngineError::Store(StoreError::Foreign {
                path: std::env::temp_dir(),
                detail: format!("cannot create a scratch directory: {e}"),
            })
        })?;
        let store = Store::open(&dir.path().join("data"), 16 << 20)?;
        let clock = Arc::new(ManualClock::new(start));
        let engine = Arc::new(Engine::new(store, catalog, settings, clock.clone()));
        let dry = |channel| Arc::new(DryRunTransport::new(channel, "demo")) as Arc<dyn Transport>;
        let channels = Channels {
            email: dry(Channel::Email),
            sms: dry(Channel::Sms),
            call: None,
            personaliser: None,
        };
        let worker = Arc::new(Worker::new(
            engine.clone(),
            channels,
            WorkerOptions {
                pace: false,
                ..WorkerOptions::default()
            },
        ));
        let mut script = Vec::new();
        for i in 0..options.leads {
            let (name, company) = PEOPLE[i % PEOPLE.len()];
            let round = i / PEOPLE.len();
            let name = if round == 0 {
                name.to_string()
            } else {
                format!("{name} {}", round + 1)
            };
            let tz = ZONES[i % ZONES.len()];
            let id = engine.add(&LeadInput {
                email: Some(format!("lead{}@example.com", i + 1)),
                phone: Some(format!("+1415555{:04}", 2671 + i)),
                company: Some(company.to_string()),
                tz: Some(tz.name().to_string()),
                source: "demo".into(),
                sms_consent: (i % 3 != 0).then(|| "demo form".to_string()),
                name,
                ..LeadInput::default()
            })?;
            for (offset, signal) in script_for(i) {
                script.push((start + offset, id, signal));
            }
        }
        script.sort_by_key(|(at, _, _)| *at);
        Ok(Demo {
            engine,
            clock,
            worker,
            script,
            _dir: dir,
        })
    }

    /// Runs the clock until `shutdown` turns true: every tenth of a second
    /// the clock moves on, due touches go out, scripted signals land, and
    /// call tasks left waiting for four hours are marked done.
    pub async fn drive(&self, speed: f64, mut shutdown: watch::Receiver<bool>) {
        const TICK: StdDuration = StdDuration::from_millis(100);
        let step = Duration::milliseconds((speed * TICK.as_secs_f64() * 1000.0) as i64);
        let mut script = self.script.iter().peekable();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            self.clock.advance(step);
            if let Err(e) = self.worker.run_due().await {
                tracing::warn!(error = %e, "demo worker pass failed");
            }
            let now = self.clock.now();
            while let Some((_, id, signal)) = script.next_if(|(at, _, _)| *at <= now) {
                apply(&self.engine, *id, *signal);
            }
            self.finish_calls(now);
        }
    }

    fn finish_calls(&self, now: DateTime<Utc>) {
        let leads = self
            .engine
            .store()
            .list(&crate::store::ListFilter::default(), usize::MAX)
            .unwrap_or_default();
        for lead in leads {
            let stale = lead
                .next
                .as_ref()
                .is_some_and(|n| n.awaiting_human && now - n.at > Duration::hours(4));
            if stale {
                let _ = self
                    .engine
                    .mark(lead.id, Mark::Called, Some("called (demo)"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_starts_on_a_tuesday_afternoon_utc() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 21, 30, 0).unwrap();
        let start = demo_start(now);
        assert_eq!(start.weekday(), Weekday::Tue);
        assert!(start >= now - Duration::days(1) && start - now < Duration::days(7));
    }
}
