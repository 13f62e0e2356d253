//! Turning a database error into the [`ConnectorError`] that tells the host what to do.
//!
//! Drivers report failures as a SQLSTATE, a native code and a message. The SQLSTATE is the
//! portable part and decides first; MySQL/MariaDB reuse `23000` for every constraint, so its
//! native codes refine it; drivers that only give `HY000` (SQLite's) are recognised by message.
//! The table in the tests below is the specification.

use connector_core::ConnectorError;

use crate::dialect::Dialect;

/// A failure reported by a database driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (SQLSTATE {sqlstate}, native {native})")]
pub(crate) struct DbError {
    /// Five characters; empty when the driver gave none.
    pub sqlstate: String,
    pub native: i32,
    pub message: String,
}

impl DbError {
    pub fn new(sqlstate: &str, native: i32, message: impl Into<String>) -> Self {
        DbError {
            sqlstate: sqlstate.to_owned(),
            native,
            message: message.into(),
        }
    }

    /// An error raised by this crate rather than a driver (e.g. a cell it cannot read).
    pub fn internal(message: impl Into<String>) -> Self {
        DbError::new("HY000", 0, message)
    }
}

/// Whether the connection that produced this error is unusable and must be discarded.
pub(crate) fn connection_lost(e: &DbError, dialect: Dialect) -> bool {
    let state = e.sqlstate.as_str();
    let msg = e.message.to_ascii_lowercase();
    state.starts_with("08")
        || state == "HYT01"
        || state.starts_with("57P")
        || (dialect == Dialect::MySql && matches!(e.native, 2006 | 2013 | 2055))
        || msg.contains("server closed the connection")
        || msg.contains("no connection to the server")
        || msg.contains("could not send data to server")
        || msg.contains("connection reset")
        || msg.contains("server has gone away")
        || msg.contains("lost connection")
}

/// Whether an export failed as a deadlock or serialization victim (PostgreSQL `40P01`/`40001`,
/// MySQL/MariaDB 1213/1205 with `40001`, SQLite busy). The server rolled the victim's whole
/// transaction back, so the export may be run once more. Recognised from the detail
/// [`classify`] wrote, which always ends with the driver's SQLSTATE and native code.
pub(crate) fn is_transaction_victim(e: &ConnectorError) -> bool {
    let ConnectorError::Unavailable { detail, .. } = e else {
        return false;
    };
    detail.contains("(SQLSTATE 40P01,")
        || detail.contains("(SQLSTATE 40001,")
        || detail.ends_with(", native 1213)")
}

/// The SQLSTATE of a timeout (the ODBC query timeout), also used when a call's deadline passes
/// between two statements.
pub(crate) const TIMEOUT_STATE: &str = "HYT00";

