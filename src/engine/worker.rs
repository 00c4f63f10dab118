//! The worker: turns the `due` index into delivered messages, at most once.
//!
//! Modelled on mini-redis's purge task: one tokio task sleeps until the
//! earliest due touch or until the engine wakes it (new lead, mark), then
//! claims a batch, makes the claims durable with one flush, sends them with
//! bounded concurrency and records each outcome durably.
//!
//! Per touch: `pending → sending` is flushed before the channel is called and
//! `sending → sent | failed | in-doubt` after. A `sending` found at start-up
//! becomes `in-doubt` ([`Worker::recover`]) and is never resent without a human.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Change, Engine, EngineError};
use crate::channels::{Outgoing, SendError, Transport};
use crate::domain::event::{Event, EventKind};
use crate::domain::lead::{Due, Lead, LeadId};
use crate::domain::links::{self, LinkRef};
use crate::domain::mark::{LeadUpdate, reschedule};
use crate::domain::render::{Message, render_step, text_to_html, text_to_html_with};
use crate::domain::schedule::{in_window, next_open};
use crate::domain::sequence::{Channel, Sequence, Window};
use crate::domain::touch::{self, ClaimRefused, Outcome, Touch, TouchState, apply_outcome};
use crate::domain::tracking;

/// Rewrites a rendered message for one lead (the LLM); failures fall back to
/// the plain template.
#[async_trait::async_trait]
pub trait Personaliser: Send + Sync {
    /// The rewritten message, or why it could not be rewritten.
    async fn personalise(
        &self,
        sequence: &Sequence,
        step: usize,
        lead: &Lead,
        message: &Message,
    ) -> Result<Message, String>;
}

/// Where each channel's touches go.
pub struct Channels {
    /// Email transport (SMTP or dry-run).
    pub email: Arc<dyn Transport>,
    /// SMS transport (Twilio or dry-run).
    pub sms: Arc<dyn Transport>,
    /// Call transport; `None` means calls are tasks for the human.
    pub call: Option<Arc<dyn Transport>>,
    /// LLM personalisation, when configured.
    pub personaliser: Option<Arc<dyn Personaliser>>,
}

/// Limits and message furniture from the config.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Due entries claimed per pass.
    pub batch: usize,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Minimum time between two send starts.
    pub min_gap: StdDuration,
    /// Most send starts per minute; 0 means no limit.
    pub rate_per_minute: u64,
    /// Live sends per UTC day per channel; 0 or absent means no cap.
    pub daily_caps: HashMap<Channel, u64>,
    /// Domain for Message-IDs (from the `from` address).
    pub message_id_domain: String,
    /// Postal address for the email footer.
    pub postal_address: String,
    /// Public base URL and secret for signed unsubscribe links.
    pub unsubscribe: Option<(String, Vec<u8>)>,
    /// `mailto:` target for List-Unsubscribe.
    pub unsubscribe_mailto: Option<String>,
    /// Track opens and clicks: rewrite email links to the signed click
    /// redirect and add the open pixel to HTML alternatives. Uses the base
    /// URL and secret of `unsubscribe`, so it needs them.
    pub tracking: bool,
    /// Pace sends in real time (off for simulations on a manual clock).
    pub pace: bool,
}

