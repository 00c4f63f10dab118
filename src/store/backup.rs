//! Backup and restore: every sled tree, read at one point, as gzip-compressed
//! JSON lines.
//!
//! Format version 1 (documented in the README, *Data safety*):
//!
//! ```text
//! {"format":"nudge-backup","format_version":1,"schema":3,"nudge":"0.1.0","created":"2026-…Z"}
//! {"tree":"leads","key":"<base64>","value":"<base64>"}    one line per entry, every tree
//! {"end":{"entries":12345}}                                 absent = a truncated backup
//! ```
//!
//! Trees are listed with `tree_names()`, so a tree added later is backed up
//! without a change here. A backup holds the gate alone while it reads, so
//! no writer changes a tree half-way (sled 0.34 has no snapshots).

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SCHEMA_VERSION, Store, StoreError, migrate};

/// The backup format this build writes and reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;
/// The `format` field of the header line.
const FORMAT_NAME: &str = "nudge-backup";
/// Entries written per sled batch on restore: 10,000 peaked at 1.7 GB RSS
/// restoring 100k leads, 1,000 at 119 MB, at about the same speed.
const BATCH: usize = 1_000;

/// Why a backup or restore failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The backup file is not one nudge can read.
    #[error("{path}, line {line}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line of the decompressed file.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// Restore needs an empty data dir.
    #[error(
        "{0} is not empty; restore only into a new or empty data dir (move the old one away first)"
    )]
    NotEmpty(PathBuf),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backup wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    /// The file.
    pub path: PathBuf,
    /// Entries written.
    pub entries: u64,
    /// Trees written.
    pub trees: usize,
    /// Compressed size.
    pub bytes: u64,
    /// How long writers were held back, in milliseconds.
    pub blocked_ms: u64,
}

/// What a restore read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Entries restored.
    pub entries: u64,
    /// Leads restored.
    pub leads: usize,
    /// The backup's schema (migrated to the current one if older).
    pub schema: u32,
    /// When the backup was taken.
    pub created: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    format_version: u32,
    schema: u32,
    nudge: String,
    created: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Body {
    Entry {
        tree: String,
        key: String,
        value: String,
    },
    End {
        end: End,
    },
}

#[derive(Serialize, Deserialize)]
struct End {
    entries: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// Writes a consistent backup of every tree to `file`, atomically (a
    /// temporary file beside it, fsynced, then renamed over it).
    pub fn backup(&self, file: &Path, now: DateTime<Utc>) -> Result<BackupReport, BackupError> {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".nudge-backup")
            .tempfile_in(dir)
            .map_err(io(file))?;
        let gz = flate2::write::GzEncoder::new(
            BufWriter::new(tmp.as_file()),
            flate2::Compression::fast(),
        );
        let mut out = BufWriter::new(gz);
        let header = Header {
            format: FORMAT_NAME.into(),
            format_version: BACKUP_FORMAT_VERSION,
            schema: SCHEMA_VERSION,
            nudge: env!("CARGO_PKG_VERSION").into(),
            created: now,
        };
        write_line(&mut out, &header).map_err(io(file))?;
        let started = Instant::now();
        let (entries, trees) = {
            let _alone = self.exclusive();
            let mut entries = 0u64;
            let names = self.db.tree_names();
            for name in &names {
                let tree_name = String::from_utf8_lossy(name).into_owned();
                let tree = self.db.open_tree(name).map_err(StoreError::from)?;
                for item in tree.iter() {
                    let (key, value) = item.map_err(StoreError::from)?;
                    let line = Body::Entry {
                        tree: tree_name.clone(),
                        key: B64.encode(&key),
                        value: B64.encode(&value),
                    };
                    write_line(&mut out, &line).map_err(io(file))?;
                    entries += 1;
                }
            }
            (entries, names.len())
        };
        let blocked_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        write_line(
            &mut out,
            &Body::End {
                end: End { entries },
            },
        )
        .map_err(io(file))?;
        let gz = out.into_inner().map_err(|e| io(file)(e.into_error()))?;
        let mut buffered = gz.finish().map_err(io(file))?;
        buffered.flush().map_err(io(file))?;
        drop(buffered);
        tmp.as_file().sync_all().map_err(io(file))?;
        tmp.persist(file).map_err(|e| io(file)(e.error))?;
        // The rename is durable only once the directory is synced.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        let bytes = fs::metadata(file).map_err(io(file))?.len();
        Ok(BackupReport {
            path: file.to_path_buf(),
            entries,
            trees,
            bytes,
            blocked_ms,
        })
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Restores `file` into `data_dir`, which must be missing or empty. The data
/// is written to a sibling directory first and renamed into place only when
/// the whole backup was read, so a bad file leaves nothing half-restored.
pub fn restore(
    file: &Path,
    data_dir: &Path,
    cache_bytes: u64,
) -> Result<RestoreReport, BackupError> {
    match fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(data_dir)(e)),
    }
    let reader = fs::File::open(file).map_err(io(file))?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(BufReader::new(reader))).lines();
    let format = |line: u64, detail: String| BackupError::Format {
        path: file.to_path_buf(),
        line,
        detail,
    };
    let first = lines
        .next()
        .ok_or_else(|| format(1, "empty file".into()))?
        .map_err(|e| format(1, format!("not a gzip-compressed nudge backup ({e})")))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| format(1, format!("not a nudge backup header ({e})")))?;
    if header.format != FORMAT_NAME {
        return Err(format(
            1,
            format!("format `{}` is not {FORMAT_NAME}", header.format),
        ));
    }
    if header.format_version != BACKUP_FORMAT_VERSION {
        return Err(format(
            1,
            format!(
                "backup format version {} is unknown to this nudge (it reads version {BACKUP_FORMAT_VERSION}); use the nudge that wrote it ({})",
                header.format_version, header.nudge
            ),
        ));
    }
    if header.schema > SCHEMA_VERSION {
        return Err(format(
            1,
            format!(
                "the backup has schema {}, newer than this nudge understands ({SCHEMA_VERSION}); upgrade nudge (the backup was written by {})",
                header.schema, header.nudge
            ),
        ));
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".nudge-restore")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let target = staging.path().join("data");
    let (entries, leads) = {
        let store = Store::open(&target, cache_bytes)?;
        let entries = load_entries(&store, &mut lines, file)?;
        let meta = store.db.open_tree("meta").map_err(StoreError::from)?;
        meta.insert("schema", &header.schema.to_be_bytes())
            .map_err(StoreError::from)?;
        migrate::run(&store, &meta)?;
        store.flush()?;
        (entries, store.lead_count())
    };
    // Only now is the restore whole: move it into place (onto an empty
    // directory, which rename replaces).
    fs::rename(&target, data_dir).map_err(io(data_dir))?;
    Ok(RestoreReport {
        entries,
        leads,
        schema: header.schema,
        created: header.created,
    })
}

