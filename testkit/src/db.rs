//! Fresh, uniquely named databases for tests, created through ODBC on the
//! servers named by the `CH_TEST_*` variables and dropped again on `Drop`, so
//! tests running in parallel never see each other's tables.
//!
//! Connection strings produced (values in braces when they contain `;{}=` or
//! spaces at either end):
//!
//! | kind | `odbc_connection_string` |
//! |---|---|
//! | PostgreSQL | `Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=ch_test_…;Uid=postgres;Pwd=;` |
//! | MariaDB | `Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;Database=ch_test_…;Uid=root;Pwd=;` |
//! | SQLite | `Driver={SQLite3};Database=/tmp/…/ch_test_….sqlite3;` |
//!
//! They hold only what is needed to reach the database, with every driver
//! option at its default, so a connector under test sees what a user's plain
//! connection string gives. In particular psqlodbc's `Protocol=7.4-0` is left
//! out: it only speeds up row-by-row inserts by dropping the implicit savepoint
//! per statement, and it changes what an error does to an open transaction,
//! which is the connector's choice to make, not the fixture's.
//!
//! PostgreSQL databases are created from `template0` with UTF-8 encoding and the
//! `C` collation, MariaDB ones with `utf8mb4`/`utf8mb4_unicode_ci`, whatever
//! the server's defaults.

use std::path::PathBuf;

use tempfile::TempDir;
use uuid::Uuid;

use crate::odbc::{connect, redact, run};
use crate::{TestkitError, or_panic};

const PG_VARIABLES: &str = "CH_TEST_PG_HOST/PORT/USER and CH_TEST_ODBC_PG_DRIVER";
const MARIADB_VARIABLES: &str =
    "CH_TEST_MARIADB_HOST/PORT/USER/PASSWORD and CH_TEST_ODBC_MARIADB_DRIVER";
const SQLITE_VARIABLES: &str = "CH_TEST_ODBC_SQLITE_DRIVER";

/// Which server a [`TestDb`] lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbKind {
    /// PostgreSQL through psqlodbc.
    Postgres,
    /// MariaDB through MariaDB Connector/ODBC.
    MariaDb,
    /// An SQLite file through the sqliteodbc driver.
    SqliteOdbc,
}

impl DbKind {
    /// The ODBC connection string of the server itself (PostgreSQL's `postgres`
    /// database, MariaDB without a default database), as an administrator:
    /// for catalogue queries and statements outside any test database. `None`
    /// for SQLite, which has no server.
    ///
    /// # Panics
    /// If a `CH_TEST_*` variable is invalid.
    #[track_caller]
    pub fn server_connection_string(self) -> Option<String> {
        or_panic(self.try_server_connection_string())
    }

    /// [`DbKind::server_connection_string`] returning an error instead of panicking.
    pub fn try_server_connection_string(self) -> Result<Option<String>, TestkitError> {
        Ok(match self {
            DbKind::Postgres => Some(Server::postgres()?.connection_string(Some("postgres"))),
            DbKind::MariaDb => Some(Server::mariadb()?.connection_string(None)),
            DbKind::SqliteOdbc => None,
        })
    }
}

/// A database that exists for one test and is dropped with this value.
///
/// Dropping is best effort: a failure is reported on stderr, never panics.
#[derive(Debug)]
pub struct TestDb {
    /// The server it lives on.
    pub kind: DbKind,
    /// Its name, `ch_test_` followed by 32 random hex digits (for SQLite also
    /// the file's stem).
    pub name: String,
    /// How to reach it through ODBC (see the module table).
    pub odbc_connection_string: String,
    /// Where to run `DROP DATABASE`; `None` for SQLite.
    admin_connection_string: Option<String>,
    /// Holds the SQLite file; deleted with it.
    dir: Option<TempDir>,
}

impl TestDb {
    /// Runs `sql` on this database; see [`crate::execute`].
    #[track_caller]
    pub fn execute(&self, sql: &str) {
        crate::execute(&self.odbc_connection_string, sql);
    }

    /// Runs `sql` on this database and returns the rows as text; see
    /// [`crate::query_strings`].
    #[track_caller]
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        crate::query_strings(&self.odbc_connection_string, sql)
    }

    /// The SQLite file, for [`DbKind::SqliteOdbc`].
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.path().join(format!("{}.sqlite3", self.name)))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = &self.admin_connection_string else {
            return;
        };
        let sql = match self.kind {
            DbKind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            DbKind::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
            DbKind::SqliteOdbc => return,
        };
        let dropped = connect(admin, || redact(admin), None).and_then(|c| run(&c, &sql));
        if let Err(error) = dropped {
            eprintln!(
                "testkit: could not drop test database {} ({:?}): {error}",
                self.name, self.kind
            );
        }
    }
}

/// A new PostgreSQL database on `CH_TEST_PG_*` (default 127.0.0.1:5432, user
/// `postgres`, no password), dropped with the returned value.
///
/// # Panics
/// If the server or the driver is unreachable, with a message saying to run
/// `./scripts/test.sh`.
#[track_caller]
pub fn fresh_postgres() -> TestDb {
    or_panic(try_fresh_postgres())
}

/// A new MariaDB database on `CH_TEST_MARIADB_*` (default 127.0.0.1:3306, user
/// `root`, empty password), dropped with the returned value.
///
/// # Panics
/// If the server or the driver is unreachable, with a message saying to run
/// `./scripts/test.sh`.
#[track_caller]
pub fn fresh_mariadb() -> TestDb {
    or_panic(try_fresh_mariadb())
}

