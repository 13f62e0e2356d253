//! `ldap_bench` (issue #13): the LDAP connector against raw `ldap3` on the same private slapd.
//!
//! One slapd (testkit's: OpenLDAP with syncprov), loaded offline with `--entries` users, then:
//!
//! 1. **full import**: every user read by `LdapConnector::full_import` (pages of 500) against a
//!    raw `ldap3` paged search (pages of 500, entries decoded) of the same entries, after one
//!    unmeasured raw pass that warms slapd's caches; rate, and the peak resident memory
//!    (`VmHWM`) of a process that does only that import (this binary, run again);
//! 2. **adds**: `POST /Users` (ecma2host) through the release `connector-host` binary in front of
//!    the same slapd, at 1 and 8 keep-alive TLS connections, against raw `ldap3` adds of the
//!    same entries at 1 and 8 LDAP connections;
//! 3. **delta**: `--changes` direct changes through `ldap3` (nine in ten modify a user, one in
//!    ten deletes one), then the time of one RFC 4533 delta import from the watermark of part 1;
//! 4. **a large group**: a `groupOfNames` of `--members` members created through the connector
//!    (and raw, for the ratio), one member added through the connector, and the group type
//!    listed without members (`exclude = ["member"]`) and with them.
//!
//! `CARGO_TARGET_DIR=target/bench cargo build --release -p connector-host --no-default-features`
//! `CARGO_TARGET_DIR=target/bench cargo run --release -p bench --bin ldap_bench`

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::host::{Memory, free_port, host_binary, toml_string};
use clap::Parser;
use connector_core::{
    AttrValue, AttributeChange, Attributes, Change, Connector, Deadline, ImportItem,
};
use connector_ldap::{DeltaMode, LdapConfig, LdapConnector, ObjectConfig};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use testkit::{Slapd, SlapdOptions};

const PEOPLE: &str = "ou=people,dc=example,dc=com";
const GROUPS: &str = "ou=groups,dc=example,dc=com";
const RAW: &str = "ou=raw,dc=example,dc=com";
const SCIM: &str = "ou=scim,dc=example,dc=com";
/// testkit's slapd root DN and password.
const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
const ADMIN_PASSWORD: &str = "adminpw";
const ECMA: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The LDAP connector against raw ldap3 on one private slapd.
#[derive(Parser, Debug)]
struct Args {
    /// Users loaded for the full import.
    #[arg(long, default_value_t = 100_000)]
    entries: usize,
    /// Adds per measurement (raw and through the host, at 1 and 8 connections).
    #[arg(long, default_value_t = 2000)]
    adds: usize,
    /// Direct changes before the delta import.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Members of the large group.
    #[arg(long, default_value_t = 50_000)]
    members: usize,
    /// Skip `POST /Users` through the host (a quick check without a release build).
    #[arg(long)]
    no_host: bool,
    /// slapd with `dbnosync`: writes are not flushed to disk before the answer, so the adds
    /// measure the software on both sides rather than the disk's flush time.
    #[arg(long)]
    nosync: bool,
    /// Internal: run one full import (`raw` or `connector`) of `--url` in this process and print
    /// `entries nanoseconds peak_kib` (each import is measured in a process of its own, so that
    /// its peak memory is its own).
    #[arg(long, hide = true)]
    measure_import: Option<String>,
    /// Internal: the slapd of `--measure-import`.
    #[arg(long, hide = true)]
    url: Option<String>,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[ldap_bench] {}", msg.as_ref());
}

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(600))
}

fn user_dn(i: usize) -> String {
    format!("uid=p{i},{PEOPLE}")
}

fn ldif(entries: usize) -> String {
    let mut s = String::with_capacity(entries * 200);
    for ou in ["raw", "scim"] {
        s.push_str(&format!(
            "dn: ou={ou},dc=example,dc=com\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        ));
    }
    for i in 0..entries {
        s.push_str(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: Person {i}\nsn: P{i}\n\
             mail: p{i}@example.com\ntitle: Engineer\nemployeeNumber: {i}\n\n",
            user_dn(i)
        ));
    }
    s
}

/// This process's memory.
fn memory() -> Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Memory::parse(&status).context("no VmRSS/VmHWM")
}

