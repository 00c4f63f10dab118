//! Pieces more than one screen or popup draws.
//!
//! * [`card`] — a lead's card on the board.
//! * [`toast`] — the short messages at the bottom right.
//! * [`text_input`] — a one-line text field: typing, Backspace, a cursor.

pub mod card;
pub mod text_input;
pub mod toast;
