//! The sled store: trees, keys, transactions and migrations. No business
//! rules live here; callers decide *what* changes, the store makes it atomic,
//! keeps the indexes in step and makes it durable.
//!
//! Trees (keys big-endian so ranges sort by time):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `leads` | lead id (16) | lead record |
//! | `events` | lead id ++ seq u32 | event record |
//! | `due` | due millis u64 ++ lead id | step index u32 |
//! | `suppress` | sha256(normalised contact) | reason record |
//! | `idx_email` | email | lead id |
//! | `idx_phone` | E.164 phone | lead id |
//! | `idx_status` | status code u8 ++ lead id | – |
//! | `idx_stage` | stage name ++ 0 ++ lead id | – |
//! | `outbox` | lead id ++ step u32 | touch record (state + exact message) |
//! | `idx_sending` | outbox key | – (touches claimed but not settled; read at start-up) |
//! | `idx_in_doubt` | outbox key | – (touches a human must settle) |
//! | `counters` | channel ++ `/` ++ UTC date | sends that day (u64), for daily caps |
//! | `idempotency` | source ++ `/` ++ key | lead id (a retried intake post creates one lead) |
//! | `imap_state` | mailbox name | UIDVALIDITY u32 ++ last handled UID u32 (each message handled once) |
//! | `meta` | `app`, `schema` | marker, schema version |

mod codec;
mod migrate;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::domain::event::Event;
use crate::domain::lead::{IdError, Lead, LeadId, Stage};
use crate::domain::mark::LeadUpdate;
use crate::domain::sequence::{Channel, MAX_STEPS};
use crate::domain::status::Status;
use crate::domain::touch::{Touch, TouchState};

pub use codec::{decode, encode};
pub use migrate::SCHEMA_VERSION;

/// The file holding the pid of the process that owns the database.
const PID_FILE: &str = "nudge.pid";
/// The value of `meta/app`, so a foreign sled database is recognised.
const APP_MARKER: &[u8] = b"nudge";

/// Everything that can go wrong in the store, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds sled's lock.
    #[error("the database in {path} is in use by another nudge process{}; stop it or use another --data-dir", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// Data dir.
        path: PathBuf,
        /// Owner's pid, when known.
        pid: Option<u32>,
    },
    /// The directory holds something that is not ours.
    #[error(
        "{path} is not a nudge data directory ({detail}); point --data-dir at an empty directory or one nudge created"
    )]
    Foreign {
        /// Data dir.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// sled could not read its files.
    #[error("the database in {path} is corrupt or unreadable: {detail}")]
    Corrupt {
        /// Data dir.
        path: PathBuf,
        /// sled's explanation.
        detail: String,
    },
    /// Written by a newer nudge.
    #[error(
        "the database in {path} has schema {found}, newer than this nudge understands ({SCHEMA_VERSION}); upgrade nudge"
    )]
    TooNew {
        /// Data dir.
        path: PathBuf,
        /// Schema found.
        found: u32,
    },
    /// A stored record does not decode.
    #[error("unreadable record in tree `{tree}`: {detail}")]
    Decode {
        /// Tree name.
        tree: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// No lead has this id or prefix.
    #[error("no lead matches `{0}`")]
    NotFound(String),
    /// The prefix is shared by several leads.
    #[error("`{prefix}` is ambiguous: it matches {}; type more characters", candidates.join(", "))]
    Ambiguous {
        /// What was typed.
        prefix: String,
        /// Some of the matching ids.
        candidates: Vec<String>,
    },
    /// The id text is malformed.
    #[error(transparent)]
    Id(#[from] IdError),
    /// An edit gives a lead an email or phone another lead already has.
    #[error("a lead with this {by} already exists: {existing}")]
    ContactTaken {
        /// `email` or `phone`.
        by: &'static str,
        /// The lead that has it.
        existing: LeadId,
    },
    /// An edit gives a lead a contact on the suppression list.
    #[error("this {by} is on the suppression list ({reason}); nudge will not contact it")]
    ContactSuppressed {
        /// `email` or `phone`.
        by: &'static str,
        /// Why it is suppressed.
        reason: String,
    },
    /// An I/O or sled failure.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a contact may never be messaged again. Kept after a lead is erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// e.g. "opted out", "erased", "bounced".
    pub reason: String,
    /// When it was added.
    pub at: DateTime<Utc>,
}

/// The suppression key for a contact: a hash, so an erased person's address
/// is not kept in clear while still blocking them.
pub fn suppression_key(normalised_contact: &str) -> [u8; 32] {
    Sha256::digest(normalised_contact.as_bytes()).into()
}

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

/// Filters for [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this sequence.
    pub sequence: Option<String>,
}