/// A new SQLite database file in a temporary directory, reached through the
/// sqliteodbc driver; the directory is deleted with the returned value.
///
/// # Panics
/// If the driver is missing, with a message saying to run `./scripts/test.sh`.
#[track_caller]
pub fn fresh_sqlite_odbc() -> TestDb {
    or_panic(try_fresh_sqlite_odbc())
}

/// [`fresh_postgres`] returning an error instead of panicking.
pub fn try_fresh_postgres() -> Result<TestDb, TestkitError> {
    let server = Server::postgres()?;
    let name = unique_name();
    let admin = server.connection_string(Some("postgres"));
    let conn = connect(&admin, || server.describe("PostgreSQL"), Some(PG_VARIABLES))?;
    run(
        &conn,
        &format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        ),
    )?;
    Ok(TestDb {
        kind: DbKind::Postgres,
        odbc_connection_string: server.connection_string(Some(&name)),
        name,
        admin_connection_string: Some(admin),
        dir: None,
    })
}

/// [`fresh_mariadb`] returning an error instead of panicking.
pub fn try_fresh_mariadb() -> Result<TestDb, TestkitError> {
    let server = Server::mariadb()?;
    let name = unique_name();
    let admin = server.connection_string(None);
    let conn = connect(
        &admin,
        || server.describe("MariaDB"),
        Some(MARIADB_VARIABLES),
    )?;
    run(
        &conn,
        &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    )?;
    Ok(TestDb {
        kind: DbKind::MariaDb,
        odbc_connection_string: server.connection_string(Some(&name)),
        name,
        admin_connection_string: Some(admin),
        dir: None,
    })
}

/// [`fresh_sqlite_odbc`] returning an error instead of panicking.
pub fn try_fresh_sqlite_odbc() -> Result<TestDb, TestkitError> {
    let driver = variable("CH_TEST_ODBC_SQLITE_DRIVER", "SQLite3");
    let dir = tempfile::Builder::new()
        .prefix("ch-test-sqlite-")
        .tempdir()
        .map_err(|source| TestkitError::Io {
            context: "creating a temporary directory for an SQLite test database".into(),
            source,
        })?;
    let name = unique_name();
    let path = dir.path().join(format!("{name}.sqlite3"));
    let conn_str = format!(
        "Driver={};Database={};",
        braced(&driver),
        braced(&path.to_string_lossy())
    );
    // Connecting creates the file; the query proves the driver works.
    let conn = connect(
        &conn_str,
        || format!("the SQLite ODBC driver `{driver}`"),
        Some(SQLITE_VARIABLES),
    )?;
    run(&conn, "SELECT sqlite_version()")?;
    Ok(TestDb {
        kind: DbKind::SqliteOdbc,
        name,
        odbc_connection_string: conn_str,
        admin_connection_string: None,
        dir: Some(dir),
    })
}

/// A database server and how to log in to it as an administrator.
struct Server {
    driver: String,
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Server {
    fn postgres() -> Result<Server, TestkitError> {
        Ok(Server {
            driver: variable("CH_TEST_ODBC_PG_DRIVER", "PostgreSQL Unicode"),
            host: variable("CH_TEST_PG_HOST", "127.0.0.1"),
            port: port_variable("CH_TEST_PG_PORT", 5432)?,
            user: variable("CH_TEST_PG_USER", "postgres"),
            password: String::new(),
        })
    }

    fn mariadb() -> Result<Server, TestkitError> {
        Ok(Server {
            driver: variable("CH_TEST_ODBC_MARIADB_DRIVER", "MariaDB Unicode"),
            host: variable("CH_TEST_MARIADB_HOST", "127.0.0.1"),
            port: port_variable("CH_TEST_MARIADB_PORT", 3306)?,
            user: variable("CH_TEST_MARIADB_USER", "root"),
            password: variable("CH_TEST_MARIADB_PASSWORD", ""),
        })
    }

    fn connection_string(&self, database: Option<&str>) -> String {
        let database = database
            .map(|db| format!("Database={};", braced(db)))
            .unwrap_or_default();
        format!(
            "Driver={};Server={};Port={};{database}Uid={};Pwd={};",
            braced(&self.driver),
            braced(&self.host),
            self.port,
            braced(&self.user),
            braced(&self.password),
        )
    }

    fn describe(&self, product: &str) -> String {
        format!(
            "{product} at {}:{} as user {} through the ODBC driver `{}`",
            self.host, self.port, self.user, self.driver
        )
    }
}

fn unique_name() -> String {
    format!("ch_test_{}", Uuid::new_v4().simple())
}

/// The variable's value, or `default` when it is unset or empty.
fn variable(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn port_variable(name: &'static str, default: u16) -> Result<u16, TestkitError> {
    let value = variable(name, &default.to_string());
    value.parse().map_err(|e| TestkitError::BadVariable {
        name,
        value: value.clone(),
        reason: format!("not a TCP port: {e}"),
    })
}

/// An ODBC connection-string attribute value, in braces (with `}` doubled)
/// when it would otherwise end the attribute early or lose spaces. Driver
/// names always get braces, which every driver manager accepts.
fn braced(value: &str) -> String {
    let needs = value.contains([';', '{', '}', '=', ' '])
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace);
    if needs {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::braced;

    fn check(input: &str, expected: &str) {
        assert_eq!(braced(input), expected, "input: {input:?}");
    }

    #[test]
    fn braces_values_that_would_break_a_connection_string() {
        check("", "");
        check("root", "root");
        check("127.0.0.1", "127.0.0.1");
        check(
            "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so",
            "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so",
        );
        check("PostgreSQL Unicode", "{PostgreSQL Unicode}");
        check("pa;ss", "{pa;ss}");
        check("a=b", "{a=b}");
        check("x}y", "{x}}y}");
        check(" lead", "{ lead}");
    }
}
