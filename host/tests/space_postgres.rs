//! The connector space on PostgreSQL as several hosts share it (issue #17): two `Space`
//! values opened on one database stand for two hosts. Writes of one are seen by the other at
//! once, exports lock across them, one lease has one holder, a full import on one does not
//! overwrite what the other wrote through meanwhile; and the database's own life: schema
//! versions, an unreachable server, lost connections.
//!
//! The rest of the space's behaviour is the SQLite suite run on PostgreSQL
//! (`CH_TEST_SPACE_BACKEND=postgres`, see `space_common`). Without a PostgreSQL server each test
//! prints a `NOT RUN` line and passes.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use connector_core::object::Anchor;
use connector_host::space::{ImportStats, IndexSpec, Origin, PG_SCHEMA_VERSION, Space, SpaceError};
use space_common::pg::PgDb;
use space_common::{anchors, spec, up, user};

/// Two hosts on one fresh database, or `None` (NOT RUN).
fn two_hosts(test: &str) -> Option<(PgDb, Space, Space)> {
    let db = PgDb::fresh(test)?;
    let a = db.open("ldap", spec());
    let b = db.open("ldap", spec());
    Some((db, a, b))
}

#[test]
fn a_write_through_on_one_host_is_seen_by_the_other_at_once() {
    let Some((_db, a, b)) = two_hosts("a_write_through_on_one_host_is_seen_by_the_other_at_once")
    else {
        return;
    };
    assert_eq!(a.backend_name(), "postgresql");
    assert!(a.is_shared());
    let created = a
        .put(&user("1", "Alice", &[("mail", "a@x")]), Origin::Export)
        .unwrap();
    assert_eq!(
        anchors(&b.lookup("User", "userName", "alice").unwrap()),
        ["1"]
    );
    assert_eq!(b.get("User", &Anchor::from("1")).unwrap().unwrap(), created);
    assert_eq!(b.count("User").unwrap(), 1);

    let changed = b
        .put(&user("1", "Alice", &[("mail", "new@x")]), Origin::Export)
        .unwrap();
    assert_eq!(changed.version, 2, "versions grow across hosts");
    assert_eq!(a.get("User", &Anchor::from("1")).unwrap().unwrap(), changed);
    assert!(a.lookup("User", "mail", "a@x").unwrap().is_empty());

    assert!(a.remove("User", &Anchor::from("1")).unwrap());
    assert_eq!(b.get("User", &Anchor::from("1")).unwrap(), None);
    assert_eq!(b.count("User").unwrap(), 0);
}

#[test]
fn racing_creates_of_one_anchor_on_two_hosts_store_one_object() {
    let Some((_db, a, b)) = two_hosts("racing_creates_of_one_anchor_on_two_hosts_store_one_object")
    else {
        return;
    };
    let hosts = Arc::new([a, b]);
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let hosts = Arc::clone(&hosts);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let space = &hosts[i % 2];
                start.wait();
                // Half write one content, half another: every put succeeds.
                let name = if i % 4 < 2 { "x" } else { "y" };
                space.put(&user("same", name, &[]), Origin::Export).unwrap()
            })
        })
        .collect();
    let versions: Vec<u64> = threads
        .into_iter()
        .map(|t| t.join().unwrap().version)
        .collect();
    let [a, b] = &*hosts;
    assert_eq!(a.count("User").unwrap(), 1);
    assert_eq!(a.list("User", 0, 10).unwrap().len(), 1);
    let stored = b.get("User", &Anchor::from("same")).unwrap().unwrap();
    assert_eq!(
        stored.version,
        versions.iter().copied().max().unwrap(),
        "the last write holds the highest version"
    );
    let found = a.lookup(
        "User",
        "userName",
        &stored.object.values("userName")[0].to_text(),
    );
    assert_eq!(anchors(&found.unwrap()), ["same"]);
}

