//! Behaviour beyond the conformance suite, on every database: groups and memberships as
//! references, DNs, type conversion, awkward identifiers, SQL injection, and how driver errors
//! are classified.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use connector_core::conformance::{BUDGET, soon};
use std::collections::BTreeMap;

use common::{Db, Target, create_users, s, user_sample, users_object};
use connector_core::import::collect_all;
use connector_core::{
    Anchor, AttrKind, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError,
    ConnectorObject, Direction, DnStyle, ImportItem,
};
use connector_sql::{
    AttrType, AttributeOverride, DirectionName, DnConfig, MultiValuedConfig, ObjectConfig,
    SqlConnector,
};
use time::macros::datetime;

fn import(
    c: &SqlConnector,
    object_type: &str,
    page_size: usize,
) -> BTreeMap<String, ConnectorObject> {
    let mut stream = c.full_import(object_type, page_size, soon()).unwrap();
    collect_all(stream.as_mut(), BUDGET)
        .unwrap()
        .into_iter()
        .map(|i| match i {
            ImportItem::Upsert(o) => (o.anchor.0.clone(), o),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn add(
    c: &SqlConnector,
    object_type: &str,
    anchor: &str,
    attributes: Attributes,
) -> Result<connector_core::ExportOutcome, ConnectorError> {
    c.export(
        &Change::Add {
            object_type: object_type.into(),
            anchor: Some(Anchor(anchor.into())),
            dn: None,
            attributes,
        },
        soon(),
    )
}

fn update(
    c: &SqlConnector,
    object_type: &str,
    anchor: &str,
    changes: Vec<AttributeChange>,
) -> Result<connector_core::ExportOutcome, ConnectorError> {
    c.export(
        &Change::Update {
            object_type: object_type.into(),
            anchor: Anchor(anchor.into()),
            new_dn: None,
            changes,
        },
        soon(),
    )
}

fn refs(values: &[&str]) -> Vec<AttrValue> {
    values
        .iter()
        .map(|v| AttrValue::Reference((*v).into()))
        .collect()
}

fn sorted_text(values: &[AttrValue]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(AttrValue::to_text).collect();
    v.sort();
    v
}

/// Groups with a membership table whose members reference Users.
fn group_setup(db: &Db) -> SqlConnector {
    create_users(db);
    db.exec(r#"CREATE TABLE "Groups" ("GroupId" VARCHAR(64) NOT NULL PRIMARY KEY, "displayName" VARCHAR(128))"#);
    db.exec(r#"CREATE TABLE "GroupMembers" ("GroupId" VARCHAR(64) NOT NULL REFERENCES "Groups" ("GroupId"), "MemberId" VARCHAR(64) NOT NULL REFERENCES "Users" ("id"), PRIMARY KEY ("GroupId", "MemberId"))"#);
    let mut groups = ObjectConfig::new("Group", "Groups", "GroupId");
    let mut members = MultiValuedConfig::new("members", "GroupMembers", "GroupId", "MemberId");
    members.kind = AttrType::Reference;
    groups.multivalued.push(members);
    db.connector(vec![users_object(), groups])
}

fn groups_and_members_round_trip(target: Target) {
    let db = Db::new(target);
    let c = group_setup(&db);
    for i in 1..=3 {
        add(&c, "User", &format!("u{i:04}"), user_sample(i)).unwrap();
    }
    let schema = c.schema(soon()).unwrap();
    let members = schema
        .object_type("Group")
        .unwrap()
        .attribute("members")
        .unwrap();
    assert_eq!(members.kind, AttrKind::Reference);
    assert!(members.multi_valued);

    let mut attrs = Attributes::new();
    attrs.insert("displayName".into(), s("Admins"));
    attrs.insert("members".into(), refs(&["u0001", "u0002"]));
    add(&c, "Group", "g1", attrs).unwrap();
    let groups = import(&c, "Group", 10);
    let mut got = groups["g1"].values("members").to_vec();
    got.sort_by_key(AttrValue::to_text);
    assert_eq!(
        got,
        refs(&["u0001", "u0002"]),
        "members come back as references"
    );

    update(
        &c,
        "Group",
        "g1",
        vec![
            AttributeChange::Remove {
                name: "members".into(),
                values: refs(&["u0001"]),
            },
            AttributeChange::Add {
                name: "members".into(),
                values: refs(&["u0003", "u0002"]),
            },
        ],
    )
    .unwrap();
    let groups = import(&c, "Group", 10);
    assert_eq!(
        sorted_text(groups["g1"].values("members")),
        vec!["u0002", "u0003"]
    );

    // A member that is no user violates the foreign key: rejected, and nothing changes.
    let err = update(
        &c,
        "Group",
        "g1",
        vec![AttributeChange::Add {
            name: "members".into(),
            values: refs(&["nobody"]),
        }],
    )
    .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let groups = import(&c, "Group", 10);
    assert_eq!(
        sorted_text(groups["g1"].values("members")),
        vec!["u0002", "u0003"]
    );

    c.export(
        &Change::Delete {
            object_type: "Group".into(),
            anchor: Anchor("g1".into()),
        },
        soon(),
    )
    .unwrap();
    assert_eq!(
        db.strings(r#"SELECT COUNT(*) FROM "GroupMembers""#),
        vec![Some("0".to_owned())]
    );
    assert!(import(&c, "Group", 10).is_empty());
}

fn shared_attribute_table(target: Target) {
    let db = Db::new(target);
    db.exec(r#"CREATE TABLE "People" ("id" VARCHAR(64) NOT NULL PRIMARY KEY)"#);
    db.exec(r#"CREATE TABLE "PeopleValues" ("id" VARCHAR(64) NOT NULL, "attr" VARCHAR(64) NOT NULL, "val" VARCHAR(191) NOT NULL)"#);
    let mut o = ObjectConfig::new("Person", "People", "id");
    for name in ["phones", "aliases"] {
        let mut m = MultiValuedConfig::new(name, "PeopleValues", "id", "val");
        m.attribute_column = Some("attr".into());
        o.multivalued.push(m);
    }
    let c = db.connector(vec![o]);
    let mut attrs = Attributes::new();
    attrs.insert("phones".into(), vec!["1".into(), "2".into()]);
    attrs.insert("aliases".into(), vec!["a".into()]);
    add(&c, "Person", "p1", attrs).unwrap();
    update(
        &c,
        "Person",
        "p1",
        vec![AttributeChange::Clear {
            name: "phones".into(),
        }],
    )
    .unwrap();
    let people = import(&c, "Person", 10);
    assert!(people["p1"].values("phones").is_empty());
    assert_eq!(sorted_text(people["p1"].values("aliases")), vec!["a"]);
}

fn dns_are_generated_or_read_from_a_column(target: Target) {
    let db = Db::new(target);
    create_users(&db);
    db.exec(
        r#"CREATE TABLE "Groups" ("GroupId" VARCHAR(64) NOT NULL PRIMARY KEY, "DN" VARCHAR(256))"#,
    );
    let mut users = users_object();
    users.dn = Some(DnConfig::Autogenerated);
    let mut groups = ObjectConfig::new("Group", "Groups", "GroupId");
    groups.dn = Some(DnConfig::Column("DN".into()));
    let c = db.connector(vec![users, groups]);
    let schema = c.schema(soon()).unwrap();
    assert_eq!(
        schema.object_type("User").unwrap().dn_style,
        DnStyle::Generic
    );
    assert!(
        schema
            .object_type("Group")
            .unwrap()
            .attribute("DN")
            .is_none(),
        "the DN column is not an attribute"
    );

    let out = add(&c, "User", "u0001", user_sample(1)).unwrap();
    assert_eq!(out.dn.as_deref(), Some("CN=u0001,OBJECT=USER"));
    assert_eq!(
        import(&c, "User", 10)["u0001"].dn.as_deref(),
        Some("CN=u0001,OBJECT=USER")
    );

    // A generated DN follows from the anchor: an add naming another DN is refused, not
    // silently given the generated one; the generated one itself is fine.
    let with_dn = |anchor: &str, dn: &str| Change::Add {
        object_type: "User".into(),
        anchor: Some(Anchor(anchor.into())),
        dn: Some(dn.into()),
        attributes: user_sample(2),
    };
    let err = c
        .export(&with_dn("u0002", "CN=Someone Else,OU=People"), soon())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert!(err.detail().contains("CN=u0002,OBJECT=USER"), "{err}");
    assert!(
        !import(&c, "User", 10).contains_key("u0002"),
        "nothing written"
    );
    c.export(&with_dn("u0002", "cn=u0002,object=user"), soon())
        .unwrap();

    let out = c
        .export(
            &Change::Add {
                object_type: "Group".into(),
                anchor: Some(Anchor("g1".into())),
                dn: Some("CN=Admins,OU=Groups".into()),
                attributes: Attributes::new(),
            },
            soon(),
        )
        .unwrap();
    assert_eq!(out.dn.as_deref(), Some("CN=Admins,OU=Groups"));
    assert_eq!(
        import(&c, "Group", 10)["g1"].dn.as_deref(),
        Some("CN=Admins,OU=Groups")
    );
}

fn typed_setup(db: &Db) -> SqlConnector {
    db.exec(r#"CREATE TABLE "Typed" ("id" INTEGER NOT NULL PRIMARY KEY, "age" INTEGER, "active" BOOL_T, "hired" DATETIME_T, "photo" BLOB_T, "note" VARCHAR(64), "secret" VARCHAR(64), "computed" VARCHAR(64) DEFAULT 'x')"#);
    let mut o = ObjectConfig::new("Thing", "Typed", "id");
    o.exclude.push("secret".into());
    o.attributes.insert(
        "computed".into(),
        AttributeOverride {
            direction: Some(DirectionName::Import),
            ..Default::default()
        },
    );
    o.attributes.insert(
        "note".into(),
        AttributeOverride {
            kind: Some(AttrType::Reference),
            ..Default::default()
        },
    );
    if db.is_mariadb() {
        // MariaDB's BOOLEAN is TINYINT(1): discovered as an integer, so say what it means.
        o.attributes.insert(
            "active".into(),
            AttributeOverride {
                kind: Some(AttrType::Boolean),
                ..Default::default()
            },
        );
    }
    db.connector(vec![o])
}

/// A NOT NULL column without a default is required; a nullable one, or one with a default, is
/// not (the host advertises `required` from this).
fn not_null_columns_are_required(target: Target) {
    let db = Db::new(target);
    db.exec(r#"CREATE TABLE "Req" ("id" VARCHAR(16) NOT NULL PRIMARY KEY, "must" VARCHAR(16) NOT NULL, "may" VARCHAR(16), "dflt" VARCHAR(16) DEFAULT 'x' NOT NULL)"#);
    let c = db.connector(vec![ObjectConfig::new("Thing", "Req", "id")]);
    let schema = c.schema(soon()).unwrap();
    let t = schema.object_type("Thing").unwrap();
    let required = |n: &str| t.attribute(n).unwrap().required;
    assert!(required("id"));
    assert!(required("must"), "NOT NULL without a default");
    assert!(!required("may"));
    assert!(!required("dflt"), "NOT NULL with a default");
}

fn types_are_discovered_and_converted(target: Target) {
    let db = Db::new(target);
    let c = typed_setup(&db);
    let schema = c.schema(soon()).unwrap();
    let t = schema.object_type("Thing").unwrap();
    let kind = |n: &str| t.attribute(n).unwrap().kind;
    assert_eq!(kind("id"), AttrKind::Integer);
    assert_eq!(kind("age"), AttrKind::Integer);
    assert_eq!(kind("active"), AttrKind::Boolean);
    assert_eq!(kind("hired"), AttrKind::DateTime);
    assert_eq!(kind("photo"), AttrKind::Binary);
    assert_eq!(kind("note"), AttrKind::Reference, "override applies");
    assert!(t.attribute("secret").is_none(), "excluded");
    assert_eq!(
        t.attribute("computed").unwrap().direction,
        Direction::Import
    );
    assert!(t.attribute("id").unwrap().required);
    assert!(!t.attribute("age").unwrap().required);

    // Strings for typed columns are accepted when they parse.
    let mut a = Attributes::new();
    a.insert("age".into(), s("42"));
    a.insert("active".into(), s("True"));
    a.insert("hired".into(), s("2024-01-02T03:04:05+01:00"));
    a.insert(
        "photo".into(),
        vec![AttrValue::Binary(vec![0, 1, 254, 255])],
    );
    a.insert("note".into(), vec![AttrValue::Reference("10".into())]);
    add(&c, "Thing", "10", a).unwrap();
    let mut b = Attributes::new();
    b.insert("age".into(), vec![AttrValue::Integer(-7)]);
    b.insert("active".into(), vec![AttrValue::Boolean(false)]);
    b.insert(
        "hired".into(),
        vec![AttrValue::DateTime(datetime!(2020-06-30 23:59:59 UTC))],
    );
    add(&c, "Thing", "9", b).unwrap();
    add(&c, "Thing", "100", Attributes::new()).unwrap();

    // Integer anchors page in numeric order (9 < 10 < 100) one row at a time.
    let all = import(&c, "Thing", 1);
    assert_eq!(all.keys().cloned().collect::<Vec<_>>().len(), 3);
    let ten = &all["10"];
    assert_eq!(ten.values("id"), &[AttrValue::Integer(10)]);
    assert_eq!(ten.values("age"), &[AttrValue::Integer(42)]);
    assert_eq!(ten.values("active"), &[AttrValue::Boolean(true)]);
    assert_eq!(
        ten.values("hired"),
        &[AttrValue::DateTime(datetime!(2024-01-02 2:04:05 UTC))]
    );
    assert_eq!(
        ten.values("photo"),
        &[AttrValue::Binary(vec![0, 1, 254, 255])]
    );
    assert_eq!(ten.values("note"), &[AttrValue::Reference("10".into())]);
    assert_eq!(
        ten.values("computed"),
        &["x".into()],
        "import-only columns are read"
    );
    let nine = &all["9"];
    assert_eq!(nine.values("age"), &[AttrValue::Integer(-7)]);
    assert_eq!(nine.values("active"), &[AttrValue::Boolean(false)]);
    assert_eq!(
        nine.values("hired"),
        &[AttrValue::DateTime(datetime!(2020-06-30 23:59:59 UTC))]
    );
    assert!(all["100"].values("age").is_empty(), "NULL is absent");

    let check_rejected = |changes: Vec<AttributeChange>, needle: &str| {
        let err = update(&c, "Thing", "10", changes).unwrap_err();
        assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
        assert!(
            err.detail().contains(needle),
            "{err:?} should mention {needle}"
        );
    };
    check_rejected(
        vec![AttributeChange::Replace {
            name: "age".into(),
            values: s("forty"),
        }],
        "age",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "active".into(),
            values: s("maybe"),
        }],
        "active",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "hired".into(),
            values: s("soon"),
        }],
        "hired",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "age".into(),
            values: vec![AttrValue::Integer(1), AttrValue::Integer(2)],
        }],
        "single-valued",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "computed".into(),
            values: s("y"),
        }],
        "import-only",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "secret".into(),
            values: s("y"),
        }],
        "secret",
    );
    check_rejected(
        vec![AttributeChange::Replace {
            name: "id".into(),
            values: vec![AttrValue::Integer(11)],
        }],
        "anchor",
    );
    // A whole-object replace sets absent columns to NULL.
    let mut only_age = Attributes::new();
    only_age.insert("age".into(), vec![AttrValue::Integer(1)]);
    c.export(
        &Change::Replace {
            object_type: "Thing".into(),
            anchor: Anchor("10".into()),
            dn: None,
            attributes: only_age,
        },
        soon(),
    )
    .unwrap();
    let ten = &import(&c, "Thing", 10)["10"];
    assert_eq!(ten.values("age"), &[AttrValue::Integer(1)]);
    assert!(ten.values("photo").is_empty() && ten.values("active").is_empty());
    assert_eq!(
        ten.values("computed"),
        &["x".into()],
        "import-only columns are left alone"
    );
    // An anchor that cannot be an integer cannot exist.
    let err = c
        .export(
            &Change::Delete {
                object_type: "Thing".into(),
                anchor: Anchor("abc".into()),
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
}

fn awkward_identifiers_are_quoted(target: Target) {
    let db = Db::new(target);
    if db.is_mariadb() {
        db.exec_raw(r#"CREATE TABLE `Staff Members` (`Key Id` VARCHAR(64) NOT NULL PRIMARY KEY, `Order` VARCHAR(64), `Group` VARCHAR(64), `we"ird` VARCHAR(64))"#);
    } else {
        db.exec(r#"CREATE TABLE "Staff Members" ("Key Id" VARCHAR(64) NOT NULL PRIMARY KEY, "Order" VARCHAR(64), "Group" VARCHAR(64), "we""ird" VARCHAR(64))"#);
    }
    db.exec(r#"CREATE TABLE "Select" ("From" VARCHAR(64) NOT NULL, "Where" VARCHAR(64) NOT NULL)"#);
    let mut o = ObjectConfig::new("Staff", "Staff Members", "Key Id");
    o.multivalued
        .push(MultiValuedConfig::new("tags", "Select", "From", "Where"));
    let c = db.connector(vec![o]);
    let mut a = Attributes::new();
    a.insert("Order".into(), s("first"));
    a.insert("Group".into(), s("g"));
    a.insert("we\"ird".into(), s("w"));
    a.insert("tags".into(), vec!["t1".into(), "t2".into()]);
    add(&c, "Staff", "k 1", a).unwrap();
    update(
        &c,
        "Staff",
        "k 1",
        vec![AttributeChange::Replace {
            name: "Order".into(),
            values: s("second"),
        }],
    )
    .unwrap();
    let all = import(&c, "Staff", 10);
    let o = &all["k 1"];
    assert_eq!(o.values("Order"), &["second".into()]);
    assert_eq!(o.values("we\"ird"), &["w".into()]);
    assert_eq!(sorted_text(o.values("tags")), vec!["t1", "t2"]);
}

fn injection_attempts_land_verbatim(target: Target) {
    let db = Db::new(target);
    create_users(&db);
    let c = db.connector(vec![users_object()]);
    let evil = r#"x'); DROP TABLE "Users"; -- ` \' "#;
    let mut a = user_sample(1);
    a.insert("displayName".into(), s(evil));
    a.insert("emails".into(), s("a' OR '1'='1"));
    add(&c, "User", "u0001", a).unwrap();
    let mut second = user_sample(2);
    second.remove("id");
    add(&c, "User", "u' OR '1'='1", second).unwrap();
    let all = import(&c, "User", 10);
    assert_eq!(all.len(), 2, "the Users table survived with both rows");
    assert_eq!(all["u0001"].values("displayName"), &[evil.into()]);
    assert_eq!(all["u0001"].values("emails"), &["a' OR '1'='1".into()]);
    c.export(
        &Change::Delete {
            object_type: "User".into(),
            anchor: Anchor("u' OR '1'='1".into()),
        },
        soon(),
    )
    .unwrap();
    assert_eq!(
        import(&c, "User", 10).len(),
        1,
        "the delete matched only its own row"
    );
}

fn driver_errors_are_classified(target: Target) {
    let db = Db::new(target);
    create_users(&db);
    db.exec(r#"CREATE TABLE "Short" ("id" VARCHAR(8) NOT NULL PRIMARY KEY, "code" VARCHAR(4) CHECK ("code" <> 'bad'))"#);
    let c = db.connector(vec![
        users_object(),
        ObjectConfig::new("Short", "Short", "id"),
    ]);
    add(&c, "User", "u0001", user_sample(1)).unwrap();

    // Unique violation on a column other than the anchor.
    let mut dup = user_sample(2);
    dup.insert("userName".into(), s("user1@example.com"));
    let err = add(&c, "User", "u0002", dup).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Conflict { .. }),
        "unique: {err:?}"
    );
    // NOT NULL without default.
    let mut missing = user_sample(3);
    missing.remove("userName");
    let err = add(&c, "User", "u0003", missing).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Rejected { .. }),
        "not null: {err:?}"
    );
    assert!(
        err.detail().to_lowercase().contains("username"),
        "the driver's message names the column: {err:?}"
    );
    // Foreign key: an e-mail for a user that does not exist, through a failing add of that user
    // whose row insert succeeds first: the transaction must leave nothing behind.
    let mut bad = user_sample(4);
    bad.insert("emails".into(), s("x@example.com"));
    bad.insert("userName".into(), s("user1@example.com"));
    let err = add(&c, "User", "u0004", bad).unwrap_err();
    assert!(matches!(err, ConnectorError::Conflict { .. }), "{err:?}");
    assert!(!import(&c, "User", 10).contains_key("u0004"));
    // Check constraint.
    let mut a = Attributes::new();
    a.insert("code".into(), s("bad"));
    let err = add(&c, "Short", "s1", a).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Rejected { .. }),
        "check: {err:?}"
    );
    // Missing anchor.
    let err = c
        .export(
            &Change::Add {
                object_type: "User".into(),
                anchor: None,
                dn: None,
                attributes: Attributes::new(),
            },
            soon(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::rejected("the anchor column id needs a value")
    );
    // Unknown object type.
    let err = add(&c, "Printer", "p", Attributes::new()).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
}

#[cfg(feature = "odbc")]
fn value_too_long_is_rejected(target: Target) {
    let db = Db::new(target);
    db.exec(r#"CREATE TABLE "Short" ("id" VARCHAR(8) NOT NULL PRIMARY KEY, "code" VARCHAR(4))"#);
    let c = db.connector(vec![ObjectConfig::new("Short", "Short", "id")]);
    let mut a = Attributes::new();
    a.insert("code".into(), s("much too long"));
    let err = add(&c, "Short", "s1", a).unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
}

fn misconfiguration_names_what_exists(target: Target) {
    let db = Db::new(target);
    create_users(&db);
    let check = |o: ObjectConfig, needles: &[&str]| {
        let c = db.connector(vec![o]);
        let err = c.schema(soon()).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Misconfigured { .. }),
            "{err:?}"
        );
        for n in needles {
            assert!(err.detail().contains(n), "{err:?} should mention {n}");
        }
        let err = c.test_connection(soon()).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Misconfigured { .. }),
            "{err:?}"
        );
    };
    check(ObjectConfig::new("User", "Nope", "id"), &["Nope"]);
    check(
        ObjectConfig::new("User", "Users", "nope"),
        &["nope", "userName", "displayName"],
    );
    let mut o = users_object();
    o.multivalued[0].value_column = "mail".into();
    check(o, &["mail", "email"]);
    let mut o = users_object();
    o.attributes
        .insert("Titel".into(), AttributeOverride::default());
    check(o, &["Titel"]);
}

