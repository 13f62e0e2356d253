//! Accepted-pending exports: an export the target accepted but queued (a MIM approval) is
//! stored with [`Origin::Pending`] and a row saying what it waits for and since when. An
//! import ends it:
//! - **confirmed** when an import (full or delta) shows a pending *new* object: it is stored as
//!   imported and its pending row goes;
//! - **read back** when an import shows an object whose pending export *changed* it: the target
//!   held the object all along, so the import cannot tell whether the change was applied; the
//!   space takes the target's state (as after any import) and the entry leaves the list;
//! - **rejected** when a delta import reports the object deleted (the connector's signal that
//!   the target refused the change: for MIM, a Denied Request whose target does not exist);
//! - **expired** when a full import does not show it and it has waited longer than the
//!   connector's `pending_expiry`: then it is removed like any object the target does not hold.
//!
//! Until then a full import that does not show it keeps it, so a client that created an object
//! waiting for approval still finds it by lookup. What ended is collected here for the import
//! that ended it to report (log and run history), by anchor and what it waited for.

pub(crate) use crate::space::records::{PendingEnd, PendingExport, PendingOutcome};
use std::sync::PoisonError;

use connector_core::Anchor;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::stored::{self, O_COLUMNS, Origin, RawRow, StoredObject};
use super::{SqliteSpace, to_i64};
use crate::space::error::{Fail, SpaceError};

/// What the object (type, anchor) waits for, if it is pending.
pub(crate) fn detail_of(
    conn: &Connection,
    object_type: &str,
    anchor: &Anchor,
) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(
        "SELECT p.detail FROM pending p JOIN objects o ON o.id = p.object_id
         WHERE o.object_type = ?1 AND o.anchor = ?2",
    )?
    .query_row(params![object_type, anchor.as_str()], |row| row.get(0))
    .optional()
}

impl SqliteSpace {
    /// Writes an object through after an export the target accepted but queued: stored with
    /// [`Origin::Pending`] and `detail` (what it waits for), in one transaction.
    pub fn put_pending(
        &self,
        object: &connector_core::ConnectorObject,
        detail: &str,
    ) -> Result<StoredObject, SpaceError> {
        let body = self.encode(object)?;
        let written = self.write_ranked(|tx, changes| {
            let now = OffsetDateTime::now_utc();
            super::intents::clear_anchor(tx, &object.object_type, object.anchor.as_str())?;
            let existing = stored::find(tx, &object.object_type, object.anchor.as_str())?;
            let is_new = existing.is_none();
            let written = stored::store(
                tx,
                self.schema(),
                super::index::IDX,
                object,
                &body,
                Origin::Pending,
                now,
                existing,
            )?;
            // An unchanged body keeps the stored origin: make sure it reads pending.
            tx.prepare_cached(
                "UPDATE objects SET origin = ?3 WHERE object_type = ?1 AND anchor = ?2",
            )?
            .execute(params![
                object.object_type,
                object.anchor.as_str(),
                Origin::Pending.code()
            ])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM objects WHERE object_type = ?1 AND anchor = ?2")?
                .query_row(params![object.object_type, object.anchor.as_str()], |r| {
                    r.get(0)
                })?;
            stored::set_pending(tx, id, detail, now, is_new)?;
            if is_new {
                changes.push(super::RankChange::Added(object.object_type.clone(), id));
            }
            Ok(written)
        })?;
        let mut stored = written.into_stored(object.clone());
        stored.origin = Origin::Pending;
        Ok(stored)
    }

    /// The pending exports, oldest first (at most `limit`).
    pub fn pending(&self, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT p.detail, p.since, {O_COLUMNS} FROM pending p
                 JOIN objects o ON o.id = p.object_id ORDER BY p.since, o.anchor LIMIT ?1"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let raw: Vec<(String, i64, RawRow)> = stmt
                .query_map([to_i64(limit)], |row| {
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

    /// The number of pending exports.
    pub fn pending_count(&self) -> Result<u64, SpaceError> {
        self.read(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT count(*) FROM pending")?
                .query_row([], |row| row.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// The pending exports imports confirmed or ended since the last call.
    pub fn take_ended_pending(&self) -> Vec<PendingEnd> {
        std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn record_ended(&self, ended: Vec<PendingEnd>) {
        if !ended.is_empty() {
            self.ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(ended);
        }
    }
}
