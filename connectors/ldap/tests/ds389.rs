//! The connector against 389 Directory Server (testkit's instance, one per run of this binary,
//! each test in a subtree of its own): the conformance suite of contract v2 with passwords as
//! `userPassword` and with whole-object replace, and delta imports through 389 DS's Content
//! Synchronization plugin (RFC 4533 refreshOnly) with direct adds, modifies, deletes and renames.
//! The anchor is `nsUniqueId`, the identifier 389 DS's content synchronisation names entries by.
//!
//! Password Modify is not run here: 389 DS refuses that extended operation over a connection
//! without TLS, and this instance has none.
//!
//! Where 389-ds-base is not installed and `CH_TEST_389DS=skip` (set by `./scripts/test.sh` when
//! it cannot install it), each test prints a `NOT RUN` line instead; without that variable a
//! missing 389 DS fails the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use connector_core::conformance::{Fixture, soon};
use connector_core::{Anchor, Connector, ConnectorObject, ImportItem};
use connector_ldap::{AnchorConfig, DeltaMode, LdapConfig, LdapConnector, ObjectConfig};
use testkit::Ds389;

/// Users and groups under a fresh subtree of the shared instance, anchored on `nsUniqueId`, with
/// sync delta imports.
fn config(ds: &Ds389, subtree: &str) -> LdapConfig {
    let mut group = ObjectConfig::new(
        "Group",
        &["groupOfNames"],
        format!("ou=groups,{subtree}"),
        "cn",
    );
    group.references.insert("member".into(), "User".into());
    let mut c = LdapConfig::new(
        vec![ds.url()],
        vec![
            ObjectConfig::new(
                "User",
                &["inetOrgPerson"],
                format!("ou=people,{subtree}"),
                "uid",
            ),
            group,
        ],
    )
    .with_simple_bind(ds.admin_dn(), ds.admin_password());
    c.anchor = AnchorConfig::Attribute("nsUniqueId".into());
    c.delta = DeltaMode::Sync;
    c
}

fn fixture_with(test: &str, tweak: impl FnOnce(&mut LdapConfig)) -> Option<Fixture> {
    let ds = Ds389::shared_or_not_run(test)?;
    let mut config = config(ds, &ds.subtree());
    tweak(&mut config);
    let connector = LdapConnector::new(config.clone(), Path::new(".")).unwrap();
    let reader = LdapConnector::new(config, Path::new(".")).unwrap();
    let url = ds.url();
    let mut f = Fixture::new(
        Box::new(connector),
        "User",
        common::user,
        "displayName",
        Box::new(()),
    );
    f.multi_valued_attribute = Some("mail".into());
    f.reference_attribute = Some("manager".into());
    f.secret = Some((
        "userPassword".into(),
        Box::new(move |anchor| {
            let dn = reader.read("User", anchor, soon()).unwrap()?.dn?;
            ["Initial#Passw0rd", "Changed#Passw0rd"]
                .into_iter()
                .find(|p| common::can_bind(&url, &dn, p))
                .map(str::to_owned)
        }),
    ));
    Some(f)
}

mod attribute_passwords {
    fn setup() -> Option<connector_core::conformance::Fixture> {
        super::fixture_with("389 DS conformance (attribute passwords)", |_| {})
    }
    connector_core::conformance_tests!(optional setup);
}

mod replace_style {
    fn setup() -> Option<connector_core::conformance::Fixture> {
        super::fixture_with("389 DS conformance (replace style)", |c| {
            c.export_style = connector_ldap::ExportStyleName::Replace;
        })
    }
    connector_core::conformance_tests!(optional setup);
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

fn upserts(items: &[ImportItem]) -> BTreeMap<Anchor, ConnectorObject> {
    items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Upsert(o) => Some((o.anchor.clone(), o.clone())),
            ImportItem::Delete { .. } => None,
        })
        .collect()
}

fn deletes(items: &[ImportItem]) -> Vec<Anchor> {
    items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Delete { anchor, .. } => Some(anchor.clone()),
            ImportItem::Upsert(_) => None,
        })
        .collect()
}

#[test]
fn delta_imports_see_direct_changes_deletes_and_renames() {
    let Some(ds) = Ds389::shared_or_not_run("389 DS delta imports") else {
        return;
    };
    let subtree = ds.subtree();
    let people = format!("ou=people,{subtree}");
    let mut ldif = String::new();
    for i in 0..10 {
        ldif.push_str(&format!(
            "dn: uid=p{i},{people}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: Person {i}\nsn: P{i}\n\n"
        ));
    }
    ds.ldapmodify(&ldif);
    let c = LdapConnector::new(config(ds, &subtree), Path::new(".")).unwrap();

    let mut stream = c.full_import("User", 4, soon()).unwrap();
    let before = upserts(&all(stream.as_mut(), 4));
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
    assert!(
        anchor_of("p1")
            .as_str()
            .split('-')
            .map(str::len)
            .eq([8, 8, 8, 8]),
        "the anchor is an nsUniqueId: {}",
        anchor_of("p1")
    );

    ds.ldapmodify(&format!(
        "dn: uid=p1,{people}\nchangetype: modify\nreplace: title\ntitle: Changed\n\n\
         dn: uid=p2,{people}\nchangetype: delete\n\n\
         dn: uid=p3,{people}\nchangetype: modrdn\nnewrdn: uid=p3-renamed\ndeleteoldrdn: 1\n\n\
         dn: uid=new,{people}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new\ncn: New\nsn: New\nuserPassword: x\n\n\
         dn: cn=not-a-user,ou=groups,{subtree}\nchangetype: add\nobjectClass: groupOfNames\ncn: not-a-user\nmember: uid=p4,{people}\n"
    ));

    let mut delta = c.delta_import("User", &watermark, 2, soon()).unwrap();
    let items = all(delta.as_mut(), 2);
    let next = delta.watermark().unwrap();
    drop(delta);
    assert_eq!(deletes(&items), vec![anchor_of("p2")], "{items:?}");
    let changed = upserts(&items);
    assert_eq!(
        changed[&anchor_of("p1")].values("title")[0].to_text(),
        "Changed"
    );
    assert_eq!(
        changed[&anchor_of("p3")].dn.as_deref(),
        Some(&format!("uid=p3-renamed,{people}")[..]),
        "the rename keeps the anchor"
    );
    let added = changed
        .values()
        .find(|o| o.values("uid")[0].to_text() == "new")
        .unwrap();
    assert!(added.values("userPassword").is_empty());
    assert_eq!(
        changed.len(),
        3,
        "only the changed users: {:?}",
        changed.keys()
    );

    // Nothing changed since: an empty delta, and the watermark still works.
    let mut delta = c.delta_import("User", &next, 10, soon()).unwrap();
    assert!(all(delta.as_mut(), 10).is_empty());
    let after_empty = delta.watermark().unwrap();
    drop(delta);

    // A delete through the connector comes back as a delete by the same anchor.
    let out = c
        .export(
            &connector_core::Change::Delete {
                object_type: "User".into(),
                anchor: anchor_of("p5"),
            },
            soon(),
        )
        .unwrap();
    let mut delta = c.delta_import("User", &after_empty, 10, soon()).unwrap();
    let items = all(delta.as_mut(), 10);
    assert_eq!(deletes(&items), vec![out.anchor]);
}
