//! The HTTP client: one call to the REST API within a [`Deadline`], retries where they are
//! safe, and the API's answers classified as [`ConnectorError`]s.
//!
//! **Why an internal runtime.** The connector trait is synchronous and the host calls it on
//! its blocking threads. reqwest's own blocking client would do, but it panics when it is
//! dropped inside an async context, and the host may build or drop connectors there. So the
//! connector owns a small tokio runtime (one worker thread) that drives an async reqwest client;
//! each call is spawned on it and the caller waits on a channel, which works from any thread,
//! and the runtime is shut down in the background on drop, which is allowed anywhere. The
//! deadline bounds the whole call, connection, request and body, with `tokio::time::timeout`,
//! and a lost call is aborted.
//!
//! **Retries** happen only for what cannot have changed anything, or may be repeated:
//! a call that never reached the server (connection refused, TLS failure) and IIS's 503 (the
//! application pool is stopped) are retried for every method; a timeout, a broken connection
//! or another 5xx only for idempotent calls (reads, PATCH — which sets values —, value adds and
//! removes, deletes). A create (POST) that may have reached the MIM Service is never repeated
//! here: the export layer decides (it can look the object up by its matching attribute).
//! Back-off doubles from `retry_backoff` and never sleeps past the deadline.

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use connector_core::{ConnectorError, Deadline};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::config::MimServiceConfig;

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Reading (imports, schema, lookups): a denial or a bad filter means the configuration or
    /// the service account's MPRs are wrong.
    Read,
    /// Writing one object: a denial or a refused value concerns this change.
    Write,
}

/// Whether a call may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    Idempotent,
    /// A create: only retried when it surely did not run.
    Once,
}

/// One call, with what its failure means: `context` says what was being done, for errors.
pub(crate) struct Req<'a> {
    pub method: Method,
    pub url: Url,
    pub body: Option<&'a Value>,
    pub repeat: Repeat,
    pub purpose: Purpose,
    pub context: &'a str,
}

impl<'a> Req<'a> {
    /// A GET for reading.
    pub fn read(url: Url, context: &'a str) -> Self {
        Req {
            method: Method::GET,
            url,
            body: None,
            repeat: Repeat::Idempotent,
            purpose: Purpose::Read,
            context,
        }
    }

