//! Command-line interface: clap definitions, dispatch and output formatting.
//! Logic lives in the library modules; this file only adapts it to a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::catalog::{self, Catalog};
use crate::channels::Transports;
use crate::clock::{Clock, SystemClock};
use crate::config::{CONFIG_TEMPLATE, Config, Paths};
use crate::domain::event::{Event, EventKind};
use crate::domain::lead::{Due, Lead, LeadInput, Stage, parse_field, parse_tz};
use crate::domain::lint::{lint, sample_lead};
use crate::domain::mark::Mark;
use crate::domain::render::Message;
use crate::domain::schedule::PlannedTouch;
use crate::domain::status::Status;
use crate::domain::touch::{Resolution, TouchState};
use crate::engine::worker::{Worker, WorkerOptions};
use crate::engine::{Engine, LeadView, Settings};
use crate::export::Format;
use crate::handle::{EngineHandle, ListQuery, RemoteEngine};
use crate::import::ImportOptions;
use crate::present::{self, relative};
use crate::store::{ListFilter, Store};

/// Exit code when a command finished but found problems: an import that
/// rejected rows, a lint that raised warnings.
const EXIT_PROBLEMS: u8 = 3;

/// nudge follows up with every sales lead automatically.
#[derive(Debug, Parser)]
#[command(name = "nudge", version, about, long_about = None)]
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
}

/// `nudge demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated hours per real second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Sample leads.
    #[arg(long, default_value_t = 40)]
    pub leads: usize,
}

/// `nudge init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing config file.
    #[arg(long)]
    pub force: bool,
}

/// `nudge add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// Email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Phone number; `+<country>` or a number in [general] default_region.
    #[arg(long)]
    pub phone: Option<String>,
    /// Company.
    #[arg(long)]
    pub company: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin (default: [general] default_tz).
    #[arg(long)]
    pub tz: Option<String>,
    /// Where the lead came from.
    #[arg(long, default_value = "cli")]
    pub source: String,
    /// Sequence to run (default: `default`).
    #[arg(long)]
    pub sequence: Option<String>,
    /// Custom field, usable in templates as fields.KEY; repeatable.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// How email consent was given (e.g. "website form").
    #[arg(long, value_name = "HOW")]
    pub email_consent: Option<String>,
    /// How SMS consent was given; SMS steps are skipped without it.
    #[arg(long, value_name = "HOW")]
    pub sms_consent: Option<String>,
}

/// `nudge import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file with a header row.
    pub file: PathBuf,
    /// Sequence for every imported lead.
    #[arg(long)]
    pub sequence: Option<String>,
    /// Source label (default: the file's source column, else import:FILE).
    #[arg(long)]
    pub source: Option<String>,
    /// Check every row and report, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `nudge leads`.
#[derive(Debug, Args)]
pub struct LeadsArgs {
    /// Only this status.
    #[arg(long)]
    pub status: Option<String>,
    /// Only this sequence.
    #[arg(long)]
    pub sequence: Option<String>,
    /// Only this stage: new, step-N, paused, replied, booked, handed-off, opted-out, bounced, completed.
    #[arg(long)]
    pub stage: Option<String>,
    /// Only leads with a touch in doubt (settle with `nudge resolve`).
    #[arg(long)]
    pub in_doubt: bool,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `nudge show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `nudge mark`.
#[derive(Debug, Args)]
pub struct MarkArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// replied, booked, paused, resumed, handed-off, opted-out or called.
    pub mark: String,
    /// A note to add to the timeline.
    #[arg(long)]
    pub note: Option<String>,
}

/// `nudge note`.
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// The note (several words are joined with spaces).
    #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
    pub text: Vec<String>,
}

/// `nudge edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// New full name.
    #[arg(long)]
    pub name: Option<String>,
    /// New email address ("" clears it).
    #[arg(long)]
    pub email: Option<String>,
    /// New phone number ("" clears it).
    #[arg(long)]
    pub phone: Option<String>,
    /// New company ("" clears it).
    #[arg(long)]
    pub company: Option<String>,
}

