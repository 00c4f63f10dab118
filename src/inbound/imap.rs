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
//! * What a message is (reply, auto-reply, bounce, challenge) is decided
//!   purely in [`crate::domain::mail`]. [`handle`] finds the lead (nudge's
//!   own Message-ID in In-Reply-To or References or in the returned
//!   original, then the bounce's recipient or the sender's address) and
//!   applies the verdict through the [`Engine`] (`domain::mail::effect`).
//!
//! Messages are fetched with `BODY.PEEK[]`, so nothing is marked read.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::config::{ImapSettings, Secret};
use crate::domain::lead::LeadId;
use crate::engine::{Engine, EngineError};
use crate::store::StoreError;

mod apply;

pub use apply::{MailRules, handle};

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
    rules: MailRules,
    options: WatchOptions,
}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The lead replied; its sequence stopped.
    Replied(LeadId),
    /// An auto-reply postponed the lead's next touch until this instant.
    Postponed(LeadId, DateTime<Utc>),
    /// A permanent delivery failure for the lead (a hard bounce, the last
    /// of too many soft ones, or a retired address).
    Bounced(LeadId),
    /// A temporary delivery failure, counted.
    SoftBounced(LeadId),
    /// A policy rejection of our mail: the founder was alerted on this
    /// lead and sends to its domain paused.
    Policy(LeadId),
    /// The lead was paused and the founder alerted (a new address, a
    /// challenge-response filter).
    Attention(LeadId),
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
            rules: MailRules::from_settings(settings),
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
            let rules = self.rules;
            let outcome = tokio::task::spawn_blocking(move || handle(&engine, &raw, &rules))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
