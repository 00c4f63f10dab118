//! `nudge init`: a commented config, the default sequence and the themes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Context_;
use crate::catalog;
use crate::config::CONFIG_TEMPLATE;

/// `nudge init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing config file (with --service: the unit file).
    #[arg(long)]
    pub force: bool,
    /// Instead: write a systemd unit for `nudge serve` and a secrets file
    /// (mode 0600), and print the systemctl commands that start it.
    #[arg(long)]
    pub service: bool,
    /// With --service: a user unit (`systemctl --user`) instead of a system one.
    #[arg(long, requires = "service")]
    pub user: bool,
    /// With --service: where to write nudge.service (default
    /// /etc/systemd/system, or ~/.config/systemd/user with --user).
    #[arg(long, requires = "service", value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

pub(super) fn init(ctx: &Context_, args: &InitArgs, out: &mut impl Write) -> Result<()> {
    if args.service {
        return super::service::install(ctx, args, out);
    }
    let dir = &ctx.paths.config_dir;
    let file = &ctx.paths.config_file;
    if file.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            file.display()
        );
    }
    for sub in ["sequences", "themes"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomically(file, CONFIG_TEMPLATE.as_bytes())?;
    writeln!(out, "wrote {}", file.display())?;
    let files = [
        ("sequences/default.toml", catalog::BUILTIN_DEFAULT),
        ("themes/dark.toml", include_str!("../../themes/dark.toml")),
        ("themes/light.toml", include_str!("../../themes/light.toml")),
        (
            "themes/high-contrast.toml",
            include_str!("../../themes/high-contrast.toml"),
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if path.exists() {
            writeln!(out, "kept {} (already there)", path.display())?;
        } else {
            write_atomically(&path, text.as_bytes())?;
            writeln!(out, "wrote {}", path.display())?;
        }
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-nudge");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
