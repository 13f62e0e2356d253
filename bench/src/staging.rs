//! The staging table the host imports from: `Employees`, the shape of the host's demo table,
//! filled with `n` generated users in one SQLite transaction, and the raw read rate of that
//! table (the yardstick for the host's full import).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::scim::user_name;

/// The `Employees` table in SQLite.
const CREATE_SQLITE: &str = "CREATE TABLE Employees (
    EmployeeId  TEXT PRIMARY KEY,
    UserName    TEXT NOT NULL UNIQUE,
    DisplayName TEXT,
    FirstName   TEXT,
    LastName    TEXT,
    Email       TEXT,
    Department  TEXT,
    IsActive    BOOLEAN NOT NULL DEFAULT 1
)";

/// The employee id of generated row `i`.
pub fn employee_id(i: u64) -> String {
    format!("e{i:07}")
}

/// Creates `Employees` in a new SQLite file with rows `0..n`.
pub fn fill_sqlite(path: &Path, n: u64) -> Result<(), BenchError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(CREATE_SQLITE)?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO Employees (EmployeeId, UserName, DisplayName, FirstName, LastName, Email, Department, IsActive)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        )?;
        for i in 0..n {
            let user = user_name(i);
            insert.execute(rusqlite::params![
                employee_id(i),
                user,
                format!("User {i}"),
                "Bench",
                format!("Number{i}"),
                format!("{user}@example.com"),
                format!("Dept{}", i % 50),
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Creates `EmployeesDirect` and `EmployeesDirectFull`, the twins of `Employees` the bench
/// writes to directly, in the same SQLite file (so all sides pay the same journal costs).
pub fn create_twin_sqlite(path: &Path) -> Result<(), BenchError> {
    let conn = rusqlite::Connection::open(path)?;
    for twin in [DirectSync::Normal.table(), DirectSync::AsConnector.table()] {
        conn.execute_batch(&CREATE_SQLITE.replace("Employees", twin))?;
    }
    Ok(())
}

/// How a direct insert commits, which decides whether each commit waits for an fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectSync {
    /// `synchronous = NORMAL`: in WAL mode a commit is written but not synced, as the host's
    /// own connector space commits (into `EmployeesDirect`).
    Normal,
    /// SQLite's default, which the SQL connector leaves as it is: `synchronous = FULL`, the
    /// WAL is synced at every commit (into `EmployeesDirectFull`). This is the target's own
    /// insert as the connector makes it.
    AsConnector,
}

impl DirectSync {
    /// The twin table these inserts go to.
    pub fn table(self) -> &'static str {
        match self {
            DirectSync::Normal => "EmployeesDirect",
            DirectSync::AsConnector => "EmployeesDirectFull",
        }
    }
}

/// Inserts `rows` (employee id, user name) into the twin table of `sync` one at a time through
/// one prepared statement in autocommit mode, on a connection set up as the host's SQL
/// connector sets up its own (WAL, foreign keys, busy timeout), with `sync`'s commit. Returns
/// each insert's latency and the wall time.
pub fn direct_inserts_sqlite(
    path: &Path,
    rows: &[(String, String)],
    sync: DirectSync,
) -> Result<(Vec<Duration>, Duration), BenchError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    if sync == DirectSync::Normal {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {} (EmployeeId, UserName, DisplayName, FirstName, LastName, Email, Department, IsActive)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        sync.table()
    ))?;
    let mut lat = Vec::with_capacity(rows.len());
    let started = Instant::now();
    for (id, user) in rows {
        let t = Instant::now();
        insert.execute(rusqlite::params![
            id,
            user,
            user,
            "Bench",
            user,
            format!("{user}@example.com"),
            "Load",
        ])?;
        lat.push(t.elapsed());
    }
    Ok((lat, started.elapsed()))
}

/// The number of rows of a table.
pub fn count_sqlite(path: &Path, table: &str) -> Result<u64, BenchError> {
    let conn = rusqlite::Connection::open(path)?;
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Reads every row of `Employees` as text, as an import must; returns the row count and the
/// time it took.
pub fn read_all_sqlite(path: &Path) -> Result<(u64, Duration), BenchError> {
    let started = Instant::now();
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare("SELECT EmployeeId, UserName, DisplayName, FirstName, LastName, Email, Department, IsActive FROM Employees")?;
    let mut rows = stmt.query([])?;
    let mut n = 0u64;
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        for col in 0..7 {
            let v: Option<String> = row.get(col)?;
            bytes += v.map(|s| s.len()).unwrap_or(0);
        }
        let active: bool = row.get(7)?;
        bytes += usize::from(active);
        n += 1;
    }
    std::hint::black_box(bytes);
    Ok((n, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_reads_back_n_distinct_users() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        fill_sqlite(&db, 250).unwrap();
        let (n, _) = read_all_sqlite(&db).unwrap();
        assert_eq!(n, 250);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let name: String = conn
            .query_row(
                "SELECT UserName FROM Employees WHERE EmployeeId = ?1",
                [employee_id(249)],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(name, "u249");
    }

    #[test]
    fn employee_ids_sort_in_row_order() {
        assert_eq!(employee_id(7), "e0000007");
        assert!(employee_id(9) < employee_id(10));
    }
}