fn connector(slapd: &Slapd, tweak: impl FnOnce(&mut LdapConfig)) -> Result<LdapConnector> {
    connector_at(&slapd.url(), tweak)
}

fn connector_at(url: &str, tweak: impl FnOnce(&mut LdapConfig)) -> Result<LdapConnector> {
    let mut group = ObjectConfig::new("Group", &["groupOfNames"], GROUPS, "cn");
    group.references.insert("member".into(), "User".into());
    let mut c = LdapConfig::new(
        vec![url.to_owned()],
        vec![
            ObjectConfig::new("User", &["inetOrgPerson"], PEOPLE, "uid"),
            group,
        ],
    )
    .with_simple_bind(ADMIN_DN, ADMIN_PASSWORD);
    c.delta = DeltaMode::Sync;
    tweak(&mut c);
    LdapConnector::new(c, Path::new(".")).map_err(|e| anyhow::anyhow!("connector: {e}"))
}

async fn bind(slapd: &Slapd) -> Result<ldap3::Ldap> {
    let (conn, mut ldap) = LdapConnAsync::new(&slapd.url()).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(slapd.admin_dn(), slapd.admin_password())
        .await?
        .success()?;
    Ok(ldap)
}

struct Measured {
    n: usize,
    elapsed: Duration,
    peak_mib: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }
}

fn raw_import(url: &str) -> Result<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (conn, mut ldap) = LdapConnAsync::new(url).await?;
        ldap3::drive!(conn);
        ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await?
            .success()?;
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(500)),
        ];
        let mut stream = ldap
            .streaming_search_with(
                adapters,
                PEOPLE,
                Scope::Subtree,
                "(objectClass=inetOrgPerson)",
                vec!["*", "entryUUID"],
            )
            .await?;
        let mut n = 0usize;
        while let Some(entry) = stream.next().await? {
            let e = SearchEntry::construct(entry);
            n += usize::from(!e.dn.is_empty());
        }
        stream.finish().await.success()?;
        anyhow::Ok(n)
    })
}

/// Child mode: one import, measured, printed.
fn measure_import(kind: &str, url: &str) -> Result<()> {
    let started = Instant::now();
    let n = match kind {
        "raw" => raw_import(url)?,
        "connector" => connector_import(&connector_at(url, |_| {})?)?.0,
        other => bail!("--measure-import {other}: raw or connector"),
    };
    let elapsed = started.elapsed();
    let mem = memory()?;
    println!("{n} {} {}", elapsed.as_nanos(), mem.hwm_kib);
    Ok(())
}

/// Runs [`measure_import`] in a child process.
fn import_in_child(kind: &str, url: &str) -> Result<Measured> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--measure-import", kind, "--url", url])
        .output()?;
    if !out.status.success() {
        bail!("{kind} import: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let f: Vec<u128> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [n, ns, kib] = f[..] else {
        bail!("{kind} import printed {text:?}");
    };
    Ok(Measured {
        n: usize::try_from(n)?,
        elapsed: Duration::from_nanos(u64::try_from(ns)?),
        peak_mib: kib as f64 / 1024.0,
    })
}

fn connector_import(c: &LdapConnector) -> Result<(usize, connector_core::Watermark)> {
    let mut stream = c
        .full_import("User", 500, soon())
        .map_err(|e| anyhow::anyhow!("full import: {e}"))?;
    let mut n = 0;
    while let Some(page) = stream
        .next_page(soon())
        .map_err(|e| anyhow::anyhow!("page: {e}"))?
    {
        n += page.len();
    }
    let watermark = stream.watermark().context("no watermark")?;
    Ok((n, watermark))
}

