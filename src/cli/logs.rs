//! `nudge logs [-f] [-n N]`: the end of the log file `nudge serve` (or the
//! TUI) writes in the data dir, optionally following it across rotations.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::Context_;
use crate::logging::LOG_LINK;

/// How often `-f` looks for new lines.
const POLL: Duration = Duration::from_millis(250);

/// `nudge logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing lines as they are written (ctrl-c stops).
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub lines: usize,
}

pub(super) fn logs(ctx: &Context_, args: &LogsArgs, out: &mut impl Write) -> Result<()> {
    let link = ctx.paths.data_dir.join(LOG_LINK);
    let (mut file, mut current) = open(&link).with_context(|| {
        format!(
            "no log at {} yet: `nudge serve` (or the TUI) writes it",
            link.display()
        )
    })?;
    let start = tail_start(&mut file, args.lines)?;
    let mut pos = copy_from(&mut file, start, out)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(POLL);
        // A new day: nudge.log now points at a new file. Finish the old
        // one, then read the new one from its start.
        if let Ok(target) = std::fs::canonicalize(&link)
            && target != current
        {
            copy_from(&mut file, pos, out)?;
            (file, current) = open(&link)?;
            pos = 0;
        }
        let len = file.metadata()?.len();
        if len < pos {
            pos = 0;
        }
        if len > pos {
            pos = copy_from(&mut file, pos, out)?;
        }
    }
}

/// The file behind the `nudge.log` link, and its real path.
fn open(link: &Path) -> Result<(File, PathBuf)> {
    let target = std::fs::canonicalize(link)?;
    let file = File::open(&target).with_context(|| format!("opening {}", target.display()))?;
    Ok((file, target))
}

/// Copies `file` from `pos` to its end into `out`; returns the new end.
fn copy_from(file: &mut File, pos: u64, out: &mut impl Write) -> Result<u64> {
    file.seek(SeekFrom::Start(pos))?;
    let copied = std::io::copy(file, out)?;
    out.flush()?;
    Ok(pos + copied)
}

/// Where the last `lines` lines of `file` start, read backwards in blocks
/// so a large log costs only its end.
fn tail_start(file: &mut File, lines: usize) -> Result<u64> {
    const BLOCK: u64 = 8192;
    let len = file.metadata()?.len();
    if lines == 0 {
        return Ok(len);
    }
    // A final newline ends the last line; it does not start another.
    let mut newlines = 0;
    let mut end = len;
    let mut skip_last = true;
    let mut buf = vec![0; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, byte) in chunk.iter().enumerate().rev() {
            if *byte != b'\n' {
                skip_last = false;
                continue;
            }
            if skip_last {
                skip_last = false;
                continue;
            }
            newlines += 1;
            if newlines == lines {
                return Ok(start + i as u64 + 1);
            }
        }
        end = start;
    }
    // Fewer lines than asked: all of them.
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(text: &str, lines: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        let mut file = File::open(&path).unwrap();
        let start = tail_start(&mut file, lines).unwrap();
        text[start as usize..].to_string()
    }

    #[test]
    fn tail_prints_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\n", 5), "a\nb\n");
        assert_eq!(tail("a\nb\n", 0), "");
        assert_eq!(tail("", 3), "");
        let long: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&long, 3), "line 4997\nline 4998\nline 4999\n");
    }
}
