//! `nudge serve` against a real SMTP server (Postfix's smtp-sink): delivery,
//! crash safety under `kill -9`, and SMTP faults. Outcomes are proven by
//! counting Message-IDs at the server and reading the store afterwards.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nudge::domain::touch::TouchState;
use nudge::store::Store;

use crate::common::Env;
use crate::smtp_sink::SmtpSink;

/// One email step, any day, any hour: everything imported is due at once.
const BURST: &str = r#"name = "burst"
email_footer = "Reply stop and I will not write again."
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"

[[steps]]
id = "only"
delay = "0m"
channel = "email"
subject = "A guide for {{ first_name }}"
body = "Hi {{ first_name }}, here is the guide you asked for."
"#;

fn config(smtp_url: &str, concurrency: u32) -> String {
    format!(
        r#"[email]
smtp_url = "{smtp_url}"
from = "Sam Seller <sam@example.com>"
postal_address = "Acme Tools, 1 Main St, Springfield"

[engine]
concurrency = {concurrency}
retry_base_secs = 1
max_attempts = 20

[server]
listen = ""
public_url = "https://nudge.example.com"
link_secret = "test-secret"
"#
    )
}

/// An environment whose sequence `burst` sends to `smtp_url`, with `leads` imported.
fn burst_env(smtp_url: &str, concurrency: u32, leads: usize) -> Env {
    let env = Env::new();
    env.write_config(&config(smtp_url, concurrency));
    env.write_sequence("burst.toml", BURST);
    let mut csv = String::from("name,email\n");
    for i in 0..leads {
        csv.push_str(&format!("Lead {i},lead{i}@example.com\n"));
    }
    let file = env.write_file("leads.csv", csv);
    env.ok(&["import", file.to_str().unwrap(), "--sequence", "burst"]);
    env
}

/// `nudge serve` as a child process we can signal.
pub(crate) struct Serve(Child);

