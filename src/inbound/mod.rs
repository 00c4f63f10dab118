//! Inbound HTTP: lead intake, one-click unsubscribe, open and click
//! tracking, the Twilio SMS webhook and booking webhooks (Cal.com,
//! Calendly), served by axum inside the engine process (`nudge serve`).
//!
//! `router(state)` builds the routes; `launch(listener, state, shutdown)`
//! serves them until shutdown, so tests bind `127.0.0.1:0` and talk HTTP.
//! Bad input always gets a 4xx naming the problem, never a 500.

mod booking;
pub mod imap;
mod limit;
mod tracking;
mod twilio;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::watch;

use crate::config::{Config, Secret};
use crate::domain::event::EventKind;
use crate::domain::lead::LeadId;
use crate::domain::links;
use crate::domain::mark::{LeadUpdate, Mark};
use crate::domain::status::Status;
use crate::engine::{Engine, EngineError};
use crate::import::input_from_fields;

pub use limit::IntakeLimits;
pub use twilio::signature as twilio_signature;

/// Largest request body accepted (HTTP 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
pub struct Inbound {
    /// The engine every change goes through.
    pub engine: Arc<Engine>,
    /// Bearer token for intake; empty disables intake.
    pub intake_token: Secret,
    /// Key for signed links.
    pub link_secret: Secret,
    /// Verifies Twilio's signature; empty refuses the webhook.
    pub twilio_auth_token: Secret,
    /// Verifies Cal.com booking webhooks; empty refuses them.
    pub cal_secret: Secret,
    /// Verifies Calendly booking webhooks; empty refuses them.
    pub calendly_signing_key: Secret,
    /// The public base URL (Twilio signs the URL it called).
    pub public_url: String,
    /// Per-source field mappings: source → (our field → their field).
    pub sources: BTreeMap<String, BTreeMap<String, String>>,
    /// Tracking hits sooner than this after the send are link scanners.
    pub prefetch_window: chrono::Duration,
    /// Intake rate limits and the proxies trusted to name the client.
    pub limits: IntakeLimits,
}

impl Inbound {
    /// Handler state from the config.
    pub fn from_config(engine: Arc<Engine>, config: &Config) -> Inbound {
        let twilio = if config.hooks.twilio_auth_token.is_empty() {
            config.sms.auth_token.clone()
        } else {
            config.hooks.twilio_auth_token.clone()
        };
        Inbound {
            engine,
            intake_token: config.server.intake_token.clone(),
            link_secret: config.server.link_secret.clone(),
            twilio_auth_token: twilio,
            cal_secret: config.hooks.cal_secret.clone(),
            calendly_signing_key: config.hooks.calendly_signing_key.clone(),
            public_url: config
                .server
                .public_url
                .trim()
                .trim_end_matches('/')
                .to_string(),
            sources: config.server.sources.clone(),
            prefetch_window: chrono::Duration::seconds(
                config.server.prefetch_window_secs.min(86_400) as i64,
            ),
            limits: IntakeLimits::from_settings(&config.server),
        }
    }
}

