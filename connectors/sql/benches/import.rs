//! Import and export throughput of the SQL connector against the raw driver, in one run.
//!
//! DESIGN §7 asks for a full import at ≥ 0.8 × the raw `SELECT` rate with peak memory
//! independent of the object count, and an export at ≤ 1.25 × the raw `INSERT` time. This
//! binary measures both on the built-in SQLite and on PostgreSQL through ODBC, on fresh
//! databases, and prints a Markdown table. Each full import runs in a child process (this
//! binary re-executed with `child <target> <rows>`) so its peak RSS (`VmHWM`) is its own.
//!
//! Run: `cargo bench -p connector-sql --features odbc --bench import`
//! (`-- quick` skips the 1M-row imports).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use connector_core::conformance::soon;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use connector_core::{Anchor, AttrValue, Attributes, Change, Connector, Watermark};
use connector_sql::{AfterRead, SqlConnector};
use connector_sql::{ChangeValues, DeltaConfig, DeltaTableConfig, ObjectConfig, SqlConfig};
use odbc_api::buffers::TextRowSet;
use odbc_api::{ConnectionOptions, Cursor, IntoParameter};

const PAGE: usize = 500;
const COLUMNS: &str = r#""id", "userName", "givenName", "surname", "displayName", "mail", "department", "employeeNo""#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Sqlite,
    Postgres,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Postgres => "postgres",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Target::Sqlite => "SQLite (built in)",
            Target::Postgres => "PostgreSQL 15 (ODBC)",
        }
    }
    fn parse(s: &str) -> Target {
        match s {
            "sqlite" => Target::Sqlite,
            _ => Target::Postgres,
        }
    }
}

/// A fresh database: the connection string the connector gets, and what keeps it alive.
struct Db {
    target: Target,
    connection: String,
    base_dir: PathBuf,
    _keep: Box<dyn std::any::Any>,
}

impl Db {
    fn new(target: Target) -> Db {
        match target {
            Target::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                Db {
                    target,
                    connection: "sqlite://bench.db".into(),
                    base_dir: dir.path().to_path_buf(),
                    _keep: Box::new(dir),
                }
            }
            Target::Postgres => {
                let db = testkit::fresh_postgres();
                Db {
                    target,
                    connection: db.odbc_connection_string.clone(),
                    base_dir: PathBuf::from("/nonexistent"),
                    _keep: Box::new(db),
                }
            }
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        self.base_dir.join("bench.db")
    }

    fn exec(&self, sql: &str) {
        match self.target {
            Target::Sqlite => {
                let c = rusqlite::Connection::open(self.sqlite_path()).unwrap();
                c.execute_batch(sql).unwrap();
            }
            Target::Postgres => testkit::execute(&self.connection, sql),
        }
    }

    /// The staging table with `rows` rows (not timed).
    fn load(&self, rows: usize) {
        self.exec(
            r#"CREATE TABLE "Users" ("id" VARCHAR(64) NOT NULL PRIMARY KEY, "userName" VARCHAR(128) NOT NULL,
               "givenName" VARCHAR(64), "surname" VARCHAR(64), "displayName" VARCHAR(128),
               "mail" VARCHAR(128), "department" VARCHAR(64), "employeeNo" INTEGER)"#,
        );
        let select = |n: &str, id: &str| {
            format!(
                "SELECT {id}, 'user' || {n} || '@example.com', 'Given' || {n}, 'Surname' || {n}, \
                 'User number ' || {n}, 'user' || {n} || '@mail.example.com', \
                 'Department ' || ({n} % 50), {n}"
            )
        };
        match self.target {
            Target::Sqlite => self.exec(&format!(
                r#"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {rows})
                   INSERT INTO "Users" {} FROM c"#,
                select("n", "printf('u%08d', n)")
            )),
            Target::Postgres => {
                self.exec(&format!(
                    r#"INSERT INTO "Users" {} FROM generate_series(1, {rows}) g"#,
                    select("g", "'u' || lpad(g::text, 8, '0')")
                ));
                self.exec(r#"VACUUM ANALYZE "Users""#);
            }
        }
    }

