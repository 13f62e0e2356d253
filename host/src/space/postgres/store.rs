//! How one object is written into a PostgreSQL space (added / updated / unchanged, version,
//! index entries, pending state), shared by puts, deltas and full-import merges so they agree
//! on what "changed" means: the stored JSON differs (serialisation is deterministic).
//!
//! Every write of an object also stamps `written_at` with the database's clock, even when the
//! content is unchanged: a full import merging later skips objects written after it began
//! (another host's write-through is newer than what the import read).

use connector_core::object::ConnectorObject;
use postgres::{GenericClient, Row};
use time::OffsetDateTime;

use super::pool::{Db, Fail};
use crate::space::index::{IndexSpec, normalise};
pub(crate) use crate::space::stored::dn_norm;
use crate::space::stored::{Change, Written};
use crate::space::{Origin, SpaceError, StoredObject};

/// The columns `decode` reads, in order (a macro, so statements can be `concat!`ed).
macro_rules! columns {
    () => {
        "body, created, modified, version, origin"
    };
}
pub(crate) use columns;

/// The same columns qualified by the alias `o`.
macro_rules! o_columns {
    () => {
        "o.body, o.created, o.modified, o.version, o.origin"
    };
}
pub(crate) use o_columns;

/// The columns `decode` reads, in order.
pub(crate) const COLUMNS: &str = columns!();

/// The same columns qualified by the alias `o`.
pub(crate) const O_COLUMNS: &str = o_columns!();

/// The raw columns of one row.
pub(crate) struct RawRow {
    pub body: String,
    created: i64,
    modified: i64,
    version: i64,
    pub origin: i64,
}

impl RawRow {
    /// Reads `COLUMNS` starting at column `at`.
    pub fn read(row: &Row, at: usize) -> Result<RawRow, postgres::Error> {
        Ok(RawRow {
            body: row.try_get(at)?,
            created: row.try_get(at + 1)?,
            modified: row.try_get(at + 2)?,
            version: row.try_get(at + 3)?,
            origin: row.try_get(at + 4)?,
        })
    }

    /// Decodes the row.
    pub fn decode(self) -> Result<StoredObject, SpaceError> {
        let object = serde_json::from_str(&self.body)
            .map_err(|e| SpaceError::Corrupt(format!("stored object: {e}")))?;
        Ok(StoredObject {
            object,
            created: from_nanos(self.created)?,
            modified: from_nanos(self.modified)?,
            version: u64::try_from(self.version).unwrap_or(0),
            origin: origin_from_code(self.origin)?,
        })
    }
}

/// The origin a stored code stands for.
pub(crate) fn origin_from_code(code: i64) -> Result<Origin, SpaceError> {
    match code {
        0 => Ok(Origin::Import),
        1 => Ok(Origin::Export),
        2 => Ok(Origin::Pending),
        other => Err(SpaceError::Corrupt(format!("unknown origin code {other}"))),
    }
}

/// Decodes rows of `COLUMNS` starting at column 0.
pub(crate) fn decode_all(rows: &[Row]) -> Result<Vec<StoredObject>, Fail> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(RawRow::read(row, 0)?.decode()?);
    }
    Ok(out)
}

/// The stored row of an object, before a write.
pub(crate) struct Existing {
    pub id: i64,
    pub row: RawRow,
}

/// The stored row of (object type, anchor), locked for the rest of the transaction.
pub(crate) fn find<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    anchor: &str,
) -> Result<Option<Existing>, postgres::Error> {
    let sql = format!(
        "SELECT id, {COLUMNS} FROM objects WHERE connector = $1 AND object_type = $2
         AND anchor = $3 FOR UPDATE"
    );
    match db.query_opt(&sql, &[&connector, &object_type, &anchor])? {
        Some(row) => Ok(Some(Existing {
            id: row.try_get(0)?,
            row: RawRow::read(&row, 1)?,
        })),
        None => Ok(None),
    }
}

/// Serialises an object for storage (deterministic: attributes are a `BTreeMap`).
pub(crate) fn encode(object: &ConnectorObject) -> Result<String, SpaceError> {
    serde_json::to_string(object)
        .map_err(|e| SpaceError::Corrupt(format!("cannot serialise object {}: {e}", object.anchor)))
}

/// Nanoseconds since the Unix epoch, as stored (good until the year 2262).
pub(crate) fn to_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// The instant a stored integer stands for.
pub(crate) fn from_nanos(n: i64) -> Result<OffsetDateTime, SpaceError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| SpaceError::Corrupt(format!("timestamp {n}: {e}")))
}

