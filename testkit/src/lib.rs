//! Test-only helpers that give connector and end-to-end tests real targets:
//! a fresh, uniquely named PostgreSQL, MariaDB or SQLite database reached
//! through ODBC ([`fresh_postgres`], [`fresh_mariadb`], [`fresh_sqlite_odbc`]),
//! a private OpenLDAP server ([`Slapd`]), a 389 Directory Server ([`Ds389`]), ODBC one-liners for fixtures and
//! assertions ([`execute`], [`query_strings`]) and [`free_port`].
//!
//! It exists so that every test talks to the real thing instead of a mock, and
//! so that a missing server makes a test fail loudly with the command that fixes
//! it (`./scripts/test.sh`, which installs and starts everything), never skip.
//!
//! Use it only from `[dev-dependencies]`. The API is blocking; call it before
//! starting a runtime or from `tokio::task::spawn_blocking`. The panicking
//! functions each have a `try_` twin that returns [`TestkitError`] instead.
//!
//! ```no_run
//! let db = testkit::fresh_postgres(); // dropped again at the end of the test
//! db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(100))");
//! db.execute("INSERT INTO people VALUES (1, 'Jürgen')");
//! assert_eq!(
//!     db.query_strings("SELECT name FROM people"),
//!     vec![vec![Some("Jürgen".to_owned())]]
//! );
//!
//! let ldap = testkit::Slapd::start(); // killed on drop
//! println!("{} {} {}", ldap.url(), ldap.admin_dn(), ldap.admin_password());
//! ```
//!
//! # Where the servers are
//!
//! `./scripts/test.sh` exports these variables; without them the defaults
//! below apply, so plain `cargo test` works on a machine where the servers run
//! at their usual places:
//!
//! | variable | default |
//! |---|---|
//! | `CH_TEST_PG_HOST`, `CH_TEST_PG_PORT`, `CH_TEST_PG_USER` | `127.0.0.1`, `5432`, `postgres` (a superuser, no password) |
//! | `CH_TEST_MARIADB_HOST`, `CH_TEST_MARIADB_PORT` | `127.0.0.1`, `3306` |
//! | `CH_TEST_MARIADB_USER`, `CH_TEST_MARIADB_PASSWORD` | `root`, empty |
//! | `CH_TEST_ODBC_PG_DRIVER` | `PostgreSQL Unicode` |
//! | `CH_TEST_ODBC_MARIADB_DRIVER` | `MariaDB Unicode` |
//! | `CH_TEST_ODBC_SQLITE_DRIVER` | `SQLite3` |
//!
//! A driver is a name registered in `/etc/odbcinst.ini` or an absolute path to
//! the driver library. Built alone, this crate links the system unixODBC
//! (`libodbc.so`, Debian package `unixodbc-dev`); in a build with
//! connector-host's default features (e.g. `cargo test --workspace`) odbc-api's
//! features are unified and it uses the vendored driver manager instead.
//!
//! # Layout
//!
//! - `db`: [`TestDb`], [`DbKind`], the connection strings and their creation/drop.
//! - `odbc`: [`execute`] and [`query_strings`] over `odbc-api`.
//! - `slapd`: [`Slapd`].
//! - `ds389`: [`Ds389`], a 389 Directory Server shared by the tests of one binary.
//! - `private_pg`: [`PrivatePostgres`], a server a test may stop and start.

mod db;
mod ds389;
mod odbc;
mod private_pg;
mod slapd;

use std::net::{Ipv4Addr, TcpListener};

pub use db::{
    DbKind, TestDb, fresh_mariadb, fresh_postgres, fresh_sqlite_odbc, try_fresh_mariadb,
    try_fresh_postgres, try_fresh_sqlite_odbc,
};
pub use ds389::Ds389;
pub use odbc::{execute, query_strings, try_execute, try_query_strings};
pub use private_pg::PrivatePostgres;
pub use slapd::{CLIENT_CERT_SUBJECT, Slapd, SlapdOptions, SlapdTls};

/// What the `fresh_*` and [`Slapd`] helpers tell a developer to run when a
/// server or a package is missing.
pub const FIX_HINT: &str = "run ./scripts/test.sh from the repository root: it installs the missing packages, \
starts the servers and runs the tests with the right CH_TEST_* variables";

/// Why a helper could not give a test what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A server, driver or program the tests need is not there.
    #[error(
        "{what} is not available.\nTo fix: {FIX_HINT}{}.\nCause: {detail}",
        alternative(*.variables)
    )]
    Unavailable {
        /// What was asked for, e.g. "PostgreSQL at 127.0.0.1:5432 as postgres".
        what: String,
        /// The underlying error.
        detail: String,
        /// The environment variables that point the helper elsewhere, if any.
        variables: Option<&'static str>,
    },
    /// A statement failed on a server that was reachable.
    #[error("ODBC error while running `{sql}`: {source}")]
    Odbc {
        /// The statement.
        sql: String,
        /// The driver's diagnostics.
        #[source]
        source: odbc_api::Error,
    },
    /// A `CH_TEST_*` variable holds something unusable.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    BadVariable {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A local file or process operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `slapd` started but did not become ready.
    #[error("slapd did not start: {0}")]
    Slapd(String),
    /// The 389 Directory Server instance could not be made or started.
    #[error("389 Directory Server: {0}")]
    Ds389(String),
}

fn alternative(variables: Option<&str>) -> String {
    variables
        .map(|v| format!(" (or set {v} to a server you run)"))
        .unwrap_or_default()
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it
/// by binding port 0). Another process may take it before the caller binds it;
/// prefer binding `127.0.0.1:0` yourself where the code under test allows it.
///
/// # Panics
/// If no loopback port can be bound.
#[track_caller]
pub fn free_port() -> u16 {
    or_panic(try_free_port())
}

/// [`free_port`] returning an error instead of panicking.
pub fn try_free_port() -> Result<u16, TestkitError> {
    let io = |source| TestkitError::Io {
        context: "binding 127.0.0.1:0 to find a free port".into(),
        source,
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io)?;
    Ok(listener.local_addr().map_err(io)?.port())
}

/// Unwraps a helper's result, panicking with its full explanation: the
/// panicking helpers exist so that tests fail loudly instead of skipping.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "test helpers fail the calling test on purpose"
)]
pub(crate) fn or_panic<T>(result: Result<T, TestkitError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}