impl WorkerOptions {
    /// Limits and message furniture as `nudge serve` derives them from the
    /// config: caps, pacing, the Message-ID domain (from `[email] from`), the
    /// postal address and signed unsubscribe links.
    pub fn from_config(config: &crate::config::Config) -> WorkerOptions {
        let from = &config.email.from;
        let address = from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(from)
            .trim();
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "nudge.invalid".to_string());
        let reply = config
            .email
            .reply_to
            .clone()
            .unwrap_or_else(|| address.to_string());
        let unsubscribe = (!config.server.public_url.trim().is_empty()
            && !config.server.link_secret.is_empty())
        .then(|| {
            (
                config.server.public_url.trim().to_string(),
                config.server.link_secret.expose().as_bytes().to_vec(),
            )
        });
        let mut daily_caps = std::collections::HashMap::new();
        daily_caps.insert(Channel::Email, config.email.daily_cap);
        daily_caps.insert(Channel::Sms, config.sms.daily_cap);
        WorkerOptions {
            min_gap: StdDuration::from_secs(config.engine.min_gap_secs),
            concurrency: config.engine.concurrency.clamp(1, 256) as usize,
            rate_per_minute: config.engine.rate_per_minute,
            daily_caps,
            message_id_domain: domain,
            postal_address: config.email.postal_address.clone(),
            tracking: unsubscribe.is_some() && config.server.tracking,
            unsubscribe,
            unsubscribe_mailto: reply
                .contains('@')
                .then(|| format!("mailto:{reply}?subject=unsubscribe")),
            ..WorkerOptions::default()
        }
    }
}

impl std::fmt::Debug for WorkerOptions {
    /// Everything but the link secret, which signs unsubscribe and tracking
    /// tokens and must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("batch", &self.batch)
            .field("concurrency", &self.concurrency)
            .field("min_gap", &self.min_gap)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("daily_caps", &self.daily_caps)
            .field("message_id_domain", &self.message_id_domain)
            .field("postal_address", &self.postal_address)
            .field(
                "unsubscribe",
                &self.unsubscribe.as_ref().map(|(base, _)| (base, "***")),
            )
            .field("unsubscribe_mailto", &self.unsubscribe_mailto)
            .field("tracking", &self.tracking)
            .field("pace", &self.pace)
            .finish()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            batch: 64,
            concurrency: 8,
            min_gap: StdDuration::ZERO,
            rate_per_minute: 0,
            daily_caps: HashMap::new(),
            message_id_domain: "nudge.invalid".into(),
            postal_address: String::new(),
            unsubscribe: None,
            unsubscribe_mailto: None,
            tracking: false,
            pace: true,
        }
    }
}

/// Spaces send starts by `min_gap` and at most `rate_per_minute`.
struct Pacer {
    min_gap: StdDuration,
    rate_per_minute: usize,
    recent: VecDeque<Instant>,
}

impl Pacer {
    async fn wait_turn(&mut self) {
        let now = Instant::now();
        let mut at = now;
        if let Some(&last) = self.recent.back() {
            at = at.max(last + self.min_gap);
        }
        let window_start = self.recent.len().checked_sub(self.rate_per_minute);
        if let Some(&oldest) = window_start
            .filter(|_| self.rate_per_minute > 0)
            .and_then(|i| self.recent.get(i))
        {
            at = at.max(oldest + StdDuration::from_secs(60));
        }
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        self.recent.push_back(at);
        let keep = self.rate_per_minute.max(1);
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
    }
}

/// A touch claimed in this pass, ready to send.
struct Claimed {
    touch: Touch,
    transport: Arc<dyn Transport>,
}

/// A send task's result: the touch and what the channel said.
type SendResult = (Touch, Outcome);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Due entries looked at.
    pub examined: usize,
    /// Touches claimed and handed to a channel.
    pub sent: usize,
}

/// The worker. Cheap to share: `run` takes `Arc<Self>`.
pub struct Worker {
    engine: Arc<Engine>,
    channels: Channels,
    options: WorkerOptions,
    pacer: Mutex<Pacer>,
}

fn map_error(e: SendError) -> Outcome {
    match e {
        SendError::Transient {
            reason,
            retry_after,
        } => Outcome::Transient {
            reason,
            retry_after: retry_after.and_then(|d| Duration::from_std(d).ok()),
        },
        SendError::Permanent { reason } => Outcome::Permanent { reason },
        SendError::InDoubt { reason } => Outcome::InDoubt { reason },
        SendError::OptedOut { reason } => Outcome::OptedOut { reason },
    }
}

