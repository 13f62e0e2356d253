//! Full imports: pages are staged in a temporary table of the writer connection and merged
//! into the space in one transaction, so lookups see the previous complete state until the
//! very end and an interrupted import (an error, a dropped `FullImport`, a crash) changes
//! nothing.
//!
//! Staging goes to SQLite's temporary storage (a file under `SQLITE_TMPDIR`/`TMPDIR`, not
//! memory), outside the WAL: staging a page takes no lock on the space, so exports and
//! lookups carry on while an import streams. An object whose content the space already holds
//! is not staged at all (compared in SQL while staging; its id is marked in `Seen`, one bit
//! per object), so an unchanged re-import writes nothing per object. The merge removes the
//! objects neither seen nor staged, then walks the staged objects by anchor in batches,
//! comparing each with the stored one: only changed content gets a new version, and memory
//! stays bounded by the batch size (and the bit per object).
//!
//! The first import of a type into a space without it takes the bulk path instead (`bulk`).

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use connector_core::import::{ImportItem, Watermark};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use super::body::{self, Stored};
use super::pending::{PendingEnd, PendingOutcome};
use super::stored::{self, Existing, ImportStats, O_COLUMNS, Origin, to_nanos};
use super::{SqliteSpace, set_watermark};
use crate::space::error::{Fail, SpaceError};

/// Objects a bulk load writes per transaction.
const BULK_TRANSACTION: usize = 50_000;

/// Staged objects compared per batch during the merge.
const MERGE_BATCH: i64 = 1_000;

/// A full import of one object type in progress. Commit it with [`FullImport::commit`];
/// dropping it without committing discards what was staged.
pub struct FullImport<'a> {
    space: &'a SqliteSpace,
    object_type: String,
    table: String,
    finished: bool,
    /// Pending objects this import does not show are removed once they waited this long.
    pending_expiry: Option<std::time::Duration>,
    /// When staging began: anchorless intents older than this are settled by the merge.
    started: OffsetDateTime,
    /// On the bulk path (see `bulk`), `table` holds index entries, not objects; whether an
    /// anchor was replaced or deleted during the load.
    bulk: Option<bool>,
    /// Objects written by the bulk load's open transaction (0: none open).
    bulk_open: usize,
    /// The stored objects the staged path found unchanged: not staged at all (see `Seen`).
    seen: Seen,
    /// Rows written to the staging table so far (none: nothing there to replace or unstage).
    staged_rows: usize,
}

/// The ids of stored objects a full import showed with the content the space holds, as bits:
/// an unchanged object costs its re-import one lookup and no staging row (a scheduled
/// re-import is mostly unchanged objects). One bit per object id (125 KB per million), ids
/// beyond 2^27 in a set, so memory stays far below the writer's page cache at any count.
///
/// The merge keeps every object whose bit is set. Should an object shown unchanged be deleted
/// by an export during the import and its id reused by an object an export creates (SQLite
/// reuses only the largest id), that new object is kept rather than removed: the target has
/// it, since its export succeeded.
#[derive(Debug, Default)]
struct Seen {
    bits: Vec<u64>,
    beyond: std::collections::BTreeSet<i64>,
}

/// Object ids kept as bits below this; above it in a set.
const SEEN_BITS: usize = 1 << 27;

impl Seen {
    fn set(&mut self, id: i64, on: bool) {
        match usize::try_from(id).ok().filter(|i| *i < SEEN_BITS) {
            Some(i) => {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                if word >= self.bits.len() {
                    if !on {
                        return;
                    }
                    self.bits.resize(word + 1, 0);
                }
                if let Some(w) = self.bits.get_mut(word) {
                    if on {
                        *w |= bit;
                    } else {
                        *w &= !bit;
                    }
                }
            }
            None if on => {
                self.beyond.insert(id);
            }
            None => {
                self.beyond.remove(&id);
            }
        }
    }

