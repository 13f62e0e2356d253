//! Single-object operations of the connector space: put, get, lookups, listing, counting,
//! versions, run history, restart and index specification changes.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use connector_core::import::Watermark;
use connector_core::object::{Anchor, AttrValue, ConnectorObject};
use connector_host::space::{
    ImportStats, IndexSpec, IndexedAttribute, Origin, SCHEMA_VERSION, Space, SpaceError,
};
use space_common::{anchors, fresh, spec, up, user};

#[test]
fn put_then_get_returns_the_object_with_version_one() {
    let (_dir, space) = fresh();
    let o = user("1", "alice", &[("mail", "Alice@Example.com")]);
    let stored = space.put(&o, Origin::Export).unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.origin, Origin::Export);
    assert_eq!(stored.created, stored.modified);
    let got = space.get("User", &Anchor::from("1")).unwrap().unwrap();
    assert_eq!(got, stored);
    assert_eq!(space.get("User", &Anchor::from("2")).unwrap(), None);
    assert_eq!(space.get("Group", &Anchor::from("1")).unwrap(), None);
}

#[test]
fn every_value_type_round_trips() {
    let (_dir, space) = fresh();
    let t = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let o = ConnectorObject::new("User", "x")
        .with("s", vec!["Jürgen 日本".into(), "two".into()])
        .with("i", vec![AttrValue::Integer(-5)])
        .with("b", vec![AttrValue::Boolean(false)])
        .with("d", vec![AttrValue::DateTime(t)])
        .with("bin", vec![AttrValue::Binary(vec![0, 255])])
        .with("r", vec![AttrValue::Reference("y".into())]);
    space.put(&o, Origin::Import).unwrap();
    assert_eq!(
        space
            .get("User", &Anchor::from("x"))
            .unwrap()
            .unwrap()
            .object,
        o
    );
}

#[test]
fn version_grows_only_when_content_changes() {
    let (_dir, space) = fresh();
    let a = user("1", "alice", &[]);
    let v1 = space.put(&a, Origin::Export).unwrap();
    let same = space.put(&a, Origin::Import).unwrap();
    assert_eq!(
        (same.version, same.modified, same.origin),
        (1, v1.modified, Origin::Export)
    );
    let b = user("1", "alice", &[("mail", "a@x")]);
    let v2 = space.put(&b, Origin::Import).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.created, v1.created);
    assert_eq!(v2.origin, Origin::Import);
    let v3 = space.put(&a, Origin::Export).unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(space.get("User", &Anchor::from("1")).unwrap().unwrap(), v3);
}

/// One lookup: (attribute, value) → anchors found.
fn check(space: &Space, attribute: &str, value: &str, expected: &[&str]) {
    let found = space.lookup("User", attribute, value).unwrap();
    assert_eq!(anchors(&found), expected, "lookup {attribute} = {value:?}");
}

#[test]
fn lookup_normalises_unless_case_exact() {
    let (_dir, space) = fresh();
    space
        .put(
            &user(
                "1",
                "Alice",
                &[("employeeId", "E-1"), ("mail", "ÄNNE@Example.com")],
            ),
            Origin::Export,
        )
        .unwrap();
    space
        .put(&user("2", "bob", &[("employeeId", "e-1")]), Origin::Export)
        .unwrap();
    let multi = ConnectorObject::new("User", "3")
        .with("userName", vec!["carol".into()])
        .with(
            "mail",
            vec!["c@x".into(), "C.Second@X".into(), "c@X".into()],
        );
    space.put(&multi, Origin::Export).unwrap();
    check(&space, "userName", "alice", &["1"]);
    check(&space, "userName", "ALICE", &["1"]);
    check(&space, "userName", "Alice", &["1"]);
    check(&space, "userName", "alic", &[]);
    check(&space, "userName", "BOB", &["2"]);
    check(&space, "employeeId", "E-1", &["1"]);
    check(&space, "employeeId", "e-1", &["2"]);
    check(&space, "employeeId", "E-2", &[]);
    check(&space, "mail", "änne@example.com", &["1"]);
    check(&space, "mail", "c.second@x", &["3"]);
    check(&space, "mail", "C@x", &["3"]);
}

