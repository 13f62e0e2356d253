//! The built-in SQLite backend: the embedded default that needs no system package.
//!
//! One `rusqlite::Connection` behind a mutex (SQLite serialises writers anyway), opened in WAL
//! mode with foreign keys on. Each session waits for locks at most the command timeout or what
//! is left of its call's deadline, whichever is shorter, and a progress handler interrupts a
//! statement still running when the deadline passes. Statements go through rusqlite's
//! prepared-statement cache.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use connector_core::{AttrKind, ConnectorError, Deadline};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::{ColumnInfo, Session, kind_of_type_name};
use crate::dialect::Dialect;
use crate::errors::{DbError, TIMEOUT_STATE, classify};
use crate::value::{Value, format_datetime};

/// Where a `sqlite://` connection string points: a file (relative paths against `base_dir`) or
/// memory. `None` when the string is not a SQLite one.
pub(crate) fn sqlite_target(conn: &str, base_dir: &Path) -> Option<Option<PathBuf>> {
    if conn.eq_ignore_ascii_case("sqlite::memory:")
        || conn.eq_ignore_ascii_case("sqlite://:memory:")
    {
        return Some(None);
    }
    let rest = conn
        .strip_prefix("sqlite://")
        .or_else(|| conn.strip_prefix("sqlite:"))?;
    let path = Path::new(rest);
    Some(Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }))
}

/// The SQLite database.
pub(crate) struct SqliteDb {
    conn: Mutex<Connection>,
    timeout: Duration,
}

/// SQLite virtual-machine steps between two looks at the deadline.
const STEPS_PER_DEADLINE_CHECK: std::ffi::c_int = 10_000;

fn sqlite_error(e: &rusqlite::Error) -> DbError {
    use rusqlite::ffi;
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let state = match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => "23505",
                ffi::SQLITE_CONSTRAINT_NOTNULL => "23502",
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => "23503",
                ffi::SQLITE_CONSTRAINT_CHECK => "23514",
                _ => match f.code {
                    rusqlite::ErrorCode::ConstraintViolation => "23000",
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                        "40001"
                    }
                    rusqlite::ErrorCode::CannotOpen => "08001",
                    rusqlite::ErrorCode::OperationInterrupted => TIMEOUT_STATE,
                    rusqlite::ErrorCode::TypeMismatch => "22000",
                    _ => "HY000",
                },
            };
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            DbError::new(state, f.extended_code, text)
        }
        other => DbError::internal(other.to_string()),
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database file, or an in-memory database for `None`.
    pub fn open(path: Option<PathBuf>, timeout: Duration) -> Result<SqliteDb, ConnectorError> {
        let opened = match &path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        };
        let shown = path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let conn = opened.map_err(|e| {
            ConnectorError::unavailable(format!("opening SQLite database {shown}: {e}"))
        })?;
        let setup = || -> Result<(), rusqlite::Error> {
            conn.busy_timeout(timeout)?;
            conn.pragma_update(None, "foreign_keys", true)?;
            if path.is_some() {
                // Returns the new mode as a row; query_row swallows it.
                conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            }
            conn.set_prepared_statement_cache_capacity(64);
            Ok(())
        };
        setup().map_err(|e| {
            classify(
                &sqlite_error(&e),
                Dialect::Sqlite,
                &format!("setting up SQLite database {shown}"),
            )
        })?;
        Ok(SqliteDb {
            conn: Mutex::new(conn),
            timeout,
        })
    }

    pub fn with_session<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut dyn Session) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back an
        // open transaction on the next BEGIN failure, and we never hold Rust state in it.
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        deadline.check("the SQLite statement started")?;
        let conn: &mut Connection = &mut guard;
        let until = deadline.instant();
        let bounded = conn
            .busy_timeout(deadline.remaining_within(self.timeout))
            .and_then(|()| {
                conn.progress_handler(
                    STEPS_PER_DEADLINE_CHECK,
                    Some(move || std::time::Instant::now() >= until),
                )
            });
        if let Err(e) = bounded {
            return Err(classify(
                &sqlite_error(&e),
                Dialect::Sqlite,
                "bounding the statement by the deadline",
            ));
        }
        let mut session = SqliteSession { conn };
        let result = f(&mut session);
        if let Err(e) = session.conn.progress_handler(0, None::<fn() -> bool>) {
            tracing::debug!(error = %e, "cannot remove the SQLite progress handler");
        }
        result
    }
}

