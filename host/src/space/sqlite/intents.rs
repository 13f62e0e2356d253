//! Exports in flight, recorded in the space so a crash costs a re-read of a few objects instead
//! of a full import. An export writes its intent (object type and anchor) before the connector
//! is called; the write-through of that anchor deletes it in its own transaction. After a kill
//! the open intents are exactly the objects whose target state the space may not hold: the
//! host reads those back one by one (`Connector::read`) and serves everything else as stored.
//!
//! A create whose anchor the target assigns (an LDAP `entryUUID`) has no anchor to record
//! before the call; the contract has no filtered read to find it by its matching value, so
//! such an intent left open makes the next start run a full import, and only then.

pub(crate) use crate::space::records::Intent;
use connector_core::Anchor;
use rusqlite::params;
use time::OffsetDateTime;

use super::stored::{from_nanos, to_nanos};
use super::{SpaceError, SqliteSpace};
use crate::space::error::Fail;

impl SqliteSpace {
    /// Records that an export of `anchor` (or, with `None`, a create whose anchor the target
    /// assigns) is about to reach the target. A write-through of the same anchor clears it.
    pub fn record_intent(
        &self,
        object_type: &str,
        anchor: Option<&Anchor>,
    ) -> Result<i64, SpaceError> {
        // No generation bump: the objects do not change, so list cursors stay valid.
        self.write_meta(|tx| {
            tx.prepare_cached(
                "INSERT INTO intents (object_type, anchor, since) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                object_type,
                anchor.map(Anchor::as_str),
                to_nanos(OffsetDateTime::now_utc())
            ])?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Clears an intent whose export left the target unchanged (refused) or whose
    /// write-through carried no anchor to clear it by.
    pub fn clear_intent(&self, id: i64) -> Result<(), SpaceError> {
        self.write_meta(|tx| {
            tx.prepare_cached("DELETE FROM intents WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
    }

    /// The intents still open, oldest first: after an unclean stop, the exports whose outcome
    /// the space may not hold.
    pub fn open_intents(&self) -> Result<Vec<Intent>, SpaceError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, object_type, anchor, since FROM intents ORDER BY id")?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?;
            let rows: Vec<_> = rows.collect::<rusqlite::Result<_>>()?;
            let mut intents = Vec::with_capacity(rows.len());
            for (id, object_type, anchor, since) in rows {
                intents.push(Intent {
                    id,
                    object_type,
                    anchor: anchor.map(Anchor),
                    since: from_nanos(since)?,
                    host: None,
                });
            }
            Ok(intents)
        })
    }
}

/// Deletes the intents of one anchor, inside the write-through's transaction.
pub(crate) fn clear_anchor(
    conn: &rusqlite::Connection,
    object_type: &str,
    anchor: &str,
) -> Result<(), Fail> {
    conn.prepare_cached("DELETE FROM intents WHERE object_type = ?1 AND anchor = ?2")?
        .execute(params![object_type, anchor])?;
    Ok(())
}

/// Deletes anchorless intents recorded before `started`, inside a full import's merge: the
/// import read the target after those creates were answered or lost.
pub(crate) fn clear_anchorless(
    conn: &rusqlite::Connection,
    object_type: &str,
    started: OffsetDateTime,
) -> Result<(), Fail> {
    conn.prepare_cached(
        "DELETE FROM intents WHERE object_type = ?1 AND anchor IS NULL AND since < ?2",
    )?
    .execute(params![object_type, to_nanos(started)])?;
    Ok(())
}
