//! The ODBC pool survives the server dropping its connections (a restart, a failover, an
//! administrator killing sessions): the next calls reconnect instead of failing forever.
#![cfg(feature = "odbc")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use connector_core::conformance::soon;
use connector_core::{Anchor, AttrValue, Attributes, Change, Connector, ConnectorError};
use connector_sql::{ObjectConfig, SqlConfig, SqlConnector};

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

#[test]
fn postgres_sessions_killed_by_the_server_are_replaced() {
    let db = testkit::fresh_postgres();
    db.execute(r#"CREATE TABLE "Users" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64))"#);
    let config = SqlConfig::new(
        db.odbc_connection_string.clone(),
        vec![ObjectConfig::new("User", "Users", "id")],
    );
    let c = SqlConnector::new(config, std::path::Path::new(".")).unwrap();
    add(&c, "a").unwrap();

    let admin = testkit::DbKind::Postgres
        .server_connection_string()
        .unwrap();
    testkit::execute(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    );

    // The pooled connection is dead. At most one call may notice (as Unavailable, which the
    // host retries); it must not be put back, so the call after it reconnects.
    match add(&c, "b") {
        Ok(_) => {}
        Err(ConnectorError::Unavailable { .. }) => add(&c, "b").map(drop).unwrap(),
        Err(other) => panic!("a dropped connection must be Unavailable, got {other:?}"),
    }
    add(&c, "c").unwrap();
    let rows = db.query_strings(r#"SELECT "id" FROM "Users" ORDER BY "id""#);
    let ids: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
}

#[test]
fn an_unreachable_server_is_unavailable_and_a_bad_driver_misconfigured() {
    let check = |conn: &str, want_unavailable: bool| {
        let config = SqlConfig::new(conn, vec![ObjectConfig::new("User", "Users", "id")]);
        let c = SqlConnector::new(config, std::path::Path::new(".")).unwrap();
        let err = c.schema(soon()).unwrap_err();
        assert_eq!(
            matches!(err, ConnectorError::Unavailable { .. }),
            want_unavailable,
            "{conn}: {err:?}"
        );
        assert!(
            !err.detail().contains("s3cret"),
            "the password leaked: {err}"
        );
    };
    // Port 1 on loopback: nothing listens there.
    check(
        "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=x;Uid=u;Pwd=s3cret;",
        true,
    );
    check(
        "Driver={No Such Driver 4711};Server=127.0.0.1;Pwd=s3cret;",
        false,
    );
}

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use connector_sql::{ExportConfig, SqlExport};
use testkit::PrivatePostgres as PrivatePg;

fn ids(conn: &str, sql: &str) -> Vec<String> {
    testkit::query_strings(conn, sql)
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}

#[test]
fn exports_survive_a_real_database_restart() {
    let pg = PrivatePg::start();
    let conn = pg.connection_string();
    testkit::execute(
        &conn,
        r#"CREATE TABLE "Users" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64))"#,
    );
    let mut config = SqlConfig::new(conn.clone(), vec![ObjectConfig::new("User", "Users", "id")]);
    config.command_timeout = Duration::from_secs(5);
    let c = SqlConnector::new(config, pg.dir()).unwrap();

    let outcomes: Mutex<Vec<(String, Result<(), ConnectorError>)>> = Mutex::new(Vec::new());
    let ok = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) && i < 100_000 {
                let id = format!("u{i:06}");
                let r = add(&c, &id).map(drop);
                match &r {
                    Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                };
                outcomes.lock().unwrap().push((id, r));
                i += 1;
            }
        });
        let wait_for = |what: &str, done: &dyn Fn() -> bool| {
            for _ in 0..6000 {
                if done() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::SeqCst);
            panic!("gave up waiting for {what}");
        };
        wait_for("exports before the restart", &|| {
            ok.load(Ordering::SeqCst) >= 20
        });
        pg.stop_server();
        wait_for("an export to fail while the server is down", &|| {
            failed.load(Ordering::SeqCst) >= 1
        });
        pg.start_server();
        let before = ok.load(Ordering::SeqCst);
        wait_for("exports after the restart", &|| {
            ok.load(Ordering::SeqCst) >= before + 20
        });
        stop.store(true, Ordering::SeqCst);
    });

    let stored: std::collections::BTreeSet<String> = ids(&conn, r#"SELECT "id" FROM "Users""#)
        .into_iter()
        .collect();
    let outcomes = outcomes.into_inner().unwrap();
    let mut failures = 0;
    for (id, r) in &outcomes {
        match r {
            Ok(()) => assert!(stored.contains(id), "{id} succeeded but is not stored"),
            Err(ConnectorError::Unavailable { .. }) => {
                failures += 1;
                assert!(!stored.contains(id), "{id} failed but is stored");
            }
            Err(other) => panic!("{id}: a restart must give Unavailable, got {other:?}"),
        }
    }
    assert!(failures >= 1);
    // The same connector works again: the last exports succeeded.
    assert!(outcomes.iter().rev().take(20).all(|(_, r)| r.is_ok()));
}