/// `nudge resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// `sent` (it arrived; move on) or `resend` (send it again, same words and Message-ID).
    pub how: String,
}

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

/// `nudge erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Lead id or unique prefix.
    pub id: String,
}

/// `nudge seq …`.
#[derive(Debug, Subcommand)]
pub enum SeqCommand {
    /// List the sequences nudge can see and where they come from.
    List,
    /// Validate sequence files and flag copy problems (default: every visible sequence).
    Lint {
        /// Files to check.
        files: Vec<PathBuf>,
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

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
        )?)
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
        let store = self.store()?;
        Ok(EngineHandle::Local(Arc::new(
            Engine::new(store, catalog, self.settings(), Arc::new(SystemClock))
                .with_hot_threshold(self.hot_threshold())
                .with_daily_caps(self.daily_caps()),
        )))
    }

    fn engine(&self) -> Result<Engine> {
        let catalog = self.catalog()?;
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
        // `init` creates the config, so it must not require one.
        Some(Command::Init(_)) => Config::default(),
        _ => Config::load(&paths, std::env::vars())?,
    };
    let ctx = Context_ { paths, config };
    let mut out = std::io::stdout().lock();
    match cli.command {
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => {
            drop(out);
            tui(&ctx)?
        }
        None | Some(Command::Status) => status(&ctx, &mut out)?,
        Some(Command::Demo(args)) => {
            drop(out);
            demo(&ctx, &args)?
        }
        Some(Command::Init(args)) => init(&ctx, &args, &mut out)?,
        Some(Command::Add(args)) => add(&ctx, args, &mut out)?,
        Some(Command::Import(args)) => return import(&ctx, &args, &mut out),
        Some(Command::Leads(args)) => leads(&ctx, &args, &mut out)?,
        Some(Command::Show(args)) => show(&ctx, &args, &mut out)?,
        Some(Command::Mark(args)) => mark(&ctx, &args, &mut out)?,
        Some(Command::Note(args)) => note(&ctx, &args, &mut out)?,
        Some(Command::Edit(args)) => edit(&ctx, args, &mut out)?,
        Some(Command::Export(args)) => export_cmd(&ctx, &args, &mut out)?,
        Some(Command::Erase(args)) => erase(&ctx, &args, &mut out)?,
        Some(Command::Seq(SeqCommand::List)) => seq_list(&ctx, &mut out)?,
        Some(Command::Seq(SeqCommand::Lint { files })) => return seq_lint(&ctx, &files, &mut out),
        Some(Command::Seq(SeqCommand::Preview(args))) => preview(&ctx, &args, &mut out)?,
        Some(Command::Dev(DevCommand::Seed { leads, due })) => seed(&ctx, leads, due, &mut out)?,
        Some(Command::Serve) => serve(&ctx)?,
        Some(Command::Resolve(args)) => resolve(&ctx, &args, &mut out)?,
        Some(Command::Simulate(args)) => simulate(&ctx, &args, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn init(ctx: &Context_, args: &InitArgs, out: &mut impl Write) -> Result<()> {
    let dir = &ctx.paths.config_dir;
    let file = &ctx.paths.config_file;
    if file.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            file.display()
        );
    }
    std::fs::create_dir_all(dir.join("sequences"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("themes"))
        .with_context(|| format!("creating {}", dir.display()))?;
    write_atomically(file, CONFIG_TEMPLATE.as_bytes())?;
    writeln!(out, "wrote {}", file.display())?;
    let files = [
        ("sequences/default.toml", catalog::BUILTIN_DEFAULT),
        ("themes/dark.toml", include_str!("../themes/dark.toml")),
        ("themes/light.toml", include_str!("../themes/light.toml")),
        (
            "themes/high-contrast.toml",
            include_str!("../themes/high-contrast.toml"),
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if path.exists() {
            writeln!(out, "kept {} (already there)", path.display())?;
        } else {
            write_atomically(&path, text.as_bytes())?;
            writeln!(out, "wrote {}", path.display())?;
        }
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so readers never see half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-nudge");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn add(ctx: &Context_, args: AddArgs, out: &mut impl Write) -> Result<()> {
    let fields = args
        .fields
        .iter()
        .map(|f| parse_field(f))
        .collect::<Result<_, _>>()?;
    let input = LeadInput {
        name: args.name,
        email: args.email,
        phone: args.phone,
        company: args.company,
        tz: args.tz,
        source: args.source,
        sequence: args.sequence,
        fields,
        email_consent: args.email_consent,
        sms_consent: args.sms_consent,
        country: None,
    };
    let id = ctx.handle()?.add(&input)?;
    writeln!(out, "{id}")?;
    Ok(())
}

fn import(ctx: &Context_, args: &ImportArgs, out: &mut impl Write) -> Result<ExitCode> {
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
        "{verb} {} of {} rows from {label}; {} rejected",
        report.imported,
        report.rows,
        report.rejected.len()
    )?;
    for r in &report.rejected {
        writeln!(out, "  row {} (line {}): {}", r.row, r.line, r.reason)?;
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    })
}

fn lead_json(lead: &Lead) -> serde_json::Value {
    let mut v = serde_json::to_value(lead).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.insert("stage".into(), json!(lead.stage().to_string()));
    }
    v
}

