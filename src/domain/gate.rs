//! The one gate every lead passes on its way in: `nudge add`, `nudge edit`,
//! `nudge import`, `POST /api/leads` and the TUI form all validate through
//! [`LeadInput::validate`] or [`LeadInput::problems`], which start here.
//!
//! Lead data comes from strangers (web forms, CSV files of unknown origin),
//! so before any field is parsed the gate refuses what can hurt later:
//!
//! * **Single-line fields** — name, email, phone, company, time zone,
//!   source, sequence, consent notes and custom field keys — refuse every
//!   control character (C0 including CR/LF and TAB, DEL, C1) and the Unicode
//!   line and paragraph separators: a CR/LF in a name is a header injection
//!   waiting for a mail builder, an ESC is a terminal escape waiting for a
//!   screen.
//! * **Bidirectional controls** (U+202A–U+202E, U+2066–U+2069) are refused
//!   in the same single-line fields: a name that displays in another order
//!   than it is stored misleads whoever reads it.
//! * **Custom field values** may span lines (a form's "message" box): they
//!   keep newlines, carriage returns and tabs, but refuse every other
//!   control character (ESC, NUL, DEL, C1…). Output escapes them anyway
//!   (`present::safe_multiline`), for data stored before this gate existed.
//! * **Lengths**, in characters after trimming: name and company ≤ 200,
//!   email ≤ 254 (RFC 5321's path limit), phone ≤ 64, other labels ≤ 200,
//!   custom field keys ≤ 64, values ≤ 2,000, at most 50 custom fields.
//!
//! Errors name the field and show the offending character as a visible
//! escape (`\u{1b}`), never the raw byte and never a 20,000-character value.

use super::lead::{LeadError, LeadInput};
use crate::present::{is_bidi_control, safe, truncate};

/// Longest name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest company, in characters.
pub const MAX_COMPANY: usize = 200;
/// Longest email address (RFC 5321 forward-path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest phone number as typed, in characters.
pub const MAX_PHONE: usize = 64;
/// Longest short label: source, time zone, sequence, consent note.
pub const MAX_LABEL: usize = 200;
/// Longest custom field key, in characters.
pub const MAX_FIELD_KEY: usize = 64;
/// Longest custom field value, in characters.
pub const MAX_FIELD_VALUE: usize = 2_000;
/// Most custom fields on one lead.
pub const MAX_FIELDS: usize = 50;

/// A field refused at the gate. The message names the field and shows the
/// offending character escaped, so it is safe to print anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// A control character in a field that must be one line of text.
    #[error(
        "{field} contains a control character ({}) at character {at}; {rule}",
        escaped(*.found)
    )]
    Control {
        /// The field, e.g. `name` or `field key \`notes\``.
        field: String,
        /// The character refused.
        found: char,
        /// Its 1-based position, in characters.
        at: usize,
        /// What the field accepts.
        rule: &'static str,
    },
    /// A Unicode bidirectional control, which reorders what is shown.
    #[error(
        "{field} contains a bidirectional control character ({}) at character {at}, which would show the text in another order than it is stored",
        escaped(*.found)
    )]
    Bidi {
        /// The field.
        field: String,
        /// The character refused.
        found: char,
        /// Its 1-based position, in characters.
        at: usize,
    },
    /// Longer than the field's limit.
    #[error("{field} is {len} characters long; at most {max} are accepted")]
    TooLong {
        /// The field.
        field: String,
        /// Its length, in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More custom fields than a lead may carry.
    #[error("{count} custom fields; at most {max} are accepted")]
    TooManyFields {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn escaped(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

/// How a field's text may look.
#[derive(Clone, Copy)]
enum Shape {
    /// One line: no control characters, no line separators, no bidi controls.
    Line,
    /// Several lines: CR, LF and TAB allowed; other controls refused.
    Text,
}

/// The first problem with one field's (trimmed) text, if any.
fn check_text(
    field: impl Fn() -> String,
    text: &str,
    max: usize,
    shape: Shape,
) -> Option<GateError> {
    let len = text.chars().count();
    if len > max {
        return Some(GateError::TooLong {
            field: field(),
            len,
            max,
        });
    }
    for (i, c) in text.chars().enumerate() {
        let at = i + 1;
        let control = match shape {
            Shape::Line => c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'),
            Shape::Text => c.is_control() && !matches!(c, '\n' | '\r' | '\t'),
        };
        if control {
            return Some(GateError::Control {
                field: field(),
                found: c,
                at,
                rule: match shape {
                    Shape::Line => "it must be one line of plain text",
                    Shape::Text => "of control characters only line breaks and tabs are accepted",
                },
            });
        }
        if matches!(shape, Shape::Line) && is_bidi_control(c) {
            return Some(GateError::Bidi {
                field: field(),
                found: c,
                at,
            });
        }
    }
    None
}

/// A custom field key as it appears in an error: escaped and cut short.
fn key_label(key: &str) -> String {
    truncate(&safe(key), 40).into_owned()
}

/// Every problem the gate finds, by field name, at most one per field (the
/// custom fields report their first problem under `fields`).
pub fn problems(input: &LeadInput) -> Vec<(&'static str, LeadError)> {
    let mut out = Vec::new();
    let mut line = |name: &'static str, text: Option<&str>, max: usize| {
        let text = text.map(str::trim).unwrap_or("");
        if let Some(e) = check_text(|| name.to_string(), text, max, Shape::Line) {
            out.push((name, LeadError::Gate(e)));
        }
    };
    line("name", Some(&input.name), MAX_NAME);
    line("email", input.email.as_deref(), MAX_EMAIL);
    line("phone", input.phone.as_deref(), MAX_PHONE);
    line("company", input.company.as_deref(), MAX_COMPANY);
    line("tz", input.tz.as_deref(), MAX_LABEL);
    line("source", Some(&input.source), MAX_LABEL);
    line("sequence", input.sequence.as_deref(), MAX_LABEL);
    line("email_consent", input.email_consent.as_deref(), MAX_LABEL);
    line("sms_consent", input.sms_consent.as_deref(), MAX_LABEL);
    if let Some(e) = check_fields(input) {
        out.push(("fields", LeadError::Gate(e)));
    }
    out
}

/// The first problem with the custom fields: their number, then each key
/// and value in key order.
fn check_fields(input: &LeadInput) -> Option<GateError> {
    let fields = input
        .fields
        .iter()
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty());
    let count = fields.clone().count();
    if count > MAX_FIELDS {
        return Some(GateError::TooManyFields {
            count,
            max: MAX_FIELDS,
        });
    }
    fields.into_iter().find_map(|(key, value)| {
        check_text(
            || format!("field key `{}`", key_label(key)),
            key,
            MAX_FIELD_KEY,
            Shape::Line,
        )
        .or_else(|| {
            check_text(
                || format!("field `{}`", key_label(key)),
                value,
                MAX_FIELD_VALUE,
                Shape::Text,
            )
        })
    })
}

/// The first problem the gate finds, for callers that stop at one.
pub fn check(input: &LeadInput) -> Result<(), LeadError> {
    match problems(input).into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Keeps the first problem for each field: a field the gate refused is not
/// also reported by its parser (whose message would echo the raw value).
pub fn first_per_field(problems: Vec<(&'static str, LeadError)>) -> Vec<(&'static str, LeadError)> {
    let mut seen = Vec::new();
    problems
        .into_iter()
        .filter(|(field, _)| {
            let first = !seen.contains(field);
            seen.push(*field);
            first
        })
        .collect()
}

#[cfg(test)]
mod tests;
