//! The `EngineHandle`: one way to talk to the engine, whether it runs in this
//! process or in a `nudge serve` that owns the database.
//!
//! Only one process can hold the sled database. The owner serves the engine
//! on a Unix socket in the data dir (`nudge.sock`, mode 0600); every other
//! `nudge` command connects to it when it is there and opens the database
//! itself when it is not. The protocol is one JSON request per line and one
//! JSON reply per line (several for `export`, a stream for `subscribe`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::domain::lead::{Lead, LeadId, LeadInput, Stage};
use crate::domain::mark::Mark;
use crate::domain::stats::Stats;
use crate::domain::status::Status;
use crate::domain::touch::Resolution;
use crate::engine::{BoardCard, Change, Engine, EngineError, LeadEdit, LeadView, StatusReport};
use crate::export::{Format, export};
use crate::import::{ImportOptions, ImportReport, import_csv};
use crate::store::{BackupReport, BoardFilter, CheckReport, ListFilter};

mod server;

pub use server::{bind, serve};

/// The socket's file name inside the data dir.
pub const SOCKET_FILE: &str = "nudge.sock";

/// Where the owner listens for `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Why a handle call failed. Remote errors carry the owner's message verbatim,
/// so the user sees the same words either way.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The owner answered with an error.
    #[error("{0}")]
    Remote(String),
    /// Talking to the owner failed.
    #[error("lost the connection to the running nudge ({0}); is `nudge serve` still up?")]
    Io(#[from] std::io::Error),
    /// The owner sent something we do not understand.
    #[error("unexpected reply from the running nudge: {0}")]
    Protocol(String),
    /// Export failed locally (kept whole, so a closed pipe is recognisable).
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// Import failed locally.
    #[error("{0}")]
    Other(String),
}

type Result<T, E = HandleError> = std::result::Result<T, E>;

/// Filters for listing leads, in wire form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this stage (`new`, `step-2`, `replied`…).
    pub stage: Option<String>,
    /// Only this sequence.
    pub sequence: Option<String>,
    /// Only leads with a touch in doubt.
    pub in_doubt: bool,
    /// At most this many.
    pub limit: usize,
}

/// A request to the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Add a lead.
    Add {
        /// Raw input.
        input: LeadInput,
    },
    /// Import a CSV file (read by the owner).
    Import {
        /// Absolute path.
        path: PathBuf,
        /// The name the user gave it, for messages and the default source.
        label: String,
        /// Options.
        options: ImportOptions,
    },
    /// List leads.
    List {
        /// Filters.
        query: ListQuery,
    },
    /// One lead in full.
    Show {
        /// Id or prefix.
        id: String,
    },
    /// Mark a lead.
    Mark {
        /// Id or prefix.
        id: String,
        /// The mark's name.
        mark: String,
        /// Optional note.
        note: Option<String>,
    },
    /// Settle an in-doubt touch.
    Resolve {
        /// Id or prefix.
        id: String,
        /// `true` = it was sent; `false` = resend.
        sent: bool,
    },
    /// Postpone a lead's next touch.
    Snooze {
        /// Id or prefix.
        id: String,
        /// Until.
        until: DateTime<Utc>,
    },
    /// Make a lead's next touch due now.
    SendNow {
        /// Id or prefix.
        id: String,
    },
    /// Erase a lead.
    Erase {
        /// Id or prefix.
        id: String,
    },
    /// Export everything; replies with lines, then the count.
    Export {
        /// Format.
        format: Format,
    },
    /// Pipeline counts.
    Status,
    /// Each channel's health (live, dry-run, down, paused).
    ChannelHealth,
    /// Leads per board stage.
    StageCounts {
        /// Only this sequence.
        sequence: Option<String>,
        /// Only this source.
        #[serde(default)]
        source: Option<String>,
    },
    /// One page of a board column.
    BoardPage {
        /// Stage names (`new`, `step-2`, `replied`…); several make one merged column.
        stages: Vec<String>,
        /// Only this sequence.
        sequence: Option<String>,
        /// Only this source.
        #[serde(default)]
        source: Option<String>,
        /// Leads to skip, newest first.
        offset: usize,
        /// At most this many.
        limit: usize,
    },
    /// Add a note to a lead's timeline.
    Note {
        /// Id or prefix.
        id: String,
        /// The note.
        text: String,
    },
    /// Change a lead's contact details.
    Edit {
        /// Id or prefix.
        id: String,
        /// What changes.
        edit: LeadEdit,
    },
    /// Leads whose name, email or company contains a text.
    Search {
        /// The text.
        query: String,
        /// At most this many.
        limit: usize,
    },
    /// The distinct lead sources.
    Sources {
        /// At most this many.
        limit: usize,
    },
    /// The Stats screen's numbers.
    Stats {
        /// Only this sequence.
        sequence: Option<String>,
        /// Only this source.
        source: Option<String>,
    },
    /// Stream change notifications until the client hangs up.
    Subscribe,
    /// Write a consistent backup of every tree (the owner writes the file).
    Backup {
        /// Absolute path of the backup file.
        path: PathBuf,
    },
    /// Verify (and optionally repair) every secondary index.
    Check {
        /// Rebuild what differs.
        repair: bool,
    },
}

