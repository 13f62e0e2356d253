//! The on-disk layout of a connector space and its versioning, kept in one place so that the
//! SQL every other module runs has a single definition to agree with.
//!
//! A `meta` table holds the schema version; a file written by a newer connector-host is refused
//! rather than half-understood. Counts per object type are kept by triggers so `count` (the
//! `totalResults` of every SCIM list page) is one row read, not an index scan over 1M entries,
//! and deleting an object drops its index entries in the same statement.
//!
//! No index is partial: with a partial index on a table, SQLite re-prepares every statement
//! that binds a parameter in a WHERE clause on that table at each execution (the plan depends on
//! whether the value implies the index's condition), which measured as a fifth of lookup time.

use rusqlite::{Connection, OptionalExtension};

/// The schema version this build writes and reads. Version 2 added `pending` (what an
/// accepted-pending export waits for) and `runs.notes`; version 3 added `intents` (exports in
/// flight); version 4 added `runs.host` (which host ran an import, when several share a
/// connector). Older files are upgraded in place, one step at a time.
pub const SCHEMA_VERSION: i64 = 4;

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
        set_meta(conn, "schema_version", &SCHEMA_VERSION.to_string())?;
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
