//! A simulator of the **Lithnet Resource Management REST API v2** in front of a **MIM
//! Service**, in memory, for testing the MIM Service connector over real HTTP(S).
//!
//! [`serve`] starts it on an address (port 0 for a free one) with [`SimOptions`] and returns a
//! [`SimHandle`]: its base URL, its generated CA when it speaks HTTPS, and the controls a test
//! needs — create, change and delete resources as an administrator in the Portal would (each
//! leaves a Request, so delta imports see it), approve or reject pending Requests, make the
//! next calls fail, add latency, and stop the whole service at once. The `mimservice-sim`
//! binary runs one from a shell.
//!
#![doc = include_str!("../README.md")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

mod api;
pub mod schema;
mod store;
mod tls;
pub mod xpath;

pub use store::{ADMINISTRATOR, ApiError};

use schema::parse_guid;
use store::{Store, Submitted};

/// The kind of change a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    /// A Put: any change to an existing object.
    Update,
    Delete,
}

/// An authorization workflow: changes it matches wait for an approval (202).
#[derive(Debug, Clone)]
pub struct ApprovalRule {
    pub object_type: String,
    pub operations: Vec<Operation>,
    /// Only changes that write this attribute (for creates and updates)…
    pub attribute: Option<String>,
    /// …with this value (compared as text, ignoring case).
    pub value: Option<String>,
}

/// An MPR that does not grant: changes it matches are denied (403).
#[derive(Debug, Clone)]
pub struct DenyRule {
    /// The user it applies to; `None` for every user.
    pub user: Option<String>,
    pub operation: Operation,
    pub object_type: String,
    /// Only changes that write this attribute.
    pub attribute: Option<String>,
}

/// One API user.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub name: String,
    pub password: String,
    /// Listed as the approver of every approval.
    pub approver: bool,
}

impl SimUser {
    pub fn new(name: &str, password: &str, approver: bool) -> Self {
        SimUser {
            name: name.into(),
            password: password.into(),
            approver,
        }
    }
}

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Basic credentials accepted. Default: `svc-connector` / `sim-password`, and the approver
    /// `approver` / `approver-password`.
    pub users: Vec<SimUser>,
    /// Serve HTTPS with a generated CA ([`SimHandle::ca_pem`]) instead of plain HTTP.
    pub tls: bool,
    pub approvals: Vec<ApprovalRule>,
    pub denials: Vec<DenyRule>,
    /// How long an unused search pager is kept. Default 5 minutes, as Lithnet's cache.
    pub pager_idle_expiry: Duration,
    /// The largest request body accepted. Default 65,536 bytes (WCF's default).
    pub max_body: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            users: vec![
                SimUser::new("svc-connector", "sim-password", false),
                SimUser::new("approver", "approver-password", true),
            ],
            tls: false,
            approvals: Vec::new(),
            denials: Vec::new(),
            pager_idle_expiry: Duration::from_secs(300),
            max_body: 65_536,
        }
    }
}

/// A running simulator. Dropping it stops it.
pub struct SimHandle {
    addr: SocketAddr,
    scheme: &'static str,
    tls: Option<tls::Generated>,
    shared: Arc<api::Shared>,
    server: axum_server::Handle<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Starts a simulator listening on `addr` (use port 0 for a free port).
pub fn serve(addr: SocketAddr, options: SimOptions) -> std::io::Result<SimHandle> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mimservice-sim")
        .enable_all()
        .build()?;
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let generated = if options.tls {
        Some(tls::generate(&[])?)
    } else {
        None
    };
    let scheme = if options.tls { "https" } else { "http" };
    let shared = Arc::new(api::Shared {
        store: std::sync::Mutex::new(Store::new(&options)),
        scheme,
        max_body: options.max_body,
        fail_next: AtomicUsize::new(0),
        latency_ms: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    });
    let app = api::router(shared.clone()).into_make_service();
    let server = axum_server::Handle::new();
    let _guard = runtime.enter();
    match &generated {
        None => {
            let s = axum_server::from_tcp(listener)?
                .acceptor(axum_server::accept::NoDelayAcceptor::new())
                .handle(server.clone());
            runtime.spawn(s.serve(app));
        }
        Some(g) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(g)?);
            let s = axum_server::tls_rustls::from_tcp_rustls(listener, config)?
                .map(|a| a.acceptor(axum_server::accept::NoDelayAcceptor::new()))
                .handle(server.clone());
            runtime.spawn(s.serve(app));
        }
    }
    runtime.block_on(server.listening());
    Ok(SimHandle {
        addr,
        scheme,
        tls: generated,
        shared,
        server,
        runtime: Some(runtime),
    })
}

