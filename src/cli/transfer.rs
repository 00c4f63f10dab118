//! `nudge import` (CSV in) and `nudge export` (CSV or JSONL out).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::{Context_, problems_exit};
use crate::export::Format;
use crate::import::ImportOptions;
use crate::present::safe;

/// `nudge import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file with a header row.
    pub file: PathBuf,
    /// Sequence for every imported lead.
    #[arg(long)]
    pub sequence: Option<String>,
    /// Source label (default: the file's source column, else import:<file name>).
    #[arg(long)]
    pub source: Option<String>,
    /// Check every row and report, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Name a column the headers do not give away: FIELD=HEADER, e.g.
    /// --map email="Mail privat" (fields: name, first_name, last_name,
    /// email, phone, company, tz, country, source, email_consent,
    /// sms_consent). Repeatable.
    #[arg(long, value_name = "FIELD=HEADER", value_parser = parse_map)]
    pub map: Vec<(String, String)>,
}

fn parse_map(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((field, header)) if !field.trim().is_empty() && !header.trim().is_empty() => {
            Ok((field.trim().to_string(), header.trim().to_string()))
        }
        _ => Err(format!(
            "`{raw}` is not FIELD=HEADER, e.g. --map email=\"Mail privat\""
        )),
    }
}

/// `nudge export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Write here (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub(super) fn import(ctx: &Context_, args: &ImportArgs, out: &mut impl Write) -> Result<ExitCode> {
    // Absolute, because a running `nudge serve` may read it from another cwd.
    let path = std::path::absolute(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    std::fs::File::open(&path).with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut handle = ctx.handle()?;
    let progress = if std::io::stderr().is_terminal() && !handle.is_remote() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {percent}% {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let options = ImportOptions {
        sequence: args.sequence.clone(),
        source: args.source.clone(),
        dry_run: args.dry_run,
        map: args.map.clone(),
    };
    let label = args.file.display().to_string();
    let report = handle.import(&path, &label, &options, &progress)?;
    progress.finish_and_clear();
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    writeln!(
        out,
        "{verb} {} of {} rows from {}; {} rejected",
        report.imported,
        report.rows,
        safe(&label),
        report.rejected.len()
    )?;
    if let Some(encoding) = &report.encoding {
        writeln!(out, "read as {encoding} (the file is not UTF-8)")?;
    }
    if report.already_imported > 0 {
        writeln!(
            out,
            "{} rows already imported (skipped)",
            thousands(report.already_imported)
        )?;
    }
    for r in &report.rejected {
        writeln!(
            out,
            "  row {} (line {}): {}",
            r.row,
            r.line,
            safe(&r.reason)
        )?;
    }
    if !report.warnings.is_empty() {
        writeln!(out, "imported with warnings:")?;
        for r in &report.warnings {
            writeln!(out, "  row {} (line {}): {}", r.row, r.line, r.reason)?;
        }
    }
    Ok(problems_exit(report.rejected.len()))
}

/// `36000` as `36,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn export(ctx: &Context_, args: &ExportArgs, out: &mut impl Write) -> Result<()> {
    let mut handle = ctx.handle()?;
    match &args.out {
        Some(path) => {
            let tmp = path.with_extension("tmp-nudge");
            let mut file = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let result = handle
                .export(args.format, &mut file)
                .map_err(anyhow::Error::from)
                .and_then(|n| {
                    file.sync_all()?;
                    Ok(n)
                });
            let count = match result {
                Ok(n) => n,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported {count} leads to {}", path.display());
        }
        None => {
            handle.export(args.format, &mut *out)?;
        }
    }
    Ok(())
}
