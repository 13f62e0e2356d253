//! Full imports on PostgreSQL: pages are staged in a temporary table of a connection the import
//! keeps for its whole life, and merged into the space in one transaction at the commit, so
//! every host's lookups see the previous complete state until then and an interrupted import
//! (an error, a dropped `FullImport`, a dead host, a lost connection) changes nothing.
//!
//! Unlike the SQLite backend, the merge cannot rely on this host's write-through journal:
//! another host may write through during the import. So the merge skips every object written
//! after the import began (`objects.written_at`, database clock) and every anchor removed after
//! it began (`tombstones`): those writes are newer than what the import read. As in SQLite,
//! content the space already holds is staged without its body (compared while staging), and
//! pending objects not shown are kept until they expire.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use connector_core::import::{ImportItem, Watermark};
use connector_core::object::{Anchor, ConnectorObject};
use postgres::Transaction;
use time::OffsetDateTime;

use super::pool::{Db, Fail, Pooled};
use super::store::{self, COLUMNS, Existing, RawRow};
use super::{PgSpace, records, set_watermark};
use crate::space::{ImportStats, Origin, PendingEnd, PendingOutcome, SpaceError};

/// Staged objects compared per batch during the merge.
const MERGE_BATCH: i64 = 1_000;

/// Times a merge is retried after losing a race with a concurrent write-through.
const MERGE_ATTEMPTS: usize = 3;

/// A full import of one object type in progress. Commit it with [`FullImport::commit`];
/// dropping it without committing discards what was staged.
pub struct FullImport<'a> {
    space: &'a PgSpace,
    object_type: String,
    conn: Option<Pooled>,
    finished: bool,
    pending_expiry: Option<std::time::Duration>,
    /// When staging began, by the database's clock: later writes win over the import.
    started_db: OffsetDateTime,
    /// When staging began, by this host's clock (intents are stamped by hosts).
    started_host: OffsetDateTime,
}

impl std::fmt::Debug for FullImport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullImport")
            .field("object_type", &self.object_type)
            .finish_non_exhaustive()
    }
}

impl PgSpace {
    /// Starts a full import of `object_type`. [`SpaceError::ImportRunning`] when one is
    /// already staging for that type on this host.
    pub fn begin_full_import(&self, object_type: &str) -> Result<FullImport<'_>, SpaceError> {
        {
            let mut importing = self
                .importing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !importing.insert(object_type.to_owned()) {
                return Err(SpaceError::ImportRunning(object_type.to_owned()));
            }
        }
        let mut import = FullImport {
            space: self,
            object_type: object_type.to_owned(),
            conn: None,
            finished: false,
            pending_expiry: None,
            started_db: OffsetDateTime::now_utc(),
            started_host: OffsetDateTime::now_utc(),
        };
        // From here on, dropping `import` frees the object type (and the connection).
        let mut pooled = self.pool.checkout()?;
        let started = (|| -> Result<OffsetDateTime, Fail> {
            let conn = pooled.conn()?;
            conn.client.batch_execute(
                "DROP TABLE IF EXISTS pg_temp.staging;
                 CREATE TEMP TABLE staging (anchor text COLLATE \"C\" PRIMARY KEY, body text)",
            )?;
            Ok(conn.client.query_one("SELECT now()", &[])?.try_get(0)?)
        })();
        match started {
            Ok(at) => {
                import.started_db = at;
                import.conn = Some(pooled);
                Ok(import)
            }
            Err(e) => {
                pooled.mark_broken();
                Err(e.at(&self.pool.describe))
            }
        }
    }
}

