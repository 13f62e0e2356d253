//! `script_bench` (issue #14): what a warm script worker buys, and what the host adds to it.
//!
//! One run, one trivial Python script (`bench/scripts/trivial.py`, which accepts every export
//! at once and times itself):
//!
//! 1. **warm worker**: exports through `connector-script`'s `ScriptConnector` (one persistent
//!    `python3` process, one request line and one answer line per export);
//! 2. **one process per operation**: for each export a fresh `python3` runs the same script,
//!    gets `hello` and the export, answers both and exits (what a host that starts the
//!    interpreter per call pays at least);
//! 3. **through the host**: `POST /Users` over TLS keep-alive to the release `connector-host`
//!    binary serving the same script (`kind = "script"`, ecma2host mode), one connection.
//!
//! It prints the rates, the ratio 1/2, and the latency the host adds over the script's own time
//! per export (p50 of 3 minus the script's mean own time) and over the direct connector call.
//!
//! `CARGO_TARGET_DIR=target/bench cargo build --release -p connector-host --no-default-features`
//! `CARGO_TARGET_DIR=target/bench cargo run --release -p bench --bin script_bench`

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::host::{free_port, host_binary, toml_string};
use bench::stats::{Summary, ms, summarize};
use clap::Parser;
use connector_core::{Attributes, Change, Connector, Deadline};
use connector_script::{ScriptConfig, ScriptConnector};

/// Warm script workers against one process per operation, and the host's added latency.
#[derive(Parser, Debug)]
struct Args {
    /// Exports through the warm worker (after 100 unmeasured ones).
    #[arg(long, default_value_t = 5000)]
    exports: usize,
    /// Exports with one process each.
    #[arg(long, default_value_t = 200)]
    spawns: usize,
    /// `POST /Users` through the host (after 100 unmeasured ones).
    #[arg(long, default_value_t = 3000)]
    posts: usize,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[script_bench] {}", msg.as_ref());
}

/// The real interpreter behind `python3` (not a shim such as pyenv's, which would add its own
/// start-up to every process of part 2).
fn python() -> Result<String> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("python3")?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/trivial.py")
}

fn add(anchor: &str) -> Change {
    let mut attributes = Attributes::new();
    attributes.insert("id".into(), vec![anchor.into()]);
    attributes.insert(
        "userName".into(),
        vec![format!("{anchor}@bench").as_str().into()],
    );
    Change::Add {
        object_type: "User".into(),
        anchor: Some(anchor.into()),
        dn: None,
        attributes,
    }
}

/// The script's own count of exports and nanoseconds spent on them, from `test`.
fn own_time(c: &ScriptConnector) -> Result<(u64, u64)> {
    let d = c
        .test_connection(Deadline::after(Duration::from_secs(10)))
        .map_err(|e| anyhow::anyhow!("test: {e}"))?;
    let field = |name: &str| -> Result<u64> {
        d.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in {d:?}"))
    };
    Ok((field("exports=")?, field("own_ns=")?))
}

