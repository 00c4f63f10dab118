//! Email over SMTP: lettre builds the message and speaks SMTP over our own
//! pooled connections (`smtp_pool`, which sets `TCP_NODELAY`), with rustls.
//!
//! # Classifying failures (read before changing `classify`)
//!
//! A touch must go out at most once, so the question for every error is
//! "could the server have accepted the message?". `smtp_pool::transact`
//! records how far the transaction got, and that decides:
//!
//! * **Connecting** (DNS, TCP, TLS, greeting, EHLO, STARTTLS, AUTH, or the
//!   `NOOP` that checks a pooled connection): nothing was sent, and a server
//!   that turns us away says nothing about this lead, so every failure is
//!   [`SendError::Unavailable`]: the channel's breaker opens and touches
//!   wait without spending attempts. 530/534/535/538 are refused
//!   credentials, which wait for a fixed config.
//! * **`MAIL FROM`**: 4xx is transient; 5xx means the server refuses our
//!   sender, which is our configuration and not this lead, so it is
//!   transient too (retried, then failed visibly) with a hint.
//! * **`RCPT TO` and `DATA`**: the server's word on this recipient: 4xx is
//!   transient, 5xx permanent (the address is bad). An I/O error or a
//!   missing reply here is transient: the message was not written yet.
//! * **The message and the final dot**: a reply code is the server's
//!   definite word (4xx transient, 5xx permanent). Anything without a code,
//!   an I/O error or an EOF, may have come after the server queued the
//!   message, so it is **in doubt**.
//! * **Our own send timeout** (lettre's client has no read timeout, so a
//!   silent server would hang the worker) follows the same rule by phase:
//!   transient before the message was written, in doubt after. The cut-off
//!   connection is dropped, never parked, so no later send can read a stale
//!   reply.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::Address;
use lettre::message::dkim::DkimConfig;
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::TlsParameters;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::smtp_pool::{self, ConnectError, Connector, Phase, Pool, Progress, Protection};
use super::{ChannelError, Outgoing, Receipt, SendError, Transport, redact};
use crate::clock::{Clock, SystemClock};
use crate::config::{EmailSettings, Secret};

/// Limit for resolving and opening a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Limit for one whole send, connection included. RFC 5321 allows servers
/// up to 10 minutes after the final dot; two is plenty in practice and keeps
/// a stuck server from stalling the worker. Hitting it is in doubt.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// SMTP replies that mean "your credentials or auth setup are wrong".
const AUTH_FAILURES: &[u16] = &[530, 534, 535, 538];

/// How the connection is protected, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://` (or `?tls=required`): STARTTLS, refuse if not offered.
    StartTls,
    /// `?tls=opportunistic`: STARTTLS when offered, else clear text.
    Opportunistic,
    /// `?tls=none`: clear text.
    Plain,
}

impl Security {
    fn label(self) -> &'static str {
        match self {
            Security::ImplicitTls => "implicit TLS",
            Security::StartTls => "STARTTLS",
            Security::Opportunistic => "STARTTLS if offered",
            Security::Plain => "plain",
        }
    }
}

/// The parts of `smtp_url` we use; credentials stay secret.
struct Endpoint {
    scheme: &'static str,
    /// Host without IPv6 brackets (what the resolver and TLS want).
    host: String,
    port: u16,
    security: Security,
    hello_name: Option<String>,
    credentials: Option<(String, Secret)>,
}

impl Endpoint {
    /// `scheme://host:port` with brackets around IPv6, no user or password.
    fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}", self.scheme, self.port)
    }

    fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Parses `smtp_url`. Errors describe the problem but never repeat the URL,
