//! CSV import: reads the exports founders have (CRMs, Google Contacts,
//! Outlook in several languages; comma, semicolon or tab; UTF-8 or
//! Windows-1252), validates every row, dedupes by normalised email and
//! phone, never imports a suppressed contact, and reports every rejected
//! row, and every row kept with a warning, by number, line and reason.

mod columns;
mod decode;

use std::collections::{HashSet, VecDeque};
use std::io::Read;

use indicatif::ProgressBar;

use crate::domain::lead::LeadInput;
use crate::engine::{Engine, EngineError};
use crate::store::{InsertOutcome, NewLeadWrite};
use columns::{Column, MAP_FIELDS, Mapping};

/// Leads written per transaction; one flush at the end makes them all durable.
const BATCH: usize = 2_000;

/// What `nudge import` was asked to do.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ImportOptions {
    /// Sequence for every imported lead (default: `default`).
    pub sequence: Option<String>,
    /// Source label; else the file's `source` column; else `import:<file>`.
    pub source: Option<String>,
    /// Validate and report without writing anything.
    pub dry_run: bool,
    /// `--map FIELD=HEADER`: columns named by hand, for what the headers
    /// do not say.
    #[serde(default)]
    pub map: Vec<(String, String)>,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejected {
    /// 1-based data row (the header is row 0).
    pub row: u64,
    /// 1-based line in the file where the row starts.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Leads stored (or that would be, in a dry run).
    pub imported: u64,
    /// Rows refused, in file order.
    pub rejected: Vec<Rejected>,
    /// Rows imported with something left out or guessed (a bad phone kept
    /// as `phone_raw`, a short row), in file order.
    #[serde(default)]
    pub warnings: Vec<Rejected>,
    /// Rows whose contact already belongs to a lead imported from a file of
    /// the same name: a re-run after a crash. Counted, not listed.
    #[serde(default)]
    pub already_imported: u64,
    /// The encoding the file was read in, when it was not UTF-8.
    #[serde(default)]
    pub encoding: Option<String>,
}

/// Problems that stop the import before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header row lacks what a lead needs.
    #[error("{file}: {message}")]
    Headers {
        /// File label.
        file: String,
        /// What is missing.
        message: String,
    },
    /// The file cannot be read as CSV.
    #[error("{file} is not readable CSV")]
    Csv {
        /// File label.
        file: String,
        /// The CSV reader's error.
        source: csv::Error,
    },
    /// Writing failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Maps named fields (a web form, a JSON body) to lead input with the same
/// rules as CSV headers, so a form posts "Email Address" or "first_name" as
/// naturally as a CRM export. Missing values are left for validation to name.
pub fn input_from_fields(fields: &[(String, String)], label: &str) -> LeadInput {
    let headers: Vec<String> = fields.iter().map(|(k, _)| k.trim().to_string()).collect();
    Mapping::new(&headers, &[])
        .row(fields.iter().map(|(_, v)| v.as_str()), label)
        .choose(None)
}

/// The headers as the file has them, for messages: `` `A`, `B` ``.
fn header_list(headers: &[String]) -> String {
    headers
        .iter()
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves `--map FIELD=HEADER` against the file's headers (case-insensitive).
fn resolve_map(
    map: &[(String, String)],
    headers: &[String],
    file: &str,
) -> Result<Vec<(Column, usize)>, ImportError> {
    let bad = |message: String| ImportError::Headers {
        file: file.to_string(),
        message,
    };
    map.iter()
        .map(|(field, header)| {
            let column = MAP_FIELDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(field.trim()))
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    let names: Vec<&str> = MAP_FIELDS.iter().map(|(n, _)| *n).collect();
                    bad(format!(
                        "--map {field}={header}: `{field}` is not a lead field (one of: {})",
                        names.join(", ")
                    ))
                })?;
            let at = headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(header.trim()))
                .ok_or_else(|| {
                    bad(format!(
                        "--map {field}={header}: no column `{header}`; the headers are {}",
                        header_list(headers)
                    ))
                })?;
            Ok((column, at))
        })
        .collect()
}

/// Checks a lead can come out of the mapped columns; when not, names the
/// file's headers and the `--map` that would do it.
fn check_mapping(mapping: &Mapping, headers: &[String], file: &str) -> Result<(), ImportError> {
    let missing = match (
        mapping.has(Column::Name) || mapping.has(Column::First),
        mapping.has(Column::Email) || mapping.has(Column::Phone),
    ) {
        (true, true) => return Ok(()),
        (false, true) => "no name column",
        (true, false) => "no email or phone column",
        (false, false) => "no name column and no email or phone column",
    };
    let example = headers.first().map(String::as_str).unwrap_or("HEADER");
    Err(ImportError::Headers {
        file: file.to_string(),
        message: format!(
            "{missing}; the file's headers are {}. Say which column is which with --map FIELD=HEADER, e.g. --map name=\"{example}\" --map email=\"…\" (fields: name, first_name, last_name, email, phone, company, tz, country)",
            header_list(headers)
        ),
    })
}

