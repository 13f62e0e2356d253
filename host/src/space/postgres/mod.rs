//! The connector space on PostgreSQL, so several hosts can share one space (issue #17): a
//! write-through on one host is visible to lookups on every host at once, exports of one
//! anchor are serialised across hosts by advisory locks (`cross`), and one host at a time runs
//! the scheduled imports under a lease.
//!
//! `PgSpace` has the same API and the same semantics as the SQLite backend (versions grow by one
//! on a change of content only, list order is creation order with a true count, index values
//! normalised by [`normalise`], the same pending and intent rules); read the SQLite modules for
//! the why of each rule. What differs:
//! - every multi-statement write is one transaction, retried when a concurrent transaction of
//!   another host took the same key first (a unique violation or serialisation failure);
//! - a server that is down, restarting or refusing connections is [`SpaceError::Unavailable`];
//!   broken connections are dropped and the next call reconnects;
//! - a full import's merge skips objects written (or removed) after the import began, by the
//!   database's clock, because another host's write-throughs are not in this host's journal;
//! - `list` pages continue after the last id of the page that ended at the same offset, with
//!   those page ends shared by all hosts in `page_ends`, so an account discovery whose pages
//!   are spread over hosts walks a keyset at any depth; other offsets use `OFFSET`.
//!
//! Layout: `schema` (tables, migrations), `pool` (connections, statement cache, errors),
//! `reader` (the asynchronous GET and lookup path on the host's runtime),
//! `store` (writing one object), `import` (full imports), `records` (intents, pending, runs,
//! browse pages), `cross` (export locks and leases).
//!
//! TLS (`sslmode=require` / `verify-*`, optional `sslrootcert`) goes through rustls; see
//! `config`.
//!
//! The sync `postgres` client runs a runtime of its own: call `PgSpace`'s sync methods from
//! blocking threads only, never from inside an async task (it would panic). The `*_async`
//! reads are the exception: they run on the caller's Tokio runtime.

mod cross;
mod import;
mod pool;
mod reader;
mod records;
mod schema;
mod store;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use connector_core::import::{ImportItem, Watermark};
use connector_core::object::{Anchor, ConnectorObject};
use postgres::{Client, GenericClient, Transaction};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use cross::ExportLock;
pub use import::FullImport;
pub use schema::PG_SCHEMA_VERSION;

use crate::space::{
    ImportStats, IndexSpec, IndexedAttribute, Origin, PendingEnd, PendingOutcome, SpaceError,
    StoredObject, index, normalise,
};
use pool::{Db, Fail, Pool};
use reader::{Read, Reader};
use store::{COLUMNS, decode_all};

/// Connections per space (per host and connector) for reads and writes.
const POOL_MAX: usize = 16;

/// Connections per space holding export locks: apart from `POOL_MAX`, so exports waiting on a
/// slow target never starve lookups of connections.
const LOCK_POOL_MAX: usize = 32;

/// Times a write transaction is retried after losing a race to another transaction.
const WRITE_ATTEMPTS: usize = 5;

/// Objects read per batch while building index entries for a changed specification.
const REBUILD_BATCH: i64 = 2_000;

/// Remembered page ends older than this are forgotten.
const PAGE_END_TTL: &str = "10 minutes";

/// The connector space of one connector, on a PostgreSQL database shared with other hosts and
/// other connectors.
pub struct PgSpace {
    pool: Arc<Pool>,
    /// Connections holding export locks (see `cross`).
    lock_pool: Arc<Pool>,
    /// Asynchronous connections for GET by id and lookups (see `reader`).
    reader: Reader,
    connector: String,
    index: IndexSpec,
    /// Object types with a full import staging on this host.
    importing: Mutex<HashSet<String>>,
    /// Pending exports this host's imports ended since the last `take_ended_pending`.
    ended: Mutex<Vec<PendingEnd>>,
}