fn test_connection_describes_the_target(target: Target) {
    let db = Db::new(target);
    create_users(&db);
    let c = db.connector(vec![users_object()]);
    let text = c.test_connection(soon()).unwrap();
    assert!(text.contains("table Users: 4 columns"), "{text}");
    let expected = match target {
        Target::Builtin => "SQLite",
        #[cfg(feature = "odbc")]
        Target::SqliteOdbc => "SQLite",
        #[cfg(feature = "odbc")]
        Target::Postgres => "PostgreSQL",
        #[cfg(feature = "odbc")]
        Target::MariaDb => "via ODBC",
    };
    assert!(text.contains(expected), "{text}");
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

macro_rules! all_tests {
    ($module:ident, $target:expr) => {
        per_target!(
            $module,
            $target,
            [
                groups_and_members_round_trip,
                shared_attribute_table,
                dns_are_generated_or_read_from_a_column,
                types_are_discovered_and_converted,
                not_null_columns_are_required,
                awkward_identifiers_are_quoted,
                injection_attempts_land_verbatim,
                driver_errors_are_classified,
                misconfiguration_names_what_exists,
                test_connection_describes_the_target,
            ]
        );
    };
}

all_tests!(builtin_sqlite, crate::common::Target::Builtin);
#[cfg(feature = "odbc")]
all_tests!(odbc_sqlite, crate::common::Target::SqliteOdbc);
#[cfg(feature = "odbc")]
all_tests!(odbc_postgres, crate::common::Target::Postgres);
#[cfg(feature = "odbc")]
all_tests!(odbc_mariadb, crate::common::Target::MariaDb);

#[cfg(feature = "odbc")]
per_target!(
    odbc_postgres_lengths,
    crate::common::Target::Postgres,
    [value_too_long_is_rejected]
);
#[cfg(feature = "odbc")]
per_target!(
    odbc_mariadb_lengths,
    crate::common::Target::MariaDb,
    [value_too_long_is_rejected]
);

#[cfg(not(feature = "odbc"))]
#[test]
fn odbc_strings_need_the_odbc_feature() {
    let config = connector_sql::SqlConfig::new(
        "Driver={PostgreSQL Unicode};Server=db;Pwd=hunter2",
        vec![ObjectConfig::new("User", "Users", "id")],
    );
    let err = SqlConnector::new(config, std::path::Path::new(".")).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(err.detail().contains("`odbc` feature"), "{err}");
    assert!(!err.detail().contains("hunter2"), "{err}");
}