    fn contains(&self, id: i64) -> bool {
        match usize::try_from(id).ok().filter(|i| *i < SEEN_BITS) {
            Some(i) => self
                .bits
                .get(i / 64)
                .is_some_and(|w| w & (1u64 << (i % 64)) != 0),
            None => self.beyond.contains(&id),
        }
    }
}

impl std::fmt::Debug for FullImport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullImport")
            .field("object_type", &self.object_type)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl SqliteSpace {
    /// Starts a full import of `object_type`. [`SpaceError::ImportRunning`] when one is
    /// already staging for that type.
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
        let seq = self.staging_seq.fetch_add(1, Ordering::Relaxed);
        // Built only from a counter: safe to splice into SQL.
        let table = format!("temp.staging_{seq}");
        // From here on, dropping `import` releases the object type and the table.
        let mut import = FullImport {
            space: self,
            object_type: object_type.to_owned(),
            table,
            finished: false,
            pending_expiry: None,
            started: OffsetDateTime::now_utc(),
            bulk: None,
            bulk_open: 0,
            seen: Seen::default(),
            staged_rows: 0,
        };
        let bulk = {
            let mut conn = self.writer();
            let mut run = || -> Result<bool, Fail> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let bulk = super::bulk::begin(&tx, object_type, &import.table)?;
                if !bulk {
                    tx.execute_batch(&format!(
                        "CREATE TABLE {} (anchor TEXT PRIMARY KEY, body BLOB)",
                        import.table
                    ))?;
                }
                tx.commit()?;
                Ok(bulk)
            };
            run().map_err(|e| e.at(&self.path))?
        };
        if bulk {
            tracing::info!(object_type, "first import of this type: loading in bulk");
        }
        import.bulk = bulk.then_some(false);
        Ok(import)
    }
}

