//! `nudge doctor`: what going live would do with this config, before it
//! does it. `nudge serve` prints the same summary at start and refuses to
//! send live when a template would render a sender setting that is empty.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Context_, problems_exit};
use crate::catalog::{Catalog, Origin};
use crate::channels::Transports;
use crate::clock::{Clock, SystemClock};
use crate::domain::lead::{Due, Lead};
use crate::domain::lint::{SenderGap, sample_lead, sender_gaps};
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::status::Status;
use crate::engine::Settings;
use crate::present::{relative, safe};

/// What `doctor` found: a line per channel, the problems (a live message
/// would be wrong), the warnings (worth fixing before going live), when
/// each sequence's first touch goes out, and the next touches due.
pub(super) struct Checkup {
    channels: Vec<String>,
    problems: Vec<String>,
    warnings: Vec<String>,
    first_touch: Vec<String>,
    next_due: Option<Vec<(Lead, Due)>>,
    /// Sequences whose templates use an empty sender setting on a live channel.
    live_gaps: Vec<(String, Vec<SenderGap>)>,
}

pub(super) fn doctor(ctx: &Context_, out: &mut impl Write) -> Result<ExitCode> {
    let catalog = ctx.catalog();
    let next_due = ctx
        .handle()
        .and_then(|mut h| Ok(h.status()?.next_due))
        .map_err(|e| format!("{e:#}"));
    let mut checkup = match &catalog {
        Ok(catalog) => Checkup::examine(ctx, catalog, next_due.as_ref().ok().cloned()),
        Err(e) => {
            let mut c = Checkup::examine(ctx, &Catalog::default(), None);
            c.problems.push(format!("sequences: {e:#}"));
            c
        }
    };
    if let Err(e) = next_due {
        checkup
            .warnings
            .push(format!("cannot read the database: {e}"));
    }
    checkup.write(ctx, out)?;
    Ok(problems_exit(checkup.problems.len()))
}

impl Checkup {
    /// Checks the config and the sequences; `next_due` comes from the engine.
    pub(super) fn examine(
        ctx: &Context_,
        catalog: &Catalog,
        next_due: Option<Vec<(Lead, Due)>>,
    ) -> Checkup {
        let config = &ctx.config;
        let file = ctx.paths.config_file.display().to_string();
        let mut c = Checkup {
            channels: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            first_touch: Vec::new(),
            next_due,
            live_gaps: Vec::new(),
        };
        let mut live: Vec<Channel> = Vec::new();
        match Transports::from_config(config) {
            Ok(t) => {
                for (name, transport) in [("email", Some(&t.email)), ("sms", Some(&t.sms))]
                    .into_iter()
                    .chain([("call", t.call.as_ref())])
                {
                    let line = match transport {
                        Some(t) if t.is_live() => format!("live     {}", t.describe()),
                        Some(t) => format!("dry-run  {}", t.describe()),
                        None => "tasks    you call; then `nudge mark ID called`".into(),
                    };
                    c.channels.push(format!("{name:<6} {line}"));
                }
                let ai = match &t.llm {
                    Some(llm) => format!("on       {}", llm.describe()),
                    None => "off      plain templates".into(),
                };
                c.channels.push(format!("{:<6} {ai}", "ai"));
                for channel in [Channel::Email, Channel::Sms, Channel::Call] {
                    if t.for_channel(channel).is_some_and(|t| t.is_live()) {
                        live.push(channel);
                    }
                }
            }
            Err(e) => c
                .problems
                .push(format!("channels: {e}; `nudge serve` will not start")),
        }
        let email_live = live.contains(&Channel::Email);
        // A gap on a live channel is a problem; on a dry one, a warning.
        let mut flag = |is_live: bool, text: String| {
            if is_live {
                c.problems.push(text)
            } else {
                c.warnings.push(format!("{text} (when live)"))
            }
        };
        for (seq, origin) in catalog.iter() {
            let origin = match origin {
                Origin::Builtin => "built-in".to_string(),
                Origin::File(path) => path.display().to_string(),
            };
            for gap in sender_gaps(seq, &config.sender, |_| true) {
                let on_live = gap.channels.iter().any(|ch| live.contains(ch));
                let channels: Vec<&str> = gap.channels.iter().map(|ch| ch.as_str()).collect();
                flag(
                    on_live,
                    format!(
                        "sequence `{}` ({origin}) uses {} in {} steps, but [sender] {} is unset in {file}: those messages render with a hole",
                        seq.name,
                        gap.variable,
                        channels.join(" and "),
                        gap.key
                    ),
                );
            }
        }
        if config.email.postal_address.trim().is_empty() {
            flag(
                email_live,
                format!(
                    "[email] postal_address is unset in {file}: emails carry no postal address, which CAN-SPAM requires"
                ),
            );
        }
        let unset: Vec<&str> = [
            ("public_url", config.server.public_url.trim().is_empty()),
            ("link_secret", config.server.link_secret.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, empty)| empty.then_some(key))
        .collect();
        if !unset.is_empty() {
            flag(
                email_live,
                format!(
                    "[server] {} unset in {file}: emails have no one-click unsubscribe link (RFC 8058), which Gmail and Yahoo require of bulk senders",
                    unset.join(" and ")
                ),
            );
        }
        for (seq, _) in catalog.iter() {
            let has_sms = seq.steps.iter().any(|s| s.channel == Channel::Sms);
            if has_sms && !live.contains(&Channel::Sms) {
                c.warnings.push(format!(
                    "sequence `{}` has SMS steps but [sms] is not configured: they are rendered and recorded, not sent",
                    seq.name
                ));
            }
        }
        if config.imap.url.trim().is_empty() {
            c.warnings.push(
                "[imap] url is unset: replies will not stop sequences; mark them with `nudge mark ID replied`".into(),
            );
        }
        if !config.server.listen.trim().is_empty() && config.server.intake_token.is_empty() {
            c.warnings.push(format!(
                "[server] listen is set but intake_token is unset in {file}: POST /api/leads refuses every lead, so web-form leads are lost"
            ));
        }
        let settings = ctx.settings();
        for (seq, _) in catalog.iter() {
            c.first_touch.push(format!(
                "{:<16} {}",
                seq.name,
                first_touch(catalog, &settings, seq)
            ));
        }
        for (seq, _) in catalog.iter() {
            let gaps: Vec<SenderGap> = sender_gaps(seq, &config.sender, |ch| live.contains(&ch));
            if !gaps.is_empty() {
                c.live_gaps.push((seq.name.clone(), gaps));
            }
        }
        c
    }

