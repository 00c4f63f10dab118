//! `nudge import`: header mapping, dedupe, suppression, rejected rows, dry runs.

use predicates::prelude::*;

use crate::common::{CALL_FIRST, Env, stderr, stdout};

/// Runs an import and returns (exit code, stdout).
fn import(env: &Env, args: &[&str]) -> (i32, String) {
    let assert = env.run(&[&["import"], args].concat());
    let code = assert.get_output().status.code().expect("exit code");
    assert!(
        stderr(&assert).is_empty() || code == 1,
        "no noise on stderr: {}",
        stderr(&assert)
    );
    (code, stdout(&assert))
}

#[test]
fn imports_a_plain_file() {
    let env = Env::new();
    env.write_file(
        "people.csv",
        "name,email,phone,company\n\
         Ada Lovelace,ada@example.com,,Engines\n\
         Bob Builder,,+14155552671,\n\
         Cleo,CLEO@Example.com,+442079460958,Pyramids\n",
    );
    let (code, out) = import(&env, &["people.csv"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        "imported 3 of 3 rows from people.csv; 0 rejected"
    );
    let leads = env.leads();
    assert_eq!(leads.len(), 3);
    let cleo = leads.iter().find(|l| l["name"] == "Cleo").expect("Cleo");
    assert_eq!(cleo["email"], "cleo@example.com");
    assert_eq!(cleo["phone"], "+442079460958");
    assert_eq!(cleo["company"], "Pyramids");
    assert_eq!(cleo["source"], "import:people.csv");
    assert_eq!(cleo["sequence"], "default");
    assert_eq!(cleo["status"], "active");
    assert!(cleo["next"].is_object(), "imported leads are scheduled");
}

#[test]
fn source_and_sequence_options_apply_to_every_row() {
    let env = Env::new();
    env.write_sequence("calls.toml", CALL_FIRST);
    env.write_file(
        "people.csv",
        "name,email,lead source\nAda,ada@example.com,webinar\nBob,bob@example.com,\n",
    );
    let (code, out) = import(&env, &["people.csv", "--sequence", "calls"]);
    assert_eq!(code, 0, "{out}");
    let leads = env.leads();
    let source = |name: &str| {
        leads.iter().find(|l| l["name"] == name).expect("lead")["source"]
            .as_str()
            .expect("source")
            .to_string()
    };
    // The file's source column wins over the default label.
    assert_eq!(source("Ada"), "webinar");
    assert_eq!(source("Bob"), "import:people.csv");
    assert!(leads.iter().all(|l| l["sequence"] == "calls"));

    let env = Env::new();
    env.write_file(
        "people.csv",
        "name,email,lead source\nAda,ada@example.com,webinar\n",
    );
    let (code, _) = import(&env, &["people.csv", "--source", "trade-show"]);
    assert_eq!(code, 0);
    assert_eq!(env.leads()[0]["source"], "trade-show");
}

#[test]
fn maps_crm_headers_with_bom_crlf_and_quoted_newlines() {
    let env = Env::new();
    let csv = "\u{feff}\"Lead ID\",\"First Name\",\"Last Name\",\"E-mail Address\",\"Mobile Phone\",\"Account Name\",\"Time Zone\",\"Description\",\"SMS Opt In\"\r\n\
               L-1,Ada,Lovelace,ADA@Example.com,+1 (415) 555-2671,Analytical Engines,Europe/London,\"first line\r\nsecond line, with comma\",yes\r\n\
               L-2,Grace,Hopper,grace@example.com,,Navy,America/New_York,\"\"\"quoted\"\"\",no\r\n";
    env.write_file("crm.csv", csv);
    let (code, out) = import(&env, &["crm.csv"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("imported 2 of 2 rows"), "{out}");
    let leads = env.leads();
    let ada = leads
        .iter()
        .find(|l| l["email"] == "ada@example.com")
        .expect("Ada");
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["phone"], "+14155552671");
    assert_eq!(ada["company"], "Analytical Engines");
    assert_eq!(ada["tz"], "Europe/London");
    // The BOM is not part of the first header; unmapped columns become fields.
    assert_eq!(ada["fields"]["Lead ID"], "L-1");
    assert_eq!(
        ada["fields"]["Description"],
        "first line\r\nsecond line, with comma"
    );
    assert_eq!(
        ada["consent"]["sms"]["how"],
        "import of crm.csv, column SMS Opt In"
    );
    let grace = leads
        .iter()
        .find(|l| l["name"] == "Grace Hopper")
        .expect("Grace");
    assert_eq!(grace["fields"]["Description"], "\"quoted\"");
    assert_eq!(grace["tz"], "America/New_York");
    assert!(grace["consent"].get("sms").is_none(), "`no` is no consent");
    assert_eq!(leads.len(), 2);
}

#[test]
fn rejected_rows_are_reported_with_row_line_and_reason() {
    let env = Env::new();
    let csv = "name,email,phone,tz\n\
               Ada,ada@example.com,,\n\
               Short,row\n\
               Grace,grace@example,,\n\
               Alan,alan@example.com,12,\n\
               Zed,zed@example.com,,Mars/Olympus\n\
               ,nameless@example.com,,\n\
               Nobody,,,\n\
               Ada Again,Ada@Example.com,,\n\
               \"Barbara\nLiskov\",\"barbara@example.com\",,America/New_York\n\
               Edsger,edsger@example,,\n\
               Frances,frances@example.com,,Europe/Amsterdam\n";
    env.write_file("mixed.csv", csv);
    let (code, out) = import(&env, &["mixed.csv"]);
    assert_eq!(code, 3, "rows were rejected: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "imported 3 of 11 rows from mixed.csv; 8 rejected",
        "{out}"
    );
    let expected = [
        "  row 2 (line 3): expected 4 fields, found 2",
        "  row 3 (line 4): invalid email `grace@example`",
        "  row 5 (line 6): unknown time zone `Mars/Olympus`",
        "  row 6 (line 7): missing name",
        "  row 7 (line 8): a lead needs an email or a phone number",
        "  row 8 (line 9): duplicate of an earlier row (ada@example.com)",
        // A name is one line: the quoted line break is refused at the gate,
        // and still counted, so the next row starts on line 12.
        "  row 9 (line 10): name contains a control character (\\u{a}) at character 8",
        "  row 10 (line 12): invalid email `edsger@example`",
        // A bad phone next to a good email: imported without the phone.
        "imported with warnings:",
        "  row 4 (line 5): invalid phone `12`",
    ];
    let report = lines[1..].join("\n");
    let mut rest = report.as_str();
    for want in expected {
        let at = rest
            .find(want)
            .unwrap_or_else(|| panic!("missing `{want}` (in order) in:\n{out}"));
        rest = &rest[at + want.len()..];
    }
    let names: Vec<String> = env
        .leads()
        .iter()
        .map(|l| l["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["Frances", "Alan", "Ada"]);
}

#[test]
fn rejected_row_lines_are_right_for_crlf_files_with_blank_lines() {
    let env = Env::new();
    // Line 1 header, 2-3 Ada (quoted line break), 4 blank, 5 bad row, 6 Grace.
    let csv = "name,email,notes\r\n\
               Ada,ada@example.com,\"one\r\ntwo\"\r\n\
               \r\n\
               Bad,not-an-email,x\r\n\
               Grace,grace@example.com,x\r\n";
    env.write_file("crlf.csv", csv);
    let (code, out) = import(&env, &["crlf.csv"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("  row 2 (line 5): invalid email `not-an-email`"),
        "the bad row starts on line 5:\n{out}"
    );
    // The same file with LF or (old Mac) CR line ends.
    for (name, end) in [("lf.csv", "\n"), ("cr.csv", "\r")] {
        env.write_file(name, csv.replace("\r\n", end));
        let (code, out) = import(&env, &[name, "--dry-run"]);
        assert_eq!(code, 3, "{out}");
        assert!(
            out.contains("  row 2 (line 5): invalid email `not-an-email`"),
            "{name}: the bad row starts on line 5:\n{out}"
        );
    }
}

#[test]
fn dedupes_against_existing_leads_by_normalised_email_and_phone() {
    let env = Env::new();
    let ada = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let bob = env.add(&["--name", "Bob", "--phone", "+14155552671"]);
    env.write_file(
        "more.csv",
        "name,email,phone\n\
         Ada L,ADA@Example.com,\n\
         Bobby,,+1 (415) 555-2671\n\
         Cleo,cleo@example.com,\n",
    );
    let (code, out) = import(&env, &["more.csv", "--dry-run"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("would import 1 of 3 rows"), "{out}");
    assert!(
        out.contains(&format!(
            "  row 1 (line 2): ada@example.com already belongs to lead {ada}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  row 2 (line 3): +14155552671 already belongs to lead {bob}"
        )),
        "{out}"
    );
    assert_eq!(env.leads().len(), 2, "a dry run writes nothing");

    let (code, out) = import(&env, &["more.csv"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("imported 1 of 3 rows from more.csv; 2 rejected"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  row 1 (line 2): ada@example.com already belongs to lead {ada}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  row 2 (line 3): +14155552671 already belongs to lead {bob}"
        )),
        "{out}"
    );
    let leads = env.leads();
    assert_eq!(leads.len(), 3);
    assert_eq!(
        env.lead(&ada)["name"],
        "Ada",
        "the existing lead is untouched"
    );
}

#[test]
fn never_imports_a_suppressed_contact() {
    let env = Env::new();
    let opted = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let erased = env.add(&["--name", "Bob", "--phone", "+14155552671"]);
    env.ok(&["mark", &opted, "opted-out"]);
    env.ok(&["erase", &erased]);
    env.write_file(
        "back.csv",
        "name,email,phone\n\
         Ada,Ada@example.com,\n\
         Bob,,+1 415 555 2671\n\
         Cleo,cleo@example.com,\n",
    );
    let (code, out) = import(&env, &["back.csv", "--dry-run"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("would import 1 of 3 rows"), "{out}");
    assert!(
        out.contains("  row 1 (line 2): ada@example.com is suppressed (opted out)"),
        "{out}"
    );
    assert!(
        out.contains("  row 2 (line 3): +14155552671 is suppressed (erased)"),
        "{out}"
    );

    let (code, out) = import(&env, &["back.csv"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("imported 1 of 3 rows"), "{out}");
    assert!(
        out.contains("  row 1 (line 2): contact is suppressed (opted out)"),
        "{out}"
    );
    assert!(
        out.contains("  row 2 (line 3): contact is suppressed (erased)"),
        "{out}"
    );
    let names: Vec<String> = env
        .leads()
        .iter()
        .map(|l| l["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(
        names,
        ["Cleo", "Ada"],
        "only Cleo is new; Ada is the opted-out lead"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new();
    env.write_file(
        "people.csv",
        "name,email\nAda,ada@example.com\nBob,bob@example.com\nBad,nope\n",
    );
    let (code, out) = import(&env, &["people.csv", "--dry-run"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("would import 2 of 3 rows from people.csv; 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("  row 3 (line 4): invalid email `nope`"),
        "{out}"
    );
    env.assert_no_leads();

    env.write_file("clean.csv", "name,email\nAda,ada@example.com\n");
    let (code, out) = import(&env, &["clean.csv", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("would import 1 of 1 rows"), "{out}");
    env.assert_no_leads();
    // The real import afterwards still works.
    let (code, _) = import(&env, &["clean.csv"]);
    assert_eq!(code, 0);
    assert_eq!(env.leads().len(), 1);
}

#[test]
fn file_without_name_column_imports_nothing() {
    let env = Env::new();
    env.write_file("noname.csv", "email,company\nada@example.com,Engines\n");
    let err = env.fails(&["import", "noname.csv"]);
    assert!(err.contains("noname.csv: no name column"), "{err}");
    env.assert_no_leads();
}

#[test]
fn file_without_email_or_phone_column_imports_nothing() {
    let env = Env::new();
    env.write_file(
        "nocontact.csv",
        "First Name,Last Name,Company\nAda,Lovelace,Engines\n",
    );
    let err = env.fails(&["import", "nocontact.csv"]);
    assert!(
        err.contains("nocontact.csv: no email or phone column"),
        "{err}"
    );
    env.assert_no_leads();
}

#[test]
fn missing_file_and_unknown_sequence_import_nothing() {
    let env = Env::new();
    let err = env.fails(&["import", "missing.csv"]);
    assert!(err.contains("cannot open missing.csv"), "{err}");
    env.write_file("people.csv", "name,email\nAda,ada@example.com\n");
    let err = env.fails(&["import", "people.csv", "--sequence", "nope"]);
    assert!(
        err.contains("no sequence named `nope` (known: default)"),
        "{err}"
    );
    env.assert_no_leads();
}

#[test]
fn a_file_that_is_not_utf8_is_read_as_windows_1252() {
    let env = Env::new();
    let mut bytes = b"name,email\nAda,ada@example.com\n".to_vec();
    bytes.extend_from_slice(b"Jos\xe9,jose@example.com\n");
    env.write_file("latin1.csv", bytes);
    let (code, out) = import(&env, &["latin1.csv"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read as Windows-1252"), "{out}");
    let leads = env.leads();
    assert!(leads.iter().any(|l| l["name"] == "José"), "{leads:?}");
}

#[test]
fn header_only_file_imports_nothing_successfully() {
    let env = Env::new();
    env.write_file("empty.csv", "name,email\n");
    env.run(&["import", "empty.csv"])
        .success()
        .stdout(predicate::str::starts_with(
            "imported 0 of 0 rows from empty.csv; 0 rejected",
        ));
    env.assert_no_leads();
}
