//! The TUI's requests to the engine ([`IoRequest`], answered by [`IoResult`])
//! and the background side that runs them: the only code that calls the
//! `EngineHandle`. It runs on its own thread so a slow disk or socket never
//! freezes a key press; queued requests that a newer one supersedes (the
//! same column's page, the counts) are dropped unread.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};

use chrono::{DateTime, Utc};

use super::app::Msg;
use super::popups::filter::SOURCES_LIMIT;
use super::screens::search::SEARCH_LIMIT;
use crate::domain::event::EventKind;
use crate::domain::lead::{Lead, LeadId, LeadInput, Stage};
use crate::domain::mark::Mark;
use crate::domain::stats::Stats;
use crate::domain::status::Status;
use crate::engine::{BoardCard, LeadEdit, LeadView};
use crate::handle::EngineHandle;
use crate::store::BoardFilter;

/// Which leads the board shows, owned, for requests to the I/O thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardQuery {
    /// Only this sequence.
    pub sequence: Option<String>,
    /// Only this source.
    pub source: Option<String>,
}

impl BoardQuery {
    /// The borrowed form the engine takes.
    pub fn as_filter(&self) -> BoardFilter<'_> {
        BoardFilter {
            sequence: self.sequence.as_deref(),
            source: self.source.as_deref(),
        }
    }
}

/// A request the background thread runs against the `EngineHandle`.
#[derive(Debug, Clone, PartialEq)]
pub enum IoRequest {
    /// Leads per stage.
    Counts {
        /// Which leads.
        filter: BoardQuery,
    },
    /// One page of a column.
    Page {
        /// The column's stages.
        stages: Vec<Stage>,
        /// Which leads.
        filter: BoardQuery,
        /// Cards to skip.
        offset: usize,
        /// Cards to read.
        limit: usize,
    },
    /// A lead in full.
    Detail {
        /// Which.
        id: LeadId,
    },
    /// A changed lead, to see whether it is news (a reply, a booking).
    Watch {
        /// Which.
        id: LeadId,
    },
    /// Mark a lead.
    Mark {
        /// Which.
        id: LeadId,
        /// Its name, for messages.
        name: String,
        /// The mark.
        mark: Mark,
        /// Its status before, to know the undo.
        before: Status,
        /// Whether this is an undo (which itself cannot be undone).
        undo: bool,
    },
    /// Postpone the next touch.
    Snooze {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
        /// Until.
        until: DateTime<Utc>,
    },
    /// Make the next touch due now.
    SendNow {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
    },
    /// The Stats screen's numbers.
    Stats {
        /// Which leads.
        filter: BoardQuery,
    },
    /// Leads matching a text.
    Search {
        /// The text.
        query: String,
    },
    /// The lead sources, for the filter picker.
    Sources,
    /// Add a note.
    Note {
        /// Which.
        id: LeadId,
        /// Its name.
        name: String,
        /// The note.
        text: String,
    },
    /// Add a lead from the form.
    Add {
        /// The form's input (boxed: it is the largest request).
        input: Box<LeadInput>,
    },
    /// Change a lead from the form.
    Edit {
        /// Which.
        id: LeadId,
        /// What changes.
        edit: LeadEdit,
    },
    /// Each channel's health, for the title bar.
    Health,
}

impl IoRequest {
    /// Requests with the same key supersede each other in the queue: only
    /// the newest page of a column, or the newest count, is worth reading.
    pub fn supersedes(&self, other: &IoRequest) -> bool {
        match (self, other) {
            (IoRequest::Counts { .. }, IoRequest::Counts { .. }) => true,
            (IoRequest::Page { stages: a, .. }, IoRequest::Page { stages: b, .. }) => a == b,
            (IoRequest::Detail { id: a }, IoRequest::Detail { id: b }) => a == b,
            (IoRequest::Watch { id: a }, IoRequest::Watch { id: b }) => a == b,
            (IoRequest::Stats { .. }, IoRequest::Stats { .. })
            | (IoRequest::Search { .. }, IoRequest::Search { .. })
            | (IoRequest::Sources, IoRequest::Sources)
            | (IoRequest::Health, IoRequest::Health) => true,
            _ => false,
        }
    }
}

/// What the background thread answers.
#[derive(Debug, Clone)]
pub enum IoResult {
    /// Leads per stage.
    Counts(Vec<(Stage, usize)>),
    /// Each channel's health (empty when it cannot be read).
    Health(Vec<crate::engine::ChannelStatus>),
    /// A page of a column.
    Page {
        /// The column's stages.
        stages: Vec<Stage>,
        /// Index of the first card.
        offset: usize,
        /// The cards.
        cards: Vec<BoardCard>,
    },
    /// A lead in full.
    Detail(Box<LeadView>),
    /// A changed lead and its events since last seen.
    Watched {
        /// The lead now.
        lead: Box<Lead>,
        /// Its new events.
        new: Vec<EventKind>,
    },
    /// A mark landed.
    Marked {
        /// The lead after.
        lead: Box<Lead>,
        /// The mark.
        mark: Mark,
        /// Status before.
        before: Status,
        /// Whether it was an undo.
        undo: bool,
    },
    /// The Stats screen's numbers.
    Stats(Box<Stats>),
    /// Search results.
    Found {
        /// The query they answer.
        query: String,
        /// The matches.
        leads: Vec<Lead>,
    },
    /// The lead sources.
    Sources(Vec<String>),
    /// The form's lead was added or changed.
    Saved {
        /// The lead's name.
        name: String,
        /// Added (else edited).
        added: bool,
    },
    /// The engine refused the form; the text says why.
    Rejected(String),
    /// Something else landed; the text says what.
    Done(String),
    /// A request failed; the text says why.
    Failed(String),
}

