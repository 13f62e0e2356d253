//! Exports beyond the conformance suite: renames that keep the anchor, group membership changed
//! value by value on a large group, hostile values escaped into DNs, LDAP errors mapped to what
//! the host must do, the schema and the connection summary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{GROUPS, PEOPLE, s, user};
use connector_core::conformance::soon;
use connector_core::{
    Anchor, AttrKind, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError,
    Direction, ExportOutcome,
};
use connector_ldap::{AnchorConfig, LdapConnector, ObjectConfig};
use testkit::Slapd;

fn add(
    c: &LdapConnector,
    object_type: &str,
    attributes: Attributes,
) -> Result<ExportOutcome, ConnectorError> {
    c.export(
        &Change::Add {
            object_type: object_type.into(),
            anchor: None,
            dn: None,
            attributes,
        },
        soon(),
    )
}

fn update(
    c: &LdapConnector,
    object_type: &str,
    anchor: &Anchor,
    changes: Vec<AttributeChange>,
) -> Result<ExportOutcome, ConnectorError> {
    c.export(
        &Change::Update {
            object_type: object_type.into(),
            anchor: anchor.clone(),
            new_dn: None,
            changes,
        },
        soon(),
    )
}

fn group(cn: &str, members: Vec<String>) -> Attributes {
    let mut a = Attributes::new();
    a.insert("cn".into(), s(cn));
    a.insert(
        "member".into(),
        members.into_iter().map(AttrValue::Reference).collect(),
    );
    a
}

#[test]
fn the_schema_comes_from_the_subschema() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    let schema = c.schema(soon()).unwrap();
    let user = schema.object_type("User").unwrap();
    assert_eq!(user.anchor_attribute, "entryUUID");
    let attr = |n: &str| user.attribute(n).unwrap_or_else(|| panic!("no {n}"));
    assert_eq!(attr("manager").kind, AttrKind::Reference);
    assert_eq!(attr("userPassword").kind, AttrKind::Secret);
    assert_eq!(attr("userPassword").direction, Direction::Export);
    assert!(attr("sn").required && attr("cn").required);
    assert!(!attr("displayName").multi_valued && attr("mail").multi_valued);
    assert_eq!(attr("entryUUID").direction, Direction::Import);
    assert_eq!(attr("jpegPhoto").kind, AttrKind::Binary);
    let group = schema.object_type("Group").unwrap();
    let member = group.attribute("member").unwrap();
    assert_eq!(
        (member.kind, member.references.as_deref()),
        (AttrKind::Reference, Some("User"))
    );

    let summary = c.test_connection(soon()).unwrap();
    for expected in [
        "OpenLDAP",
        "dc=example,dc=com",
        "paged results",
        "content sync",
        "password modify",
        "User (inetOrgPerson",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing from {summary}"
        );
    }
}

