//! A small pool of PostgreSQL connections of one space, each with its own cache of prepared
//! statements, and the one place that turns a `postgres::Error` into a [`SpaceError`]: a server
//! that is down, restarting or refusing connections is [`SpaceError::Unavailable`] (503 and
//! `Retry-After`), never a panic.
//!
//! Connections are opened lazily up to `max`; beyond that a caller waits for one to come back,
//! for at most [`CHECKOUT_WAIT`]. A connection that failed (closed by the server, broken
//! socket) is dropped instead of returned, so the next checkout reconnects.
//!
//! The sync `postgres` client runs its own Tokio runtime per call: it must be called from a
//! blocking thread (`spawn_blocking`), never from inside an async task.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::space::SpaceError;

/// How long a caller waits for a free connection when all are busy.
pub(crate) const CHECKOUT_WAIT: Duration = Duration::from_secs(10);

/// How long connecting may take before the server counts as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An error inside a closure run on a connection.
#[derive(Debug)]
pub(crate) enum Fail {
    Pg(postgres::Error),
    Space(SpaceError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<SpaceError> for Fail {
    fn from(e: SpaceError) -> Self {
        Fail::Space(e)
    }
}

impl Fail {
    /// The public error; `at` names the database (without password).
    pub fn at(self, at: &str) -> SpaceError {
        match self {
            Fail::Pg(e) => classify(&e, at),
            Fail::Space(e) => e,
        }
    }

    /// A conflict between concurrent transactions that a retry resolves (a unique key taken by
    /// a concurrent insert, a serialisation failure, a deadlock).
    pub fn is_conflict(&self) -> bool {
        let Fail::Pg(e) = self else { return false };
        e.code()
            .is_some_and(|c| matches!(c.code(), "23505" | "40001" | "40P01"))
    }

    /// The connection is unusable (closed, broken, server shutting down).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Fail::Pg(e) => unavailable(e),
            Fail::Space(_) => false,
        }
    }
}

/// Whether an error means "the server cannot be reached or is going away" rather than "this
/// statement failed".
pub(crate) fn unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let code = code.code();
        // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now;
        // 53300: too many connections; 55P03: lock wait timed out (lock_timeout).
        return code.starts_with("08")
            || code.starts_with("57P")
            || code == "53300"
            || code == "55P03";
    }
    // No SQLSTATE: a connect, I/O or protocol error below the SQL layer, unless TLS refused
    // the server (a certificate that does not verify will not verify on a retry either).
    let mut io = false;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return false;
        }
        if let Some(err) = s.downcast_ref::<std::io::Error>() {
            if err
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return false;
            }
            io = true;
        }
        source = s.source();
    }
    io || e.as_db_error().is_none()
}

/// How connections are secured.
#[derive(Clone)]
pub(crate) enum Tls {
    /// In clear (`sslmode=disable` or `prefer`).
    Off,
    /// TLS with the server's certificate verified (`sslmode=require` or `verify-*`).
    Rustls(MakeRustlsConnect),
}

/// The public error for a PostgreSQL error at `at`.
pub(crate) fn classify(e: &postgres::Error, at: &str) -> SpaceError {
    let message = match e.as_db_error() {
        Some(db) => format!("{at}: {} ({})", db.message(), db.code().code()),
        None => {
            // The client's own message is terse ("error performing TLS handshake"): add why.
            let mut message = format!("{at}: {e}");
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let text = s.to_string();
                if !message.contains(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                source = s.source();
            }
            message
        }
    };
    if unavailable(e) {
        SpaceError::Unavailable(message)
    } else {
        SpaceError::Storage(message)
    }
}

/// A connection and its prepared statements.
pub(crate) struct Conn {
    pub client: Client,
    pub cache: HashMap<String, Statement>,
}

/// Statements on a client (a connection or a transaction on it), prepared once per connection.
pub(crate) struct Db<'a, C: GenericClient> {
    pub c: &'a mut C,
    pub cache: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> Db<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql)?;
        self.cache.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.c.query(&s, params)
    }

    pub fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.c.query_opt(&s, params)
    }

    pub fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let s = self.statement(sql)?;
        self.c.query_one(&s, params)
    }

    pub fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.c.execute(&s, params)
    }
}

struct State {
    idle: Vec<Conn>,
    open: usize,
}

/// The pool (shared with export locks and full imports, which hold a connection for longer).
pub(crate) struct Pool {
    config: postgres::Config,
    tls: Tls,
    /// The database as logs may show it (no password).
    pub describe: String,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    /// An empty pool of at most `max` connections.
    pub fn new(config: postgres::Config, tls: Tls, describe: String, max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            config,
            tls,
            describe,
            max: max.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        })
    }

    /// Opens one connection outside the pool's accounting (migrations, tests of reachability).
    pub fn connect(&self) -> Result<Conn, SpaceError> {
        let connected = match &self.tls {
            Tls::Off => self.config.connect(NoTls),
            Tls::Rustls(tls) => self.config.connect(tls.clone()),
        };
        let mut client = connected.map_err(|e| classify(&e, &self.describe))?;
        client
            .batch_execute("SET search_path TO connector_space")
            .map_err(|e| classify(&e, &self.describe))?;
        Ok(Conn {
            client,
            cache: HashMap::new(),
        })
    }

    /// A connection, idle or new; waits while `max` are out.
    pub fn checkout(self: &Arc<Self>) -> Result<Pooled, SpaceError> {
        let deadline = Instant::now() + CHECKOUT_WAIT;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled::new(self, conn));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Pooled::new(self, conn)),
                    Err(e) => {
                        self.release_slot();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SpaceError::Unavailable(format!(
                    "{}: all {} connections busy for {}s",
                    self.describe,
                    self.max,
                    CHECKOUT_WAIT.as_secs()
                )));
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn release_slot(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    /// Closes every idle connection (see [`Pooled::mark_lost`]).
    fn discard_idle(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = std::mem::take(&mut state.idle);
        state.open = state.open.saturating_sub(idle.len());
        drop(state);
        self.returned.notify_all();
        drop(idle);
    }

    fn put_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            self.release_slot();
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.idle.push(conn);
        drop(state);
        self.returned.notify_one();
    }
}

/// A checked-out connection: back to the pool on drop, unless marked broken.
pub(crate) struct Pooled {
    pool: Arc<Pool>,
    conn: Option<Conn>,
    broken: bool,
}

impl Pooled {
    fn new(pool: &Arc<Pool>, conn: Conn) -> Pooled {
        Pooled {
            pool: Arc::clone(pool),
            conn: Some(conn),
            broken: false,
        }
    }

    /// The connection (present until the guard drops).
    pub fn conn(&mut self) -> Result<&mut Conn, SpaceError> {
        let describe = &self.pool.describe;
        self.conn
            .as_mut()
            .ok_or_else(|| SpaceError::Storage(format!("{describe}: connection already released")))
    }

    /// Drops the connection instead of returning it (after a connection error, or when its
    /// session holds state that must not reach the next user).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Drops the connection after it was found lost, and the pool's idle connections with it:
    /// a lost connection mostly means the server restarted or failed over, which ended them
    /// all, and each would otherwise cost a later caller a failed attempt.
    pub fn mark_lost(&mut self) {
        self.broken = true;
        self.pool.discard_idle();
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.broken {
                drop(conn);
                self.pool.release_slot();
            } else {
                self.pool.put_back(conn);
            }
        }
    }
}
