//! connector-host: an open, cross-platform replacement for Microsoft's ECMA Connector Host.
//!
//! Entra provisioning (or any SCIM 2.0 client) pushes users and groups to
//! `https://HOST:8585/ecma2host_{connector}/scim/…`; the host translates each request into a
//! change on a pluggable connector and keeps a persistent connector space of what the target
//! holds, which answers Entra's lookups.
//!
//! # Layout
//! - [`config`]: the TOML configuration, strict and versioned; secrets and token hashes. It keeps
//!   each connector kind's own settings table as written and names no kind.
//! - [`registry`]: the connector kinds this build has (kind → crate, settings table,
//!   constructor); the only place that names a kind or a connector crate. The host loads its
//!   configuration through [`registry::load`], which reads every connector's settings.
//! - [`http`]: routing, authentication, request ids, SCIM responses and errors.
//! - [`console`]: the operations console (HTML behind an admin session): connector states,
//!   imports on demand, the connector space, run history, the last matching report.
//! - [`matching`]: the matching report (which target accounts Entra will match to which of its
//!   users), pure logic over an Entra export and the accounts it is handed.
//! - [`engine`]: the SCIM ↔ connector binding (`engine::binding`, one module per schema mode),
//!   the write path (create/PATCH/PUT/DELETE → one change → export → write-through), the read
//!   path (lookups, filters, paging) and rendering (resources, their URLs and ETags).
//! - [`space`]: the connector space (SQLite in the data directory), with the journal that
//!   re-applies write-throughs made during a full import.
//! - [`imports`]: full and delta imports and their schedule.
//! - `assemble`: one connector's [`engine::Runtime`] (connect, discover the schema, bind, open
//!   the space); [`server`]: TLS, bring-up, schedules, HTTPS, graceful shutdown and SIGHUP
//!   reload; [`cli`]: the command line, with `demo` for `demo` and `init`.
//! - [`tls`], [`telemetry`]: certificates, logs and metrics.
//! - [`error`]: [`error::ApiError`], mapped to SCIM in exactly one place.
//!
//! Dependencies inside the host run one way: `cli` → `server` → `console` → `http`/`imports` →
//! `engine` → `space`, with `config` and `telemetry` underneath (and `matching` beside them); the engine knows no HTTP and no imports,
//! the space no SCIM, and only `registry` knows a connector crate.
//!
//! **Architecture invariant:** the host never touches a driver; connectors are
//! `Arc<dyn connector_core::Connector>` and every call to one runs on the blocking pool.

mod assemble;
pub mod cli;
pub mod config;
pub mod console;
mod demo;
pub mod engine;
pub mod error;
pub mod http;
pub mod imports;
pub mod matching;
pub mod registry;
pub mod server;
pub mod space;
pub mod telemetry;
pub mod tls;

pub use server::run;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("TLS: {0}")]
    Tls(#[from] certs::CertError),
    #[error("{0}")]
    Startup(String),
}
