//! The commands that change leads, composing pure domain decisions with
//! atomic, flushed store writes. The CLI calls these today; the worker and
//! the `EngineHandle` socket will call the same ones.

mod health;
mod mail;
mod read;
pub mod worker;

pub use health::{ChannelAlert, ChannelAlertKind, ChannelStatus, Notification};
pub use read::{BoardCard, LeadView, NEXT_DUE_SHOWN, StatusReport};

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::catalog::{Catalog, CatalogError};
use crate::clock::Clock;
use crate::domain::event::{AlertKind, Event, EventKind};
use crate::domain::lead::{Lead, LeadError, LeadId, LeadInput, ValidLead};
use crate::domain::mark::{LeadUpdate, Mark, MarkContext, MarkError, decide, reschedule};
use crate::domain::render::{Message, RenderError, Sender, render_step};
use crate::domain::rules::{DEFAULT_HOT_THRESHOLD, Signal, SignalContext, on_signal};
use crate::domain::schedule::{PlannedTouch, calendar};
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::touch::{
    OutcomeContext, Resolution, ResolveError, RetryPolicy, TouchState, resolve,
};
use crate::store::{Facts, InsertOutcome, NewLeadWrite, Store, StoreError};
use tokio::sync::{Notify, broadcast};

/// Settings the engine needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Zone for leads without one.
    pub default_tz: Tz,
    /// Region for phone numbers without a country code.
    pub default_region: Option<String>,
    /// Sender variables for templates.
    pub sender: Sender,
    /// How failed sends are retried.
    pub retry: RetryPolicy,
}

impl Settings {
    /// The engine's settings from the config (retry waits clamped to sane bounds).
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            default_tz: config.general.default_tz,
            default_region: config.general.default_region.clone(),
            sender: config.sender.clone(),
            retry: RetryPolicy {
                max_attempts: config.engine.max_attempts.clamp(1, u64::from(u32::MAX)) as u32,
                base: chrono::Duration::seconds(
                    config.engine.retry_base_secs.clamp(1, 86_400) as i64
                ),
                cap: chrono::Duration::hours(6),
            },
        }
    }
}

/// Why a command failed, in words for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad lead input.
    #[error(transparent)]
    Lead(#[from] LeadError),
    /// Store failure or unknown id.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing in doubt to resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No next touch to send now.
    #[error("lead {0} has no next touch to send (status {1})")]
    NothingToSend(LeadId, String),
    /// Unknown or broken sequence.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A mark the lead's state forbids.
    #[error(transparent)]
    Mark(#[from] MarkError),
    /// A template fails for this lead.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Same email or phone as an existing lead.
    #[error("a lead with this {by} already exists: {existing}")]
    Duplicate {
        /// The existing lead.
        existing: LeadId,
        /// `email` or `phone`.
        by: &'static str,
    },
    /// The contact opted out (or was erased) before.
    #[error("this contact is on the suppression list ({reason}); nudge will not contact them")]
    Suppressed {
        /// Why.
        reason: String,
    },
    /// The lead kept changing under us.
    #[error("lead {0} kept changing while being updated; try again")]
    Contended(LeadId),
    /// A note with no text.
    #[error("a note needs some text")]
    EmptyNote,
    /// An edit that changes nothing was asked for.
    #[error("nothing to change: give at least one of name, email, phone or company")]
    NothingToEdit,
}

/// Maps the store's refusals of an edited contact to the same errors intake gives.
fn contact_error(e: StoreError) -> EngineError {
    match e {
        StoreError::ContactTaken { by, existing } => EngineError::Duplicate { existing, by },
        StoreError::ContactSuppressed { reason, .. } => EngineError::Suppressed { reason },
        other => EngineError::Store(other),
    }
}

/// Changes to a lead's contact details, for [`Engine::edit`]. `None` keeps a
/// field; an empty string clears an optional one (email, phone, company).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LeadEdit {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New company.
    pub company: Option<String>,
}

impl LeadEdit {
    /// Whether it asks for anything.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.company.is_none()
    }
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What a decision inside [`Engine::update`] may look at.
pub struct UpdateContext<'a> {
    /// The lead's sequence.
    pub sequence: &'a Sequence,
    /// The lead's events, read just before the transaction.
    pub events: &'a [Event],
    /// The instant of the change.
    pub now: DateTime<Utc>,
    /// Engine settings.
    pub settings: &'a Settings,
}

impl UpdateContext<'_> {
    /// The same facts, shaped for [`decide`].
    pub fn mark_context(&self) -> MarkContext<'_> {
        MarkContext {
            sequence: self.sequence,
            events: self.events,
            now: self.now,
            default_tz: self.settings.default_tz,
            sender: &self.settings.sender,
        }
    }
}

