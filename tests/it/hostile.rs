//! Issue 10's findings, each through the real binary or the real server:
//! hostile names refused at the gate (CLI and intake), over-long fields
//! refused, spreadsheet formulas defused in the CSV export, hostile CSV rows
//! rejected by row, line and field, and an intake flood answered with 429.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge::config::Secret;
use nudge::inbound::{Inbound, IntakeLimits, launch};
use reqwest::StatusCode;

use crate::common::{Env, SENDER_CONFIG, json_lines, stdout};
use crate::worker::engine_on_manual_clock;

const TOKEN: &str = "intake-token-123";
const OSC_NAME: &str = "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED";

/// No raw ESC, BEL or C1 byte: what reached the terminal is visible text.
fn assert_no_escapes(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{7}' || ('\u{80}'..='\u{9f}').contains(&c)),
        "raw control characters in {text:?}"
    );
}

#[test]
fn add_refuses_terminal_escapes_and_bidi_overrides_naming_the_field() {
    let env = Env::new();
    let err = env.fails(&["add", "--name", OSC_NAME, "--email", "mal@example.com"]);
    assert!(
        err.contains("name contains a control character (\\u{1b}) at character 4"),
        "{err}"
    );
    assert_no_escapes(&err);
    let err = env.fails(&[
        "add",
        "--name",
        "Co Worker",
        "--company",
        "Co\u{1b}[2J",
        "--email",
        "co@example.com",
    ]);
    assert!(
        err.contains("company contains a control character"),
        "{err}"
    );
    let err = env.fails(&[
        "add",
        "--name",
        "Ada \u{202e}ecalevoL",
        "--email",
        "ada@example.com",
    ]);
    assert!(
        err.contains("name contains a bidirectional control character (\\u{202e})"),
        "{err}"
    );
    env.assert_no_leads();
}

#[test]
fn add_refuses_a_20000_character_name() {
    let env = Env::new();
    let name = "x".repeat(20_000);
    let err = env.fails(&["add", "--name", &name, "--email", "x@example.com"]);
    assert!(
        err.contains("name is 20000 characters long; at most 200 are accepted"),
        "{err}"
    );
    assert!(err.len() < 500, "the value is not echoed back");
    env.assert_no_leads();
}

#[test]
fn edit_goes_through_the_same_gate() {
    let env = Env::new();
    let id = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let err = env.fails(&["edit", &id, "--name", OSC_NAME]);
    assert!(err.contains("name contains a control character"), "{err}");
    let err = env.fails(&["edit", &id, "--company", &"c".repeat(201)]);
    assert!(err.contains("company is 201 characters long"), "{err}");
    assert_eq!(env.lead(&id)["name"], "Ada");
}