#[test]
fn an_export_lock_on_one_host_makes_the_other_wait_until_it_is_dropped() {
    let Some((_db, a, b)) =
        two_hosts("an_export_lock_on_one_host_makes_the_other_wait_until_it_is_dropped")
    else {
        return;
    };
    let held = a.lock_exports(&["alice".into(), "uid-1".into()]).unwrap();

    // A bounded wait on a held key gives up, holding nothing.
    match b.lock_exports_within(&["uid-1".into()], Duration::from_millis(200)) {
        Err(SpaceError::Unavailable(m)) => assert!(m.contains("lock"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Other keys are free.
    drop(b.lock_exports(&["bob".into()]).unwrap());

    let b = Arc::new(b);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            // The same keys in the other order: sorted, so no deadlock.
            let lock = b.lock_exports(&["uid-1".into(), "alice".into()]).unwrap();
            tx.send(()).unwrap();
            drop(lock);
        })
    };
    // While `held` lives, the other host cannot have the lock.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    drop(held);
    rx.recv().unwrap();
    waiter.join().unwrap();
    // Released again: the first host takes it at once.
    drop(a.lock_exports(&["alice".into()]).unwrap());
}

#[test]
fn a_lease_has_one_holder_until_released_or_expired() {
    let Some((_db, a, b)) = two_hosts("a_lease_has_one_holder_until_released_or_expired") else {
        return;
    };
    let ttl = Duration::from_secs(60);
    assert_eq!(a.lease_holder("import").unwrap(), None);
    assert!(a.try_lease("import", "host-a", ttl).unwrap());
    assert!(!b.try_lease("import", "host-b", ttl).unwrap());
    assert!(a.try_lease("import", "host-a", ttl).unwrap(), "renewed");
    let (holder, until) = b.lease_holder("import").unwrap().unwrap();
    assert_eq!(holder, "host-a");
    assert!(until > time::OffsetDateTime::now_utc() + Duration::from_secs(30));
    // Another name is another lease.
    assert!(b.try_lease("other", "host-b", ttl).unwrap());

    // A release by a non-holder does nothing; by the holder hands it over at once.
    b.release_lease("import", "host-b").unwrap();
    assert!(!b.try_lease("import", "host-b", ttl).unwrap());
    a.release_lease("import", "host-a").unwrap();
    assert_eq!(a.lease_holder("import").unwrap(), None);
    assert!(b.try_lease("import", "host-b", ttl).unwrap());

    // A holder that stops renewing (a dead host) loses it once it expires.
    assert!(
        b.try_lease("short", "host-b", Duration::from_millis(200))
            .unwrap()
    );
    assert!(!a.try_lease("short", "host-a", ttl).unwrap());
    thread::sleep(Duration::from_millis(500));
    assert_eq!(a.lease_holder("short").unwrap(), None);
    assert!(a.try_lease("short", "host-a", ttl).unwrap(), "taken over");
    assert!(!b.try_lease("short", "host-b", ttl).unwrap());
}

#[test]
fn a_full_import_does_not_undo_what_another_host_wrote_through_meanwhile() {
    let Some((_db, a, b)) =
        two_hosts("a_full_import_does_not_undo_what_another_host_wrote_through_meanwhile")
    else {
        return;
    };
    for (anchor, name) in [("1", "one"), ("2", "two"), ("4", "four")] {
        a.put(&user(anchor, name, &[]), Origin::Import).unwrap();
    }
    // Host A reads the target: 1 changed there, 2 as it was, 3 new, 4 already gone.
    let mut import = a.begin_full_import("User").unwrap();
    import
        .add_page(&[
            up(user("1", "one", &[("mail", "0@x")])),
            up(user("2", "two", &[])),
            up(user("3", "three", &[])),
        ])
        .unwrap();
    // Meanwhile host B exports: changes 1, deletes 2, creates 5 and deletes 3 (just imported).
    let changed = b
        .put(&user("1", "one", &[("mail", "1@x")]), Origin::Export)
        .unwrap();
    assert!(b.remove("User", &Anchor::from("2")).unwrap());
    b.put(&user("5", "five", &[]), Origin::Export).unwrap();
    assert!(!b.remove("User", &Anchor::from("3")).unwrap());
    let stats = import.commit(None).unwrap();
    assert_eq!(
        stats.removed, 1,
        "only 4, which nobody wrote since: {stats:?}"
    );

    assert_eq!(b.get("User", &Anchor::from("1")).unwrap().unwrap(), changed);
    assert_eq!(
        b.get("User", &Anchor::from("2")).unwrap(),
        None,
        "stays deleted"
    );
    assert_eq!(
        b.get("User", &Anchor::from("3")).unwrap(),
        None,
        "stays deleted"
    );
    assert_eq!(b.get("User", &Anchor::from("4")).unwrap(), None);
    assert!(b.get("User", &Anchor::from("5")).unwrap().is_some(), "kept");
    assert_eq!(b.count("User").unwrap(), 2);

    // The next import, begun after those writes, applies the target's state again.
    let mut import = b.begin_full_import("User").unwrap();
    import
        .add_page(&[up(user("2", "two", &[])), up(user("3", "three", &[]))])
        .unwrap();
    assert_eq!(
        import.commit(None).unwrap(),
        ImportStats {
            added: 2,
            updated: 0,
            unchanged: 0,
            removed: 2
        }
    );
    let mut all = anchors(&a.list("User", 0, 10).unwrap());
    all.sort();
    assert_eq!(all, ["2", "3"]);
}