/// which may hold a password.
fn parse_smtp_url(smtp_url: &Secret) -> Result<Endpoint, ChannelError> {
    let bad = |detail: &str| ChannelError::SmtpUrl(detail.to_string());
    let url = url::Url::parse(smtp_url.expose().trim())
        .map_err(|e| ChannelError::SmtpUrl(format!("not a valid URL ({e})")))?;
    let scheme = match url.scheme() {
        "smtp" => "smtp",
        "smtps" => "smtps",
        _ => return Err(bad("must start with smtps:// or smtp://")),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(bad("has no host")),
    };
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" => tls = Some(value.into_owned()),
            _ => {
                return Err(bad(
                    "has an unknown query parameter; only `tls` (none, opportunistic, required) is understood",
                ));
            }
        }
    }
    let security = match (scheme, tls.as_deref()) {
        ("smtps", None) => Security::ImplicitTls,
        ("smtp", None | Some("required")) => Security::StartTls,
        ("smtp", Some("opportunistic")) => Security::Opportunistic,
        ("smtp", Some("none")) => Security::Plain,
        ("smtps", Some(_)) => {
            return Err(bad(
                "smtps:// is always TLS; drop the `tls` parameter or use smtp://",
            ));
        }
        _ => return Err(bad("`tls` must be none, opportunistic or required")),
    };
    let port = url.port().unwrap_or(match security {
        Security::ImplicitTls => 465,
        Security::StartTls | Security::Opportunistic => 587,
        Security::Plain => 25,
    });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad("user or password is not valid percent-encoded UTF-8"))
    };
    let credentials = match url.password() {
        Some(password) => Some((
            decode(url.username())?,
            Secret::from(decode(password)?.as_str()),
        )),
        None if !url.username().is_empty() => {
            return Err(bad("has a user name but no password (user:password@host)"));
        }
        None => None,
    };
    let path = url.path().trim_matches('/');
    Ok(Endpoint {
        scheme,
        host,
        port,
        security,
        hello_name: (!path.is_empty()).then(|| path.to_string()),
        credentials,
    })
}

/// Sends email through one SMTP server, reusing connections.
pub struct EmailTransport {
    /// Open connections and how to open more; holds the credentials.
    pool: Pool,
    /// `From:` header and envelope sender.
    from: Mailbox,
    /// `Reply-To:` when replies should go elsewhere.
    reply_to: Option<Mailbox>,
    /// For `describe()`: scheme, host, port and security, no credentials.
    endpoint: String,
    /// Redacted from every error text, in case a server echoes it.
    password: Secret,
    /// See [`DEFAULT_SEND_TIMEOUT`].
    send_timeout: Duration,
    /// Source of the `Date:` header; the crate reads time only through a clock.
    clock: Arc<dyn Clock>,
    /// Signs every message when `[email]` configures DKIM.
    dkim: Option<Arc<DkimConfig>>,
}

impl std::fmt::Debug for EmailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailTransport")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether `[email]` has everything a live transport needs.
pub(crate) fn is_complete(settings: &EmailSettings) -> bool {
    !settings.smtp_url.is_empty() && !settings.from.trim().is_empty()
}

/// What a complete `[email]` section needs, for dry-run messages.
pub(crate) const EMAIL_NEEDS: &str = "needs smtp_url and from";

