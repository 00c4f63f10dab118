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
//!
//! Per channel: an error that says the channel itself is unusable
//! ([`SendError::Unavailable`]) opens that channel's breaker (`health`):
//! its due touches stay in the due index untouched, spend no attempts, and
//! wait until a probe finds the channel working; other channels go on.
//!
//! A send task that panics is caught: its touch is in doubt, with the panic
//! message as the reason, never left in `sending`.

mod build;
mod health;
mod options;
mod prepare;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::FutureExt;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use super::{Change, Engine, EngineError};
use crate::channels::{Outgoing, Receipt, SendError, Transport};
use crate::domain::lead::{Due, LeadId};
use crate::domain::sequence::Channel;
use crate::domain::touch::{self, Outcome, Touch, apply_outcome};

pub use build::{Channels, Personaliser};
use options::Pacer;
pub use options::WorkerOptions;
use prepare::address;

/// A touch claimed in this pass, ready to send.
struct Claimed {
    touch: Touch,
    transport: Arc<dyn Transport>,
    /// The lead's next touch as claimed, to put back if the channel is down.
    due: Due,
}

/// What looking at one due entry came to.
enum Prepared {
    /// Claimed: send it.
    Claimed(Box<Claimed>),
    /// Its channel is down: it waits where it is, untouched.
    Held(Channel),
    /// Handled otherwise (moved, handed to the human, stale).
    Done,
}

/// A send task's result: the touch, what the channel said (or the panic
/// message) and the due entry it was claimed from.
type SendResult = (Touch, Result<Result<Receipt, SendError>, String>, Due);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Due entries looked at.
    pub examined: usize,
    /// Touches claimed and handed to a channel.
    pub sent: usize,
    /// Due touches left waiting because their channel is down.
    pub held: usize,
    /// The pass read as many entries as it could: more may be due.
    pub full: bool,
}

/// The worker. Cheap to share: `run` takes `Arc<Self>`.
pub struct Worker {
    engine: Arc<Engine>,
    channels: Channels,
    options: WorkerOptions,
    pacer: Mutex<Pacer>,
    /// Channel breakers; a std mutex, never held across an await.
    breakers: std::sync::Mutex<health::Breakers>,
    /// Entries held at the last pass: the next pass reads that many more,
    /// so touches waiting for a down channel never hide the others.
    held_last_pass: AtomicUsize,
}

/// The panic message of a send task, for the touch's reason.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

