//! The HTTP side: routing, bearer-token authentication, request ids, body limits, and turning
//! engine results and [`ApiError`]s into SCIM responses (`application/scim+json`).
//!
//! Every path under a connector is dispatched by one handler that parses the path itself, so
//! that every failure, including an unknown path or a bad query string, is answered in SCIM's
//! error format rather than a framework's. Every route here needs a token except `/healthz`;
//! the operations console (`crate::console`, merged beside this router in `server.rs`) adds
//! one more, its login form, which shows no data.

mod scim;
mod view;

pub use view::{pending_json, stored_json};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::config::TokenHash;
use crate::engine::Runtime;
use crate::error::ApiError;
use crate::telemetry::Metrics;

/// The media type of every SCIM body.
pub const SCIM_JSON: &str = "application/scim+json";

/// A connector endpoint: its token, and its runtime once the connector is bound.
pub struct Slot {
    pub token: TokenHash,
    pub runtime: RwLock<Result<Arc<Runtime>, String>>,
}

/// Shared state of the HTTP server.
pub struct AppState {
    pub slots: HashMap<String, Arc<Slot>>,
    pub admin_token: Option<TokenHash>,
    pub metrics: Arc<Metrics>,
    pub max_body: usize,
    /// The body of `GET /healthz`, made once (see [`health_body`]).
    pub health: &'static str,
}

/// The body of `GET /healthz`: `{"status":"ok","space":"sqlite"}`. Unauthenticated, so it says
/// only which kind of store holds the connector spaces (one setting for the whole host): no
/// connector name, no file, no database address.
pub fn health_body(space: crate::config::SpaceBackend) -> &'static str {
    match space {
        crate::config::SpaceBackend::Postgres => r#"{"status":"ok","space":"postgres"}"#,
        crate::config::SpaceBackend::Sqlite => r#"{"status":"ok","space":"sqlite"}"#,
    }
}

/// The router: `/healthz`, `/metrics`, and everything under `/ecma2host_{name}/`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(dispatch)
        .with_state(state)
}

async fn healthz(State(app): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], app.health).into_response()
}

async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(admin) = &app.admin_token else {
        return error_response(&ApiError::NotFound(
            "metrics are disabled: set [server] admin_token to enable /metrics".into(),
        ));
    };
    if let Err(e) = authorize(&headers, admin) {
        return error_response(&e);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// A path segment, percent-decoded; borrowed when it holds no escapes.
fn decode_segment(s: &str) -> Result<Cow<'_, str>, ApiError> {
    percent_decode_str(s).decode_utf8().map_err(|_| {
        ApiError::NotFound("the path is not valid UTF-8 after percent-decoding".into())
    })
}

/// Checks `Authorization: Bearer <token>` against a token hash.
pub fn authorize(headers: &HeaderMap, token: &TokenHash) -> Result<(), ApiError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::Unauthorized(
            "missing bearer token: send Authorization: Bearer <the connector's secret token>",
        ));
    };
    let presented = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must use the Bearer scheme",
        ))?;
    if token.matches(presented) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "invalid bearer token for this connector",
        ))
    }
}

/// A SCIM JSON response, serialised straight into one pre-sized buffer (a lookup answer is
/// about a kilobyte; no intermediate `Value` or `String` copy).
pub fn scim_json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let mut bytes = Vec::with_capacity(2048);
    if let Err(e) = serde_json::to_writer(&mut bytes, body) {
        return error_response(&ApiError::Internal(format!(
            "the answer could not be serialised: {e}"
        )));
    }
    scim_bytes(status, bytes)
}

