//! `mim_bench` (issue #15): the MIM Service connector against the simulated Lithnet REST API.
//!
//! One run:
//!
//! 1. **import**: a simulator process seeded with 10,000 and then 100,000 Persons; for each, a
//!    fresh process runs one full import through `MimServiceConnector` (page size 200, the
//!    default) and reports its rate and its peak RSS (`VmHWM`), and the same pages are read
//!    with plain `reqwest` (the simulator's own floor for paging);
//! 2. **export**: creates of a Person against an empty simulator, one at a time: raw
//!    `POST v2/resources/` with `reqwest` (the floor), `MimServiceConnector::export` (one POST
//!    each; then with `matching_attribute`, a lookup and a POST), and `POST /Users` through the
//!    release `connector-host` (ecma2host mode, TLS keep-alive, one connection).
//!
//! The simulator always runs in a process of its own, so no figure includes its memory, and the
//! importing process starts fresh for each count, so its peak RSS is the import's.
//!
//! `CARGO_TARGET_DIR=target/bench cargo build --release -p connector-host --no-default-features`
//! `CARGO_TARGET_DIR=target/bench cargo build --release -p bench --bin mim_bench`
//! `target/bench/release/mim_bench`

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::host::{free_port, host_binary};
use bench::stats::{Summary, ms, summarize};
use clap::Parser;
use connector_core::{Attributes, Change, Connector, Deadline, ImportItem};
use connector_mimservice::{MimServiceConfig, MimServiceConnector, ObjectConfig};
use mimservice_sim::SimOptions;
use serde_json::{Value, json};

const USER: &str = "svc-connector";
const PASSWORD: &str = "sim-password";
const ATTRIBUTES: &[&str] = &["AccountName", "DisplayName", "FirstName", "LastName"];

/// Import rate and memory at two sizes, export rates against the simulator's floor.
#[derive(Parser, Debug)]
struct Args {
    /// Object counts imported, each in a fresh process.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
    objects: Vec<usize>,
    /// Creates per export variant (after 50 unmeasured ones).
    #[arg(long, default_value_t = 2000)]
    exports: usize,
    /// Internal: run the simulator with this many Persons and print its URL.
    #[arg(long, hide = true)]
    serve_sim: Option<usize>,
    /// Internal: run one full import from the simulator at this URL and print the figures.
    #[arg(long, hide = true)]
    import_from: Option<String>,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[mim_bench] {}", msg.as_ref());
}

fn person(i: usize) -> Value {
    json!({"AccountName": format!("user{i}"), "DisplayName": format!("User {i}"),
           "FirstName": "Bench", "LastName": format!("Person {i}")})
}

/// `--serve-sim N`: the simulator with N Persons, until killed.
fn serve_sim(objects: usize) -> Result<()> {
    let sim = mimservice_sim::serve("127.0.0.1:0".parse()?, SimOptions::default())?;
    let mut seeded = 0;
    while seeded < objects {
        let n = (objects - seeded).min(10_000);
        sim.seed("Person", (seeded..seeded + n).map(person).collect())
            .map_err(|e| anyhow::anyhow!("seed: {e:?}"))?;
        seeded += n;
    }
    println!("READY {}", sim.base_url());
    loop {
        std::thread::park();
    }
}

/// A simulator process and its base URL; killed on drop.
struct SimProcess {
    child: Child,
    url: String,
}

impl SimProcess {
    fn start(objects: usize) -> Result<SimProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve-sim", &objects.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("the simulator process")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .strip_prefix("READY ")
            .map(|u| u.trim().to_owned())
            .with_context(|| format!("the simulator said {line:?}"))?;
        Ok(SimProcess { child, url })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(url: &str, matching: bool) -> MimServiceConfig {
    let mut person = ObjectConfig::new("Person");
    person.attributes = ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect();
    if matching {
        person.matching_attribute = Some("AccountName".into());
    }
    let mut c = MimServiceConfig::new(url, USER, PASSWORD, vec![person]);
    c.allow_plain_http = true;
    c
}

fn kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}

/// `--import-from URL`: one full import; prints `objects= secs= before_kib= peak_kib=`.
fn import_from(url: &str) -> Result<()> {
    let before = kib("VmRSS:")?;
    let c = MimServiceConnector::new(config(url, false), Path::new("."))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let deadline = || Deadline::after(Duration::from_secs(600));
    // The schema is read once per connector, not per import: not part of the rate.
    c.schema(deadline()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut stream = c
        .full_import("Person", 200, deadline())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut objects = 0u64;
    while let Some(page) = stream
        .next_page(deadline())
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        objects += page
            .iter()
            .filter(|i| matches!(i, ImportItem::Upsert(_)))
            .count() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "objects={objects} secs={secs} before_kib={before} peak_kib={}",
        kib("VmHWM:")?
    );
    Ok(())
}

struct Import {
    objects: usize,
    rate: f64,
    before_kib: u64,
    peak_kib: u64,
    floor_rate: f64,
}

fn field(line: &str, name: &str) -> Result<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {name} in {line:?}"))
}

