//! The on-disk layout of a connector space and its versioning, kept in one place so that the
//! SQL every other module runs has a single definition to agree with.
//!
//! A `meta` table holds the schema version; a file written by a newer connector-host is refused
//! rather than half-understood. Counts per object type are kept by triggers so `count` (the
//! `totalResults` of every SCIM list page) is one row read, not an index scan over 1M entries.
//!
//! No index is partial: with a partial index on a table, SQLite re-prepares every statement
//! that binds a parameter in a WHERE clause on that table at each execution (the plan depends on
//! whether the value implies the index's condition), which measured as a fifth of lookup time.

use rusqlite::{Connection, OptionalExtension};

/// The schema version this build writes and reads. Version 2 added `pending` (what an
/// accepted-pending export waits for) and `runs.notes`; version 3 added `intents` (exports in
/// flight); version 4 added `runs.host` (which host ran an import, when several share a
/// connector); version 5 made the space smaller on disk (a dictionary of attribute names for
/// bodies, index entries keyed by an attribute id and without an index by object, the DN
/// indexed by a hash). Older files are upgraded in place, one step at a time; a new file is
/// created as version 1 and upgraded, so there is one definition of each step.
pub const SCHEMA_VERSION: i64 = 5;

/// Tables, indexes and triggers of schema version 1.
const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE objects (
    id          INTEGER PRIMARY KEY,
    object_type TEXT NOT NULL,
    anchor      TEXT NOT NULL,
    dn_norm     TEXT,
    body        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    modified    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    origin      INTEGER NOT NULL
);
CREATE UNIQUE INDEX objects_anchor ON objects (object_type, anchor);
CREATE INDEX objects_dn ON objects (object_type, dn_norm, anchor);

CREATE TABLE idx (
    object_type TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    value_norm  TEXT NOT NULL,
    object_id   INTEGER NOT NULL,
    PRIMARY KEY (object_type, attribute, value_norm, object_id)
) WITHOUT ROWID;
CREATE INDEX idx_object ON idx (object_id);