/// A SCIM JSON response whose body is already serialised.
pub fn scim_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut r = (status, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

/// The SCIM error response for an error; server-side faults are logged with their cause.
pub fn error_response(err: &ApiError) -> Response {
    let r = err.render();
    if r.server_fault {
        tracing::error!(error = %err, "request failed");
    } else {
        tracing::debug!(error = %err, status = r.status, "request refused");
    }
    let body = schemas::ScimError {
        status: r.status,
        scim_type: r.scim_type,
        detail: r.detail,
    }
    .to_body();
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = scim_json(status, &body);
    if let Some(secs) = r.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if let Some(allow) = r.allow {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if r.status == 401 {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// A random request id: 16 lowercase hex digits, written into `buf` (no allocation).
fn request_id(buf: &mut [u8; 16]) -> &str {
    use rand::RngCore;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::rng().next_u64();
    for (i, b) in buf.iter_mut().enumerate() {
        let nibble = (n >> (60 - 4 * i)) & 0xf;
        *b = HEX.get(nibble as usize).copied().unwrap_or(b'0');
    }
    std::str::from_utf8(buf).unwrap_or("0000000000000000")
}

/// Handles everything that is not `/healthz` or `/metrics`.
async fn dispatch(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let mut buf = [0u8; 16];
    let id = request_id(&mut buf);
    // The span's fields are formatted when it is created, so they can borrow the request.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let id = HeaderValue::from_str(id);
    async move {
        let started = std::time::Instant::now();
        let (connector, mut resp) = route(&app, req).await;
        let status = resp.status().as_u16();
        if let Some(c) = &connector {
            app.metrics.count_request(c, status);
        }
        // DEBUG, not INFO: at tens of thousands of lookups a second, formatting and writing
        // a line per request cost a tenth of the host's CPU (BENCHMARKS.md, #16). Exports keep
        // their INFO audit line; failures keep their WARN/ERROR lines.
        tracing::debug!(
            status,
            elapsed_us = started.elapsed().as_micros() as u64,
            "answered"
        );
        if let Ok(v) = id {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }
    .instrument(span)
    .await
}

async fn route(app: &AppState, req: Request) -> (Option<String>, Response) {
    // A clone of the URI shares its bytes: the path is borrowed from it, not copied.
    let uri = req.uri().clone();
    let path = uri.path();
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    let Some(name) = first.strip_prefix("ecma2host_") else {
        return (
            None,
            error_response(&ApiError::NotFound(format!(
                "no such endpoint {path:?}; connector endpoints look like /ecma2host_<connector>/scim/Users"
            ))),
        );
    };
    let name = match decode_segment(name) {
        Ok(n) => n,
        Err(e) => return (None, error_response(&e)),
    };
    let Some(slot) = app.slots.get(name.as_ref()) else {
        return (
            None,
            error_response(&ApiError::NotFound(format!(
                "no connector named {name:?} (names are case-sensitive)"
            ))),
        );
    };
    let name = name.into_owned();
    if let Err(e) = authorize(req.headers(), &slot.token) {
        return (Some(name), error_response(&e));
    }
    let runtime = match slot.runtime.read().map(|r| r.clone()) {
        Ok(Ok(rt)) => rt,
        Ok(Err(reason)) => {
            return (
                Some(name.clone()),
                error_response(&ApiError::Connector(
                    connector_core::ConnectorError::unavailable(format!(
                        "connector {name} is not ready: {reason}"
                    )),
                )),
            );
        }
        Err(_) => {
            return (
                Some(name),
                error_response(&ApiError::Internal("slot lock poisoned".into())),
            );
        }
    };
    let rest: Vec<Cow<'_, str>> = match segments
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect::<Result<_, _>>()
    {
        Ok(r) => r,
        Err(e) => return (Some(name), error_response(&e)),
    };
    let resp = match rest.first().map(Cow::as_ref) {
        Some("scim") => {
            scim::handle(
                app,
                &runtime,
                &base_url(req.headers(), first),
                rest.get(1..).unwrap_or_default(),
                req,
            )
            .await
        }
        Some("space") => view::handle(&runtime, rest.get(1..).unwrap_or_default(), req).await,
        _ => Err(ApiError::NotFound(format!(
            "no such endpoint {path:?}; the SCIM endpoint is /{first}/scim"
        ))),
    };
    (Some(name), resp.unwrap_or_else(|e| error_response(&e)))
}

/// `https://<Host>/<ecma2host_name>/scim`, from the request's Host header.
fn base_url(headers: &HeaderMap, first: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("https://{host}/{first}/scim")
}

/// Refuses a body whose `Content-Type` is not SCIM's JSON (`application/scim+json`, or
/// `application/json`, parameters such as `charset` allowed) with 415, before anything is
/// read or written. A request without `Content-Type` is read as JSON: RFC 7644 §3.8 only says
/// a client SHOULD send one, and the body must still parse as a JSON object.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(SCIM_JSON) || essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the request body is {text:?}; send it as JSON with Content-Type: {SCIM_JSON} \
             (or application/json); nothing was changed"
        )))
    }
}

/// Checks the request's content type ([`check_content_type`]), then reads its body up to the
/// limit and parses it as JSON.
pub async fn json_body(req: Request, limit: usize) -> Result<Value, ApiError> {
    check_content_type(req.headers())?;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::TooLarge(limit))?;
    if bytes.is_empty() {
        return Err(schemas::ScimError::invalid_syntax(
            "the request has no body; a JSON object is required",
        )
        .into());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        schemas::ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
            .into()
    })
}

/// Parses the query string into name → value (last one wins), `+` as space.
pub fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The body with a status code, for handlers that answer without SCIM JSON.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

#[cfg(test)]
mod tests {
    use schemas::list::ListResponse;
    use serde_json::json;

    use super::*;

    /// Serialising a list straight into the buffer must give the bytes the `Value` rendering
    /// gave before, member order and escapes included: clients compare ETags and bodies.
    #[tokio::test]
    async fn list_bodies_are_byte_for_byte_the_value_rendering() {
        let resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "a/b \"c\" é",
            "userName": "zoë\n\u{1}",
            "name": {"givenName": "Z", "familyName": "Ö"},
            "emails": [{"value": "z@example.com", "primary": true}],
            "meta": {"resourceType": "User", "version": "W/\"7\""}
        });
        let list = ListResponse::new(123_456, 7, vec![resource.clone(), resource]);
        let resp = scim_json(StatusCode::OK, &list);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], SCIM_JSON);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, list.to_value().to_string().as_bytes());
    }
}