/// Classifies a driver error. `context` says what was being done ("inserting into Employees").
pub(crate) fn classify(e: &DbError, dialect: Dialect, context: &str) -> ConnectorError {
    let detail = format!("{context}: {}", e);
    let state = e.sqlstate.as_str();
    let msg = e.message.to_ascii_lowercase();
    let mysql = dialect == Dialect::MySql;
    // HYT00: the ODBC query timeout. MariaDB enforces it with max_statement_time and reports
    // 1969 (MySQL: 3024) with SQLSTATE 70100 instead.
    if state == TIMEOUT_STATE
        || (mysql && matches!(e.native, 1969 | 3024))
        || (state == "70100" && msg.contains("max_statement_time"))
        || msg.contains("canceling statement due to statement timeout")
    {
        return ConnectorError::timeout(detail);
    }
    if connection_lost(e, dialect) {
        return ConnectorError::unavailable(detail);
    }
    if matches!(state, "40001" | "40P01")
        || (mysql && matches!(e.native, 1205 | 1213))
        || msg.contains("deadlock")
        || msg.contains("database is locked")
        || msg.contains("database table is locked")
    {
        return ConnectorError::unavailable(detail);
    }
    if state == "23505"
        || (mysql && matches!(e.native, 1062 | 1586))
        || msg.contains("unique constraint failed")
        || msg.contains("duplicate key")
        || msg.contains("duplicate entry")
        || msg.contains("violation of primary key")
        || msg.contains("violation of unique")
    {
        return ConnectorError::conflict(detail);
    }
    if state.starts_with("23")
        || state.starts_with("22")
        || (mysql && matches!(e.native, 1048 | 1264 | 1292 | 1364 | 1366 | 1406 | 3819))
        || state == "44000"
        || msg.contains("constraint failed")
        || msg.contains("datatype mismatch")
    {
        return ConnectorError::rejected(detail);
    }
    if state.starts_with("42")
        || state.starts_with("3F")
        || state.starts_with("28")
        || state == "0A000"
        || (mysql && matches!(e.native, 1044 | 1045 | 1046 | 1049 | 1054 | 1064 | 1146))
        || msg.contains("no such table")
        || msg.contains("no such column")
        || msg.contains("has no column named")
        || msg.contains("syntax error")
    {
        return ConnectorError::misconfigured(detail);
    }
    // Anything else (driver-manager trouble, an unknown server condition): nothing was
    // committed, so a later retry is safe.
    ConnectorError::unavailable(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum K {
        Unavailable,
        Timeout,
        Conflict,
        Rejected,
        Misconfigured,
    }

    fn kind(e: &ConnectorError) -> K {
        match e {
            ConnectorError::Unavailable { .. } => K::Unavailable,
            ConnectorError::Timeout { .. } => K::Timeout,
            ConnectorError::Conflict { .. } => K::Conflict,
            ConnectorError::Rejected { .. } => K::Rejected,
            ConnectorError::Misconfigured { .. } => K::Misconfigured,
            ConnectorError::NotFound { .. } | ConnectorError::ResyncRequired { .. } => {
                panic!("classify never says {e:?}")
            }
        }
    }

    #[test]
    fn driver_errors_map_to_the_host_reaction() {
        let check = |d: Dialect, state: &str, native: i32, msg: &str, expected: K| {
            let e = DbError::new(state, native, msg);
            let got = classify(&e, d, "ctx");
            assert_eq!(kind(&got), expected, "{d:?} {state} {native} {msg}");
            assert!(
                got.detail().contains(msg),
                "detail keeps the driver's message"
            );
        };
        use Dialect::*;
        check(
            PostgreSql,
            "23505",
            7,
            "duplicate key value violates unique constraint",
            K::Conflict,
        );
        check(
            PostgreSql,
            "23502",
            7,
            "null value in column violates not-null",
            K::Rejected,
        );
        check(
            PostgreSql,
            "23503",
            7,
            "violates foreign key constraint",
            K::Rejected,
        );
        check(
            PostgreSql,
            "23514",
            7,
            "violates check constraint",
            K::Rejected,
        );
        check(
            PostgreSql,
            "22P02",
            7,
            "invalid input syntax for type integer",
            K::Rejected,
        );
        check(PostgreSql, "22001", 7, "value too long", K::Rejected);
        check(
            PostgreSql,
            "42P01",
            7,
            "relation does not exist",
            K::Misconfigured,
        );
        check(
            PostgreSql,
            "42703",
            7,
            "column does not exist",
            K::Misconfigured,
        );
        check(
            PostgreSql,
            "28P01",
            7,
            "password authentication failed",
            K::Misconfigured,
        );
        check(
            PostgreSql,
            "08001",
            101,
            "could not connect to server",
            K::Unavailable,
        );
        check(
            PostgreSql,
            "08S01",
            35,
            "communication link failure",
            K::Unavailable,
        );
        check(
            PostgreSql,
            "57P01",
            7,
            "terminating connection due to administrator command",
            K::Unavailable,
        );
        check(
            PostgreSql,
            "40001",
            7,
            "could not serialize access",
            K::Unavailable,
        );
        check(PostgreSql, "40P01", 7, "deadlock detected", K::Unavailable);
        check(PostgreSql, "HYT00", 0, "timeout expired", K::Timeout);
        check(
            PostgreSql,
            "57014",
            7,
            "canceling statement due to statement timeout",
            K::Timeout,
        );
        check(
            MySql,
            "70100",
            1969,
            "Query execution was interrupted (max_statement_time exceeded)",
            K::Timeout,
        );
        check(
            PostgreSql,
            "HYT01",
            0,
            "connection timeout expired",
            K::Unavailable,
        );
        check(
            MySql,
            "23000",
            1062,
            "Duplicate entry 'x' for key 'userName'",
            K::Conflict,
        );
        check(
            MySql,
            "23000",
            1048,
            "Column 'userName' cannot be null",
            K::Rejected,
        );
        check(
            MySql,
            "23000",
            1452,
            "Cannot add or update a child row",
            K::Rejected,
        );
        check(
            MySql,
            "23000",
            1451,
            "Cannot delete or update a parent row",
            K::Rejected,
        );
        check(
            MySql,
            "HY000",
            1364,
            "Field 'userName' doesn't have a default value",
            K::Rejected,
        );
        check(
            MySql,
            "22001",
            1406,
            "Data too long for column 'code'",
            K::Rejected,
        );
        check(
            MySql,
            "HY000",
            3819,
            "Check constraint 'c' is violated.",
            K::Rejected,
        );
        check(MySql, "40001", 1213, "Deadlock found", K::Unavailable);
        check(
            MySql,
            "HY000",
            2006,
            "MySQL server has gone away",
            K::Unavailable,
        );
        check(
            MySql,
            "HY000",
            2013,
            "Lost connection to server during query",
            K::Unavailable,
        );
        check(
            MySql,
            "42S02",
            1146,
            "Table 'x.y' doesn't exist",
            K::Misconfigured,
        );
        check(MySql, "42S22", 1054, "Unknown column 'q'", K::Misconfigured);
        check(
            Sqlite,
            "HY000",
            19,
            "UNIQUE constraint failed: Users.userName",
            K::Conflict,
        );
        check(
            Sqlite,
            "HY000",
            19,
            "NOT NULL constraint failed: Users.userName",
            K::Rejected,
        );
        check(
            Sqlite,
            "HY000",
            19,
            "FOREIGN KEY constraint failed",
            K::Rejected,
        );
        check(
            Sqlite,
            "HY000",
            19,
            "CHECK constraint failed: age",
            K::Rejected,
        );
        check(Sqlite, "HY000", 1, "no such table: Nope", K::Misconfigured);
        check(
            Sqlite,
            "HY000",
            1,
            "table Users has no column named q",
            K::Misconfigured,
        );
        check(Sqlite, "HY000", 5, "database is locked", K::Unavailable);
        check(
            SqlServer,
            "23000",
            2627,
            "Violation of PRIMARY KEY constraint",
            K::Conflict,
        );
        check(
            SqlServer,
            "23000",
            515,
            "Cannot insert the value NULL into column",
            K::Rejected,
        );
        // Native codes are MySQL's only where the dialect is MySQL.
        check(PostgreSql, "HY000", 1062, "something odd", K::Unavailable);
    }

    #[test]
    fn deadlock_victims_are_recognised_for_one_retry() {
        let check = |d: Dialect, state: &str, native: i32, expected: bool| {
            let e = classify(&DbError::new(state, native, "msg"), d, "ctx");
            assert_eq!(is_transaction_victim(&e), expected, "{state} {native}");
        };
        check(Dialect::PostgreSql, "40P01", 7, true);
        check(Dialect::PostgreSql, "40001", 7, true);
        check(Dialect::MySql, "40001", 1213, true);
        check(Dialect::MySql, "HY000", 1213, true);
        check(Dialect::PostgreSql, "08S01", 0, false);
        check(Dialect::PostgreSql, "23505", 0, false);
        check(Dialect::PostgreSql, "HYT00", 0, false);
    }

    #[test]
    fn connection_class_errors_discard_the_connection() {
        let check = |d: Dialect, state: &str, native: i32, msg: &str, expected: bool| {
            assert_eq!(
                connection_lost(&DbError::new(state, native, msg), d),
                expected,
                "{state} {msg}"
            )
        };
        check(Dialect::PostgreSql, "08S01", 0, "", true);
        check(
            Dialect::PostgreSql,
            "HY000",
            0,
            "server closed the connection unexpectedly",
            true,
        );
        check(Dialect::MySql, "HY000", 2006, "", true);
        check(Dialect::PostgreSql, "23505", 0, "duplicate key", false);
        check(
            Dialect::PostgreSql,
            "42P01",
            0,
            "relation does not exist",
            false,
        );
    }
}
