//! SQL text generation, kept apart from execution so it can be read and table-tested alone.
//!
//! Databases differ in how they quote identifiers (`"x"`, `` `x` ``, `[x]`), how they limit a
//! result (`LIMIT`, `TOP`, `FETCH FIRST`) and how a boolean is bound. Everything else the
//! connector sends is plain ANSI SQL with `?` parameter markers. **Invariant:** identifiers from
//! the configuration are always quoted (a quote character inside one is doubled), and values are
//! always bound as parameters, never spliced into the text.

use serde::Deserialize;

/// A SQL dialect: the differences between databases the connector cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Dialect {
    #[serde(rename = "postgresql", alias = "postgres")]
    PostgreSql,
    #[serde(rename = "mysql", alias = "mariadb")]
    MySql,
    #[serde(rename = "sqlite")]
    Sqlite,
    #[serde(rename = "sqlserver", alias = "mssql")]
    SqlServer,
    #[serde(rename = "oracle")]
    Oracle,
    #[serde(rename = "db2")]
    Db2,
    #[serde(rename = "ansi")]
    Ansi,
}

/// How a boolean parameter is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "odbc"), allow(dead_code))]
pub(crate) enum BoolBinding {
    /// As an ODBC `SQL_BIT` (PostgreSQL `boolean`, SQL Server `bit`).
    Bit,
    /// As the integer 0 or 1 (MySQL `TINYINT(1)`, SQLite, Oracle `NUMBER(1)`).
    Integer,
}

impl Dialect {
    /// Whether one `INSERT … VALUES (…), (…)` may carry several rows (Oracle before 23 and an
    /// unknown ANSI database may not).
    pub fn multi_row_values(self) -> bool {
        !matches!(self, Dialect::Oracle | Dialect::Ansi)
    }

    /// The dialect for an ODBC `SQL_DBMS_NAME` (e.g. `PostgreSQL`, `MySQL`, `MariaDB`,
    /// `Microsoft SQL Server`, `SQLite`, `Oracle`, `DB2/LINUXX8664`).
    pub fn from_dbms_name(name: &str) -> Dialect {
        let n = name.to_ascii_lowercase();
        if n.contains("postgres") {
            Dialect::PostgreSql
        } else if n.contains("mysql") || n.contains("mariadb") {
            Dialect::MySql
        } else if n.contains("sqlite") {
            Dialect::Sqlite
        } else if n.contains("sql server") || n.contains("sqlserver") {
            Dialect::SqlServer
        } else if n.contains("oracle") {
            Dialect::Oracle
        } else if n.contains("db2") {
            Dialect::Db2
        } else {
            Dialect::Ansi
        }
    }

