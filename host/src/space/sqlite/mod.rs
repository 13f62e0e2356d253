//! The embedded backend: the connector space of one connector in one SQLite file in the data
//! directory, the default. Nothing to run beside the host, and a restart serves lookups at once.
//!
//! # Layout
//! - `schema`: tables, indexes, triggers and the schema version (`meta`).
//! - `index`: index entries, rebuilt on a specification change.
//! - `body`: the stored form of an object (compact, self-describing; older forms still read).
//! - `dict`: the dictionary of attribute names bodies refer to by id.
//! - `stored`: the one function that writes an object row (added / updated / unchanged,
//!   version and index entries).
//! - `import`: `FullImport`, staged page by page and merged in one transaction.
//! - `bulk`: the first import of a type into a space without it, written straight in.
//! - `intents`: exports in flight, so a crash costs a read-back of those objects only.
//! - `pending`: exports the target accepted but queued (approvals): what each waits for, and
//!   how imports end them (confirmed, read back, rejected, expired).
//! - `runs`: import run history.
//! - `browse`: paged reads for the operations console (index lookups, pending exports).
//! - `pool`: read-only connections for concurrent lookups.
//! - `rank`: the list order of each type in memory, so a page at any depth costs the same.
//!
//! # Durability and concurrency
//! The file is in WAL mode with `synchronous = NORMAL`: a commit is atomic and the file never
//! corrupts, but the last write-throughs before a power failure (not a process crash) may be
//! lost, because the WAL is synced at checkpoints rather than at every commit. A full fsync per
//! write-through cost more than the database commit it follows on this project's machines
//! (BENCHMARKS.md), and what it protects is repaired anyway: the host marks a running host
//! with the machine's boot id and, when it finds the mark of another boot (a power failure),
//! runs a full import while serving lookups from the space meanwhile. A process crash in the
//! same boot (kill -9, the OOM killer) loses no commit; what it leaves unknown is only the
//! outcome of the exports in flight, which `intents` records: those objects are read back
//! from the target by anchor before the connector serves, and nothing is re-imported.
//! One writer connection sits behind a mutex;
//! reads go through a pool of read-only connections and, in WAL mode, never wait for the writer,
//! so a full import merging a million objects does not stall lookups: they see the previous
//! complete state until the merge commits.
//!
//! One file serves one host: cross-host locks and leases are not needed here (the facade's
//! versions of them are no-ops), and a second host must use the PostgreSQL backend.

mod batch;
mod body;
mod browse;
mod bulk;
mod dict;
mod import;
mod index;
mod intents;
mod pending;
mod pool;
mod rank;
mod runs;
mod schema;
mod stored;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use connector_core::import::{ImportItem, Watermark};
use connector_core::object::{Anchor, ConnectorObject};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

pub use import::FullImport;
pub use schema::SCHEMA_VERSION;

use crate::space::error::{Fail, SpaceError};
use dict::Dict;
use index::{Index, IndexSpec, normalise};
use pending::{PendingEnd, PendingOutcome};
use pool::ReadPool;
use rank::{RankChange, RankList, Ranks};
use stored::{COLUMNS, ImportStats, O_COLUMNS, Origin, RawRow, StoredObject, query_objects};

/// How long a statement waits for a lock held by another process (e.g. the CLI).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections kept for lookups.
const READERS: usize = 4;

/// Writer page cache, in KiB: enough to keep a full import's B-tree working set hot.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The WAL is truncated to this size after a checkpoint (a full import can grow it to the
/// size of everything it changed).
const WAL_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// The connector space of one connector.
pub struct SqliteSpace {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: ReadPool,
    /// The index specification in force, with the ids of its attributes.
    index: Index,
    /// The attribute names bodies refer to.
    dict: Dict,
    importing: Mutex<HashSet<String>>,
    staging_seq: AtomicU64,
    /// Bumped before and after every write transaction (writes are serialised by `writer`, so
    /// it is odd exactly while one is in progress); the in-memory list order is current only
    /// at the generation it was built at or advanced to.
    generation: AtomicU64,
    /// The list order of each type (see `rank`).
    ranks: Mutex<Ranks>,
    /// Held while an order is built, so concurrent pages build it once.
    rank_build: Mutex<()>,
    /// Where recent `list` pages ended, so the next page seeks instead of skipping.
    cursors: Mutex<VecDeque<PageEnd>>,
    /// Pending exports that imports confirmed or ended since the last `take_ended_pending`.
    ended: Mutex<Vec<PendingEnd>>,
}

