//! Lead records, their events and the contact, status and stage indexes:
//! inserts, updates and erasure in one transaction each, and lookups.

use chrono::{DateTime, Utc};

use super::keys::{due_key, event_key, id_from_suffix, outbox_key, stage_key, status_key};
use super::{Abort, Result, Store, StoreError, Tx, abort, decode_in, encode};
use crate::domain::event::Event;
use crate::domain::lead::{Lead, LeadId};
use crate::domain::mark::LeadUpdate;
use crate::domain::sequence::{Channel, MAX_STEPS};

/// A new lead and its first events, for [`Store::insert_leads`].
#[derive(Debug, Clone)]
pub struct NewLeadWrite {
    /// The lead record.
    pub lead: Lead,
    /// Events to append (captured, scheduled…).
    pub events: Vec<Event>,
    /// A key under which a retry of the same intake finds this lead.
    pub idempotency_key: Option<String>,
}

/// What happened to each lead handed to [`Store::insert_leads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored.
    Inserted(LeadId),
    /// A lead with the same email or phone exists.
    Duplicate {
        /// The existing lead.
        existing: LeadId,
        /// `email` or `phone`.
        by: &'static str,
    },
    /// The idempotency key was seen before: this is a retry.
    Replayed(LeadId),
    /// The contact is on the suppression list.
    Suppressed {
        /// Why.
        reason: String,
    },
}

/// What the store looked up inside the transaction, for decisions that must
/// see the same state they change (an opt-out wins every race).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Why the lead's email is suppressed, if it is.
    pub email_suppressed: Option<String>,
    /// Why the lead's phone is suppressed, if it is.
    pub phone_suppressed: Option<String>,
}

impl Facts {
    /// Why the contact a channel would use is suppressed, if it is.
    pub fn suppressed_for(&self, channel: Channel) -> Option<&str> {
        match channel {
            Channel::Email => self.email_suppressed.as_deref(),
            Channel::Sms | Channel::Call => self.phone_suppressed.as_deref(),
            Channel::Task => None,
        }
    }
}

impl Tx<'_> {
    pub(super) fn lead(&self, id: LeadId) -> Result<Option<Lead>, Abort> {
        match self.leads.get(id.to_bytes())? {
            Some(bytes) => Ok(Some(decode_in("leads", &bytes).map_err(abort)?)),
            None => Ok(None),
        }
    }

    /// Refuses a contact an update gives the lead when another lead owns it
    /// or it is suppressed (an edit must not slip past intake's checks).
    pub(super) fn check_new_contacts(&self, old: &Lead, new: &Lead) -> Result<(), Abort> {
        let pairs = [
            ("email", &old.email, &new.email, self.idx_email),
            ("phone", &old.phone, &new.phone, self.idx_phone),
        ];
        for (by, before, after, index) in pairs {
            let Some(contact) = after.as_ref().filter(|c| Some(*c) != before.as_ref()) else {
                continue;
            };
            if let Some(s) = self.suppression(contact)? {
                return Err(abort(StoreError::ContactSuppressed {
                    by,
                    reason: s.reason,
                }));
            }
            let owner = index.get(contact.as_bytes())?;
            if let Some(existing) = owner.as_deref().and_then(id_from_suffix)
                && existing != new.id
            {
                return Err(abort(StoreError::ContactTaken { by, existing }));
            }
        }
        Ok(())
    }

    pub(super) fn remove_indexes(&self, lead: &Lead) -> Result<(), Abort> {
        if let Some(email) = &lead.email {
            self.idx_email.remove(email.as_bytes())?;
        }
        if let Some(phone) = &lead.phone {
            self.idx_phone.remove(phone.as_bytes())?;
        }
        self.idx_status.remove(&status_key(lead.status, lead.id))?;
        self.idx_stage.remove(stage_key(lead.stage(), lead.id))?;
        if let Some(due) = lead.next.as_ref().filter(|d| !d.awaiting_human) {
            self.due.remove(&due_key(due.at, lead.id))?;
        }
        Ok(())
    }

    pub(super) fn put_lead(&self, lead: &Lead) -> Result<(), Abort> {
        let id = lead.id.to_bytes();
        if let Some(email) = &lead.email {
            self.idx_email.insert(email.as_bytes(), &id)?;
        }
        if let Some(phone) = &lead.phone {
            self.idx_phone.insert(phone.as_bytes(), &id)?;
        }
        self.idx_status
            .insert(&status_key(lead.status, lead.id), &[])?;
        self.idx_stage
            .insert(stage_key(lead.stage(), lead.id), &[])?;
        if let Some(due) = lead.next.as_ref().filter(|d| !d.awaiting_human) {
            self.due
                .insert(&due_key(due.at, lead.id), &due.step.to_be_bytes())?;
        }
        self.leads.insert(&id, encode(lead))?;
        Ok(())
    }

    /// Appends events, numbering them from the lead's counter.
    pub(super) fn append(
        &self,
        lead: &mut Lead,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<(), Abort> {
        for event in events {
            self.events
                .insert(&event_key(lead.id, lead.event_count), encode(&event))?;
            lead.event_count += 1;
        }
        Ok(())
    }
}

