//! The operations console at `https://HOST:8585/console/`: what MIM's Synchronization Service
//! Manager showed, in a browser, without switching authentication off (Microsoft's host offers
//! only a debug-mode cache view that does).
//!
//! - **Operations**: per connector, its state (binding, first import running with progress,
//!   serving, target unreachable), the last full and delta import of each object type, exports
//!   per minute by outcome, pending exports, the endpoint certificate's expiry, and buttons that
//!   run a full or delta import now.
//! - **Connector space**: find objects by any indexed attribute, the anchor, the DN or a SCIM
//!   filter, a page at a time, and open one.
//! - **Run history**, with the errors of failed runs; **pending exports**; the last **matching
//!   report** (`connector-host match`).
//!
//! Access: the admin token (`[server] admin_token`) is entered once on the login page and
//! exchanged for a session cookie (`session`); without an admin token the console is off. Every
//! answer forbids framing, caching and everything but its own stylesheet (a strict
//! Content-Security-Policy that names that stylesheet by its hash); the pages are server-rendered
//! HTML from templates compiled into the binary (`maud`), with no script. Nothing but the login
//! form answers without a session.
//!
//! The console reads the connector spaces and runs imports through each connector's
//! [`ImportControl`], so a click asks the connector's schedule for an import and never runs two
//! at once; it knows no SQL and no SCIM wire format of its own.

mod pages;
mod session;
mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use certs::ReloadableResolver;
use maud::Markup;

use crate::engine::Runtime;
use crate::http::{AppState, Slot, query_map};
use crate::imports::{ImportControl, ImportKind};
pub use session::Session;
use session::Sessions;

/// Everything the console reads.
pub struct Console {
    app: Arc<AppState>,
    controls: HashMap<String, Arc<ImportControl>>,
    resolver: Arc<ReloadableResolver>,
    data_dir: PathBuf,
    sessions: Sessions,
    /// Connector names, sorted.
    names: Vec<String>,
}

impl Console {
    /// The console over the host's connectors (`app`), their import controls and certificate.
    pub fn new(
        app: Arc<AppState>,
        controls: HashMap<String, Arc<ImportControl>>,
        resolver: Arc<ReloadableResolver>,
        data_dir: PathBuf,
    ) -> Console {
        let mut names: Vec<String> = app.slots.keys().cloned().collect();
        names.sort();
        Console {
            app,
            controls,
            resolver,
            data_dir,
            sessions: Sessions::default(),
            names,
        }
    }

    fn slot(&self, name: &str) -> Result<&Arc<Slot>, Failure> {
        self.app.slots.get(name).ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("no connector named {name:?}"),
            )
        })
    }

    /// The connector's runtime, once it is bound.
    fn runtime(&self, name: &str) -> Result<Arc<Runtime>, Failure> {
        match self.slot(name)?.runtime.read().map(|r| r.clone()) {
            Ok(Ok(rt)) => Ok(rt),
            Ok(Err(reason)) => Err(Failure::new(
                StatusCode::CONFLICT,
                format!("connector {name} is not bound to its target yet: {reason}"),
            )),
            Err(_) => Err(Failure::internal("slot lock poisoned")),
        }
    }
}

/// The console's routes, all under `/console`.
pub fn router(console: Console) -> Router {
    let console = Arc::new(console);
    let protected = Router::new()
        .route("/console/", any(operations))
        .route("/console/c/{name}/space", any(space))
        .route("/console/c/{name}/object", any(object))
        .route("/console/c/{name}/runs", any(runs))
        .route("/console/c/{name}/pending", any(pending))
        .route("/console/c/{name}/match", any(matching))
        .route("/console/c/{name}/match/{file}", any(matching_csv))
        .route("/console/c/{name}/import", any(run_import))
        .route("/console/logout", any(logout))
        .route("/console/{*rest}", any(not_found))
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            require_session,
        ));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/login", any(login))
        .merge(protected)
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// The Content-Security-Policy of every console answer: the pages' one stylesheet (inline,
/// allowed by its hash) and forms to the host itself; no script, no image, no frame, nothing
/// from anywhere else.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(pages::CSS));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// Headers on every console answer: the Content-Security-Policy, no framing, no caching, no
/// referrer, no MIME sniffing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    if let Ok(csp) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
        h.insert("content-security-policy", csp);
    }
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    resp
}