/// The end of a served `list` page: the page starting at `offset` continues after the object
/// with id `last`.
struct PageEnd {
    object_type: String,
    offset: u64,
    last: i64,
}

/// List cursors remembered (a few concurrent account discoveries).
const CURSORS: usize = 256;

impl std::fmt::Debug for SqliteSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSpace")
            .field("path", &self.path)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl SqliteSpace {
    /// Opens the space at `path`, creating the file if needed. When `index` differs from the
    /// specification the file was last opened with, the entries of added or changed attributes
    /// are built from the stored objects (and those of dropped ones removed) before this
    /// returns. A file written by a newer connector-host is refused with
    /// [`SpaceError::NewerSchema`], a file that is not a connector space with
    /// [`SpaceError::Corrupt`].
    pub fn open(path: &Path, index: IndexSpec) -> Result<SqliteSpace, SpaceError> {
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| SpaceError::sqlite(path, e))?;
        configure_writer(&writer).map_err(|e| SpaceError::sqlite(path, e))?;
        let (rebuilt, index, dict) = prepare(&mut writer, path, &index).map_err(|e| e.at(path))?;
        if let Some(objects) = rebuilt {
            tracing::info!(path = %path.display(), objects, "connector space index entries rebuilt");
        }
        Ok(SqliteSpace {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: ReadPool::new(path, READERS),
            index,
            dict,
            importing: Mutex::new(HashSet::new()),
            staging_seq: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            ranks: Mutex::new(Ranks::default()),
            rank_build: Mutex::new(()),
            cursors: Mutex::new(VecDeque::new()),
            ended: Mutex::new(Vec::new()),
        })
    }

    /// Opens an existing space with the index it was last opened with, changing nothing in
    /// it: for tools (the `space` CLI) that read a space a running host may be serving. Opening
    /// it with any other index would rebuild the index entries under the host's feet.
    pub fn open_as_stored(path: &Path) -> Result<SqliteSpace, SpaceError> {
        let stored = {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| SpaceError::sqlite(path, e))?;
            // A file without a meta table is not a space yet; `open` says so precisely.
            schema::get_meta(&conn, "index_spec").unwrap_or(None)
        };
        let index = stored
            .map(|text| IndexSpec::from_stored(&text))
            .unwrap_or_default();
        SqliteSpace::open(path, index)
    }

    /// Upgrades the existing space at `path` to this build's schema (the `space migrate`
    /// command), changing nothing else: the version found (`None` for a file that held no
    /// space yet) and the version now.
    pub fn migrate(path: &Path) -> Result<(Option<i64>, i64), SpaceError> {
        let found = {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| SpaceError::sqlite(path, e))?;
            schema::stored_version(&conn).map_err(|e| SpaceError::sqlite(path, e))?
        };
        SqliteSpace::open_as_stored(path)?;
        Ok((found, SCHEMA_VERSION))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index specification in force.
    pub fn index_spec(&self) -> &IndexSpec {
        &self.index.spec
    }

    /// The object with this anchor.
    pub fn get(
        &self,
        object_type: &str,
        anchor: &Anchor,
    ) -> Result<Option<StoredObject>, SpaceError> {
        self.read(|conn| {
            let sql =
                format!("SELECT {COLUMNS} FROM objects WHERE object_type = ?1 AND anchor = ?2");
            Ok(query_objects(
                conn,
                &self.dict,
                &sql,
                params![object_type, anchor.as_str()],
            )?
            .into_iter()
            .next())
        })
    }

    /// The object with this DN, compared case-insensitively (the first by anchor if several).
    /// The DN is indexed by a hash: the objects with that hash are read and their DNs compared.
    pub fn get_by_dn(
        &self,
        object_type: &str,
        dn: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        let dn_norm = dn.to_lowercase();
        self.read(|conn| {
            let sql =
                format!("SELECT {COLUMNS} FROM objects WHERE object_type = ?1 AND dn_hash = ?2");
            let hash = schema::dn_hash(&dn_norm);
            Ok(
                query_objects(conn, &self.dict, &sql, params![object_type, hash])?
                    .into_iter()
                    .filter(|s| {
                        s.object
                            .dn
                            .as_ref()
                            .is_some_and(|d| d.to_lowercase() == dn_norm)
                    })
                    .min_by(|a, b| a.object.anchor.cmp(&b.object.anchor)),
            )
        })
    }

    /// The objects whose indexed `attribute` has a value equal to `value` (after
    /// normalisation), ordered by anchor. [`SpaceError::NotIndexed`] when the attribute has no
    /// index: the caller then evaluates its filter over a [`scan`](SqliteSpace::scan).
    pub fn lookup(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<StoredObject>, SpaceError> {
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
            // Written as IN (subquery), not as a join: with the bundled SQLite's STAT4, the join
            // form is re-prepared on every execution (measured: one re-prepare per lookup, about
            // 16 % of the host's CPU under lookup load); this form is prepared once.
            let sql = format!(
                "SELECT {O_COLUMNS} FROM objects o WHERE o.id IN
                 (SELECT i.object_id FROM idx i WHERE i.attr = ?1 AND i.value_norm = ?2)"
            );
            // The index yields hits in object-id order; sorting the (usually single) hit here
            // spares SQLite a sorter per call.
            let mut found = query_objects(conn, &self.dict, &sql, params![id, norm])?;
            found.sort_by(|a, b| a.object.anchor.cmp(&b.object.anchor));
            Ok(found)
        })
    }

    /// Whether `lookup` can answer for this attribute.
    pub fn is_indexed(&self, object_type: &str, attribute: &str) -> bool {
        self.index.spec.find(object_type, attribute).is_some()
    }

    /// The number of objects of a type (a single row read, kept by triggers).
    pub fn count(&self, object_type: &str) -> Result<u64, SpaceError> {
        self.read(|conn| {
            let n: Option<i64> = conn
                .prepare_cached("SELECT n FROM type_counts WHERE object_type = ?1")?
                .query_row([object_type], |row| row.get(0))
                .optional()?;
            Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        })
    }

    /// A page of objects in creation order (the internal id): `limit` objects after skipping
    /// `offset`.
    ///
    /// The object at any position is found in memory (`rank`), so a page costs the same
    /// wherever it starts. A page that starts where a recently served one ended (`startIndex`
    /// stepping through an account discovery) continues after that page's last object even
    /// when objects were created or deleted in between: an object that exists for the whole
    /// walk is neither skipped nor repeated, and objects created during it come last. (Two
    /// walks stepping through the same offsets at the same time share these continuations.)
    pub fn list(
        &self,
        object_type: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut after = self.cursor(object_type, offset);
        let mut page = Vec::new();
        let mut last = None;
        // Objects deleted between reading the order and reading them are topped up from after
        // the last id read, so a page is short only at the end.
        while (page.len() as u64) < limit {
            let want = limit - page.len() as u64;
            let ids = match self.ranked_ids(object_type, offset, after, want)? {
                Some(ids) => ids,
                None => self.ids_by_sql(object_type, offset, after, want)?,
            };
            let Some(&end) = ids.last() else { break };
            page.extend(self.objects_by_id(object_type, &ids)?);
            last = Some(end);
            after = Some(end);
            if (ids.len() as u64) < want {
                break;
            }
        }
        // The next page is asked for at the offset the client counts (the objects it got), and
        // continues after the last id read, whether or not that object was still there.
        if let Some(last) = last {
            self.remember(PageEnd {
                object_type: object_type.to_owned(),
                offset: offset.saturating_add(page.len() as u64),
                last,
            });
        }
        Ok(page)
    }

    /// The ids of a page from the in-memory order, building it when it is not current; `None`
    /// when it cannot be built now (a long write in progress, or writes racing the build).
    fn ranked_ids(
        &self,
        object_type: &str,
        offset: u64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Option<Vec<i64>>, SpaceError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let page = |list: &RankList| {
            let start = match after {
                Some(id) => list.after(id),
                None => usize::try_from(offset).unwrap_or(usize::MAX),
            };
            list.slice(start, limit)
        };
        if let Some(ids) = self.with_ranks(object_type, page) {
            return Ok(Some(ids));
        }
        let _building = self
            .rank_build
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(ids) = self.with_ranks(object_type, page) {
            return Ok(Some(ids));
        }
        let generation = self.generation.load(Ordering::Acquire);
        if !generation.is_multiple_of(2) {
            return Ok(None);
        }
        let ids = self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id FROM objects WHERE object_type = ?1")?;
            let ids = stmt
                .query_map([object_type], |row| row.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(ids)
        })?;
        let list = RankList::from_ids(ids);
        let ids = page(&list);
        let mut ranks = self.ranks.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return Ok(None);
        }
        ranks.install(object_type, generation, list);
        tracing::debug!(object_type, "list order rebuilt");
        Ok(Some(ids))
    }

    /// Runs `f` on the order of a type when it describes the committed state.
    fn with_ranks<T>(&self, object_type: &str, f: impl FnOnce(&RankList) -> T) -> Option<T> {
        let ranks = self.ranks.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.generation.load(Ordering::Acquire);
        // While a write is in progress (odd), the order before it (or already after it, when
        // it was applied) is as good as the database's own snapshot of that moment.
        let valid = if now.is_multiple_of(2) {
            ranks.current(object_type, now)
        } else {
            ranks
                .current(object_type, now - 1)
                .or_else(|| ranks.current(object_type, now + 1))
        };
        valid.map(f)
    }

    /// The ids of a page asked of SQLite: the slow way, only when the in-memory order cannot
    /// be built (a full import merging at this moment).
    fn ids_by_sql(
        &self,
        object_type: &str,
        offset: u64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<i64>, SpaceError> {
        self.read(|conn| {
            let mut ids = Vec::new();
            let mut push = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
                ids.push(row.get::<_, i64>(0)?);
                Ok(())
            };
            match after {
                Some(after) => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT id FROM objects WHERE object_type = ?1 AND id > ?2
                         ORDER BY id LIMIT ?3",
                    )?;
                    let mut rows = stmt.query(params![object_type, after, to_i64(limit)])?;
                    while let Some(row) = rows.next()? {
                        push(row)?;
                    }
                }
                None => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT id FROM objects WHERE object_type = ?1
                         ORDER BY id LIMIT ?2 OFFSET ?3",
                    )?;
                    let mut rows =
                        stmt.query(params![object_type, to_i64(limit), to_i64(offset)])?;
                    while let Some(row) = rows.next()? {
                        push(row)?;
                    }
                }
            }
            Ok(ids)
        })
    }

    /// The objects with these ids (ascending), in that order; ids deleted meanwhile are left
    /// out.
    fn objects_by_id(
        &self,
        object_type: &str,
        ids: &[i64],
    ) -> Result<Vec<StoredObject>, SpaceError> {
        let mut list = String::with_capacity(ids.len() * 8 + 2);
        list.push('[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str(&id.to_string());
        }
        list.push(']');
        self.read(|conn| {
            // The type is checked here, not in SQL: with `AND object_type = ?` SQLite prefers
            // the (object_type, anchor) index and scans every object of the type (measured:
            // 18 ms a page at 100k objects) instead of a hundred rowid reads.
            let sql = format!(
                "SELECT id, object_type, {COLUMNS} FROM objects
                 WHERE id IN (SELECT value FROM json_each(?1))"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut raw: Vec<(i64, RawRow)> = Vec::with_capacity(ids.len());
            let mut rows = stmt.query([&list])?;
            while let Some(row) = rows.next()? {
                if row.get::<_, String>(1)? == object_type {
                    raw.push((row.get(0)?, RawRow::read(row, 2)?));
                }
            }
            raw.sort_unstable_by_key(|(id, _)| *id);
            Ok(raw
                .into_iter()
                .map(|(_, row)| row.decode(&self.dict))
                .collect::<Result<_, _>>()?)
        })
    }

    /// The id a page at `offset` continues after, if a recent page ended there.
    fn cursor(&self, object_type: &str, offset: u64) -> Option<i64> {
        let cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        cursors
            .iter()
            .find(|c| c.offset == offset && c.object_type == object_type)
            .map(|c| c.last)
    }

    fn remember(&self, end: PageEnd) {
        let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        cursors.retain(|c| !(c.offset == end.offset && c.object_type == end.object_type));
        if cursors.len() >= CURSORS {
            cursors.pop_front();
        }
        cursors.push_back(end);
    }

    /// Up to `limit` objects with an anchor greater than `after` (from the first when `None`),
    /// ordered by anchor: a keyset scan for evaluating filters that no index answers.
    pub fn scan(
        &self,
        object_type: &str,
        after: Option<&Anchor>,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|conn| match after {
            Some(after) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM objects WHERE object_type = ?1 AND anchor > ?2
                     ORDER BY anchor LIMIT ?3"
                );
                query_objects(
                    conn,
                    &self.dict,
                    &sql,
                    params![object_type, after.as_str(), to_i64(limit)],
                )
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM objects WHERE object_type = ?1 ORDER BY anchor LIMIT ?2"
                );
                query_objects(conn, &self.dict, &sql, params![object_type, to_i64(limit)])
            }
        })
    }

    /// Writes an object through after a successful export (or any single change): inserted
    /// with version 1, or replaced with version + 1 and its index entries rewritten, in one
    /// transaction. Writing exactly the stored content changes nothing (same version and
    /// modification time) and returns the stored object.
    pub fn put(
        &self,
        object: &ConnectorObject,
        origin: Origin,
    ) -> Result<StoredObject, SpaceError> {
        let body = self.encode(object)?;
        let written = self.write_ranked(|tx, changes| {
            intents::clear_anchor(tx, &object.object_type, object.anchor.as_str())?;
            let existing = stored::find(tx, &object.object_type, object.anchor.as_str())?;
            let written = stored::store(
                tx,
                self.schema(),
                index::IDX,
                object,
                &body,
                origin,
                OffsetDateTime::now_utc(),
                existing,
            )?;
            if written.change == stored::Change::Added {
                changes.push(RankChange::Added(object.object_type.clone(), written.id));
            }
            Ok(written)
        })?;
        Ok(written.into_stored(object.clone()))
    }

    /// Removes an object; `false` when it was not there. Clears the open intents of its anchor
    /// either way.
    pub fn remove(&self, object_type: &str, anchor: &Anchor) -> Result<bool, SpaceError> {
        self.write_ranked(|tx, changes| {
            intents::clear_anchor(tx, object_type, anchor.as_str())?;
            let removed = delete_object(tx, self.schema(), object_type, anchor)?;
            if let Some(id) = removed {
                changes.push(RankChange::Removed(object_type.to_owned(), id));
            }
            Ok(removed.is_some())
        })
    }

    /// Applies a delta import: every item and the new watermark in one transaction, so a crash
    /// either keeps both or neither. Items of another object type fail the whole delta. With
    /// `watermark` `None` the stored watermark is kept.
    pub fn apply_delta(
        &self,
        object_type: &str,
        items: &[ImportItem],
        watermark: Option<&Watermark>,
    ) -> Result<ImportStats, SpaceError> {
        crate::space::stored::check_delta_types(object_type, items)?;
        let mut encoded = Vec::with_capacity(items.len());
        for item in items {
            encoded.push(match item {
                ImportItem::Upsert(object) => Some(self.encode(object)?),
                ImportItem::Delete { .. } => None,
            });
        }
        let mut ended = Vec::new();
        let stats = self.write_ranked(|tx, changes| {
            ended.clear();
            let now = OffsetDateTime::now_utc();
            let mut stats = ImportStats::default();
            for (item, body) in items.iter().zip(&encoded) {
                match (item, body) {
                    (ImportItem::Upsert(object), Some(body)) => {
                        let existing = stored::find(tx, object_type, object.anchor.as_str())?;
                        let written = stored::store(
                            tx,
                            self.schema(),
                            index::IDX,
                            object,
                            body,
                            Origin::Import,
                            now,
                            existing,
                        )?;
                        stats.count(written.change);
                        if written.change == stored::Change::Added {
                            changes.push(RankChange::Added(object_type.to_owned(), written.id));
                        }
                        if let Some(e) = written.ended_pending {
                            ended.push(PendingEnd::shown(object_type, &object.anchor, e));
                        }
                    }
                    (ImportItem::Delete { anchor, .. }, _) => {
                        if let Some(detail) = pending::detail_of(tx, object_type, anchor)? {
                            ended.push(PendingEnd {
                                object_type: object_type.to_owned(),
                                anchor: anchor.clone(),
                                detail,
                                outcome: PendingOutcome::Rejected,
                            });
                        }
                        if let Some(id) = delete_object(tx, self.schema(), object_type, anchor)? {
                            changes.push(RankChange::Removed(object_type.to_owned(), id));
                            stats.removed += 1;
                        }
                    }
                    (ImportItem::Upsert(_), None) => {}
                }
            }
            if let Some(mark) = watermark {
                set_watermark(tx, object_type, Some(mark))?;
            }
            Ok(stats)
        })?;
        self.record_ended(ended);
        tracing::debug!(object_type, ?stats, "delta applied to the connector space");
        Ok(stats)
    }

    /// The watermark stored by the last full import or delta of this type.
    pub fn watermark(&self, object_type: &str) -> Result<Option<Watermark>, SpaceError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM watermarks WHERE object_type = ?1")?
                .query_row([object_type], |row| row.get::<_, String>(0))
                .optional()?
                .map(Watermark))
        })
    }

    /// Runs `f` on a pooled read-only connection. When a body named an attribute id this
    /// process does not know (another process added the name), the dictionary is read again
    /// and `f` runs once more.
    fn read<T>(&self, f: impl Fn(&Connection) -> Result<T, Fail>) -> Result<T, SpaceError> {
        match self.readers.with(&f) {
            Err(_) if self.dict.take_missed() => {
                self.readers.with(|conn| self.dict.reload(conn))?;
                self.readers.with(&f)
            }
            result => result,
        }
    }

    /// Encodes an object's body, first giving new attribute names their ids (on the writer
    /// connection: never call it while holding the writer).
    pub(crate) fn encode(&self, object: &ConnectorObject) -> Result<Vec<u8>, SpaceError> {
        if let Some(body) = body::encode(object, &self.dict)? {
            return Ok(body);
        }
        {
            let conn = self.writer();
            self.dict
                .allocate(&conn, object.attributes.keys())
                .map_err(|e| SpaceError::sqlite(&self.path, e))?;
        }
        body::encode(object, &self.dict)?.ok_or_else(|| {
            SpaceError::Corrupt(format!(
                "attribute names of object {} have no ids after they were given some",
                object.anchor
            ))
        })
    }

    /// The writer connection (a poisoned lock is taken over: SQLite rolled back whatever the
    /// panicking holder had open when its transaction dropped).
    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in an immediate write transaction, committed when `f` succeeds. `f` reports
    /// every object it adds or removes in its second argument, so the in-memory list order
    /// follows (a transaction that touches no object rows reports nothing). A write that does
    /// not come through here (a full import merge) must bump the generation with `moving`: the
    /// list order is then rebuilt at the next page read.
    fn write_ranked<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &mut Vec<RankChange>) -> Result<T, Fail>,
    ) -> Result<T, SpaceError> {
        let mut conn = self.writer();
        // Even: writes are serialised by the writer lock, and each bumps twice.
        let before = self.generation.load(Ordering::Acquire);
        let moving = self.moving();
        let mut changes = Vec::new();
        let run = || -> Result<T, Fail> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx, &mut changes)?;
            tx.commit()?;
            Ok(value)
        };
        let result = run();
        if result.is_err() {
            // Rolled back: nothing changed.
            changes.clear();
        }
        self.ranks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .advance(before, before + 2, &changes);
        drop(moving);
        result.map_err(|e| e.at(&self.path))
    }

    /// Runs `f` in an immediate write transaction that changes no object (intents, run
    /// history): list cursors stay valid.
    fn write_meta<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, SpaceError> {
        let mut conn = self.writer();
        let run = || -> Result<T, Fail> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e| e.at(&self.path))
    }

    /// Marks a write in progress: bumps the generation now and again when dropped (after the
    /// commit), so a list cursor taken before, during or after never survives the change.
    pub(crate) fn moving(&self) -> Generation<'_> {
        self.generation.fetch_add(1, Ordering::AcqRel);
        Generation(&self.generation)
    }
}

