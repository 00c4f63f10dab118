//! Alert webhooks: when a lead replies, books, turns hot or bounces, or a
//! send is in doubt, the engine announces an [`Alert`]; when a channel goes
//! down, stays down for 15 minutes or comes back, a [`ChannelAlert`]. This
//! task posts each to
//! a Slack incoming webhook (`{"text": "..."}`) and to a CRM as a signed JSON
//! event.
//!
//! Posting never blocks the engine: alerts arrive on a broadcast
//! subscription (a slow webhook makes this task lag and skip, never the
//! engine wait), and each delivery runs in its own task, at most
//! [`IN_FLIGHT`] at once. A delivery is retried with exponential backoff on
//! connection errors, timeouts, 429 and 5xx, at most `attempts` times, then
//! logged and dropped. Webhook URLs are credentials: they are kept as
//! [`Secret`]s and never appear in logs or errors.
//!
//! The CRM request carries `X-Nudge-Signature: sha256=HEX`, the hex
//! HMAC-SHA256 of the raw body keyed with `[alerts] crm_webhook_secret`, and
//! `X-Nudge-Timestamp` (unix seconds, also in the signed body as
//! `timestamp`), so the receiver can verify it and refuse replays.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

use crate::config::{AlertSettings, Secret};
use crate::domain::event::AlertKind;
use crate::engine::{Alert, ChannelAlert, Notification};

/// Deliveries running at once; further alerts wait on the subscription.
pub const IN_FLIGHT: usize = 8;

/// Limit for one webhook request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight deliveries may finish after the stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A setting that cannot work, found at start-up. Never repeats a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// A webhook URL that does not parse or is not http(s).
    #[error("[alerts] {field}: {detail}")]
    Url {
        /// The key.
        field: &'static str,
        /// What is wrong (without the URL).
        detail: String,
    },
    /// A CRM URL without the secret that signs its events.
    #[error(
        "[alerts] crm_webhook_url is set but crm_webhook_secret is not; the CRM could not verify events"
    )]
    MissingSecret,
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for alerts: {0}")]
    Http(String),
}

/// Retry bounds for one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First wait; doubles per attempt.
    pub base: Duration,
    /// Longest wait (also caps a `Retry-After`).
    pub cap: Duration,
}