/// One reply line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    /// The result.
    Ok(serde_json::Value),
    /// The error message.
    Err(String),
    /// One line of an export.
    Line(String),
    /// A change notification.
    Change(Change),
}

/// The engine, local or remote.
pub enum EngineHandle {
    /// This process owns the database.
    Local(Arc<Engine>),
    /// A `nudge serve` owns it; talk over its socket.
    Remote(RemoteEngine),
}

/// A connection to the owner's socket.
pub struct RemoteEngine {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RemoteEngine {
    /// Connects if an owner is listening; `None` when there is no socket or
    /// it is stale (its owner died), so the caller opens the database itself.
    pub fn connect(data_dir: &Path) -> Option<RemoteEngine> {
        let stream = UnixStream::connect(socket_path(data_dir)).ok()?;
        let writer = stream.try_clone().ok()?;
        Some(RemoteEngine {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, request: &Request) -> Result<()> {
        let mut line =
            serde_json::to_vec(request).map_err(|e| HandleError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        self.writer.flush()?;
        Ok(())
    }

    fn reply(&mut self) -> Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(HandleError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the running nudge closed the connection",
            )));
        }
        serde_json::from_str(&line)
            .map_err(|e| HandleError::Protocol(format!("{e}: {}", line.trim())))
    }

    fn call<T: serde::de::DeserializeOwned>(&mut self, request: &Request) -> Result<T> {
        self.send(request)?;
        match self.reply()? {
            Reply::Ok(value) => {
                serde_json::from_value(value).map_err(|e| HandleError::Protocol(e.to_string()))
            }
            Reply::Err(message) => Err(HandleError::Remote(message)),
            other => Err(HandleError::Protocol(format!("{other:?}"))),
        }
    }

    /// Streams change notifications to `on_change` until it returns false or
    /// the owner goes away.
    pub fn subscribe(mut self, mut on_change: impl FnMut(Change) -> bool) -> Result<()> {
        self.send(&Request::Subscribe)?;
        loop {
            match self.reply()? {
                Reply::Change(change) => {
                    if !on_change(change) {
                        return Ok(());
                    }
                }
                Reply::Err(message) => return Err(HandleError::Remote(message)),
                other => return Err(HandleError::Protocol(format!("{other:?}"))),
            }
        }
    }
}

fn lead_id(engine: &Engine, prefix: &str) -> Result<LeadId> {
    Ok(engine.resolve(prefix)?)
}

fn list_filter(query: &ListQuery) -> Result<ListFilter> {
    Ok(ListFilter {
        status: query.status,
        stage: query
            .stage
            .as_deref()
            .map(str::parse::<Stage>)
            .transpose()
            .map_err(HandleError::Other)?,
        sequence: query.sequence.clone(),
    })
}

impl EngineHandle {
    /// Whether this handle talks to a running `nudge serve`.
    pub fn is_remote(&self) -> bool {
        matches!(self, EngineHandle::Remote(_))
    }

