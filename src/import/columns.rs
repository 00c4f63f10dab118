//! Which lead field each column of an export holds: the headers of CRM
//! exports, Google Contacts, Outlook and Outlook.com (English, German,
//! French and Spanish), and `--map FIELD=HEADER` for the rest.

use std::collections::BTreeMap;

use crate::domain::lead::LeadInput;
use crate::domain::phone::country_code;

/// The lead field a column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    First,
    Last,
    Email,
    Phone,
    Company,
    TimeZone,
    Country,
    Source,
    EmailConsent,
    SmsConsent,
    Field,
}

/// Field names `--map` accepts, with the column each sets.
pub const MAP_FIELDS: &[(&str, Column)] = &[
    ("name", Column::Name),
    ("first_name", Column::First),
    ("last_name", Column::Last),
    ("email", Column::Email),
    ("phone", Column::Phone),
    ("company", Column::Company),
    ("tz", Column::TimeZone),
    ("country", Column::Country),
    ("source", Column::Source),
    ("email_consent", Column::EmailConsent),
    ("sms_consent", Column::SmsConsent),
];

/// Headers of columns that look like a contact but only describe one (a
/// display name, a type or label): never read as an address or number.
const DESCRIBES: &[&str] = &[
    "displayname",
    "angezeigtername",
    "nomcomplet",
    "nombredepantalla",
    "type",
    "typ",
    "tipo",
    "label",
    "fax",
    "télécopie",
    "telecopie",
];

