//! `nudge backup`, `restore` and `check`, and opening a data dir with a
//! half-written sled snapshot, through the real binary.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{Env, SENDER_CONFIG, stderr, stdout};
use crate::serve::Serve;

/// An environment with a few leads: one marked replied, one erased.
fn populated() -> (Env, String) {
    let env = Env::new();
    env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    let bob = env.add(&[
        "--name",
        "Bob",
        "--email",
        "bob@example.com",
        "--phone",
        "+14155552671",
    ]);
    env.ok(&["mark", &bob, "replied", "--note", "call me"]);
    let gone = env.add(&["--name", "Gone", "--email", "gone@example.com"]);
    env.ok(&["erase", &gone]);
    env.add(&["--name", "Cy", "--email", "cy@example.com"]);
    (env, gone)
}

fn in_dir(env: &Env, dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    env.cmd().args(args).arg("--data-dir").arg(dir).assert()
}

#[test]
fn backup_then_restore_gives_the_same_export_and_keeps_suppressions() {
    let (env, _) = populated();
    let before = env.ok(&["export", "--format", "jsonl"]);
    let out = env.ok(&["backup", "nightly.nbk"]);
    assert!(out.starts_with("backed up "), "{out}");
    let file = env.path().join("nightly.nbk");
    // A second backup replaces the first atomically: no temporary file stays.
    env.ok(&["backup", "nightly.nbk"]);
    let leftovers: Vec<_> = std::fs::read_dir(env.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".nudge-backup"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let restored = env.path().join("restored");
    let out = stdout(&in_dir(&env, &restored, &["restore", file.to_str().unwrap()]).success());
    assert!(out.starts_with("restored 3 leads"), "{out}");
    let after = stdout(&in_dir(&env, &restored, &["export", "--format", "jsonl"]).success());
    assert_eq!(before, after);
    // The erased contact is still suppressed in the restored database.
    let err = stderr(
        &in_dir(
            &env,
            &restored,
            &["add", "--name", "G", "--email", "gone@example.com"],
        )
        .code(1),
    );
    assert!(err.contains("suppression list (erased)"), "{err}");
    let out = stdout(&in_dir(&env, &restored, &["check"]).success());
    assert!(out.contains("every index matches"), "{out}");

    // Restoring over a database that holds data is refused.
    let err = stderr(&in_dir(&env, &restored, &["restore", file.to_str().unwrap()]).code(1));
    assert!(err.contains("is not empty"), "{err}");
}

/// Writes a gzip-compressed backup whose header is `header`.
fn backup_with_header(env: &Env, name: &str, header: &str) -> std::path::PathBuf {
    let path = env.path().join(name);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    writeln!(gz, "{header}").unwrap();
    writeln!(gz, "{{\"end\":{{\"entries\":0}}}}").unwrap();
    gz.finish().unwrap();
    path
}

#[test]
fn restore_refuses_newer_schemas_unknown_formats_and_truncated_files() {
    let env = Env::new();
    let target = env.path().join("target-dir");
    let newer = backup_with_header(
        &env,
        "newer.nbk",
        r#"{"format":"nudge-backup","format_version":1,"schema":99,"nudge":"9.0.0","created":"2026-01-01T00:00:00Z"}"#,
    );
    let err = stderr(&in_dir(&env, &target, &["restore", newer.to_str().unwrap()]).code(1));
    assert!(err.contains("schema 99, newer than this nudge"), "{err}");
    let unknown = backup_with_header(
        &env,
        "format2.nbk",
        r#"{"format":"nudge-backup","format_version":2,"schema":3,"nudge":"9.0.0","created":"2026-01-01T00:00:00Z"}"#,
    );
    let err = stderr(&in_dir(&env, &target, &["restore", unknown.to_str().unwrap()]).code(1));
    assert!(err.contains("backup format version 2 is unknown"), "{err}");

    // A backup cut short (no end line) restores nothing.
    let (env2, _) = populated();
    env2.ok(&["backup", "full.nbk"]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(env2.path().join("full.nbk")).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    let cut: Vec<&str> = text.lines().collect();
    let cut = cut[..cut.len() - 1].join("\n");
    let truncated = env.path().join("cut.nbk");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&truncated).unwrap(),
        flate2::Compression::fast(),
    );
    writeln!(gz, "{cut}").unwrap();
    gz.finish().unwrap();
    let err = stderr(&in_dir(&env, &target, &["restore", truncated.to_str().unwrap()]).code(1));
    assert!(err.contains("truncated"), "{err}");
    assert!(
        !target.exists(),
        "a failed restore leaves no data dir behind"
    );
}