CREATE TABLE type_counts (
    object_type TEXT PRIMARY KEY,
    n           INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER objects_added AFTER INSERT ON objects BEGIN
    INSERT INTO type_counts (object_type, n) VALUES (new.object_type, 1)
        ON CONFLICT (object_type) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER objects_removed AFTER DELETE ON objects BEGIN
    UPDATE type_counts SET n = n - 1 WHERE object_type = old.object_type;
    DELETE FROM idx WHERE object_id = old.id;
END;

CREATE TABLE watermarks (
    object_type TEXT PRIMARY KEY,
    value       TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    object_type TEXT NOT NULL,
    started     INTEGER NOT NULL,
    finished    INTEGER,
    outcome     TEXT NOT NULL,
    added       INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    removed     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_type ON runs (object_type, kind, id);
";

/// What version 2 adds to version 1: one row per object stored as pending (its export was
/// accepted but queued, e.g. a MIM approval), saying what it waits for and since when; removed
/// with the object or when an import confirms it. And a note per import run (pending exports it
/// confirmed or ended).
const SCHEMA_V2: &str = "
CREATE TABLE pending (
    object_id INTEGER PRIMARY KEY,
    detail    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    is_new    INTEGER NOT NULL
);
CREATE TRIGGER objects_removed_pending AFTER DELETE ON objects BEGIN
    DELETE FROM pending WHERE object_id = old.id;
END;
ALTER TABLE runs ADD COLUMN notes TEXT;
";

/// What version 3 adds to version 2: one row per export in flight, written before the connector
/// is called and deleted in the transaction of its write-through, so after a crash the host
/// knows exactly which objects the space may hold wrongly (`anchor` is NULL for a create whose
/// anchor the target assigns).
const SCHEMA_V3: &str = "
CREATE TABLE intents (
    id          INTEGER PRIMARY KEY,
    object_type TEXT NOT NULL,
    anchor      TEXT,
    since       INTEGER NOT NULL
);
CREATE INDEX intents_anchor ON intents (object_type, anchor);
";

/// What version 4 adds to version 3: the host that ran each import (its `host_id`), so the run
/// history of a connector several hosts serve says which one imported; NULL for runs recorded
/// before.
const SCHEMA_V4: &str = "
ALTER TABLE runs ADD COLUMN host TEXT;
";

/// What version 5 changes (the space on disk, issue #16), after `dn_hash` is filled in
/// (`upgrade_to_v5`):
/// - `names`: the dictionary of attribute names that bodies of the current form refer to by id
///   (`dict`); older bodies keep their names as text until their next write.
/// - `idx` keyed by `attr`, an id in `idx_attrs` for (object type, attribute), instead of both
///   names as text in every entry; `idx_object` (every key again, so the delete trigger found
///   an object's entries) is gone: an object's entries are deleted from its stored values.
/// - `dn_norm` (the lower-cased DN as text, and again in its index) replaced by `dn_hash`, a
///   32-bit hash of it: a lookup by DN seeks the hash and compares the DNs of the (usually
///   one) objects found.
/// - `objects.modified` 0 for a row not modified since its creation (read as `created`;
///   `stored::COLUMNS`), where it repeated `created` in eight bytes.
const SCHEMA_V5: &str = "
CREATE TABLE names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE idx_attrs (
    id          INTEGER PRIMARY KEY,
    object_type TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    UNIQUE (object_type, attribute)
);
INSERT INTO idx_attrs (object_type, attribute)
    SELECT DISTINCT object_type, attribute FROM idx ORDER BY 1, 2;
CREATE TABLE idx_v5 (
    attr       INTEGER NOT NULL,
    value_norm TEXT NOT NULL,
    object_id  INTEGER NOT NULL,
    PRIMARY KEY (attr, value_norm, object_id)
) WITHOUT ROWID;
INSERT INTO idx_v5 (attr, value_norm, object_id)
    SELECT a.id, i.value_norm, i.object_id FROM idx i
    JOIN idx_attrs a ON a.object_type = i.object_type AND a.attribute = i.attribute
    ORDER BY 1, 2, 3;
DROP TRIGGER objects_removed;
DROP TABLE idx;
ALTER TABLE idx_v5 RENAME TO idx;
CREATE TRIGGER objects_removed AFTER DELETE ON objects BEGIN
    UPDATE type_counts SET n = n - 1 WHERE object_type = old.object_type;
END;

DROP INDEX IF EXISTS objects_dn;
ALTER TABLE objects DROP COLUMN dn_norm;
CREATE INDEX objects_dn ON objects (object_type, dn_hash);
";

/// A 32-bit hash (FNV-1a, the high half) of a lower-cased DN, as `objects.dn_hash` holds it: a
/// fixed function, since it is stored. Four bytes in the row and its index entry, where the
/// DN itself took about forty twice.
pub(crate) fn dn_hash(dn_norm: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dn_norm.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from((h >> 32) as u32 as i32)
}

/// Upgrades a version 4 file in place (inside the caller's transaction); on a new file, the
/// last step of creating it.
fn upgrade_to_v5(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("ALTER TABLE objects ADD COLUMN dn_hash INTEGER")?;
    {
        let mut read = conn.prepare("SELECT id, dn_norm FROM objects WHERE dn_norm IS NOT NULL")?;
        let mut write = conn.prepare("UPDATE objects SET dn_hash = ?2 WHERE id = ?1")?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let dn: String = row.get(1)?;
            write.execute(rusqlite::params![id, dn_hash(&dn)])?;
        }
    }
    conn.execute_batch(SCHEMA_V5)?;
    set_meta(conn, "schema_version", "5")?;
    Ok(())
}

/// What `prepare` found in the file.
pub enum Prepared {
    /// The schema is current (possibly just created).
    Ready,
    /// The file was written by a newer build.
    Newer(i64),
    /// The file holds tables but no connector-space `meta`.
    Foreign,
}

/// Creates the schema in an empty file, or checks the version of an existing one. Runs inside
/// the caller's transaction.
pub fn prepare(conn: &Connection) -> rusqlite::Result<Prepared> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |row| row.get(0),
        )?;
        if tables > 0 {
            return Ok(Prepared::Foreign);
        }
        conn.execute_batch(SCHEMA_V1)?;
        conn.execute_batch(SCHEMA_V2)?;
        conn.execute_batch(SCHEMA_V3)?;
        conn.execute_batch(SCHEMA_V4)?;
        upgrade_to_v5(conn)?;
        return Ok(Prepared::Ready);
    }
    let found = get_meta(conn, "schema_version")?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Ok(Prepared::Newer(found));
    }
    if found < 1 {
        return Ok(Prepared::Foreign);
    }
    if found < 2 {
        conn.execute_batch(SCHEMA_V2)?;
        set_meta(conn, "schema_version", "2")?;
        tracing::info!("connector space upgraded from schema version 1 to 2");
    }
    if found < 3 {
        upgrade_to_v3(conn)?;
    }
    if found < 4 {
        conn.execute_batch(SCHEMA_V4)?;
        set_meta(conn, "schema_version", "4")?;
        tracing::info!("connector space upgraded from schema version 3 to 4");
    }
    if found < 5 {
        let has_names: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'names')",
            [],
            |row| row.get(0),
        )?;
        if has_names {
            // Already the version 5 layout under an older number (a current file with an
            // earlier step undone, as the tests of those steps make): only the number moves.
            set_meta(conn, "schema_version", "5")?;
        } else {
            upgrade_to_v5(conn)?;
        }
        tracing::info!(
            "connector space upgraded from schema version 4 to 5 (bodies keep their form until \
             their next write)"
        );
    }
    Ok(Prepared::Ready)
}