    /// Prints the summary.
    pub(super) fn write(&self, ctx: &Context_, out: &mut (impl Write + ?Sized)) -> Result<()> {
        writeln!(out, "nudge doctor: {}", ctx.paths.config_file.display())?;
        writeln!(out, "Channels")?;
        for line in &self.channels {
            writeln!(out, "  {line}")?;
        }
        for (title, lines) in [("Problems", &self.problems), ("Warnings", &self.warnings)] {
            if !lines.is_empty() {
                writeln!(out, "{title}")?;
                for line in lines {
                    writeln!(out, "  - {line}")?;
                }
            }
        }
        writeln!(out, "First touch")?;
        for line in &self.first_touch {
            writeln!(out, "  {line}")?;
        }
        writeln!(out, "Next due")?;
        match &self.next_due {
            Some(due) if due.is_empty() => writeln!(out, "  nothing scheduled")?,
            Some(due) => {
                let now = SystemClock.now();
                for (lead, next) in due {
                    let who = match &lead.company {
                        Some(company) => format!("{} ({company})", lead.name),
                        None => lead.name.clone(),
                    };
                    writeln!(
                        out,
                        "  {:<12} {:<5} {:<16} {}  {}",
                        relative(next.at, now),
                        next.channel.as_str(),
                        next.step_id,
                        safe(&who),
                        lead.id
                    )?;
                }
            }
            None => writeln!(out, "  unknown (the database could not be read)")?,
        }
        let verdict = if self.problems.is_empty() {
            "nothing would make a live message wrong"
        } else {
            "fix the problems before sending live"
        };
        writeln!(
            out,
            "{} problem(s), {} warning(s): {verdict}",
            self.problems.len(),
            self.warnings.len()
        )?;
        Ok(())
    }

    /// Refuses live sending when a sequence's templates use a sender
    /// setting that is empty on a live channel, naming every key and file.
    pub(super) fn refuse_live_gaps(&self, ctx: &Context_) -> Result<()> {
        if self.live_gaps.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<&str> = Vec::new();
        let mut lines = Vec::new();
        for (seq, gaps) in &self.live_gaps {
            for gap in gaps {
                if !keys.contains(&gap.key) {
                    keys.push(gap.key);
                }
            }
            let used: Vec<&str> = gaps.iter().map(|g| g.variable).collect();
            lines.push(format!("sequence `{seq}` uses {}", used.join(", ")));
        }
        bail!(
            "refusing to send live: {} on a live channel, but [sender] {} {} unset or empty in {}. \
             Set {} there (or NUDGE_SENDER_* in the environment), or give the sequence a file in {} \
             that does not use {}; `nudge doctor` lists everything",
            lines.join("; "),
            keys.join(", "),
            if keys.len() == 1 { "is" } else { "are" },
            ctx.paths.config_file.display(),
            if keys.len() == 1 { "it" } else { "them" },
            ctx.paths.config_dir.join("sequences").display(),
            if keys.len() == 1 { "it" } else { "them" },
        )
    }
}

/// When `seq`'s first touch goes out for a lead in the default zone,
/// measured for a capture at every hour of a week: immediate, or how long
/// the worst capture time waits.
fn first_touch(catalog: &Catalog, settings: &Settings, seq: &Sequence) -> String {
    let tz: Tz = settings.default_tz;
    let Some(first) = seq.steps.first() else {
        return "no steps".into();
    };
    // Any fixed Monday: the week is measured hour by hour from it.
    let monday = NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let mut worst: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for hour in 0..7 * 24 {
        let Some(start) = tz
            .from_local_datetime(&(monday + Duration::hours(hour)))
            .earliest()
        else {
            continue;
        };
        let start = start.with_timezone(&Utc);
        let mut lead: Lead = sample_lead(start);
        lead.tz = Some(tz);
        lead.status = Status::Active;
        let Ok(plan) = crate::engine::preview(catalog, settings, &seq.name, &lead, start) else {
            return "cannot be planned (see `nudge seq lint`)".into();
        };
        let Some((touch, _)) = plan.first() else {
            continue;
        };
        if worst.is_none_or(|(s, t)| touch.at - start > t - s) {
            worst = Some((start, touch.at));
        }
    }
    let Some((captured, sent)) = worst else {
        return "never goes out for a sample lead".into();
    };
    let beyond_delay = (sent - captured) - first.delay;
    if beyond_delay < Duration::minutes(1) {
        return if first.delay < Duration::minutes(1) {
            "immediate, at any hour".into()
        } else {
            format!(
                "{} min after capture, at any hour",
                first.delay.num_minutes()
            )
        };
    }
    format!(
        "waits for the window: a lead captured {} ({}) hears from you {} ({}h later)",
        captured.with_timezone(&tz).format("%a %H:%M"),
        tz.name(),
        sent.with_timezone(&tz).format("%a %H:%M"),
        (sent - captured).num_hours()
    )
}
