//! Leads: identity, contact details and the checks that keep bad data out.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::phone::{RegionSource, phone_region};
use super::status::Status;

/// A lead id: a ULID, so ids sort by creation time and key ranges follow the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadId(pub ulid::Ulid);

impl LeadId {
    /// The 16 big-endian bytes used as the key in every tree.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// Rebuilds an id from a tree key.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        LeadId(ulid::Ulid::from_bytes(bytes))
    }

    /// The inclusive range of ids whose text starts with `prefix`, for git-style
    /// abbreviations. The prefix must already be valid Crockford base32.
    pub fn prefix_range(prefix: &str) -> Result<(LeadId, LeadId), IdError> {
        let prefix = prefix.trim().to_ascii_uppercase();
        if prefix.is_empty() {
            return Err(IdError::Empty);
        }
        if prefix.len() > ulid::ULID_LEN {
            return Err(IdError::Invalid(prefix));
        }
        let low = format!("{prefix:0<26}");
        let high = format!("{prefix:Z<26}");
        let low = ulid::Ulid::from_string(&low).map_err(|_| IdError::Invalid(prefix.clone()))?;
        let high = ulid::Ulid::from_string(&high).map_err(|_| IdError::Invalid(prefix))?;
        Ok((LeadId(low), LeadId(high)))
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for LeadId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(&s.trim().to_ascii_uppercase())
            .map(LeadId)
            .map_err(|_| IdError::Invalid(s.to_string()))
    }
}

impl Serialize for LeadId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LeadId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a lead id (or prefix) could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing was given.
    #[error("empty lead id")]
    Empty,
    /// Not Crockford base32, or too long.
    #[error(
        "`{0}` is not a lead id (ids are 26 characters of Crockford base32, e.g. 01JD3Q8Z5K9X2V7N4M6B1C0T8R)"
    )]
    Invalid(String),
}

/// How and when a person agreed to be contacted on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// When consent was given (or recorded).
    pub at: DateTime<Utc>,
    /// Free text: the form, the import file, "verbal on call"…
    pub how: String,
}

/// Per-channel consent. SMS is sent only with an explicit grant; email may go
/// without one (B2B legitimate interest) but a grant is kept as evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Email consent, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<ConsentGrant>,
    /// SMS consent; required before any text is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<ConsentGrant>,
}

/// A stored lead. Every field added later must carry `#[serde(default)]` so
/// older records still decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// Sorts by creation time.
    pub id: LeadId,
    /// Full name as given.
    pub name: String,
    /// Lower-cased, validated address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164, e.g. `+14155550123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Company or organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// IANA zone; `None` means "use the configured default".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<Tz>,
    /// Where the lead came from (form, csv, cli…).
    pub source: String,
    /// Free-form fields, usable in templates as `fields.KEY`.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Consent evidence per channel.
    #[serde(default)]
    pub consent: Consent,
    /// Name of the sequence working this lead.
    pub sequence: String,
    /// Current status.
    pub status: Status,
    /// Index of the last step sent, if any; drives the board column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u32>,
    /// The next touch, mirrored by the `due` index; kept on the record so a
    /// board card needs no sequence lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Due>,
    /// Creation instant (also encoded in the id).
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Number of events written; the next event's sequence number.
    #[serde(default)]
    pub event_count: u32,
    /// Engaged enough to cross the hot-score threshold.
    #[serde(default)]
    pub hot: bool,
}

impl Lead {
    /// First word of the name, for greetings.
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or("")
    }

    /// Everything after the first word of the name.
    pub fn last_name(&self) -> &str {
        let name = self.name.trim();
        match name.split_once(char::is_whitespace) {
            Some((_, rest)) => rest.trim(),
            None => "",
        }
    }

    /// The kanban stage, derived from status, engagement and progress: an
    /// active lead that turned hot leaves its step column for Hot.
    pub fn stage(&self) -> Stage {
        match (self.status, self.last_step) {
            (Status::Active, _) if self.hot => Stage::Hot,
            (Status::Active, None) => Stage::New,
            (Status::Active, Some(step)) => Stage::Step(step + 1),
            (status, _) => Stage::Status(status),
        }
    }
}

/// A scheduled touch as recorded on the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// Step index in the lead's sequence.
    pub step: u32,
    /// Step id.
    pub step_id: String,
    /// Channel.
    pub channel: crate::domain::sequence::Channel,
    /// A call or task that came due and now waits for a human
    /// (`nudge mark ID called`); it leaves the worker's due index.
    #[serde(default)]
    pub awaiting_human: bool,
    /// Asked for "now" by a human: the business-hours window is skipped
    /// (SMS and call quiet hours still apply).
    #[serde(default)]
    pub immediate: bool,
}

