//! Helpers shared by the integration tests: one temporary directory per test
//! holding the config dir and the data dir, and a `nudge` command bound to it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use serde_json::Value;
use tempfile::TempDir;

/// A config with a complete `[sender]`, so the built-in sequence lints clean.
pub const SENDER_CONFIG: &str = r#"[sender]
name = "Sam Seller"
company = "Acme Tools"
booking_url = "https://cal.example.com/sam"
"#;

/// A sequence whose first step is a call, to exercise `mark called`.
pub const CALL_FIRST: &str = r#"name = "calls"
description = "a call first, then an email"

[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "08:00"
end = "21:00"

[[steps]]
id = "first-call"
delay = "0m"
channel = "call"
body = "Call {{ first_name }} at {{ company or \"their company\" }}."

[[steps]]
id = "follow-up"
delay = "1d"
channel = "email"
subject = "Good talking, {{ first_name }}"
body = "Thanks for the call. Reply stop and I will not write again."
"#;

/// A sequence whose first touch goes out at once, any day, any hour, and
/// uses every sender variable (name, company, booking link).
pub const NOW: &str = r#"name = "now"
email_footer = "{{ sender_company }} · reply stop and I will not write again."
[window]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"

[[steps]]
id = "intro"
delay = "0m"
channel = "email"
subject = "A guide for {{ first_name }}"
body = "Hi {{ first_name }}, book a time: {{ booking_url }}\n-- {{ sender_name }}"
"#;

/// One isolated nudge installation: `config/config.toml`, `config/sequences/`
/// and `data/` inside a fresh temporary directory, which is also the working
/// directory (so the repository's `./sequences` is never picked up).
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    /// An environment with a config file that sets the sender.
    pub fn new() -> Env {
        let env = Env::bare();
        env.write_config(SENDER_CONFIG);
        env
    }

    /// An environment without any config file (for `init`).
    pub fn bare() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The temporary directory (and working directory of every command).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Directory holding `config.toml`, `sequences/` and `themes/`.
    pub fn config_dir(&self) -> PathBuf {
        self.path().join("config")
    }

    /// The file `NUDGE_CONFIG` points at.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    /// The directory `NUDGE_DATA_DIR` points at.
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Writes the config file.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("config dir");
        std::fs::write(self.config_file(), text).expect("config file");
    }

    /// Writes `config/sequences/<file_name>` and returns its path.
    pub fn write_sequence(&self, file_name: &str, text: &str) -> PathBuf {
        let dir = self.config_dir().join("sequences");
        std::fs::create_dir_all(&dir).expect("sequences dir");
        let path = dir.join(file_name);
        std::fs::write(&path, text).expect("sequence file");
        path
    }

    /// Writes a file relative to the temporary directory and returns its path.
    pub fn write_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, contents).expect("file");
        path
    }

    /// `nudge` with this environment's directories and no inherited `NUDGE_*`
    /// variables.
    pub fn cmd(&self) -> Command {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("nudge");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NUDGE_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.path())
            .env("NUDGE_DATA_DIR", self.data_dir())
            .env("NUDGE_CONFIG", self.config_file());
        cmd
    }

    /// Runs `nudge ARGS`.
    pub fn run(&self, args: &[&str]) -> Assert {
        self.cmd().args(args).assert()
    }

    /// Runs `nudge ARGS`, expects success, returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        stdout(&self.run(args).success())
    }

    /// Runs `nudge ARGS`, expects exit code 1, returns standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let assert = self.run(args).code(1);
        let err = stderr(&assert);
        assert!(
            err.starts_with("error: "),
            "errors start with `error: `: {err}"
        );
        err
    }

    /// `nudge add ARGS`; returns the printed id.
    pub fn add(&self, args: &[&str]) -> String {
        let out = self.ok(&[&["add"], args].concat());
        let id = out.trim().to_string();
        assert_eq!(id.len(), 26, "add prints a 26-character id, got {out:?}");
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric()),
            "id is Crockford base32: {id}"
        );
        id
    }

    /// Every lead, via `leads --json`.
    pub fn leads(&self) -> Vec<Value> {
        json_lines(&self.ok(&["leads", "--json", "--limit", "10000"]))
    }

    /// One lead from `leads --json`, by exact id.
    pub fn lead(&self, id: &str) -> Value {
        self.leads()
            .into_iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("lead {id} is not listed"))
    }

    /// `show ID --json`.
    pub fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", id, "--json"])).expect("show --json is JSON")
    }

    /// Asserts no lead exists (nothing half-written).
    pub fn assert_no_leads(&self) {
        let leads = self.leads();
        assert!(leads.is_empty(), "expected no leads, found {leads:?}");
    }
}

/// Standard output of a finished command.
pub fn stdout(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// Standard error of a finished command.
pub fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// Parses one JSON value per non-empty line.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `type` of every event in a `show --json` or export object.
pub fn event_types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("events is an array")
        .iter()
        .map(|e| e["type"].as_str().expect("event type").to_string())
        .collect()
}

/// The shortest prefix of `id` that no id in `others` shares.
pub fn unique_prefix(id: &str, others: &[&str]) -> String {
    let common = others
        .iter()
        .map(|o| {
            id.chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    id[..common + 1].to_string()
}

/// 1-based line of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in text"))
        + 1
}