/// A lead change written to the store but not flushed yet. Listeners and
/// alerts hear of it only through [`Engine::announce`], after the flush, so
/// nobody is told about a change a crash could still undo.
#[must_use = "announce it once it is flushed"]
#[derive(Debug)]
pub struct Written {
    lead: Lead,
    events: Vec<EventKind>,
    at: DateTime<Utc>,
}

/// The command side of nudge.
pub struct Engine {
    store: Store,
    catalog: Catalog,
    settings: Settings,
    clock: Arc<dyn Clock>,
    /// A mutex because ids must be strictly increasing across callers within
    /// one millisecond; the generator keeps the last id.
    ids: Mutex<ulid::Generator>,
    /// Wakes the worker when something may have become due (new lead, mark),
    /// so it never sleeps past work; `Notify` keeps one wake-up if the worker
    /// is busy, which is all it needs.
    wake: Arc<Notify>,
    /// Change notifications for the TUI and the socket; a broadcast so slow
    /// subscribers lag (and resync) instead of slowing the engine.
    changes: broadcast::Sender<Change>,
    /// Hot score at which a lead turns hot (`[engine] hot_threshold`).
    hot_threshold: u32,
    /// Alerts for the webhooks; a broadcast so a slow receiver lags instead
    /// of slowing the engine, and sending with no receiver costs nothing.
    alerts: broadcast::Sender<Notification>,
    /// Each channel's health as the worker last published it; a mutex
    /// because status reads are rare and the value is small.
    channel_health: Mutex<Vec<health::ChannelStatus>>,
    /// Daily send caps per channel (`[email] daily_cap`, `[sms] daily_cap`),
    /// for the Stats screen; the worker enforces them.
    daily_caps: Vec<(Channel, u64)>,
}

/// Something a human should hear about at once, with the lead as it is
/// after the change (for the Slack text and the CRM event).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// The lead after the change.
    pub lead: Lead,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The event's own words (bounce reason, hot score…).
    pub detail: String,
}

/// What changed, for subscribers that keep a view up to date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    /// A lead was added, changed or erased; re-read it.
    Lead(LeadId),
    /// The worker did something worth showing in an activity stream.
    Activity {
        /// The lead.
        lead: LeadId,
        /// Who it is ("Ada Lovelace (Acme)"), so the stream names them
        /// without a read; empty from an older server.
        #[serde(default)]
        who: String,
        /// What happened, one line.
        text: String,
    },
}

impl Change {
    /// An activity line about `lead`, naming them ("Ada Lovelace (Acme)").
    pub fn activity(lead: &Lead, text: String) -> Change {
        let who = match &lead.company {
            Some(company) => format!("{} ({company})", lead.name),
            None => lead.name.clone(),
        };
        Change::Activity {
            lead: lead.id,
            who,
            text,
        }
    }

    /// An activity line about a lead that can no longer be read (erased).
    pub fn anonymous_activity(lead: LeadId, text: String) -> Change {
        Change::Activity {
            lead,
            who: lead.to_string(),
            text,
        }
    }
}

impl Written {
    /// The lead as written.
    pub fn lead(&self) -> &Lead {
        &self.lead
    }
}

