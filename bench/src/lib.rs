//! End-to-end benchmark of the `connector-host` binary, run as an administrator runs it.
//!
//! The figures DESIGN §7 promises (lookups over TLS keep-alive, export overhead against the
//! raw driver, restart time, memory) can only be believed when measured on the real binary as
//! a child process, over real TLS, against real databases. This crate holds the pieces the
//! `host_bench` binary puts together; none of it is used by the host itself.
//!
//! # Layout
//! - [`host`]: the host's directory and configuration, the child process, `/proc` memory.
//! - [`staging`]: the SQLite staging table the host imports, and its raw read rate.
//! - [`odbc`]: a fresh PostgreSQL/MariaDB database and the direct-ODBC yardstick for exports.
//! - [`load`]: the keep-alive HTTPS load generator.
//! - [`scim`]: the SCIM requests, shaped as Entra sends them.
//! - [`wrk`]: the same lookups and `/healthz` through `wrk`, a load generator in C.
//! - [`stats`], [`report`]: percentiles and the Markdown report.

pub mod host;
pub mod load;
pub mod odbc;
pub mod report;
pub mod scim;
pub mod staging;
pub mod stats;
pub mod wrk;

use std::path::PathBuf;

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("ODBC: {0}")]
    Odbc(String),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no connector-host binary at {0}; build it first with \
         `CARGO_TARGET_DIR=target/bench cargo build --release -p connector-host --features odbc` \
         or set CONNECTOR_HOST_BIN"
    )]
    NoHostBinary(PathBuf),
    #[error("the host exited early: {0}")]
    HostExited(String),
    #[error("cannot signal the host: kill exited with {0}")]
    Signal(String),
    #[error("cannot read memory figures from {0}")]
    Proc(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("a load task failed: {0}")]
    Task(String),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl From<odbc_api::Error> for BenchError {
    fn from(e: odbc_api::Error) -> Self {
        BenchError::Odbc(e.to_string())
    }
}
