//! The direct-ODBC yardstick for exports: a fresh database on the local PostgreSQL or MariaDB
//! server (dropped again with its [`BenchDb`]), the `Employees` table in that server's
//! dialect, and the same single-row writes the host makes for a create or a disable, done
//! straight through `odbc-api` with a prepared statement in autocommit mode.

use std::time::{Duration, Instant};

use odbc_api::{Bit, Connection, ConnectionOptions, IntoParameter};

use crate::BenchError;

/// A database server reachable through ODBC on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL on 127.0.0.1:5432, user `postgres`, trust authentication.
    Postgres,
    /// MariaDB on 127.0.0.1:3306, user `root`, empty password.
    MariaDb,
}

impl Server {
    /// The name shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Server::Postgres => "PostgreSQL",
            Server::MariaDb => "MariaDB",
        }
    }

    /// The ODBC connection string for `database` on this server.
    pub fn connection_string(self, database: &str) -> String {
        match self {
            Server::Postgres => format!(
                "Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port=5432;Database={database};Uid=postgres;"
            ),
            Server::MariaDb => format!(
                "Driver={{MariaDB Unicode}};Server=127.0.0.1;Port=3306;Database={database};Uid=root;Pwd=;"
            ),
        }
    }

    fn admin_database(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::MariaDb => "mysql",
        }
    }

    /// Quotes an identifier in this server's dialect.
    pub fn quote(self, ident: &str) -> String {
        match self {
            Server::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
            Server::MariaDb => format!("`{}`", ident.replace('`', "``")),
        }
    }

    /// `CREATE TABLE` for the `Employees` shape under the name `table`.
    pub fn create_table(self, table: &str) -> String {
        let q = |c: &str| self.quote(c);
        let boolean = match self {
            Server::Postgres => "BOOLEAN NOT NULL DEFAULT TRUE",
            Server::MariaDb => "BOOLEAN NOT NULL DEFAULT 1",
        };
        format!(
            "CREATE TABLE {} ({} VARCHAR(64) PRIMARY KEY, {} VARCHAR(256) NOT NULL UNIQUE, {} VARCHAR(256), {} VARCHAR(256), {} VARCHAR(256), {} VARCHAR(256), {} VARCHAR(256), {} {boolean})",
            q(table),
            q("EmployeeId"),
            q("UserName"),
            q("DisplayName"),
            q("FirstName"),
            q("LastName"),
            q("Email"),
            q("Department"),
            q("IsActive"),
        )
    }

    /// The prepared single-row insert into `table`, all eight columns.
    pub fn insert(self, table: &str) -> String {
        let cols = [
            "EmployeeId",
            "UserName",
            "DisplayName",
            "FirstName",
            "LastName",
            "Email",
            "Department",
            "IsActive",
        ];
        let list: Vec<String> = cols.iter().map(|c| self.quote(c)).collect();
        format!(
            "INSERT INTO {} ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self.quote(table),
            list.join(", ")
        )
    }

    /// The prepared single-row disable of `table`.
    pub fn disable(self, table: &str) -> String {
        format!(
            "UPDATE {} SET {} = ? WHERE {} = ?",
            self.quote(table),
            self.quote("IsActive"),
            self.quote("EmployeeId")
        )
    }
}

fn connect(connection: &str) -> Result<Connection<'static>, BenchError> {
    let env = odbc_api::environment()?;
    Ok(env.connect_with_connection_string(connection, ConnectionOptions::default())?)
}

/// A database created for one run and dropped with this value.
#[derive(Debug)]
pub struct BenchDb {
    /// The server.
    pub server: Server,
    /// `host_bench_` and 32 hex digits.
    pub name: String,
    /// ODBC connection string of the database.
    pub connection: String,
}

