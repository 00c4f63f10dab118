//! Command-line interface: clap definitions, dispatch and output.
//! Logic lives in the library modules; this folder only adapts it to a
//! terminal, one file per command group. Formatting that the TUI shares
//! (relative times, cells, terminal-safe lead text) is in [`crate::present`].

mod backup;
mod dev;
mod doctor;
mod init;
mod leads;
mod logs;
mod seq;
mod serve;
mod service;
mod shell;
mod simulate;
mod spam;
mod status;
mod transfer;
mod tui;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Paths};
use crate::domain::lead::Lead;
use crate::engine::{Engine, Settings};
use crate::handle::{EngineHandle, RemoteEngine};
use crate::present::{self, relative};
use crate::store::Store;

pub use backup::{BackupArgs, CheckArgs, RestoreArgs};
pub use dev::DevCommand;
pub use init::InitArgs;
pub use leads::{
    AddArgs, EditArgs, EraseArgs, LeadsArgs, MarkArgs, NoteArgs, ResolveArgs, ShowArgs,
};
pub use logs::LogsArgs;
pub use seq::{PreviewArgs, SeqCommand};
pub use shell::CompletionsArgs;
pub use simulate::SimulateArgs;
pub use transfer::{ExportArgs, ImportArgs};
pub use tui::DemoArgs;

/// Exit code when a command finished but found problems: an import that
/// rejected rows, a lint that raised warnings, a doctor that found a problem.
const EXIT_PROBLEMS: u8 = 3;

/// `nudge --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("NUDGE_GIT_COMMIT"),
    ")"
);

/// nudge follows up with every sales lead automatically.
#[derive(Debug, Parser)]
#[command(name = "nudge", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Config file (default: the platform config dir's nudge/config.toml).
    #[arg(long, global = true, env = "NUDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the database (default: the platform data dir's nudge/).
    #[arg(long, global = true, env = "NUDGE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do; with none, opens the TUI (or, when not on a terminal,
    /// prints a summary of the pipeline).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented config and copy the default sequence and themes.
    Init(InitArgs),
    /// Add one lead; prints its id.
    Add(AddArgs),
    /// Import leads from a CSV export.
    Import(ImportArgs),
    /// List leads, newest first.
    Leads(LeadsArgs),
    /// Show one lead: contact, status, timeline and next touch.
    Show(ShowArgs),
    /// Record what happened: replied, booked, paused, resumed, handed-off, opted-out, called.
    Mark(MarkArgs),
    /// Add a note to a lead's timeline.
    Note(NoteArgs),
    /// Change a lead's name, email, phone or company (validated as intake is).
    Edit(EditArgs),
    /// Export every lead with every field and event.
    Export(ExportArgs),
    /// Erase a lead (GDPR); its contacts stay suppressed, hashed.
    Erase(EraseArgs),
    /// Sequences: list, lint, preview.
    #[command(subcommand)]
    Seq(SeqCommand),
    /// Counts by status and what is due.
    Status,
    /// Check the config before going live: channels, missing settings, when
    /// the first touch goes out, the next touches due. Exit 3 on a problem
    /// that would make a live message wrong.
    Doctor,
    /// Run the engine headless in the foreground (for systemd or tmux):
    /// the worker sends every due touch.
    Serve,
    /// Settle a touch whose delivery is in doubt: it was `sent`, or `resend` it.
    Resolve(ResolveArgs),
    /// A time-warped dry run: what a sequence would send, when, and why it stops.
    Simulate(SimulateArgs),
    /// Developer tools (benchmark databases).
    #[command(subcommand)]
    Dev(DevCommand),
    /// Open the TUI on a throwaway database with sample leads and a fast clock.
    Demo(DemoArgs),
    /// Print the end of the log `nudge serve` writes; -f follows it.
    Logs(LogsArgs),
    /// Print shell completions: bash, zsh, fish (see the README to install them).
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `nudge man > nudge.1`.
    Man,
    /// Write a consistent backup of the whole database (also while `nudge serve` runs).
    Backup(BackupArgs),
    /// Restore a backup into a new or empty --data-dir.
    Restore(RestoreArgs),
    /// Verify every index against the records; --repair rebuilds them (exit 3: problems found).
    Check(CheckArgs),
}

