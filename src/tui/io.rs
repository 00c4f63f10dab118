//! The background side of the TUI: the only code that calls the
//! `EngineHandle`. It runs on its own thread so a slow disk or socket never
//! freezes a key press; queued requests that a newer one supersedes (the
//! same column's page, the counts) are dropped unread.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};

use super::app::{IoRequest, IoResult, Msg, SEARCH_LIMIT, SOURCES_LIMIT};
use crate::domain::lead::LeadId;
use crate::handle::EngineHandle;

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