    /// Adds a lead; returns its id once durable.
    pub fn add(&mut self, input: &LeadInput) -> Result<LeadId> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.add(input)?),
            EngineHandle::Remote(r) => r.call(&Request::Add {
                input: input.clone(),
            }),
        }
    }

    /// Imports a CSV file. `path` must be absolute when remote (the owner
    /// reads it); `label` is how the user named it.
    pub fn import(
        &mut self,
        path: &Path,
        label: &str,
        options: &ImportOptions,
        progress: &indicatif::ProgressBar,
    ) -> Result<ImportReport> {
        match self {
            EngineHandle::Local(engine) => import_file(engine, path, label, options, progress),
            EngineHandle::Remote(r) => r.call(&Request::Import {
                path: path.to_path_buf(),
                label: label.to_string(),
                options: options.clone(),
            }),
        }
    }

    /// Lists leads.
    pub fn list(&mut self, query: &ListQuery) -> Result<Vec<Lead>> {
        match self {
            EngineHandle::Local(engine) => {
                Ok(engine.list(&list_filter(query)?, query.limit, query.in_doubt)?)
            }
            EngineHandle::Remote(r) => r.call(&Request::List {
                query: query.clone(),
            }),
        }
    }

    /// One lead in full.
    pub fn show(&mut self, id: &str) -> Result<LeadView> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.show(lead_id(engine, id)?)?),
            EngineHandle::Remote(r) => r.call(&Request::Show { id: id.to_string() }),
        }
    }

    /// Marks a lead.
    pub fn mark(&mut self, id: &str, mark: Mark, note: Option<&str>) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.mark(lead_id(engine, id)?, mark, note)?),
            EngineHandle::Remote(r) => r.call(&Request::Mark {
                id: id.to_string(),
                mark: mark.to_string(),
                note: note.map(str::to_string),
            }),
        }
    }

    /// Settles an in-doubt touch.
    pub fn resolve(&mut self, id: &str, how: Resolution) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.resolve_touch(lead_id(engine, id)?, how)?),
            EngineHandle::Remote(r) => r.call(&Request::Resolve {
                id: id.to_string(),
                sent: how == Resolution::Sent,
            }),
        }
    }

    /// Postpones a lead's next touch.
    pub fn snooze(&mut self, id: &str, until: DateTime<Utc>) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.snooze(lead_id(engine, id)?, until)?),
            EngineHandle::Remote(r) => r.call(&Request::Snooze {
                id: id.to_string(),
                until,
            }),
        }
    }

    /// Makes a lead's next touch due now.
    pub fn send_now(&mut self, id: &str) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.send_now(lead_id(engine, id)?)?),
            EngineHandle::Remote(r) => r.call(&Request::SendNow { id: id.to_string() }),
        }
    }

    /// Erases a lead.
    pub fn erase(&mut self, id: &str) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.erase(lead_id(engine, id)?)?),
            EngineHandle::Remote(r) => r.call(&Request::Erase { id: id.to_string() }),
        }
    }

    /// Writes every lead to `out`; returns how many.
    pub fn export(&mut self, format: Format, out: &mut dyn Write) -> Result<u64> {
        match self {
            EngineHandle::Local(engine) => Ok(export(engine.store(), format, out)?),
            EngineHandle::Remote(r) => {
                r.send(&Request::Export { format })?;
                loop {
                    match r.reply()? {
                        Reply::Line(line) => out.write_all(line.as_bytes())?,
                        Reply::Ok(count) => {
                            return serde_json::from_value(count)
                                .map_err(|e| HandleError::Protocol(e.to_string()));
                        }
                        Reply::Err(message) => return Err(HandleError::Remote(message)),
                        other => return Err(HandleError::Protocol(format!("{other:?}"))),
                    }
                }
            }
        }
    }

    /// Leads per board stage, optionally of one sequence or source.
    pub fn stage_counts(&mut self, filter: &BoardFilter) -> Result<Vec<(Stage, usize)>> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.stage_counts(filter)?),
            EngineHandle::Remote(r) => {
                let wire: Vec<(String, usize)> = r.call(&Request::StageCounts {
                    sequence: filter.sequence.map(str::to_string),
                    source: filter.source.map(str::to_string),
                })?;
                wire.into_iter()
                    .map(|(stage, n)| Ok((stage.parse().map_err(HandleError::Protocol)?, n)))
                    .collect()
            }
        }
    }

    /// One page of a board column: leads in any of `stages`, newest first.
    pub fn board_page(
        &mut self,
        stages: &[Stage],
        filter: &BoardFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BoardCard>> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.board_page(stages, filter, offset, limit)?),
            EngineHandle::Remote(r) => r.call(&Request::BoardPage {
                stages: stages.iter().map(Stage::to_string).collect(),
                sequence: filter.sequence.map(str::to_string),
                source: filter.source.map(str::to_string),
                offset,
                limit,
            }),
        }
    }

    /// Pipeline counts.
    pub fn status(&mut self) -> Result<StatusReport> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.status()?),
            EngineHandle::Remote(r) => r.call(&Request::Status),
        }
    }

    /// Each channel's health, for the TUI header; cheap (no counting).
    pub fn channel_health(&mut self) -> Result<Vec<crate::engine::ChannelStatus>> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.channel_health()),
            EngineHandle::Remote(r) => r.call(&Request::ChannelHealth),
        }
    }

    /// Adds a note to a lead's timeline.
    pub fn note(&mut self, id: &str, text: &str) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.note(lead_id(engine, id)?, text)?),
            EngineHandle::Remote(r) => r.call(&Request::Note {
                id: id.to_string(),
                text: text.to_string(),
            }),
        }
    }

    /// Changes a lead's contact details.
    pub fn edit(&mut self, id: &str, edit: &LeadEdit) -> Result<Lead> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.edit(lead_id(engine, id)?, edit)?),
            EngineHandle::Remote(r) => r.call(&Request::Edit {
                id: id.to_string(),
                edit: edit.clone(),
            }),
        }
    }

    /// Leads whose name, email or company contains `query`, newest first.
    pub fn search(&mut self, query: &str, limit: usize) -> Result<Vec<Lead>> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.search(query, limit)?),
            EngineHandle::Remote(r) => r.call(&Request::Search {
                query: query.to_string(),
                limit,
            }),
        }
    }

    /// The distinct lead sources.
    pub fn sources(&mut self, limit: usize) -> Result<Vec<String>> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.sources(limit)?),
            EngineHandle::Remote(r) => r.call(&Request::Sources { limit }),
        }
    }

    /// The Stats screen's numbers (a full read of the leads: call it off
    /// any UI thread).
    pub fn stats(&mut self, filter: &BoardFilter) -> Result<Stats> {
        match self {
            EngineHandle::Local(engine) => Ok(engine.stats(filter)?),
            EngineHandle::Remote(r) => r.call(&Request::Stats {
                sequence: filter.sequence.map(str::to_string),
                source: filter.source.map(str::to_string),
            }),
        }
    }
}