/// Where a touch on `channel` goes for `lead` as it is now.
fn address(lead: &Lead, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => lead.email.clone(),
        Channel::Sms | Channel::Call => lead.phone.clone(),
        Channel::Task => Some(String::new()),
    }
}

/// The window a due touch must be inside: its step's, or only the
/// quiet-hours limit when a human asked for "now".
fn effective_window(seq: &Sequence, due: &Due) -> Window {
    if due.immediate {
        Window::ALWAYS.for_channel(due.channel)
    } else {
        seq.step_window(due.step as usize)
    }
}

/// What a group commit announces once its flush is done.
#[derive(Default)]
struct Unflushed {
    /// Recorded outcomes.
    written: Vec<crate::engine::Written>,
    /// Activity lines about them.
    activity: Vec<Change>,
}

impl Worker {
    /// A worker over `engine` sending through `channels`.
    pub fn new(engine: Arc<Engine>, channels: Channels, options: WorkerOptions) -> Worker {
        let pacer = Pacer {
            min_gap: options.min_gap,
            rate_per_minute: options.rate_per_minute as usize,
            recent: VecDeque::new(),
        };
        Worker {
            engine,
            channels,
            options,
            pacer: Mutex::new(pacer),
        }
    }

    /// The engine this worker serves.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Turns every touch left in `sending` by a crash into `in-doubt`, so it
    /// is shown to a human and never resent blindly. Returns how many.
    pub fn recover(&self) -> Result<usize, EngineError> {
        let mut settled = 0;
        for touch in self.engine.store().sending()? {
            let result = self.engine.update(touch.lead_id, |current, _, ctx| {
                Ok::<_, EngineError>(apply_outcome(
                    current,
                    &touch,
                    Outcome::InDoubt {
                        reason:
                            "nudge stopped while sending; it may or may not have been delivered"
                                .into(),
                    },
                    &self.engine.outcome_context(ctx),
                ))
            });
            match result {
                Ok(_) => settled += 1,
                Err(EngineError::Store(crate::store::StoreError::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(settled)
    }

    /// Runs until `shutdown` turns true, then finishes in-flight sends and returns.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), EngineError> {
        let wake = self.engine.wake_signal();
        let recovered = self.recover()?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "touches were in flight at the last stop; they are now in doubt"
            );
        }
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            match self.run_due().await {
                Ok(report) if report.examined >= self.options.batch => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "worker pass failed; retrying shortly");
                    tokio::time::sleep(StdDuration::from_secs(1)).await;
                    continue;
                }
            }
            let now = self.engine.now();
            let sleep_for = match self.engine.store().next_due_at()? {
                Some(at) if at <= now => StdDuration::ZERO,
                Some(at) => (at - now)
                    .to_std()
                    .unwrap_or(StdDuration::ZERO)
                    .min(StdDuration::from_secs(60)),
                None => StdDuration::from_secs(60),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep_for) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One pass over what is due now (up to a batch). At most `concurrency`
    /// touches are in flight, and a touch counts as in flight until its
    /// outcome is durable, so a crash leaves at most that many in doubt.
    /// Group commit: each round records the outcomes of the sends that
    /// finished, claims as many touches as there are free slots, and makes
    /// all of it durable with one flush before any of those channels is
    /// called. Used by `run` and by simulations.
    pub async fn run_due(&self) -> Result<PassReport, EngineError> {
        let now = self.engine.now();
        let due = self.engine.store().due_until(now, self.options.batch)?;
        let mut report = PassReport {
            examined: due.len(),
            sent: 0,
        };
        let concurrency = self.options.concurrency.max(1);
        let mut sends = JoinSet::new();
        let mut claimed_per_channel: HashMap<Channel, u64> = HashMap::new();
        // Outcomes recorded but not yet flushed; announced after the flush.
        let mut unflushed = Unflushed::default();
        let mut due = due.into_iter();
        loop {
            while sends.len() >= concurrency {
                if let Some(done) = sends.join_next().await {
                    self.settle(done, &mut unflushed)?;
                }
            }
            while let Some(done) = sends.try_join_next() {
                self.settle(done, &mut unflushed)?;
            }
            let mut claimed = Vec::new();
            while sends.len() + claimed.len() < concurrency {
                let Some((at, id, step)) = due.next() else {
                    break;
                };
                if let Some(c) = self
                    .prepare(at, id, step, now, &claimed_per_channel)
                    .await?
                {
                    *claimed_per_channel.entry(c.touch.channel).or_default() += 1;
                    claimed.push(c);
                }
            }
            // The claims (and the outcomes above) are durable before any
            // channel is called.
            self.commit(&mut unflushed, !claimed.is_empty())?;
            if claimed.is_empty() {
                break;
            }
            for c in claimed {
                if self.options.pace {
                    self.pacer.lock().await.wait_turn().await;
                }
                if let Some(cancelled) = self.cancel_if_inactive(&c.touch)? {
                    tracing::info!(lead = %cancelled, "touch cancelled: lead no longer active");
                    continue;
                }
                report.sent += 1;
                let outgoing = Outgoing {
                    touch_id: c.touch.id(),
                    lead_id: c.touch.lead_id,
                    channel: c.touch.channel,
                    to: c.touch.to.clone(),
                    to_name: c.touch.to_name.clone(),
                    subject: c.touch.message.subject.clone(),
                    body: c.touch.message.body.clone(),
                    message_id: c.touch.message_id.clone(),
                    in_reply_to: c.touch.in_reply_to.clone(),
                    references: c.touch.references.clone(),
                    list_unsubscribe: c.touch.list_unsubscribe.clone(),
                    html: c.touch.html.clone(),
                };
                sends.spawn(async move {
                    let outcome = match c.transport.send(&outgoing).await {
                        Ok(receipt) => Outcome::Sent {
                            provider_id: receipt.provider_id,
                        },
                        Err(e) => map_error(e),
                    };
                    (c.touch, outcome)
                });
            }
        }
        while let Some(done) = sends.join_next().await {
            self.settle(done, &mut unflushed)?;
            while let Some(done) = sends.try_join_next() {
                self.settle(done, &mut unflushed)?;
            }
            self.commit(&mut unflushed, false)?;
        }
        Ok(report)
    }

