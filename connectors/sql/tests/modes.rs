//! Export and import modes: custom SQL statements in one transaction, stored procedures, views,
//! whole-object replace, and date-times stored in a zone or a text format.
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
use connector_core::{
    Anchor, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError, ExportStyle,
    ImportItem,
};
use connector_sql::{
    AttrType, AttributeOverride, ExportConfig, ExportStyleName, ObjectConfig, ProcedureCall,
    ProcedureExport, SqlConnector, SqlExport,
};
use time::macros::datetime;

fn employee(id: &str, name: &str) -> Attributes {
    let mut a = Attributes::new();
    a.insert("EmployeeId".into(), s(id));
    a.insert("UserName".into(), s(name));
    a
}

fn add(c: &SqlConnector, id: &str, name: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Add {
            object_type: "Employee".into(),
            anchor: Some(Anchor(id.into())),
            dn: None,
            attributes: employee(id, name),
        },
        soon(),
    )
    .map(drop)
}

fn rename(c: &SqlConnector, id: &str, name: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Update {
            object_type: "Employee".into(),
            anchor: Anchor(id.into()),
            new_dn: None,
            changes: vec![AttributeChange::Replace {
                name: "UserName".into(),
                values: s(name),
            }],
        },
        soon(),
    )
    .map(drop)
}

fn delete(c: &SqlConnector, id: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Delete {
            object_type: "Employee".into(),
            anchor: Anchor(id.into()),
        },
        soon(),
    )
    .map(drop)
}

fn rows(db: &Db, sql: &str) -> Vec<String> {
    db.strings(sql)
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect()
}

