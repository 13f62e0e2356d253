//! Paged reads for browsing a connector space at any size (the operations console): the objects
//! whose indexed attribute has a value, and the pending exports, a page at a time with a true
//! total, each page found through an index rather than by reading what comes before it.

use rusqlite::params;

use super::index::normalise;
use super::pending::PendingExport;
use super::stored::{self, O_COLUMNS, RawRow, StoredObject, query_objects};
use super::{SqliteSpace, to_i64};
use crate::space::error::{Fail, SpaceError};

impl SqliteSpace {
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
        let (Some(attr), Some(id)) = (
            self.index.spec.find(object_type, attribute),
            self.index.id(object_type, attribute),
        ) else {
            return Err(SpaceError::NotIndexed {
                object_type: object_type.to_owned(),
                attribute: attribute.to_owned(),
            });
        };
        let norm = normalise(value, attr.case_exact);
        self.read(|conn| {
            let total: i64 = conn
                .prepare_cached("SELECT count(*) FROM idx WHERE attr = ?1 AND value_norm = ?2")?
                .query_row(params![id, norm], |row| row.get(0))?;
            let sql = format!(
                "SELECT {O_COLUMNS} FROM idx i JOIN objects o ON o.id = i.object_id
                 WHERE i.attr = ?1 AND i.value_norm = ?2
                 ORDER BY i.object_id LIMIT ?3 OFFSET ?4"
            );
            let page = query_objects(
                conn,
                &self.dict,
                &sql,
                params![id, norm, to_i64(limit), to_i64(offset)],
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
                        object: row.decode(&self.dict)?,
                        detail,
                        since: stored::from_nanos(since)?,
                    })
                })
                .collect::<Result<_, Fail>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use connector_core::import::ImportItem;
    use connector_core::object::{AttrValue, ConnectorObject};

    use super::super::SqliteSpace;
    use crate::space::{ImportStats, IndexSpec, IndexedAttribute, Origin};

    fn user(anchor: &str, dept: &str) -> ImportItem {
        ImportItem::Upsert(
            ConnectorObject::new("User", anchor).with("dept", vec![AttrValue::from(dept)]),
        )
    }

    #[test]
    fn lookups_runs_and_pending_come_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let space = SqliteSpace::open(
            &dir.path().join("s.db"),
            IndexSpec::new(vec![IndexedAttribute::new("User", "dept")]),
        )
        .unwrap();
        let items: Vec<ImportItem> = (0..7)
            .map(|i| user(&format!("u{i}"), if i % 2 == 0 { "Sales" } else { "R&D" }))
            .collect();
        space.apply_delta("User", &items, None).unwrap();

        let anchors = |page: &[super::StoredObject]| -> Vec<String> {
            page.iter().map(|s| s.object.anchor.to_string()).collect()
        };
        let (total, first) = space.lookup_page("User", "dept", "SALES", 0, 3).unwrap();
        assert_eq!(
            (total, anchors(&first)),
            (4, vec!["u0".into(), "u2".into(), "u4".into()])
        );
        let (_, rest) = space.lookup_page("User", "dept", "sales", 3, 3).unwrap();
        assert_eq!(anchors(&rest), ["u6"]);
        assert!(
            space.lookup_page("User", "nope", "x", 0, 3).is_err(),
            "not indexed"
        );

        for kind in ["full", "delta", "delta"] {
            let id = space.start_run(kind, "User", Some("h1:8585")).unwrap();
            space
                .finish_run(id, "success", &ImportStats::default())
                .unwrap();
        }
        let failed = space.start_run("delta", "User", None).unwrap();
        space
            .finish_run(failed, "failed: target down", &ImportStats::default())
            .unwrap();
        let (total, runs) = space.runs_page(1, 2).unwrap();
        assert_eq!(total, 4);
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            [failed - 1, failed - 2]
        );
        let last = space.last_run("User", "delta").unwrap().unwrap();
        assert_eq!(
            (last.id, last.outcome.as_str()),
            (failed, "failed: target down")
        );
        assert!(space.last_run("Group", "full").unwrap().is_none());

        for i in 0..3 {
            let o = ConnectorObject::new("User", format!("p{i}"));
            space.put_pending(&o, &format!("approval {i}")).unwrap();
        }
        let page = space.pending_page(1, 5).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0].detail, "approval 1");
        assert_eq!(page[0].object.origin, Origin::Pending);
    }
}
