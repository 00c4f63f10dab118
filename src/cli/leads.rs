//! The commands on single leads: add, leads, show, mark, note, edit, erase
//! and resolve.

use std::io::Write;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use super::seq::{planned, touch_json, write_message, write_touch};
use super::{Context_, next_suffix};
use crate::clock::{Clock, SystemClock};
use crate::domain::event::{Event, EventKind};
use crate::domain::lead::{Lead, LeadInput, Stage, parse_field};
use crate::domain::mark::Mark;
use crate::domain::status::Status;
use crate::domain::touch::{Resolution, TouchState};
use crate::engine::LeadView;
use crate::handle::ListQuery;
use crate::present::{self, relative, safe, safe_json};
use crate::store::ListFilter;

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

/// `nudge erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Lead id or unique prefix.
    pub id: String,
}

/// `nudge resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Lead id or unique prefix.
    pub id: String,
    /// `sent` (it arrived; move on) or `resend` (send it again, same words and Message-ID).
    pub how: String,
}

pub(super) fn add(ctx: &Context_, args: AddArgs, out: &mut impl Write) -> Result<()> {
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
    // A bad phone next to a good email is kept out, not refused: say so.
    for warning in input.warnings(ctx.config.general.default_region.as_deref()) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// A lead as JSON, with its derived stage.
fn lead_json(lead: &Lead) -> serde_json::Value {
    let mut v = serde_json::to_value(lead).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.insert("stage".into(), json!(lead.stage().to_string()));
    }
    v
}

pub(super) fn leads(ctx: &Context_, args: &LeadsArgs, out: &mut impl Write) -> Result<()> {
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
            writeln!(out, "{}", safe_json(&lead_json(lead).to_string()))?;
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

pub(super) fn show(ctx: &Context_, args: &ShowArgs, out: &mut impl Write) -> Result<()> {
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
        writeln!(out, "{}", safe_json(&serde_json::to_string_pretty(&v)?))?;
        return Ok(());
    }
    let now = SystemClock.now();
    writeln!(out, "{}  ({})", safe(&lead.name), lead.id)?;
    // Every value here may come from the lead: escaped for the terminal.
    let row = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "  {k:<10} {}", safe(v));
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
            safe(&kind.describe())
        )?;
        if let EventKind::TouchSent { subject, body, .. } = kind {
            write_message(out, "      ", subject.as_deref(), body)?;
        }
    }
    if !touches.is_empty() {
        writeln!(out, "Outbox")?;
        for t in &touches {
            let dry = if t.dry_run { " [dry-run]" } else { "" };
            let error = t
                .last_error
                .as_deref()
                .map(|e| format!(" — {}", safe(e)))
                .unwrap_or_default();
            writeln!(
                out,
                "  #{} {} ({}) {}{dry}, {} attempt(s){error}",
                t.step + 1,
                safe(&t.step_id),
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

pub(super) fn mark(ctx: &Context_, args: &MarkArgs, out: &mut impl Write) -> Result<()> {
    let mark: Mark = args.mark.parse().map_err(anyhow::Error::msg)?;
    let lead = ctx.handle()?.mark(&args.id, mark, args.note.as_deref())?;
    let next = next_suffix(&lead);
    writeln!(
        out,
        "{} {} → {}{next}",
        lead.id,
        safe(&lead.name),
        lead.status
    )?;
    Ok(())
}

pub(super) fn note(ctx: &Context_, args: &NoteArgs, out: &mut impl Write) -> Result<()> {
    let lead = ctx.handle()?.note(&args.id, &args.text.join(" "))?;
    writeln!(out, "{} {}: note added", lead.id, safe(&lead.name))?;
    Ok(())
}

pub(super) fn edit(ctx: &Context_, args: EditArgs, out: &mut impl Write) -> Result<()> {
    let changes = crate::engine::LeadEdit {
        name: args.name,
        email: args.email,
        phone: args.phone.clone(),
        company: args.company,
    };
    let lead = ctx.handle()?.edit(&args.id, &changes)?;
    // The edit kept the email and left out a phone it could not read: say so.
    let check = LeadInput {
        name: lead.name.clone(),
        email: lead.email.clone(),
        phone: args.phone,
        tz: lead.tz.map(|tz| tz.name().to_string()),
        ..LeadInput::default()
    };
    for warning in check.warnings(ctx.config.general.default_region.as_deref()) {
        eprintln!("warning: {warning}");
    }
    writeln!(
        out,
        "{} {} <{}> {} {}",
        lead.id,
        safe(&lead.name),
        safe(lead.email.as_deref().unwrap_or("-")),
        safe(lead.phone.as_deref().unwrap_or("-")),
        safe(lead.company.as_deref().unwrap_or("-"))
    )?;
    Ok(())
}

pub(super) fn erase(ctx: &Context_, args: &EraseArgs, out: &mut impl Write) -> Result<()> {
    let lead = ctx.handle()?.erase(&args.id)?;
    writeln!(
        out,
        "erased {} ({}) and {} events; their contacts stay suppressed",
        lead.id,
        safe(&lead.name),
        lead.event_count
    )?;
    Ok(())
}

pub(super) fn resolve(ctx: &Context_, args: &ResolveArgs, out: &mut impl Write) -> Result<()> {
    let how = match args.how.trim().to_ascii_lowercase().as_str() {
        "sent" => Resolution::Sent,
        "resend" => Resolution::Resend,
        other => bail!("unknown resolution `{other}` (expected sent or resend)"),
    };
    let lead = ctx.handle()?.resolve(&args.id, how)?;
    let next = next_suffix(&lead);
    writeln!(
        out,
        "{} {} resolved as {}{next}",
        lead.id,
        safe(&lead.name),
        args.how.trim()
    )?;
    Ok(())
}
