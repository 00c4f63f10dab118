//! `nudge check`: every secondary index recomputed from the records and
//! compared with what is stored, each difference reported in words; with
//! repair, the differences are written back inside transactions.
//!
//! The records are the truth: `leads` (and from each lead its email, phone,
//! status, stage and due entry) and `outbox` (its sending and in-doubt
//! indexes, and a lower bound for the daily counters: erased leads take their
//! touches with them, so a counter may exceed what the outbox still shows).
//! Events and touches of a lead that no longer exists are orphans.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::keys::{counter_key, due_key, id_from_suffix, outbox_key, stage_key, status_key};
use super::{Result, Store, StoreError, decode};
use crate::domain::lead::{Lead, LeadId};
use crate::domain::status::Status;
use crate::domain::touch::{Touch, TouchState};

/// Fixes written per repair transaction.
const FIXES_PER_TX: usize = 1_000;

/// What a check found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckReport {
    /// Lead records read.
    pub leads: u64,
    /// Each inconsistency, in words.
    pub problems: Vec<String>,
    /// Index entries written or removed by the repair.
    pub repaired: usize,
    /// Problems a repair cannot fix (unreadable records, lost events).
    pub unrepairable: usize,
    /// False when the time budget ran out before every tree was compared.
    pub complete: bool,
}

/// The trees a check compares or repairs, in [`Store::check_trees`] order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Index {
    Email,
    Phone,
    Status,
    Stage,
    Due,
    Sending,
    InDoubt,
    Events,
    Outbox,
    Counters,
}

const COMPARED: [Index; 7] = [
    Index::Email,
    Index::Phone,
    Index::Status,
    Index::Stage,
    Index::Due,
    Index::Sending,
    Index::InDoubt,
];

impl Index {
    fn name(self) -> &'static str {
        match self {
            Index::Email => "idx_email",
            Index::Phone => "idx_phone",
            Index::Status => "idx_status",
            Index::Stage => "idx_stage",
            Index::Due => "due",
            Index::Sending => "idx_sending",
            Index::InDoubt => "idx_in_doubt",
            Index::Events => "events",
            Index::Outbox => "outbox",
            Index::Counters => "counters",
        }
    }

    /// The lead an entry is about.
    fn lead_of(self, key: &[u8], value: &[u8]) -> Option<LeadId> {
        match self {
            Index::Email | Index::Phone => id_from_suffix(value),
            Index::Sending | Index::InDoubt | Index::Events | Index::Outbox => {
                id_from_suffix(key.get(..16)?)
            }
            _ => id_from_suffix(key),
        }
    }

    /// What an entry says about its lead ("is active", "has email a@b.c").
    fn describe(self, key: &[u8]) -> String {
        let step = || {
            key.get(16..20)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .map_or("?".into(), |s| (s + 1).to_string())
        };
        match self {
            Index::Email => format!("has email {}", String::from_utf8_lossy(key)),
            Index::Phone => format!("has phone {}", String::from_utf8_lossy(key)),
            Index::Status => {
                let code = key.first().copied().unwrap_or(0);
                match Status::ALL.iter().find(|s| s.code() == code) {
                    Some(s) => format!("is {}", s.as_str()),
                    None => format!("has status code {code}"),
                }
            }
            Index::Stage => {
                let name = key.split(|b| *b == 0).next().unwrap_or_default();
                format!("is in stage {}", String::from_utf8_lossy(name))
            }
            Index::Due => {
                let at = key
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .and_then(|m| DateTime::from_timestamp_millis(i64::try_from(m).ok()?));
                match at {
                    Some(at) => format!("is due at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
                    None => "is due".into(),
                }
            }
            Index::Sending => format!("has touch {} in state sending", step()),
            Index::InDoubt => format!("has touch {} in doubt", step()),
            Index::Events => format!("has event {}", step()),
            Index::Outbox => format!("has touch {}", step()),
            Index::Counters => String::from_utf8_lossy(key).into_owned(),
        }
    }
}

/// One write a repair makes.
enum Fix {
    Put(Index, Vec<u8>, Vec<u8>),
    Remove(Index, Vec<u8>),
}

/// Expected entries of the compared indexes, built from the records.
struct Expected {
    maps: Vec<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Expected {
    fn put(&mut self, index: Index, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        let slot = COMPARED.iter().position(|i| *i == index).unwrap_or(0);
        self.maps[slot].insert(key.into(), value.into());
    }
}

/// The check's working state.
struct Run<'a> {
    store: &'a Store,
    deadline: Option<Instant>,
    report: CheckReport,
    fixes: Vec<Fix>,
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn tree(&self, index: Index) -> &sled::Tree {
        let s = self.store;
        match index {
            Index::Email => &s.idx_email,
            Index::Phone => &s.idx_phone,
            Index::Status => &s.idx_status,
            Index::Stage => &s.idx_stage,
            Index::Due => &s.due,
            Index::Sending => &s.idx_sending,
            Index::InDoubt => &s.idx_in_doubt,
            Index::Events => &s.events,
            Index::Outbox => &s.outbox,
            Index::Counters => &s.counters,
        }
    }

