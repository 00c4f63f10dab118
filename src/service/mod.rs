//! Running `nudge serve` under systemd: the unit file and the secrets file
//! `nudge init --service` writes (pure text, so tests can check them), and
//! the readiness notifications (`Type=notify`) `nudge serve` sends.

use std::path::{Path, PathBuf};

/// Secrets the environment file offers, commented out: each is a
/// `NUDGE_<SECTION>_<KEY>` override of a secret config key.
pub const SECRET_VARS: &[(&str, &str)] = &[
    (
        "NUDGE_EMAIL_SMTP_URL",
        "smtps://user:password@smtp.example.com",
    ),
    ("NUDGE_SMS_ACCOUNT_SID", "AC..."),
    ("NUDGE_SMS_AUTH_TOKEN", "..."),
    (
        "NUDGE_HOOKS_TWILIO_AUTH_TOKEN",
        "... (defaults to the SMS token)",
    ),
    ("NUDGE_HOOKS_CAL_SECRET", "..."),
    ("NUDGE_HOOKS_CALENDLY_SIGNING_KEY", "..."),
    ("NUDGE_AI_API_KEY", "sk-..."),
    ("NUDGE_SERVER_INTAKE_TOKEN", "a long random string"),
    ("NUDGE_SERVER_LINK_SECRET", "a long random string"),
    ("NUDGE_IMAP_PASSWORD", "..."),
    (
        "NUDGE_ALERTS_SLACK_WEBHOOK_URL",
        "https://hooks.slack.com/services/...",
    ),
    (
        "NUDGE_ALERTS_CRM_WEBHOOK_URL",
        "https://crm.example.com/hooks/nudge",
    ),
    ("NUDGE_ALERTS_CRM_WEBHOOK_SECRET", "a long random string"),
];

/// Which systemd instance runs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The system manager (`/etc/systemd/system`), running as `user`.
    System,
    /// The user's own manager (`systemctl --user`).
    User,
}

/// What the unit needs to know; every path absolute.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    /// The `nudge` binary `ExecStart` runs.
    pub binary: PathBuf,
    /// `--config`.
    pub config_file: PathBuf,
    /// `--data-dir`: the only path the service may write.
    pub data_dir: PathBuf,
    /// `EnvironmentFile=`.
    pub secrets_file: PathBuf,
    /// System or user manager.
    pub scope: Scope,
    /// `User=` for a system unit (none runs it as root, which we avoid).
    pub user: Option<String>,
}

/// Why a unit cannot be written for these paths.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// systemd unit files are line-based: a newline cannot be quoted.
    #[error("{0} contains a newline; a systemd unit cannot name it")]
    Newline(PathBuf),
    /// A path that is not UTF-8 cannot be written into the unit text.
    #[error("{0} is not valid UTF-8; a systemd unit cannot name it")]
    NotUtf8(PathBuf),
}

/// The unit file text for `spec`.
pub fn unit_text(spec: &UnitSpec) -> Result<String, UnitError> {
    let binary = quoted(&spec.binary)?;
    let config = quoted(&spec.config_file)?;
    let data = quoted(&spec.data_dir)?;
    let secrets = quoted(&spec.secrets_file)?;
    let mut unit = format!(
        "\
# Written by `nudge init --service`. Edit freely; `nudge init --service --force` rewrites it.
[Unit]
Description=nudge: automatic follow-ups for every sales lead (nudge serve)
After=network-online.target
Wants=network-online.target

[Service]
# nudge serve says READY=1 once its socket, worker and HTTP server are up.
Type=notify
ExecStart={binary} --config {config} --data-dir {data} serve
# Secrets as NUDGE_<SECTION>_<KEY> variables, kept out of config.toml.
EnvironmentFile={secrets}
Restart=on-failure
RestartSec=5
# SIGTERM lets in-flight sends finish before it exits.
TimeoutStopSec=60
"
    );
    if let (Scope::System, Some(user)) = (spec.scope, &spec.user) {
        unit.push_str(&format!("User={user}\n"));
    }
    unit.push_str(&format!(
        "\
UMask=0077
# Hardening: the data dir is the only place nudge writes.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data}
PrivateTmp=yes
"
    ));
    match spec.scope {
        Scope::System => unit.push_str(
            "\
# The binary, config and data may live in a home directory: readable, and
# only the data dir (above) writable.
ProtectHome=read-only
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
",
        ),
        Scope::User => unit.push_str(
            "\
# No ProtectHome=: a user service's config and data are in its own home.

[Install]
WantedBy=default.target
",
        ),
    }
    Ok(unit)
}

/// The secrets file text: every variable commented, with an example value.
pub fn secrets_text() -> String {
    let mut text = String::from(
        "\
# Secrets for `nudge serve`, read by systemd (EnvironmentFile=). Mode 0600:
# keep it that way. Uncomment and fill in what you use; each variable wins
# over the same key in config.toml (NUDGE_<SECTION>_<KEY>).
",
    );
    for (var, example) in SECRET_VARS {
        text.push_str(&format!("# {var}={example}\n"));
    }
    text
}

/// The `systemctl` commands that enable and start the unit.
pub fn systemctl_commands(scope: Scope, unit_name: &str) -> Vec<String> {
    let (ctl, journal) = match scope {
        Scope::System => ("sudo systemctl", "journalctl"),
        Scope::User => ("systemctl --user", "journalctl --user"),
    };
    vec![
        format!("{ctl} daemon-reload"),
        format!("{ctl} enable --now {unit_name}"),
        format!("{ctl} status {unit_name}"),
        format!("{journal} -u {unit_name} -f"),
    ]
}

/// A path as one systemd word: quoted when it has spaces or quotes, with
/// `%` (specifiers) and `\` escaped.
fn quoted(path: &Path) -> Result<String, UnitError> {
    let text = path
        .to_str()
        .ok_or_else(|| UnitError::NotUtf8(path.to_path_buf()))?;
    if text.contains('\n') {
        return Err(UnitError::Newline(path.to_path_buf()));
    }
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "%%")
        .replace('"', "\\\"");
    Ok(if escaped.contains([' ', '\t', '"', '\'']) {
        format!("\"{escaped}\"")
    } else {
        escaped
    })
}

/// Tells systemd (`NOTIFY_SOCKET`) that `nudge serve` is ready; nothing
/// without systemd.
pub fn notify_ready() {
    notify(sd_notify::NotifyState::Ready);
}

/// Tells systemd that `nudge serve` is stopping (finishing in-flight sends).
pub fn notify_stopping() {
    notify(sd_notify::NotifyState::Stopping);
}

fn notify(state: sd_notify::NotifyState) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

#[cfg(test)]
mod tests;
