//! End-to-end tests for connector-host: an Entra-faithful SCIM client that replays the request
//! sequences Microsoft Entra provisioning sends (`reference/entra-ecma.md` D) against a host
//! running in-process, and checks both the SCIM answers and what really landed in the target
//! database. The scenarios live in the one test binary `tests/e2e.rs`; this library is the
//! harness they share.
//!
//! # Running
//!
//! `cargo test -p e2e` runs the built-in SQLite backend; `--all-features` (feature `odbc`)
//! adds SQLite, PostgreSQL and MariaDB over ODBC, on the servers `testkit` finds
//! (`./scripts/test.sh` installs and starts them). Each backend × schema mode is one test
//! that prints every scenario's outcome; run with `--nocapture` to see them all.
//!
//! # Layout
//!
//! - [`harness`]: [`TestHost`] starts the host on `127.0.0.1:0` with a generated certificate,
//!   polls `/healthz`, stops and restarts it on the same data directory.
//! - [`client`]: [`ScimClient`], a bearer-token SCIM client that insists on
//!   `application/scim+json` response bodies.
//! - [`entra`]: Entra's documented requests as reusable steps (probe, match-or-create, PATCH
//!   forms, disable/enable, delete, groups, manager, paging).
//! - [`fixture`]: staging tables, host configurations and test people for both schema modes.
//! - [`db`]: the target databases (built-in SQLite; SQLite, PostgreSQL and MariaDB over ODBC
//!   with the `odbc` feature) and direct table reads.
//! - [`error`]: [`E2eError`], which names request, expectation and answer.
//! - [`scenarios`]: named scenarios run in turn against one host, every failure reported.

pub mod client;
pub mod db;
pub mod entra;
pub mod error;
pub mod fixture;
pub mod harness;
mod launch;
pub mod scenarios;

pub use client::{ScimClient, ScimResponse};
pub use db::{Backend, Database};
pub use error::{E2eError, Result};
pub use harness::TestHost;