    fn problem(&mut self, text: String) {
        self.report.problems.push(text);
    }

    fn unrepairable(&mut self, text: String) {
        self.report.unrepairable += 1;
        self.problem(format!("{text} (not repairable: restore a backup)"));
    }

    /// Reads every lead; returns each lead's event count, or `None` out of time.
    fn leads(&mut self, expected: &mut Expected) -> Result<Option<HashMap<LeadId, u32>>> {
        let mut counts = HashMap::new();
        for item in self.store.leads.iter() {
            if self.out_of_time() {
                return Ok(None);
            }
            let (key, value) = item?;
            self.report.leads += 1;
            let lead: Lead = match decode(&value) {
                Ok(lead) => lead,
                Err(e) => {
                    let id = id_from_suffix(&key).map_or(hex::encode(&key), |id| id.to_string());
                    self.unrepairable(format!("lead {id} does not decode: {e}"));
                    continue;
                }
            };
            let id = lead.id.to_bytes();
            if let Some(email) = &lead.email {
                expected.put(Index::Email, email.as_bytes(), id);
            }
            if let Some(phone) = &lead.phone {
                expected.put(Index::Phone, phone.as_bytes(), id);
            }
            expected.put(Index::Status, status_key(lead.status, lead.id), []);
            expected.put(Index::Stage, stage_key(lead.stage(), lead.id), []);
            if let Some(due) = lead.next.as_ref().filter(|d| !d.awaiting_human) {
                expected.put(Index::Due, due_key(due.at, lead.id), due.step.to_be_bytes());
            }
            counts.insert(lead.id, lead.event_count);
        }
        Ok(Some(counts))
    }

    /// Reads every touch: the sending / in-doubt indexes, counters' lower
    /// bounds and orphan touches. `false` when out of time.
    fn outbox(&mut self, leads: &HashMap<LeadId, u32>, expected: &mut Expected) -> Result<bool> {
        let mut sent: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for item in self.store.outbox.iter() {
            if self.out_of_time() {
                return Ok(false);
            }
            let (key, value) = item?;
            let Some(id) = Index::Outbox.lead_of(&key, &value) else {
                self.unrepairable(format!("outbox key {} is malformed", hex::encode(&key)));
                continue;
            };
            if !leads.contains_key(&id) {
                self.problem(format!(
                    "outbox holds {} of lead {id}, which does not exist",
                    Index::Outbox.describe(&key).trim_start_matches("has ")
                ));
                self.fixes.push(Fix::Remove(Index::Outbox, key.to_vec()));
                continue;
            }
            let touch: Touch = match decode(&value) {
                Ok(t) => t,
                Err(e) => {
                    self.unrepairable(format!("a touch of lead {id} does not decode: {e}"));
                    continue;
                }
            };
            let key = outbox_key(touch.lead_id, touch.step);
            match touch.state {
                TouchState::Sending => expected.put(Index::Sending, key, []),
                TouchState::InDoubt => expected.put(Index::InDoubt, key, []),
                TouchState::Sent if !touch.dry_run => {
                    *sent
                        .entry(counter_key(touch.channel, touch.updated_at))
                        .or_default() += 1;
                }
                _ => {}
            }
        }
        for (key, at_least) in sent {
            let stored = self
                .store
                .counters
                .get(&key)?
                .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0);
            if stored < at_least {
                self.problem(format!(
                    "counter {} says {stored} sends, but the outbox holds {at_least} sent touches that day",
                    String::from_utf8_lossy(&key)
                ));
                self.fixes.push(Fix::Put(
                    Index::Counters,
                    key,
                    at_least.to_be_bytes().to_vec(),
                ));
            }
        }
        Ok(true)
    }

    /// Events beyond a lead's count or of no lead, and events a lead lacks.
    fn events(&mut self, leads: &HashMap<LeadId, u32>) -> Result<bool> {
        let mut present: HashMap<LeadId, u32> = HashMap::new();
        for key in self.store.events.iter().keys() {
            if self.out_of_time() {
                return Ok(false);
            }
            let key = key?;
            let Some(id) = Index::Events.lead_of(&key, &[]) else {
                self.unrepairable(format!("events key {} is malformed", hex::encode(&key)));
                continue;
            };
            match leads.get(&id) {
                None => {
                    self.problem(format!(
                        "events holds an event of lead {id}, which does not exist"
                    ));
                    self.fixes.push(Fix::Remove(Index::Events, key.to_vec()));
                }
                Some(_) => *present.entry(id).or_default() += 1,
            }
        }
        for (id, count) in leads {
            let found = present.get(id).copied().unwrap_or(0);
            if found != *count {
                self.unrepairable(format!(
                    "lead {id} counts {count} events but {found} are stored"
                ));
            }
        }
        Ok(true)
    }

    /// Compares one index with its expected entries. `false` when out of time.
    fn compare(&mut self, index: Index, mut expected: BTreeMap<Vec<u8>, Vec<u8>>) -> Result<bool> {
        let tree = self.tree(index).clone();
        for item in tree.iter() {
            if self.out_of_time() {
                return Ok(false);
            }
            let (key, value) = item?;
            let lead = Index::lead_of(index, &key, &value)
                .map_or_else(|| hex::encode(&key), |id| id.to_string());
            match expected.remove(key.as_ref()) {
                Some(want) if want == value.as_ref() => {}
                Some(want) => {
                    let owner = Index::lead_of(index, &key, &want)
                        .map_or_else(|| hex::encode(&want), |id| id.to_string());
                    self.problem(format!(
                        "lead {owner} {} but {} holds another value for it (lead {lead})",
                        index.describe(&key),
                        index.name()
                    ));
                    self.fixes.push(Fix::Put(index, key.to_vec(), want));
                }
                None => {
                    self.problem(format!(
                        "{} says lead {lead} {}, but its record does not",
                        index.name(),
                        index.describe(&key)
                    ));
                    self.fixes.push(Fix::Remove(index, key.to_vec()));
                }
            }
        }
        for (key, value) in expected {
            let lead = Index::lead_of(index, &key, &value)
                .map_or_else(|| hex::encode(&key), |id| id.to_string());
            self.problem(format!(
                "lead {lead} {} but is missing from {}",
                index.describe(&key),
                index.name()
            ));
            self.fixes.push(Fix::Put(index, key, value));
        }
        Ok(true)
    }

    /// Writes the fixes, [`FIXES_PER_TX`] to a transaction over the trees.
    fn repair(&mut self) -> Result<()> {
        const ALL: [Index; 10] = [
            Index::Email,
            Index::Phone,
            Index::Status,
            Index::Stage,
            Index::Due,
            Index::Sending,
            Index::InDoubt,
            Index::Events,
            Index::Outbox,
            Index::Counters,
        ];
        let trees: Vec<&sled::Tree> = ALL.iter().map(|i| self.tree(*i)).collect();
        let slot = |index: Index| ALL.iter().position(|i| *i == index).unwrap_or(0);
        for chunk in self.fixes.chunks(FIXES_PER_TX) {
            trees
                .as_slice()
                .transaction(|tx| {
                    for fix in chunk {
                        match fix {
                            Fix::Put(index, key, value) => {
                                tx[slot(*index)].insert(key.as_slice(), value.as_slice())?;
                            }
                            Fix::Remove(index, key) => {
                                tx[slot(*index)].remove(key.as_slice())?;
                            }
                        }
                    }
                    Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
                })
                .map_err(super::flatten)?;
        }
        self.store.flush()?;
        self.report.repaired = self.fixes.len();
        Ok(())
    }
}

