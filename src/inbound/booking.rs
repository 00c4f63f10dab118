//! `POST /hooks/booking`: Cal.com and Calendly webhooks. A booking marks the
//! lead booked (the sequence stops); a cancellation puts a booked lead back
//! to active and schedules its next touch: the sequence's `[rules]
//! on_cancel` step if it names one, else where the lead left off.
//!
//! The provider is told apart by its signature header:
//! * Cal.com: `X-Cal-Signature-256` = hex HMAC-SHA256 of the raw body with
//!   `[hooks] cal_secret`; events `BOOKING_CREATED`, `BOOKING_RESCHEDULED`,
//!   `BOOKING_CANCELLED`; attendees in `payload.attendees[].email`.
//! * Calendly: `Calendly-Webhook-Signature: t=UNIX,v1=HEX`, v1 = HMAC-SHA256
//!   over `UNIX.BODY` with `[hooks] calendly_signing_key`; timestamps more than
//!   [`MAX_SKEW_SECS`] from the engine clock are refused (replays); events
//!   `invitee.created`, `invitee.canceled`; invitee in `payload.email`. A
//!   cancellation with `payload.rescheduled = true` is the first half of a
//!   reschedule and leaves the lead booked.
//!
//! Answers: 401 no signature, 403 wrong or stale signature (or the provider's
//! secret is not configured), 400 bad JSON, 202 with a note when no lead has
//! the address, 200 otherwise (with a note when nothing changed).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Inbound, Rejection, blocking, reject};
use crate::domain::event::EventKind;
use crate::domain::lead::LeadId;
use crate::domain::links::constant_time_eq;
use crate::domain::mark::{Mark, MarkError};
use crate::domain::rules::on_booking_cancelled;
use crate::domain::status::Status;
use crate::engine::{Engine, EngineError};

/// Largest accepted distance between a Calendly signature's timestamp and now.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// What a booking webhook asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Booked,
    Cancelled,
}

/// A provider's event, reduced to what nudge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Booking {
    kind: Kind,
    /// Candidate addresses, in the provider's order.
    emails: Vec<String>,
    /// For the timeline, e.g. `Cal.com BOOKING_CREATED`.
    label: String,
}