#[test]
fn lookup_follows_updates_and_removals() {
    let (_dir, space) = fresh();
    space.put(&user("1", "alice", &[]), Origin::Export).unwrap();
    space
        .put(&user("1", "alice2", &[]), Origin::Export)
        .unwrap();
    check(&space, "userName", "alice", &[]);
    check(&space, "userName", "alice2", &["1"]);
    space
        .put(&user("2", "alice2", &[]), Origin::Export)
        .unwrap();
    check(&space, "userName", "alice2", &["1", "2"]);
    assert!(space.remove("User", &Anchor::from("1")).unwrap());
    assert!(!space.remove("User", &Anchor::from("1")).unwrap());
    check(&space, "userName", "alice2", &["2"]);
}

#[test]
fn unindexed_attribute_is_reported_so_the_caller_scans() {
    let (_dir, space) = fresh();
    assert!(space.is_indexed("User", "userName"));
    assert!(!space.is_indexed("User", "displayName"));
    assert!(!space.is_indexed("Group", "userName"));
    assert!(matches!(
        space.lookup("User", "displayName", "x"),
        Err(SpaceError::NotIndexed { .. })
    ));
}

#[test]
fn dn_lookup_ignores_case() {
    let (_dir, space) = fresh();
    let mut o = user("1", "alice", &[]);
    o.dn = Some("CN=Alice Ünal,OU=People,DC=Example".into());
    space.put(&o, Origin::Export).unwrap();
    for dn in [
        "CN=Alice Ünal,OU=People,DC=Example",
        "cn=alice ünal,ou=people,dc=example",
    ] {
        assert_eq!(
            space.get_by_dn("User", dn).unwrap().unwrap().object,
            o,
            "{dn}"
        );
    }
    assert_eq!(space.get_by_dn("User", "cn=bob,dc=example").unwrap(), None);
    assert_eq!(
        space
            .get_by_dn("Group", "cn=alice ünal,ou=people,dc=example")
            .unwrap(),
        None
    );
    let mut renamed = o.clone();
    renamed.dn = Some("cn=alice,dc=example".into());
    space.put(&renamed, Origin::Export).unwrap();
    assert_eq!(
        space
            .get_by_dn("User", "CN=Alice Ünal,OU=People,DC=Example")
            .unwrap(),
        None
    );
    assert!(
        space
            .get_by_dn("User", "CN=ALICE,dc=example")
            .unwrap()
            .is_some()
    );
}

#[test]
fn list_pages_in_creation_order_and_count_is_exact() {
    let (_dir, space) = fresh();
    for a in ["b", "a", "d", "c", "e"] {
        space.put(&user(a, a, &[]), Origin::Import).unwrap();
    }
    space
        .put(&ConnectorObject::new("Group", "0"), Origin::Import)
        .unwrap();
    let list = |offset, limit| anchors(&space.list("User", offset, limit).unwrap());
    assert_eq!(list(0, 100), ["b", "a", "d", "c", "e"]);
    assert_eq!(list(0, 2), ["b", "a"]);
    assert_eq!(list(2, 2), ["d", "c"]);
    assert_eq!(list(4, 2), ["e"]);
    assert_eq!(list(5, 2), Vec::<String>::new());
    assert_eq!(list(500, 2), Vec::<String>::new());
    assert_eq!(list(1, 0), Vec::<String>::new());
    assert_eq!(list(u64::MAX, u64::MAX), Vec::<String>::new());
    assert_eq!(space.count("User").unwrap(), 5);
    assert_eq!(space.count("Group").unwrap(), 1);
    assert_eq!(space.count("Nothing").unwrap(), 0);
    space.remove("User", &Anchor::from("d")).unwrap();
    assert_eq!(space.count("User").unwrap(), 4);
    // A page that starts where none ended is found by position.
    assert_eq!(list(1, 5), ["a", "c", "e"]);
    // Updating an object keeps its place; a new one comes last.
    space
        .put(
            &user("b", "b", &[("mail", "b@example.com")]),
            Origin::Import,
        )
        .unwrap();
    space.put(&user("0", "0", &[]), Origin::Export).unwrap();
    assert_eq!(list(0, 100), ["b", "a", "c", "e", "0"]);
}