fn leads(ctx: &Context_, args: &LeadsArgs, out: &mut impl Write) -> Result<()> {
    let filter = ListFilter {
        status: args
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()?,
        stage: args
            .stage
            .as_deref()
            .map(str::parse::<Stage>)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        sequence: args.sequence.clone(),
    };
    let leads = ctx.handle()?.list(&ListQuery {
        status: filter.status,
        stage: filter.stage.map(|s| s.to_string()),
        sequence: filter.sequence,
        in_doubt: args.in_doubt,
        limit: args.limit,
    })?;
    if args.json {
        for lead in &leads {
            writeln!(out, "{}", lead_json(lead))?;
        }
        return Ok(());
    }
    let now = SystemClock.now();
    writeln!(
        out,
        "{:<26}  {:<22} {:<18} {:<10} {:<10} NEXT",
        "ID", "NAME", "COMPANY", "STATUS", "STAGE"
    )?;
    for lead in &leads {
        let next = lead
            .next
            .as_ref()
            .map(|n| format!("{} {}", n.channel, relative(n.at, now)))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<26}  {} {} {:<10} {:<10} {next}",
            lead.id,
            present::cell(&lead.name, 22),
            present::cell(lead.company.as_deref().unwrap_or("-"), 18),
            lead.status,
            lead.stage(),
        )?;
    }
    if leads.is_empty() {
        writeln!(out, "(no leads match)")?;
    }
    Ok(())
}

