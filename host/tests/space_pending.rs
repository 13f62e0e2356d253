//! Accepted-pending exports in the connector space: stored with what they wait for, listed,
//! kept by full imports that do not show them, confirmed by an import that does (even with the
//! same content), rejected by a delta that deletes them, expired by a full import after the
//! configured time; and a version 1 file upgraded in place.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use std::time::Duration;

use connector_core::object::Anchor;
use connector_host::space::{Origin, PendingOutcome, SCHEMA_VERSION, Space};
use space_common::{del, fresh, spec, up, user};

const DETAIL: &str = "approval of MIM request 5a1f (create Person)";

fn full_import(space: &Space, items: &[connector_core::ImportItem], expiry: Option<Duration>) {
    let mut import = space.begin_full_import("User").unwrap();
    if let Some(e) = expiry {
        import.expire_pending_after(e);
    }
    import.add_page(items).unwrap();
    import.commit(None).unwrap();
}

#[test]
fn a_pending_export_is_listed_with_what_it_waits_for_and_found_by_lookup() {
    let (_dir, space) = fresh();
    let stored = space.put_pending(&user("p1", "pat", &[]), DETAIL).unwrap();
    assert_eq!(stored.origin, Origin::Pending);
    let pending = space.pending(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(space.pending_count().unwrap(), 1);
    assert_eq!(pending[0].detail, DETAIL);
    assert_eq!(pending[0].object.object.anchor, Anchor::from("p1"));
    assert_eq!(space.lookup("User", "userName", "PAT").unwrap().len(), 1);
}

#[test]
fn a_full_import_that_does_not_show_it_keeps_it_until_one_does_and_confirms_it() {
    let (_dir, space) = fresh();
    space.put_pending(&user("p1", "pat", &[]), DETAIL).unwrap();
    full_import(
        &space,
        &[up(user("a", "alice", &[]))],
        Some(Duration::from_secs(3600)),
    );
    assert_eq!(space.pending(10).unwrap().len(), 1);
    assert!(space.take_ended_pending().is_empty());

    // Same content as exported: still confirmed (origin import, no longer listed).
    full_import(
        &space,
        &[up(user("a", "alice", &[])), up(user("p1", "pat", &[]))],
        Some(Duration::from_secs(3600)),
    );
    let got = space.get("User", &Anchor::from("p1")).unwrap().unwrap();
    assert_eq!((got.origin, got.version), (Origin::Import, 1));
    assert!(space.pending(10).unwrap().is_empty());
    let ended = space.take_ended_pending();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (
            ended[0].outcome,
            ended[0].anchor.as_str(),
            ended[0].detail.as_str()
        ),
        (PendingOutcome::Confirmed, "p1", DETAIL)
    );
}

#[test]
fn a_delta_confirms_an_upsert_and_reports_a_delete_as_rejected() {
    let (_dir, space) = fresh();
    space.put_pending(&user("p1", "pat", &[]), DETAIL).unwrap();
    space
        .put_pending(&user("p2", "quinn", &[]), "approval of MIM request 77")
        .unwrap();
    space
        .apply_delta(
            "User",
            &[up(user("p1", "pat", &[("mail", "pat@x")])), del("p2")],
            None,
        )
        .unwrap();
    assert_eq!(
        space
            .get("User", &Anchor::from("p1"))
            .unwrap()
            .unwrap()
            .origin,
        Origin::Import
    );
    assert_eq!(space.get("User", &Anchor::from("p2")).unwrap(), None);
    assert!(space.pending(10).unwrap().is_empty());
    let mut ended: Vec<_> = space
        .take_ended_pending()
        .into_iter()
        .map(|e| (e.anchor.0, e.outcome, e.detail))
        .collect();
    ended.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ended,
        vec![
            (
                "p1".to_owned(),
                PendingOutcome::Confirmed,
                DETAIL.to_owned()
            ),
            (
                "p2".to_owned(),
                PendingOutcome::Rejected,
                "approval of MIM request 77".to_owned()
            ),
        ]
    );
}

#[test]
fn a_full_import_removes_a_pending_export_past_its_expiry_and_reports_it() {
    let (_dir, space) = fresh();
    space.put_pending(&user("p1", "pat", &[]), DETAIL).unwrap();
    full_import(&space, &[up(user("a", "alice", &[]))], Some(Duration::ZERO));
    assert_eq!(space.get("User", &Anchor::from("p1")).unwrap(), None);
    assert_eq!(space.count("User").unwrap(), 1);
    let ended = space.take_ended_pending();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0].outcome, ended[0].detail.as_str()),
        (PendingOutcome::Expired, DETAIL)
    );
}

#[test]
fn an_export_applied_over_a_pending_one_ends_its_pending_state() {
    let (_dir, space) = fresh();
    space.put_pending(&user("p1", "pat", &[]), DETAIL).unwrap();
    space
        .put(&user("p1", "pat", &[("mail", "p@x")]), Origin::Export)
        .unwrap();
    assert!(space.pending(10).unwrap().is_empty());
    space.remove("User", &Anchor::from("p1")).unwrap();
    space.put_pending(&user("p2", "q", &[]), DETAIL).unwrap();
    space.remove("User", &Anchor::from("p2")).unwrap();
    assert!(space.pending(10).unwrap().is_empty());
}

#[test]
fn run_notes_are_kept_line_by_line() {
    let (_dir, space) = fresh();
    let run = space.start_run("full", "User", Some("h1:8585")).unwrap();
    space
        .finish_run(run, "success", &Default::default())
        .unwrap();
    space.note_run(run, "one").unwrap();
    space.note_run(run, "two").unwrap();
    assert_eq!(space.runs(1).unwrap()[0].notes.as_deref(), Some("one\ntwo"));
}

#[test]
fn a_version_1_space_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    {
        let space = Space::open(&path, spec()).unwrap();
        space.put(&user("a", "alice", &[]), Origin::Import).unwrap();
    }
    {
        // What version 1 had: no pending table, no run notes.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER objects_removed_pending; DROP TABLE pending; DROP TABLE intents;
             ALTER TABLE runs DROP COLUMN notes; ALTER TABLE runs DROP COLUMN host;
             UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(space.count("User").unwrap(), 1);
    space.put_pending(&user("p", "pat", &[]), DETAIL).unwrap();
    assert_eq!(space.pending(10).unwrap().len(), 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
}

#[test]
fn an_import_reads_back_a_pending_change_of_an_existing_object_rather_than_confirm_it() {
    let (_dir, space) = fresh();
    space.put(&user("u1", "una", &[]), Origin::Import).unwrap();
    space
        .put_pending(
            &user("u1", "una", &[("mail", "new@x")]),
            "approval of MIM request 9",
        )
        .unwrap();
    assert_eq!(space.pending(10).unwrap().len(), 1);
    space
        .apply_delta("User", &[up(user("u1", "una", &[]))], None)
        .unwrap();
    let got = space.get("User", &Anchor::from("u1")).unwrap().unwrap();
    assert_eq!(got.object, user("u1", "una", &[]), "the target's state");
    assert!(space.pending(10).unwrap().is_empty());
    let ended = space.take_ended_pending();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].outcome, PendingOutcome::ReadBack);
}
