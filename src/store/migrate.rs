//! Schema migrations, run at open.
//!
//! Each step is idempotent and the new version is written only after the
//! step's data is flushed, so a crash mid-migration simply reruns it.
//!
//! * 1 → 2: schema 1 had no status or stage index; the board and
//!   `leads --status/--stage` need them, so they are built from the leads.

use super::{Store, StoreError, decode_in, stage_key, status_key};
use crate::domain::lead::Lead;

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 2;

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
