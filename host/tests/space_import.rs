//! Full and delta imports into the connector space, and concurrent use from several threads.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use connector_core::import::Watermark;
use connector_core::object::Anchor;
use connector_host::space::{ImportStats, Origin, Space, SpaceError};
use space_common::{anchors, del, fresh, spec, up, user};

fn stats(added: u64, updated: u64, unchanged: u64, removed: u64) -> ImportStats {
    ImportStats {
        added,
        updated,
        unchanged,
        removed,
    }
}

fn wm(s: &str) -> Watermark {
    Watermark(s.into())
}

/// Every user's anchor, sorted (`list` pages in creation order).
fn all(space: &Space) -> Vec<String> {
    let mut all = anchors(&space.list("User", 0, 1000).unwrap());
    all.sort();
    all
}

#[test]
fn full_import_into_an_empty_space_adds_everything() {
    let (_dir, space) = fresh();
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[up(user("1", "a", &[])), up(user("2", "b", &[]))])
        .unwrap();
    import.add_page(&[up(user("3", "c", &[]))]).unwrap();
    let got = import.commit(Some(&wm("w1"))).unwrap();
    assert_eq!(got, stats(3, 0, 0, 0));
    assert_eq!(all(&space), ["1", "2", "3"]);
    assert_eq!(space.count("User").unwrap(), 3);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "B").unwrap()),
        ["2"]
    );
    assert_eq!(space.watermark("User").unwrap(), Some(wm("w1")));
}

#[test]
fn commit_removes_unseen_updates_changed_and_keeps_unchanged() {
    let (_dir, space) = fresh();
    for (a, n) in [("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")] {
        space.put(&user(a, n, &[]), Origin::Export).unwrap();
    }
    space
        .put(&user("g", "g", &[]).clone(), Origin::Export)
        .unwrap();
    let group = connector_core::object::ConnectorObject::new("Group", "G1");
    space.put(&group, Origin::Import).unwrap();
    let before_1 = space.get("User", &Anchor::from("1")).unwrap().unwrap();
    let before_2 = space.get("User", &Anchor::from("2")).unwrap().unwrap();

    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[
            up(user("1", "a", &[])),
            up(user("2", "b-new", &[])),
            up(user("5", "e", &[])),
        ])
        .unwrap();
    let got = import.commit(None).unwrap();
    assert_eq!(got, stats(1, 1, 1, 3));
    assert_eq!(all(&space), ["1", "2", "5"]);
    assert_eq!(space.count("User").unwrap(), 3);
    let after_1 = space.get("User", &Anchor::from("1")).unwrap().unwrap();
    assert_eq!(
        after_1, before_1,
        "unchanged object keeps version, modified and origin"
    );
    let after_2 = space.get("User", &Anchor::from("2")).unwrap().unwrap();
    assert_eq!(after_2.version, before_2.version + 1);
    assert_eq!(after_2.created, before_2.created);
    assert_eq!(after_2.origin, Origin::Import);
    assert!(space.lookup("User", "userName", "b").unwrap().is_empty());
    assert!(space.lookup("User", "userName", "d").unwrap().is_empty());
    assert_eq!(
        anchors(&space.lookup("User", "userName", "b-NEW").unwrap()),
        ["2"]
    );
    // Other object types are untouched.
    assert!(space.get("Group", &Anchor::from("G1")).unwrap().is_some());
}

#[test]
fn an_empty_full_import_empties_the_type_and_clears_the_watermark() {
    let (_dir, space) = fresh();
    space
        .apply_delta("User", &[up(user("1", "a", &[]))], Some(&wm("w")))
        .unwrap();
    let import = space.begin_full_import("User").unwrap();
    assert_eq!(import.commit(None).unwrap(), stats(0, 0, 0, 1));
    assert_eq!(space.count("User").unwrap(), 0);
    assert_eq!(space.watermark("User").unwrap(), None);
}

#[test]
fn later_pages_win_and_deletes_unstage() {
    let (_dir, space) = fresh();
    space.put(&user("3", "c", &[]), Origin::Export).unwrap();
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[
            up(user("1", "old", &[])),
            up(user("2", "b", &[])),
            up(user("3", "c", &[])),
        ])
        .unwrap();
    import
        .add_page(&[up(user("1", "new", &[])), del("2"), del("3")])
        .unwrap();
    assert_eq!(import.commit(None).unwrap(), stats(1, 0, 0, 1));
    assert_eq!(all(&space), ["1"]);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "new").unwrap()),
        ["1"]
    );
}

