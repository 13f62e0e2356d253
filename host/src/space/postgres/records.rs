//! The bookkeeping beside the objects, on PostgreSQL: exports in flight (intents), exports the
//! target accepted but queued (pending), import run history, and the paged reads of the
//! operations console. Same rules as the SQLite modules `intents`, `pending`, `runs` and
//! `browse`, whose docs say why.

use std::sync::PoisonError;

use connector_core::object::{Anchor, ConnectorObject};
use postgres::{GenericClient, Row};
use time::OffsetDateTime;

use super::pool::{Db, Fail};
use super::store::{self, O_COLUMNS, RawRow, from_nanos, to_nanos};
use super::{PgSpace, to_i64};
use crate::space::{
    ImportStats, Intent, Origin, PendingEnd, PendingExport, RunRecord, SpaceError, StoredObject,
};

/// The outcome of a run that has not finished.
const RUNNING: &str = "running";

const RUN_COLUMNS: &str = "id, kind, object_type, started, finished, outcome, added, updated, \
                           unchanged, removed, notes, host";

/// Deletes the intents of one anchor, inside a write-through's transaction.
pub(crate) fn clear_anchor_intents<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    anchor: &Anchor,
) -> Result<(), postgres::Error> {
    db.execute(
        "DELETE FROM intents WHERE connector = $1 AND object_type = $2 AND anchor = $3",
        &[&connector, &object_type, &anchor.as_str()],
    )?;
    Ok(())
}

/// Deletes anchorless intents recorded before `started`, inside a full import's merge.
pub(crate) fn clear_anchorless_intents<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    started: OffsetDateTime,
) -> Result<(), postgres::Error> {
    db.execute(
        "DELETE FROM intents WHERE connector = $1 AND object_type = $2 AND anchor IS NULL
         AND since < $3",
        &[&connector, &object_type, &to_nanos(started)],
    )?;
    Ok(())
}

/// What the object (type, anchor) waits for, if it is pending.
pub(crate) fn pending_detail<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    anchor: &Anchor,
) -> Result<Option<String>, postgres::Error> {
    db.query_opt(
        "SELECT p.detail FROM pending p JOIN objects o ON o.id = p.object_id
         WHERE o.connector = $1 AND o.object_type = $2 AND o.anchor = $3",
        &[&connector, &object_type, &anchor.as_str()],
    )?
    .map(|row| row.try_get(0))
    .transpose()
}

fn pending_rows(rows: &[Row]) -> Result<Vec<PendingExport>, Fail> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let detail: String = row.try_get(0)?;
        let since: i64 = row.try_get(1)?;
        out.push(PendingExport {
            object: RawRow::read(row, 2)?.decode()?,
            detail,
            since: from_nanos(since)?,
        });
    }
    Ok(out)
}

fn run_rows(rows: &[Row]) -> Result<Vec<RunRecord>, Fail> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let count = |i: usize| -> Result<u64, postgres::Error> {
            Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
        };
        let finished: Option<i64> = row.try_get(4)?;
        out.push(RunRecord {
            id: row.try_get(0)?,
            kind: row.try_get(1)?,
            object_type: row.try_get(2)?,
            started: from_nanos(row.try_get(3)?)?,
            finished: finished.map(from_nanos).transpose()?,
            outcome: row.try_get(5)?,
            stats: ImportStats {
                added: count(6)?,
                updated: count(7)?,
                unchanged: count(8)?,
                removed: count(9)?,
            },
            notes: row.try_get(10)?,
            host: row.try_get(11)?,
        });
    }
    Ok(out)
}