/// Notes the byte offset and number of every line's first byte as the CSV
/// parser reads them, so a rejected row can be reported by the line it starts
/// on. The csv crate's own `Position::line` is taken before the rest of a CRLF
/// terminator and any blank lines are skipped, so it is short by one or more
/// in most CRM exports (BurntSushi/rust-csv#395). Entries behind the current
/// record are dropped, so memory stays bounded by the parser's read-ahead.
struct LineStarts<R> {
    inner: R,
    offset: u64,
    line: u64,
    at_line_start: bool,
    after_cr: bool,
    starts: VecDeque<(u64, u64)>,
}

impl<R> LineStarts<R> {
    fn new(inner: R) -> Self {
        LineStarts {
            inner,
            offset: 0,
            line: 1,
            at_line_start: true,
            after_cr: false,
            starts: VecDeque::new(),
        }
    }

    /// The line of the first content at or after `byte` (a record's position).
    fn line_at(&mut self, byte: u64) -> Option<u64> {
        while self.starts.front().is_some_and(|&(at, _)| at < byte) {
            self.starts.pop_front();
        }
        self.starts.front().map(|&(_, line)| line)
    }
}

impl<R: Read> Read for LineStarts<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'\r' | b'\n' => {
                    // CR, LF and CRLF each end one line.
                    if !(b == b'\n' && self.after_cr) {
                        self.line += 1;
                    }
                    self.at_line_start = true;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    if self.at_line_start {
                        self.starts.push_back((self.offset, self.line));
                    }
                    self.at_line_start = false;
                    self.after_cr = false;
                }
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

/// Takes off the `'` that `nudge export` puts before a cell starting with a
/// spreadsheet formula trigger, so an export re-imports as it was.
fn unquote_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// A row on its way into the store: where it was, what to write and what
/// to warn about once it is in.
struct Pending {
    row: u64,
    line: u64,
    write: NewLeadWrite,
    warnings: Vec<String>,
}

/// Imports CSV from `reader`. `file` labels errors; its file name makes the
/// default source, `import:<file name>`. Every stored lead is durable when
/// this returns.
pub fn import_csv(
    engine: &Engine,
    mut reader: impl Read,
    file: &str,
    options: &ImportOptions,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportError> {
    let csv_err = |source| ImportError::Csv {
        file: file.to_string(),
        source,
    };
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| csv_err(csv::Error::from(e)))?;
    let decoded = decode::decode(bytes);
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(decode::delimiter(&decoded.text))
        .from_reader(LineStarts::new(decoded.text.as_bytes()));
    let headers: Vec<String> = csv
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let map = resolve_map(&options.map, &headers, file)?;
    let mapping = Mapping::new(&headers, &map);
    check_mapping(&mapping, &headers, file)?;
    if let Some(seq) = &options.sequence {
        engine.catalog().get(seq).map_err(EngineError::from)?;
    }
    let file_name = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string());
    let default_source = options
        .source
        .clone()
        .unwrap_or_else(|| format!("import:{file_name}"));
    let region = engine.settings().default_region.clone();
    let mut report = ImportReport {
        encoding: decoded.encoding.map(str::to_string),
        ..ImportReport::default()
    };
    let mut seen = HashSet::new();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut record = csv::StringRecord::new();
    loop {
        let more = csv.read_record(&mut record).map_err(csv_err)?;
        if !more {
            break;
        }
        report.rows += 1;
        let row = report.rows;
        let line = match record.position() {
            Some(p) => csv.get_mut().line_at(p.byte()).unwrap_or(p.line()),
            None => 0,
        };
        progress.set_position(record.position().map(|p| p.byte()).unwrap_or(0));
        let mut warnings = Vec::new();
        if record.len() + 1 == headers.len() {
            // Excel drops a trailing empty cell; the row is otherwise whole.
            warnings.push(format!(
                "{} fields, the header has {}: the last one (`{}`) read as empty",
                record.len(),
                headers.len(),
                headers.last().map(String::as_str).unwrap_or("")
            ));
            record.push_field("");
        } else if record.len() != headers.len() {
            report.rejected.push(Rejected {
                row,
                line,
                reason: format!("expected {} fields, found {}", headers.len(), record.len()),
            });
            continue;
        }
        let mut input = mapping
            .row(record.iter().map(unquote_formula), file)
            .choose(region.as_deref());
        if options.source.is_some() || input.source.is_empty() {
            input.source = default_source.clone();
        }
        let mut reject = |reason: String| report.rejected.push(Rejected { row, line, reason });
        let mut valid = match engine.validate(&input) {
            Ok(valid) => valid,
            Err(e) => {
                reject(e.to_string());
                continue;
            }
        };
        warnings.append(&mut valid.warnings);
        let contacts: Vec<String> = [valid.email.clone(), valid.phone.clone()]
            .into_iter()
            .flatten()
            .collect();
        if let Some(dup) = contacts.iter().find(|c| seen.contains(*c)) {
            reject(format!("duplicate of an earlier row ({dup})"));
            continue;
        }
        seen.extend(contacts.iter().cloned());
        if options.dry_run {
            match dry_run_conflict(engine, &contacts, &input.source)? {
                Some(Conflict::AlreadyImported) => report.already_imported += 1,
                Some(Conflict::Other(reason)) => reject(reason),
                None => {
                    report.imported += 1;
                    note(&mut report.warnings, row, line, warnings);
                }
            }
            continue;
        }
        let write = engine.prepare(valid, options.sequence.as_deref(), engine.now())?;
        batch.push(Pending {
            row,
            line,
            write,
            warnings,
        });
        if batch.len() == BATCH {
            write_batch(engine, &mut batch, &mut report)?;
        }
    }
    write_batch(engine, &mut batch, &mut report)?;
    engine.store().flush().map_err(EngineError::from)?;
    report.rejected.sort_by_key(|r| r.row);
    report.warnings.sort_by_key(|r| r.row);
    Ok(report)
}