/// Lets a request with a live session through (with its [`Session`]); anything else gets the
/// login page with 401, or 404 when the console is off.
async fn require_session(State(c): State<Arc<Console>>, mut req: Request, next: Next) -> Response {
    if c.app.admin_token.is_none() {
        return disabled();
    }
    match c.sessions.find(req.headers()) {
        Some(session) => {
            req.extensions_mut().insert(session);
            next.run(req).await
        }
        None => {
            let wanted = (req.method() == Method::GET).then(|| req.uri().to_string());
            html(
                StatusCode::UNAUTHORIZED,
                pages::login(None, wanted.as_deref()),
            )
        }
    }
}

fn disabled() -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::message(
            "Console disabled",
            "The console is off: set [server] admin_token in the configuration to enable it.",
        ),
    )
}

fn html(status: StatusCode, page: Markup) -> Response {
    (status, page).into_response()
}

/// An error page.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    fn internal(cause: impl std::fmt::Display) -> Failure {
        tracing::error!(error = %cause, "console request failed");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the host's log says what happened",
        )
    }

    fn method() -> Failure {
        Failure::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
    }
}

impl From<crate::error::ApiError> for Failure {
    fn from(e: crate::error::ApiError) -> Failure {
        let r = e.render();
        if r.server_fault {
            Failure::internal(e)
        } else {
            Failure::new(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                r.detail,
            )
        }
    }
}

impl From<crate::space::SpaceError> for Failure {
    fn from(e: crate::space::SpaceError) -> Failure {
        Failure::internal(e)
    }
}

impl From<crate::matching::MatchError> for Failure {
    fn from(e: crate::matching::MatchError) -> Failure {
        Failure::internal(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        html(self.status, pages::message(title, &self.message))
    }
}

type Page = Result<Response, Failure>;

/// Runs blocking reads (the connector space, report files) on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Failure::internal)?
}

fn get_only(req: &Request) -> Result<(), Failure> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        Ok(())
    } else {
        Err(Failure::method())
    }
}

fn post_only(req: &Request) -> Result<(), Failure> {
    if req.method() == Method::POST {
        Ok(())
    } else {
        Err(Failure::method())
    }
}

/// The fields of a form body (`application/x-www-form-urlencoded`), at most 16 KiB.
async fn form(body: Body) -> Result<HashMap<String, String>, Failure> {
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map_err(|_| Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
    Ok(form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Refuses a form without this session's CSRF token.
fn check_csrf(session: &Session, fields: &HashMap<String, String>) -> Result<(), Failure> {
    if session.csrf_matches(fields.get("csrf").map(String::as_str)) {
        Ok(())
    } else {
        tracing::warn!(target: "audit", "console form refused: missing or wrong CSRF token");
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong; reload the page and try again",
        ))
    }
}

/// `GET /console/login` shows the form; `POST` checks the admin token and starts a session.
async fn login(State(c): State<Arc<Console>>, req: Request) -> Response {
    let Some(admin) = &c.app.admin_token else {
        return disabled();
    };
    let query = query_map(req.uri().query());
    match *req.method() {
        Method::GET | Method::HEAD => html(
            StatusCode::OK,
            pages::login(None, query.get("next").map(String::as_str)),
        ),
        Method::POST => {
            let fields = match form(req.into_body()).await {
                Ok(f) => f,
                Err(e) => return e.into_response(),
            };
            let next = fields.get("next").map(String::as_str);
            let presented = fields.get("token").map(String::as_str).unwrap_or_default();
            if admin.matches(presented.trim()) {
                tracing::info!(target: "audit", "console login");
                let cookie = c.sessions.start();
                let mut resp = Redirect::to(safe_next(next)).into_response();
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
                resp
            } else {
                tracing::warn!(target: "audit", "console login refused: wrong admin token");
                html(
                    StatusCode::UNAUTHORIZED,
                    pages::login(Some("That is not the admin token."), next),
                )
            }
        }
        _ => Failure::method().into_response(),
    }
}

/// Where to go after the login: a console page the login page was shown for, else the start.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/console/login")
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/console/",
    }
}

