//! The two ways to reach a database, behind one small [`Session`] interface.
//!
//! The connector logic (schema discovery, exports, imports) only ever talks to a [`Session`]:
//! run a statement, run a query, open and close a transaction, describe a table. The built-in
//! SQLite backend is always compiled; the ODBC backend only with the `odbc` feature because it
//! needs a driver manager (`vendored-odbc` compiles unixODBC's in, otherwise the system
//! `libodbc` is linked). A backend hands out one session at a time per connection and
//! takes care of connection reuse and of discarding connections that failed.

use std::path::Path;

use connector_core::{AttrKind, ConnectorError, Deadline};

use crate::config::SqlConfig;
use crate::dialect::Dialect;
use crate::errors::DbError;
use crate::value::Value;

#[cfg(feature = "odbc")]
pub(crate) mod odbc;
pub(crate) mod sqlite;

/// One column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnInfo {
    pub name: String,
    /// The attribute kind the column's type maps to.
    pub storage: AttrKind,
    /// NOT NULL without a default (as far as the backend can tell).
    pub required: bool,
}

/// A connection checked out for one unit of work.
pub(crate) trait Session {
    /// The dialect of the database behind this session.
    fn dialect(&self) -> Dialect;
    /// Runs a statement and returns the number of rows it affected.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query; `kinds` says per column how to read it (binary columns as bytes, others as
    /// text or native values). NULL cells come back as [`Value::Null`].
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[AttrKind],
    ) -> Result<Vec<Vec<Value>>, DbError>;
    /// Runs a query whose columns are known only by name (a configured import query): returns
    /// the result's column names and its rows; `kind_of` says how to read a column by name.
    fn query_named(
        &mut self,
        sql: &str,
        params: &[Value],
        kind_of: &dyn Fn(&str) -> AttrKind,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DbError>;
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), DbError>;
    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), DbError>;
    /// Rolls the transaction back.
    fn rollback(&mut self) -> Result<(), DbError>;
    /// The columns of a table, in table order, or `None` when the table does not exist.
    /// `table` is the configured name, `quoted` the same quoted for the dialect.
    fn columns(&mut self, table: &str, quoted: &str) -> Result<Option<Vec<ColumnInfo>>, DbError>;
    /// The tables that exist, for error messages (best effort: empty when unknown).
    fn table_names(&mut self) -> Vec<String>;
    /// A short description of the server, e.g. `PostgreSQL 15.19 via ODBC (PostgreSQL Unicode driver)`.
    fn describe_server(&mut self) -> String;
}

/// Maps a database type name to the attribute kind (integer types → Integer, bit/boolean →
/// Boolean, date/time/timestamp → DateTime, binary/varbinary/bytea/blob → Binary, otherwise
/// String). Used for SQLite's declared types and ODBC's type names alike.
pub(crate) fn kind_of_type_name(type_name: &str) -> AttrKind {
    let t = type_name.to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or("");
    if base.contains("bool") || base == "bit" {
        AttrKind::Boolean
    } else if matches!(
        base,
        "int"
            | "integer"
            | "int2"
            | "int4"
            | "int8"
            | "smallint"
            | "tinyint"
            | "mediumint"
            | "bigint"
            | "serial"
            | "smallserial"
            | "bigserial"
    ) {
        AttrKind::Integer
    } else if base.contains("date") || base.contains("time") {
        AttrKind::DateTime
    } else if base.contains("blob") || base.contains("binary") || base == "bytea" || base == "image"
    {
        AttrKind::Binary
    } else {
        AttrKind::String
    }
}

/// Where the data lives.
pub(crate) enum Backend {
    Sqlite(sqlite::SqliteDb),
    #[cfg(feature = "odbc")]
    Odbc(odbc::OdbcPool),
}

impl Backend {
    /// Opens the backend the connection string selects. SQLite opens its file now; ODBC connects
    /// lazily, so a database that is down at start-up only fails the first call.
    pub fn open(config: &SqlConfig, base_dir: &Path) -> Result<Backend, ConnectorError> {
        let conn = config.connection.trim();
        if let Some(path) = sqlite::sqlite_target(conn, base_dir) {
            return Ok(Backend::Sqlite(sqlite::SqliteDb::open(
                path,
                config.command_timeout,
            )?));
        }
        Self::open_odbc(config)
    }

    #[cfg(feature = "odbc")]
    fn open_odbc(config: &SqlConfig) -> Result<Backend, ConnectorError> {
        Ok(Backend::Odbc(odbc::OdbcPool::new(config)))
    }

    #[cfg(not(feature = "odbc"))]
    fn open_odbc(config: &SqlConfig) -> Result<Backend, ConnectorError> {
        Err(ConnectorError::misconfigured(format!(
            "the connection {} is not a sqlite:// path, and this build of connector-host has no \
             ODBC support (it was built without the `odbc` feature; connector-host's default \
             build has it)",
            config.redacted_connection()
        )))
    }

    /// Runs `f` on a session whose statements end by `deadline`. A session whose connection
    /// broke is not reused.
    pub fn with_session<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut dyn Session) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        deadline.check("the database was asked")?;
        match self {
            Backend::Sqlite(db) => db.with_session(deadline, f),
            #[cfg(feature = "odbc")]
            Backend::Odbc(pool) => pool.with_session(deadline, f),
        }
    }

    /// Whether two exports may run at the same time.
    pub fn concurrent(&self) -> bool {
        match self {
            Backend::Sqlite(_) => false,
            #[cfg(feature = "odbc")]
            Backend::Odbc(pool) => pool.capacity() > 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_map_to_kinds() {
        let check = |name: &str, expected: AttrKind| {
            assert_eq!(kind_of_type_name(name), expected, "{name}")
        };
        check("INTEGER", AttrKind::Integer);
        check("bigint", AttrKind::Integer);
        check("int4", AttrKind::Integer);
        check("TINYINT(1)", AttrKind::Integer);
        check("boolean", AttrKind::Boolean);
        check("bool", AttrKind::Boolean);
        check("bit", AttrKind::Boolean);
        check("timestamp with time zone", AttrKind::DateTime);
        check("DATETIME2(3)", AttrKind::DateTime);
        check("date", AttrKind::DateTime);
        check("bytea", AttrKind::Binary);
        check("VARBINARY(16)", AttrKind::Binary);
        check("BLOB", AttrKind::Binary);
        check("varchar(256)", AttrKind::String);
        check("TEXT", AttrKind::String);
        check("numeric(10,2)", AttrKind::String);
        check("", AttrKind::String);
        // "point" must not become Integer through "int".
        check("point", AttrKind::String);
        check("int unsigned", AttrKind::Integer);
    }
}