impl FullImport<'_> {
    /// The object type being imported.
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// Makes the merge remove pending objects this import does not show once they have waited
    /// longer than `expiry` (without it they are kept until an import shows them).
    pub fn expire_pending_after(&mut self, expiry: std::time::Duration) {
        self.pending_expiry = Some(expiry);
    }

    /// Stages one page. Upserts of an anchor already staged replace it; a `Delete` unstages
    /// the anchor (so the merge removes the object). Invisible to lookups until `commit`.
    pub fn add_page(&mut self, items: &[ImportItem]) -> Result<(), SpaceError> {
        if self.bulk.is_some() {
            return self.add_bulk_page(items);
        }
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            match item {
                ImportItem::Upsert(object) => {
                    self.check_type(&object.object_type)?;
                    let body = self.space.encode(object)?;
                    rows.push((object.anchor.as_str(), Some(body)));
                }
                ImportItem::Delete {
                    object_type,
                    anchor,
                } => {
                    self.check_type(object_type)?;
                    rows.push((anchor.as_str(), None));
                }
            }
        }
        let space = self.space;
        let mut conn = space.writer();
        let mut run = || -> Result<(), Fail> {
            // Deferred: writing only the temporary schema takes no lock on the space.
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {} (anchor, body) VALUES (?1, ?2)",
                    self.table
                ))?;
                let mut delete =
                    tx.prepare_cached(&format!("DELETE FROM {} WHERE anchor = ?1", self.table))?;
                // Content the space already holds is not staged: its id is marked seen and the
                // merge keeps the object (the common case of a scheduled re-import).
                let mut probe = tx.prepare_cached(
                    "SELECT id, body = ?3 AND origin <> ?4 FROM objects
                     WHERE object_type = ?1 AND anchor = ?2",
                )?;
                let mut id_of = tx.prepare_cached(
                    "SELECT id FROM objects WHERE object_type = ?1 AND anchor = ?2",
                )?;
                for (anchor, body) in &rows {
                    match body {
                        Some(body) => {
                            let found: Option<(i64, bool)> = probe
                                .query_row(
                                    params![self.object_type, anchor, body, Origin::Pending.code()],
                                    |row| Ok((row.get(0)?, row.get(1)?)),
                                )
                                .optional()?;
                            match found {
                                Some((id, true)) => {
                                    self.seen.set(id, true);
                                    // An earlier page may have staged other content for it.
                                    if self.staged_rows > 0 {
                                        delete.execute([anchor])?;
                                    }
                                }
                                found => {
                                    if let Some((id, _)) = found {
                                        self.seen.set(id, false);
                                    }
                                    insert.execute(params![anchor, body])?;
                                    self.staged_rows += 1;
                                }
                            }
                        }
                        None => {
                            let id: Option<i64> = id_of
                                .query_row(params![self.object_type, anchor], |row| row.get(0))
                                .optional()?;
                            if let Some(id) = id {
                                self.seen.set(id, false);
                            }
                            delete.execute([anchor])?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| e.at(&space.path))
    }

    /// A page of a bulk load: written into `objects` at once (see `bulk`).
    fn add_bulk_page(&mut self, items: &[ImportItem]) -> Result<(), SpaceError> {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            match item {
                ImportItem::Upsert(object) => {
                    self.check_type(&object.object_type)?;
                    let body = self.space.encode(object)?;
                    rows.push((object.anchor.as_str(), Some((object, body))));
                }
                ImportItem::Delete {
                    object_type,
                    anchor,
                } => {
                    self.check_type(object_type)?;
                    rows.push((anchor.as_str(), None));
                }
            }
        }
        // In anchor order within the page (stable: a later duplicate stays later), so the
        // anchor index is appended to rather than split at random.
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let space = self.space;
        let conn = space.writer();
        let _moving = space.moving();
        // One transaction spans many pages: each commit rewrites every index page it touched,
        // so fewer commits write far less. Nothing else writes meanwhile: the connector is not
        // serving before its first import completes.
        let mut run = || -> Result<bool, Fail> {
            if self.bulk_open == 0 {
                conn.execute_batch("BEGIN IMMEDIATE")?;
            }
            self.bulk_open += rows.len().max(1);
            let page = super::bulk::write_page(
                &conn,
                &space.index,
                &self.table,
                &self.object_type,
                &rows,
            )?;
            if self.bulk_open >= BULK_TRANSACTION {
                conn.execute_batch("COMMIT")?;
                self.bulk_open = 0;
            }
            Ok(page.replaced)
        };
        let replaced = run().map_err(|e| e.at(&space.path))?;
        if replaced {
            self.bulk = Some(true);
        }
        Ok(())
    }

    /// Ends a bulk load: index entries in, watermark stored, the load no longer discarded.
    fn commit_bulk(
        &mut self,
        conn: &mut Connection,
        watermark: Option<&Watermark>,
    ) -> Result<u64, Fail> {
        if self.bulk_open > 0 {
            conn.execute_batch("COMMIT")?;
            self.bulk_open = 0;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let added = super::bulk::finish(
            &tx,
            &self.object_type,
            &self.table,
            self.bulk.unwrap_or(false),
        )?;
        set_watermark(&tx, &self.object_type, watermark)?;
        super::intents::clear_anchorless(&tx, &self.object_type, self.started)?;
        tx.commit()?;
        Ok(added)
    }

    /// Merges the staged objects into the space in one transaction: objects not staged are
    /// removed, changed ones updated (version + 1), unchanged ones left alone, new ones added,
    /// index entries follow, and the watermark is stored (`None` clears it: a full import
    /// without a watermark leaves nothing for a delta to start from).
    pub fn commit(mut self, watermark: Option<&Watermark>) -> Result<ImportStats, SpaceError> {
        let space = self.space;
        let stats = {
            let mut conn = space.writer();
            let _moving = space.moving();
            let mut ended = Vec::new();
            let stats = if self.bulk.is_some() {
                self.commit_bulk(&mut conn, watermark)
                    .map(|added| ImportStats {
                        added,
                        ..ImportStats::default()
                    })
            } else {
                merge(
                    &mut conn,
                    space,
                    Merge {
                        object_type: &self.object_type,
                        table: &self.table,
                        watermark,
                        pending_expiry: self.pending_expiry,
                        started: self.started,
                        seen: &self.seen,
                        staged_rows: self.staged_rows,
                    },
                    &mut ended,
                )
            }
            .map_err(|e| e.at(&space.path))?;
            space.record_ended(ended);
            // The merge filled the writer's page cache; give it back rather than keep it for
            // the occasional write-through (an idle host after a big import stays small).
            if let Err(e) = conn.execute_batch("PRAGMA shrink_memory") {
                tracing::debug!(error = %e, "could not shrink the writer's cache");
            }
            stats
        };
        self.finished = true;
        self.release();
        tracing::info!(object_type = %self.object_type, ?stats, "full import committed to the connector space");
        Ok(stats)
    }

    fn check_type(&self, found: &str) -> Result<(), SpaceError> {
        crate::space::stored::check_object_type(&self.object_type, found)
    }

    /// Drops the staging table (unless the merge already did) and frees the object type.
    fn release(&mut self) {
        if !self.finished {
            let mut conn = self.space.writer();
            let _moving = self.space.moving();
            let mut run = || -> Result<(), Fail> {
                if self.bulk_open > 0 {
                    conn.execute_batch("ROLLBACK")?;
                    self.bulk_open = 0;
                    // Names the load added are gone with it.
                    self.space.dict.reload(&conn)?;
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if self.bulk.is_some() {
                    super::bulk::discard(&tx, &self.object_type)?;
                }
                tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", self.table))?;
                tx.commit()?;
                Ok(())
            };
            let dropped = run().map_err(|e| e.at(&self.space.path));
            drop(conn);
            if let Err(e) = dropped {
                tracing::warn!(table = %self.table, error = %e, "could not discard a staged import");
            }
            self.finished = true;
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
            self.release();
        }
    }
}

/// What one merge is about.
struct Merge<'a> {
    object_type: &'a str,
    table: &'a str,
    watermark: Option<&'a Watermark>,
    pending_expiry: Option<std::time::Duration>,
    started: OffsetDateTime,
    seen: &'a Seen,
    staged_rows: usize,
}