/// Which leads a board shows: all, or those of one sequence and/or source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardFilter<'a> {
    /// Only this sequence.
    pub sequence: Option<&'a str>,
    /// Only this source.
    pub source: Option<&'a str>,
}

impl BoardFilter<'_> {
    /// Whether any filter is set (then each lead must be read to check it).
    pub fn is_some(&self) -> bool {
        self.sequence.is_some() || self.source.is_some()
    }

    /// Whether `lead` passes.
    pub fn admits(&self, lead: &Lead) -> bool {
        self.sequence.is_none_or(|s| s == lead.sequence)
            && self.source.is_none_or(|s| s == lead.source)
    }
}

/// The sled database and its trees.
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    leads: sled::Tree,
    events: sled::Tree,
    due: sled::Tree,
    suppress: sled::Tree,
    idx_email: sled::Tree,
    idx_phone: sled::Tree,
    idx_status: sled::Tree,
    idx_stage: sled::Tree,
    outbox: sled::Tree,
    idx_sending: sled::Tree,
    idx_in_doubt: sled::Tree,
    counters: sled::Tree,
    idempotency: sled::Tree,
    imap_state: sled::Tree,
}

type Abort = ConflictableTransactionError<StoreError>;

fn abort(e: StoreError) -> Abort {
    ConflictableTransactionError::Abort(e)
}

fn flatten(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

fn decode_in<T: serde::de::DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T> {
    decode(bytes).map_err(|detail| StoreError::Decode { tree, detail })
}

/// `due` key: millis big-endian then the lead id.
pub fn due_key(at: DateTime<Utc>, id: LeadId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&(at.timestamp_millis().max(0) as u64).to_be_bytes());
    key[8..].copy_from_slice(&id.to_bytes());
    key
}