#[test]
fn csv_export_defuses_formulas_and_jsonl_stays_exact() {
    let env = Env::new();
    let formula = "=HYPERLINK(\"http://evil.test\",\"click\")";
    let id = env.add(&[
        "--name",
        "@Mallory",
        "--company",
        formula,
        "--email",
        "mallory@example.com",
        "--phone",
        "+14155552671",
        "--field",
        "budget=-5000",
    ]);
    let text = env.ok(&["export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    let row = reader.records().next().expect("one row").expect("row");
    let cell = |name: &str| {
        let at = headers.iter().position(|h| h == name).expect("column");
        row[at].to_string()
    };
    assert_eq!(cell("id"), id);
    assert_eq!(cell("company"), format!("'{formula}"));
    assert_eq!(cell("name"), "'@Mallory");
    assert_eq!(cell("phone"), "'+14155552671");
    assert!(cell("fields").contains("-5000"), "JSON cells start with {{");
    let rows = json_lines(&env.ok(&["export", "--format", "jsonl"]));
    assert_eq!(rows[0]["company"], formula, "JSONL is byte-exact");
    assert_eq!(rows[0]["name"], "@Mallory");

    // A quoted cell imports as it was exported.
    let other = Env::new();
    let file = other.write_file(
        "back.csv",
        format!(
            "name,phone,company\nAda,'+14155552671,\"'{}\"\n",
            formula.replace('"', "\"\"")
        ),
    );
    other.ok(&["import", file.to_str().unwrap()]);
    let lead = &other.leads()[0];
    assert_eq!(lead["phone"], "+14155552671");
    assert_eq!(lead["company"], formula);
}

#[test]
fn import_rejects_hostile_rows_by_row_line_and_field() {
    let env = Env::new();
    let long = "c".repeat(201);
    let csv = format!(
        "name,email,company,notes\n\
         Ada,ada@example.com,Engines,fine\n\
         \"Evil\r\nBcc: victim@other.test\",evil@example.com,Acme,x\n\
         {OSC_NAME},mal@example.com,Co,x\n\
         Long,long@example.com,{long},x\n\
         Grace,grace@example.com,Navy,\"line one\nline two\"\n\
         Eve,eve@example.com,Eve Inc,\"osc52 \u{1b}]52;c;cHduZWQ=\u{7}\"\n"
    );
    let file = env.write_file("hostile.csv", csv);
    let assert = env.run(&["import", file.to_str().unwrap()]).code(3);
    let out = stdout(&assert);
    assert_no_escapes(&out);
    for expected in [
        "imported 2 of 6 rows from ",
        "  row 2 (line 3): name contains a control character (\\u{d}) at character 5",
        "  row 3 (line 5): name contains a control character (\\u{1b}) at character 4",
        "  row 4 (line 6): company is 201 characters long; at most 200 are accepted",
        "  row 6 (line 9): field `notes` contains a control character (\\u{1b}) at character 7; of control characters only line breaks and tabs are accepted",
        "; 4 rejected",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let names: Vec<String> = env
        .leads()
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"Ada".to_string()) && names.contains(&"Grace".to_string()));
}

// ------------------------------------------------------- nudge serve

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `nudge serve` as a child process, killed on drop.
struct Serve(Child);

impl Serve {
    fn start(env: &Env) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nudge"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NUDGE_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg("serve")
            .current_dir(env.path())
            .env("NUDGE_DATA_DIR", env.data_dir())
            .env("NUDGE_CONFIG", env.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nudge serve");
        Serve(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Polls `/healthz` until the server answers (bounded).
async fn wait_for(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nudge serve did not answer on {base} within 60 s");
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    body: serde_json::Value,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let mut request = client
        .post(format!("{base}/api/leads"))
        .bearer_auth(TOKEN)
        .json(&body);
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let response = request.send().await.expect("intake answers");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, retry_after, body)
}

fn lead(n: usize) -> serde_json::Value {
    serde_json::json!({"name": format!("Lead {n}"), "email": format!("lead{n}@example.com")})
}

#[test]
fn nudge_serve_refuses_crlf_names_and_answers_a_flood_with_429() {
    let env = Env::new();
    let port = free_port();
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[server]\nlisten = \"127.0.0.1:{port}\"\nintake_token = \"{TOKEN}\"\nintake_per_minute = 1\nintake_burst = 4\n"
    ));
    let _serve = Serve::start(&env);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let rt = runtime();
    rt.block_on(wait_for(&client, &base));

    // Finding 1: the CR/LF name and company of the report.
    let (status, _, body) = rt.block_on(post(
        &client,
        &base,
        serde_json::json!({
            "name": "Evil\r\nBcc: victim@other.test\r\nX-Injected: 1",
            "email": "evil@lead.test",
            "company": "Acme\r\nSubject: hi"
        }),
        None,
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let errors = &body["errors"];
    assert!(
        errors["name"]
            .as_str()
            .is_some_and(|e| e.contains("control character (\\u{d})")),
        "{body}"
    );
    assert!(errors["company"].is_string(), "{body}");
    env.assert_no_leads();

    // Finding 5: burst 4, one used above; three leads, then 429.
    for n in 0..3 {
        let (status, _, body) = rt.block_on(post(&client, &base, lead(n), None));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry_after, body) = rt.block_on(post(&client, &base, lead(3), None));
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let secs: u64 = retry_after
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // A forwarded header from a peer that is not a trusted proxy changes nothing.
    let (status, _, _) = rt.block_on(post(&client, &base, lead(4), Some("198.51.100.7")));
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(env.leads().len(), 3, "nothing stored over the limit");
}

/// The in-process server on 127.0.0.1 with the given limits.
fn limited_server(
    limits: IntakeLimits,
) -> (
    tempfile::TempDir,
    Arc<nudge::engine::Engine>,
    String,
    tokio::runtime::Runtime,
    tokio::sync::watch::Sender<bool>,
) {
    let (dir, _clock, engine) = engine_on_manual_clock(
        "name = \"test\"\n[[steps]]\nid = \"hello\"\ndelay = \"0m\"\nchannel = \"email\"\nsubject = \"Hi\"\nbody = \"Hi. Reply stop to opt out.\"\n",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let state = Arc::new(Inbound {
        engine: engine.clone(),
        intake_token: Secret::from(TOKEN),
        link_secret: Secret::from("link-secret"),
        twilio_auth_token: Secret::default(),
        cal_secret: Secret::default(),
        calendly_signing_key: Secret::default(),
        public_url: "https://nudge.example.com".into(),
        sources: Default::default(),
        prefetch_window: chrono::Duration::seconds(10),
        limits,
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    rt.spawn(launch(listener, state, stopped));
    (dir, engine, base, rt, stop)
}

#[test]
fn a_trusted_proxy_names_the_client_and_the_new_lead_ceiling_is_shared() {
    let limits = IntakeLimits::new(1, 1, 3, vec!["127.0.0.1/32".parse().expect("net")]);
    let (_dir, engine, base, rt, _stop) = limited_server(limits);
    let client = reqwest::Client::new();
    // Each forwarded client has its own bucket of one.
    let (a, _, _) = rt.block_on(post(&client, &base, lead(0), Some("198.51.100.1")));
    let (a2, _, _) = rt.block_on(post(&client, &base, lead(1), Some("198.51.100.1")));
    let (b, _, _) = rt.block_on(post(&client, &base, lead(2), Some("198.51.100.2")));
    assert_eq!(
        (a, a2, b),
        (
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::CREATED
        )
    );
    // The server-wide ceiling of three new leads holds whoever asks.
    let (c, _, _) = rt.block_on(post(&client, &base, lead(3), Some("198.51.100.3")));
    let (d, retry, body) = rt.block_on(post(&client, &base, lead(4), Some("198.51.100.4")));
    assert_eq!(c, StatusCode::CREATED);
    assert_eq!(d, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some());
    assert_eq!(engine.store().lead_count(), 3);
}
