//! Running nudge on a server: `--version`, the systemd unit (checked by the
//! real `systemd-analyze verify`), sd_notify readiness and stopping over a
//! fake `NOTIFY_SOCKET`, logs without ANSI codes, `nudge logs`, shell
//! completions and the man page.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, SENDER_CONFIG, stdout};

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let out = Env::bare().ok(&["--version"]);
    let version = out.trim();
    assert!(
        version.starts_with(&format!("nudge {} (", env!("CARGO_PKG_VERSION")))
            && version.ends_with(')'),
        "{version}"
    );
    let commit = &version[version.find('(').unwrap() + 1..version.len() - 1];
    assert!(
        commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()) && commit.len() >= 7,
        "a short commit hash: {commit}"
    );
}

#[test]
fn bash_completions_parse_and_the_man_page_is_roff() {
    let env = Env::bare();
    let bash = env.write_file("nudge.bash", env.ok(&["completions", "bash"]));
    let check = Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let text = std::fs::read_to_string(&bash).unwrap();
    assert!(
        text.contains("serve") && text.contains("--data-dir"),
        "knows the commands"
    );
    for shell in ["zsh", "fish"] {
        assert!(env.ok(&["completions", shell]).contains("serve"), "{shell}");
    }
    let man = env.ok(&["man"]);
    // clap_mangen defines the apostrophe string first; the first macro after it is .TH.
    let first = man
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or_default();
    assert!(first.starts_with(".TH nudge 1"), "{man}");
    assert!(man.contains("completions") && man.contains("serve"));
}

/// `nudge init --service` into `units/`, from a config made by `nudge init`.
fn init_service(env: &Env, extra: &[&str]) -> String {
    env.ok(&["init"]);
    let units = env.path().join("units");
    let mut args = vec!["init", "--service", "--unit-dir", units.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.ok(&args)
}

#[test]
fn the_service_unit_passes_systemd_analyze_verify() {
    let env = Env::bare();
    let out = init_service(&env, &[]);
    assert!(out.contains("systemctl daemon-reload"), "{out}");
    assert!(
        out.contains("systemctl enable --now nudge.service"),
        "{out}"
    );
    let unit = env.path().join("units/nudge.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let binary = exec.split(' ').next().unwrap();
    assert!(std::path::Path::new(binary).is_absolute() && std::path::Path::new(binary).exists());
    assert!(
        exec.contains(&format!("--data-dir {}", env.data_dir().display())),
        "{exec}"
    );
    assert!(
        exec.contains(&format!("--config {}", env.config_file().display())),
        "{exec}"
    );
    assert!(text.contains(&format!("ReadWritePaths={}", env.data_dir().display())));
    assert!(text.contains("Type=notify") && text.contains("Restart=on-failure"));

    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (Debian package systemd; .ci/run installs it)");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "systemd-analyze verify failed:\n{said}\n{text}"
    );
    // Warnings about our unit would name it; those about the host's own units are not ours.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("nudge.service"))
        .collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze warns about the unit:\n{said}"
    );
}

#[test]
fn a_user_unit_passes_verify_too() {
    let env = Env::bare();
    init_service(&env, &["--user"]);
    let unit = env.path().join("units/nudge.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("WantedBy=default.target") && !text.contains("\nUser="));
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}\n{text}");
    assert!(!said.lines().any(|l| l.contains("nudge.service")), "{said}");
}

#[test]
fn the_secrets_file_is_private_commented_and_never_overwritten() {
    let env = Env::bare();
    init_service(&env, &[]);
    let secrets = env.config_dir().join("secrets.env");
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "secrets.env mode {mode:o}");
    let text = std::fs::read_to_string(&secrets).unwrap();
    assert!(text.contains("# NUDGE_EMAIL_SMTP_URL="), "{text}");
    assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')));
    let unit = std::fs::read_to_string(env.path().join("units/nudge.service")).unwrap();
    assert!(unit.contains(&format!("EnvironmentFile={}", secrets.display())));

    // Real secrets written by the user survive a second run; the unit needs --force.
    std::fs::write(&secrets, "NUDGE_SMS_AUTH_TOKEN=real\n").unwrap();
    let units = env.path().join("units");
    let again = env.run(&["init", "--service", "--unit-dir", units.to_str().unwrap()]);
    let err = crate::common::stderr(&again.code(1));
    assert!(err.contains("--force"), "{err}");
    let out = env.ok(&[
        "init",
        "--service",
        "--force",
        "--unit-dir",
        units.to_str().unwrap(),
    ]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&secrets).unwrap(),
        "NUDGE_SMS_AUTH_TOKEN=real\n"
    );
}

/// Waits (bounded) for a datagram on the fake notify socket.
pub(crate) fn next_notification(
    socket: &UnixDatagram,
    serve: &mut Child,
    deadline: Instant,
) -> String {
    let mut buf = [0u8; 4096];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("notify socket: {e}"),
        }
        if let Some(status) = serve.try_wait().unwrap() {
            panic!("nudge serve exited before notifying: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "no notification within the time limit"
        );
    }
}

#[test]
fn serve_notifies_ready_and_stopping_and_its_stderr_file_has_no_escape_codes() {
    let env = Env::new();
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[server]\nlisten = \"127.0.0.1:0\"\n"
    ));
    env.ok(&[
        "add",
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
    ]);
    let notify = env.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let stderr_path = env.path().join("serve.stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nudge"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("NUDGE_") || key == "NO_COLOR" || key == "JOURNAL_STREAM" {
            cmd.env_remove(key);
        }
    }
    let mut serve = cmd
        .arg("serve")
        .current_dir(env.path())
        .env("NUDGE_DATA_DIR", env.data_dir())
        .env("NUDGE_CONFIG", env.config_file())
        .env("NOTIFY_SOCKET", &notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .expect("start nudge serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = next_notification(&socket, &mut serve, deadline);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // Ready means the socket answers: another command goes through it.
    assert!(env.ok(&["leads"]).contains("Ada Lovelace"));

    let pid = serve.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = next_notification(&socket, &mut serve, deadline);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    loop {
        if let Some(status) = serve.try_wait().unwrap() {
            assert!(status.success(), "clean exit: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    let stderr = std::fs::read(&stderr_path).unwrap();
    let text = String::from_utf8_lossy(&stderr);
    assert!(text.contains("stopped cleanly"), "{text}");
    assert!(
        !stderr.contains(&0x1b),
        "ESC in `nudge serve 2> file`:\n{text:?}"
    );
    let log = std::fs::read(env.data_dir().join("nudge.log")).unwrap();
    assert!(!log.contains(&0x1b) && String::from_utf8_lossy(&log).contains("stopped cleanly"));

    // `nudge logs -n 1` prints the last line of that log.
    let last = stdout(&env.run(&["logs", "-n", "1"]).success());
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(last.contains("stopped cleanly"), "{last}");
}

#[test]
fn logs_without_a_log_says_who_writes_it() {
    let env = Env::new();
    let err = env.fails(&["logs"]);
    assert!(err.contains("nudge serve"), "{err}");
}
