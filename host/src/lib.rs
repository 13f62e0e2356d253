//! connector-host: an open, cross-platform replacement for Microsoft's ECMA Connector Host.
//!
//! Entra provisioning (or any SCIM 2.0 client) pushes users and groups to
//! `https://HOST:8585/ecma2host_{connector}/scim/…`; the host translates each request into a
//! change on a pluggable connector and keeps a persistent connector space of what the target
//! holds, which answers Entra's lookups.
//!
//! # Layout
//! - [`config`]: the TOML configuration, strict and versioned; secrets and token hashes.
//! - [`registry`]: the connector kinds this build has; the only place that names one.
//! - [`http`]: routing, authentication, request ids, SCIM responses and errors.
//! - [`engine`]: SCIM ↔ connector mapping, the write path (create/PATCH/PUT/DELETE → one
//!   change → export → write-through) and the read path (lookups, filters, paging).
//! - [`space`]: the connector space (SQLite in the data directory).
//! - [`imports`]: full and delta imports and their schedule.
//! - [`tls`], [`telemetry`], [`serve`]: certificates, logs and metrics, start-up and shutdown.
//! - [`error`]: [`error::ApiError`], mapped to SCIM in exactly one place.
//!
//! **Architecture invariant:** the host never touches a driver; connectors are
//! `Arc<dyn connector_core::Connector>` and every call to one runs on the blocking pool.

mod assemble;
pub mod cli;
pub mod config;
mod demo;
pub mod engine;
pub mod error;
pub mod http;
pub mod imports;
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