/// Writes `object` (serialised as `body`) over `existing`, inside the caller's transaction.
/// Unchanged content writes only `written_at`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    spec: &IndexSpec,
    object: &ConnectorObject,
    body: &str,
    origin: Origin,
    now: OffsetDateTime,
    existing: Option<Existing>,
) -> Result<Written, Fail> {
    let now_nanos = to_nanos(now);
    let pending_code = Origin::Pending.code();
    let was_pending = existing
        .as_ref()
        .is_some_and(|old| old.row.origin == pending_code);
    let ended_pending = match &existing {
        Some(old) if was_pending && origin != Origin::Pending => end_pending(db, old.id)?,
        _ => None,
    };
    match existing {
        Some(old) if old.row.body == body => {
            // Same content: version and modification time stay; only the origin changes
            // when the object stops being pending.
            let no_longer_pending = was_pending && origin != Origin::Pending;
            let stored_origin = if no_longer_pending {
                origin
            } else {
                origin_from_code(old.row.origin)?
            };
            db.execute(
                "UPDATE objects SET origin = $2, written_at = now() WHERE id = $1",
                &[&old.id, &stored_origin.code()],
            )?;
            Ok(Written {
                id: old.id,
                change: Change::Unchanged,
                created: from_nanos(old.row.created)?,
                modified: from_nanos(old.row.modified)?,
                version: u64::try_from(old.row.version).unwrap_or(0),
                origin: stored_origin,
                ended_pending,
            })
        }
        Some(old) => {
            let created = from_nanos(old.row.created)?;
            let version = old.row.version.saturating_add(1);
            db.execute(
                "UPDATE objects SET dn_norm = $2, body = $3, modified = $4, version = $5,
                 origin = $6, written_at = now() WHERE id = $1",
                &[
                    &old.id,
                    &dn_norm(object),
                    &body,
                    &now_nanos,
                    &version,
                    &origin.code(),
                ],
            )?;
            db.execute("DELETE FROM idx WHERE object_id = $1", &[&old.id])?;
            write_entries(db, connector, spec, old.id, object)?;
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
            let row = db.query_one(
                "INSERT INTO objects (connector, object_type, anchor, dn_norm, body, created,
                 modified, version, origin) VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)
                 RETURNING id",
                &[
                    &connector,
                    &object.object_type,
                    &object.anchor.as_str(),
                    &dn_norm(object),
                    &body,
                    &now_nanos,
                    &origin.code(),
                ],
            )?;
            let id: i64 = row.try_get(0)?;
            write_entries(db, connector, spec, id, object)?;
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

/// Writes the index entries of one object (whose old entries are gone), one statement for all.
pub(crate) fn write_entries<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    spec: &IndexSpec,
    object_id: i64,
    object: &ConnectorObject,
) -> Result<(), postgres::Error> {
    let mut attributes = Vec::new();
    let mut values = Vec::new();
    for attr in spec
        .attributes
        .iter()
        .filter(|a| a.object_type == object.object_type)
    {
        for value in object.values(&attr.name) {
            attributes.push(attr.name.as_str());
            values.push(normalise(&value.to_text(), attr.case_exact));
        }
    }
    if attributes.is_empty() {
        return Ok(());
    }
    db.execute(
        "INSERT INTO idx (connector, object_type, attribute, value_norm, object_id)
         SELECT $1, $2, a, v, $3 FROM unnest($4::text[], $5::text[]) AS t(a, v)
         ON CONFLICT DO NOTHING",
        &[
            &connector,
            &object.object_type,
            &object_id,
            &attributes,
            &values,
        ],
    )?;
    Ok(())
}

/// Index entries of many objects (whose old entries are gone), in one statement: each object
/// id with the object written.
pub(crate) fn write_entries_of_many<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    spec: &IndexSpec,
    objects: &[(i64, &ConnectorObject)],
) -> Result<(), postgres::Error> {
    let attrs: Vec<_> = spec
        .attributes
        .iter()
        .filter(|a| a.object_type == object_type)
        .collect();
    let (mut ids, mut attributes, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (id, object) in objects {
        for attr in &attrs {
            for value in object.values(&attr.name) {
                ids.push(*id);
                attributes.push(attr.name.as_str());
                values.push(normalise(&value.to_text(), attr.case_exact));
            }
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    db.execute(
        "INSERT INTO idx (connector, object_type, attribute, value_norm, object_id)
         SELECT $1, $2, a, v, i FROM unnest($3::bigint[], $4::text[], $5::text[]) AS t(i, a, v)
         ON CONFLICT DO NOTHING",
        &[&connector, &object_type, &ids, &attributes, &values],
    )?;
    Ok(())
}

/// Removes the pending row of object `id`; returns what it waited for and whether it was new.
pub(crate) fn end_pending<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: i64,
) -> Result<Option<(String, bool)>, postgres::Error> {
    db.query_opt(
        "DELETE FROM pending WHERE object_id = $1 RETURNING detail, is_new",
        &[&id],
    )?
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .transpose()
}
