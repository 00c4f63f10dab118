//! `nudge import` of real exports (fixtures in `tests/fixtures/import/`, see
//! SOURCES.md there): national phones resolved by country or time zone,
//! Google Contacts, Outlook with German headers, Outlook.com, a semicolon
//! Windows-1252 file from Excel; `--map`; a re-run after a crash.

use serde_json::Value;

use crate::common::{Env, stderr, stdout};

/// Copies fixture `name` into the environment and imports it with `args`;
/// returns (exit code, stdout).
fn import_fixture(env: &Env, name: &str, args: &[&str]) -> (i32, String) {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    env.write_file(&format!("exports/{name}"), bytes);
    let file = format!("exports/{name}");
    let assert = env.run(&[&["import", file.as_str()], args].concat());
    let code = assert.get_output().status.code().expect("exit code");
    (code, stdout(&assert))
}

fn by_name<'a>(leads: &'a [Value], name: &str) -> &'a Value {
    leads
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no lead named {name} in {leads:?}"))
}

#[test]
fn national_phones_resolve_by_country_column_or_time_zone() {
    let env = Env::new();
    let (code, out) = import_fixture(&env, "hubspot_national_phones.csv", &[]);
    assert_eq!(code, 3, "the phone-only row is refused: {out}");
    assert!(
        out.starts_with(
            "imported 4 of 5 rows from exports/hubspot_national_phones.csv; 1 rejected"
        ),
        "{out}"
    );
    // A phone-only lead with an unreadable phone is still refused.
    assert!(
        out.contains("  row 5 (line 6): invalid phone `555-0100`"),
        "{out}"
    );
    // Next to a valid email it is a warning; the raw value is kept.
    let warned = out
        .split_once("imported with warnings:\n")
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("no warnings section: {out}"));
    assert!(
        warned.starts_with("  row 4 (line 5): invalid phone `555-0199`"),
        "{out}"
    );
    let leads = env.leads();
    // Time zone America/Los_Angeles → US.
    assert_eq!(by_name(&leads, "Maya Lopez")["phone"], "+14155550132");
    // Country column "South Korea" → KR; "Deutschland" → DE.
    let kim = by_name(&leads, "Min-jun Kim");
    assert_eq!(kim["phone"], "+821012345678");
    assert_eq!(kim["fields"]["Country/Region"], "South Korea");
    assert_eq!(by_name(&leads, "Jonas Weber")["phone"], "+4930901820");
    let pat = by_name(&leads, "Pat Doe");
    assert!(pat.get("phone").is_none(), "{pat}");
    assert_eq!(pat["email"], "pat@nowhere.example.com");
    assert_eq!(pat["fields"]["phone_raw"], "555-0199");
    // The source names the file, not the path it was read from.
    assert_eq!(pat["source"], "import:hubspot_national_phones.csv");
}

#[test]
fn google_contacts_export_imports_with_every_value_kept() {
    let env = Env::new();
    env.write_config(
        "[general]\ndefault_region = \"US\"\n[sender]\nname = \"Sam\"\ncompany = \"Acme\"\nbooking_url = \"https://cal.example.com/sam\"\n",
    );
    let (code, out) = import_fixture(&env, "google_contacts.csv", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("imported 2 of 2 rows"), "{out}");
    let leads = env.leads();
    let grace = by_name(&leads, "Grace Hopper");
    // `E-mail 1 - Value` holds two addresses (` ::: `): the first is used.
    assert_eq!(grace["email"], "grace@navy.example.com");
    assert_eq!(
        grace["fields"]["E-mail 1 - Value (2)"],
        "g.hopper@home.example.com"
    );
    assert_eq!(grace["phone"], "+12025550143");
    assert_eq!(grace["company"], "Navy Labs");
    assert_eq!(
        grace["fields"]["Address 1 - Formatted"],
        "1 Navy Way\nArlington, VA 22202\nUS"
    );
    // "United Kingdom" in the address country beats the default region.
    let alan = by_name(&leads, "Alan Turing");
    assert_eq!(alan["phone"], "+442079460958");
    assert_eq!(alan["company"], "Bletchley Analytics");
}

