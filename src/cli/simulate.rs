//! `nudge simulate`: a time-warped dry run of a sequence.

use std::io::Write;

use anyhow::Result;
use chrono_tz::Tz;
use clap::Args;

use super::serve::runtime;
use super::{Context_, start_time};
use crate::present::{safe, safe_json};

/// `nudge simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Sequence name.
    pub sequence: String,
    /// Days to run.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Sample leads (spread over time zones).
    #[arg(long, default_value_t = 1)]
    pub leads: usize,
    /// Signals every lead shows, at offsets from capture, e.g. opened@2d,clicked@3d,replied@5d.
    #[arg(long, default_value = "")]
    pub script: String,
    /// When the leads arrive (RFC 3339; default now).
    #[arg(long)]
    pub start: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn simulate(ctx: &Context_, args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    let script = crate::simulate::parse_script(&args.script)
        .map_err(|e| anyhow::anyhow!("--script: {e}"))?;
    let start = start_time(args.start.as_deref())?;
    let options = crate::simulate::SimulateOptions {
        sequence: args.sequence.clone(),
        days: args.days,
        leads: args.leads,
        script,
        start,
    };
    let result = runtime(0)?.block_on(crate::simulate::simulate(
        ctx.catalog()?,
        ctx.settings(),
        &options,
    ))?;
    if args.json {
        writeln!(
            out,
            "{}",
            safe_json(&serde_json::to_string_pretty(&result)?)
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "simulating `{}` for {} lead(s) over {} days from {} (dry run: nothing is sent)",
        args.sequence,
        args.leads.max(1),
        args.days,
        start.to_rfc3339()
    )?;
    for line in &result.timeline {
        let tz: Tz = line.tz.parse().unwrap_or(Tz::UTC);
        let day = (line.at - start).num_hours() as f64 / 24.0;
        writeln!(
            out,
            "  day {day:>5.1}  {}  lead {} ({})  {}",
            line.at.with_timezone(&tz).format("%a %m-%d %H:%M"),
            line.lead,
            line.tz,
            safe(&line.text)
        )?;
    }
    for (lead, why) in &result.outcomes {
        writeln!(out, "lead {lead}: {}", safe(why))?;
    }
    Ok(())
}