struct SqliteSession<'a> {
    conn: &'a mut Connection,
}

/// Binds a [`Value`] the way SQLite stores it: booleans as 0/1, date-times as UTC text.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null(_) => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*r)),
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Value::DateTime(t) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Text(format_datetime(*t)))
            }
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn cell(v: ValueRef<'_>, kind: AttrKind) -> Value {
    match v {
        ValueRef::Null => Value::Null(kind),
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

impl Session for SqliteSession<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sqlite_error(&e))?;
        let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
        let n = stmt
            .execute(rusqlite::params_from_iter(bound.iter()))
            .map_err(|e| sqlite_error(&e))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[AttrKind],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sqlite_error(&e))?;
        let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bound.iter()))
            .map_err(|e| sqlite_error(&e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sqlite_error(&e))? {
            let mut cells = Vec::with_capacity(kinds.len());
            for (i, kind) in kinds.iter().enumerate() {
                let v = row.get_ref(i).map_err(|e| sqlite_error(&e))?;
                cells.push(cell(v, *kind));
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn query_named(
        &mut self,
        sql: &str,
        params: &[Value],
        kind_of: &dyn Fn(&str) -> AttrKind,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DbError> {
        let names: Vec<String> = {
            let stmt = self
                .conn
                .prepare_cached(sql)
                .map_err(|e| sqlite_error(&e))?;
            stmt.column_names().map(str::to_owned).collect()
        };
        let kinds: Vec<AttrKind> = names.iter().map(|n| kind_of(n)).collect();
        let rows = self.query(sql, params, &kinds)?;
        Ok((names, rows))
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite_error(&e))
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| sqlite_error(&e))
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch("ROLLBACK")
            .map_err(|e| sqlite_error(&e))
    }

    fn columns(&mut self, table: &str, _quoted: &str) -> Result<Option<Vec<ColumnInfo>>, DbError> {
        // PRAGMA table_info takes the (unquoted) name as a bound argument of the table-valued
        // function form, so awkward names need no quoting. A schema prefix selects the schema.
        let (schema, name) = match table.split_once('.') {
            Some((s, n)) => (s, n),
            None => ("main", table),
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1, ?2)",
            )
            .map_err(|e| sqlite_error(&e))?;
        let rows = stmt
            .query_map([name, schema], |r| {
                let name: String = r.get(0)?;
                let type_name: String = r.get(1)?;
                let not_null: bool = r.get(2)?;
                let default: Option<String> = r.get(3)?;
                let pk: i64 = r.get(4)?;
                let storage = kind_of_type_name(&type_name);
                // An INTEGER PRIMARY KEY is the rowid: SQLite assigns it when absent.
                let rowid = pk == 1 && type_name.eq_ignore_ascii_case("integer");
                Ok(ColumnInfo {
                    name,
                    storage,
                    required: not_null && default.is_none() && !rowid,
                })
            })
            .map_err(|e| sqlite_error(&e))?;
        let cols: Vec<ColumnInfo> = rows
            .collect::<Result<_, _>>()
            .map_err(|e| sqlite_error(&e))?;
        Ok(if cols.is_empty() { None } else { Some(cols) })
    }

    fn table_names(&mut self) -> Vec<String> {
        let Ok(mut stmt) = self.conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type IN ('table','view') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ) else {
            return Vec::new();
        };
        stmt.query_map([], |r| r.get::<_, String>(0))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    fn describe_server(&mut self) -> String {
        format!("SQLite {} (built in)", rusqlite::version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_connection_strings_resolve_against_the_base_dir() {
        let base = Path::new("/srv/host");
        let check = |conn: &str, expected: Option<Option<&str>>| {
            assert_eq!(
                sqlite_target(conn, base),
                expected.map(|o| o.map(PathBuf::from)),
                "{conn}"
            )
        };
        check("sqlite://data/hr.db", Some(Some("/srv/host/data/hr.db")));
        check("sqlite:///var/lib/hr.db", Some(Some("/var/lib/hr.db")));
        check("sqlite::memory:", Some(None));
        check("Driver={SQLite3};Database=/x.db", None);
        check("DSN=hr", None);
    }
}
