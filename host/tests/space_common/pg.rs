//! A fresh PostgreSQL database per test for the PostgreSQL connector space, on the server named
//! by `CH_TEST_PG_HOST`/`PORT`/`USER` (from `/work/testenv.sh` or `./scripts/test.sh`), dropped
//! again when the value drops. Without those variables, or when the server refuses connections,
//! a test prints a `NOT RUN` line and passes, as the repository's other PostgreSQL tests do.

// Test fixtures fail loudly.
#![allow(clippy::panic)]

use connector_host::space::{IndexSpec, Space};

/// A database that exists for one test.
pub struct PgDb {
    /// `postgresql://user@host:port/space_…`, no password (the test server trusts).
    pub url: String,
    name: String,
    admin: String,
}

impl PgDb {
    /// A new database, or `None` after printing `NOT RUN: <test>: why`.
    pub fn fresh(test: &str) -> Option<PgDb> {
        let (Ok(host), Ok(port), Ok(user)) = (
            std::env::var("CH_TEST_PG_HOST"),
            std::env::var("CH_TEST_PG_PORT"),
            std::env::var("CH_TEST_PG_USER"),
        ) else {
            eprintln!(
                "NOT RUN: {test}: CH_TEST_PG_HOST/PORT/USER are not set (source /work/testenv.sh \
                 or run ./scripts/test.sh to test the PostgreSQL connector space)"
            );
            return None;
        };
        let admin = format!("host={host} port={port} user={user} dbname=postgres");
        let mut client = match postgres::Client::connect(&admin, postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("NOT RUN: {test}: PostgreSQL at {host}:{port} is not reachable: {e}");
                return None;
            }
        };
        let name = format!("space_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        Some(PgDb {
            url: format!("postgresql://{user}@{host}:{port}/{name}"),
            name,
            admin,
        })
    }

    /// The space of `connector` in this database (one "host").
    pub fn open(&self, connector: &str, index: IndexSpec) -> Space {
        Space::open_postgres(&self.url, None, connector, index)
            .unwrap_or_else(|e| panic!("open the PostgreSQL space: {e}"))
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The boolean `sql` returns, run on this database as the administrator.
    pub fn query_bool(&self, sql: &str) -> bool {
        let conn = self
            .admin
            .replace("dbname=postgres", &format!("dbname={}", self.name));
        let mut client = postgres::Client::connect(&conn, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        client
            .query_one(sql, &[])
            .and_then(|row| row.try_get::<_, Option<bool>>(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or(false)
    }

    /// Runs SQL on this database as the administrator.
    pub fn execute(&self, sql: &str) {
        let conn = self
            .admin
            .replace("dbname=postgres", &format!("dbname={}", self.name));
        let mut client = postgres::Client::connect(&conn, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Ends every session of this database but the administrator's (a server restart as the
    /// space's connections see it).
    pub fn terminate_sessions(&self) {
        let mut client = postgres::Client::connect(&self.admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect as administrator: {e}"));
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .unwrap_or_else(|e| panic!("terminate sessions: {e}"));
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.admin, postgres::NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
