//! The part of Twilio's REST API that SMS and calls share: one form-encoded
//! `POST` that creates a resource, HTTP basic auth, and Twilio's documented
//! error body, classified for the retry policy.
//!
//! Classification (the part that matters): only an HTTP status is definite.
//! A refused or failed *connect* happens before any byte of the request left,
//! so nothing was sent; like 401/403, 429 and 5xx it says the API is
//! unusable for everyone ([`SendError::Unavailable`]); a timeout or a connection lost once the request was
//! on the wire may have created the message, so it is in doubt.

use std::time::Duration;

use serde::Deserialize;

use super::{ChannelError, Receipt, SendError, error_chain, redact};
use crate::config::Secret;

/// Twilio's public API, used when `[sms] base_url` is empty.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Whole-request limit for a send. Long enough for a slow API day, short
/// enough that a stuck request does not stall the worker.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Limit for establishing the connection; failing here is safely transient.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Twilio: "Attempt to send to unsubscribed recipient".
const OPTED_OUT: u64 = 21610;
/// Twilio: "The 'To' number is not a valid phone number".
const INVALID_TO: u64 = 21211;
/// Twilio: "'To' number is not a valid mobile number".
const NOT_MOBILE: u64 = 21614;

/// An authenticated client for one Twilio account.
#[derive(Debug, Clone)]
pub(crate) struct TwilioClient {
    /// Shared connection pool; cloning is cheap.
    http: reqwest::Client,
    /// API base without a trailing slash.
    base_url: String,
    /// The account all resources are created under (not a secret).
    account_sid: String,
    /// Basic-auth password; only ever handed to reqwest.
    auth_token: Secret,
    /// Whole-request limit; see [`DEFAULT_TIMEOUT`].
    timeout: Duration,
}

/// Twilio's documented error body.
#[derive(Debug, Deserialize)]
struct TwilioErrorBody {
    code: Option<u64>,
    message: Option<String>,
    more_info: Option<String>,
}

/// The only field of a created resource we keep.
#[derive(Debug, Deserialize)]
struct Created {
    sid: Option<String>,
}

impl TwilioClient {
    /// Checks the account settings (always `[sms]`: calls use the same
    /// account) and builds the HTTP client.
    pub(crate) fn new(
        account_sid: &str,
        auth_token: &Secret,
        base_url: &str,
    ) -> Result<TwilioClient, ChannelError> {
        let account_sid = account_sid.trim();
        if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ChannelError::Invalid {
                section: "sms",
                field: "account_sid",
                detail: "must contain only letters and digits (e.g. AC0123…)".into(),
            });
        }
        let base_url = match base_url.trim() {
            "" => DEFAULT_BASE_URL,
            other => other,
        }
        .trim_end_matches('/')
        .to_string();
        match url::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => {
                return Err(ChannelError::Invalid {
                    section: "sms",
                    field: "base_url",
                    detail: format!("`{base_url}` is not an http(s) URL"),
                });
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would turn the POST into a GET; Twilio never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ChannelError::Http(error_chain(&e)))?;
        Ok(TwilioClient {
            http,
            base_url,
            account_sid: account_sid.to_string(),
            auth_token: auth_token.clone(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Changes the whole-request limit (tests use a short one).
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Where requests go, for start-up lines.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Creates a `resource` (`Messages`, `Calls`) with the given form fields.
    pub(crate) async fn create(
        &self,
        resource: &str,
        form: &[(&str, &str)],
    ) -> Result<Receipt, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.base_url, self.account_sid
        );
        let sent = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .timeout(self.timeout)
            .form(form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(&e)),
        };
        let status = response.status();
        let retry_after = super::retry_after(response.headers());
        // Once a status has arrived the outcome is definite; a body that
        // fails to arrive only costs us the SID or the error details.
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_str::<Created>(&body)
                .ok()
                .and_then(|c| c.sid);
            return Ok(Receipt {
                provider_id: sid,
                dry_run: false,
            });
        }
        let details = serde_json::from_str::<TwilioErrorBody>(&body).ok();
        Err(self.classify(status.as_u16(), details, retry_after))
    }

    /// Maps a non-success answer to the retry policy's vocabulary.
    fn classify(
        &self,
        status: u16,
        details: Option<TwilioErrorBody>,
        retry_after: Option<Duration>,
    ) -> SendError {
        let code = details.as_ref().and_then(|d| d.code);
        let mut reason = format!("Twilio answered HTTP {status}");
        if let Some(d) = &details {
            if let Some(code) = d.code {
                reason.push_str(&format!(", error {code}"));
            }
            if let Some(message) = &d.message {
                reason.push_str(&format!(": {message}"));
            }
            if let Some(more) = &d.more_info {
                reason.push_str(&format!(" ({more})"));
            }
        }
        let reason = redact(&reason, &self.auth_token);
        match (code, status) {
            (Some(OPTED_OUT), _) => SendError::OptedOut { reason },
            (Some(INVALID_TO | NOT_MOBILE), _) => SendError::Permanent { reason },
            // Bad credentials are our configuration, not this lead's fault:
            // SMS pauses (no attempt spent) until the token is fixed.
            (_, 401) => SendError::Unavailable {
                reason: format!("{reason}; check [sms] account_sid and auth_token"),
                credentials: true,
            },
            // Forbidden, rate limited or failing: the account or the API is
            // the problem, for every lead alike.
            (_, 403 | 429 | 500..=599) => SendError::Unavailable {
                reason,
                credentials: false,
            },
            (_, 400..=499) => SendError::Permanent { reason },
            // Redirects are off and 1xx never surfaces: not sent, not the lead.
            _ => SendError::Transient {
                reason,
                retry_after,
            },
        }
    }

    /// An authenticated `GET` of the account: proves the API answers and
    /// takes our credentials, and creates nothing.
    pub(crate) async fn probe(&self) -> Result<(), SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            self.base_url, self.account_sid
        );
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| SendError::Unavailable {
                reason: format!(
                    "cannot reach Twilio: {}",
                    redact(&error_chain(&e), &self.auth_token)
                ),
                credentials: false,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = super::retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let details = serde_json::from_str::<TwilioErrorBody>(&body).ok();
        match self.classify(status.as_u16(), details, retry_after) {
            unavailable @ SendError::Unavailable { .. } => Err(unavailable),
            other => Err(SendError::Unavailable {
                reason: other.to_string(),
                credentials: false,
            }),
        }
    }

    /// Classifies a failure that produced no HTTP status.
    fn transport_error(&self, e: &reqwest::Error) -> SendError {
        let detail = redact(&error_chain(e), &self.auth_token);
        if e.is_connect() {
            // The connector failed (refused, DNS, TLS handshake, connect
            // timeout): not one byte of the request was sent, and the API
            // is unreachable for every lead alike.
            SendError::Unavailable {
                reason: format!("cannot connect to Twilio: {detail}"),
                credentials: false,
            }
        } else if e.is_timeout() {
            SendError::InDoubt {
                reason: format!(
                    "Twilio did not answer within {:?}; the request may have been processed",
                    self.timeout
                ),
            }
        } else {
            SendError::InDoubt {
                reason: format!(
                    "connection to Twilio failed after the request was sent; it may have been processed: {detail}"
                ),
            }
        }
    }
}
