//! The connector space: every object imported from or exported to a connector's target, kept
//! persistently per connector so Entra's lookups (`filter=userName eq "x"`, GET by id, paged
//! account discovery) are answered locally, at once after a restart, without asking the target
//! and without holding a million objects in memory.
//!
//! `Space` is one API over two stores:
//! - `sqlite`: an embedded SQLite file per connector in the data directory, the default; one
//!   host owns it.
//! - `postgres`: a PostgreSQL database several hosts share, active/active: what one host writes
//!   through is what every host's next lookup reads, exports of one anchor and creates of one
//!   unique value are serialised across hosts by database locks (`lock_exports`), and a lease
//!   (`try_lease`) lets one host at a time run the scheduled imports.
//!
//! Every method below forwards to the backend chosen at start, which implements it with the
//! same name and signature; both are held to the same behaviour by the tests of this module.
//!
//! # Layout
//! - `stored`, `records`, `index`: the values the host sees (objects and their bookkeeping,
//!   intents, pending exports, runs, which attributes are indexed), the same for both stores.
//! - `journal`: write-throughs made during a full import, re-applied after its commit.
//! - `error`: the space's one error type.
//!
//! **Architecture invariant:** nothing outside this module knows SQL or the storage layout; the
//! host sees `Space` and its value types only.

mod error;
mod index;
mod journal;
pub(crate) mod postgres;
mod records;
pub(crate) mod sqlite;
mod stored;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use connector_core::import::{ImportItem, Watermark};
use connector_core::object::{Anchor, ConnectorObject};
use time::OffsetDateTime;

pub use error::SpaceError;
pub use index::{IndexSpec, IndexedAttribute, normalise};
pub use journal::Journal;
pub use postgres::PG_SCHEMA_VERSION;
pub use records::{Intent, PendingEnd, PendingExport, PendingOutcome, RunRecord};
pub use sqlite::SCHEMA_VERSION;
pub use stored::{ImportStats, Origin, StoredObject};

/// The name of the lease under which one host of several sharing a space runs the connector's
/// scheduled imports (see [`Space::try_lease`]).
pub const IMPORT_LEASE: &str = "imports";

/// The connector space of one connector.
#[derive(Debug)]
pub struct Space {
    backend: Backend,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per connector, never moved in a hot path"
)]
enum Backend {
    Sqlite(sqlite::SqliteSpace),
    Postgres(postgres::PgSpace),
}

/// Runs `$body` with `$s` bound to the backend in use.
macro_rules! on_backend {
    ($space:expr, $s:ident => $body:expr) => {
        match &$space.backend {
            Backend::Sqlite($s) => $body,
            Backend::Postgres($s) => off_async_worker(|| $body),
        }
    };
}

/// Runs `$body` with `$s` bound to the backend in use, where `$body` reads this process's
/// memory only (the index specification, bookkeeping): inline on any thread, never handed
/// off. (`on_backend!` would leave the async worker for it on PostgreSQL — a thread hand-off
/// per lookup, for a few nanoseconds of work.)
macro_rules! in_memory {
    ($space:expr, $s:ident => $body:expr) => {
        match &$space.backend {
            Backend::Sqlite($s) => $body,
            Backend::Postgres($s) => $body,
        }
    };
}

