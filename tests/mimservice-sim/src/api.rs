//! The HTTP face of the simulator: the Lithnet REST API v2 routes, Basic authentication as IIS
//! does it, WCF's request size limit, and the API's success and error bodies.
//!
//! One fallback handler routes on the raw path, as WCF's `UriTemplate`s do: segments are split
//! before they are percent-decoded, so an encoded `/` inside a value stays inside it, and a
//! trailing slash is optional.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::schema::parse_guid;
use crate::store::{ApiError, Store, Submitted, Update, User, scalar_text};

/// Everything the handlers and the test controls share.
pub struct Shared {
    pub store: Mutex<Store>,
    /// `http` or `https`, for the URLs the API writes (`Location`, `NextPage`).
    pub scheme: &'static str,
    /// The request body limit (WCF's `maxReceivedMessageSize`).
    pub max_body: usize,
    /// Answer this many more calls with IIS's 503 (application pool stopped).
    pub fail_next: AtomicUsize,
    /// Added to every call, in milliseconds.
    pub latency_ms: AtomicU64,
    /// Calls received.
    pub calls: AtomicU64,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn json_response(status: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn html(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html")],
        format!("<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>"),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), Value::String(self.code.into()));
        error.insert("details".into(), Value::Null);
        error.insert("message".into(), Value::String(self.message));
        if let Some(t) = self.target {
            error.insert("target".into(), Value::String(t));
        }
        json_response(self.status, &json!({ "error": Value::Object(error) }))
    }
}

/// The 202 Lithnet sends for `AuthorizationRequiredException`.
fn pending(request: Uuid) -> Response {
    json_response(
        202,
        &json!({
            "Endpoint": "http://localhost:5725/ResourceManagementService/Resource",
            "Message": "Authorization Pending",
            "RequestID": request.to_string(),
        }),
    )
}

fn unreadable_body() -> Response {
    html(
        StatusCode::BAD_REQUEST,
        "The server encountered an error processing the request.",
    )
}

fn done(status: StatusCode) -> Response {
    status.into_response()
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(&k.replace('+', " "))?;
            let v = percent_decode(&v.replace('+', " "))?;
            // WCF's query collection ignores the case of names.
            Some((k.to_ascii_lowercase(), v))
        })
        .collect()
}

fn basic_user(headers: &HeaderMap, store: &Store) -> Option<User> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    store.authenticate(name, password).cloned()
}

fn guid(id: &str) -> Result<Uuid, ApiError> {
    // Lithnet's ValidateID: Guid.TryParse, so braces and upper case pass; urn:uuid: does not.
    let bare = id
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(id);
    if bare.starts_with("urn:") {
        return Err(ApiError::bad_request(
            "The specified value was not a GUID type",
            Some("id"),
        ));
    }
    parse_guid(bare)
        .ok_or_else(|| ApiError::bad_request("The specified value was not a GUID type", Some("id")))
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            format!("The name '{name}' contains invalid characters"),
            Some("name"),
        ))
    }
}

