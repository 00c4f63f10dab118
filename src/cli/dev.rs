//! `nudge dev …`: developer tools (benchmark databases).

use std::io::Write;

use anyhow::Result;
use chrono::Duration;
use clap::Subcommand;

use super::Context_;
use crate::domain::event::EventKind;
use crate::domain::lead::LeadInput;

/// `nudge dev …`.
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Fill the database with synthetic leads, for benchmarks.
    Seed {
        /// How many leads.
        #[arg(long, default_value_t = 1000)]
        leads: u64,
        /// How many of them have a touch due now (the rest are due in the future).
        #[arg(long, default_value_t = 1000)]
        due: u64,
    },
}

pub(super) fn seed(ctx: &Context_, leads: u64, due: u64, out: &mut impl Write) -> Result<()> {
    let engine = ctx.engine()?;
    let started = std::time::Instant::now();
    let now = engine.now();
    let mut batch = Vec::with_capacity(5_000);
    let mut written = 0u64;
    for i in 0..leads {
        let input = LeadInput {
            name: format!("Seed Lead {i}"),
            email: Some(format!("lead{i}@seed.example.com")),
            company: Some(format!("Company {}", i % 997)),
            source: "seed".into(),
            ..LeadInput::default()
        };
        let valid = engine.validate(&input)?;
        let mut write = engine.prepare(valid, None, now)?;
        let at = if i < due {
            now - Duration::minutes(1)
        } else {
            now + Duration::days(1 + (i % 20) as i64)
        };
        if let Some(next) = write.lead.next.as_mut() {
            next.at = at;
        }
        for event in &mut write.events {
            if let EventKind::TouchScheduled { due, .. } = &mut event.kind {
                *due = at;
            }
        }
        batch.push(write);
        if batch.len() == batch.capacity() {
            engine.store().insert_leads(&batch)?;
            written += batch.len() as u64;
            batch.clear();
        }
    }
    engine.store().insert_leads(&batch)?;
    written += batch.len() as u64;
    engine.store().flush()?;
    writeln!(
        out,
        "seeded {written} leads ({due} due now) in {:.1}s; database {} MiB on disk",
        started.elapsed().as_secs_f64(),
        engine.store().size_on_disk()? / (1024 * 1024)
    )?;
    Ok(())
}