/// Localised and vendor spellings, keyed by the header lower-cased with
/// everything but letters removed (so `E-Mail 2: Adresse` is `emailadresse`
/// and `Téléphone (bureau)` is `téléphonebureau`).
const KNOWN: &[(&str, Column)] = &[
    // Names.
    ("name", Column::Name),
    ("fullname", Column::Name),
    ("contactname", Column::Name),
    ("leadname", Column::Name),
    ("contact", Column::Name),
    ("firstname", Column::First),
    ("first", Column::First),
    ("givenname", Column::First),
    ("fname", Column::First),
    ("forename", Column::First),
    ("vorname", Column::First),
    ("prénom", Column::First),
    ("nombre", Column::First),
    ("lastname", Column::Last),
    ("last", Column::Last),
    ("surname", Column::Last),
    ("familyname", Column::Last),
    ("lname", Column::Last),
    ("nachname", Column::Last),
    ("nom", Column::Last),
    ("nomdefamille", Column::Last),
    ("apellidos", Column::Last),
    ("apellido", Column::Last),
    // Email (Google: E-mail 1 - Value; Outlook: E-mail Address, E-mail 2 Address).
    ("email", Column::Email),
    ("emailaddress", Column::Email),
    ("emailvalue", Column::Email),
    ("primaryemail", Column::Email),
    ("workemail", Column::Email),
    ("contactemail", Column::Email),
    ("mail", Column::Email),
    ("emailadresse", Column::Email),
    ("adressedemessagerie", Column::Email),
    ("courriel", Column::Email),
    ("direccióndecorreoelectrónico", Column::Email),
    ("direccióndelcorreoelectrónico", Column::Email),
    ("correoelectrónico", Column::Email),
    ("correo", Column::Email),
    // Phones (Google: Phone 1 - Value; Outlook's many).
    ("phone", Column::Phone),
    ("phonenumber", Column::Phone),
    ("phonevalue", Column::Phone),
    ("mobile", Column::Phone),
    ("mobilephone", Column::Phone),
    ("mobilenumber", Column::Phone),
    ("cell", Column::Phone),
    ("cellphone", Column::Phone),
    ("telephone", Column::Phone),
    ("workphone", Column::Phone),
    ("primaryphone", Column::Phone),
    ("businessphone", Column::Phone),
    ("homephone", Column::Phone),
    ("otherphone", Column::Phone),
    ("companymainphone", Column::Phone),
    ("mobiltelefon", Column::Phone),
    ("telefongeschäftlich", Column::Phone),
    ("telefonprivat", Column::Phone),
    ("telefonfirma", Column::Phone),
    ("haupttelefon", Column::Phone),
    ("weiterestelefon", Column::Phone),
    ("telefon", Column::Phone),
    ("téléphonebureau", Column::Phone),
    ("téléphonedomicile", Column::Phone),
    ("téléphoneprincipal", Column::Phone),
    ("téléphoneautre", Column::Phone),
    ("téléphoneportable", Column::Phone),
    ("téléphoneprofessionnel", Column::Phone),
    ("téléphonesociété", Column::Phone),
    ("télmobile", Column::Phone),
    ("téléphone", Column::Phone),
    ("teléfonodeltrabajo", Column::Phone),
    ("teléfonomóvil", Column::Phone),
    ("teléfonoprincipal", Column::Phone),
    ("otroteléfono", Column::Phone),
    ("teléfono", Column::Phone),
    ("móvil", Column::Phone),
    // Companies (Google: Organization 1 - Name / Organization Name).
    ("company", Column::Company),
    ("companyname", Column::Company),
    ("organization", Column::Company),
    ("organisation", Column::Company),
    ("organizationname", Column::Company),
    ("account", Column::Company),
    ("accountname", Column::Company),
    ("business", Column::Company),
    ("firma", Column::Company),
    ("unternehmen", Column::Company),
    ("société", Column::Company),
    ("entreprise", Column::Company),
    ("compañía", Column::Company),
    ("organización", Column::Company),
    ("empresa", Column::Company),
    // Countries (Outlook: Business Country/Region; Google: Address 1 - Country).
    ("country", Column::Country),
    ("countryregion", Column::Country),
    ("countrycode", Column::Country),
    ("businesscountryregion", Column::Country),
    ("homecountryregion", Column::Country),
    ("othercountryregion", Column::Country),
    ("businesscountry", Column::Country),
    ("homecountry", Column::Country),
    ("addresscountry", Column::Country),
    ("land", Column::Country),
    ("landregion", Column::Country),
    ("landregiongeschäftlich", Column::Country),
    ("landregionprivat", Column::Country),
    ("pays", Column::Country),
    ("paysrégion", Column::Country),
    ("paysrégionbureau", Column::Country),
    ("paysrégiondomicile", Column::Country),
    ("paysbureau", Column::Country),
    ("paysdomicile", Column::Country),
    ("país", Column::Country),
    ("paísoregión", Column::Country),
    ("paísoregióndeltrabajo", Column::Country),
    ("paísoregióndeldomicilio", Column::Country),
    // The rest.
    ("timezone", Column::TimeZone),
    ("tz", Column::TimeZone),
    ("timezonename", Column::TimeZone),
    ("zone", Column::TimeZone),
    ("source", Column::Source),
    ("leadsource", Column::Source),
    ("origin", Column::Source),
    ("emailconsent", Column::EmailConsent),
    ("emailoptin", Column::EmailConsent),
    ("marketingemailconsent", Column::EmailConsent),
    ("smsconsent", Column::SmsConsent),
    ("smsoptin", Column::SmsConsent),
    ("textconsent", Column::SmsConsent),
    ("textoptin", Column::SmsConsent),
];

/// What a header holds. Digits are dropped (`E-mail 2 Address`, `Phone 1 -
/// Value`, `Business Phone 2`); a header that only describes a contact (its
/// display name, type or label; a fax) is a plain field.
pub fn classify(header: &str) -> Column {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    if DESCRIBES.iter().any(|d| key.contains(d)) {
        return Column::Field;
    }
    KNOWN
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, c)| *c)
        .unwrap_or(Column::Field)
}