    /// A change to one object.
    pub fn write(method: Method, url: Url, body: Option<&'a Value>, context: &'a str) -> Self {
        let repeat = if method == Method::POST {
            Repeat::Once
        } else {
            Repeat::Idempotent
        };
        Req {
            method,
            url,
            body,
            repeat,
            purpose: Purpose::Write,
            context,
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// An earlier attempt may have reached the server (its answer was lost or was a 5xx).
    pub repeated: bool,
}

impl Reply {
    pub fn json(&self) -> Result<Value, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::unavailable(format!(
                "the REST API answered {} with a body that is not JSON ({e}): {}",
                self.status,
                snippet(&self.body)
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a call got no answer.
#[derive(Debug)]
pub(crate) enum Lost {
    /// It never reached the server.
    NotSent(String),
    /// It was sent; the answer did not come.
    NoAnswer(String),
    /// The deadline passed.
    Deadline,
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// The client of one connector.
pub(crate) struct Http {
    runtime: Option<tokio::runtime::Runtime>,
    client: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    username: String,
    request_timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Http {
    pub fn new(
        config: &MimServiceConfig,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Http, ConnectorError> {
        let bad = |m: String| ConnectorError::misconfigured(m);
        let mut base = Url::parse(&config.base_url)
            .map_err(|e| bad(format!("base_url {:?}: {e}", config.base_url)))?;
        match base.scheme() {
            "https" => {}
            "http" if config.allow_plain_http => {
                tracing::warn!(base_url = %base, "plain HTTP: the password travels in clear text");
            }
            "http" => {
                return Err(bad(format!(
                    "base_url {base} is plain HTTP: Basic authentication would send the password in clear text; use https (or allow_plain_http = true for a test)"
                )));
            }
            other => return Err(bad(format!("base_url has the scheme {other}; use https"))),
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", config.username, config.password));
        let mut auth = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
            bad("the username or password holds characters HTTP cannot carry".into())
        })?;
        auth.set_sensitive(true);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mimservice-http")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the HTTP runtime: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!(
                "connector-host-mimservice/",
                env!("CARGO_PKG_VERSION")
            ))
            .http1_only()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        let client = builder
            .build()
            .map_err(|e| bad(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            runtime: Some(runtime),
            client,
            base,
            auth,
            username: config.username.clone(),
            request_timeout: config.request_timeout,
            retries: config.retries,
            backoff: config.retry_backoff,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// `base` + `v2/` + the segments, each percent-encoded, with a trailing slash.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v2");
            path.extend(segments);
            path.push("");
        }
        url
    }

    /// `v2/resources/` with a query of (name, value) pairs, every value percent-encoded.
    pub fn search_url(&self, pairs: &[(&str, &str)]) -> Url {
        let mut url = self.url(&["resources"]);
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        url.set_query(Some(&query.join("&")));
        url
    }

    /// The next page a search answer points to, on our own base URL (the API writes its own
    /// host name, which may not be the one we reach it by).
    pub fn next_page_url(&self, next: &str) -> Option<Url> {
        let query = next.split_once('?').map(|(_, q)| q)?;
        let mut url = self.url(&["resources"]);
        url.set_query(Some(query));
        Some(url)
    }

    fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
        wait: Duration,
    ) -> Option<T> {
        let runtime = self.runtime.as_ref()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv_timeout(wait) {
            Ok(v) => Some(v),
            Err(_) => {
                task.abort();
                None
            }
        }
    }

    /// One attempt.
    fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        deadline: Deadline,
    ) -> Result<(u16, HeaderMap, Vec<u8>), Lost> {
        let budget = deadline.remaining_within(self.request_timeout);
        if budget.is_zero() {
            return Err(Lost::Deadline);
        }
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        if *method == Method::POST {
            request = request.header("Prefer", "return=minimal");
        }
        let call = async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes.to_vec()))
        };
        let bounded = async move { tokio::time::timeout(budget, call).await };
        match self.run(bounded, budget + Duration::from_secs(1)) {
            None | Some(Err(_)) => {
                if deadline.expired() {
                    Err(Lost::Deadline)
                } else {
                    Err(Lost::NoAnswer(format!(
                        "no answer within the request timeout of {:?}",
                        self.request_timeout
                    )))
                }
            }
            Some(Ok(Ok(answer))) => Ok(answer),
            Some(Ok(Err(e))) => {
                let detail = error_chain(&e);
                if e.is_connect() {
                    Err(Lost::NotSent(detail))
                } else {
                    Err(Lost::NoAnswer(detail))
                }
            }
        }
    }

    /// Sends a call, retrying as the module docs say. `Err` when no answer came at all.
    pub fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        repeat: Repeat,
        deadline: Deadline,
    ) -> Result<Reply, Lost> {
        let mut repeated = false;
        let mut attempt = 0u32;
        loop {
            let result = self.attempt(&method, url, body, deadline);
            let retry = match &result {
                Ok((503, _, _)) | Err(Lost::NotSent(_)) => true,
                Ok((status, _, _)) if *status >= 500 => repeat == Repeat::Idempotent,
                Err(Lost::NoAnswer(_)) => repeat == Repeat::Idempotent,
                Ok(_) | Err(Lost::Deadline) => false,
            };
            let pause = self.backoff.saturating_mul(2u32.saturating_pow(attempt));
            if !retry || attempt >= self.retries || deadline.remaining() <= pause {
                return result.map(|(status, headers, body)| Reply {
                    status,
                    headers,
                    body,
                    repeated,
                });
            }
            match &result {
                Ok((status, _, _)) => {
                    tracing::debug!(%method, status, attempt, "REST API call failed; retrying");
                    repeated |= *status != 503;
                }
                Err(lost) => {
                    tracing::debug!(%method, ?lost, attempt, "REST API call lost; retrying");
                    repeated |= matches!(lost, Lost::NoAnswer(_));
                }
            }
            std::thread::sleep(pause);
            attempt += 1;
        }
    }

