//! Delta imports from OpenLDAP's accesslog overlay (`delta = "accesslog"`) on a private slapd
//! that logs writes to `cn=accesslog`: direct adds, modifies, deletes, renames and moves out of
//! the base come back as upserts and deletes by entryUUID, only the changed entries of the type,
//! failed writes are ignored, and foreign watermarks ask for a full import.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{GROUPS, PEOPLE, ldapmodify};
use connector_core::conformance::soon;
use connector_core::{Anchor, Connector, ConnectorError, ConnectorObject, ImportItem, Watermark};
use connector_ldap::{DeltaMode, LdapConnector};
use testkit::{Slapd, SlapdOptions};

fn start(people: usize) -> (Slapd, LdapConnector) {
    let mut ldif = String::new();
    for i in 0..people {
        ldif.push_str(&format!(
            "dn: uid=p{i},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: Person {i}\nsn: P{i}\n\n"
        ));
    }
    ldif.push_str(
        "dn: ou=elsewhere,dc=example,dc=com\nobjectClass: organizationalUnit\nou: elsewhere\n",
    );
    let slapd = Slapd::start_with_options(&SlapdOptions {
        ldif,
        accesslog: true,
        ..SlapdOptions::default()
    });
    let mut config = common::config(&slapd.url(), &slapd);
    config.delta = DeltaMode::Accesslog;
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    (slapd, c)
}

fn all(stream: &mut dyn connector_core::ImportStream, page_size: usize) -> Vec<ImportItem> {
    let mut items = Vec::new();
    while let Some(page) = stream.next_page(soon()).unwrap() {
        assert!(
            page.len() <= page_size,
            "page of {} > {page_size}",
            page.len()
        );
        items.extend(page);
    }
    items
}

fn split(items: &[ImportItem]) -> (BTreeMap<Anchor, ConnectorObject>, Vec<Anchor>) {
    let mut upserts = BTreeMap::new();
    let mut deletes = Vec::new();
    for i in items {
        match i {
            ImportItem::Upsert(o) => {
                upserts.insert(o.anchor.clone(), o.clone());
            }
            ImportItem::Delete { anchor, .. } => deletes.push(anchor.clone()),
        }
    }
    deletes.sort();
    (upserts, deletes)
}

#[test]
fn accesslog_deltas_see_direct_changes_deletes_renames_and_moves() {
    let (slapd, c) = start(10);
    let mut stream = c.full_import("User", 4, soon()).unwrap();
    let (before, _) = split(&all(stream.as_mut(), 4));
    let watermark = stream.watermark().unwrap();
    drop(stream);
    assert_eq!(before.len(), 10);
    let anchor_of = |uid: &str| {
        before
            .values()
            .find(|o| o.values("uid")[0].to_text() == uid)
            .unwrap()
            .anchor
            .clone()
    };

    ldapmodify(
        &slapd,
        &format!(
            "dn: uid=p1,{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Changed\n\n\
             dn: uid=p2,{PEOPLE}\nchangetype: delete\n\n\
             dn: uid=p3,{PEOPLE}\nchangetype: modrdn\nnewrdn: uid=p3-renamed\ndeleteoldrdn: 1\n\n\
             dn: uid=p4,{PEOPLE}\nchangetype: modrdn\nnewrdn: uid=p4\ndeleteoldrdn: 1\nnewsuperior: ou=elsewhere,dc=example,dc=com\n\n\
             dn: uid=new,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new\ncn: New\nsn: New\nuserPassword: x\n\n\
             dn: uid=new,{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Twice\n\n\
             dn: uid=gone,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: gone\ncn: Gone\nsn: Gone\n\n\
             dn: uid=gone,{PEOPLE}\nchangetype: delete\n\n\
             dn: uid=outside,ou=elsewhere,dc=example,dc=com\nchangetype: add\nobjectClass: inetOrgPerson\nuid: outside\ncn: O\nsn: O\n\n\
             dn: cn=not-a-user,{GROUPS}\nchangetype: add\nobjectClass: groupOfNames\ncn: not-a-user\nmember: uid=p5,{PEOPLE}\n"
        ),
    );
    // A write the server refuses is logged with reqResult != 0 and must not count.
    let refused = common::run_ldapmodify(
        &slapd,
        &format!("dn: uid=p6,{PEOPLE}\nchangetype: modify\nadd: uid\nuid: p6\n"),
    );
    assert!(
        !refused.status.success(),
        "adding an existing value must fail"
    );

    let mut delta = c.delta_import("User", &watermark, 2, soon()).unwrap();
    let items = all(delta.as_mut(), 2);
    let next = delta.watermark().unwrap();
    drop(delta);
    let (changed, deletes) = split(&items);

    assert_eq!(
        changed[&anchor_of("p1")].values("title")[0].to_text(),
        "Changed"
    );
    assert_eq!(
        changed[&anchor_of("p3")].dn.as_deref(),
        Some(&format!("uid=p3-renamed,{PEOPLE}")[..]),
        "a rename keeps the anchor"
    );
    let added = changed
        .values()
        .find(|o| o.values("uid")[0].to_text() == "new")
        .expect("the added user");
    assert_eq!(
        added.values("title")[0].to_text(),
        "Twice",
        "read as it is now"
    );
    assert!(added.values("userPassword").is_empty());
    assert_eq!(
        changed.len(),
        3,
        "only the changed users: {:?}",
        changed.keys()
    );
    // p2 deleted, p4 moved out of the base, "gone" added and deleted, the group is not a user.
    assert!(deletes.contains(&anchor_of("p2")), "{deletes:?}");
    assert!(deletes.contains(&anchor_of("p4")), "{deletes:?}");
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert!(
        !changed.contains_key(&anchor_of("p6")),
        "the refused write is not a change"
    );

    // Nothing changed since: an empty delta, and the same watermark again.
    let mut delta = c.delta_import("User", &next, 10, soon()).unwrap();
    assert!(all(delta.as_mut(), 10).is_empty());
    assert_eq!(delta.watermark(), Some(next.clone()));
    drop(delta);

    // Changes through the connector come back too.
    let out = c
        .export(
            &connector_core::Change::Delete {
                object_type: "User".into(),
                anchor: anchor_of("p7"),
            },
            soon(),
        )
        .unwrap();
    let mut delta = c.delta_import("User", &next, 10, soon()).unwrap();
    let (_, deletes) = split(&all(delta.as_mut(), 10));
    assert_eq!(deletes, vec![out.anchor]);

    let err = c
        .delta_import("User", &Watermark("ldapsync1:00".into()), 10, soon())
        .err()
        .unwrap();
    assert!(
        matches!(err, ConnectorError::ResyncRequired { .. }),
        "{err:?}"
    );
}

#[test]
fn a_full_import_of_a_server_without_the_log_says_what_is_missing() {
    let slapd = Slapd::start();
    let mut config = common::config(&slapd.url(), &slapd);
    config.delta = DeltaMode::Accesslog;
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    let err = c.full_import("User", 10, soon()).err().unwrap();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(err.detail().contains("cn=accesslog"), "{err:?}");
}
