//! Benchmark of the PostgreSQL connector space on the `CH_TEST_PG_*` server: a staged full
//! import, then 1M objects (the rest loaded in SQL), list pages walked in order (each page
//! continuing after the last one's end, as an account discovery does) against pages at fresh
//! offsets (`OFFSET`), `count`, lookups on one thread, and write-through puts. Plain `Instant`
//! timing, one run; the database is created and dropped by the run. Run with
//! `cargo bench -p connector-host --bench pg_space` (add `-- 200000` for another size).

// A benchmark is a test program: failing loudly on a broken invariant is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use connector_core::import::ImportItem;
use connector_core::object::ConnectorObject;
use connector_host::space::{IndexSpec, IndexedAttribute, Origin, Space};

const PAGE: u64 = 100;

fn user(i: u64) -> ConnectorObject {
    ConnectorObject::new("User", format!("u{i:08}"))
        .with(
            "userName",
            vec![format!("User{i}@Example.com").as_str().into()],
        )
        .with(
            "department",
            vec![format!("Department {}", i % 40).as_str().into()],
        )
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let total: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let host = std::env::var("CH_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("CH_TEST_PG_PORT").unwrap_or_else(|_| "5432".into());
    let user_name = std::env::var("CH_TEST_PG_USER").unwrap_or_else(|_| "postgres".into());
    let admin = format!("host={host} port={port} user={user_name} dbname=postgres");
    let name = format!("space_bench_{}", uuid::Uuid::new_v4().simple());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("PostgreSQL");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("postgresql://{user_name}@{host}:{port}/{name}");
    run(&url, total);
    client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}

fn run(url: &str, total: u64) {
    let spec = IndexSpec::new(vec![IndexedAttribute::new("User", "userName")]);
    let space = Space::open_postgres(url, None, "bench", spec).unwrap();
    println!(
        "== PostgreSQL space, {total} objects ({})",
        space.describe()
    );

    // A staged full import of the first tenth (at most 100k), page by page as imports do.
    let staged = (total / 10).clamp(1, 100_000);
    let t = Instant::now();
    let mut import = space.begin_full_import("User").unwrap();
    let mut i = 0;
    while i < staged {
        let end = (i + 1000).min(staged);
        let page: Vec<ImportItem> = (i..end).map(|n| ImportItem::Upsert(user(n))).collect();
        import.add_page(&page).unwrap();
        i = end;
    }
    let staging = t.elapsed();
    let stats = import.commit(None).unwrap();
    let d = t.elapsed();
    assert_eq!(stats.added, staged);
    println!(
        "full import (staged, {staged} new objects): {:.1}s ({:.1}s staging, {:.1}s merge), {:.0} objects/s",
        d.as_secs_f64(),
        staging.as_secs_f64(),
        (d - staging).as_secs_f64(),
        per_sec(staged, d)
    );
    // The same import again: everything unchanged.
    let t = Instant::now();
    let mut import = space.begin_full_import("User").unwrap();
    let mut i = 0;
    while i < staged {
        let end = (i + 1000).min(staged);
        let page: Vec<ImportItem> = (i..end).map(|n| ImportItem::Upsert(user(n))).collect();
        import.add_page(&page).unwrap();
        i = end;
    }
    let stats = import.commit(None).unwrap();
    let d = t.elapsed();
    assert_eq!(stats.unchanged, staged);
    println!(
        "full import again (all {staged} unchanged): {:.1}s, {:.0} objects/s",
        d.as_secs_f64(),
        per_sec(staged, d)
    );

    // The rest straight in SQL, bodies and index entries as the space writes them.
    let t = Instant::now();
    let template = serde_json::to_string(
        &ConnectorObject::new("User", "@A@")
            .with("userName", vec!["@N@".into()])
            .with("department", vec!["@D@".into()]),
    )
    .unwrap();
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .execute(
            "INSERT INTO connector_space.objects (connector, object_type, anchor, body, created,
             modified, version, origin)
             SELECT 'bench', 'User', 'u' || lpad(i::text, 8, '0'),
               replace(replace(replace($1, '@A@', 'u' || lpad(i::text, 8, '0')),
                 '@N@', 'User' || i || '@Example.com'), '@D@', 'Department ' || (i % 40)),
               0, 0, 1, 0
             FROM generate_series($2::bigint, $3::bigint - 1) AS i",
            &[
                &template,
                &i64::try_from(staged).unwrap(),
                &i64::try_from(total).unwrap(),
            ],
        )
        .unwrap();
    client
        .execute(
            "INSERT INTO connector_space.idx (connector, object_type, attribute, value_norm, object_id)
             SELECT 'bench', 'User', 'userName', 'user' || substr(anchor, 2)::bigint || '@example.com', id
             FROM connector_space.objects WHERE connector = 'bench' AND id > $1",
            &[&i64::try_from(staged).unwrap()],
        )
        .unwrap();
    client
        .batch_execute("VACUUM ANALYZE connector_space.objects")
        .unwrap();
    client
        .batch_execute("VACUUM ANALYZE connector_space.idx")
        .unwrap();
    println!(
        "loaded to {total} in SQL: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(space.count("User").unwrap(), total);

    // count
    let t = Instant::now();
    for _ in 0..1000 {
        space.count("User").unwrap();
    }
    println!("count: {:.3} ms", ms(t.elapsed()) / 1000.0);

    // In-order walk of every page: each continues after the previous page's end.
    let t = Instant::now();
    let mut offset = 0;
    let mut slowest = Duration::ZERO;
    let mut last_pages = Duration::ZERO;
    loop {
        let p = Instant::now();
        let page = space.list("User", offset, PAGE).unwrap();
        let d = p.elapsed();
        slowest = slowest.max(d);
        if offset + PAGE * 100 >= total {
            last_pages += d;
        }
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
    }
    let d = t.elapsed();
    assert_eq!(offset, total);
    let pages = total.div_ceil(PAGE);
    println!(
        "in-order walk, {pages} pages of {PAGE}: {:.1}s, {:.2} ms/page on average, {:.2} ms/page over the last 100, slowest {:.2} ms",
        d.as_secs_f64(),
        ms(d) / pages as f64,
        ms(last_pages) / 100.0,
        ms(slowest)
    );

    // Pages at offsets no page ended at: OFFSET.
    for depth in [0.1, 0.5, 0.999] {
        let offset = ((total as f64 * depth) as u64 / PAGE) * PAGE + 7;
        let t = Instant::now();
        let page = space.list("User", offset, PAGE).unwrap();
        let d = t.elapsed();
        assert_eq!(page.len() as u64, PAGE.min(total - offset));
        println!("page at fresh offset {offset}: {:.2} ms", ms(d));
    }

    // Lookups, one thread.
    let n = 10_000u64;
    let t = Instant::now();
    for k in 0..n {
        let i = k.wrapping_mul(7_919) % total;
        let found = space
            .lookup("User", "userName", &format!("user{i}@EXAMPLE.com"))
            .unwrap();
        assert_eq!(found.len(), 1);
    }
    let d = t.elapsed();
    println!(
        "lookup (1 thread): {:.0}/s, {:.3} ms each",
        per_sec(n, d),
        ms(d) / n as f64
    );

    // Write-through puts of changed objects.
    let n = 2_000u64;
    let t = Instant::now();
    for k in 0..n {
        let i = k.wrapping_mul(104_729) % total;
        let o = user(i).with("title", vec![format!("t{k}").as_str().into()]);
        space.put(&o, Origin::Export).unwrap();
    }
    let d = t.elapsed();
    println!(
        "put (changed, 1 thread): {:.0}/s, {:.3} ms each",
        per_sec(n, d),
        ms(d) / n as f64
    );
}