/// Upgrades a version 2 file in place (inside the caller's transaction): adds `intents`.
fn upgrade_to_v3(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA_V3)?;
    set_meta(conn, "schema_version", "3")?;
    tracing::info!("connector space upgraded from schema version 2 to 3");
    Ok(())
}

/// The schema version recorded in a connector space file, without changing it; `None` when the
/// file holds no connector space (yet).
pub fn stored_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    Ok(get_meta(conn, "schema_version")?.and_then(|v| v.parse::<i64>().ok()))
}

/// Reads one `meta` value.
pub fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
}

/// Writes one `meta` value.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use connector_core::object::ConnectorObject;

    use super::dn_hash;
    use crate::space::sqlite::SqliteSpace;
    use crate::space::sqlite::index::IndexSpec;
    use crate::space::stored::Origin;

    /// Two lower-case DNs with the same 32-bit hash (a birthday search: about 80k tries).
    fn colliding_dns() -> (String, String) {
        let mut seen = HashMap::new();
        for i in 0u64.. {
            let dn = format!("cn=user {i},dc=example");
            if let Some(other) = seen.insert(dn_hash(&dn), dn.clone()) {
                return (other, dn);
            }
        }
        unreachable!()
    }

    #[test]
    fn a_dn_lookup_finds_the_right_object_when_two_dns_share_a_hash() {
        let (first, second) = colliding_dns();
        assert_ne!(first, second);
        assert_eq!(dn_hash(&first), dn_hash(&second));
        let dir = tempfile::tempdir().unwrap();
        let space = SqliteSpace::open(&dir.path().join("s.db"), IndexSpec::default()).unwrap();
        for (anchor, dn) in [("z", &first), ("a", &second)] {
            let mut o = ConnectorObject::new("User", anchor);
            o.dn = Some(dn.to_uppercase());
            space.put(&o, Origin::Import).unwrap();
        }
        let found = |dn: &str| {
            space
                .get_by_dn("User", dn)
                .unwrap()
                .map(|s| s.object.anchor.0)
        };
        assert_eq!(found(&first).as_deref(), Some("z"));
        assert_eq!(found(&second.to_uppercase()).as_deref(), Some("a"));
        assert_eq!(found("cn=nobody"), None);
    }
}