#[test]
fn renames_keep_the_anchor() {
    let slapd = Slapd::start_with(
        "dn: ou=staff,ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: staff\n",
    );
    let c = common::connector(&slapd);
    let added = add(&c, "User", user(1)).unwrap();
    assert_eq!(
        added.dn.as_deref(),
        Some("uid=user1,ou=people,dc=example,dc=com")
    );
    let anchor = added.anchor.clone();

    // A new value of the naming attribute renames the entry.
    let out = update(
        &c,
        "User",
        &anchor,
        vec![AttributeChange::Replace {
            name: "uid".into(),
            values: s("renamed"),
        }],
    )
    .unwrap();
    assert_eq!(
        out.dn.as_deref(),
        Some("uid=renamed,ou=people,dc=example,dc=com")
    );
    let obj = c.read("User", &anchor, soon()).unwrap().unwrap();
    assert_eq!(
        obj.dn.as_deref(),
        Some("uid=renamed,ou=people,dc=example,dc=com")
    );
    assert_eq!(
        obj.values("uid"),
        s("renamed").as_slice(),
        "the old RDN value is gone"
    );
    assert_eq!(obj.anchor, anchor);

    // new_dn moves it, with other changes in the same export.
    let out = c
        .export(
            &Change::Update {
                object_type: "User".into(),
                anchor: anchor.clone(),
                new_dn: Some("uid=moved,ou=staff,ou=people,dc=example,dc=com".into()),
                changes: vec![
                    AttributeChange::Replace {
                        name: "uid".into(),
                        values: s("moved"),
                    },
                    AttributeChange::Replace {
                        name: "title".into(),
                        values: s("Boss"),
                    },
                ],
            },
            soon(),
        )
        .unwrap();
    assert_eq!(
        out.dn.as_deref(),
        Some("uid=moved,ou=staff,ou=people,dc=example,dc=com")
    );
    let obj = c.read("User", &anchor, soon()).unwrap().unwrap();
    assert_eq!(obj.anchor, anchor);
    assert_eq!(obj.values("title"), s("Boss").as_slice());

    // A rename whose modify then fails is undone: the export leaves nothing behind.
    let err = update(
        &c,
        "User",
        &anchor,
        vec![
            AttributeChange::Replace {
                name: "uid".into(),
                values: s("again"),
            },
            AttributeChange::Clear { name: "sn".into() },
        ],
    )
    .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let obj = c.read("User", &anchor, soon()).unwrap().unwrap();
    assert_eq!(
        obj.dn.as_deref(),
        Some("uid=moved,ou=staff,ou=people,dc=example,dc=com")
    );

    // With the DN as anchor, renames are refused.
    let mut dn_config = common::config(&slapd.url(), &slapd);
    dn_config.delta = connector_ldap::DeltaMode::None;
    dn_config.anchor = AnchorConfig::Dn;
    let dn_connector = LdapConnector::new(dn_config, Path::new(".")).unwrap();
    assert!(!dn_connector.capabilities().renames);
    let added = add(&dn_connector, "User", user(2)).unwrap();
    assert_eq!(
        added.anchor.as_str(),
        "uid=user2,ou=people,dc=example,dc=com"
    );
    assert!(
        dn_connector
            .read("User", &added.anchor, soon())
            .unwrap()
            .is_some()
    );
    let err = update(
        &dn_connector,
        "User",
        &added.anchor,
        vec![AttributeChange::Replace {
            name: "uid".into(),
            values: s("x"),
        }],
    )
    .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
}

#[test]
fn group_members_change_value_by_value() {
    // A group of 3,000 members, loaded offline.
    let n = 3000;
    let mut ldif = String::new();
    for i in 0..n {
        ldif.push_str(&format!(
            "dn: uid=m{i},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: m{i}\ncn: m{i}\nsn: m{i}\n\n"
        ));
    }
    ldif.push_str(&format!(
        "dn: cn=big,{GROUPS}\nobjectClass: groupOfNames\ncn: big\n"
    ));
    for i in 0..n {
        ldif.push_str(&format!("member: uid=m{i},{PEOPLE}\n"));
    }
    let slapd = Slapd::start_with(&ldif);
    let c = common::connector(&slapd);
    let big = c
        .full_import("Group", 10, soon())
        .and_then(|mut s| s.next_page(soon()))
        .unwrap()
        .unwrap()
        .remove(0);
    let connector_core::ImportItem::Upsert(big) = big else {
        panic!()
    };
    assert_eq!(big.values("member").len(), n);

    let one = |i: usize| vec![AttrValue::Reference(format!("uid=m{i},{PEOPLE}"))];
    let add_member = |values| AttributeChange::Add {
        name: "member".into(),
        values,
    };
    let remove_member = |values| AttributeChange::Remove {
        name: "member".into(),
        values,
    };
    let started = std::time::Instant::now();
    for change in [
        remove_member(one(7)),
        add_member(one(7)),
        remove_member(one(8)),
        // Idempotent: removing an absent member or adding a present one succeeds.
        remove_member(one(8)),
        add_member(one(9)),
        // Removing no values removes nothing (an empty LDAP delete would drop every member).
        remove_member(vec![]),
    ] {
        update(&c, "Group", &big.anchor, vec![change.clone()])
            .unwrap_or_else(|e| panic!("{change:?}: {e}"));
    }
    eprintln!(
        "6 membership changes on a group of {n}: {:?}",
        started.elapsed()
    );
    let after = c.read("Group", &big.anchor, soon()).unwrap().unwrap();
    let members = after.values("member");
    assert_eq!(members.len(), n - 1);
    assert!(members.contains(&one(7)[0]) && !members.contains(&one(8)[0]));
    assert!(members.iter().all(|m| matches!(m, AttrValue::Reference(_))));

    // A new group references users by DN.
    let g = add(
        &c,
        "Group",
        group("small", vec![format!("uid=m1,{PEOPLE}")]),
    )
    .unwrap();
    assert_eq!(
        g.dn.as_deref(),
        Some("cn=small,ou=groups,dc=example,dc=com")
    );
    update(
        &c,
        "Group",
        &g.anchor,
        vec![AttributeChange::Add {
            name: "member".into(),
            values: one(2),
        }],
    )
    .unwrap();
    assert_eq!(
        c.read("Group", &g.anchor, soon())
            .unwrap()
            .unwrap()
            .values("member")
            .len(),
        2
    );
}

