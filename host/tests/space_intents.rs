//! Exports in flight recorded in the connector space: open until the write-through of their
//! anchor (or a delete, or an explicit clear), anchorless creates settled by the next full
//! import, all surviving a reopen; and a version 2 file upgraded in place.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use connector_core::object::Anchor;
use connector_host::space::{Origin, SCHEMA_VERSION, Space};
use space_common::{fresh, spec, up, user};

fn open_anchors(space: &Space) -> Vec<Option<String>> {
    space
        .open_intents()
        .unwrap()
        .into_iter()
        .map(|i| i.anchor.map(|a| a.as_str().to_owned()))
        .collect()
}

#[test]
fn a_write_through_clears_the_intent_of_its_anchor_and_nothing_else() {
    let (dir, space) = fresh();
    space.put(&user("a", "alice", &[]), Origin::Import).unwrap();
    space
        .record_intent("User", Some(&Anchor::from("a")), "test-host")
        .unwrap();
    space
        .record_intent("User", Some(&Anchor::from("b")), "test-host")
        .unwrap();
    let c = space
        .record_intent("User", Some(&Anchor::from("c")), "test-host")
        .unwrap();
    space.record_intent("User", None, "test-host").unwrap();
    assert_eq!(open_anchors(&space).len(), 4);

    space.put(&user("b", "bob", &[]), Origin::Export).unwrap();
    space.remove("User", &Anchor::from("a")).unwrap();
    space.clear_intent(c).unwrap();
    assert_eq!(
        open_anchors(&space),
        vec![None],
        "only the anchorless create is open"
    );

    // Open intents outlive the process: a reopen (after a kill) still sees them.
    space
        .record_intent("User", Some(&Anchor::from("d")), "test-host")
        .unwrap();
    drop(space);
    let space = dir.reopen(spec());
    assert_eq!(open_anchors(&space), vec![None, Some("d".into())]);

    // A full import settles anchorless creates recorded before it began, not anchored ones.
    let mut import = space.begin_full_import("User").unwrap();
    import.add_page(&[up(user("b", "bob", &[]))]).unwrap();
    let late = space.record_intent("User", None, "test-host").unwrap();
    import.commit(None).unwrap();
    let open = space.open_intents().unwrap();
    assert_eq!(
        open.iter().map(|i| i.id).collect::<Vec<_>>().last(),
        Some(&late),
        "a create recorded during the import stays open"
    );
    assert_eq!(open_anchors(&space), vec![Some("d".into()), None]);
}

#[test]
fn a_version_2_space_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    {
        let space = Space::open(&path, spec()).unwrap();
        space.put(&user("a", "alice", &[]), Origin::Import).unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE intents; ALTER TABLE runs DROP COLUMN host;
             UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(space.count("User").unwrap(), 1);
    space
        .record_intent("User", Some(&Anchor::from("a")), "test-host")
        .unwrap();
    assert_eq!(open_anchors(&space), vec![Some("a".into())]);
    let version: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
}
