//! How the SQLite backend writes and reads an object row, so that puts, delta imports and full
//! imports share a single definition of "added", "changed" and "unchanged".
//!
//! An object's content is stored as its body (see `body`: compact, or the JSON of an older
//! space). Encoding is deterministic (attributes are a `BTreeMap`), so "changed" is "the
//! content differs": the bytes, or for an older JSON body its object re-encoded.

use connector_core::object::ConnectorObject;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::Schema;
use super::body::{self, Stored};
use super::dict::Dict;
use super::index::{self};
use crate::space::error::{Fail, SpaceError};
pub(crate) use crate::space::stored::{
    Change, ImportStats, Origin, StoredObject, Written, dn_norm,
};

/// The columns `from_row` reads, in order. Since schema version 5 a row never modified since
/// its creation stores `modified` as 0 (no bytes in SQLite's record format, where the same
/// instant took eight): it reads as `created`.
pub(crate) const COLUMNS: &str = "body, object_type, anchor, created, \
     CASE modified WHEN 0 THEN created ELSE modified END, version, origin";

/// The same columns qualified by the alias `o`.
pub(crate) const O_COLUMNS: &str = "o.body, o.object_type, o.anchor, o.created, \
     CASE o.modified WHEN 0 THEN o.created ELSE o.modified END, o.version, o.origin";

/// Nanoseconds since the Unix epoch, as stored (good until the year 2262).
pub(crate) fn to_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// The instant a stored integer stands for.
pub(crate) fn from_nanos(n: i64) -> Result<OffsetDateTime, SpaceError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| SpaceError::Corrupt(format!("timestamp {n}: {e}")))
}

/// The raw columns of one row, read inside the SQLite callback.
pub(crate) struct RawRow {
    pub body: Stored,
    object_type: String,
    anchor: String,
    created: i64,
    modified: i64,
    version: i64,
    pub origin: i64,
}

impl RawRow {
    /// Reads `COLUMNS` starting at column `at`.
    pub fn read(row: &Row<'_>, at: usize) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            body: Stored::from_value(row.get_ref(at)?)?,
            object_type: row.get(at + 1)?,
            anchor: row.get(at + 2)?,
            created: row.get(at + 3)?,
            modified: row.get(at + 4)?,
            version: row.get(at + 5)?,
            origin: row.get(at + 6)?,
        })
    }

    /// Decodes the row.
    pub fn decode(self, dict: &Dict) -> Result<StoredObject, SpaceError> {
        let object = body::decode(self.body.as_value(), &self.object_type, &self.anchor, dict)?;
        Ok(StoredObject {
            object,
            created: from_nanos(self.created)?,
            modified: from_nanos(self.modified)?,
            version: u64::try_from(self.version).unwrap_or(0),
            origin: Origin::from_code(self.origin)?,
        })
    }
}

