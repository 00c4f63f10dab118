//! `GET /o/{token}.gif` (open pixel) and `GET /c/{token}` (click redirect).
//!
//! Tokens are signed over (lead, step, link index) with `[server]
//! link_secret`; anything that does not verify is a 404, so tokens can be
//! neither forged nor enumerated. A click redirects only to a link stored
//! on the touch when it was sent: no open redirect. Hits that look automated
//! ([`machine_reason`]) are recorded as `prefetched` and fire no rule.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Inbound, blocking};
use crate::domain::event::EventKind;
use crate::domain::links::{self, LinkRef};
use crate::domain::rules::Signal;
use crate::domain::touch::TouchState;
use crate::domain::tracking::{self, Hit, machine_reason};
use crate::engine::{Engine, EngineError};
use crate::store::StoreError;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x01, 0x44, 0x00, 0x3b,
];

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn verify(state: &Inbound, purpose: &str, token: &str) -> Option<LinkRef> {
    if state.link_secret.is_empty() {
        return None;
    }
    links::verify_link(state.link_secret.expose().as_bytes(), purpose, token)
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Looks the hit's touch up and records it: engagement through the rules,
/// or a `prefetched` event for a machine. Returns the click's target (the
/// stored link), `None` when the touch or link does not exist. A failure to
/// record is logged, never shown: the person still gets their page.
fn track(
    engine: &Engine,
    link: LinkRef,
    hit: Hit,
    agent: Option<&str>,
    window: chrono::Duration,
) -> Result<Option<String>, EngineError> {
    let Some(touch) = engine.store().touch(link.lead, link.step)? else {
        return Ok(None);
    };
    let url = match hit {
        Hit::Open => None,
        Hit::Click => match touch.links.get(link.index as usize) {
            Some(url) => Some(url.clone()),
            None => return Ok(None),
        },
    };
    let since_sent = (touch.state != TouchState::Sending).then(|| engine.now() - touch.updated_at);
    let recorded = match machine_reason(hit, agent, since_sent, window) {
        Some(reason) => engine.record(
            link.lead,
            EventKind::Prefetched {
                signal: hit.as_str().to_string(),
                url: url.clone(),
                reason,
            },
        ),
        None => engine.record_signal(
            link.lead,
            match hit {
                Hit::Open => Signal::Opened,
                Hit::Click => Signal::Clicked { url: url.clone() },
            },
        ),
    };
    match recorded {
        Ok(_) | Err(EngineError::Store(StoreError::NotFound(_))) => {}
        Err(e) => tracing::error!(lead = %link.lead, error = %e, "cannot record a tracking hit"),
    }
    Ok(Some(url.unwrap_or_default()))
}

/// `GET /o/{token}.gif`: the pixel, uncacheable so each open reaches us.
pub(super) async fn open(
    State(state): State<Arc<Inbound>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(link) = file
        .strip_suffix(".gif")
        .and_then(|token| verify(&state, tracking::OPEN, token))
    else {
        return not_found();
    };
    let engine = state.engine.clone();
    let window = state.prefetch_window;
    let agent = user_agent(&headers);
    let done = blocking(move || track(&engine, link, Hit::Open, agent.as_deref(), window)).await;
    if let Ok(Err(e)) = done {
        tracing::error!(error = %e, "cannot look up an opened touch");
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, no-cache, must-revalidate"),
        ],
        PIXEL,
    )
        .into_response()
}

/// `GET /c/{token}`: 302 to the link stored for that index, else 404.
pub(super) async fn click(
    State(state): State<Arc<Inbound>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(link) = verify(&state, tracking::CLICK, &token) else {
        return not_found();
    };
    let engine = state.engine.clone();
    let window = state.prefetch_window;
    let agent = user_agent(&headers);
    let target = blocking(move || track(&engine, link, Hit::Click, agent.as_deref(), window)).await;
    match target {
        // Parsing percent-encodes what a header cannot carry (non-ASCII).
        Ok(Ok(Some(url))) => match url::Url::parse(&url)
            .ok()
            .and_then(|u| HeaderValue::from_str(u.as_str()).ok())
        {
            Some(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
            None => not_found(),
        },
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot look up a clicked touch");
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_is_a_1x1_gif() {
        assert_eq!(&PIXEL[..6], b"GIF89a");
        assert_eq!(&PIXEL[6..10], &[1, 0, 1, 0]);
        assert_eq!(PIXEL.last(), Some(&0x3b));
    }
}