#[test]
fn scan_continues_after_an_anchor() {
    let (_dir, space) = fresh();
    for a in ["1", "10", "2", "3"] {
        space.put(&user(a, a, &[]), Origin::Import).unwrap();
    }
    let scan = |after: Option<&str>, limit| {
        anchors(
            &space
                .scan("User", after.map(Anchor::from).as_ref(), limit)
                .unwrap(),
        )
    };
    assert_eq!(scan(None, 3), ["1", "10", "2"]);
    assert_eq!(scan(Some("10"), 3), ["2", "3"]);
    assert_eq!(scan(Some("0"), 1), ["1"]);
    assert_eq!(scan(Some("3"), 3), Vec::<String>::new());
    assert_eq!(scan(None, 0), Vec::<String>::new());
}

#[test]
fn reopen_serves_the_same_objects_and_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    let before = {
        let space = Space::open(&path, spec()).unwrap();
        let mut o = user("1", "alice", &[("mail", "A@x")]);
        o.dn = Some("cn=alice".into());
        space.put(&o, Origin::Export).unwrap();
        space
            .apply_delta(
                "User",
                &[up(user("2", "bob", &[]))],
                Some(&Watermark("w-7".into())),
            )
            .unwrap();
        space.get("User", &Anchor::from("1")).unwrap().unwrap()
    };
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(
        space.get("User", &Anchor::from("1")).unwrap().unwrap(),
        before
    );
    assert_eq!(
        anchors(&space.lookup("User", "mail", "a@X").unwrap()),
        ["1"]
    );
    assert!(space.get_by_dn("User", "CN=ALICE").unwrap().is_some());
    assert_eq!(space.count("User").unwrap(), 2);
    assert_eq!(
        space.watermark("User").unwrap(),
        Some(Watermark("w-7".into()))
    );
    assert_eq!(space.watermark("Group").unwrap(), None);
}

#[test]
fn a_changed_index_spec_rebuilds_entries_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    {
        let space = Space::open(&path, spec()).unwrap();
        for i in 0..50 {
            let o = user(
                &format!("{i:03}"),
                &format!("User{i}"),
                &[
                    ("city", if i % 2 == 0 { "Köln" } else { "Bonn" }),
                    ("employeeId", "X"),
                ],
            );
            space.put(&o, Origin::Import).unwrap();
        }
    }
    let new_spec = IndexSpec::new(vec![
        IndexedAttribute::new("User", "userName").case_exact(),
        IndexedAttribute::new("User", "city"),
    ]);
    let space = Space::open(&path, new_spec.clone()).unwrap();
    assert_eq!(space.lookup("User", "city", "KÖLN").unwrap().len(), 25);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "User7").unwrap()),
        ["007"]
    );
    assert_eq!(space.lookup("User", "userName", "user7").unwrap().len(), 0);
    assert!(matches!(
        space.lookup("User", "employeeId", "X"),
        Err(SpaceError::NotIndexed { .. })
    ));
    drop(space);
    // Back to the first spec: the case-insensitive entries come back, city's go.
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(
        anchors(&space.lookup("User", "userName", "user7").unwrap()),
        ["007"]
    );
    assert_eq!(space.lookup("User", "employeeId", "X").unwrap().len(), 50);
    assert!(!space.is_indexed("User", "city"));
}