impl Serve {
    pub(crate) fn start(env: &Env) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nudge"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NUDGE_") {
                cmd.env_remove(key);
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.path().join("serve.stderr"))
            .expect("serve log");
        let child = cmd
            .arg("serve")
            .current_dir(env.path())
            .env("NUDGE_DATA_DIR", env.data_dir())
            .env("NUDGE_CONFIG", env.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nudge serve");
        Serve(child)
    }

    pub(crate) fn kill9(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn stop(mut self) {
        let pid = self.0.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "serve did not stop within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Message-ID → how many times the server received it.
pub(crate) fn received(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in sink.messages() {
        let id = message
            .header("Message-ID")
            .expect("every message carries a Message-ID");
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Waits until the server has `at_least` messages and nothing new arrived for
/// a while (bounded; the bound is generous for a noisy machine).
pub(crate) fn wait_until_quiet(sink: &SmtpSink, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = usize::MAX;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        let n = sink.messages().len();
        if n != last {
            last = n;
            quiet_since = Instant::now();
        } else if n >= at_least && quiet_since.elapsed() > Duration::from_secs(3) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("only {last} messages arrived (wanted at least {at_least})");
}

/// Every touch of every lead: (state, Message-ID).
fn touches(data_dir: &Path) -> Vec<(TouchState, String)> {
    let store = Store::open(data_dir, 1 << 20).expect("open the store after serve stopped");
    let mut out = Vec::new();
    for lead in store.iter_leads() {
        let lead = lead.expect("lead");
        for touch in store.touches(lead.id).expect("touches") {
            out.push((
                touch.state,
                touch
                    .message_id
                    .clone()
                    .expect("email touches have a Message-ID"),
            ));
        }
    }
    out
}

/// A small deterministic generator, so kill points vary but runs repeat.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Kills serve `kills` times while it is sending, restarts it each time,
/// then lets it finish; returns the sink and the env for inspection.
fn crash_run(leads: usize, concurrency: u32, kills: usize, seed: u64) -> (SmtpSink, Env) {
    let sink = SmtpSink::start();
    let env = burst_env(&sink.url(), concurrency, leads);
    let mut rng = Lcg(seed);
    for _ in 0..kills {
        let before = sink.messages().len();
        let serve = Serve::start(&env);
        // Kill while sending: after a random number of further deliveries.
        let target = before + 1 + rng.below(40) as usize;
        let deadline = Instant::now() + Duration::from_secs(60);
        while sink.messages().len() < target.min(leads) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.below(30)));
        serve.kill9();
    }
    let serve = Serve::start(&env);
    wait_until_quiet(&sink, leads.saturating_sub(kills * concurrency as usize));
    serve.stop();
    (sink, env)
}

fn assert_exactly_once_or_in_doubt(sink: &SmtpSink, env: &Env, leads: usize, max_in_doubt: usize) {
    let received = received(sink);
    let duplicates: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "delivered more than once: {duplicates:?}"
    );
    let touches = touches(&env.data_dir());
    assert_eq!(touches.len(), leads, "every lead has its touch: none lost");
    let mut in_doubt = 0;
    for (state, message_id) in &touches {
        match state {
            TouchState::Sent => assert_eq!(
                received.get(message_id),
                Some(&1),
                "{message_id} is recorded as sent, so the server has it exactly once"
            ),
            TouchState::InDoubt => in_doubt += 1,
            other => panic!("{message_id} ended {other:?}; expected sent or in-doubt"),
        }
    }
    assert!(
        in_doubt <= max_in_doubt,
        "{in_doubt} in doubt, at most {max_in_doubt} allowed"
    );
    assert!(
        received.len() <= leads,
        "nothing delivered that nudge does not know about"
    );
}

#[test]
fn kill_9_while_sending_never_duplicates_or_loses_a_touch() {
    const LEADS: usize = 500;
    const KILLS: usize = 5;
    let (sink, env) = crash_run(LEADS, 1, KILLS, 7);
    // One send in flight at a time: each kill can leave at most one in doubt.
    assert_exactly_once_or_in_doubt(&sink, &env, LEADS, KILLS);
}

#[test]
fn kill_9_with_concurrent_sends_leaves_at_most_the_in_flight_ones_in_doubt() {
    const LEADS: usize = 200;
    const KILLS: usize = 3;
    const CONCURRENCY: u32 = 8;
    let (sink, env) = crash_run(LEADS, CONCURRENCY, KILLS, 11);
    assert_exactly_once_or_in_doubt(&sink, &env, LEADS, KILLS * CONCURRENCY as usize);
}

#[test]
fn delivered_email_carries_threading_and_unsubscribe_headers() {
    let sink = SmtpSink::start();
    let env = burst_env(&sink.url(), 1, 2);
    let serve = Serve::start(&env);
    let mail = sink.wait_for_messages(2, Duration::from_secs(60));
    serve.stop();
    let message = mail
        .iter()
        .find(|m| {
            m.header("To")
                .is_some_and(|to| to.contains("lead0@example.com"))
        })
        .expect("lead 0's email");
    assert_eq!(
        message.header("Subject").as_deref(),
        Some("A guide for Lead")
    );
    let id = message.header("Message-ID").unwrap();
    assert!(id.starts_with('<') && id.ends_with("@example.com>"), "{id}");
    let unsubscribe = message.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.contains("<https://nudge.example.com/u/"),
        "{unsubscribe}"
    );
    assert!(
        unsubscribe.contains("<mailto:sam@example.com?subject=unsubscribe>"),
        "{unsubscribe}"
    );
    assert_eq!(
        message.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let body = message.body();
    assert!(
        body.contains("Hi Lead, here is the guide you asked for."),
        "{body}"
    );
    assert!(
        body.contains("Acme Tools, 1 Main St, Springfield"),
        "{body}"
    );
    assert!(
        body.contains("Unsubscribe: https://nudge.example.com/u/"),
        "{body}"
    );
    // The store agrees: sent, and `show` prints the exact words.
    let show = env.ok(&["show", &lead_id(&env, "lead0@example.com")]);
    assert!(show.contains("sent only (email)"), "{show}");
    assert!(
        show.contains("Hi Lead, here is the guide you asked for."),
        "{show}"
    );
}

fn lead_id(env: &Env, email: &str) -> String {
    let out = env.ok(&["leads", "--json", "--limit", "1000"]);
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["email"] == email)
        .map(|v| v["id"].as_str().unwrap().to_string())
        .expect("lead exists")
}

