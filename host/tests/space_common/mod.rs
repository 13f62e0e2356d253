//! Helpers shared by the connector-space tests.
#![allow(dead_code, clippy::unwrap_used)]

use connector_core::import::ImportItem;
use connector_core::object::{AttrValue, ConnectorObject};
use std::path::Path;

use connector_host::space::{IndexSpec, IndexedAttribute, Space};
use tempfile::TempDir;

pub mod pg;
pub mod snapshot;

/// `User` with userName (case-insensitive), employeeId (case-exact), mail (case-insensitive).
pub fn spec() -> IndexSpec {
    IndexSpec::new(vec![
        IndexedAttribute::new("User", "userName"),
        IndexedAttribute::new("User", "employeeId").case_exact(),
        IndexedAttribute::new("User", "mail"),
    ])
}

/// What keeps a fresh space alive: its directory and, on PostgreSQL, its database.
pub struct Fixture {
    dir: TempDir,
    /// The PostgreSQL database, when the space is on one.
    pub pg: Option<pg::PgDb>,
}

impl Fixture {
    /// The temporary directory (the SQLite file is `space.db` in it).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The same space opened again (after a drop: a restart of the host).
    pub fn reopen(&self, index: IndexSpec) -> Space {
        match &self.pg {
            Some(db) => db.open("test", index),
            None => Space::open(&self.path().join("space.db"), index).unwrap(),
        }
    }
}

/// A fresh space in a temporary directory (keep the fixture alive). With
/// `CH_TEST_SPACE_BACKEND=postgres` (and the `CH_TEST_PG_*` server), the same tests run on a
/// fresh PostgreSQL database instead: both backends must behave alike.
pub fn fresh() -> (Fixture, Space) {
    let dir = tempfile::tempdir().unwrap();
    if std::env::var("CH_TEST_SPACE_BACKEND").is_ok_and(|b| b == "postgres")
        && let Some(db) = pg::PgDb::fresh("space on PostgreSQL")
    {
        let space = db.open("test", spec());
        return (Fixture { dir, pg: Some(db) }, space);
    }
    let space = Space::open(&dir.path().join("space.db"), spec()).unwrap();
    (Fixture { dir, pg: None }, space)
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