/// A consent cell: falsy values mean no consent; anything else is kept as "how".
pub fn consent(cell: &str, column: &str, file: &str) -> Option<String> {
    let v = cell.trim();
    match v.to_ascii_lowercase().as_str() {
        "" | "no" | "n" | "false" | "0" | "none" => None,
        "yes" | "y" | "true" | "1" | "x" => Some(format!("import of {file}, column {column}")),
        _ => Some(v.to_string()),
    }
}

/// Each column's field and header, in file order.
pub struct Mapping {
    pub columns: Vec<(Column, String)>,
}

/// A row as a lead: the input, plus the other non-empty email and phone
/// cells (header, value), for the caller to choose from and keep.
pub struct RowInput {
    pub input: LeadInput,
    pub emails: Vec<(String, String)>,
    pub phones: Vec<(String, String)>,
}

impl Mapping {
    /// Classifies `headers`, then applies `--map FIELD=HEADER` overrides
    /// (a mapped field's other columns become plain fields).
    pub fn new(headers: &[String], map: &[(Column, usize)]) -> Mapping {
        let mut columns: Vec<(Column, String)> =
            headers.iter().map(|h| (classify(h), h.clone())).collect();
        for &(column, at) in map {
            for (c, _) in columns.iter_mut().filter(|(c, _)| *c == column) {
                *c = Column::Field;
            }
            if let Some(slot) = columns.get_mut(at) {
                slot.0 = column;
            }
        }
        Mapping { columns }
    }

    /// Whether any column feeds `column`.
    pub fn has(&self, column: Column) -> bool {
        self.columns.iter().any(|(c, _)| *c == column)
    }

    /// Reads one row. Emails and phones are collected, not chosen: the
    /// caller picks the first usable one.
    pub fn row<'a>(&self, cells: impl Iterator<Item = &'a str>, file: &str) -> RowInput {
        let mut input = LeadInput::default();
        let (mut first, mut last) = (String::new(), String::new());
        let mut fields = BTreeMap::new();
        let (mut emails, mut phones) = (Vec::new(), Vec::new());
        for ((column, header), cell) in self.columns.iter().zip(cells) {
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
                Column::First if first.is_empty() => first = cell.to_string(),
                Column::Last if last.is_empty() => last = cell.to_string(),
                Column::First | Column::Last => {}
                // Google Contacts puts several values in one cell: `a ::: b`.
                Column::Email => emails.extend(split_values(header, cell)),
                Column::Phone => phones.extend(split_values(header, cell)),
                Column::Company => set(&mut input.company),
                Column::TimeZone => set(&mut input.tz),
                Column::Country => {
                    // The first cell that names a country; all are kept.
                    if input.country.is_none() && country_code(cell).is_some() {
                        input.country = Some(cell.to_string());
                    }
                    if !cell.is_empty() {
                        fields.insert(header.clone(), cell.to_string());
                    }
                }
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
        RowInput {
            input,
            emails,
            phones,
        }
    }
}

/// The non-empty values of a cell, split on Google's ` ::: `; the second
/// and later are named `HEADER (2)`, `HEADER (3)`… so each can be kept.
fn split_values(header: &str, cell: &str) -> Vec<(String, String)> {
    cell.split(":::")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .enumerate()
        .map(|(i, v)| {
            let name = if i == 0 {
                header.to_string()
            } else {
                format!("{header} ({})", i + 1)
            };
            (name, v.to_string())
        })
        .collect()
}