#[test]
fn drop_after_the_final_dot_is_in_doubt_and_not_resent() {
    let sink = SmtpSink::start_with(&["-q", "."]);
    let env = burst_env(&sink.url(), 1, 1);
    let serve = Serve::start(&env);
    sink.wait_for_messages(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    serve.stop();
    assert_eq!(sink.messages().len(), 1, "sent once, never retried");
    let id = lead_id(&env, "lead0@example.com");
    let in_doubt = env.ok(&["leads", "--in-doubt", "--json"]);
    assert!(in_doubt.contains(&id), "{in_doubt}");
    let show = env.ok(&["show", &id]);
    assert!(show.contains("in-doubt"), "{show}");
    // The human says it did not arrive: it is sent again, same Message-ID.
    env.ok(&["resolve", &id, "resend"]);
    let leads = env.ok(&["leads", "--in-doubt", "--json"]);
    assert!(leads.trim().is_empty(), "{leads}");
}

#[test]
fn a_permanent_rejection_bounces_the_lead() {
    let sink = SmtpSink::start_with(&["-f", "RCPT"]);
    let env = burst_env(&sink.url(), 1, 1);
    let id = lead_id(&env, "lead0@example.com");
    let serve = Serve::start(&env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The store is locked while serve runs; poll the log for the outcome.
        let log = std::fs::read_to_string(env.path().join("serve.stderr")).unwrap_or_default();
        if log.contains("failed:") {
            break;
        }
        assert!(Instant::now() < deadline, "no outcome logged: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve.stop();
    let lead: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    assert_eq!(lead["lead"]["status"], "bounced");
    assert!(sink.messages().is_empty());
}

#[test]
fn a_temporary_rcpt_rejection_is_retried() {
    let sink = SmtpSink::start_with(&["-r", "RCPT"]);
    let env = burst_env(&sink.url(), 1, 1);
    let id = lead_id(&env, "lead0@example.com");
    let serve = Serve::start(&env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(env.path().join("serve.stderr")).unwrap_or_default();
        if log.matches("will retry").count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no retries logged: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve.stop();
    let show: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    assert_eq!(show["lead"]["status"], "active");
    let touch = &show["touches"][0];
    assert_eq!(touch["state"], "pending");
    assert!(touch["attempts"].as_u64().unwrap() >= 2, "{touch}");
}

/// Tests run many servers at once: no fixed HTTP port.
const NO_HTTP: &str = "[server]\nlisten = \"\"\n";

/// Waits for a running `nudge serve` to listen on its socket.
pub(crate) fn wait_for_socket(env: &Env) {
    let socket = env.data_dir().join("nudge.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "serve never listened on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn commands_talk_to_a_running_serve_and_see_the_same_results() {
    let env = Env::new();
    env.write_config(NO_HTTP);
    let local_id = env.ok(&["add", "--name", "Ada Local", "--email", "ada@example.com"]);
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    let socket = env.data_dir().join("nudge.sock");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the owner may talk to the engine");
    // Every command works while serve holds the database.
    let remote_id = env.ok(&["add", "--name", "Bob Remote", "--email", "bob@example.com"]);
    let csv = env.write_file(
        "more.csv",
        "name,email\nCy,cy@example.com\nBad,not-an-email\n",
    );
    let import = env.run(&["import", csv.to_str().unwrap()]).code(3);
    let import = String::from_utf8_lossy(&import.get_output().stdout).into_owned();
    assert!(import.contains("imported 1 of 2 rows"), "{import}");
    assert!(import.contains("row 2 (line 3)"), "{import}");
    let marked = env.ok(&[
        "mark",
        &remote_id.trim()[..20],
        "paused",
        "--note",
        "on holiday",
    ]);
    assert!(marked.contains("→ paused"), "{marked}");
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["show", remote_id.trim(), "--json"])).unwrap();
    assert_eq!(show["lead"]["status"], "paused");
    let remote_list = env.ok(&["leads", "--json"]);
    assert_eq!(remote_list.lines().count(), 3);
    let export = env.ok(&["export", "--format", "jsonl"]);
    assert_eq!(export.lines().count(), 3);
    let status = env.ok(&["status"]);
    assert!(
        status.contains("served by a running `nudge serve`"),
        "{status}"
    );
    env.ok(&["erase", local_id.trim()]);
    let dup = env.fails(&["add", "--name", "Ada Again", "--email", "ada@example.com"]);
    assert!(dup.contains("suppression list"), "{dup}");
    // Errors read the same as locally.
    let unknown = env.fails(&["show", "7ZZZZZZZZZ"]);
    assert!(
        unknown.contains("no lead matches `7ZZZZZZZZZ`"),
        "{unknown}"
    );
    let remote_after = env.ok(&["leads", "--json"]);
    serve.stop();
    assert!(!socket.exists(), "the socket is removed on a clean stop");
    // The same data, read without serve.
    assert_eq!(env.ok(&["leads", "--json"]), remote_after);
}

#[test]
fn a_stale_socket_from_a_crashed_owner_is_ignored_and_replaced() {
    let env = Env::new();
    env.write_config(NO_HTTP);
    env.ok(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    serve.kill9();
    let socket = env.data_dir().join("nudge.sock");
    assert!(socket.exists(), "a killed owner leaves its socket behind");
    // Clients fall back to opening the database themselves.
    let leads = env.ok(&["leads", "--json"]);
    assert_eq!(leads.lines().count(), 1);
    // A new owner replaces the stale socket.
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    let status = env.ok(&["status"]);
    assert!(
        status.contains("served by a running `nudge serve`"),
        "{status}"
    );
    serve.stop();
}

#[test]
fn notes_edits_search_and_stats_work_over_the_socket() {
    let env = Env::new();
    env.write_config(NO_HTTP);
    let ada = env.add(&[
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--source",
        "web",
    ]);
    let bob = env.add(&["--name", "Bob Byte", "--email", "bob@example.com"]);
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    let noted = env.ok(&["note", &ada[..20], "met", "at", "the", "fair"]);
    assert!(noted.contains("note added"), "{noted}");
    let edited = env.ok(&["edit", &ada, "--company", "Analytical Engines"]);
    assert!(edited.contains("Analytical Engines"), "{edited}");
    let dup = env.fails(&["edit", &bob, "--email", "ada@example.com"]);
    assert!(dup.contains("already exists"), "{dup}");
    let mut handle = nudge::handle::EngineHandle::Remote(
        nudge::handle::RemoteEngine::connect(&env.data_dir()).expect("connected"),
    );
    let found = handle.search("analytical", 200).expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Ada Lovelace");
    let filter = nudge::store::BoardFilter {
        source: Some("web"),
        ..Default::default()
    };
    let stats = handle.stats(&filter).expect("stats");
    assert_eq!(stats.funnel.captured, 1);
    let counts = handle.stage_counts(&filter).expect("counts");
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<usize>(), 1);
    assert_eq!(handle.sources(10).expect("sources"), vec!["cli", "web"]);
    drop(handle);
    serve.stop();
    let show = env.ok(&["show", &ada]);
    assert!(show.contains("note: met at the fair"), "{show}");
    assert!(show.contains("company: ``"), "{show}");
}
