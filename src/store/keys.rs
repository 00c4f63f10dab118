//! The keys of the trees: big-endian numbers first, so ranges sort by time
//! and by lead. The table of trees is in the module doc of [`super`].

use chrono::{DateTime, Utc};

use crate::domain::lead::{LeadId, Stage};
use crate::domain::sequence::Channel;
use crate::domain::status::Status;

/// `due` key: millis big-endian then the lead id.
pub fn due_key(at: DateTime<Utc>, id: LeadId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&(at.timestamp_millis().max(0) as u64).to_be_bytes());
    key[8..].copy_from_slice(&id.to_bytes());
    key
}

pub(super) fn event_key(id: LeadId, seq: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// `outbox` key: lead id then step index.
pub fn outbox_key(id: LeadId, step: u32) -> [u8; 20] {
    event_key(id, step)
}

pub(super) fn counter_key(channel: Channel, at: DateTime<Utc>) -> Vec<u8> {
    format!("{channel}/{}", at.format("%Y-%m-%d")).into_bytes()
}

pub(super) fn status_key(status: Status, id: LeadId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = status.code();
    key[1..].copy_from_slice(&id.to_bytes());
    key
}

pub(super) fn stage_prefix(stage: Stage) -> Vec<u8> {
    let mut key = stage.to_string().into_bytes();
    key.push(0);
    key
}

pub(super) fn stage_key(stage: Stage, id: LeadId) -> Vec<u8> {
    let mut key = stage_prefix(stage);
    key.extend_from_slice(&id.to_bytes());
    key
}

pub(super) fn id_from_suffix(key: &[u8]) -> Option<LeadId> {
    let tail: [u8; 16] = key.get(key.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(LeadId::from_bytes(tail))
}