fn touch_json(touch: &PlannedTouch, message: &Message, tz: Tz) -> serde_json::Value {
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

fn write_touch(
    out: &mut impl Write,
    touch: &PlannedTouch,
    message: &Message,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<()> {
    for s in &touch.skipped {
        writeln!(out, "  (skipping {}: {})", s.step_id, s.reason)?;
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
    if let Some(subject) = &message.subject {
        writeln!(out, "    Subject: {subject}")?;
    }
    for line in message.body.lines() {
        writeln!(out, "    | {line}")?;
    }
    Ok(())
}

fn show(ctx: &Context_, args: &ShowArgs, out: &mut impl Write) -> Result<()> {
    let LeadView {
        lead,
        events,
        touches,
        next,
    } = ctx.handle()?.show(&args.id)?;
    let next = next.map(|(due, message)| (planned(&due), message, due.awaiting_human));
    let tz = lead.tz.unwrap_or(ctx.config.general.default_tz);
    if args.json {
        let v = json!({
            "lead": lead_json(&lead),
            "events": events,
            "next": next.as_ref().map(|(t, m, waiting)| {
                let mut v = touch_json(t, m, tz);
                v["awaiting_human"] = json!(waiting);
                v
            }),
            "touches": touches,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let now = SystemClock.now();
    writeln!(out, "{}  ({})", lead.name, lead.id)?;
    let row = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "  {k:<10} {v}");
    row(out, "email", lead.email.as_deref().unwrap_or("-"))?;
    row(out, "phone", lead.phone.as_deref().unwrap_or("-"))?;
    row(out, "company", lead.company.as_deref().unwrap_or("-"))?;
    let zone = match lead.tz {
        Some(z) => z.name().to_string(),
        None => format!("{} (default)", tz.name()),
    };
    row(out, "time zone", &zone)?;
    row(out, "source", &lead.source)?;
    row(out, "sequence", &lead.sequence)?;
    row(
        out,
        "status",
        &format!("{} · stage {}", lead.status, lead.stage()),
    )?;
    let consent = |c: &Option<crate::domain::lead::ConsentGrant>| match c {
        Some(g) => format!("{} ({})", g.how, g.at.format("%Y-%m-%d")),
        None => "not recorded".into(),
    };
    row(
        out,
        "consent",
        &format!(
            "email: {}; sms: {}",
            consent(&lead.consent.email),
            consent(&lead.consent.sms)
        ),
    )?;
    for (k, v) in &lead.fields {
        row(out, "field", &format!("{k} = {v}"))?;
    }
    writeln!(out, "Timeline")?;
    for Event { at, kind } in &events {
        writeln!(
            out,
            "  {}  {}",
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            kind.describe()
        )?;
        if let EventKind::TouchSent { subject, body, .. } = kind {
            if let Some(subject) = subject {
                writeln!(out, "      Subject: {subject}")?;
            }
            for line in body.lines() {
                writeln!(out, "      | {line}")?;
            }
        }
    }
    if !touches.is_empty() {
        writeln!(out, "Outbox")?;
        for t in &touches {
            let dry = if t.dry_run { " [dry-run]" } else { "" };
            let error = t
                .last_error
                .as_deref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default();
            writeln!(
                out,
                "  #{} {} ({}) {}{dry}, {} attempt(s){error}",
                t.step + 1,
                t.step_id,
                t.channel,
                t.state.as_str(),
                t.attempts
            )?;
            if t.state == TouchState::InDoubt {
                writeln!(
                    out,
                    "      in doubt: settle with `nudge resolve {} sent` or `nudge resolve {} resend`",
                    lead.id, lead.id
                )?;
            }
        }
    }
    writeln!(out, "Next touch")?;
    match &next {
        Some((touch, message, waiting)) => {
            if *waiting {
                writeln!(
                    out,
                    "  waiting for you: do this {}, then `nudge mark {} called`",
                    touch.channel, lead.id
                )?;
            }
            write_touch(out, touch, message, tz, now)?
        }
        None => writeln!(
            out,
            "  none ({})",
            if lead.status.is_sendable() {
                "sequence finished"
            } else {
                "lead is not active"
            }
        )?,
    }
    Ok(())
}

/// A stored due touch in the shape the calendar printer takes.
fn planned(due: &Due) -> PlannedTouch {
    PlannedTouch {
        step: due.step as usize,
        step_id: due.step_id.clone(),
        channel: due.channel,
        at: due.at,
        skipped: Vec::new(),
    }
}

fn mark(ctx: &Context_, args: &MarkArgs, out: &mut impl Write) -> Result<()> {
    let mark: Mark = args.mark.parse().map_err(anyhow::Error::msg)?;
    let lead = ctx.handle()?.mark(&args.id, mark, args.note.as_deref())?;
    let next = match &lead.next {
        Some(n) => format!(
            "; next: {} ({}) {}",
            n.step_id,
            n.channel,
            relative(n.at, SystemClock.now())
        ),
        None => String::new(),
    };
    writeln!(out, "{} {} → {}{next}", lead.id, lead.name, lead.status)?;
    Ok(())
}

fn note(ctx: &Context_, args: &NoteArgs, out: &mut impl Write) -> Result<()> {
    let lead = ctx.handle()?.note(&args.id, &args.text.join(" "))?;
    writeln!(out, "{} {}: note added", lead.id, lead.name)?;
    Ok(())
}

fn edit(ctx: &Context_, args: EditArgs, out: &mut impl Write) -> Result<()> {
    let changes = crate::engine::LeadEdit {
        name: args.name,
        email: args.email,
        phone: args.phone,
        company: args.company,
    };
    let lead = ctx.handle()?.edit(&args.id, &changes)?;
    writeln!(
        out,
        "{} {} <{}> {} {}",
        lead.id,
        lead.name,
        lead.email.as_deref().unwrap_or("-"),
        lead.phone.as_deref().unwrap_or("-"),
        lead.company.as_deref().unwrap_or("-")
    )?;
    Ok(())
}

fn export_cmd(ctx: &Context_, args: &ExportArgs, out: &mut impl Write) -> Result<()> {
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

fn erase(ctx: &Context_, args: &EraseArgs, out: &mut impl Write) -> Result<()> {
    let lead = ctx.handle()?.erase(&args.id)?;
    writeln!(
        out,
        "erased {} ({}) and {} events; their contacts stay suppressed",
        lead.id, lead.name, lead.event_count
    )?;
    Ok(())
}

fn seq_list(ctx: &Context_, out: &mut impl Write) -> Result<()> {
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

fn seq_lint(ctx: &Context_, files: &[PathBuf], out: &mut impl Write) -> Result<ExitCode> {
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
        let found = lint(seq, &sample, &ctx.config.sender);
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
    Ok(if warnings == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    })
}

fn preview(ctx: &Context_, args: &PreviewArgs, out: &mut impl Write) -> Result<()> {
    let start = match &args.start {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--start `{s}` is not an RFC 3339 time such as 2026-12-01T09:00:00Z")
            })?
            .with_timezone(&Utc),
        None => SystemClock.now(),
    };
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
            writeln!(out, "{}", touch_json(touch, message, tz))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{} for {} ({}), starting {}",
        args.name,
        lead.name,
        tz.name(),
        start.to_rfc3339()
    )?;
    for (touch, message) in &plan {
        write_touch(out, touch, message, tz, start)?;
    }
    Ok(())
}

fn status(ctx: &Context_, out: &mut impl Write) -> Result<()> {
    let mut handle = ctx.handle()?;
    let report = handle.status()?;
    let owner = if handle.is_remote() {
        " (served by a running `nudge serve`)"
    } else {
        ""
    };
    writeln!(out, "data dir  {}{owner}", report.data_dir)?;
    for (status, n) in &report.by_status {
        writeln!(out, "  {:<11} {n}", status.as_str())?;
    }
    writeln!(out, "due now   {}", report.due_now)?;
    if report.in_doubt > 0 {
        writeln!(
            out,
            "in doubt  {} (see `nudge leads --in-doubt`, settle with `nudge resolve`)",
            report.in_doubt
        )?;
    }
    writeln!(
        out,
        "\nnext: `nudge add --name NAME --email EMAIL`, `nudge leads`, `nudge seq preview default`"
    )?;
    Ok(())
}

fn seed(ctx: &Context_, leads: u64, due: u64, out: &mut impl Write) -> Result<()> {
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

fn resolve(ctx: &Context_, args: &ResolveArgs, out: &mut impl Write) -> Result<()> {
    let how = match args.how.trim().to_ascii_lowercase().as_str() {
        "sent" => Resolution::Sent,
        "resend" => Resolution::Resend,
        other => bail!("unknown resolution `{other}` (expected sent or resend)"),
    };
    let lead = ctx.handle()?.resolve(&args.id, how)?;
    let next = match &lead.next {
        Some(n) => format!(
            "; next: {} ({}) {}",
            n.step_id,
            n.channel,
            relative(n.at, SystemClock.now())
        ),
        None => String::new(),
    };
    writeln!(
        out,
        "{} {} resolved as {}{next}",
        lead.id,
        lead.name,
        args.how.trim()
    )?;
    Ok(())
}

/// Logs to `nudge.log` in the data dir and, unless a TUI owns the screen, to
/// stderr; `NUDGE_LOG` sets the filter (default `info`). Returns the guard
/// that flushes the file on drop.
fn init_logging(
    data_dir: &Path,
    to_stderr: bool,
) -> Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let file = tracing_appender::rolling::never(data_dir, "nudge.log");
    let (file, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(to_stderr.then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr)))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))?;
    Ok(guard)
}

