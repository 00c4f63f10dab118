//! The screens that fill the terminal, one file each: its state, its keys
//! and its drawing. [`crate::tui::app`] decides which one is in front.
//!
//! * [`board`] — the kanban of leads by stage.
//! * [`detail`] — one lead in full: details, next touch, timeline.
//! * [`activity`] — what the worker is doing, live.
//! * [`stats`] — the funnel, rates, speed to lead and today's sends.
//! * [`search`] — leads found by name, email or company.

pub mod activity;
pub mod board;
pub mod detail;
pub mod search;
pub mod stats;

use crate::domain::lead::LeadId;
use crate::tui::io::IoRequest;

/// Which screen fills the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// The kanban.
    #[default]
    Board,
    /// What the worker is doing, live.
    Activity,
    /// The funnel, rates, speed to lead and today's sends.
    Stats,
    /// Leads found by name, email or company.
    Search,
    /// One lead in full.
    Detail,
}

/// What a key on a screen asks of the app, beyond the screen's own state.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Run these reads (often none).
    Read(Vec<IoRequest>),
    /// Open this lead's detail.
    Open(LeadId),
    /// Go back to the board.
    Board,
    /// Quit.
    Quit,
}
