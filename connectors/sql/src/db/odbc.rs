//! The ODBC backend (feature `odbc`): any database with an ODBC driver, through `odbc-api` and
//! the system unixODBC driver manager.
//!
//! A small pool keeps up to `pool_size` connections open. An idle connection unused for a few
//! seconds is validated before it is handed out; a connection that failed with a
//! connection-class error (SQLSTATE `08xxx`, `HYT01`, server gone away) is dropped instead of
//! returned, so after a database restart the next call simply reconnects. Connecting happens on
//! first use. The calls block, as the connector contract expects.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use connector_core::{AttrKind, ConnectorError, Deadline};
use odbc_api::buffers::TextRowSet;
use odbc_api::handles::Nullability;
use odbc_api::parameter::{InputParameter, VarBinaryBox, VarCharBox, WithDataType};
use odbc_api::{
    Bit, Connection, ConnectionOptions, Cursor, DataType, IntoParameter, Nullable,
    ResultSetMetadata, sys::Timestamp,
};

use super::{ColumnInfo, Session, kind_of_type_name};
use crate::config::SqlConfig;
use crate::dialect::{BoolBinding, Dialect};
use crate::errors::{DbError, TIMEOUT_STATE, connection_lost};
use crate::value::Value;

/// Idle connections older than this are validated before reuse.
const VALIDATE_AFTER: Duration = Duration::from_secs(5);

struct Pooled {
    conn: Connection<'static>,
    last_used: Instant,
}

/// What the first connection told us about the server.
#[derive(Debug, Clone)]
struct ServerInfo {
    dialect: Dialect,
    dbms_name: String,
}

/// A pool of ODBC connections to one database.
pub(crate) struct OdbcPool {
    connection: String,
    redacted: String,
    timeout: Duration,
    capacity: usize,
    forced: Option<Dialect>,
    idle: Mutex<Vec<Pooled>>,
    in_use: Mutex<usize>,
    freed: Condvar,
    info: OnceLock<ServerInfo>,
}

fn odbc_error(e: &odbc_api::Error) -> DbError {
    match e {
        odbc_api::Error::Diagnostics { record, .. } => DbError::new(
            record.state.as_str(),
            record.native_error,
            String::from_utf8_lossy(&record.message).trim().to_owned(),
        ),
        other => DbError::internal(other.to_string()),
    }
}

/// Returns the pool slot when dropped, so a panic or an early return never leaks it.
struct Permit<'a>(&'a OdbcPool);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut n = self.0.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