async fn logout(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    req: Request,
) -> Page {
    post_only(&req)?;
    let headers = req.headers().clone();
    let fields = form(req.into_body()).await?;
    check_csrf(&session, &fields)?;
    let cookie = c.sessions.end(&headers);
    let mut resp = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn not_found() -> Response {
    Failure::new(StatusCode::NOT_FOUND, "no such console page").into_response()
}

async fn operations(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    req: Request,
) -> Page {
    get_only(&req)?;
    let cert = status::certificate(&c.resolver);
    let mut connectors = Vec::new();
    for name in &c.names {
        connectors.push(status::connector(&c, name).await?);
    }
    Ok(html(
        StatusCode::OK,
        pages::operations(&session, &connectors, cert.as_ref()),
    ))
}

/// `POST /console/c/{name}/import` with `kind=full|delta`: asks the connector's schedule to run
/// that import now, then shows the operations page, where it shows as requested, then running.
async fn run_import(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    post_only(&req)?;
    let fields = form(req.into_body()).await?;
    check_csrf(&session, &fields)?;
    let rt = c.runtime(&name)?;
    let kind = fields
        .get("kind")
        .and_then(|k| ImportKind::parse(k))
        .ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "kind must be full or delta"))?;
    if kind == ImportKind::Delta && !rt.connector.capabilities().delta_import {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("connector {name} does not support delta imports"),
        ));
    }
    let control = c
        .controls
        .get(&name)
        .ok_or_else(|| Failure::internal(format!("no import control for {name}")))?;
    control.request(kind);
    tracing::info!(target: "audit", connector = %name, kind = kind.as_str(), "import requested from the console");
    Ok(Redirect::to("/console/").into_response())
}

async fn space(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    get_only(&req)?;
    let rt = c.runtime(&name)?;
    let q = query_map(req.uri().query());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let result = status::search(&rt, &q, &host).await?;
    Ok(html(StatusCode::OK, pages::space(&session, &rt, &result)))
}

async fn object(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    get_only(&req)?;
    let rt = c.runtime(&name)?;
    let q = query_map(req.uri().query());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let shown = status::object(&rt, &q, &host).await?;
    Ok(html(StatusCode::OK, pages::object(&session, &rt, &shown)))
}

/// The `page` parameter (from 1).
fn page_param(q: &HashMap<String, String>) -> u64 {
    q.get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, u64::MAX / 1000)
}

async fn runs(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    get_only(&req)?;
    let rt = c.runtime(&name)?;
    let page = page_param(&query_map(req.uri().query()));
    let space = rt.space.clone();
    let (total, runs) =
        blocking(move || Ok(space.runs_page((page - 1) * status::PAGE, status::PAGE)?)).await?;
    Ok(html(
        StatusCode::OK,
        pages::runs(&session, &name, page, total, &runs),
    ))
}

async fn pending(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    get_only(&req)?;
    let rt = c.runtime(&name)?;
    let page = page_param(&query_map(req.uri().query()));
    let space = rt.space.clone();
    let (total, list) = blocking(move || {
        Ok((
            space.pending_count()?,
            space.pending_page((page - 1) * status::PAGE, status::PAGE)?,
        ))
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        pages::pending(&session, &name, page, total, &list),
    ))
}

async fn matching(
    State(c): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    req: Request,
) -> Page {
    get_only(&req)?;
    c.slot(&name)?;
    let q = query_map(req.uri().query());
    let list = q
        .get("list")
        .and_then(|l| crate::matching::List::parse(l))
        .unwrap_or(crate::matching::List::Exact);
    let page = page_param(&q);
    let dir = crate::matching::store::report_dir(&c.data_dir, &name);
    let report = blocking(move || {
        let Some(summary) = crate::matching::store::read_summary(&dir)? else {
            return Ok(None);
        };
        let rows = crate::matching::store::read_page(&dir, &summary, list, page - 1)?;
        Ok(Some((summary, rows)))
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        pages::matching(&session, &name, list, page, report.as_ref()),
    ))
}

/// `GET /console/c/{name}/match/{list}.csv`: a list of the last report, as a download.
async fn matching_csv(
    State(c): State<Arc<Console>>,
    Path((name, file)): Path<(String, String)>,
    req: Request,
) -> Page {
    get_only(&req)?;
    c.slot(&name)?;
    let list = file
        .strip_suffix(".csv")
        .and_then(crate::matching::List::parse)
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such list"))?;
    let path =
        crate::matching::store::report_dir(&c.data_dir, &name).join(format!("{}.csv", list.name()));
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| Failure::new(StatusCode::NOT_FOUND, "no matching report yet"))?;
    let stream = tokio_util_stream(file);
    let disposition = format!("attachment; filename=\"{name}-{}.csv\"", list.name())
        .replace(|c: char| !c.is_ascii_graphic() && c != ' ', "_");
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// A file as a stream of chunks, without loading it whole.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