/// Runs [`IoRequest`]s against a handle.
pub struct Executor {
    handle: EngineHandle,
    /// Events per lead already seen, so a change shows only what is new.
    seen: HashMap<LeadId, u32>,
}

impl Executor {
    /// An executor over `handle`.
    pub fn new(handle: EngineHandle) -> Executor {
        Executor {
            handle,
            seen: HashMap::new(),
        }
    }

    /// Runs one request; errors come back as [`IoResult::Failed`].
    pub fn run(&mut self, request: IoRequest) -> IoResult {
        let h = &mut self.handle;
        let failed = |what: &str, e: crate::handle::HandleError| {
            IoResult::Failed(if what.is_empty() {
                e.to_string()
            } else {
                format!("{what}: {e}")
            })
        };
        match request {
            // An older server does not know the request: no indicator.
            IoRequest::Health => IoResult::Health(h.channel_health().unwrap_or_default()),
            IoRequest::Counts { filter } => match h.stage_counts(&filter.as_filter()) {
                Ok(counts) => IoResult::Counts(counts),
                Err(e) => failed("", e),
            },
            IoRequest::Page {
                stages,
                filter,
                offset,
                limit,
            } => match h.board_page(&stages, &filter.as_filter(), offset, limit) {
                Ok(cards) => {
                    for card in &cards {
                        self.seen.insert(card.lead.id, card.lead.event_count);
                    }
                    IoResult::Page {
                        stages,
                        offset,
                        cards,
                    }
                }
                Err(e) => failed("", e),
            },
            IoRequest::Detail { id } => match h.show(&id.to_string()) {
                Ok(view) => IoResult::Detail(Box::new(view)),
                Err(e) => failed("", e),
            },
            IoRequest::Watch { id } => match h.show(&id.to_string()) {
                Ok(view) => {
                    let total = view.events.len();
                    // Unseen before: only its latest event is news.
                    let seen = self
                        .seen
                        .insert(id, total as u32)
                        .map_or(total.saturating_sub(1), |n| n as usize)
                        .min(total);
                    IoResult::Watched {
                        new: view.events[seen..].iter().map(|e| e.kind.clone()).collect(),
                        lead: Box::new(view.lead),
                    }
                }
                // Erased meanwhile: nothing to announce.
                Err(_) => IoResult::Done(String::new()),
            },
            IoRequest::Mark {
                id,
                name,
                mark,
                before,
                undo,
            } => match h.mark(&id.to_string(), mark, None) {
                Ok(lead) => IoResult::Marked {
                    lead: Box::new(lead),
                    mark,
                    before,
                    undo,
                },
                Err(e) => failed(&name, e),
            },
            IoRequest::Snooze { id, name, until } => match h.snooze(&id.to_string(), until) {
                Ok(_) => IoResult::Done(format!(
                    "{name} snoozed until {}",
                    until.format("%a %b %-d")
                )),
                Err(e) => failed(&name, e),
            },
            IoRequest::SendNow { id, name } => match h.send_now(&id.to_string()) {
                Ok(_) => IoResult::Done(format!("{name}: next touch is due now")),
                Err(e) => failed(&name, e),
            },
            IoRequest::Stats { filter } => match h.stats(&filter.as_filter()) {
                Ok(stats) => IoResult::Stats(Box::new(stats)),
                Err(e) => failed("stats", e),
            },
            IoRequest::Search { query } => match h.search(&query, SEARCH_LIMIT) {
                Ok(leads) => IoResult::Found { query, leads },
                Err(e) => failed("search", e),
            },
            IoRequest::Sources => match h.sources(SOURCES_LIMIT) {
                Ok(sources) => IoResult::Sources(sources),
                Err(e) => failed("sources", e),
            },
            IoRequest::Note { id, name, text } => match h.note(&id.to_string(), &text) {
                Ok(_) => IoResult::Done(format!("note added to {name}")),
                Err(e) => failed(&name, e),
            },
            IoRequest::Add { input } => match h.add(&input) {
                Ok(_) => IoResult::Saved {
                    name: input.name.trim().to_string(),
                    added: true,
                },
                Err(e) => IoResult::Rejected(e.to_string()),
            },
            IoRequest::Edit { id, edit } => match h.edit(&id.to_string(), &edit) {
                Ok(lead) => IoResult::Saved {
                    name: lead.name,
                    added: false,
                },
                Err(e) => IoResult::Rejected(e.to_string()),
            },
        }
    }
}

/// Runs requests from `requests` until it closes, answering on `results`.
/// Superseded requests still queued are dropped, so a burst of changes costs
/// one read per column, not one per change.
pub fn serve(mut executor: Executor, requests: Receiver<IoRequest>, results: Sender<Msg>) {
    let mut queue: Vec<IoRequest> = Vec::new();
    while let Ok(first) = requests.recv() {
        queue.push(first);
        queue.extend(requests.try_iter());
        while !queue.is_empty() {
            let request = queue.remove(0);
            if queue.iter().any(|later| later.supersedes(&request)) {
                continue;
            }
            let result = executor.run(request);
            if results.send(Msg::Io(result)).is_err() {
                return;
            }
            queue.extend(requests.try_iter());
        }
    }
}