/// `total` raw adds under `ou=raw` over `conns` connections; adds per second.
fn raw_adds(slapd: &Slapd, conns: usize, total: usize, tag: &str) -> Result<f64> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut ldaps = Vec::new();
        for _ in 0..conns {
            ldaps.push(bind(slapd).await?);
        }
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (c, mut ldap) in ldaps.into_iter().enumerate() {
            let tag = tag.to_owned();
            let per = total / conns;
            tasks.spawn(async move {
                for i in 0..per {
                    let uid = format!("{tag}-{c}-{i}");
                    let set = |v: &str| HashSet::from([v.to_owned()]);
                    ldap.add(
                        &format!("uid={uid},{RAW}"),
                        vec![
                            ("objectClass".to_owned(), set("inetOrgPerson")),
                            ("uid".to_owned(), set(&uid)),
                            ("cn".to_owned(), set(&format!("{uid} Raw"))),
                            ("sn".to_owned(), set("Raw")),
                        ],
                    )
                    .await?
                    .success()?;
                }
                anyhow::Ok(per)
            });
        }
        let mut n = 0;
        while let Some(done) = tasks.join_next().await {
            n += done??;
        }
        Ok(n as f64 / started.elapsed().as_secs_f64())
    })
}

/// The release host in front of `slapd`, users under `ou=scim`.
fn start_host(slapd: &Slapd, dir: &Path, port: u16, token: &str) -> Result<Child> {
    std::fs::write(dir.join("token"), token)?;
    std::fs::write(
        dir.join("ch.toml"),
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
             [[connector]]\nname = \"dir\"\nkind = \"ldap\"\nschema = \"ecma2host\"\n\
             token = {{ file = \"token\" }}\n[connector.ldap]\nservers = [{}]\n\
             bind_dn = {}\nbind_password = {}\npool_size = 8\n\
             [[connector.ldap.object]]\ntype = \"User\"\nobject_classes = [\"inetOrgPerson\"]\n\
             base = \"{SCIM}\"\nrdn_attribute = \"uid\"\n",
            toml_string(&slapd.url()),
            toml_string(slapd.admin_dn()),
            toml_string(slapd.admin_password()),
        ),
    )?;
    let log = std::fs::File::create(dir.join("host.log"))?;
    Command::new(host_binary()?)
        .args(["--config", "ch.toml", "serve"])
        .current_dir(dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .env_remove("RUST_LOG")
        .spawn()
        .context("connector-host")
}

fn post_body(uid: &str) -> String {
    serde_json::json!({
        "schemas": [CORE, ECMA],
        ECMA: {"uid": uid, "cn": format!("{uid} Scim"), "sn": "Scim"}
    })
    .to_string()
}

/// `total` `POST /Users` over `conns` connections; creates per second.
async fn posts(
    cert: &[u8],
    url: &str,
    token: &str,
    conns: usize,
    total: usize,
    tag: &str,
) -> Result<f64> {
    let mut clients = Vec::new();
    for _ in 0..conns {
        let client = bench::load::client(cert)?;
        client
            .get(url.replace("/ecma2host_dir/scim/Users", "/healthz"))
            .send()
            .await?;
        clients.push(client);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (c, client) in clients.into_iter().enumerate() {
        let (url, token, tag) = (url.to_owned(), token.to_owned(), tag.to_owned());
        let per = total / conns;
        tasks.spawn(async move {
            for i in 0..per {
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Content-Type", "application/scim+json")
                    .body(post_body(&format!("{tag}-{c}-{i}")))
                    .send()
                    .await?;
                if r.status().as_u16() != 201 {
                    bail!("POST {tag}-{c}-{i}: {} {}", r.status(), r.text().await?);
                }
                r.bytes().await?;
            }
            anyhow::Ok(per)
        });
    }
    let mut n = 0;
    while let Some(done) = tasks.join_next().await {
        n += done??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Rates of `POST /Users` through the host at 1 and 8 connections.
fn through_host(slapd: &Slapd, adds: usize) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let token = "ldap-bench-token-0123456789abcdef";
    let mut host = start_host(slapd, dir.path(), port, token)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let cert_path = dir.path().join("data/certs/connector-host.crt");
        let deadline = Instant::now() + Duration::from_secs(60);
        let cert = bench::load::host_certificate(&cert_path, deadline).await?;
        let url = format!("https://127.0.0.1:{port}/ecma2host_dir/scim/Users");
        // Until the connector serves, then 100 unmeasured creates.
        let client = bench::load::client(&cert)?;
        let post = |warm: usize| {
            client
                .post(&url)
                .bearer_auth(token)
                .header("Content-Type", "application/scim+json")
                .body(post_body(&format!("warm-{warm}")))
                .send()
        };
        bench::load::warm_up(post, 100, deadline).await?;
        let one = posts(&cert, &url, token, 1, adds, "h1").await?;
        let eight = posts(&cert, &url, token, 8, adds, "h8").await?;
        anyhow::Ok((one, eight))
    });
    let _ = host.kill();
    let _ = host.wait();
    if result.is_err() {
        let log = std::fs::read_to_string(dir.path().join("host.log")).unwrap_or_default();
        eprintln!(
            "{}",
            log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    result
}

/// `changes` direct changes to the loaded users: nine in ten modify, one in ten delete.
fn direct_changes(slapd: &Slapd, changes: usize) -> Result<(usize, usize)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut ldap = bind(slapd).await?;
        let (mut modified, mut deleted) = (0, 0);
        for i in 0..changes {
            let dn = user_dn(i * 7);
            if i % 10 == 9 {
                ldap.delete(&dn).await?.success()?;
                deleted += 1;
            } else {
                let title = HashSet::from([format!("Changed {i}")]);
                ldap.modify(&dn, vec![ldap3::Mod::Replace("title".to_owned(), title)])
                    .await?
                    .success()?;
                modified += 1;
            }
        }
        anyhow::Ok((modified, deleted))
    })
}

