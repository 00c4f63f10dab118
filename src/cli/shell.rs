//! `nudge completions SHELL` and `nudge man`: generated from the same clap
//! definitions as the parser, so they never drift from the real options.

use std::io::Write;

use anyhow::Result;
use clap::{Args, CommandFactory};

use super::Cli;

/// `nudge completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

pub(super) fn completions(args: &CompletionsArgs, out: &mut impl Write) -> Result<()> {
    clap_complete::generate(args.shell, &mut Cli::command(), "nudge", out);
    Ok(())
}

/// The roff man page, for `nudge man > nudge.1`.
pub(super) fn man(out: &mut impl Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)?;
    Ok(())
}
