//! Configuration: the TOML file, `NUDGE_<SECTION>_<KEY>` overrides, and the
//! config and data directories.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use crate::domain::render::Sender;
use crate::domain::toml_pos::locate;

mod paths;
mod secret;

pub use paths::Paths;
pub use secret::Secret;

/// Sections that environment variables may override. Other `NUDGE_*`
/// variables (`NUDGE_CONFIG`, `NUDGE_DATA_DIR`) are not config keys.
pub const SECTIONS: &[&str] = &[
    "general", "sender", "store", "email", "sms", "call", "ai", "engine", "server", "hooks", "tui",
    "imap", "alerts",
];

/// The whole configuration, defaults filled in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Time zone and phone defaults.
    #[serde(default)]
    pub general: General,
    /// Who messages come from.
    #[serde(default)]
    pub sender: Sender,
    /// Database tuning.
    #[serde(default)]
    pub store: StoreSettings,
    /// SMTP; dry-run unless `smtp_url` and `from` are set.
    #[serde(default)]
    pub email: EmailSettings,
    /// Twilio Messaging; dry-run unless account, token and sender are set.
    #[serde(default)]
    pub sms: SmsSettings,
    /// Calls: a task for the human, or a Twilio call.
    #[serde(default)]
    pub call: CallSettings,
    /// OpenAI-compatible LLM for personalisation; off unless configured.
    #[serde(default)]
    pub ai: AiSettings,
    /// Worker limits.
    #[serde(default)]
    pub engine: EngineSettings,
    /// The inbound HTTP server and links in messages (unsubscribe).
    #[serde(default)]
    pub server: ServerSettings,
    /// Webhook secrets.
    #[serde(default)]
    pub hooks: HooksSettings,
    /// The inbox watched for replies, auto-replies and bounces; off without a URL.
    #[serde(default)]
    pub imap: ImapSettings,
    /// Outbound alert webhooks (Slack, a CRM); off unless a URL is set.
    #[serde(default)]
    pub alerts: AlertSettings,
    /// The terminal UI: theme, colours, bell.
    #[serde(default)]
    pub tui: TuiSettings,
    /// Key remaps for the TUI, e.g. `r = "replied"`; partial overrides of the defaults.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, String>,
}

/// `[tui]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiSettings {
    /// Theme name: a built-in (`dark`, `light`, `high-contrast`) or a file in `themes/`.
    #[serde(default = "default_theme")]
    pub theme: String,
    /// `auto` (true colour when `COLORTERM` says so), `truecolor` or `16`.
    #[serde(default = "default_colors")]
    pub colors: String,
    /// Ring the terminal bell on an alert (the older name of `[alerts] bell`).
    #[serde(default = "default_bell", deserialize_with = "bool_or_string")]
    pub bell: bool,
}

fn default_theme() -> String {
    "dark".into()
}

fn default_colors() -> String {
    "auto".into()
}

fn default_bell() -> bool {
    true
}

impl Default for TuiSettings {
    fn default() -> Self {
        TuiSettings {
            theme: default_theme(),
            colors: default_colors(),
            bell: default_bell(),
        }
    }
}

/// `[email]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// lettre URL: `smtps://user:pass@host`, `smtp://host:587` (STARTTLS),
    /// `smtp://127.0.0.1:2525?tls=none`. Holds credentials, hence a secret.
    #[serde(default)]
    pub smtp_url: Secret,
    /// `Name <address>` or an address.
    #[serde(default)]
    pub from: String,
    /// Where replies go, if not `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Postal address for the footer (CAN-SPAM).
    #[serde(default)]
    pub postal_address: String,
    /// Most emails per day; 0 means no cap.
    #[serde(default, deserialize_with = "number_or_string")]
    pub daily_cap: u64,
    /// Allow unencrypted SMTP to a host other than localhost.
    #[serde(default, deserialize_with = "bool_or_string")]
    pub allow_plain: bool,
    /// DKIM `d=`: the domain that signs (usually the From domain).
    #[serde(default)]
    pub dkim_domain: Option<String>,
    /// DKIM `s=`: the selector the public key is published under.
    #[serde(default)]
    pub dkim_selector: Option<String>,
    /// The DKIM private key: RSA (PKCS#1 PEM) or Ed25519 (PKCS#8 PEM).
    #[serde(default)]
    pub dkim_private_key_file: Option<String>,
}