impl FullImport<'_> {
    /// The object type being imported.
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// Makes the merge remove pending objects this import does not show once they have waited
    /// longer than `expiry`.
    pub fn expire_pending_after(&mut self, expiry: std::time::Duration) {
        self.pending_expiry = Some(expiry);
    }

    /// Stages one page. Upserts of an anchor already staged replace it; a `Delete` unstages
    /// the anchor. Invisible to lookups until `commit`.
    pub fn add_page(&mut self, items: &[ImportItem]) -> Result<(), SpaceError> {
        // The last item of an anchor wins, as if the page were applied in order.
        let mut last: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for item in items {
            match item {
                ImportItem::Upsert(object) => {
                    self.check_type(&object.object_type)?;
                    last.insert(object.anchor.as_str(), Some(store::encode(object)?));
                }
                ImportItem::Delete {
                    object_type,
                    anchor,
                } => {
                    self.check_type(object_type)?;
                    last.insert(anchor.as_str(), None);
                }
            }
        }
        let mut upsert_anchors = Vec::new();
        let mut upsert_bodies = Vec::new();
        let mut deletes = Vec::new();
        for (anchor, body) in &last {
            match body {
                Some(body) => {
                    upsert_anchors.push(*anchor);
                    upsert_bodies.push(body.as_str());
                }
                None => deletes.push(*anchor),
            }
        }
        let space = self.space;
        let connector = space.connector.as_str();
        let object_type = self.object_type.clone();
        self.on_conn(|db| {
            if !deletes.is_empty() {
                db.execute(
                    "DELETE FROM pg_temp.staging WHERE anchor = ANY($1)",
                    &[&deletes],
                )?;
            }
            if !upsert_anchors.is_empty() {
                // Content the space already holds is staged without its body.
                db.execute(
                    "INSERT INTO pg_temp.staging (anchor, body)
                     SELECT t.a, CASE WHEN EXISTS (SELECT 1 FROM objects o
                         WHERE o.connector = $1 AND o.object_type = $2
                         AND o.anchor = t.a COLLATE \"C\" AND o.body = t.b AND o.origin <> 2)
                       THEN NULL ELSE t.b END
                     FROM unnest($3::text[], $4::text[]) AS t(a, b)
                     ON CONFLICT (anchor) DO UPDATE SET body = excluded.body",
                    &[&connector, &object_type, &upsert_anchors, &upsert_bodies],
                )?;
            }
            Ok(())
        })
    }

    /// Runs `f` on the import's connection (outside a transaction); a lost connection fails
    /// the import (what it staged is gone with the session).
    fn on_conn<T>(
        &mut self,
        f: impl FnOnce(&mut Db<'_, postgres::Client>) -> Result<T, Fail>,
    ) -> Result<T, SpaceError> {
        let at = self.space.pool.describe.clone();
        let Some(pooled) = self.conn.as_mut() else {
            return Err(SpaceError::Storage(format!(
                "{at}: the full import of {} lost its connection",
                self.object_type
            )));
        };
        let conn = pooled.conn()?;
        let mut db = Db {
            c: &mut conn.client,
            cache: &mut conn.cache,
        };
        match f(&mut db) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_connection_lost() {
                    pooled.mark_broken();
                    self.conn = None;
                }
                Err(e.at(&at))
            }
        }
    }

    /// Merges the staged objects into the space in one transaction: objects not staged are
    /// removed, changed ones updated (version + 1), unchanged ones left alone, new ones added,
    /// except objects written or removed after the import began; the watermark is stored
    /// (`None` clears it).
    pub fn commit(mut self, watermark: Option<&Watermark>) -> Result<ImportStats, SpaceError> {
        let space = self.space;
        let at = space.pool.describe.clone();
        let m = Merge {
            space,
            object_type: self.object_type.clone(),
            pending_expiry: self.pending_expiry,
            started_db: self.started_db,
            started_host: self.started_host,
            watermark: watermark.cloned(),
        };
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let Some(pooled) = self.conn.as_mut() else {
                break Err(SpaceError::Storage(format!(
                    "{at}: the full import of {} lost its connection",
                    self.object_type
                )));
            };
            let conn = pooled.conn()?;
            let result = conn
                .client
                .transaction()
                .map_err(Fail::from)
                .and_then(|mut tx| {
                    let mut ended = Vec::new();
                    let stats = {
                        let mut db = Db {
                            c: &mut tx,
                            cache: &mut conn.cache,
                        };
                        m.run(&mut db, &mut ended)?
                    };
                    tx.commit()?;
                    Ok((stats, ended))
                });
            match result {
                Ok(done) => break Ok(done),
                Err(e) if e.is_conflict() && attempt < MERGE_ATTEMPTS => continue,
                Err(e) => {
                    if e.is_connection_lost() {
                        pooled.mark_broken();
                        self.conn = None;
                    }
                    break Err(e.at(&at));
                }
            }
        };
        let (stats, ended) = outcome?;
        space.record_ended(ended);
        self.finished = true;
        self.release();
        tracing::info!(object_type = %self.object_type, ?stats, "full import committed to the connector space");
        Ok(stats)
    }

    fn check_type(&self, found: &str) -> Result<(), SpaceError> {
        if found == self.object_type {
            Ok(())
        } else {
            Err(SpaceError::WrongObjectType {
                expected: self.object_type.clone(),
                found: found.to_owned(),
            })
        }
    }

    /// Drops the staging table and returns the connection, and frees the object type.
    fn release(&mut self) {
        if let Some(mut pooled) = self.conn.take() {
            let dropped = pooled.conn().and_then(|conn| {
                conn.client
                    .batch_execute("DROP TABLE IF EXISTS pg_temp.staging")
                    .map_err(|e| SpaceError::Storage(e.to_string()))
            });
            if let Err(e) = dropped {
                // Closing the session drops its temporary table.
                pooled.mark_broken();
                tracing::debug!(error = %e, "staging table dropped by closing its connection");
            }
        }
        self.space
            .importing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.object_type);
    }
}