impl BenchDb {
    /// Creates a new, empty database.
    pub fn create(server: Server) -> Result<BenchDb, BenchError> {
        let name = format!("host_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&server.connection_string(server.admin_database()))?;
        admin.execute(&format!("CREATE DATABASE {name}"), (), None)?;
        Ok(BenchDb {
            server,
            connection: server.connection_string(&name),
            name,
        })
    }

    /// Runs one statement on the database.
    pub fn execute(&self, sql: &str) -> Result<(), BenchError> {
        connect(&self.connection)?.execute(sql, (), None)?;
        Ok(())
    }

    /// Number of rows in `table` (with `IsActive` false when `inactive_only`).
    pub fn count(&self, table: &str, inactive_only: bool) -> Result<u64, BenchError> {
        use odbc_api::Cursor;
        let s = self.server;
        let filter = if inactive_only {
            format!(" WHERE {} = ?", s.quote("IsActive"))
        } else {
            String::new()
        };
        let sql = format!("SELECT COUNT(*) FROM {}{filter}", s.quote(table));
        let conn = connect(&self.connection)?;
        let cursor = if inactive_only {
            conn.execute(&sql, &Bit(0), None)?
        } else {
            conn.execute(&sql, (), None)?
        };
        let mut cursor =
            cursor.ok_or_else(|| BenchError::Odbc("COUNT returned no result set".into()))?;
        let mut row = cursor
            .next_row()?
            .ok_or_else(|| BenchError::Odbc("COUNT returned no row".into()))?;
        let mut n: i64 = 0;
        row.get_data(1, &mut n)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Inserts `rows` (employee id, user name) into `table` one at a time through one prepared
    /// statement in autocommit mode; returns the wall time.
    pub fn direct_inserts(
        &self,
        table: &str,
        rows: &[(String, String)],
    ) -> Result<Duration, BenchError> {
        let conn = connect(&self.connection)?;
        conn.set_autocommit(true)?;
        let mut insert = conn.prepare(&self.server.insert(table))?;
        let started = Instant::now();
        for (id, user) in rows {
            let email = format!("{user}@example.com");
            insert.execute((
                &id.as_str().into_parameter(),
                &user.as_str().into_parameter(),
                &user.as_str().into_parameter(),
                &"Bench".into_parameter(),
                &user.as_str().into_parameter(),
                &email.as_str().into_parameter(),
                &"Load".into_parameter(),
                &Bit(1),
            ))?;
        }
        Ok(started.elapsed())
    }

    /// Sets `IsActive` false on `ids` in `table` one at a time through one prepared statement
    /// in autocommit mode; returns the wall time.
    pub fn direct_disables(&self, table: &str, ids: &[String]) -> Result<Duration, BenchError> {
        let conn = connect(&self.connection)?;
        conn.set_autocommit(true)?;
        let mut update = conn.prepare(&self.server.disable(table))?;
        let started = Instant::now();
        for id in ids {
            update.execute((&Bit(0), &id.as_str().into_parameter()))?;
        }
        Ok(started.elapsed())
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let dropped = connect(&self.server.connection_string(self.server.admin_database()))
            .and_then(|c| {
                c.execute(&sql, (), None)
                    .map(|_| ())
                    .map_err(BenchError::from)
            });
        if let Err(e) = dropped {
            eprintln!("host_bench: could not drop database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_quoted_per_dialect() {
        let check = |got: String, expected: &str| assert_eq!(got, expected);
        check(Server::Postgres.quote("Employees"), "\"Employees\"");
        check(Server::MariaDb.quote("Employees"), "`Employees`");
        check(Server::Postgres.quote("a\"b"), "\"a\"\"b\"");
        check(
            Server::Postgres.disable("T"),
            "UPDATE \"T\" SET \"IsActive\" = ? WHERE \"EmployeeId\" = ?",
        );
        check(
            Server::MariaDb.insert("T"),
            "INSERT INTO `T` (`EmployeeId`, `UserName`, `DisplayName`, `FirstName`, `LastName`, `Email`, `Department`, `IsActive`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        assert!(
            Server::MariaDb
                .connection_string("d")
                .contains("Database=d;")
        );
    }

    /// The direct path really writes what it claims, on the local PostgreSQL.
    #[test]
    fn direct_inserts_and_disables_reach_postgres() {
        let db = BenchDb::create(Server::Postgres).unwrap();
        db.execute(&Server::Postgres.create_table("T")).unwrap();
        let rows: Vec<(String, String)> =
            (0..5).map(|i| (format!("e{i}"), format!("u{i}"))).collect();
        db.direct_inserts("T", &rows).unwrap();
        assert_eq!(db.count("T", false).unwrap(), 5);
        db.direct_disables("T", &["e1".to_owned(), "e3".to_owned()])
            .unwrap();
        assert_eq!(db.count("T", true).unwrap(), 2);
    }
}