fn delta(
    c: &LdapConnector,
    watermark: &connector_core::Watermark,
) -> Result<(Duration, usize, usize)> {
    let started = Instant::now();
    let mut stream = c
        .delta_import("User", watermark, 500, soon())
        .map_err(|e| anyhow::anyhow!("delta: {e}"))?;
    let (mut upserts, mut deletes) = (0, 0);
    while let Some(page) = stream
        .next_page(soon())
        .map_err(|e| anyhow::anyhow!("delta page: {e}"))?
    {
        for item in page {
            match item {
                ImportItem::Upsert(_) => upserts += 1,
                ImportItem::Delete { .. } => deletes += 1,
            }
        }
    }
    Ok((started.elapsed(), upserts, deletes))
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let t = Instant::now();
    let v = f()?;
    Ok((t.elapsed(), v))
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(kind) = &args.measure_import {
        return measure_import(kind, args.url.as_deref().context("--url")?);
    }
    progress(format!("slapadd of {} users", args.entries));
    let (load_time, slapd) = timed(|| {
        Slapd::try_start_with_options(&SlapdOptions {
            ldif: ldif(args.entries),
            database_config: if args.nosync {
                "dbnosync\n".into()
            } else {
                String::new()
            },
            ..SlapdOptions::default()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    progress(format!("loaded in {}", secs(load_time)));

    progress("full import: raw ldap3 paged search, once to warm slapd's caches, once measured");
    import_in_child("raw", &slapd.url())?;
    let raw = import_in_child("raw", &slapd.url())?;
    progress("full import: the connector");
    let conn = import_in_child("connector", &slapd.url())?;
    // The watermark for part 3, from an unmeasured import in this process.
    let c = connector(&slapd, |_| {})?;
    let (_, watermark) = connector_import(&c)?;
    if raw.n != args.entries || conn.n != args.entries {
        bail!(
            "read {} raw and {} by the connector of {}",
            raw.n,
            conn.n,
            args.entries
        );
    }

    progress(format!("{} raw adds at 1 and 8 connections", args.adds));
    let raw1 = raw_adds(&slapd, 1, args.adds, "r1")?;
    let raw8 = raw_adds(&slapd, 8, args.adds, "r8")?;
    progress(format!("{} POST /Users at 1 and 8 connections", args.adds));
    let (host1, host8) = if args.no_host {
        (f64::NAN, f64::NAN)
    } else {
        through_host(&slapd, args.adds)?
    };

    progress(format!(
        "{} direct changes, then a delta import",
        args.changes
    ));
    let (modified, deleted) = direct_changes(&slapd, args.changes)?;
    let (delta_time, upserts, deletes) = delta(&c, &watermark)?;
    if upserts != modified || deletes != deleted {
        bail!(
            "delta: {upserts} upserts and {deletes} deletes for {modified} modifies and {deleted} deletes"
        );
    }

    progress(format!("a group of {} members", args.members));
    let members: Vec<AttrValue> = (0..args.members)
        .map(|i| AttrValue::Reference(user_dn(args.entries - 1 - i)))
        .collect();
    let mut attributes = Attributes::new();
    attributes.insert("cn".into(), vec![AttrValue::String("big".into())]);
    attributes.insert("member".into(), members);
    let (create_time, created) = timed(|| {
        c.export(
            &Change::Add {
                object_type: "Group".into(),
                anchor: None,
                dn: None,
                attributes,
            },
            soon(),
        )
        .map_err(|e| anyhow::anyhow!("group add: {e}"))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (raw_create_time, ()) = timed(|| {
        rt.block_on(async {
            let mut ldap = bind(&slapd).await?;
            let members: HashSet<String> = (0..args.members)
                .map(|i| user_dn(args.entries - 1 - i))
                .collect();
            ldap.add(
                &format!("cn=big-raw,{GROUPS}"),
                vec![
                    (
                        "objectClass".to_owned(),
                        HashSet::from(["groupOfNames".to_owned()]),
                    ),
                    ("cn".to_owned(), HashSet::from(["big-raw".to_owned()])),
                    ("member".to_owned(), members),
                ],
            )
            .await?
            .success()?;
            anyhow::Ok(())
        })
    })?;
    let (add_one_time, _) = timed(|| {
        c.export(
            &Change::Update {
                object_type: "Group".into(),
                anchor: created.anchor.clone(),
                new_dn: None,
                changes: vec![AttributeChange::Add {
                    name: "member".into(),
                    values: vec![AttrValue::Reference(user_dn(1))],
                }],
            },
            soon(),
        )
        .map_err(|e| anyhow::anyhow!("member add: {e}"))
    })?;
    let list = |exclude: bool| -> Result<(Duration, usize)> {
        let lister = connector(&slapd, |cfg| {
            if exclude && let Some(group) = cfg.objects.get_mut(1) {
                group.exclude = vec!["member".into()];
            }
        })?;
        let started = Instant::now();
        let mut stream = lister
            .full_import("Group", 100, soon())
            .map_err(|e| anyhow::anyhow!("group list: {e}"))?;
        let mut n = 0;
        while let Some(page) = stream
            .next_page(soon())
            .map_err(|e| anyhow::anyhow!("group page: {e}"))?
        {
            n += page.len();
        }
        Ok((started.elapsed(), n))
    };
    let (list_without, groups) = list(true)?;
    let (list_with, _) = list(false)?;

    println!(
        "| Full import of {} users | per second | time | peak resident memory of the process |",
        args.entries
    );
    println!("|---|---:|---:|---:|");
    for (what, m) in [
        ("raw `ldap3` paged search (500 a page)", &raw),
        ("`LdapConnector::full_import` (500 a page)", &conn),
    ] {
        println!(
            "| {what} | {:.0} | {} | {:.1} MiB |",
            m.rate(),
            secs(m.elapsed),
            m.peak_mib
        );
    }
    println!();
    println!(
        "- connector / raw: **{:.2}×** the time, **{:.2}×** the peak memory",
        conn.elapsed.as_secs_f64() / raw.elapsed.as_secs_f64(),
        conn.peak_mib / raw.peak_mib
    );
    println!();
    println!(
        "| Adds ({} each) | 1 connection | 8 connections |",
        args.adds
    );
    println!("|---|---:|---:|");
    println!("| raw `ldap3` adds, per second | {raw1:.0} | {raw8:.0} |");
    println!("| `POST /Users` through the host, per second | {host1:.0} | {host8:.0} |");
    println!(
        "| time ratio host / raw (target ≤ 1.25) | **{:.2}×** | **{:.2}×** |",
        raw1 / host1,
        raw8 / host8
    );
    println!();
    println!(
        "- delta import after {} direct changes ({modified} modifies, {deleted} deletes) on {} users: **{}** ({upserts} upserts, {deletes} deletes)",
        args.changes,
        args.entries,
        secs(delta_time)
    );
    println!(
        "- group of {} members: create through the connector {} (raw `ldap3` add {}, **{:.2}×**); one member added {}; list of {groups} groups without members {}, with members {}",
        args.members,
        secs(create_time),
        secs(raw_create_time),
        create_time.as_secs_f64() / raw_create_time.as_secs_f64(),
        secs(add_one_time),
        secs(list_without),
        secs(list_with)
    );
    Ok(())
}
