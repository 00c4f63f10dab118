//! IMAP reply watch: the founder's inbox, watched inside `nudge serve`, so a
//! reply stops the sequence, an out-of-office postpones it and a bounce
//! marks the lead, without anyone pressing a key.
//!
//! * [`Watcher::run`] connects (TLS via rustls, or plain to localhost only),
//!   logs in, selects the mailbox and handles every message that arrives
//!   after it first saw the mailbox: with IDLE when the server offers it,
//!   polling otherwise, reconnecting with exponential backoff.
//! * Exactly once: the mailbox's UIDVALIDITY and the last handled UID are
//!   stored (`imap_state` tree) after each message. If UIDVALIDITY changes,
//!   the watcher restarts from the current UIDNEXT rather than re-reading
//!   the whole mailbox. The effects are idempotent too (a second "replied"
//!   on a replied lead is refused by the status machine and kept as a note),
//!   so a crash between handling and storing the UID changes nothing.
//! * [`classify`] is pure: a message's bytes in, a [`Signal`] out.
//!   [`handle`] finds the lead (nudge's own Message-ID in In-Reply-To or
//!   References, the bounce's recipient or embedded Message-ID, or the
//!   sender's address) and applies the signal through the [`Engine`].
//!
//! Messages are fetched with `BODY.PEEK[]`, so nothing is marked read.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use futures_util::TryStreamExt;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::config::{ImapSettings, Secret};
use crate::domain::event::EventKind;
use crate::domain::lead::{Lead, LeadId, normalize_email};
use crate::domain::mark::{LeadUpdate, Mark, MarkError, reschedule};
use crate::domain::sequence::Channel;
use crate::domain::status::Status;
use crate::engine::{Engine, EngineError, UpdateContext};
use crate::store::StoreError;

/// Why the watcher could not start or lost its connection. Never carries
/// the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// `[imap] url` is malformed or unsafe.
    #[error("[imap] url: {0}")]
    Url(String),
    /// TCP or TLS failed.
    #[error("IMAP connection to {host}:{port}: {source}")]
    Connect {
        /// Server.
        host: String,
        /// Port.
        port: u16,
        /// What failed.
        source: std::io::Error,
    },
    /// The server refused the login.
    #[error("IMAP login as `{user}` refused: {reason}")]
    Login {
        /// Login name.
        user: String,
        /// The server's answer.
        reason: String,
    },
    /// The server misbehaved or the connection dropped.
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    /// The server refused `STARTTLS` (or dropped the connection instead);
    /// the login is never sent in clear text.
    #[error("IMAP server refused STARTTLS, so the login was not sent: {0}")]
    StartTls(async_imap::error::Error),
    /// `[imap] ca_file` cannot be used.
    #[error("[imap] ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The mailbox has no UIDVALIDITY, so messages cannot be tracked.
    #[error("IMAP mailbox `{0}` reports no UIDVALIDITY; cannot track messages")]
    NoUidValidity(String),
    /// Connecting took too long.
    #[error("IMAP server did not answer within {0:?}")]
    Timeout(Duration),
    /// Recording progress failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Applying a message failed in a way worth retrying.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Where the IMAP server is, parsed from `[imap] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
}

/// How the IMAP connection is protected, from the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte (port 993).
    ImplicitTls,
    /// `imap://`: plain greeting, then `STARTTLS` before the login (port
    /// 143); a server that refuses STARTTLS is an error, never a fallback.
    StartTls,
    /// `imap://…?tls=none`: clear text, loopback only.
    Plain,
}

impl FromStr for Endpoint {
    type Err = ImapError;