/// Runs `f`, which calls the PostgreSQL client, where that may block. The client blocks on a
/// runtime of its own, which Tokio refuses on an async worker thread (the host answers an
/// indexed lookup or a GET by id inline on the worker, cheaper than a hand-off on SQLite): on a
/// multi-threaded runtime's worker the call leaves the worker for its duration
/// (`block_in_place`); on a single-threaded runtime's thread (tests) it runs on a thread of its
/// own; anywhere else (a blocking-pool thread, a CLI) it just runs.
fn off_async_worker<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// A full import of one object type in progress. Commit it with [`FullImport::commit`];
/// dropping it without committing discards what was staged, and lookups keep seeing the
/// previous complete state until the commit.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per running import, never moved in a hot path"
)]
pub enum FullImport<'a> {
    /// Staged in the SQLite file.
    Sqlite(sqlite::FullImport<'a>),
    /// Staged in a temporary table of the import's PostgreSQL connection.
    Postgres(postgres::FullImport<'a>),
}

/// Runs `$body` with `$i` bound to the backend's import.
macro_rules! on_import {
    ($import:expr, $i:ident => $body:expr) => {
        match $import {
            FullImport::Sqlite($i) => $body,
            FullImport::Postgres($i) => $body,
        }
    };
}

impl FullImport<'_> {
    /// The object type being imported.
    pub fn object_type(&self) -> &str {
        on_import!(self, i => i.object_type())
    }

    /// Pending objects this import does not show are removed once they waited this long.
    pub fn expire_pending_after(&mut self, expiry: Duration) {
        on_import!(self, i => i.expire_pending_after(expiry))
    }

    /// Stages one page of imported objects.
    pub fn add_page(&mut self, items: &[ImportItem]) -> Result<(), SpaceError> {
        on_import!(self, i => i.add_page(items))
    }

    /// Makes the import the space's state: objects not staged are removed, the watermark
    /// stored, all in one step.
    pub fn commit(self, watermark: Option<&Watermark>) -> Result<ImportStats, SpaceError> {
        on_import!(self, i => i.commit(watermark))
    }
}

/// Export locks held across hosts until dropped (see [`Space::lock_exports`]). With the
/// embedded store it holds nothing: one host owns the file and serialises in memory.
#[derive(Debug)]
#[must_use = "the locks are released when this is dropped"]
pub struct ExportLock {
    _held: HeldLock,
}

impl Drop for ExportLock {
    fn drop(&mut self) {
        // Unlocking talks to PostgreSQL, and the last owner may drop the lock on an async
        // worker (a request refused after its locks were taken).
        if let HeldLock::Postgres { _lock } = std::mem::replace(&mut self._held, HeldLock::Nothing)
        {
            off_async_worker(move || drop(_lock));
        }
    }
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per export in flight; boxing would allocate on every export"
)]
enum HeldLock {
    /// The embedded store: nothing to hold.
    Nothing,
    /// Advisory locks on a PostgreSQL session, released when dropped.
    Postgres {
        /// Held for its `Drop`, which unlocks.
        _lock: postgres::ExportLock,
    },
}

impl Space {
    /// Opens the embedded space at `path`, creating the file if needed. When `index` differs
    /// from the specification the file was last opened with, the entries of added or changed
    /// attributes are built from the stored objects (and those of dropped ones removed) before
    /// this returns. A file written by a newer connector-host is refused with
    /// [`SpaceError::NewerSchema`], a file that is not a connector space with
    /// [`SpaceError::Corrupt`].
    pub fn open(path: &Path, index: IndexSpec) -> Result<Space, SpaceError> {
        Ok(Space {
            backend: Backend::Sqlite(sqlite::SqliteSpace::open(path, index)?),
        })
    }

    /// Opens an existing embedded space with the index it was last opened with, changing
    /// nothing in it: for tools (the `space` CLI) that read a space a running host may be
    /// serving. Opening it with any other index would rebuild the index entries under the
    /// host's feet.
    pub fn open_as_stored(path: &Path) -> Result<Space, SpaceError> {
        Ok(Space {
            backend: Backend::Sqlite(sqlite::SqliteSpace::open_as_stored(path)?),
        })
    }

    /// Opens the space of `connector` in the PostgreSQL database at `url` (the libpq URL form,
    /// `postgresql://user@host:5432/dbname`; `password` kept out of the URL), creating or
    /// migrating the schema; one database holds the spaces of many connectors and is shared by
    /// every host serving them. A database written by a newer connector-host is refused with
    /// [`SpaceError::NewerSchema`], an unreachable server gives [`SpaceError::Unavailable`].
    pub fn open_postgres(
        url: &str,
        password: Option<&str>,
        connector: &str,
        index: IndexSpec,
    ) -> Result<Space, SpaceError> {
        Ok(Space {
            backend: Backend::Postgres(postgres::PgSpace::open(url, password, connector, index)?),
        })
    }

