//! Full imports page through a few thousand entries with a small page size, several bases and a
//! filter, and never return passwords; delta imports (RFC 4533) see adds, modifies, deletes and
//! renames made directly in the directory, with the anchor kept across a rename.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{PEOPLE, ldapmodify};
use connector_core::conformance::soon;
use connector_core::{Anchor, Connector, ConnectorError, ConnectorObject, ImportItem, Watermark};
use connector_ldap::{LdapConnector, OneOrMany};
use testkit::Slapd;

fn people(n: usize, under: &str) -> String {
    let mut ldif = String::new();
    for i in 0..n {
        ldif.push_str(&format!(
            "dn: uid=p{i},{under}\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: Person {i}\nsn: P{i}\nuserPassword: secret{i}\nmail: p{i}@example.com\n\n"
        ));
    }
    ldif
}

/// Reads a whole import, checking every page against the page size.
fn all(
    stream: &mut dyn connector_core::ImportStream,
    page_size: usize,
) -> (Vec<ImportItem>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    while let Some(page) = stream.next_page(soon()).unwrap() {
        assert!(
            page.len() <= page_size,
            "page of {} > {page_size}",
            page.len()
        );
        pages += 1;
        items.extend(page);
    }
    (items, pages)
}

fn upserts(items: Vec<ImportItem>) -> BTreeMap<Anchor, ConnectorObject> {
    items
        .into_iter()
        .filter_map(|i| match i {
            ImportItem::Upsert(o) => Some((o.anchor.clone(), o)),
            ImportItem::Delete { .. } => None,
        })
        .collect()
}

#[test]
fn a_full_import_pages_through_thousands_of_entries() {
    let n = 2500;
    let mut ldif = String::from(
        "dn: ou=contractors,dc=example,dc=com\nobjectClass: organizationalUnit\nou: contractors\n\n",
    );
    ldif.push_str(&people(n, PEOPLE));
    ldif.push_str(
        &people(30, "ou=contractors,dc=example,dc=com")
            .replace("uid: p", "uid: c")
            .replace("uid=p", "uid=c"),
    );
    let slapd = Slapd::start_with(&ldif);
    let mut config = common::config(&slapd.url(), &slapd);
    config.objects[0].base = OneOrMany::Many(vec![
        PEOPLE.into(),
        "ou=contractors,dc=example,dc=com".into(),
    ]);
    let c = LdapConnector::new(config, Path::new(".")).unwrap();

    let started = std::time::Instant::now();
    let mut stream = c.full_import("User", 100, soon()).unwrap();
    let (items, pages) = all(stream.as_mut(), 100);
    eprintln!(
        "{} entries in {pages} pages: {:?}",
        items.len(),
        started.elapsed()
    );
    assert!(stream.watermark().is_some());
    let objects = upserts(items);
    assert_eq!(objects.len(), n + 30, "every entry once, from both bases");
    assert!(pages >= (n + 30) / 100);
    for o in objects.values() {
        assert!(
            o.values("userPassword").is_empty(),
            "a password was imported"
        );
        assert!(o.dn.is_some() && !o.values("entryUUID").is_empty());
    }
    let p7 = objects
        .values()
        .find(|o| o.dn.as_deref() == Some(&format!("uid=p7,{PEOPLE}")[..]))
        .unwrap();
    assert_eq!(p7.values("mail")[0].to_text(), "p7@example.com");

    // A filter narrows the type.
    let mut filtered = common::config(&slapd.url(), &slapd);
    filtered.objects[0].filter = Some("(uid=p1*)".into());
    let c = LdapConnector::new(filtered, Path::new(".")).unwrap();
    let (items, _) = all(c.full_import("User", 7, soon()).unwrap().as_mut(), 7);
    // p1, p10–p19, p100–p199, p1000–p1999
    assert_eq!(items.len(), 1 + 10 + 100 + 1000);

    // A stream dropped half-way leaves the connector usable.
    let mut half = c.full_import("User", 5, soon()).unwrap();
    half.next_page(soon()).unwrap();
    drop(half);
    assert_eq!(
        all(c.full_import("User", 500, soon()).unwrap().as_mut(), 500)
            .0
            .len(),
        1111
    );
}