impl std::fmt::Debug for PgSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSpace")
            .field("database", &self.pool.describe)
            .field("connector", &self.connector)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The client configuration of a libpq URL (or key=value string) and an optional password,
/// how to secure it, and what may be logged of it (never the password).
///
/// `sslmode`: `disable` and `prefer` connect in clear (the client does not negotiate TLS);
/// `require`, `verify-ca` and `verify-full` use TLS and always verify the server's certificate
/// and name, against `sslrootcert` (a PEM file) when given, else the system's trust store
/// (which honours `SSL_CERT_FILE`). That is stricter than libpq's `require`, which encrypts
/// without verifying.
fn config(
    url: &str,
    password: Option<&str>,
) -> Result<(tokio_postgres::Config, pool::Tls, String), SpaceError> {
    let bad =
        |m: String| SpaceError::Storage(format!("the PostgreSQL URL of the connector space: {m}"));
    let (url, mode, root) = take_tls_params(url);
    let tls = match mode.as_deref() {
        None | Some("disable" | "prefer" | "allow") => pool::Tls::Off,
        Some("require" | "verify-ca" | "verify-full") => {
            pool::Tls::Rustls(tls_connector(root.as_deref()).map_err(bad)?)
        }
        Some(other) => {
            return Err(bad(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
    config.ssl_mode(match tls {
        pool::Tls::Off => tokio_postgres::config::SslMode::Disable,
        pool::Tls::Rustls(_) => tokio_postgres::config::SslMode::Require,
    });
    if let Some(password) = password {
        config.password(password);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(pool::CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("connector-host");
    }
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let dbname = config.get_dbname().unwrap_or(user);
    let secured = match tls {
        pool::Tls::Off => "",
        pool::Tls::Rustls(_) => " (TLS)",
    };
    let describe = format!("postgresql://{user}@{host}:{port}/{dbname}{secured}");
    Ok((config, tls, describe))
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (or a key=value string), which the
/// client library does not handle as libpq does: the rest of the URL, the mode, the root file.
fn take_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| -> bool {
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => return false,
        }
        true
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        !take(k, v)
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_owned(),
        }
    } else {
        url.split_whitespace()
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k.trim(), v.trim())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

/// A TLS connector trusting `root` (PEM) or the system's trust store.
fn tls_connector(root: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(file)
                .map_err(|e| format!("sslrootcert {file}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("sslrootcert {file}: {e}"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {file} holds no usable certificate"));
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS configuration: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Creates or upgrades the connector-space schema of the database at `url` (for `space
/// migrate`); returns the schema version found and the version now. A database written by a
/// newer connector-host is refused with [`SpaceError::NewerSchema`].
pub fn migrate(url: &str, password: Option<&str>) -> Result<(i64, i64), SpaceError> {
    let (config, tls, describe) = config(url, password)?;
    let pool = Pool::new(config.into(), tls, describe, 1);
    let mut conn = pool.connect()?;
    schema::migrate(&mut conn, &pool.describe)
}

/// The connections of a space at `url` (pool, export-lock pool, asynchronous readers), after
/// creating or migrating the schema on one of them.
fn connections(
    url: &str,
    password: Option<&str>,
) -> Result<(Arc<Pool>, Arc<Pool>, Reader), SpaceError> {
    let (config, tls, describe) = config(url, password)?;
    let reader = Reader::new(config.clone(), tls.clone(), describe.clone());
    let pool = Pool::new(
        config.clone().into(),
        tls.clone(),
        describe.clone(),
        POOL_MAX,
    );
    let lock_pool = Pool::new(config.into(), tls, describe, LOCK_POOL_MAX);
    let mut conn = pool.connect()?;
    schema::migrate(&mut conn, &pool.describe)?;
    Ok((pool, lock_pool, reader))
}

/// A 64-bit advisory lock key for `key` of `connector` (a collision only serialises more).
pub(crate) fn lock_key(connector: &str, key: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(connector.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    for (dst, src) in bytes.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    i64::from_be_bytes(bytes)
}

/// A count or offset as PostgreSQL's bigint, saturating.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgSpace {
    /// Opens the space of `connector` in the database at `url` (libpq URL form), creating or
    /// migrating the schema. When `index` differs from the specification the connector's space
    /// was last opened with, index entries are rebuilt before this returns.
    pub fn open(
        url: &str,
        password: Option<&str>,
        connector: &str,
        index: IndexSpec,
    ) -> Result<PgSpace, SpaceError> {
        let (pool, lock_pool, reader) = connections(url, password)?;
        let space = PgSpace {
            pool,
            lock_pool,
            reader,
            connector: connector.to_owned(),
            index,
            importing: Mutex::new(HashSet::new()),
            ended: Mutex::new(Vec::new()),
        };
        if let Some(objects) = space.prepare_index()? {
            tracing::info!(database = %space.pool.describe, connector, objects, "connector space index entries rebuilt");
        }
        Ok(space)
    }

    /// Opens the space of `connector` with the index it was last opened with, changing no
    /// index entry: for tools (the `space` CLI) reading a space hosts are serving. The schema
    /// is still created or migrated when needed.
    pub fn open_as_stored(
        url: &str,
        password: Option<&str>,
        connector: &str,
    ) -> Result<PgSpace, SpaceError> {
        let (pool, lock_pool, reader) = connections(url, password)?;
        let stored = {
            let mut conn = pool.connect()?;
            conn.client
                .query_opt(
                    "SELECT value FROM meta WHERE connector = $1 AND key = 'index_spec'",
                    &[&connector],
                )
                .and_then(|row| row.map(|r| r.try_get::<_, String>(0)).transpose())
                .map_err(|e| pool::classify(&e, &pool.describe))?
        };
        Ok(PgSpace {
            pool,
            lock_pool,
            reader,
            connector: connector.to_owned(),
            index: stored
                .map(|text| IndexSpec::from_stored(&text))
                .unwrap_or_default(),
            importing: Mutex::new(HashSet::new()),
            ended: Mutex::new(Vec::new()),
        })
    }

    /// `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        "postgresql"
    }

    /// The database and connector, for logs and health reports (never the password).
    pub fn describe(&self) -> String {
        format!("{} (connector {})", self.pool.describe, self.connector)
    }

    /// The index specification in force.
    pub fn index_spec(&self) -> &IndexSpec {
        &self.index
    }

    /// Brings the stored index entries in line with `self.index`; the number of objects read
    /// when entries were rebuilt.
    fn prepare_index(&self) -> Result<Option<u64>, SpaceError> {
        let connector = self.connector.as_str();
        let lock = lock_key(connector, "\0index");
        self.write(|db| {
            db.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
            let stored = db
                .query_opt(
                    "SELECT value FROM meta WHERE connector = $1 AND key = 'index_spec'",
                    &[&connector],
                )?
                .map(|row| row.try_get::<_, String>(0))
                .transpose()?
                .map(|text| IndexSpec::from_stored(&text))
                .unwrap_or_default();
            let change = index::diff(&stored, &self.index);
            if change.is_empty() {
                return Ok(None);
            }
            for (object_type, attribute) in &change.dropped {
                db.execute(
                    "DELETE FROM idx WHERE connector = $1 AND object_type = $2 AND attribute = $3",
                    &[&connector, object_type, attribute],
                )?;
            }
            let objects = rebuild(db, connector, &change.built)?;
            db.execute(
                "INSERT INTO meta (connector, key, value) VALUES ($1, 'index_spec', $2)
                 ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value",
                &[&connector, &self.index.to_stored()],
            )?;
            Ok(Some(objects))
        })
    }

    /// The object with this anchor.
    pub fn get(
        &self,
        object_type: &str,
        anchor: &Anchor,
    ) -> Result<Option<StoredObject>, SpaceError> {
        self.read(|db| {
            let rows = db.query(
                reader::GET,
                &[&self.connector, &object_type, &anchor.as_str()],
            )?;
            Ok(decode_all(&rows)?.into_iter().next())
        })
    }

    /// The object with this DN, compared case-insensitively (the first by anchor if several).
    pub fn get_by_dn(
        &self,
        object_type: &str,
        dn: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        let dn_norm = dn.to_lowercase();
        self.read(|db| {
            let rows = db.query(
                reader::GET_BY_DN,
                &[&self.connector, &object_type, &dn_norm],
            )?;
            Ok(decode_all(&rows)?.into_iter().next())
        })
    }

    /// The objects whose indexed `attribute` has a value equal to `value` (after
    /// normalisation), ordered by anchor; [`SpaceError::NotIndexed`] without an index.
    pub fn lookup(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        let norm = self.lookup_value(object_type, attribute, value)?;
        self.read(|db| {
            let rows = db.query(
                reader::LOOKUP,
                &[&self.connector, &object_type, &attribute, &norm],
            )?;
            decode_all(&rows)
        })
    }

    /// [`get`](Self::get) on the caller's Tokio runtime, without blocking a thread.
    pub async fn get_async(
        &self,
        object_type: &str,
        anchor: &Anchor,
    ) -> Result<Option<StoredObject>, SpaceError> {
        let params: [&(dyn postgres::types::ToSql + Sync); 3] =
            [&self.connector, &object_type, &anchor.as_str()];
        self.reader.first(Read::Get, &params).await
    }

    /// [`get_by_dn`](Self::get_by_dn) on the caller's Tokio runtime.
    pub async fn get_by_dn_async(
        &self,
        object_type: &str,
        dn: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        let dn_norm = dn.to_lowercase();
        let params: [&(dyn postgres::types::ToSql + Sync); 3] =
            [&self.connector, &object_type, &dn_norm];
        self.reader.first(Read::GetByDn, &params).await
    }

    /// [`lookup`](Self::lookup) on the caller's Tokio runtime.
    pub async fn lookup_async(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        let norm = self.lookup_value(object_type, attribute, value)?;
        let params: [&(dyn postgres::types::ToSql + Sync); 4] =
            [&self.connector, &object_type, &attribute, &norm];
        self.reader.objects(Read::Lookup, &params).await
    }

    /// `value` as the index stores it for `attribute`; [`SpaceError::NotIndexed`] without an
    /// index.
    pub(super) fn lookup_value(
        &self,
        object_type: &str,
        attribute: &str,
        value: &str,
    ) -> Result<String, SpaceError> {
        let attr = self.indexed(object_type, attribute)?;
        Ok(normalise(value, attr.case_exact))
    }

    fn indexed(&self, object_type: &str, attribute: &str) -> Result<&IndexedAttribute, SpaceError> {
        self.index
            .find(object_type, attribute)
            .ok_or_else(|| SpaceError::NotIndexed {
                object_type: object_type.to_owned(),
                attribute: attribute.to_owned(),
            })
    }

    /// Whether `lookup` can answer for this attribute.
    pub fn is_indexed(&self, object_type: &str, attribute: &str) -> bool {
        self.index.find(object_type, attribute).is_some()
    }

    /// The number of objects of a type (one row, kept by triggers).
    pub fn count(&self, object_type: &str) -> Result<u64, SpaceError> {
        self.read(|db| {
            let n: Option<i64> = db
                .query_opt(
                    "SELECT n FROM type_counts WHERE connector = $1 AND object_type = $2",
                    &[&self.connector, &object_type],
                )?
                .map(|row| row.try_get(0))
                .transpose()?;
            Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        })
    }

    /// A page of objects in creation order: `limit` objects after skipping `offset`.
    ///
    /// A page that starts where a page served by any host ended (an account discovery stepping
    /// through `startIndex`, its pages spread over hosts) continues after that page's last
    /// object: an index seek at any depth, and an object that exists for the whole walk is
    /// neither skipped nor repeated when others are created or deleted meanwhile. Other offsets
    /// are skipped with `OFFSET` (cost grows with the offset).
    pub fn list(
        &self,
        object_type: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let connector = self.connector.as_str();
        let (offset_i, limit_i) = (to_i64(offset), to_i64(limit));
        let (page, last) = self.read(|db| {
            let after: Option<i64> = db
                .query_opt(
                    "SELECT last_id FROM page_ends WHERE connector = $1 AND object_type = $2
                     AND page_offset = $3",
                    &[&connector, &object_type, &offset_i],
                )?
                .map(|row| row.try_get(0))
                .transpose()?;
            let rows = match after {
                Some(last) => db.query(
                    &format!(
                        "SELECT {COLUMNS}, id FROM objects WHERE connector = $1
                         AND object_type = $2 AND id > $3 ORDER BY id LIMIT $4"
                    ),
                    &[&connector, &object_type, &last, &limit_i],
                )?,
                None if offset == 0 => db.query(
                    &format!(
                        "SELECT {COLUMNS}, id FROM objects WHERE connector = $1
                         AND object_type = $2 ORDER BY id LIMIT $3"
                    ),
                    &[&connector, &object_type, &limit_i],
                )?,
                None => db.query(
                    &format!(
                        "SELECT {COLUMNS}, id FROM objects WHERE connector = $1
                         AND object_type = $2 ORDER BY id LIMIT $3 OFFSET $4"
                    ),
                    &[&connector, &object_type, &limit_i, &offset_i],
                )?,
            };
            let last: Option<i64> = rows.last().map(|row| row.try_get(5)).transpose()?;
            Ok((decode_all(&rows)?, last))
        })?;
        if let Some(last) = last {
            let next = to_i64(offset.saturating_add(page.len() as u64));
            self.remember_page_end(object_type, next, last, offset == 0);
        }
        Ok(page)
    }

    /// Remembers that the page at `offset` continues after object `last`, for every host; with
    /// `prune`, forgets old page ends. Not synced to disk before returning (losing one costs the
    /// next page an `OFFSET`, nothing more), so a page costs no fsync; best effort.
    fn remember_page_end(&self, object_type: &str, offset: i64, last: i64, prune: bool) {
        let connector = self.connector.as_str();
        let remembered = self.write(|db| {
            db.c.batch_execute("SET LOCAL synchronous_commit = off")?;
            if prune {
                db.execute(
                    &format!(
                        "DELETE FROM page_ends WHERE connector = $1
                         AND at < now() - interval '{PAGE_END_TTL}'"
                    ),
                    &[&connector],
                )?;
            }
            db.execute(
                "INSERT INTO page_ends (connector, object_type, page_offset, last_id)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (connector, object_type, page_offset)
                 DO UPDATE SET last_id = excluded.last_id, at = now()",
                &[&connector, &object_type, &offset, &last],
            )?;
            Ok(())
        });
        if let Err(e) = remembered {
            tracing::debug!(error = %e, "list page end not remembered");
        }
    }

    /// Up to `limit` objects with an anchor greater than `after` (from the first when `None`),
    /// ordered by anchor.
    pub fn scan(
        &self,
        object_type: &str,
        after: Option<&Anchor>,
        limit: u64,
    ) -> Result<Vec<StoredObject>, SpaceError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = to_i64(limit);
        // Two statements rather than `$3 IS NULL OR anchor > $3`, whose generic plan could not
        // seek the anchor index.
        self.read(|db| {
            let rows = match after {
                Some(after) => db.query(
                    &format!(
                        "SELECT {COLUMNS} FROM objects WHERE connector = $1 AND object_type = $2
                         AND anchor > $3 ORDER BY anchor LIMIT $4"
                    ),
                    &[&self.connector, &object_type, &after.as_str(), &limit],
                )?,
                None => db.query(
                    &format!(
                        "SELECT {COLUMNS} FROM objects WHERE connector = $1 AND object_type = $2
                         ORDER BY anchor LIMIT $3"
                    ),
                    &[&self.connector, &object_type, &limit],
                )?,
            };
            decode_all(&rows)
        })
    }

    /// Writes an object through (inserted with version 1, or replaced with version + 1 and
    /// its index entries rewritten), in one transaction, clearing the open intents of its
    /// anchor. Writing exactly the stored content keeps version and modification time.
    pub fn put(
        &self,
        object: &ConnectorObject,
        origin: Origin,
    ) -> Result<StoredObject, SpaceError> {
        let body = store::encode(object)?;
        let connector = self.connector.as_str();
        let written = self.write(|db| {
            records::clear_anchor_intents(db, connector, &object.object_type, &object.anchor)?;
            let existing = store::find(db, connector, &object.object_type, object.anchor.as_str())?;
            store::store(
                db,
                connector,
                &self.index,
                object,
                &body,
                origin,
                OffsetDateTime::now_utc(),
                existing,
            )
        })?;
        Ok(written.into_stored(object.clone()))
    }

    /// Removes an object; `false` when it was not there. Clears the open intents of its anchor
    /// either way, and leaves a tombstone so a full import that began before does not bring
    /// it back.
    pub fn remove(&self, object_type: &str, anchor: &Anchor) -> Result<bool, SpaceError> {
        let connector = self.connector.as_str();
        self.write(|db| {
            records::clear_anchor_intents(db, connector, object_type, anchor)?;
            let removed = delete_object(db, connector, object_type, anchor)?;
            db.execute(
                "INSERT INTO tombstones (connector, object_type, anchor) VALUES ($1, $2, $3)
                 ON CONFLICT (connector, object_type, anchor) DO UPDATE SET written_at = now()",
                &[&connector, &object_type, &anchor.as_str()],
            )?;
            Ok(removed)
        })
    }

    /// Applies a delta import: every item and the new watermark in one transaction. Items of
    /// another object type fail the whole delta. With `watermark` `None` the stored one is
    /// kept.
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
                ImportItem::Upsert(object) => Some(store::encode(object)?),
                ImportItem::Delete { .. } => None,
            });
        }
        let connector = self.connector.as_str();
        let mut ended = Vec::new();
        let stats = self.write(|db| {
            ended.clear();
            let now = OffsetDateTime::now_utc();
            let mut stats = ImportStats::default();
            for (item, body) in items.iter().zip(&encoded) {
                match (item, body) {
                    (ImportItem::Upsert(object), Some(body)) => {
                        let existing =
                            store::find(db, connector, object_type, object.anchor.as_str())?;
                        let written = store::store(
                            db,
                            connector,
                            &self.index,
                            object,
                            body,
                            Origin::Import,
                            now,
                            existing,
                        )?;
                        stats.count(written.change);
                        if let Some(e) = written.ended_pending {
                            ended.push(PendingEnd::shown(object_type, &object.anchor, e));
                        }
                    }
                    (ImportItem::Delete { anchor, .. }, _) => {
                        if let Some(detail) =
                            records::pending_detail(db, connector, object_type, anchor)?
                        {
                            ended.push(PendingEnd {
                                object_type: object_type.to_owned(),
                                anchor: anchor.clone(),
                                detail,
                                outcome: PendingOutcome::Rejected,
                            });
                        }
                        if delete_object(db, connector, object_type, anchor)? {
                            stats.removed += 1;
                        }
                    }
                    (ImportItem::Upsert(_), None) => {}
                }
            }
            if let Some(mark) = watermark {
                set_watermark(db, connector, object_type, Some(mark))?;
            }
            Ok(stats)
        })?;
        self.record_ended(ended);
        tracing::debug!(object_type, ?stats, "delta applied to the connector space");
        Ok(stats)
    }

    /// The watermark stored by the last full import or delta of this type.
    pub fn watermark(&self, object_type: &str) -> Result<Option<Watermark>, SpaceError> {
        self.read(|db| {
            Ok(db
                .query_opt(
                    "SELECT value FROM watermarks WHERE connector = $1 AND object_type = $2",
                    &[&self.connector, &object_type],
                )?
                .map(|row| row.try_get::<_, String>(0))
                .transpose()?
                .map(Watermark))
        })
    }

    /// Which of `anchors` name an object of one of `object_types` (one query).
    pub fn existing_anchors<'a>(
        &self,
        object_types: &[&str],
        anchors: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>, SpaceError> {
        let anchors: Vec<&str> = anchors.into_iter().collect();
        if anchors.is_empty() || object_types.is_empty() {
            return Ok(HashSet::new());
        }
        self.read(|db| {
            let rows = db.query(
                "SELECT DISTINCT anchor FROM objects WHERE connector = $1
                 AND object_type = ANY($2) AND anchor = ANY($3)",
                &[&self.connector, &object_types, &anchors],
            )?;
            rows.iter()
                .map(|row| row.try_get::<_, String>(0).map_err(Fail::from))
                .collect()
        })
    }

    /// Runs `f` on a pooled connection (no transaction); a connection found broken is dropped
    /// and `f` run once more on a new one (reads are idempotent).
    fn read<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_, Client>) -> Result<T, Fail>,
    ) -> Result<T, SpaceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut pooled = self.pool.checkout()?;
            let conn = pooled.conn()?;
            let mut db = Db {
                c: &mut conn.client,
                cache: &mut conn.cache,
            };
            match f(&mut db) {
                Ok(value) => return Ok(value),
                Err(e) if e.is_connection_lost() => {
                    pooled.mark_lost();
                    if attempt < 2 {
                        continue;
                    }
                    return Err(e.at(&self.pool.describe));
                }
                Err(e) => return Err(e.at(&self.pool.describe)),
            }
        }
    }

    /// Runs `f` in a transaction on a pooled connection, committed when `f` succeeds. Retried
    /// from the start when it lost a race to a concurrent transaction, or when the connection
    /// was found broken before anything was sent; a connection lost later is reported as
    /// [`SpaceError::Unavailable`] (PostgreSQL rolled the transaction back, unless the commit
    /// itself was cut off, whose outcome the caller cannot know either way).
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_, Transaction<'_>>) -> Result<T, Fail>,
    ) -> Result<T, SpaceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut pooled = self.pool.checkout()?;
            let (result, began) = {
                let conn = pooled.conn()?;
                match conn.client.transaction() {
                    Err(e) => (Err(Fail::from(e)), false),
                    Ok(mut tx) => {
                        let result = {
                            let mut db = Db {
                                c: &mut tx,
                                cache: &mut conn.cache,
                            };
                            f(&mut db)
                        };
                        let result = result.and_then(|value| {
                            tx.commit()?;
                            Ok(value)
                        });
                        (result, true)
                    }
                }
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) if e.is_connection_lost() => {
                    pooled.mark_lost();
                    if !began && attempt < 2 {
                        continue;
                    }
                    return Err(e.at(&self.pool.describe));
                }
                Err(e) if e.is_conflict() && attempt < WRITE_ATTEMPTS => continue,
                Err(e) => return Err(e.at(&self.pool.describe)),
            }
        }
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