#[test]
fn an_anchor_shown_unchanged_then_changed_or_the_reverse_takes_its_last_content() {
    let (_dir, space) = fresh();
    for o in [
        user("a", "ann", &[]),
        user("b", "bob", &[]),
        user("c", "cy", &[]),
        user("d", "dee", &[]),
    ] {
        space.put(&o, Origin::Export).unwrap();
    }
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[
            up(user("a", "ann", &[])),
            up(user("b", "bobby", &[])),
            up(user("c", "cy", &[])),
            up(user("d", "dee", &[])),
        ])
        .unwrap();
    // a: unchanged, then changed; b: changed, then unchanged again; c: unchanged, then
    // deleted; d: unchanged only; e: new.
    import
        .add_page(&[
            up(user("a", "anna", &[])),
            up(user("b", "bob", &[])),
            del("c"),
            up(user("e", "eve", &[])),
        ])
        .unwrap();
    assert_eq!(import.commit(None).unwrap(), stats(1, 1, 2, 1));
    assert_eq!(all(&space), ["a", "b", "d", "e"]);
    let version = |anchor: &str| {
        space
            .get("User", &Anchor::from(anchor))
            .unwrap()
            .unwrap()
            .version
    };
    assert_eq!(
        (version("a"), version("b"), version("d"), version("e")),
        (2, 1, 1, 1)
    );
    assert_eq!(
        anchors(&space.lookup("User", "userName", "anna").unwrap()),
        ["a"]
    );
    assert!(space.lookup("User", "userName", "ann").unwrap().is_empty());
    assert_eq!(
        anchors(&space.lookup("User", "userName", "bob").unwrap()),
        ["b"]
    );
    assert!(
        space
            .lookup("User", "userName", "bobby")
            .unwrap()
            .is_empty()
    );
    assert!(space.lookup("User", "userName", "cy").unwrap().is_empty());
}