impl OdbcPool {
    pub fn new(config: &SqlConfig) -> OdbcPool {
        OdbcPool {
            connection: config.connection.clone(),
            redacted: config.redacted_connection(),
            timeout: config.command_timeout,
            capacity: config.pool_size.max(1),
            forced: config.dialect,
            idle: Mutex::new(Vec::new()),
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            info: OnceLock::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn acquire(&self, call: Deadline) -> Result<Permit<'_>, ConnectorError> {
        let wait_until = Instant::now() + call.remaining_within(self.timeout);
        let mut n = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= self.capacity {
            let left = wait_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                call.check("a database connection was free")?;
                return Err(ConnectorError::unavailable(format!(
                    "all {} database connections stayed busy for {:?}",
                    self.capacity, self.timeout
                )));
            }
            n = self
                .freed
                .wait_timeout(n, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *n += 1;
        Ok(Permit(self))
    }

    fn connect(&self) -> Result<Connection<'static>, ConnectorError> {
        let env = odbc_api::environment().map_err(|e| {
            ConnectorError::misconfigured(format!("the ODBC driver manager is unusable: {e}"))
        })?;
        let options = ConnectionOptions {
            login_timeout_sec: u32::try_from(self.timeout.as_secs()).ok(),
            ..ConnectionOptions::default()
        };
        let conn = env
            .connect_with_connection_string(&self.connection, options)
            .map_err(|e| {
                let db = odbc_error(&e);
                let context = format!("connecting to {}", self.redacted);
                // IM: driver-manager errors (unknown driver or DSN); 28: bad credentials.
                let msg = db.message.to_ascii_lowercase();
                if db.sqlstate.starts_with("IM")
                    || db.sqlstate.starts_with("28")
                    || msg.contains("can't open lib")
                    || msg.contains("data source name not found")
                {
                    ConnectorError::misconfigured(format!("{context}: {db}"))
                } else {
                    ConnectorError::unavailable(format!("{context}: {db}"))
                }
            })?;
        if self.info.get().is_none() {
            let dbms_name = conn.database_management_system_name().unwrap_or_default();
            let dialect = self
                .forced
                .unwrap_or_else(|| Dialect::from_dbms_name(&dbms_name));
            let _ = self.info.set(ServerInfo { dialect, dbms_name });
        }
        if self.dialect() == Dialect::MySql {
            // MariaDB Connector/ODBC does not enforce the ODBC query timeout; the server does,
            // per session (MariaDB's max_statement_time, in seconds; MySQL lacks it).
            let sql = format!(
                "SET SESSION max_statement_time = {}",
                self.timeout.as_secs_f64().max(0.001)
            );
            if let Err(e) = conn.execute(&sql, (), None) {
                tracing::debug!(error = %e, "no max_statement_time: command_timeout not enforced by the server");
            }
        }
        if self.dialect() == Dialect::Sqlite {
            // As the built-in backend: SQLite enforces foreign keys only when asked, per
            // connection (sqliteodbc's FKSupport option does the same).
            if let Err(e) = conn.execute("PRAGMA foreign_keys = ON", (), None) {
                tracing::warn!(error = %e, "could not enable SQLite foreign keys");
            }
        }
        Ok(conn)
    }

    fn dialect(&self) -> Dialect {
        self.info
            .get()
            .map(|i| i.dialect)
            .or(self.forced)
            .unwrap_or(Dialect::Ansi)
    }

    /// Whether an idle connection still works.
    fn healthy(&self, p: &Pooled) -> bool {
        if p.last_used.elapsed() < VALIDATE_AFTER {
            return true;
        }
        if p.conn.is_dead().unwrap_or(true) {
            return false;
        }
        match self.dialect() {
            Dialect::Oracle | Dialect::Db2 => true,
            _ => p.conn.execute("SELECT 1", (), Some(5)).is_ok(),
        }
    }

    fn checkout(&self) -> Result<Connection<'static>, ConnectorError> {
        loop {
            let candidate = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match candidate {
                Some(p) if self.healthy(&p) => return Ok(p.conn),
                Some(_) => {
                    tracing::debug!("discarding a dead pooled ODBC connection");
                    continue;
                }
                None => return self.connect(),
            }
        }
    }

    pub fn with_session<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut dyn Session) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let _permit = self.acquire(deadline)?;
        let conn = self.checkout()?;
        let mut session = OdbcSession {
            conn: &conn,
            dialect: self.dialect(),
            timeout: self.timeout,
            deadline,
            broken: false,
            in_transaction: false,
            dbms_name: self
                .info
                .get()
                .map(|i| i.dbms_name.clone())
                .unwrap_or_default(),
            driver: driver_name(&self.connection),
        };
        let result = f(&mut session);
        let keep = !session.broken && !session.in_transaction;
        drop(session);
        if keep {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Pooled {
                    conn,
                    last_used: Instant::now(),
                });
        }
        result
    }
}

/// The driver or DSN a connection string names, for descriptions.
fn driver_name(conn: &str) -> String {
    for part in conn.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            let k = k.trim();
            let v = v.trim().trim_start_matches('{').trim_end_matches('}');
            if k.eq_ignore_ascii_case("driver") {
                return format!("{v} driver");
            }
            if k.eq_ignore_ascii_case("dsn") {
                return format!("DSN {v}");
            }
        }
    }
    "ODBC".to_owned()
}

struct OdbcSession<'c> {
    conn: &'c Connection<'static>,
    dialect: Dialect,
    /// The configured limit per statement.
    timeout: Duration,
    /// The deadline of the call this session serves: no statement starts after it, and none
    /// is given longer than what is left of it.
    deadline: Deadline,
    broken: bool,
    in_transaction: bool,
    dbms_name: String,
    driver: String,
}

fn timestamp(t: time::OffsetDateTime) -> Timestamp {
    Timestamp {
        year: i16::try_from(t.year()).unwrap_or(0),
        month: u16::from(u8::from(t.month())),
        day: u16::from(t.day()),
        hour: u16::from(t.hour()),
        minute: u16::from(t.minute()),
        second: u16::from(t.second()),
        // Microseconds: what most servers keep, and no "fractional truncation" error.
        fraction: t.microsecond() * 1000,
    }
}