#[test]
fn a_newer_schema_or_a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    drop(Space::open(&path, spec()).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
    }
    match Space::open(&path, spec()) {
        Err(SpaceError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let foreign = dir.path().join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert!(matches!(
        Space::open(&foreign, spec()),
        Err(SpaceError::Corrupt(_))
    ));
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    assert!(matches!(
        Space::open(&garbage, spec()),
        Err(SpaceError::Corrupt(_))
    ));
    let missing = dir.path().join("no/such/dir/space.db");
    match Space::open(&missing, spec()) {
        Err(SpaceError::Storage(msg)) => assert!(msg.contains("no/such/dir"), "{msg}"),
        other => panic!("expected Storage, got {other:?}"),
    }
}

#[test]
fn run_history_records_outcomes_newest_first() {
    let (_dir, space) = fresh();
    let full = space.start_run("full", "User", Some("h1:8585")).unwrap();
    let stats = ImportStats {
        added: 3,
        updated: 1,
        unchanged: 2,
        removed: 4,
    };
    space.finish_run(full, "success", &stats).unwrap();
    let delta = space.start_run("delta", "User", None).unwrap();
    let failed = space.start_run("full", "User", Some("h1:8585")).unwrap();
    space
        .finish_run(
            failed,
            "failed: target unavailable",
            &ImportStats::default(),
        )
        .unwrap();
    let runs = space.runs(10).unwrap();
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids, [failed, delta, full]);
    let d = runs.get(1).unwrap();
    assert_eq!((d.outcome.as_str(), d.finished), ("running", None));
    assert_eq!(d.host, None, "a run without a host says so");
    let last = space.last_full_import("User").unwrap().unwrap();
    assert_eq!(
        (
            last.id,
            last.stats,
            last.kind.as_str(),
            last.host.as_deref()
        ),
        (full, stats, "full", Some("h1:8585"))
    );
    assert!(last.finished.unwrap() >= last.started);
    assert_eq!(space.last_full_import("Group").unwrap(), None);
    assert_eq!(space.runs(1).unwrap().len(), 1);
    assert!(matches!(
        space.finish_run(9999, "success", &stats),
        Err(SpaceError::NoSuchRun(9999))
    ));
}

#[test]
fn stepping_through_pages_continues_after_the_last_object_across_writes() {
    let (_dir, space) = fresh();
    for i in 0..20 {
        space
            .put(&user(&format!("{i:02}"), "u", &[]), Origin::Import)
            .unwrap();
    }
    let walk = |space: &Space| {
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let page = space.list("User", offset, 3).unwrap();
            if page.is_empty() {
                return seen;
            }
            offset += page.len() as u64;
            seen.extend(anchors(&page));
        }
    };
    let expected: Vec<String> = (0..20).map(|i| format!("{i:02}")).collect();
    assert_eq!(walk(&space), expected);
    assert_eq!(walk(&space), expected);
    // Page 0..3 served; a removal before the next page does not shift it: offset 3 continues
    // after "02", and the page after that after "04".
    assert_eq!(
        anchors(&space.list("User", 0, 3).unwrap()),
        ["00", "01", "02"]
    );
    space.remove("User", &Anchor::from("01")).unwrap();
    assert_eq!(anchors(&space.list("User", 3, 2).unwrap()), ["03", "04"]);
    space.put(&user("00a", "u", &[]), Origin::Import).unwrap();
    assert_eq!(anchors(&space.list("User", 5, 2).unwrap()), ["05", "06"]);
    // A delta import's removals and additions are followed the same way.
    space
        .apply_delta(
            "User",
            &[
                space_common::del("06"),
                space_common::del("08"),
                up(user("new", "u", &[])),
            ],
            None,
        )
        .unwrap();
    assert_eq!(anchors(&space.list("User", 7, 2).unwrap()), ["07", "09"]);
    // A fresh walk (from offset 0) sees the current state in creation order.
    let mut now: Vec<String> = expected
        .iter()
        .filter(|a| !["01", "06", "08"].contains(&a.as_str()))
        .cloned()
        .collect();
    now.extend(["00a".to_owned(), "new".to_owned()]);
    assert_eq!(walk(&space), now);
}

#[test]
fn a_tool_opening_the_space_as_stored_keeps_the_index_of_the_host_serving_it() {
    let (dir, space) = fresh();
    space
        .put(&user("1", "alice", &[("mail", "a@x")]), Origin::Export)
        .unwrap();
    // The `space` CLI opens the file while the host still has it open.
    let tool = match &dir.pg {
        Some(db) => Space::open_postgres_as_stored(&db.url, None, "test").unwrap(),
        None => Space::open_as_stored(&dir.path().join("space.db")).unwrap(),
    };
    for a in &space.index_spec().attributes {
        assert!(tool.is_indexed(&a.object_type, &a.name), "{a:?}");
    }
    assert_eq!(anchors(&tool.lookup("User", "mail", "A@X").unwrap()), ["1"]);
    drop(tool);
    assert_eq!(
        anchors(&space.lookup("User", "mail", "a@x").unwrap()),
        ["1"]
    );
}

