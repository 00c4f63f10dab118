//! Scores an outgoing email with SpamAssassin (`spamassassin -L -t`: local
//! rules only, no network, report appended), so the copy can be judged by
//! the filter most receiving servers run a cousin of, before it is sent.
//! Bayes is off: its score depends on what this machine learnt before, and
//! a check of our own copy must not change from one run to the next.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where `spamassassin` lives when it is not on `PATH`.
const FALLBACK_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin", "/usr/bin/vendor_perl"];

/// The score we aim to stay under: well below SpamAssassin's default
/// threshold of 5.0, so other filters' extra rules leave a margin.
pub const TARGET_SCORE: f64 = 2.0;

/// One rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamRule {
    /// Points it added (negative for "looks like ham").
    pub points: f64,
    /// Rule name, e.g. `MISSING_MID`.
    pub name: String,
    /// SpamAssassin's one-line description.
    pub description: String,
}

/// A message's total score and the rules behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamReport {
    /// Total points.
    pub score: f64,
    /// Every rule that fired, in SpamAssassin's order.
    pub rules: Vec<SpamRule>,
}

impl SpamReport {
    /// The rules as `points NAME description` lines, for humans.
    pub fn rule_lines(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| format!("{:>5.1} {} {}", r.points, r.name, r.description))
            .collect()
    }
}

/// Why a message could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum SpamCheckError {
    /// Running the program failed.
    #[error("cannot run {program}: {source}")]
    Run {
        program: String,
        source: std::io::Error,
    },
    /// It ran, but its report was not there or not understood.
    #[error("{program} gave no report we understand (exit {status}): {stderr}")]
    Report {
        program: String,
        status: String,
        stderr: String,
    },
}

/// The `spamassassin` program, if installed.
pub fn find_spamassassin() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join("spamassassin"))
        .find(|candidate| candidate.is_file())
}

/// Scores the raw message `raw` (headers and body as sent) with `program`.
pub fn score(program: &Path, raw: &[u8]) -> Result<SpamReport, SpamCheckError> {
    let name = program.display().to_string();
    let run_error = |source| SpamCheckError::Run {
        program: name.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args([
            "-L",
            "-t",
            "--cf",
            "use_bayes 0",
            "--cf",
            "bayes_auto_learn 0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(raw).map_err(run_error)?;
    }
    let output = child.wait_with_output().map_err(run_error)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_report(&stdout).ok_or_else(|| SpamCheckError::Report {
        program: name,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// Reads the "Content analysis details" table that `-t` appends.
fn parse_report(text: &str) -> Option<SpamReport> {
    let (_, details) = text.split_once("Content analysis details:")?;
    let score = details
        .trim_start()
        .strip_prefix('(')?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    let mut rules: Vec<SpamRule> = Vec::new();
    let table = details
        .lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1);
    for line in table {
        if line.trim().is_empty() {
            break;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        match first.parse::<f64>() {
            Ok(points) => rules.push(SpamRule {
                points,
                name: words.next().unwrap_or_default().to_string(),
                description: words.collect::<Vec<_>>().join(" "),
            }),
            // A wrapped description continues the rule above.
            Err(_) => {
                if let Some(last) = rules.last_mut() {
                    last.description.push(' ');
                    last.description.push_str(line.trim());
                }
            }
        }
    }
    Some(SpamReport { score, rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_score_and_wrapped_rules() {
        let text = "Content preview:  hi\n\nContent analysis details:   (2.4 points, 5.0 required)\n\n pts rule name              description\n---- ---------------------- --------------------------------------------------\n-0.0 NO_RELAYS              Informational: message was not relayed via\n                            SMTP\n 2.5 MISSING_MID            Missing Message-Id: header\n\n";
        let report = parse_report(text).unwrap();
        assert_eq!(report.score, 2.4);
        assert_eq!(report.rules.len(), 2);
        assert_eq!(report.rules[0].name, "NO_RELAYS");
        assert_eq!(
            report.rules[0].description,
            "Informational: message was not relayed via SMTP"
        );
        assert_eq!(report.rules[1].points, 2.5);
    }

    #[test]
    fn no_report_is_none() {
        assert_eq!(parse_report("garbage"), None);
    }
}