impl Default for AlertRetry {
    fn default() -> Self {
        AlertRetry {
            attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

/// Posts alerts to the configured webhooks.
pub struct Alerter {
    client: reqwest::Client,
    slack: Option<Secret>,
    crm: Option<(Secret, Secret)>,
    retry: AlertRetry,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn check_url(field: &'static str, url: &Secret) -> Result<(), AlertError> {
    let parsed = url::Url::parse(url.expose().trim()).map_err(|e| AlertError::Url {
        field,
        detail: format!("not a valid URL ({e})"),
    })?;
    match parsed.scheme() {
        "https" | "http" => Ok(()),
        _ => Err(AlertError::Url {
            field,
            detail: "must start with https:// (or http://)".into(),
        }),
    }
}

impl Alerter {
    /// The alerter `[alerts]` asks for, `None` when no webhook is set.
    pub fn from_config(settings: &AlertSettings) -> Result<Option<Alerter>, AlertError> {
        let slack =
            (!settings.slack_webhook_url.is_empty()).then(|| settings.slack_webhook_url.clone());
        let crm = (!settings.crm_webhook_url.is_empty()).then(|| {
            (
                settings.crm_webhook_url.clone(),
                settings.crm_webhook_secret.clone(),
            )
        });
        if slack.is_none() && crm.is_none() {
            return Ok(None);
        }
        if let Some(url) = &slack {
            check_url("slack_webhook_url", url)?;
        }
        if let Some((url, secret)) = &crm {
            check_url("crm_webhook_url", url)?;
            if secret.is_empty() {
                return Err(AlertError::MissingSecret);
            }
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("nudge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertError::Http(e.without_url().to_string()))?;
        Ok(Some(Alerter {
            client,
            slack,
            crm,
            retry: AlertRetry::default(),
        }))
    }

    /// Replaces the retry bounds (tests use short waits).
    pub fn with_retry(mut self, retry: AlertRetry) -> Alerter {
        self.retry = retry;
        self
    }

    /// For the start-up line: which webhooks, never their URLs.
    pub fn describe(&self) -> String {
        let targets: Vec<&str> = [
            self.slack.as_ref().map(|_| "Slack"),
            self.crm.as_ref().map(|_| "CRM"),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!("alerts: {}", targets.join(" and "))
    }

    /// Posts every alert from `alerts` until `shutdown` turns true (or the
    /// engine is gone), then lets in-flight deliveries finish briefly.
    pub async fn run(
        self,
        mut alerts: broadcast::Receiver<Notification>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut deliveries = JoinSet::new();
        loop {
            while deliveries.try_join_next().is_some() {}
            while deliveries.len() >= IN_FLIGHT {
                deliveries.join_next().await;
            }
            let alert = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                received = alerts.recv() => match received {
                    Ok(alert) => alert,
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "alerts arrived faster than webhooks took them; some were not posted");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            let (text, body, event, delivery, at) = match &alert {
                Notification::Lead(alert) => (
                    slack_text(alert),
                    crm_body(alert),
                    alert.kind.as_str(),
                    format!(
                        "{}-{}-{}",
                        alert.lead.id,
                        alert.kind.as_str(),
                        alert.at.timestamp_millis()
                    ),
                    alert.at,
                ),
                Notification::Channel(alert) => (
                    slack_escape(&alert.describe()),
                    channel_crm_body(alert),
                    alert.kind.as_str(),
                    format!(
                        "{}-{}-{}",
                        alert.channel,
                        alert.kind.as_str(),
                        alert.at.timestamp_millis()
                    ),
                    alert.at,
                ),
            };
            if let Some(url) = &self.slack {
                let body = json!({ "text": text }).to_string().into_bytes();
                deliveries.spawn(deliver(
                    self.client.clone(),
                    "slack",
                    url.clone(),
                    body,
                    Vec::new(),
                    self.retry,
                ));
            }
            if let Some((url, secret)) = &self.crm {
                let headers = vec![
                    ("x-nudge-event", event.to_string()),
                    ("x-nudge-timestamp", at.timestamp().to_string()),
                    ("x-nudge-signature", crm_signature(secret, &body)),
                    ("x-nudge-delivery", delivery),
                ];
                deliveries.spawn(deliver(
                    self.client.clone(),
                    "crm",
                    url.clone(),
                    body,
                    headers,
                    self.retry,
                ));
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while deliveries.join_next().await.is_some() {}
        })
        .await;
    }
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message for `alert`.
pub fn slack_text(alert: &Alert) -> String {
    let lead = &alert.lead;
    let mut who = lead.name.trim().to_string();
    if let Some(email) = &lead.email {
        who.push_str(&format!(" ({email})"));
    }
    if let Some(company) = lead.company.as_deref().filter(|c| !c.trim().is_empty()) {
        who.push_str(&format!(" at {}", company.trim()));
    }
    let who = slack_escape(&who);
    let detail = slack_escape(&alert.detail);
    match alert.kind {
        AlertKind::Replied => format!("*{who}* replied. The sequence has stopped."),
        AlertKind::Booked => format!("*{who}* booked a meeting."),
        AlertKind::Hot => format!("*{who}* is hot: {detail}."),
        AlertKind::Bounced => format!("Email to *{who}* bounced: {detail}"),
        AlertKind::Attention => format!("*{who}* needs your attention: {detail}"),
        AlertKind::InDoubt => format!(
            "A message to *{who}* may not have arrived ({detail}). Settle it with `nudge resolve {}`.",
            lead.id
        ),
    }
}

/// The CRM event for `alert`: event type, lead id, name, email, phone,
/// company, status, timestamp (RFC 3339) and the event's detail.
pub fn crm_body(alert: &Alert) -> Vec<u8> {
    let lead = &alert.lead;
    json!({
        "event": alert.kind.as_str(),
        "lead_id": lead.id.to_string(),
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "status": lead.status.to_string(),
        "timestamp": alert.at.to_rfc3339(),
        "detail": alert.detail,
    })
    .to_string()
    .into_bytes()
}

/// The CRM event for a channel alert: event type, channel, timestamp,
/// since when it was down, touches waiting and the error.
pub fn channel_crm_body(alert: &ChannelAlert) -> Vec<u8> {
    json!({
        "event": alert.kind.as_str(),
        "channel": alert.channel.to_string(),
        "timestamp": alert.at.to_rfc3339(),
        "since": alert.since.to_rfc3339(),
        "waiting": alert.waiting,
        "detail": alert.describe(),
    })
    .to_string()
    .into_bytes()
}

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`: the
/// `X-Nudge-Signature` header.
pub fn crm_signature(secret: &Secret, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try, after at least the hinted wait.
    Retry(String, Option<Duration>),
    GiveUp(String),
}

/// A reqwest error and its causes, without the URL (it is a secret).
fn describe_error(e: reqwest::Error) -> String {
    crate::channels::error_chain(&e.without_url())
}

async fn attempt(
    client: &reqwest::Client,
    url: &Secret,
    body: &[u8],
    headers: &[(&'static str, String)],
) -> Attempt {
    let mut request = client
        .post(url.expose().trim())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Attempt::Delivered;
            }
            let retry_after = crate::channels::retry_after(response.headers());
            let why = format!("HTTP {status}");
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                Attempt::Retry(why, retry_after)
            } else {
                Attempt::GiveUp(why)
            }
        }
        Err(e) => Attempt::Retry(describe_error(e), None),
    }
}

/// Posts `body` to `url`, retrying per `retry`; logs the outcome by
/// `target` name only.
async fn deliver(
    client: reqwest::Client,
    target: &'static str,
    url: Secret,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    retry: AlertRetry,
) {
    let attempts = retry.attempts.max(1);
    for n in 1..=attempts {
        let why = match attempt(&client, &url, &body, &headers).await {
            Attempt::Delivered => {
                tracing::debug!(target, attempt = n, "alert delivered");
                return;
            }
            Attempt::GiveUp(why) => {
                tracing::warn!(target, reason = %why, "alert refused by the webhook; dropped");
                return;
            }
            Attempt::Retry(why, hint) if n < attempts => {
                let exp = retry.base.saturating_mul(1 << (n - 1).min(16));
                let wait = exp.max(hint.unwrap_or_default()).min(retry.cap);
                tracing::info!(target, attempt = n, reason = %why, ?wait, "alert not delivered; retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            Attempt::Retry(why, _) => why,
        };
        tracing::warn!(target, attempts, reason = %why, "alert not delivered; dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::{Lead, LeadId};
    use crate::domain::status::Status;
    use chrono::TimeZone;

    fn alert(kind: AlertKind) -> Alert {
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap();
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        Alert {
            kind,
            lead: Lead {
                id,
                name: "Ada <Lovelace>".into(),
                email: Some("ada@example.com".into()),
                phone: None,
                company: Some("Analytical & Co".into()),
                tz: None,
                source: "test".into(),
                fields: Default::default(),
                consent: Default::default(),
                sequence: "default".into(),
                status: Status::Replied,
                last_step: None,
                next: None,
                created_at: at,
                updated_at: at,
                event_count: 3,
                hot: false,
            },
            at,
            detail: "replied".into(),
        }
    }

    #[test]
    fn the_crm_signature_is_hmac_sha256_of_the_raw_body() {
        // Known answer: printf '%s' '{"event":"replied"}' |
        //   openssl dgst -sha256 -hmac 'crm-secret'
        let signature = crm_signature(&Secret::from("crm-secret"), br#"{"event":"replied"}"#);
        assert_eq!(
            signature,
            "sha256=0782253e8891f90f0bc8ca32367ad6afaf8c28e21460dc37ee38d02581f9f655"
        );
    }

    #[test]
    fn the_crm_body_names_the_event_and_the_lead() {
        let body: serde_json::Value =
            serde_json::from_slice(&crm_body(&alert(AlertKind::Replied))).unwrap();
        assert_eq!(body["event"], "replied");
        assert_eq!(body["lead_id"], "01JD3Q8Z5K9X2V7N4M6B1C0T8R");
        assert_eq!(body["email"], "ada@example.com");
        assert_eq!(body["company"], "Analytical & Co");
        assert_eq!(body["status"], "replied");
        assert_eq!(body["timestamp"], "2026-03-02T09:30:00+00:00");
    }

    #[test]
    fn slack_text_escapes_what_the_lead_wrote() {
        let text = slack_text(&alert(AlertKind::Booked));
        assert_eq!(
            text,
            "*Ada &lt;Lovelace&gt; (ada@example.com) at Analytical &amp; Co* booked a meeting."
        );
        assert!(
            slack_text(&alert(AlertKind::InDoubt))
                .contains("nudge resolve 01JD3Q8Z5K9X2V7N4M6B1C0T8R")
        );
    }

    #[test]
    fn settings_are_checked_without_echoing_urls() {
        let none = Alerter::from_config(&AlertSettings::default()).unwrap();
        assert!(none.is_none());
        let secret_url = "hxxps://hooks.example.com/T000/B000/XXXXsecret";
        let e = Alerter::from_config(&AlertSettings {
            slack_webhook_url: Secret::from(secret_url),
            ..AlertSettings::default()
        })
        .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(
            shown.contains("slack_webhook_url") && !shown.contains("XXXXsecret"),
            "{shown}"
        );
        let e = Alerter::from_config(&AlertSettings {
            crm_webhook_url: Secret::from("https://crm.example.com/hook"),
            ..AlertSettings::default()
        })
        .unwrap_err();
        assert_eq!(e, AlertError::MissingSecret);
        let ok = Alerter::from_config(&AlertSettings {
            slack_webhook_url: Secret::from("https://hooks.example.com/T000/B000/XXXXsecret"),
            crm_webhook_url: Secret::from("https://crm.example.com/hook"),
            crm_webhook_secret: Secret::from("s"),
            ..AlertSettings::default()
        })
        .unwrap()
        .unwrap();
        let shown = format!("{} {ok:?}", ok.describe());
        assert_eq!(ok.describe(), "alerts: Slack and CRM");
        assert!(!shown.contains("XXXXsecret"));
    }
}