    /// `imaps://host[:993]` (implicit TLS), `imap://host[:143]` (STARTTLS),
    /// or `imap://127.0.0.1:1143?tls=none` (plain, loopback only: a password
    /// must not cross a network in clear).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |m: &str| ImapError::Url(m.to_string());
        let url = url::Url::parse(s.trim())
            .map_err(|e| bad(&format!("not a URL ({e}); expected imaps://host:993")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "put the login in [imap] user and password, not in the URL",
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let plain = url
            .query_pairs()
            .any(|(k, v)| k == "tls" && v.eq_ignore_ascii_case("none"));
        if let Some((key, _)) = url
            .query_pairs()
            .find(|(k, v)| k != "tls" || !v.eq_ignore_ascii_case("none"))
        {
            return Err(bad(&format!(
                "unknown query parameter `{key}`; only `tls=none` (plain, localhost only) is understood"
            )));
        }
        let security = match url.scheme() {
            "imaps" if !plain => Security::ImplicitTls,
            "imaps" => {
                return Err(bad(
                    "imaps:// is always TLS; use imap://…?tls=none for plain",
                ));
            }
            "imap" if plain => Security::Plain,
            "imap" => Security::StartTls,
            other => {
                return Err(bad(&format!(
                    "unknown scheme `{other}`; use imaps:// or imap:// (STARTTLS)"
                )));
            }
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if security == Security::Plain && !loopback {
            return Err(bad("plain IMAP (tls=none) is allowed only to localhost"));
        }
        let port = url.port().unwrap_or(match security {
            Security::ImplicitTls => 993,
            Security::StartTls | Security::Plain => 143,
        });
        Ok(Endpoint {
            host,
            port,
            security,
        })
    }
}

/// Timing of the watch loop; the defaults suit a real inbox, tests shorten them.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Wait between checks when the server has no IDLE.
    pub poll: Duration,
    /// Re-issue IDLE this often (servers drop idle clients after 30 min).
    pub idle_refresh: Duration,
    /// Use IDLE when offered; `false` forces polling.
    pub use_idle: bool,
    /// First reconnect wait; doubles per failure up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest reconnect wait.
    pub backoff_max: Duration,
    /// Limit for connecting, greeting and login.
    pub connect_timeout: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll: Duration::from_secs(60),
            idle_refresh: Duration::from_secs(25 * 60),
            use_idle: true,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(5 * 60),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// The byte stream under the IMAP client: TLS or (loopback) plain TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type ImapSession = Session<Box<dyn Io>>;

/// Watches one mailbox and turns its messages into lead signals.
pub struct Watcher {
    engine: Arc<Engine>,
    endpoint: Endpoint,
    /// Trusted roots: the public web PKI plus `[imap] ca_file`.
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    user: String,
    password: Secret,
    mailbox: String,
    ooo_delay: chrono::Duration,
    options: WatchOptions,
}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The lead replied; its sequence stopped.
    Replied(LeadId),
    /// An auto-reply postponed the lead's next touch until this instant.
    Postponed(LeadId, DateTime<Utc>),
    /// A permanent delivery failure for the lead.
    Bounced(LeadId),
    /// Not about any lead, or nothing nudge acts on.
    Ignored,
}

impl Watcher {
    /// The watcher `[imap]` asks for, or `None` when no URL is set.
    pub fn from_config(
        engine: Arc<Engine>,
        settings: &ImapSettings,
    ) -> Result<Option<Watcher>, ImapError> {
        if settings.url.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(Watcher {
            engine,
            endpoint: settings.url.parse()?,
            tls: tls_config(settings.ca_file.trim())?,
            user: settings.user.clone(),
            password: settings.password.clone(),
            mailbox: settings.mailbox.clone(),
            ooo_delay: chrono::Duration::hours(
                i64::try_from(settings.ooo_delay_hours).unwrap_or(i64::MAX / 3_600_000),
            ),
            options: WatchOptions::default(),
        }))
    }

    /// Replaces the timing (tests, benchmarks).
    pub fn with_options(mut self, options: WatchOptions) -> Watcher {
        self.options = options;
        self
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        format!(
            "imap: watching {} as {} at {}:{}{}",
            self.mailbox,
            self.user,
            self.endpoint.host,
            self.endpoint.port,
            match self.endpoint.security {
                Security::ImplicitTls => "",
                Security::StartTls => " (STARTTLS)",
                Security::Plain => " (plain)",
            }
        )
    }

