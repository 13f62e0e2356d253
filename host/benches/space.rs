//! Benchmark of the connector space at 100k and 1M objects: full import rate, lookups per
//! second on one and two threads, deep list pages, write-through puts, reopen-to-first-lookup,
//! and peak memory; and the first import both ways, bulk and staged (the path before the bulk
//! load; skipped with `SPACE_BENCH_STAGED=0`). Plain `Instant` timing; run with
//! `cargo bench -p connector-host --bench space` (add `-- 100000` to run one size only;
//! `SPACE_BENCH_KEEP=1` keeps the space files; `SPACE_BENCH_UPGRADE=<file>` only times opening
//! that file, e.g. one an older build wrote).

// A benchmark is a test program: failing loudly on a broken invariant is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_core::import::ImportItem;
use connector_core::object::{Anchor, AttrValue, ConnectorObject};
use connector_host::space::{IndexSpec, IndexedAttribute, Origin, Space};

fn spec() -> IndexSpec {
    IndexSpec::new(vec![
        IndexedAttribute::new("User", "userName"),
        IndexedAttribute::new("User", "mail"),
        IndexedAttribute::new("User", "employeeId").case_exact(),
    ])
}

/// A user with ten attributes, about 450 bytes of JSON.
fn user(i: u64) -> ConnectorObject {
    let mut o = ConnectorObject::new(
        "User",
        format!(
            "{:08x}-4c1e-9a1b-{i:012}",
            i.wrapping_mul(2_654_435_761) % (1 << 32)
        ),
    );
    o.dn = Some(format!("CN=User {i},OU=People,DC=example,DC=com"));
    o.set(
        "userName",
        vec![format!("User{i}@Example.com").as_str().into()],
    );
    o.set("mail", vec![format!("user{i}@example.com").as_str().into()]);
    o.set("employeeId", vec![format!("E{i:07}").as_str().into()]);
    o.set("givenName", vec![format!("Given{i}").as_str().into()]);
    o.set("sn", vec![format!("Surname{}", i % 5000).as_str().into()]);
    o.set(
        "displayName",
        vec![format!("Given{i} Surname{}", i % 5000).as_str().into()],
    );
    o.set(
        "department",
        vec![format!("Department {}", i % 40).as_str().into()],
    );
    o.set("title", vec!["Engineer".into()]);
    o.set(
        "employeeNumber",
        vec![AttrValue::Integer(i64::try_from(i).unwrap_or(0))],
    );
    o.set("active", vec![AttrValue::Boolean(!i.is_multiple_of(10))]);
    o
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn lookups(space: &Space, n: u64, total: u64, seed: u64) -> u64 {
    let mut found = 0;
    for k in 0..n {
        let i = (k.wrapping_mul(7919) + seed) % total;
        found += space
            .lookup("User", "userName", &format!("user{i}@example.com"))
            .unwrap_or_default()
            .len() as u64;
    }
    found
}

/// The first import as it ran before the bulk path (and as any import into a space that already
/// holds the type still runs): staged, then merged. Forced here by one object stored first.
fn staged_first_import(total: u64, dir: &Path) {
    let path = dir.join(format!("staged-{total}.db"));
    let space = Space::open(&path, spec()).unwrap();
    space.put(&user(total + 1), Origin::Import).unwrap();
    let page = 1000;
    let start = Instant::now();
    let mut import = space.begin_full_import("User").unwrap();
    for p in 0..total.div_ceil(page) {
        let items: Vec<ImportItem> = (p * page..((p + 1) * page).min(total))
            .map(|i| ImportItem::Upsert(user(i)))
            .collect();
        import.add_page(&items).unwrap();
    }
    let stats = import.commit(None).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(stats.added, total);
    println!(
        "staged first import (the path before the bulk load): {:.1} s ({:.0} objects/s); file size {} MB",
        elapsed.as_secs_f64(),
        per_sec(total, elapsed),
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) / 1_000_000
    );
    drop(space);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn run(total: u64, dir: &Path) {
    let path = dir.join(format!("space-{total}.db"));
    println!("== {total} objects ({})", path.display());
    let space = Space::open(&path, spec()).unwrap();
    let page = 1000;
    let start = Instant::now();
    let mut import = space.begin_full_import("User").unwrap();
    let mut staged = Duration::ZERO;
    for p in 0..total.div_ceil(page) {
        let items: Vec<ImportItem> = (p * page..((p + 1) * page).min(total))
            .map(|i| ImportItem::Upsert(user(i)))
            .collect();
        let t = Instant::now();
        import.add_page(&items).unwrap();
        staged += t.elapsed();
    }
    let t = Instant::now();
    let stats = import.commit(None).unwrap();
    let merge = t.elapsed();
    let elapsed = start.elapsed();
    println!(
        "first import (bulk load): {:.1} s total ({:.0} objects/s); pages {:.1} s, commit {:.1} s; {stats:?}",
        elapsed.as_secs_f64(),
        per_sec(total, elapsed),
        staged.as_secs_f64(),
        merge.as_secs_f64()
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let body_bytes: u64 = (0..total)
        .map(|i| serde_json::to_string(&user(i)).unwrap().len() as u64)
        .sum();
    println!(
        "file size {} MB ({} B/object; the objects' JSON alone {} B/object); peak RSS so far {} MB",
        size / 1_000_000,
        size / total,
        body_bytes / total,
        vm_hwm_kib() / 1024
    );

    // Re-import of identical content (the steady state of a scheduled full import).
    let start = Instant::now();
    let mut import = space.begin_full_import("User").unwrap();
    for p in 0..total.div_ceil(page) {
        let items: Vec<ImportItem> = (p * page..((p + 1) * page).min(total))
            .map(|i| ImportItem::Upsert(user(i)))
            .collect();
        import.add_page(&items).unwrap();
    }
    let stats = import.commit(None).unwrap();
    let elapsed = start.elapsed();
    println!(
        "unchanged re-import: {:.1} s ({:.0} objects/s); {stats:?}",
        elapsed.as_secs_f64(),
        per_sec(total, elapsed)
    );

    let n = 100_000;
    let t = Instant::now();
    let found = lookups(&space, n, total, 1);
    let d = t.elapsed();
    assert_eq!(found, n);
    println!(
        "lookup (1 thread): {:.0}/s, {:.1} µs each",
        per_sec(n, d),
        d.as_secs_f64() * 1e6 / n as f64
    );

    let shared = Arc::new(space);
    let t = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|s| {
            let space = Arc::clone(&shared);
            std::thread::spawn(move || lookups(&space, n, total, s * 13))
        })
        .collect();
    let found: u64 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    let d = t.elapsed();
    assert_eq!(found, 2 * n);
    println!("lookup (2 threads): {:.0}/s", per_sec(2 * n, d));

    let t = Instant::now();
    for k in 0..10_000u64 {
        let i = (k * 7919) % total;
        let a = Anchor(user(i).anchor.0);
        assert!(shared.get("User", &a).unwrap().is_some());
    }
    println!("get by anchor: {:.0}/s", per_sec(10_000, t.elapsed()));

    for offset in [0, total / 2, total - 100] {
        let t = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            assert_eq!(shared.list("User", offset, 100).unwrap().len(), 100);
        }
        println!(
            "list(offset {offset}, 100): {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / rounds as f64
        );
    }
    // An account discovery stepping through pages continues from the previous page's end.
    let start_at = total / 2;
    shared.list("User", start_at, 100).unwrap();
    let t = Instant::now();
    let pages = 100;
    for p in 1..=pages {
        assert_eq!(
            shared.list("User", start_at + p * 100, 100).unwrap().len(),
            100
        );
    }
    println!(
        "list stepping through pages from offset {start_at}: {:.2} ms/page",
        t.elapsed().as_secs_f64() * 1e3 / pages as f64
    );
    let t = Instant::now();
    for _ in 0..1000 {
        assert_eq!(shared.count("User").unwrap(), total);
    }
    println!("count: {:.1} µs", t.elapsed().as_secs_f64() * 1e3);

    let t = Instant::now();
    let puts = 500;
    for i in 0..puts {
        let mut o = user(i);
        o.set("title", vec!["Manager".into()]);
        shared.put(&o, Origin::Export).unwrap();
    }
    let put_alone = t.elapsed();
    println!(
        "put (write-through): {:.0}/s, {:.1} µs each",
        per_sec(puts, put_alone),
        put_alone.as_secs_f64() * 1e6 / puts as f64
    );
    // What an export pays now: its intent recorded first, then the write-through clears it.
    let t = Instant::now();
    for i in 0..puts {
        let mut o = user(i);
        o.set("title", vec!["Director".into()]);
        shared
            .record_intent("User", Some(&o.anchor), "bench")
            .unwrap();
        shared.put(&o, Origin::Export).unwrap();
    }
    let with_intent = t.elapsed();
    println!(
        "intent + put: {:.1} µs each (the intent adds {:.1} µs)",
        with_intent.as_secs_f64() * 1e6 / puts as f64,
        (with_intent.as_secs_f64() - put_alone.as_secs_f64()) * 1e6 / puts as f64
    );
    println!("peak RSS {} MB", vm_hwm_kib() / 1024);
    drop(shared);

    let t = Instant::now();
    let space = Space::open(&path, spec()).unwrap();
    let hit = space
        .lookup("User", "userName", "user42@example.com")
        .unwrap();
    println!(
        "reopen to first lookup: {:.1} ms ({} found)",
        t.elapsed().as_secs_f64() * 1e3,
        hit.len()
    );
    drop(space);
    // Last, so the peak RSS figures above are the bulk path's.
    if std::env::var("SPACE_BENCH_STAGED").as_deref() != Ok("0") {
        staged_first_import(total, dir);
    }
}

fn main() {
    // SPACE_BENCH_UPGRADE=<file>: only time opening that space (an older schema is upgraded).
    if let Ok(file) = std::env::var("SPACE_BENCH_UPGRADE") {
        let t = Instant::now();
        let space = Space::open(Path::new(&file), spec()).unwrap();
        let n = space.count("User").unwrap();
        println!(
            "opened {file} ({n} objects) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let sizes: Vec<u64> = match std::env::args().skip(1).find_map(|a| a.parse().ok()) {
        Some(n) => vec![n],
        None => vec![100_000, 1_000_000],
    };
    let dir = tempfile::tempdir_in(std::env::var("SPACE_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .unwrap();
    for total in sizes {
        run(total, dir.path());
    }
    println!("peak RSS (VmHWM) {} MB", vm_hwm_kib() / 1024);
    // SPACE_BENCH_KEEP=1 keeps the files for a look with the `sqlite3` shell (`dbstat`).
    if std::env::var("SPACE_BENCH_KEEP").as_deref() == Ok("1") {
        println!("files kept in {}", dir.keep().display());
    }
}