fn bind(v: &Value, bools: BoolBinding) -> Box<dyn InputParameter> {
    match v {
        Value::Null(kind) => match kind {
            AttrKind::Integer => Box::new(Nullable::<i64>::null()),
            AttrKind::Boolean => match bools {
                BoolBinding::Bit => Box::new(Nullable::<Bit>::null()),
                BoolBinding::Integer => Box::new(Nullable::<i64>::null()),
            },
            AttrKind::DateTime => Box::new(WithDataType::new(
                Nullable::<Timestamp>::null(),
                DataType::Timestamp { precision: 6 },
            )),
            AttrKind::Binary => Box::new(VarBinaryBox::null()),
            AttrKind::String | AttrKind::Reference | AttrKind::Secret => {
                Box::new(VarCharBox::null())
            }
        },
        Value::Text(s) => Box::new(s.clone().into_parameter()),
        Value::Int(i) => Box::new(*i),
        Value::Real(r) => Box::new(*r),
        Value::Bool(b) => match bools {
            BoolBinding::Bit => Box::new(Bit::from_bool(*b)),
            BoolBinding::Integer => Box::new(i64::from(*b)),
        },
        Value::DateTime(t) => Box::new(WithDataType::new(
            timestamp(*t),
            DataType::Timestamp { precision: 6 },
        )),
        Value::Bytes(b) => Box::new(b.clone().into_parameter()),
    }
}

fn storage_of(dt: DataType) -> Option<AttrKind> {
    Some(match dt {
        DataType::Integer | DataType::SmallInt | DataType::BigInt | DataType::TinyInt => {
            AttrKind::Integer
        }
        DataType::Bit => AttrKind::Boolean,
        DataType::Date | DataType::Time { .. } | DataType::Timestamp { .. } => AttrKind::DateTime,
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::LongVarbinary { .. } => {
            AttrKind::Binary
        }
        DataType::Other { .. } | DataType::Unknown => return None,
        _ => AttrKind::String,
    })
}

/// Text buffers of a block cursor are sized for at most this many bytes per cell; a result with
/// wider (or unknown-width) columns is read row by row.
const MAX_BLOCK_CELL: usize = 8192;
/// The memory a block cursor's buffers may take, which bounds its rows per fetch.
const BLOCK_BUDGET: usize = 4 << 20;
/// Rows per fetch of a block cursor at most.
const MAX_BLOCK_ROWS: usize = 500;

/// How one query reads its result: the columns' kinds, and for a block cursor the text buffer
/// size of each column.
struct Plan {
    names: Vec<String>,
    kinds: Vec<AttrKind>,
    /// `Some` when every column is text of a known, modest width.
    widths: Option<Vec<usize>>,
}

/// Looks at the result set: names (when asked), kinds, and whether a block cursor can read it.
fn plan(
    cursor: &mut impl ResultSetMetadata,
    limit: usize,
    with_names: bool,
    kind_at: &dyn Fn(usize, &str) -> AttrKind,
) -> Result<Plan, odbc_api::Error> {
    let n = usize::try_from(cursor.num_result_cols()?)
        .unwrap_or(0)
        .min(limit);
    let mut names = Vec::new();
    let mut kinds = Vec::with_capacity(n);
    let mut widths = Some(Vec::with_capacity(n));
    for i in 0..n {
        let col = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let name = if with_names {
            cursor.col_name(col)?
        } else {
            String::new()
        };
        let kind = kind_at(i, &name);
        if let Some(w) = widths.as_mut() {
            let width = if kind == AttrKind::Binary {
                None
            } else {
                match cursor.col_data_type(col)?.utf8_len() {
                    Some(len) => Some(len.get()),
                    None => cursor
                        .col_display_size(col)?
                        .map(|d| d.get().saturating_mul(4)),
                }
            };
            match width {
                Some(width) if width <= MAX_BLOCK_CELL => w.push(width),
                _ => widths = None,
            }
        }
        names.push(name);
        kinds.push(kind);
    }
    Ok(Plan {
        names,
        kinds,
        widths,
    })
}

/// Reads the rest of a result set row by row with `SQLGetData`, which handles any width.
fn read_rows_by_row(
    cursor: &mut impl Cursor,
    kinds: &[AttrKind],
    out: &mut Vec<Vec<Value>>,
) -> Result<(), odbc_api::Error> {
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row()? {
        let mut cells = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            let col = u16::try_from(i + 1).unwrap_or(u16::MAX);
            buf.clear();
            let cell = if *kind == AttrKind::Binary {
                if row.get_binary(col, &mut buf)? {
                    Value::Bytes(buf.clone())
                } else {
                    Value::Null(*kind)
                }
            } else if row.get_text(col, &mut buf)? {
                Value::Text(String::from_utf8_lossy(&buf).into_owned())
            } else {
                Value::Null(*kind)
            };
            cells.push(cell);
        }
        out.push(cells);
    }
    Ok(())
}