/// Bumps the generation when dropped (see `SqliteSpace::moving`).
pub(crate) struct Generation<'a>(&'a AtomicU64);

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Deletes an object: its index entries (from its stored values), its row (its pending row
/// goes by trigger); its id when it was there.
fn delete_object(
    conn: &Connection,
    schema: Schema<'_>,
    object_type: &str,
    anchor: &Anchor,
) -> Result<Option<i64>, Fail> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM objects WHERE object_type = ?1 AND anchor = ?2 RETURNING id, body",
        )?
        .query_row(params![object_type, anchor.as_str()], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                body::Stored::from_value(row.get_ref(1)?)?,
            ))
        })
        .optional()?;
    let Some((id, body)) = removed else {
        return Ok(None);
    };
    index::delete_stored_entries(
        conn,
        schema.index,
        schema.dict,
        id,
        object_type,
        anchor.as_str(),
        &body,
    )?;
    Ok(Some(id))
}

/// What writing an object needs beside the connection: the index in force and the
/// dictionary of attribute names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema<'a> {
    pub index: &'a Index,
    pub dict: &'a Dict,
}

impl SqliteSpace {
    /// The index and the dictionary, for writing objects.
    pub(crate) fn schema(&self) -> Schema<'_> {
        Schema {
            index: &self.index,
            dict: &self.dict,
        }
    }
}

