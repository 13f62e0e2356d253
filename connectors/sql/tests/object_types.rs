//! Object types read from a column of one shared table (`type_column` with `types` or
//! `types_query`): discovery, imports and exports restricted to each type's rows, and delta
//! imports reporting changes under the row's type, on the built-in SQLite, PostgreSQL and
//! MariaDB.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use connector_core::conformance::{BUDGET, soon};
use std::collections::BTreeSet;

use common::{Db, Target, s};
use connector_core::import::collect_all;
use connector_core::{
    Anchor, AttributeChange, Attributes, Change, Connector, ConnectorError, ImportItem, Watermark,
};
use connector_sql::{
    AfterRead, ChangeValues, DeltaConfig, DeltaTableConfig, MultiValuedConfig, ObjectConfig,
    SqlConnector, WatermarkConfig,
};

/// A `Directory` table of users and contacts told apart by `ObjectKind`, with a history table
/// the tests fill by hand and a shared child table of phones.
fn directory_db(target: Target) -> Db {
    let db = Db::new(target);
    db.exec(
        r#"CREATE TABLE "Directory" ("id" VARCHAR(64) NOT NULL PRIMARY KEY, "ObjectKind" VARCHAR(32) NOT NULL, "name" VARCHAR(128), "ver" INTEGER)"#,
    );
    db.exec(
        r#"CREATE TABLE "DirChanges" ("seq" INTEGER NOT NULL PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
    );
    db.exec(
        r#"CREATE TABLE "DirPhones" ("ownerId" VARCHAR(64) NOT NULL, "phone" VARCHAR(32) NOT NULL)"#,
    );
    db.exec(
        r#"INSERT INTO "Directory" ("id", "ObjectKind", "name", "ver") VALUES ('u1', 'User', 'Ann', 1), ('c1', 'Contact', 'Carl', 2), ('u2', 'User', 'Bob', 3)"#,
    );
    db
}

/// The `[[object]]` of `Directory` with types from a list.
fn listed() -> ObjectConfig {
    let mut o = ObjectConfig::new("", "Directory", "id");
    o.type_column = Some("ObjectKind".into());
    o.types = vec!["User".into(), "Contact".into()];
    o
}