/// Runs the CLI and turns errors into a message and an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // A closed pipe (`nudge leads | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Errors may quote a lead's value: escaped like every other output.
            eprintln!("error: {}", present::safe_multiline(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// What every command needs: where things are and the loaded config.
#[derive(Clone)]
struct Context_ {
    paths: Paths,
    config: Config,
}

impl Context_ {
    fn settings(&self) -> Settings {
        Settings::from_config(&self.config)
    }

    fn store(&self) -> Result<Store> {
        Ok(Store::open(
            &self.paths.data_dir,
            self.config.store.cache_mb * 1024 * 1024,
        )?
        .with_min_free_mb(self.config.store.min_free_mb))
    }

    fn catalog(&self) -> Result<Catalog> {
        Ok(Catalog::load(&self.paths.config_dir)?)
    }

    /// The engine: the running `nudge serve`'s over its socket when there is
    /// one, else this process's own. Sequences load lazily: a broken file
    /// only fails the commands that need a sequence.
    fn handle(&self) -> Result<EngineHandle> {
        if let Some(remote) = RemoteEngine::connect(&self.paths.data_dir) {
            return Ok(EngineHandle::Remote(remote));
        }
        let catalog = Catalog::load_or_broken(&self.paths.config_dir);
        Ok(EngineHandle::Local(Arc::new(self.engine_over(catalog)?)))
    }

    /// This process's own engine; every sequence must load.
    fn engine(&self) -> Result<Engine> {
        self.engine_over(self.catalog()?)
    }

    /// An engine over the store with the config's hot threshold and caps.
    fn engine_over(&self, catalog: Catalog) -> Result<Engine> {
        let store = self.store()?;
        Ok(
            Engine::new(store, catalog, self.settings(), Arc::new(SystemClock))
                .with_hot_threshold(self.hot_threshold())
                .with_daily_caps(self.daily_caps()),
        )
    }

    /// `[email] daily_cap` and `[sms] daily_cap`, for the Stats screen.
    fn daily_caps(&self) -> Vec<(crate::domain::sequence::Channel, u64)> {
        use crate::domain::sequence::Channel;
        vec![
            (Channel::Email, self.config.email.daily_cap),
            (Channel::Sms, self.config.sms.daily_cap),
        ]
    }

    /// `[engine] hot_threshold`, saturated to the engine's range.
    fn hot_threshold(&self) -> u32 {
        u32::try_from(self.config.engine.hot_threshold).unwrap_or(u32::MAX)
    }
}

/// Dispatches one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let paths = Paths::resolve(cli.config, cli.data_dir)?;
    let config = match &cli.command {
        // `init` creates the config, so it must not require one; the shell
        // helpers and `logs` read none.
        Some(Command::Init(_) | Command::Completions(_) | Command::Man | Command::Logs(_)) => {
            Config::default()
        }
        _ => Config::load(&paths, std::env::vars())?,
    };
    let ctx = Context_ { paths, config };
    let mut out = std::io::stdout().lock();
    match cli.command {
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => {
            drop(out);
            tui::tui(&ctx)?
        }
        None | Some(Command::Status) => status::status(&ctx, &mut out)?,
        Some(Command::Doctor) => return doctor::doctor(&ctx, &mut out),
        Some(Command::Demo(args)) => {
            drop(out);
            tui::demo(&ctx, &args)?
        }
        Some(Command::Init(args)) => init::init(&ctx, &args, &mut out)?,
        Some(Command::Add(args)) => leads::add(&ctx, args, &mut out)?,
        Some(Command::Import(args)) => return transfer::import(&ctx, &args, &mut out),
        Some(Command::Leads(args)) => leads::leads(&ctx, &args, &mut out)?,
        Some(Command::Show(args)) => leads::show(&ctx, &args, &mut out)?,
        Some(Command::Mark(args)) => leads::mark(&ctx, &args, &mut out)?,
        Some(Command::Note(args)) => leads::note(&ctx, &args, &mut out)?,
        Some(Command::Edit(args)) => leads::edit(&ctx, args, &mut out)?,
        Some(Command::Export(args)) => transfer::export(&ctx, &args, &mut out)?,
        Some(Command::Erase(args)) => leads::erase(&ctx, &args, &mut out)?,
        Some(Command::Seq(SeqCommand::List)) => seq::list(&ctx, &mut out)?,
        Some(Command::Seq(SeqCommand::Lint { files, spam })) => {
            return seq::lint(&ctx, &files, spam, &mut out);
        }
        Some(Command::Seq(SeqCommand::Preview(args))) => seq::preview(&ctx, &args, &mut out)?,
        Some(Command::Dev(DevCommand::Seed { leads, due })) => {
            dev::seed(&ctx, leads, due, &mut out)?
        }
        Some(Command::Serve) => serve::serve(&ctx)?,
        Some(Command::Resolve(args)) => leads::resolve(&ctx, &args, &mut out)?,
        Some(Command::Simulate(args)) => simulate::simulate(&ctx, &args, &mut out)?,
        Some(Command::Logs(args)) => logs::logs(&ctx, &args, &mut out)?,
        Some(Command::Completions(args)) => shell::completions(&args, &mut out)?,
        Some(Command::Man) => shell::man(&mut out)?,
        Some(Command::Backup(args)) => backup::backup(&ctx, &args, &mut out)?,
        Some(Command::Restore(args)) => backup::restore(&ctx, &args, &mut out)?,
        Some(Command::Check(args)) => return backup::check(&ctx, &args, &mut out),
    }
    Ok(ExitCode::SUCCESS)
}

/// Success, or [`EXIT_PROBLEMS`] when the command found `problems`.
fn problems_exit(problems: usize) -> ExitCode {
    if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

/// `--start`: an RFC 3339 time, or now.
fn start_time(start: Option<&str>) -> Result<DateTime<Utc>> {
    Ok(match start {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--start `{s}` is not an RFC 3339 time such as 2026-12-01T09:00:00Z")
            })?
            .with_timezone(&Utc),
        None => SystemClock.now(),
    })
}

/// "; next: step (channel) in 3h", or nothing when no touch is planned.
fn next_suffix(lead: &Lead) -> String {
    match &lead.next {
        Some(n) => format!(
            "; next: {} ({}) {}",
            n.step_id,
            n.channel,
            relative(n.at, SystemClock.now())
        ),
        None => String::new(),
    }
}