impl EmailTransport {
    /// Validates `[email]` and prepares the pooled transport. Refuses
    /// clear-text SMTP to anything but loopback unless `allow_plain = true`.
    pub fn new(settings: &EmailSettings) -> Result<EmailTransport, ChannelError> {
        let endpoint = parse_smtp_url(&settings.smtp_url)?;
        if matches!(endpoint.security, Security::Plain | Security::Opportunistic)
            && !endpoint.is_loopback()
            && !settings.allow_plain
        {
            return Err(ChannelError::PlainSmtp {
                host: endpoint.host.clone(),
            });
        }
        let parse_mailbox = |field: &'static str, value: &str| {
            value
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| ChannelError::Address {
                    field,
                    value: value.to_string(),
                    detail: e.to_string(),
                })
        };
        let from = parse_mailbox("from", &settings.from)?;
        let reply_to = match settings.reply_to.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => Some(parse_mailbox("reply_to", r)?),
            _ => None,
        };
        let tls_error = |e: String| ChannelError::SmtpUrl(format!("cannot set up TLS: {e}"));
        let starttls = |required: bool| {
            TlsParameters::new(endpoint.host.clone())
                .map(|parameters| Protection::StartTls {
                    parameters,
                    required,
                })
                .map_err(|e| tls_error(e.to_string()))
        };
        let protection = match endpoint.security {
            Security::ImplicitTls => Protection::implicit_tls(&endpoint.host).map_err(tls_error)?,
            Security::StartTls => starttls(true)?,
            Security::Opportunistic => starttls(false)?,
            Security::Plain => Protection::Plain,
        };
        let mut password = Secret::default();
        let credentials = endpoint.credentials.as_ref().map(|(user, pass)| {
            password = pass.clone();
            Credentials::new(user.clone(), pass.expose().to_string())
        });
        let connector = Connector {
            host: endpoint.host.clone(),
            port: endpoint.port,
            protection,
            hello: endpoint
                .hello_name
                .clone()
                .map_or_else(ClientId::default, ClientId::Domain),
            credentials,
            connect_timeout: CONNECT_TIMEOUT,
        };
        Ok(EmailTransport {
            pool: Pool::new(connector),
            from,
            reply_to,
            endpoint: format!("{} ({})", endpoint.display(), endpoint.security.label()),
            password,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            clock: Arc::new(SystemClock),
            dkim: super::dkim::from_settings(settings)?.map(Arc::new),
        })
    }

    /// Replaces the whole-send limit (default [`DEFAULT_SEND_TIMEOUT`]).
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Takes the `Date:` header from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The message for `touch` exactly as [`Transport::send`] would write
    /// it after `DATA`, without sending it (for `nudge seq lint --spam`).
    pub fn render(&self, touch: &Outgoing) -> Result<Vec<u8>, SendError> {
        Ok(self.build_message(touch)?.formatted())
    }

    /// The exact message for `touch`. A recipient lettre cannot parse is
    /// permanent: retrying will not make the address valid.
    fn build_message(&self, touch: &Outgoing) -> Result<Message, SendError> {
        let address: Address = touch.to.trim().parse().map_err(|e| SendError::Permanent {
            reason: format!("invalid recipient address `{}`: {e}", touch.to),
        })?;
        // A control character (CR/LF above all) in a header is refused
        // here, as this touch's permanent failure: lettre would refuse it
        // later with a panic, and a header must never be injected.
        let subject = touch.subject.clone().unwrap_or_default();
        for (part, value) in [("name", touch.to_name.as_str()), ("subject", &subject)] {
            if value.chars().any(char::is_control) {
                return Err(SendError::Permanent {
                    reason: format!("invalid header value in {part}: it holds a control character"),
                });
            }
        }
        let name = Some(touch.to_name.trim().to_string()).filter(|n| !n.is_empty());
        let message_id = match &touch.message_id {
            Some(id) => id.clone(),
            // The worker always sets one; a deterministic fallback keeps an
            // in-doubt send findable in the sent folder all the same.
            None => format!(
                "<{}@{}>",
                touch
                    .touch_id
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '.'
                    })
                    .collect::<String>(),
                self.from.email.domain()
            ),
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(name, address))
            .subject(subject)
            .date(SystemTime::from(self.clock.now()))
            .message_id(Some(message_id));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(parent) = &touch.in_reply_to {
            builder = builder.in_reply_to(parent.clone());
        }
        if !touch.references.is_empty() {
            builder = builder.references(touch.references.join(" "));
        }
        if !touch.list_unsubscribe.is_empty() {
            if let Some(bad) = touch.list_unsubscribe.iter().find(|t| {
                t.is_empty() || t.contains(|c: char| c.is_whitespace() || "<>,".contains(c))
            }) {
                return Err(SendError::Permanent {
                    reason: format!("invalid List-Unsubscribe target `{bad}`"),
                });
            }
            let targets = touch
                .list_unsubscribe
                .iter()
                .map(|t| format!("<{t}>"))
                .collect::<Vec<_>>()
                .join(", ");
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                targets,
            ));
            // RFC 8058: one-click only makes sense with an https target.
            if touch
                .list_unsubscribe
                .iter()
                .any(|t| t.to_ascii_lowercase().starts_with("https://"))
            {
                builder = builder.raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
            }
        }
        let mut built = match &touch.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                touch.body.clone(),
                html.clone(),
            )),
            // RFC 2045 §4 wants `MIME-Version` next to any Content-Type;
            // lettre adds it for `multipart` but not for a plain `body`.
            None => builder
                .header(header::MIME_VERSION_1_0)
                .header(ContentType::TEXT_PLAIN)
                .body(touch.body.clone()),
        }
        .map_err(|e| SendError::Permanent {
            reason: format!("cannot build the email: {e}"),
        })?;
        if let Some(dkim) = &self.dkim {
            built.sign(dkim);
        }
        Ok(built)
    }
}

/// The queue id from a reply such as `250 2.0.0 Ok: queued as 4Xk2…`.
fn queue_id(response: &Response) -> Option<String> {
    let text = response.message().collect::<Vec<_>>().join(" ");
    let (_, rest) = text.split_once("queued as ")?;
    rest.split_whitespace()
        .next()
        .map(|id| id.trim_end_matches(['.', ',', ')']).to_string())
        .filter(|id| !id.is_empty())
}