#[test]
fn delta_imports_see_direct_changes_deletes_and_renames() {
    let slapd = Slapd::start_with(&people(20, PEOPLE));
    let c = common::connector(&slapd);
    let mut stream = c.full_import("User", 50, soon()).unwrap();
    let before = upserts(all(stream.as_mut(), 50).0);
    let watermark = stream.watermark().unwrap();
    drop(stream);
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
             dn: uid=new,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new\ncn: New\nsn: New\nuserPassword: x\n\n\
             dn: cn=not-a-user,ou=groups,dc=example,dc=com\nchangetype: add\nobjectClass: groupOfNames\ncn: not-a-user\nmember: uid=p4,{PEOPLE}\n"
        ),
    );

    let mut delta = c.delta_import("User", &watermark, 2, soon()).unwrap();
    let (items, _) = all(delta.as_mut(), 2);
    let next = delta.watermark().unwrap();
    drop(delta);
    let deletes: Vec<Anchor> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Delete { anchor, .. } => Some(anchor.clone()),
            ImportItem::Upsert(_) => None,
        })
        .collect();
    let changed = upserts(items);
    assert_eq!(deletes, vec![anchor_of("p2")]);
    assert_eq!(
        changed[&anchor_of("p1")].values("title")[0].to_text(),
        "Changed"
    );
    let renamed = &changed[&anchor_of("p3")];
    assert_eq!(
        renamed.dn.as_deref(),
        Some(&format!("uid=p3-renamed,{PEOPLE}")[..]),
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
        "only users, only the changed ones: {:?}",
        changed.keys()
    );

    // Nothing changed since: an empty delta, and the watermark still works.
    let mut delta = c.delta_import("User", &next, 10, soon()).unwrap();
    assert!(all(delta.as_mut(), 10).0.is_empty());
    assert!(delta.watermark().is_some());

    // Changes made through the connector come back too.
    let out = c
        .export(
            &connector_core::Change::Delete {
                object_type: "User".into(),
                anchor: anchor_of("p5"),
            },
            soon(),
        )
        .unwrap();
    let mut delta = c.delta_import("User", &next, 10, soon()).unwrap();
    let (items, _) = all(delta.as_mut(), 10);
    assert!(items.contains(&ImportItem::Delete {
        object_type: "User".into(),
        anchor: out.anchor
    }));

    // A watermark from elsewhere asks the host for a full import.
    let err = c
        .delta_import("User", &Watermark("sql1:int:4".into()), 10, soon())
        .err()
        .unwrap();
    assert!(
        matches!(err, ConnectorError::ResyncRequired { .. }),
        "{err:?}"
    );
}

#[test]
fn timestamp_deltas_see_adds_and_changes() {
    let slapd = Slapd::start_with(&people(10, PEOPLE));
    let mut config = common::config(&slapd.url(), &slapd);
    config.delta = connector_ldap::DeltaMode::Timestamp;
    config.timestamp_overlap = std::time::Duration::ZERO;
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    // modifyTimestamp has whole seconds: let the loaded entries' second pass, so that an
    // unchanged entry is provably not read again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut stream = c.full_import("User", 50, soon()).unwrap();
    assert_eq!(all(stream.as_mut(), 50).0.len(), 10);
    let watermark = stream.watermark().unwrap();
    drop(stream);
    assert!(watermark.0.starts_with("ldapts1:"), "{watermark:?}");

    ldapmodify(
        &slapd,
        &format!(
            "dn: uid=p1,{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Changed\n\n\
             dn: uid=new,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new\ncn: New\nsn: New\n"
        ),
    );
    let mut delta = c.delta_import("User", &watermark, 1, soon()).unwrap();
    let (items, _) = all(delta.as_mut(), 1);
    assert!(delta.watermark().is_some());
    let changed = upserts(items.clone());
    assert_eq!(changed.len(), items.len(), "no deletes from timestamps");
    let uids: std::collections::BTreeSet<String> = changed
        .values()
        .map(|o| o.values("uid")[0].to_text())
        .collect();
    assert_eq!(
        uids,
        ["new".to_owned(), "p1".to_owned()].into(),
        "only what changed"
    );
    let p1 = changed
        .values()
        .find(|o| o.values("uid")[0].to_text() == "p1")
        .unwrap();
    assert_eq!(p1.values("title")[0].to_text(), "Changed");

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
fn a_delta_after_a_restart_asks_for_a_full_import() {
    // syncprov's session log is in memory: after a restart it cannot replay deletes, answers
    // with a present phase, and the connector says to run a full import rather than miss them.
    let slapd = Slapd::start_with(&people(5, PEOPLE));
    let config = common::config(&slapd.url(), &slapd);
    let c = LdapConnector::new(config.clone(), Path::new(".")).unwrap();
    let mut stream = c.full_import("User", 50, soon()).unwrap();
    all(stream.as_mut(), 50);
    let watermark = stream.watermark().unwrap();
    drop(stream);
    ldapmodify(
        &slapd,
        &format!("dn: uid=p1,{PEOPLE}\nchangetype: delete\n"),
    );

    // The same data, a fresh slapd process: copy the database into a new server.
    let dir = slapd.dir().to_path_buf();
    let restarted = restart(&slapd, &dir);
    let mut config = config;
    config.servers = vec![restarted.url()];
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    ldapmodify(
        &restarted,
        &format!("dn: uid=p2,{PEOPLE}\nchangetype: delete\n"),
    );
    let result = c
        .delta_import("User", &watermark, 10, soon())
        .and_then(|mut d| {
            while d.next_page(soon())?.is_some() {}
            Ok(())
        });
    match result {
        Err(ConnectorError::ResyncRequired { detail }) => {
            assert!(detail.contains("present phase"), "{detail}")
        }
        other => panic!("expected a request for a full import, got {other:?}"),
    }
}

/// Starts a second slapd on a copy of `slapd`'s database (slapcat | slapadd keeps entryUUIDs
/// and CSNs), so its syncprov session log starts empty.
fn restart(slapd: &Slapd, dir: &Path) -> Slapd {
    let out = std::process::Command::new("/usr/sbin/slapcat")
        .args(["-f"])
        .arg(dir.join("slapd.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ldif = String::from_utf8(out.stdout).unwrap();
    // Drop the base entries testkit loads itself.
    let rest: Vec<&str> = ldif
        .split("\n\n")
        .filter(|e| {
            let first = e.lines().next().unwrap_or("");
            !e.trim().is_empty()
                && first != "dn: dc=example,dc=com"
                && first != "dn: ou=people,dc=example,dc=com"
                && first != "dn: ou=groups,dc=example,dc=com"
        })
        .collect();
    let _ = slapd;
    Slapd::start_with(&rest.join("\n\n"))
}
