//! Speed to lead (see the crate docs, measurement 1): one burst of adds
//! while the worker runs, to the 24/7 sequence or to the shipped default for
//! leads where it is Saturday night.

use std::time::{Duration, Instant, SystemTime};

use chrono_tz::Tz;
use nudge::domain::event::EventKind;
use nudge::domain::lead::{LeadId, LeadInput};
use nudge::handle::EngineHandle;
use tokio::sync::watch;

use super::smtp_sink::SmtpSink;
use super::{
    Dist, Nudge, Row, lead_input, lead_number, ms, percentile, runtime, stop_worker, wall,
};

/// Who the burst goes to: the 24/7 `burst` sequence, or the shipped default
/// for leads in a zone where it is Saturday night now.
#[derive(Clone, Copy)]
pub enum Burst {
    AllHours,
    ShippedDefault(Tz),
}

impl Burst {
    fn nudge(self, sink: &SmtpSink, concurrency: usize) -> Nudge {
        match self {
            Burst::AllHours => Nudge::new(sink, concurrency),
            Burst::ShippedDefault(_) => Nudge::with_sequence(
                sink,
                concurrency,
                ("default.toml", nudge::catalog::BUILTIN_DEFAULT),
            ),
        }
    }

    fn input(self, i: usize) -> LeadInput {
        match self {
            Burst::AllHours => lead_input(i),
            Burst::ShippedDefault(tz) => LeadInput {
                sequence: Some("default".into()),
                tz: Some(tz.name().to_string()),
                ..lead_input(i)
            },
        }
    }
}

struct SpeedRun {
    /// Per-lead latency, add call → server accepted, sorted (ms).
    latencies: Vec<f64>,
    /// Per-lead add call → the due instant the scheduler gave it, sorted (ms).
    scheduled: Vec<f64>,
    /// Per-lead due instant → server accepted: the worker's part, sorted (ms).
    worker: Vec<f64>,
    /// First add → first message accepted (ms).
    first: f64,
    /// How long the whole burst of adds took (ms).
    burst: f64,
}

