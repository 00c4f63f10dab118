//! Reads over many leads through the narrowest index: lists, board columns
//! and their counts, search, sources.

use super::keys::{id_from_suffix, stage_prefix};
use super::{Result, Store, decode_in};
use crate::domain::lead::{Lead, LeadId, Stage};
use crate::domain::status::Status;

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

impl Store {
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
}
