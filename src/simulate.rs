//! `nudge simulate`: a time-warped dry run. Real engine, real worker, real
//! store (in a throwaway directory), dry-run channels and a manual clock that
//! jumps from one due touch (or scripted signal) to the next. It is how a user
//! runs themselves through a sequence before going live. Nothing is sent.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::catalog::Catalog;
use crate::channels::DryRunTransport;
use crate::clock::ManualClock;
use crate::domain::event::EventKind;
use crate::domain::lead::{LeadId, LeadInput};
use crate::domain::mark::Mark;
use crate::domain::rules::Signal as RuleSignal;
use crate::domain::sequence::Channel;
use crate::domain::status::Status;
use crate::engine::worker::{Channels, Worker, WorkerOptions};
use crate::engine::{Engine, EngineError, Settings};
use crate::store::{Store, StoreError};

/// A lead behaviour to script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Opened an email.
    Opened,
    /// Clicked a link.
    Clicked,
    /// Replied.
    Replied,
    /// Booked a meeting.
    Booked,
    /// Opted out.
    OptedOut,
}

/// Parses `opened@2d,clicked@3d,replied@5d` (offsets from capture).
pub fn parse_script(text: &str) -> Result<Vec<(Signal, Duration)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, offset) = item
            .split_once('@')
            .ok_or_else(|| format!("`{item}`: expected SIGNAL@OFFSET, e.g. replied@5d"))?;
        let signal = match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "opened" => Signal::Opened,
            "clicked" => Signal::Clicked,
            "replied" => Signal::Replied,
            "booked" => Signal::Booked,
            "opted-out" => Signal::OptedOut,
            other => {
                return Err(format!(
                    "`{other}` is not a signal (expected opened, clicked, replied, booked, opted-out)"
                ));
            }
        };
        let offset = humantime::parse_duration(offset.trim())
            .ok()
            .and_then(|d| Duration::from_std(d).ok())
            .ok_or_else(|| format!("`{offset}` is not an offset such as 2d or 36h"))?;
        out.push((signal, offset));
    }
    out.sort_by_key(|(_, at)| *at);
    Ok(out)
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Sequence name.
    pub sequence: String,
    /// How long to run.
    pub days: u32,
    /// How many sample leads (spread over time zones).
    pub leads: usize,
    /// Signals every lead shows, at offsets from capture.
    pub script: Vec<(Signal, Duration)>,
    /// When the leads arrive.
    pub start: DateTime<Utc>,
}

/// One line of the simulated timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimelineLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Which sample lead (1-based).
    pub lead: usize,
    /// That lead's zone.
    pub tz: String,
    /// What happened.
    pub text: String,
}

/// The result of a simulation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Simulation {
    /// Every touch and signal, in time order.
    pub timeline: Vec<TimelineLine>,
    /// Per lead: its final status and why it stopped.
    pub outcomes: Vec<(usize, String)>,
}

/// Names for the sample leads.
const NAMES: &[&str] = &[
    "Alex Rivera",
    "Priya Shah",
    "Jonas Weber",
    "Mei Chen",
    "Sam Okafor",
];

/// Zones the sample leads cycle through, so windows and DST show up.
const ZONES: &[Tz] = &[
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::Australia::Sydney,
    chrono_tz::America::Los_Angeles,
];