struct Call<'a> {
    shared: &'a Shared,
    user: User,
    method: Method,
    host: String,
    query: HashMap<String, String>,
    headers: &'a HeaderMap,
    body: Bytes,
    /// The request path as received, for relative URLs (`Location`).
    path: String,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.fetch_add(1, Ordering::Relaxed);
    let latency = shared.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            "HTTP Error 503. The service is unavailable.",
        );
    }
    let Some(user) = basic_user(&headers, &shared.store()) else {
        let mut r = html(
            StatusCode::UNAUTHORIZED,
            "401 - Unauthorized: Access is denied due to invalid credentials.",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mimservice-sim\""),
        );
        return r;
    };
    // IIS request filtering: maxQueryString, 2048 bytes by default (404.15).
    if uri.query().is_some_and(|q| q.len() > 2048) {
        return html(
            StatusCode::NOT_FOUND,
            "HTTP Error 404.15 - Not Found: the query string is too long",
        );
    }
    if body.len() > shared.max_body {
        return html(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let path = uri.path().to_owned();
    let Some(rest) = path.strip_prefix("/v2/") else {
        return html(StatusCode::NOT_FOUND, "Endpoint not found.");
    };
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        match percent_decode(raw) {
            Some(s) => segments.push(s),
            None => return html(StatusCode::BAD_REQUEST, "Bad Request"),
        }
    }
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let call = Call {
        shared: &shared,
        user,
        method,
        host,
        query: query_map(&uri),
        headers: &headers,
        body,
        path,
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match call.route(&segs) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

impl Call<'_> {
    fn route(&self, segs: &[&str]) -> Result<Response, ApiError> {
        let m = &self.method;
        match segs {
            ["resources"] if m == Method::GET => self.search(),
            ["resources"] if m == Method::POST => self.create(),
            ["resources", id] if m == Method::GET => self.get(id),
            ["resources", id] if m == Method::PATCH => self.patch(id),
            ["resources", id] if m == Method::DELETE => self.delete(id),
            ["resources", id, attr] if m == Method::GET => self.attribute(id, attr),
            ["resources", id, attr] if m == Method::DELETE => {
                self.value_change(id, attr, None, false)
            }
            ["resources", t, key, value] if m == Method::GET => self.by_key(t, key, value),
            ["resources", id, attr, value] if m == Method::PUT => {
                self.value_change(id, attr, Some(value), true)
            }
            ["resources", id, attr, value] if m == Method::DELETE => {
                self.value_change(id, attr, Some(value), false)
            }
            ["approvals"] if m == Method::GET => self.approvals(None),
            ["approvals", status] if m == Method::GET => self.approvals(Some(status)),
            ["approvals", id, decision] if m == Method::POST => self.decide(id, decision),
            ["request", id, "parameters"] if m == Method::GET => {
                guid(id)?;
                Ok(done(StatusCode::OK))
            }
            ["resources", ..] | ["approvals", ..] | ["request", ..] => {
                Ok(html(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."))
            }
            _ => Ok(html(StatusCode::NOT_FOUND, "Endpoint not found.")),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The JSON object in the body; `None` when WCF could not deserialize it.
    fn body_object(&self) -> Option<Map<String, Value>> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    }

    fn search(&self) -> Result<Response, ApiError> {
        let page_size: i64 = match self.param("pageSize") {
            None => 100,
            Some(p) => p
                .parse()
                .map_err(|_| ApiError::internal("Input string was not in a correct format."))?,
        };
        if page_size <= 0 {
            return Err(ApiError::bad_request(
                "Page size must be greater than zero",
                None,
            ));
        }
        let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
        let index: Option<usize> = match self.param("index") {
            None => None,
            Some(i) => {
                let i: i64 = i
                    .parse()
                    .map_err(|_| ApiError::internal("Input string was not in a correct format."))?;
                usize::try_from(i).ok()
            }
        };
        let token = self.param("token").map(str::to_owned);
        let mut store = self.shared.store();
        let mut pager = match &token {
            Some(t) => store
                .take_pager(&format!("{t}|{}", self.user.name))
                .ok_or_else(|| ApiError::bad_request("Invalid token", None))?,
            None => {
                let object_type = self.param("objectType");
                let filter_text = match (self.param("filter"), object_type) {
                    (Some(f), _) => f.to_owned(),
                    (None, Some(t)) => format!("/{t}"),
                    (None, None) => "/*".to_owned(),
                };
                let filter = store.compile(&filter_text)?;
                let attributes = match (self.param("attributes"), object_type) {
                    (Some(a), _) => {
                        let list: Vec<String> = a.split(',').map(str::to_owned).collect();
                        if let Some(bad) = list.iter().find(|n| store.schema.attribute(n).is_none())
                        {
                            return Err(ApiError::internal(format!(
                                "The attribute '{bad}' does not exist on this object"
                            )));
                        }
                        Some(list)
                    }
                    (None, Some(t)) => store
                        .schema
                        .object_type(t)
                        .map(|t| t.bindings.keys().map(|k| (*k).to_owned()).collect()),
                    (None, None) => None,
                };
                store.new_pager(filter, attributes)
            }
        };
        let token = token.unwrap_or_else(|| Uuid::new_v4().to_string());
        if let Some(i) = index {
            pager.current_index = i;
        }
        let old = pager.current_index;
        let results = store.next_page(&mut pager, page_size);
        let base = format!("{}://{}/v2", self.shared.scheme, self.host);
        // As Lithnet computes them (GetPageUris): note the `- 1`, which offers one more, empty,
        // page when the count is a multiple of the page size.
        let previous = old
            .checked_sub(page_size)
            .map(|i| format!("{base}/resources/?token={token}&pageSize={page_size}&index={i}"));
        let next = (old + page_size - 1 < pager.total_count).then(|| {
            format!(
                "{base}/resources/?token={token}&pageSize={page_size}&index={}",
                old + page_size
            )
        });
        let total = pager.total_count;
        store.keep_pager(format!("{token}|{}", self.user.name), pager);
        Ok(json_response(
            200,
            &json!({
                "TotalCount": total,
                "HasMoreItems": next.is_some(),
                "NextPage": next,
                "PreviousPage": previous,
                "Results": results,
            }),
        ))
    }

    fn get(&self, id: &str) -> Result<Response, ApiError> {
        let id = guid(id)?;
        let store = self.shared.store();
        let r = store.get(id).ok_or_else(ApiError::not_found)?;
        Ok(json_response(200, &store.to_json(r, None)))
    }

    fn by_key(&self, object_type: &str, key: &str, value: &str) -> Result<Response, ApiError> {
        valid_name(key)?;
        valid_name(object_type)?;
        let store = self.shared.store();
        if store.schema.object_type(object_type).is_none() {
            return Err(ApiError::internal(format!(
                "The object type '{object_type}' does not exist in the schema"
            )));
        }
        let literal = if value.contains('\'') {
            format!("\"{value}\"")
        } else {
            format!("'{value}'")
        };
        let filter = store.compile(&format!("/{object_type}[{key} = {literal}]"))?;
        let found = store.search(&filter);
        match found.as_slice() {
            [] => Err(ApiError::not_found()),
            [one] => Ok(json_response(200, &store.to_json(one, None))),
            _ => Err(ApiError::management(format!(
                "More than one object was found with the key {key} = {value}"
            ))),
        }
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<Response, ApiError> {
        valid_name(attr)?;
        let id = guid(id)?;
        let store = self.shared.store();
        let r = store.get(id).ok_or_else(ApiError::not_found)?;
        if store.schema.bound(&r.object_type, attr).is_none() {
            return Err(ApiError::attribute_not_found(attr));
        }
        let values: Vec<String> = r.values(attr).iter().map(scalar_text).collect();
        Ok(json_response(200, &json!(values)))
    }

    fn written(&self, outcome: Submitted, status: StatusCode) -> Response {
        match outcome {
            Submitted::Pending(request) => pending(request),
            Submitted::Applied(_) | Submitted::Unchanged(_) => done(status),
        }
    }

    fn create(&self) -> Result<Response, ApiError> {
        let Some(body) = self.body_object() else {
            return Ok(unreadable_body());
        };
        let object_type = match body.get("ObjectType") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(a)) if a.len() == 1 => match a.first() {
                Some(Value::String(t)) => t.clone(),
                _ => {
                    return Err(ApiError::bad_request(
                        "An object type must be specified",
                        None,
                    ));
                }
            },
            _ => {
                return Err(ApiError::bad_request(
                    "An object type must be specified",
                    None,
                ));
            }
        };
        let mut store = self.shared.store();
        if store.schema.object_type(&object_type).is_none() {
            return Err(ApiError::internal(format!(
                "The object type '{object_type}' does not exist in the schema"
            )));
        }
        let attrs = store.body_values(&object_type, &body, true)?;
        match store.create(Some(&self.user.name), &object_type, attrs)? {
            Submitted::Pending(request) => Ok(pending(request)),
            Submitted::Applied(id) | Submitted::Unchanged(id) => {
                // `new Uri(RequestUri, id)`: relative to the request's path, so a request to
                // `/v2/resources` (no slash) gets `/v2/{id}`, as Lithnet's does.
                let dir = match self.path.rfind('/') {
                    Some(at) => self.path.get(..=at).unwrap_or("/"),
                    None => "/",
                };
                let location = format!("{}://{}{dir}{id}", self.shared.scheme, self.host);
                let minimal = self
                    .headers
                    .get("Prefer")
                    .is_some_and(|v| v.as_bytes() == b"return=minimal")
                    || self.param("return") == Some("minimal");
                let body = if minimal {
                    String::new()
                } else {
                    store
                        .get(id)
                        .map(|r| store.to_json(r, None).to_string())
                        .unwrap_or_default()
                };
                let mut response = (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                    body,
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, v);
                }
                Ok(response)
            }
        }
    }

    fn patch(&self, id: &str) -> Result<Response, ApiError> {
        let id = guid(id)?;
        let Some(body) = self.body_object() else {
            return Ok(unreadable_body());
        };
        let mut store = self.shared.store();
        let updates = store.set_updates(id, &body)?;
        let outcome = store.update(Some(&self.user.name), id, updates)?;
        Ok(self.written(outcome, StatusCode::OK))
    }

    fn delete(&self, id: &str) -> Result<Response, ApiError> {
        let id = guid(id)?;
        let outcome = self.shared.store().delete(Some(&self.user.name), id)?;
        Ok(self.written(outcome, StatusCode::OK))
    }

    /// `PUT|DELETE /resources/{id}/{attribute}/{value}` and `DELETE /resources/{id}/{attribute}`.
    fn value_change(
        &self,
        id: &str,
        attr: &str,
        value: Option<&str>,
        add: bool,
    ) -> Result<Response, ApiError> {
        valid_name(attr)?;
        let id = guid(id)?;
        let mut store = self.shared.store();
        let object_type = store.type_of(id)?;
        if store.schema.bound(&object_type, attr).is_none() {
            return Err(ApiError::attribute_not_found(attr));
        }
        let update = match value {
            None => Update::Set(attr.to_owned(), Vec::new()),
            Some(v) => {
                let v = store.url_value(&object_type, attr, v)?;
                if add {
                    Update::Add(attr.to_owned(), v)
                } else {
                    Update::Remove(attr.to_owned(), v)
                }
            }
        };
        let outcome = store.update(Some(&self.user.name), id, vec![update])?;
        Ok(self.written(outcome, StatusCode::NO_CONTENT))
    }

    fn approvals(&self, status: Option<&str>) -> Result<Response, ApiError> {
        let status = match status {
            None => None,
            Some(s) => {
                let known = ["Unknown", "Pending", "Approved", "Rejected", "Expired"];
                match known.iter().find(|k| k.eq_ignore_ascii_case(s)) {
                    Some(&"Unknown") => None,
                    Some(k) => Some(*k),
                    None => {
                        return Err(ApiError::bad_request(
                            "Invalid value for status parameter",
                            Some("status"),
                        ));
                    }
                }
            }
        };
        let store = self.shared.store();
        Ok(json_response(
            200,
            &Value::Array(store.approvals_for(&self.user, status)),
        ))
    }

    fn decide(&self, id: &str, decision: &str) -> Result<Response, ApiError> {
        let id = guid(id)?;
        let mut store = self.shared.store();
        let Some(request) = store.approval_request(id) else {
            return Err(ApiError::internal(
                "Object reference not set to an instance of an object.",
            ));
        };
        let approve = if decision.eq_ignore_ascii_case("approve") {
            true
        } else if decision.eq_ignore_ascii_case("reject") {
            false
        } else {
            return Err(ApiError::bad_request(
                format!(
                    "The value '{decision}' is not supported. Allowed values are 'Approve' or 'Reject'"
                ),
                None,
            ));
        };
        if !self.user.approver {
            return Err(ApiError::permission_denied(&[], "RequestEvaluation"));
        }
        store.decide(request, approve)?;
        Ok(done(StatusCode::OK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_encoded_slashes_inside_a_segment() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(
            percent_decode("O%27Brien%20x").as_deref(),
            Some("O'Brien x")
        );
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%C3%BC").as_deref(), Some("ü"));
    }

    #[test]
    fn ids_are_validated_as_lithnet_does() {
        assert!(guid("7fb2b853-24f0-4498-9534-4e10589723c4").is_ok());
        assert!(guid("{7FB2B853-24F0-4498-9534-4E10589723C4}").is_ok());
        let e = guid("urn:uuid:7fb2b853-24f0-4498-9534-4e10589723c4").unwrap_err();
        assert_eq!(
            (e.status, e.code, e.target.as_deref()),
            (400, "bad-request", Some("id"))
        );
        assert!(guid("bob").is_err());
    }
}
