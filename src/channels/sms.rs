//! Text messages through the Twilio Messaging REST API
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).
//!
//! Error classification lives in the private `twilio` module: 21610 (unsubscribed) is
//! an opt-out, 21211/21614 (invalid or non-mobile number) are permanent, 429
//! and 5xx are transient, a timeout or a connection lost mid-request is in doubt.

use std::time::Duration;

use super::twilio::TwilioClient;
use super::{ChannelError, Outgoing, Receipt, SendError, Transport};
use crate::config::SmsSettings;

/// Sends SMS through one Twilio account.
#[derive(Debug, Clone)]
pub struct SmsTransport {
    /// Account, auth and error mapping shared with calls.
    client: TwilioClient,
    /// Sending number in E.164, if configured.
    from: Option<String>,
    /// Messaging Service that picks the sender, if configured.
    messaging_service_sid: Option<String>,
}

/// What a complete `[sms]` section needs, for error and dry-run messages.
pub(crate) const SMS_NEEDS: &str =
    "needs account_sid, auth_token and from or messaging_service_sid";

/// Whether `[sms]` has everything a live transport needs.
pub(crate) fn is_complete(settings: &SmsSettings) -> bool {
    !settings.account_sid.trim().is_empty()
        && !settings.auth_token.is_empty()
        && (!settings.from.trim().is_empty() || !settings.messaging_service_sid.trim().is_empty())
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SmsTransport {
    /// Builds the transport from a complete `[sms]` section.
    pub fn new(settings: &SmsSettings) -> Result<SmsTransport, ChannelError> {
        if !is_complete(settings) {
            return Err(ChannelError::Invalid {
                section: "sms",
                field: "account_sid",
                detail: format!("incomplete section: {SMS_NEEDS}"),
            });
        }
        Ok(SmsTransport {
            client: TwilioClient::new(
                &settings.account_sid,
                &settings.auth_token,
                &settings.base_url,
            )?,
            from: non_empty(&settings.from),
            messaging_service_sid: non_empty(&settings.messaging_service_sid),
        })
    }

    /// Replaces the whole-request timeout (default 15 s). A timeout is
    /// reported as in doubt, so keep it well above the API's normal latency.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.client.set_timeout(timeout);
        self
    }
}