impl Store {
    /// Inserts new leads in one transaction, skipping duplicates (by email or
    /// phone, also within the batch) and suppressed contacts. Not flushed:
    /// call [`Store::flush`] before acknowledging.
    pub fn insert_leads(&self, batch: &[NewLeadWrite]) -> Result<Vec<InsertOutcome>> {
        self.ensure_free_space()?;
        self.transact(|tx| {
            let mut outcomes = Vec::with_capacity(batch.len());
            for write in batch {
                let lead = &write.lead;
                if let Some(key) = &write.idempotency_key {
                    let seen = tx.idempotency.get(key.as_bytes())?;
                    if let Some(existing) = seen.as_deref().and_then(id_from_suffix) {
                        outcomes.push(InsertOutcome::Replayed(existing));
                        continue;
                    }
                }
                let contacts = [("email", &lead.email), ("phone", &lead.phone)];
                let mut outcome = None;
                for (by, contact) in contacts {
                    let Some(contact) = contact else { continue };
                    if let Some(s) = tx.suppression(contact)? {
                        outcome = Some(InsertOutcome::Suppressed { reason: s.reason });
                        break;
                    }
                    let idx = if by == "email" {
                        tx.idx_email
                    } else {
                        tx.idx_phone
                    };
                    if let Some(existing) = idx.get(contact.as_bytes())? {
                        let existing = id_from_suffix(&existing).ok_or_else(|| {
                            abort(StoreError::Decode {
                                tree: "idx",
                                detail: "short id".into(),
                            })
                        })?;
                        outcome = Some(InsertOutcome::Duplicate { existing, by });
                        break;
                    }
                }
                if let Some(outcome) = outcome {
                    outcomes.push(outcome);
                    continue;
                }
                let mut lead = lead.clone();
                lead.event_count = 0;
                tx.append(&mut lead, write.events.iter().cloned())?;
                tx.put_lead(&lead)?;
                if let Some(key) = &write.idempotency_key {
                    tx.idempotency.insert(key.as_bytes(), &lead.id.to_bytes())?;
                }
                outcomes.push(InsertOutcome::Inserted(lead.id));
            }
            Ok(outcomes)
        })
    }