/// `[sms]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// Twilio Account SID.
    #[serde(default)]
    pub account_sid: String,
    /// Twilio auth token.
    #[serde(default)]
    pub auth_token: Secret,
    /// Sending number in E.164 …
    #[serde(default)]
    pub from: String,
    /// … or a Messaging Service SID instead.
    #[serde(default)]
    pub messaging_service_sid: String,
    /// API base, for tests or a regional edge (default `https://api.twilio.com`).
    #[serde(default)]
    pub base_url: String,
    /// Most texts per day; 0 means no cap.
    #[serde(default, deserialize_with = "number_or_string")]
    pub daily_cap: u64,
}

/// `[call]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSettings {
    /// `task` (default: the human calls) or `twilio`.
    #[serde(default)]
    pub mode: CallMode,
    /// TwiML or voice-agent URL Twilio fetches when the call connects.
    #[serde(default)]
    pub twiml_url: String,
}

/// How call steps are carried out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallMode {
    /// A due task for the human, done with `nudge mark ID called`.
    #[default]
    Task,
    /// A Twilio Calls API request using the `[sms]` account.
    Twilio,
}

/// `[ai]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// OpenAI-compatible base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    #[serde(default)]
    pub base_url: String,
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// API key (local servers may need none).
    #[serde(default)]
    pub api_key: Secret,
    /// Give up and send the plain template after this long.
    #[serde(default = "default_ai_timeout", deserialize_with = "number_or_string")]
    pub timeout_secs: u64,
}

fn default_ai_timeout() -> u64 {
    20
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            base_url: String::new(),
            model: String::new(),
            api_key: Secret::default(),
            timeout_secs: default_ai_timeout(),
        }
    }
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Attempts per touch before it is marked failed.
    #[serde(
        default = "default_max_attempts",
        deserialize_with = "number_or_string"
    )]
    pub max_attempts: u64,
    /// Minimum seconds between two sends.
    #[serde(default, deserialize_with = "number_or_string")]
    pub min_gap_secs: u64,
    /// Most sends per minute across channels; 0 means no limit.
    #[serde(default, deserialize_with = "number_or_string")]
    pub rate_per_minute: u64,
    /// Sends in flight at once. A crash can leave at most this many touches
    /// in doubt; 1 makes that at most one per crash.
    #[serde(default = "default_concurrency", deserialize_with = "number_or_string")]
    pub concurrency: u64,
    /// First retry wait in seconds; doubles per attempt (capped at 6 hours).
    #[serde(default = "default_retry_base", deserialize_with = "number_or_string")]
    pub retry_base_secs: u64,
    /// Hot score at which a lead turns hot (weights in the sequence's
    /// `[rules.hot]`); 0 turns hot scoring off.
    #[serde(
        default = "default_hot_threshold",
        deserialize_with = "number_or_string"
    )]
    pub hot_threshold: u64,
}

fn default_hot_threshold() -> u64 {
    u64::from(crate::domain::rules::DEFAULT_HOT_THRESHOLD)
}

fn default_concurrency() -> u64 {
    8
}

fn default_retry_base() -> u64 {
    60
}

fn default_max_attempts() -> u64 {
    6
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_attempts: default_max_attempts(),
            min_gap_secs: 0,
            rate_per_minute: 0,
            retry_base_secs: default_retry_base(),
            concurrency: default_concurrency(),
            hot_threshold: default_hot_threshold(),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the inbound HTTP server binds; loopback by default, behind a
    /// reverse proxy for the internet. Empty turns the server off.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Public base URL for links in messages, e.g. `https://nudge.example.com`.
    #[serde(default)]
    pub public_url: String,
    /// Bearer token for `POST /api/leads`; intake is refused without one.
    #[serde(default)]
    pub intake_token: Secret,
    /// Key for HMAC-signed link tokens (unsubscribe, open and click tracking).
    #[serde(default)]
    pub link_secret: Secret,
    /// Track opens and clicks in emails (needs `public_url` and
    /// `link_secret`); `false` sends links untouched and no pixel.
    #[serde(default = "default_tracking", deserialize_with = "bool_or_string")]
    pub tracking: bool,
    /// Opens and clicks sooner than this after the send are taken for link
    /// scanners checking the message on delivery; 0 turns the rule off.
    #[serde(
        default = "default_prefetch_window",
        deserialize_with = "number_or_string"
    )]
    pub prefetch_window_secs: u64,
    /// Field mappings per intake source: `[server.sources.webflow]
    /// email = "Email Address"` maps the form's field to ours.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Intake requests one client IP may make per minute (a token bucket
    /// refilled at this rate); 0 turns the per-IP limit off.
    #[serde(
        default = "default_intake_per_minute",
        deserialize_with = "number_or_string"
    )]
    pub intake_per_minute: u64,
    /// Requests one client IP may make at once before the rate applies.
    #[serde(
        default = "default_intake_burst",
        deserialize_with = "number_or_string"
    )]
    pub intake_burst: u64,
    /// New leads intake stores per minute from all clients together; 0 = no ceiling.
    #[serde(
        default = "default_intake_leads_per_minute",
        deserialize_with = "number_or_string"
    )]
    pub intake_leads_per_minute: u64,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// names the client; from anyone else the header is ignored.
    #[serde(default, deserialize_with = "ip_nets")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