/// A board column: new, after step N (1-based), or a non-active status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Active, nothing sent yet.
    New,
    /// Active, step N (1-based) was the last one sent.
    Step(u32),
    /// Active and engaged past the hot threshold.
    Hot,
    /// Any status other than active.
    Status(Status),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::New => f.pad("new"),
            Stage::Step(n) => f.pad(&format!("step-{n}")),
            Stage::Hot => f.pad("hot"),
            Stage::Status(s) => f.pad(s.as_str()),
        }
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "new" {
            return Ok(Stage::New);
        }
        if s == "hot" {
            return Ok(Stage::Hot);
        }
        if let Some(n) = s.strip_prefix("step-") {
            return match n.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Stage::Step(n)),
                _ => Err(format!(
                    "unknown stage `{s}`: step numbers start at 1, e.g. step-2"
                )),
            };
        }
        match s.parse::<Status>() {
            Ok(Status::Active) | Err(_) => Err(format!(
                "unknown stage `{s}` (expected new, step-N, hot, paused, replied, booked, handed-off, opted-out, bounced or completed)"
            )),
            Ok(st) => Ok(Stage::Status(st)),
        }
    }
}

/// A contact detail or field that failed validation; names the field and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadError {
    /// Not an email address.
    #[error("invalid email `{value}`: {reason}")]
    Email {
        /// What was given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Not a dialable phone number.
    #[error("invalid phone `{value}`: {reason}")]
    Phone {
        /// What was given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Not an IANA zone name.
    #[error("unknown time zone `{0}` (use an IANA name such as Europe/Berlin or America/New_York)")]
    TimeZone(String),
    /// Empty name.
    #[error("missing name")]
    MissingName,
    /// Neither email nor phone.
    #[error("a lead needs an email or a phone number")]
    NoContact,
    /// A custom field given without `=`.
    #[error("invalid field `{0}`: expected KEY=VALUE")]
    Field(String),
    /// Refused at the gate: control characters, bidi controls, lengths.
    #[error(transparent)]
    Gate(#[from] super::gate::GateError),
}

/// Lower-cases and validates an email address.
pub fn normalize_email(raw: &str) -> Result<String, LeadError> {
    let trimmed = raw.trim();
    let parsed = email_address::EmailAddress::from_str(trimmed).map_err(|e| LeadError::Email {
        value: raw.to_string(),
        reason: e.to_string(),
    })?;
    let domain = parsed.domain();
    if !domain.contains('.') || domain.starts_with('[') {
        return Err(LeadError::Email {
            value: raw.to_string(),
            reason: "the domain must be a public host name such as example.com".into(),
        });
    }
    Ok(parsed.email().to_lowercase())
}

/// Parses a phone number into E.164; numbers without `+` use `default_region`.
pub fn normalize_phone(raw: &str, default_region: Option<&str>) -> Result<String, LeadError> {
    let err = |reason: String| LeadError::Phone {
        value: raw.to_string(),
        reason,
    };
    let region = match default_region {
        Some(code) => Some(
            phonenumber::country::Id::from_str(&code.to_ascii_uppercase())
                .map_err(|_| err(format!("unknown default region `{code}`")))?,
        ),
        None => None,
    };
    let number = phonenumber::parse(region, raw.trim()).map_err(|e| {
        err(if raw.trim().starts_with('+') || region.is_some() {
            e.to_string()
        } else {
            "no country code; write it as +<country><number>".into()
        })
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(err("not a valid number for its country".into()));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Parses an IANA time-zone name.
pub fn parse_tz(raw: &str) -> Result<Tz, LeadError> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| LeadError::TimeZone(raw.to_string()))
}

/// Raw lead input from any source, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadInput {
    /// Full name.
    pub name: String,
    /// Email as typed.
    pub email: Option<String>,
    /// Phone as typed.
    pub phone: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// IANA zone as typed.
    pub tz: Option<String>,
    /// Source label.
    pub source: String,
    /// Sequence name; `None` uses the default sequence.
    pub sequence: Option<String>,
    /// Custom fields.
    pub fields: BTreeMap<String, String>,
    /// How email consent was given, if it was.
    pub email_consent: Option<String>,
    /// How SMS consent was given, if it was.
    pub sms_consent: Option<String>,
    /// The lead's country as written (ISO code or name): the region of a
    /// national-format phone number (see [`super::phone`]).
    pub country: Option<String>,
}

/// A validated lead, ready to be given an id and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLead {
    /// Trimmed, non-empty.
    pub name: String,
    /// Normalised email.
    pub email: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Parsed zone.
    pub tz: Option<Tz>,
    /// Source label.
    pub source: String,
    /// Custom fields.
    pub fields: BTreeMap<String, String>,
    /// How email consent was given.
    pub email_consent: Option<String>,
    /// How SMS consent was given.
    pub sms_consent: Option<String>,
    /// Kept the lead but not all it came with (a bad phone next to a good
    /// email); one line each, for the answer to whoever sent it.
    pub warnings: Vec<String>,
}

/// Field a phone number that could not be used is kept in, so nothing typed is lost.
pub const PHONE_RAW_FIELD: &str = "phone_raw";

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl LeadInput {
    /// Every problem with the input, by field name, for answers that name
    /// each bad field at once (the intake API).
    pub fn problems(&self, default_region: Option<&str>) -> Vec<(&'static str, LeadError)> {
        let mut out = super::gate::problems(self);
        if self.name.trim().is_empty() {
            out.push(("name", LeadError::MissingName));
        }
        if let Some(Err(e)) = non_empty(&self.email).map(normalize_email) {
            out.push(("email", e));
        }
        // A bad phone next to a good email is a warning (see `validate`), not a problem.
        let email_ok = non_empty(&self.email).is_some_and(|e| normalize_email(e).is_ok());
        if let Some(Err(e)) = non_empty(&self.phone)
            .filter(|_| !email_ok)
            .map(|p| self.read_phone(p, default_region))
        {
            out.push(("phone", e));
        }
        if non_empty(&self.email).is_none() && non_empty(&self.phone).is_none() {
            out.push(("email", LeadError::NoContact));
        }
        if let Some(Err(e)) = non_empty(&self.tz).map(parse_tz) {
            out.push(("tz", e));
        }
        super::gate::first_per_field(out)
    }

    /// What [`LeadInput::validate`] would accept with a warning (a bad phone
    /// next to a good email), for answers that report it.
    pub fn warnings(&self, default_region: Option<&str>) -> Vec<String> {
        self.validate(default_region)
            .map(|v| v.warnings)
            .unwrap_or_default()
    }

    /// Validates every field; the first problem found is returned.
    pub fn validate(&self, default_region: Option<&str>) -> Result<ValidLead, LeadError> {
        super::gate::check(self)?;
        self.parse(default_region)
    }

    /// Validates an edited lead (`self`, the stored values with the edits
    /// applied): the gate checks `changed`, the values being written; the
    /// stored ones were let in when they came, and refusing them would make
    /// an old lead uneditable (output escapes them). Every field is parsed as
    /// [`LeadInput::validate`] parses it.
    pub fn validate_edit(
        &self,
        changed: &LeadInput,
        default_region: Option<&str>,
    ) -> Result<ValidLead, LeadError> {
        super::gate::check(changed)?;
        self.parse(default_region)
    }

    fn parse(&self, default_region: Option<&str>) -> Result<ValidLead, LeadError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(LeadError::MissingName);
        }
        let email = non_empty(&self.email).map(normalize_email).transpose()?;
        let tz = non_empty(&self.tz).map(parse_tz).transpose()?;
        let mut fields: BTreeMap<String, String> = self
            .fields
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(k, _)| !k.is_empty())
            .collect();
        let mut warnings = Vec::new();
        let phone = match non_empty(&self.phone).map(|p| (p, self.read_phone(p, default_region))) {
            None => None,
            Some((_, Ok(phone))) => Some(phone),
            // The email reaches the lead; losing it over a phone would drop a real lead.
            Some((raw, Err(e))) if email.is_some() => {
                fields.insert(PHONE_RAW_FIELD.to_string(), raw.to_string());
                warnings.push(format!(
                    "{e}; kept without a phone (the number is in field {PHONE_RAW_FIELD})"
                ));
                None
            }
            Some((_, Err(e))) => return Err(e),
        };
        if email.is_none() && phone.is_none() {
            return Err(LeadError::NoContact);
        }
        Ok(ValidLead {
            name: name.to_string(),
            email,
            phone,
            company: non_empty(&self.company).map(str::to_string),
            tz,
            source: self.source.trim().to_string(),
            fields,
            email_consent: non_empty(&self.email_consent).map(str::to_string),
            sms_consent: non_empty(&self.sms_consent).map(str::to_string),
            warnings,
        })
    }

    /// Reads the phone in the region [`phone_region`] resolves (the number's
    /// own `+<country>`, the country, the zone's country, the default).
    pub fn read_phone(&self, raw: &str, default_region: Option<&str>) -> Result<String, LeadError> {
        let tz = non_empty(&self.tz).and_then(|t| parse_tz(t).ok());
        match phone_region(raw, non_empty(&self.country), tz, default_region) {
            Some((region, from)) => normalize_phone(raw, Some(&region)).map_err(|e| match e {
                LeadError::Phone { value, reason } => LeadError::Phone {
                    value,
                    reason: format!(
                        "{reason} (read as a {region} number, from the {})",
                        match from {
                            RegionSource::Country => "country",
                            RegionSource::TimeZone => "time zone",
                            RegionSource::Default => "default region",
                        }
                    ),
                },
                other => other,
            }),
            None => normalize_phone(raw, default_region),
        }
    }
}

