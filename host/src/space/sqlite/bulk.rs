//! The bulk path of a full import: the first import of an object type into a space that holds
//! none of it (a first start on a million-row table) writes straight into `objects`, page by
//! page, instead of staging everything and merging it. There is nothing to compare with, so the
//! staging table, the join and the re-parse of every object are pure cost.
//!
//! Index entries go to a temporary table and enter `idx` once, in key order, at the commit;
//! when the whole space is empty the DN index is dropped for the load and built once at the end.
//! Objects written before the commit are visible to readers, but no one is served from them:
//! a connector whose type never completed a full import answers 503 (`Runtime::ensure_ready`).
//! An interrupted load leaves a flag in `meta`; the load's rows are removed when the import is
//! dropped or, after a crash, when the space is next opened, so the space is back to empty,
//! never half imported.

use connector_core::ConnectorObject;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::index::{self, Index, STAGING_COLUMNS};
use super::schema;
use super::stored::{Origin, dn_hash, to_nanos};
use crate::space::error::Fail;

/// The `meta` key flagging a bulk load of `object_type` in progress.
fn flag(object_type: &str) -> String {
    format!("bulk_load:{object_type}")
}

/// The DN index, as the schema defines it (dropped for a load into an empty space).
const DN_INDEX: &str = "CREATE INDEX IF NOT EXISTS objects_dn ON objects (object_type, dn_hash)";

/// Whether a full import of `object_type` can take the bulk path: the space holds none of it
/// and no full import of it ever succeeded. Starts the load when it can (flag set, the DN index
/// dropped when the space is empty) and creates `idx_table` for the index entries.
pub(crate) fn begin(conn: &Connection, object_type: &str, idx_table: &str) -> Result<bool, Fail> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM objects WHERE object_type = ?1)
             OR EXISTS (SELECT 1 FROM runs WHERE object_type = ?1 AND kind = 'full'
                        AND outcome = 'success')",
        [object_type],
        |row| row.get(0),
    )?;
    if present {
        return Ok(false);
    }
    let empty: bool = conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM objects)", [], |row| {
        row.get(0)
    })?;
    if empty {
        conn.execute_batch("DROP INDEX IF EXISTS objects_dn")?;
    }
    schema::set_meta(conn, &flag(object_type), "1")?;
    conn.execute_batch(&format!("CREATE TABLE {idx_table} ({STAGING_COLUMNS})"))?;
    Ok(true)
}

/// What one page did; `replaced` when an anchor came twice or was deleted (its first index
/// entries are then stale in the staging table).
pub(crate) struct Page {
    pub replaced: bool,
}

/// One item of a page: the anchor, and the object with its encoded body (`None`: delete).
pub(crate) type PageRow<'a> = (&'a str, Option<(&'a ConnectorObject, Vec<u8>)>);

/// Writes one page inside the caller's transaction: objects with their encoded bodies, and
/// anchors to delete (`None` bodies).
pub(crate) fn write_page(
    conn: &Connection,
    index: &Index,
    idx_table: &str,
    object_type: &str,
    rows: &[PageRow<'_>],
) -> Result<Page, Fail> {
    let now = to_nanos(OffsetDateTime::now_utc());
    let mut replaced = false;
    let mut insert = conn.prepare_cached(
        "INSERT INTO objects (object_type, anchor, dn_hash, body, created, modified, version,
         origin) VALUES (?1, ?2, ?3, ?4, ?5, 0, 1, ?6)
         ON CONFLICT (object_type, anchor) DO NOTHING",
    )?;
    let mut delete =
        conn.prepare_cached("DELETE FROM objects WHERE object_type = ?1 AND anchor = ?2")?;
    for (anchor, row) in rows {
        let Some((object, body)) = row else {
            replaced |= delete.execute(params![object_type, anchor])? > 0;
            continue;
        };
        let dn = dn_hash(object);
        let args = params![object_type, anchor, dn, body, now, Origin::Import.code()];
        if insert.execute(args)? == 0 {
            // The same anchor twice in one import: the later one wins, as in a staged import.
            delete.execute(params![object_type, anchor])?;
            insert.execute(args)?;
            replaced = true;
        }
        index::write_entries(conn, index, idx_table, conn.last_insert_rowid(), object)?;
    }
    Ok(Page { replaced })
}

/// Finishes the load inside the caller's transaction: index entries into `idx` in key order
/// (only those of objects still there when some were replaced), the DN index back, the flag
/// cleared. Returns the number of objects loaded.
pub(crate) fn finish(
    conn: &Connection,
    object_type: &str,
    idx_table: &str,
    replaced: bool,
) -> Result<u64, Fail> {
    let live = if replaced {
        "WHERE object_id IN (SELECT id FROM objects)"
    } else {
        ""
    };
    conn.execute_batch(&format!(
        "INSERT OR IGNORE INTO idx (attr, value_norm, object_id)
         SELECT attr, value_norm, object_id FROM {idx_table} {live}
         ORDER BY attr, value_norm, object_id;
         DROP TABLE {idx_table};
         {DN_INDEX};"
    ))?;
    conn.execute("DELETE FROM meta WHERE key = ?1", [flag(object_type)])?;
    let n: Option<i64> = conn
        .query_row(
            "SELECT n FROM type_counts WHERE object_type = ?1",
            [object_type],
            |row| row.get(0),
        )
        .optional()?;
    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
}

/// Removes what interrupted loads wrote (inside the caller's transaction): every type flagged
/// in `meta`. Returns the types cleaned up.
pub(crate) fn discard_interrupted(conn: &Connection) -> Result<Vec<String>, Fail> {
    let types: Vec<String> = {
        let mut stmt = conn.prepare("SELECT key FROM meta WHERE key LIKE 'bulk_load:%'")?;
        stmt.query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|k| k.strip_prefix("bulk_load:").map(str::to_owned))
            .collect()
    };
    for t in &types {
        discard(conn, t)?;
    }
    Ok(types)
}

/// Removes the objects of an interrupted load of `object_type` and its flag.
pub(crate) fn discard(conn: &Connection, object_type: &str) -> Result<(), Fail> {
    conn.execute("DELETE FROM objects WHERE object_type = ?1", [object_type])?;
    // None were written (the load's entries wait in a temporary table), so this is a guard.
    conn.execute(
        "DELETE FROM idx WHERE attr IN (SELECT id FROM idx_attrs WHERE object_type = ?1)",
        [object_type],
    )?;
    conn.execute_batch(DN_INDEX)?;
    conn.execute("DELETE FROM meta WHERE key = ?1", [flag(object_type)])?;
    Ok(())
}
