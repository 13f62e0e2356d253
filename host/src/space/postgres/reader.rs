//! The read path Entra's traffic takes on a shared space, asynchronous on the host's own runtime:
//! GET by id, and the equality lookups (`userName eq "…"`, `externalId eq "…"`) that precede
//! every provisioning decision.
//!
//! Why a second client beside the pool: the sync `postgres` client blocks, so each read on it
//! costs a hand-off to the blocking pool and back and a wake-up of the client's own runtime —
//! on two cores that was twice PostgreSQL's own time per lookup and the p99 of issue #17. Here
//! a few `tokio_postgres` connections live on the host's runtime and are shared by every
//! request: concurrent reads on one connection are pipelined (sent back to back, answered in
//! order), no thread is woken per query, and the statements are prepared once per connection.
//!
//! A connection that breaks is replaced on the next read (one retry on a fresh connection, as
//! the pool does); while the server cannot be reached, reads fail at once with
//! [`SpaceError::Unavailable`] for [`RECONNECT_PAUSE`] instead of each waiting for a connect
//! timeout; a read PostgreSQL does not answer within [`READ_WAIT`] is `Unavailable` too.
//! Writes, locks and imports stay on the sync pool: they are transactions, and rarer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::pool::{Tls, classify, unavailable};
use super::store::{columns, decode_all, o_columns};
use crate::space::{SpaceError, StoredObject};

/// Connections per space for asynchronous reads. Reads are pipelined on each; more connections
/// only help while PostgreSQL has idle cores to run them on.
pub(crate) const READ_CONNECTIONS: usize = 4;

/// How long a read may wait for PostgreSQL before it counts as unavailable.
pub(crate) const READ_WAIT: Duration = Duration::from_secs(10);

/// After a failed connect, reads on that connection fail at once for this long.
pub(crate) const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// One object by anchor.
pub(crate) const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM objects WHERE connector = $1 AND object_type = $2 AND anchor = $3"
);

/// One object by normalised DN (the first by anchor if several).
pub(crate) const GET_BY_DN: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM objects WHERE connector = $1 AND object_type = $2 AND dn_norm = $3
     ORDER BY anchor LIMIT 1"
);

/// The objects with a normalised index value, by anchor.
pub(crate) const LOOKUP: &str = concat!(
    "SELECT ",
    o_columns!(),
    " FROM objects o WHERE o.id IN
     (SELECT i.object_id FROM idx i WHERE i.connector = $1 AND i.object_type = $2
      AND i.attribute = $3 AND i.value_norm = $4)
     ORDER BY o.anchor"
);

/// Which prepared statement a read runs.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    Get,
    GetByDn,
    Lookup,
}

/// An open connection and its prepared statements.
struct ReadConn {
    client: Client,
    get: Statement,
    get_by_dn: Statement,
    lookup: Statement,
}

impl ReadConn {
    fn statement(&self, read: Read) -> &Statement {
        match read {
            Read::Get => &self.get,
            Read::GetByDn => &self.get_by_dn,
            Read::Lookup => &self.lookup,
        }
    }
}

/// A connection slot: the connection, or when the last connect failed.
#[derive(Default)]
struct Slot {
    conn: Option<Arc<ReadConn>>,
    failed: Option<(Instant, String)>,
}

/// The asynchronous readers of one space.
pub(crate) struct Reader {
    config: tokio_postgres::Config,
    tls: Tls,
    describe: String,
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
}

impl Reader {
    /// Readers that connect on first use.
    pub fn new(config: tokio_postgres::Config, tls: Tls, describe: String) -> Reader {
        Reader {
            config,
            tls,
            describe,
            slots: (0..READ_CONNECTIONS)
                .map(|_| Mutex::new(Slot::default()))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `read` with `params` and decodes the objects it returns. Must be called on a Tokio
    /// runtime (a new connection's I/O task is spawned on it).
    pub async fn objects(
        &self,
        read: Read,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<StoredObject>, SpaceError> {
        let rows = self.rows(read, params).await?;
        decode_all(&rows).map_err(|e| e.at(&self.describe))
    }

    /// The first object `read` returns, if any.
    pub async fn first(
        &self,
        read: Read,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<StoredObject>, SpaceError> {
        Ok(self.objects(read, params).await?.into_iter().next())
    }

    async fn rows(
        &self,
        read: Read,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, SpaceError> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % READ_CONNECTIONS;
        let Some(slot) = self.slots.get(turn) else {
            return Err(SpaceError::Storage(format!(
                "{}: no read connection",
                self.describe
            )));
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.connection(slot).await?;
            let query = conn.client.query(conn.statement(read), params);
            // A lost connection is retried once on a fresh one; a read that got no answer is
            // not (the server is stuck, not gone).
            let (failed, retry) = match tokio::time::timeout(READ_WAIT, query).await {
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(e)) if unavailable(&e) => (classify(&e, &self.describe), true),
                Ok(Err(e)) => return Err(classify(&e, &self.describe)),
                Err(_) => (
                    SpaceError::Unavailable(format!(
                        "{}: no answer to a read within {} s",
                        self.describe,
                        READ_WAIT.as_secs()
                    )),
                    false,
                ),
            };
            // The connection is unusable (or stuck): the next read on this slot opens another.
            let mut held = slot.lock().await;
            if held.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                held.conn = None;
            }
            drop(held);
            if !retry || attempt >= 2 {
                return Err(failed);
            }
        }
    }

    /// The slot's connection, opened when it has none (or a closed one).
    async fn connection(&self, slot: &Mutex<Slot>) -> Result<Arc<ReadConn>, SpaceError> {
        let mut held = slot.lock().await;
        if let Some(conn) = &held.conn {
            if !conn.client.is_closed() {
                return Ok(Arc::clone(conn));
            }
            held.conn = None;
        }
        if let Some((at, message)) = &held.failed
            && at.elapsed() < RECONNECT_PAUSE
        {
            return Err(SpaceError::Unavailable(message.clone()));
        }
        match self.connect().await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                held.conn = Some(Arc::clone(&conn));
                held.failed = None;
                Ok(conn)
            }
            Err(e) => {
                if let SpaceError::Unavailable(message) = &e {
                    held.failed = Some((Instant::now(), message.clone()));
                }
                Err(e)
            }
        }
    }

    async fn connect(&self) -> Result<ReadConn, SpaceError> {
        let at = |e: tokio_postgres::Error| classify(&e, &self.describe);
        let client = match &self.tls {
            Tls::Off => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(at)?;
                tokio::spawn(drive(connection, self.describe.clone()));
                client
            }
            Tls::Rustls(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await.map_err(at)?;
                tokio::spawn(drive(connection, self.describe.clone()));
                client
            }
        };
        client
            .batch_execute("SET search_path TO connector_space")
            .await
            .map_err(at)?;
        Ok(ReadConn {
            get: client.prepare(GET).await.map_err(at)?,
            get_by_dn: client.prepare(GET_BY_DN).await.map_err(at)?,
            lookup: client.prepare(LOOKUP).await.map_err(at)?,
            client,
        })
    }
}

/// Runs a connection's I/O until it closes; a broken one is replaced by the next read.
async fn drive<F>(connection: F, describe: String)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = connection.await {
        tracing::debug!(database = %describe, error = %e, "space read connection closed");
    }
}
