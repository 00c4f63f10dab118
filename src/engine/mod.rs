//! The commands that change leads, composing pure domain decisions with
//! atomic, flushed store writes. The CLI calls these today; the worker and
//! the `EngineHandle` socket will call the same ones.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::catalog::{Catalog, CatalogError};
use crate::clock::Clock;
use crate::domain::event::{Event, EventKind};
use crate::domain::lead::{Lead, LeadError, LeadId, LeadInput, ValidLead};
use crate::domain::mark::{Mark, MarkContext, MarkError, decide, reschedule};
use crate::domain::render::{Message, RenderError, Sender, render_step};
use crate::domain::schedule::{PlannedTouch, calendar, next_touch};
use crate::store::{InsertOutcome, NewLeadWrite, Store, StoreError};

/// Settings the engine needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Zone for leads without one.
    pub default_tz: Tz,
    /// Region for phone numbers without a country code.
    pub default_region: Option<String>,
    /// Sender variables for templates.
    pub sender: Sender,
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
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A lead with its history and next touch, for `show` and the detail view.
#[derive(Debug, Clone)]
pub struct LeadView {
    /// The record.
    pub lead: Lead,
    /// Its events, oldest first.
    pub events: Vec<Event>,
    /// The next touch and its exact text, if one is planned.
    pub next: Option<(PlannedTouch, Message)>,
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
        }
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
        Ok(NewLeadWrite { lead, events })
    }

    /// Adds one lead; returns once it is durable.
    pub fn add(&self, input: &LeadInput) -> Result<LeadId> {
        let now = self.clock.now();
        let valid = self.validate(input)?;
        let write = self.prepare(valid, input.sequence.as_deref(), now)?;
        let outcome = self.store.insert_leads(std::slice::from_ref(&write))?;
        self.store.flush()?;
        match outcome.into_iter().next() {
            Some(InsertOutcome::Inserted(id)) => Ok(id),
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

    /// Applies a mark (and an optional note) atomically; returns the new lead.
    pub fn mark(&self, id: LeadId, mark: Mark, note: Option<&str>) -> Result<Lead> {
        /// Retries when another writer appended events between read and write.
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let lead = self.lead(id)?;
            let seq = self.catalog.get(&lead.sequence)?;
            let events = self.store.events(id)?;
            let now = self.clock.now();
            let ctx = MarkContext {
                sequence: seq,
                events: &events,
                now,
                default_tz: self.settings.default_tz,
                sender: &self.settings.sender,
            };
            let seen = lead.event_count;
            let outcome = self.store.update_lead(id, now, |current, _| {
                if current.event_count != seen {
                    return Err(None::<MarkError>);
                }
                let mut update = decide(current, mark, &ctx).map_err(Some)?;
                if let Some(text) = note.map(str::trim).filter(|t| !t.is_empty()) {
                    update.events.push(EventKind::Note {
                        text: text.to_string(),
                    });
                }
                Ok(update)
            })?;
            self.store.flush()?;
            match outcome {
                Ok(lead) => return Ok(lead),
                Err(Some(e)) => return Err(e.into()),
                Err(None) => continue,
            }
        }
        Err(EngineError::Contended(id))
    }

    /// A lead with its timeline and its next touch rendered exactly.
    pub fn show(&self, id: LeadId) -> Result<LeadView> {
        let lead = self.lead(id)?;
        let events = self.store.events(id)?;
        let next = match self.catalog.get(&lead.sequence) {
            Ok(seq) => match next_touch(
                &lead,
                seq,
                &events,
                self.clock.now(),
                self.settings.default_tz,
            ) {
                Some(touch) => {
                    let message = render_step(seq, touch.step, &lead, &self.settings.sender)?;
                    Some((touch, message))
                }
                None => None,
            },
            Err(_) if !lead.status.is_sendable() => None,
            Err(e) => return Err(e.into()),
        };
        Ok(LeadView { lead, events, next })
    }

    /// Erases a lead (GDPR); its contacts stay suppressed, hashed.
    pub fn erase(&self, id: LeadId) -> Result<Lead> {
        let lead = self.store.erase(id, self.clock.now())?;
        self.store.flush()?;
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
