//! Contract v2 deadlines: a statement still running when the call's deadline passes is
//! interrupted and the export is a timeout, even when the configured command timeout is far
//! longer; the connection is usable afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use connector_core::conformance::soon;
use connector_core::{Anchor, AttrValue, Attributes, Change, Connector, ConnectorError, Deadline};
use connector_sql::{ExportConfig, ObjectConfig, SqlConfig, SqlConnector, SqlExport};

/// A connector whose update runs `slow` and whose command timeout is a minute.
fn connector(connection: &str, base_dir: &std::path::Path, slow: &str) -> SqlConnector {
    let mut o = ObjectConfig::new("User", "users", "id");
    o.export = Some(ExportConfig::Sql(SqlExport {
        add: vec![r#"INSERT INTO users (id, name) VALUES (@id, @name)"#.into()],
        update: vec![slow.into()],
        delete: vec![],
    }));
    let mut config = SqlConfig::new(connection, vec![o]);
    config.command_timeout = Duration::from_secs(60);
    SqlConnector::new(config, base_dir).unwrap()
}

fn add(c: &SqlConnector, anchor: &str) -> Result<connector_core::ExportOutcome, ConnectorError> {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), vec![AttrValue::String(anchor.to_owned())]);
    c.export(
        &Change::Add {
            object_type: "User".into(),
            anchor: Some(Anchor(anchor.into())),
            dn: None,
            attributes,
        },
        soon(),
    )
}

/// The slow update gives up at its deadline, long before the command timeout.
fn interrupted_at_the_deadline(c: &SqlConnector) {
    add(c, "a").unwrap();
    let started = Instant::now();
    let err = c
        .export(
            &Change::Update {
                object_type: "User".into(),
                anchor: Anchor("a".into()),
                new_dn: None,
                changes: vec![],
            },
            Deadline::after(Duration::from_millis(800)),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    // Not a speed figure: the statement would otherwise run for a minute (or forever).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the export ran {:?} past a deadline of 0.8 s",
        started.elapsed()
    );
    add(c, "b").unwrap();
}

#[test]
fn builtin_sqlite_interrupts_a_runaway_statement() {
    let dir = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(dir.path().join("t.db"))
        .unwrap()
        .execute_batch("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)")
        .unwrap();
    // A recursive query that never ends by itself.
    let c = connector(
        "sqlite://t.db",
        dir.path(),
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    );
    interrupted_at_the_deadline(&c);
}

#[cfg(feature = "odbc")]
#[test]
fn postgres_statements_end_at_the_deadline() {
    let db = testkit::fresh_postgres();
    db.execute("CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, name VARCHAR(64))");
    let c = connector(
        &db.odbc_connection_string,
        std::path::Path::new("."),
        "SELECT pg_sleep(60)",
    );
    interrupted_at_the_deadline(&c);
}