fn id_of(id: &str) -> Result<Uuid, ApiError> {
    parse_guid(id).ok_or_else(ApiError::not_found)
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/` or `https://…/`: the root under which `/v2/` lives.
    pub fn base_url(&self) -> String {
        format!("{}://{}/", self.scheme, self.addr)
    }

    /// The CA that signed the server certificate (PEM), when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The server certificate itself (PEM), when serving HTTPS: what a pin names.
    pub fn server_cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.cert_pem.as_str())
    }

    /// Stops serving at once: the listener closes and open connections are dropped mid-call,
    /// as when the web server goes away. The store stays readable through this handle.
    pub fn stop(&mut self) {
        self.server.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Whether [`SimHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.runtime.is_none()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store()
    }

    /// Creates a resource as the administrator in the Portal (no approval, no denial; a
    /// Request is recorded). `attrs` is a JSON object as the API's POST takes it.
    pub fn create(&self, object_type: &str, attrs: Value) -> Result<String, ApiError> {
        let mut store = self.store();
        let map = attrs.as_object().cloned().unwrap_or_default();
        let values = store.body_values(object_type, &map, true)?;
        match store.create(None, object_type, values)? {
            Submitted::Applied(id) | Submitted::Unchanged(id) | Submitted::Pending(id) => {
                Ok(id.to_string())
            }
        }
    }

    /// Sets attributes of a resource as the administrator (a PATCH body).
    pub fn update(&self, id: &str, attrs: Value) -> Result<(), ApiError> {
        let id = id_of(id)?;
        let mut store = self.store();
        let map = attrs.as_object().cloned().unwrap_or_default();
        let updates = store.set_updates(id, &map)?;
        store.update(None, id, updates).map(|_| ())
    }

    /// Deletes a resource as the administrator.
    pub fn delete(&self, id: &str) -> Result<(), ApiError> {
        let id = id_of(id)?;
        self.store().delete(None, id).map(|_| ())
    }

    /// A resource as the API returns it, or `None`.
    pub fn get(&self, id: &str) -> Option<Value> {
        let id = parse_guid(id)?;
        let store = self.store();
        store.get(id).map(|r| store.to_json(r, None))
    }

    /// Every resource matching an XPath filter, as JSON.
    pub fn search(&self, filter: &str) -> Result<Vec<Value>, ApiError> {
        let store = self.store();
        let f = store.compile(filter)?;
        Ok(store
            .search(&f)
            .into_iter()
            .map(|r| store.to_json(r, None))
            .collect())
    }

    /// How many resources of `object_type` exist.
    pub fn count(&self, object_type: &str) -> usize {
        self.store().count(object_type)
    }

    /// Adds many resources at once without Requests (fixtures for paging). Each element is a
    /// JSON object of attributes; returns their ObjectIDs.
    pub fn seed(&self, object_type: &str, objects: Vec<Value>) -> Result<Vec<String>, ApiError> {
        let mut store = self.store();
        let mut ids = Vec::with_capacity(objects.len());
        for o in objects {
            let map = o.as_object().cloned().unwrap_or_default();
            let values = store.body_values(object_type, &map, true)?;
            ids.push(store.seed(object_type, values).to_string());
        }
        Ok(ids)
    }

    /// The Requests waiting for an approval, oldest first.
    pub fn pending_requests(&self) -> Vec<String> {
        self.store()
            .pending_requests()
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    }

    /// Approves a pending Request: its change runs now.
    pub fn approve(&self, request: &str) -> Result<(), ApiError> {
        self.store().decide(id_of(request)?, true)
    }

    /// Rejects a pending Request: its change never runs.
    pub fn reject(&self, request: &str) -> Result<(), ApiError> {
        self.store().decide(id_of(request)?, false)
    }

    /// Answers the next `n` calls with 503, as IIS does while the application pool is stopped.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Delays every call by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.shared.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// How many calls reached the simulator.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The values of one attribute of a resource, as text.
    pub fn values(&self, id: &str, attribute: &str) -> Vec<String> {
        let Some(id) = parse_guid(id) else {
            return Vec::new();
        };
        let store = self.store();
        store
            .get(id)
            .map(|r| r.values(attribute).iter().map(store::scalar_text).collect())
            .unwrap_or_default()
    }

    /// Whether a resource exists.
    pub fn exists(&self, id: &str) -> bool {
        parse_guid(id).is_some_and(|id| self.store().get(id).is_some())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