fn default_intake_per_minute() -> u64 {
    60
}

fn default_intake_burst() -> u64 {
    20
}

fn default_intake_leads_per_minute() -> u64 {
    120
}

/// A list of addresses or CIDR ranges, from the file (`["10.0.0.1",
/// "fd00::/8"]`) or an environment variable (`"10.0.0.1, fd00::/8"`).
fn ip_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    let items = match Raw::deserialize(d)? {
        Raw::List(items) => items,
        Raw::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is not an IP address or CIDR range (e.g. 10.0.0.1 or 10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

fn default_tracking() -> bool {
    true
}

fn default_prefetch_window() -> u64 {
    crate::domain::tracking::DEFAULT_PREFETCH_WINDOW_SECS
}

fn default_listen() -> String {
    "127.0.0.1:8787".to_string()
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: default_listen(),
            public_url: String::new(),
            intake_token: Secret::default(),
            link_secret: Secret::default(),
            tracking: default_tracking(),
            prefetch_window_secs: default_prefetch_window(),
            sources: Default::default(),
            intake_per_minute: default_intake_per_minute(),
            intake_burst: default_intake_burst(),
            intake_leads_per_minute: default_intake_leads_per_minute(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[alerts]`: where reply, booking, hot, bounce and in-doubt alerts are
/// posted. The URLs carry their own credentials (a Slack incoming-webhook
/// URL is its key), so they are secrets and never logged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Slack (or compatible) incoming-webhook URL; gets `{"text": "..."}`.
    #[serde(default)]
    pub slack_webhook_url: Secret,
    /// Gets a JSON event signed with `crm_webhook_secret`.
    #[serde(default)]
    pub crm_webhook_url: Secret,
    /// Key of the `X-Nudge-Signature` HMAC-SHA256 over the CRM body.
    #[serde(default)]
    pub crm_webhook_secret: Secret,
    /// Whether alerts ring the terminal bell in the TUI; unset falls back to
    /// the older `[tui] bell`.
    #[serde(default, deserialize_with = "option_bool_or_string")]
    pub bell: Option<bool>,
}

impl AlertSettings {
    /// Whether the TUI rings the bell on an alert: `[alerts] bell`, else
    /// `[tui] bell`.
    pub fn bell(&self, tui: &TuiSettings) -> bool {
        self.bell.unwrap_or(tui.bell)
    }
}

/// `[hooks]`: secrets that authenticate inbound webhooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSettings {
    /// Verifies `X-Twilio-Signature` on inbound SMS (defaults to `[sms] auth_token`).
    #[serde(default)]
    pub twilio_auth_token: Secret,
    /// Verifies `X-Cal-Signature-256` on Cal.com booking webhooks.
    #[serde(default)]
    pub cal_secret: Secret,
    /// Verifies `Calendly-Webhook-Signature` on Calendly booking webhooks.
    #[serde(default)]
    pub calendly_signing_key: Secret,
}

/// `[imap]`: the founder's inbox, watched inside `nudge serve` so a reply
/// stops the sequence without anyone pressing a key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    /// `imaps://host:993` (implicit TLS), `imap://host:143` (STARTTLS), or
    /// `imap://127.0.0.1:1143?tls=none` for a local server (plain only to
    /// localhost). Empty turns the watcher off.
    #[serde(default)]
    pub url: String,
    /// Login name.
    #[serde(default)]
    pub user: String,
    /// Login password; never logged.
    #[serde(default)]
    pub password: Secret,
    /// The folder replies land in.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// PEM file of extra CA certificates to trust (a private CA or a
    /// self-signed server); the public web PKI is always trusted.
    #[serde(default)]
    pub ca_file: String,
    /// How long an auto-reply without a readable return date postpones the next touch.
    #[serde(
        default = "default_ooo_delay_hours",
        deserialize_with = "number_or_string"
    )]
    pub ooo_delay_hours: u64,
    /// Soft bounces (mailbox full, delayed) in a row that count as a hard bounce.
    #[serde(
        default = "default_soft_bounce_limit",
        deserialize_with = "number_or_string"
    )]
    pub soft_bounce_limit: u64,
    /// How long sends to a domain pause after it refused our mail on
    /// policy grounds (SPF/DKIM/DMARC, blocklists, rate limits).
    #[serde(
        default = "default_policy_pause_hours",
        deserialize_with = "number_or_string"
    )]
    pub policy_pause_hours: u64,
}