fn map_error(e: SendError, due: Due) -> Outcome {
    match e {
        SendError::Unavailable { reason, .. } => Outcome::ChannelDown { reason, due },
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

/// What a group commit announces once its flush is done.
#[derive(Default)]
struct Unflushed {
    /// Recorded outcomes.
    written: Vec<crate::engine::Written>,
    /// Activity lines about them.
    activity: Vec<Change>,
    /// Channel news (down, back), told once the touches that brought it
    /// are durable.
    notices: Vec<(Channel, crate::domain::breaker::Notice, DateTime<Utc>)>,
}

impl Worker {
    /// A worker over `engine` sending through `channels`.
    pub fn new(engine: Arc<Engine>, channels: Channels, options: WorkerOptions) -> Worker {
        let pacer = Pacer {
            min_gap: options.min_gap,
            rate_per_minute: options.rate_per_minute as usize,
            recent: VecDeque::new(),
        };
        let breakers = Self::initial_breakers(&engine, &channels);
        let worker = Worker {
            engine,
            channels,
            options,
            pacer: Mutex::new(pacer),
            breakers: std::sync::Mutex::new(breakers),
            held_last_pass: AtomicUsize::new(0),
        };
        worker.publish();
        worker
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
            self.check_channels().await;
            match self.run_due().await {
                Ok(report) if report.full => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "worker pass failed; retrying shortly");
                    tokio::time::sleep(StdDuration::from_secs(1)).await;
                    continue;
                }
            }
            let now = self.engine.now();
            let next = [self.next_unheld_due(now)?, self.next_channel_check()]
                .into_iter()
                .flatten()
                .min();
            let sleep_for = match next {
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

    /// The earliest due instant worth waking for: the head of the due index,
    /// or, while touches wait for a down channel (they stay at the head),
    /// the first entry after them.
    fn next_unheld_due(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, EngineError> {
        let held = self.waiting_total();
        if held == 0 {
            return Ok(self.engine.store().next_due_at()?);
        }
        let ahead = self
            .engine
            .store()
            .due_until(DateTime::<Utc>::MAX_UTC, held + 1)?;
        Ok(ahead.into_iter().map(|(at, _, _)| at).find(|at| *at > now))
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
        let limit = self.options.batch + self.held_last_pass.load(Ordering::Relaxed);
        let due = self.engine.store().due_until(now, limit)?;
        let mut report = PassReport {
            examined: due.len(),
            full: due.len() >= limit,
            ..PassReport::default()
        };
        let mut waiting: HashMap<Channel, usize> = HashMap::new();
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
                match self
                    .prepare(at, id, step, now, &claimed_per_channel)
                    .await?
                {
                    Prepared::Claimed(c) => {
                        let c = *c;
                        *claimed_per_channel.entry(c.touch.channel).or_default() += 1;
                        claimed.push(c);
                    }
                    Prepared::Held(channel) => {
                        report.held += 1;
                        *waiting.entry(channel).or_default() += 1;
                    }
                    Prepared::Done => {}
                }
            }
            // The claims (and the outcomes above) are durable before any
            // channel is called.
            self.commit(&mut unflushed, !claimed.is_empty())?;
            if claimed.is_empty() {
                break;
            }
            for c in claimed {
                if self.is_held(c.touch.channel) {
                    // The channel went down since the claim: put it back
                    // without calling it.
                    let down = SendError::Unavailable {
                        reason: format!("{} is unavailable", c.touch.channel),
                        credentials: false,
                    };
                    self.record(&c.touch, map_error(down, c.due), &mut unflushed)?;
                    continue;
                }
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
                    // A panic anywhere in the transport is caught here, so
                    // its touch is settled (in doubt) instead of left in
                    // `sending`.
                    let sent = std::panic::AssertUnwindSafe(c.transport.send(&outgoing))
                        .catch_unwind()
                        .await
                        .map_err(|payload| panic_message(payload.as_ref()));
                    (c.touch, sent, c.due)
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
        self.held_last_pass.store(report.held, Ordering::Relaxed);
        self.set_waiting(waiting);
        Ok(report)
    }

    /// Records a finished send task's outcome (not yet flushed).
    fn settle(
        &self,
        done: Result<SendResult, tokio::task::JoinError>,
        unflushed: &mut Unflushed,
    ) -> Result<(), EngineError> {
        let (touch, sent, due) = match done {
            Ok(result) => result,
            // Panics are caught inside the task; this is a task cancelled
            // by a runtime shutting down. Its touch stays in `sending`, and
            // the next start turns it into in-doubt, the honest state.
            Err(e) => {
                tracing::error!(error = %e, "a send task failed");
                return Ok(());
            }
        };
        let outcome = match sent {
            Ok(Ok(receipt)) => {
                if !touch.dry_run {
                    self.channel_up(touch.channel, unflushed);
                }
                Outcome::Sent {
                    provider_id: receipt.provider_id,
                }
            }
            Ok(Err(SendError::Unavailable {
                reason,
                credentials,
            })) => {
                self.channel_down(touch.channel, &reason, credentials, unflushed);
                Outcome::ChannelDown { reason, due }
            }
            Ok(Err(e)) => map_error(e, due),
            Err(panic) => {
                tracing::error!(lead = %touch.lead_id, "a send task panicked: {panic}");
                Outcome::InDoubt {
                    reason: format!(
                        "the send failed unexpectedly (panic: {panic}); it may or may not have been delivered"
                    ),
                }
            }
        };
        self.record(&touch, outcome, unflushed)
    }

    /// One flush for everything recorded or claimed since the last one, then
    /// the announcements.
    fn commit(&self, unflushed: &mut Unflushed, claimed: bool) -> Result<(), EngineError> {
        if unflushed.written.is_empty()
            && unflushed.activity.is_empty()
            && unflushed.notices.is_empty()
            && !claimed
        {
            return Ok(());
        }
        self.engine.store().flush()?;
        for written in unflushed.written.drain(..) {
            self.engine.announce(written);
        }
        for change in unflushed.activity.drain(..) {
            self.engine.changed(change);
        }
        for (channel, notice, at) in unflushed.notices.drain(..) {
            self.tell(channel, Some(notice), at);
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
            Outcome::ChannelDown { reason, .. } => format!(
                "{} ({}) waits: the channel is unavailable ({reason})",
                touch.step_id, touch.channel
            ),
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
}