fn note(out: &mut Vec<Rejected>, row: u64, line: u64, warnings: Vec<String>) {
    out.extend(
        warnings
            .into_iter()
            .map(|reason| Rejected { row, line, reason }),
    );
}

/// Why a row's contact cannot be added.
enum Conflict {
    /// It belongs to a lead imported from a file of the same name.
    AlreadyImported,
    /// Anything else, as the report says it.
    Other(String),
}

/// Whether lead `existing` came from this same import (a re-run).
fn same_import(engine: &Engine, existing: crate::domain::lead::LeadId, source: &str) -> bool {
    matches!(engine.store().lead(existing), Ok(Some(lead)) if lead.source == source)
}

fn dry_run_conflict(
    engine: &Engine,
    contacts: &[String],
    source: &str,
) -> Result<Option<Conflict>, EngineError> {
    for contact in contacts {
        if let Some(s) = engine.store().suppression(contact)? {
            return Ok(Some(Conflict::Other(format!(
                "{contact} is suppressed ({})",
                s.reason
            ))));
        }
        if let Some(id) = engine.store().lead_by_contact(contact)? {
            if same_import(engine, id, source) {
                return Ok(Some(Conflict::AlreadyImported));
            }
            return Ok(Some(Conflict::Other(format!(
                "{contact} already belongs to lead {id}"
            ))));
        }
    }
    Ok(None)
}

fn write_batch(
    engine: &Engine,
    batch: &mut Vec<Pending>,
    report: &mut ImportReport,
) -> Result<(), EngineError> {
    if batch.is_empty() {
        return Ok(());
    }
    let writes: Vec<NewLeadWrite> = batch.iter().map(|p| p.write.clone()).collect();
    let outcomes = engine.store().insert_leads(&writes)?;
    for (pending, outcome) in batch.drain(..).zip(outcomes) {
        let Pending {
            row,
            line,
            write,
            warnings,
        } = pending;
        let reason = match outcome {
            InsertOutcome::Inserted(_) => {
                report.imported += 1;
                note(&mut report.warnings, row, line, warnings);
                continue;
            }
            InsertOutcome::Duplicate { existing, .. }
                if same_import(engine, existing, &write.lead.source) =>
            {
                report.already_imported += 1;
                continue;
            }
            InsertOutcome::Duplicate { existing, by } => {
                let contact = if by == "email" {
                    write.lead.email
                } else {
                    write.lead.phone
                };
                format!(
                    "{} already belongs to lead {existing}",
                    contact.unwrap_or_default()
                )
            }
            InsertOutcome::Suppressed { reason } => format!("contact is suppressed ({reason})"),
            InsertOutcome::Replayed(existing) => format!("already imported as lead {existing}"),
        };
        report.rejected.push(Rejected { row, line, reason });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_quoting_is_undone() {
        assert_eq!(unquote_formula("'+14155552671"), "+14155552671");
        assert_eq!(unquote_formula("'=1+1"), "=1+1");
        assert_eq!(unquote_formula("'quoted'"), "'quoted'");
        assert_eq!(unquote_formula("O'Brien"), "O'Brien");
    }
}
