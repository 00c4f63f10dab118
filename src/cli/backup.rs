//! `nudge backup`, `nudge restore` and `nudge check`: keeping the data safe.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::{Context_, problems_exit};
use crate::present::safe;

/// `nudge backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (gzip-compressed JSON lines; replaced atomically).
    pub file: PathBuf,
}

/// `nudge restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `nudge backup`.
    pub file: PathBuf,
}

/// `nudge check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rebuild every index that differs from the records.
    #[arg(long)]
    pub repair: bool,
}

pub(super) fn backup(ctx: &Context_, args: &BackupArgs, out: &mut impl Write) -> Result<()> {
    // Absolute, because a running `nudge serve` writes it from another cwd.
    let path = std::path::absolute(&args.file)
        .with_context(|| format!("cannot write {}", args.file.display()))?;
    let mut handle = ctx.handle()?;
    let report = handle.backup(&path)?;
    writeln!(
        out,
        "backed up {} entries of {} trees to {} ({} bytes); writers waited {} ms",
        report.entries,
        report.trees,
        safe(&args.file.display().to_string()),
        report.bytes,
        report.blocked_ms
    )?;
    Ok(())
}

pub(super) fn restore(ctx: &Context_, args: &RestoreArgs, out: &mut impl Write) -> Result<()> {
    let dir = &ctx.paths.data_dir;
    let report = crate::store::restore(&args.file, dir, ctx.config.store.cache_mb * 1024 * 1024)?;
    writeln!(
        out,
        "restored {} leads ({} entries, schema {}) from a backup taken {} into {}",
        report.leads,
        report.entries,
        report.schema,
        report.created.format("%Y-%m-%d %H:%M:%S UTC"),
        safe(&dir.display().to_string())
    )?;
    Ok(())
}

pub(super) fn check(ctx: &Context_, args: &CheckArgs, out: &mut impl Write) -> Result<ExitCode> {
    let mut handle = ctx.handle()?;
    let report = handle.check(args.repair)?;
    for problem in &report.problems {
        writeln!(out, "{}", safe(problem))?;
    }
    let found = report.problems.len();
    if found == 0 {
        writeln!(
            out,
            "checked {} leads: every index matches the records",
            report.leads
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "checked {} leads: {found} problems", report.leads)?;
    if args.repair {
        writeln!(
            out,
            "repaired: {} index entries rewritten; {} problems need a backup",
            report.repaired, report.unrepairable
        )?;
        return Ok(problems_exit(report.unrepairable));
    }
    writeln!(out, "run `nudge check --repair` to rebuild the indexes")?;
    Ok(problems_exit(found))
}