#[test]
fn hostile_values_are_escaped_into_dns_and_filters() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    for (i, hostile) in [
        "*)(uid=*",
        "a,b=c",
        "x+y",
        "back\\slash",
        " #lead",
        "nul\0byte",
        "trail ",
        "<>;\"",
    ]
    .iter()
    .enumerate()
    {
        let mut attrs = user(i);
        attrs.insert("uid".into(), s(hostile));
        let out = add(&c, "User", attrs).unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        let dn = out.dn.clone().unwrap();
        assert!(
            dn.ends_with(",ou=people,dc=example,dc=com"),
            "{hostile:?} → {dn}"
        );
        let obj = c.read("User", &out.anchor, soon()).unwrap().unwrap();
        assert_eq!(obj.values("uid"), s(hostile).as_slice(), "{hostile:?}");
        assert!(
            connector_ldap::dn::Dn::parse(obj.dn.as_deref().unwrap())
                .unwrap()
                .rdns
                .len()
                == 4
        );
    }
    // A hostile anchor is no filter injection: it finds nothing.
    for anchor in ["*", "*)(objectClass=*", "\\2a"] {
        assert_eq!(
            c.read("User", &Anchor(anchor.into()), soon()).unwrap(),
            None,
            "{anchor}"
        );
    }
    // With an attribute anchor the value is escaped into the filter.
    let mut by_uid = common::config(&slapd.url(), &slapd);
    by_uid.delta = connector_ldap::DeltaMode::None;
    by_uid.anchor = AnchorConfig::Attribute("uid".into());
    let by_uid = LdapConnector::new(by_uid, Path::new(".")).unwrap();
    assert_eq!(
        by_uid.read("User", &Anchor("*".into()), soon()).unwrap(),
        None
    );
    let found = by_uid
        .read("User", &Anchor("*)(uid=*".into()), soon())
        .unwrap()
        .unwrap();
    assert_eq!(found.values("uid"), s("*)(uid=*").as_slice());
}

#[test]
fn ldap_errors_say_what_to_do() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    let first = add(&c, "User", user(1)).unwrap();

    // entryAlreadyExists → Conflict.
    let err = add(&c, "User", user(1)).unwrap_err();
    assert!(matches!(err, ConnectorError::Conflict { .. }), "{err:?}");

    // objectClassViolation (no sn) → Rejected with the server's text.
    let mut no_sn = user(2);
    no_sn.remove("sn");
    let err = add(&c, "User", no_sn).unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert!(
        err.detail().contains("objectClassViolation") && err.detail().contains("sn"),
        "{err:?}"
    );

    // Add into a parent that does not exist → Rejected (not NotFound).
    let err = c
        .export(
            &Change::Add {
                object_type: "User".into(),
                anchor: None,
                dn: Some("uid=lost,ou=nowhere,dc=example,dc=com".into()),
                attributes: user(3),
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert!(err.detail().contains("ou=nowhere"), "{err:?}");

    // invalidAttributeSyntax → Rejected; an unknown or read-only attribute is refused before
    // the server sees it; two values for a single-valued attribute too.
    let err = update(
        &c,
        "User",
        &first.anchor,
        vec![AttributeChange::Replace {
            name: "manager".into(),
            values: vec![AttrValue::Reference("not a dn".into())],
        }],
    )
    .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    for (name, values) in [
        ("noSuchAttr", s("x")),
        ("entryUUID", s("x")),
        ("displayName", vec!["a".into(), "b".into()]),
    ] {
        let err = update(
            &c,
            "User",
            &first.anchor,
            vec![AttributeChange::Replace {
                name: name.into(),
                values,
            }],
        )
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Rejected { .. }),
            "{name}: {err:?}"
        );
    }

    // A group without members violates groupOfNames' MUST member.
    let err = add(&c, "Group", group("empty", vec![])).unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");

    // Deleting a user that still has children → Rejected (notAllowedOnNonLeaf).
    common::ldapmodify(
        &slapd,
        "dn: cn=child,uid=user1,ou=people,dc=example,dc=com\nchangetype: add\nobjectClass: organizationalRole\ncn: child\n",
    );
    let err = c
        .export(
            &Change::Delete {
                object_type: "User".into(),
                anchor: first.anchor.clone(),
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");

    // An unknown object type is a configuration error.
    let err = c.read("Printer", &first.anchor, soon()).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );

    // invalidCredentials → Misconfigured.
    let mut wrong = common::config(&slapd.url(), &slapd);
    wrong.bind_password = Some("wrong".into());
    let err = LdapConnector::new(wrong, Path::new("."))
        .unwrap()
        .test_connection(soon())
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(err.detail().contains("invalidCredentials"), "{err:?}");
}