    /// Records a finished send task's outcome (not yet flushed).
    fn settle(
        &self,
        done: Result<SendResult, tokio::task::JoinError>,
        unflushed: &mut Unflushed,
    ) -> Result<(), EngineError> {
        match done {
            Ok((touch, outcome)) => self.record(&touch, outcome, unflushed),
            // A panicking transport leaves its touch in `sending`; the next
            // start turns it into in-doubt, which is the honest state.
            Err(e) => {
                tracing::error!(error = %e, "a send task failed");
                Ok(())
            }
        }
    }

    /// One flush for everything recorded or claimed since the last one, then
    /// the announcements.
    fn commit(&self, unflushed: &mut Unflushed, claimed: bool) -> Result<(), EngineError> {
        if unflushed.written.is_empty() && unflushed.activity.is_empty() && !claimed {
            return Ok(());
        }
        self.engine.store().flush()?;
        for written in unflushed.written.drain(..) {
            self.engine.announce(written);
        }
        for change in unflushed.activity.drain(..) {
            self.engine.changed(change);
        }
        Ok(())
    }

    /// Re-reads the lead just before the channel call: a reply or opt-out that
    /// landed after the claim still stops the message.
    fn cancel_if_inactive(&self, touch: &Touch) -> Result<Option<LeadId>, EngineError> {
        let active = self
            .engine
            .store()
            .lead(touch.lead_id)?
            .is_some_and(|l| l.status.is_sendable());
        if active {
            return Ok(None);
        }
        let now = self.engine.now();
        self.engine.update(touch.lead_id, |current, _, _| {
            Ok::<_, EngineError>(touch::cancel(current, touch, now))
        })?;
        Ok(Some(touch.lead_id))
    }