    fn connector(&self, object: ObjectConfig) -> SqlConnector {
        let mut c = SqlConfig::new(self.connection.clone(), vec![object]);
        c.page_size = PAGE;
        SqlConnector::new(c, &self.base_dir).unwrap()
    }
}

fn users() -> ObjectConfig {
    ObjectConfig::new("User", "Users", "id")
}

/// Full import through the connector: (objects, seconds).
fn connector_import(db: &Db) -> (usize, f64) {
    let c = db.connector(users());
    c.schema(soon()).unwrap();
    let start = Instant::now();
    let mut stream = c.full_import("User", PAGE, soon()).unwrap();
    let mut n = 0;
    while let Some(page) = stream.next_page(soon()).unwrap() {
        n += page.len();
    }
    (n, start.elapsed().as_secs_f64())
}

/// The same columns with one plain `SELECT`, every cell read as text: (rows, seconds).
fn raw_select(db: &Db) -> (usize, f64) {
    let sql = format!(r#"SELECT {COLUMNS} FROM "Users""#);
    let mut rows = 0;
    let mut bytes = 0usize;
    let start = Instant::now();
    match db.target {
        Target::Sqlite => {
            let c = rusqlite::Connection::open(db.sqlite_path()).unwrap();
            let mut st = c.prepare(&sql).unwrap();
            let mut r = st.query([]).unwrap();
            let mut text = String::new();
            while let Some(row) = r.next().unwrap() {
                for i in 0..8 {
                    text.clear();
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            text.push_str(std::str::from_utf8(t).unwrap())
                        }
                        rusqlite::types::ValueRef::Integer(n) => {
                            use std::fmt::Write;
                            write!(text, "{n}").unwrap();
                        }
                        _ => {}
                    }
                    bytes += text.len();
                }
                rows += 1;
            }
        }
        Target::Postgres => {
            let env = odbc_api::environment().unwrap();
            let conn = env
                .connect_with_connection_string(&db.connection, ConnectionOptions::default())
                .unwrap();
            let mut cursor = conn.execute(&sql, (), None).unwrap().unwrap();
            let buffer = TextRowSet::for_cursor(PAGE, &mut cursor, Some(4096)).unwrap();
            let mut block = cursor.bind_buffer(buffer).unwrap();
            while let Some(batch) = block.fetch().unwrap() {
                for r in 0..batch.num_rows() {
                    for col in 0..batch.num_cols() {
                        bytes += batch.at(col, r).map_or(0, <[u8]>::len);
                    }
                }
                rows += batch.num_rows();
            }
        }
    }
    assert!(bytes > 0);
    (rows, start.elapsed().as_secs_f64())
}

/// Peak resident set of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// In a child process: load, raw select, connector import; prints one result line.
fn child(target: Target, rows: usize) {
    let db = Db::new(target);
    db.load(rows);
    let loaded = vm_hwm_kib();
    // The connector first, so the peak is its own (psqlodbc buffers a plain SELECT's whole
    // result in memory by default, which would otherwise be the peak).
    let (n, s) = connector_import(&db);
    let peak = vm_hwm_kib();
    let (raw_n, raw_s) = raw_select(&db);
    assert_eq!(n, rows);
    assert_eq!(raw_n, rows);
    println!("RESULT {n} {s} {raw_s} {peak} {loaded}");
}

struct ImportFigures {
    rows: usize,
    connector_s: f64,
    raw_s: f64,
    hwm_kib: u64,
    /// The peak before the import started (after creating and loading the database).
    before_kib: u64,
}