#[test]
fn configuration_errors_are_caught_early() {
    let slapd = Slapd::start();
    let bad = |tweak: &dyn Fn(&mut connector_ldap::LdapConfig), mentions: &str| {
        let mut c = common::config(&slapd.url(), &slapd);
        tweak(&mut c);
        common::misconfigured(c, mentions);
    };
    bad(
        &|c| c.objects[0].object_classes = vec!["noSuchClass".into()],
        "noSuchClass",
    );
    bad(
        &|c| c.objects[0].dn_template = Some("uid={uid},dc=x".into()),
        "exactly one",
    );
    bad(&|c| c.objects[0].filter = Some("(broken".into()), "(broken");
    bad(
        &|c| c.objects[0].attributes = Some(vec!["noSuchAttr".into()]),
        "noSuchAttr",
    );
    bad(&|c| c.anchor = AnchorConfig::ObjectGuid, "entryUUID");
    bad(
        &|c| {
            c.delta = connector_ldap::DeltaMode::None;
            c.anchor = AnchorConfig::ObjectGuid;
        },
        "objectGUID",
    );
    bad(
        &|c| {
            c.objects
                .push(ObjectConfig::new("user", &["person"], PEOPLE, "cn"))
        },
        "twice",
    );
    bad(&|c| c.servers = vec!["http://x".into()], "http");
}

#[test]
fn a_replace_sets_exactly_the_given_attributes() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    let mut attrs = user(1);
    attrs.insert("title".into(), s("Engineer"));
    attrs.insert("mail".into(), vec!["a@x".into(), "b@x".into()]);
    let added = add(&c, "User", attrs).unwrap();
    let mut whole = user(1);
    whole.insert("uid".into(), s("user1-new"));
    whole.insert("mail".into(), vec!["c@x".into()]);
    // The object's own anchor attribute may come along unchanged.
    whole.insert("entryUUID".into(), s(added.anchor.as_str()));
    let out = c
        .export(
            &Change::Replace {
                object_type: "User".into(),
                anchor: added.anchor.clone(),
                dn: None,
                attributes: whole,
            },
            soon(),
        )
        .unwrap();
    assert_eq!(
        out.dn.as_deref(),
        Some("uid=user1-new,ou=people,dc=example,dc=com")
    );
    let obj = c.read("User", &added.anchor, soon()).unwrap().unwrap();
    assert!(obj.values("title").is_empty(), "left out, so emptied");
    assert_eq!(obj.values("mail"), ["c@x".into()].as_slice());
    assert_eq!(obj.values("uid"), s("user1-new").as_slice());
    // A different anchor value is a write of a read-only attribute.
    let mut wrong = user(1);
    wrong.insert(
        "entryUUID".into(),
        s("00000000-0000-0000-0000-000000000000"),
    );
    let err = c
        .export(
            &Change::Replace {
                object_type: "User".into(),
                anchor: added.anchor.clone(),
                dn: None,
                attributes: wrong,
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
}