/// Runs a query of `COLUMNS` rows and decodes them.
pub(crate) fn query_objects(
    conn: &Connection,
    dict: &Dict,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredObject>, Fail> {
    let mut stmt = conn.prepare_cached(sql)?;
    let raw: Vec<RawRow> = stmt
        .query_map(params, |row| RawRow::read(row, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(raw
        .into_iter()
        .map(|row| row.decode(dict))
        .collect::<Result<_, _>>()?)
}

/// The stored row of an object, before a write.
pub(crate) struct Existing {
    pub id: i64,
    pub row: RawRow,
}

impl Existing {
    /// Reads `id` then `COLUMNS` starting at column `at`; `None` when `id` is NULL (no row).
    pub fn read(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<Existing>> {
        let id: Option<i64> = row.get(at)?;
        match id {
            None => Ok(None),
            Some(id) => Ok(Some(Existing {
                id,
                row: RawRow::read(row, at + 1)?,
            })),
        }
    }
}

/// The stored row of (object type, anchor), if any.
pub(crate) fn find(
    conn: &Connection,
    object_type: &str,
    anchor: &str,
) -> rusqlite::Result<Option<Existing>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, {COLUMNS} FROM objects WHERE object_type = ?1 AND anchor = ?2"
    ))?;
    stmt.query_row(params![object_type, anchor], |row| Existing::read(row, 0))
        .optional()
        .map(Option::flatten)
}

/// The DN as indexed (`objects.dn_hash`): the hash of the lower-cased DN.
pub(crate) fn dn_hash(object: &ConnectorObject) -> Option<i64> {
    dn_norm(object).map(|dn| super::schema::dn_hash(&dn))
}

/// Writes `object` (serialised as `body`) over `existing`, inside the caller's transaction,
/// its index entries going to `idx_table` (see `index::IDX`). Unchanged content writes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store(
    conn: &Connection,
    schema: Schema<'_>,
    idx_table: &str,
    object: &ConnectorObject,
    body: &[u8],
    origin: Origin,
    now: OffsetDateTime,
    existing: Option<Existing>,
) -> Result<Written, Fail> {
    let now_nanos = to_nanos(now);
    let was_pending = existing
        .as_ref()
        .is_some_and(|old| old.row.origin == Origin::Pending.code());
    // A pending object written as anything but pending is no longer pending (an import shows
    // it, or a later export applied over it): its pending row goes, and what it waited for is
    // handed back to the caller.
    let ended_pending = match &existing {
        Some(old) if was_pending && origin != Origin::Pending => end_pending(conn, old.id)?,
        _ => None,
    };
    let same = existing
        .as_ref()
        .is_some_and(|old| body::same_content(&old.row.body, body, schema.dict));
    if let Some(old) = existing
        .as_ref()
        .filter(|old| same && !old.row.body.is_current())
    {
        // An older space's body (JSON, or names as text) with this very content: stored in the
        // current form now, which is not a change (same version, same ETag).
        conn.prepare_cached("UPDATE objects SET body = ?2 WHERE id = ?1")?
            .execute(params![old.id, body])?;
    }
    match existing {
        Some(old) if same && !(was_pending && origin != Origin::Pending) => Ok(Written {
            id: old.id,
            change: Change::Unchanged,
            created: from_nanos(old.row.created)?,
            modified: from_nanos(old.row.modified)?,
            version: u64::try_from(old.row.version).unwrap_or(0),
            origin: Origin::from_code(old.row.origin)?,
            ended_pending,
        }),
        Some(old) if same => {
            // Same content, no longer pending: only the origin changes (the version and the
            // ETag stay, since the content did not change).
            conn.prepare_cached("UPDATE objects SET origin = ?2 WHERE id = ?1")?
                .execute(params![old.id, origin.code()])?;
            Ok(Written {
                id: old.id,
                change: Change::Unchanged,
                created: from_nanos(old.row.created)?,
                modified: from_nanos(old.row.modified)?,
                version: u64::try_from(old.row.version).unwrap_or(0),
                origin,
                ended_pending,
            })
        }
        Some(old) => {
            let created = from_nanos(old.row.created)?;
            let version = old.row.version.saturating_add(1);
            conn.prepare_cached(
                "UPDATE objects SET dn_hash = ?2, body = ?3, modified = ?4, version = ?5,
                 origin = ?6 WHERE id = ?1",
            )?
            .execute(params![
                old.id,
                dn_hash(object),
                body,
                now_nanos,
                version,
                origin.code()
            ])?;
            index::delete_stored_entries(
                conn,
                schema.index,
                schema.dict,
                old.id,
                &object.object_type,
                object.anchor.as_str(),
                &old.row.body,
            )?;
            index::write_entries(conn, schema.index, idx_table, old.id, object)?;
            Ok(Written {
                id: old.id,
                change: Change::Updated,
                created,
                modified: now,
                version: u64::try_from(version).unwrap_or(0),
                origin,
                ended_pending,
            })
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO objects (object_type, anchor, dn_hash, body, created, modified,
                 version, origin) VALUES (?1, ?2, ?3, ?4, ?5, 0, 1, ?6)",
            )?
            .execute(params![
                object.object_type,
                object.anchor.as_str(),
                dn_hash(object),
                body,
                now_nanos,
                origin.code()
            ])?;
            let id = conn.last_insert_rowid();
            index::write_entries(conn, schema.index, idx_table, id, object)?;
            Ok(Written {
                id,
                change: Change::Added,
                created: now,
                modified: now,
                version: 1,
                origin,
                ended_pending: None,
            })
        }
    }
}

/// Removes the pending row of object `id`; returns what it waited for and whether the pending
/// export made a new object (a create) rather than changed one the target holds.
pub(crate) fn end_pending(conn: &Connection, id: i64) -> rusqlite::Result<Option<(String, bool)>> {
    conn.prepare_cached("DELETE FROM pending WHERE object_id = ?1 RETURNING detail, is_new")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// Records (or renews) what object `id` waits for, from `now`; `is_new` when the export creates
/// it (a later pending change of a pending create stays a create).
pub(crate) fn set_pending(
    conn: &Connection,
    id: i64,
    detail: &str,
    now: OffsetDateTime,
    is_new: bool,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO pending (object_id, detail, since, is_new) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (object_id) DO UPDATE SET detail = excluded.detail, since = excluded.since",
    )?
    .execute(params![id, detail, to_nanos(now), is_new])?;
    Ok(())
}