    /// A display name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::PostgreSql => "PostgreSQL",
            Dialect::MySql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
            Dialect::SqlServer => "SQL Server",
            Dialect::Oracle => "Oracle",
            Dialect::Db2 => "DB2",
            Dialect::Ansi => "ANSI SQL",
        }
    }

    fn quotes(self) -> (char, char) {
        match self {
            Dialect::MySql => ('`', '`'),
            Dialect::SqlServer => ('[', ']'),
            _ => ('"', '"'),
        }
    }

    /// Quotes one identifier; the closing quote character inside it is doubled. Empty names and
    /// names with a NUL character are refused.
    pub fn quote_ident(self, ident: &str) -> Result<String, String> {
        if ident.is_empty() {
            return Err("an empty identifier".to_owned());
        }
        if ident.contains('\0') {
            return Err(format!("the identifier {ident:?} contains a NUL character"));
        }
        let (open, close) = self.quotes();
        let mut out = String::with_capacity(ident.len() + 2);
        out.push(open);
        for c in ident.chars() {
            if c == close {
                out.push(close);
            }
            out.push(c);
        }
        out.push(close);
        Ok(out)
    }

    /// Quotes a possibly schema-qualified table name: each part separated by `.` is quoted.
    pub fn quote_table(self, table: &str) -> Result<String, String> {
        let parts: Result<Vec<String>, String> =
            table.split('.').map(|p| self.quote_ident(p)).collect();
        Ok(parts?.join("."))
    }

    /// How booleans are bound in this dialect.
    #[cfg_attr(not(feature = "odbc"), allow(dead_code))]
    pub(crate) fn bool_binding(self) -> BoolBinding {
        match self {
            Dialect::PostgreSql | Dialect::SqlServer | Dialect::Ansi | Dialect::Db2 => {
                BoolBinding::Bit
            }
            Dialect::MySql | Dialect::Sqlite | Dialect::Oracle => BoolBinding::Integer,
        }
    }

    /// One page of a keyset-paged scan: `columns` (already quoted and joined) of `table` in
    /// `anchor` order, at most `limit` rows, restricted by `conditions` (joined with `AND`; the
    /// keyset condition `anchor > ?` is one of them after the first page).
    pub(crate) fn page_query(
        self,
        columns: &str,
        table: &str,
        anchor: &str,
        conditions: &[String],
        limit: usize,
    ) -> String {
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        match self {
            Dialect::SqlServer => {
                format!("SELECT TOP ({limit}) {columns} FROM {table}{filter} ORDER BY {anchor}")
            }
            Dialect::PostgreSql | Dialect::MySql | Dialect::Sqlite => {
                format!("SELECT {columns} FROM {table}{filter} ORDER BY {anchor} LIMIT {limit}")
            }
            Dialect::Oracle | Dialect::Db2 | Dialect::Ansi => format!(
                "SELECT {columns} FROM {table}{filter} ORDER BY {anchor} FETCH FIRST {limit} ROWS ONLY"
            ),
        }
    }

    /// The statement calling a stored procedure with `n` positional parameters. PostgreSQL and
    /// MySQL/MariaDB get their native `CALL name(?, …)` (psqlodbc maps the ODBC `{CALL}` escape
    /// to a function call, which fails for a procedure); every other server gets the ODBC escape
    /// `{CALL name(?, …)}`, which its driver translates. SQLite has no procedures.
    pub(crate) fn procedure_call(self, name: &str, n: usize) -> Result<String, String> {
        let args = Dialect::markers(n);
        match self {
            Dialect::Sqlite => Err("SQLite has no stored procedures; use mode = \"sql\"".into()),
            Dialect::PostgreSql | Dialect::MySql => Ok(format!("CALL {name}({args})")),
            _ => Ok(format!("{{CALL {name}({args})}}")),
        }
    }

    /// A query returning the database's current wall-clock time as text, in the frame its
    /// `CURRENT_TIMESTAMP`-style defaults write (SQLite: UTC, the frame of `datetime('now')`).
    pub(crate) fn current_time_query(self) -> &'static str {
        match self {
            Dialect::PostgreSql => "SELECT CAST(LOCALTIMESTAMP AS VARCHAR(40))",
            Dialect::MySql => "SELECT CAST(NOW(6) AS CHAR)",
            Dialect::Sqlite => "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
            Dialect::SqlServer => "SELECT CONVERT(VARCHAR(40), SYSDATETIME(), 121)",
            Dialect::Oracle => {
                "SELECT TO_CHAR(LOCALTIMESTAMP, 'YYYY-MM-DD HH24:MI:SS.FF6') FROM DUAL"
            }
            Dialect::Db2 => {
                "SELECT VARCHAR_FORMAT(CURRENT TIMESTAMP, 'YYYY-MM-DD HH24:MI:SS.FF6') FROM SYSIBM.SYSDUMMY1"
            }
            Dialect::Ansi => "SELECT CAST(LOCALTIMESTAMP AS VARCHAR(40))",
        }
    }

    /// `n` comma-separated parameter markers.
    pub(crate) fn markers(n: usize) -> String {
        vec!["?"; n].join(", ")
    }
}

