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
//! | `channel_down` | channel name | millis u64 since the channel is down (a restart keeps probing, without a second "down" alert) |
//! | `meta` | `app`, `schema` | marker, schema version |
//!
//! One file per concern: `codec` (record encoding), `keys` (tree keys),
//! `leads` (lead records, events and their indexes), `query` (lists, board
//! columns, search), `outbox` (touches, the due index, daily counters),
//! `suppress` (the suppression list), `migrate` (schema upgrades), `backup`
//! (backup and restore), `check` (index verification and repair) and
//! `space` (the free-space floor). This file opens the database and runs
//! the transactions they share.

mod backup;
mod check;
mod codec;
mod keys;
mod leads;
mod migrate;
mod outbox;
mod query;
mod space;
mod suppress;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::domain::lead::{IdError, LeadId};

pub use backup::{BACKUP_FORMAT_VERSION, BackupError, BackupReport, RestoreReport, restore};
pub use check::{CheckReport, STARTUP_CHECK_BUDGET};
pub use codec::{decode, encode};
pub use keys::{due_key, outbox_key};
pub use leads::{Facts, InsertOutcome, NewLeadWrite};
pub use migrate::SCHEMA_VERSION;
pub use query::{BoardFilter, ListFilter};
pub use suppress::{Suppression, suppression_key};

/// The file holding the pid of the process that owns the database.
const PID_FILE: &str = "nudge.pid";
/// The value of `meta/app`, so a foreign sled database is recognised.
const APP_MARKER: &[u8] = b"nudge";
/// `meta` key present while a process has the database open: found at open,
/// it means the last owner did not close cleanly.
const OPEN_MARKER: &str = "open";

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
    /// The filesystem is nearly full: refused before sled hits ENOSPC.
    #[error(
        "only {free_mb} MiB free on the filesystem of {path}, below the floor of {floor_mb} MiB ([store] min_free_mb); free some space and retry"
    )]
    LowDisk {
        /// Data dir.
        path: PathBuf,
        /// Free MiB.
        free_mb: u64,
        /// The floor in MiB.
        floor_mb: u64,
    },
    /// An I/O or sled failure.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

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
    channel_down: sled::Tree,
    /// Writers share it; a backup or repair takes it alone, so it reads
    /// every tree at one point (sled 0.34 has no snapshots).
    gate: RwLock<()>,
    /// `[store] min_free_mb`; `None` is the default floor.
    min_free_mb: Option<u64>,
    /// The last owner did not close the database cleanly.
    unclean: bool,
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
            channel_down: db.open_tree("channel_down")?,
            gate: RwLock::new(()),
            min_free_mb: None,
            unclean: db.was_recovered() && meta.contains_key(OPEN_MARKER)?,
            db,
        };
        migrate::run(&store, &meta)?;
        meta.insert(OPEN_MARKER, &std::process::id().to_be_bytes())?;
        // Best effort: the pid only improves the "in use" message.
        let _ = fs::write(dir.join(PID_FILE), std::process::id().to_string());
        store.flush()?;
        Ok(store)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the free-space floor (`[store] min_free_mb`; `None` = the
    /// default, 64 MiB or 5% of the filesystem, whichever is larger).
    pub fn with_min_free_mb(mut self, min_free_mb: Option<u64>) -> Store {
        self.min_free_mb = min_free_mb;
        self
    }

    /// Whether the last owner died without closing the database (then
    /// `nudge serve` checks the indexes at start-up).
    pub fn closed_uncleanly(&self) -> bool {
        self.unclean
    }

    /// A writer's share of the gate (many at once; none during a backup).
    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The whole gate: no writer runs until it is dropped.
    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every acknowledged write durable. Call before reporting success.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> Result<T, Abort>) -> Result<T> {
        let _writing = self.writing();
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
        let _writing = self.writing();
        self.imap_state.insert(mailbox.as_bytes(), &value)?;
        self.flush()
    }

    /// Since when `channel` is down, as the worker last recorded it.
    pub fn channel_down_since(&self, channel: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.channel_down.get(channel.as_bytes())?.and_then(|v| {
            let millis = u64::from_be_bytes(v.as_ref().try_into().ok()?);
            DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)
        }))
    }

    /// Records that `channel` is down since `since` (or, with `None`, up
    /// again), durably.
    pub fn set_channel_down(&self, channel: &str, since: Option<DateTime<Utc>>) -> Result<()> {
        let _writing = self.writing();
        match since {
            Some(at) => {
                let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
                self.channel_down
                    .insert(channel.as_bytes(), &millis.to_be_bytes())?;
            }
            None => {
                self.channel_down.remove(channel.as_bytes())?;
            }
        }
        self.flush()
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

impl Drop for Store {
    /// A clean close: the next open does not count as a crash recovery.
    fn drop(&mut self) {
        let Ok(meta) = self.db.open_tree("meta") else {
            return;
        };
        if meta.remove(OPEN_MARKER).is_ok() {
            let _ = self.db.flush();
        }
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
    let mut moved_aside = false;
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
            StoreError::Corrupt { .. } if !moved_aside && move_aside_snapshots(dir) > 0 => {
                moved_aside = true;
            }
            err => return Err(err),
        }
    }
}

/// Renames sled's half-written snapshots (`snap.*.generating`, left by a
/// crash or a full disk mid-snapshot) to `aside-<unix seconds>.snap.…`, so
/// sled recovers from its log instead of failing on them (sled reads every
/// file whose name starts with `snap.`, so the new name must not). Returns
/// how many moved.
fn move_aside_snapshots(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let stamp = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp();
    let mut moved = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("snap.") && name.ends_with(".generating")) {
            continue;
        }
        let aside = entry.path().with_file_name(format!("aside-{stamp}.{name}"));
        match fs::rename(entry.path(), &aside) {
            Ok(()) => {
                tracing::warn!(
                    file = %entry.path().display(),
                    aside = %aside.display(),
                    "the database did not open; moved an interrupted sled snapshot aside and retrying"
                );
                moved += 1;
            }
            Err(e) => {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot move an interrupted sled snapshot aside")
            }
        }
    }
    moved
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
