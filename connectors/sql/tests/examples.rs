//! Every configuration example in `examples/` (the ones the README shows) parses and runs
//! against a real database: the connector discovers it, exports an object and imports it back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Db, Target, s};
use connector_core::conformance::{BUDGET, soon};
use connector_core::import::collect_all;
use connector_core::{Anchor, Attributes, Change, Connector, ImportItem};
use connector_sql::{SqlConfig, SqlConnector};

/// Loads `examples/<name>`, points it at `db`, runs `ddl` and checks an add is imported back.
fn check(name: &str, db: &Db, ddl: &[&str], object_type: &str, attrs: &[(&str, &str)]) {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: SqlConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    config.connection = db.connection.clone();
    for stmt in ddl {
        db.exec_raw(stmt);
    }
    let c = SqlConnector::new(config, &db.base_dir).unwrap();
    c.test_connection(soon())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut a = Attributes::new();
    for (k, v) in attrs {
        a.insert((*k).into(), s(v));
    }
    let anchor = attrs[0].1;
    c.export(
        &Change::Add {
            object_type: object_type.into(),
            anchor: Some(Anchor(anchor.into())),
            dn: None,
            attributes: a,
        },
        soon(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut stream = c.full_import(object_type, 10, soon()).unwrap();
    let items = collect_all(stream.as_mut(), BUDGET).unwrap();
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ImportItem::Upsert(o) if o.anchor.0 == anchor)),
        "{name}: {items:?}"
    );
    assert_eq!(
        stream.watermark().is_some(),
        c.capabilities().delta_import,
        "{name}"
    );
}

#[test]
fn watermark_example() {
    let db = Db::new(Target::Builtin);
    check(
        "watermark.toml",
        &db,
        &[
            r#"CREATE TABLE People (id TEXT PRIMARY KEY, name TEXT, ver INTEGER, IsDeleted INTEGER NOT NULL DEFAULT 0)"#,
            r#"CREATE TABLE PersonPhones (personId TEXT NOT NULL REFERENCES People (id), phone TEXT NOT NULL)"#,
            r#"CREATE TRIGGER people_ai AFTER INSERT ON People BEGIN UPDATE People SET ver = (SELECT COALESCE(MAX(ver), 0) + 1 FROM People) WHERE id = NEW.id; END"#,
        ],
        "Person",
        &[("id", "p1"), ("name", "Ann")],
    );
}

#[test]
fn history_example() {
    let db = Db::new(Target::Builtin);
    check(
        "history.toml",
        &db,
        &[
            r#"CREATE TABLE Users (id TEXT PRIMARY KEY, userName TEXT)"#,
            r#"CREATE TABLE UserChanges (seq INTEGER PRIMARY KEY AUTOINCREMENT, anchor TEXT NOT NULL, op TEXT NOT NULL, Processed INTEGER NOT NULL DEFAULT 0)"#,
            r#"CREATE TRIGGER users_ai AFTER INSERT ON Users BEGIN INSERT INTO UserChanges (anchor, op) VALUES (NEW.id, 'A'); END"#,
        ],
        "User",
        &[("id", "u1"), ("userName", "ann")],
    );
}

#[test]
fn sql_export_example() {
    let db = Db::new(Target::Builtin);
    check(
        "sql-export.toml",
        &db,
        &[
            r#"CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL)"#,
            r#"CREATE TABLE Audit (EmployeeId TEXT NOT NULL, Action TEXT NOT NULL)"#,
        ],
        "Employee",
        &[("EmployeeId", "e1"), ("UserName", "ann")],
    );
    assert_eq!(
        db.strings("SELECT Action FROM Audit"),
        vec![Some("add".into())]
    );
}

#[test]
fn view_example() {
    let db = Db::new(Target::Builtin);
    let path = format!("{}/examples/view.toml", env!("CARGO_MANIFEST_DIR"));
    let mut config: SqlConfig = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config.connection = db.connection.clone();
    db.exec_raw(
        r#"CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, Hired TEXT, Active INTEGER)"#,
    );
    db.exec_raw(r#"INSERT INTO Employees VALUES ('e1', '01.03.2024 10:00', 1), ('e2', NULL, 0)"#);
    db.exec_raw(r#"CREATE VIEW ActiveEmployees AS SELECT EmployeeId, Hired FROM Employees WHERE Active = 1"#);
    let c = SqlConnector::new(config, &db.base_dir).unwrap();
    let mut stream = c.full_import("Employee", 10, soon()).unwrap();
    let items = collect_all(stream.as_mut(), BUDGET).unwrap();
    let [ImportItem::Upsert(o)] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert_eq!(o.first("Hired").unwrap().to_text(), "2024-03-01T09:00:00Z");
}

#[cfg(feature = "odbc")]
#[test]
fn procedure_example() {
    let db = Db::new(Target::Postgres);
    check(
        "procedure.toml",
        &db,
        &[
            "CREATE TABLE employees (employeeid VARCHAR(32) PRIMARY KEY, username VARCHAR(64))",
            "CREATE PROCEDURE usp_add_employee(p_id VARCHAR, p_name VARCHAR) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO employees VALUES (p_id, p_name); END $$",
            "CREATE PROCEDURE usp_update_employee(p_id VARCHAR, p_name VARCHAR) LANGUAGE plpgsql AS $$ BEGIN UPDATE employees SET username = p_name WHERE employeeid = p_id; END $$",
            "CREATE PROCEDURE usp_delete_employee(p_id VARCHAR) LANGUAGE plpgsql AS $$ BEGIN DELETE FROM employees WHERE employeeid = p_id; END $$",
        ],
        "Employee",
        &[("employeeid", "e1"), ("username", "ann")],
    );
}

#[test]
fn import_query_example() {
    let db = Db::new(Target::Builtin);
    check(
        "import-query.toml",
        &db,
        &[
            r#"CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL, Active INTEGER NOT NULL DEFAULT 1)"#,
        ],
        "Employee",
        &[("EmployeeId", "e1"), ("UserName", "ann")],
    );
}

#[test]
fn object_types_example() {
    let db = Db::new(Target::Builtin);
    check(
        "object-types.toml",
        &db,
        &[
            r#"CREATE TABLE Directory (Id TEXT PRIMARY KEY, ObjectKind TEXT NOT NULL, DisplayName TEXT)"#,
            r#"INSERT INTO Directory VALUES ('u1', 'User', 'Ann'), ('c1', 'Contact', 'Carl')"#,
        ],
        "Contact",
        &[("Id", "c2"), ("DisplayName", "Dee")],
    );
    assert_eq!(
        db.strings("SELECT ObjectKind FROM Directory WHERE Id = 'c2'"),
        vec![Some("Contact".into())]
    );
}