fn serve(ctx: &Context_) -> Result<()> {
    let engine = Arc::new(ctx.engine()?);
    let _log = init_logging(&ctx.paths.data_dir, true)?;
    tracing::info!(data_dir = %ctx.paths.data_dir.display(), "nudge serve starting");
    let runtime = async_runtime()?;
    runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let services = Services::start(ctx, engine.clone(), stopped, true).await?;
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            tracing::info!("stopping: finishing in-flight sends");
            let _ = stop.send(true);
        });
        services.join().await
    })?;
    engine.store().flush()?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The multi-threaded runtime the engine's services run on (2 cores is the
/// target machine).
fn async_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Everything the process that owns the database runs beside the engine:
/// the worker, the EngineHandle socket, the inbound HTTP server, the alert
/// webhooks and the IMAP watch. Started the same way by `nudge serve` and by the in-process TUI.
struct Services {
    worker: tokio::task::JoinHandle<Result<(), crate::engine::EngineError>>,
    others: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Starts every service; they stop when `stopped` turns true. With
    /// `http_required`, a port that cannot be bound is an error; otherwise
    /// (the TUI) it is logged and the rest runs without HTTP.
    async fn start(
        ctx: &Context_,
        engine: Arc<Engine>,
        stopped: tokio::sync::watch::Receiver<bool>,
        http_required: bool,
    ) -> Result<Services> {
        let transports = Transports::from_config(&ctx.config)?;
        tracing::info!("{}", transports.email.describe());
        tracing::info!("{}", transports.sms.describe());
        match &transports.call {
            Some(call) => tracing::info!("{}", call.describe()),
            None => tracing::info!("call: tasks for you (`nudge mark ID called`)"),
        }
        match &transports.llm {
            Some(llm) => tracing::info!("{}", llm.describe()),
            None => tracing::info!("ai: off (plain templates)"),
        }
        let data_dir = ctx.paths.data_dir.clone();
        let socket = crate::handle::bind(&data_dir).with_context(|| {
            format!(
                "cannot listen on {}",
                crate::handle::socket_path(&data_dir).display()
            )
        })?;
        tracing::info!(
            socket = %crate::handle::socket_path(&data_dir).display(),
            "other nudge commands on this data dir talk to this process"
        );
        let mut others = vec![tokio::spawn(crate::handle::serve(
            engine.clone(),
            socket,
            data_dir,
            stopped.clone(),
        ))];
        let address = ctx.config.server.listen.trim();
        if !address.is_empty() {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    tracing::info!(address, "inbound HTTP: intake, unsubscribe, webhooks");
                    let inbound = Arc::new(crate::inbound::Inbound::from_config(
                        engine.clone(),
                        &ctx.config,
                    ));
                    let http = crate::inbound::launch(listener, inbound, stopped.clone());
                    others.push(tokio::spawn(async move {
                        if let Err(e) = http.await {
                            tracing::error!(error = %e, "inbound HTTP stopped");
                        }
                    }));
                }
                Err(e) if http_required => {
                    return Err(anyhow::Error::from(e)
                        .context(format!("cannot listen on {address} ([server] listen)")));
                }
                Err(e) => {
                    tracing::warn!(address, error = %e, "inbound HTTP not started ([server] listen)")
                }
            }
        }
        if let Some(alerter) = crate::alerts::Alerter::from_config(&ctx.config.alerts)? {
            tracing::info!("{}", alerter.describe());
            others.push(tokio::spawn(
                alerter.run(engine.subscribe_alerts(), stopped.clone()),
            ));
        }
        if let Some(watcher) =
            crate::inbound::imap::Watcher::from_config(engine.clone(), &ctx.config.imap)?
        {
            tracing::info!("{}", watcher.describe());
            others.push(tokio::spawn(watcher.run(stopped.clone())));
        }
        let worker = Arc::new(Worker::new(
            engine,
            transports.into(),
            WorkerOptions::from_config(&ctx.config),
        ));
        Ok(Services {
            worker: tokio::spawn(worker.run(stopped)),
            others,
        })
    }

    /// Waits for every service to finish (after the stop signal).
    async fn join(self) -> Result<()> {
        let result = self.worker.await;
        for task in self.others {
            let _ = task.await;
        }
        match result {
            Ok(result) => Ok(result?),
            Err(e) => Err(anyhow::anyhow!("the worker task failed: {e}")),
        }
    }
}

