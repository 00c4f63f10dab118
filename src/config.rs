//! Configuration: the TOML file, `NUDGE_<SECTION>_<KEY>` overrides, and the
//! config and data directories.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use crate::domain::render::Sender;
use crate::domain::toml_pos::locate;

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

/// A secret from the file or the environment. Its `Debug` and `Display` never
/// show the value, so it cannot leak into logs, errors or the screen.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is unset or blank.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
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

/// Where nudge keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (may not exist).
    pub config_file: PathBuf,
    /// Holds `config.toml`, `sequences/` and `themes/`.
    pub config_dir: PathBuf,
    /// The sled database.
    pub data_dir: PathBuf,
    /// Whether the config file was named explicitly (then it must exist).
    pub config_explicit: bool,
}

impl Paths {
    /// Resolves directories: explicit paths win, else the platform's
    /// (`~/.config/nudge`, `~/.local/share/nudge` on Linux).
    pub fn resolve(
        config: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> Result<Paths, ConfigError> {
        let project = directories::ProjectDirs::from("", "", "nudge");
        let config_explicit = config.is_some();
        let config_file = match config {
            Some(file) => file,
            None => project
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .config_dir()
                .join("config.toml"),
        };
        let config_dir = config_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let data_dir = match data_dir {
            Some(dir) => dir,
            None => project
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .data_dir()
                .to_path_buf(),
        };
        Ok(Paths {
            config_file,
            config_dir,
            data_dir,
            config_explicit,
        })
    }
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
pub const CONFIG_TEMPLATE: &str = r#"# nudge configuration.
# Every key can also be set with an environment variable NUDGE_<SECTION>_<KEY>,
# which wins over this file, e.g. NUDGE_GENERAL_DEFAULT_TZ=Europe/Berlin.

[general]
# Time zone for leads that have none; sending windows are in the lead's zone.
default_tz = "UTC"
# Country for phone numbers written without +<country>, e.g. "US" or "DE".
# default_region = "US"

[sender]
# Fill the sender_name, sender_company and booking_url template variables.
name = ""
company = ""
booking_url = ""

[store]
# sled page cache in MiB.
cache_mb = 32
# New leads are refused when the data dir's filesystem has less free space
# than this (MiB); default: 64 MiB or 5% of the filesystem, whichever is larger.
# min_free_mb = 64

# Channels without complete settings run dry: messages are rendered and
# recorded in the outbox, marked dry-run, and never sent.

[email]
# lettre URL: smtps://user:pass@host (implicit TLS), smtp://user:pass@host:587
# (STARTTLS), smtp://127.0.0.1:2525?tls=none (plain; localhost only unless
# allow_plain = true). Prefer NUDGE_EMAIL_SMTP_URL to keep the password out of files.
# smtp_url = "smtps://user:pass@smtp.example.com"
# from = "Sam Founder <sam@example.com>"
# reply_to = "sam@example.com"
# postal_address = "Example Inc, 1 Main St, Springfield"
daily_cap = 0

[sms]
# Twilio Messaging API; NUDGE_SMS_AUTH_TOKEN keeps the token out of files.
# account_sid = "AC..."
# auth_token = "..."
# from = "+15005550006"            # or messaging_service_sid = "MG..."
# base_url = "https://api.twilio.com"
daily_cap = 0

[call]
# "task": a due call shows up for you; finish it with `nudge mark ID called`.
# "twilio": place the call with the [sms] account and fetch twiml_url.
mode = "task"
# twiml_url = "https://example.com/voice.xml"

[ai]
# Any OpenAI-compatible chat-completions endpoint (hosted, Ollama, llama.cpp).
# base_url = "http://127.0.0.1:11434/v1"
# model = "llama3.1"
# api_key = ""                     # or NUDGE_AI_API_KEY
timeout_secs = 20

[engine]
# Attempts per touch before it is marked failed; retries back off
# exponentially from retry_base_secs (with jitter, capped at 6 hours).
max_attempts = 6
retry_base_secs = 60
# Sends in flight at once; a crash leaves at most this many in doubt.
concurrency = 8
# Seconds between two sends, and most sends per minute (0 = no limit).
min_gap_secs = 0
rate_per_minute = 0
# A lead turns hot when its score (weights in the sequence's [rules.hot],
# by default opened 1, clicked 3, replied 10) reaches this; 0 = off.
hot_threshold = 5

[server]
# The inbound HTTP server (intake, unsubscribe, webhooks) runs inside
# `nudge serve` on this address; put a reverse proxy in front for the internet.
listen = "127.0.0.1:8787"
# Bearer token for POST /api/leads (or NUDGE_SERVER_INTAKE_TOKEN).
# intake_token = "a long random string"
# Base URL for links in messages (unsubscribe, tracking) and the inbound server.
# public_url = "https://nudge.example.com"
# link_secret = "a long random string"   # or NUDGE_SERVER_LINK_SECRET
# With both set, email links go through /c/{token} and HTML emails carry an
# open pixel (/o/{token}.gif); tracking = false turns that off.
tracking = true
# Opens and clicks this soon after sending are link scanners, not people.
prefetch_window_secs = 10
# Intake rate limits: each client IP may post this many leads a minute, with
# bursts up to intake_burst; all clients together may create at most
# intake_leads_per_minute new leads. Over a limit: 429 with Retry-After.
# 0 turns a limit off.
intake_per_minute = 60
intake_burst = 20
intake_leads_per_minute = 120
# Behind a reverse proxy, list its address (or CIDR range) so the client IP
# is read from X-Forwarded-For; from anyone else that header is ignored.
# trusted_proxies = ["127.0.0.1"]   # or NUDGE_SERVER_TRUSTED_PROXIES="127.0.0.1,::1"

# Map a source's form fields to ours, for POST /api/leads?source=webflow:
# [server.sources.webflow]
# name = "Full Name"
# email = "Email Address"

[hooks]
# Verifies X-Twilio-Signature on inbound SMS; defaults to [sms] auth_token.
# twilio_auth_token = "..."
# POST /hooks/booking: Cal.com's webhook secret (X-Cal-Signature-256) and
# Calendly's webhook signing key (Calendly-Webhook-Signature).
# cal_secret = "..."               # or NUDGE_HOOKS_CAL_SECRET
# calendly_signing_key = "..."     # or NUDGE_HOOKS_CALENDLY_SIGNING_KEY

[alerts]
# Replies, bookings, hot leads, bounces and in-doubt sends are posted here
# (retried with backoff, never slowing the engine). Both URLs are secrets.
# slack_webhook_url = "https://hooks.slack.com/services/..."  # or NUDGE_ALERTS_SLACK_WEBHOOK_URL
# crm_webhook_url = "https://crm.example.com/hooks/nudge"      # or NUDGE_ALERTS_CRM_WEBHOOK_URL
# crm_webhook_secret = "a long random string"                 # signs X-Nudge-Signature
# Ring the terminal bell in the TUI on every alert (each also raises a toast).
bell = true

[imap]
# Watch your inbox inside `nudge serve`: a reply stops the lead's sequence, an
# out-of-office postpones the next touch, a bounce marks the lead bounced.
# url = "imaps://imap.example.com:993"   # implicit TLS; imap://host:143 uses STARTTLS;
#                                        # imap://127.0.0.1:1143?tls=none is plain (localhost only)
# user = "sam@example.com"
# password = "..."                       # or NUDGE_IMAP_PASSWORD
mailbox = "INBOX"
# Extra CA certificates (PEM) to trust, for a private CA or a self-signed server.
# ca_file = "/etc/ssl/private-ca.pem"
# Postpone the next touch this long after an auto-reply without a return date.
ooo_delay_hours = 72
# Soft bounces (mailbox full, delayed, 4.x.x) in a row that count as a hard bounce.
soft_bounce_limit = 3
# After a policy rejection (SPF/DKIM/DMARC, blocklist, rate limit), pause
# sends to that domain this long and alert you.
policy_pause_hours = 24

[tui]
# dark, light, high-contrast, or the name of a file in themes/ (`t` cycles).
theme = "dark"
# auto (true colour when COLORTERM says so), truecolor, or 16.
colors = "auto"

[keys]
# Remap keys: KEY = "action". Keys: a character, enter, esc, tab, backtab,
# up, down, left, right, home, end, pageup, pagedown, space, ctrl-<char>.
# Actions: up, down, left, right, first, last, page-up, page-down, open, back,
# replied, booked, pause-resume, hand-off, opt-out, snooze, send-now, undo,
# next-screen, help, theme, toggle-done, quit.
# x = "replied"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn template_parses_and_env_wins() {
        let c = Config::parse(
            Path::new("c.toml"),
            CONFIG_TEMPLATE,
            env(&[
                ("NUDGE_GENERAL_DEFAULT_TZ", "Europe/Berlin"),
                ("NUDGE_STORE_CACHE_MB", "8"),
                ("NUDGE_DATA_DIR", "/tmp/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.general.default_tz, chrono_tz::Europe::Berlin);
        assert_eq!(c.store.cache_mb, 8);
    }

    #[test]
    fn alerts_bell_wins_over_the_older_tui_bell() {
        let parse = |text: &str, vars: &[(&str, &str)]| {
            let c = Config::parse(Path::new("c.toml"), text, env(vars)).unwrap();
            c.alerts.bell(&c.tui)
        };
        assert!(parse("", &[]));
        assert!(!parse("[tui]\nbell = false\n", &[]));
        assert!(parse("[tui]\nbell = false\n[alerts]\nbell = true\n", &[]));
        assert!(!parse(
            "[alerts]\nbell = true\n",
            &[("NUDGE_ALERTS_BELL", "false")]
        ));
        assert!(
            Config::parse(Path::new("c.toml"), "[alerts]\nbell = \"loud\"\n", env(&[])).is_err()
        );
    }

    #[test]
    fn file_errors_name_line_and_field() {
        let text = "[general]\ndefault_tz = \"Mars/Olympus\"\n";
        let e = Config::parse(Path::new("c.toml"), text, env(&[])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("c.toml:2:"), "{msg}");
        assert!(msg.contains("general.default_tz"), "{msg}");
    }

    #[test]
    fn intake_limits_and_trusted_proxies_parse_from_file_and_env() {
        let c = Config::parse(Path::new("c.toml"), "", env(&[])).unwrap();
        assert_eq!(
            (c.server.intake_per_minute, c.server.intake_burst),
            (60, 20)
        );
        assert!(c.server.trusted_proxies.is_empty());
        let text = "[server]\ntrusted_proxies = [\"10.0.0.1\", \"fd00::/8\"]\n";
        let c = Config::parse(Path::new("c.toml"), text, env(&[])).unwrap();
        let nets: Vec<String> = c
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.1/32", "fd00::/8"]);
        let c = Config::parse(
            Path::new("c.toml"),
            "",
            env(&[
                ("NUDGE_SERVER_TRUSTED_PROXIES", "127.0.0.1, ::1"),
                ("NUDGE_SERVER_INTAKE_BURST", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.server.intake_burst, 5);
        let e = Config::parse(
            Path::new("c.toml"),
            "[server]\ntrusted_proxies = [\"proxy.local\"]\n",
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("proxy.local"), "{e}");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = Config::parse(
            Path::new("c.toml"),
            "",
            env(&[("NUDGE_STORE_CACHE_MB", "lots")]),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("NUDGE_STORE_CACHE_MB") && msg.contains("lots"),
            "{msg}"
        );
        let e =
            Config::parse(Path::new("c.toml"), "", env(&[("NUDGE_SENDER_NMAE", "x")])).unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
    }
}