impl Engine {
    /// Builds an engine over an open store.
    pub fn new(
        store: Store,
        catalog: Catalog,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Engine {
        Engine {
            store,
            catalog,
            settings,
            clock,
            ids: Mutex::new(ulid::Generator::new()),
            wake: Arc::new(Notify::new()),
            changes: broadcast::channel(1024).0,
            hot_threshold: DEFAULT_HOT_THRESHOLD,
            alerts: broadcast::channel(256).0,
            channel_health: Mutex::new(Vec::new()),
            daily_caps: Vec::new(),
        }
    }

    /// Sets the daily caps the Stats screen compares today's sends with.
    pub fn with_daily_caps(mut self, caps: Vec<(Channel, u64)>) -> Engine {
        self.daily_caps = caps;
        self
    }

    /// Publishes a line for the activity stream, naming the lead (one point
    /// read; an erased lead is named by its id).
    pub fn activity(&self, lead: LeadId, text: String) {
        self.changed(match self.store.lead(lead) {
            Ok(Some(l)) => Change::activity(&l, text),
            _ => Change::anonymous_activity(lead, text),
        });
    }

    /// Sets the hot-score threshold (0 turns hot scoring off).
    pub fn with_hot_threshold(mut self, threshold: u32) -> Engine {
        self.hot_threshold = threshold;
        self
    }

    /// The worker's wake-up signal.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Subscribes to change notifications.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Subscribes to alerts (reply, booking, hot, bounce, in doubt).
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Notification> {
        self.alerts.subscribe()
    }

    /// Publishes a change and wakes the worker.
    pub fn changed(&self, change: Change) {
        // No subscribers is normal (headless, CLI): nothing to do.
        let _ = self.changes.send(change);
        self.wake.notify_one();
    }

    /// The store, for read-only queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sequences.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn next_id(&self, now: DateTime<Utc>) -> LeadId {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let id = match ids.generate_from_datetime(now.into()) {
            Ok(id) => id,
            Err(overflow) => overflow.commit_overflow_random(),
        };
        LeadId(id)
    }

    /// Validates raw input (phone region from the config).
    pub fn validate(&self, input: &LeadInput) -> Result<ValidLead> {
        Ok(input.validate(self.settings.default_region.as_deref())?)
    }

    /// Turns a valid lead into a record with an id and its first touch on the calendar.
    pub fn prepare(
        &self,
        valid: ValidLead,
        sequence: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<NewLeadWrite> {
        let seq = self.catalog.get(sequence.unwrap_or("default"))?;
        let source = valid.source.clone();
        let mut lead = valid.into_lead(self.next_id(now), seq.name.clone(), now);
        let mut events = vec![Event {
            at: now,
            kind: EventKind::Captured { source },
        }];
        if let Some(kind) = reschedule(&mut lead, seq, &events, now, self.settings.default_tz) {
            events.push(Event { at: now, kind });
        }
        Ok(NewLeadWrite {
            lead,
            events,
            idempotency_key: None,
        })
    }

    /// Adds one lead; returns once it is durable.
    pub fn add(&self, input: &LeadInput) -> Result<LeadId> {
        self.add_once(input, None).map(|(id, _)| id)
    }

    /// Adds one lead unless `idempotency_key` was seen before (a retried
    /// post), in which case the earlier lead's id comes back. Returns the id
    /// and whether it was created now. Durable when it returns.
    pub fn add_once(
        &self,
        input: &LeadInput,
        idempotency_key: Option<&str>,
    ) -> Result<(LeadId, bool)> {
        let now = self.clock.now();
        let valid = self.validate(input)?;
        let mut write = self.prepare(valid, input.sequence.as_deref(), now)?;
        write.idempotency_key = idempotency_key.map(str::to_string);
        let outcome = self.store.insert_leads(std::slice::from_ref(&write))?;
        self.store.flush()?;
        match outcome.into_iter().next() {
            Some(InsertOutcome::Inserted(id)) => {
                self.changed(Change::Lead(id));
                Ok((id, true))
            }
            Some(InsertOutcome::Replayed(id)) => Ok((id, false)),
            Some(InsertOutcome::Duplicate { existing, by }) => {
                Err(EngineError::Duplicate { existing, by })
            }
            Some(InsertOutcome::Suppressed { reason }) => Err(EngineError::Suppressed { reason }),
            None => unreachable!("one write gives one outcome"),
        }
    }

    /// Resolves an id or unique prefix.
    pub fn resolve(&self, prefix: &str) -> Result<LeadId> {
        Ok(self.store.resolve(prefix)?)
    }

    fn lead(&self, id: LeadId) -> Result<Lead> {
        self.store
            .lead(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()).into())
    }

    /// Reads a lead and its events, decides a change purely and applies it
    /// atomically, retrying if another writer got in between; flushes and
    /// announces the change.
    pub fn update<E>(
        &self,
        id: LeadId,
        decide: impl Fn(&Lead, &Facts, &UpdateContext<'_>) -> std::result::Result<LeadUpdate, E>,
    ) -> Result<Lead>
    where
        EngineError: From<E>,
    {
        let written = self.update_unflushed(id, decide)?;
        self.store.flush()?;
        Ok(self.announce(written))
    }

    /// Tells listeners (the TUI, alerts) about a change that is now durable.
    pub fn announce(&self, written: Written) -> Lead {
        self.changed(Change::Lead(written.lead.id));
        self.alert(&written.lead, &written.events, written.at);
        written.lead
    }

    /// [`Engine::update`] without the flush and the announcement, for
    /// callers that group several changes under one flush (the worker). The
    /// change is not durable until [`Store::flush`]; [`Engine::announce`] it
    /// after that.
    pub fn update_unflushed<E>(
        &self,
        id: LeadId,
        decide: impl Fn(&Lead, &Facts, &UpdateContext<'_>) -> std::result::Result<LeadUpdate, E>,
    ) -> Result<Written>
    where
        EngineError: From<E>,
    {
        /// Retries when another writer appended events between read and write.
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let lead = self.lead(id)?;
            let seq = self.catalog.get(&lead.sequence)?;
            let events = self.store.events(id)?;
            let now = self.clock.now();
            let ctx = UpdateContext {
                sequence: seq,
                events: &events,
                now,
                settings: &self.settings,
            };
            let seen = lead.event_count;
            // The events of the attempt that committed, for alerts.
            let appended = Mutex::new(Vec::new());
            let outcome = self
                .store
                .update_lead(id, now, |current, facts| {
                    if current.event_count != seen {
                        return Err(None::<E>);
                    }
                    let update = decide(current, facts, &ctx).map_err(Some)?;
                    *appended.lock().unwrap_or_else(|e| e.into_inner()) = update.events.clone();
                    Ok(update)
                })
                .map_err(contact_error)?;
            match outcome {
                Ok(lead) => {
                    let events = appended.into_inner().unwrap_or_else(|e| e.into_inner());
                    return Ok(Written {
                        lead,
                        events,
                        at: now,
                    });
                }
                Err(Some(e)) => return Err(e.into()),
                Err(None) => continue,
            }
        }
        Err(EngineError::Contended(id))
    }

    /// Announces the alert-worthy `events` just appended to `lead`.
    fn alert(&self, lead: &Lead, events: &[EventKind], at: DateTime<Utc>) {
        if self.alerts.receiver_count() == 0 {
            return;
        }
        for event in events {
            if let Some(kind) = event.alert() {
                // A send error only means nobody listens any more.
                let _ = self.alerts.send(Notification::Lead(Box::new(Alert {
                    kind,
                    lead: lead.clone(),
                    at,
                    detail: event.describe(),
                })));
            }
        }
    }

    /// Applies a mark (and an optional note) atomically; returns the new lead.
    pub fn mark(&self, id: LeadId, mark: Mark, note: Option<&str>) -> Result<Lead> {
        self.update(id, |current, _, ctx| {
            let mut update = decide(current, mark, &ctx.mark_context())?;
            if let Some(text) = note.map(str::trim).filter(|t| !t.is_empty()) {
                update.events.push(EventKind::Note {
                    text: text.to_string(),
                });
            }
            Ok::<_, MarkError>(update)
        })
    }

    /// Settles a lead's in-doubt touch: it did arrive (`Sent`) or send it
    /// again with the same words and Message-ID (`Resend`).
    pub fn resolve_touch(&self, id: LeadId, how: Resolution) -> Result<Lead> {
        let touch = self
            .store
            .touches(id)?
            .into_iter()
            .find(|t| t.state == TouchState::InDoubt)
            .ok_or(ResolveError::NothingInDoubt(id))?;
        self.update(id, |current, _, ctx| {
            resolve(current, &touch, how, &self.outcome_context(ctx))
        })
    }

    /// Records a signal that changes no status by itself (opened, clicked, a note).
    pub fn record(&self, id: LeadId, kind: EventKind) -> Result<Lead> {
        self.update(id, |current, _, _| {
            Ok::<_, EngineError>(LeadUpdate::of(current.clone(), vec![kind.clone()]))
        })
    }

    /// Adds a free-text note to a lead's timeline; durable when it returns.
    pub fn note(&self, id: LeadId, text: &str) -> Result<Lead> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EngineError::EmptyNote);
        }
        self.record(
            id,
            EventKind::Note {
                text: text.to_string(),
            },
        )
    }

    /// Changes a lead's name, email, phone or company. The result is
    /// validated as intake would (the gate checks the new values; stored
    /// ones it would now refuse stay editable); the email and phone indexes
    /// move in the same transaction, and a contact that another lead has or
    /// that is suppressed is refused. Each changed field is recorded as an
    /// `Edited` event.
    pub fn edit(&self, id: LeadId, edit: &LeadEdit) -> Result<Lead> {
        if edit.is_empty() {
            return Err(EngineError::NothingToEdit);
        }
        self.update(id, |current, _, _| {
            let pick = |new: &Option<String>, old: &Option<String>| match new {
                Some(v) => Some(v.clone()),
                None => old.clone(),
            };
            let input = LeadInput {
                name: edit.name.clone().unwrap_or_else(|| current.name.clone()),
                email: pick(&edit.email, &current.email),
                phone: pick(&edit.phone, &current.phone),
                company: pick(&edit.company, &current.company),
                source: current.source.clone(),
                // The zone's country reads a national phone number.
                tz: current.tz.map(|tz| tz.name().to_string()),
                ..LeadInput::default()
            };
            let changed = LeadInput {
                name: edit.name.clone().unwrap_or_default(),
                email: edit.email.clone(),
                phone: edit.phone.clone(),
                company: edit.company.clone(),
                ..LeadInput::default()
            };
            let region = self.settings.default_region.as_deref();
            let valid = input.validate_edit(&changed, region)?;
            let mut lead = current.clone();
            let mut events = Vec::new();
            let mut change = |field: &str, old: &mut Option<String>, new: Option<String>| {
                if *old != new {
                    events.push(EventKind::Edited {
                        field: field.to_string(),
                        from: old.clone().unwrap_or_default(),
                        to: new.clone().unwrap_or_default(),
                    });
                    *old = new;
                }
            };
            let mut name = Some(lead.name.clone());
            change("name", &mut name, Some(valid.name));
            change("email", &mut lead.email, valid.email);
            change("phone", &mut lead.phone, valid.phone);
            change("company", &mut lead.company, valid.company);
            lead.name = name.unwrap_or_default();
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })
    }

    /// Records an engagement signal from tracking and applies the lead's
    /// sequence rules (nudge on open, pull earlier on click, hot score).
    pub fn record_signal(&self, id: LeadId, signal: Signal) -> Result<Lead> {
        self.update(id, |current, _, ctx| {
            Ok::<_, EngineError>(on_signal(
                current,
                &signal,
                &SignalContext {
                    sequence: ctx.sequence,
                    events: ctx.events,
                    now: ctx.now,
                    default_tz: ctx.settings.default_tz,
                    hot_threshold: self.hot_threshold,
                },
            ))
        })
    }

    /// Postpones the next touch until `until` (never earlier than planned).
    pub fn snooze(&self, id: LeadId, until: DateTime<Utc>) -> Result<Lead> {
        self.update(id, |current, _, ctx| {
            let mut lead = current.clone();
            let mut events = vec![EventKind::Snoozed { until }];
            let mut history = ctx.events.to_vec();
            history.push(Event {
                at: ctx.now,
                kind: EventKind::Snoozed { until },
            });
            if lead.status.is_sendable() {
                events.extend(reschedule(
                    &mut lead,
                    ctx.sequence,
                    &history,
                    ctx.now,
                    ctx.settings.default_tz,
                ));
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })
    }

    /// Makes the next touch due now. The business-hours window is skipped;
    /// SMS and call quiet hours still apply.
    pub fn send_now(&self, id: LeadId) -> Result<Lead> {
        self.update(id, |current, _, ctx| {
            let mut lead = current.clone();
            let due = lead.next.as_mut().ok_or_else(|| {
                EngineError::NothingToSend(current.id, current.status.to_string())
            })?;
            due.at = ctx.now;
            due.immediate = true;
            due.awaiting_human = false;
            let event = EventKind::TouchScheduled {
                step: due.step_id.clone(),
                channel: due.channel,
                due: ctx.now,
            };
            Ok::<_, EngineError>(LeadUpdate::of(lead, vec![event]))
        })
    }

    /// The outcome context for a decision made inside [`Engine::update`].
    pub fn outcome_context<'a>(&self, ctx: &UpdateContext<'a>) -> OutcomeContext<'a> {
        OutcomeContext {
            sequence: ctx.sequence,
            events: ctx.events,
            now: ctx.now,
            default_tz: ctx.settings.default_tz,
            retry: ctx.settings.retry,
        }
    }

    /// Erases a lead (GDPR); its contacts stay suppressed, hashed.
    pub fn erase(&self, id: LeadId) -> Result<Lead> {
        let lead = self.store.erase(id, self.clock.now())?;
        self.store.flush()?;
        self.changed(Change::Lead(id));
        Ok(lead)
    }

    /// The full calendar of `sequence` for `lead` starting at `start`, each
    /// touch rendered as it would be sent.
    pub fn preview(
        &self,
        sequence: &str,
        lead: &Lead,
        start: DateTime<Utc>,
    ) -> Result<Vec<(PlannedTouch, Message)>> {
        preview(&self.catalog, &self.settings, sequence, lead, start)
    }
}

/// The full calendar of `sequence` for `lead` from `start`, each touch
/// rendered as it would be sent. Needs no database.
pub fn preview(
    catalog: &Catalog,
    settings: &Settings,
    sequence: &str,
    lead: &Lead,
    start: DateTime<Utc>,
) -> Result<Vec<(PlannedTouch, Message)>> {
    let seq = catalog.get(sequence)?;
    calendar(lead, seq, start, settings.default_tz)
        .into_iter()
        .map(|touch| {
            let message = render_step(seq, touch.step, lead, &settings.sender)?;
            Ok((touch, message))
        })
        .collect()
}
