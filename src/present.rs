//! How lead data is shown to a person: relative times, width-aware columns,
//! and text made safe for a terminal.
//!
//! It sits below both the CLI and the TUI (and log lines), so every way out
//! formats and escapes the same way. Everything a lead controls (name,
//! company, fields, message text) can hold terminal escapes: it goes through
//! [`safe`] or [`safe_multiline`] before it reaches a terminal.

mod log;

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub use log::safe_log_fields;

/// "in 3h", "overdue 10m": how far `at` is from `now`, at a glance.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = at - now;
    let (abs, overdue) = if d < Duration::zero() {
        (-d, true)
    } else {
        (d, false)
    };
    let text = if abs < Duration::minutes(1) {
        return "now".into();
    } else if abs < Duration::hours(1) {
        format!("{}m", abs.num_minutes())
    } else if abs < Duration::days(2) {
        format!("{}h", abs.num_hours())
    } else {
        format!("{}d", abs.num_days())
    };
    if overdue {
        format!("overdue {text}")
    } else {
        format!("in {text}")
    }
}

/// True for a character that must never reach a terminal as itself: C0
/// controls, DEL, C1 controls (which some terminals read as CSI/OSC), and the
/// Unicode bidirectional overrides and isolates that reorder what is shown.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// U+202A–U+202E and U+2066–U+2069: text that displays in another order than
/// it is stored ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line of lead text, safe for a terminal: every control character
/// (newlines included), DEL, C1 and bidi control becomes a visible escape
/// such as `\u{1b}`. Text with none is returned as is, without copying.
pub fn safe(text: &str) -> Cow<'_, str> {
    escape_where(text, is_unsafe_char)
}

/// Like [`safe`], but keeps newlines and tabs: for message bodies shown as
/// several lines.
pub fn safe_multiline(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && c != '\t' && is_unsafe_char(c))
}

fn escape_where(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as serde_json writes it) made safe for a terminal without
/// changing what it means: serde_json already escapes C0 controls, and this
/// writes DEL, C1 controls and bidi controls as `\u00XX` escapes too. Those
/// characters only occur inside JSON strings, where the escape is equivalent.
pub fn safe_json(json: &str) -> Cow<'_, str> {
    let unsafe_in_json =
        |c: char| c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) || is_bidi_control(c);
    if !json.chars().any(unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How many terminal columns `text` takes (wide CJK characters take two).
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` cut to at most `max` columns, with `…` where it was cut. Cuts on
/// character boundaries and never splits a wide character across the limit.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// A table cell: lead text made [`safe`], cut to `cols` columns and padded
/// with spaces to exactly `cols`, so columns line up whatever the script.
pub fn cell(text: &str, cols: usize) -> String {
    let safe = safe(text);
    let cut = truncate(&safe, cols);
    let pad = cols.saturating_sub(width(&cut));
    format!("{cut}{}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_escapes_every_terminal_control() {
        let hostile = "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED\u{9b}2J\u{7f}\r\n";
        let shown = safe(hostile);
        assert_eq!(
            shown,
            "Mal\\u{1b}]0;pwned\\u{7}\\u{1b}[31mRED\\u{9b}2J\\u{7f}\\u{d}\\u{a}"
        );
        assert!(!shown.chars().any(is_unsafe_char));
    }

    #[test]
    fn safe_escapes_bidi_overrides_and_leaves_plain_text_borrowed() {
        assert_eq!(safe("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        assert!(matches!(safe("Ada Lovelace 李"), Cow::Borrowed(_)));
    }

    #[test]
    fn safe_json_escapes_c1_del_and_bidi_and_means_the_same() {
        let value = serde_json::json!({"name": "Mal\u{1b}]0;x\u{7}\u{9b}2J\u{7f}\u{202e}\\\u{85}"});
        for text in [
            value.to_string(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let shown = safe_json(&text);
            assert!(
                !shown
                    .chars()
                    .any(|c| c.is_control() && c != '\n' || is_bidi_control(c)),
                "{shown}"
            );
            let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
            assert_eq!(back, value);
        }
        assert!(matches!(safe_json("{\"a\":\"李\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn multiline_keeps_newlines_and_tabs_only() {
        assert_eq!(safe_multiline("a\n\tb\u{1b}[2J"), "a\n\tb\\u{1b}[2J");
    }

    #[test]
    fn cells_line_up_with_wide_characters() {
        for name in [
            "Wei 李",
            "深圳科技有限公司深圳科技有限公司",
            "Ada",
            "Ünïcödé",
        ] {
            assert_eq!(width(&cell(name, 12)), 12, "{name}");
        }
        assert_eq!(cell("深圳科技有限公司", 9), "深圳科技…");
        assert_eq!(cell("深圳科技有限公司", 10), "深圳科技… ");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn relative_reads_at_a_glance() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(relative(now + Duration::seconds(30), now), "now");
        assert_eq!(relative(now + Duration::minutes(5), now), "in 5m");
        assert_eq!(relative(now - Duration::hours(3), now), "overdue 3h");
        assert_eq!(relative(now + Duration::days(3), now), "in 3d");
    }
}