    /// A call whose every failure becomes a [`ConnectorError`].
    pub fn expect(&self, req: &Req<'_>, deadline: Deadline) -> Result<Reply, ConnectorError> {
        let write = req.purpose == Purpose::Write;
        let reply = self
            .call(req.method.clone(), &req.url, req.body, req.repeat, deadline)
            .map_err(|lost| self.lost(lost, write && req.repeat == Repeat::Once, req.context))?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(self.refused(&reply, req.purpose, req.context))
        }
    }

    /// The error for a call that got no answer. `unsure` when a change may have been made.
    pub fn lost(&self, lost: Lost, unsure: bool, context: &str) -> ConnectorError {
        match lost {
            Lost::Deadline => ConnectorError::timeout(format!(
                "{context}: the deadline passed before the REST API answered"
            )),
            Lost::NotSent(e) => ConnectorError::unavailable(format!(
                "{context}: cannot reach the REST API at {}: {e}",
                self.base
            )),
            Lost::NoAnswer(e) if unsure => ConnectorError::timeout(format!(
                "{context}: the REST API did not answer ({e}); the change may have been made"
            )),
            Lost::NoAnswer(e) => ConnectorError::unavailable(format!(
                "{context}: the REST API at {} did not answer: {e}",
                self.base
            )),
        }
    }

    /// The error for an answer outside 2xx.
    pub fn refused(&self, reply: &Reply, purpose: Purpose, context: &str) -> ConnectorError {
        let error = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("error").cloned());
        let code = error
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let message = error
            .as_ref()
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(|m| m.replace('\n', "; "))
            .unwrap_or_else(|| snippet(&reply.body));
        classify(
            reply.status,
            code,
            &message,
            purpose,
            context,
            &self.username,
            &self.base,
        )
    }
}

/// Maps one API answer to a connector error: the table of the crate's README.
pub(crate) fn classify(
    status: u16,
    code: &str,
    message: &str,
    purpose: Purpose,
    context: &str,
    username: &str,
    base: &Url,
) -> ConnectorError {
    let write = purpose == Purpose::Write;
    match (status, code) {
        (401, _) => ConnectorError::misconfigured(format!(
            "{context}: the REST API refused the credentials of {username} (401): check the username and password, and that the IIS site has Basic authentication enabled"
        )),
        (403, "permission-denied") if message.contains("ReferencedResourceIsMissing") => {
            ConnectorError::rejected(format!(
                "{context}: a referenced object does not exist in the MIM Service ({message})"
            ))
        }
        (403, "permission-denied") if write => ConnectorError::rejected(format!(
            "{context}: the MIM Service denied it: no management policy rule grants {username} this change ({message})"
        )),
        (403, "permission-denied") => ConnectorError::misconfigured(format!(
            "{context}: the MIM Service denied {username} the read: add a management policy rule that grants it read access ({message})"
        )),
        (403, _) => ConnectorError::misconfigured(format!(
            "{context}: the web server refused the call (403): {message}"
        )),
        (404, "resource-not-found") => ConnectorError::not_found(format!("{context}: {message}")),
        (404, "attribute-not-found") => ConnectorError::rejected(format!("{context}: {message}")),
        (404, _) => ConnectorError::misconfigured(format!(
            "{context}: no Lithnet REST API v2 answers at {base} (404: {message}); check base_url (a query string longer than IIS's maxQueryString also answers 404)"
        )),
        (400, "bad-request") if message.contains("Invalid token") => {
            ConnectorError::unavailable(format!(
                "{context}: the REST API forgot the search (its paging token expired after 5 minutes unused); run the import again"
            ))
        }
        (400, _) | (409, _) | (422, _) if write => {
            ConnectorError::rejected(format!("{context}: {message}"))
        }
        (400, _) => ConnectorError::misconfigured(format!(
            "{context}: the MIM Service refused the query: {message}"
        )),
        (413, _) => ConnectorError::rejected(format!(
            "{context}: the request was too large for the REST API (raise maxReceivedMessageSize in its Web.config)"
        )),
        (500, "internal-server-error") if deterministic(message) => {
            if write {
                ConnectorError::rejected(format!("{context}: {message}"))
            } else {
                ConnectorError::misconfigured(format!("{context}: {message}"))
            }
        }
        (500..=599, _) => ConnectorError::unavailable(format!(
            "{context}: the REST API failed ({status}): {message}"
        )),
        _ => ConnectorError::rejected(format!(
            "{context}: the REST API answered {status}: {message}"
        )),
    }
}

