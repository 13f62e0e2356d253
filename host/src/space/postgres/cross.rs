//! What hosts sharing one space need beyond the data: per-anchor export locks, so an export of
//! one object (and the uniqueness check before a create) is serialised across hosts, and named
//! leases, so one host at a time runs the scheduled imports of a connector.
//!
//! Export locks are session-level advisory locks on one connection of the space's lock pool
//! (apart from the pool lookups use, so exports waiting on a slow target never starve them of
//! connections), taken in sorted key order (two hosts locking overlapping sets cannot
//! deadlock) and released when the returned [`ExportLock`] drops. A wait is bounded by `lock_timeout` ([`LOCK_WAIT`]): past it the call
//! gives [`SpaceError::Unavailable`] (503, retry later) with nothing held. If the host dies,
//! PostgreSQL ends its session and the locks with it.
//!
//! Leases are rows (connector, name, holder, expiry) compared with the database's clock
//! `now()`, so hosts with skewed clocks still agree on who holds one.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::pool::{Db, Fail, Pool, Pooled};
use super::{PgSpace, lock_key};
use crate::space::SpaceError;

/// How long `lock_exports` waits for a lock another host (or thread) holds.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Export locks held on one connection until dropped. `Send + 'static`: it can be held across
/// the awaits of an export.
pub struct ExportLock {
    conn: Option<Pooled>,
    keys: Vec<i64>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for ExportLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportLock")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Drop for ExportLock {
    fn drop(&mut self) {
        let Some(mut pooled) = self.conn.take() else {
            return;
        };
        let unlocked = unlock(&mut pooled, &self.keys);
        if let Err(e) = unlocked {
            // Ending the session releases whatever it still holds.
            pooled.mark_broken();
            tracing::debug!(database = %self.pool.describe, error = %e, "export locks released by closing their connection");
        }
    }
}

fn unlock(pooled: &mut Pooled, keys: &[i64]) -> Result<(), SpaceError> {
    let conn = pooled.conn()?;
    let mut db = Db {
        c: &mut conn.client,
        cache: &mut conn.cache,
    };
    for key in keys.iter().rev() {
        let released: bool = db
            .query_one("SELECT pg_advisory_unlock($1)", &[key])
            .and_then(|row| row.try_get(0))
            .map_err(|e| SpaceError::Storage(e.to_string()))?;
        if !released {
            return Err(SpaceError::Storage(format!(
                "advisory lock {key} was not held"
            )));
        }
    }
    Ok(())
}

impl PgSpace {
    /// Locks the export of each of `keys` (anchors, or matching values before a create)
    /// across every host sharing this space, waiting at most [`LOCK_WAIT`]; held until the
    /// returned guard drops.
    pub fn lock_exports(&self, keys: &[String]) -> Result<ExportLock, SpaceError> {
        self.lock_exports_within(keys, LOCK_WAIT)
    }

    /// [`lock_exports`](PgSpace::lock_exports) with its own bound on the wait.
    pub fn lock_exports_within(
        &self,
        keys: &[String],
        wait: Duration,
    ) -> Result<ExportLock, SpaceError> {
        let mut hashed: Vec<i64> = keys.iter().map(|k| lock_key(&self.connector, k)).collect();
        hashed.sort_unstable();
        hashed.dedup();
        let mut pooled = self.lock_pool.checkout()?;
        let at = self.lock_pool.describe.clone();
        let mut taken = Vec::with_capacity(hashed.len());
        let result = (|| -> Result<(), Fail> {
            let conn = pooled.conn()?;
            let mut db = Db {
                c: &mut conn.client,
                cache: &mut conn.cache,
            };
            let millis = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX).max(1);
            // SET cannot take a parameter; the value is a number formatted here.
            db.c.batch_execute(&format!("SET lock_timeout = {millis}"))?;
            for key in &hashed {
                db.execute("SELECT pg_advisory_lock($1)", &[key])?;
                taken.push(*key);
            }
            db.c.batch_execute("SET lock_timeout = 0")?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(ExportLock {
                conn: Some(pooled),
                keys: taken,
                pool: Arc::clone(&self.lock_pool),
            }),
            Err(e) => {
                // Whatever was taken goes with the session; never hand back a half-locked set.
                if e.is_connection_lost() {
                    pooled.mark_lost();
                } else {
                    pooled.mark_broken();
                }
                let e = e.at(&at);
                Err(match e {
                    SpaceError::Unavailable(m) if m.contains("55P03") => SpaceError::Unavailable(
                        format!("{at}: export lock wait exceeded {}ms", wait.as_millis()),
                    ),
                    other => other,
                })
            }
        }
    }

    /// Takes or renews the lease `name` for `holder` until `ttl` from now (database clock):
    /// true when `holder` holds it after the call (it was free, expired, or already
    /// `holder`'s), false when another holder's lease is still running.
    pub fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, SpaceError> {
        let micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        self.write(|db| {
            let row = db.query_opt(
                "INSERT INTO leases (connector, name, holder, expires)
                 VALUES ($1, $2, $3, now() + $4::bigint * interval '1 microsecond')
                 ON CONFLICT (connector, name) DO UPDATE
                 SET holder = excluded.holder, expires = excluded.expires
                 WHERE leases.holder = excluded.holder OR leases.expires <= now()
                 RETURNING holder",
                &[&self.connector, &name, &holder, &micros],
            )?;
            Ok(row.is_some())
        })
    }

    /// Gives up the lease `name` if `holder` holds it.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<(), SpaceError> {
        self.write(|db| {
            db.execute(
                "DELETE FROM leases WHERE connector = $1 AND name = $2 AND holder = $3",
                &[&self.connector, &name, &holder],
            )?;
            Ok(())
        })
    }

    /// Who holds the lease `name` and until when; `None` when nobody does (never taken,
    /// released, or expired).
    pub fn lease_holder(&self, name: &str) -> Result<Option<(String, OffsetDateTime)>, SpaceError> {
        self.read(|db| {
            let row = db.query_opt(
                "SELECT holder, expires FROM leases WHERE connector = $1 AND name = $2
                 AND expires > now()",
                &[&self.connector, &name],
            )?;
            match row {
                Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
                None => Ok(None),
            }
        })
    }
}
