//! `shared_bench`: the connector space on PostgreSQL against the embedded SQLite space, and two
//! hosts sharing one PostgreSQL space against one host, in one run (issue #17).
//!
//! Every point runs the release `connector-host` binary on the same SQLite staging table of
//! `--users` rows: first start (full import into the space), lookups at `--connections`
//! keep-alive TLS connections for `--seconds` (the bench's own client), then `--creates` POSTs at
//! one connection. The PostgreSQL space is a fresh database on the machine's server
//! (`CH_TEST_PG_HOST`/`PORT`/`USER`, default 127.0.0.1:5432 postgres), dropped at the end. The
//! two-host point starts a second host on the same space and table, splits the connections
//! between the two, and creates from both at once. When `wrk` is installed (Debian package), each
//! one-host point also runs the same lookups through it, a load generator that takes less of
//! the shared cores than the bench's own client, and reports the CPU each lookup cost the host
//! and the PostgreSQL server (from `/proc`).
//!
//! ```text
//! cargo build --release -p connector-host -p bench
//! target/release/shared_bench --users 100000
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::host::{HostDir, HostProcess, Target, config_text, host_binary};
use bench::load::{self, Endpoint, Request, SplitMix};
use bench::report::{Row, Verdict, render};
use bench::scim::create_request;
use bench::staging::fill_sqlite;
use bench::stats::{Summary, ms};
use bench::wrk::{self, WrkLoad};
use clap::Parser;
use reqwest::header::HeaderValue;

#[derive(Parser, Debug)]
#[command(about = "PostgreSQL connector space vs SQLite, two hosts vs one (issue #17)")]
struct Args {
    /// Users in the staging table (imported into the space at first start).
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// Keep-alive connections of the lookup points.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per lookup point.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Creates per create point (one connection per host).
    #[arg(long, default_value_t = 1000)]
    creates: usize,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[shared_bench] {}", msg.as_ref());
}

/// The PostgreSQL server the space database is created on.
fn pg_server() -> (String, String, String) {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    (
        var("CH_TEST_PG_HOST", "127.0.0.1"),
        var("CH_TEST_PG_PORT", "5432"),
        var("CH_TEST_PG_USER", "postgres"),
    )
}

