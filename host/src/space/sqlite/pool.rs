//! A small pool of read-only SQLite connections, so concurrent lookups from the host's blocking
//! threads run in parallel instead of queueing on the writer's mutex.
//!
//! In WAL mode readers never block the writer and the writer never blocks readers: each read
//! statement sees the last committed state, which is what keeps a staging full import invisible
//! until its commit. Connections are opened lazily up to `max`; beyond that a caller waits for
//! one to be returned.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

use crate::space::error::{Fail, SpaceError};

/// Reader page cache per connection, in KiB (SQLite's negative `cache_size`).
const READER_CACHE_KIB: i64 = 8 * 1024;

struct State {
    idle: Vec<Connection>,
    open: usize,
}

/// The pool.
pub(crate) struct ReadPool {
    path: PathBuf,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

impl ReadPool {
    /// An empty pool of at most `max` connections to `path`.
    pub fn new(path: &Path, max: usize) -> ReadPool {
        ReadPool {
            path: path.to_owned(),
            max: max.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on a borrowed connection and returns it to the pool afterwards.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, SpaceError> {
        let conn = self.checkout()?;
        // If `f` unwinds, the connection is gone: free its slot so waiters are not stuck.
        let mut slot = Slot {
            pool: self,
            armed: true,
        };
        let result = f(&conn).map_err(|e| e.at(&self.path));
        slot.armed = false;
        self.put_back(conn);
        result
    }

    fn checkout(&self) -> Result<Connection, SpaceError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return self.open().map_err(|e| {
                    self.forget();
                    SpaceError::sqlite(&self.path, e)
                });
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.execute_batch(&format!(
            "PRAGMA cache_size = -{READER_CACHE_KIB}; PRAGMA query_only = ON;"
        ))?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// A connection was lost (failed to open, or closed after an error).
    fn forget(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn put_back(&self, conn: Connection) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.idle.push(conn);
        drop(state);
        self.returned.notify_one();
    }
}

/// Frees a connection's slot when a reader unwinds while holding it.
struct Slot<'a> {
    pool: &'a ReadPool,
    armed: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.forget();
        }
    }
}
