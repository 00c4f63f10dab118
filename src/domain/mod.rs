//! The functional core: leads, statuses, events, sequences, the scheduler,
//! rendering, marks, copy lint and the reading of incoming mail. Nothing here does I/O or reads the clock.

pub mod breaker;
pub mod event;
pub mod gate;
pub mod lead;
pub mod links;
pub mod lint;
pub mod mail;
pub mod mark;
pub mod phone;
pub mod render;
pub mod rules;
pub mod schedule;
pub mod sequence;
pub mod span;
pub mod stats;
pub mod status;
pub mod toml_pos;
pub mod touch;
pub mod tracking;