#[test]
fn connectors_sharing_a_database_do_not_see_each_other() {
    let Some(db) = PgDb::fresh("connectors_sharing_a_database_do_not_see_each_other") else {
        return;
    };
    let ldap = db.open("ldap", spec());
    let sql = db.open("sql", IndexSpec::default());
    ldap.put(&user("1", "alice", &[]), Origin::Export).unwrap();
    ldap.record_intent("User", Some(&Anchor::from("9")), "host-a")
        .unwrap();
    let run = ldap.start_run("full", "User", Some("host-a")).unwrap();
    ldap.finish_run(run, "success", &ImportStats::default())
        .unwrap();
    assert_eq!(sql.get("User", &Anchor::from("1")).unwrap(), None);
    assert_eq!(sql.count("User").unwrap(), 0);
    assert!(sql.list("User", 0, 10).unwrap().is_empty());
    assert!(sql.open_intents().unwrap().is_empty());
    assert!(sql.runs(10).unwrap().is_empty());
    assert_eq!(ldap.runs(10).unwrap()[0].host.as_deref(), Some("host-a"));
    let intents = ldap.open_intents().unwrap();
    assert!(intents[0].since <= time::OffsetDateTime::now_utc());
    assert_eq!(intents[0].host.as_deref(), Some("host-a"), "names its host");
    assert!(matches!(
        sql.finish_run(run, "x", &ImportStats::default()),
        Err(SpaceError::NoSuchRun(_))
    ));
    assert!(
        sql.try_lease("import", "h", Duration::from_secs(60))
            .unwrap()
    );
    assert!(
        ldap.try_lease("import", "other", Duration::from_secs(60))
            .unwrap()
    );
    assert!(
        ldap.describe().contains("connector ldap"),
        "{}",
        ldap.describe()
    );
}