/// Replaces `@Name` placeholders in a configured statement by `?` markers and returns the
/// names in marker order. A name is a letter or `_` followed by letters, digits and `_`.
/// Placeholders inside quoted strings (`'…'`), quoted identifiers (`"…"`, `` `…` ``, `[…]`)
/// and comments are left alone, as are `@@` server variables. A `?` already in the text is
/// refused: every parameter must be named.
pub(crate) fn placeholders(sql: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(sql.len());
    let mut names = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                out.push(c);
                let mut closed = false;
                for n in chars.by_ref() {
                    out.push(n);
                    if n == close {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(format!("an unterminated {c} quote"));
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for n in chars.by_ref() {
                    out.push(n);
                    if n == '\n' {
                        break;
                    }
                }
            }
            '?' => return Err("use @Name placeholders, not ? markers".into()),
            '@' if chars.peek() == Some(&'@') => {
                out.push_str("@@");
                chars.next();
                while let Some(n) = chars.next_if(|n| n.is_alphanumeric() || *n == '_') {
                    out.push(n);
                }
            }
            '@' if chars.peek().is_some_and(|n| n.is_alphabetic() || *n == '_') => {
                let mut name = String::new();
                while let Some(n) = chars.next_if(|n| n.is_alphanumeric() || *n == '_') {
                    name.push(n);
                }
                out.push('?');
                names.push(name);
            }
            other => out.push(other),
        }
    }
    Ok((out, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_values_only_where_the_database_takes_them() {
        assert!(Dialect::Sqlite.multi_row_values());
        assert!(Dialect::PostgreSql.multi_row_values());
        assert!(Dialect::MySql.multi_row_values());
        assert!(Dialect::SqlServer.multi_row_values());
        assert!(!Dialect::Oracle.multi_row_values());
        assert!(!Dialect::Ansi.multi_row_values());
    }

    #[test]
    fn identifiers_are_quoted_per_dialect() {
        let check = |d: Dialect, input: &str, expected: &str| {
            assert_eq!(d.quote_ident(input).unwrap(), expected, "{d:?} {input}")
        };
        check(Dialect::PostgreSql, "Order", "\"Order\"");
        check(Dialect::PostgreSql, "a\"b", "\"a\"\"b\"");
        check(Dialect::Sqlite, "Staff Members", "\"Staff Members\"");
        check(Dialect::MySql, "Order", "`Order`");
        check(Dialect::MySql, "a`b", "`a``b`");
        check(Dialect::SqlServer, "Order", "[Order]");
        check(Dialect::SqlServer, "a]b[", "[a]]b[]");
        check(Dialect::Oracle, "x", "\"x\"");
        check(
            Dialect::PostgreSql,
            "x; DROP TABLE t",
            "\"x; DROP TABLE t\"",
        );
    }

    #[test]
    fn bad_identifiers_are_refused() {
        assert!(Dialect::Ansi.quote_ident("").is_err());
        assert!(Dialect::Ansi.quote_ident("a\0b").is_err());
        assert!(Dialect::Ansi.quote_table("hr.").is_err());
    }

    #[test]
    fn tables_may_be_schema_qualified() {
        let check = |d: Dialect, input: &str, expected: &str| {
            assert_eq!(d.quote_table(input).unwrap(), expected, "{d:?} {input}")
        };
        check(Dialect::PostgreSql, "hr.Employees", "\"hr\".\"Employees\"");
        check(Dialect::SqlServer, "dbo.Staff List", "[dbo].[Staff List]");
        check(Dialect::MySql, "Employees", "`Employees`");
    }

    #[test]
    fn placeholders_become_markers() {
        let check = |input: &str, expected: Result<(&str, Vec<&str>), ()>| {
            let got = placeholders(input).map_err(|_| ());
            let want = expected.map(|(s, n)| {
                (
                    s.to_owned(),
                    n.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{input}");
        };
        check(
            "UPDATE t SET n = @UserName WHERE id = @anchor",
            Ok((
                "UPDATE t SET n = ? WHERE id = ?",
                vec!["UserName", "anchor"],
            )),
        );
        check(
            "INSERT INTO a VALUES (@id, '@notme', \"@col\", @id)",
            Ok((
                "INSERT INTO a VALUES (?, '@notme', \"@col\", ?)",
                vec!["id", "id"],
            )),
        );
        check(
            "SELECT @@ROWCOUNT, @x_1 -- @comment\n",
            Ok(("SELECT @@ROWCOUNT, ? -- @comment\n", vec!["x_1"])),
        );
        check(
            "a = [@b] AND `@c` = @d",
            Ok(("a = [@b] AND `@c` = ?", vec!["d"])),
        );
        check("x = @ 1", Ok(("x = @ 1", vec![])));
        check("x = ?", Err(()));
        check("x = 'open", Err(()));
    }

    #[test]
    fn procedures_are_called_per_dialect() {
        let check = |d: Dialect, expected: Option<&str>| {
            assert_eq!(
                d.procedure_call("\"p\"", 2).ok().as_deref(),
                expected,
                "{d:?}"
            )
        };
        check(Dialect::PostgreSql, Some("CALL \"p\"(?, ?)"));
        check(Dialect::MySql, Some("CALL \"p\"(?, ?)"));
        check(Dialect::SqlServer, Some("{CALL \"p\"(?, ?)}"));
        check(Dialect::Oracle, Some("{CALL \"p\"(?, ?)}"));
        check(Dialect::Sqlite, None);
    }

    #[test]
    fn pages_are_limited_per_dialect() {
        let check = |d: Dialect, after: bool, expected: &str| {
            let conditions = if after {
                vec!["\"a\" > ?".to_owned()]
            } else {
                vec![]
            };
            assert_eq!(
                d.page_query("\"a\", \"b\"", "\"t\"", "\"a\"", &conditions, 50),
                expected
            )
        };
        check(
            Dialect::PostgreSql,
            false,
            "SELECT \"a\", \"b\" FROM \"t\" ORDER BY \"a\" LIMIT 50",
        );
        check(
            Dialect::Sqlite,
            true,
            "SELECT \"a\", \"b\" FROM \"t\" WHERE \"a\" > ? ORDER BY \"a\" LIMIT 50",
        );
        check(
            Dialect::SqlServer,
            true,
            "SELECT TOP (50) \"a\", \"b\" FROM \"t\" WHERE \"a\" > ? ORDER BY \"a\"",
        );
        check(
            Dialect::Oracle,
            false,
            "SELECT \"a\", \"b\" FROM \"t\" ORDER BY \"a\" FETCH FIRST 50 ROWS ONLY",
        );
    }

    #[test]
    fn dialects_are_detected_from_the_dbms_name() {
        let check = |name: &str, expected: Dialect| {
            assert_eq!(Dialect::from_dbms_name(name), expected, "{name}")
        };
        check("PostgreSQL", Dialect::PostgreSql);
        check("MySQL", Dialect::MySql);
        check("MariaDB", Dialect::MySql);
        check("Microsoft SQL Server", Dialect::SqlServer);
        check("SQLite", Dialect::Sqlite);
        check("Oracle", Dialect::Oracle);
        check("DB2/LINUXX8664", Dialect::Db2);
        check("Teradata", Dialect::Ansi);
    }

    #[test]
    fn markers_are_question_marks() {
        assert_eq!(Dialect::markers(3), "?, ?, ?");
        assert_eq!(Dialect::markers(1), "?");
    }
}