    /// Watches until `shutdown` turns true, reconnecting with exponential
    /// backoff after any error.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.session(&mut shutdown, &mut failures).await {
                Ok(()) => return,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(&self.options, failures);
                    tracing::warn!(error = %e, retry_in = ?wait, "imap watch failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    /// Connects once, handles whatever is new and logs out; returns what
    /// each message did. For tests and one-shot checks.
    pub async fn sync(&self) -> Result<Vec<Handled>, ImapError> {
        let mut session = self.connect().await?;
        let handled = self.handle_new(&mut session).await?;
        let _ = session.logout().await;
        Ok(handled)
    }

    /// One connection's life: handle new messages, then wait (IDLE or poll)
    /// for more, until shutdown (`Ok`) or an error.
    async fn session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Result<(), ImapError> {
        let mut session = self.connect().await?;
        let idle = self.options.use_idle && session.capabilities().await?.has_str("IDLE");
        tracing::info!(mailbox = %self.mailbox, idle, "imap: watching");
        loop {
            session.noop().await?;
            self.handle_new(&mut session).await?;
            *failures = 0;
            let stop = if idle {
                let mut handle = session.idle();
                handle.init().await?;
                let stop = {
                    // Dropping `_interrupt` would end the wait at once.
                    let (wait, _interrupt) = handle.wait_with_timeout(self.options.idle_refresh);
                    tokio::select! {
                        result = wait => { result?; false }
                        _ = shutdown.wait_for(|stop| *stop) => true,
                    }
                };
                session = handle.done().await?;
                stop
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.options.poll) => false,
                    _ = shutdown.wait_for(|stop| *stop) => true,
                }
            };
            if stop {
                let _ = session.logout().await;
                return Ok(());
            }
        }
    }

    async fn connect(&self) -> Result<ImapSession, ImapError> {
        let limit = self.options.connect_timeout;
        tokio::time::timeout(limit, self.connect_inner())
            .await
            .map_err(|_| ImapError::Timeout(limit))?
    }

    async fn connect_inner(&self) -> Result<ImapSession, ImapError> {
        let Endpoint {
            host,
            port,
            security,
        } = &self.endpoint;
        let io_error = |source| ImapError::Connect {
            host: host.clone(),
            port: *port,
            source,
        };
        let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
            .await
            .map_err(io_error)?;
        tcp.set_nodelay(true).map_err(io_error)?;
        let greeting = |r: Option<_>| {
            r.map(|_| ()).ok_or(ImapError::Protocol(
                async_imap::error::Error::ConnectionLost,
            ))
        };
        let client = match security {
            Security::ImplicitTls => {
                let tls = tls_connect(&self.tls, host, tcp).await.map_err(io_error)?;
                let mut client = async_imap::Client::new(Box::new(tls) as Box<dyn Io>);
                greeting(client.read_response().await.map_err(io_error)?)?;
                client
            }
            Security::StartTls => {
                let mut plain = async_imap::Client::new(tcp);
                greeting(plain.read_response().await.map_err(io_error)?)?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(ImapError::StartTls)?;
                // Anything the server sent after its OK is dropped with the
                // plain client's buffer, so nothing sent in clear text can
                // pose as part of the encrypted session.
                let tls = tls_connect(&self.tls, host, plain.into_inner())
                    .await
                    .map_err(io_error)?;
                async_imap::Client::new(Box::new(tls) as Box<dyn Io>)
            }
            Security::Plain => {
                let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Io>);
                greeting(client.read_response().await.map_err(io_error)?)?;
                client
            }
        };
        let session = client
            .login(&self.user, self.password.expose())
            .await
            .map_err(|(e, _)| ImapError::Login {
                user: self.user.clone(),
                reason: e.to_string(),
            })?;
        Ok(session)
    }

    /// Selects the mailbox, fetches messages above the stored UID, applies
    /// each and stores its UID before the next.
    async fn handle_new(&self, session: &mut ImapSession) -> Result<Vec<Handled>, ImapError> {
        let mailbox = session.select(&self.mailbox).await?;
        let validity = mailbox
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(self.mailbox.clone()))?;
        let store = self.engine.store();
        let last = match store.imap_position(&self.mailbox)? {
            Some((seen, last)) if seen == validity => last,
            previous => {
                // First sight of this mailbox, or it was rebuilt: start at
                // what arrives from now on, never re-read old mail.
                let next = match mailbox.uid_next {
                    Some(next) => next,
                    None => session
                        .uid_search("ALL")
                        .await?
                        .into_iter()
                        .max()
                        .map_or(1, |m| m.saturating_add(1)),
                };
                let start = next.saturating_sub(1);
                if previous.is_some() {
                    tracing::warn!(mailbox = %self.mailbox, "imap: UIDVALIDITY changed; starting after UID {start}");
                }
                store.set_imap_position(&self.mailbox, validity, start)?;
                start
            }
        };
        let mut fetched: Vec<(u32, Vec<u8>)> = session
            .uid_fetch(format!("{}:*", last.saturating_add(1)), "(UID BODY.PEEK[])")
            .await?
            .try_filter_map(|f| async move {
                Ok(f.uid
                    .filter(|uid| *uid > last)
                    .map(|uid| (uid, f.body().unwrap_or_default().to_vec())))
            })
            .try_collect()
            .await?;
        fetched.sort_by_key(|(uid, _)| *uid);
        let mut handled = Vec::with_capacity(fetched.len());
        for (uid, raw) in fetched {
            let engine = self.engine.clone();
            let delay = self.ooo_delay;
            let outcome = tokio::task::spawn_blocking(move || handle(&engine, &raw, delay))
                .await
                .map_err(|e| ImapError::Url(format!("message handler panicked: {e}")));
            let outcome = match outcome? {
                Ok(outcome) => outcome,
                // Worth retrying: the store, or a lead changing under us.
                Err(e @ (EngineError::Store(_) | EngineError::Contended(_))) => {
                    return Err(e.into());
                }
                Err(e) => {
                    tracing::warn!(uid, error = %e, "imap: message skipped");
                    Handled::Ignored
                }
            };
            tracing::info!(uid, outcome = ?outcome, "imap: message handled");
            store.set_imap_position(&self.mailbox, validity, uid)?;
            handled.push(outcome);
        }
        Ok(handled)
    }
}