/// Stores or clears the watermark of a type, inside the caller's transaction.
fn set_watermark(
    conn: &Connection,
    object_type: &str,
    mark: Option<&Watermark>,
) -> rusqlite::Result<()> {
    match mark {
        Some(mark) => conn
            .prepare_cached(
                "INSERT INTO watermarks (object_type, value) VALUES (?1, ?2)
                 ON CONFLICT (object_type) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![object_type, mark.0])?,
        None => conn
            .prepare_cached("DELETE FROM watermarks WHERE object_type = ?1")?
            .execute([object_type])?,
    };
    Ok(())
}

/// Pragmas of the writer connection; WAL is a property of the file, so readers inherit it.
fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "connector space could not switch to WAL mode");
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = FILE;
         PRAGMA cache_size = -{WRITER_CACHE_KIB};
         PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Creates or checks the schema and brings index entries in line with `spec`. Returns the
/// number of objects read when entries were rebuilt, the index with its attribute ids, and the
/// dictionary of attribute names.
fn prepare(
    conn: &mut Connection,
    path: &Path,
    spec: &IndexSpec,
) -> Result<(Option<u64>, Index, Dict), Fail> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match schema::prepare(&tx)? {
        schema::Prepared::Ready => {}
        schema::Prepared::Newer(found) => {
            return Err(SpaceError::NewerSchema {
                path: path.display().to_string(),
                found,
                supported: SCHEMA_VERSION,
            }
            .into());
        }
        schema::Prepared::Foreign => {
            return Err(SpaceError::Corrupt(format!(
                "{} is an SQLite file but not a connector space",
                path.display()
            ))
            .into());
        }
    }
    for t in bulk::discard_interrupted(&tx)? {
        tracing::warn!(object_type = %t, "the first import of this type was interrupted; what it had loaded was removed");
    }
    let stored = schema::get_meta(&tx, "index_spec")?
        .map(|text| IndexSpec::from_stored(&text))
        .unwrap_or_default();
    let index = Index::load(&tx, spec)?;
    let dict = Dict::load(&tx)?;
    let change = index::diff(&stored, spec);
    let rebuilt = if change.is_empty() {
        None
    } else {
        let objects = index::apply_change(&tx, &index, &dict, &change)?;
        schema::set_meta(&tx, "index_spec", &spec.to_stored())?;
        Some(objects)
    };
    tx.commit()?;
    Ok((rebuilt, index, dict))
}

/// A count or offset as SQLite's integer, saturating.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