/// The TUI's settings from the config: keys, themes, bell, the board's sequence.
fn tui_config(
    ctx: &Context_,
    catalog: &Catalog,
    clock: Arc<dyn Clock>,
    mode: &str,
) -> Result<crate::tui::app::AppConfig> {
    use crate::tui::theme::{ColorDepth, Themes};
    let keys = crate::tui::keys::KeyMap::with_overrides(&ctx.config.keys)?;
    let depth = ColorDepth::from_setting(
        &ctx.config.tui.colors,
        std::env::var("COLORTERM").ok().as_deref(),
    );
    let themes = Themes::load(Some(&ctx.paths.config_dir.join("themes")), depth);
    for problem in &themes.problems {
        tracing::warn!("theme: {problem}");
    }
    let sequence = catalog
        .get("default")
        .ok()
        .or_else(|| catalog.iter().next().map(|(s, _)| s))
        .cloned()
        .context("no sequence to show on the board; check `nudge seq list`")?;
    Ok(crate::tui::app::AppConfig {
        sequences: catalog.iter().map(|(s, _)| s.clone()).collect(),
        default_region: ctx.config.general.default_region.clone(),
        filter: catalog.iter().count() > 1,
        sequence,
        keys,
        themes,
        theme: ctx.config.tui.theme.clone(),
        clock,
        user_zone: crate::tui::app::UserZone::Local,
        default_tz: ctx.config.general.default_tz,
        bell: ctx.config.alerts.bell(&ctx.config.tui),
        idle_tick: if mode == "demo" {
            std::time::Duration::from_millis(500)
        } else {
            crate::tui::IDLE_TICK
        },
        mode: mode.to_string(),
    })
}

