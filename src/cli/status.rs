//! `nudge status` (and `nudge` off a terminal): counts by status and what is due.

use std::io::Write;

use anyhow::Result;

use super::Context_;
use crate::present::safe;

pub(super) fn status(ctx: &Context_, out: &mut impl Write) -> Result<()> {
    let mut handle = ctx.handle()?;
    let report = handle.status()?;
    let owner = if handle.is_remote() {
        " (served by a running `nudge serve`)"
    } else {
        ""
    };
    writeln!(out, "data dir  {}{owner}", safe(&report.data_dir))?;
    for (status, n) in &report.by_status {
        writeln!(out, "  {:<11} {n}", status.as_str())?;
    }
    writeln!(out, "due now   {}", report.due_now)?;
    if report.in_doubt > 0 {
        writeln!(
            out,
            "in doubt  {} (see `nudge leads --in-doubt`, settle with `nudge resolve`)",
            report.in_doubt
        )?;
    }
    if !report.channels.is_empty() {
        writeln!(out, "channels")?;
        for channel in &report.channels {
            writeln!(out, "  {}", channel.describe())?;
        }
    }
    writeln!(
        out,
        "\nnext: `nudge add --name NAME --email EMAIL`, `nudge leads`, `nudge seq preview default`"
    )?;
    Ok(())
}
