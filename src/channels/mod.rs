//! Channels: how a claimed touch leaves the building. One trait, and every
//! error classified so the worker knows whether to retry, stop that channel,
//! or ask a human (in doubt).
//!
//! * [`email`] — SMTP through lettre (pooled, rustls).
//! * [`sms`] — the Twilio Messaging REST API.
//! * [`call`] — the Twilio Calls API (when `[call] mode = "twilio"`).
//! * [`dry_run`] — records instead of sending; the default for anything unconfigured.
//! * [`llm`] — OpenAI-compatible personalisation of a rendered message.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{CallMode, Config, Secret};
use crate::domain::lead::LeadId;
use crate::domain::sequence::Channel;

pub mod call;
mod dkim;
pub mod dry_run;
pub mod email;
pub mod llm;
pub mod sms;
mod smtp_pool;
pub mod spam_check;
mod twilio;

#[cfg(test)]
#[path = "../../tests/it/support/smtp_sink.rs"]
pub(crate) mod smtp_sink;

pub use call::CallTransport;
pub use dry_run::DryRunTransport;
pub use email::EmailTransport;
pub use llm::{AiError, LlmClient};
pub use sms::SmsTransport;

/// A touch ready to send, with everything the wire format needs. Built by
/// the worker from the outbox record, so a retry sends exactly the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Stable id of this touch (lead + step); also seeds the Message-ID.
    pub touch_id: String,
    /// The lead.
    pub lead_id: LeadId,
    /// Channel to use.
    pub channel: Channel,
    /// Email address or E.164 phone.
    pub to: String,
    /// The lead's name, for the `To:` header.
    pub to_name: String,
    /// Email subject.
    pub subject: Option<String>,
    /// Final text/plain body, footer included.
    pub body: String,
    /// Deterministic `Message-ID` (with angle brackets), email only.
    pub message_id: Option<String>,
    /// `In-Reply-To` for follow-ups, the first email's Message-ID.
    pub in_reply_to: Option<String>,
    /// `References`, oldest first.
    pub references: Vec<String>,
    /// `List-Unsubscribe` targets: an https URL and/or a mailto URL.
    pub list_unsubscribe: Vec<String>,
    /// A text/html alternative to `body` (email steps with `html = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Proof of delivery from the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Provider id (Twilio SID, SMTP queue id) when given.
    pub provider_id: Option<String>,
    /// Recorded, not sent.
    pub dry_run: bool,
}

/// Why a send did not succeed, classified for the retry policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Definitely not delivered; try again later.
    #[error("temporary failure: {reason}")]
    Transient {
        /// What happened.
        reason: String,
        /// Provider's hint (Retry-After).
        retry_after: Option<Duration>,
    },
    /// Definitely not delivered and never will be on this channel
    /// (recipient rejected, invalid number).
    #[error("permanent failure: {reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
    /// May or may not have been delivered (connection lost after the final
    /// dot, HTTP timeout). Never retried automatically.
    #[error("outcome unknown: {reason}")]
    InDoubt {
        /// What happened.
        reason: String,
    },
    /// The provider says the recipient opted out (Twilio 21610).
    #[error("recipient has opted out: {reason}")]
    OptedOut {
        /// What happened.
        reason: String,
    },
    /// The channel itself cannot be used now, and nothing was sent: the
    /// server is unreachable, TLS fails, the SMTP greeting is 421, the
    /// credentials are refused, Twilio answers 401/403, 429 or 5xx. Says
    /// nothing about this message or lead: the worker opens the channel's
    /// breaker and the touch waits without spending an attempt.
    #[error("channel unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
        /// The server refused our credentials (SMTP 535, Twilio 401): a
        /// configuration problem, not retried until a restart.
        credentials: bool,
    },
}

/// A way to deliver touches.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends one touch. Must not retry internally: the worker owns retries.
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError>;

    /// Whether messages really leave (false for dry-run).
    fn is_live(&self) -> bool;

    /// A short description for `nudge serve`'s start-up line; never contains secrets.
    fn describe(&self) -> String;

    /// A cheap check that the channel works again after an outage (SMTP:
    /// a connection through greeting, TLS and AUTH; Twilio: an
    /// authenticated GET of the account). Sends nothing to anyone.
    async fn probe(&self) -> Result<(), SendError> {
        Ok(())
    }
}

