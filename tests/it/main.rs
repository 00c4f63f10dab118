//! Integration tests: drive the real `nudge` binary end to end.

mod alerts;
mod cli;
mod cli_edit;
mod cli_errors;
mod cli_import;
mod cli_import_exports;
mod cli_mark;
mod cli_seq;
mod common;
#[path = "support/dovecot.rs"]
mod dovecot;
mod first_touch;
mod hooks;
mod imap;
mod inbound;
mod serve;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
mod tracking;
mod tui;
mod worker;
mod worker_channels;
#[path = "support/zones.rs"]
mod zones;
