//! The suppression list: hashed contacts that may never be messaged again,
//! kept after a lead is erased.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Abort, Result, Store, Tx, abort, decode_in, encode};
use crate::domain::lead::Lead;

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

impl Tx<'_> {
    pub(super) fn suppression(&self, contact: &str) -> Result<Option<Suppression>, Abort> {
        match self.suppress.get(suppression_key(contact))? {
            Some(bytes) => Ok(Some(decode_in("suppress", &bytes).map_err(abort)?)),
            None => Ok(None),
        }
    }

    pub(super) fn suppress_contacts(
        &self,
        lead: &Lead,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Abort> {
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
        let _writing = self.writing();
        self.suppress.insert(suppression_key(contact), entry)?;
        Ok(())
    }

    /// Lifts a suppression (an explicit re-subscribe, e.g. SMS START).
    pub fn unsuppress(&self, contact: &str) -> Result<bool> {
        let _writing = self.writing();
        Ok(self.suppress.remove(suppression_key(contact))?.is_some())
    }
}