fn basic_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// The simulator's floor for paging: the same search, page by page, with plain reqwest.
async fn raw_paging(url: &str) -> Result<(usize, f64)> {
    let client = basic_client()?;
    let started = Instant::now();
    let mut next = Some(format!(
        "{url}v2/resources/?filter=%2FPerson&pageSize=200&attributes={}",
        ATTRIBUTES.join(",")
    ));
    let mut objects = 0;
    while let Some(u) = next.take() {
        let page: Value = client
            .get(&u)
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let n = page
            .get("Results")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        objects += n;
        if n > 0 {
            next = page
                .get("NextPage")
                .and_then(Value::as_str)
                .map(|p| reqwest::Url::parse(url).and_then(|b| b.join(p)))
                .transpose()?
                .map(String::from);
        }
    }
    Ok((objects, objects as f64 / started.elapsed().as_secs_f64()))
}

fn import(objects: usize, rt: &tokio::runtime::Runtime) -> Result<Import> {
    progress(format!("seeding a simulator with {objects} Persons"));
    let sim = SimProcess::start(objects)?;
    progress("full import through the connector, in a fresh process");
    let out = Command::new(std::env::current_exe()?)
        .args(["--import-from", &sim.url])
        .stderr(Stdio::inherit())
        .output()?;
    let line = String::from_utf8(out.stdout)?;
    if !out.status.success() {
        bail!("the import failed: {line}");
    }
    // The simulator's own accounts are Persons too.
    let imported = field(&line, "objects=")? as usize;
    if imported < objects {
        bail!("imported {imported} of {objects}");
    }
    progress("the same pages with plain reqwest");
    let (raw, floor_rate) = rt.block_on(raw_paging(&sim.url))?;
    if raw != imported {
        bail!("raw paging read {raw}, the import {imported}");
    }
    Ok(Import {
        objects: imported,
        rate: imported as f64 / field(&line, "secs=")?,
        before_kib: field(&line, "before_kib=")? as u64,
        peak_kib: field(&line, "peak_kib=")? as u64,
        floor_rate,
    })
}