fn event_key(id: LeadId, seq: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// `outbox` key: lead id then step index.
pub fn outbox_key(id: LeadId, step: u32) -> [u8; 20] {
    event_key(id, step)
}

fn counter_key(channel: Channel, at: DateTime<Utc>) -> Vec<u8> {
    format!("{channel}/{}", at.format("%Y-%m-%d")).into_bytes()
}

fn status_key(status: Status, id: LeadId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = status.code();
    key[1..].copy_from_slice(&id.to_bytes());
    key
}

fn stage_prefix(stage: Stage) -> Vec<u8> {
    let mut key = stage.to_string().into_bytes();
    key.push(0);
    key
}

fn stage_key(stage: Stage, id: LeadId) -> Vec<u8> {
    let mut key = stage_prefix(stage);
    key.extend_from_slice(&id.to_bytes());
    key
}

fn id_from_suffix(key: &[u8]) -> Option<LeadId> {
    let tail: [u8; 16] = key.get(key.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(LeadId::from_bytes(tail))
}

/// Every tree a lead write touches, in one transaction.
struct Tx<'a> {
    outbox: &'a TransactionalTree,
    idx_sending: &'a TransactionalTree,
    idx_in_doubt: &'a TransactionalTree,
    counters: &'a TransactionalTree,
    idempotency: &'a TransactionalTree,
    leads: &'a TransactionalTree,
    events: &'a TransactionalTree,
    due: &'a TransactionalTree,
    suppress: &'a TransactionalTree,
    idx_email: &'a TransactionalTree,
    idx_phone: &'a TransactionalTree,
    idx_status: &'a TransactionalTree,
    idx_stage: &'a TransactionalTree,
}

impl Tx<'_> {
    fn suppression(&self, contact: &str) -> Result<Option<Suppression>, Abort> {
        match self.suppress.get(suppression_key(contact))? {
            Some(bytes) => Ok(Some(decode_in("suppress", &bytes).map_err(abort)?)),
            None => Ok(None),
        }
    }

    fn lead(&self, id: LeadId) -> Result<Option<Lead>, Abort> {
        match self.leads.get(id.to_bytes())? {
            Some(bytes) => Ok(Some(decode_in("leads", &bytes).map_err(abort)?)),
            None => Ok(None),
        }
    }

    /// Refuses a contact an update gives the lead when another lead owns it
    /// or it is suppressed (an edit must not slip past intake's checks).
    fn check_new_contacts(&self, old: &Lead, new: &Lead) -> Result<(), Abort> {
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

    fn remove_indexes(&self, lead: &Lead) -> Result<(), Abort> {
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

    fn put_lead(&self, lead: &Lead) -> Result<(), Abort> {
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

    /// Writes a touch and keeps the sending / in-doubt indexes and the daily
    /// counters in step with its state.
    fn put_touch(&self, touch: &Touch) -> Result<(), Abort> {
        let key = outbox_key(touch.lead_id, touch.step);
        let previous: Option<Touch> = match self.outbox.get(key)? {
            Some(bytes) => Some(decode_in("outbox", &bytes).map_err(abort)?),
            None => None,
        };
        let was_sent = previous
            .as_ref()
            .is_some_and(|p| p.state == TouchState::Sent);
        if touch.state == TouchState::Sent && !was_sent && !touch.dry_run {
            let counter = counter_key(touch.channel, touch.updated_at);
            let n = self
                .counters
                .get(&counter)?
                .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0);
            self.counters.insert(counter, &(n + 1).to_be_bytes())?;
        }
        if touch.state == TouchState::Sending {
            self.idx_sending.insert(&key, &[])?;
        } else {
            self.idx_sending.remove(&key)?;
        }
        if touch.state == TouchState::InDoubt {
            self.idx_in_doubt.insert(&key, &[])?;
        } else {
            self.idx_in_doubt.remove(&key)?;
        }
        self.outbox.insert(&key, encode(touch))?;
        Ok(())
    }

    /// Appends events, numbering them from the lead's counter.
    fn append(
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

    fn suppress_contacts(&self, lead: &Lead, reason: &str, at: DateTime<Utc>) -> Result<(), Abort> {
        let entry = encode(&Suppression {
            reason: reason.to_string(),
            at,
        });
        for contact in [&lead.email, &lead.phone].into_iter().flatten() {
            self.suppress
                .insert(&suppression_key(contact), entry.clone())?;
        }
        Ok(())
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`, migrating old schemas.
    /// `cache_bytes` bounds sled's page cache so memory stays small.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store> {
        check_directory(dir)?;
        // sled starts afresh over files it cannot read (an empty `conf`, a log
        // with no valid segment), so a database file that was already there
        // but yields no marker is damaged, not new.
        let existed = fs::metadata(dir.join("db")).is_ok_and(|m| m.len() > 0);
        fs::create_dir_all(dir).map_err(|e| StoreError::Foreign {
            path: dir.to_path_buf(),
            detail: format!("cannot create it: {e}"),
        })?;
        let db = open_sled(dir, cache_bytes)?;
        let meta = db.open_tree("meta")?;
        match meta.get("app")? {
            Some(marker) if marker.as_ref() == APP_MARKER => {}
            Some(_) => {
                return Err(StoreError::Foreign {
                    path: dir.to_path_buf(),
                    detail: "a sled database belonging to another program".into(),
                });
            }
            None => {
                let other_trees = db.tree_names().len() > 2 || !db.is_empty();
                if other_trees {
                    return Err(StoreError::Foreign {
                        path: dir.to_path_buf(),
                        detail: "a sled database not created by nudge".into(),
                    });
                }
                if existed {
                    return Err(StoreError::Corrupt {
                        path: dir.to_path_buf(),
                        detail: "its files hold no readable nudge data; restore a backup or move them away".into(),
                    });
                }
                meta.insert("app", APP_MARKER)?;
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
            }
        }
        let store = Store {
            path: dir.to_path_buf(),
            leads: db.open_tree("leads")?,
            events: db.open_tree("events")?,
            due: db.open_tree("due")?,
            suppress: db.open_tree("suppress")?,
            idx_email: db.open_tree("idx_email")?,
            idx_phone: db.open_tree("idx_phone")?,
            idx_status: db.open_tree("idx_status")?,
            idx_stage: db.open_tree("idx_stage")?,
            outbox: db.open_tree("outbox")?,
            idx_sending: db.open_tree("idx_sending")?,
            idx_in_doubt: db.open_tree("idx_in_doubt")?,
            counters: db.open_tree("counters")?,
            idempotency: db.open_tree("idempotency")?,
            imap_state: db.open_tree("imap_state")?,
            db,
        };
        migrate::run(&store, &meta)?;
        // Best effort: the pid only improves the "in use" message.
        let _ = fs::write(dir.join(PID_FILE), std::process::id().to_string());
        store.flush()?;
        Ok(store)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every acknowledged write durable. Call before reporting success.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> Result<T, Abort>) -> Result<T> {
        (
            &self.leads,
            &self.events,
            &self.due,
            &self.suppress,
            &self.idx_email,
            &self.idx_phone,
            &self.idx_status,
            &self.idx_stage,
            &self.outbox,
            &self.idx_sending,
            &self.idx_in_doubt,
            &self.counters,
            &self.idempotency,
        )
            .transaction(
                |(
                    leads,
                    events,
                    due,
                    suppress,
                    idx_email,
                    idx_phone,
                    idx_status,
                    idx_stage,
                    outbox,
                    idx_sending,
                    idx_in_doubt,
                    counters,
                    idempotency,
                )| {
                    f(&Tx {
                        leads,
                        events,
                        due,
                        suppress,
                        idx_email,
                        idx_phone,
                        idx_status,
                        idx_stage,
                        outbox,
                        idx_sending,
                        idx_in_doubt,
                        counters,
                        idempotency,
                    })
                },
            )
            .map_err(flatten)
    }

    /// Inserts new leads in one transaction, skipping duplicates (by email or
    /// phone, also within the batch) and suppressed contacts. Not flushed:
    /// call [`Store::flush`] before acknowledging.
    pub fn insert_leads(&self, batch: &[NewLeadWrite]) -> Result<Vec<InsertOutcome>> {
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

    /// Why a normalised contact is suppressed, if it is.
    pub fn suppression(&self, contact: &str) -> Result<Option<Suppression>> {
        self.suppress
            .get(suppression_key(contact))?
            .map(|b| decode_in("suppress", &b))
            .transpose()
    }

    /// Suppresses a contact that may belong to no lead (an SMS STOP from an
    /// unknown number). Not flushed: call [`Store::flush`].
    pub fn suppress(&self, contact: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
        let entry = encode(&Suppression {
            reason: reason.to_string(),
            at,
        });
        self.suppress.insert(suppression_key(contact), entry)?;
        Ok(())
    }

    /// Lifts a suppression (an explicit re-subscribe, e.g. SMS START).
    pub fn unsuppress(&self, contact: &str) -> Result<bool> {
        Ok(self.suppress.remove(suppression_key(contact))?.is_some())
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

    /// Up to `limit` leads, newest first, read through the narrowest index.
    /// Cost grows with `limit` (and with how many the sequence filter skips),
    /// not with the number of leads.
    pub fn list(&self, filter: &ListFilter, limit: usize) -> Result<Vec<Lead>> {
        let ids: Box<dyn Iterator<Item = sled::Result<sled::IVec>>> =
            match (filter.stage, filter.status) {
                (Some(stage), _) => {
                    Box::new(self.idx_stage.scan_prefix(stage_prefix(stage)).keys().rev())
                }
                (None, Some(status)) => {
                    Box::new(self.idx_status.scan_prefix([status.code()]).keys().rev())
                }
                (None, None) => Box::new(self.leads.iter().keys().rev()),
            };
        let mut out = Vec::new();
        for key in ids {
            if out.len() >= limit {
                break;
            }
            let Some(id) = id_from_suffix(&key?) else {
                continue;
            };
            let Some(lead) = self.lead(id)? else { continue };
            let wanted = filter.status.is_none_or(|s| s == lead.status)
                && filter.sequence.as_ref().is_none_or(|s| *s == lead.sequence);
            if wanted {
                out.push(lead);
            }
        }
        Ok(out)
    }

    /// How many leads have `status` (counts index keys; decodes nothing).
    pub fn count_status(&self, status: Status) -> Result<usize> {
        let mut n = 0;
        for key in self.idx_status.scan_prefix([status.code()]).keys() {
            key?;
            n += 1;
        }
        Ok(n)
    }

    /// Leads per board stage in one pass over the stage index, for column
    /// counts. Without a filter nothing is decoded; with a sequence or a
    /// source, each lead is read to check it (slower; only filtered boards
    /// need it).
    pub fn stage_counts(&self, filter: &BoardFilter) -> Result<Vec<(Stage, usize)>> {
        let mut counts: Vec<(Stage, usize)> = Vec::new();
        for key in self.idx_stage.iter().keys() {
            let key = key?;
            let Some(end) = key.iter().position(|&b| b == 0) else {
                continue;
            };
            let Ok(stage) = std::str::from_utf8(&key[..end])
                .unwrap_or("")
                .parse::<Stage>()
            else {
                continue;
            };
            if filter.is_some() {
                let lead = id_from_suffix(&key).map(|id| self.lead(id)).transpose()?;
                if lead.flatten().is_none_or(|l| !filter.admits(&l)) {
                    continue;
                }
            }
            match counts.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, n)) => *n += 1,
                None => counts.push((stage, 1)),
            }
        }
        Ok(counts)
    }

    /// One page of a board column: leads in any of `stages`, newest first,
    /// after skipping `offset` of them. Skipped leads are index keys only
    /// (nothing decoded unless a sequence filter must be checked), so a
    /// page costs its size, not the column's.
    pub fn stage_page(
        &self,
        stages: &[Stage],
        filter: &BoardFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Lead>> {
        let mut streams: Vec<_> = stages
            .iter()
            .map(|s| {
                self.idx_stage
                    .scan_prefix(stage_prefix(*s))
                    .keys()
                    .rev()
                    .filter_map(|k| match k {
                        Ok(k) => id_from_suffix(&k).map(Ok),
                        Err(e) => Some(Err(e)),
                    })
                    .peekable()
            })
            .collect();
        let mut skipped = 0;
        let mut out = Vec::new();
        while out.len() < limit {
            // The newest id across the stages' streams comes next.
            let mut best: Option<(usize, LeadId)> = None;
            for (i, stream) in streams.iter_mut().enumerate() {
                let id = match stream.peek() {
                    Some(Ok(id)) => *id,
                    Some(Err(_)) => match stream.next() {
                        Some(Err(e)) => return Err(e.into()),
                        _ => continue,
                    },
                    None => continue,
                };
                if best.is_none_or(|(_, b)| id > b) {
                    best = Some((i, id));
                }
            }
            let Some((i, id)) = best else { break };
            streams[i].next();
            let lead = if filter.is_some() {
                match self.lead(id)? {
                    Some(lead) if filter.admits(&lead) => Some(lead),
                    _ => continue,
                }
            } else {
                None
            };
            if skipped < offset {
                skipped += 1;
                continue;
            }
            match lead {
                Some(lead) => out.push(lead),
                None => out.extend(self.lead(id)?),
            }
        }
        Ok(out)
    }

    /// Up to `limit` leads, newest first, whose name, email or company
    /// contains `query` (case-insensitive). A bounded scan: it stops at
    /// `limit` matches, and at worst reads every lead once.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Lead>> {
        let needle = query.trim().to_lowercase();
        let mut out = Vec::new();
        if needle.is_empty() {
            return Ok(out);
        }
        for value in self.leads.iter().values().rev() {
            if out.len() >= limit {
                break;
            }
            let lead: Lead = decode_in("leads", &value?)?;
            let hit = [Some(&lead.name), lead.email.as_ref(), lead.company.as_ref()]
                .into_iter()
                .flatten()
                .any(|field| field.to_lowercase().contains(&needle));
            if hit {
                out.push(lead);
            }
        }
        Ok(out)
    }

    /// The distinct lead sources, sorted, at most `limit` of them (one pass
    /// over the leads; for the TUI's filter picker, off its UI thread).
    pub fn sources(&self, limit: usize) -> Result<Vec<String>> {
        let mut seen = std::collections::BTreeSet::new();
        for lead in self.iter_leads() {
            seen.insert(lead?.source);
            if seen.len() >= limit {
                break;
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// Every lead, oldest first, streamed (for export).
    pub fn iter_leads(&self) -> impl Iterator<Item = Result<Lead>> + '_ {
        self.leads.iter().values().map(|v| decode_in("leads", &v?))
    }

    /// Number of leads (walks the keys; for reports, not hot paths).
    pub fn lead_count(&self) -> usize {
        self.leads.len()
    }

    /// Due entries up to and including `until`, earliest first: the worker's
    /// view. Reads only the head of the `due` tree.
    pub fn due_until(
        &self,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(DateTime<Utc>, LeadId, u32)>> {
        let end = (until.timestamp_millis().max(0) as u64 + 1).to_be_bytes();
        let mut out = Vec::new();
        for entry in self.due.range(..end.as_slice()).take(limit) {
            let (key, value) = entry?;
            let millis = u64::from_be_bytes(key[..8].try_into().unwrap_or_default());
            let step = u32::from_be_bytes(value.as_ref().try_into().unwrap_or_default());
            if let (Some(at), Some(id)) = (
                DateTime::from_timestamp_millis(millis as i64),
                id_from_suffix(&key),
            ) {
                out.push((at, id, step));
            }
        }
        Ok(out)
    }

    /// The outbox record of one touch.
    pub fn touch(&self, id: LeadId, step: u32) -> Result<Option<Touch>> {
        self.outbox
            .get(outbox_key(id, step))?
            .map(|b| decode_in("outbox", &b))
            .transpose()
    }

    /// Every touch of a lead, by step.
    pub fn touches(&self, id: LeadId) -> Result<Vec<Touch>> {
        self.outbox
            .scan_prefix(id.to_bytes())
            .values()
            .map(|v| decode_in("outbox", &v?))
            .collect()
    }

    /// Touches left in `sending` (by a crash, when read at start-up).
    pub fn sending(&self) -> Result<Vec<Touch>> {
        self.indexed_touches(&self.idx_sending)
    }

    /// Touches a human must settle.
    pub fn in_doubt(&self) -> Result<Vec<Touch>> {
        self.indexed_touches(&self.idx_in_doubt)
    }

    fn indexed_touches(&self, index: &sled::Tree) -> Result<Vec<Touch>> {
        let mut out = Vec::new();
        for key in index.iter().keys() {
            if let Some(bytes) = self.outbox.get(key?)? {
                out.push(decode_in("outbox", &bytes)?);
            }
        }
        Ok(out)
    }

    /// Live sends on `channel` during the UTC day of `at`.
    pub fn sent_on(&self, channel: Channel, at: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .counters
            .get(counter_key(channel, at))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Drops a due entry that no lead points at (defensive cleanup so a
    /// stray key can never make the worker spin).
    pub fn remove_due(&self, at: DateTime<Utc>, id: LeadId) -> Result<()> {
        let key = due_key(at, id);
        let orphan = match self.lead(id)? {
            Some(lead) => lead
                .next
                .is_none_or(|d| d.awaiting_human || due_key(d.at, id) != key),
            None => true,
        };
        if orphan {
            self.due.remove(key)?;
        }
        Ok(())
    }

    /// The earliest due instant, to know how long the worker may sleep.
    pub fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.due.first()?.and_then(|(key, _)| {
            let millis = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
            DateTime::from_timestamp_millis(millis as i64)
        }))
    }

    /// The IMAP watcher's position in `mailbox`: (UIDVALIDITY, last handled UID).
    pub fn imap_position(&self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        Ok(self.imap_state.get(mailbox.as_bytes())?.and_then(|v| {
            let validity = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
            let uid = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?);
            Some((validity, uid))
        }))
    }

    /// Records the IMAP watcher's position and makes it durable, so a
    /// restart resumes after the last handled message.
    pub fn set_imap_position(&self, mailbox: &str, validity: u32, uid: u32) -> Result<()> {
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&validity.to_be_bytes());
        value[4..].copy_from_slice(&uid.to_be_bytes());
        self.imap_state.insert(mailbox.as_bytes(), &value)?;
        self.flush()
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

/// Refuses directories that clearly are not ours before sled writes into them.
fn check_directory(dir: &Path) -> Result<()> {
    let foreign = |detail: String| StoreError::Foreign {
        path: dir.to_path_buf(),
        detail,
    };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(foreign("it is a file".into())),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(foreign(format!("cannot read it: {e}"))),
    }
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| foreign(format!("cannot list it: {e}")))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    if names.is_empty() || (has("db") && has("conf")) {
        return Ok(());
    }
    let mut sample: Vec<&str> = names.iter().map(String::as_str).take(3).collect();
    sample.sort_unstable();
    Err(foreign(format!(
        "it already holds other files, e.g. {}",
        sample.join(", ")
    )))
}

/// Opens sled, waiting a moment if the lock is held by this very process:
/// sled lets go of it only when its background flusher drops the database,
/// a little after our last handle went (a TUI reopening, a test).
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db> {
    const OWN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
    let deadline = std::time::Instant::now() + OWN_LOCK_WAIT;
    loop {
        let err = match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(e) => classify_open_error(dir, e),
        };
        match err {
            StoreError::Locked { pid: Some(pid), .. }
                if pid == std::process::id() && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            err => return Err(err),
        }
    }
}

fn classify_open_error(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: dir.to_path_buf(),
                pid: fs::read_to_string(dir.join(PID_FILE))
                    .ok()
                    .and_then(|s| s.trim().parse().ok()),
            }
        }
        sled::Error::Io(io) if io.kind() == ErrorKind::PermissionDenied => StoreError::Foreign {
            path: dir.to_path_buf(),
            detail: format!("permission denied: {io}"),
        },
        _ => StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        },
    }
}
