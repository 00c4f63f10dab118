//! Where `nudge serve` and the in-process TUI log: a daily-rotated file in
//! the data dir, and stderr for `nudge serve`. Colour only where a person
//! reads a terminal: never in the file, never under systemd (journald adds
//! its own timestamps, so the journal gets none from us), never with
//! `NO_COLOR` set.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The current log file: a symlink to today's `nudge.YYYY-MM-DD.log`.
pub const LOG_LINK: &str = "nudge.log";
/// Daily files kept, today's included; older ones are deleted at start and
/// at each rollover, so the logs never grow without bound.
pub const KEEP_FILES: usize = 14;
const PREFIX: &str = "nudge";
const SUFFIX: &str = "log";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create the data dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the log file in {path}: {source}")]
    File {
        path: PathBuf,
        source: tracing_appender::rolling::InitError,
    },
    #[error("cannot start logging: {0}")]
    Init(String),
}

/// How stderr gets log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// Not at all (the TUI owns the screen).
    Off,
    /// Plain lines with timestamps (a file, a pipe, or `NO_COLOR`).
    Plain,
    /// Coloured lines with timestamps (a terminal).
    Colour,
    /// systemd's journal: no timestamps (journald adds them), no colour.
    Journal,
}

impl Stderr {
    /// What this process's stderr is, from the environment: journald's
    /// `JOURNAL_STREAM` naming our stderr, else a terminal without `NO_COLOR`.
    pub fn detect() -> Stderr {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Stderr::decide(
            stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref()),
            std::io::stderr().is_terminal(),
            no_color,
        )
    }

    fn decide(journal: bool, terminal: bool, no_color: bool) -> Stderr {
        if journal {
            Stderr::Journal
        } else if terminal && !no_color {
            Stderr::Colour
        } else {
            Stderr::Plain
        }
    }
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr is the
/// journal; a child with redirected stderr inherits the variable, so it only
/// counts when it names our fd 2.
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// The daily-rotated appender in `dir`, keeping `keep` files. Building it
/// deletes the oldest files past `keep` (tracing-appender prunes at start
/// and at each rollover).
pub fn appender(dir: &Path, keep: usize) -> Result<RollingFileAppender, LogError> {
    std::fs::create_dir_all(dir).map_err(|source| LogError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    // Before rotation, nudge.log was a plain file; keep its lines under a
    // dated-looking name the pruning counts, instead of letting the
    // symlink replace it.
    let link = dir.join(LOG_LINK);
    if link.symlink_metadata().is_ok_and(|m| m.is_file()) {
        let _ = std::fs::rename(&link, dir.join("nudge.0000-before-rotation.log"));
    }
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(PREFIX)
        .filename_suffix(SUFFIX)
        .max_log_files(keep.max(1))
        .latest_symlink(LOG_LINK)
        .build(dir)
        .map_err(|source| LogError::File {
            path: dir.to_path_buf(),
            source,
        })
}

/// Starts logging to the rotated file in `data_dir` and to stderr as
/// `stderr` says; `NUDGE_LOG` sets the filter (default `info`). Returns the
/// guard that flushes the file on drop.
pub fn init(data_dir: &Path, stderr: Stderr) -> Result<WorkerGuard, LogError> {
    let (file, guard) = tracing_appender::non_blocking(appender(data_dir, KEEP_FILES)?);
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer(stderr, std::io::stderr))
        .with(file_layer(file))
        .try_init()
        .map_err(|e| LogError::Init(e.to_string()))?;
    Ok(guard)
}

/// The stderr layer for `mode` writing to `writer`, or none.
fn stderr_layer<S, W>(mode: Stderr, writer: W) -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .fmt_fields(crate::present::safe_log_fields())
        .with_writer(writer);
    match mode {
        Stderr::Off => None,
        Stderr::Plain => Some(layer.with_ansi(false).boxed()),
        Stderr::Colour => Some(layer.with_ansi(true).boxed()),
        Stderr::Journal => Some(layer.with_ansi(false).without_time().boxed()),
    }
}

/// The file layer: plain text, never ANSI codes. Both layers format fields
/// with [`crate::present::safe_log_fields`], which writes no styling, so the
/// span fields tracing-subscriber shares between layers of one formatter
/// type carry no colour into the file, and a lead's text can neither put an
/// escape into the log nor forge a line with CR/LF.
fn file_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(crate::present::safe_log_fields())
        .with_writer(writer)
}

#[cfg(test)]
mod tests;
