//! The scheduler's turn-taking on a space shared with other hosts, through the lease seam: a
//! real connector (SQL on an SQLite target) and a real connector space, with the lease kept by
//! a store another host holds.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::lease::tests::MemoryLease;
use super::*;
use crate::assemble::build_runtime;
use crate::config::Config;
use crate::config::tests::MINIMAL;
use crate::space::ImportStats;
use crate::telemetry::Metrics;

/// A runtime named `host_id` over an SQLite target of three employees, in `dir`.
fn runtime(dir: &Path, host_id: &str) -> Runtime {
    let target = rusqlite::Connection::open(dir.join("hr.db")).unwrap();
    target
        .execute_batch(
            "CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL);
             INSERT INTO Employees VALUES ('1', 'ann'), ('2', 'bob'), ('3', 'cy');",
        )
        .unwrap();
    let config = Config::parse(MINIMAL, &dir.join("host.toml"), dir).unwrap();
    let connectors = crate::registry::read(&config).unwrap();
    let c = config.connector("hr").unwrap();
    build_runtime(
        &config,
        c,
        &connectors,
        config.connector_token(c).unwrap(),
        Arc::new(Metrics::default()),
        Arc::new(ImportControl::default()),
        host_id,
    )
    .unwrap()
}

fn lease_of(store: &Arc<MemoryLease>, host_id: &str) -> ImportLease<dyn LeaseStore> {
    let store: Arc<dyn LeaseStore> = store.clone();
    ImportLease::new(store, "hr", host_id, Duration::from_secs(30), true)
}

#[test]
fn a_host_without_the_lease_leaves_the_import_to_the_holder_and_serves_once_it_imported() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "me:8585");
    assert!(!rt.ready.load(Ordering::Acquire), "never imported");
    let store = MemoryLease::held_by("other:8585");
    let lease = lease_of(&store, "me:8585");

    assert!(
        !take_import_turn(&rt, &lease),
        "the other host holds the lease"
    );
    assert!(rt.space.runs(10).unwrap().is_empty(), "nothing ran here");
    assert_eq!(rt.space.count("User").unwrap(), 0);
    assert!(
        !rt.ready.load(Ordering::Acquire),
        "503 Importing while nobody has imported"
    );

    // The holder's import, as the shared run history shows it to every host.
    let run = rt
        .space
        .start_run("full", "User", Some("other:8585"))
        .unwrap();
    rt.space
        .finish_run(run, "success", &ImportStats::default())
        .unwrap();
    assert!(!take_import_turn(&rt, &lease));
    assert!(
        rt.ready.load(Ordering::Acquire),
        "serves once any host completed an import"
    );

    // The holder died: its lease expires and this host takes over.
    store.expire();
    assert!(take_import_turn(&rt, &lease));
    let stats = full_import_leased(&rt, &lease, &|_, _, _| {}).unwrap();
    assert_eq!(stats.first().map(|(_, s)| s.added), Some(3));
    let hosts: Vec<_> = rt
        .space
        .runs(10)
        .unwrap()
        .into_iter()
        .map(|r| r.host)
        .collect();
    assert_eq!(
        hosts,
        [Some("me:8585".to_owned()), Some("other:8585".to_owned())]
    );
    assert_eq!(store.holder().as_deref(), Some("me:8585"));
    lease.release();
    assert_eq!(store.holder(), None);
}

#[test]
fn on_the_embedded_store_the_one_host_always_imports() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime(dir.path(), "me:8585"));
    let store: Arc<dyn LeaseStore> = rt.space.clone();
    let lease = ImportLease::new(store, "hr", "me:8585", Duration::from_secs(30), false);
    assert!(take_import_turn(&rt, &lease));
    full_import_leased(&rt, &lease, &|_, _, _| {}).unwrap();
    assert_eq!(rt.space.count("User").unwrap(), 3);
    let run = rt.space.last_full_import("User").unwrap().unwrap();
    assert_eq!(run.host.as_deref(), Some("me:8585"));
}

#[test]
fn a_full_import_that_loses_the_lease_between_pages_stops_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), "me:8585");
    rt.config.import_page_size = 1;
    let store = Arc::new(MemoryLease::default());
    // Renewed at every page, so a hand-over shows at the next one.
    let shared: Arc<dyn LeaseStore> = store.clone();
    let lease = ImportLease::new(shared, "hr", "me:8585", Duration::ZERO, true);
    assert!(take_import_turn(&rt, &lease));
    let pages = std::sync::atomic::AtomicU64::new(0);
    let result = full_import_leased(&rt, &lease, &|_, seen, _| {
        pages.store(seen, Ordering::Release);
        if seen == 1 {
            // Another host took the lease over (this one was too slow to renew).
            store.expire();
            store
                .try_lease(
                    crate::space::IMPORT_LEASE,
                    "other:8585",
                    Duration::from_secs(30),
                )
                .unwrap();
        }
    });
    assert!(matches!(result, Err(ImportError::LeaseLost)), "{result:?}");
    assert_eq!(
        pages.load(Ordering::Acquire),
        1,
        "stopped at the first page"
    );
    assert_eq!(
        rt.space.count("User").unwrap(),
        0,
        "nothing of it was committed"
    );
    let run = rt.space.runs(1).unwrap().pop().unwrap();
    assert!(
        run.outcome.starts_with("failed: the import lease"),
        "{}",
        run.outcome
    );
    assert!(!lease.held());
}
