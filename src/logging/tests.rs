use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// Log files the appender manages in `dir`: regular `nudge.*.log` files.
fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.metadata().is_ok_and(|m| m.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("nudge.") && n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn rotation_keeps_at_most_the_limit_and_links_nudge_log_to_today() {
    let dir = tempfile::tempdir().unwrap();
    for day in 1..=9 {
        std::fs::write(
            dir.path().join(format!("nudge.2026-01-0{day}.log")),
            "old line\n",
        )
        .unwrap();
    }
    // Unrelated files are never pruned.
    std::fs::write(dir.path().join("conf"), "x").unwrap();

    let mut appender = appender(dir.path(), 3).unwrap();
    writeln!(appender, "fresh line").unwrap();
    appender.flush().unwrap();

    let files = log_files(dir.path());
    assert!(files.len() <= 3, "kept {files:?}");
    assert!(dir.path().join("conf").exists());
    let link = dir.path().join(LOG_LINK);
    assert!(link.symlink_metadata().unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "fresh line\n");

    // A second start (the same day) still keeps at most the limit.
    drop(appender);
    let _again = super::appender(dir.path(), 3).unwrap();
    assert!(log_files(dir.path()).len() <= 3);
}

#[test]
fn a_plain_nudge_log_from_before_rotation_is_kept_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LOG_LINK), "before\n").unwrap();
    let _appender = appender(dir.path(), 5).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("nudge.0000-before-rotation.log")).unwrap(),
        "before\n"
    );
    assert!(
        dir.path()
            .join(LOG_LINK)
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn colour_only_on_a_terminal_without_no_color_and_never_in_the_journal() {
    assert_eq!(Stderr::decide(false, true, false), Stderr::Colour);
    assert_eq!(Stderr::decide(false, true, true), Stderr::Plain);
    assert_eq!(Stderr::decide(false, false, false), Stderr::Plain);
    assert_eq!(Stderr::decide(true, true, false), Stderr::Journal);
    assert_eq!(Stderr::decide(true, false, false), Stderr::Journal);
}

#[test]
fn journal_stream_counts_only_when_it_names_our_stderr() {
    assert!(!stderr_is_journal(None));
    assert!(!stderr_is_journal(Some("garbage")));
    assert!(!stderr_is_journal(Some("1:1")));
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/fd/2").unwrap();
    assert!(stderr_is_journal(Some(&format!(
        "{}:{}",
        ours.dev(),
        ours.ino()
    ))));
}

/// A writer into a shared buffer, so a test can read what a layer wrote.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs one event with fields and a span through the stderr layer in `mode`
/// and the file layer; returns (stderr, file).
fn log_once(mode: Stderr) -> (String, String) {
    let (stderr, file) = (Buffer::default(), Buffer::default());
    let (s, f) = (stderr.clone(), file.clone());
    let subscriber = tracing_subscriber::registry()
        .with(stderr_layer(mode, move || s.clone()))
        .with(file_layer(move || f.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("send", lead = "01K");
        let _entered = span.enter();
        tracing::warn!(attempt = 2, "retrying");
    });
    (stderr.text(), file.text())
}

#[test]
fn the_file_never_gets_ansi_codes_even_when_stderr_is_coloured() {
    let (stderr, file) = log_once(Stderr::Colour);
    assert!(
        stderr.contains('\x1b'),
        "a terminal gets colour: {stderr:?}"
    );
    assert!(file.contains("retrying") && file.contains("attempt=2"));
    assert!(!file.contains('\x1b'), "file got ANSI: {file:?}");
}

#[test]
fn the_journal_gets_no_colour_and_no_timestamp() {
    let (journal, _) = log_once(Stderr::Journal);
    assert!(!journal.contains('\x1b'), "{journal:?}");
    assert!(
        journal.trim_start().starts_with("WARN"),
        "no timestamp before the level: {journal:?}"
    );
    let (plain, _) = log_once(Stderr::Plain);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(
        plain.starts_with(|c: char| c.is_ascii_digit()),
        "plain stderr keeps its timestamp: {plain:?}"
    );
}
