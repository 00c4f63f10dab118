//! `nudge seq lint --spam`: every email of a sequence, built for the sample
//! lead by the real worker (footer, unsubscribe headers, threading, HTML
//! alternative) into the exact bytes it would send, scored by SpamAssassin.
//! Runs in a throw-away store on a manual clock: nothing is sent or kept.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use super::Context_;
use crate::catalog::{Catalog, Origin};
use crate::channels::spam_check::{self, TARGET_SCORE};
use crate::channels::{DryRunTransport, EmailTransport, Outgoing, Receipt, SendError, Transport};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{EmailSettings, Secret};
use crate::domain::lead::LeadInput;
use crate::domain::sequence::{Channel, Sequence};
use crate::engine::Engine;
use crate::engine::worker::{Channels, Worker, WorkerOptions};
use crate::present::safe;
use crate::store::Store;

/// Upper bound on worker passes per sequence (one per touch is enough).
const MAX_PASSES: usize = 100;

/// Builds the messages with the real SMTP client's builder and keeps them.
struct Capture {
    email: EmailTransport,
    sent: Mutex<Vec<(Option<String>, Vec<u8>)>>,
}

#[async_trait::async_trait]
impl Transport for Capture {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        let raw = self.email.render(touch)?;
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((touch.subject.clone(), raw));
        Ok(Receipt {
            provider_id: None,
            dry_run: false,
        })
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "spam check (nothing is sent)".into()
    }
}

/// Scores every email of each sequence and prints the rules that fired;
/// returns how many scored at or above [`TARGET_SCORE`].
pub(super) fn lint_spam(
    ctx: &Context_,
    sequences: &[(Sequence, String)],
    out: &mut impl Write,
) -> Result<usize> {
    let Some(program) = spam_check::find_spamassassin() else {
        bail!(
            "--spam needs SpamAssassin, which is not installed; install it \
             (Debian/Ubuntu: apt-get install spamassassin) and run again"
        );
    };
    let mut over = 0;
    for (seq, origin) in sequences {
        let messages = render_emails(ctx, seq)?;
        if messages.is_empty() {
            writeln!(out, "{origin}: spam: no email steps")?;
        }
        for (subject, raw) in messages {
            let report = spam_check::score(&program, &raw)?;
            let verdict = if report.score < TARGET_SCORE {
                "ok"
            } else {
                over += 1;
                "warning: too spammy"
            };
            writeln!(
                out,
                "{origin}: spam: {:.1} points (target < {TARGET_SCORE:.1}) {verdict}: {}",
                report.score,
                safe(subject.as_deref().unwrap_or("(no subject)"))
            )?;
            for line in report.rule_lines() {
                writeln!(out, "    {}", safe(&line))?;
            }
        }
    }
    Ok(over)
}

/// The raw emails the worker would send `seq`'s sample lead, in order.
fn render_emails(ctx: &Context_, seq: &Sequence) -> Result<Vec<(Option<String>, Vec<u8>)>> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let store = Store::open(&dir.path().join("data"), 1 << 20)?;
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let catalog = Catalog::single(seq.clone(), Origin::Builtin);
    let engine = Arc::new(Engine::new(store, catalog, ctx.settings(), clock.clone()));
    let config = &ctx.config.email;
    let from = if config.from.trim().is_empty() {
        "Sam <sam@example.com>".to_string()
    } else {
        config.from.clone()
    };
    // Never connected: only its message builder is used.
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from("smtp://127.0.0.1:25?tls=none"),
        from,
        reply_to: config.reply_to.clone(),
        ..EmailSettings::default()
    })?
    .with_clock(clock.clone());
    let capture = Arc::new(Capture {
        email,
        sent: Mutex::new(Vec::new()),
    });
    let channels = Channels {
        email: capture.clone(),
        sms: Arc::new(DryRunTransport::new(Channel::Sms, "spam check")),
        call: None,
        personaliser: None,
    };
    let options = WorkerOptions {
        pace: false,
        daily_caps: Default::default(),
        rate_per_minute: 0,
        min_gap: std::time::Duration::ZERO,
        ..WorkerOptions::from_config(&ctx.config)
    };
    let worker = Worker::new(engine.clone(), channels, options);
    // The sample lead, email only: SMS and call steps are skipped.
    let id = engine.add(&LeadInput {
        name: "Alex Rivera".into(),
        email: Some("alex@example.com".into()),
        company: Some("Example Co".into()),
        source: "preview".into(),
        sequence: Some(seq.name.clone()),
        ..LeadInput::default()
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for _ in 0..MAX_PASSES {
        runtime.block_on(worker.run_due())?;
        match engine.store().lead(id)?.and_then(|lead| lead.next) {
            Some(next) => clock.set(next.at),
            None => {
                let sent =
                    std::mem::take(&mut *capture.sent.lock().unwrap_or_else(|e| e.into_inner()));
                return Ok(sent);
            }
        }
    }
    bail!(
        "sequence `{}` did not finish within {MAX_PASSES} passes",
        seq.name
    )
}