    /// Reads a lead, decides a change with `decide` (a pure function: sled may
    /// run it more than once) and applies it atomically with its events and
    /// index updates. `Ok(Err(e))` is the decision refusing the change.
    pub fn update_lead<E>(
        &self,
        id: LeadId,
        now: DateTime<Utc>,
        decide: impl Fn(&Lead, &Facts) -> std::result::Result<LeadUpdate, E>,
    ) -> Result<std::result::Result<Lead, E>> {
        self.transact(|tx| {
            let Some(old) = tx.lead(id)? else {
                return Err(abort(StoreError::NotFound(id.to_string())));
            };
            let reason = |contact: &Option<String>| -> Result<Option<String>, Abort> {
                match contact {
                    Some(c) => Ok(tx.suppression(c)?.map(|s| s.reason)),
                    None => Ok(None),
                }
            };
            let facts = Facts {
                email_suppressed: reason(&old.email)?,
                phone_suppressed: reason(&old.phone)?,
            };
            let change = match decide(&old, &facts) {
                Ok(change) => change,
                Err(e) => return Ok(Err(e)),
            };
            let mut lead = change.lead;
            lead.event_count = old.event_count;
            lead.updated_at = now;
            tx.check_new_contacts(&old, &lead)?;
            tx.remove_indexes(&old)?;
            tx.append(
                &mut lead,
                change
                    .events
                    .into_iter()
                    .map(|kind| Event { at: now, kind }),
            )?;
            if let Some(reason) = &change.suppress {
                tx.suppress_contacts(&lead, reason, now)?;
            }
            if let Some(touch) = &change.touch {
                tx.put_touch(touch)?;
            }
            tx.put_lead(&lead)?;
            Ok(Ok(lead))
        })
    }

    /// Erases a lead and its events (GDPR), leaving hashed suppression
    /// entries so the person is never contacted again.
    pub fn erase(&self, id: LeadId, now: DateTime<Utc>) -> Result<Lead> {
        self.transact(|tx| {
            let Some(lead) = tx.lead(id)? else {
                return Err(abort(StoreError::NotFound(id.to_string())));
            };
            tx.remove_indexes(&lead)?;
            for seq in 0..lead.event_count {
                tx.events.remove(&event_key(id, seq))?;
            }
            for step in 0..MAX_STEPS as u32 {
                let key = outbox_key(id, step);
                tx.outbox.remove(&key)?;
                tx.idx_sending.remove(&key)?;
                tx.idx_in_doubt.remove(&key)?;
            }
            tx.leads.remove(&id.to_bytes())?;
            tx.suppress_contacts(&lead, "erased", now)?;
            Ok(lead)
        })
    }

    /// A lead by exact id.
    pub fn lead(&self, id: LeadId) -> Result<Option<Lead>> {
        self.leads
            .get(id.to_bytes())?
            .map(|b| decode_in("leads", &b))
            .transpose()
    }

    /// Resolves a full id or a unique prefix, as git does with hashes.
    pub fn resolve(&self, prefix: &str) -> Result<LeadId> {
        let (low, high) = LeadId::prefix_range(prefix)?;
        let mut matches = self
            .leads
            .range(low.to_bytes()..=high.to_bytes())
            .keys()
            .take(5)
            .map(|k| k.map(|k| id_from_suffix(&k)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten();
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id),
            (None, _) => Err(StoreError::NotFound(prefix.to_string())),
            (Some(a), Some(b)) => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                candidates: [a, b]
                    .into_iter()
                    .chain(matches)
                    .map(|id| id.to_string())
                    .collect(),
            }),
        }
    }

    /// A lead's events in order.
    pub fn events(&self, id: LeadId) -> Result<Vec<Event>> {
        self.events
            .scan_prefix(id.to_bytes())
            .values()
            .map(|v| decode_in("events", &v?))
            .collect()
    }

    /// The lead that owns an email or phone, if any.
    pub fn lead_by_contact(&self, contact: &str) -> Result<Option<LeadId>> {
        let tree = if contact.starts_with('+') {
            &self.idx_phone
        } else {
            &self.idx_email
        };
        Ok(tree
            .get(contact.as_bytes())?
            .and_then(|v| id_from_suffix(&v)))
    }

    /// Every lead, oldest first, streamed (for export).
    pub fn iter_leads(&self) -> impl Iterator<Item = Result<Lead>> + '_ {
        self.leads.iter().values().map(|v| decode_in("leads", &v?))
    }

    /// Number of leads (walks the keys; for reports, not hot paths).
    pub fn lead_count(&self) -> usize {
        self.leads.len()
    }
}