fn employees_ddl(db: &Db) {
    db.exec(r#"CREATE TABLE "Employees" ("EmployeeId" VARCHAR(32) PRIMARY KEY, "UserName" VARCHAR(64) NOT NULL, "Title" VARCHAR(64))"#);
    db.exec(r#"CREATE TABLE "Audit" ("EmployeeId" VARCHAR(32) NOT NULL, "Action" VARCHAR(16) NOT NULL)"#);
}

fn sql_export(add: &[&str], update: &[&str], delete: &[&str]) -> ExportConfig {
    let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    ExportConfig::Sql(SqlExport {
        add: v(add),
        update: v(update),
        delete: v(delete),
    })
}

fn custom_sql_runs_in_one_transaction(target: Target) {
    let db = Db::new(target);
    employees_ddl(&db);
    let q = |t: &str| db.adapt(t);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.export = Some(sql_export(
        &[
            &q(
                r#"INSERT INTO "Employees" ("EmployeeId", "UserName") VALUES (@EmployeeId, @UserName)"#,
            ),
            &q(r#"INSERT INTO "Audit" ("EmployeeId", "Action") VALUES (@anchor, 'add')"#),
        ],
        &[
            &q(
                r#"UPDATE "Employees" SET "UserName" = @UserName, "Title" = @Title WHERE "EmployeeId" = @anchor"#,
            ),
            // Fails for the name "boom": the audit action is too long for its column.
            &q(
                r#"INSERT INTO "Audit" ("EmployeeId", "Action") VALUES (@anchor, CASE WHEN @UserName = 'boom' THEN NULL ELSE 'update' END)"#,
            ),
        ],
        &[&q(
            r#"DELETE FROM "Employees" WHERE "EmployeeId" = @anchor"#,
        )],
    ));
    let c = db.connector(vec![o]);
    add(&c, "e1", "ann").unwrap();
    // An attribute-level update binds the attributes it does not change from the current row.
    c.export(
        &Change::Update {
            object_type: "Employee".into(),
            anchor: Anchor("e1".into()),
            new_dn: None,
            changes: vec![AttributeChange::Replace {
                name: "Title".into(),
                values: s("Boss"),
            }],
        },
        soon(),
    )
    .unwrap();
    assert_eq!(
        rows(&db, r#"SELECT "UserName" FROM "Employees""#),
        vec!["ann"]
    );
    assert_eq!(
        rows(&db, r#"SELECT "Title" FROM "Employees""#),
        vec!["Boss"]
    );
    // The second statement fails: the first is rolled back with it.
    let err = rename(&c, "e1", "boom").unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert_eq!(
        rows(&db, r#"SELECT "UserName" FROM "Employees""#),
        vec!["ann"]
    );
    assert_eq!(
        rows(&db, r#"SELECT "Action" FROM "Audit" ORDER BY "Action""#),
        vec!["add", "update"]
    );
    assert!(matches!(
        rename(&c, "nobody", "x"),
        Err(ConnectorError::NotFound { .. })
    ));
    delete(&c, "e1").unwrap();
    assert!(rows(&db, r#"SELECT "EmployeeId" FROM "Employees""#).is_empty());
}

#[cfg(feature = "odbc")]
fn procedures_are_called(target: Target) {
    let db = Db::new(target);
    employees_ddl(&db);
    let procs: Vec<&str> = if db.is_mariadb() {
        vec![
            "CREATE PROCEDURE usp_add(IN p_id VARCHAR(32), IN p_name VARCHAR(64)) BEGIN INSERT INTO Employees (EmployeeId, UserName) VALUES (p_id, p_name); INSERT INTO Audit VALUES (p_id, 'add'); END",
            "CREATE PROCEDURE usp_update(IN p_id VARCHAR(32), IN p_name VARCHAR(64), IN p_title VARCHAR(64)) BEGIN UPDATE Employees SET UserName = p_name, Title = p_title WHERE EmployeeId = p_id; END",
            "CREATE PROCEDURE usp_delete(IN p_id VARCHAR(32)) BEGIN DELETE FROM Employees WHERE EmployeeId = p_id; INSERT INTO Audit VALUES (p_id, 'delete'); END",
        ]
    } else {
        vec![
            r#"CREATE PROCEDURE usp_add(p_id VARCHAR, p_name VARCHAR) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "Employees" ("EmployeeId", "UserName") VALUES (p_id, p_name); INSERT INTO "Audit" VALUES (p_id, 'add'); END $$"#,
            r#"CREATE PROCEDURE usp_update(p_id VARCHAR, p_name VARCHAR, p_title VARCHAR) LANGUAGE plpgsql AS $$ BEGIN UPDATE "Employees" SET "UserName" = p_name, "Title" = p_title WHERE "EmployeeId" = p_id; END $$"#,
            r#"CREATE PROCEDURE usp_delete(p_id VARCHAR) LANGUAGE plpgsql AS $$ BEGIN DELETE FROM "Employees" WHERE "EmployeeId" = p_id; INSERT INTO "Audit" VALUES (p_id, 'delete'); END $$"#,
        ]
    };
    for p in procs {
        db.exec_raw(p);
    }
    let call = |name: &str, params: &[&str]| {
        Some(ProcedureCall {
            name: name.into(),
            parameters: params.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.export = Some(ExportConfig::Procedure(ProcedureExport {
        add: call("usp_add", &["@EmployeeId", "@UserName"]),
        update: call("usp_update", &["anchor", "UserName", "Title"]),
        delete: call("usp_delete", &["anchor"]),
    }));
    let c = db.connector(vec![o]);
    add(&c, "e1", "ann").unwrap();
    add(&c, "e2", "bob").unwrap();
    rename(&c, "e1", "anna").unwrap();
    delete(&c, "e2").unwrap();
    assert!(matches!(
        delete(&c, "e2"),
        Err(ConnectorError::NotFound { .. })
    ));
    assert_eq!(
        rows(&db, r#"SELECT "UserName" FROM "Employees""#),
        vec!["anna"]
    );
    assert_eq!(
        rows(&db, r#"SELECT "Action" FROM "Audit" ORDER BY "Action""#),
        vec!["add", "add", "delete"]
    );
}

#[test]
fn sqlite_has_no_procedures() {
    let db = Db::new(Target::Builtin);
    employees_ddl(&db);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.export = Some(ExportConfig::Procedure(ProcedureExport {
        add: Some(ProcedureCall {
            name: "usp_add".into(),
            parameters: vec!["anchor".into()],
        }),
        update: None,
        delete: None,
    }));
    let c = db.connector(vec![o]);
    let err = c.schema(soon()).unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Misconfigured { detail } if detail.contains("no stored procedures")),
        "{err:?}"
    );
}

#[test]
fn an_unknown_placeholder_fails_at_start_up() {
    let db = Db::new(Target::Builtin);
    employees_ddl(&db);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.export = Some(sql_export(
        &[r#"INSERT INTO "Employees" ("EmployeeId", "UserName") VALUES (@anchor, @UserNmae)"#],
        &[],
        &[],
    ));
    let c = db.connector(vec![o]);
    let err = c.test_connection(soon()).unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Misconfigured { detail } if detail.contains("@UserNmae") && detail.contains("UserName")),
        "{err:?}"
    );
}

#[test]
fn an_operation_without_statements_is_refused() {
    let db = Db::new(Target::Builtin);
    employees_ddl(&db);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.export = Some(sql_export(
        &[r#"INSERT INTO "Employees" ("EmployeeId", "UserName") VALUES (@anchor, @UserName)"#],
        &[],
        &[],
    ));
    let c = db.connector(vec![o]);
    add(&c, "e1", "ann").unwrap();
    let err = delete(&c, "e1").unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert_eq!(
        rows(&db, r#"SELECT "EmployeeId" FROM "Employees""#),
        vec!["e1"]
    );
}

fn views_are_read_but_not_written(target: Target) {
    let db = Db::new(target);
    employees_ddl(&db);
    db.exec(r#"INSERT INTO "Employees" ("EmployeeId", "UserName", "Title") VALUES ('e1', 'ann', 'Boss'), ('e2', 'bob', NULL)"#);
    db.exec(r#"CREATE VIEW "Staff" AS SELECT "EmployeeId", "UserName" FROM "Employees" WHERE "Title" IS NOT NULL"#);
    let mut o = ObjectConfig::new("Employee", "Staff", "EmployeeId");
    o.view = true;
    let c = db.connector(vec![o.clone()]);
    let mut stream = c.full_import("Employee", 10, soon()).unwrap();
    let items = collect_all(stream.as_mut(), BUDGET).unwrap();
    assert_eq!(items.len(), 1);
    let ImportItem::Upsert(obj) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(obj.values("UserName"), s("ann").as_slice());
    let err = add(&c, "e3", "cid").unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );

    // With statements configured, the view's object type is written through them.
    let q = |t: &str| db.adapt(t);
    o.export = Some(sql_export(
        &[&q(
            r#"INSERT INTO "Employees" ("EmployeeId", "UserName", "Title") VALUES (@anchor, @UserName, 'New')"#,
        )],
        &[],
        &[],
    ));
    let c = db.connector(vec![o]);
    add(&c, "e3", "cid").unwrap();
    let mut stream = c.full_import("Employee", 10, soon()).unwrap();
    assert_eq!(collect_all(stream.as_mut(), BUDGET).unwrap().len(), 2);
}

#[test]
fn whole_object_replace_is_declared_when_configured() {
    let db = Db::new(Target::Builtin);
    employees_ddl(&db);
    let mut config = db.config(vec![ObjectConfig::new(
        "Employee",
        "Employees",
        "EmployeeId",
    )]);
    assert_eq!(
        SqlConnector::new(config.clone(), &db.base_dir)
            .unwrap()
            .capabilities()
            .export_style,
        ExportStyle::AttributeUpdate
    );
    config.export_style = ExportStyleName::Replace;
    let c = SqlConnector::new(config, &db.base_dir).unwrap();
    assert_eq!(c.capabilities().export_style, ExportStyle::ObjectReplace);
}

fn zoned_and_formatted_datetimes(target: Target) {
    let db = Db::new(target);
    db.exec(r#"CREATE TABLE "Employees" ("EmployeeId" VARCHAR(32) PRIMARY KEY, "UserName" VARCHAR(64), "Hired" DATETIME_T, "Born" VARCHAR(32))"#);
    db.exec(r#"INSERT INTO "Employees" VALUES ('e1', 'ann', '2024-03-01 10:00:00', '01.03.1990 06:30')"#);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.attributes.insert(
        "Hired".into(),
        AttributeOverride {
            time_zone: Some("+01:00".into()),
            ..AttributeOverride::default()
        },
    );
    o.attributes.insert(
        "Born".into(),
        AttributeOverride {
            kind: Some(AttrType::Datetime),
            time_zone: Some("-05:00".into()),
            format: Some("[day].[month].[year] [hour]:[minute]".into()),
            ..AttributeOverride::default()
        },
    );
    let c = db.connector(vec![o]);
    let mut stream = c.full_import("Employee", 10, soon()).unwrap();
    let items = collect_all(stream.as_mut(), BUDGET).unwrap();
    let ImportItem::Upsert(obj) = &items[0] else {
        panic!()
    };
    assert_eq!(
        obj.values("Hired"),
        &[AttrValue::DateTime(datetime!(2024-03-01 9:00 UTC))]
    );
    assert_eq!(
        obj.values("Born"),
        &[AttrValue::DateTime(datetime!(1990-03-01 11:30 UTC))]
    );
    // Exports convert UTC back to the stored zone and format.
    let mut a = employee("e2", "bob");
    a.insert(
        "Hired".into(),
        vec![AttrValue::DateTime(datetime!(2024-06-30 23:30 UTC))],
    );
    a.insert(
        "Born".into(),
        vec![AttrValue::String("1985-12-31T23:00:00Z".into())],
    );
    c.export(
        &Change::Add {
            object_type: "Employee".into(),
            anchor: Some(Anchor("e2".into())),
            dn: None,
            attributes: a,
        },
        soon(),
    )
    .unwrap();
    assert_eq!(
        rows(
            &db,
            r#"SELECT "Born" FROM "Employees" WHERE "EmployeeId" = 'e2'"#
        ),
        vec!["31.12.1985 18:00"]
    );
    let hired = rows(
        &db,
        r#"SELECT "Hired" FROM "Employees" WHERE "EmployeeId" = 'e2'"#,
    );
    assert!(hired[0].starts_with("2024-07-01 00:30:00"), "{hired:?}");
}

#[test]
fn iana_zone_names_are_refused_with_a_reason() {
    let db = Db::new(Target::Builtin);
    employees_ddl(&db);
    let mut o = ObjectConfig::new("Employee", "Employees", "EmployeeId");
    o.attributes.insert(
        "Title".into(),
        AttributeOverride {
            kind: Some(AttrType::Datetime),
            time_zone: Some("Europe/Berlin".into()),
            ..AttributeOverride::default()
        },
    );
    let err = db.connector(vec![o]).schema(soon()).unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Misconfigured { detail } if detail.contains("IANA")),
        "{err:?}"
    );
}

macro_rules! per_target {
    ($module:ident, $target:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test($target);
                }
            )*
        }
    };
}

per_target!(
    builtin_sqlite,
    crate::common::Target::Builtin,
    [
        custom_sql_runs_in_one_transaction,
        views_are_read_but_not_written,
        zoned_and_formatted_datetimes
    ]
);
#[cfg(feature = "odbc")]
per_target!(
    odbc_postgres,
    crate::common::Target::Postgres,
    [
        custom_sql_runs_in_one_transaction,
        procedures_are_called,
        views_are_read_but_not_written,
        zoned_and_formatted_datetimes
    ]
);
#[cfg(feature = "odbc")]
per_target!(
    odbc_mariadb,
    crate::common::Target::MariaDb,
    [
        custom_sql_runs_in_one_transaction,
        procedures_are_called,
        views_are_read_but_not_written,
        zoned_and_formatted_datetimes
    ]
);
