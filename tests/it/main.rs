//! Integration tests: drive the real `nudge` binary end to end.

mod alerts;
mod backup;
mod cli;
mod cli_edit;
mod cli_errors;
mod cli_hostile;
mod cli_import;
mod cli_import_exports;
mod cli_mark;
mod cli_seq;
mod common;
mod deploy;
mod dkim;
mod doctor;
#[path = "support/dovecot.rs"]
mod dovecot;
mod first_touch;
mod fuzz;
mod hooks;
mod hostile;
mod imap;
mod inbound;
mod mail_format;
mod proxy;
mod serve;
mod serve_outage;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
mod spam_score;
mod tracking;
mod tui;
mod worker;
mod worker_channels;
mod worker_health;
#[path = "support/zones.rs"]
mod zones;