#[test]
fn outlook_export_with_german_headers_in_windows_1252() {
    let env = Env::new();
    let (code, out) = import_fixture(&env, "outlook_de.csv", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read as Windows-1252"), "{out}");
    let leads = env.leads();
    let juergen = by_name(&leads, "Jürgen Müller");
    assert_eq!(juergen["email"], "j.mueller@mueller-soehne.example.de");
    assert_eq!(juergen["company"], "Müller & Söhne GmbH");
    // `Telefon geschäftlich` first; `Land/Region geschäftlich` = Deutschland.
    assert_eq!(juergen["phone"], "+497111234567");
    assert_eq!(juergen["fields"]["Mobiltelefon"], "0151 23456789");
    assert_eq!(juergen["fields"]["Straße geschäftlich"], "Königstraße 12");
    // The display-name column is never read as the address: Anna's comes
    // from `E-Mail 2: Adresse`, her phone is Austrian (Österreich).
    let anna = by_name(&leads, "Anna Schäfer");
    assert_eq!(anna["email"], "anna@schaefer.example.at");
    assert_eq!(anna["phone"], "+43158801234");
}

#[test]
fn outlook_com_export_keeps_both_rows() {
    let env = Env::new();
    let (code, out) = import_fixture(&env, "outlook_com.csv", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("imported 2 of 2 rows"), "{out}");
    let leads = env.leads();
    let dana = by_name(&leads, "Dana Whitfield");
    assert_eq!(dana["phone"], "+13125550178");
    assert_eq!(dana["fields"]["Mobile Phone"], "312.555.0199");
    let omar = by_name(&leads, "Omar Haddad");
    assert_eq!(omar["phone"], "+447911123456");
    // A fax is never taken for a phone.
    assert_eq!(omar["fields"]["Business Fax"], "020 7946 0000");
}

#[test]
fn semicolon_windows_1252_file_with_a_short_row() {
    let env = Env::new();
    let (code, out) = import_fixture(&env, "excel_de_semicolon.csv", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("imported 3 of 3 rows from exports/excel_de_semicolon.csv; 0 rejected"),
        "{out}"
    );
    assert!(out.contains("read as Windows-1252"), "{out}");
    assert!(
        out.contains("imported with warnings:\n  row 3 (line 4): 5 fields, the header has 6: the last one (`Notiz`) read as empty"),
        "{out}"
    );
    let leads = env.leads();
    let bjoern = by_name(&leads, "Björn Ökonom");
    assert_eq!(bjoern["company"], "Ökonomie & Co. KG");
    assert_eq!(bjoern["phone"], "+498912345678");
    let zoe = by_name(&leads, "Zoë Fàbregas");
    assert_eq!(zoe["fields"]["Notiz"], "Café, 3 €");
    assert_eq!(zoe["phone"], "+34912345678");
    assert_eq!(by_name(&leads, "François Lévêque")["phone"], "+33142685300");
}

#[test]
fn unmappable_headers_list_the_file_and_the_map_to_use() {
    let env = Env::new();
    env.write_file(
        "odd.csv",
        "Kontakt,Mail privat,Notiz\nAda Lovelace,ada@example.com,hi\n",
    );
    let assert = env.run(&["import", "odd.csv"]).code(1);
    let err = stderr(&assert);
    assert!(
        err.contains("no name column and no email or phone column"),
        "{err}"
    );
    assert!(
        err.contains("the file's headers are `Kontakt`, `Mail privat`, `Notiz`"),
        "{err}"
    );
    assert!(err.contains("--map name=\"Kontakt\""), "{err}");
    env.assert_no_leads();
    let out = env.ok(&[
        "import",
        "odd.csv",
        "--map",
        "name=Kontakt",
        "--map",
        "email=mail privat",
    ]);
    assert!(out.starts_with("imported 1 of 1 rows"), "{out}");
    assert_eq!(env.leads()[0]["email"], "ada@example.com");
    let err = env.fails(&["import", "odd.csv", "--map", "email=Nope"]);
    assert!(err.contains("no column `Nope`"), "{err}");
    let err = env.fails(&["import", "odd.csv", "--map", "mail=Kontakt"]);
    assert!(err.contains("`mail` is not a lead field"), "{err}");
}

#[test]
fn a_re_run_summarises_rows_already_imported() {
    let env = Env::new();
    let mut csv = String::from("name,email\n");
    for i in 0..1200 {
        csv.push_str(&format!("Lead {i},lead{i}@example.com\n"));
    }
    env.write_file("big.csv", &csv);
    // A first run that got through 1,000 rows, as if it had crashed there.
    let head: String = csv.lines().take(1001).map(|l| format!("{l}\n")).collect();
    env.write_file("partial/big.csv", head);
    env.ok(&["import", "partial/big.csv"]);
    // Plus one lead from elsewhere, and a duplicate inside the file.
    env.add(&["--name", "Other", "--email", "other@example.com"]);
    csv.push_str("Other,other@example.com\nLead 5 again,lead5@example.com\n");
    env.write_file("big.csv", &csv);
    let assert = env.run(&["import", "big.csv"]).code(3);
    let out = stdout(&assert);
    assert!(
        out.starts_with("imported 200 of 1202 rows from big.csv; 2 rejected\n1,000 rows already imported (skipped)\n"),
        "{out}"
    );
    assert!(
        out.contains("row 1201 (line 1202): other@example.com already belongs to lead"),
        "{out}"
    );
    assert!(
        out.contains("row 1202 (line 1203): duplicate of an earlier row (lead5@example.com)"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
}