    fn record(
        &self,
        touch: &Touch,
        outcome: Outcome,
        unflushed: &mut Unflushed,
    ) -> Result<(), EngineError> {
        let line = match &outcome {
            Outcome::Sent { .. } if touch.dry_run => {
                format!("{} ({}) recorded [dry-run]", touch.step_id, touch.channel)
            }
            Outcome::Sent { .. } => {
                format!("{} ({}) sent to {}", touch.step_id, touch.channel, touch.to)
            }
            Outcome::Transient { reason, .. } => {
                format!("{} ({}) will retry: {reason}", touch.step_id, touch.channel)
            }
            Outcome::Permanent { reason } => {
                format!("{} ({}) failed: {reason}", touch.step_id, touch.channel)
            }
            Outcome::InDoubt { reason } => {
                format!("{} ({}) in doubt: {reason}", touch.step_id, touch.channel)
            }
            Outcome::OptedOut { reason } => {
                format!("{} ({}) opted out: {reason}", touch.step_id, touch.channel)
            }
        };
        tracing::info!(lead = %touch.lead_id, "{line}");
        let result = self
            .engine
            .update_unflushed(touch.lead_id, |current, _, ctx| {
                Ok::<_, EngineError>(apply_outcome(
                    current,
                    touch,
                    outcome.clone(),
                    &self.engine.outcome_context(ctx),
                ))
            });
        // The activity line names the lead from the record just written: no
        // second read on the worker's path.
        let activity = match result {
            Ok(written) => {
                let activity = Change::activity(written.lead(), line);
                unflushed.written.push(written);
                activity
            }
            // Erased while sending: nothing left to record against.
            Err(EngineError::Store(crate::store::StoreError::NotFound(_))) => {
                Change::anonymous_activity(touch.lead_id, line)
            }
            Err(e) => return Err(e),
        };
        unflushed.activity.push(activity);
        Ok(())
    }

    /// Moves the lead's next touch to `at`, with a note saying why.
    fn postpone(
        &self,
        lead: &Lead,
        due: &Due,
        at: DateTime<Utc>,
        why: String,
    ) -> Result<(), EngineError> {
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                let mut next = expected.clone();
                next.at = at;
                events.push(EventKind::TouchScheduled {
                    step: next.step_id.clone(),
                    channel: next.channel,
                    due: at,
                });
                events.push(EventKind::Note { text: why.clone() });
                lead.next = Some(next);
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }

    /// Looks at one due entry: hands human tasks to the human, moves touches
    /// outside their window or over a cap, and claims the rest.
    async fn prepare(
        &self,
        at: DateTime<Utc>,
        id: LeadId,
        step: u32,
        now: DateTime<Utc>,
        claimed_now: &HashMap<Channel, u64>,
    ) -> Result<Option<Claimed>, EngineError> {
        let store = self.engine.store();
        let settings = self.engine.settings();
        let lead = store.lead(id)?;
        let due = lead.as_ref().and_then(|l| {
            l.next.clone().filter(|d| {
                d.step == step
                    && d.at.timestamp_millis() == at.timestamp_millis()
                    && !d.awaiting_human
            })
        });
        let (Some(lead), Some(due)) = (lead, due) else {
            // An index entry nothing points at any more.
            store.remove_due(at, id)?;
            return Ok(None);
        };
        let seq = match self.engine.catalog().get(&lead.sequence) {
            Ok(seq) if (due.step as usize) < seq.steps.len() => seq,
            Ok(_) | Err(_) => {
                let why = format!(
                    "sequence `{}` (step {}) is not available; retrying in an hour",
                    lead.sequence, due.step_id
                );
                tracing::error!(lead = %id, "{why}");
                self.postpone(&lead, &due, now + Duration::hours(1), why)?;
                return Ok(None);
            }
        };
        let transport = match due.channel {
            Channel::Email => Some(self.channels.email.clone()),
            Channel::Sms => Some(self.channels.sms.clone()),
            Channel::Call => self.channels.call.clone(),
            Channel::Task => None,
        };
        let Some(transport) = transport else {
            self.hand_to_human(&lead, &due)?;
            return Ok(None);
        };
        let tz = lead.tz.unwrap_or(settings.default_tz);
        let window = effective_window(seq, &due);
        if let Some(open) = next_open(now, tz, window).filter(|_| !in_window(now, tz, window)) {
            self.postpone(
                &lead,
                &due,
                open,
                format!("{} moved to the next sending window", due.step_id),
            )?;
            return Ok(None);
        }
        let cap = self
            .options
            .daily_caps
            .get(&due.channel)
            .copied()
            .unwrap_or(0);
        if cap > 0 && transport.is_live() {
            let used = store.sent_on(due.channel, now)?
                + claimed_now.get(&due.channel).copied().unwrap_or(0);
            if used >= cap {
                let tomorrow = (now + Duration::days(1))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(now + Duration::days(1));
                let open = next_open(tomorrow, tz, window).unwrap_or(tomorrow);
                self.postpone(
                    &lead,
                    &due,
                    open,
                    format!(
                        "daily {} cap of {cap} reached; moved to the next day",
                        due.channel
                    ),
                )?;
                return Ok(None);
            }
        }
        let touch = match store.touch(id, due.step)? {
            Some(mut existing) if existing.state == TouchState::Pending => {
                // A retry keeps its words, but goes to the contact the lead
                // has now: an edit since the last attempt may have corrected
                // (or removed) the address the touch was built for.
                let Some(to) = address(&lead, existing.channel) else {
                    let why = format!("lead has no address for {}", existing.channel);
                    self.give_up_step(&lead, &due, why)?;
                    return Ok(None);
                };
                existing.to = to;
                existing.to_name = lead.name.clone();
                existing
            }
            Some(existing) => {
                // Never send a touch twice: a settled touch is not claimed again.
                let why = format!(
                    "{} is already {}; not sending it again",
                    existing.step_id,
                    existing.state.as_str()
                );
                self.hold(&lead, &due, why)?;
                return Ok(None);
            }
            None => match self
                .build_touch(&lead, seq, &due, transport.as_ref(), now)
                .await
            {
                Ok(touch) => touch,
                Err(why) => {
                    self.give_up_step(&lead, &due, why)?;
                    return Ok(None);
                }
            },
        };
        let seen = lead.event_count;
        let claimed_touch = touch.clone();
        let expected = due.clone();
        let outcome = store.update_lead(id, now, |current, facts| {
            touch::claim(
                current,
                facts.suppressed_for(claimed_touch.channel),
                &expected,
                seen,
                &claimed_touch,
                now,
            )
        })?;
        match outcome {
            Ok(after) if after.status.is_sendable() => {
                let mut touch = touch;
                touch.state = TouchState::Sending;
                touch.attempts += 1;
                Ok(Some(Claimed { touch, transport }))
            }
            Ok(_) => {
                self.engine.changed(Change::Lead(id));
                Ok(None)
            }
            Err(ClaimRefused::Stale) => Ok(None),
        }
    }

