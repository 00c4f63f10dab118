//! A real IMAP server for tests: a throwaway Dovecot on a free loopback port
//! with plaintext login (or, with [`Dovecot::start_tls`], STARTTLS required
//! before any login), its own temp dirs, stopped when dropped.
//!
//! `support/tls/` holds a test-only CA (`ca.pem`) and a server certificate
//! for `localhost` and `127.0.0.1` signed by it, valid for a century; the
//! key is not a secret.
//!
//! If `dovecot` is not installed the test fails loudly: CI installs it, and
//! a silently skipped IMAP test would prove nothing.
//!
//! ```ignore
//! let imap = Dovecot::start();
//! imap.deliver(b"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n");
//! // connect to imap.url() as imap.user / imap.password
//! ```

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where Dovecot's binaries live when `/usr/sbin` is not on `PATH`.
const FALLBACK_DIRS: &[&str] = &["/usr/sbin", "/usr/bin"];

/// How long Dovecot may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Dovecot; stopped when dropped, so a failing test cannot leak it.
pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    /// Login name.
    pub user: String,
    /// Login password.
    pub password: String,
}

fn binary(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path
        .or_else(|| {
            FALLBACK_DIRS
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: install Dovecot (apt-get install dovecot-imapd dovecot-core); \
                 `bash .ci/run` does this"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Dovecot {
    /// Starts Dovecot with one user, `sales@example.test` / `secret`.
    pub fn start() -> Dovecot {
        Dovecot::start_with(false)
    }

    /// Like [`Dovecot::start`], but the server offers STARTTLS with the
    /// test certificate and refuses logins before it (`ssl = required`).
    pub fn start_tls() -> Dovecot {
        Dovecot::start_with(true)
    }

    /// The test CA that signed the STARTTLS server's certificate.
    pub fn ca_file() -> PathBuf {
        tls_dir().join("ca.pem")
    }

    fn start_with(tls: bool) -> Dovecot {
        let mut last = String::new();
        for _ in 0..5 {
            match Dovecot::try_start(free_port(), tls) {
                Ok(d) => return d,
                Err(e) => last = e,
            }
        }
        panic!("dovecot did not start: {last}");
    }

    fn try_start(port: u16, tls: bool) -> Result<Dovecot, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let t = dir.path().join("dovecot");
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(t.join(sub)).map_err(|e| e.to_string())?;
        }
        let root = is_root();
        let (uid, gid) = if root {
            ("nobody".to_string(), "nogroup".to_string())
        } else {
            (id("-u"), id("-g"))
        };
        if root {
            let ok = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(t.join("mail"))
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err("chown of the mail dir failed".into());
            }
        }
        let user = "sales@example.test".to_string();
        let password = "secret".to_string();
        std::fs::write(t.join("users"), format!("{user}:{{PLAIN}}{password}\n"))
            .map_err(|e| e.to_string())?;
        // Without root, Dovecot must run its helpers as the current user.
        let unprivileged = if root {
            String::new()
        } else {
            let name = id("-un");
            format!("default_internal_user = {name}\ndefault_login_user = {name}\n")
        };
        let ssl = if tls {
            let certs = tls_dir();
            format!(
                "ssl = required\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes\n",
                certs.join("server.pem").display(),
                certs.join("server.key").display()
            )
        } else {
            "ssl = no\ndisable_plaintext_auth = no\n".to_string()
        };
        let t = t.display();
        let conf = format!(
            "protocols = imap
listen = 127.0.0.1
base_dir = {t}/run
state_dir = {t}/state
log_path = {t}/dovecot.log
{ssl}auth_mechanisms = plain login
mail_location = maildir:{t}/mail/%u/Maildir
{unprivileged}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {t}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={t}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"
        );
        let conf_path = dir.path().join("dovecot.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        // Dovecot daemonizes; its children would hold a piped stdout open
        // forever, so its start-up errors go to a file instead.
        let errors_path = dir.path().join("start.err");
        let errors = std::fs::File::create(&errors_path).map_err(|e| e.to_string())?;
        let status = Command::new(binary("dovecot"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors)
            .status()
            .map_err(|e| e.to_string())?;
        let dovecot = Dovecot {
            dir,
            port,
            user,
            password,
        };
        if !status.success() {
            return Err(format!(
                "dovecot exited {status}: {}{}",
                std::fs::read_to_string(&errors_path).unwrap_or_default(),
                dovecot.log()
            ));
        }
        dovecot.wait_ready()?;
        Ok(dovecot)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut greeting = String::new();
                if BufReader::new(stream).read_line(&mut greeting).is_ok()
                    && greeting.starts_with("* OK")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no IMAP greeting on port {}: {}",
            self.port,
            self.log()
        ))
    }

    /// The `[imap] url` for this server, plain.
    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }

    /// The `[imap] url` that asks for STARTTLS.
    pub fn starttls_url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.port)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Dovecot's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot/dovecot.log")).unwrap_or_default()
    }

    /// Puts a raw message into the user's INBOX (`doveadm save`), as a
    /// delivery would.
    pub fn deliver(&self, raw: &[u8]) {
        let mut child = Command::new(binary("doveadm"))
            .arg("-c")
            .arg(self.conf())
            .args(["save", "-u", &self.user, "-m", "INBOX"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(raw)
            .expect("message written to doveadm");
        let out = child.wait_with_output().expect("doveadm finishes");
        assert!(
            out.status.success(),
            "doveadm save failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

fn tls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/tls")
}

fn is_root() -> bool {
    id("-u") == "0"
}

fn id(flag: &str) -> String {
    Command::new("id")
        .arg(flag)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(binary("doveadm"))
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