/// Hex HMAC-SHA256 of `parts` concatenated, keyed with `key`.
fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn hex_matches(presented: &str, expected: &str) -> bool {
    constant_time_eq(
        presented.trim().to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks Calendly's `t=…,v1=…` header against `body` at `now` (unix seconds).
fn verify_calendly(key: &str, header: &str, body: &[u8], now: i64) -> Result<(), Rejection> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.trim()),
            Some(("v1", v)) => signatures.push(v.trim()),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "Calendly-Webhook-Signature needs t= and v1=",
        ));
    };
    let expected = hmac_hex(key, &[t.as_bytes(), b".", body]);
    if !signatures.iter().any(|s| hex_matches(s, &expected)) {
        return Err(reject(StatusCode::FORBIDDEN, "signature does not match"));
    }
    let at: i64 = t
        .parse()
        .map_err(|_| reject(StatusCode::FORBIDDEN, "signature timestamp is not a number"))?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(reject(
            StatusCode::FORBIDDEN,
            "signature timestamp is too old (or in the future)",
        ));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(body)
        .map_err(|e| reject(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")))
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Cal.com's event, or `None` for one nudge ignores (PING, MEETING_ENDED…).
fn cal_booking(value: &Value) -> Result<Option<Booking>, Rejection> {
    let trigger = text(value, "/triggerEvent")
        .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "missing `triggerEvent`"))?;
    let kind = match trigger {
        "BOOKING_CREATED" | "BOOKING_RESCHEDULED" => Kind::Booked,
        "BOOKING_CANCELLED" => Kind::Cancelled,
        _ => return Ok(None),
    };
    let emails = value
        .pointer("/payload/attendees")
        .and_then(Value::as_array)
        .map(|attendees| {
            attendees
                .iter()
                .filter_map(|a| a.get("email").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Booking {
        kind,
        emails,
        label: format!("Cal.com {trigger}"),
    }))
}

/// Calendly's event, or `None` for one nudge ignores (including the
/// cancellation half of a reschedule).
fn calendly_booking(value: &Value) -> Result<Option<Booking>, Rejection> {
    let event =
        text(value, "/event").ok_or_else(|| reject(StatusCode::BAD_REQUEST, "missing `event`"))?;
    let rescheduled = value
        .pointer("/payload/rescheduled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind = match event {
        "invitee.created" => Kind::Booked,
        "invitee.canceled" if !rescheduled => Kind::Cancelled,
        _ => return Ok(None),
    };
    Ok(Some(Booking {
        kind,
        emails: text(value, "/payload/email")
            .map(str::to_string)
            .into_iter()
            .collect(),
        label: format!("Calendly {event}"),
    }))
}

/// What applying a booking did.
enum Applied {
    /// The lead's status now.
    Changed(LeadId, Status),
    /// Nothing changed, and why.
    Unchanged(LeadId, String),
    /// No lead has any of the addresses.
    UnknownLead,
}

fn apply(engine: &Engine, booking: &Booking) -> Result<Applied, EngineError> {
    let mut found = None;
    for email in &booking.emails {
        if let Some(id) = engine
            .store()
            .lead_by_contact(&email.trim().to_ascii_lowercase())?
        {
            found = Some(id);
            break;
        }
    }
    let Some(id) = found else {
        return Ok(Applied::UnknownLead);
    };
    let status = engine
        .store()
        .lead(id)?
        .map(|l| l.status)
        .ok_or_else(|| crate::store::StoreError::NotFound(id.to_string()))?;
    let note = format!("{} (booking webhook)", booking.label);
    let changed = match (booking.kind, status) {
        (Kind::Booked, Status::Booked) => None,
        (Kind::Booked, _) => Some(engine.mark(id, Mark::Booked, Some(&note))),
        (Kind::Cancelled, Status::Booked) => Some(engine.update(id, |current, _, ctx| {
            let mut update = on_booking_cancelled(
                current,
                ctx.sequence,
                ctx.events,
                ctx.now,
                ctx.settings.default_tz,
            )?;
            update.events.push(EventKind::Note { text: note.clone() });
            Ok::<_, MarkError>(update)
        })),
        (Kind::Cancelled, _) => None,
    };
    let why = match changed {
        Some(Ok(lead)) => return Ok(Applied::Changed(id, lead.status)),
        Some(Err(EngineError::Mark(e))) => e.to_string(),
        Some(Err(e)) => return Err(e),
        None => format!("the lead is {status}; left as it is"),
    };
    engine.record(
        id,
        EventKind::Note {
            text: format!("{note}: {why}"),
        },
    )?;
    Ok(Applied::Unchanged(id, why))
}

/// The handler.
pub(super) async fn booking(
    State(state): State<Arc<Inbound>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = if let Some(signature) = header(&headers, "x-cal-signature-256") {
        if state.cal_secret.is_empty() {
            return reject(StatusCode::FORBIDDEN, "Cal.com webhooks are not configured")
                .into_response();
        }
        if !hex_matches(signature, &hmac_hex(state.cal_secret.expose(), &[&body])) {
            return reject(StatusCode::FORBIDDEN, "signature does not match").into_response();
        }
        parse_json(&body).and_then(|v| cal_booking(&v))
    } else if let Some(signature) = header(&headers, "calendly-webhook-signature") {
        if state.calendly_signing_key.is_empty() {
            return reject(
                StatusCode::FORBIDDEN,
                "Calendly webhooks are not configured",
            )
            .into_response();
        }
        let now = state.engine.now().timestamp();
        verify_calendly(state.calendly_signing_key.expose(), signature, &body, now)
            .and_then(|()| parse_json(&body))
            .and_then(|v| calendly_booking(&v))
    } else {
        Err(reject(
            StatusCode::UNAUTHORIZED,
            "missing X-Cal-Signature-256 or Calendly-Webhook-Signature",
        ))
    };
    let booking = match parsed {
        Ok(Some(booking)) => booking,
        Ok(None) => return axum::Json(json!({ "note": "event ignored" })).into_response(),
        Err(rejection) => return rejection.into_response(),
    };
    let engine = state.engine.clone();
    match blocking(move || apply(&engine, &booking)).await {
        Ok(Ok(Applied::Changed(id, status))) => {
            axum::Json(json!({ "lead": id, "status": status })).into_response()
        }
        Ok(Ok(Applied::Unchanged(id, why))) => {
            axum::Json(json!({ "lead": id, "note": why })).into_response()
        }
        Ok(Ok(Applied::UnknownLead)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "note": "no lead has this address; nothing changed" })),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "booking webhook failed");
            reject(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendly_signature_and_skew() {
        let body = br#"{"event":"invitee.created"}"#;
        let sig = hmac_hex("key", &[b"1700000000", b".", body]);
        let header = format!("t=1700000000,v1={sig}");
        assert!(verify_calendly("key", &header, body, 1_700_000_100).is_ok());
        assert!(verify_calendly("other", &header, body, 1_700_000_100).is_err());
        let stale = verify_calendly("key", &header, body, 1_700_000_000 + MAX_SKEW_SECS + 1);
        assert!(matches!(stale, Err(Rejection(StatusCode::FORBIDDEN, _))));
        let missing = verify_calendly("key", "v1=abc", body, 1_700_000_000);
        assert!(matches!(
            missing,
            Err(Rejection(StatusCode::UNAUTHORIZED, _))
        ));
    }

    #[test]
    fn calendly_reschedule_cancel_is_ignored() {
        let v = json!({"event": "invitee.canceled", "payload": {"email": "a@b.c", "rescheduled": true}});
        assert_eq!(calendly_booking(&v).ok().flatten(), None);
        let v = json!({"event": "invitee.canceled", "payload": {"email": "a@b.c"}});
        let booking = calendly_booking(&v).ok().flatten();
        assert_eq!(
            booking.map(|b| (b.kind, b.emails)),
            Some((Kind::Cancelled, vec!["a@b.c".to_string()]))
        );
    }
}