fn psql(sql: &str) -> Result<()> {
    let (host, port, user) = pg_server();
    let out = Command::new("psql")
        .args([
            "-h", &host, "-p", &port, "-U", &user, "-d", "postgres", "-v",
        ])
        .arg("ON_ERROR_STOP=1")
        .args(["-c", sql])
        .output()
        .context("running psql (Debian package postgresql-client)")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A fresh space database, dropped on drop.
struct SpaceDb {
    name: String,
}

impl SpaceDb {
    fn create() -> Result<SpaceDb> {
        let name = format!("ch_bench_space_{}", uuid::Uuid::new_v4().simple());
        psql(&format!("CREATE DATABASE {name}"))?;
        Ok(SpaceDb { name })
    }

    fn url(&self) -> String {
        let (host, port, user) = pg_server();
        format!("postgresql://{user}@{host}:{port}/{}", self.name)
    }
}

impl Drop for SpaceDb {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Which space a host uses.
#[derive(Clone)]
enum SpaceKind {
    Sqlite,
    Postgres(String),
}

/// A host directory over the shared staging table `staging`, with the space section added.
fn host_dir(staging: &Path, space: &SpaceKind, host_id: &str) -> Result<HostDir> {
    let target = Target::Odbc(format!("sqlite://{}", staging.display()));
    let dir = HostDir::create(&target)?;
    let mut text = config_text(dir.port, &target);
    let section = match space {
        SpaceKind::Sqlite => format!("host_id = \"{host_id}\"\n"),
        SpaceKind::Postgres(url) => format!(
            "host_id = \"{host_id}\"\n\n[server.space]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
        ),
    };
    let at = text
        .find("\n[[connector]]")
        .context("the bench configuration has no connector table")?;
    text.insert_str(at, &format!("\n{section}"));
    std::fs::write(dir.config(), text)?;
    Ok(dir)
}

fn endpoint(dir: &HostDir) -> Result<Endpoint> {
    Ok(Endpoint {
        origin: dir.origin(),
        scim_base: dir.scim_base(),
        authorization: HeaderValue::from_str(&format!("Bearer {}", dir.token))?,
    })
}

/// Starts the host and waits until a lookup of an imported user answers; the time it took.
async fn start(bin: &Path, dir: &HostDir, users: u64) -> Result<(HostProcess, Duration)> {
    let mut host = HostProcess::spawn(bin, dir, &[])?;
    let ep = endpoint(dir)?;
    let lookup = Request::Lookup { users };
    let mut rng = SplitMix::new(7);
    let mut client = None;
    loop {
        if host.spawned.elapsed() > Duration::from_secs(600) {
            bail!(
                "the host was not ready in 10 min; log:\n{}",
                dir.log_tail(20)
            );
        }
        host.check_running()
            .with_context(|| format!("log:\n{}", dir.log_tail(20)))?;
        if client.is_none()
            && let Ok(pem) = std::fs::read(dir.cert())
        {
            client = load::client(&pem).ok();
        }
        if let Some(c) = &client
            && let Ok(true) = load::one(c, &ep, &lookup, &mut rng).await
        {
            let took = host.spawned.elapsed();
            return Ok((host, took));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `creates` POSTs at one connection to `dir`, with employee ids `<tag>-<i>`.
async fn creates(dir: &HostDir, tag: &str, creates: usize) -> Result<Summary> {
    let pem = std::fs::read(dir.cert())?;
    let client = load::client(&pem)?;
    let url = format!("{}/Users", dir.scim_base());
    let auth = format!("Bearer {}", dir.token);
    let post = |i: usize| create_request(&client, &url, &auth, &format!("{tag}-{i}")).send();
    Ok(load::timed_creates(post, 0..creates).await?)
}

fn lookup_text(s: &Summary) -> String {
    format!(
        "{} req/s; p50 {}; p99 {}; errors {}",
        bench::report::thousands(s.rate),
        ms(s.p50),
        ms(s.p99),
        s.errors
    )
}

fn create_text(s: &Summary) -> String {
    format!(
        "{} creates/s; p50 {}; p99 {}",
        bench::report::thousands(s.rate),
        ms(s.p50),
        ms(s.p99)
    )
}

/// One host on `space`: first start, lookups, creates.
fn one_host(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    staging: &Path,
    space: &SpaceKind,
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<(Summary, Summary)> {
    let dir = host_dir(staging, space, &format!("{label}-1"))?;
    progress(format!("{label}: first start"));
    let (mut host, took) = rt.block_on(start(bin, &dir, args.users))?;
    rows.push(Row::new(
        format!(
            "{label}: first start to first lookup, {} objects",
            args.users
        ),
        format!("{:.1} s", took.as_secs_f64()),
        "–",
        Verdict::NoTarget,
        "full import of the staging table into the space, then the first lookup answer",
    ));
    progress(format!("{label}: lookups"));
    let cert = std::fs::read(dir.cert())?;
    let ep = endpoint(&dir)?;
    let lookups = rt.block_on(load::run(
        &cert,
        &ep,
        Request::Lookup { users: args.users },
        args.connections,
        Duration::from_secs(args.seconds),
    ))?;
    rows.push(Row::new(
        format!("{label}: lookups, C={}", args.connections),
        lookup_text(&lookups),
        "p99 < 5 ms",
        Verdict::of(lookups.p99 < Duration::from_millis(5) && lookups.errors == 0),
        "userName eq lookups of random imported users, the bench's tokio client",
    ));
    wrk_lookups(args, &dir, &host, label, rows)?;
    progress(format!("{label}: creates"));
    let made = rt.block_on(creates(&dir, &format!("{label}-new"), args.creates))?;
    rows.push(Row::new(
        format!("{label}: creates, 1 connection"),
        create_text(&made),
        "–",
        Verdict::NoTarget,
        "POST /Users one after the other; each a staging-table insert plus the space's intent and write-through",
    ));
    host.terminate(Duration::from_secs(30))?;
    Ok((lookups, made))
}

/// CPU time (user + system) of every process named `postgres` on this machine: the server the
/// space is on, when it runs here.
fn postgres_cpu() -> Duration {
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = text.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    Duration::from_millis(ticks * 10)
}

/// The same lookups through `wrk` (when installed), with the host's and PostgreSQL's CPU per
/// answer.
fn wrk_lookups(
    args: &Args,
    dir: &HostDir,
    host: &HostProcess,
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    if !wrk::available() {
        progress("wrk is not installed (apt-get install wrk): no wrk points");
        return Ok(());
    }
    progress(format!("{label}: lookups through wrk"));
    let load = WrkLoad::Lookup {
        scim_base: dir.scim_base(),
        token: dir.token.clone(),
        users: args.users,
    };
    let (host_before, pg_before) = (host.cpu_time()?, postgres_cpu());
    let r = wrk::run(
        &dir.origin(),
        &load,
        args.connections,
        Duration::from_secs(args.seconds),
    )?;
    let per_answer = |d: Duration| d.as_secs_f64() * 1e6 / r.requests.max(1) as f64;
    let host_us = per_answer(host.cpu_time()?.saturating_sub(host_before));
    let pg_us = per_answer(postgres_cpu().saturating_sub(pg_before));
    let errors = r.non_2xx + r.socket_errors;
    rows.push(Row::new(
        format!("{label}: lookups, C={}, wrk", args.connections),
        format!(
            "{} req/s; p50 {}; p99 {}; errors {errors}; CPU per answer: host {host_us:.0} µs, PostgreSQL {pg_us:.0} µs",
            bench::report::thousands(r.rate),
            ms(r.p50),
            ms(r.p99),
        ),
        "p99 < 5 ms",
        Verdict::of(r.p99 < Duration::from_millis(5) && errors == 0),
        "the same lookups through `wrk -t1 --latency` (a Lua script sets the bearer header and asks for a random existing user); CPU per answer = user + system time over the point (`/proc`) of the host and of every `postgres` process, divided by the answers",
    ));
    Ok(())
}

/// Two hosts on one PostgreSQL space: lookups split over both at once, then creates from both.
fn two_hosts(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    staging: &Path,
    space: &SpaceKind,
    rows: &mut Vec<Row>,
) -> Result<(f64, f64)> {
    let a = host_dir(staging, space, "two-hosts-a")?;
    let b = host_dir(staging, space, "two-hosts-b")?;
    progress("two hosts: starting");
    let (mut ha, _) = rt.block_on(start(bin, &a, args.users))?;
    let (mut hb, _) = rt.block_on(start(bin, &b, args.users))?;
    let half = (args.connections / 2).max(1);
    let duration = Duration::from_secs(args.seconds);
    let (cert_a, cert_b) = (std::fs::read(a.cert())?, std::fs::read(b.cert())?);
    let (ep_a, ep_b) = (endpoint(&a)?, endpoint(&b)?);
    progress("two hosts: lookups");
    let (la, lb) = rt.block_on(async {
        let req = Request::Lookup { users: args.users };
        tokio::join!(
            load::run(&cert_a, &ep_a, req.clone(), half, duration),
            load::run(&cert_b, &ep_b, req, half, duration)
        )
    });
    let (la, lb) = (la?, lb?);
    let lookups = la.rate + lb.rate;
    rows.push(Row::new(
        format!("two hosts, one PostgreSQL space: lookups, C={half}+{half}"),
        format!(
            "{} req/s in all; p99 {} / {}; errors {}",
            bench::report::thousands(lookups),
            ms(la.p99),
            ms(lb.p99),
            la.errors + lb.errors
        ),
        "p99 < 5 ms",
        Verdict::of(la.p99.max(lb.p99) < Duration::from_millis(5) && la.errors + lb.errors == 0),
        "the same lookups, half the connections to each host, both hosts on the same 2 cores",
    ));
    progress("two hosts: creates");
    let started = Instant::now();
    let (ca, cb) = rt.block_on(async {
        tokio::join!(
            creates(&a, "two-a", args.creates),
            creates(&b, "two-b", args.creates)
        )
    });
    let (ca, cb) = (ca?, cb?);
    let wall = started.elapsed();
    let both = (2 * args.creates) as f64 / wall.as_secs_f64();
    rows.push(Row::new(
        "two hosts, one PostgreSQL space: creates, 1 connection each",
        format!(
            "{} creates/s in all; p50 {} / {}; p99 {} / {}",
            bench::report::thousands(both),
            ms(ca.p50),
            ms(cb.p50),
            ms(ca.p99),
            ms(cb.p99)
        ),
        "–",
        Verdict::NoTarget,
        "both hosts creating at once into the same staging table and space",
    ));
    ha.terminate(Duration::from_secs(30))?;
    hb.terminate(Duration::from_secs(30))?;
    Ok((lookups, both))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin: PathBuf = host_binary()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let work = tempfile::Builder::new().prefix("shared-bench-").tempdir()?;
    let staging = work.path().join("staging.db");
    progress(format!("filling {} users", args.users));
    fill_sqlite(&staging, args.users)?;
    // WAL, so two hosts reading and writing the table do not wait for each other's readers.
    rusqlite::Connection::open(&staging)?.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;

    let mut rows = Vec::new();
    let (sq_lookups, sq_creates) = one_host(
        &rt,
        &args,
        &bin,
        &staging,
        &SpaceKind::Sqlite,
        "SQLite space",
        &mut rows,
    )?;
    let db = SpaceDb::create()?;
    let pg = SpaceKind::Postgres(db.url());
    let (pg_lookups, pg_creates) = one_host(
        &rt,
        &args,
        &bin,
        &staging,
        &pg,
        "PostgreSQL space",
        &mut rows,
    )?;
    let db2 = SpaceDb::create()?;
    let pg2 = SpaceKind::Postgres(db2.url());
    let (two_lookups, two_creates) = two_hosts(&rt, &args, &bin, &staging, &pg2, &mut rows)?;
    rows.push(Row::new(
        "ratios",
        format!(
            "lookups PostgreSQL/SQLite {:.2}×, creates {:.2}×; two hosts/one (PostgreSQL): lookups {:.2}×, creates {:.2}×",
            pg_lookups.rate / sq_lookups.rate,
            pg_creates.rate / sq_creates.rate,
            two_lookups / pg_lookups.rate,
            two_creates / pg_creates.rate
        ),
        "–",
        Verdict::NoTarget,
        "measured in this one run",
    ));
    println!("{}", render(&rows));
    Ok(())
}
