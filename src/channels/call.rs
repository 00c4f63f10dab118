//! Phone calls through the Twilio Calls API
//! (`POST /2010-04-01/Accounts/{AccountSid}/Calls.json`), used only when
//! `[call] mode = "twilio"`. Twilio dials the lead and fetches `twiml_url`
//! (TwiML or a voice agent) when the call connects. Same account and error
//! mapping as SMS.

use std::time::Duration;

use super::twilio::TwilioClient;
use super::{ChannelError, Outgoing, Receipt, SendError, Transport};
use crate::config::{CallSettings, SmsSettings};

/// Places calls through one Twilio account.
#[derive(Debug, Clone)]
pub struct CallTransport {
    /// Account, auth and error mapping shared with SMS.
    client: TwilioClient,
    /// Caller id in E.164 (a Messaging Service cannot place calls).
    from: String,
    /// What Twilio fetches when the lead picks up.
    twiml_url: String,
}

/// What a live call transport needs, for error and dry-run messages.
pub(crate) const CALL_NEEDS: &str =
    "needs [call] twiml_url and [sms] account_sid, auth_token and from";

/// Whether the settings are complete enough to place calls.
pub(crate) fn is_complete(sms: &SmsSettings, call: &CallSettings) -> bool {
    !sms.account_sid.trim().is_empty()
        && !sms.auth_token.is_empty()
        && !sms.from.trim().is_empty()
        && !call.twiml_url.trim().is_empty()
}

impl CallTransport {
    /// Builds the transport from the `[sms]` account and `[call]` settings.
    pub fn new(sms: &SmsSettings, call: &CallSettings) -> Result<CallTransport, ChannelError> {
        if !is_complete(sms, call) {
            return Err(ChannelError::Invalid {
                section: "call",
                field: "twiml_url",
                detail: format!("incomplete settings: {CALL_NEEDS}"),
            });
        }
        let twiml_url = call.twiml_url.trim().to_string();
        match url::Url::parse(&twiml_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => {
                return Err(ChannelError::Invalid {
                    section: "call",
                    field: "twiml_url",
                    detail: format!("`{twiml_url}` is not an http(s) URL"),
                });
            }
        }
        Ok(CallTransport {
            client: TwilioClient::new(&sms.account_sid, &sms.auth_token, &sms.base_url)?,
            from: sms.from.trim().to_string(),
            twiml_url,
        })
    }

    /// Replaces the whole-request timeout (default 15 s); a timeout is in doubt.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.client.set_timeout(timeout);
        self
    }
}

#[async_trait::async_trait]
impl Transport for CallTransport {
    async fn send(&self, touch: &Outgoing) -> Result<Receipt, SendError> {
        let form = [
            ("To", touch.to.as_str()),
            ("From", self.from.as_str()),
            ("Url", self.twiml_url.as_str()),
        ];
        self.client.create("Calls", &form).await
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!(
            "call via Twilio {} from {}, script {}",
            self.client.base_url(),
            self.from,
            self.twiml_url
        )
    }

    async fn probe(&self) -> Result<(), SendError> {
        self.client.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_helpers::{
        BASIC_AUTH, SID, TOKEN, form_of, refused_url, sample_touch, twilio_error,
    };
    use crate::config::CallMode;
    use crate::domain::sequence::Channel;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const CALLS: &str = "/2010-04-01/Accounts/AC0123456789abcdef/Calls.json";

    fn transport(base_url: &str) -> CallTransport {
        let sms = SmsSettings {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: "+15005550006".into(),
            messaging_service_sid: String::new(),
            base_url: base_url.into(),
            daily_cap: 0,
        };
        let call = CallSettings {
            mode: CallMode::Twilio,
            twiml_url: "https://voice.example.com/agent.xml".into(),
        };
        CallTransport::new(&sms, &call).unwrap()
    }

    fn touch() -> Outgoing {
        sample_touch(Channel::Call, "+14155552671", "Call Alex about the demo")
    }

    #[tokio::test]
    async fn posts_to_from_and_url_and_keeps_the_call_sid() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CALLS))
            .and(header("authorization", BASIC_AUTH))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "account_sid": SID,
                "sid": "CA0123456789abcdef0123456789abcdef",
                "status": "queued",
                "to": "+14155552671",
                "from": "+15005550006",
                "direction": "outbound-api"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let receipt = transport(&server.uri()).send(&touch()).await.unwrap();
        assert_eq!(
            receipt.provider_id.as_deref(),
            Some("CA0123456789abcdef0123456789abcdef")
        );
        let form = form_of(&server.received_requests().await.unwrap()[0]);
        assert_eq!(
            form,
            vec![
                ("To".to_string(), "+14155552671".to_string()),
                ("From".to_string(), "+15005550006".to_string()),
                (
                    "Url".to_string(),
                    "https://voice.example.com/agent.xml".to_string()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn errors_map_like_sms() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CALLS))
            .respond_with(ResponseTemplate::new(400).set_body_json(twilio_error(
                21211,
                "The 'To' number 123 is not a valid phone number.",
                400,
            )))
            .mount(&server)
            .await;
        let err = transport(&server.uri()).send(&touch()).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");

        let busy = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&busy)
            .await;
        let err = transport(&busy.uri()).send(&touch()).await.unwrap_err();
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");

        let err = transport(&refused_url()).send(&touch()).await.unwrap_err();
        assert!(matches!(err, SendError::Unavailable { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_timeout_is_in_doubt() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let err = transport(&server.uri())
            .with_timeout(Duration::from_millis(300))
            .send(&touch())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
    }

    #[test]
    fn needs_a_caller_id_and_a_script() {
        let sms = SmsSettings {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            messaging_service_sid: "MG1".into(),
            ..SmsSettings::default()
        };
        let call = CallSettings {
            mode: CallMode::Twilio,
            twiml_url: "https://voice.example.com/a.xml".into(),
        };
        let err = CallTransport::new(&sms, &call).unwrap_err();
        assert!(err.to_string().contains("from"), "{err}");
        assert!(!err.to_string().contains(TOKEN), "{err}");
    }
}
