//! Schema migrations, run at open.
//!
//! Each step is idempotent and the new version is written only after the
//! step's data is flushed, so a crash mid-migration simply reruns it.
//!
//! * 1 → 2: schema 1 had no status or stage index; the board and
//!   `leads --status/--stage` need them, so they are built from the leads.
//! * 2 → 3: hot active leads have their own stage (`hot`, the board's Hot
//!   column); schema 2 filed them under their step, so the stage index is
//!   rebuilt from the leads. Stage keys are names, so no other key changes.

use super::keys::{stage_key, status_key};
use super::{Store, StoreError, decode_in};
use crate::domain::lead::Lead;

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 3;

/// Leads written per index batch while migrating.
const BATCH: usize = 10_000;

pub(super) fn run(store: &Store, meta: &sled::Tree) -> Result<(), StoreError> {
    let found = match meta.get("schema")? {
        Some(bytes) => {
            u32::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                path: store.path.clone(),
                detail: "schema version record is malformed".into(),
            })?)
        }
        None => 1,
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: store.path.clone(),
            found,
        });
    }
    let mut version = found;
    while version < SCHEMA_VERSION {
        match version {
            1 => build_status_and_stage_indexes(store)?,
            2 => rebuild_stage_index(store)?,
            _ => unreachable!("every version below SCHEMA_VERSION has a step"),
        }
        version += 1;
        store.flush()?;
        meta.insert("schema", &version.to_be_bytes())?;
        store.flush()?;
    }
    Ok(())
}

fn build_status_and_stage_indexes(store: &Store) -> Result<(), StoreError> {
    let mut status = sled::Batch::default();
    let mut stage = sled::Batch::default();
    let mut pending = 0;
    for value in store.leads.iter().values() {
        let lead: Lead = decode_in("leads", &value?)?;
        status.insert(&status_key(lead.status, lead.id), &[]);
        stage.insert(stage_key(lead.stage(), lead.id), &[] as &[u8]);
        pending += 1;
        if pending == BATCH {
            store.idx_status.apply_batch(std::mem::take(&mut status))?;
            store.idx_stage.apply_batch(std::mem::take(&mut stage))?;
            pending = 0;
        }
    }
    store.idx_status.apply_batch(status)?;
    store.idx_stage.apply_batch(stage)?;
    Ok(())
}

fn rebuild_stage_index(store: &Store) -> Result<(), StoreError> {
    store.idx_stage.clear()?;
    let mut stage = sled::Batch::default();
    let mut pending = 0;
    for value in store.leads.iter().values() {
        let lead: Lead = decode_in("leads", &value?)?;
        stage.insert(stage_key(lead.stage(), lead.id), &[] as &[u8]);
        pending += 1;
        if pending == BATCH {
            store.idx_stage.apply_batch(std::mem::take(&mut stage))?;
            pending = 0;
        }
    }
    store.idx_stage.apply_batch(stage)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::domain::lead::{LeadId, Stage};
    use crate::domain::status::Status;
    use crate::store::{ListFilter, Store, encode};

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1")
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// The fixture is a real schema-1 database written by the layout of that
    /// time: leads, events, due and the email/phone indexes, but no status or
    /// stage index. Regenerate with
    /// `cargo test --lib write_schema_v1_fixture -- --ignored`.
    #[test]
    #[ignore]
    fn write_schema_v1_fixture() {
        let dir = fixture();
        let _ = std::fs::remove_dir_all(&dir);
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(1 << 20)
            .open()
            .unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("app", b"nudge").unwrap();
        meta.insert("schema", &1u32.to_be_bytes()).unwrap();
        let leads = db.open_tree("leads").unwrap();
        let idx_email = db.open_tree("idx_email").unwrap();
        let statuses = [Status::Active, Status::Replied, Status::Paused];
        for (i, status) in statuses.into_iter().enumerate() {
            let id: LeadId = format!("01JD3Q8Z5K9X2V7N4M6B1C0T8{i}").parse().unwrap();
            let email = format!("lead{i}@example.com");
            // Schema-1 records had no `next` field; serde defaults fill it.
            let record = serde_json::json!({
                "id": id.to_string(),
                "name": format!("Lead {i}"),
                "email": email,
                "source": "fixture",
                "sequence": "default",
                "status": status.as_str(),
                "created_at": "2026-01-05T10:00:00Z",
                "updated_at": "2026-01-05T10:00:00Z",
            });
            leads.insert(id.to_bytes(), encode(&record)).unwrap();
            idx_email.insert(email.as_bytes(), &id.to_bytes()).unwrap();
        }
        db.flush().unwrap();
    }

    #[test]
    fn schema_1_fixture_migrates_to_current() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        copy_dir(&fixture(), &dir);
        let store = Store::open(&dir, 1 << 20).unwrap();
        let active = store
            .list(
                &ListFilter {
                    status: Some(Status::Active),
                    ..ListFilter::default()
                },
                10,
            )
            .unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].name, "Lead 0");
        assert!(active[0].next.is_none());
        let replied = store
            .list(
                &ListFilter {
                    stage: Some(Stage::Status(Status::Replied)),
                    ..ListFilter::default()
                },
                10,
            )
            .unwrap();
        assert_eq!(replied.len(), 1);
        assert_eq!(replied[0].email.as_deref(), Some("lead1@example.com"));
        drop(store);
        // Reopening finds the current schema and does not migrate again.
        let store = Store::open(&dir, 1 << 20).unwrap();
        let meta = store.db.open_tree("meta").unwrap();
        let version = meta.get("schema").unwrap().unwrap();
        assert_eq!(
            u32::from_be_bytes(version.as_ref().try_into().unwrap()),
            SCHEMA_VERSION
        );
    }

    /// A schema-2 database filed a hot active lead under its step; opening
    /// it with schema 3 moves it to the Hot stage.
    #[test]
    fn schema_2_hot_leads_move_to_the_hot_stage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T80".parse().unwrap();
        {
            let db = sled::Config::new().path(&dir).open().unwrap();
            let meta = db.open_tree("meta").unwrap();
            meta.insert("app", b"nudge").unwrap();
            meta.insert("schema", &2u32.to_be_bytes()).unwrap();
            let record = serde_json::json!({
                "id": id.to_string(),
                "name": "Hot Lead",
                "email": "hot@example.com",
                "source": "fixture",
                "sequence": "default",
                "status": "active",
                "last_step": 0,
                "hot": true,
                "created_at": "2026-01-05T10:00:00Z",
                "updated_at": "2026-01-05T10:00:00Z",
            });
            db.open_tree("leads")
                .unwrap()
                .insert(id.to_bytes(), encode(&record))
                .unwrap();
            db.open_tree("idx_stage")
                .unwrap()
                .insert(stage_key(Stage::Step(1), id), &[] as &[u8])
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(&dir, 1 << 20).unwrap();
        assert_eq!(
            store.stage_counts(&Default::default()).unwrap(),
            vec![(Stage::Hot, 1)]
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        drop(Store::open(&dir, 1 << 20).unwrap());
        {
            // sled's background flusher can hold the file lock for a moment
            // after the drop; wait for it (bounded) instead of failing.
            let mut attempts = 0;
            let db = loop {
                match sled::Config::new().path(&dir).open() {
                    Ok(db) => break db,
                    Err(_) if attempts < 100 => {
                        attempts += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    Err(e) => panic!("reopen: {e}"),
                }
            };
            db.open_tree("meta")
                .unwrap()
                .insert("schema", &99u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(&dir, 1 << 20).err().unwrap().to_string();
        assert!(err.contains("schema 99"), "{err}");
    }
}
