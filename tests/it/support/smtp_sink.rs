//! A real SMTP server for tests: Postfix's `smtp-sink` on a free loopback
//! port, writing every received message to its own file.
//!
//! Shared by the library's unit tests (`src/channels/mod.rs` includes this
//! file with `#[path]`) and by integration tests
//! (`#[path = "support/smtp_sink.rs"] mod smtp_sink;` from `tests/it/main.rs`),
//! so there is one launcher, not two that drift apart.
//!
//! It needs only `std` and `tempfile`. If `smtp-sink` is not installed the
//! test fails loudly: CI installs Postfix, and a silently skipped SMTP test
//! would prove nothing.
//!
//! ```ignore
//! let sink = SmtpSink::start();                    // well-behaved server
//! let sink = SmtpSink::start_with(&["-q", "."]);   // drop after the final dot
//! // send to sink.url() …
//! let mail = sink.wait_for_messages(1, Duration::from_secs(10));
//! assert_eq!(mail[0].header("Subject").as_deref(), Some("Hello"));
//! ```

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `smtp-sink` lives when `/usr/sbin` is not on `PATH` (non-root shells).
const FALLBACK_DIRS: &[&str] = &["/usr/sbin", "/usr/lib/postfix/sbin", "/usr/libexec/postfix"];

/// Prefix of dumped message files inside the sink's directory.
const DUMP_PREFIX: &str = "msg.";

/// How long `smtp-sink` may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `smtp-sink`; killed when dropped, so a failing test cannot leak it.
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts a well-behaved sink that accepts every message.
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(&[])
    }

    /// Starts a sink with extra `smtp-sink` options for fault injection, e.g.
    /// `["-q", "."]` (drop the connection after the final dot, no reply),
    /// `["-Q", "."]` (421 after the dot), `["-r", "RCPT"]` (4xx to RCPT),
    /// `["-f", "RCPT"]` (5xx to RCPT), `["-W", ".:10"]` (wait before answering
    /// the dot). Options that change the greeting (`CONNECT` faults) are not
    /// supported: readiness is proven by reading the greeting.
    pub fn start_with(args: &[&str]) -> SmtpSink {
        SmtpSink::start_on_ports(args, std::iter::repeat_with(free_port).take(20))
    }

    /// Starts a well-behaved sink on a given port, e.g. one a client was
    /// already configured for while nothing listened there ("down, then up").
    pub fn start_on(port: u16) -> SmtpSink {
        SmtpSink::start_on_ports(&[], std::iter::repeat_n(port, 20))
    }

    fn start_on_ports(args: &[&str], ports: impl Iterator<Item = u16>) -> SmtpSink {
        let bin = find_smtp_sink();
        let dir = tempfile::Builder::new()
            .prefix("smtp-sink-")
            .tempdir()
            .expect("create a temporary directory for smtp-sink");
        let as_root = is_root();
        if as_root {
            // smtp-sink must drop to `nobody` when started as root, and
            // `nobody` must be able to write the dump files.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("open the smtp-sink directory to nobody");
        }
        let mut last_failure = String::new();
        for (attempt, port) in ports.enumerate() {
            // A greeting only this instance uses proves that the server we
            // reach is ours, not another process that grabbed the port.
            let greeting = format!("sink-{}-{port}-{attempt}", std::process::id());
            let log_path = dir.path().join(format!("smtp-sink-{attempt}.log"));
            let log = std::fs::File::create(&log_path).expect("create the smtp-sink log");
            let mut cmd = Command::new(&bin);
            if as_root {
                cmd.args(["-u", "nobody"]);
            }
            cmd.arg("-h")
                .arg(&greeting)
                .arg("-d")
                .arg(dir.path().join(DUMP_PREFIX))
                .args(args)
                .arg(format!("127.0.0.1:{port}"))
                .arg("64")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            match wait_ready(&mut child, port, &greeting) {
                Ok(()) => return SmtpSink { child, port, dir },
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_failure = format!(
                        "{why}; smtp-sink said: {}",
                        std::fs::read_to_string(&log_path)
                            .unwrap_or_default()
                            .trim()
                    );
                }
            }
        }
        panic!("smtp-sink did not start after 20 attempts: {last_failure}");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A lettre/nudge `smtp_url` for this sink: plain SMTP on loopback.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// The directory holding the dumped messages.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Dumped> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(self.dir.path())
            .expect("read the smtp-sink directory")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(DUMP_PREFIX))
            .map(|e| {
                let modified = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| {
                // smtp-sink deletes the file of a transfer cut off mid-DATA
                // (a killed client), possibly between listing and reading.
                let raw = match std::fs::read(&path) {
                    Ok(raw) => raw,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
                    Err(e) => panic!("read a dumped message {}: {e}", path.display()),
                };
                Some(Dumped {
                    raw: String::from_utf8_lossy(&raw).replace("\r\n", "\n"),
                    path,
                })
            })
            .collect()
    }

    /// Waits until at least `n` messages have been dumped, then returns them
    /// all. Panics after `timeout` (make it generous: machines are noisy).
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Dumped> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages();
            // A file exists from the first DATA byte; a complete one ends
            // with the blank line smtp-sink appends after the final dot.
            if found.len() >= n && found.iter().all(|m| m.raw.ends_with("\n\n")) {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} message(s) in {}, found {}",
                    self.dir.path().display(),
                    found.len()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as `smtp-sink` dumped it: its own `X-*`/`Received` lines,
