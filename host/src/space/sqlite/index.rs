//! The SQLite backend's index entries: one row per (type, attribute, normalised value, object),
//! written with each object and rebuilt from the stored objects when the specification changes.

use connector_core::object::ConnectorObject;
use rusqlite::{Connection, params};

use super::body::{self, Stored};
use crate::space::error::Fail;
pub(crate) use crate::space::index::{IndexSpec, IndexedAttribute, SpecChange, diff, normalise};

/// The table index entries go to: `idx` itself, or a staging table a full import's merge
/// fills and then inserts into `idx` in key order (random-order inserts into a B-tree larger
/// than the page cache were the merge's main cost at 1M objects).
pub(crate) const IDX: &str = "idx";

/// Writes the index entries of one stored object (whose old entries are already gone) into
/// `table` (`IDX` or a staging table of the same columns).
pub(crate) fn write_entries(
    conn: &Connection,
    spec: &IndexSpec,
    table: &str,
    object_id: i64,
    object: &ConnectorObject,
) -> rusqlite::Result<()> {
    for attr in spec
        .attributes
        .iter()
        .filter(|a| a.object_type == object.object_type)
    {
        write_attribute_entries(conn, attr, table, object_id, object)?;
    }
    Ok(())
}

fn write_attribute_entries(
    conn: &Connection,
    attr: &IndexedAttribute,
    table: &str,
    object_id: i64,
    object: &ConnectorObject,
) -> rusqlite::Result<()> {
    let values = object.values(&attr.name);
    if values.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {table} (object_type, attribute, value_norm, object_id)
         VALUES (?1, ?2, ?3, ?4)"
    ))?;
    for value in values {
        let norm = normalise(&value.to_text(), attr.case_exact);
        stmt.execute(params![attr.object_type, attr.name, norm, object_id])?;
    }
    Ok(())
}

/// Objects read per batch while building entries, so memory stays bounded at 1M objects.
const REBUILD_BATCH: i64 = 2_000;

/// Applies a specification change inside the caller's transaction: drops stale entries and
/// builds new ones by reading every object of the affected types in batches.
pub(crate) fn apply_change(conn: &Connection, change: &SpecChange<'_>) -> Result<u64, Fail> {
    for (object_type, attribute) in &change.dropped {
        conn.execute(
            "DELETE FROM idx WHERE object_type = ?1 AND attribute = ?2",
            params![object_type, attribute],
        )?;
    }
    let mut objects = 0u64;
    let mut types: Vec<&str> = change
        .built
        .iter()
        .map(|a| a.object_type.as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    for object_type in types {
        let attrs: Vec<&IndexedAttribute> = change
            .built
            .iter()
            .filter(|a| a.object_type == object_type)
            .collect();
        let mut after = 0i64;
        loop {
            let batch: Vec<(i64, Stored, String)> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, body, anchor FROM objects WHERE object_type = ?1 AND id > ?2
                     ORDER BY id LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![object_type, after, REBUILD_BATCH], |row| {
                    Ok((
                        row.get(0)?,
                        Stored::from_value(row.get_ref(1)?)?,
                        row.get(2)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let Some((last, _, _)) = batch.last() else {
                break;
            };
            after = *last;
            for (id, body, anchor) in &batch {
                let object = body::decode(body.as_value(), object_type, anchor)?;
                for attr in &attrs {
                    write_attribute_entries(conn, attr, IDX, *id, &object)?;
                }
                objects += 1;
            }
        }
    }
    Ok(objects)
}