/// `nudge` on a terminal: attach to a running `nudge serve`, or run the
/// engine, the worker and the socket in this process with the TUI on top.
fn tui(ctx: &Context_) -> Result<()> {
    use crate::tui::Subscription;
    let data_dir = ctx.paths.data_dir.clone();
    if let Some(remote) = RemoteEngine::connect(&data_dir) {
        let catalog = ctx.catalog()?;
        let config = tui_config(ctx, &catalog, Arc::new(SystemClock), "attached")?;
        crate::tui::run_terminal(
            Box::new(move || Ok((EngineHandle::Remote(remote), Subscription::Remote(data_dir)))),
            config,
        )?;
        return Ok(());
    }
    // The board's chrome needs only the sequences; the database (slow to
    // open when large) opens on the TUI's I/O thread after the first frame.
    let catalog = ctx.catalog()?;
    let config = tui_config(ctx, &catalog, Arc::new(SystemClock), "local")?;
    let started: Arc<std::sync::Mutex<Option<LocalRun>>> = Arc::default();
    let slot = started.clone();
    let owned = ctx.clone();
    // Dropped when the opener has finished (or was never run): a quit while
    // the database is still opening waits for it, then stops cleanly.
    let (opened_tx, opened) = std::sync::mpsc::channel::<()>();
    let result = crate::tui::run_terminal(
        Box::new(move || {
            let _opened = opened_tx;
            let run = LocalRun::start(&owned).map_err(|e| format!("{e:#}"))?;
            let handle = EngineHandle::Local(run.engine.clone());
            let changes = Subscription::Local(run.engine.subscribe());
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
            Ok((handle, changes))
        }),
        config,
    );
    // Err means the opener is done: nothing is ever sent on this channel.
    let _ = opened.recv();
    let run = started.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(run) = run {
        run.stop()?;
    }
    result?;
    Ok(())
}