/// then the message's header and body exactly as the client sent them.
#[derive(Debug, Clone)]
pub struct Dumped {
    /// The whole file, line endings normalised to `\n`.
    pub raw: String,
    /// Where it was written.
    pub path: PathBuf,
}

impl Dumped {
    /// The header block (smtp-sink's lines included).
    pub fn head(&self) -> &str {
        self.raw.split_once("\n\n").map_or(&self.raw, |(h, _)| h)
    }

    /// The body as the client wrote it: after the first blank line, without
    /// the line end before the final dot and smtp-sink's trailing blank line.
    pub fn body(&self) -> &str {
        self.raw.split_once("\n\n").map_or("", |(_, b)| {
            b.strip_suffix("\n\n")
                .or_else(|| b.strip_suffix('\n'))
                .unwrap_or(b)
        })
    }

    /// Every value of header `name` (case-insensitive), unfolded.
    pub fn headers(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in self.head().lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = current.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some(value) = current.take() {
                out.push(value);
            }
            if let Some((key, value)) = line.split_once(':')
                && key.trim().eq_ignore_ascii_case(name)
            {
                current = Some(value.trim().to_string());
            }
        }
        out.extend(current);
        out
    }

    /// The first value of header `name`, unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }
}

/// Waits until `child` answers on `port` with our unique `greeting`.
fn wait_ready(child: &mut Child, port: u16, greeting: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("smtp-sink exited with {status}"));
        }
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            let _ = reader.read_line(&mut line);
            let _ = (&stream).write_all(b"QUIT\r\n");
            return if line.starts_with("220 ") && line.contains(greeting) {
                Ok(())
            } else {
                Err(format!(
                    "port {port} answered {:?}, not our smtp-sink",
                    line.trim()
                ))
            };
        }
        if Instant::now() > deadline {
            return Err(format!(
                "smtp-sink did not listen on port {port} within {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Finds the `smtp-sink` binary or fails the test with instructions.
pub fn find_smtp_sink() -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join("smtp-sink"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "smtp-sink (from Postfix) is not installed, and this test needs a real SMTP \
                 server. Install it with:\n  apt-get update && echo \"postfix \
                 postfix/main_mailer_type select No configuration\" | debconf-set-selections \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                 postfix\n(.ci/run does this on CI)"
            )
        })
}

/// A port that was free a moment ago. Another process may take it before
/// the sink binds; [`SmtpSink::start_with`] detects that and retries.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