/// A channel setting that cannot work, found at start-up rather than at the
/// first send. Never contains a secret (SMTP URL, token, key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// `[email] smtp_url` is malformed; the URL itself is never repeated.
    #[error("[email] smtp_url: {0}")]
    SmtpUrl(String),
    /// Clear-text SMTP to a host that is not this machine.
    #[error(
        "[email] smtp_url: refusing unencrypted SMTP to {host}: the password and every \
         message would cross the network in clear text; use smtps:// (implicit TLS) or \
         smtp:// (STARTTLS), or set [email] allow_plain = true if the network is trusted"
    )]
    PlainSmtp {
        /// The remote host.
        host: String,
    },
    /// An email address setting that does not parse.
    #[error("[email] {field}: `{value}` is not a valid address: {detail}")]
    Address {
        /// `from` or `reply_to`.
        field: &'static str,
        /// What was written.
        value: String,
        /// The parser's reason.
        detail: String,
    },
    /// Any other invalid setting.
    #[error("[{section}] {field}: {detail}")]
    Invalid {
        /// Config section.
        section: &'static str,
        /// Key.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The HTTP client could not be built (TLS roots, system resources).
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

/// Every channel's transport, built once from the config at start-up and
/// shared by the worker's tasks (hence `Arc`).
pub struct Transports {
    /// Email: SMTP when `[email]` is complete, else dry-run.
    pub email: Arc<dyn Transport>,
    /// SMS: Twilio when `[sms]` is complete, else dry-run.
    pub sms: Arc<dyn Transport>,
    /// Calls: `None` in task mode (the human calls); Twilio, or dry-run when
    /// `mode = "twilio"` but the settings are incomplete.
    pub call: Option<Arc<dyn Transport>>,
    /// Personalisation; `None` unless `[ai]` has `base_url` and `model`.
    pub llm: Option<LlmClient>,
}

impl Transports {
    /// Builds each channel from its section. An incomplete section means
    /// dry-run (so nudge runs with nothing configured); a section that is
    /// complete but wrong (bad URL, clear-text SMTP to a remote host) is an
    /// error, because silently running dry would hide the mistake.
    pub fn from_config(config: &Config) -> Result<Transports, ChannelError> {
        let email: Arc<dyn Transport> = if email::is_complete(&config.email) {
            Arc::new(EmailTransport::new(&config.email)?)
        } else {
            Arc::new(DryRunTransport::new(Channel::Email, email::EMAIL_NEEDS))
        };
        let sms: Arc<dyn Transport> = if sms::is_complete(&config.sms) {
            Arc::new(SmsTransport::new(&config.sms)?)
        } else {
            Arc::new(DryRunTransport::new(Channel::Sms, sms::SMS_NEEDS))
        };
        let call: Option<Arc<dyn Transport>> = match config.call.mode {
            CallMode::Task => None,
            CallMode::Twilio if call::is_complete(&config.sms, &config.call) => {
                Some(Arc::new(CallTransport::new(&config.sms, &config.call)?))
            }
            CallMode::Twilio => Some(Arc::new(DryRunTransport::new(
                Channel::Call,
                call::CALL_NEEDS,
            ))),
        };
        let llm = if llm::is_complete(&config.ai) {
            Some(LlmClient::new(&config.ai)?)
        } else {
            None
        };
        Ok(Transports {
            email,
            sms,
            call,
            llm,
        })
    }

    /// The transport for `channel`; `None` means a task for the human
    /// (`task` steps, and `call` steps in task mode).
    pub fn for_channel(&self, channel: Channel) -> Option<Arc<dyn Transport>> {
        match channel {
            Channel::Email => Some(Arc::clone(&self.email)),
            Channel::Sms => Some(Arc::clone(&self.sms)),
            Channel::Call => self.call.clone(),
            Channel::Task => None,
        }
    }
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("email", &self.email.describe())
            .field("sms", &self.sms.describe())
            .field("call", &self.call.as_ref().map(|c| c.describe()))
            .field("llm", &self.llm.as_ref().map(LlmClient::describe))
            .finish()
    }
}

/// An error and its causes on one line, without the request URL (which is
/// not secret but adds noise, and may carry credentials in other setups).
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    if let Some(url) = e.url() {
        out = out
            .replace(&format!(" for url ({url})"), "")
            .replace(url.as_str(), "<url>");
    }
    out
}