/// Raw `POST v2/resources/` of Persons `from..from+n`, the connector's body and headers;
/// with `lookup`, each first searched by AccountName as `matching_attribute` does.
async fn raw_creates(url: &str, lookup: bool, from: usize, n: usize) -> Result<Vec<Duration>> {
    let client = basic_client()?;
    let mut latencies = Vec::with_capacity(n);
    for i in from..from + n {
        let mut body = person(i);
        if let Value::Object(map) = &mut body {
            map.insert("ObjectType".into(), json!("Person"));
        }
        let t = Instant::now();
        if lookup {
            let filter = format!("/Person[AccountName = 'user{i}']");
            let search = reqwest::Url::parse_with_params(
                &format!("{url}v2/resources/"),
                [
                    ("filter", filter.as_str()),
                    ("pageSize", "2"),
                    ("attributes", "ObjectID"),
                ],
            )?;
            let r = client
                .get(search)
                .basic_auth(USER, Some(PASSWORD))
                .send()
                .await?;
            if r.status().as_u16() != 200 {
                bail!("raw lookup {i}: {}", r.status());
            }
            r.bytes().await?;
        }
        let r = client
            .post(format!("{url}v2/resources/"))
            .basic_auth(USER, Some(PASSWORD))
            .header("Prefer", "return=minimal")
            .json(&body)
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("raw create {i}: {}", r.status());
        }
        r.bytes().await?;
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

fn attributes(i: usize) -> Attributes {
    let mut a = Attributes::new();
    if let Value::Object(map) = person(i) {
        for (k, v) in map {
            a.insert(k, vec![v.as_str().unwrap_or_default().into()]);
        }
    }
    a
}

/// Creates through `MimServiceConnector::export`.
fn connector_creates(url: &str, matching: bool, from: usize, n: usize) -> Result<Vec<Duration>> {
    let c = MimServiceConnector::new(config(url, matching), Path::new("."))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut latencies = Vec::with_capacity(n);
    for i in from..from + n {
        let change = Change::Add {
            object_type: "Person".into(),
            anchor: None,
            dn: None,
            attributes: attributes(i),
        };
        let t = Instant::now();
        c.export(&change, Deadline::after(Duration::from_secs(30)))
            .map_err(|e| anyhow::anyhow!("export {i}: {e}"))?;
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

/// Measures `n` creates after 50 unmeasured ones, with accounts from `from` on.
fn measured(
    n: usize,
    from: usize,
    mut run: impl FnMut(usize, usize) -> Result<Vec<Duration>>,
) -> Result<Summary> {
    run(from, 50)?;
    let started = Instant::now();
    let mut latencies = run(from + 50, n)?;
    Ok(summarize(&mut latencies, 0, started.elapsed()))
}

/// `POST /Users` through the release host in front of the simulator.
async fn through_host(sim_url: &str, from: usize, n: usize) -> Result<Summary> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let token = "mim-bench-token-0123456789abcdef";
    std::fs::write(dir.path().join("token"), token)?;
    std::fs::write(
        dir.path().join("ch.toml"),
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [[connector]]\nname = \"bench\"\nkind = \"mimservice\"\nschema = \"ecma2host\"\n\
             token = {{ file = \"token\" }}\nfull_import_every = \"2h\"\n\
             [connector.users]\nobject_type = \"Person\"\n\
             [connector.mimservice]\nbase_url = \"{sim_url}\"\nusername = \"{USER}\"\n\
             password = \"{PASSWORD}\"\nallow_plain_http = true\n\
             [[connector.mimservice.object]]\ntype = \"Person\"\nattributes = {:?}\n",
            ATTRIBUTES
        ),
    )?;
    let log = std::fs::File::create(dir.path().join("host.log"))?;
    let mut host = Command::new(host_binary()?)
        .args(["--config", "ch.toml", "serve"])
        .current_dir(dir.path())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("connector-host")?;
    let result = post_all(dir.path(), port, token, from, n).await;
    let _ = host.kill();
    let _ = host.wait();
    result
}

async fn post_all(dir: &Path, port: u16, token: &str, from: usize, n: usize) -> Result<Summary> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let cert =
        bench::load::host_certificate(&dir.join("data/certs/connector-host.crt"), deadline).await?;
    let client = bench::load::client(&cert)?;
    let url = format!("https://127.0.0.1:{port}/ecma2host_bench/scim/Users");
    let ecma = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
    let post = |i: usize| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ecma],
            ecma: person(i),
        });
        client
            .post(&url)
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    // Until the connector serves (503 while it starts), then 50 unmeasured creates.
    bench::load::warm_up(|i| post(from + i), 50, deadline).await?;
    Ok(bench::load::timed_creates(post, from + 50..from + 50 + n).await?)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.serve_sim {
        return serve_sim(n);
    }
    if let Some(url) = &args.import_from {
        return import_from(url);
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut imports = Vec::new();
    for &n in &args.objects {
        imports.push(import(n, &rt)?);
    }

    progress("exports against an empty simulator");
    let sim = SimProcess::start(0)?;
    let n = args.exports;
    let block = 100_000_000;
    // The floor on a runtime of its own thread, like the connector's calls: no hand-over
    // between threads per request.
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let raw = measured(n, block, |from, k| {
        local.block_on(raw_creates(&sim.url, false, from, k))
    })?;
    let direct = measured(n, 2 * block, |from, k| {
        connector_creates(&sim.url, false, from, k)
    })?;
    // Right before the connector's lookups, on (almost) the same number of objects.
    let raw_lookup = measured(n, 5 * block, |from, k| {
        local.block_on(raw_creates(&sim.url, true, from, k))
    })?;
    let matched = measured(n, 3 * block, |from, k| {
        connector_creates(&sim.url, true, from, k)
    })?;
    progress("exports through the release host");
    let host = rt.block_on(through_host(&sim.url, 4 * block, n))?;

    println!(
        "| Full import of Person (page size 200) | objects | per second | raw paging floor | peak RSS (before) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for i in &imports {
        println!(
            "| `MimServiceConnector::full_import` | {} | {:.0} | {:.0} | {} ({}) |",
            i.objects,
            i.rate,
            i.floor_rate,
            mib(i.peak_kib),
            mib(i.before_kib)
        );
    }
    println!();
    let row = |what: &str, s: &Summary| {
        format!(
            "| {what} | {} | {:.0} | {} | {} |",
            s.ok,
            s.rate,
            ms(s.p50),
            ms(s.p99)
        )
    };
    println!("| Creates of a Person, one at a time | n | per second | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "{}",
        row("raw `POST v2/resources/` with reqwest (the floor)", &raw)
    );
    println!(
        "{}",
        row("`MimServiceConnector::export` (one POST)", &direct)
    );
    println!(
        "{}",
        row(
            "raw lookup by AccountName + `POST` with reqwest (the floor)",
            &raw_lookup
        )
    );
    println!(
        "{}",
        row(
            "`MimServiceConnector::export` with `matching_attribute` (lookup + POST)",
            &matched
        )
    );
    println!(
        "{}",
        row(
            "`POST /Users` through the host (TLS keep-alive, 1 connection)",
            &host
        )
    );
    println!();
    println!(
        "- connector / floor: **{:.2}×** the creates per second (with lookup: **{:.2}×**); host / floor: **{:.2}×**",
        direct.rate / raw.rate,
        matched.rate / raw_lookup.rate,
        host.rate / raw.rate
    );
    if let (Some(a), Some(b)) = (imports.first(), imports.last()) {
        println!(
            "- import peak RSS {} at {} objects, {} at {}: ×{:.2} for ×{:.0} the objects; import rate / raw paging floor: {:.2} and {:.2}",
            mib(a.peak_kib),
            a.objects,
            mib(b.peak_kib),
            b.objects,
            b.peak_kib as f64 / a.peak_kib as f64,
            b.objects as f64 / a.objects as f64,
            a.rate / a.floor_rate,
            b.rate / b.floor_rate
        );
    }
    Ok(())
}
