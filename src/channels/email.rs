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
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
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
        let built = match &touch.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                touch.body.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(touch.body.clone()),
        };
        built.map_err(|e| SendError::Permanent {
            reason: format!("cannot build the email: {e}"),
        })
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
mod tests {
    use super::*;
    use crate::channels::smtp_sink::{SmtpSink, free_port};
    use crate::channels::test_helpers::sample_touch;
    use crate::clock::ManualClock;
    use crate::domain::sequence::Channel;
    use chrono::TimeZone;

    const PASSWORD: &str = "hunter2-S3cret";
    /// Generous: only a broken test waits this long.
    const DELIVERY: Duration = Duration::from_secs(20);

    fn settings(smtp_url: &str) -> EmailSettings {
        EmailSettings {
            smtp_url: Secret::from(smtp_url),
            from: "Sam Founder <sam@example.com>".into(),
            reply_to: Some("replies@example.com".into()),
            postal_address: "Acme Inc, 1 Main St, Springfield".into(),
            daily_cap: 0,
            allow_plain: false,
        }
    }

    fn transport(smtp_url: &str) -> EmailTransport {
        let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap());
        EmailTransport::new(&settings(smtp_url))
            .unwrap()
            .with_clock(Arc::new(clock))
    }

    fn follow_up() -> Outgoing {
        let mut t = sample_touch(
            Channel::Email,
            "alex@example.com",
            "Hi Alex,\n\nOne idea for Example Co: book 20 minutes at https://cal.example.com/sam.\n\nSam\n\n--\nAcme Inc, 1 Main St, Springfield\nUnsubscribe: https://nudge.example.com/u/tok123",
        );
        t.subject = Some("Re: Scheduling at Example Co".into());
        t.message_id = Some("<01J00000000000000000000000.s2@nudge.example.com>".into());
        t.in_reply_to = Some("<01J00000000000000000000000.s1@nudge.example.com>".into());
        t.references = vec![
            "<01J00000000000000000000000.s0@nudge.example.com>".into(),
            "<01J00000000000000000000000.s1@nudge.example.com>".into(),
        ];
        t.list_unsubscribe = vec![
            "https://nudge.example.com/u/tok123".into(),
            "mailto:unsubscribe@example.com?subject=unsubscribe".into(),
        ];
        t
    }

    #[tokio::test]
    async fn delivers_threading_and_unsubscribe_headers_to_a_real_smtp_server() {
        let sink = SmtpSink::start();
        let t = transport(&sink.url());
        let receipt = t.send(&follow_up()).await.unwrap();
        assert!(!receipt.dry_run);
        let mail = sink.wait_for_messages(1, DELIVERY);
        let m = &mail[0];
        let h = |name: &str| {
            m.header(name)
                .unwrap_or_else(|| panic!("no {name} in\n{}", m.raw))
        };
        assert_eq!(h("X-Mail-Args"), "<sam@example.com>");
        assert_eq!(h("X-Rcpt-Args"), "<alex@example.com>");
        assert_eq!(h("From"), "\"Sam Founder\" <sam@example.com>");
        assert_eq!(h("To"), "\"Alex Rivera\" <alex@example.com>");
        assert_eq!(h("Reply-To"), "replies@example.com");
        assert_eq!(h("Subject"), "Re: Scheduling at Example Co");
        assert_eq!(h("Date"), "Mon, 02 Mar 2026 09:30:00 +0000");
        assert_eq!(
            h("Message-ID"),
            "<01J00000000000000000000000.s2@nudge.example.com>"
        );
        assert_eq!(
            h("In-Reply-To"),
            "<01J00000000000000000000000.s1@nudge.example.com>"
        );
        assert_eq!(
            h("References"),
            "<01J00000000000000000000000.s0@nudge.example.com> <01J00000000000000000000000.s1@nudge.example.com>"
        );
        assert_eq!(
            h("List-Unsubscribe"),
            "<https://nudge.example.com/u/tok123>, <mailto:unsubscribe@example.com?subject=unsubscribe>"
        );
        assert_eq!(h("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
        assert_eq!(h("Content-Type"), "text/plain; charset=utf-8");
        assert_eq!(m.body(), follow_up().body);
    }

    #[tokio::test]
    async fn a_first_email_has_no_threading_and_mailto_only_has_no_one_click() {
        let sink = SmtpSink::start();
        let t = transport(&sink.url());
        let mut first = follow_up();
        first.subject = Some("Scheduling at Example Co".into());
        first.in_reply_to = None;
        first.references = vec![];
        first.list_unsubscribe = vec!["mailto:unsubscribe@example.com".into()];
        t.send(&first).await.unwrap();
        // A second message on the same transport reuses the pooled connection.
        let mut second = follow_up();
        second.message_id = Some("<second@nudge.example.com>".into());
        t.send(&second).await.unwrap();
        let mail = sink.wait_for_messages(2, DELIVERY);
        let first_mail = mail
            .iter()
            .find(|m| m.header("Subject").as_deref() == Some("Scheduling at Example Co"))
            .expect("first message");
        assert_eq!(first_mail.header("In-Reply-To"), None);
        assert_eq!(first_mail.header("References"), None);
        assert_eq!(
            first_mail.header("List-Unsubscribe").as_deref(),
            Some("<mailto:unsubscribe@example.com>")
        );
        assert_eq!(first_mail.header("List-Unsubscribe-Post"), None);
        assert!(
            mail.iter()
                .any(|m| m.header("Message-ID").as_deref() == Some("<second@nudge.example.com>"))
        );
    }

    #[tokio::test]
    async fn a_drop_after_the_final_dot_is_in_doubt() {
        let sink = SmtpSink::start_with(&["-q", "."]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
        // And rightly so: the server did receive the whole message.
        let mail = sink.wait_for_messages(1, DELIVERY);
        assert_eq!(
            mail[0].header("Message-ID").as_deref(),
            Some("<01J00000000000000000000000.s2@nudge.example.com>")
        );
    }

    #[tokio::test]
    async fn a_421_after_the_final_dot_is_transient() {
        let sink = SmtpSink::start_with(&["-Q", "."]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        match err {
            SendError::Transient { reason, .. } => assert!(reason.contains("421"), "{reason}"),
            other => panic!("expected transient, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_soft_rejected_recipient_is_transient() {
        let sink = SmtpSink::start_with(&["-r", "RCPT"]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        match err {
            SendError::Transient { reason, .. } => assert!(reason.contains("450"), "{reason}"),
            other => panic!("expected transient, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_hard_rejected_recipient_is_permanent_with_the_servers_words() {
        let sink = SmtpSink::start_with(&[
            "-f",
            "RCPT",
            "-B",
            "550 5.1.1 <alex@example.com>: Recipient address rejected: User unknown",
        ]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        match err {
            SendError::Permanent { reason } => {
                assert!(reason.contains("550"), "{reason}");
                assert!(reason.contains("User unknown"), "{reason}");
            }
            other => panic!("expected permanent, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connection_refused_means_the_channel_is_unavailable() {
        let port = free_port();
        let t = transport(&format!("smtp://127.0.0.1:{port}?tls=none"));
        let err = t.send(&follow_up()).await.unwrap_err();
        assert!(
            matches!(
                err,
                SendError::Unavailable {
                    credentials: false,
                    ..
                }
            ),
            "{err:?}"
        );
        let probed = t.probe().await.unwrap_err();
        assert!(
            matches!(probed, SendError::Unavailable { .. }),
            "{probed:?}"
        );
    }

    #[tokio::test]
    async fn a_probe_of_a_working_server_parks_the_connection_and_sends_nothing() {
        let sink = SmtpSink::start();
        let t = transport(&sink.url());
        t.probe().await.unwrap();
        assert_eq!(t.pool.idle_count(), 1);
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn tls_that_cannot_be_established_means_the_channel_is_unavailable() {
        let sink = SmtpSink::start();
        // STARTTLS required, but smtp-sink does not offer it.
        let err = transport(&format!("smtp://127.0.0.1:{}", sink.port()))
            .send(&follow_up())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
        // Implicit TLS against a clear-text greeting.
        let err = transport(&format!("smtps://127.0.0.1:{}", sink.port()))
            .send(&follow_up())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn a_silent_server_times_out_in_doubt() {
        // Waits 10 s before answering the final dot; we give up after 0.5 s.
        let sink = SmtpSink::start_with(&["-W", ".:10"]);
        let t = transport(&sink.url()).with_send_timeout(Duration::from_millis(500));
        let err = t.send(&follow_up()).await.unwrap_err();
        assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
        // The connection with the reply still unread was dropped, not parked.
        assert_eq!(t.pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_server_silent_before_the_message_times_out_transient() {
        // Waits 10 s before answering RCPT: the message was never written.
        let sink = SmtpSink::start_with(&["-W", "RCPT:10"]);
        let t = transport(&sink.url()).with_send_timeout(Duration::from_millis(500));
        let err = t.send(&follow_up()).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
        assert_eq!(t.pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_drop_before_data_is_transient_because_nothing_was_sent() {
        let sink = SmtpSink::start_with(&["-q", "RCPT"]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        match err {
            SendError::Transient { reason, .. } => {
                assert!(reason.contains("before the message was sent"), "{reason}")
            }
            other => panic!("expected transient, got {other:?}"),
        }
        // smtp-sink opens a dump file at MAIL FROM; no message reached it.
        assert!(
            sink.messages()
                .iter()
                .all(|m| m.header("Message-ID").is_none())
        );
    }

    #[tokio::test]
    async fn a_refused_sender_is_transient_not_the_leads_fault() {
        let sink = SmtpSink::start_with(&["-f", "MAIL", "-B", "553 5.7.1 sender rejected"]);
        let err = transport(&sink.url()).send(&follow_up()).await.unwrap_err();
        match err {
            SendError::Transient { reason, .. } => {
                assert!(reason.contains("553"), "{reason}");
                assert!(reason.contains("[email] from"), "{reason}");
            }
            other => panic!("expected transient, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connections_are_reused_with_nodelay() {
        let sink = SmtpSink::start();
        let t = transport(&sink.url());
        t.send(&follow_up()).await.unwrap();
        assert_eq!(t.pool.idle_count(), 1);
        t.send(&follow_up()).await.unwrap();
        // The second send took the parked connection and parked it again.
        assert_eq!(t.pool.idle_count(), 1);
        assert_eq!(sink.wait_for_messages(2, DELIVERY).len(), 2);
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_permanent_without_connecting() {
        let t = transport(&format!("smtp://127.0.0.1:{}?tls=none", free_port()));
        let mut touch = follow_up();
        touch.to = "not an address".into();
        let err = t.send(&touch).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_control_character_in_a_header_is_permanent_and_sends_nothing() {
        let sink = SmtpSink::start();
        let t = transport(&sink.url());
        let mut touch = follow_up();
        touch.to_name = "Evil\r\nBcc: victim@other.test".into();
        let err = t.send(&touch).await.unwrap_err();
        match err {
            SendError::Permanent { reason } => {
                assert!(reason.contains("invalid header value in name"), "{reason}")
            }
            other => panic!("expected permanent, got {other:?}"),
        }
        let mut touch = follow_up();
        touch.subject = Some("Hi\r\nX-Injected: 1".into());
        let err = t.send(&touch).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { reason } if reason.contains("subject")),
            "{err:?}"
        );
        assert!(sink.messages().is_empty());
    }

    #[test]
    fn plain_smtp_to_a_remote_host_is_refused_without_showing_the_password() {
        let url = format!("smtp://sam:{PASSWORD}@mail.example.com:25?tls=none");
        let err = EmailTransport::new(&settings(&url)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("mail.example.com"), "{shown}");
        assert!(shown.contains("allow_plain"), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");

        let mut allowed = settings(&url);
        allowed.allow_plain = true;
        let t = EmailTransport::new(&allowed).unwrap();
        let shown = format!("{} {t:?}", t.describe());
        assert!(
            !shown.contains(PASSWORD) && !shown.contains("sam:"),
            "{shown}"
        );
        assert_eq!(t.describe(), "email via smtp://mail.example.com:25 (plain)");
    }

    #[test]
    fn malformed_urls_never_echo_the_password() {
        for url in [
            format!("smtps://sam:{PASSWORD}@"),
            format!("smtps://sam:{PASSWORD}@host:99999"),
            format!("http://sam:{PASSWORD}@host"),
            format!("sam:{PASSWORD}@host"),
            format!("smtp://sam:{PASSWORD}@host?tls=maybe"),
            format!("smtp://sam:{PASSWORD}@host?password={PASSWORD}"),
            format!("smtps://sam:{PASSWORD}@host?tls=none"),
            format!("smtp://sam:{PASSWORD}%ff@host"),
        ] {
            let err = EmailTransport::new(&settings(&url)).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("smtp_url"), "{shown}");
            assert!(!shown.contains(PASSWORD), "{url}: {shown}");
        }
    }

    #[test]
    fn urls_map_to_the_documented_security() {
        let describe = |url: &str| EmailTransport::new(&settings(url)).unwrap().describe();
        assert_eq!(
            describe(&format!("smtps://sam:{PASSWORD}@smtp.example.com")),
            "email via smtps://smtp.example.com:465 (implicit TLS)"
        );
        assert_eq!(
            describe("smtp://smtp.example.com:587"),
            "email via smtp://smtp.example.com:587 (STARTTLS)"
        );
        assert_eq!(
            describe("smtp://127.0.0.1:2525?tls=none"),
            "email via smtp://127.0.0.1:2525 (plain)"
        );
        assert_eq!(
            describe("smtp://localhost:2525?tls=none"),
            "email via smtp://localhost:2525 (plain)"
        );
        assert_eq!(
            describe("smtp://[::1]:2525?tls=none"),
            "email via smtp://[::1]:2525 (plain)"
        );
        let err =
            EmailTransport::new(&settings("smtp://mx.example.com?tls=opportunistic")).unwrap_err();
        assert!(matches!(err, ChannelError::PlainSmtp { .. }), "{err}");
    }

    #[test]
    fn bad_sender_addresses_are_named() {
        let mut s = settings("smtp://127.0.0.1:2525?tls=none");
        s.from = "Sam <not-an-address>".into();
        let err = EmailTransport::new(&s).unwrap_err();
        assert!(err.to_string().starts_with("[email] from:"), "{err}");
    }
}