impl PgSpace {
    /// Records that an export of `anchor` (or, with `None`, a create whose anchor the target
    /// assigns) is about to reach the target, from the host `host`; a write-through of the
    /// same anchor clears it.
    pub fn record_intent(
        &self,
        object_type: &str,
        anchor: Option<&Anchor>,
        host: &str,
    ) -> Result<i64, SpaceError> {
        let anchor = anchor.map(Anchor::as_str);
        let since = to_nanos(OffsetDateTime::now_utc());
        self.write(|db| {
            let row = db.query_one(
                "INSERT INTO intents (connector, object_type, anchor, since, host)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&self.connector, &object_type, &anchor, &since, &host],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    /// Clears an intent whose export left the target unchanged or whose write-through carried
    /// no anchor to clear it by.
    pub fn clear_intent(&self, id: i64) -> Result<(), SpaceError> {
        self.write(|db| {
            db.execute(
                "DELETE FROM intents WHERE connector = $1 AND id = $2",
                &[&self.connector, &id],
            )?;
            Ok(())
        })
    }

    /// The intents still open, oldest first (of every host sharing the space: a host that
    /// died leaves its intents for another host, or its own restart, to reconcile).
    pub fn open_intents(&self) -> Result<Vec<Intent>, SpaceError> {
        self.read(|db| {
            let rows = db.query(
                "SELECT id, object_type, anchor, since, host FROM intents WHERE connector = $1
                 ORDER BY id",
                &[&self.connector],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(Intent {
                    id: row.try_get(0)?,
                    object_type: row.try_get(1)?,
                    anchor: row.try_get::<_, Option<String>>(2)?.map(Anchor),
                    since: from_nanos(row.try_get(3)?)?,
                    host: row.try_get(4)?,
                });
            }
            Ok(out)
        })
    }

    /// Writes an object through after an export the target accepted but queued: stored with
    /// [`Origin::Pending`] and `detail`, in one transaction.
    pub fn put_pending(
        &self,
        object: &ConnectorObject,
        detail: &str,
    ) -> Result<StoredObject, SpaceError> {
        let body = store::encode(object)?;
        let connector = self.connector.as_str();
        let written = self.write(|db| {
            let now = OffsetDateTime::now_utc();
            clear_anchor_intents(db, connector, &object.object_type, &object.anchor)?;
            let existing = store::find(db, connector, &object.object_type, object.anchor.as_str())?;
            let is_new = existing.is_none();
            let written = store::store(
                db,
                connector,
                &self.index,
                object,
                &body,
                Origin::Pending,
                now,
                existing,
            )?;
            // An unchanged body keeps the stored origin: make sure it reads pending.
            db.execute(
                "UPDATE objects SET origin = $2 WHERE id = $1",
                &[&written.id, &Origin::Pending.code()],
            )?;
            db.execute(
                "INSERT INTO pending (object_id, connector, detail, since, is_new)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (object_id) DO UPDATE SET detail = excluded.detail,
                 since = excluded.since",
                &[&written.id, &connector, &detail, &to_nanos(now), &is_new],
            )?;
            Ok(written)
        })?;
        let mut stored = written.into_stored(object.clone());
        stored.origin = Origin::Pending;
        Ok(stored)
    }

    /// The pending exports, oldest first (at most `limit`).
    pub fn pending(&self, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        self.pending_page(0, limit)
    }

    /// The number of pending exports.
    pub fn pending_count(&self) -> Result<u64, SpaceError> {
        self.read(|db| {
            let n: i64 = db
                .query_one(
                    "SELECT count(*) FROM pending WHERE connector = $1",
                    &[&self.connector],
                )?
                .try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// The pending exports this host's imports confirmed or ended since the last call.
    pub fn take_ended_pending(&self) -> Vec<PendingEnd> {
        std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `limit` pending exports after skipping `offset`, oldest first.
    pub fn pending_page(&self, offset: u64, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        let sql = format!(
            "SELECT p.detail, p.since, {O_COLUMNS} FROM pending p
             JOIN objects o ON o.id = p.object_id WHERE p.connector = $1
             ORDER BY p.since, o.anchor LIMIT $2 OFFSET $3"
        );
        self.read(|db| {
            let rows = db.query(&sql, &[&self.connector, &to_i64(limit), &to_i64(offset)])?;
            pending_rows(&rows)
        })
    }

    /// The number of objects whose indexed `attribute` has a value equal to `value` (after
    /// normalisation), and `limit` of them after skipping `offset`, in a stable order.
    pub fn lookup_page(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<StoredObject>), SpaceError> {
        let norm = self.lookup_value(object_type, attribute, value)?;
        let sql = format!(
            "SELECT {O_COLUMNS} FROM idx i JOIN objects o ON o.id = i.object_id
             WHERE i.connector = $1 AND i.object_type = $2 AND i.attribute = $3
             AND i.value_norm = $4 ORDER BY i.object_id LIMIT $5 OFFSET $6"
        );
        self.read(|db| {
            let total: i64 = db
                .query_one(
                    "SELECT count(*) FROM idx WHERE connector = $1 AND object_type = $2
                     AND attribute = $3 AND value_norm = $4",
                    &[&self.connector, &object_type, &attribute, &norm],
                )?
                .try_get(0)?;
            let rows = db.query(
                &sql,
                &[
                    &self.connector,
                    &object_type,
                    &attribute,
                    &norm,
                    &to_i64(limit),
                    &to_i64(offset),
                ],
            )?;
            Ok((u64::try_from(total).unwrap_or(0), store::decode_all(&rows)?))
        })
    }

    /// Records the start of a run (`kind` is `full` or `delta`) by `host`; returns its id.
    pub fn start_run(
        &self,
        kind: &str,
        object_type: &str,
        host: Option<&str>,
    ) -> Result<i64, SpaceError> {
        let now = to_nanos(OffsetDateTime::now_utc());
        self.write(|db| {
            let row = db.query_one(
                "INSERT INTO runs (connector, kind, object_type, started, outcome, host)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&self.connector, &kind, &object_type, &now, &RUNNING, &host],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    /// Records the end of a run: its outcome and stats.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: &str,
        stats: &ImportStats,
    ) -> Result<(), SpaceError> {
        let now = to_nanos(OffsetDateTime::now_utc());
        self.write(|db| {
            let n = db.execute(
                "UPDATE runs SET finished = $3, outcome = $4, added = $5, updated = $6,
                 unchanged = $7, removed = $8 WHERE connector = $1 AND id = $2",
                &[
                    &self.connector,
                    &id,
                    &now,
                    &outcome,
                    &to_i64(stats.added),
                    &to_i64(stats.updated),
                    &to_i64(stats.unchanged),
                    &to_i64(stats.removed),
                ],
            )?;
            if n == 0 {
                return Err(SpaceError::NoSuchRun(id).into());
            }
            Ok(())
        })
    }

    /// Adds `note` to run `id` (a line of its own after any earlier note).
    pub fn note_run(&self, id: i64, note: &str) -> Result<(), SpaceError> {
        self.write(|db| {
            let n = db.execute(
                "UPDATE runs SET notes = CASE WHEN notes IS NULL THEN $3
                 ELSE notes || chr(10) || $3 END WHERE connector = $1 AND id = $2",
                &[&self.connector, &id, &note],
            )?;
            if n == 0 {
                return Err(SpaceError::NoSuchRun(id).into());
            }
            Ok(())
        })
    }

    /// The latest `limit` runs, newest first.
    pub fn runs(&self, limit: u64) -> Result<Vec<RunRecord>, SpaceError> {
        Ok(self.runs_page(0, limit)?.1)
    }

    /// The latest successful full import of an object type.
    pub fn last_full_import(&self, object_type: &str) -> Result<Option<RunRecord>, SpaceError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE connector = $1 AND object_type = $2
             AND kind = 'full' AND outcome = 'success' ORDER BY id DESC LIMIT 1"
        );
        self.read(|db| {
            let rows = db.query(&sql, &[&self.connector, &object_type])?;
            Ok(run_rows(&rows)?.into_iter().next())
        })
    }

    /// `limit` runs after skipping the `offset` newest, newest first, and how many there are.
    pub fn runs_page(&self, offset: u64, limit: u64) -> Result<(u64, Vec<RunRecord>), SpaceError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE connector = $1 ORDER BY id DESC
             LIMIT $2 OFFSET $3"
        );
        self.read(|db| {
            let total: i64 = db
                .query_one(
                    "SELECT count(*) FROM runs WHERE connector = $1",
                    &[&self.connector],
                )?
                .try_get(0)?;
            let rows = db.query(&sql, &[&self.connector, &to_i64(limit), &to_i64(offset)])?;
            Ok((u64::try_from(total).unwrap_or(0), run_rows(&rows)?))
        })
    }

    /// The latest run of `kind` of an object type, whatever its outcome.
    pub fn last_run(&self, object_type: &str, kind: &str) -> Result<Option<RunRecord>, SpaceError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE connector = $1 AND object_type = $2
             AND kind = $3 ORDER BY id DESC LIMIT 1"
        );
        self.read(|db| {
            let rows = db.query(&sql, &[&self.connector, &object_type, &kind])?;
            Ok(run_rows(&rows)?.into_iter().next())
        })
    }
}
