//! Integration tests: drive the real `nudge` binary end to end.

mod alerts;
mod cli;
mod cli_edit;
mod cli_errors;
mod cli_import;
mod cli_mark;
mod cli_seq;
mod common;
mod deploy;
#[path = "support/dovecot.rs"]
mod dovecot;
mod hooks;
mod imap;
mod inbound;
mod proxy;
mod serve;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
mod tracking;
mod tui;
mod worker;
mod worker_channels;
