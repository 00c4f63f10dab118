//! The read side of the engine: a lead's full view, lists, board columns,
//! search, pipeline counts and the Stats screen's numbers. Nothing here
//! writes.

use chrono::{DateTime, Utc};

use super::{ChannelStatus, Engine, Result};
use crate::domain::event::Event;
use crate::domain::lead::{Due, Lead, LeadId, Stage};
use crate::domain::render::{Message, render_step};
use crate::domain::sequence::Channel;
use crate::domain::stats::{ChannelToday, Stats, StatsBuilder};
use crate::domain::status::Status;
use crate::domain::touch::{Touch, TouchState};
use crate::store::{BoardFilter, ListFilter};

/// Pipeline counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusReport {
    /// Where the database lives.
    pub data_dir: String,
    /// Leads per status.
    pub by_status: Vec<(Status, usize)>,
    /// Touches due now.
    pub due_now: usize,
    /// Touches a human must settle.
    pub in_doubt: usize,
    /// Each channel's health, when the engine runs a worker (`nudge serve`,
    /// the TUI); empty otherwise, and from an older server.
    #[serde(default)]
    pub channels: Vec<ChannelStatus>,
    /// The next touches the worker will send, earliest first (at most
    /// [`NEXT_DUE_SHOWN`]); empty from an older server.
    #[serde(default)]
    pub next_due: Vec<(Lead, Due)>,
}

/// How many upcoming touches [`StatusReport::next_due`] lists.
pub const NEXT_DUE_SHOWN: usize = 5;

/// A lead with its history and next touch, for `show` and the detail view.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LeadView {
    /// The record.
    pub lead: Lead,
    /// Its events, oldest first.
    pub events: Vec<Event>,
    /// Its outbox records, by step.
    pub touches: Vec<Touch>,
    /// The next touch and its exact text, if one is planned.
    pub next: Option<(Due, Message)>,
}

/// A lead as a board card shows it: the record plus whether one of its
/// touches needs a human, which the lead record alone does not say.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoardCard {
    /// The record.
    pub lead: Lead,
    /// A touch is in doubt (`nudge resolve`).
    pub in_doubt: bool,
    /// A touch failed for good.
    pub failed: bool,
    /// The channel of a touch being sent right now (claimed, not settled):
    /// the lead's next touch is cleared while it goes out.
    #[serde(default)]
    pub sending: Option<crate::domain::sequence::Channel>,
}

impl Engine {
    /// A lead with its timeline, its touches and its next touch rendered
    /// exactly (the stored words when a retry is pending).
    pub fn show(&self, id: LeadId) -> Result<LeadView> {
        let lead = self.lead(id)?;
        let events = self.store.events(id)?;
        let touches = self.store.touches(id)?;
        let next = match &lead.next {
            Some(due) => {
                let pending = touches
                    .iter()
                    .find(|t| t.step == due.step && t.state == TouchState::Pending);
                let message = match pending {
                    Some(touch) => touch.message.clone(),
                    None => {
                        let seq = self.catalog.get(&lead.sequence)?;
                        render_step(seq, due.step as usize, &lead, &self.settings.sender)?
                    }
                };
                Some((due.clone(), message))
            }
            None => None,
        };
        Ok(LeadView {
            lead,
            events,
            touches,
            next,
        })
    }

    /// Up to `limit` leads, newest first; with `in_doubt`, only leads with a
    /// touch a human must settle.
    pub fn list(&self, filter: &ListFilter, limit: usize, in_doubt: bool) -> Result<Vec<Lead>> {
        if !in_doubt {
            return Ok(self.store.list(filter, limit)?);
        }
        let mut ids: Vec<LeadId> = self
            .store
            .in_doubt()?
            .into_iter()
            .map(|t| t.lead_id)
            .collect();
        ids.dedup();
        let mut leads = Vec::new();
        for id in ids.into_iter().take(limit) {
            leads.extend(self.store.lead(id)?);
        }
        Ok(leads)
    }

    /// Leads per board stage, optionally of one sequence or source (board
    /// column counts).
    pub fn stage_counts(&self, filter: &BoardFilter) -> Result<Vec<(Stage, usize)>> {
        Ok(self.store.stage_counts(filter)?)
    }

    /// One page of a board column, newest first (see [`Store::stage_page`]),
    /// each lead flagged when a touch needs a human (in doubt or failed).
    pub fn board_page(
        &self,
        stages: &[Stage],
        filter: &BoardFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BoardCard>> {
        let leads = self.store.stage_page(stages, filter, offset, limit)?;
        leads
            .into_iter()
            .map(|lead| {
                let touches = self.store.touches(lead.id)?;
                let has = |state| touches.iter().any(|t| t.state == state);
                Ok(BoardCard {
                    in_doubt: has(TouchState::InDoubt),
                    failed: has(TouchState::Failed),
                    sending: touches
                        .iter()
                        .find(|t| t.state == TouchState::Sending)
                        .map(|t| t.channel),
                    lead,
                })
            })
            .collect()
    }

    /// Counts for `nudge status` and the board header.
    pub fn status(&self) -> Result<StatusReport> {
        let mut by_status = Vec::new();
        for status in Status::ALL {
            by_status.push((status, self.store.count_status(status)?));
        }
        Ok(StatusReport {
            data_dir: self.store.path().display().to_string(),
            by_status,
            due_now: self.store.due_until(self.clock.now(), usize::MAX)?.len(),
            in_doubt: self.store.in_doubt()?.len(),
            channels: self.channel_health(),
            next_due: self.next_due(NEXT_DUE_SHOWN)?,
        })
    }

    /// The next `limit` touches in the due index with their leads, earliest
    /// first (reads only the head of the index).
    fn next_due(&self, limit: usize) -> Result<Vec<(Lead, Due)>> {
        let mut out = Vec::new();
        for (_, id, _) in self.store.due_until(DateTime::<Utc>::MAX_UTC, limit)? {
            if let Some(lead) = self.store.lead(id)?
                && let Some(due) = lead.next.clone()
            {
                out.push((lead, due));
            }
        }
        Ok(out)
    }

    /// Up to `limit` leads whose name, email or company contains `query`,
    /// newest first (a bounded scan; see [`Store::search`]).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Lead>> {
        Ok(self.store.search(query, limit)?)
    }

    /// The distinct lead sources (at most `limit`), for the board filter.
    pub fn sources(&self, limit: usize) -> Result<Vec<String>> {
        Ok(self.store.sources(limit)?)
    }

    /// The Stats screen's numbers, for leads passing `filter`. Reads every
    /// lead and its events once (callers run it off any UI thread); today's
    /// live sends come from the daily counters.
    pub fn stats(&self, filter: &BoardFilter) -> Result<Stats> {
        let now = self.clock.now();
        let mut builder = StatsBuilder::new(now);
        for lead in self.store.iter_leads() {
            let lead = lead?;
            if !filter.admits(&lead) {
                continue;
            }
            let events = self.store.events(lead.id)?;
            let sequence = self.catalog.get(&lead.sequence).ok();
            builder.add(&lead, &events, |step| {
                let steps = &sequence?.steps;
                let at = steps.iter().position(|s| s.id == step)?;
                u32::try_from(at + 1).ok()
            });
        }
        let mut today = Vec::new();
        for channel in [Channel::Email, Channel::Sms] {
            let cap = self
                .daily_caps
                .iter()
                .find(|(c, _)| *c == channel)
                .map_or(0, |(_, cap)| *cap);
            today.push(ChannelToday {
                channel,
                sent: self.store.sent_on(channel, now)?,
                cap,
            });
        }
        Ok(builder.finish(today))
    }
}