/// The same with types from a query.
fn queried(db: &Db) -> ObjectConfig {
    let mut o = ObjectConfig::new("", "Directory", "id");
    o.type_column = Some("ObjectKind".into());
    o.types_query = Some(db.adapt(r#"SELECT DISTINCT "ObjectKind" FROM "Directory""#));
    o
}

fn names(c: &SqlConnector) -> BTreeSet<String> {
    c.schema(soon())
        .unwrap()
        .object_types
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Full import of `object_type`: the anchors read, each checked to carry that type.
fn full(c: &SqlConnector, object_type: &str) -> BTreeSet<String> {
    let mut stream = c.full_import(object_type, 2, soon()).unwrap();
    collect_all(stream.as_mut(), BUDGET)
        .unwrap()
        .into_iter()
        .map(|i| match i {
            ImportItem::Upsert(o) => {
                assert_eq!(o.object_type, object_type, "{o:?}");
                assert!(o.first("ObjectKind").is_none(), "{o:?}");
                o.anchor.0
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn add(c: &SqlConnector, object_type: &str, id: &str, name: &str) {
    let mut a = Attributes::new();
    a.insert("id".into(), s(id));
    a.insert("name".into(), s(name));
    c.export(
        &Change::Add {
            object_type: object_type.into(),
            anchor: Some(Anchor(id.into())),
            dn: None,
            attributes: a,
        },
        soon(),
    )
    .unwrap();
}

fn rename(c: &SqlConnector, object_type: &str, id: &str, name: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Update {
            object_type: object_type.into(),
            anchor: Anchor(id.into()),
            new_dn: None,
            changes: vec![AttributeChange::Replace {
                name: "name".into(),
                values: s(name),
            }],
        },
        soon(),
    )
    .map(drop)
}

fn remove(c: &SqlConnector, object_type: &str, id: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Delete {
            object_type: object_type.into(),
            anchor: Anchor(id.into()),
        },
        soon(),
    )
    .map(drop)
}

fn discovery_lists_each_type(target: Target) {
    let db = directory_db(target);
    for object in [listed(), queried(&db)] {
        let c = db.connector(vec![object]);
        assert_eq!(names(&c), set(&["User", "Contact"]));
        let schema = c.schema(soon()).unwrap();
        for t in &schema.object_types {
            assert_eq!(t.anchor_attribute, "id");
            let attrs: BTreeSet<String> = t.attributes.iter().map(|a| a.name.clone()).collect();
            assert_eq!(attrs, set(&["id", "name", "ver"]), "{}", t.name);
        }
    }
}

fn imports_and_exports_keep_to_their_type(target: Target) {
    let db = directory_db(target);
    let c = db.connector(vec![queried(&db)]);
    assert_eq!(full(&c, "User"), set(&["u1", "u2"]));
    assert_eq!(full(&c, "Contact"), set(&["c1"]));

    add(&c, "User", "u3", "Cid");
    add(&c, "Contact", "c3", "Dee");
    let kind = |id: &str| {
        db.strings(&format!(
            r#"SELECT "ObjectKind" FROM "Directory" WHERE "id" = '{id}'"#
        ))
    };
    assert_eq!(kind("u3"), vec![Some("User".to_owned())]);
    assert_eq!(kind("c3"), vec![Some("Contact".to_owned())]);
    assert_eq!(full(&c, "User"), set(&["u1", "u2", "u3"]));
    assert_eq!(full(&c, "Contact"), set(&["c1", "c3"]));

    // An anchor of another type is not found, and its row is left alone.
    let err = rename(&c, "User", "c1", "Mallory").unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
    let err = remove(&c, "User", "c1").unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
    assert_eq!(
        db.strings(r#"SELECT "name" FROM "Directory" WHERE "id" = 'c1'"#),
        vec![Some("Carl".to_owned())]
    );
    // Its own type reaches it.
    rename(&c, "Contact", "c1", "Carla").unwrap();
    assert_eq!(
        db.strings(r#"SELECT "name" FROM "Directory" WHERE "id" = 'c1'"#),
        vec![Some("Carla".to_owned())]
    );
    remove(&c, "Contact", "c1").unwrap();
    assert_eq!(full(&c, "Contact"), set(&["c3"]));
    assert_eq!(full(&c, "User"), set(&["u1", "u2", "u3"]));
}

/// A delta import's items as `Upsert anchor` / `Delete anchor`, each checked to carry the type.
fn delta(c: &SqlConnector, object_type: &str, since: &Watermark) -> (BTreeSet<String>, Watermark) {
    let mut stream = c.delta_import(object_type, since, 10, soon()).unwrap();
    let items = collect_all(stream.as_mut(), BUDGET).unwrap();
    let seen = items
        .into_iter()
        .map(|i| match i {
            ImportItem::Upsert(o) => {
                assert_eq!(o.object_type, object_type, "{o:?}");
                format!("Upsert {}", o.anchor)
            }
            ImportItem::Delete {
                object_type: t,
                anchor,
            } => {
                assert_eq!(t, object_type);
                format!("Delete {anchor}")
            }
        })
        .collect();
    (seen, stream.watermark().unwrap())
}

fn full_mark(c: &SqlConnector, object_type: &str) -> Watermark {
    let mut stream = c.full_import(object_type, 10, soon()).unwrap();
    collect_all(stream.as_mut(), BUDGET).unwrap();
    stream.watermark().unwrap()
}

fn watermark_deltas_report_each_type(target: Target) {
    let db = directory_db(target);
    let mut o = listed();
    o.delta = Some(DeltaConfig::Watermark(WatermarkConfig {
        column: "ver".into(),
        kind: None,
        safety_lag: std::time::Duration::ZERO,
    }));
    let c = db.connector(vec![o]);
    let users = full_mark(&c, "User");
    let contacts = full_mark(&c, "Contact");
    db.exec(
        r#"INSERT INTO "Directory" ("id", "ObjectKind", "name", "ver") VALUES ('u9', 'User', 'New', 10), ('c9', 'Contact', 'New', 11)"#,
    );
    db.exec(r#"UPDATE "Directory" SET "name" = 'Bo', "ver" = 12 WHERE "id" = 'u2'"#);
    assert_eq!(
        delta(&c, "User", &users).0,
        set(&["Upsert u2", "Upsert u9"])
    );
    assert_eq!(delta(&c, "Contact", &contacts).0, set(&["Upsert c9"]));
}

fn history_deltas_report_each_type(target: Target) {
    let db = directory_db(target);
    let mut o = listed();
    o.delta = Some(DeltaConfig::Table(DeltaTableConfig {
        table: "DirChanges".into(),
        anchor_column: "anchor".into(),
        change_column: "op".into(),
        sequence_column: "seq".into(),
        change_values: ChangeValues::default(),
        after_read: AfterRead::Keep,
    }));
    let c = db.connector(vec![o]);
    let users = full_mark(&c, "User");
    let contacts = full_mark(&c, "Contact");
    db.exec(
        r#"INSERT INTO "Directory" ("id", "ObjectKind", "name") VALUES ('u9', 'User', 'New'), ('c9', 'Contact', 'New')"#,
    );
    db.exec(r#"DELETE FROM "Directory" WHERE "id" = 'u1'"#);
    db.exec(
        r#"INSERT INTO "DirChanges" ("seq", "anchor", "op") VALUES (1, 'u9', 'A'), (2, 'c9', 'A'), (3, 'u1', 'D')"#,
    );
    // Each type reads its own rows as upserts; an anchor that is no row of the type (another
    // type's, or gone) is a delete of that type, which the host ignores when it never had it.
    let (user_items, users) = delta(&c, "User", &users);
    assert_eq!(user_items, set(&["Upsert u9", "Delete c9", "Delete u1"]));
    let (contact_items, _) = delta(&c, "Contact", &contacts);
    assert_eq!(contact_items, set(&["Delete u9", "Upsert c9", "Delete u1"]));
    // A row changing type is a delete of the old type and an upsert of the new one.
    db.exec(r#"UPDATE "Directory" SET "ObjectKind" = 'Contact' WHERE "id" = 'u9'"#);
    db.exec(r#"INSERT INTO "DirChanges" ("seq", "anchor", "op") VALUES (4, 'u9', 'U')"#);
    assert_eq!(delta(&c, "User", &users).0, set(&["Delete u9"]));
}

fn misconfigurations_are_clear(target: Target) {
    let db = directory_db(target);
    let check = |object: ObjectConfig, expected: &str| {
        let c = db.connector(vec![object]);
        let err = c.test_connection(soon()).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Misconfigured { detail } if detail.contains(expected)),
            "{expected}: {err:?}"
        );
    };
    let with_query = |q: &str| {
        let mut o = listed();
        o.types = Vec::new();
        o.types_query = Some(db.adapt(q));
        o
    };
    check(
        with_query(r#"SELECT "ObjectKind" FROM "Directory" WHERE "id" = 'nobody'"#),
        "no type name",
    );
    check(with_query(r#"SELECT NULL AS "k" FROM "Directory""#), "NULL");
    check(
        with_query(r#"SELECT "ObjectKind", "id" FROM "Directory""#),
        "one column",
    );
    check(
        with_query(r#"SELECT "ObjectKind" FROM "Directory""#),
        "configured twice",
    );
    let mut both = listed();
    both.object_type = "User".into();
    check(both, "not both");
    let mut both = listed();
    both.types_query = Some("SELECT 'User'".into());
    check(both, "either types or types_query");
    let mut neither = listed();
    neither.types = Vec::new();
    check(neither, "needs types");
    let mut missing = listed();
    missing.type_column = Some("Kind".into());
    check(missing, "type column Kind");
    let mut no_column = ObjectConfig::new("User", "Directory", "id");
    no_column.types = vec!["User".into()];
    check(no_column, "need a type_column");
    let mut clash = listed();
    clash.types = vec!["Contact".into()];
    let c = db.connector(vec![
        clash,
        ObjectConfig::new("contact", "DirPhones", "ownerId"),
    ]);
    let err = c.schema(soon()).unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Misconfigured { detail } if detail.contains("configured twice")),
        "{err:?}"
    );
}

/// Runs the same tests on every database this crate is tested against.
macro_rules! on_every_database {
    ($($name:ident),* $(,)?) => {
        mod builtin {
            $(#[test] fn $name() { super::$name(super::Target::Builtin) })*
        }
        #[cfg(feature = "odbc")]
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Target::Postgres) })*
        }
        #[cfg(feature = "odbc")]
        mod mariadb {
            $(#[test] fn $name() { super::$name(super::Target::MariaDb) })*
        }
    };
}

on_every_database!(
    discovery_lists_each_type,
    imports_and_exports_keep_to_their_type,
    watermark_deltas_report_each_type,
    history_deltas_report_each_type,
    misconfigurations_are_clear,
);

/// The connector conformance suite for the `Contact` type of a table also holding users (which
/// it must never see or touch), with phones in a shared child table.
mod conformance {
    use super::*;

    fn setup() -> connector_core::conformance::Fixture {
        let db = directory_db(Target::Builtin);
        let mut o = listed();
        o.multivalued.push(MultiValuedConfig::new(
            "phones",
            "DirPhones",
            "ownerId",
            "phone",
        ));
        o.exclude = vec!["ver".into()];
        let connector = db.connector(vec![o]);
        // The conformance suite starts from an empty type: drop the seeded contact.
        db.exec(r#"DELETE FROM "Directory" WHERE "ObjectKind" = 'Contact'"#);
        let mut f = connector_core::conformance::Fixture::new(
            Box::new(connector),
            "Contact",
            |i| {
                let mut a = Attributes::new();
                a.insert("id".into(), s(&format!("c{i:04}")));
                a.insert("name".into(), s(&format!("Contact {i}")));
                a
            },
            "name",
            db.into_keep(),
        );
        f.multi_valued_attribute = Some("phones".into());
        f
    }
    connector_core::conformance_tests!(setup);
}

/// With configured statements, a placeholder named like the type column binds the type.
#[test]
fn custom_statements_bind_the_type() {
    let db = directory_db(Target::Builtin);
    let mut o = listed();
    o.export = Some(connector_sql::ExportConfig::Sql(connector_sql::SqlExport {
        add: vec![
            r#"INSERT INTO "Directory" ("id", "ObjectKind", "name") VALUES (@id, @ObjectKind, @name)"#
                .into(),
        ],
        update: Vec::new(),
        delete: vec![r#"DELETE FROM "Directory" WHERE "id" = @anchor"#.into()],
    }));
    let c = db.connector(vec![o]);
    add(&c, "Contact", "c5", "Eve");
    assert_eq!(
        db.strings(r#"SELECT "ObjectKind" FROM "Directory" WHERE "id" = 'c5'"#),
        vec![Some("Contact".to_owned())]
    );
    // The current row is read as the type first, so another type's anchor is not found.
    let err = remove(&c, "User", "c5").unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
    assert_eq!(full(&c, "Contact"), set(&["c1", "c5"]));
}
