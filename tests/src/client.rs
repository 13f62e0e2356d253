//! A minimal SCIM 2.0 HTTP client, shaped like Entra's: a bearer token per connector, JSON
//! bodies sent as `application/scim+json`, query strings form-encoded as Entra sends them
//! (`filter=userName+eq+"x"`). Every response that has a body must be
//! `application/scim+json` (RFC 7644 §3.1); a body of another type is reported as a contract
//! failure before the caller looks at it.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::error::{E2eError, Result, unexpected};

/// The media type of every SCIM request and response body.
pub const SCIM_JSON: &str = "application/scim+json";
/// `schemas` of a PATCH request.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `schemas` of a list response.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `schemas` of an error body.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// One connector's SCIM endpoint as Entra sees it: a base URL and a bearer token.
#[derive(Debug, Clone)]
pub struct ScimClient {
    /// `https://127.0.0.1:PORT/ecma2host_{connector}/scim`, without a trailing slash.
    pub base: String,
    /// The bearer token sent in `Authorization`; `None` sends no `Authorization` header.
    pub token: Option<String>,
    http: reqwest::Client,
}

/// A response: status, headers and the body parsed as JSON (when there is one).
#[derive(Debug, Clone)]
pub struct ScimResponse {
    /// `METHOD /path?query`, relative to the client's base, for messages.
    pub request: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as JSON; `Value::Null` when the body is empty.
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl ScimClient {
    /// A client for `base` with `token`, over `http` (which must trust the host's certificate).
    pub fn new(http: reqwest::Client, base: impl Into<String>, token: Option<String>) -> Self {
        ScimClient {
            base: base.into().trim_end_matches('/').to_owned(),
            token,
            http,
        }
    }

    /// The same endpoint with another token (`None`: no `Authorization` header).
    pub fn with_token(&self, token: Option<&str>) -> ScimClient {
        ScimClient {
            base: self.base.clone(),
            token: token.map(str::to_owned),
            http: self.http.clone(),
        }
    }

    /// `base + path`, with `query` pairs form-encoded (spaces as `+`, as Entra sends them).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url> {
        let text = format!("{}{path}", self.base);
        let mut url =
            Url::parse(&text).map_err(|e| E2eError::Host(format!("invalid URL {text:?}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<ScimResponse> {
        self.send(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<ScimResponse> {
        self.send(Method::POST, path, &[], Some(json_bytes(body)?))
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<ScimResponse> {
        self.send(Method::PATCH, path, &[], Some(json_bytes(body)?))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<ScimResponse> {
        self.send(Method::PUT, path, &[], Some(json_bytes(body)?))
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<ScimResponse> {
        self.send(Method::DELETE, path, &[], None).await
    }

    /// Sends `body` bytes as they are (malformed JSON, oversized bodies) with the SCIM content
    /// type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<ScimResponse> {
        self.send(method, path, &[], Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<ScimResponse> {
        let url = self.url(path, query)?;
        let request = describe(&method, &url, &self.base);
        let mut builder = self.http.request(method, url);
        if let Some(token) = &self.token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            builder = builder.header(CONTENT_TYPE, SCIM_JSON).body(body);
        }
        let http = |source| E2eError::Http {
            request: request.clone(),
            source,
        };
        let response = builder.send().await.map_err(http)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(http)?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)");
            if !content_type.to_ascii_lowercase().starts_with(SCIM_JSON) {
                return Err(unexpected(
                    request,
                    format!("Content-Type: {SCIM_JSON} on a response body"),
                    format!(
                        "{status} Content-Type: {content_type}, body {}",
                        clip(&text)
                    ),
                ));
            }
            serde_json::from_str(&text).map_err(|e| {
                unexpected(
                    request.clone(),
                    "a JSON body",
                    format!("{status} {}: {e}", clip(&text)),
                )
            })?
        };
        Ok(ScimResponse {
            request,
            status,
            headers,
            body,
            text,
        })
    }
}

impl ScimResponse {
    /// A one-line description for messages: status and (clipped) body.
    pub fn got(&self) -> String {
        if self.text.is_empty() {
            format!("{} (no body)", self.status)
        } else {
            format!("{} {}", self.status, clip(&self.text))
        }
    }

    /// Fails unless the status is one of `allowed`.
    pub fn expect_status(&self, allowed: &[u16]) -> Result<&Self> {
        if allowed.contains(&self.status.as_u16()) {
            Ok(self)
        } else {
            let list: Vec<String> = allowed.iter().map(u16::to_string).collect();
            Err(unexpected(
                self.request.clone(),
                format!("status {}", list.join(" or ")),
                self.got(),
            ))
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A string member of the body.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// Fails unless this is an RFC 7644 §3.12 error body with `status` (and `scimType`, when
    /// given): the error schema, `status` equal to the HTTP status (as a string, or a number).
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> Result<&Self> {
        self.expect_status(&[status])?;
        let schema_ok = self
            .body
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(ERROR)));
        let status_ok = match self.body.get("status") {
            Some(Value::String(s)) => s == &status.to_string(),
            Some(Value::Number(n)) => n.as_u64() == Some(u64::from(status)),
            _ => false,
        };
        let type_ok = scim_type.is_none_or(|t| self.str_field("scimType") == Some(t));
        if schema_ok && status_ok && type_ok {
            Ok(self)
        } else {
            Err(unexpected(
                self.request.clone(),
                format!(
                    "a SCIM error body: schemas [{ERROR}], status \"{status}\"{}",
                    scim_type
                        .map(|t| format!(", scimType \"{t}\""))
                        .unwrap_or_default()
                ),
                self.got(),
            ))
        }
    }
}

fn json_bytes(body: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| E2eError::Host(format!("cannot serialise a body: {e}")))
}

/// `METHOD /path?query` relative to `base`.
fn describe(method: &Method, url: &Url, base: &str) -> String {
    let full = url.as_str();
    let rest = full.strip_prefix(base).unwrap_or(full);
    format!("{method} {rest}")
}

/// At most 600 characters of `text`, for messages.
pub fn clip(text: &str) -> String {
    const MAX: usize = 600;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}… ({} bytes)", text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::ScimClient;

    #[test]
    fn query_strings_are_form_encoded_as_entra_sends_them() {
        let client = ScimClient::new(
            reqwest::Client::new(),
            "https://127.0.0.1:8585/ecma2host_hr/scim/",
            None,
        );
        let check = |path: &str, query: &[(&str, &str)], expected: &str| {
            assert_eq!(
                client.url(path, query).unwrap().as_str(),
                expected,
                "{path} {query:?}"
            )
        };
        check(
            "/Users",
            &[],
            "https://127.0.0.1:8585/ecma2host_hr/scim/Users",
        );
        check(
            "/Users",
            &[("filter", "userName eq \"a b\"")],
            "https://127.0.0.1:8585/ecma2host_hr/scim/Users?filter=userName+eq+%22a+b%22",
        );
        check(
            "/Users",
            &[("startIndex", "6"), ("count", "5")],
            "https://127.0.0.1:8585/ecma2host_hr/scim/Users?startIndex=6&count=5",
        );
        check(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"T\""),
            ],
            "https://127.0.0.1:8585/ecma2host_hr/scim/Groups?excludedAttributes=members&filter=displayName+eq+%22T%22",
        );
    }
}