/// The engine, worker and inbound services of an in-process TUI.
struct LocalRun {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::watch::Sender<bool>,
    services: Services,
    _log: tracing_appender::non_blocking::WorkerGuard,
}

impl LocalRun {
    /// Opens the database and starts the services.
    fn start(ctx: &Context_) -> Result<LocalRun> {
        let data_dir = &ctx.paths.data_dir;
        let engine = Arc::new(ctx.engine()?);
        let log = init_logging(data_dir, false)?;
        tracing::info!(data_dir = %data_dir.display(), "nudge TUI starting with the engine in-process");
        let runtime = async_runtime()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let services = runtime.block_on(Services::start(ctx, engine.clone(), stopped, false))?;
        Ok(LocalRun {
            engine,
            runtime,
            stop,
            services,
            _log: log,
        })
    }

    /// Stops the services and makes every write durable.
    fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        if let Err(e) = self.runtime.block_on(self.services.join()) {
            tracing::error!(error = %e, "the engine stopped with an error");
        }
        self.engine.store().flush()?;
        Ok(())
    }
}

/// `nudge demo`: the TUI over [`crate::demo::Demo`].
fn demo(ctx: &Context_, args: &DemoArgs) -> Result<()> {
    use crate::tui::Subscription;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number of simulated hours per second");
    }
    let options = crate::demo::DemoOptions {
        speed: args.speed * 3600.0,
        leads: args.leads.clamp(1, 10_000),
    };
    let catalog = Catalog::load(&ctx.paths.config_dir)?;
    let start = crate::demo::demo_start(SystemClock.now());
    let demo = Arc::new(crate::demo::Demo::new(
        catalog,
        ctx.settings(),
        start,
        &options,
    )?);
    let config = tui_config(ctx, demo.engine.catalog(), demo.clock.clone(), "demo")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let driver = {
        let demo = demo.clone();
        runtime.spawn(async move { demo.drive(options.speed, stopped).await })
    };
    let engine = demo.engine.clone();
    let result = crate::tui::run_terminal(
        Box::new(move || {
            let changes = Subscription::Local(engine.subscribe());
            Ok((EngineHandle::Local(engine), changes))
        }),
        config,
    );
    let _ = stop.send(true);
    let _ = runtime.block_on(driver);
    result?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn simulate(ctx: &Context_, args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    let script = crate::simulate::parse_script(&args.script)
        .map_err(|e| anyhow::anyhow!("--script: {e}"))?;
    let start = match &args.start {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--start `{s}` is not an RFC 3339 time such as 2026-12-01T09:00:00Z")
            })?
            .with_timezone(&Utc),
        None => SystemClock.now(),
    };
    let options = crate::simulate::SimulateOptions {
        sequence: args.sequence.clone(),
        days: args.days,
        leads: args.leads,
        script,
        start,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(crate::simulate::simulate(
        ctx.catalog()?,
        ctx.settings(),
        &options,
    ))?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
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
            line.text
        )?;
    }
    for (lead, why) in &result.outcomes {
        writeln!(out, "lead {lead}: {why}")?;
    }
    Ok(())
}
