//! The SQLite backend's index entries: one row per (indexed attribute, normalised value,
//! object), written with each object and rebuilt from the stored objects when the specification
//! changes.
//!
//! Since schema version 5 an entry names its (object type, attribute) by a small id
//! (`idx_attrs`) rather than by both names as text, and there is no index by object: an
//! object's entries are found from its stored values (the old body decoded), which is what
//! they were written from.

use std::collections::HashMap;

use connector_core::object::ConnectorObject;
use rusqlite::{Connection, params};

use super::body::{self, Stored};
use super::dict::Dict;
use crate::space::error::Fail;
pub(crate) use crate::space::index::{IndexSpec, IndexedAttribute, SpecChange, diff, normalise};

/// The table index entries go to: `idx` itself, or a staging table a full import's merge
/// fills and then inserts into `idx` in key order (random-order inserts into a B-tree larger
/// than the page cache were the merge's main cost at 1M objects).
pub(crate) const IDX: &str = "idx";

/// The columns of a staging table of index entries (as `idx`, without its key).
pub(crate) const STAGING_COLUMNS: &str =
    "attr INTEGER NOT NULL, value_norm TEXT NOT NULL, object_id INTEGER NOT NULL";

/// The index specification in force and the id of each of its attributes in `idx_attrs`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    pub spec: IndexSpec,
    ids: HashMap<(String, String), i64>,
}

impl Index {
    /// Gives every attribute of `spec` its id, inside the caller's write transaction.
    pub fn load(conn: &Connection, spec: &IndexSpec) -> rusqlite::Result<Index> {
        let mut ids = HashMap::new();
        for attr in &spec.attributes {
            ids.insert(
                (attr.object_type.clone(), attr.name.clone()),
                attr_id(conn, &attr.object_type, &attr.name)?,
            );
        }
        Ok(Index {
            spec: spec.clone(),
            ids,
        })
    }

    /// The id of an indexed attribute of the specification.
    pub fn id(&self, object_type: &str, attribute: &str) -> Option<i64> {
        self.ids
            .get(&(object_type.to_owned(), attribute.to_owned()))
            .copied()
    }

    /// The indexed attributes of `object_type`, with their ids.
    fn of_type<'a>(
        &'a self,
        object_type: &'a str,
    ) -> impl Iterator<Item = (&'a IndexedAttribute, i64)> + 'a {
        self.spec
            .attributes
            .iter()
            .filter(move |a| a.object_type == object_type)
            .filter_map(|a| self.id(&a.object_type, &a.name).map(|id| (a, id)))
    }
}

/// The id of (object type, attribute) in `idx_attrs`, given one if it has none yet.
pub(crate) fn attr_id(
    conn: &Connection,
    object_type: &str,
    attribute: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO idx_attrs (object_type, attribute) VALUES (?1, ?2)
         ON CONFLICT (object_type, attribute) DO NOTHING",
    )?
    .execute(params![object_type, attribute])?;
    conn.prepare_cached("SELECT id FROM idx_attrs WHERE object_type = ?1 AND attribute = ?2")?
        .query_row(params![object_type, attribute], |row| row.get(0))
}

/// Writes the index entries of one stored object (whose old entries are already gone) into
/// `table` (`IDX` or a staging table of `STAGING_COLUMNS`).
pub(crate) fn write_entries(
    conn: &Connection,
    index: &Index,
    table: &str,
    object_id: i64,
    object: &ConnectorObject,
) -> rusqlite::Result<()> {
    for (attr, id) in index.of_type(&object.object_type) {
        write_attribute_entries(conn, attr, id, table, object_id, object)?;
    }
    Ok(())
}

/// Deletes the entries `object` (as stored under `object_id`) has in `idx`.
pub(crate) fn delete_entries(
    conn: &Connection,
    index: &Index,
    object_id: i64,
    object: &ConnectorObject,
) -> rusqlite::Result<()> {
    let mut stmt = conn
        .prepare_cached("DELETE FROM idx WHERE attr = ?1 AND value_norm = ?2 AND object_id = ?3")?;
    for (attr, id) in index.of_type(&object.object_type) {
        for value in object.values(&attr.name) {
            let norm = normalise(&value.to_text(), attr.case_exact);
            stmt.execute(params![id, norm, object_id])?;
        }
    }
    Ok(())
}

/// Deletes the entries of a stored object from its stored body.
pub(crate) fn delete_stored_entries(
    conn: &Connection,
    index: &Index,
    dict: &Dict,
    object_id: i64,
    object_type: &str,
    anchor: &str,
    body: &Stored,
) -> Result<(), Fail> {
    if index.of_type(object_type).next().is_none() {
        return Ok(());
    }
    let object = body::decode(body.as_value(), object_type, anchor, dict)?;
    delete_entries(conn, index, object_id, &object)?;
    Ok(())
}

fn write_attribute_entries(
    conn: &Connection,
    attr: &IndexedAttribute,
    id: i64,
    table: &str,
    object_id: i64,
    object: &ConnectorObject,
) -> rusqlite::Result<()> {
    let values = object.values(&attr.name);
    if values.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO {table} (attr, value_norm, object_id) VALUES (?1, ?2, ?3)"
    ))?;
    for value in values {
        let norm = normalise(&value.to_text(), attr.case_exact);
        stmt.execute(params![id, norm, object_id])?;
    }
    Ok(())
}

/// Objects read per batch while building entries, so memory stays bounded at 1M objects.
const REBUILD_BATCH: i64 = 2_000;

/// Applies a specification change inside the caller's transaction: drops stale entries and
/// builds new ones by reading every object of the affected types in batches. `index` is the
/// new specification's.
pub(crate) fn apply_change(
    conn: &Connection,
    index: &Index,
    dict: &Dict,
    change: &SpecChange<'_>,
) -> Result<u64, Fail> {
    for (object_type, attribute) in &change.dropped {
        conn.execute(
            "DELETE FROM idx WHERE attr =
             (SELECT id FROM idx_attrs WHERE object_type = ?1 AND attribute = ?2)",
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
        let attrs: Vec<(&IndexedAttribute, i64)> = change
            .built
            .iter()
            .filter(|a| a.object_type == object_type)
            .map(|a| match index.id(&a.object_type, &a.name) {
                Some(id) => Ok((a, id)),
                None => Ok((a, attr_id(conn, &a.object_type, &a.name)?)),
            })
            .collect::<rusqlite::Result<_>>()?;
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
                let object = body::decode(body.as_value(), object_type, anchor, dict)?;
                for (attr, attr_id) in &attrs {
                    write_attribute_entries(conn, attr, *attr_id, IDX, *id, &object)?;
                }
                objects += 1;
            }
        }
    }
    Ok(objects)
}