/// Deletes an object (index entries and pending row go by cascade); whether it was there.
fn delete_object<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    anchor: &Anchor,
) -> Result<bool, postgres::Error> {
    let n = db.execute(
        "DELETE FROM objects WHERE connector = $1 AND object_type = $2 AND anchor = $3",
        &[&connector, &object_type, &anchor.as_str()],
    )?;
    Ok(n > 0)
}

/// Stores or clears the watermark of a type, inside the caller's transaction.
fn set_watermark<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    object_type: &str,
    mark: Option<&Watermark>,
) -> Result<(), postgres::Error> {
    match mark {
        Some(mark) => db.execute(
            "INSERT INTO watermarks (connector, object_type, value) VALUES ($1, $2, $3)
             ON CONFLICT (connector, object_type) DO UPDATE SET value = excluded.value",
            &[&connector, &object_type, &mark.0],
        )?,
        None => db.execute(
            "DELETE FROM watermarks WHERE connector = $1 AND object_type = $2",
            &[&connector, &object_type],
        )?,
    };
    Ok(())
}

/// Builds the entries of `built` attributes from the stored objects, in batches by id; the
/// number of objects read.
fn rebuild<C: GenericClient>(
    db: &mut Db<'_, C>,
    connector: &str,
    built: &[IndexedAttribute],
) -> Result<u64, Fail> {
    let mut types: Vec<&str> = built.iter().map(|a| a.object_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let mut objects = 0u64;
    for object_type in types {
        let spec = IndexSpec::new(
            built
                .iter()
                .filter(|a| a.object_type == object_type)
                .cloned()
                .collect(),
        );
        let mut after = 0i64;
        loop {
            let rows = db.query(
                "SELECT id, body FROM objects WHERE connector = $1 AND object_type = $2
                 AND id > $3 ORDER BY id LIMIT $4",
                &[&connector, &object_type, &after, &REBUILD_BATCH],
            )?;
            let Some(last) = rows.last() else { break };
            after = last.try_get(0)?;
            for row in &rows {
                let id: i64 = row.try_get(0)?;
                let body: String = row.try_get(1)?;
                let object: ConnectorObject = serde_json::from_str(&body)
                    .map_err(|e| SpaceError::Corrupt(format!("object #{id}: {e}")))?;
                store::write_entries(db, connector, &spec, id, &object)?;
                objects += 1;
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, mode, root) = take_tls_params(
            "postgresql://u@h:5432/db?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fca.pem",
        );
        assert_eq!(rest, "postgresql://u@h:5432/db?connect_timeout=3");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
        let (rest, mode, root) = take_tls_params("postgresql://u@h/db?sslmode=disable");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("postgresql://u@h/db", Some("disable"), None)
        );
        let (rest, mode, _) = take_tls_params("host=h user=u sslmode=prefer dbname=d");
        assert_eq!(
            (rest.as_str(), mode.as_deref()),
            ("host=h user=u dbname=d", Some("prefer"))
        );
    }

    #[test]
    fn the_description_never_holds_the_password() {
        let (_, _, describe) = config(
            "postgresql://space:s3cret@db.example:6432/ch?sslmode=prefer",
            Some("other"),
        )
        .unwrap();
        assert_eq!(describe, "postgresql://space@db.example:6432/ch");
        assert!(matches!(
            config("postgresql://u@h/db?sslmode=sometimes", None),
            Err(SpaceError::Storage(_))
        ));
        assert!(matches!(
            config("postgresql://u@h/db?sslmode=require&sslrootcert=/no/such/file.pem", None),
            Err(SpaceError::Storage(m)) if m.contains("/no/such/file.pem")
        ));
    }

    /// Export locks are held across an export's awaits and handed between threads.
    #[test]
    fn an_export_lock_is_send_and_static() {
        fn held_across_awaits<T: Send + 'static>() {}
        held_across_awaits::<ExportLock>();
        held_across_awaits::<crate::space::ExportLock>();
    }

    #[test]
    fn lock_keys_depend_on_connector_and_key() {
        assert_eq!(lock_key("ldap", "alice"), lock_key("ldap", "alice"));
        assert_ne!(lock_key("ldap", "alice"), lock_key("sql", "alice"));
        assert_ne!(lock_key("ldap", "alice"), lock_key("ldap", "bob"));
        assert_ne!(lock_key("ab", "c"), lock_key("a", "bc"));
    }
}