/// What a block-cursor read ended with.
enum Block {
    Done,
    /// A value did not fit its buffer (the driver under-reported a width): read again by row.
    Truncated,
}

/// Reads a whole result set through a bound text row set, many rows per fetch: one driver
/// call per batch instead of one per cell.
fn read_rows_in_blocks(
    cursor: impl Cursor,
    kinds: &[AttrKind],
    widths: &[usize],
    out: &mut Vec<Vec<Value>>,
) -> Result<Block, odbc_api::Error> {
    let row_bytes: usize = widths.iter().map(|w| w + 1 + 8).sum::<usize>().max(1);
    let batch = (BLOCK_BUDGET / row_bytes).clamp(1, MAX_BLOCK_ROWS);
    let buffer = TextRowSet::from_max_str_lens(batch, widths.iter().copied())?;
    let mut block = cursor.bind_buffer(buffer)?;
    loop {
        let fetched = match block.fetch_with_truncation_check(true) {
            Ok(f) => f,
            Err(odbc_api::Error::TooLargeValueForBuffer { .. }) => return Ok(Block::Truncated),
            Err(e) => return Err(e),
        };
        let Some(rows) = fetched else {
            return Ok(Block::Done);
        };
        for r in 0..rows.num_rows() {
            let cells = kinds
                .iter()
                .enumerate()
                .map(|(c, kind)| match rows.at(c, r) {
                    Some(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
                    None => Value::Null(*kind),
                })
                .collect();
            out.push(cells);
        }
    }
}

impl OdbcSession<'_> {
    /// Runs a query and reads every row: through a block cursor when every column is text of a
    /// known width, row by row otherwise. Reads at most `limit` columns; returns the column
    /// names when `with_names`.
    fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        limit: usize,
        with_names: bool,
        kind_at: &dyn Fn(usize, &str) -> AttrKind,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DbError> {
        let mut by_row = false;
        loop {
            let bools = self.dialect.bool_binding();
            let bound: Vec<Box<dyn InputParameter>> =
                params.iter().map(|v| bind(v, bools)).collect();
            let mut stmt = self.statement()?;
            let mut out = Vec::new();
            let result = (|| -> Result<(Vec<String>, Block), odbc_api::Error> {
                let Some(mut cursor) = stmt.execute(sql, bound.as_slice())? else {
                    return Ok((Vec::new(), Block::Done));
                };
                let plan = plan(&mut cursor, limit, with_names, kind_at)?;
                let outcome = match (&plan.widths, by_row) {
                    (Some(widths), false) => {
                        read_rows_in_blocks(cursor, &plan.kinds, widths, &mut out)?
                    }
                    _ => {
                        read_rows_by_row(&mut cursor, &plan.kinds, &mut out)?;
                        Block::Done
                    }
                };
                Ok((plan.names, outcome))
            })();
            drop(stmt);
            match result.map_err(|e| self.fail(&e))? {
                (names, Block::Done) => return Ok((names, out)),
                (_, Block::Truncated) if !by_row => {
                    tracing::debug!("a value outgrew its reported column width; reading by row");
                    by_row = true;
                }
                (_, Block::Truncated) => {
                    return Err(DbError::internal("truncated value in a row-by-row read"));
                }
            }
        }
    }

    fn fail(&mut self, e: &odbc_api::Error) -> DbError {
        let db = odbc_error(e);
        if connection_lost(&db, self.dialect) {
            self.broken = true;
        }
        db
    }

    fn statement(
        &mut self,
    ) -> Result<odbc_api::Preallocated<odbc_api::handles::StatementImpl<'_>>, DbError> {
        let left = self.deadline.remaining_within(self.timeout);
        if left.is_zero() {
            return Err(DbError::new(
                TIMEOUT_STATE,
                0,
                "the call's deadline passed before the statement started",
            ));
        }
        // The ODBC query timeout counts whole seconds; round up so a statement is never cut
        // before the deadline, and bound what is left below by one second.
        let secs = usize::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            .unwrap_or(usize::MAX);
        let conn = self.conn;
        let mut stmt = conn.preallocate().map_err(|e| self.fail(&e))?;
        stmt.set_query_timeout_sec(secs.max(1))
            .map_err(|e| self.fail(&e))?;
        Ok(stmt)
    }

    /// SQLite's ODBC driver reports every column nullable; its own `table_info` says which are
    /// NOT NULL (and without a default), as the built-in backend reads it. Best effort.
    fn refine_from_sqlite_pragma(&mut self, table: &str, cols: &mut [ColumnInfo]) {
        let (schema, name) = match table.rsplit_once('.') {
            Some((s, n)) => (s.to_owned(), n.to_owned()),
            None => ("main".to_owned(), table.to_owned()),
        };
        let sql = "SELECT name, \"notnull\", dflt_value FROM pragma_table_info(?, ?)";
        let kinds = [AttrKind::String, AttrKind::Integer, AttrKind::String];
        let params = [Value::Text(name), Value::Text(schema)];
        let Ok(rows) = self.query(sql, &params, &kinds) else {
            return;
        };
        for row in rows {
            let (Some(Value::Text(col)), Some(not_null), Some(default)) =
                (row.first(), row.get(1), row.get(2))
            else {
                continue;
            };
            let not_null = match not_null {
                Value::Int(i) => *i != 0,
                Value::Text(t) => t.trim() == "1",
                _ => false,
            };
            let has_default = !matches!(default, Value::Null(_));
            if let Some(c) = cols.iter_mut().find(|c| &c.name == col) {
                c.required = not_null && !has_default;
            }
        }
    }

    /// Refines discovered columns from the catalog: declared type names (PostgreSQL booleans
    /// are described as text by psqlodbc) and defaults. Best effort.
    fn refine_from_catalog(&mut self, table: &str, cols: &mut [ColumnInfo]) {
        let (schema, name) = match table.rsplit_once('.') {
            Some((s, n)) => (s.to_owned(), n.to_owned()),
            None => ("%".to_owned(), table.to_owned()),
        };
        let catalog = self.conn.current_catalog().unwrap_or_default();
        let Ok(mut stmt) = self.conn.preallocate() else {
            return;
        };
        let Ok(mut cursor) = stmt.columns_cursor(&catalog, &schema, &name, "%") else {
            return;
        };
        let mut seen: Vec<String> = Vec::new();
        let mut buf = Vec::new();
        while let Ok(Some(mut row)) = cursor.next_row() {
            let mut text = |i: u16| -> Option<String> {
                buf.clear();
                match row.get_text(i, &mut buf) {
                    Ok(true) => Some(String::from_utf8_lossy(&buf).into_owned()),
                    _ => None,
                }
            };
            let (Some(table_name), Some(col), type_name, nullable, default) =
                (text(3), text(4), text(6), text(11), text(13))
            else {
                continue;
            };
            if table_name != name || seen.contains(&col) {
                continue;
            }
            seen.push(col.clone());
            if let Some(c) = cols.iter_mut().find(|c| c.name == col) {
                if let Some(t) = type_name {
                    let k = kind_of_type_name(&t);
                    if k != AttrKind::String || c.storage == AttrKind::String {
                        c.storage = k;
                    }
                }
                let has_default = default.is_some_and(|d| !d.trim().is_empty());
                if nullable.as_deref() == Some("0") {
                    c.required = !has_default;
                } else if has_default {
                    c.required = false;
                }
            }
        }
    }
}