impl Store {
    /// Verifies every secondary index against the records, and with `repair`
    /// rewrites the ones that differ. Writers wait while it runs, so it sees
    /// one point in time. With a `deadline` it stops when the time is up and
    /// says so (`complete: false`), repairing nothing.
    pub fn check(&self, repair: bool, deadline: Option<Instant>) -> Result<CheckReport> {
        let _alone = self.exclusive();
        let mut run = Run {
            store: self,
            deadline,
            report: CheckReport::default(),
            fixes: Vec::new(),
        };
        let mut expected = Expected {
            maps: vec![BTreeMap::new(); COMPARED.len()],
        };
        let Some(leads) = run.leads(&mut expected)? else {
            return Ok(run.report);
        };
        if !run.outbox(&leads, &mut expected)? || !run.events(&leads)? {
            return Ok(run.report);
        }
        for (index, map) in COMPARED.into_iter().zip(expected.maps) {
            if !run.compare(index, map)? {
                return Ok(run.report);
            }
        }
        run.report.complete = true;
        if repair && !run.fixes.is_empty() {
            run.repair()?;
        }
        Ok(run.report)
    }
}

/// How long the start-up check may hold writers back.
pub const STARTUP_CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// After an unclean shutdown, checks the indexes (within `budget`) and
    /// logs the outcome; repairs nothing, so a human decides.
    pub fn check_after_crash(&self, budget: std::time::Duration) {
        if !self.closed_uncleanly() {
            return;
        }
        tracing::warn!("the database was not closed cleanly; checking its indexes");
        match self.check(false, Some(Instant::now() + budget)) {
            Ok(r) if !r.complete => tracing::warn!(
                leads = r.leads,
                problems = r.problems.len(),
                "start-up check stopped at its time budget; run `nudge check` for a full one"
            ),
            Ok(r) if r.problems.is_empty() => {
                tracing::info!(
                    leads = r.leads,
                    "start-up check: every index matches the records"
                )
            }
            Ok(r) => {
                for problem in &r.problems {
                    tracing::error!(problem = %problem, "start-up check");
                }
                tracing::error!(
                    problems = r.problems.len(),
                    "start-up check found problems; run `nudge check --repair`"
                );
            }
            Err(e) => tracing::error!(error = %e, "start-up check failed"),
        }
    }
}
