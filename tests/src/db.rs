//! The target databases the end-to-end matrix runs against, behind one small interface: create
//! a fresh database, run fixture DDL, and read a table directly to check what the host really
//! wrote. The built-in SQLite is a file in the test directory opened with `rusqlite`; the ODBC
//! backends (feature `odbc`) are fresh databases from `testkit`.
//!
//! DDL is written once with `"` quoted identifiers and the token `BOOL_T`, and adapted per
//! database ([`Database::adapt`]); identifiers keep their case everywhere because the SQL
//! connector always quotes them.

use std::path::{Path, PathBuf};

use crate::error::{E2eError, Result};

/// A database backend of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The connector's built-in SQLite (`sqlite://file`).
    Sqlite,
    /// SQLite through the sqliteodbc driver.
    #[cfg(feature = "odbc")]
    SqliteOdbc,
    /// PostgreSQL through psqlodbc.
    #[cfg(feature = "odbc")]
    Postgres,
    /// MariaDB through MariaDB Connector/ODBC.
    #[cfg(feature = "odbc")]
    MariaDb,
}

/// One fresh database for one test.
pub struct Database {
    /// Which backend.
    pub backend: Backend,
    /// The `connection` value for `[connector.sql]`.
    pub connection: String,
    sqlite_file: Option<PathBuf>,
    #[cfg(feature = "odbc")]
    odbc: Option<testkit::TestDb>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// The built-in SQLite file's name in the test directory.
pub const SQLITE_FILE: &str = "hr.db";

impl Database {
    /// A fresh database. The built-in SQLite lives in `dir` (the host's configuration
    /// directory) as `hr.db`; the others come from `testkit` and are dropped with the value.
    pub fn create(backend: Backend, dir: &Path) -> Result<Database> {
        match backend {
            Backend::Sqlite => Ok(Database {
                backend,
                connection: format!("sqlite://{SQLITE_FILE}"),
                sqlite_file: Some(dir.join(SQLITE_FILE)),
                #[cfg(feature = "odbc")]
                odbc: None,
            }),
            #[cfg(feature = "odbc")]
            _ => {
                let db = match backend {
                    Backend::SqliteOdbc => testkit::try_fresh_sqlite_odbc(),
                    Backend::Postgres => testkit::try_fresh_postgres(),
                    _ => testkit::try_fresh_mariadb(),
                }
                .map_err(|e| E2eError::Db(e.to_string()))?;
                Ok(Database {
                    backend,
                    connection: db.odbc_connection_string.clone(),
                    sqlite_file: None,
                    odbc: Some(db),
                })
            }
        }
    }

    /// `ddl` adapted to this database: `"` quotes become backticks on MariaDB, `BOOL_T` becomes
    /// the boolean type.
    pub fn adapt(&self, ddl: &str) -> String {
        let sql = ddl.replace("BOOL_T", "BOOLEAN");
        #[cfg(feature = "odbc")]
        if self.backend == Backend::MariaDb {
            return sql.replace('"', "`");
        }
        sql
    }

    /// Runs statements (adapted; several separated by `;` for the built-in SQLite, one for ODBC).
    pub fn execute(&self, sql: &str) -> Result<()> {
        let sql = self.adapt(sql);
        if let Some(file) = &self.sqlite_file {
            let conn = open_sqlite(file)?;
            return conn
                .execute_batch(&sql)
                .map_err(|e| E2eError::Db(format!("`{sql}`: {e}")));
        }
        #[cfg(feature = "odbc")]
        if let Some(db) = &self.odbc {
            return testkit::try_execute(&db.odbc_connection_string, &sql)
                .map_err(|e| E2eError::Db(e.to_string()));
        }
        Err(E2eError::Db("no database".to_owned()))
    }

    /// Runs a query (adapted) and returns every row as text (`None` for NULL; integers and
    /// booleans as digits).
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let sql = self.adapt(sql);
        if let Some(file) = &self.sqlite_file {
            return query_sqlite(file, &sql);
        }
        #[cfg(feature = "odbc")]
        if let Some(db) = &self.odbc {
            return testkit::try_query_strings(&db.odbc_connection_string, &sql)
                .map_err(|e| E2eError::Db(e.to_string()));
        }
        Err(E2eError::Db("no database".to_owned()))
    }
}

/// A boolean column value read as text: `1`/`0`, `t`/`f`, `true`/`false` (any case).
pub fn sql_bool(text: Option<&str>) -> Option<bool> {
    match text?.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

fn open_sqlite(file: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(file)
        .map_err(|e| E2eError::Db(format!("opening {}: {e}", file.display())))?;
    // The host may be writing at the same moment; wait for its lock instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| E2eError::Db(e.to_string()))?;
    Ok(conn)
}

fn query_sqlite(file: &Path, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    use rusqlite::types::ValueRef;
    let db = |e: rusqlite::Error| E2eError::Db(format!("`{sql}`: {e}"));
    let conn = open_sqlite(file)?;
    let mut statement = conn.prepare(sql).map_err(db)?;
    let columns = statement.column_count();
    let mut rows = statement.query([]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            let value = match row.get_ref(i).map_err(db)? {
                ValueRef::Null => None,
                ValueRef::Integer(n) => Some(n.to_string()),
                ValueRef::Real(x) => Some(x.to_string()),
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Some(format!("{b:?}")),
            };
            values.push(value);
        }
        out.push(values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::sql_bool;

    #[test]
    fn boolean_columns_read_as_text_in_every_driver_spelling() {
        let check = |text: Option<&str>, expected: Option<bool>| {
            assert_eq!(sql_bool(text), expected, "{text:?}")
        };
        check(Some("1"), Some(true));
        check(Some("0"), Some(false));
        check(Some("t"), Some(true));
        check(Some("f"), Some(false));
        check(Some("TRUE"), Some(true));
        check(Some("false"), Some(false));
        check(Some(" 0 "), Some(false));
        check(Some("2"), None);
        check(Some(""), None);
        check(None, None);
    }
}
