//! `host_bench`: one run that measures the release `connector-host` binary end to end (lookups
//! over TLS keep-alive at 10k and 100k objects, list pages, export overhead against direct
//! ODBC on PostgreSQL and MariaDB, restart to first answer, memory) and prints a Markdown
//! report with the DESIGN §7 target next to every figure. Progress goes to stderr.
//!
//! Build the host first, in the same target directory, then run:
//! `CARGO_TARGET_DIR=target/bench cargo build --release -p connector-host --features odbc`
//! `CARGO_TARGET_DIR=target/bench cargo run --release -p bench --bin host_bench`

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::host::{HostDir, HostProcess, Memory, Target, host_binary};
use bench::load::{self, Endpoint, Request, SplitMix};
use bench::odbc::{BenchDb, Server};
use bench::report::{Row, Verdict, render, thousands};
use bench::scim::{create_body, create_request, disable_body};
use bench::staging::{
    DirectSync, count_sqlite, create_twin_sqlite, direct_inserts_sqlite, employee_id, fill_sqlite,
    read_all_sqlite,
};
use bench::stats::{Summary, ms, summarize};
use bench::wrk::{self, WrkLoad};
use clap::Parser;
use reqwest::header::HeaderValue;

/// End-to-end benchmark of the connector-host binary.
#[derive(Parser, Debug)]
struct Args {
    /// Seconds per load point.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Object counts in the connector space for the lookup points.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<u64>,
    /// Concurrent keep-alive connections per lookup point.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    connections: Vec<usize>,
    /// Users created (and disabled) per export comparison.
    #[arg(long, default_value_t = 2000)]
    exports: usize,
    /// Databases for the export comparison: postgres, mariadb (empty: none).
    #[arg(long, value_delimiter = ',', default_value = "postgres,mariadb")]
    databases: Vec<String>,
    /// Also compare SCIM creates with direct inserts on the SQLite staging table.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sqlite_exports: bool,
    /// Also measure lookups and `/healthz` at C=32 with `wrk` (when it is installed).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    wrk: bool,
    /// Users created through `POST /Users` (8 connections) after the lookup points of each
    /// size, followed by the C=32 lookups again: are lookups flat after that many
    /// write-throughs (0: skip).
    #[arg(long, default_value_t = 0)]
    write_throughs: usize,
    /// Also rerun the largest size at C=32 with `RUST_LOG=warn` (no per-request log line).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    quiet_rerun: bool,
}

const LOOKUP_TARGET_RATE: f64 = 20_000.0;
const LOOKUP_TARGET_P99: Duration = Duration::from_millis(5);
const LIST_TARGET: Duration = Duration::from_millis(10);
const RESTART_TARGET: Duration = Duration::from_secs(1);
const IDLE_TARGET_MIB: f64 = 50.0;
const LOAD_TARGET_MIB: f64 = 150.0;
const EXPORT_TARGET_RATIO: f64 = 1.25;
const IMPORT_TARGET_RATIO: f64 = 0.8;

fn progress(msg: impl AsRef<str>) {
    eprintln!("[host_bench] {}", msg.as_ref());
}

fn k(n: u64) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn endpoint(dir: &HostDir) -> Result<Endpoint> {
    Ok(Endpoint {
        origin: dir.origin(),
        scim_base: dir.scim_base(),
        authorization: HeaderValue::from_str(&format!("Bearer {}", dir.token))?,
    })
}

