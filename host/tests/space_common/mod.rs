//! Helpers shared by the connector-space tests.
#![allow(dead_code, clippy::unwrap_used)]

use connector_core::import::ImportItem;
use connector_core::object::{AttrValue, ConnectorObject};
use connector_host::space::{IndexSpec, IndexedAttribute, Space};
use tempfile::TempDir;

/// `User` with userName (case-insensitive), employeeId (case-exact), mail (case-insensitive).
pub fn spec() -> IndexSpec {
    IndexSpec::new(vec![
        IndexedAttribute::new("User", "userName"),
        IndexedAttribute::new("User", "employeeId").case_exact(),
        IndexedAttribute::new("User", "mail"),
    ])
}

/// A fresh space in a temporary directory (keep the directory alive).
pub fn fresh() -> (TempDir, Space) {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::open(&dir.path().join("space.db"), spec()).unwrap();
    (dir, space)
}

/// A user with a userName and optional extra single-valued string attributes.
pub fn user(anchor: &str, user_name: &str, extra: &[(&str, &str)]) -> ConnectorObject {
    let mut o = ConnectorObject::new("User", anchor).with("userName", vec![user_name.into()]);
    for (k, v) in extra {
        o.set(*k, vec![AttrValue::from(*v)]);
    }
    o
}

pub fn up(o: ConnectorObject) -> ImportItem {
    ImportItem::Upsert(o)
}

pub fn del(anchor: &str) -> ImportItem {
    ImportItem::Delete {
        object_type: "User".into(),
        anchor: anchor.into(),
    }
}

/// Anchors of stored objects, in order.
pub fn anchors(objects: &[connector_host::space::StoredObject]) -> Vec<String> {
    objects.iter().map(|s| s.object.anchor.0.clone()).collect()
}