impl ValidLead {
    /// Builds the stored record for a new, active lead.
    pub fn into_lead(self, id: LeadId, sequence: String, now: DateTime<Utc>) -> Lead {
        let grant = |how: Option<String>| how.map(|how| ConsentGrant { at: now, how });
        Lead {
            id,
            name: self.name,
            email: self.email,
            phone: self.phone,
            company: self.company,
            tz: self.tz,
            source: self.source,
            fields: self.fields,
            consent: Consent {
                email: grant(self.email_consent),
                sms: grant(self.sms_consent),
            },
            sequence,
            status: Status::Active,
            last_step: None,
            next: None,
            created_at: now,
            updated_at: now,
            event_count: 0,
            hot: false,
        }
    }
}

/// Parses `KEY=VALUE` from the command line.
pub fn parse_field(raw: &str) -> Result<(String, String), LeadError> {
    match raw.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(LeadError::Field(raw.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert!(matches!(
            normalize_email("ada@"),
            Err(LeadError::Email { .. })
        ));
        assert!(matches!(
            normalize_email("ada@localhost"),
            Err(LeadError::Email { .. })
        ));
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("+1 (415) 555-2671", None).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("030 901820", Some("DE")).unwrap(),
            "+4930901820"
        );
        let err = normalize_phone("12", None).unwrap_err();
        assert!(err.to_string().contains("invalid phone `12`"), "{err}");
    }

    #[test]
    fn national_phones_take_their_region_from_country_then_zone() {
        let input = |phone: &str, country: Option<&str>, tz: Option<&str>| LeadInput {
            name: "Kim".into(),
            email: Some("kim@example.kr".into()),
            phone: Some(phone.into()),
            country: country.map(str::to_string),
            tz: tz.map(str::to_string),
            ..LeadInput::default()
        };
        let v = input("(415) 555-0132", None, Some("America/Los_Angeles"))
            .validate(None)
            .unwrap();
        assert_eq!(v.phone.as_deref(), Some("+14155550132"));
        assert!(v.warnings.is_empty());
        let v = input("010-1234-5678", Some("South Korea"), None)
            .validate(Some("US"))
            .unwrap();
        assert_eq!(v.phone.as_deref(), Some("+821012345678"));
        // Nothing says where: kept without the phone, raw value in a field.
        let v = input("010-1234-5678", None, None).validate(None).unwrap();
        assert_eq!(v.phone, None);
        assert_eq!(v.fields[PHONE_RAW_FIELD], "010-1234-5678");
        assert!(
            v.warnings[0].contains("invalid phone `010-1234-5678`"),
            "{:?}",
            v.warnings
        );
        assert!(input("12", None, None).problems(None).is_empty());
        // Phone only: still refused.
        let phone_only = LeadInput {
            email: None,
            ..input("12", None, None)
        };
        assert!(matches!(
            phone_only.validate(None),
            Err(LeadError::Phone { .. })
        ));
        assert_eq!(phone_only.problems(None)[0].0, "phone");
    }

    #[test]
    fn prefix_range_brackets_every_matching_id() {
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        let (lo, hi) = LeadId::prefix_range("01jd3q").unwrap();
        assert!(lo <= id && id <= hi);
        let (lo, hi) = LeadId::prefix_range("01JD3R").unwrap();
        assert!(!(lo <= id && id <= hi));
        assert!(LeadId::prefix_range("01JD3U!").is_err());
    }

    #[test]
    fn names_split_for_templates() {
        let v = LeadInput {
            name: "  Ada  King Lovelace ".into(),
            email: Some("ada@example.com".into()),
            ..LeadInput::default()
        }
        .validate(None)
        .unwrap();
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        let lead = v.into_lead(id, "default".into(), DateTime::UNIX_EPOCH);
        assert_eq!(lead.first_name(), "Ada");
        assert_eq!(lead.last_name(), "King Lovelace");
        assert_eq!(lead.stage(), Stage::New);
    }

    #[test]
    fn stage_names_round_trip() {
        for stage in [
            Stage::New,
            Stage::Step(3),
            Stage::Hot,
            Stage::Status(Status::HandedOff),
        ] {
            assert_eq!(stage.to_string().parse::<Stage>(), Ok(stage));
        }
        assert!("active".parse::<Stage>().is_err());
        assert!("step-0".parse::<Stage>().is_err());
    }
}
