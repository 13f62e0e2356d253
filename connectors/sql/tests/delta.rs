//! Delta imports beyond the conformance suite: integer and timestamp watermarks with soft
//! deletes and child-table changes moving the parent's watermark through a trigger, the safety
//! lag of timestamp watermarks, and history-table housekeeping after the host committed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use connector_core::conformance::{BUDGET, soon};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Db, Target, s, users_with_history};
use connector_core::import::collect_all;
use connector_core::{
    Anchor, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError,
    ConnectorObject, ImportItem, Watermark,
};
use connector_sql::{
    AfterRead, DeltaConfig, MultiValuedConfig, ObjectConfig, SqlConnector, WatermarkConfig,
    WatermarkKind,
};

/// What a delta import returned: upserts by anchor, deleted anchors, and the new watermark.
struct Delta {
    upserts: BTreeMap<String, ConnectorObject>,
    deletes: BTreeSet<String>,
    watermark: Watermark,
}

fn delta(c: &SqlConnector, object_type: &str, since: &Watermark, page_size: usize) -> Delta {
    let mut stream = c
        .delta_import(object_type, since, page_size, soon())
        .unwrap();
    let mut upserts = BTreeMap::new();
    let mut deletes = BTreeSet::new();
    for item in collect_all(stream.as_mut(), BUDGET).unwrap() {
        match item {
            ImportItem::Upsert(o) => {
                upserts.insert(o.anchor.0.clone(), o);
            }
            ImportItem::Delete { anchor, .. } => {
                deletes.insert(anchor.0);
            }
        }
    }
    Delta {
        upserts,
        deletes,
        watermark: stream.watermark().unwrap(),
    }
}

/// A full import: the anchors read and the watermark to start deltas from.
fn full(c: &SqlConnector, object_type: &str) -> (BTreeSet<String>, Watermark) {
    let mut stream = c.full_import(object_type, 2, soon()).unwrap();
    let anchors = collect_all(stream.as_mut(), BUDGET)
        .unwrap()
        .into_iter()
        .map(|i| match i {
            ImportItem::Upsert(o) => o.anchor.0,
            other => panic!("a full import reported {other:?}"),
        })
        .collect();
    (anchors, stream.watermark().unwrap())
}

fn add(c: &SqlConnector, id: &str, name: &str, phones: &[&str]) {
    let mut a = Attributes::new();
    a.insert("id".into(), s(id));
    a.insert("name".into(), s(name));
    if !phones.is_empty() {
        a.insert(
            "phones".into(),
            phones
                .iter()
                .map(|p| AttrValue::String((*p).into()))
                .collect(),
        );
    }
    c.export(
        &Change::Add {
            object_type: "Person".into(),
            anchor: Some(Anchor(id.into())),
            dn: None,
            attributes: a,
        },
        soon(),
    )
    .unwrap();
}

fn change(c: &SqlConnector, id: &str, changes: Vec<AttributeChange>) {
    c.export(
        &Change::Update {
            object_type: "Person".into(),
            anchor: Anchor(id.into()),
            new_dn: None,
            changes,
        },
        soon(),
    )
    .unwrap();
}

fn delete(c: &SqlConnector, id: &str) -> Result<(), ConnectorError> {
    c.export(
        &Change::Delete {
            object_type: "Person".into(),
            anchor: Anchor(id.into()),
        },
        soon(),
    )
    .map(drop)
}