/// Whether a 500 from the REST API comes from the request itself (Lithnet answers 500 for
/// client-side exceptions that are not `ResourceManagementException`s), so that repeating it
/// cannot help.
fn deterministic(message: &str) -> bool {
    [
        "does not exist",
        "read only attribute",
        "was not recognized as a valid",
        "not in a correct format",
        "not a valid Base-64",
        "Cannot set multiple values",
        "Unsupported data type",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Percent-encodes a query value: everything but RFC 3986's unreserved characters, so that
/// neither `+` nor `&` nor a quote can be misread by IIS.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, code: &str, message: &str, purpose: Purpose, expected: &str) {
        let base = Url::parse("https://mim.example/").unwrap();
        let e = classify(status, code, message, purpose, "ctx", "svc", &base);
        let kind = match e {
            ConnectorError::Unavailable { .. } => "unavailable",
            ConnectorError::Timeout { .. } => "timeout",
            ConnectorError::Conflict { .. } => "conflict",
            ConnectorError::NotFound { .. } => "notFound",
            ConnectorError::Rejected { .. } => "rejected",
            ConnectorError::ResyncRequired { .. } => "resyncRequired",
            ConnectorError::Misconfigured { .. } => "misconfigured",
        };
        assert_eq!(
            kind, expected,
            "{status} {code} {message:?} {purpose:?}: {e}"
        );
    }

    #[test]
    fn every_answer_maps_to_one_reaction() {
        use Purpose::{Read, Write};
        check(401, "", "", Read, "misconfigured");
        check(401, "", "", Write, "misconfigured");
        check(
            403,
            "permission-denied",
            "Source: RequestEvaluation",
            Write,
            "rejected",
        );
        check(
            403,
            "permission-denied",
            "Source: RequestEvaluation",
            Read,
            "misconfigured",
        );
        check(
            403,
            "permission-denied",
            "Source: ReferencedResourceIsMissing",
            Write,
            "rejected",
        );
        check(403, "", "<html>Forbidden</html>", Write, "misconfigured");
        check(404, "resource-not-found", "", Write, "notFound");
        check(404, "attribute-not-found", "", Write, "rejected");
        check(404, "", "Endpoint not found.", Read, "misconfigured");
        check(400, "bad-request", "Invalid token", Read, "unavailable");
        check(
            400,
            "bad-request",
            "The specified value was not a GUID type",
            Write,
            "rejected",
        );
        check(
            400,
            "resource-management-exception",
            "InvalidRepresentation",
            Write,
            "rejected",
        );
        check(
            400,
            "resource-management-exception",
            "Cannot process the filter",
            Read,
            "misconfigured",
        );
        check(413, "", "", Write, "rejected");
        check(
            500,
            "internal-server-error",
            "The attribute 'X' does not exist on this object",
            Write,
            "rejected",
        );
        check(
            500,
            "internal-server-error",
            "There was no endpoint listening at net.tcp://fimsvc",
            Write,
            "unavailable",
        );
        check(
            503,
            "",
            "HTTP Error 503. The service is unavailable.",
            Read,
            "unavailable",
        );
        check(418, "", "", Write, "rejected");
    }

    #[test]
    fn query_values_are_fully_encoded() {
        assert_eq!(
            encode("/Person[A = 'x+y&z']"),
            "%2FPerson%5BA%20%3D%20%27x%2By%26z%27%5D"
        );
        assert_eq!(encode("ü"), "%C3%BC");
    }
}