/// Reconnect wait after `failures` consecutive failures: doubling, capped.
fn backoff(options: &WatchOptions, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    options
        .backoff_base
        .saturating_mul(factor)
        .min(options.backoff_max)
}

/// The TLS client settings: the public web PKI's roots, plus the PEM
/// certificates in `ca_file` when set (a private CA, a self-signed server).
fn tls_config(ca_file: &str) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, ImapError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = crate::tls::web_roots();
    if !ca_file.is_empty() {
        let bad = |why: String| ImapError::CaFile {
            path: ca_file.to_string(),
            reason: why,
        };
        let pem = std::fs::read(ca_file).map_err(|e| bad(e.to_string()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("not PEM certificates ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("not a usable CA certificate ({e})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("holds no PEM certificate".into()));
        }
    }
    crate::tls::client_config(roots).map_err(|e| ImapError::Url(format!("cannot set up TLS: {e}")))
}

async fn tls_connect(
    config: &Arc<tokio_rustls::rustls::ClientConfig>,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
}

/// What a message means, before any lead is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A permanent delivery failure (RFC 3464 report).
    Bounce {
        /// Failed recipients, normalised.
        recipients: Vec<String>,
        /// Message-IDs of the bounced original, without brackets.
        message_ids: Vec<String>,
        /// The server's diagnostic.
        reason: String,
    },
    /// An automatic answer (out of office, vacation): not a reply.
    AutoReply {
        /// Sender address.
        from: Option<String>,
        /// In-Reply-To and References ids, without brackets.
        thread: Vec<String>,
        /// Subject line.
        subject: String,
        /// The return date, when the text names one.
        back_on: Option<NaiveDate>,
    },
    /// Anything else from a person.
    Reply {
        /// Sender address.
        from: Option<String>,
        /// In-Reply-To and References ids, without brackets.
        thread: Vec<String>,
        /// Subject line.
        subject: String,
    },
}

/// Reads a raw message: a bounce, an auto-reply or a possible reply.
/// `None` when it is not a message or is a non-permanent delivery report.
/// `today` anchors return dates written without a year.
pub fn classify(raw: &[u8], today: NaiveDate) -> Option<Signal> {
    let message = MessageParser::default().parse(raw)?;
    if is_delivery_report(&message) {
        return bounce(&message);
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    let mut thread = ids(message.in_reply_to());
    thread.extend(ids(message.references()));
    let subject = message.subject().unwrap_or_default().to_string();
    if is_auto_reply(&message, &subject) {
        let text = message.body_text(0).unwrap_or_default();
        return Some(Signal::AutoReply {
            from,
            thread,
            back_on: return_date(&text, today),
            subject,
        });
    }
    Some(Signal::Reply {
        from,
        thread,
        subject,
    })
}

/// A header's text, its name matched without regard to case.
fn header<'a>(message: &'a Message<'_>, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .and_then(|h| h.value().as_text())
        .map(str::trim)
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .flat_map(|v| v.split_whitespace())
        .map(normalise_id)
        .filter(|id| !id.is_empty())
        .collect()
}

