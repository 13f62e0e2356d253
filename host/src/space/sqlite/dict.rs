//! The dictionary of attribute names (schema version 5): a body names its attributes by small
//! integer ids instead of spelling every name out in every object (about 90 of the bench
//! object's 215 body bytes were its ten names).
//!
//! The whole dictionary is kept in memory (a target has tens or hundreds of attribute names,
//! not millions), loaded when the space is opened. A name seen for the first time gets the next
//! id in memory at once, when the object is encoded; the `names` rows are written by the write
//! transaction that stores bodies (`flush`, just before its commit), and only a committed flush
//! counts (`settle`). So a body in the file never names an id its file lacks: an id is always
//! allocated before the flush of the transaction that commits a body using it, and a
//! transaction that rolls back leaves its ids to be written by the next one. Ids are never
//! reused for another name, so readers may decode with the in-memory dictionary, which always
//! holds at least what the file does.
//!
//! One writer per file (one host per SQLite space): a second process adding names to the same
//! file at the same time would see its flush refused (an id taken), not a body misread.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use rusqlite::{Connection, params};

use crate::space::error::{Fail, SpaceError};

/// The attribute names of one space, by id and by name.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    inner: RwLock<Names>,
}

#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    /// The name of each id (ids are 0, 1, 2, …).
    names: Vec<String>,
    /// How many of `names` the file is known to hold.
    durable: usize,
}

impl Dict {
    /// Loads the dictionary of a version 5 file.
    pub fn load(conn: &Connection) -> Result<Dict, Fail> {
        let mut stmt = conn.prepare("SELECT id, name FROM names ORDER BY id")?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut names = Names::default();
        for (id, name) in rows {
            if usize::try_from(id).ok() != Some(names.names.len()) {
                return Err(SpaceError::Corrupt(format!(
                    "attribute name {name:?} has id {id}, expected {}",
                    names.names.len()
                ))
                .into());
            }
            names.ids.insert(name.clone(), to_u32(names.names.len()));
            names.names.push(name);
        }
        names.durable = names.names.len();
        Ok(Dict {
            inner: RwLock::new(names),
        })
    }

    /// The ids of `names`, allocating those seen for the first time.
    pub fn ids<'a>(&self, names: impl Iterator<Item = &'a String> + Clone) -> Vec<u32> {
        {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            let found: Option<Vec<u32>> =
                names.clone().map(|n| inner.ids.get(n).copied()).collect();
            if let Some(found) = found {
                return found;
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        names
            .map(|n| match inner.ids.get(n) {
                Some(id) => *id,
                None => {
                    let id = to_u32(inner.names.len());
                    inner.ids.insert(n.clone(), id);
                    inner.names.push(n.clone());
                    id
                }
            })
            .collect()
    }

    /// The name of `id`.
    pub fn name(&self, id: u64) -> Option<String> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        usize::try_from(id)
            .ok()
            .and_then(|i| inner.names.get(i))
            .cloned()
    }

    /// Writes the names the file does not hold yet, inside the caller's transaction; returns
    /// what to `settle` once that transaction committed.
    pub fn flush(&self, conn: &Connection) -> rusqlite::Result<usize> {
        let (from, new): (usize, Vec<String>) = {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            let new = inner
                .names
                .get(inner.durable..)
                .map(<[String]>::to_vec)
                .unwrap_or_default();
            (inner.durable, new)
        };
        if new.is_empty() {
            return Ok(from);
        }
        let mut insert = conn.prepare_cached("INSERT INTO names (id, name) VALUES (?1, ?2)")?;
        for (i, name) in new.iter().enumerate() {
            let id = i64::try_from(from + i).unwrap_or(i64::MAX);
            insert.execute(params![id, name])?;
        }
        Ok(from + new.len())
    }

    /// Records that the file holds the first `n` names (a flush returning `n` committed).
    pub fn settle(&self, n: usize) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.durable = inner.durable.max(n);
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        )
        .unwrap();
        conn
    }

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_get_stable_ids_and_only_committed_flushes_count() {
        let conn = conn();
        let dict = Dict::load(&conn).unwrap();
        let a = owned(&["mail", "sn"]);
        assert_eq!(dict.ids(a.iter()), [0, 1]);
        assert_eq!(dict.ids(owned(&["sn", "cn", "mail"]).iter()), [1, 2, 0]);
        // A flush whose transaction rolls back: the next one writes the same names again.
        conn.execute_batch("BEGIN").unwrap();
        assert_eq!(dict.flush(&conn).unwrap(), 3);
        conn.execute_batch("ROLLBACK").unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let n = dict.flush(&conn).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        dict.settle(n);
        assert_eq!(dict.flush(&conn).unwrap(), 3, "nothing left to write");
        let again = Dict::load(&conn).unwrap();
        assert_eq!(again.name(2).as_deref(), Some("cn"));
        assert_eq!(again.ids(owned(&["cn", "mail", "sn"]).iter()), [2, 0, 1]);
        assert_eq!(again.name(3), None);
    }

    #[test]
    fn a_gap_in_the_ids_is_corruption() {
        let conn = conn();
        conn.execute("INSERT INTO names (id, name) VALUES (1, 'x')", [])
            .unwrap();
        assert!(Dict::load(&conn).is_err());
    }
}