/// The merge, in one immediate transaction; pending exports it ends go to `ended`.
fn merge(
    conn: &mut Connection,
    space: &SqliteSpace,
    m: Merge<'_>,
    ended: &mut Vec<PendingEnd>,
) -> Result<ImportStats, Fail> {
    let Merge {
        object_type,
        table,
        watermark,
        pending_expiry,
        started,
        seen,
        staged_rows,
    } = m;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut stats = ImportStats::default();
    let now = OffsetDateTime::now_utc();
    if let Some(expiry) = pending_expiry {
        // Pending objects not shown that waited too long: the target never took them.
        let cutoff = to_nanos(now - expiry);
        let expired: Vec<(i64, String, String, Stored)> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT o.id, o.anchor, p.detail, o.body FROM objects o
                 JOIN pending p ON p.object_id = o.id
                 WHERE o.object_type = ?1 AND p.since < ?2
                 AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.anchor = o.anchor)"
            ))?;
            stmt.query_map(params![object_type, cutoff], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    Stored::from_value(row.get_ref(3)?)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        for (id, anchor, detail, body) in expired {
            delete_row(&tx, space, id, object_type, &anchor, &body)?;
            stats.removed += 1;
            ended.push(PendingEnd {
                object_type: object_type.to_owned(),
                anchor: connector_core::Anchor(anchor),
                detail,
                outcome: PendingOutcome::Expired,
            });
        }
    }
    // Objects neither seen unchanged nor staged go (pending ones stay: the target has not
    // taken them yet), with their index entries (found from their stored values). The anchor
    // index is walked in batches (it holds the ids too), so memory stays bounded however many
    // objects there are or go.
    let is_staged = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE anchor = ?1)");
    let mut after = String::new();
    loop {
        let batch: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, anchor FROM objects WHERE object_type = ?1 AND anchor > ?2
                 ORDER BY anchor LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![object_type, after, MERGE_BATCH], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some((_, last)) = batch.last() else {
            break;
        };
        after = last.clone();
        for (id, anchor) in &batch {
            if seen.contains(*id) {
                stats.unchanged += 1;
                continue;
            }
            if staged_rows > 0
                && tx
                    .prepare_cached(&is_staged)?
                    .query_row([anchor], |row| row.get::<_, bool>(0))?
            {
                continue;
            }
            let (origin, body): (i64, Stored) = tx
                .prepare_cached("SELECT origin, body FROM objects WHERE id = ?1")?
                .query_row([id], |row| {
                    Ok((row.get(0)?, Stored::from_value(row.get_ref(1)?)?))
                })?;
            if origin == Origin::Pending.code() {
                continue;
            }
            delete_row(&tx, space, *id, object_type, anchor, &body)?;
            stats.removed += 1;
        }
    }

    // New index entries are collected here and inserted into `idx` in key order at the end.
    let idx_table = format!("{table}_idx");
    tx.execute_batch(&format!(
        "CREATE TABLE {idx_table} ({})",
        super::index::STAGING_COLUMNS
    ))?;

    let select = format!(
        "SELECT s.anchor, s.body, o.id, {O_COLUMNS} FROM {table} s
         LEFT JOIN objects o ON s.body IS NOT NULL AND o.object_type = ?1 AND o.anchor = s.anchor
         WHERE s.anchor > ?2 ORDER BY s.anchor LIMIT ?3"
    );
    let mut after = String::new();
    loop {
        let batch: Vec<(String, Option<Vec<u8>>, Option<Existing>)> = {
            let mut stmt = tx.prepare_cached(&select)?;
            let rows = stmt.query_map(params![object_type, after, MERGE_BATCH], |row| {
                Ok((row.get(0)?, row.get(1)?, Existing::read(row, 2)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some((last, _, _)) = batch.last() else {
            break;
        };
        after = last.clone();
        for (anchor, body, existing) in batch {
            // Staged without a body: the space held exactly this content when it was read.
            let Some(body) = body else {
                stats.unchanged += 1;
                continue;
            };
            if existing.as_ref().is_some_and(|e| {
                matches!(&e.row.body, Stored::Compact(b) if *b == body)
                    && e.row.origin != Origin::Pending.code()
            }) {
                stats.unchanged += 1;
                continue;
            }
            let object = body::decode(ValueRef::Blob(&body), object_type, &anchor, &space.dict)?;
            let written = stored::store(
                &tx,
                space.schema(),
                &idx_table,
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
    tx.execute_batch(&format!(
        "INSERT OR IGNORE INTO idx (attr, value_norm, object_id)
         SELECT attr, value_norm, object_id FROM {idx_table}
         ORDER BY attr, value_norm, object_id;
         DROP TABLE {idx_table};
         DROP TABLE {table};"
    ))?;
    set_watermark(&tx, object_type, watermark)?;
    super::intents::clear_anchorless(&tx, object_type, started)?;
    tx.commit()?;
    Ok(stats)
}

/// Deletes one object row and its index entries (its pending row goes by trigger).
fn delete_row(
    conn: &Connection,
    space: &SqliteSpace,
    id: i64,
    object_type: &str,
    anchor: &str,
    body: &Stored,
) -> Result<(), Fail> {
    super::index::delete_stored_entries(
        conn,
        &space.index,
        &space.dict,
        id,
        object_type,
        anchor,
        body,
    )?;
    conn.prepare_cached("DELETE FROM objects WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}