fn import_in_child(target: Target, rows: usize) -> ImportFigures {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", target.name(), &rows.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!(
            "child {} {rows} failed: {}\n{}",
            target.name(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    ImportFigures {
        rows: f[0].parse().unwrap(),
        connector_s: f[1].parse().unwrap(),
        raw_s: f[2].parse().unwrap(),
        hwm_kib: f[3].parse().unwrap(),
        before_kib: f[4].parse().unwrap(),
    }
}

/// Delta import of `changed` rows updated with one statement: (items, seconds).
fn delta(target: Target, rows: usize, changed: usize) -> (usize, f64) {
    let db = Db::new(target);
    db.load(rows);
    let (history, trigger): (&str, Vec<&str>) = match target {
        Target::Sqlite => (
            r#"CREATE TABLE "UserChanges" ("seq" INTEGER PRIMARY KEY AUTOINCREMENT, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            vec![
                r#"CREATE TRIGGER "users_au" AFTER UPDATE ON "Users" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'U'); END"#,
            ],
        ),
        Target::Postgres => (
            r#"CREATE TABLE "UserChanges" ("seq" BIGSERIAL PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            vec![
                r#"CREATE FUNCTION "users_log"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'U'); RETURN NULL; END $$"#,
                r#"CREATE TRIGGER "users_log" AFTER UPDATE ON "Users" FOR EACH ROW EXECUTE FUNCTION "users_log"()"#,
            ],
        ),
    };
    db.exec(history);
    db.exec(r#"CREATE INDEX "UserChanges_anchor" ON "UserChanges" ("anchor", "seq")"#);
    for t in trigger {
        db.exec(t);
    }
    db.exec(&format!(
        r#"UPDATE "Users" SET "department" = 'Moved' WHERE "employeeNo" <= {changed}"#
    ));
    let mut o = users();
    o.delta = Some(DeltaConfig::Table(DeltaTableConfig {
        table: "UserChanges".into(),
        anchor_column: "anchor".into(),
        change_column: "op".into(),
        sequence_column: "seq".into(),
        change_values: ChangeValues::default(),
        after_read: AfterRead::Keep,
    }));
    let c = db.connector(o);
    c.schema(soon()).unwrap();
    let start = Instant::now();
    let mut stream = c
        .delta_import("User", &Watermark("sql1:seq:".into()), PAGE, soon())
        .unwrap();
    let mut n = 0;
    while let Some(page) = stream.next_page(soon()).unwrap() {
        n += page.len();
    }
    assert_eq!(n, changed);
    (n, start.elapsed().as_secs_f64())
}

fn sample(i: usize) -> Attributes {
    let s = |v: String| vec![AttrValue::String(v)];
    let mut a = Attributes::new();
    a.insert("id".into(), s(format!("x{i:08}")));
    a.insert("userName".into(), s(format!("new{i}@example.com")));
    a.insert("givenName".into(), s(format!("Given{i}")));
    a.insert("surname".into(), s(format!("Surname{i}")));
    a.insert("displayName".into(), s(format!("New user {i}")));
    a.insert("mail".into(), s(format!("new{i}@mail.example.com")));
    a.insert("department".into(), s("Sales".into()));
    a.insert(
        "employeeNo".into(),
        vec![AttrValue::Integer(i64::try_from(i).unwrap())],
    );
    a
}