#[test]
fn check_finds_a_corrupted_index_and_repair_fixes_it() {
    let (env, _) = populated();
    let leads = env.leads();
    let ada = leads
        .iter()
        .find(|l| l["name"] == "Ada")
        .and_then(|l| l["id"].as_str())
        .unwrap()
        .to_string();
    let ada_id: nudge::domain::lead::LeadId = ada.parse().unwrap();
    {
        // Corrupt the indexes behind nudge's back, through sled itself.
        let db = sled::Config::new().path(env.data_dir()).open().unwrap();
        let status = db.open_tree("idx_status").unwrap();
        let key: Vec<u8> = status
            .iter()
            .keys()
            .map(|k| k.unwrap().to_vec())
            .find(|k| k.ends_with(&ada_id.to_bytes()))
            .unwrap();
        status.remove(&key).unwrap();
        db.open_tree("idx_email")
            .unwrap()
            .insert("ghost@example.com", &ada_id.to_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let out = stdout(&env.run(&["check"]).code(3));
    assert!(
        out.contains(&format!(
            "lead {ada} is active but is missing from idx_status"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "idx_email says lead {ada} has email ghost@example.com, but its record does not"
        )),
        "{out}"
    );
    assert!(out.contains("2 problems"), "{out}");
    let out = env.ok(&["check", "--repair"]);
    assert!(out.contains("repaired: 2 index entries rewritten"), "{out}");
    let out = env.ok(&["check"]);
    assert!(out.contains("every index matches the records"), "{out}");
    let active = env.ok(&["leads", "--status", "active", "--json"]);
    assert!(active.contains(&ada), "{active}");
}

#[test]
fn a_half_written_snapshot_is_moved_aside_and_every_lead_is_there() {
    let (env, _) = populated();
    // What a full disk mid-snapshot leaves behind: sled reads the
    // highest-numbered `snap.*` file and fails on garbage.
    let junk = env.data_dir().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&junk, b"half a snapshot, cut off by ENOSPC").unwrap();
    {
        let plain = sled::Config::new().path(env.data_dir()).open();
        assert!(plain.is_err(), "sled alone refuses this directory");
    }
    assert_eq!(env.leads().len(), 3);
    assert!(!junk.exists());
    let aside = std::fs::read_dir(env.data_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("aside-"));
    assert!(aside, "the snapshot is kept aside, not deleted");
    env.ok(&["check"]);
}

/// Waits (bounded) for `nudge serve` to listen on its socket.
fn wait_for_socket(env: &Env) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.data_dir().join("nudge.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "serve did not open its socket in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // One round trip through the socket: serve is fully started.
    env.ok(&["status"]);
}

#[test]
fn backup_and_check_run_through_a_running_serve() {
    let (env, _) = populated();
    env.write_config(&format!("{SENDER_CONFIG}\n[server]\nlisten = \"\"\n"));
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    // The shipped sequence's intro goes out at once: let the worker send the
    // due intros (dry run) so the export below is what the backup holds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let export = env.ok(&["export", "--format", "jsonl"]);
        if !export.contains("\"stage\":\"new\"") {
            break export;
        }
        assert!(
            Instant::now() < deadline,
            "the intros were not sent in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = env.ok(&["backup", "online.nbk"]);
    assert!(out.contains("writers waited"), "{out}");
    let out = env.ok(&["check"]);
    assert!(out.contains("checked 3 leads"), "{out}");
    serve.stop();
    let restored = env.path().join("restored");
    let file = env.path().join("online.nbk");
    in_dir(&env, &restored, &["restore", file.to_str().unwrap()]).success();
    let after = stdout(&in_dir(&env, &restored, &["export", "--format", "jsonl"]).success());
    assert_eq!(before, after);
}

#[test]
fn adding_is_refused_below_the_free_space_floor() {
    let env = Env::new();
    // A floor no real disk meets.
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[store]\nmin_free_mb = 1000000000\n"
    ));
    let err = env.fails(&["add", "--name", "Ada", "--email", "ada@example.com"]);
    assert!(err.contains("below the floor of 1000000000 MiB"), "{err}");
}