impl Drop for FullImport<'_> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::info!(object_type = %self.object_type, "full import abandoned; connector space unchanged");
            self.finished = true;
            self.release();
        }
    }
}

/// What one merge is about.
struct Merge<'a> {
    space: &'a PgSpace,
    object_type: String,
    pending_expiry: Option<std::time::Duration>,
    started_db: OffsetDateTime,
    started_host: OffsetDateTime,
    watermark: Option<Watermark>,
}

impl Merge<'_> {
    fn run(
        &self,
        db: &mut Db<'_, Transaction<'_>>,
        ended: &mut Vec<PendingEnd>,
    ) -> Result<ImportStats, Fail> {
        ended.clear();
        let connector = self.space.connector.as_str();
        let object_type = self.object_type.as_str();
        let started = self.started_db;
        let mut stats = ImportStats::default();
        let now = OffsetDateTime::now_utc();
        if let Some(expiry) = self.pending_expiry {
            let cutoff = store::to_nanos(now - expiry);
            let rows = db.query(
                "DELETE FROM objects o USING pending p
                 WHERE p.object_id = o.id AND o.connector = $1 AND o.object_type = $2
                 AND p.since < $3 AND o.written_at < $4
                 AND NOT EXISTS (SELECT 1 FROM pg_temp.staging s WHERE s.anchor = o.anchor)
                 RETURNING o.anchor, p.detail",
                &[&connector, &object_type, &cutoff, &started],
            )?;
            for row in &rows {
                stats.removed += 1;
                ended.push(PendingEnd {
                    object_type: object_type.to_owned(),
                    anchor: Anchor(row.try_get(0)?),
                    detail: row.try_get(1)?,
                    outcome: PendingOutcome::Expired,
                });
            }
        }
        let removed = db.execute(
            "DELETE FROM objects o WHERE o.connector = $1 AND o.object_type = $2
             AND o.origin <> $3 AND o.written_at < $4
             AND NOT EXISTS (SELECT 1 FROM pg_temp.staging s WHERE s.anchor = o.anchor)",
            &[&connector, &object_type, &Origin::Pending.code(), &started],
        )?;
        stats.removed += removed;

        let unchanged: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_temp.staging WHERE body IS NULL",
                &[],
            )?
            .try_get(0)?;
        stats.unchanged += u64::try_from(unchanged).unwrap_or(0);

        let mut after = String::new();
        loop {
            let batch = db.query(
                "SELECT s.anchor, s.body, EXISTS (SELECT 1 FROM objects o
                     WHERE o.connector = $1 AND o.object_type = $2 AND o.anchor = s.anchor
                     AND o.body = s.body AND o.origin <> 2)
                 FROM pg_temp.staging s WHERE s.body IS NOT NULL AND s.anchor > $3
                 ORDER BY s.anchor LIMIT $4",
                &[&connector, &object_type, &after, &MERGE_BATCH],
            )?;
            let Some(last) = batch.last() else { break };
            after = last.try_get(0)?;
            for row in &batch {
                let anchor: String = row.try_get(0)?;
                let body: String = row.try_get(1)?;
                let same: bool = row.try_get(2)?;
                if same {
                    stats.unchanged += 1;
                    continue;
                }
                match self.current(db, &anchor)? {
                    Current::WrittenSince => {
                        stats.unchanged += 1;
                        continue;
                    }
                    Current::Stored(existing) => {
                        let object: ConnectorObject = serde_json::from_str(&body).map_err(|e| {
                            SpaceError::Corrupt(format!("staged object {anchor}: {e}"))
                        })?;
                        let written = store::store(
                            db,
                            connector,
                            &self.space.index,
                            &object,
                            &body,
                            Origin::Import,
                            now,
                            existing,
                        )?;
                        stats.count(written.change);
                        if let Some(e) = written.ended_pending {
                            ended.push(PendingEnd::shown(object_type, &object.anchor, e));
                        }
                    }
                }
            }
        }
        set_watermark(db, connector, object_type, self.watermark.as_ref())?;
        records::clear_anchorless_intents(db, connector, object_type, self.started_host)?;
        db.execute(
            "DELETE FROM tombstones WHERE connector = $1 AND object_type = $2
             AND written_at < $3",
            &[&connector, &object_type, &started],
        )?;
        db.c.batch_execute("TRUNCATE pg_temp.staging")?;
        Ok(stats)
    }

    /// The stored state of `anchor`, locked, unless a write-through changed or removed it
    /// after the import began.
    fn current(&self, db: &mut Db<'_, Transaction<'_>>, anchor: &str) -> Result<Current, Fail> {
        let connector = self.space.connector.as_str();
        let object_type = self.object_type.as_str();
        let sql = format!(
            "SELECT id, {COLUMNS}, written_at >= $4 FROM objects WHERE connector = $1
             AND object_type = $2 AND anchor = $3 FOR UPDATE"
        );
        if let Some(row) =
            db.query_opt(&sql, &[&connector, &object_type, &anchor, &self.started_db])?
        {
            let fresh: bool = row.try_get(6)?;
            if fresh {
                return Ok(Current::WrittenSince);
            }
            return Ok(Current::Stored(Some(Existing {
                id: row.try_get(0)?,
                row: RawRow::read(&row, 1)?,
            })));
        }
        let buried = db
            .query_opt(
                "SELECT 1 FROM tombstones WHERE connector = $1 AND object_type = $2
                 AND anchor = $3 AND written_at >= $4",
                &[&connector, &object_type, &anchor, &self.started_db],
            )?
            .is_some();
        Ok(if buried {
            Current::WrittenSince
        } else {
            Current::Stored(None)
        })
    }
}

/// What the merge found for one staged anchor.
enum Current {
    /// Written or removed through after the import began: left as it is.
    WrittenSince,
    /// The stored row (if any) to write the imported state over.
    Stored(Option<Existing>),
}