#[test]
fn an_account_discovery_spread_over_two_hosts_walks_every_object_once() {
    let Some((_db, a, b)) =
        two_hosts("an_account_discovery_spread_over_two_hosts_walks_every_object_once")
    else {
        return;
    };
    for i in 0..50 {
        a.put(&user(&format!("u{i:02}"), "x", &[]), Origin::Import)
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    let hosts = [&a, &b];
    for page in 0.. {
        let got = hosts[page % 2].list("User", offset, 7).unwrap();
        if got.is_empty() {
            break;
        }
        // Between pages: one object created, one not yet walked deleted, one walked deleted.
        if page == 2 {
            b.put(&user("late", "x", &[]), Origin::Export).unwrap();
            a.remove("User", &Anchor::from("u40")).unwrap();
            a.remove("User", &Anchor::from("u01")).unwrap();
        }
        offset += got.len() as u64;
        seen.extend(anchors(&got));
    }
    let mut expected: Vec<String> = (0..50)
        .map(|i| format!("u{i:02}"))
        .filter(|a| a != "u40")
        .collect();
    expected.push("late".into());
    assert_eq!(seen, expected, "creation order, each once, new ones last");
    // A random offset is still exact.
    assert_eq!(anchors(&b.list("User", 3, 2).unwrap()), ["u04", "u05"]);
}

#[test]
fn migrate_creates_the_schema_once_and_a_newer_database_is_refused() {
    let Some(db) = PgDb::fresh("migrate_creates_the_schema_once_and_a_newer_database_is_refused")
    else {
        return;
    };
    assert_eq!(
        Space::migrate_postgres(&db.url, None).unwrap(),
        (0, PG_SCHEMA_VERSION)
    );
    assert_eq!(
        Space::migrate_postgres(&db.url, None).unwrap(),
        (PG_SCHEMA_VERSION, PG_SCHEMA_VERSION)
    );
    drop(db.open("ldap", spec()));

    // A database an older build left at version 1 (intents without their host): upgraded in
    // place, its open intents kept.
    let space = db.open("ldap", spec());
    space
        .record_intent("User", Some(&Anchor::from("1")), "host-a")
        .unwrap();
    drop(space);
    db.execute(
        "ALTER TABLE connector_space.intents DROP COLUMN host;
         DELETE FROM connector_space.schema_migrations WHERE version > 1",
    );
    assert_eq!(
        Space::migrate_postgres(&db.url, None).unwrap(),
        (1, PG_SCHEMA_VERSION)
    );
    let intents = db.open("ldap", spec()).open_intents().unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].anchor, Some(Anchor::from("1")));
    assert_eq!(
        intents[0].host, None,
        "an older build's intent names no host"
    );

    db.execute("INSERT INTO connector_space.schema_migrations (version) VALUES (99)");
    let url = db
        .url
        .replacen("postgresql://postgres@", "postgresql://postgres:s3cret@", 1);
    for result in [
        Space::open_postgres(&url, None, "ldap", spec()).map(|_| (0, 0)),
        Space::migrate_postgres(&db.url, Some("s3cret")),
    ] {
        match result {
            Err(e @ SpaceError::NewerSchema { found: 99, .. }) => {
                let message = e.to_string();
                assert!(message.contains("space_"), "names the database: {message}");
                assert!(!message.contains("s3cret"), "no password: {message}");
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
}

#[test]
fn an_unreachable_server_is_unavailable_and_lost_connections_are_replaced() {
    let Some(db) =
        PgDb::fresh("an_unreachable_server_is_unavailable_and_lost_connections_are_replaced")
    else {
        return;
    };
    // A port nobody listens on.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgresql://postgres:s3cret@127.0.0.1:{port}/space");
    match Space::open_postgres(&url, None, "ldap", spec()) {
        Err(SpaceError::Unavailable(m)) => {
            assert!(!m.contains("s3cret"), "no password: {m}");
            assert!(m.contains(&port.to_string()), "names the server: {m}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match Space::open_postgres(&format!("{url}?sslmode=sometimes"), None, "ldap", spec()) {
        Err(SpaceError::Storage(m)) => assert!(m.contains("sslmode=sometimes"), "{m}"),
        other => panic!("expected a refusal of sslmode=sometimes, got {other:?}"),
    }

    // Every session of the space ends (a server restart as its connections see it): the next
    // reads and writes reconnect.
    let space = db.open("ldap", spec());
    space.put(&user("1", "alice", &[]), Origin::Export).unwrap();
    assert!(space.get("User", &Anchor::from("1")).unwrap().is_some());
    db.terminate_sessions();
    assert!(space.get("User", &Anchor::from("1")).unwrap().is_some());
    db.terminate_sessions();
    space.put(&user("2", "bob", &[]), Origin::Export).unwrap();
    assert_eq!(space.count("User").unwrap(), 2);
    // A full import whose connection is lost fails and changes nothing.
    let mut import = space.begin_full_import("User").unwrap();
    import.add_page(&[up(user("3", "carol", &[]))]).unwrap();
    db.terminate_sessions();
    assert!(import.add_page(&[up(user("4", "dave", &[]))]).is_err());
    assert!(import.commit(None).is_err());
    assert_eq!(space.count("User").unwrap(), 2);
    // And the type is free for the next import.
    let import = space.begin_full_import("User").unwrap();
    drop(import);
}

#[test]
fn reads_on_the_hosts_runtime_agree_with_the_blocking_ones_and_survive_lost_connections() {
    let test =
        "reads_on_the_hosts_runtime_agree_with_the_blocking_ones_and_survive_lost_connections";
    let Some(db) = PgDb::fresh(test) else {
        return;
    };
    let space = Arc::new(db.open("ldap", spec()));
    for i in 0..200 {
        let mut o = user(
            &i.to_string(),
            &format!("User{i}"),
            &[("mail", &format!("u{i}@x"))],
        );
        o.dn = Some(format!("CN=User{i},OU=People,DC=example"));
        space.put(&o, Origin::Export).unwrap();
    }
    // A second object with one of the mail values: a lookup finds both, by anchor.
    space
        .put(&user("dup", "other", &[("mail", "u7@x")]), Origin::Export)
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Every read answers what the blocking read answers, also 200 at once on few connections.
    rt.block_on(async {
        let reads = (0..200).map(|i| {
            let space = space.clone();
            async move {
                let anchor = Anchor::from(i.to_string().as_str());
                let got = space.get_async("User", &anchor).await.unwrap();
                assert_eq!(got, space.get("User", &anchor).unwrap());
                assert!(got.is_some(), "user {i}");
                let dn = format!("cn=user{i},ou=people,dc=EXAMPLE");
                let by_dn = space.get_by_dn_async("User", &dn).await.unwrap();
                assert_eq!(by_dn, got, "by DN, case ignored");
                let name = format!("user{i}");
                let found = space.lookup_async("User", "userName", &name).await.unwrap();
                assert_eq!(anchors(&found), [i.to_string()]);
            }
        });
        let mut tasks = tokio::task::JoinSet::new();
        for read in reads {
            tasks.spawn(read);
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(
            anchors(&space.lookup_async("User", "mail", "U7@X").await.unwrap()),
            ["7", "dup"]
        );
        assert_eq!(
            space
                .get_async("User", &Anchor::from("none"))
                .await
                .unwrap(),
            None
        );
        match space.lookup_async("User", "title", "x").await {
            Err(SpaceError::NotIndexed { attribute, .. }) => assert_eq!(attribute, "title"),
            other => panic!("expected NotIndexed, got {other:?}"),
        }
    });

    // The server ends every session (a restart as the connections see it): the next reads
    // reconnect, and see a write the blocking path made meanwhile.
    db.terminate_sessions();
    space
        .put(&user("new", "Newcomer", &[]), Origin::Export)
        .unwrap();
    rt.block_on(async {
        for _ in 0..8 {
            let found = space.lookup_async("User", "userName", "newcomer").await;
            assert_eq!(anchors(&found.unwrap()), ["new"]);
        }
    });
}

/// Debian's PostgreSQL serves TLS with the "snakeoil" certificate of `localhost`.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[test]
fn sslmode_require_connects_over_tls_and_verifies_the_server_certificate() {
    let test = "sslmode_require_connects_over_tls_and_verifies_the_server_certificate";
    let Some(db) = PgDb::fresh(test) else {
        return;
    };
    if !std::path::Path::new(SNAKEOIL).exists()
        || !db.query_bool("SELECT current_setting('ssl') = 'on'")
    {
        eprintln!("NOT RUN: {test}: the test server does not serve TLS with {SNAKEOIL}");
        return;
    }
    let port = std::env::var("CH_TEST_PG_PORT").unwrap();
    let user = std::env::var("CH_TEST_PG_USER").unwrap();
    let base = format!(
        "postgresql://{user}@localhost:{port}/{}?hostaddr=127.0.0.1&sslmode=require",
        db.name()
    );
    // The certificate names `localhost`, not 127.0.0.1: refused, and not as "retry later".
    let by_address = format!(
        "postgresql://{user}@127.0.0.1:{port}/{}?sslmode=verify-full&sslrootcert={SNAKEOIL}",
        db.name()
    );
    match Space::open_postgres(&by_address, None, "ldap", spec()) {
        Err(SpaceError::Storage(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        other => panic!("expected a certificate error, got {other:?}"),
    }
    let space = Space::open_postgres(
        &format!("{base}&sslrootcert={SNAKEOIL}"),
        None,
        "ldap",
        spec(),
    )
    .unwrap();
    assert!(space.describe().contains("(TLS)"), "{}", space.describe());
    space.put(&user_("1"), Origin::Export).unwrap();
    // The asynchronous read connections too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = rt.block_on(space.get_async("User", &Anchor::from("1")));
    assert!(read.unwrap().is_some());
    assert!(db.query_bool(&format!(
        "SELECT bool_and(s.ssl) AND count(*) > 0 FROM pg_stat_ssl s
         JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = '{}' AND a.application_name = 'connector-host'",
        db.name()
    )));
}

fn user_(anchor: &str) -> connector_core::object::ConnectorObject {
    user(anchor, "alice", &[])
}