impl Session for OdbcSession<'_> {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let bools = self.dialect.bool_binding();
        let bound: Vec<Box<dyn InputParameter>> = params.iter().map(|v| bind(v, bools)).collect();
        let mut stmt = self.statement()?;
        let result = stmt.execute(sql, bound.as_slice()).map(|c| c.is_some());
        let outcome = match result {
            // A statement that produced a result set (a `SELECT pg_sleep(…)` in a configured
            // statement list, a procedure returning rows): it changed no rows we could count,
            // and asking the driver after the cursor closed is a function sequence error.
            Ok(true) => Ok(0),
            Ok(false) => stmt.row_count().map(|n| n.unwrap_or(0)),
            Err(e) => Err(e),
        };
        drop(stmt);
        let n = outcome.map_err(|e| self.fail(&e))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[AttrKind],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let kind_at = |i: usize, _: &str| kinds.get(i).copied().unwrap_or(AttrKind::String);
        self.fetch(sql, params, kinds.len(), false, &kind_at)
            .map(|(_, rows)| rows)
    }

    fn query_named(
        &mut self,
        sql: &str,
        params: &[Value],
        kind_of: &dyn Fn(&str) -> AttrKind,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DbError> {
        let kind_at = |_: usize, name: &str| kind_of(name);
        self.fetch(sql, params, usize::MAX, true, &kind_at)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.conn.set_autocommit(false).map_err(|e| self.fail(&e))?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.conn.commit().map_err(|e| self.fail(&e))?;
        self.conn.set_autocommit(true).map_err(|e| self.fail(&e))?;
        self.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.conn.rollback().map_err(|e| self.fail(&e))?;
        self.conn.set_autocommit(true).map_err(|e| self.fail(&e))?;
        self.in_transaction = false;
        Ok(())
    }

    fn columns(&mut self, table: &str, quoted: &str) -> Result<Option<Vec<ColumnInfo>>, DbError> {
        let sql = format!("SELECT * FROM {quoted} WHERE 1 = 0");
        let mut stmt = self.statement()?;
        let described = (|| -> Result<Vec<ColumnInfo>, odbc_api::Error> {
            let Some(mut cursor) = stmt.execute(&sql, ())? else {
                return Ok(Vec::new());
            };
            let n = cursor.num_result_cols()?;
            let mut cols = Vec::new();
            for i in 1..=u16::try_from(n).unwrap_or(0) {
                let name = cursor.col_name(i)?;
                let dt = cursor.col_data_type(i)?;
                let not_null = matches!(cursor.col_nullability(i)?, Nullability::NoNulls);
                cols.push(ColumnInfo {
                    name,
                    storage: storage_of(dt).unwrap_or(AttrKind::String),
                    required: not_null,
                });
            }
            Ok(cols)
        })();
        drop(stmt);
        match described {
            Ok(mut cols) => {
                self.refine_from_catalog(table, &mut cols);
                if self.dialect == Dialect::Sqlite {
                    self.refine_from_sqlite_pragma(table, &mut cols);
                }
                Ok(Some(cols))
            }
            Err(e) => {
                let db = self.fail(&e);
                // A missing table is a normal answer here, not an error.
                let missing = db.sqlstate == "42S02"
                    || db.sqlstate == "42P01"
                    || (self.dialect == Dialect::MySql && db.native == 1146)
                    || db.message.to_ascii_lowercase().contains("no such table");
                if missing { Ok(None) } else { Err(db) }
            }
        }
    }

    fn table_names(&mut self) -> Vec<String> {
        let catalog = self.conn.current_catalog().unwrap_or_default();
        let Ok(mut stmt) = self.conn.preallocate() else {
            return Vec::new();
        };
        let schema = if self.dialect == Dialect::PostgreSql {
            "public"
        } else {
            "%"
        };
        let Ok(mut cursor) = stmt.tables_cursor(&catalog, schema, "%", "TABLE,VIEW") else {
            return Vec::new();
        };
        let mut names = Vec::new();
        let mut buf = Vec::new();
        while let Ok(Some(mut row)) = cursor.next_row() {
            buf.clear();
            if let Ok(true) = row.get_text(3, &mut buf) {
                names.push(String::from_utf8_lossy(&buf).into_owned());
            }
            if names.len() >= 50 {
                names.push("…".to_owned());
                break;
            }
        }
        names
    }

    fn describe_server(&mut self) -> String {
        let sql = match self.dialect {
            Dialect::PostgreSql => Some("SHOW server_version"),
            Dialect::MySql => Some("SELECT VERSION()"),
            Dialect::Sqlite => Some("SELECT sqlite_version()"),
            Dialect::SqlServer => {
                Some("SELECT CAST(SERVERPROPERTY('ProductVersion') AS VARCHAR(64))")
            }
            _ => None,
        };
        let version = sql
            .and_then(|q| self.query(q, &[], &[AttrKind::String]).ok())
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.into_iter().next())
            .and_then(|v| match v {
                Value::Text(t) => t.split_whitespace().next().map(str::to_owned),
                _ => None,
            });
        let name = if self.dbms_name.is_empty() {
            self.dialect.name().to_owned()
        } else {
            self.dbms_name.clone()
        };
        match version {
            Some(v) => format!("{name} {v} via ODBC ({})", self.driver),
            None => format!("{name} via ODBC ({})", self.driver),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names_come_from_the_connection_string() {
        let check = |conn: &str, expected: &str| assert_eq!(driver_name(conn), expected, "{conn}");
        check(
            "Driver={PostgreSQL Unicode};Server=x;Pwd=y",
            "PostgreSQL Unicode driver",
        );
        check("DSN=hr;UID=a", "DSN hr");
        check("Server=x", "ODBC");
    }
}
