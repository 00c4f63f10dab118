//! `nudge init --service [--user]`: writes the systemd unit for `nudge serve`
//! and a secrets file, then prints the `systemctl` commands to start it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Context_;
use super::init::{InitArgs, write_atomically};
use crate::service::{Scope, UnitSpec, secrets_text, systemctl_commands, unit_text};

const UNIT_NAME: &str = "nudge.service";
const SECRETS_FILE: &str = "secrets.env";
const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

pub(super) fn install(ctx: &Context_, args: &InitArgs, out: &mut impl Write) -> Result<()> {
    let scope = if args.user {
        Scope::User
    } else {
        Scope::System
    };
    let absolute =
        |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
    let config_file = absolute(&ctx.paths.config_file)?;
    let config_dir = absolute(&ctx.paths.config_dir)?;
    let data_dir = absolute(&ctx.paths.data_dir)?;
    let binary = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("finding the path of this nudge binary for ExecStart")?;
    // ReadWritePaths= fails the start if the data dir is missing.
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    let secrets_file = config_dir.join(SECRETS_FILE);
    write_secrets(&secrets_file, out)?;

    let spec = UnitSpec {
        binary,
        config_file: config_file.clone(),
        data_dir,
        secrets_file,
        scope,
        user: service_user(scope),
    };
    let text = unit_text(&spec)?;
    let unit_dir = match &args.unit_dir {
        Some(dir) => absolute(dir)?,
        None => default_unit_dir(scope)?,
    };
    let unit = unit_dir.join(UNIT_NAME);
    if unit.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            unit.display()
        );
    }
    let written = std::fs::create_dir_all(&unit_dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| write_atomically(&unit, text.as_bytes()));
    match written {
        Ok(()) => writeln!(out, "wrote {}", unit.display())?,
        // Not root: leave the unit beside the config and say how to install it.
        Err(e) if scope == Scope::System && args.unit_dir.is_none() && permission_denied(&e) => {
            let local = config_dir.join(UNIT_NAME);
            write_atomically(&local, text.as_bytes())?;
            writeln!(
                out,
                "wrote {} ({} needs root); install it with:\n  sudo install -m 0644 {} {}",
                local.display(),
                unit_dir.display(),
                local.display(),
                unit.display()
            )?;
        }
        Err(e) => return Err(e),
    }
    if scope == Scope::System && spec.user.is_none() {
        writeln!(
            out,
            "note: no User= line (running as root); add one so the service does not run as root"
        )?;
    }
    if !config_file.exists() {
        writeln!(
            out,
            "note: {} does not exist yet; run `nudge init` first",
            config_file.display()
        )?;
    }
    writeln!(out, "then put your secrets in the secrets file and run:")?;
    for command in systemctl_commands(scope, UNIT_NAME) {
        writeln!(out, "  {command}")?;
    }
    Ok(())
}

/// Creates the secrets file mode 0600 with every variable commented out;
/// an existing one (with real secrets in it) is never touched.
fn write_secrets(path: &Path, out: &mut impl Write) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut file) => {
            file.write_all(secrets_text().as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(out, "wrote {} (mode 0600)", path.display())?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            writeln!(out, "kept {} (already there)", path.display())?;
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    Ok(())
}

/// `User=` for a system unit: whoever runs `nudge init --service`, unless root.
fn service_user(scope: Scope) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if scope == Scope::User {
        return None;
    }
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        return None;
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

/// `/etc/systemd/system`, or the user manager's `~/.config/systemd/user`.
fn default_unit_dir(scope: Scope) -> Result<PathBuf> {
    match scope {
        Scope::System => Ok(PathBuf::from(SYSTEM_UNIT_DIR)),
        Scope::User => Ok(directories::BaseDirs::new()
            .context("cannot find a home directory; pass --unit-dir")?
            .config_dir()
            .join("systemd/user")),
    }
}

fn permission_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    })
}
