//! CSV import: maps the headers of common CRM exports, validates every row,
//! dedupes by normalised email and phone, never imports a suppressed contact,
//! and reports every rejected row by number and reason.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;

use indicatif::ProgressBar;

use crate::domain::lead::LeadInput;
use crate::engine::{Engine, EngineError};
use crate::store::{InsertOutcome, NewLeadWrite};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    First,
    Last,
    Email,
    Phone,
    Company,
    TimeZone,
    Source,
    EmailConsent,
    SmsConsent,
    Field,
}

fn classify(header: &str) -> Column {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    match key.as_str() {
        "name" | "fullname" | "contactname" | "leadname" | "contact" => Column::Name,
        "firstname" | "first" | "givenname" | "fname" | "forename" => Column::First,
        "lastname" | "last" | "surname" | "familyname" | "lname" => Column::Last,
        "email" | "emailaddress" | "email1" | "primaryemail" | "workemail" | "contactemail"
        | "mail" => Column::Email,
        "phone" | "phonenumber" | "mobile" | "mobilephone" | "mobilenumber" | "cell"
        | "cellphone" | "telephone" | "workphone" | "primaryphone" | "phone1" => Column::Phone,
        "company" | "companyname" | "organization" | "organisation" | "account" | "accountname"
        | "business" => Column::Company,
        "timezone" | "tz" | "timezonename" | "zone" => Column::TimeZone,
        "source" | "leadsource" | "origin" => Column::Source,
        "emailconsent" | "emailoptin" | "marketingemailconsent" => Column::EmailConsent,
        "smsconsent" | "smsoptin" | "textconsent" | "textoptin" => Column::SmsConsent,
        _ => Column::Field,
    }
}

/// A consent cell: falsy values mean no consent; anything else is kept as "how".
fn consent(cell: &str, column: &str, file: &str) -> Option<String> {
    let v = cell.trim();
    match v.to_ascii_lowercase().as_str() {
        "" | "no" | "n" | "false" | "0" | "none" => None,
        "yes" | "y" | "true" | "1" | "x" => Some(format!("import of {file}, column {column}")),
        _ => Some(v.to_string()),
    }
}

struct Mapping {
    columns: Vec<(Column, String)>,
}

/// Maps named fields (a web form, a JSON body) to lead input with the same
/// rules as CSV headers, so a form posts "Email Address" or "first_name" as
/// naturally as a CRM export. Missing values are left for validation to name.
pub fn input_from_fields(fields: &[(String, String)], label: &str) -> LeadInput {
    let columns = fields
        .iter()
        .map(|(k, _)| (classify(k), k.trim().to_string()))
        .collect();
    let cells: csv::StringRecord = fields.iter().map(|(_, v)| v.as_str()).collect();
    Mapping { columns }.row(&cells, label)
}

impl Mapping {
    fn from_headers(headers: &csv::StringRecord, file: &str) -> Result<Mapping, ImportError> {
        let columns: Vec<(Column, String)> = headers
            .iter()
            .map(|h| {
                (
                    classify(h),
                    h.trim().trim_start_matches('\u{feff}').to_string(),
                )
            })
            .collect();
        let has = |c: Column| columns.iter().any(|(k, _)| *k == c);
        let missing = |message: &str| ImportError::Headers {
            file: file.to_string(),
            message: message.to_string(),
        };
        if !has(Column::Name) && !has(Column::First) {
            return Err(missing(
                "no name column; expected one of: name, full name, first name (+ last name)",
            ));
        }
        if !has(Column::Email) && !has(Column::Phone) {
            return Err(missing(
                "no email or phone column; expected e.g. email, email address, phone, mobile",
            ));
        }
        Ok(Mapping { columns })
    }