fn default_soft_bounce_limit() -> u64 {
    3
}

fn default_policy_pause_hours() -> u64 {
    24
}

fn default_mailbox() -> String {
    "INBOX".into()
}

fn default_ooo_delay_hours() -> u64 {
    72
}

impl Default for ImapSettings {
    fn default() -> Self {
        ImapSettings {
            url: String::new(),
            user: String::new(),
            password: Secret::default(),
            mailbox: default_mailbox(),
            ca_file: String::new(),
            ooo_delay_hours: default_ooo_delay_hours(),
            soft_bounce_limit: default_soft_bounce_limit(),
            policy_pause_hours: default_policy_pause_hours(),
        }
    }
}

/// `[general]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// Zone for leads without one; sending windows are in the lead's zone.
    #[serde(default = "default_tz")]
    pub default_tz: Tz,
    /// ISO country for phone numbers written without `+country`, e.g. `US`.
    #[serde(default)]
    pub default_region: Option<String>,
}

fn default_tz() -> Tz {
    Tz::UTC
}

impl Default for General {
    fn default() -> Self {
        General {
            default_tz: default_tz(),
            default_region: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sled page cache in MiB; sled's default (1 GiB) is far too much for a small server.
    #[serde(default = "default_cache_mb", deserialize_with = "number_or_string")]
    pub cache_mb: u64,
    /// Free space (MiB) the data dir's filesystem must keep; new leads are
    /// refused below it. Default: 64 MiB or 5% of the filesystem, whichever is larger.
    #[serde(default)]
    pub min_free_mb: Option<u64>,
}

fn default_cache_mb() -> u64 {
    32
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_mb: default_cache_mb(),
            min_free_mb: None,
        }
    }
}

/// Accepts `64` from the file or `"64"` from an environment variable.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Num(n) => Ok(n),
        Raw::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number"))),
    }
}

/// Accepts `true` from the file or `"true"` from an environment variable.
fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Bool(b) => Ok(b),
        Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not true or false"
            ))),
        },
    }
}

/// [`bool_or_string`] for a key that may be left out.
fn option_bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool_or_string(d).map(Some)
}

/// A config problem, located in the file or the environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file was asked for but cannot be read.
    #[error("cannot read config file {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad TOML or a bad value in the file.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A bad value in an environment variable.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// No home directory to put files in.
    #[error("cannot find a home directory; pass --config and --data-dir")]
    NoHome,
}

impl Config {
    /// Loads the file (missing is fine unless it was named explicitly), then
    /// applies `NUDGE_<SECTION>_<KEY>` variables from `env`, which win.
    pub fn load(
        paths: &Paths,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(&paths.config_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.config_explicit => {
                String::new()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: paths.config_file.clone(),
                    source,
                });
            }
        };
        Config::parse(&paths.config_file, &text, env)
    }

    /// Parses config text plus environment overrides.
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |span, message: String| {
            let (line, column, field) = locate(text, span);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                field,
                message,
            }
        };
        // The file alone first, so its errors point at its lines.
        let mut config: Config =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        // Then each override in turn, so a bad one is named.
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        vars.sort();
        for (var, value) in vars {
            let Some((section, key)) = var.strip_prefix("NUDGE_").and_then(|r| r.split_once('_'))
            else {
                continue;
            };
            let section = section.to_ascii_lowercase();
            if !SECTIONS.contains(&section.as_str()) {
                continue;
            }
            if let toml::Value::Table(t) = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                t.insert(key.to_ascii_lowercase(), toml::Value::String(value));
            }
            config = Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Env {
                    var: var.clone(),
                    message: e.message().trim().to_string(),
                }
            })?;
        }
        Ok(config)
    }
}

/// The commented config `nudge init` writes.
pub const CONFIG_TEMPLATE: &str = include_str!("template.toml");

#[cfg(test)]
mod tests;