/// Writes the entry lines into `store`, up to and including the end line.
fn load_entries(
    store: &Store,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    file: &Path,
) -> Result<u64, BackupError> {
    let format = |line: u64, detail: String| BackupError::Format {
        path: file.to_path_buf(),
        line,
        detail,
    };
    let mut batches: Vec<(String, sled::Batch)> = Vec::new();
    let mut pending = 0;
    let mut entries = 0u64;
    let mut line_no = 1u64;
    let flush = |batches: &mut Vec<(String, sled::Batch)>| -> Result<(), BackupError> {
        for (tree, batch) in batches.drain(..) {
            store
                .db
                .open_tree(tree.as_bytes())
                .and_then(|t| t.apply_batch(batch))
                .map_err(StoreError::from)?;
        }
        // Flushing each batch keeps sled's dirty pages, and so memory, bounded.
        store.flush()?;
        Ok(())
    };
    loop {
        line_no += 1;
        let Some(line) = lines.next() else {
            return Err(format(
                line_no,
                "the backup ends early (no end line): it is truncated".into(),
            ));
        };
        let line = line.map_err(|e| format(line_no, format!("unreadable ({e})")))?;
        match serde_json::from_str::<Body>(&line) {
            Ok(Body::Entry { tree, key, value }) => {
                let decode = |field: &str, text: &str| {
                    B64.decode(text)
                        .map_err(|e| format(line_no, format!("{field} is not base64 ({e})")))
                };
                let (key, value) = (decode("key", &key)?, decode("value", &value)?);
                match batches.iter_mut().find(|(t, _)| *t == tree) {
                    Some((_, batch)) => batch.insert(key, value),
                    None => {
                        let mut batch = sled::Batch::default();
                        batch.insert(key, value);
                        batches.push((tree, batch));
                    }
                }
                entries += 1;
                pending += 1;
                if pending == BATCH {
                    flush(&mut batches)?;
                    pending = 0;
                }
            }
            Ok(Body::End { end }) => {
                if end.entries != entries {
                    return Err(format(
                        line_no,
                        format!(
                            "the end line counts {} entries but {entries} were read",
                            end.entries
                        ),
                    ));
                }
                flush(&mut batches)?;
                return Ok(entries);
            }
            Err(e) => return Err(format(line_no, format!("not a backup entry ({e})"))),
        }
    }
}