/// A `Retry-After` given in seconds (Twilio, Slack and most webhooks).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// Replaces every occurrence of the secret, in case a server echoes it.
pub(crate) fn redact(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret.expose(), "***")
    }
}

/// Fixtures shared by the channel tests.
#[cfg(test)]
pub(crate) mod test_helpers {
    use super::*;

    /// Test Twilio account.
    pub const SID: &str = "AC0123456789abcdef";
    /// Test Twilio token; must never show up in errors.
    pub const TOKEN: &str = "tok-s3cret-value";
    /// `Basic base64(SID:TOKEN)`.
    pub const BASIC_AUTH: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnRvay1zM2NyZXQtdmFsdWU=";

    /// A touch with the essentials set.
    pub fn sample_touch(channel: Channel, to: &str, body: &str) -> Outgoing {
        Outgoing {
            touch_id: "01J00000000000000000000000-s1".into(),
            lead_id: LeadId(ulid::Ulid::nil()),
            channel,
            to: to.into(),
            to_name: "Alex Rivera".into(),
            subject: None,
            body: body.into(),
            message_id: None,
            in_reply_to: None,
            references: vec![],
            list_unsubscribe: vec![],
            html: None,
        }
    }

    /// Twilio's documented error body.
    pub fn twilio_error(code: u64, message: &str, status: u16) -> serde_json::Value {
        serde_json::json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })
    }

    /// The form fields of a recorded request, in order.
    pub fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect()
    }

    /// An http URL on a loopback port nobody listens on (connection refused).
    pub fn refused_url() -> String {
        let port = smtp_sink::free_port();
        format!("http://127.0.0.1:{port}")
    }

    /// A server that reads one whole HTTP request and closes the connection
    /// without answering: the request was delivered, the outcome unknown.
    /// Returns its URL and the raw request it saw.
    pub async fn drop_after_request_server() -> (String, tokio::sync::oneshot::Receiver<String>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            drop(socket);
            let _ = tx.send(String::from_utf8_lossy(&buf).to_string());
        });
        (url, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn nothing_configured_means_dry_run_and_task_calls() {
        let t = Transports::from_config(&Config::default()).unwrap();
        assert!(!t.email.is_live());
        assert!(!t.sms.is_live());
        assert!(t.call.is_none());
        assert!(t.llm.is_none());
        assert!(t.for_channel(Channel::Task).is_none());
        assert!(t.for_channel(Channel::Call).is_none());
        assert_eq!(
            t.for_channel(Channel::Email).unwrap().describe(),
            "email: dry-run (needs smtp_url and from)"
        );
    }

    #[test]
    fn complete_sections_are_live_and_describe_without_secrets() {
        let mut c = Config::default();
        c.email.smtp_url = Secret::from("smtps://sam:pa55word@smtp.example.com");
        c.email.from = "Sam <sam@example.com>".into();
        c.sms.account_sid = "AC1".into();
        c.sms.auth_token = Secret::from("tok-123");
        c.sms.from = "+15005550006".into();
        c.call.mode = CallMode::Twilio;
        c.ai.base_url = "http://127.0.0.1:11434/v1".into();
        c.ai.model = "llama3.1".into();
        c.ai.api_key = Secret::from("sk-key");
        let t = Transports::from_config(&c).unwrap();
        assert!(t.email.is_live() && t.sms.is_live());
        // Twilio mode without twiml_url: dry-run, and it says why.
        let call = t.for_channel(Channel::Call).unwrap();
        assert!(!call.is_live());
        assert!(call.describe().contains("twiml_url"), "{}", call.describe());
        assert!(t.llm.is_some());
        let shown = format!("{t:?}");
        for secret in ["pa55word", "tok-123", "sk-key"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("email via smtps://smtp.example.com:465 (implicit TLS)"),
            "{shown}"
        );
    }

    #[test]
    fn a_complete_but_wrong_section_is_an_error() {
        let mut c = Config::default();
        c.email.smtp_url = Secret::from("smtp://sam:pa55word@mail.example.com:25?tls=none");
        c.email.from = "sam@example.com".into();
        let err = Transports::from_config(&c).unwrap_err();
        assert!(matches!(err, ChannelError::PlainSmtp { .. }), "{err}");
    }
}
