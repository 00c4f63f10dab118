//! `nudge seq list | lint | preview`, and the calendar printer `show` shares.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Context_, problems_exit, start_time};
use crate::catalog;
use crate::clock::{Clock, SystemClock};
use crate::domain::lead::{Due, parse_tz};
use crate::domain::lint::{lint as lint_sequence, sample_lead};
use crate::domain::render::Message;
use crate::domain::schedule::PlannedTouch;
use crate::domain::status::Status;
use crate::present::{relative, safe, safe_json, safe_multiline};

/// `nudge seq …`.
#[derive(Debug, Subcommand)]
pub enum SeqCommand {
    /// List the sequences nudge can see and where they come from.
    List,
    /// Validate sequence files and flag copy problems (default: every visible sequence).
    Lint {
        /// Files to check.
        files: Vec<PathBuf>,
        /// Also score every email with SpamAssassin (must be installed).
        #[arg(long)]
        spam: bool,
    },
    /// Show the exact calendar and text of every touch.
    Preview(PreviewArgs),
}

/// `nudge seq preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Sequence name.
    pub name: String,
    /// Preview for this lead (its fields and time zone).
    #[arg(long, conflicts_with = "tz")]
    pub lead: Option<String>,
    /// Preview for a sample lead in this time zone.
    #[arg(long)]
    pub tz: Option<String>,
    /// Start here instead of now (RFC 3339, e.g. 2026-12-01T09:00:00Z).
    #[arg(long)]
    pub start: Option<String>,
    /// One JSON object per touch, per line.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn list(ctx: &Context_, out: &mut impl Write) -> Result<()> {
    let catalog = ctx.catalog()?;
    for (seq, origin) in catalog.iter() {
        let channels: Vec<&str> = seq.steps.iter().map(|s| s.channel.as_str()).collect();
        writeln!(
            out,
            "{:<16} {} steps over {} days ({})  {}",
            seq.name,
            seq.steps.len(),
            seq.span().num_days(),
            channels.join(", "),
            origin
        )?;
        if !seq.description.is_empty() {
            writeln!(out, "{:<16} {}", "", seq.description)?;
        }
    }
    Ok(())
}

pub(super) fn lint(
    ctx: &Context_,
    files: &[PathBuf],
    spam: bool,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let sequences = if files.is_empty() {
        ctx.catalog()?
            .iter()
            .map(|(s, o)| (s.clone(), o.to_string()))
            .collect::<Vec<_>>()
    } else {
        let mut loaded = Vec::new();
        let mut errors = 0;
        for file in files {
            match catalog::load_file(file) {
                Ok(seq) => loaded.push((seq, file.display().to_string())),
                Err(e) => {
                    writeln!(out, "error: {e}")?;
                    errors += 1;
                }
            }
        }
        if errors > 0 {
            bail!("{errors} of {} sequence files are invalid", files.len());
        }
        loaded
    };
    let sample = sample_lead(SystemClock.now());
    let mut warnings = 0;
    for (seq, origin) in &sequences {
        let found = lint_sequence(seq, &sample, &ctx.config.sender);
        if found.is_empty() {
            writeln!(out, "{origin}: ok")?;
        }
        for w in &found {
            let at = w
                .step
                .as_deref()
                .map(|s| format!(" step `{s}`:"))
                .unwrap_or_default();
            writeln!(out, "{origin}:{at} warning: {}", w.message)?;
        }
        warnings += found.len();
    }
    if spam {
        warnings += super::spam::lint_spam(ctx, &sequences, out)?;
    }
    Ok(problems_exit(warnings))
}

pub(super) fn preview(ctx: &Context_, args: &PreviewArgs, out: &mut impl Write) -> Result<()> {
    let start = start_time(args.start.as_deref())?;
    let catalog = ctx.catalog()?;
    let settings = ctx.settings();
    let mut lead = match &args.lead {
        Some(prefix) => ctx.handle()?.show(prefix)?.lead,
        None => sample_lead(start),
    };
    if let Some(tz) = &args.tz {
        lead.tz = Some(parse_tz(tz)?);
    }
    lead.created_at = start;
    lead.status = Status::Active;
    let tz = lead.tz.unwrap_or(settings.default_tz);
    let plan = crate::engine::preview(&catalog, &settings, &args.name, &lead, start)?;
    if args.json {
        for (touch, message) in &plan {
            writeln!(
                out,
                "{}",
                safe_json(&touch_json(touch, message, tz).to_string())
            )?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{} for {} ({}), starting {}",
        args.name,
        safe(&lead.name),
        tz.name(),
        start.to_rfc3339()
    )?;
    for (touch, message) in &plan {
        write_touch(out, touch, message, tz, start)?;
    }
    Ok(())
}

/// One planned touch as JSON: when (local and UTC), what, and what it skips.
pub(super) fn touch_json(touch: &PlannedTouch, message: &Message, tz: Tz) -> serde_json::Value {
    json!({
        "step": touch.step_id,
        "index": touch.step + 1,
        "channel": touch.channel,
        "local": touch.at.with_timezone(&tz).to_rfc3339(),
        "utc": touch.at.to_rfc3339(),
        "time_zone": tz.name(),
        "subject": message.subject,
        "body": message.body,
        "skipped": touch.skipped.iter().map(|s| json!({"step": s.step_id, "reason": s.reason})).collect::<Vec<_>>(),
    })
}

/// One planned touch as calendar lines: the steps it skips, when, and its text.
pub(super) fn write_touch(
    out: &mut impl Write,
    touch: &PlannedTouch,
    message: &Message,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<()> {
    for s in &touch.skipped {
        writeln!(out, "  (skipping {}: {})", s.step_id, safe(s.reason))?;
    }
    let local = touch.at.with_timezone(&tz);
    writeln!(
        out,
        "  #{} {} · {} · {} {} ({} UTC, {})",
        touch.step + 1,
        touch.step_id,
        touch.channel,
        local.format("%a %Y-%m-%d %H:%M"),
        tz.name(),
        touch.at.format("%Y-%m-%d %H:%M"),
        relative(touch.at, now)
    )?;
    write_message(out, "    ", message.subject.as_deref(), &message.body)
}

/// A message's subject (if any) and body, each line behind `indent` and a
/// `|` gutter; the text holds lead values, so it is escaped for the terminal.
pub(super) fn write_message(
    out: &mut (impl Write + ?Sized),
    indent: &str,
    subject: Option<&str>,
    body: &str,
) -> Result<()> {
    if let Some(subject) = subject {
        writeln!(out, "{indent}Subject: {}", safe(subject))?;
    }
    for line in body.lines() {
        writeln!(out, "{indent}| {}", safe_multiline(line))?;
    }
    Ok(())
}

/// A stored due touch in the shape the calendar printer takes.
pub(super) fn planned(due: &Due) -> PlannedTouch {
    PlannedTouch {
        step: due.step as usize,
        step_id: due.step_id.clone(),
        channel: due.channel,
        at: due.at,
        skipped: Vec::new(),
    }
}
