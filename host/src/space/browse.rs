//! Paged reads for browsing a connector space at any size (the operations console): the objects
//! whose indexed attribute has a value, and the pending exports, a page at a time with a true
//! total, each page found through an index rather than by reading what comes before it.

use rusqlite::params;

use super::error::{Fail, SpaceError};
use super::index::normalise;
use super::pending::PendingExport;
use super::stored::{self, O_COLUMNS, RawRow, StoredObject, query_objects};
use super::{Space, to_i64};

impl Space {
    /// The number of objects whose indexed `attribute` has a value equal to `value` (after
    /// normalisation), and `limit` of them after skipping `offset`, in a stable order.
    /// [`SpaceError::NotIndexed`] when the attribute has no index.
    pub fn lookup_page(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<StoredObject>), SpaceError> {
        let Some(attr) = self.index.find(object_type, attribute) else {
            return Err(SpaceError::NotIndexed {
                object_type: object_type.to_owned(),
                attribute: attribute.to_owned(),
            });
        };
        let norm = normalise(value, attr.case_exact);
        self.read(|conn| {
            let total: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM idx
                     WHERE object_type = ?1 AND attribute = ?2 AND value_norm = ?3",
                )?
                .query_row(params![object_type, attribute, norm], |row| row.get(0))?;
            let sql = format!(
                "SELECT {O_COLUMNS} FROM idx i JOIN objects o ON o.id = i.object_id
                 WHERE i.object_type = ?1 AND i.attribute = ?2 AND i.value_norm = ?3
                 ORDER BY i.object_id LIMIT ?4 OFFSET ?5"
            );
            let page = query_objects(
                conn,
                &sql,
                params![object_type, attribute, norm, to_i64(limit), to_i64(offset)],
            )?;
            Ok((u64::try_from(total).unwrap_or(0), page))
        })
    }

    /// `limit` pending exports after skipping `offset`, oldest first.
    pub fn pending_page(&self, offset: u64, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT p.detail, p.since, {O_COLUMNS} FROM pending p
                 JOIN objects o ON o.id = p.object_id ORDER BY p.since, o.anchor
                 LIMIT ?1 OFFSET ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let raw: Vec<(String, i64, RawRow)> = stmt
                .query_map(params![to_i64(limit), to_i64(offset)], |row| {
                    Ok((row.get(0)?, row.get(1)?, RawRow::read(row, 2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            raw.into_iter()
                .map(|(detail, since, row)| {
                    Ok(PendingExport {
                        object: row.decode()?,
                        detail,
                        since: stored::from_nanos(since)?,
                    })
                })
                .collect::<Result<_, Fail>>()
        })
    }
}