#[test]
fn serve_checks_the_indexes_after_an_unclean_stop_only() {
    let (env, _) = populated();
    env.write_config(&format!("{SENDER_CONFIG}\n[server]\nlisten = \"\"\n"));
    let log = || std::fs::read_to_string(env.path().join("serve.stderr")).unwrap_or_default();
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    serve.stop();
    assert!(!log().contains("not closed cleanly"), "{}", log());
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    serve.kill9();
    // The killed serve left its socket behind; wait for the new one.
    std::fs::remove_file(env.data_dir().join("nudge.sock")).unwrap();
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    serve.stop();
    let text = log();
    assert!(text.contains("not closed cleanly"), "{text}");
    assert!(
        text.contains("start-up check: every index matches the records"),
        "{text}"
    );
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_nearly_full_small_filesystem_refuses_new_leads_and_recovers_when_freed() {
    let env = Env::new();
    env.write_config(&format!("{SENDER_CONFIG}\n[store]\nmin_free_mb = 8\n"));
    let data = env.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
        .arg(&data)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped: cannot mount a tmpfs here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: no mount command ({e})");
            return;
        }
    }
    let _unmount = Mounted(data.clone());
    let first = env.add(&["--name", "Ada", "--email", "ada@example.com"]);
    // Another program fills the disk to 1 MiB under the floor.
    let free = fs2::available_space(&data).unwrap();
    let filler = data.join("filler.bin");
    let size = free - 7 * 1024 * 1024;
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0;
        while written < size {
            let n = chunk.len().min(usize::try_from(size - written).unwrap());
            f.write_all(&chunk[..n]).unwrap();
            written += n as u64;
        }
        f.sync_all().unwrap();
    }
    let err = env.fails(&["add", "--name", "Bob", "--email", "bob@example.com"]);
    assert!(err.contains("below the floor of 8 MiB"), "{err}");
    // Everything acknowledged is readable, and the store is consistent.
    assert_eq!(env.leads().len(), 1);
    env.ok(&["check"]);
    // Space freed: writes go through again.
    std::fs::remove_file(&filler).unwrap();
    let second = env.add(&["--name", "Bob", "--email", "bob@example.com"]);
    let ids: Vec<String> = env
        .leads()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&first) && ids.contains(&second), "{ids:?}");
    env.ok(&["check"]);
}

#[test]
fn intake_answers_503_with_retry_after_below_the_floor() {
    use std::io::Read;
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[store]\nmin_free_mb = 1000000000\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nintake_token = \"tok\"\npublic_url = \"https://nudge.example.com\"\nlink_secret = \"s\"\n"
    ));
    let serve = Serve::start(&env);
    wait_for_socket(&env);
    let body = r#"{"name":"Ada","email":"ada@example.com"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "intake did not listen: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    write!(
        stream,
        "POST /api/leads HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    serve.stop();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("retry-after: 300"),
        "{reply}"
    );
    env.assert_no_leads();
}
