//! The bulk path of a first import: the same final state as a staged import (a later page
//! replacing an anchor, a delete, index entries of the winning content only, DN lookups), and
//! an interrupted first load, dropped or killed, leaves an empty space, never a half one.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use connector_core::import::Watermark;
use connector_core::object::Anchor;
use connector_host::space::{ImportStats, Space};
use space_common::{anchors, del, fresh, spec, up, user};

fn with_dn(anchor: &str, name: &str) -> connector_core::ConnectorObject {
    let mut o = user(anchor, name, &[("mail", &format!("{name}@example.com"))]);
    o.dn = Some(format!("CN={name},DC=Example"));
    o
}

#[test]
fn a_first_import_loaded_in_bulk_ends_as_a_staged_one_would() {
    let (_dir, space) = fresh();
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[up(with_dn("a", "ann")), up(with_dn("b", "bob"))])
        .unwrap();
    import
        .add_page(&[up(with_dn("c", "cy")), up(with_dn("a", "anna")), del("b")])
        .unwrap();
    let stats = import.commit(Some(&Watermark("w1".into()))).unwrap();
    assert_eq!(
        stats,
        ImportStats {
            added: 2,
            ..ImportStats::default()
        }
    );
    assert_eq!(anchors(&space.list("User", 0, 10).unwrap()), ["a", "c"]);
    assert_eq!(space.count("User").unwrap(), 2);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "ANNA").unwrap()),
        ["a"]
    );
    assert!(
        space.lookup("User", "userName", "ann").unwrap().is_empty(),
        "replaced content"
    );
    assert!(
        space
            .lookup("User", "mail", "bob@example.com")
            .unwrap()
            .is_empty(),
        "deleted"
    );
    let by_dn = space
        .get_by_dn("User", "cn=cy,dc=example")
        .unwrap()
        .unwrap();
    assert_eq!(by_dn.object.anchor, Anchor::from("c"));
    assert_eq!(
        space.watermark("User").unwrap(),
        Some(Watermark("w1".into()))
    );

    // The next import is an ordinary merge over what the load stored.
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[up(with_dn("a", "anna")), up(with_dn("d", "dee"))])
        .unwrap();
    let stats = import.commit(None).unwrap();
    assert_eq!(
        stats,
        ImportStats {
            added: 1,
            unchanged: 1,
            removed: 1,
            ..ImportStats::default()
        }
    );
    assert_eq!(anchors(&space.list("User", 0, 10).unwrap()), ["a", "d"]);
}

#[test]
fn an_abandoned_first_load_leaves_the_space_empty() {
    let (_dir, space) = fresh();
    let mut import = space.begin_full_import("User").unwrap();
    import.add_page(&[up(with_dn("a", "ann"))]).unwrap();
    drop(import);
    assert_eq!(space.count("User").unwrap(), 0);
    assert!(space.list("User", 0, 10).unwrap().is_empty());
    assert!(space.lookup("User", "userName", "ann").unwrap().is_empty());
    // And it can be done again, completely.
    let mut import = space.begin_full_import("User").unwrap();
    import.add_page(&[up(with_dn("a", "ann"))]).unwrap();
    import.commit(None).unwrap();
    assert_eq!(space.count("User").unwrap(), 1);
}

#[test]
fn a_first_load_killed_mid_way_is_removed_when_the_space_is_next_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    {
        let space = Space::open(&path, spec()).unwrap();
        let mut import = space.begin_full_import("User").unwrap();
        import
            .add_page(&[up(with_dn("a", "ann")), up(with_dn("b", "bob"))])
            .unwrap();
        // A kill: no destructor runs, the pages committed so far stay in the file.
        std::mem::forget(import);
    }
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(space.count("User").unwrap(), 0);
    assert!(space.list("User", 0, 10).unwrap().is_empty());
    let mut import = space.begin_full_import("User").unwrap();
    import.add_page(&[up(with_dn("c", "cy"))]).unwrap();
    import.commit(None).unwrap();
    assert_eq!(anchors(&space.list("User", 0, 10).unwrap()), ["c"]);
    assert!(
        space
            .get_by_dn("User", "cn=cy,dc=example")
            .unwrap()
            .is_some()
    );
}
