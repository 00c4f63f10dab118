//! Export every lead with every field and every event, streamed so memory
//! stays flat however many leads there are.
//!
//! CSV is made safe to open in a spreadsheet: a cell that begins with `=`,
//! `+`, `-`, `@`, TAB or CR is written with a leading `'` (the OWASP rule
//! against formula injection), so `=HYPERLINK(…)` in a lead's company shows
//! as text instead of running. `nudge import` takes the `'` off again. JSONL
//! is byte-exact: every value as stored, for machines.

use std::io::Write;

use serde::Serialize;

use crate::domain::event::Event;
use crate::domain::lead::Lead;
use crate::store::{Store, StoreError};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One row per lead; custom fields and events as JSON cells.
    Csv,
    /// One JSON object per line: the lead with an `events` array.
    Jsonl,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// CSV encoding failed.
    #[error("cannot write the export: {0}")]
    Csv(String),
}

impl From<csv::Error> for ExportError {
    /// Keeps I/O errors as I/O errors (a closed pipe stays recognisable).
    fn from(e: csv::Error) -> Self {
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ExportError::Io(io),
            _ => ExportError::Csv(message),
        }
    }
}

#[derive(Serialize)]
struct LeadWithEvents<'a> {
    #[serde(flatten)]
    lead: &'a Lead,
    stage: String,
    events: &'a [Event],
}

/// CSV columns, in order.
pub const CSV_HEADERS: &[&str] = &[
    "id",
    "name",
    "email",
    "phone",
    "company",
    "time_zone",
    "source",
    "sequence",
    "status",
    "stage",
    "created_at",
    "updated_at",
    "next_due",
    "next_step",
    "next_channel",
    "email_consent",
    "sms_consent",
    "fields",
    "events",
];

/// A CSV cell a spreadsheet shows as text: a leading formula trigger gets a
/// `'` in front (OWASP "CSV injection").
pub fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Writes every lead to `out`; returns how many.
pub fn export(store: &Store, format: Format, out: impl Write) -> Result<u64, ExportError> {
    let mut count = 0;
    match format {
        Format::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            for lead in store.iter_leads() {
                let lead = lead?;
                let events = store.events(lead.id)?;
                let row = LeadWithEvents {
                    lead: &lead,
                    stage: lead.stage().to_string(),
                    events: &events,
                };
                serde_json::to_writer(&mut out, &row).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                count += 1;
            }
            out.flush()?;
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(CSV_HEADERS)?;
            for lead in store.iter_leads() {
                let lead = lead?;
                let events = store.events(lead.id)?;
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                let next = lead.next.as_ref();
                csv.write_record(
                    [
                        lead.id.to_string(),
                        lead.name.clone(),
                        opt(&lead.email),
                        opt(&lead.phone),
                        opt(&lead.company),
                        lead.tz.map(|t| t.name().to_string()).unwrap_or_default(),
                        lead.source.clone(),
                        lead.sequence.clone(),
                        lead.status.to_string(),
                        lead.stage().to_string(),
                        lead.created_at.to_rfc3339(),
                        lead.updated_at.to_rfc3339(),
                        next.map(|n| n.at.to_rfc3339()).unwrap_or_default(),
                        next.map(|n| n.step_id.clone()).unwrap_or_default(),
                        next.map(|n| n.channel.to_string()).unwrap_or_default(),
                        lead.consent.email.as_ref().map(json).unwrap_or_default(),
                        lead.consent.sms.as_ref().map(json).unwrap_or_default(),
                        json(&lead.fields),
                        json(&events),
                    ]
                    .map(spreadsheet_safe),
                )?;
                count += 1;
            }
            csv.flush()?;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_are_quoted_and_other_cells_kept() {
        for cell in [
            "=HYPERLINK(\"http://evil.test\",\"click\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(spreadsheet_safe(cell.into()), format!("'{cell}"));
        }
        for cell in ["Ada", "", "a=b", " =x", "'=x", "{\"k\":\"=x\"}"] {
            assert_eq!(spreadsheet_safe(cell.into()), cell);
        }
    }
}