/// The routes.
pub fn router(state: Arc<Inbound>) -> Router {
    Router::new()
        .route("/api/leads", post(intake))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/o/{file}", get(tracking::open))
        .route("/c/{token}", get(tracking::click))
        .route("/hooks/twilio/sms", post(twilio::sms))
        .route("/hooks/booking", post(booking::booking))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` turns true; each
/// request knows its peer address, for the per-client rate limit.
pub async fn launch(
    listener: tokio::net::TcpListener,
    state: Arc<Inbound>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// A refusal decided before the answer is built: small to pass around,
/// answered as a JSON error body.
pub(crate) struct Rejection(StatusCode, String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// `Retry-After` when intake is refused for low disk space: long enough for
/// someone to free space, short enough that a sender's retry succeeds soon after.
const LOW_DISK_RETRY_SECS: u64 = 300;

/// 429 with `Retry-After`: a rate limit was reached; nothing was stored.
fn too_many(wait: std::time::Duration, what: &str) -> Response {
    let secs = limit::retry_after_secs(wait);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{what}; retry in {secs} s. Nothing was stored."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    response
}

fn reject(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection(status, message.into())
}

/// Runs engine work off the async threads: it flushes to disk.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Rejection> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| reject(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The body as field pairs, by content type.
fn body_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                reject(
                    StatusCode::BAD_REQUEST,
                    format!("body is not valid JSON: {e}"),
                )
            })?;
            let object = value.as_object().ok_or_else(|| {
                reject(
                    StatusCode::BAD_REQUEST,
                    "body must be a JSON object of fields",
                )
            })?;
            let mut pairs = Vec::new();
            for (key, value) in object {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => continue,
                    _ => {
                        return Err(reject(
                            StatusCode::BAD_REQUEST,
                            format!("field `{key}` must be a string, number or boolean"),
                        ));
                    }
                };
                pairs.push((key.clone(), text));
            }
            Ok(pairs)
        }
        "application/x-www-form-urlencoded" => {
            if std::str::from_utf8(body).is_err() {
                return Err(reject(StatusCode::BAD_REQUEST, "form body is not UTF-8"));
            }
            Ok(url::form_urlencoded::parse(body).into_owned().collect())
        }
        other => Err(reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type `{other}` is not accepted; send application/json or application/x-www-form-urlencoded"
            ),
        )),
    }
}

/// `POST /api/leads`: 201 with the id once the lead is durable; 200 for a
/// retry or a contact already known (the existing id, `"duplicate": true`);
/// 409 for a suppressed contact; 400 naming each bad field; 401 bad token;
/// 429 over a rate limit.
async fn intake(
    State(state): State<Arc<Inbound>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query_pairs(query.as_deref());
    if state.intake_token.is_empty() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "intake is disabled: set [server] intake_token (or NUDGE_SERVER_INTAKE_TOKEN)",
        );
    }
    let client = state.limits.client_ip(peer.map(|p| p.0.0.ip()), &headers);
    if let Err(wait) = state.limits.check_client(client) {
        return too_many(wait, "too many requests from this address");
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let presented = bearer.or(query_value(&query, "token")).unwrap_or("");
    if !links::constant_time_eq(presented.as_bytes(), state.intake_token.expose().as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong token");
    }
    let mut fields = match body_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(rejection) => return rejection.into_response(),
    };
    let source = query_value(&query, "source")
        .unwrap_or("api")
        .trim()
        .to_string();
    if let Some(mapping) = state.sources.get(&source) {
        for (ours, theirs) in mapping {
            for (key, _) in fields.iter_mut() {
                if key == theirs {
                    *key = ours.clone();
                }
            }
        }
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let idempotency = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| field("id"))
        .map(|key| format!("{source}/{key}"));
    let sequence =
        field("sequence").or_else(|| query_value(&query, "sequence").map(str::to_string));
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("sequence") && !k.eq_ignore_ascii_case("token"))
        .collect();
    let mut input = input_from_fields(&fields, &source);
    input.source = source;
    input.sequence = sequence;
    let region = state.engine.settings().default_region.clone();
    let problems = input.problems(region.as_deref());
    // A bad phone next to a good email is kept without the phone: say so.
    let warnings = input.warnings(region.as_deref());
    if !problems.is_empty() {
        let errors: serde_json::Map<String, serde_json::Value> = problems
            .into_iter()
            .map(|(f, e)| (f.to_string(), json!(e.to_string())))
            .collect();
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "errors": errors })),
        )
            .into_response();
    }
    if let Err(wait) = state.limits.check_new_lead() {
        return too_many(wait, "too many new leads this minute");
    }
    let engine = state.engine.clone();
    let added = match blocking(move || engine.add_once(&input, idempotency.as_deref())).await {
        Ok(result) => result,
        Err(rejection) => return rejection.into_response(),
    };
    match added {
        Ok((id, true)) if !warnings.is_empty() => (
            StatusCode::CREATED,
            axum::Json(json!({ "id": id, "warnings": warnings })),
        )
            .into_response(),
        Ok((id, true)) => (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response(),
        Ok((id, false)) | Err(EngineError::Duplicate { existing: id, .. }) => (
            StatusCode::OK,
            axum::Json(json!({ "id": id, "duplicate": true })),
        )
            .into_response(),
        Err(EngineError::Suppressed { .. }) => {
            error(StatusCode::CONFLICT, "this contact has opted out")
        }
        Err(EngineError::Store(e @ crate::store::StoreError::LowDisk { .. })) => {
            tracing::error!(error = %e, "intake refused: the disk is nearly full");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is low on disk space; the lead was not stored, retry later",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(LOW_DISK_RETRY_SECS),
            );
            response
        }
        Err(e @ (EngineError::Catalog(_) | EngineError::Lead(_))) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "errors": { "sequence": e.to_string() } })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "intake failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the lead was not stored",
            )
        }
    }
}

fn lead_from_token(state: &Inbound, token: &str) -> Option<LeadId> {
    if state.link_secret.is_empty() {
        return None;
    }
    links::verify(state.link_secret.expose().as_bytes(), "unsubscribe", token)
}

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{PAGE_STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
    ))
}

/// `GET /u/{token}`: a plain confirmation page (mail scanners follow GET
/// links, so GET alone never unsubscribes).
async fn unsubscribe_page(
    State(state): State<Arc<Inbound>>,
    Path(token): Path<String>,
) -> Response {
    if lead_from_token(&state, &token).is_none() {
        return invalid_unsubscribe_link();
    }
    page(
        "Unsubscribe",
        "<p>Stop all messages to you?</p><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>",
    )
    .into_response()
}

/// The page for an unsubscribe token that does not verify.
fn invalid_unsubscribe_link() -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Link not valid",
            "<p>This unsubscribe link is not valid.</p>",
        ),
    )
        .into_response()
}

/// `POST /u/{token}`: RFC 8058 one-click (`List-Unsubscribe=One-Click`), or
/// the confirmation page's button. No cookies, no auth: the token is the proof.
async fn unsubscribe(
    State(state): State<Arc<Inbound>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let Some(id) = lead_from_token(&state, &token) else {
        return invalid_unsubscribe_link();
    };
    let one_click = url::form_urlencoded::parse(&body)
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    if !one_click {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Unsubscribe",
                "<p>Expected <code>List-Unsubscribe=One-Click</code>.</p>",
            ),
        )
            .into_response();
    }
    let engine = state.engine.clone();
    let result = blocking(move || opt_out(&engine, id, "unsubscribe link")).await;
    match result {
        Ok(Ok(())) => {
            page("Unsubscribed", "<p>You will not hear from us again.</p>").into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "unsubscribe failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; please try again",
            )
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// Opts a lead out; already opted out (or erased, hence suppressed) is fine.
fn opt_out(engine: &Engine, id: LeadId, how: &str) -> Result<(), EngineError> {
    match engine.mark(id, Mark::OptedOut, Some(how)) {
        Ok(_) => Ok(()),
        Err(EngineError::Mark(_)) => Ok(()),
        Err(EngineError::Store(crate::store::StoreError::NotFound(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// SMS STOP: opt out the lead with this number, and suppress the number
/// even when no lead has it.
fn opt_out_phone(engine: &Engine, phone: &str) -> Result<(), EngineError> {
    match engine.store().lead_by_contact(phone)? {
        Some(id) => opt_out(engine, id, "SMS STOP")?,
        None => {
            engine.store().suppress(phone, "SMS STOP", engine.now())?;
            engine.store().flush()?;
        }
    }
    Ok(())
}

/// SMS START: the person asks to hear from us again. The number leaves the
/// suppression list and an opted-out lead becomes paused, for a human to resume.
fn resubscribe_phone(engine: &Engine, phone: &str) -> Result<(), EngineError> {
    if let Some(id) = engine.store().lead_by_contact(phone)? {
        engine.update(id, |current, _, _| {
            let mut lead = current.clone();
            let mut events = vec![EventKind::Note {
                text: "re-subscribed by SMS START".into(),
            }];
            if lead.status == Status::OptedOut {
                lead.status = lead
                    .status
                    .transition(Status::Paused)
                    .map_err(crate::domain::mark::MarkError::from)?;
                events.push(EventKind::Paused);
            }
            Ok::<_, EngineError>(LeadUpdate::of(lead, events))
        })?;
    }
    engine.store().unsuppress(phone)?;
    engine.store().flush()?;
    Ok(())
}

/// Any other SMS: the lead replied. The text goes on the timeline.
fn sms_reply(engine: &Engine, phone: &str, text: &str) -> Result<(), EngineError> {
    let Some(id) = engine.store().lead_by_contact(phone)? else {
        return Ok(());
    };
    engine.record(
        id,
        EventKind::Note {
            text: format!("SMS reply: {text}"),
        },
    )?;
    match engine.mark(id, Mark::Replied, None) {
        Ok(_) | Err(EngineError::Mark(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The URL Twilio called: the public base plus this request's path and query.
fn called_url(state: &Inbound, uri: &Uri) -> String {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{path_and_query}", state.public_url)
}