/// Polls `req` every `interval` until it passes its check; returns the time since the host was
/// spawned. Fails when the host exits or `timeout` passes.
async fn wait_ready(
    host: &mut HostProcess,
    dir: &HostDir,
    req: &Request,
    interval: Duration,
    timeout: Duration,
) -> Result<Duration> {
    let mut client = None;
    let mut rng = SplitMix::new(99);
    let ep = endpoint(dir)?;
    loop {
        if host.spawned.elapsed() > timeout {
            bail!(
                "the host was not ready within {timeout:?}; log:\n{}",
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
            && let Ok(true) = load::one(c, &ep, req, &mut rng).await
        {
            return Ok(host.spawned.elapsed());
        }
        tokio::time::sleep(interval).await;
    }
}

/// (employee id, user name) rows of an export comparison.
type Rows = Vec<(String, String)>;

/// The rows an export comparison creates on both sides, and the 20 warm-up rows created first
/// and not counted.
fn export_rows(k: usize) -> (Rows, Rows) {
    let users = (0..k as u64)
        .map(|i| (employee_id(i), format!("x{i}")))
        .collect();
    let warm = (0..20)
        .map(|i| (format!("w{i}"), format!("warm{i}")))
        .collect();
    (users, warm)
}

fn lookup_row(n: u64, c: usize, s: &Summary, note: &str) -> Row {
    let rate_ok = s.rate >= LOOKUP_TARGET_RATE;
    let p99_ok = s.p99 < LOOKUP_TARGET_P99;
    let (target, verdict) = if c >= 32 {
        ("≥ 20,000 req/s; p99 < 5 ms", Verdict::of(rate_ok && p99_ok))
    } else {
        ("p99 < 5 ms", Verdict::of(p99_ok))
    };
    Row::new(
        format!("Lookup by UserName, {} objects, C={c}{note}", k(n)),
        format!(
            "{} req/s; p50 {}; p99 {}; max {}; {} errors",
            thousands(s.rate),
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            s.errors
        ),
        target,
        verdict,
        format!(
            "{c} keep-alive HTTPS connection(s), each sending sequential `GET /Users?filter=…:UserName eq \"u<random>\"` for the point's duration; only 200 answers with exactly one resource count; latency per request from send to full body"
        ),
    )
}

fn mib(m: f64) -> String {
    format!("{m:.1} MiB")
}

struct SizeResult {
    n: u64,
    c32_rate: Option<f64>,
    peak_after_import: Memory,
}

#[allow(clippy::too_many_lines)]
fn lookups_for_size(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    n: u64,
    restart: bool,
    rows: &mut Vec<Row>,
) -> Result<SizeResult> {
    let duration = Duration::from_secs(args.seconds);
    let dir = HostDir::create(&Target::Sqlite)?;
    progress(format!(
        "{}: filling the SQLite staging table in {}",
        k(n),
        dir.path().display()
    ));
    let t = Instant::now();
    fill_sqlite(&dir.staging_db(), n)?;
    progress(format!("{}: filled in {:.2?}", k(n), t.elapsed()));
    let (read, raw) = read_all_sqlite(&dir.staging_db())?;
    if read != n {
        bail!("read {read} rows back, expected {n}");
    }
    let raw_rate = n as f64 / raw.as_secs_f64();

    let mut host = HostProcess::spawn(bin, &dir, &[])?;
    let lookup = Request::Lookup { users: n };
    let ready = rt.block_on(wait_ready(
        &mut host,
        &dir,
        &lookup,
        Duration::from_millis(20),
        Duration::from_secs(180),
    ))?;
    progress(format!(
        "{}: first start to first answer {:.2?}",
        k(n),
        ready
    ));
    let import_rate = n as f64 / ready.as_secs_f64();
    let ratio = import_rate / raw_rate;
    rows.push(Row::new(
        format!("First start to first lookup answer (full import), {} objects", k(n)),
        format!(
            "{:.2} s = {} objects/s; raw SQLite read {} rows/s; ratio {:.3}",
            ready.as_secs_f64(),
            thousands(import_rate),
            thousands(raw_rate),
            ratio
        ),
        "≥ 0.8 × the raw SELECT rate",
        Verdict::of(ratio >= IMPORT_TARGET_RATIO),
        "wall time from spawning the host on an empty data directory (certificate generation, schema discovery, full import into the connector space) to the first 200 lookup; raw = one `SELECT` of all rows as text with rusqlite in the bench process. Upper bound on import time: it includes process start and the 20 ms poll interval",
    ));
    std::thread::sleep(Duration::from_millis(500));
    let idle = host.memory()?;
    rows.push(Row::new(
        format!("Host memory idle after first import, {} objects", k(n)),
        format!("VmRSS {}; peak (VmHWM, the import) {}", mib(idle.rss_mib()), mib(idle.hwm_mib())),
        "idle < 50 MB",
        Verdict::of(idle.rss_mib() < IDLE_TARGET_MIB),
        "`/proc/<pid>/status` of the host 0.5 s after its first answer; VmHWM is the peak so far, i.e. during the import",
    ));

    let cert = std::fs::read(dir.cert())?;
    let ep = endpoint(&dir)?;
    let mut c32_rate = None;
    for &c in &args.connections {
        progress(format!("{}: lookups, C={c}, {duration:?}", k(n)));
        let s = rt.block_on(load::run(&cert, &ep, lookup.clone(), c, duration))?;
        progress(format!(
            "  {} req/s p50 {} p99 {} errors {}",
            thousands(s.rate),
            ms(s.p50),
            ms(s.p99),
            s.errors
        ));
        if c == 32 {
            c32_rate = Some(s.rate);
        }
        rows.push(lookup_row(n, c, &s, ""));
        host.check_running()?;
    }
    progress(format!("{}: healthz baseline, C=32", k(n)));
    let h = rt.block_on(load::run(&cert, &ep, Request::Healthz, 32, duration))?;
    let share = c32_rate
        .map(|r| {
            format!(
                "; lookups at C=32 reach {:.0} % of this rate",
                100.0 * r / h.rate.max(1.0)
            )
        })
        .unwrap_or_default();
    rows.push(Row::new(
        format!("Baseline `GET /healthz`, {} objects, C=32", k(n)),
        format!("{} req/s; p50 {}; p99 {}{share}", thousands(h.rate), ms(h.p50), ms(h.p99)),
        "–",
        Verdict::NoTarget,
        "the same 32 keep-alive TLS connections asking the unauthenticated health check: the TLS + HTTP + router floor, so the difference to the lookup row is what the lookup itself costs (token check, filter parse, index lookup, JSON)",
    ));
    if args.wrk {
        wrk_points(&dir, &host, n, duration, rows)?;
    }
    if restart {
        progress(format!("{}: list pages, C=1, {duration:?}", k(n)));
        let l = rt.block_on(load::run(
            &cert,
            &ep,
            Request::ListPage { users: n },
            1,
            duration,
        ))?;
        rows.push(Row::new(
            format!("List page `startIndex=<random>&count=100`, {} objects, C=1", k(n)),
            format!("{} pages/s; p50 {}; p99 {}; {} errors", thousands(l.rate), ms(l.p50), ms(l.p99), l.errors),
            "< 10 ms, true totalResults",
            Verdict::of(l.ok > 0 && l.errors == 0 && l.p99 < LIST_TARGET),
            "sequential `GET /Users?startIndex=<random 1..n-99>&count=100` on one connection; counted only when `totalResults` equals the number of objects and the page holds 100 resources",
        ));
    }
    // After the list pages, which expect the space to hold the imported objects only.
    if args.write_throughs > 0
        && let Some(before) = c32_rate
    {
        after_write_throughs(
            rt,
            &dir,
            &mut host,
            n,
            args.write_throughs,
            duration,
            before,
            rows,
        )?;
    }
    let loaded = host.memory()?;
    rows.push(Row::new(
        format!("Host memory after the load, {} objects", k(n)),
        format!(
            "VmRSS {}; peak (VmHWM) {}",
            mib(loaded.rss_mib()),
            mib(loaded.hwm_mib())
        ),
        "< 150 MB under load (at 1M objects)",
        Verdict::of(loaded.hwm_mib() < LOAD_TARGET_MIB),
        "`/proc/<pid>/status` right after the last load point; the verdict uses the peak",
    ));

    if restart {
        progress(format!("{}: restart", k(n)));
        let stop = host.terminate(Duration::from_secs(15))?;
        let mut host2 = HostProcess::spawn(bin, &dir, &[])?;
        let again = rt.block_on(wait_ready(
            &mut host2,
            &dir,
            &lookup,
            Duration::from_millis(5),
            Duration::from_secs(60),
        ))?;
        progress(format!(
            "  SIGTERM→exit {stop:.2?}, spawn→first answer {again:.2?}"
        ));
        rows.push(Row::new(
            format!("Restart to first lookup answer, {} objects", k(n)),
            format!("{} (SIGTERM to exit before it: {})", ms(again), ms(stop)),
            "< 1 s (at 1M objects)",
            Verdict::of(again < RESTART_TARGET),
            "after the load above: SIGTERM, wait for exit, spawn the same binary on the same data directory, and poll a lookup of a random existing user every 5 ms until one answers 200 with one resource; no re-import happens",
        ));
        std::thread::sleep(Duration::from_millis(500));
        let idle2 = host2.memory()?;
        rows.push(Row::new(
            format!("Host memory idle after restart, {} objects", k(n)),
            format!(
                "VmRSS {}; VmHWM {}",
                mib(idle2.rss_mib()),
                mib(idle2.hwm_mib())
            ),
            "idle < 50 MB",
            Verdict::of(idle2.rss_mib() < IDLE_TARGET_MIB),
            "`/proc/<pid>/status` 0.5 s after the restarted host's first answer",
        ));
        if args.quiet_rerun && args.connections.contains(&32) {
            host2.terminate(Duration::from_secs(15))?;
            let mut quiet = HostProcess::spawn(bin, &dir, &[("RUST_LOG", "warn")])?;
            rt.block_on(wait_ready(
                &mut quiet,
                &dir,
                &lookup,
                Duration::from_millis(5),
                Duration::from_secs(60),
            ))?;
            progress(format!("{}: lookups, C=32, RUST_LOG=warn", k(n)));
            let s = rt.block_on(load::run(&cert, &ep, lookup.clone(), 32, duration))?;
            let mut row = lookup_row(n, 32, &s, ", RUST_LOG=warn");
            row.what = "as the C=32 lookup row, but the host runs with `RUST_LOG=warn`, so it writes no `answered` log line per request: the cost of the default per-request logging".into();
            rows.push(row);
            quiet.terminate(Duration::from_secs(15))?;
        } else {
            host2.terminate(Duration::from_secs(15))?;
        }
    } else {
        host.terminate(Duration::from_secs(15))?;
    }
    Ok(SizeResult {
        n,
        c32_rate,
        peak_after_import: idle,
    })
}

/// `count` users created through the SCIM endpoint (8 connections, each create a write-through
/// into the space), then the C=32 lookups of imported users again: the space grown by writes
/// rather than by a bulk import, its index pages split by random inserts.
#[allow(clippy::too_many_arguments, reason = "one bench point, called once")]
fn after_write_throughs(
    rt: &tokio::runtime::Runtime,
    dir: &HostDir,
    host: &mut HostProcess,
    n: u64,
    count: usize,
    duration: Duration,
    before: f64,
    rows: &mut Vec<Row>,
) -> Result<()> {
    progress(format!(
        "{}: {count} creates through SCIM, 8 connections",
        k(n)
    ));
    let pem = std::fs::read(dir.cert())?;
    let client = load::client(&pem)?;
    let url = format!("{}/Users", dir.scim_base());
    let auth = format!("Bearer {}", dir.token);
    let started = Instant::now();
    rt.block_on(async {
        let mut streams = tokio::task::JoinSet::new();
        for s in 0..8 {
            let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
            streams.spawn(async move {
                let post =
                    |i: usize| create_request(&client, &url, &auth, &format!("wt{i}")).send();
                load::timed_creates(post, (s..count).step_by(8).collect::<Vec<_>>()).await
            });
        }
        while let Some(done) = streams.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })?;
    let took = started.elapsed();
    host.check_running()?;
    let ep = endpoint(dir)?;
    progress(format!(
        "{}: lookups after the creates, C=32, {duration:?}",
        k(n)
    ));
    let s = rt.block_on(load::run(
        &pem,
        &ep,
        Request::Lookup { users: n },
        32,
        duration,
    ))?;
    rows.push(Row::new(
        format!("Lookup by UserName after {count} write-throughs, {} objects, C=32", k(n)),
        format!(
            "{} req/s; p50 {}; p99 {}; {} errors; {:.2}× the same lookups before the creates ({} creates/s over 8 connections)",
            thousands(s.rate),
            ms(s.p50),
            ms(s.p99),
            s.errors,
            s.rate / before.max(1.0),
            thousands(count as f64 / took.as_secs_f64()),
        ),
        "flat after 100k write-throughs",
        Verdict::NoTarget,
        "`POST /Users` of new users `wt<i>` on 8 keep-alive connections (each a staging-table insert, an intent and a write-through into the space), then the C=32 bench-client lookups of random imported users again on the same host",
    ));
    Ok(())
}

/// Lookups and `/healthz` at C=32 through wrk, one after the other on the same host.
fn wrk_points(
    dir: &HostDir,
    host: &HostProcess,
    n: u64,
    duration: Duration,
    rows: &mut Vec<Row>,
) -> Result<()> {
    if !wrk::available() {
        progress("wrk is not installed (apt-get install wrk): no wrk points");
        return Ok(());
    }
    let origin = dir.origin();
    let lookup = WrkLoad::Lookup {
        scim_base: dir.scim_base(),
        token: dir.token.clone(),
        users: n,
    };
    // The host's CPU per answer: what the lookup costs the host, whatever else runs.
    let cpu_per_answer = |run: &dyn Fn() -> Result<wrk::WrkResult>| -> Result<_> {
        let before = host.cpu_time()?;
        let r = run()?;
        let used = host.cpu_time()?.saturating_sub(before);
        Ok((r, used.as_secs_f64() * 1e6 / r.requests.max(1) as f64))
    };
    progress(format!("{}: wrk lookups, C=32, {duration:?}", k(n)));
    let (l, l_cpu) = cpu_per_answer(&|| Ok(wrk::run(&origin, &lookup, 32, duration)?))?;
    progress(format!("{}: wrk healthz, C=32, {duration:?}", k(n)));
    let (h, h_cpu) = cpu_per_answer(&|| Ok(wrk::run(&origin, &WrkLoad::Healthz, 32, duration)?))?;
    progress(format!(
        "  lookups {} req/s, {l_cpu:.1} us host CPU each; healthz {} req/s, {h_cpu:.1} us each",
        thousands(l.rate),
        thousands(h.rate)
    ));
    let share = 100.0 * l.rate / h.rate.max(1.0);
    let errors = l.non_2xx + l.socket_errors;
    rows.push(Row::new(
        format!("Lookup by UserName, {} objects, C=32, wrk", k(n)),
        format!(
            "{} req/s; p50 {}; p99 {}; {errors} errors; `/healthz` {} req/s (p99 {}): lookups reach {share:.0} % of it; host CPU per answer {l_cpu:.1} µs (lookup) and {h_cpu:.1} µs (`/healthz`): {:.0} %",
            thousands(l.rate),
            ms(l.p50),
            ms(l.p99),
            thousands(h.rate),
            ms(h.p99),
            100.0 * h_cpu / l_cpu.max(f64::MIN_POSITIVE),
        ),
        "≥ 30,000 req/s; ≥ 40 % of /healthz; p99 < 3 ms",
        Verdict::of(
            errors == 0 && l.rate >= 30_000.0 && share >= 40.0 && l.p99 < Duration::from_millis(3),
        ),
        "`wrk -t1 -c32 --latency` with a Lua script setting the bearer header and asking for a random existing `u<i>`, then `wrk -t1 -c32` on `/healthz`, one after the other on the same host; errors are non-2xx answers and socket errors; host CPU per answer = the host's user + system time over the point (`/proc/<pid>/stat`) divided by the answers, and its /healthz-to-lookup ratio is the share the host alone would reach if it had the cores to itself",
    ));
    Ok(())
}

/// The host side of the export comparison: one keep-alive HTTPS connection.
struct ExportClient {
    client: reqwest::Client,
    ep: Endpoint,
}

impl ExportClient {
    fn new(dir: &HostDir) -> Result<ExportClient> {
        let cert = std::fs::read(dir.cert())?;
        Ok(ExportClient {
            client: load::client(&cert)?,
            ep: endpoint(dir)?,
        })
    }

    /// `POST /Users` for each (employee id, user name), sequentially; returns the SCIM ids,
    /// the latencies and the wall time.
    async fn create(
        &self,
        users: &[(String, String)],
    ) -> Result<(Vec<String>, Vec<Duration>, Duration)> {
        let mut ids = Vec::with_capacity(users.len());
        let mut lat = Vec::with_capacity(users.len());
        let started = Instant::now();
        for (id, user) in users {
            let t = Instant::now();
            let r = self
                .client
                .post(format!("{}/Users", self.ep.scim_base))
                .header(
                    reqwest::header::AUTHORIZATION,
                    self.ep.authorization.clone(),
                )
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(create_body(id, user, user).to_string())
                .send()
                .await?;
            let status = r.status();
            let body: serde_json::Value = r.json().await?;
            if status != reqwest::StatusCode::CREATED {
                bail!("create of {user} answered {status}: {body}");
            }
            lat.push(t.elapsed());
            let scim_id = body
                .get("id")
                .and_then(|v| v.as_str())
                .with_context(|| format!("create answer without id: {body}"))?;
            ids.push(scim_id.to_owned());
        }
        Ok((ids, lat, started.elapsed()))
    }

    /// `GET /Users/{id}` for each SCIM id, sequentially (a keep-alive request of about a
    /// create's size that the host answers from the space, with no export): the latencies and
    /// the wall time.
    async fn get(&self, ids: &[String]) -> Result<(Vec<Duration>, Duration)> {
        self.each_user(
            ids,
            |url| self.client.get(url),
            |id, status, body| {
                let body: serde_json::Value = serde_json::from_slice(body)?;
                if status != reqwest::StatusCode::OK || body.get("id").is_none() {
                    bail!("GET of {id} answered {status}: {body}");
                }
                Ok(())
            },
        )
        .await
    }

    /// Entra's default disable PATCH for each SCIM id, sequentially; returns the latencies and
    /// the wall time.
    async fn disable(&self, ids: &[String]) -> Result<(Vec<Duration>, Duration)> {
        let body = disable_body().to_string();
        self.each_user(
            ids,
            |url| {
                self.client
                    .patch(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                    .body(body.clone())
            },
            |id, status, _| {
                if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::NO_CONTENT {
                    bail!("disable of {id} answered {status}");
                }
                Ok(())
            },
        )
        .await
    }

    /// `request(<users>/{id})` with the bearer header for each SCIM id, one after the other,
    /// each timed until its whole answer is read and passed to `check`: the latencies and the
    /// wall time.
    async fn each_user(
        &self,
        ids: &[String],
        request: impl Fn(String) -> reqwest::RequestBuilder,
        check: impl Fn(&str, reqwest::StatusCode, &[u8]) -> Result<()>,
    ) -> Result<(Vec<Duration>, Duration)> {
        let mut lat = Vec::with_capacity(ids.len());
        let started = Instant::now();
        for id in ids {
            let t = Instant::now();
            let r = request(format!("{}/Users/{id}", self.ep.scim_base))
                .header(
                    reqwest::header::AUTHORIZATION,
                    self.ep.authorization.clone(),
                )
                .send()
                .await?;
            let status = r.status();
            let body = r.bytes().await?;
            check(id, status, &body)?;
            lat.push(t.elapsed());
        }
        Ok((lat, started.elapsed()))
    }
}

/// The export overhead on the SQLite staging table: K sequential SCIM creates on one
/// connection against K direct inserts into a twin table of the same file, alternating.
fn sqlite_exports(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let kk = args.exports;
    progress(format!("exports: SQLite, K={kk}"));
    let dir = HostDir::create(&Target::Sqlite)?;
    fill_sqlite(&dir.staging_db(), 0)?;
    create_twin_sqlite(&dir.staging_db())?;
    let mut host = HostProcess::spawn(bin, &dir, &[])?;
    // An empty table: ready when a list answers 200.
    wait_until_listing(rt, &mut host, &dir, Duration::from_secs(60))?;
    let (users, warm) = export_rows(kk);
    let hc = ExportClient::new(&dir)?;
    rt.block_on(hc.create(&warm))
        .with_context(|| format!("log:\n{}", dir.log_tail(10)))?;
    for sync in [DirectSync::Normal, DirectSync::AsConnector] {
        direct_inserts_sqlite(&dir.staging_db(), &warm, sync)?;
    }
    let chunk = kk.div_ceil(EXPORT_CHUNKS).max(1);
    let (mut host_lat, mut host_wall, mut direct_lat, mut direct_wall) =
        (Vec::new(), Duration::ZERO, Vec::new(), Duration::ZERO);
    let (mut get_lat, mut get_wall, mut host_cpu) = (Vec::new(), Duration::ZERO, Duration::ZERO);
    let (mut full_lat, mut full_wall) = (Vec::new(), Duration::ZERO);
    for part in users.chunks(chunk) {
        let cpu = host.cpu_time()?;
        let (ids, lat, wall) = rt.block_on(hc.create(part))?;
        host_cpu += host.cpu_time()?.saturating_sub(cpu);
        host_lat.extend(lat);
        host_wall += wall;
        let (lat, wall) = direct_inserts_sqlite(&dir.staging_db(), part, DirectSync::Normal)?;
        direct_lat.extend(lat);
        direct_wall += wall;
        let (lat, wall) = direct_inserts_sqlite(&dir.staging_db(), part, DirectSync::AsConnector)?;
        full_lat.extend(lat);
        full_wall += wall;
        // The floor: the same connection, a request of the same size, no export.
        let (lat, wall) = rt.block_on(hc.get(&ids))?;
        get_lat.extend(lat);
        get_wall += wall;
    }
    host.terminate(Duration::from_secs(15))?;
    for table in [
        "Employees",
        DirectSync::Normal.table(),
        DirectSync::AsConnector.table(),
    ] {
        let n = count_sqlite(&dir.staging_db(), table)?;
        if n != kk as u64 + 20 {
            bail!("not every insert reached SQLite table {table}: {n} rows");
        }
    }
    let h = summarize(&mut host_lat, 0, host_wall);
    let d = summarize(&mut direct_lat, 0, direct_wall);
    let g = summarize(&mut get_lat, 0, get_wall);
    let f = summarize(&mut full_lat, 0, full_wall);
    let added = h.p50.saturating_sub(d.p50);
    // Signed: an fsync that waits for the disk can make the direct insert slower than the
    // whole create, whose connector commit did not wait at its median.
    let added_full = h.p50.as_micros() as i128 - f.p50.as_micros() as i128;
    let cpu_us = host_cpu.as_secs_f64() * 1e6 / kk.max(1) as f64;
    progress(format!(
        "  host p50 {} direct p50 {} (synchronous = FULL as the connector: {}) GET by id p50 {}; host CPU {cpu_us:.0} us per create",
        ms(h.p50),
        ms(d.p50),
        ms(f.p50),
        ms(g.p50)
    ));
    rows.push(Row::new(
        format!("Export: SCIM create → SQLite insert, K={kk}, C=1"),
        format!(
            "host {} creates/s (p50 {}, p99 {}); direct {} inserts/s (p50 {}); the host adds {} µs at p50; direct with `synchronous = FULL` as the connector commits p50 {}: the host adds {} µs over that; `GET /Users/{{id}}` on the same connection p50 {} (the HTTPS floor of a request with no export); host CPU {cpu_us:.0} µs per create",
            thousands(h.rate),
            ms(h.p50),
            ms(h.p99),
            thousands(d.rate),
            ms(d.p50),
            added.as_micros(),
            ms(f.p50),
            added_full,
            ms(g.p50)
        ),
        "the host adds ≤ 150 µs (p50)",
        Verdict::of(added <= Duration::from_micros(150)),
        "K sequential `POST /Users` on one keep-alive HTTPS connection to the host on the SQLite staging table, against the same K rows inserted by the bench process with rusqlite into a twin table of the same file (one prepared INSERT, autocommit, WAL as the connector sets it, `synchronous = NORMAL`), and into a third twin with SQLite's default `synchronous = FULL`, which the connector keeps (an fsync of the WAL per commit); alternating in 10 chunks; p50 of each side's per-request latency, the host's including HTTPS, TLS and the client; after each chunk the same client reads each created user back by id (the floor: TLS, HTTP, token check, JSON, no export); host CPU = the host's user + system time over the create chunks (`/proc/<pid>/stat`) divided by K",
    ));
    Ok(())
}

/// Waits until the host started at most `deadline` ago answers `GET /Users?count=1` with 200
/// (a host over an empty table has nothing to look up yet), failing early when it exits.
fn wait_until_listing(
    rt: &tokio::runtime::Runtime,
    host: &mut HostProcess,
    dir: &HostDir,
    deadline: Duration,
) -> Result<()> {
    rt.block_on(async {
        loop {
            if host.spawned.elapsed() > deadline {
                bail!("the host was not ready; log:\n{}", dir.log_tail(20));
            }
            host.check_running()
                .with_context(|| format!("log:\n{}", dir.log_tail(20)))?;
            if let Ok(pem) = std::fs::read(dir.cert()) {
                let c = load::client(&pem)?;
                let ep = endpoint(dir)?;
                let r = c
                    .get(format!("{}/Users?count=1", ep.scim_base))
                    .header(reqwest::header::AUTHORIZATION, ep.authorization.clone())
                    .send()
                    .await;
                if matches!(r, Ok(ref r) if r.status() == reqwest::StatusCode::OK) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Host and direct runs alternate in this many chunks, so a load spike on the shared machine
/// hits both sides alike.
const EXPORT_CHUNKS: usize = 10;

fn exports_for(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    server: Server,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let kk = args.exports;
    progress(format!(
        "exports: {} (fresh database), K={kk}",
        server.label()
    ));
    let db = BenchDb::create(server)
        .with_context(|| format!("while creating a database on {}", server.label()))?;
    db.execute(&server.create_table("Employees"))?;
    db.execute(&server.create_table("EmployeesDirect"))?;
    let dir = HostDir::create(&Target::Odbc(db.connection.clone()))?;
    let mut host = HostProcess::spawn(bin, &dir, &[])?;
    // An empty table: ready when a list answers 200 (with no result).
    wait_until_listing(rt, &mut host, &dir, Duration::from_secs(120))?;
    let (users, warm) = export_rows(kk);
    let hc = ExportClient::new(&dir)?;
    // Warm-up on both sides (connections, pools, prepared statements), not counted.
    rt.block_on(hc.create(&warm))
        .with_context(|| format!("log:\n{}", dir.log_tail(10)))?;
    db.direct_inserts("EmployeesDirect", &warm)?;
    let chunk = kk.div_ceil(EXPORT_CHUNKS).max(1);
    let (mut create_lat, mut create_wall, mut direct_insert) =
        (Vec::new(), Duration::ZERO, Duration::ZERO);
    let mut scim_ids = Vec::with_capacity(kk);
    for part in users.chunks(chunk) {
        let (ids, lat, wall) = rt.block_on(hc.create(part))?;
        scim_ids.extend(ids);
        create_lat.extend(lat);
        create_wall += wall;
        direct_insert += db.direct_inserts("EmployeesDirect", part)?;
    }
    let anchors: Vec<String> = users.iter().map(|(id, _)| id.clone()).collect();
    let (mut disable_lat, mut disable_wall, mut direct_disable) =
        (Vec::new(), Duration::ZERO, Duration::ZERO);
    for (ids, part) in scim_ids.chunks(chunk).zip(anchors.chunks(chunk)) {
        let (lat, wall) = rt.block_on(hc.disable(ids))?;
        disable_lat.extend(lat);
        disable_wall += wall;
        direct_disable += db.direct_disables("EmployeesDirect", part)?;
    }
    host.terminate(Duration::from_secs(15))?;
    for table in ["Employees", "EmployeesDirect"] {
        let created = db.count(table, false)?;
        let disabled = db.count(table, true)?;
        if created != kk as u64 + 20 || disabled != kk as u64 {
            bail!(
                "not every write reached {} table {table}: {created} rows, {disabled} disabled",
                server.label()
            );
        }
    }
    let c = summarize(&mut create_lat, 0, create_wall);
    let d = summarize(&mut disable_lat, 0, disable_wall);
    let create_ratio = create_wall.as_secs_f64() / direct_insert.as_secs_f64();
    let disable_ratio = disable_wall.as_secs_f64() / direct_disable.as_secs_f64();
    progress(format!(
        "  create ratio {create_ratio:.2}, disable ratio {disable_ratio:.2}"
    ));
    rows.push(Row::new(
        format!("Export: SCIM create → {} insert, K={kk}", server.label()),
        format!(
            "host {} creates/s (p50 {}, p99 {}); direct ODBC {} inserts/s; host/direct time {:.2}×",
            thousands(c.rate),
            ms(c.p50),
            ms(c.p99),
            thousands(kk as f64 / direct_insert.as_secs_f64()),
            create_ratio
        ),
        "host ≤ 1.25 × direct",
        Verdict::of(create_ratio <= EXPORT_TARGET_RATIO),
        format!(
            "K sequential `POST /Users` (ecma2host, 7 attributes + active) on one keep-alive HTTPS connection to the host configured with `{}` over ODBC, against the same K rows inserted by the bench process through odbc-api (one prepared 8-column INSERT, autocommit, sequential) into a twin table; host and direct alternate in 10 chunks so machine load hits both alike; 20 warm-up rows each side are not counted",
            server.label()
        ),
    ));
    rows.push(Row::new(
        format!("Export: SCIM disable (PATCH active False) → {} update, K={kk}", server.label()),
        format!(
            "host {} PATCH/s (p50 {}, p99 {}); direct ODBC {} updates/s; host/direct time {:.2}×",
            thousands(d.rate),
            ms(d.p50),
            ms(d.p99),
            thousands(kk as f64 / direct_disable.as_secs_f64()),
            disable_ratio
        ),
        "host ≤ 1.25 × direct",
        Verdict::of(disable_ratio <= EXPORT_TARGET_RATIO),
        "K sequential `PATCH /Users/<id>` with Entra's default `{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}` (→ `IsActive = false`), against K prepared single-row `UPDATE … SET IsActive = ? WHERE EmployeeId = ?` in autocommit",
    ));
    Ok(())
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn context(bin: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.to_string_lossy();
    let commit = command_output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = command_output("git", &["-C", &root, "status", "--porcelain"])
        .lines()
        .count();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let host_version = command_output(&bin.to_string_lossy(), &["--version"]);
    let profile = if cfg!(debug_assertions) {
        "debug (figures not meaningful)"
    } else {
        "release"
    };
    format!(
        "- Machine: {nproc} cores ({cpu}), {:.1} GiB RAM, kernel {}, load average at start {load}\n\
         - Commit: {commit} ({dirty} uncommitted paths in the working tree)\n\
         - Host: `{}` ({host_version}), built with `--release --features odbc` (the bench checks nothing about features; see the command); bench profile: {profile}\n\
         - Load generator: in the bench process on the same 2 cores (tokio, {} worker threads), reqwest 0.13 + rustls, HTTP/1.1 keep-alive, one client per connection\n\
         - Host log level: default (`info`, one `answered` line per request to a file) unless a row says otherwise",
        mem as f64 / 1024.0 / 1024.0,
        command_output("uname", &["-r"]),
        bin.display(),
        nproc,
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = host_binary()?;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let context = context(&bin);
    progress(format!("host binary {}", bin.display()));
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    for &n in &args.sizes {
        sizes.push(lookups_for_size(
            &rt,
            &args,
            &bin,
            n,
            n == largest,
            &mut rows,
        )?);
    }
    if let (Some(small), Some(big)) = (sizes.first(), sizes.last())
        && big.n > small.n
    {
        if let (Some(a), Some(b)) = (small.c32_rate, big.c32_rate) {
            let r = b / a;
            rows.push(Row::new(
                format!(
                    "Lookup rate flat from {} to {} objects (C=32)",
                    k(small.n),
                    k(big.n)
                ),
                format!(
                    "{}: {} req/s vs {}: {} req/s = {r:.2}×",
                    k(big.n),
                    thousands(b),
                    k(small.n),
                    thousands(a)
                ),
                "flat (read here: ≥ 0.8×) up to 1M",
                Verdict::of(r >= 0.8),
                "ratio of the two C=32 lookup rates above; 1M objects not measured in this run",
            ));
        }
        let (a, b) = (
            small.peak_after_import.hwm_mib(),
            big.peak_after_import.hwm_mib(),
        );
        rows.push(Row::new(
                format!("Import peak memory, {} vs {} objects", k(small.n), k(big.n)),
                format!("{} vs {} ({:.2}×)", mib(a), mib(b), b / a.max(0.001)),
                "independent of object count (read here: ≤ 1.25×)",
                Verdict::of(b <= 1.25 * a),
                "VmHWM of the host right after its first full import, for the smallest and the largest size",
            ));
    }
    if args.sqlite_exports {
        sqlite_exports(&rt, &args, &bin, &mut rows)?;
    }
    for db in args.databases.iter().filter(|d| !d.is_empty()) {
        let server = match db.as_str() {
            "postgres" | "postgresql" => Server::Postgres,
            "mariadb" | "mysql" => Server::MariaDb,
            other => bail!("unknown database {other:?}; use postgres or mariadb"),
        };
        if let Err(e) = exports_for(&rt, &args, &bin, server, &mut rows) {
            progress(format!(
                "export comparison on {} failed: {e:#}",
                server.label()
            ));
            rows.push(Row::new(
                format!("Export comparison on {}", server.label()),
                format!("not measured: {e}"),
                "host ≤ 1.25 × direct",
                Verdict::NotMet,
                "see the error; the run continued without it",
            ));
        }
    }
    println!(
        "### Context\n\n{context}\n- Whole run: {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    println!("### Figures\n\n{}", render(&rows));
    Ok(())
}