/// Part 1: the warm worker. Returns the summary and the script's mean own time per export.
fn warm(exports: usize) -> Result<(Summary, Duration)> {
    let dir = tempfile::tempdir()?;
    let mut config = ScriptConfig::new(script()).with_interpreter(python()?);
    // One worker for the whole run, so that its own counters cover every export measured
    // (recycling every 1000 calls, the default, would reset them).
    config.max_operations = 0;
    let c = ScriptConnector::named("bench", config, dir.path())
        .map_err(|e| anyhow::anyhow!("starting the script: {e}"))?;
    for i in 0..100 {
        c.export(
            &add(&format!("w{i}")),
            Deadline::after(Duration::from_secs(10)),
        )
        .map_err(|e| anyhow::anyhow!("warm-up export: {e}"))?;
    }
    let (n0, ns0) = own_time(&c)?;
    let mut latencies = Vec::with_capacity(exports);
    let started = Instant::now();
    for i in 0..exports {
        let t = Instant::now();
        c.export(
            &add(&format!("u{i}")),
            Deadline::after(Duration::from_secs(10)),
        )
        .map_err(|e| anyhow::anyhow!("export: {e}"))?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    let (n1, ns1) = own_time(&c)?;
    if n1 < n0 + exports as u64 {
        bail!(
            "the script counted {} exports of {exports}",
            n1.saturating_sub(n0)
        );
    }
    let own = Duration::from_nanos(ns1.saturating_sub(ns0) / (n1 - n0));
    Ok((summarize(&mut latencies, 0, elapsed), own))
}

/// Part 2: one `python3` process per export.
fn per_process(spawns: usize) -> Result<Summary> {
    let dir = tempfile::tempdir()?;
    let hello = r#"{"id":1,"op":"hello","deadlineMs":30000,"protocol":1,"connector":"bench","config":{"parameters":{},"secrets":{}}}"#;
    let python = python()?;
    let mut latencies = Vec::with_capacity(spawns);
    let started = Instant::now();
    for i in 0..spawns {
        let t = Instant::now();
        let mut child = Command::new(&python)
            .arg(script())
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("python3")?;
        let export = serde_json::json!({"id": 2, "op": "export", "deadlineMs": 30000,
            "change": {"kind": "add", "objectType": "User", "anchor": format!("p{i}"), "dn": null,
                       "attributes": {"id": [format!("p{i}")], "userName": [format!("p{i}@bench")]}}});
        let mut stdin = child.stdin.take().context("stdin")?;
        writeln!(stdin, "{hello}\n{export}")?;
        drop(stdin);
        let stdout = child.stdout.take().context("stdout")?;
        let answers = BufReader::new(stdout).lines().count();
        if answers != 2 || !child.wait()?.success() {
            bail!("the per-process script answered {answers} lines");
        }
        latencies.push(t.elapsed());
    }
    Ok(summarize(&mut latencies, 0, started.elapsed()))
}

/// Part 3: `POST /Users` through the release host serving the same script.
async fn through_host(posts: usize) -> Result<Summary> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let token = "script-bench-token-0123456789abcdef";
    std::fs::write(dir.path().join("token"), token)?;
    std::fs::write(
        dir.path().join("ch.toml"),
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [[connector]]\nname = \"bench\"\nkind = \"script\"\nschema = \"ecma2host\"\n\
             token = {{ file = \"token\" }}\n[connector.script]\ninterpreter = {}\n\
             script = {}\n",
            toml_string(&python()?),
            toml_string(&script().to_string_lossy())
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
    let result = post_all(dir.path(), port, token, posts).await;
    let _ = host.kill();
    let _ = host.wait();
    result
}

async fn post_all(dir: &Path, port: u16, token: &str, posts: usize) -> Result<Summary> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let cert =
        bench::load::host_certificate(&dir.join("data/certs/connector-host.crt"), deadline).await?;
    let client = bench::load::client(&cert)?;
    let url = format!("https://127.0.0.1:{port}/ecma2host_bench/scim/Users");
    let ecma = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
    let post = |i: usize| {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            ecma: {"id": format!("h{i}"), "userName": format!("h{i}@bench")}
        });
        client
            .post(&url)
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    // Until the connector serves (503 while it starts), then 100 unmeasured creates.
    bench::load::warm_up(|i| post(posts + i), 100, deadline).await?;
    Ok(bench::load::timed_creates(post, 0..posts).await?)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() -> Result<()> {
    let args = Args::parse();
    progress(format!("{} exports through a warm worker", args.exports));
    let (warm, own) = warm(args.exports)?;
    progress(format!("{} exports with one process each", args.spawns));
    let cold = per_process(args.spawns)?;
    progress(format!("{} POST /Users through the host", args.posts));
    let host = tokio::runtime::Runtime::new()?.block_on(through_host(args.posts))?;

    let row = |what: &str, s: &Summary| {
        format!(
            "| {what} | {} | {:.0} | {} | {} |",
            s.ok,
            s.rate,
            ms(s.p50),
            ms(s.p99)
        )
    };
    println!("| Exports of the trivial Python script | n | per second | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    println!("{}", row("warm worker (`ScriptConnector::export`)", &warm));
    println!("{}", row("one `python3` process per export", &cold));
    println!(
        "{}",
        row(
            "`POST /Users` through the host (TLS keep-alive, 1 connection)",
            &host
        )
    );
    println!();
    println!(
        "- warm worker / one process per export: **{:.1}×** the exports per second",
        warm.rate / cold.rate
    );
    println!(
        "- the script's own time per export (mean, measured inside it): {}",
        us(own)
    );
    println!(
        "- the connector's added latency (p50 of the direct call − the script's own time): {}",
        us(warm.p50.saturating_sub(own))
    );
    println!(
        "- the host's added latency (p50 of `POST /Users` − the script's own time): {}; over the direct connector call: {}",
        us(host.p50.saturating_sub(own)),
        us(host.p50.saturating_sub(warm.p50))
    );
    Ok(())
}