/// Runs the simulation.
pub async fn simulate(
    catalog: Catalog,
    settings: Settings,
    options: &SimulateOptions,
) -> Result<Simulation, EngineError> {
    let scratch = tempfile::tempdir().map_err(|e| {
        EngineError::Store(StoreError::Foreign {
            path: std::env::temp_dir(),
            detail: format!("cannot create a scratch directory: {e}"),
        })
    })?;
    let store = Store::open(&scratch.path().join("data"), 8 << 20)?;
    catalog.get(&options.sequence)?;
    let clock = Arc::new(ManualClock::new(options.start));
    let engine = Arc::new(Engine::new(store, catalog, settings, clock.clone()));
    let dry = |channel| {
        Arc::new(DryRunTransport::new(channel, "simulation")) as Arc<dyn crate::channels::Transport>
    };
    let channels = Channels {
        email: dry(Channel::Email),
        sms: dry(Channel::Sms),
        call: None,
        personaliser: None,
    };
    let worker = Worker::new(
        engine.clone(),
        channels,
        WorkerOptions {
            pace: false,
            ..WorkerOptions::default()
        },
    );
    let mut leads: Vec<(LeadId, Tz)> = Vec::new();
    for i in 0..options.leads.max(1) {
        let tz = ZONES[i % ZONES.len()];
        let id = engine.add(&LeadInput {
            name: format!("{} {}", NAMES[i % NAMES.len()], i + 1),
            email: Some(format!("lead{}@example.com", i + 1)),
            phone: Some(format!("+1415555{:04}", 2671 + i)),
            company: Some("Example Co".into()),
            tz: Some(tz.name().to_string()),
            source: "simulation".into(),
            sequence: Some(options.sequence.clone()),
            sms_consent: Some("simulation".into()),
            ..LeadInput::default()
        })?;
        leads.push((id, tz));
    }
    let end = options.start + Duration::days(i64::from(options.days));
    let mut script = options
        .script
        .iter()
        .map(|(s, d)| (options.start + *d, *s))
        .peekable();
    // Bounded: every pass either sends, moves the clock forward, or stops.
    for _ in 0..100_000 {
        worker.run_due().await?;
        for (id, _) in &leads {
            let waiting = engine
                .store()
                .lead(*id)?
                .and_then(|l| l.next)
                .is_some_and(|n| n.awaiting_human);
            if waiting {
                engine.mark(*id, Mark::Called, Some("done by you (simulated)"))?;
            }
        }
        let next_due = engine.store().next_due_at()?;
        let next_signal = script.peek().map(|(at, _)| *at);
        let Some(next) = [next_due, next_signal].into_iter().flatten().min() else {
            break;
        };
        if next > end {
            break;
        }
        clock.set(next.max(engine.now()));
        while let Some((_, signal)) = script.next_if(|(at, _)| *at <= next) {
            for (id, _) in &leads {
                apply(&engine, *id, signal);
            }
        }
    }
    let mut timeline = Vec::new();
    let mut outcomes = Vec::new();
    for (n, (id, tz)) in leads.iter().enumerate() {
        let lead = engine.store().lead(*id)?;
        for event in engine.store().events(*id)? {
            let text = match &event.kind {
                EventKind::TouchSent {
                    step,
                    channel,
                    subject,
                    ..
                } => match subject {
                    Some(s) => format!("{step} via {channel}: \"{s}\""),
                    None => format!("{step} via {channel}"),
                },
                EventKind::Called => continue,
                EventKind::Opened | EventKind::Clicked { .. } => {
                    format!("lead {}", event.kind.describe())
                }
                EventKind::Replied | EventKind::Booked | EventKind::OptedOut => {
                    format!("lead {} → sequence stops", event.kind.describe())
                }
                _ => continue,
            };
            timeline.push(TimelineLine {
                at: event.at,
                lead: n + 1,
                tz: tz.name().to_string(),
                text,
            });
        }
        let why = match lead.map(|l| (l.status, l.next)) {
            Some((Status::Completed, _)) => "completed: every step sent, no response".to_string(),
            Some((Status::Active, Some(next))) => format!(
                "still active after {} days; next: {} ({}) at {}",
                options.days,
                next.step_id,
                next.channel,
                next.at.with_timezone(tz).format("%a %Y-%m-%d %H:%M")
            ),
            Some((status, _)) => format!("stopped: {status}"),
            None => "erased".to_string(),
        };
        outcomes.push((n + 1, why));
    }
    timeline.sort_by(|a, b| a.at.cmp(&b.at).then(a.lead.cmp(&b.lead)));
    Ok(Simulation { timeline, outcomes })
}

/// Applies a scripted signal; a signal that no longer applies (a reply to a
/// lead that already booked) is ignored, as it would be in real life.
pub fn apply(engine: &Engine, id: LeadId, signal: Signal) {
    let result = match signal {
        // Through the rules, as tracking records them live: a bare event
        // would skip `[rules] clicked = "pull-earlier"` and `nudge_after_open`.
        Signal::Opened => engine.record_signal(id, RuleSignal::Opened).map(|_| ()),
        Signal::Clicked => engine
            .record_signal(id, RuleSignal::Clicked { url: None })
            .map(|_| ()),
        Signal::Replied => engine.mark(id, Mark::Replied, None).map(|_| ()),
        Signal::Booked => engine.mark(id, Mark::Booked, None).map(|_| ()),
        Signal::OptedOut => engine.mark(id, Mark::OptedOut, None).map(|_| ()),
    };
    if let Err(e) = result {
        tracing::debug!(lead = %id, error = %e, "scripted signal ignored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_parses_and_sorts() {
        let s = parse_script("replied@5d, opened@2d").unwrap();
        assert_eq!(
            s,
            vec![
                (Signal::Opened, Duration::days(2)),
                (Signal::Replied, Duration::days(5))
            ]
        );
        assert!(parse_script("waved@1d").unwrap_err().contains("waved"));
        assert!(parse_script("replied").is_err());
        assert!(parse_script("replied@soon").is_err());
    }
}