fn normalise_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

fn is_delivery_report(message: &Message<'_>) -> bool {
    message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    })
}

/// The permanent failures of a delivery report, or `None` for a delay or
/// success notice.
fn bounce(message: &Message<'_>) -> Option<Signal> {
    let mut recipients = Vec::new();
    let mut message_ids = Vec::new();
    let mut reasons = Vec::new();
    for part in &message.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let subtype = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                let text = String::from_utf8_lossy(part.contents());
                for block in status_blocks(&text) {
                    let field = |name: &str| {
                        block
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.as_str())
                    };
                    let status = field("Status").unwrap_or_default();
                    let failed = field("Action").is_some_and(|a| a.eq_ignore_ascii_case("failed"));
                    let permanent = status.starts_with('5') || (failed && status.is_empty());
                    let recipient = field("Original-Recipient").or(field("Final-Recipient"));
                    if let (true, Some(recipient)) = (permanent, recipient) {
                        let address = recipient.rsplit(';').next().unwrap_or(recipient);
                        if let Ok(address) =
                            normalize_email(address.trim().trim_matches(|c| c == '<' || c == '>'))
                        {
                            recipients.push(address);
                        }
                        reasons.push(
                            field("Diagnostic-Code")
                                .map(|d| d.rsplit(';').next().unwrap_or(d).trim().to_string())
                                .unwrap_or_else(|| format!("status {status}")),
                        );
                    }
                }
            }
            ("message", "rfc822" | "global") => {
                if let Some(id) = part.message().and_then(|m| m.message_id()) {
                    message_ids.push(normalise_id(id));
                }
            }
            ("text", "rfc822-headers") => {
                if let Some(id) = MessageParser::default()
                    .parse_headers(part.contents())
                    .as_ref()
                    .and_then(|m| m.message_id())
                {
                    message_ids.push(normalise_id(id));
                }
            }
            _ => {}
        }
    }
    if reasons.is_empty() {
        return None;
    }
    Some(Signal::Bounce {
        recipients,
        message_ids,
        reason: reasons.join("; "),
    })
}

/// The field blocks of a `message/delivery-status` body (RFC 3464): the
/// per-message block, then one per recipient; folded lines unfolded.
fn status_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if blocks.last().is_some_and(|b| !b.is_empty()) {
                blocks.push(Vec::new());
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = blocks.last_mut().and_then(|b| b.last_mut()) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let (Some(block), Some((name, value))) = (blocks.last_mut(), line.split_once(':'))
        {
            block.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    blocks
}

/// Subjects of automatic answers, lower case, in the languages nudge's users write.
const AUTO_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
];

fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    let auto_submitted = header(message, "Auto-Submitted").is_some_and(|v| {
        let kind = v.split(';').next().unwrap_or_default().trim();
        !kind.is_empty() && !kind.eq_ignore_ascii_case("no")
    });
    let precedence = header(message, "Precedence").is_some_and(|v| {
        ["auto_reply", "bulk", "junk"]
            .iter()
            .any(|p| v.eq_ignore_ascii_case(p))
    });
    let flagged = ["X-Autoreply", "X-Autorespond"]
        .iter()
        .any(|h| header(message, h).is_some());
    let subject = subject.to_lowercase();
    auto_submitted || precedence || flagged || AUTO_SUBJECTS.iter().any(|s| subject.contains(s))
}

