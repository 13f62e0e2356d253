//! Batched reads: questions asked about many objects at once, on one read connection with one
//! prepared statement, so translating the 50,000 member ids of a group costs one trip through
//! the pool instead of 50,000 (issue #12).

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};

use super::{SpaceError, SqliteSpace};

impl SqliteSpace {
    /// Which of `anchors` name an object of one of `object_types`.
    pub fn existing_anchors<'a>(
        &self,
        object_types: &[&str],
        anchors: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>, SpaceError> {
        // Reads no body: straight to the pool (`read` may run its closure twice).
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM objects WHERE object_type = ?1 AND anchor = ?2")?;
            let mut found = HashSet::new();
            for anchor in anchors {
                if found.contains(anchor) {
                    continue;
                }
                for t in object_types {
                    let hit: Option<i64> = stmt
                        .query_row(params![t, anchor], |r| r.get(0))
                        .optional()?;
                    if hit.is_some() {
                        found.insert(anchor.to_owned());
                        break;
                    }
                }
            }
            Ok(found)
        })
    }
}