/// A reply's text with the password redacted, in case a server echoes it.
fn reply_text(err: &SmtpError, password: &Secret) -> String {
    redact(&err.to_string(), password)
}

/// A connection that could not be opened: the channel is unusable, not
/// this message. Refused credentials are told apart: they wait for a fixed
/// config instead of being retried.
fn connect_error(err: &ConnectError, password: &Secret) -> SendError {
    match err {
        ConnectError::Network(detail) => SendError::Unavailable {
            reason: format!(
                "SMTP connection not established, nothing sent: {}",
                redact(detail, password)
            ),
            credentials: false,
        },
        ConnectError::Smtp(e) => {
            let text = reply_text(e, password);
            match e.status().map(u16::from) {
                Some(code) if AUTH_FAILURES.contains(&code) => SendError::Unavailable {
                    reason: format!(
                        "the SMTP server refused the password ({text}); check the user and password in [email] smtp_url"
                    ),
                    credentials: true,
                },
                _ => SendError::Unavailable {
                    reason: format!("SMTP connection not established, nothing sent: {text}"),
                    credentials: false,
                },
            }
        }
    }
}

/// Maps a failed transaction to the retry policy; see the module docs.
fn classify(err: &smtp_pool::TransactionError, password: &Secret) -> SendError {
    use smtp_pool::TransactionError as E;
    let transient = |reason: String| SendError::Transient {
        reason,
        retry_after: None,
    };
    match err {
        E::Connect(e) => connect_error(e, password),
        E::Unsupported(why) => transient(format!("SMTP server cannot take this message: {why}")),
        E::Smtp(phase, e) => {
            let text = reply_text(e, password);
            match (phase, e.status().map(u16::from)) {
                (Phase::Sender, Some(code)) if code >= 500 => transient(format!(
                    "SMTP server refused our sender ({text}); check [email] from"
                )),
                (_, Some(code)) if (400..500).contains(&code) => {
                    transient(format!("SMTP server: {text}"))
                }
                (_, Some(_)) => SendError::Permanent {
                    reason: format!("SMTP server: {text}"),
                },
                (Phase::Message, None) => SendError::InDoubt {
                    reason: format!(
                        "SMTP connection lost without a reply; the message may have been accepted: {text}"
                    ),
                },
                (_, None) => transient(format!(
                    "SMTP connection lost before the message was sent: {text}"
                )),
            }
        }
    }
}

#[async_trait::async_trait]
impl Transport for EmailTransport {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        let message = self.build_message(touch)?;
        let progress = Progress::default();
        let formatted = message.formatted();
        let transaction =
            smtp_pool::transact(&self.pool, message.envelope(), &formatted, &progress);
        match tokio::time::timeout(self.send_timeout, transaction).await {
            Ok(Ok(response)) => Ok(Receipt {
                provider_id: queue_id(&response),
                dry_run: false,
            }),
            Ok(Err(err)) => Err(classify(&err, &self.password)),
            Err(_) if progress.get() == Phase::Message => Err(SendError::InDoubt {
                reason: format!(
                    "no answer from the SMTP server within {:?}; the message may have been accepted",
                    self.send_timeout
                ),
            }),
            Err(_) if progress.get() == Phase::Connect => Err(SendError::Unavailable {
                reason: format!(
                    "no answer from the SMTP server within {:?} while connecting; nothing sent",
                    self.send_timeout
                ),
                credentials: false,
            }),
            Err(_) => Err(SendError::Transient {
                reason: format!(
                    "no answer from the SMTP server within {:?} before the message was sent",
                    self.send_timeout
                ),
                retry_after: None,
            }),
        }
    }

    async fn probe(&self) -> Result<(), SendError> {
        match tokio::time::timeout(self.send_timeout, self.pool.checkout()).await {
            Ok(Ok(conn)) => {
                // A working connection is worth keeping for the next send.
                self.pool.checkin(conn);
                Ok(())
            }
            Ok(Err(e)) => Err(connect_error(&e, &self.password)),
            Err(_) => Err(SendError::Unavailable {
                reason: format!(
                    "no answer from the SMTP server within {:?} while connecting",
                    self.send_timeout
                ),
                credentials: false,
            }),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("email via {}", self.endpoint)
    }
}

#[cfg(test)]
mod tests;