impl RowInput {
    /// Fills the email and phone with the first usable cell of each (the
    /// first cell when none is usable, so validation names it) and keeps
    /// the other cells as custom fields under their headers.
    pub fn choose(mut self, default_region: Option<&str>) -> LeadInput {
        let email_ok = |v: &str| crate::domain::lead::normalize_email(v).is_ok();
        let pick = |cells: &[(String, String)], ok: &dyn Fn(&str) -> bool| {
            cells
                .iter()
                .position(|(_, v)| ok(v))
                .or((!cells.is_empty()).then_some(0))
        };
        let email_at = pick(&self.emails, &email_ok);
        let input = &self.input;
        let phone_ok = |v: &str| input.read_phone(v, default_region).is_ok();
        let phone_at = pick(&self.phones, &phone_ok);
        for (i, (header, value)) in self.emails.drain(..).enumerate() {
            if Some(i) == email_at {
                self.input.email = Some(value);
            } else {
                self.input.fields.insert(header, value);
            }
        }
        for (i, (header, value)) in self.phones.drain(..).enumerate() {
            if Some(i) == phone_at {
                self.input.phone = Some(value);
            } else {
                self.input.fields.insert(header, value);
            }
        }
        self.input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_headers_are_recognised() {
        for (header, column) in [
            ("First Name", Column::First),
            ("E-mail Address", Column::Email),
            ("E-mail 2 Address", Column::Email),
            ("E-mail 1 - Value", Column::Email),
            ("E-mail 1 - Type", Column::Field),
            ("E-mail Display Name", Column::Field),
            ("E-Mail: Angezeigter Name", Column::Field),
            ("Mobile Phone", Column::Phone),
            ("Business Phone", Column::Phone),
            ("Business Fax", Column::Field),
            ("Phone 1 - Value", Column::Phone),
            ("Organization 1 - Name", Column::Company),
            ("Account Name", Column::Company),
            ("Time Zone", Column::TimeZone),
            ("Country/Region", Column::Country),
            ("Business Country/Region", Column::Country),
            ("Vorname", Column::First),
            ("Nachname", Column::Last),
            ("E-Mail-Adresse", Column::Email),
            ("E-Mail 2: Adresse", Column::Email),
            ("Firma", Column::Company),
            ("Telefon geschäftlich", Column::Phone),
            ("Mobiltelefon", Column::Phone),
            ("Land/Region geschäftlich", Column::Country),
            ("Prénom", Column::First),
            ("Adresse de messagerie", Column::Email),
            ("Téléphone (bureau)", Column::Phone),
            ("Tél. mobile", Column::Phone),
            ("Télécopie (bureau)", Column::Field),
            ("Pays/Région (bureau)", Column::Country),
            ("Apellidos", Column::Last),
            ("Dirección de correo electrónico", Column::Email),
            ("Teléfono del trabajo", Column::Phone),
            ("País o región del trabajo", Column::Country),
            ("Industry", Column::Field),
        ] {
            assert_eq!(classify(header), column, "{header}");
        }
    }

    #[test]
    fn first_usable_email_and_phone_win_the_rest_are_kept() {
        let headers: Vec<String> = [
            "Name",
            "E-mail 1 - Value",
            "E-mail 2 - Value",
            "Phone 1 - Value",
            "Phone 2 - Value",
        ]
        .map(String::from)
        .to_vec();
        let mapping = Mapping::new(&headers, &[]);
        let row = mapping.row(
            [
                "Ada",
                "not an address",
                "ada@example.com",
                "12",
                "+44 20 7946 0958",
            ]
            .into_iter(),
            "f.csv",
        );
        let input = row.choose(None);
        assert_eq!(input.email.as_deref(), Some("ada@example.com"));
        assert_eq!(input.phone.as_deref(), Some("+44 20 7946 0958"));
        assert_eq!(input.fields["E-mail 1 - Value"], "not an address");
        assert_eq!(input.fields["Phone 1 - Value"], "12");
    }

    #[test]
    fn map_overrides_a_guess() {
        let headers: Vec<String> = ["Kontakt", "Mail privat", "Email"]
            .map(String::from)
            .to_vec();
        let mapping = Mapping::new(&headers, &[(Column::Name, 0), (Column::Email, 1)]);
        assert_eq!(mapping.columns[0].0, Column::Name);
        assert_eq!(mapping.columns[1].0, Column::Email);
        assert_eq!(mapping.columns[2].0, Column::Field);
    }
}
