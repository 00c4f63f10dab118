//! The outbox (every touch with its state and exact message), its sending
//! and in-doubt indexes, the daily send counters, and the due index the
//! worker reads.

use chrono::{DateTime, Utc};

use super::keys::{counter_key, due_key, id_from_suffix, outbox_key};
use super::{Abort, Result, Store, Tx, abort, decode_in, encode};
use crate::domain::lead::LeadId;
use crate::domain::sequence::Channel;
use crate::domain::touch::{Touch, TouchState};

impl Tx<'_> {
    /// Writes a touch and keeps the sending / in-doubt indexes and the daily
    /// counters in step with its state.
    pub(super) fn put_touch(&self, touch: &Touch) -> Result<(), Abort> {
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
}

impl Store {
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

    /// Drops a due entry that no lead points at (defensive cleanup so a
    /// stray key can never make the worker spin).
    pub fn remove_due(&self, at: DateTime<Utc>, id: LeadId) -> Result<()> {
        let key = due_key(at, id);
        let _writing = self.writing();
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
}
