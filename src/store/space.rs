//! The free-space floor: new leads are refused while the data dir's
//! filesystem is nearly full, so sled never hits ENOSPC mid-write (a full
//! disk during a snapshot left a database that would not open).

use super::{Result, Store, StoreError};

/// The default floor's fixed part.
const DEFAULT_FLOOR_MB: u64 = 64;
/// The default floor's share of the filesystem, in percent.
const DEFAULT_FLOOR_PERCENT: u64 = 5;

impl Store {
    /// The floor in bytes for this store's filesystem.
    fn free_space_floor(&self, total: u64) -> u64 {
        match self.min_free_mb {
            Some(mb) => mb * 1024 * 1024,
            None => (DEFAULT_FLOOR_MB * 1024 * 1024).max(total / 100 * DEFAULT_FLOOR_PERCENT),
        }
    }

    /// Free bytes on the data dir's filesystem and the floor, or `None`
    /// when the filesystem cannot be asked (then writes are not blocked).
    pub fn free_space(&self) -> Option<(u64, u64)> {
        let free = fs2::available_space(&self.path).ok()?;
        let total = fs2::total_space(&self.path).ok()?;
        Some((free, self.free_space_floor(total)))
    }

    /// Refuses a write that would take the filesystem below the floor.
    pub(super) fn ensure_free_space(&self) -> Result<()> {
        match self.free_space() {
            Some((free, floor)) if free < floor => Err(StoreError::LowDisk {
                path: self.path.clone(),
                free_mb: free / (1024 * 1024),
                floor_mb: floor / (1024 * 1024),
            }),
            _ => Ok(()),
        }
    }
}