#[test]
fn staged_pages_are_invisible_until_commit_even_from_another_thread() {
    let (_dir, space) = fresh();
    space.put(&user("old", "old", &[]), Origin::Import).unwrap();
    let space = Arc::new(space);
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&[up(user("new1", "n1", &[])), up(user("new2", "n2", &[]))])
        .unwrap();
    let reader = Arc::clone(&space);
    let seen = std::thread::spawn(move || {
        (
            all(&reader),
            reader.count("User").unwrap(),
            reader.lookup("User", "userName", "n1").unwrap().len(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(seen, (vec!["old".to_string()], 1, 0));
    // Exports keep being written through while the import stages.
    space
        .put(&user("exported", "x", &[]), Origin::Export)
        .unwrap();
    import.add_page(&[up(user("exported", "x", &[]))]).unwrap();
    import.commit(None).unwrap();
    assert_eq!(all(&space), ["exported", "new1", "new2"]);
}

#[test]
fn dropping_an_import_without_commit_changes_nothing() {
    let (_dir, space) = fresh();
    space
        .apply_delta("User", &[up(user("1", "a", &[]))], Some(&wm("w1")))
        .unwrap();
    let before = space.get("User", &Anchor::from("1")).unwrap();
    {
        let mut import = space.begin_full_import("User").unwrap();
        import
            .add_page(&[up(user("1", "changed", &[])), up(user("2", "b", &[]))])
            .unwrap();
    }
    assert_eq!(all(&space), ["1"]);
    assert_eq!(space.get("User", &Anchor::from("1")).unwrap(), before);
    assert!(
        space
            .lookup("User", "userName", "changed")
            .unwrap()
            .is_empty()
    );
    assert_eq!(space.watermark("User").unwrap(), Some(wm("w1")));
    // The type is free again, and the new import starts from an empty staging area.
    let mut again = space.begin_full_import("User").unwrap();
    again.add_page(&[up(user("3", "c", &[]))]).unwrap();
    assert_eq!(again.commit(None).unwrap(), stats(1, 0, 0, 1));
    assert_eq!(all(&space), ["3"]);
}

#[test]
fn one_full_import_per_type_at_a_time() {
    let (_dir, space) = fresh();
    let users = space.begin_full_import("User").unwrap();
    assert!(
        matches!(space.begin_full_import("User"), Err(SpaceError::ImportRunning(t)) if t == "User")
    );
    let groups = space.begin_full_import("Group").unwrap();
    assert_eq!(users.commit(None).unwrap(), stats(0, 0, 0, 0));
    drop(groups);
    space.begin_full_import("User").unwrap();
}

#[test]
fn items_of_another_type_are_rejected() {
    let (_dir, space) = fresh();
    let mut import = space.begin_full_import("Group").unwrap();
    let err = import.add_page(&[up(user("1", "a", &[]))]).unwrap_err();
    assert!(matches!(err, SpaceError::WrongObjectType { .. }), "{err}");
    let err = space
        .apply_delta("Group", &[up(user("1", "a", &[]))], Some(&wm("w")))
        .unwrap_err();
    assert!(matches!(err, SpaceError::WrongObjectType { .. }), "{err}");
    assert_eq!(space.count("User").unwrap(), 0);
    assert_eq!(space.watermark("Group").unwrap(), None);
}

#[test]
fn a_delta_applies_changes_and_watermark_together() {
    let (_dir, space) = fresh();
    space
        .apply_delta(
            "User",
            &[up(user("1", "a", &[])), up(user("2", "b", &[]))],
            Some(&wm("w1")),
        )
        .unwrap();
    let got = space
        .apply_delta(
            "User",
            &[
                up(user("1", "a", &[])),
                up(user("2", "b2", &[])),
                up(user("3", "c", &[])),
                del("1"),
                del("9"),
            ],
            Some(&wm("w2")),
        )
        .unwrap();
    assert_eq!(got, stats(1, 1, 1, 1));
    assert_eq!(all(&space), ["2", "3"]);
    assert_eq!(
        space
            .get("User", &Anchor::from("2"))
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(space.watermark("User").unwrap(), Some(wm("w2")));
    // No new watermark: the stored one stays.
    space.apply_delta("User", &[del("3")], None).unwrap();
    assert_eq!(space.watermark("User").unwrap(), Some(wm("w2")));
}

#[test]
fn a_failing_delta_changes_nothing_not_even_the_watermark() {
    let (_dir, space) = fresh();
    space
        .apply_delta("User", &[up(user("1", "a", &[]))], Some(&wm("w1")))
        .unwrap();
    // The bad item comes after a good one: the good one must not stay behind.
    let err = space.apply_delta(
        "User",
        &[
            up(user("2", "b", &[])),
            up(connector_core::object::ConnectorObject::new("Group", "g")),
        ],
        Some(&wm("w2")),
    );
    assert!(err.is_err());
    assert_eq!(all(&space), ["1"]);
    assert_eq!(space.watermark("User").unwrap(), Some(wm("w1")));
}

#[test]
fn reopen_after_a_full_import_needs_no_import() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    {
        let space = Space::open(&path, spec()).unwrap();
        let mut import = space.begin_full_import("User").unwrap();
        import
            .add_page(
                &(0..500)
                    .map(|i| up(user(&format!("{i:04}"), &format!("U{i}"), &[])))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        import.commit(Some(&wm("cookie"))).unwrap();
    }
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(space.count("User").unwrap(), 500);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "u123").unwrap()),
        ["0123"]
    );
    assert_eq!(space.watermark("User").unwrap(), Some(wm("cookie")));
}

#[test]
fn concurrent_readers_see_consistent_objects_while_a_writer_puts() {
    let (_dir, space) = fresh();
    for i in 0..100 {
        space
            .put(
                &user(&format!("{i:03}"), &format!("u{i}"), &[("mail", "v0")]),
                Origin::Import,
            )
            .unwrap();
    }
    let space = Arc::new(space);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|t| {
            let space = Arc::clone(&space);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) || reads < 50 {
                    let i = (reads * 7 + t) % 100;
                    let found = space.lookup("User", "userName", &format!("U{i}")).unwrap();
                    assert_eq!(found.len(), 1);
                    let o = found.first().unwrap();
                    // Version and content always agree: version n carries mail "v{n-1}".
                    let mail = o.object.first("mail").unwrap().to_text();
                    assert_eq!(mail, format!("v{}", o.version - 1));
                    assert_eq!(space.count("User").unwrap(), 100);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for round in 1..=5 {
        for i in 0..100 {
            let o = user(
                &format!("{i:03}"),
                &format!("u{i}"),
                &[("mail", &format!("v{round}"))],
            );
            assert_eq!(space.put(&o, Origin::Export).unwrap().version, round + 1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 50);
    }
}