#[test]
fn a_walk_through_all_pages_under_concurrent_creates_and_deletes_sees_every_lasting_object_once() {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const BASE: usize = 3000;
    let (_dir, space) = fresh();
    let space = Arc::new(space);
    for i in 0..BASE {
        space
            .put(&user(&format!("base{i:05}"), "u", &[]), Origin::Import)
            .unwrap();
    }
    // The writer deletes every third base object (spread over the whole order) and creates
    // and deletes objects of its own; every other base object lasts for the whole walk.
    let doomed: Vec<String> = (0..BASE)
        .filter(|i| i % 3 == 1)
        .map(|i| format!("base{i:05}"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (space, stop, writes, doomed) =
            (space.clone(), stop.clone(), writes.clone(), doomed.clone());
        std::thread::spawn(move || {
            // Alternately from the front (behind the walk) and the back (ahead of it).
            let mut doomed: std::collections::VecDeque<String> = doomed.into();
            let mut k = 0u64;
            while !stop.load(Ordering::Acquire) {
                space
                    .put(&user(&format!("new{k:06}"), "u", &[]), Origin::Export)
                    .unwrap();
                if k % 2 == 1 {
                    space
                        .remove("User", &Anchor::from(format!("new{:06}", k - 1)))
                        .unwrap();
                }
                let next = if k.is_multiple_of(2) {
                    doomed.pop_front()
                } else {
                    doomed.pop_back()
                };
                if let Some(a) = next {
                    assert!(space.remove("User", &Anchor::from(a)).unwrap());
                }
                k += 1;
                writes.fetch_add(1, Ordering::AcqRel);
            }
        })
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let page = space.list("User", offset, 50).unwrap();
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        pages += 1;
        for a in anchors(&page) {
            *seen.entry(a).or_default() += 1;
        }
        // New objects come last: stop writing once the walk reaches them, so it ends.
        if anchors(&page).iter().any(|a| a.starts_with("new")) {
            stop.store(true, Ordering::Release);
        }
        // Until then, at least one create and delete lands between every two pages.
        let before = writes.load(Ordering::Acquire);
        while !stop.load(Ordering::Acquire) && writes.load(Ordering::Acquire) == before {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();

    assert!(pages > BASE / 50 / 2, "{pages} pages");
    let repeated: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(a, _)| a)
        .collect();
    assert!(repeated.is_empty(), "repeated: {repeated:?}");
    let skipped: Vec<String> = (0..BASE)
        .map(|i| format!("base{i:05}"))
        .filter(|a| !doomed.contains(a) && !seen.contains_key(a))
        .collect();
    assert!(skipped.is_empty(), "skipped: {skipped:?}");
    // The walk did run while objects were deleted: the ones deleted from the back were gone
    // before it got to them, and totalResults is the true count at the end.
    assert!(doomed.iter().any(|a| !seen.contains_key(a)));
    let listed = anchors(&space.list("User", 0, u64::MAX).unwrap()).len() as u64;
    assert_eq!(space.count("User").unwrap(), listed);
}

#[test]
fn a_version_3_space_is_upgraded_in_place_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    let (full, stats) = {
        let space = Space::open(&path, spec()).unwrap();
        space.put(&user("a", "alice", &[]), Origin::Import).unwrap();
        let full = space.start_run("full", "User", Some("gone")).unwrap();
        let stats = ImportStats {
            added: 1,
            ..ImportStats::default()
        };
        space.finish_run(full, "success", &stats).unwrap();
        (full, stats)
    };
    {
        // What version 3 had: runs without a host.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE runs DROP COLUMN host;
             UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    assert_eq!(
        Space::migrate_file(&path).unwrap(),
        (Some(3), SCHEMA_VERSION)
    );
    assert_eq!(SCHEMA_VERSION, 5);
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(space.count("User").unwrap(), 1);
    let kept = space.last_full_import("User").unwrap().unwrap();
    assert_eq!((kept.id, kept.stats, kept.host), (full, stats, None));
    let next = space.start_run("delta", "User", Some("h2:8585")).unwrap();
    let runs = space.runs(10).unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.id, r.host.as_deref()))
            .collect::<Vec<_>>(),
        [(next, Some("h2:8585")), (full, None)]
    );
    // Migrating again finds the current version and changes nothing.
    drop(space);
    assert_eq!(
        Space::migrate_file(&path).unwrap(),
        (Some(SCHEMA_VERSION), SCHEMA_VERSION)
    );
}
