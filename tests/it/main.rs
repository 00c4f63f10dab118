//! Integration tests: drive the real `nudge` binary end to end.

mod alerts;
mod backup;
mod cli;
mod cli_edit;
mod cli_errors;
mod cli_hostile;
mod cli_import;
mod cli_mark;
mod cli_seq;
mod common;
#[path = "support/dovecot.rs"]
mod dovecot;
mod fuzz;
mod hooks;
mod hostile;
mod imap;
mod inbound;
mod serve;
mod serve_outage;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
mod tracking;
mod tui;
mod worker;
mod worker_channels;
mod worker_health;