/// One burst of `leads` adds while the worker runs.
fn speed_to_lead(leads: usize, concurrency: usize, to: Burst) -> SpeedRun {
    let sink = SmtpSink::start();
    let nudge = to.nudge(&sink, concurrency);
    let rt = runtime();
    let (stop, stopped) = watch::channel(false);
    let worker_task = rt.spawn(nudge.worker.clone().run(stopped));
    // Let the worker start, find nothing due and go to sleep.
    std::thread::sleep(Duration::from_millis(300));
    assert!(nudge.settled(), "nothing due before the burst");

    // In-process, as the TUI or a socket client of `nudge serve` adds leads.
    let mut engine_handle = EngineHandle::Local(nudge.engine.clone());
    let mut added: Vec<SystemTime> = Vec::with_capacity(leads);
    let mut ids: Vec<LeadId> = Vec::with_capacity(leads);
    let burst_start = Instant::now();
    for i in 0..leads {
        let input = to.input(i);
        added.push(wall());
        ids.push(engine_handle.add(&input).expect("add a lead"));
    }
    let burst = ms(burst_start.elapsed());

    let mail = sink.wait_for_messages(leads, Duration::from_secs(120 + leads as u64));
    stop_worker(&rt, stop, worker_task);
    // When the scheduler said each first touch was due (its first event).
    let due: Vec<SystemTime> = ids
        .iter()
        .map(|&id| {
            let events = nudge.engine.store().events(id).expect("events");
            events
                .iter()
                .find_map(|e| match &e.kind {
                    EventKind::TouchScheduled { due, .. } => Some(SystemTime::from(*due)),
                    _ => None,
                })
                .expect("the first touch was scheduled")
        })
        .collect();
    drop(nudge);
    assert_eq!(mail.len(), leads, "one message per lead, no more");
    let mut accepted = vec![None; leads];
    for m in &mail {
        let to = m.header("To").expect("every message has a To header");
        let i = lead_number(&to).unwrap_or_else(|| panic!("unexpected To: {to}"));
        let at = std::fs::metadata(&m.path)
            .and_then(|meta| meta.modified())
            .expect("dump file mtime");
        assert!(
            accepted[i].replace(at).is_none(),
            "lead {i} got two messages"
        );
    }
    let accepted: Vec<SystemTime> = accepted
        .into_iter()
        .map(|at| at.expect("every lead got its message"))
        .collect();
    let span = |from: &[SystemTime], to: &[SystemTime]| {
        let mut v: Vec<f64> = from
            .iter()
            .zip(to)
            .map(|(a, b)| ms(b.duration_since(*a).unwrap_or(Duration::ZERO)))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let latencies = span(&added, &accepted);
    let scheduled = span(&added, &due);
    let worker = span(&due, &accepted);
    let first_accepted = accepted.iter().min().expect("a message");
    let first = ms(first_accepted
        .duration_since(added[0])
        .unwrap_or(Duration::ZERO));
    SpeedRun {
        latencies,
        scheduled,
        worker,
        first,
        burst,
    }
}

/// Speed to lead for `runs` bursts to `to`, as summary rows labelled `label`.
pub fn speed_rows(
    label: &str,
    runs: usize,
    burst: usize,
    speed_concurrency: usize,
    to: Burst,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut dists: Vec<Dist> = ["add → accepted", "add → due", "due → accepted"]
        .into_iter()
        .map(|name| Dist {
            name,
            per_run: Default::default(),
            pooled: Vec::new(),
        })
        .collect();
    let mut first = Vec::new();
    for run in 1..=runs {
        let r = speed_to_lead(burst, speed_concurrency, to);
        for (k, samples) in [&r.latencies, &r.scheduled, &r.worker]
            .into_iter()
            .enumerate()
        {
            let values = [0.5, 0.9, 0.99, 1.0].map(|q| percentile(samples, q));
            println!(
                "{label} run={run} leads={burst} span=\"{}\" p50={:.1}ms p90={:.1}ms \
                 p99={:.1}ms max={:.1}ms",
                dists[k].name, values[0], values[1], values[2], values[3]
            );
            for (slot, v) in dists[k].per_run.iter_mut().zip(values) {
                slot.push(v);
            }
            dists[k].pooled.extend_from_slice(samples);
        }
        println!(
            "{label} run={run} first_add_to_first_accepted={:.1}ms burst_of_adds={:.1}ms",
            r.first, r.burst
        );
        first.push(r.first);
    }
    for Dist {
        name,
        per_run,
        mut pooled,
    } in dists
    {
        pooled.sort_by(f64::total_cmp);
        println!(
            "{label} pooled span=\"{name}\" n={} p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
            pooled.len(),
            percentile(&pooled, 0.5),
            percentile(&pooled, 0.9),
            percentile(&pooled, 0.99),
            percentile(&pooled, 1.0)
        );
        let targeted = name == "add → accepted";
        let [p50, p90, p99, max] = per_run;
        rows.push(Row {
            metric: format!("{label}: {name} p50 (c={speed_concurrency})"),
            values: p50,
            unit: "ms",
            target: targeted.then_some(("< 100 ms", (|v| v < 100.0) as fn(f64) -> bool)),
        });
        rows.push(Row {
            metric: format!("{label}: {name} p90"),
            values: p90,
            unit: "ms",
            target: None,
        });
        rows.push(Row {
            metric: format!("{label}: {name} p99"),
            values: p99,
            unit: "ms",
            target: targeted.then_some(("< 1000 ms", (|v| v < 1000.0) as fn(f64) -> bool)),
        });
        rows.push(Row {
            metric: format!("{label}: {name} max"),
            values: max,
            unit: "ms",
            target: None,
        });
    }
    rows.push(Row {
        metric: format!("{label}: first add → first accepted"),
        values: first,
        unit: "ms",
        target: None,
    });

    rows
}