/// Words after which an auto-reply names its return date.
const RETURN_WORDS: &[&str] = &[
    "back",
    "return",
    "returning",
    "zurück",
    "wieder",
    "until",
    "bis",
    "retour",
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("januar", 1),
    ("jan", 1),
    ("february", 2),
    ("februar", 2),
    ("feb", 2),
    ("march", 3),
    ("märz", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("mai", 5),
    ("june", 6),
    ("juni", 6),
    ("jun", 6),
    ("july", 7),
    ("juli", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oktober", 10),
    ("oct", 10),
    ("okt", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dezember", 12),
    ("dec", 12),
    ("dez", 12),
];

/// The return date an auto-reply names ("back on 2026-12-04", "return on
/// December 4", "ab 04.12.2026 wieder"), within a year after `today`. The
/// first date after a return word wins; otherwise the latest date named.
pub fn return_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let lower = text.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    let plausible = |d: NaiveDate| d > today && d <= today + chrono::Duration::days(366);
    let mut dates = Vec::new();
    let mut after_word = None;
    let mut since_word: Option<usize> = None;
    for i in 0..tokens.len() {
        let word = tokens[i].trim_matches(|c: char| !c.is_alphanumeric());
        if RETURN_WORDS.contains(&word) {
            since_word = Some(0);
        }
        if let Some(date) = date_at(&tokens[i..], today).filter(|d| plausible(*d)) {
            if after_word.is_none() && since_word.is_some_and(|n| n <= 6) {
                after_word = Some(date);
            }
            dates.push(date);
        }
        since_word = since_word.map(|n| n + 1);
    }
    after_word.or_else(|| dates.into_iter().max())
}

/// A date starting at `tokens[0]`, if one does.
fn date_at(tokens: &[&str], today: NaiveDate) -> Option<NaiveDate> {
    let first = tokens.first()?.trim_end_matches(['.', ';', ':', '!']);
    let first = first.trim_start_matches(|c: char| !c.is_alphanumeric());
    if let Ok(date) = NaiveDate::parse_from_str(first, "%Y-%m-%d") {
        return Some(date);
    }
    if let Ok(date) = NaiveDate::parse_from_str(first, "%d.%m.%Y") {
        return Some(date);
    }
    let year = |i: usize| {
        tokens
            .get(i)
            .map(|t| t.trim_matches(|c: char| !c.is_ascii_digit()))
            .filter(|t| t.len() == 4)
            .and_then(|t| t.parse::<i32>().ok())
    };
    // "4.12." (German, no year)
    if let Some((d, m)) = tokens[0].trim_end_matches('.').split_once('.')
        && let (Ok(d), Ok(m)) = (d.parse::<u32>(), m.parse::<u32>())
    {
        return resolve_year(d, m, None, today);
    }
    // "december 4[, 2026]"
    if let Some(month) = month(first)
        && let Some(day) = tokens.get(1).and_then(|t| day(t))
    {
        return resolve_year(day, month, year(2), today);
    }
    // "4 december [2026]", "4. dezember"
    if let Some(day) = day(tokens[0])
        && let Some(month) = tokens.get(1).and_then(|t| month(t))
    {
        return resolve_year(day, month, year(2), today);
    }
    None
}

fn month(token: &str) -> Option<u32> {
    let word = token.trim_end_matches(|c: char| !c.is_alphabetic());
    MONTHS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, m)| *m)
}

fn day(token: &str) -> Option<u32> {
    let token = token.trim_end_matches(['.', ',', ';', ':']);
    let token = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| token.strip_suffix(s))
        .unwrap_or(token);
    token.parse::<u32>().ok().filter(|d| (1..=31).contains(d))
}

/// A day and month, in `year` or else on their next occurrence after `today`.
fn resolve_year(day: u32, month: u32, year: Option<i32>, today: NaiveDate) -> Option<NaiveDate> {
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => NaiveDate::from_ymd_opt(today.year(), month, day)
            .filter(|d| *d > today)
            .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, month, day)),
    }
}

/// The lead a Message-ID nudge sent belongs to: nudge's ids are
/// `<LEADID-STEP@domain>` (see [`crate::domain::touch::message_id`]), and the
/// stored touch must carry exactly that id, so a look-alike cannot match.
fn lead_of_message_id(engine: &Engine, id: &str) -> Result<Option<LeadId>, EngineError> {
    let Some((local, _)) = id.split_once('@') else {
        return Ok(None);
    };
    let Some((lead, step)) = local.rsplit_once('-') else {
        return Ok(None);
    };
    let (Ok(lead), Ok(step)) = (lead.parse::<LeadId>(), step.parse::<u32>()) else {
        return Ok(None);
    };
    let Some(index) = step.checked_sub(1) else {
        return Ok(None);
    };
    let touch = engine.store().touch(lead, index)?;
    Ok(touch
        .and_then(|t| t.message_id)
        .filter(|sent| normalise_id(sent) == id)
        .map(|_| lead))
}