fn keys<V>(m: &BTreeMap<String, V>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// People with an integer version column kept by triggers from a counter (SQLite) or a
/// sequence (PostgreSQL), a soft-delete flag, and phones in a child table whose triggers move
/// the parent's version.
fn people(db: &Db) -> ObjectConfig {
    let ddl: Vec<&str> = match db.target {
        #[cfg(feature = "odbc")]
        Target::Postgres => vec![
            r#"CREATE SEQUENCE "people_ver""#,
            r#"CREATE TABLE "People" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64), "ver" BIGINT, "IsDeleted" BOOLEAN NOT NULL DEFAULT FALSE)"#,
            r#"CREATE TABLE "PersonPhones" ("personId" VARCHAR(64) NOT NULL REFERENCES "People" ("id"), "phone" VARCHAR(32) NOT NULL)"#,
            r#"CREATE FUNCTION "people_ver"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW."ver" := nextval('people_ver'); RETURN NEW; END $$"#,
            r#"CREATE TRIGGER "people_ver" BEFORE INSERT OR UPDATE ON "People" FOR EACH ROW EXECUTE FUNCTION "people_ver"()"#,
            r#"CREATE FUNCTION "phones_touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE "People" SET "ver" = 0 WHERE "id" = CASE WHEN TG_OP = 'DELETE' THEN OLD."personId" ELSE NEW."personId" END; RETURN NULL; END $$"#,
            r#"CREATE TRIGGER "phones_touch" AFTER INSERT OR DELETE ON "PersonPhones" FOR EACH ROW EXECUTE FUNCTION "phones_touch"()"#,
        ],
        _ => vec![
            r#"CREATE TABLE "Counter" ("n" INTEGER NOT NULL)"#,
            r#"INSERT INTO "Counter" VALUES (0)"#,
            r#"CREATE TABLE "People" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64), "ver" INTEGER, "IsDeleted" BOOLEAN NOT NULL DEFAULT 0)"#,
            r#"CREATE TABLE "PersonPhones" ("personId" VARCHAR(64) NOT NULL REFERENCES "People" ("id"), "phone" VARCHAR(32) NOT NULL)"#,
            r#"CREATE TRIGGER "people_ai" AFTER INSERT ON "People" BEGIN UPDATE "Counter" SET "n" = "n" + 1; UPDATE "People" SET "ver" = (SELECT "n" FROM "Counter") WHERE "id" = NEW."id"; END"#,
            r#"CREATE TRIGGER "people_au" AFTER UPDATE OF "name", "IsDeleted" ON "People" BEGIN UPDATE "Counter" SET "n" = "n" + 1; UPDATE "People" SET "ver" = (SELECT "n" FROM "Counter") WHERE "id" = NEW."id"; END"#,
            r#"CREATE TRIGGER "phones_ai" AFTER INSERT ON "PersonPhones" BEGIN UPDATE "Counter" SET "n" = "n" + 1; UPDATE "People" SET "ver" = (SELECT "n" FROM "Counter") WHERE "id" = NEW."personId"; END"#,
            r#"CREATE TRIGGER "phones_ad" AFTER DELETE ON "PersonPhones" BEGIN UPDATE "Counter" SET "n" = "n" + 1; UPDATE "People" SET "ver" = (SELECT "n" FROM "Counter") WHERE "id" = OLD."personId"; END"#,
        ],
    };
    for stmt in ddl {
        db.exec(stmt);
    }
    let mut o = ObjectConfig::new("Person", "People", "id");
    o.exclude = vec!["ver".into(), "IsDeleted".into()];
    o.soft_delete = Some("IsDeleted".into());
    o.multivalued.push(MultiValuedConfig::new(
        "phones",
        "PersonPhones",
        "personId",
        "phone",
    ));
    o.delta = Some(DeltaConfig::Watermark(WatermarkConfig {
        column: "ver".into(),
        kind: None,
        safety_lag: Duration::from_secs(5),
    }));
    o
}

fn integer_watermark_with_soft_delete(target: Target) {
    let db = Db::new(target);
    let c = db.connector(vec![people(&db)]);
    assert!(c.capabilities().delta_import);
    add(&c, "p1", "Ann", &[]);
    add(&c, "p2", "Bob", &["111"]);
    add(&c, "p3", "Cid", &[]);
    add(&c, "p4", "Dee", &[]);
    let (anchors, w0) = full(&c, "Person");
    assert_eq!(anchors, set(&["p1", "p2", "p3", "p4"]));

    // Nothing changed: an empty delta, and the watermark does not move back.
    let d = delta(&c, "Person", &w0, 10);
    assert!(d.upserts.is_empty() && d.deletes.is_empty());
    assert_eq!(d.watermark, w0);

    add(&c, "p5", "Eve", &[]);
    change(
        &c,
        "p1",
        vec![AttributeChange::Replace {
            name: "name".into(),
            values: s("Ann B."),
        }],
    );
    // Only a child row changes: the trigger moves the parent's watermark.
    change(
        &c,
        "p2",
        vec![AttributeChange::Add {
            name: "phones".into(),
            values: s("222"),
        }],
    );
    delete(&c, "p3").unwrap();
    let d = delta(&c, "Person", &w0, 1);
    assert_eq!(keys(&d.upserts), vec!["p1", "p2", "p5"]);
    assert_eq!(d.upserts["p1"].values("name"), s("Ann B.").as_slice());
    let mut phones: Vec<String> = d.upserts["p2"]
        .values("phones")
        .iter()
        .map(AttrValue::to_text)
        .collect();
    phones.sort();
    assert_eq!(phones, vec!["111", "222"]);
    assert_eq!(d.deletes, set(&["p3"]));

    // The next run starts strictly after: nothing is reported twice.
    let again = delta(&c, "Person", &d.watermark, 10);
    assert!(again.upserts.is_empty() && again.deletes.is_empty());

    // A soft-deleted row is gone for full imports and for further exports…
    let (anchors, _) = full(&c, "Person");
    assert_eq!(anchors, set(&["p1", "p2", "p4", "p5"]));
    assert!(matches!(
        delete(&c, "p3"),
        Err(ConnectorError::NotFound { .. })
    ));
    // …and its anchor can be added again, which a delta reports as an upsert.
    add(&c, "p3", "Cid again", &["333"]);
    let d2 = delta(&c, "Person", &d.watermark, 10);
    assert_eq!(keys(&d2.upserts), vec!["p3"]);
    assert!(d2.deletes.is_empty());
}

fn timestamp_watermark_respects_the_safety_lag(target: Target) {
    let db = Db::new(target);
    db.exec(r#"CREATE TABLE "People" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64), "changed" VARCHAR(32) NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))"#);
    db.exec(r#"CREATE TRIGGER "people_au" AFTER UPDATE OF "name" ON "People" BEGIN UPDATE "People" SET "changed" = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE "id" = NEW."id"; END"#);
    let object = |lag: u64| {
        let mut o = ObjectConfig::new("Person", "People", "id");
        o.delta = Some(DeltaConfig::Watermark(WatermarkConfig {
            column: "changed".into(),
            kind: Some(WatermarkKind::Timestamp),
            safety_lag: Duration::from_secs(lag),
        }));
        o
    };
    // An hour of lag: a change made now is not read yet, and the watermark stays before it.
    let cautious = db.connector(vec![object(3600)]);
    let (_, w0) = full(&cautious, "Person");
    add(&cautious, "p1", "Ann", &[]);
    let d = delta(&cautious, "Person", &w0, 10);
    assert!(
        d.upserts.is_empty(),
        "a change inside the safety lag was read"
    );
    // Without lag, a run from that watermark reads it: it was deferred, not skipped.
    let eager = db.connector(vec![object(0)]);
    let d = delta(&eager, "Person", &d.watermark, 10);
    assert_eq!(keys(&d.upserts), vec!["p1"]);
    let again = delta(&eager, "Person", &d.watermark, 10);
    assert!(again.upserts.is_empty());
}

fn history_rows_go_only_after_the_host_committed(target: Target) {
    let db = Db::new(target);
    let mut users = users_with_history(&db);
    if let Some(DeltaConfig::Table(t)) = &mut users.delta {
        t.after_read = AfterRead::Delete;
    }
    let c = db.connector(vec![users]);
    let user = |i: usize| {
        c.export(
            &Change::Add {
                object_type: "User".into(),
                anchor: Some(Anchor(format!("u{i:04}"))),
                dn: None,
                attributes: common::user_sample(i),
            },
            soon(),
        )
        .unwrap()
    };
    let count = || {
        db.strings(r#"SELECT COUNT(*) FROM "UserChanges""#)[0]
            .clone()
            .unwrap()
    };
    user(1);
    let mut stream = c.full_import("User", 10, soon()).unwrap();
    collect_all(stream.as_mut(), BUDGET).unwrap();
    let w0 = stream.watermark().unwrap();
    drop(stream);
    user(2);
    user(3);
    let d1 = delta(&c, "User", &w0, 1);
    assert_eq!(keys(&d1.upserts), vec!["u0002", "u0003"]);
    // The first delta removed only what the full import's watermark covers.
    assert_eq!(count(), "2");
    // Had the host crashed before committing d1, running from w0 again still finds both.
    let retry = delta(&c, "User", &w0, 10);
    assert_eq!(keys(&retry.upserts), vec!["u0002", "u0003"]);
    let d2 = delta(&c, "User", &d1.watermark, 10);
    assert!(d2.upserts.is_empty() && d2.deletes.is_empty());
    assert_eq!(count(), "0");
    // The watermark survives an emptied history table, so old sequences are never reread.
    assert_eq!(d2.watermark, d1.watermark);
}

#[test]
fn a_foreign_or_mismatched_watermark_asks_for_a_full_import() {
    let db = Db::new(Target::Builtin);
    let c = db.connector(vec![people(&db)]);
    for bad in ["cookie", "sql1:seq:4"] {
        let err = c
            .delta_import("Person", &Watermark(bad.into()), 10, soon())
            .err()
            .unwrap();
        assert!(
            matches!(&err, ConnectorError::ResyncRequired { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn without_a_strategy_there_is_no_delta_capability() {
    let db = Db::new(Target::Builtin);
    common::create_users(&db);
    let c = db.connector(vec![common::users_object()]);
    assert!(!c.capabilities().delta_import);
    let mut stream = c.full_import("User", 10, soon()).unwrap();
    collect_all(stream.as_mut(), BUDGET).unwrap();
    assert_eq!(stream.watermark(), None);
}

mod builtin_sqlite {
    use super::*;
    #[test]
    fn integer_watermark_with_soft_delete() {
        super::integer_watermark_with_soft_delete(Target::Builtin);
    }
    #[test]
    fn timestamp_watermark_respects_the_safety_lag() {
        super::timestamp_watermark_respects_the_safety_lag(Target::Builtin);
    }
    #[test]
    fn history_rows_go_only_after_the_host_committed() {
        super::history_rows_go_only_after_the_host_committed(Target::Builtin);
    }
}

#[cfg(feature = "odbc")]
mod odbc_postgres {
    use super::*;
    #[test]
    fn integer_watermark_with_soft_delete() {
        super::integer_watermark_with_soft_delete(Target::Postgres);
    }
    #[test]
    fn history_rows_go_only_after_the_host_committed() {
        super::history_rows_go_only_after_the_host_committed(Target::Postgres);
    }
}

#[cfg(feature = "odbc")]
mod odbc_mariadb {
    use super::*;
    #[test]
    fn history_rows_go_only_after_the_host_committed() {
        super::history_rows_go_only_after_the_host_committed(Target::MariaDb);
    }
}