    /// Opens the PostgreSQL space of `connector` with the index it was last opened with,
    /// changing no index entry (for tools reading a space hosts are serving).
    pub fn open_postgres_as_stored(
        url: &str,
        password: Option<&str>,
        connector: &str,
    ) -> Result<Space, SpaceError> {
        Ok(Space {
            backend: Backend::Postgres(postgres::PgSpace::open_as_stored(
                url, password, connector,
            )?),
        })
    }

    /// Creates or upgrades the connector-space schema of the PostgreSQL database at `url` (the
    /// `space migrate` command): the schema version found and the version now.
    pub fn migrate_postgres(url: &str, password: Option<&str>) -> Result<(i64, i64), SpaceError> {
        postgres::migrate(url, password)
    }

    /// Upgrades the existing embedded space at `path` to this build's schema (the `space migrate`
    /// command), changing nothing else: the schema version found (`None` when the file held no
    /// space yet) and the version now. A newer file is refused as by [`Space::open`].
    pub fn migrate_file(path: &Path) -> Result<(Option<i64>, i64), SpaceError> {
        sqlite::SqliteSpace::migrate(path)
    }

    /// `sqlite` or `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(s) => s.backend_name(),
        }
    }

    /// Where the space is, for logs and the health check: the file, or the database without
    /// its password.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(s) => s.describe(),
        }
    }

    /// Whether several hosts may share this space (so exports lock across hosts and imports
    /// run under a lease).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The index specification in force.
    pub fn index_spec(&self) -> &IndexSpec {
        in_memory!(self, s => s.index_spec())
    }

    /// The object with this anchor.
    pub fn get(
        &self,
        object_type: &str,
        anchor: &Anchor,
    ) -> Result<Option<StoredObject>, SpaceError> {
        on_backend!(self, s => s.get(object_type, anchor))
    }

    /// The object with this DN, compared case-insensitively (the first by anchor if several).
    pub fn get_by_dn(
        &self,
        object_type: &str,
        dn: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        on_backend!(self, s => s.get_by_dn(object_type, dn))
    }

    /// The objects whose indexed `attribute` has a value equal to `value` (after
    /// normalisation), ordered by anchor. [`SpaceError::NotIndexed`] when the attribute has no
    /// index: the caller then evaluates its filter over a [`scan`](Space::scan).
    pub fn lookup(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        on_backend!(self, s => s.lookup(object_type, attribute, value))
    }

    /// [`get`](Space::get) for an async caller: inline on the embedded store (a primary-key
    /// read of a few microseconds, cheaper than any hand-off), on the caller's runtime without
    /// blocking a thread on PostgreSQL.
    pub async fn get_async(
        &self,
        object_type: &str,
        anchor: &Anchor,
    ) -> Result<Option<StoredObject>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.get(object_type, anchor),
            Backend::Postgres(s) => s.get_async(object_type, anchor).await,
        }
    }

    /// [`get_by_dn`](Space::get_by_dn) for an async caller (as [`get_async`](Space::get_async)).
    pub async fn get_by_dn_async(
        &self,
        object_type: &str,
        dn: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.get_by_dn(object_type, dn),
            Backend::Postgres(s) => s.get_by_dn_async(object_type, dn).await,
        }
    }

    /// [`lookup`](Space::lookup) for an async caller (as [`get_async`](Space::get_async)).
    pub async fn lookup_async(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.lookup(object_type, attribute, value),
            Backend::Postgres(s) => s.lookup_async(object_type, attribute, value).await,
        }
    }

    /// Whether `lookup` can answer for this attribute.
    pub fn is_indexed(&self, object_type: &str, attribute: &str) -> bool {
        in_memory!(self, s => s.is_indexed(object_type, attribute))
    }

    /// The number of objects of a type.
    pub fn count(&self, object_type: &str) -> Result<u64, SpaceError> {
        on_backend!(self, s => s.count(object_type))
    }

    /// A page of objects in creation order: `limit` objects after skipping `offset`, costing
    /// the same wherever it starts. A page that starts where a recently served one ended
    /// continues after that page's last object even when objects were created or deleted in
    /// between: an object that exists for the whole walk is neither skipped nor repeated.
    pub fn list(
        &self,
        object_type: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        on_backend!(self, s => s.list(object_type, offset, limit))
    }

    /// Up to `limit` objects with an anchor greater than `after` (from the first when `None`),
    /// ordered by anchor: a keyset scan for evaluating filters that no index answers.
    pub fn scan(
        &self,
        object_type: &str,
        after: Option<&Anchor>,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        on_backend!(self, s => s.scan(object_type, after, limit))
    }

    /// Of `anchors`, those the space holds as an object of one of `object_types`, read in
    /// batches (a 50,000-member group's references in a few reads).
    pub fn existing_anchors<'a>(
        &self,
        object_types: &[&str],
        anchors: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.existing_anchors(object_types, anchors),
            Backend::Postgres(s) => {
                let anchors: Vec<&str> = anchors.into_iter().collect();
                off_async_worker(|| s.existing_anchors(object_types, anchors))
            }
        }
    }

    /// Writes an object through after a successful export (or any single change): inserted
    /// with version 1, or replaced with version + 1 and its index entries rewritten, in one
    /// transaction. Writing exactly the stored content changes nothing (same version and
    /// modification time) and returns the stored object. Clears the open intents of its anchor.
    pub fn put(
        &self,
        object: &ConnectorObject,
        origin: Origin,
    ) -> Result<StoredObject, SpaceError> {
        on_backend!(self, s => s.put(object, origin))
    }

    /// Removes an object; `false` when it was not there. Clears the open intents of its anchor
    /// either way.
    pub fn remove(&self, object_type: &str, anchor: &Anchor) -> Result<bool, SpaceError> {
        on_backend!(self, s => s.remove(object_type, anchor))
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
        on_backend!(self, s => s.apply_delta(object_type, items, watermark))
    }

    /// The watermark stored by the last full import or delta of this type.
    pub fn watermark(&self, object_type: &str) -> Result<Option<Watermark>, SpaceError> {
        on_backend!(self, s => s.watermark(object_type))
    }

    /// Starts a full import of `object_type`. [`SpaceError::ImportRunning`] when one is
    /// already staging for that type.
    pub fn begin_full_import(&self, object_type: &str) -> Result<FullImport<'_>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.begin_full_import(object_type).map(FullImport::Sqlite),
            Backend::Postgres(s) => {
                off_async_worker(|| s.begin_full_import(object_type).map(FullImport::Postgres))
            }
        }
    }

    /// A page of the objects whose indexed `attribute` equals `value`, with the total (the
    /// operations console's search).
    pub fn lookup_page(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<StoredObject>), SpaceError> {
        on_backend!(self, s => s.lookup_page(object_type, attribute, value, offset, limit))
    }

    /// A page of pending exports, oldest first.
    pub fn pending_page(&self, offset: u64, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        on_backend!(self, s => s.pending_page(offset, limit))
    }

    /// Records that an export of `anchor` (or, with `None`, a create whose anchor the target
    /// assigns) is about to reach the target, from the host `host` (`[server] host_id`, kept
    /// on a shared space only). A write-through of the same anchor clears it.
    pub fn record_intent(
        &self,
        object_type: &str,
        anchor: Option<&Anchor>,
        host: &str,
    ) -> Result<i64, SpaceError> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_intent(object_type, anchor),
            Backend::Postgres(s) => off_async_worker(|| s.record_intent(object_type, anchor, host)),
        }
    }

    /// Clears an intent whose export left the target unchanged (refused) or whose
    /// write-through carried no anchor to clear it by.
    pub fn clear_intent(&self, id: i64) -> Result<(), SpaceError> {
        on_backend!(self, s => s.clear_intent(id))
    }

    /// The exports that were in flight when the host last stopped.
    pub fn open_intents(&self) -> Result<Vec<Intent>, SpaceError> {
        on_backend!(self, s => s.open_intents())
    }

    /// Writes an object through for an export the target queued: stored as pending, waiting
    /// for `detail`.
    pub fn put_pending(
        &self,
        object: &ConnectorObject,
        detail: &str,
    ) -> Result<StoredObject, SpaceError> {
        on_backend!(self, s => s.put_pending(object, detail))
    }

    /// Up to `limit` pending exports, oldest first.
    pub fn pending(&self, limit: u64) -> Result<Vec<PendingExport>, SpaceError> {
        on_backend!(self, s => s.pending(limit))
    }

    /// How many exports are pending.
    pub fn pending_count(&self) -> Result<u64, SpaceError> {
        on_backend!(self, s => s.pending_count())
    }

    /// The pending exports imports ended since the last call.
    pub fn take_ended_pending(&self) -> Vec<PendingEnd> {
        in_memory!(self, s => s.take_ended_pending())
    }

    /// Records the start of an import run by `host` (its `host_id`); its id.
    pub fn start_run(
        &self,
        kind: &str,
        object_type: &str,
        host: Option<&str>,
    ) -> Result<i64, SpaceError> {
        on_backend!(self, s => s.start_run(kind, object_type, host))
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: &str,
        stats: &ImportStats,
    ) -> Result<(), SpaceError> {
        on_backend!(self, s => s.finish_run(id, outcome, stats))
    }

    /// Adds a note to a run (what else it did).
    pub fn note_run(&self, id: i64, note: &str) -> Result<(), SpaceError> {
        on_backend!(self, s => s.note_run(id, note))
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: u64) -> Result<Vec<RunRecord>, SpaceError> {
        on_backend!(self, s => s.runs(limit))
    }

    /// The last successful full import of a type.
    pub fn last_full_import(&self, object_type: &str) -> Result<Option<RunRecord>, SpaceError> {
        on_backend!(self, s => s.last_full_import(object_type))
    }

    /// A page of the run history, newest first, with the total.
    pub fn runs_page(&self, offset: u64, limit: u64) -> Result<(u64, Vec<RunRecord>), SpaceError> {
        on_backend!(self, s => s.runs_page(offset, limit))
    }

    /// The last run of this kind and type, whatever its outcome.
    pub fn last_run(&self, object_type: &str, kind: &str) -> Result<Option<RunRecord>, SpaceError> {
        on_backend!(self, s => s.last_run(object_type, kind))
    }

    /// Takes the export locks on `keys` (an anchor, a unique value) for as long as the returned
    /// guard lives, so exports of the same object, and creates of the same unique value, run one
    /// after the other on every host sharing the space. Call it from a blocking thread, before
    /// reading what the export checks. The embedded store holds nothing: its one host
    /// serialises in memory.
    pub fn lock_exports(&self, keys: &[String]) -> Result<ExportLock, SpaceError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(ExportLock {
                _held: HeldLock::Nothing,
            }),
            Backend::Postgres(s) => Ok(ExportLock {
                _held: HeldLock::Postgres {
                    _lock: off_async_worker(|| s.lock_exports(keys))?,
                },
            }),
        }
    }

    /// [`lock_exports`](Space::lock_exports) waiting at most `wait` for locks another host
    /// holds ([`SpaceError::Unavailable`] past it, nothing held); `lock_exports` waits 30 s.
    pub fn lock_exports_within(
        &self,
        keys: &[String],
        wait: Duration,
    ) -> Result<ExportLock, SpaceError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(ExportLock {
                _held: HeldLock::Nothing,
            }),
            Backend::Postgres(s) => Ok(ExportLock {
                _held: HeldLock::Postgres {
                    _lock: off_async_worker(|| s.lock_exports_within(keys, wait))?,
                },
            }),
        }
    }

    /// Takes or renews the lease `name` for `holder` for `ttl`; whether `holder` holds it
    /// afterwards. A lease lets one host of several sharing a space run the scheduled imports;
    /// the embedded store has one host, which always holds it.
    pub fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, SpaceError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(true),
            Backend::Postgres(s) => off_async_worker(|| s.try_lease(name, holder, ttl)),
        }
    }

    /// Gives up the lease `name` if `holder` holds it (a clean stop hands it over at once).
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<(), SpaceError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(s) => off_async_worker(|| s.release_lease(name, holder)),
        }
    }

    /// Who holds the lease `name`, and until when; `None` when nobody does (or the store has
    /// no leases).
    pub fn lease_holder(&self, name: &str) -> Result<Option<(String, OffsetDateTime)>, SpaceError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(s) => off_async_worker(|| s.lease_holder(name)),
        }
    }
}
