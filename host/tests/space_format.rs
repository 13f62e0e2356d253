//! The stored form of objects: a space written before the compact body (every body the
//! object's JSON, as connector-host wrote it until then) opens and serves its objects as they
//! were, and writing the same content again is no change (same version, so the same ETag),
//! while new and changed content is stored compactly.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod space_common;

use std::path::Path;

use connector_core::object::{AttrValue, ConnectorObject};
use connector_host::space::{ImportStats, Origin, Space};
use space_common::{anchors, spec, up, user};
use time::OffsetDateTime;

/// Objects with every kind of stored value.
fn objects() -> Vec<ConnectorObject> {
    let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let mut a = user(
        "a",
        "Ann",
        &[("mail", "ann@example.com"), ("givenName", "Änn 🙂")],
    )
    .with("employeeNumber", vec![AttrValue::Integer(-42)])
    .with("active", vec![AttrValue::Boolean(true)])
    .with("hired", vec![AttrValue::DateTime(t)])
    .with("photo", vec![AttrValue::Binary(vec![0, 1, 254, 255])])
    .with("manager", vec![AttrValue::Reference("b".into())]);
    a.dn = Some("CN=Ann,OU=Zürich,DC=example".into());
    let b = user("b", "Bob", &[("employeeId", "E2"), ("title", "")]);
    vec![a, b]
}

/// Turns every body of the file into the object's JSON, the form of spaces written before the
/// compact body (schema version 3, the same tables).
fn write_json_bodies(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<(i64, String, String)> = conn
        .prepare("SELECT id, object_type, anchor FROM objects")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    for (id, object_type, anchor) in rows {
        let object = objects()
            .into_iter()
            .find(|o| o.object_type == object_type && o.anchor.0 == anchor)
            .unwrap();
        let json = serde_json::to_string(&object).unwrap();
        conn.execute(
            "UPDATE objects SET body = ?2 WHERE id = ?1",
            rusqlite::params![id, json],
        )
        .unwrap();
    }
    assert_eq!(body_kinds(path), ["text"]);
}

/// The storage classes of the bodies in the file.
fn body_kinds(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.prepare("SELECT DISTINCT typeof(body) FROM objects ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// An old-format space: objects stored (version 2 for `a`), then their bodies turned to JSON.
fn old_space(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("space.db");
    let space = Space::open(&path, spec()).unwrap();
    for o in objects() {
        space.put(&o, Origin::Export).unwrap();
    }
    let mut changed = objects().remove(0);
    changed.set("title", vec!["first".into()]);
    space.put(&changed, Origin::Export).unwrap();
    space.put(&objects()[0], Origin::Export).unwrap();
    drop(space);
    write_json_bodies(&path);
    path
}

#[test]
fn an_old_json_space_serves_its_objects_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_space(dir.path());
    let space = Space::open(&path, spec()).unwrap();
    let a = space.get("User", &"a".into()).unwrap().unwrap();
    assert_eq!(a.object, objects()[0]);
    assert_eq!(a.version, 3);
    assert_eq!(
        anchors(&space.lookup("User", "userName", "ANN").unwrap()),
        ["a"]
    );
    assert_eq!(
        anchors(&space.lookup("User", "employeeId", "E2").unwrap()),
        ["b"]
    );
    let by_dn = space
        .get_by_dn("User", "cn=ann,ou=zürich,dc=example")
        .unwrap()
        .unwrap();
    assert_eq!(by_dn.object, objects()[0]);
    let listed: Vec<ConnectorObject> = space
        .list("User", 0, 10)
        .unwrap()
        .into_iter()
        .map(|s| s.object)
        .collect();
    assert_eq!(listed, objects());
}

#[test]
fn writing_the_same_content_over_an_old_body_is_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_space(dir.path());
    let space = Space::open(&path, spec()).unwrap();
    let before = space.get("User", &"a".into()).unwrap().unwrap();
    let again = space.put(&objects()[0], Origin::Export).unwrap();
    assert_eq!(again.version, before.version, "same content, same version");
    assert_eq!(again.modified, before.modified);
    // A change is a change, and is stored compactly.
    let mut changed = objects()[1].clone();
    changed.set("title", vec!["Boss".into()]);
    let b = space.put(&changed, Origin::Export).unwrap();
    assert_eq!(b.version, 2);
    drop(space);
    assert_eq!(body_kinds(&path), ["blob"], "both rows rewritten compactly");
    let space = Space::open(&path, spec()).unwrap();
    assert_eq!(
        space.get("User", &"b".into()).unwrap().unwrap().object,
        changed
    );
    assert_eq!(
        space.get("User", &"a".into()).unwrap().unwrap().version,
        before.version
    );
}

#[test]
fn a_full_import_over_old_bodies_counts_them_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_space(dir.path());
    let space = Space::open(&path, spec()).unwrap();
    let versions: Vec<u64> = space
        .list("User", 0, 10)
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&objects().into_iter().map(up).collect::<Vec<_>>())
        .unwrap();
    let stats = import.commit(None).unwrap();
    assert_eq!(
        stats,
        ImportStats {
            unchanged: 2,
            ..ImportStats::default()
        }
    );
    let after: Vec<u64> = space
        .list("User", 0, 10)
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert_eq!(after, versions);
    // A second import compares compact bodies only.
    let mut import = space.begin_full_import("User").unwrap();
    import
        .add_page(&objects().into_iter().map(up).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(import.commit(None).unwrap().unchanged, 2);
    drop(space);
    assert_eq!(body_kinds(&path), ["blob"]);
}

#[test]
fn a_secret_is_never_stored() {
    let (_dir, space) = space_common::fresh();
    let o = user("s", "Sam", &[]).with(
        "password",
        vec![AttrValue::Secret(connector_core::secret::Secret::new(
            "hunter2",
        ))],
    );
    let err = space.put(&o, Origin::Export).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(space.get("User", &"s".into()).unwrap().is_none());
}

#[test]
fn two_processes_on_one_file_agree_on_new_attribute_names() {
    // The `import` command writing the file of a running host: each has its own dictionary
    // of attribute names in memory.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.db");
    let host = Space::open(&path, spec()).unwrap();
    host.put(&user("a", "ann", &[("mail", "a@x")]), Origin::Export)
        .unwrap();
    let other = Space::open(&path, spec()).unwrap();
    // Names neither has seen, one from each side.
    let b = user("b", "bob", &[("department", "Sales")]);
    other.put(&b, Origin::Import).unwrap();
    let c = user("c", "cy", &[("costCenter", "42")]);
    host.put(&c, Origin::Export).unwrap();
    // Each reads what the other wrote, with the right names.
    assert_eq!(host.get("User", &"b".into()).unwrap().unwrap().object, b);
    assert_eq!(other.get("User", &"c".into()).unwrap().unwrap().object, c);
    drop((host, other));
    let again = Space::open(&path, spec()).unwrap();
    assert_eq!(again.get("User", &"b".into()).unwrap().unwrap().object, b);
    assert_eq!(again.get("User", &"c".into()).unwrap().unwrap().object, c);
}
