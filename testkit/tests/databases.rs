//! The fresh-database helpers against the real servers: a value survives the
//! ODBC round trip, two databases are independent, and dropping removes them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test on purpose"
)]

use testkit::{DbKind, TestDb, fresh_mariadb, fresh_postgres, fresh_sqlite_odbc, query_strings};

const NON_ASCII: &str = "Jürgen Ößmann-日本語";

/// Creates a table, inserts `NON_ASCII` and a NULL, and reads both back.
fn check_round_trip(db: &TestDb) {
    db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(100))");
    db.execute(&format!(
        "INSERT INTO people (id, name) VALUES (1, '{NON_ASCII}')"
    ));
    db.execute("INSERT INTO people (id, name) VALUES (2, NULL)");
    assert_eq!(
        db.query_strings("SELECT id, name FROM people ORDER BY id"),
        vec![
            vec![Some("1".to_owned()), Some(NON_ASCII.to_owned())],
            vec![Some("2".to_owned()), None],
        ],
        "{:?} at {}",
        db.kind,
        db.odbc_connection_string
    );
    // Stored as 17 characters, not as mojibake that happens to decode back.
    let char_length = match db.kind {
        DbKind::SqliteOdbc => "LENGTH",
        DbKind::Postgres | DbKind::MariaDb => "CHAR_LENGTH",
    };
    assert_eq!(
        db.query_strings(&format!(
            "SELECT {char_length}(name) FROM people WHERE id = 1"
        )),
        vec![vec![Some(NON_ASCII.chars().count().to_string())]],
        "{:?}",
        db.kind
    );
}

/// A table made in one database is invisible in the other.
fn check_distinct(a: &TestDb, b: &TestDb) {
    assert_ne!(a.name, b.name);
    assert_ne!(a.odbc_connection_string, b.odbc_connection_string);
    a.execute("CREATE TABLE only_in_a (id INTEGER)");
    a.execute("INSERT INTO only_in_a (id) VALUES (7)");
    assert_eq!(
        a.query_strings("SELECT id FROM only_in_a"),
        vec![vec![Some("7".to_owned())]]
    );
    assert!(
        testkit::try_query_strings(&b.odbc_connection_string, "SELECT id FROM only_in_a").is_err(),
        "{:?}: table of {} visible in {}",
        a.kind,
        a.name,
        b.name
    );
}

/// How many databases called `name` the server's catalogue lists.
fn databases_named(kind: DbKind, name: &str) -> usize {
    let sql = match kind {
        DbKind::Postgres => format!("SELECT datname FROM pg_database WHERE datname = '{name}'"),
        DbKind::MariaDb => format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = '{name}'"
        ),
        DbKind::SqliteOdbc => unreachable!("SQLite has no server catalogue"),
    };
    let server = kind.server_connection_string().unwrap();
    query_strings(&server, &sql).len()
}

fn check_drop_removes(db: TestDb) {
    let (kind, name) = (db.kind, db.name.clone());
    assert_eq!(
        databases_named(kind, &name),
        1,
        "{kind:?} {name} should exist"
    );
    drop(db);
    assert_eq!(
        databases_named(kind, &name),
        0,
        "{kind:?} {name} should be gone"
    );
}

#[test]
fn postgres_round_trips_non_ascii_and_null() {
    check_round_trip(&fresh_postgres());
}

#[test]
fn mariadb_round_trips_non_ascii_and_null() {
    check_round_trip(&fresh_mariadb());
}

#[test]
fn sqlite_round_trips_non_ascii_and_null() {
    check_round_trip(&fresh_sqlite_odbc());
}

#[test]
fn two_fresh_postgres_databases_are_distinct() {
    check_distinct(&fresh_postgres(), &fresh_postgres());
}

#[test]
fn two_fresh_mariadb_databases_are_distinct() {
    check_distinct(&fresh_mariadb(), &fresh_mariadb());
}

#[test]
fn two_fresh_sqlite_databases_are_distinct() {
    check_distinct(&fresh_sqlite_odbc(), &fresh_sqlite_odbc());
}

#[test]
fn dropping_removes_the_postgres_database() {
    check_drop_removes(fresh_postgres());
}

#[test]
fn dropping_removes_the_mariadb_database() {
    check_drop_removes(fresh_mariadb());
}

#[test]
fn dropping_removes_the_sqlite_file() {
    let db = fresh_sqlite_odbc();
    db.execute("CREATE TABLE t (id INTEGER)");
    let path = db.sqlite_path().unwrap();
    assert!(path.is_file(), "{} should exist", path.display());
    drop(db);
    assert!(!path.exists(), "{} should be gone", path.display());
}

#[test]
fn postgres_dropped_even_with_a_connection_open() {
    // A connector under test may still hold a connection when the test ends.
    let db = fresh_postgres();
    let env = odbc_api::environment().unwrap();
    let conn = env
        .connect_with_connection_string(&db.odbc_connection_string, Default::default())
        .unwrap();
    let name = db.name.clone();
    drop(db);
    drop(conn);
    assert_eq!(databases_named(DbKind::Postgres, &name), 0);
}

#[test]
fn unreachable_server_error_says_what_to_run() {
    let error = testkit::try_query_strings(
        "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=postgres;Uid=postgres;Pwd=;",
        "SELECT 1",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("./scripts/test.sh"), "{error}");
}

#[test]
fn query_without_result_set_returns_no_rows() {
    let db = fresh_sqlite_odbc();
    assert_eq!(
        db.query_strings("CREATE TABLE t (id INTEGER)"),
        Vec::<Vec<Option<String>>>::new()
    );
}
