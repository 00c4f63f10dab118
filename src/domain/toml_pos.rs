//! Locating a byte span in TOML source as line, column and dotted field path,
//! so errors in sequence, config and theme files say exactly where to look.

use std::ops::Range;

/// Maps a byte span to (line, column, field path) by reading the TOML around it.
pub fn locate(src: &str, span: Option<Range<usize>>) -> (usize, usize, String) {
    let offset = span.map(|s| s.start).unwrap_or(0).min(src.len());
    let before = &src[..offset];
    let line_idx = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = src[line_start..offset].chars().count() + 1;
    let lines: Vec<&str> = src.lines().collect();
    let key = lines
        .get(line_idx)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let mut table = String::new();
    for (i, line) in lines.iter().enumerate().take(line_idx + 1).rev() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let name = name.trim();
            let n = lines[..=i]
                .iter()
                .filter(|l| {
                    l.trim()
                        .strip_prefix("[[")
                        .and_then(|r| r.strip_suffix("]]"))
                        .map(str::trim)
                        == Some(name)
                })
                .count();
            table = format!("{name}[{}]", n - 1);
            break;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = name.trim().to_string();
            break;
        }
    }
    let field = match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => "(file)".to_string(),
    };
    (line_idx + 1, column, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_array_table_index_and_key() {
        let src = "a = 1\n[[steps]]\nid = 1\n[[steps]]\nid = 2\ndelay = \"x\"\n";
        let offset = src.find("\"x\"").unwrap();
        assert_eq!(
            locate(src, Some(offset..offset + 3)),
            (6, 9, "steps[1].delay".to_string())
        );
        assert_eq!(locate(src, Some(0..1)), (1, 1, "a".to_string()));
    }
}
