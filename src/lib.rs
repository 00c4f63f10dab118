//! nudge follows up with every sales lead automatically.
//!
//! # Layout
//!
//! * [`clock`] — where time comes from ([`clock::Clock`]); the only wall-clock read.
//! * [`domain`] — the functional core: leads, status machine, events,
//!   sequences, the scheduler, rendering, copy lint and the reading of
//!   incoming mail (`domain::mail`: replies, auto-replies, bounces). No I/O.
//! * [`store`] — sled trees, keys, transactions and migrations, one file per
//!   concern (leads and their indexes, queries, outbox and due index,
//!   suppression).
//! * [`config`] — the config file, environment overrides and directories.
//! * [`catalog`] — finding and loading sequence files.
//! * [`channels`] — email, SMS, call, dry-run transports and the LLM client.
//! * [`alerts`] — Slack and CRM webhooks for replies, bookings, hot leads,
//!   bounces and in-doubt sends; retried, never blocking the engine.
//! * [`engine`] — the commands that change leads (add, import, mark, erase…),
//!   composing domain decisions with store writes.
//! * [`handle`] — the `EngineHandle`: the engine in this process, or the one
//!   a running `nudge serve` owns, over its Unix socket.
//! * [`inbound`] — the axum HTTP server: lead intake, unsubscribe, the Twilio SMS webhook.
//! * [`logging`] — the rotated log file and stderr (colour only on a
//!   terminal, no timestamps for journald).
//! * [`service`] — systemd: the unit and secrets files `nudge init --service`
//!   writes, and `nudge serve`'s readiness notifications.
//! * [`present`] — what a person sees: relative times, width-aware cells,
//!   lead text escaped for the terminal; shared by the CLI, TUI and logs.
//! * [`import`] / [`export`] — CSV in, CSV/JSONL out.
//! * [`simulate`] — a time-warped dry run of a sequence on a manual clock.
//! * `tls` — the one rustls client set-up for outbound TLS (SMTP, IMAP).
//! * [`demo`] — `nudge demo`: sample leads on a throwaway database, a fast clock.
//! * [`tui`] — the terminal kanban (ratatui); talks to the engine only
//!   through the `EngineHandle`.
//! * [`cli`] — clap commands and their output, one file per command group;
//!   `main.rs` only calls [`cli::main`].
//!
//! Arrows point down only: `domain` knows nothing above it; `config`, `store`
//! and `channels` know the domain; the engine composes them; `cli`, `tui`
//! and `inbound` call the engine (`config` keeps `[keys]` as text; the TUI
//! turns the names into actions). How to build, test, profile and where a
//! change goes: `CONTRIBUTING.md`.

pub mod alerts;
pub mod catalog;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod export;
pub mod handle;
pub mod import;
pub mod inbound;
pub mod logging;
pub mod present;
pub mod service;
pub mod simulate;
pub mod store;
mod tls;
pub mod tui;