fn sleepy(conn: &str, sleep: &str) -> SqlConnector {
    let mut o = ObjectConfig::new("User", "users", "id");
    o.export = Some(ExportConfig::Sql(SqlExport {
        add: vec![r#"INSERT INTO users (id, name) VALUES (@id, @name)"#.into()],
        update: vec![sleep.into()],
        delete: vec![],
    }));
    let mut config = SqlConfig::new(conn, vec![o]);
    config.command_timeout = Duration::from_secs(1);
    SqlConnector::new(config, std::path::Path::new(".")).unwrap()
}

fn slow_statements_time_out(db: &testkit::TestDb, sleep: &str) {
    db.execute("CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, name VARCHAR(64))");
    let c = sleepy(&db.odbc_connection_string, sleep);
    add(&c, "a").unwrap();
    let err = c
        .export(
            &Change::Update {
                object_type: "User".into(),
                anchor: Anchor("a".into()),
                new_dn: None,
                changes: vec![],
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    // The connection is usable afterwards.
    add(&c, "b").unwrap();
}

#[test]
fn postgres_statements_over_the_command_timeout_time_out() {
    slow_statements_time_out(&testkit::fresh_postgres(), "SELECT pg_sleep(3)");
}

#[test]
fn mariadb_statements_over_the_command_timeout_time_out() {
    slow_statements_time_out(&testkit::fresh_mariadb(), "SELECT SLEEP(3)");
}

#[test]
fn a_deadlock_victim_is_retried_once() {
    let db = testkit::fresh_postgres();
    db.execute(
        r#"CREATE TABLE "Jobs" ("id" VARCHAR(8) PRIMARY KEY, "a" VARCHAR(8), "b" VARCHAR(8))"#,
    );
    db.execute(r#"CREATE TABLE "Locks" ("id" VARCHAR(8) PRIMARY KEY, "n" INTEGER NOT NULL)"#);
    db.execute(r#"INSERT INTO "Locks" VALUES ('x', 0), ('y', 0)"#);
    db.execute(r#"INSERT INTO "Jobs" VALUES ('j1', 'x', 'y'), ('j2', 'y', 'x')"#);
    let mut o = ObjectConfig::new("Job", "Jobs", "id");
    // Each job locks its two rows in opposite order, pausing in between: run together, one of
    // them is chosen as the deadlock victim.
    o.export = Some(ExportConfig::Sql(SqlExport {
        add: vec![],
        update: vec![
            r#"UPDATE "Locks" SET "n" = "n" + 1 WHERE "id" = @a"#.into(),
            "SELECT pg_sleep(0.5)".into(),
            r#"UPDATE "Locks" SET "n" = "n" + 1 WHERE "id" = @b"#.into(),
        ],
        delete: vec![],
    }));
    let c = SqlConnector::new(
        SqlConfig::new(db.odbc_connection_string.clone(), vec![o]),
        std::path::Path::new("."),
    )
    .unwrap();
    let run = |id: &str| {
        c.export(
            &Change::Update {
                object_type: "Job".into(),
                anchor: Anchor(id.into()),
                new_dn: None,
                changes: vec![],
            },
            soon(),
        )
    };
    let (r1, r2) = std::thread::scope(|s| {
        let t1 = s.spawn(|| run("j1"));
        let t2 = s.spawn(|| run("j2"));
        (t1.join().unwrap(), t2.join().unwrap())
    });
    r1.unwrap();
    r2.unwrap();
    assert_eq!(
        ids(
            &db.odbc_connection_string,
            r#"SELECT CAST("n" AS VARCHAR) FROM "Locks" ORDER BY "id""#
        ),
        vec!["2", "2"]
    );
}
