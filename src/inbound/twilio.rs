//! `POST /hooks/twilio/sms`: inbound texts from Twilio, verified with
//! `X-Twilio-Signature` and answered in TwiML.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::{Inbound, blocking, called_url, opt_out_phone, resubscribe_phone, sms_reply};
use crate::domain::links::constant_time_eq;

/// Twilio's opt-out keywords (any case, surrounding space ignored).
const STOP_WORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Twilio's opt-in keywords.
const START_WORDS: &[&str] = &["START", "UNSTOP"];

/// Twilio's request signature: HMAC-SHA1 with the auth token over the URL it
/// called followed by every POST parameter, sorted by name, as name+value;
/// base64-encoded.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn twiml(message: Option<&str>) -> Response {
    let body = match message {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            escape_xml(text)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_string(),
    };
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// The handler.
pub(super) async fn sms(
    State(state): State<Arc<Inbound>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let forbidden = || (StatusCode::FORBIDDEN, "signature does not match").into_response();
    if state.twilio_auth_token.is_empty() || state.public_url.is_empty() {
        return forbidden();
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let presented = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let expected = signature(
        state.twilio_auth_token.expose(),
        &called_url(&state, &uri),
        &params,
    );
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return forbidden();
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let from = param("From");
    let text = param("Body");
    let keyword = text.trim().to_ascii_uppercase();
    let engine = state.engine.clone();
    if STOP_WORDS.contains(&keyword.as_str()) {
        return match blocking(move || opt_out_phone(&engine, &from)).await {
            Ok(Ok(())) => twiml(Some(
                "You have been unsubscribed and will receive no more messages. Reply START to resubscribe.",
            )),
            Ok(Err(e)) => internal(e),
            Err(rejection) => rejection.into_response(),
        };
    }
    if START_WORDS.contains(&keyword.as_str()) {
        return match blocking(move || resubscribe_phone(&engine, &from)).await {
            Ok(Ok(())) => twiml(Some("You have been resubscribed. Reply STOP to opt out.")),
            Ok(Err(e)) => internal(e),
            Err(rejection) => rejection.into_response(),
        };
    }
    if keyword == "HELP" {
        let sender = &state.engine.settings().sender;
        let who = if sender.company.is_empty() {
            "us"
        } else {
            sender.company.as_str()
        };
        return twiml(Some(&format!(
            "Messages from {who} about your enquiry. Reply STOP to opt out, START to opt back in."
        )));
    }
    match blocking(move || sms_reply(&engine, &from, &text)).await {
        Ok(Ok(())) => twiml(None),
        Ok(Err(e)) => internal(e),
        Err(rejection) => rejection.into_response(),
    }
}

fn internal(e: crate::engine::EngineError) -> Response {
    tracing::error!(error = %e, "inbound SMS failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilios_published_vector() {
        // https://www.twilio.com/docs/usage/security#validating-requests
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .rev()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert_ne!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn twiml_escapes_text() {
        let Ok(body) = futures_body(twiml(Some("a<b & \"c\""))) else {
            panic!("body")
        };
        assert!(
            body.contains("<Message>a&lt;b &amp; &quot;c&quot;</Message>"),
            "{body}"
        );
    }

    fn futures_body(response: Response) -> Result<String, ()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|_| ())?;
        let bytes = rt
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .map_err(|_| ())?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ())
    }
}