/// The lead a reply or auto-reply is about: the thread first (a rewritten
/// subject or another sending address still matches), then the sender.
fn lead_of(
    engine: &Engine,
    thread: &[String],
    from: Option<&str>,
) -> Result<Option<LeadId>, EngineError> {
    for id in thread {
        if let Some(lead) = lead_of_message_id(engine, id)? {
            return Ok(Some(lead));
        }
    }
    match from.and_then(|f| normalize_email(f).ok()) {
        Some(email) => Ok(engine.store().lead_by_contact(&email)?),
        None => Ok(None),
    }
}

/// Applies one raw message to the lead it is about. Blocking (it flushes).
pub fn handle(
    engine: &Engine,
    raw: &[u8],
    ooo_delay: chrono::Duration,
) -> Result<Handled, EngineError> {
    let now = engine.now();
    let Some(signal) = classify(raw, now.date_naive()) else {
        return Ok(Handled::Ignored);
    };
    match signal {
        Signal::Reply {
            from,
            thread,
            subject,
        } => {
            let Some(id) = lead_of(engine, &thread, from.as_deref())? else {
                return Ok(Handled::Ignored);
            };
            let note = format!("email reply: {}", one_line(&subject));
            match engine.mark(id, Mark::Replied, Some(&note)) {
                Ok(_) => {}
                // Already replied (or opted out): keep the message as a note.
                Err(EngineError::Mark(MarkError::Illegal(_))) => {
                    engine.record(id, EventKind::Note { text: note.clone() })?;
                }
                Err(e) => return Err(e),
            }
            engine.activity(id, note);
            Ok(Handled::Replied(id))
        }
        Signal::AutoReply {
            from,
            thread,
            subject,
            back_on,
        } => {
            let Some(id) = lead_of(engine, &thread, from.as_deref())? else {
                return Ok(Handled::Ignored);
            };
            let lead = engine
                .store()
                .lead(id)?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            let tz = lead.tz.unwrap_or(engine.settings().default_tz);
            let until = back_on
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|d| tz.from_local_datetime(&d).earliest())
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or(now + ooo_delay);
            let text = format!(
                "auto-reply ({}): next touch not before {}",
                one_line(&subject),
                until.to_rfc3339()
            );
            engine.record(id, EventKind::Note { text: text.clone() })?;
            engine.snooze(id, until)?;
            engine.activity(id, text);
            Ok(Handled::Postponed(id, until))
        }
        Signal::Bounce {
            recipients,
            message_ids,
            reason,
        } => {
            let mut lead = None;
            for id in &message_ids {
                lead = lead.or(lead_of_message_id(engine, id)?);
            }
            for email in &recipients {
                if lead.is_none() {
                    lead = engine.store().lead_by_contact(email)?;
                }
            }
            let Some(id) = lead else {
                return Ok(Handled::Ignored);
            };
            engine.update(id, |current, _, ctx| {
                Ok::<_, EngineError>(bounce_update(current, &reason, ctx))
            })?;
            engine.activity(id, format!("email bounced: {reason}"));
            Ok(Handled::Bounced(id))
        }
    }
}

/// A bounce report, decided as the worker decides a permanent SMTP
/// failure: email is blocked for the lead; a lead with no other channel
/// becomes `bounced` (if its status allows), others continue by SMS/call.
fn bounce_update(current: &Lead, reason: &str, ctx: &UpdateContext<'_>) -> LeadUpdate {
    let mut lead = current.clone();
    let mut events = Vec::new();
    let last_email_step = ctx.events.iter().rev().find_map(|e| match &e.kind {
        EventKind::TouchSent {
            step,
            channel: Channel::Email,
            ..
        } => Some(step.clone()),
        _ => None,
    });
    let mut history = ctx.events.to_vec();
    if let Some(step) = last_email_step {
        let failed = EventKind::TouchFailed {
            step,
            channel: Channel::Email,
            reason: reason.to_string(),
            permanent: true,
            gave_up: false,
        };
        history.push(crate::domain::event::Event {
            at: ctx.now,
            kind: failed.clone(),
        });
        events.push(failed);
    }
    events.push(EventKind::Bounced {
        reason: reason.to_string(),
    });
    if lead.phone.is_none() || history.len() == ctx.events.len() {
        if lead.status.transition(Status::Bounced).is_ok() {
            lead.status = Status::Bounced;
            lead.next = None;
        }
    } else if lead.status.is_sendable() {
        events.extend(reschedule(
            &mut lead,
            ctx.sequence,
            &history,
            ctx.now,
            ctx.settings.default_tz,
        ));
    }
    LeadUpdate::of(lead, events)
}

fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "(no subject)".into()
    } else {
        line.chars().take(120).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn return_dates_in_common_shapes() {
        let t = today();
        assert_eq!(return_date("I am back on 2026-12-04.", t), ymd(2026, 12, 4));
        assert_eq!(
            return_date("I will return on December 4, answering then.", t),
            ymd(2026, 12, 4)
        );
        assert_eq!(return_date("back on Dec 4th 2026", t), ymd(2026, 12, 4));
        assert_eq!(
            return_date("Ab dem 04.12.2026 bin ich wieder erreichbar", t),
            ymd(2026, 12, 4)
        );
        assert_eq!(return_date("Bis 4. Dezember abwesend", t), ymd(2026, 12, 4));
        assert_eq!(
            return_date("Out from 2026-06-10, back on 2026-06-20", t),
            ymd(2026, 6, 20)
        );
        // Year-less dates are the next one; past and far dates are not return dates.
        assert_eq!(return_date("back on March 3", t), ymd(2027, 3, 3));
        assert_eq!(return_date("back on 2025-01-01", t), None);
        assert_eq!(return_date("I am travelling, limited access", t), None);
    }

    #[test]
    fn endpoints_refuse_plain_remote_and_credentials_in_urls() {
        let e: Endpoint = "imaps://imap.example.com".parse().unwrap();
        assert_eq!((e.port, e.security), (993, Security::ImplicitTls));
        let e: Endpoint = "imap://127.0.0.1:1143?tls=none".parse().unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.security),
            ("127.0.0.1", 1143, Security::Plain)
        );
        let e: Endpoint = "imap://imap.example.com".parse().unwrap();
        assert_eq!((e.port, e.security), (143, Security::StartTls));
        let e: Endpoint = "imap://imap.example.com:1143".parse().unwrap();
        assert_eq!((e.port, e.security), (1143, Security::StartTls));
        for bad in [
            "imap://imap.example.com:143?tls=none",
            "imaps://imap.example.com?tls=none",
            "imap://imap.example.com?tls=maybe",
            "imaps://sam:hunter2@imap.example.com",
            "pop3://x",
        ] {
            let err = bad.parse::<Endpoint>().unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn auto_reply_headers_and_subjects() {
        let msg = |headers: &str| {
            format!("From: a@example.org\r\n{headers}\r\n\r\nI am away, back on 2026-06-15.\r\n")
        };
        for h in [
            "Subject: Re: hi\r\nAuto-Submitted: auto-replied",
            "Subject: Re: hi\r\nX-Autoreply: yes",
            "Subject: Re: hi\r\nPrecedence: bulk",
            "Subject: Automatic reply: hi",
            "Subject: Abwesenheitsnotiz: hi",
        ] {
            match classify(msg(h).as_bytes(), today()) {
                Some(Signal::AutoReply { back_on, .. }) => assert_eq!(back_on, ymd(2026, 6, 15)),
                other => panic!("{h}: {other:?}"),
            }
        }
        let real = msg("Subject: Re: hi\r\nAuto-Submitted: no");
        assert!(matches!(
            classify(real.as_bytes(), today()),
            Some(Signal::Reply { .. })
        ));
    }

    #[test]
    fn delay_notices_are_not_bounces() {
        let dsn = "From: MAILER-DAEMON@mx.example.org\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nDelayed.\r\n\
            --b\r\nContent-Type: message/delivery-status\r\n\r\n\
            Reporting-MTA: dns; mx.example.org\r\n\r\n\
            Final-Recipient: rfc822; ada@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n\
            --b--\r\n";
        assert_eq!(classify(dsn.as_bytes(), today()), None);
        let hard = dsn
            .replace("Action: delayed", "Action: failed")
            .replace("4.4.1", "5.1.1");
        match classify(hard.as_bytes(), today()) {
            Some(Signal::Bounce { recipients, .. }) => {
                assert_eq!(recipients, vec!["ada@example.com".to_string()])
            }
            other => panic!("{other:?}"),
        }
    }
}