    fn row(&self, cells: &csv::StringRecord, file: &str) -> LeadInput {
        let mut input = LeadInput::default();
        let (mut first, mut last) = (String::new(), String::new());
        let mut fields = BTreeMap::new();
        for ((column, header), cell) in self.columns.iter().zip(cells.iter()) {
            let cell = cell.trim();
            let set = |slot: &mut Option<String>| {
                if !cell.is_empty() && slot.is_none() {
                    *slot = Some(cell.to_string());
                }
            };
            match column {
                Column::Name => {
                    if input.name.is_empty() {
                        input.name = cell.to_string();
                    }
                }
                Column::First => first = cell.to_string(),
                Column::Last => last = cell.to_string(),
                Column::Email => set(&mut input.email),
                Column::Phone => set(&mut input.phone),
                Column::Company => set(&mut input.company),
                Column::TimeZone => set(&mut input.tz),
                Column::Source => {
                    if !cell.is_empty() {
                        input.source = cell.to_string();
                    }
                }
                Column::EmailConsent => input.email_consent = consent(cell, header, file),
                Column::SmsConsent => input.sms_consent = consent(cell, header, file),
                Column::Field => {
                    if !cell.is_empty() {
                        fields.insert(header.clone(), cell.to_string());
                    }
                }
            }
        }
        if input.name.is_empty() {
            input.name = format!("{first} {last}").trim().to_string();
        }
        input.fields = fields;
        input
    }
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

/// Imports CSV from `reader`. `file` labels errors and the default source.
/// Every stored lead is durable when this returns.
pub fn import_csv(
    engine: &Engine,
    reader: impl Read,
    file: &str,
    options: &ImportOptions,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportError> {
    let csv_err = |source| ImportError::Csv {
        file: file.to_string(),
        source,
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(LineStarts::new(reader));
    let headers = csv.headers().map_err(csv_err)?.clone();
    let mapping = Mapping::from_headers(&headers, file)?;
    if let Some(seq) = &options.sequence {
        engine.catalog().get(seq).map_err(EngineError::from)?;
    }
    let default_source = options
        .source
        .clone()
        .unwrap_or_else(|| format!("import:{file}"));
    let mut report = ImportReport::default();
    let mut seen = HashSet::new();
    let mut batch: Vec<(u64, u64, NewLeadWrite)> = Vec::with_capacity(BATCH);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = csv.read_byte_record(&mut record).map_err(csv_err)?;
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
        let mut reject = |reason: String| report.rejected.push(Rejected { row, line, reason });
        if record.len() != headers.len() {
            reject(format!(
                "expected {} fields, found {}",
                headers.len(),
                record.len()
            ));
            continue;
        }
        let cells = match csv::StringRecord::from_byte_record(record.clone()) {
            Ok(cells) => cells,
            Err(e) => {
                reject(format!("not valid UTF-8 ({e}); save the file as UTF-8"));
                continue;
            }
        };
        let cells: csv::StringRecord = cells.iter().map(unquote_formula).collect();
        let mut input = mapping.row(&cells, file);
        if options.source.is_some() || input.source.is_empty() {
            input.source = default_source.clone();
        }
        let valid = match engine.validate(&input) {
            Ok(valid) => valid,
            Err(e) => {
                reject(e.to_string());
                continue;
            }
        };
        let contacts: Vec<String> = [valid.email.clone(), valid.phone.clone()]
            .into_iter()
            .flatten()
            .collect();
        if let Some(dup) = contacts.iter().find(|c| seen.contains(*c)) {
            reject(format!("duplicate of an earlier row ({dup})"));
            continue;
        }
        if options.dry_run {
            if let Some(reason) = dry_run_conflict(engine, &contacts)? {
                reject(reason);
                continue;
            }
            seen.extend(contacts);
            report.imported += 1;
            continue;
        }
        seen.extend(contacts);
        let write = engine.prepare(valid, options.sequence.as_deref(), engine.now())?;
        batch.push((row, line, write));
        if batch.len() == BATCH {
            write_batch(engine, &mut batch, &mut report)?;
        }
    }
    write_batch(engine, &mut batch, &mut report)?;
    engine.store().flush().map_err(EngineError::from)?;
    report.rejected.sort_by_key(|r| r.row);
    Ok(report)
}

fn dry_run_conflict(engine: &Engine, contacts: &[String]) -> Result<Option<String>, EngineError> {
    for contact in contacts {
        if let Some(s) = engine.store().suppression(contact)? {
            return Ok(Some(format!("{contact} is suppressed ({})", s.reason)));
        }
        if let Some(id) = engine.store().lead_by_contact(contact)? {
            return Ok(Some(format!("{contact} already belongs to lead {id}")));
        }
    }
    Ok(None)
}

fn write_batch(
    engine: &Engine,
    batch: &mut Vec<(u64, u64, NewLeadWrite)>,
    report: &mut ImportReport,
) -> Result<(), EngineError> {
    if batch.is_empty() {
        return Ok(());
    }
    let writes: Vec<NewLeadWrite> = batch.iter().map(|(_, _, w)| w.clone()).collect();
    let outcomes = engine.store().insert_leads(&writes)?;
    for ((row, line, write), outcome) in batch.drain(..).zip(outcomes) {
        let reason = match outcome {
            InsertOutcome::Inserted(_) => {
                report.imported += 1;
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
    fn crm_headers_are_recognised() {
        assert_eq!(classify("First Name"), Column::First);
        assert_eq!(classify("E-mail Address"), Column::Email);
        assert_eq!(classify("Mobile Phone"), Column::Phone);
        assert_eq!(classify("Account Name"), Column::Company);
        assert_eq!(classify("Time Zone"), Column::TimeZone);
        assert_eq!(classify("Industry"), Column::Field);
    }

    #[test]
    fn export_quoting_is_undone() {
        assert_eq!(unquote_formula("'+14155552671"), "+14155552671");
        assert_eq!(unquote_formula("'=1+1"), "=1+1");
        assert_eq!(unquote_formula("'quoted'"), "'quoted'");
        assert_eq!(unquote_formula("O'Brien"), "O'Brien");
    }

    #[test]
    fn consent_cells() {
        assert_eq!(consent("no", "SMS Opt In", "f.csv"), None);
        assert_eq!(
            consent("Yes", "SMS Opt In", "f.csv").unwrap(),
            "import of f.csv, column SMS Opt In"
        );
        assert_eq!(
            consent("web form 2026-01-02", "c", "f").unwrap(),
            "web form 2026-01-02"
        );
    }
}