impl EngineHandle {
    /// Writes a consistent backup of every tree to `path` (absolute when
    /// remote: the owner writes it).
    pub fn backup(&mut self, path: &Path) -> Result<BackupReport> {
        match self {
            EngineHandle::Local(engine) => engine
                .store()
                .backup(path, engine.now())
                .map_err(|e| HandleError::Other(e.to_string())),
            EngineHandle::Remote(r) => r.call(&Request::Backup {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Verifies every secondary index; with `repair`, rebuilds what differs.
    pub fn check(&mut self, repair: bool) -> Result<CheckReport> {
        match self {
            EngineHandle::Local(engine) => engine
                .store()
                .check(repair, None)
                .map_err(|e| HandleError::Other(e.to_string())),
            EngineHandle::Remote(r) => r.call(&Request::Check { repair }),
        }
    }
}

fn import_file(
    engine: &Engine,
    path: &Path,
    label: &str,
    options: &ImportOptions,
    progress: &indicatif::ProgressBar,
) -> Result<ImportReport> {
    let file = std::fs::File::open(path)
        .map_err(|e| HandleError::Other(format!("cannot open {label}: {e}")))?;
    progress.set_length(file.metadata().map(|m| m.len()).unwrap_or(0));
    import_csv(
        engine,
        std::io::BufReader::new(file),
        label,
        options,
        progress,
    )
    .map_err(|e| HandleError::Other(format!("{e:#}")))
}
