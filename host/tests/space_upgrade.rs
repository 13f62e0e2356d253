//! A space written by schema version 4 (`fixtures/space-v4.db`, written by the code of that
//! version: compact bodies with attribute names as text, `idx_object`, the DN as text) opens
//! with this build, is upgraded in place, and serves every object, lookup, version (so ETag) and
//! time exactly as the version 4 code did (`fixtures/space-v4.snapshot`, taken by that code from
//! the same file). Writing the same content again is no change; new content takes the current
//! form.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod space_common;

use std::path::{Path, PathBuf};

use connector_core::object::ConnectorObject;
use connector_host::space::{Origin, Space};
use space_common::snapshot::snapshot;
use space_common::{anchors, spec};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of the version 4 file in a temporary directory.
fn v4_copy(dir: &Path) -> PathBuf {
    let path = dir.join("space.db");
    std::fs::copy(fixture("space-v4.db"), &path).unwrap();
    path
}

fn schema_version(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_version_4_space_opens_upgraded_and_serves_everything_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = v4_copy(dir.path());
    assert_eq!(schema_version(&path), "4");
    let space = Space::open(&path, spec()).unwrap();
    let expected = std::fs::read_to_string(fixture("space-v4.snapshot")).unwrap();
    assert_eq!(snapshot(&space), expected);
    drop(space);
    assert_eq!(
        schema_version(&path),
        connector_host::space::SCHEMA_VERSION.to_string()
    );
    // And again after the upgrade (nothing is upgraded twice).
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(snapshot(&space), expected);
}

#[test]
fn writing_the_same_content_over_a_version_4_body_is_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = v4_copy(dir.path());
    let space = Space::open(&path, spec()).unwrap();
    let before = space.list("User", 0, 1000).unwrap();
    for s in &before {
        let origin = if s.origin == Origin::Pending {
            continue;
        } else {
            s.origin
        };
        let again = space.put(&s.object, origin).unwrap();
        assert_eq!(again.version, s.version, "{}", s.object.anchor.0);
        assert_eq!(again.modified, s.modified);
    }
    // A full import of the same content counts every object unchanged.
    let mut import = space.begin_full_import("User").unwrap();
    let items: Vec<_> = before
        .iter()
        .map(|s| connector_core::import::ImportItem::Upsert(s.object.clone()))
        .collect();
    import.add_page(&items).unwrap();
    let stats = import.commit(None).unwrap();
    assert_eq!(stats.added + stats.updated + stats.removed, 0, "{stats:?}");
    let after = space.list("User", 0, 1000).unwrap();
    let versions = |v: &[connector_host::space::StoredObject]| -> Vec<(String, u64)> {
        v.iter()
            .map(|s| (s.object.anchor.0.clone(), s.version))
            .collect()
    };
    assert_eq!(versions(&after), versions(&before));
    // A changed object gets a new version and stays findable by its new value only.
    let mut changed: ConnectorObject = before[0].object.clone();
    changed.set("userName", vec!["renamed".into()]);
    let written = space.put(&changed, Origin::Export).unwrap();
    assert_eq!(written.version, before[0].version + 1);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "RENAMED").unwrap()),
        [before[0].object.anchor.0.clone()]
    );
    let old_name = before[0].object.values("userName")[0].to_text();
    assert!(
        space
            .lookup("User", "userName", &old_name)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = v4_copy(dir.path());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let err = Space::open(&path, spec()).unwrap_err().to_string();
    assert!(err.contains("99"), "{err}");
}
