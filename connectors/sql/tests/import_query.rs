//! Full imports through a configured `import_query` (keyset `@LastAnchor`/`@PageSize` and MIM's
//! `@StartIndex`/`@EndIndex`), on the built-in SQLite, PostgreSQL and MariaDB: every matching row
//! once, in pages, with child-table values; configuration mistakes are `Misconfigured`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Db, Target};
use connector_core::conformance::{BUDGET, soon};
use connector_core::import::collect_all;
use connector_core::{Connector, ConnectorError, ImportItem};
use connector_sql::{MultiValuedConfig, ObjectConfig, SqlConnector};

/// Employees 1..=7, of which 2 and 5 are inactive; phones for employee 3.
fn setup(db: &Db) {
    db.exec(r#"CREATE TABLE "Emp" ("EmployeeId" VARCHAR(16) NOT NULL PRIMARY KEY, "UserName" VARCHAR(64), "Active" INTEGER NOT NULL, "Secret" VARCHAR(64))"#);
    db.exec(r#"CREATE TABLE "EmpPhones" ("EmployeeId" VARCHAR(16) NOT NULL, "Phone" VARCHAR(32) NOT NULL)"#);
    for i in 1..=7 {
        let active = i32::from(i != 2 && i != 5);
        db.exec(&format!(
            r#"INSERT INTO "Emp" VALUES ('e{i}', 'user{i}', {active}, 'pw{i}')"#
        ));
    }
    db.exec(r#"INSERT INTO "EmpPhones" VALUES ('e3', '+1 555 0100')"#);
    db.exec(r#"CREATE VIEW "v_hr" AS SELECT "EmployeeId", "UserName", "Active" FROM "Emp""#);
}

fn object(db: &Db, query: &str) -> ObjectConfig {
    let mut o = ObjectConfig::new("Employee", "Emp", "EmployeeId");
    o.exclude = vec!["Secret".into(), "Active".into()];
    o.multivalued.push(MultiValuedConfig::new(
        "phones",
        "EmpPhones",
        "EmployeeId",
        "Phone",
    ));
    o.import_query = Some(db.adapt(query));
    o
}

/// Imports with page size 2 and returns (anchor, userName, phones) per object, in order.
fn import(c: &SqlConnector) -> Result<Vec<(String, String, usize)>, ConnectorError> {
    let mut stream = c.full_import("Employee", 2, soon())?;
    let items = collect_all(stream.as_mut(), BUDGET)?;
    Ok(items
        .into_iter()
        .map(|i| match i {
            ImportItem::Upsert(o) => (
                o.anchor.0.clone(),
                o.first("UserName").unwrap().to_text(),
                o.values("phones").len(),
            ),
            other => panic!("{other:?}"),
        })
        .collect())
}

const ACTIVE: [&str; 5] = ["e1", "e3", "e4", "e6", "e7"];

fn check_active(target: Target, query: &str) {
    let db = Db::new(target);
    setup(&db);
    let c = db.connector(vec![object(&db, query)]);
    let got = import(&c).unwrap_or_else(|e| panic!("{target:?} {query}: {e}"));
    let anchors: Vec<&str> = got.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(anchors, ACTIVE, "{target:?} {query}");
    assert_eq!(got[0].1, "user1");
    // Child-table values are read for objects of the query too.
    assert_eq!(got[1], ("e3".into(), "user3".into(), 1), "{target:?}");
}

const KEYSET: &str = r#"SELECT "EmployeeId", "UserName" FROM "v_hr" WHERE "Active" = 1 AND "EmployeeId" > @LastAnchor ORDER BY "EmployeeId" LIMIT @PageSize"#;
const ROW_NUMBERS: &str = r#"SELECT "EmployeeId", "UserName" FROM (SELECT "EmployeeId", "UserName", ROW_NUMBER() OVER (ORDER BY "EmployeeId") AS rn FROM "v_hr" WHERE "Active" = 1) t WHERE rn BETWEEN @StartIndex AND @EndIndex ORDER BY rn"#;

fn targets() -> Vec<Target> {
    #[allow(unused_mut)]
    let mut t = vec![Target::Builtin];
    #[cfg(feature = "odbc")]
    t.extend([Target::Postgres, Target::MariaDb]);
    t
}

#[test]
fn keyset_query_reads_every_matching_row_once() {
    for t in targets() {
        check_active(t, KEYSET);
    }
}

#[test]
fn row_number_query_reads_every_matching_row_once() {
    for t in targets() {
        check_active(t, ROW_NUMBERS);
    }
}

#[test]
fn integer_anchors_start_below_every_value() {
    for t in targets() {
        let db = Db::new(t);
        db.exec(r#"CREATE TABLE "N" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(16))"#);
        db.exec(r#"INSERT INTO "N" VALUES (-5, 'a'), (0, 'b'), (7, 'c')"#);
        let mut o = ObjectConfig::new("N", "N", "id");
        o.import_query = Some(db.adapt(
            r#"SELECT "id", "name" FROM "N" WHERE "id" > @LastAnchor ORDER BY "id" LIMIT @PageSize"#,
        ));
        let c = db.connector(vec![o]);
        let mut stream = c.full_import("N", 2, soon()).unwrap();
        let anchors: Vec<String> = collect_all(stream.as_mut(), BUDGET)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                ImportItem::Upsert(o) => o.anchor.0,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(anchors, ["-5", "0", "7"], "{t:?}");
    }
}

#[test]
fn queries_that_cannot_page_are_refused_at_discovery() {
    let check = |query: &str, expected: &str| {
        let db = Db::new(Target::Builtin);
        setup(&db);
        let c = db.connector(vec![object(&db, query)]);
        match c.schema(soon()) {
            Err(ConnectorError::Misconfigured { detail: m }) => {
                assert!(m.contains(expected), "{query}: {m}")
            }
            other => panic!("{query}: {other:?}"),
        }
    };
    check(
        r#"SELECT "EmployeeId", "UserName" FROM "Emp" LIMIT @PageSize"#,
        "@LastAnchor",
    );
    check(
        r#"SELECT "EmployeeId", "UserName" FROM "Emp" WHERE "EmployeeId" > @LastAnchor"#,
        "@PageSize",
    );
    check(
        r#"SELECT "EmployeeId" FROM "Emp" WHERE "EmployeeId" > @LastAnchor AND "UserName" = @Who LIMIT @PageSize"#,
        "@Who",
    );
    check(
        r#"SELECT "EmployeeId" FROM "Emp" WHERE "EmployeeId" > ? LIMIT @PageSize"#,
        "import_query",
    );
}

#[test]
fn result_columns_must_be_the_attributes() {
    let check = |query: &str, expected: &str| {
        let db = Db::new(Target::Builtin);
        setup(&db);
        let c = db.connector(vec![object(&db, query)]);
        match import(&c) {
            Err(ConnectorError::Misconfigured { detail: m }) => {
                assert!(m.contains(expected), "{query}: {m}")
            }
            other => panic!("{query}: {other:?}"),
        }
    };
    // An attribute the query does not return.
    check(
        r#"SELECT "EmployeeId" FROM "Emp" WHERE "EmployeeId" > @LastAnchor ORDER BY 1 LIMIT @PageSize"#,
        "missing: [UserName]",
    );
    // A column that is no attribute (excluded here).
    check(
        r#"SELECT "EmployeeId", "UserName", "Secret" FROM "Emp" WHERE "EmployeeId" > @LastAnchor ORDER BY 1 LIMIT @PageSize"#,
        "not attributes: [Secret]",
    );
    // A keyset query that ignores @LastAnchor would loop for ever: refused instead.
    check(
        r#"SELECT "EmployeeId", "UserName" FROM "Emp" WHERE @LastAnchor IS NOT NULL ORDER BY 1 LIMIT @PageSize"#,
        "@LastAnchor",
    );
}

#[test]
fn names_match_case_insensitively_and_values_are_never_spliced() {
    let db = Db::new(Target::Builtin);
    setup(&db);
    // An anchor with a quote is bound, not spliced, when it becomes @LastAnchor.
    db.exec(r#"INSERT INTO "Emp" VALUES ('e3''x', 'quote', 1, 'pw')"#);
    let c = db.connector(vec![object(
        &db,
        r#"SELECT "EmployeeId" AS employeeid, "UserName" AS USERNAME FROM "v_hr" WHERE "Active" = 1 AND "EmployeeId" > @lastanchor ORDER BY "EmployeeId" LIMIT @PAGESIZE"#,
    )]);
    let anchors: Vec<String> = import(&c).unwrap().into_iter().map(|r| r.0).collect();
    assert_eq!(anchors, ["e1", "e3", "e3'x", "e4", "e6", "e7"]);
}

/// ODBC reads text through a block cursor sized by the widths the driver reports; a value
/// longer than reported (psqlodbc reports 255 for an unbounded VARCHAR) must come back whole.
#[cfg(feature = "odbc")]
#[test]
fn values_wider_than_the_reported_column_come_back_whole() {
    for t in [Target::Postgres, Target::MariaDb, Target::SqliteOdbc] {
        let db = Db::new(t);
        let text_type = if t == Target::Postgres {
            "VARCHAR"
        } else {
            "TEXT"
        };
        db.exec(&format!(
            r#"CREATE TABLE "W" ("id" VARCHAR(8) NOT NULL PRIMARY KEY, "note" {text_type})"#
        ));
        let long = "x".repeat(20_000);
        db.exec(&format!(
            r#"INSERT INTO "W" VALUES ('a', 'short'), ('b', '{long}')"#
        ));
        let c = db.connector(vec![ObjectConfig::new("W", "W", "id")]);
        let mut stream = c.full_import("W", 10, soon()).unwrap();
        let notes: Vec<usize> = collect_all(stream.as_mut(), BUDGET)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                ImportItem::Upsert(o) => o.first("note").unwrap().to_text().len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(notes, [5, 20_000], "{t:?}");
    }
}
