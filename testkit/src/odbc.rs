//! ODBC one-liners for test fixtures and assertions: run a statement, or read a
//! whole result set as text. Slow (one connection per call, row-by-row fetch)
//! and deliberately simple; code under test must not rely on them.

use odbc_api::{
    Connection, ConnectionOptions, Cursor, Environment, ResultSetMetadata, environment,
};

use crate::{TestkitError, or_panic};

/// Runs `sql` (any statement; a result set is discarded) on a new connection.
///
/// # Panics
/// If the connection or the statement fails; the message carries the driver's
/// diagnostics.
#[track_caller]
pub fn execute(conn_str: &str, sql: &str) {
    or_panic(try_execute(conn_str, sql));
}

/// Runs `sql` and returns every row as text, in column order; `None` is SQL
/// `NULL`. A statement without a result set returns no rows.
///
/// # Panics
/// If the connection or the statement fails, or a value is not valid UTF-8.
#[track_caller]
pub fn query_strings(conn_str: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    or_panic(try_query_strings(conn_str, sql))
}

/// [`execute`] returning an error instead of panicking.
pub fn try_execute(conn_str: &str, sql: &str) -> Result<(), TestkitError> {
    try_query_strings(conn_str, sql).map(drop)
}

/// [`query_strings`] returning an error instead of panicking.
pub fn try_query_strings(
    conn_str: &str,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, TestkitError> {
    let conn = connect(
        conn_str,
        || format!("the ODBC data source `{}`", redact(conn_str)),
        None,
    )?;
    run(&conn, sql)
}

/// Opens a connection; a failure means the target is [`TestkitError::Unavailable`],
/// described by `what` and redirected by `variables`.
pub(crate) fn connect(
    conn_str: &str,
    what: impl FnOnce() -> String,
    variables: Option<&'static str>,
) -> Result<Connection<'static>, TestkitError> {
    env()?
        .connect_with_connection_string(conn_str, ConnectionOptions::default())
        .map_err(|e| TestkitError::Unavailable {
            what: what(),
            detail: e.to_string(),
            variables,
        })
}

/// Runs `sql` on `conn` and reads any result set as text.
pub(crate) fn run(
    conn: &Connection<'_>,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, TestkitError> {
    let odbc = |source| TestkitError::Odbc {
        sql: sql.to_owned(),
        source,
    };
    let Some(mut cursor) = conn.execute(sql, (), None).map_err(odbc)? else {
        return Ok(Vec::new());
    };
    let columns = u16::try_from(cursor.num_result_cols().map_err(odbc)?).unwrap_or(0);
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row().map_err(odbc)? {
        let mut values = Vec::with_capacity(usize::from(columns));
        for column in 1..=columns {
            let value = if row.get_text(column, &mut buf).map_err(odbc)? {
                let text =
                    String::from_utf8(std::mem::take(&mut buf)).map_err(|e| TestkitError::Io {
                        context: format!("reading column {column} of `{sql}` as UTF-8"),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    })?;
                Some(text)
            } else {
                None
            };
            values.push(value);
        }
        rows.push(values);
    }
    Ok(rows)
}

/// The process-wide ODBC environment (unixODBC driver manager).
pub(crate) fn env() -> Result<&'static Environment, TestkitError> {
    environment().map_err(|e| TestkitError::Unavailable {
        what: "the unixODBC driver manager".into(),
        detail: e.to_string(),
        variables: None,
    })
}

/// Hides the value of `PWD=` in a connection string for messages.
pub(crate) fn redact(conn_str: &str) -> String {
    conn_str
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("pwd") && !value.is_empty() => {
                format!("{key}=***")
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::redact;

    fn check(input: &str, expected: &str) {
        assert_eq!(redact(input), expected, "input: {input}");
    }

    #[test]
    fn redacts_only_non_empty_passwords() {
        check(
            "Driver={X};Uid=root;Pwd=secret;",
            "Driver={X};Uid=root;Pwd=***;",
        );
        check("Driver={X};PWD=secret", "Driver={X};PWD=***");
        check("Driver={X};Uid=root;Pwd=;", "Driver={X};Uid=root;Pwd=;");
        check(
            "Driver={SQLite3};Database=/tmp/a.db;",
            "Driver={SQLite3};Database=/tmp/a.db;",
        );
    }
}
