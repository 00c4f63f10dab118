//! Commands for what the founder's inbox says about a lead (the IMAP
//! watch): the decisions are pure, in `domain::mail::effect`.

use chrono::{DateTime, Utc};

use super::{Engine, EngineError, Result};
use crate::domain::lead::{Lead, LeadId};
use crate::domain::mark::{LeadUpdate, MarkContext};

impl Engine {
    /// Applies a decision about one lead taken from a message in the
    /// founder's inbox (`domain::mail::effect`: a bounce, an auto-reply, a
    /// notice that needs the founder), atomically, flushed and announced.
    pub fn apply_mail(
        &self,
        id: LeadId,
        decide: impl Fn(&Lead, &MarkContext<'_>) -> LeadUpdate,
    ) -> Result<Lead> {
        self.update(id, |current, _, ctx| {
            Ok::<_, EngineError>(decide(current, &ctx.mark_context()))
        })
    }

    /// Postpones until `until` every sendable lead whose email is at
    /// `domain` (a receiving domain refused our mail on policy grounds, so
    /// mailing it more would hurt the sender's reputation); returns them.
    pub fn pause_domain(
        &self,
        domain: &str,
        until: DateTime<Utc>,
        why: &str,
    ) -> Result<Vec<LeadId>> {
        let mut ids = Vec::new();
        for lead in self.store.iter_leads() {
            let lead = lead?;
            let at_domain = lead
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
            if at_domain && lead.status.is_sendable() {
                ids.push(lead.id);
            }
        }
        for id in &ids {
            self.apply_mail(*id, |lead, ctx| {
                crate::domain::mail::effect::postpone(lead, until, why, ctx)
            })?;
        }
        Ok(ids)
    }
}