/// `n` sequential adds through the connector vs `n` direct parameterised INSERTs (autocommit):
/// (connector seconds, raw seconds).
fn export(target: Target, n: usize) -> (f64, f64) {
    let db = Db::new(target);
    db.load(0);
    let c = db.connector(users());
    c.schema(soon()).unwrap();
    let start = Instant::now();
    for i in 0..n {
        c.export(
            &Change::Add {
                object_type: "User".into(),
                anchor: Some(Anchor(format!("x{i:08}"))),
                dn: None,
                attributes: sample(i),
            },
            soon(),
        )
        .unwrap();
    }
    let connector_s = start.elapsed().as_secs_f64();

    let sql = format!(r#"INSERT INTO "Users" ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#);
    let values = |i: usize| {
        [
            format!("r{i:08}"),
            format!("raw{i}@example.com"),
            format!("Given{i}"),
            format!("Surname{i}"),
            format!("Raw user {i}"),
            format!("raw{i}@mail.example.com"),
            "Sales".to_owned(),
        ]
    };
    let start = Instant::now();
    match target {
        Target::Sqlite => {
            let conn = rusqlite::Connection::open(db.sqlite_path()).unwrap();
            conn.busy_timeout(Duration::from_secs(30)).unwrap();
            for i in 0..n {
                let [a, b, c, d, e, f, g] = values(i);
                let mut st = conn.prepare_cached(&sql).unwrap();
                st.execute(rusqlite::params![
                    a,
                    b,
                    c,
                    d,
                    e,
                    f,
                    g,
                    i64::try_from(i).unwrap()
                ])
                .unwrap();
            }
        }
        Target::Postgres => {
            let env = odbc_api::environment().unwrap();
            let conn = env
                .connect_with_connection_string(&db.connection, ConnectionOptions::default())
                .unwrap();
            for i in 0..n {
                let [a, b, c, d, e, f, g] = values(i);
                conn.execute(
                    &sql,
                    (
                        &a.into_parameter(),
                        &b.into_parameter(),
                        &c.into_parameter(),
                        &d.into_parameter(),
                        &e.into_parameter(),
                        &f.into_parameter(),
                        &g.into_parameter(),
                        &i64::try_from(i).unwrap(),
                    ),
                    None,
                )
                .unwrap();
            }
        }
    }
    (connector_s, start.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, target, rows, ..] = args.as_slice()
        && cmd == "child"
    {
        child(Target::parse(target), rows.parse().unwrap());
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    let started = Instant::now();
    let mut table = vec![
        "| Database | Measure | Connector | Raw driver | Ratio |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let mut memory = Vec::new();
    for target in [Target::Sqlite, Target::Postgres] {
        let sizes: &[usize] = if quick {
            &[100_000]
        } else {
            &[100_000, 1_000_000]
        };
        for &rows in sizes {
            let f = import_in_child(target, rows);
            let rate = |s: f64| f.rows as f64 / s;
            table.push(format!(
                "| {} | full import, {} rows (objects/s) | {:.0} | {:.0} | {:.2} |",
                target.label(),
                f.rows,
                rate(f.connector_s),
                rate(f.raw_s),
                f.raw_s / f.connector_s
            ));
            memory.push(format!(
                "| {} | {} rows | {:.1} MiB | {:.1} MiB |",
                target.label(),
                f.rows,
                f.before_kib as f64 / 1024.0,
                f.hwm_kib as f64 / 1024.0
            ));
            eprintln!("{} {rows}: done at {:?}", target.name(), started.elapsed());
        }
        let (n, s) = delta(target, 100_000, 10_000);
        table.push(format!(
            "| {} | delta import, {n} changed of 100000 (objects/s) | {:.0} | – | – |",
            target.label(),
            n as f64 / s
        ));
        let adds = 2_000;
        let (cs, rs) = export(target, adds);
        table.push(format!(
            "| {} | export, {adds} sequential adds (adds/s; ratio = time connector/raw) | {:.0} | {:.0} | {:.2} |",
            target.label(),
            adds as f64 / cs,
            adds as f64 / rs,
            cs / rs
        ));
        eprintln!("{}: done at {:?}", target.name(), started.elapsed());
    }
    println!("{}", table.join("\n"));
    println!();
    println!(
        "| Database | Full import of | Peak RSS before the import | Peak RSS after the import (VmHWM) |"
    );
    println!("|---|---|---|---|");
    println!("{}", memory.join("\n"));
    println!();
    println!(
        "Import ratio = connector rate / raw rate (target ≥ 0.8); export ratio = connector time / \
         raw time (target ≤ 1.25). Page size {PAGE}. Total wall time {:.0?}.",
        started.elapsed()
    );
    println!("Command: cargo bench -p connector-sql --features odbc --bench import");
}