#[async_trait::async_trait]
impl Transport for SmsTransport {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        let mut form: Vec<(&str, &str)> = vec![("To", touch.to.as_str())];
        if let Some(from) = &self.from {
            form.push(("From", from));
        }
        if let Some(service) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", service));
        }
        form.push(("Body", touch.body.as_str()));
        self.client.create("Messages", &form).await
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        let sender = match (&self.from, &self.messaging_service_sid) {
            (Some(from), _) => format!("from {from}"),
            (None, Some(service)) => format!("via Messaging Service {service}"),
            (None, None) => String::new(),
        };
        format!("sms via Twilio {} {sender}", self.client.base_url())
    }

    async fn probe(&self) -> Result<(), SendError> {
        self.client.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::SendError;
    use crate::channels::test_helpers::{
        BASIC_AUTH, SID, TOKEN, drop_after_request_server, form_of, refused_url, sample_touch,
        twilio_error,
    };
    use crate::domain::sequence::Channel;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const MESSAGES: &str = "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json";

    fn settings(base_url: &str) -> SmsSettings {
        SmsSettings {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: "+15005550006".into(),
            messaging_service_sid: String::new(),
            base_url: base_url.into(),
            daily_cap: 0,
        }
    }

    fn transport(base_url: &str) -> SmsTransport {
        SmsTransport::new(&settings(base_url)).unwrap()
    }

    fn touch() -> Outgoing {
        sample_touch(
            Channel::Sms,
            "+14155552671",
            "Hi Alex, the demo link: https://x.test/d Reply STOP to opt out",
        )
    }

    async fn answer(status: u16, body: serde_json::Value) -> (MockServer, SendError) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let err = transport(&server.uri()).send(&touch()).await.unwrap_err();
        (server, err)
    }

    #[tokio::test]
    async fn posts_the_documented_form_with_basic_auth_and_keeps_the_sid() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .and(header("authorization", BASIC_AUTH))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "account_sid": SID,
                "api_version": "2010-04-01",
                "body": "Hi Alex",
                "from": "+15005550006",
                "to": "+14155552671",
                "num_segments": "1",
                "sid": "SM0123456789abcdef0123456789abcdef",
                "status": "queued",
                "error_code": null,
                "error_message": null,
                "uri": "/2010-04-01/Accounts/AC0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let receipt = transport(&server.uri()).send(&touch()).await.unwrap();
        assert_eq!(
            receipt.provider_id.as_deref(),
            Some("SM0123456789abcdef0123456789abcdef")
        );
        assert!(!receipt.dry_run);
        let requests = server.received_requests().await.unwrap();
        let form = form_of(&requests[0]);
        assert_eq!(
            form,
            vec![
                ("To".to_string(), "+14155552671".to_string()),
                ("From".to_string(), "+15005550006".to_string()),
                ("Body".to_string(), touch().body),
            ]
        );
    }

    #[tokio::test]
    async fn a_messaging_service_replaces_the_from_number() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SMabc"})),
            )
            .mount(&server)
            .await;
        let mut s = settings(&server.uri());
        s.from = String::new();
        s.messaging_service_sid = "MG0123".into();
        let t = SmsTransport::new(&s).unwrap();
        t.send(&touch()).await.unwrap();
        let form = form_of(&server.received_requests().await.unwrap()[0]);
        assert!(form.contains(&("MessagingServiceSid".into(), "MG0123".into())));
        assert!(!form.iter().any(|(k, _)| k == "From"));
    }

    #[tokio::test]
    async fn invalid_number_21211_is_permanent() {
        let (_s, err) = answer(
            400,
            twilio_error(
                21211,
                "The 'To' number +1555 is not a valid phone number.",
                400,
            ),
        )
        .await;
        match err {
            SendError::Permanent { reason } => {
                assert!(reason.contains("21211"), "{reason}");
                assert!(reason.contains("not a valid phone number"), "{reason}");
            }
            other => panic!("expected permanent, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unsubscribed_recipient_21610_is_an_opt_out() {
        let (_s, err) = answer(
            400,
            twilio_error(21610, "Attempt to send to unsubscribed recipient", 400),
        )
        .await;
        assert!(matches!(err, SendError::OptedOut { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn landline_21614_is_permanent() {
        let (_s, err) = answer(
            400,
            twilio_error(21614, "'To' number is not a valid mobile number", 400),
        )
        .await;
        assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn other_client_errors_are_permanent() {
        let (_s, err) = answer(400, twilio_error(21602, "Message body is required.", 400)).await;
        assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn too_many_requests_means_the_channel_is_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "7")
                    .set_body_json(twilio_error(20429, "Too Many Requests", 429)),
            )
            .mount(&server)
            .await;
        let err = transport(&server.uri()).send(&touch()).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Unavailable {
                reason: "Twilio answered HTTP 429, error 20429: Too Many Requests \
                         (https://www.twilio.com/docs/errors/20429)"
                    .into(),
                credentials: false,
            }
        );
    }

    #[tokio::test]
    async fn server_errors_mean_the_channel_is_unavailable() {
        let (_s, err) = answer(500, twilio_error(20500, "Internal Server Error", 500)).await;
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn bad_credentials_pause_the_channel_and_never_show_the_token() {
        let (_s, err) = answer(
            401,
            twilio_error(20003, &format!("Authenticate: bad token {TOKEN}"), 401),
        )
        .await;
        assert!(
            matches!(
                err,
                SendError::Unavailable {
                    credentials: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains(TOKEN), "{err}");
        assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
    }

    #[tokio::test]
    async fn a_timeout_is_in_doubt() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"sid": "SMlate"}))
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let err = transport(&server.uri())
            .with_timeout(Duration::from_millis(300))
            .send(&touch())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn connection_refused_means_the_channel_is_unavailable() {
        let err = transport(&refused_url()).send(&touch()).await.unwrap_err();
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn the_probe_is_an_authenticated_get_of_the_account() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/2010-04-01/Accounts/AC0123456789abcdef.json"))
            .and(header("authorization", BASIC_AUTH))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"sid": SID})))
            .expect(1)
            .mount(&server)
            .await;
        transport(&server.uri()).probe().await.unwrap();

        let (_s, err) = answer(503, serde_json::json!({})).await;
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
        let refused = transport(&refused_url()).probe().await.unwrap_err();
        assert!(
            matches!(refused, SendError::Unavailable { .. }),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn connection_dropped_after_the_request_is_in_doubt() {
        let (url, received) = drop_after_request_server().await;
        let err = transport(&url).send(&touch()).await.unwrap_err();
        assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
        let request = received.await.unwrap();
        assert!(request.contains("Body=Hi+Alex"), "{request}");
    }

    #[test]
    fn incomplete_settings_are_refused_and_nothing_leaks() {
        let mut s = settings("");
        s.from = String::new();
        let err = SmsTransport::new(&s).unwrap_err();
        assert!(err.to_string().contains("messaging_service_sid"), "{err}");
        let t = SmsTransport::new(&settings("")).unwrap();
        let shown = format!("{} {t:?}", t.describe());
        assert!(!shown.contains(TOKEN), "{shown}");
        assert_eq!(
            t.describe(),
            "sms via Twilio https://api.twilio.com from +15005550006"
        );
    }
}
