//! The dictionary of attribute names (schema version 5): a body names its attributes by small
//! integer ids instead of spelling every name out in every object (about 80 of the bench
//! object's 270 body bytes were its ten names).
//!
//! The whole dictionary is kept in memory (a target has tens or hundreds of attribute names,
//! not millions), loaded when the space is opened. A name seen for the first time is written
//! to `names` on the writer connection before any body uses its id (`SqliteSpace::encode`):
//! in a transaction of its own, so it is durable at once, or, during a bulk load, in the load's
//! open transaction, whose rollback reloads the dictionary. Ids come from the file under its
//! write lock, so a second process writing the same file (the `import` command beside a
//! running host) can never give one id two names; a reader that meets an id added by another
//! process reads the new names and tries again (`SqliteSpace::read`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use rusqlite::{Connection, OptionalExtension};

use crate::space::error::Fail;

/// The attribute names of one space, by id and by name.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    inner: RwLock<Names>,
    /// Set when a body named an id not in memory (another process added it).
    missed: AtomicBool,
}

#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: HashMap<u64, String>,
}

impl Names {
    fn add(&mut self, id: u32, name: String) {
        self.names.insert(u64::from(id), name.clone());
        self.ids.insert(name, id);
    }
}

impl Dict {
    /// Loads the dictionary of a version 5 file.
    pub fn load(conn: &Connection) -> Result<Dict, Fail> {
        let dict = Dict::default();
        dict.reload(conn)?;
        Ok(dict)
    }

    /// Replaces what is in memory with what the file holds (after a rolled-back bulk load, or
    /// when another process added names).
    pub fn reload(&self, conn: &Connection) -> Result<(), Fail> {
        let mut stmt = conn.prepare_cached("SELECT id, name FROM names")?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut names = Names::default();
        for (id, name) in rows {
            names.add(id, name);
        }
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = names;
        Ok(())
    }

    /// The ids of `names`; `None` when one of them has none yet (see `allocate`).
    pub fn ids<'a>(&self, names: impl Iterator<Item = &'a String>) -> Option<Vec<u32>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        names.map(|n| inner.ids.get(n).copied()).collect()
    }

    /// Gives every name of `names` without an id one, in the file (inside whatever transaction
    /// `conn`, the writer, has open) and then in memory.
    pub fn allocate<'a>(
        &self,
        conn: &Connection,
        names: impl Iterator<Item = &'a String>,
    ) -> rusqlite::Result<()> {
        for name in names {
            if self.ids(std::iter::once(name)).is_some() {
                continue;
            }
            // Another process may have added it.
            let found: Option<u32> = conn
                .prepare_cached("SELECT id FROM names WHERE name = ?1")?
                .query_row([name], |row| row.get(0))
                .optional()?;
            let id = match found {
                Some(id) => id,
                None => conn
                    .prepare_cached("INSERT INTO names (name) VALUES (?1) RETURNING id")?
                    .query_row([name], |row| row.get(0))?,
            };
            self.inner
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .add(id, name.clone());
        }
        Ok(())
    }

    /// The name of `id`; `None` (and a note to reload) when the dictionary does not hold it.
    pub fn name(&self, id: u64) -> Option<String> {
        let found = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .get(&id)
            .cloned();
        if found.is_none() {
            self.missed.store(true, Ordering::Relaxed);
        }
        found
    }

    /// Whether a body named an unknown id since the last call.
    pub fn take_missed(&self) -> bool {
        self.missed.swap(false, Ordering::Relaxed)
    }
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
    fn names_get_ids_from_the_file_and_two_dictionaries_agree() {
        let conn = conn();
        let a = Dict::load(&conn).unwrap();
        let b = Dict::load(&conn).unwrap();
        let names = owned(&["mail", "sn"]);
        assert_eq!(a.ids(names.iter()), None);
        a.allocate(&conn, names.iter()).unwrap();
        let ids = a.ids(names.iter()).unwrap();
        // A second process allocating the same and a new name: the same ids, a new one for cn.
        let more = owned(&["sn", "cn", "mail"]);
        b.allocate(&conn, more.iter()).unwrap();
        let b_ids = b.ids(more.iter()).unwrap();
        assert_eq!(b_ids.first(), ids.get(1));
        assert_eq!(b_ids.get(2), ids.first());
        // `a` does not know cn yet: a miss, noted, then found after a reload.
        let cn = u64::from(b_ids[1]);
        assert_eq!(a.name(cn), None);
        assert!(a.take_missed());
        assert!(!a.take_missed());
        a.reload(&conn).unwrap();
        assert_eq!(a.name(cn).as_deref(), Some("cn"));
    }

    #[test]
    fn a_rolled_back_allocation_is_forgotten_on_reload() {
        let conn = conn();
        let dict = Dict::load(&conn).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        dict.allocate(&conn, owned(&["x"]).iter()).unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
        assert!(dict.ids(owned(&["x"]).iter()).is_some());
        dict.reload(&conn).unwrap();
        assert!(dict.ids(owned(&["x"]).iter()).is_none());
    }
}
