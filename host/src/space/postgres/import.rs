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

use std::collections::{BTreeMap, HashMap, HashSet};
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
                if e.is_connection_lost() {
                    pooled.mark_lost();
                } else {
                    pooled.mark_broken();
                }
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
                    pooled.mark_lost();
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
                        pooled.mark_lost();
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
        crate::space::stored::check_object_type(&self.object_type, found)
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
        let mut batches: u64 = 0;
        loop {
            let batch = db.query(
                "SELECT anchor, body FROM pg_temp.staging WHERE body IS NOT NULL AND anchor > $1
                 ORDER BY anchor LIMIT $2",
                &[&after, &MERGE_BATCH],
            )?;
            let Some(last) = batch.last() else { break };
            after = last.try_get(0)?;
            let mut staged = Vec::with_capacity(batch.len());
            for row in &batch {
                staged.push((row.try_get::<_, String>(0)?, row.try_get::<_, String>(1)?));
            }
            let added_before = stats.added;
            self.merge_batch(db, staged, now, &mut stats, ended)?;
            batches += 1;
            if stats.added > added_before && batches.is_power_of_two() {
                refresh_statistics(db)?;
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

    /// Merges one batch of staged objects (anchor, body) that differ from what the space held
    /// while staging: a few statements per batch, not per object. Objects written or removed
    /// through after the import began are left as they are.
    fn merge_batch(
        &self,
        db: &mut Db<'_, Transaction<'_>>,
        staged: Vec<(String, String)>,
        now: OffsetDateTime,
        stats: &mut ImportStats,
        ended: &mut Vec<PendingEnd>,
    ) -> Result<(), Fail> {
        let connector = self.space.connector.as_str();
        let object_type = self.object_type.as_str();
        let spec = &self.space.index;
        let anchors: Vec<&str> = staged.iter().map(|(a, _)| a.as_str()).collect();
        // One index probe per anchor (LATERAL): with `anchor = ANY($3)` the planner, without
        // statistics for rows this transaction inserted, scanned every object of the type per
        // batch (measured: a 100k first import 60x slower than a 10k one).
        let sql = format!(
            "SELECT o.* FROM unnest($3::text[]) AS t(a), LATERAL
             (SELECT anchor, id, {COLUMNS}, written_at >= $4 FROM objects WHERE connector = $1
              AND object_type = $2 AND anchor = t.a FOR UPDATE) o"
        );
        let mut stored: HashMap<String, (Existing, bool)> = HashMap::new();
        for row in db.query(
            &sql,
            &[&connector, &object_type, &anchors, &self.started_db],
        )? {
            let existing = Existing {
                id: row.try_get(1)?,
                row: RawRow::read(&row, 2)?,
            };
            stored.insert(row.try_get(0)?, (existing, row.try_get(7)?));
        }
        let buried: HashSet<String> = db
            .query(
                "SELECT x.anchor FROM unnest($3::text[]) AS t(a), LATERAL
                 (SELECT anchor FROM tombstones WHERE connector = $1 AND object_type = $2
                  AND anchor = t.a AND written_at >= $4) x",
                &[&connector, &object_type, &anchors, &self.started_db],
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;

        let parse = |anchor: &str, body: &str| -> Result<ConnectorObject, Fail> {
            serde_json::from_str(body)
                .map_err(|e| SpaceError::Corrupt(format!("staged object {anchor}: {e}")).into())
        };
        let pending = Origin::Pending.code();
        let mut inserts: Vec<(String, String, ConnectorObject)> = Vec::new();
        let mut updates: Vec<(i64, String, ConnectorObject)> = Vec::new();
        for (anchor, body) in staged {
            match stored.remove(&anchor) {
                // Written through since the import began: newer than what it read.
                Some((_, true)) => stats.unchanged += 1,
                Some((old, false)) if old.row.origin == pending => {
                    // A pending export the import shows: ends it (rare; one at a time).
                    let object = parse(&anchor, &body)?;
                    let written = store::store(
                        db,
                        connector,
                        spec,
                        &object,
                        &body,
                        Origin::Import,
                        now,
                        Some(old),
                    )?;
                    stats.count(written.change);
                    if let Some(e) = written.ended_pending {
                        ended.push(PendingEnd::shown(object_type, &object.anchor, e));
                    }
                }
                Some((old, false)) if old.row.body == body => stats.unchanged += 1,
                Some((old, false)) => {
                    let object = parse(&anchor, &body)?;
                    updates.push((old.id, body, object));
                }
                // Removed through since the import began.
                None if buried.contains(&anchor) => stats.unchanged += 1,
                None => {
                    let object = parse(&anchor, &body)?;
                    inserts.push((anchor, body, object));
                }
            }
        }

        let now_nanos = store::to_nanos(now);
        let mut entries: Vec<(i64, &ConnectorObject)> = Vec::new();
        if !updates.is_empty() {
            let ids: Vec<i64> = updates.iter().map(|(id, _, _)| *id).collect();
            let dns: Vec<Option<String>> =
                updates.iter().map(|(_, _, o)| store::dn_norm(o)).collect();
            let bodies: Vec<&str> = updates.iter().map(|(_, b, _)| b.as_str()).collect();
            let n = db.execute(
                "UPDATE objects o SET dn_norm = u.d, body = u.b, modified = $1,
                 version = o.version + 1, origin = $2, written_at = now()
                 FROM unnest($3::bigint[], $4::text[], $5::text[]) AS u(id, d, b)
                 WHERE o.id = u.id",
                &[&now_nanos, &Origin::Import.code(), &ids, &dns, &bodies],
            )?;
            stats.updated += n;
            db.execute("DELETE FROM idx WHERE object_id = ANY($1)", &[&ids])?;
            entries.extend(updates.iter().map(|(id, _, o)| (*id, o)));
        }
        if !inserts.is_empty() {
            let anchors: Vec<&str> = inserts.iter().map(|(a, _, _)| a.as_str()).collect();
            let dns: Vec<Option<String>> =
                inserts.iter().map(|(_, _, o)| store::dn_norm(o)).collect();
            let bodies: Vec<&str> = inserts.iter().map(|(_, b, _)| b.as_str()).collect();
            // An anchor a concurrent write-through created meanwhile keeps that write.
            let rows = db.query(
                "INSERT INTO objects (connector, object_type, anchor, dn_norm, body, created,
                 modified, version, origin)
                 SELECT $1, $2, a, d, b, $3, $3, 1, $4
                 FROM unnest($5::text[], $6::text[], $7::text[]) AS t(a, d, b)
                 ON CONFLICT (connector, object_type, anchor) DO NOTHING
                 RETURNING anchor, id",
                &[
                    &connector,
                    &object_type,
                    &now_nanos,
                    &Origin::Import.code(),
                    &anchors,
                    &dns,
                    &bodies,
                ],
            )?;
            let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
            for row in &rows {
                ids.insert(row.try_get(0)?, row.try_get(1)?);
            }
            stats.added += ids.len() as u64;
            stats.unchanged += (inserts.len() - ids.len()) as u64;
            for (anchor, _, object) in &inserts {
                if let Some(id) = ids.get(anchor) {
                    entries.push((*id, object));
                }
            }
        }
        store::write_entries_of_many(db, connector, object_type, spec, &entries)?;
        Ok(())
    }
}

/// Refreshes the planner's statistics of `objects` inside the merge's transaction (which sees
/// its own inserts), so plans cached while the table was small (the merge's statements, and
/// the foreign-key checks of index entries) are replanned: a first import into an empty space
/// otherwise scans the whole table per statement (measured: quadratic). Called after 1, 2,
/// 4, 8… batches that added objects. Skipped when another session holds the table's analyze
/// lock (a concurrent merge of another connector), rather than waiting for its commit.
fn refresh_statistics(db: &mut Db<'_, Transaction<'_>>) -> Result<(), Fail> {
    db.c.batch_execute("SAVEPOINT statistics; SET LOCAL lock_timeout = '50ms'")?;
    match db.c.batch_execute("ANALYZE connector_space.objects") {
        Ok(()) => {
            db.c.batch_execute("SET LOCAL lock_timeout = DEFAULT; RELEASE SAVEPOINT statistics")?
        }
        Err(e) if e.code().is_some_and(|c| c.code() == "55P03") => {
            db.c.batch_execute("ROLLBACK TO SAVEPOINT statistics; RELEASE SAVEPOINT statistics")?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
