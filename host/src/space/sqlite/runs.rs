//! Import run history: when each full or delta import of an object type started and ended,
//! how it ended and what it changed, for the CLI, the status page and the scheduler's
//! "last successful full import".

pub(crate) use crate::space::records::{RUNNING, RunRecord};
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;

use super::stored::{ImportStats, from_nanos, to_nanos};
use super::{SqliteSpace, to_i64};
use crate::space::error::{Fail, SpaceError};

const RUN_COLUMNS: &str = "id, kind, object_type, started, finished, outcome, added, updated, unchanged, removed, notes, host";

struct RawRun {
    id: i64,
    kind: String,
    object_type: String,
    started: i64,
    finished: Option<i64>,
    outcome: String,
    counts: [i64; 4],
    notes: Option<String>,
    host: Option<String>,
}

impl RawRun {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawRun> {
        Ok(RawRun {
            id: row.get(0)?,
            kind: row.get(1)?,
            object_type: row.get(2)?,
            started: row.get(3)?,
            finished: row.get(4)?,
            outcome: row.get(5)?,
            counts: [row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?],
            notes: row.get(10)?,
            host: row.get(11)?,
        })
    }

    fn decode(self) -> Result<RunRecord, SpaceError> {
        let [added, updated, unchanged, removed] =
            self.counts.map(|n| u64::try_from(n).unwrap_or(0));
        Ok(RunRecord {
            id: self.id,
            kind: self.kind,
            object_type: self.object_type,
            started: from_nanos(self.started)?,
            finished: self.finished.map(from_nanos).transpose()?,
            outcome: self.outcome,
            stats: ImportStats {
                added,
                updated,
                unchanged,
                removed,
            },
            notes: self.notes,
            host: self.host,
        })
    }
}

fn query_runs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RunRecord>, Fail> {
    let mut stmt = conn.prepare_cached(sql)?;
    let raw: Vec<RawRun> = stmt
        .query_map(params, RawRun::read)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(raw
        .into_iter()
        .map(RawRun::decode)
        .collect::<Result<_, _>>()?)
}

impl SqliteSpace {
    /// Records the start of a run (`kind` is `full` or `delta`) by `host` (its `host_id`;
    /// `None` for a tool run outside a host); returns its id.
    pub fn start_run(
        &self,
        kind: &str,
        object_type: &str,
        host: Option<&str>,
    ) -> Result<i64, SpaceError> {
        let now = to_nanos(OffsetDateTime::now_utc());
        self.write_ranked(|tx, _| {
            tx.prepare_cached(
                "INSERT INTO runs (kind, object_type, started, outcome, host)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![kind, object_type, now, RUNNING, host])?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Records the end of a run: its outcome (`success` or `failed: <reason>`) and stats.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: &str,
        stats: &ImportStats,
    ) -> Result<(), SpaceError> {
        let now = to_nanos(OffsetDateTime::now_utc());
        self.write_ranked(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE runs SET finished = ?2, outcome = ?3, added = ?4, updated = ?5,
                     unchanged = ?6, removed = ?7 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    now,
                    outcome,
                    to_i64(stats.added),
                    to_i64(stats.updated),
                    to_i64(stats.unchanged),
                    to_i64(stats.removed)
                ])?;
            if n == 0 {
                return Err(SpaceError::NoSuchRun(id).into());
            }
            Ok(())
        })
    }

    /// Adds `note` to run `id` (a line of its own after any earlier note).
    pub fn note_run(&self, id: i64, note: &str) -> Result<(), SpaceError> {
        self.write_ranked(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE runs SET notes = CASE WHEN notes IS NULL THEN ?2
                     ELSE notes || char(10) || ?2 END WHERE id = ?1",
                )?
                .execute(params![id, note])?;
            if n == 0 {
                return Err(SpaceError::NoSuchRun(id).into());
            }
            Ok(())
        })
    }

    /// The latest `limit` runs, newest first.
    pub fn runs(&self, limit: u64) -> Result<Vec<RunRecord>, SpaceError> {
        self.read(|conn| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1");
            query_runs(conn, &sql, [to_i64(limit)])
        })
    }

    /// The latest *successful* full import of an object type (failed and running ones are in
    /// [`runs`](SqliteSpace::runs)).
    pub fn last_full_import(&self, object_type: &str) -> Result<Option<RunRecord>, SpaceError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE object_type = ?1 AND kind = 'full' AND outcome = 'success'
                 ORDER BY id DESC LIMIT 1"
            );
            Ok(query_runs(conn, &sql, [object_type])?.into_iter().next())
        })
    }

    /// `limit` runs after skipping the `offset` newest, newest first, and how many there are.
    pub fn runs_page(&self, offset: u64, limit: u64) -> Result<(u64, Vec<RunRecord>), SpaceError> {
        self.read(|conn| {
            let total: i64 = conn
                .prepare_cached("SELECT count(*) FROM runs")?
                .query_row([], |row| row.get(0))?;
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1 OFFSET ?2");
            let page = query_runs(conn, &sql, [to_i64(limit), to_i64(offset)])?;
            Ok((u64::try_from(total).unwrap_or(0), page))
        })
    }

    /// The latest run of `kind` (`full` or `delta`) of an object type, whatever its outcome
    /// (running, succeeded or failed).
    pub fn last_run(&self, object_type: &str, kind: &str) -> Result<Option<RunRecord>, SpaceError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE object_type = ?1 AND kind = ?2
                 ORDER BY id DESC LIMIT 1"
            );
            Ok(query_runs(conn, &sql, [object_type, kind])?
                .into_iter()
                .next())
        })
    }
}
