//! Log lines that are safe for a terminal and a log file.
//!
//! tracing-subscriber 0.3.23 escapes ESC, BEL, BS, FF, DEL and C1 in an
//! event's message, but writes other fields given with `%` (Display) as
//! they are, and lets CR and LF through everywhere: an error that quotes a
//! lead's name can still clear a screen, and a name with a newline can forge
//! a log line. [`safe_log_fields`] formats every field, message included,
//! through [`super::safe`], so each event stays one line of visible text.

use std::fmt;

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

fn write_safe_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    let text = super::safe(&text);
    match field.name() {
        "message" => writer.write_str(&text),
        name => write!(writer, "{name}={text}"),
    }
}

/// The field formatter for every `fmt` layer:
/// `tracing_subscriber::fmt::layer().fmt_fields(present::safe_log_fields())`.
pub fn safe_log_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(write_safe_field).delimited(" ")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::present::is_unsafe_char;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    const HOSTILE: &str =
        "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{9b}2J\r\nINFO forged line \u{202e}";

    /// Logs one event with the hostile name in the message, in a Display
    /// field and in a Debug field; returns what the layer wrote.
    fn log_with(safe: bool) -> String {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(buffer.clone());
        let emit = || {
            tracing::info!(name = %HOSTILE, debug = ?HOSTILE, "lead {HOSTILE} captured");
        };
        if safe {
            tracing::subscriber::with_default(builder.fmt_fields(safe_log_fields()).finish(), emit);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit);
        }
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn tracing_subscriber_alone_lets_display_fields_and_newlines_through() {
        let out = log_with(false);
        assert!(
            out.contains('\u{1b}'),
            "a `%` field reaches the log raw with tracing-subscriber's own formatter: {out:?}"
        );
        assert!(out.contains("\r\nINFO forged line"), "{out:?}");
    }

    #[test]
    fn safe_fields_keep_every_event_one_line_of_visible_text() {
        let out = log_with(true);
        let line = out.strip_suffix('\n').unwrap_or(&out);
        assert!(!line.chars().any(is_unsafe_char), "{out:?}");
        assert!(line.contains("lead Mal\\u{1b}]0;pwned\\u{7}"), "{out:?}");
        assert!(line.contains("name=Mal\\u{1b}]0;pwned"), "{out:?}");
        assert!(line.contains("\\u{202e}"), "{out:?}");
    }
}