    /// A call or task came due: it waits for the human, out of the worker's way.
    fn hand_to_human(&self, lead: &Lead, due: &Due) -> Result<(), EngineError> {
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            if let Some(next) = lead.next.as_mut().filter(|n| **n == expected) {
                next.awaiting_human = true;
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, Vec::new()))
        })?;
        self.engine.activity(
            lead.id,
            format!("{} ({}) is due: over to you", due.step_id, due.channel),
        );
        Ok(())
    }

    /// Takes the lead off the due index with a note, for a human to look at.
    fn hold(&self, lead: &Lead, due: &Due, why: String) -> Result<(), EngineError> {
        let expected = due.clone();
        tracing::warn!(lead = %lead.id, "{why}");
        self.engine.update(lead.id, |current, _, _| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                lead.next = None;
                events.push(EventKind::Note { text: why.clone() });
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }

    /// A step that cannot be built for this lead (a template fails): record
    /// it as failed and move on to the next step.
    fn give_up_step(&self, lead: &Lead, due: &Due, why: String) -> Result<(), EngineError> {
        tracing::error!(lead = %lead.id, "{why}");
        let expected = due.clone();
        self.engine.update(lead.id, |current, _, ctx| {
            let mut lead = current.clone();
            let mut events = Vec::new();
            if lead.next.as_ref() == Some(&expected) {
                let failed = EventKind::TouchFailed {
                    step: expected.step_id.clone(),
                    channel: expected.channel,
                    reason: why.clone(),
                    permanent: false,
                    gave_up: true,
                };
                let mut history = ctx.events.to_vec();
                history.push(Event {
                    at: ctx.now,
                    kind: failed.clone(),
                });
                events.push(failed);
                events.extend(reschedule(
                    &mut lead,
                    ctx.sequence,
                    &history,
                    ctx.now,
                    ctx.settings.default_tz,
                ));
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
        Ok(())
    }

    /// Renders (and maybe personalises) the touch, adds the compliance footer
    /// and threading headers. The result is stored, so retries reuse it.
    async fn build_touch(
        &self,
        lead: &Lead,
        seq: &Sequence,
        due: &Due,
        transport: &dyn Transport,
        now: DateTime<Utc>,
    ) -> Result<Touch, String> {
        let step_index = due.step as usize;
        let settings = self.engine.settings();
        let mut message = render_step(seq, step_index, lead, &settings.sender)
            .map_err(|e| format!("cannot render: {e}"))?;
        let mut ai_note = None;
        if seq.steps[step_index].ai {
            ai_note = Some(match &self.channels.personaliser {
                Some(ai) => match ai.personalise(seq, step_index, lead, &message).await {
                    Ok(rewritten) => {
                        message = rewritten;
                        "personalised".to_string()
                    }
                    Err(e) => format!("plain template sent: {e}"),
                },
                None => "plain template sent: no LLM configured".to_string(),
            });
        }
        let to = address(lead, due.channel)
            .ok_or_else(|| format!("lead has no address for {}", due.channel))?;
        let mut touch = Touch {
            lead_id: lead.id,
            step: due.step,
            step_id: due.step_id.clone(),
            channel: due.channel,
            state: TouchState::Pending,
            attempts: 0,
            to,
            to_name: lead.name.clone(),
            message,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            list_unsubscribe: Vec::new(),
            html: None,
            links: Vec::new(),
            dry_run: !transport.is_live(),
            ai_note,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
        };
        if due.channel == Channel::Email {
            self.add_email_furniture(&mut touch)
                .map_err(|e| e.to_string())?;
            let step = &seq.steps[step_index];
            let authored = tracking::authored_links(&step.body, &settings.sender);
            self.add_tracking_and_html(&mut touch, step.html, &authored);
        }
        Ok(touch)
    }

    /// With tracking on, rewrites the body's `authored` links (never the
    /// unsubscribe link, never a link a lead's own values brought in) to
    /// signed click redirects, remembering the originals on the touch, and
    /// puts the open pixel in the HTML alternative. Builds the HTML
    /// alternative when the step asks for one, tracked or not.
    fn add_tracking_and_html(&self, touch: &mut Touch, html: bool, authored: &[String]) {
        let Some((base, secret)) = self
            .options
            .unsubscribe
            .as_ref()
            .filter(|_| self.options.tracking)
        else {
            if html {
                touch.html = Some(text_to_html(&touch.message.body));
            }
            return;
        };
        let base = base.trim_end_matches('/');
        let unsubscribe = format!("{base}/u/");
        let (lead, step) = (touch.lead_id, touch.step);
        let sign = |purpose: &str, index: usize| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            links::sign_link(secret, purpose, LinkRef { lead, step, index })
        };
        let original = touch.message.body.clone();
        let tracked = tracking::tracked_links(&original, |url| {
            url.starts_with(&unsubscribe) || !authored.iter().any(|a| a == url)
        });
        let click = |index: usize| format!("{base}/c/{}", sign(tracking::CLICK, index));
        touch.message.body = tracking::rewrite_links(&original, &tracked, click);
        if html {
            let page = text_to_html_with(&original, |url| {
                match tracked.iter().position(|l| l == url) {
                    Some(index) => click(index),
                    None => url.to_string(),
                }
            });
            let pixel = format!("{base}/o/{}.gif", sign(tracking::OPEN, 0));
            touch.html = Some(tracking::add_pixel(&page, &pixel));
        }
        touch.links = tracked;
    }

    /// Footer (postal address, unsubscribe link), Message-ID and threading.
    fn add_email_furniture(&self, touch: &mut Touch) -> Result<(), EngineError> {
        let opts = &self.options;
        let unsubscribe_url = opts.unsubscribe.as_ref().map(|(base, secret)| {
            format!(
                "{}/u/{}",
                base.trim_end_matches('/'),
                links::sign(secret, "unsubscribe", touch.lead_id)
            )
        });
        let mut footer = Vec::new();
        if !opts.postal_address.trim().is_empty() {
            footer.push(opts.postal_address.trim().to_string());
        }
        if let Some(url) = &unsubscribe_url {
            footer.push(format!("Unsubscribe: {url}"));
        }
        if !footer.is_empty() {
            touch.message.body = format!("{}\n\n{}", touch.message.body, footer.join("\n"));
        }
        touch.list_unsubscribe = unsubscribe_url
            .into_iter()
            .chain(opts.unsubscribe_mailto.clone())
            .collect();
        touch.message_id = Some(touch::message_id(
            touch.lead_id,
            touch.step,
            &opts.message_id_domain,
        ));
        let mut earlier: Vec<Touch> = self
            .engine
            .store()
            .touches(touch.lead_id)?
            .into_iter()
            .filter(|t| {
                t.channel == Channel::Email && t.state == TouchState::Sent && t.step < touch.step
            })
            .collect();
        earlier.sort_by_key(|t| t.step);
        touch.references = earlier
            .iter()
            .filter_map(|t| t.message_id.clone())
            .collect();
        touch.in_reply_to = touch.references.first().cloned();
        Ok(())
    }
}

impl From<crate::channels::Transports> for Channels {
    fn from(t: crate::channels::Transports) -> Channels {
        Channels {
            email: t.email,
            sms: t.sms,
            call: t.call,
            personaliser: t.llm.map(|llm| Arc::new(llm) as Arc<dyn Personaliser>),
        }
    }
}

#[async_trait::async_trait]
impl Personaliser for crate::channels::LlmClient {
    async fn personalise(
        &self,
        sequence: &Sequence,
        step: usize,
        lead: &Lead,
        message: &Message,
    ) -> Result<Message, String> {
        let mut facts = vec![
            ("name".to_string(), lead.name.clone()),
            ("first_name".to_string(), lead.first_name().to_string()),
        ];
        if let Some(company) = &lead.company {
            facts.push(("company".to_string(), company.clone()));
        }
        facts.extend(lead.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        let channel = sequence
            .steps
            .get(step)
            .map(|s| s.channel)
            .unwrap_or(Channel::Email);
        crate::channels::LlmClient::personalise(
            self,
            &sequence.brief,
            &facts,
            message,
            channel,
            &[],
        )
        .await
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_link_secret() {
        let options = WorkerOptions {
            unsubscribe: Some(("https://nudge.example.com".into(), b"s3cr3t-key".to_vec())),
            ..WorkerOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(shown.contains("https://nudge.example.com"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        // Nor as the bytes a derived Debug would print.
        let bytes = format!("{:?}", b"s3cr3t-key".to_vec());
        assert!(!shown.contains(bytes.trim_matches(['[', ']'])), "{shown}");
    }
}
