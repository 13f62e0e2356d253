//! A delta import that cannot continue from its watermark (the connector answers
//! `ResyncRequired`: history purged, a foreign or mismatched watermark) makes the host run a full
//! import at once, which sets a fresh watermark, instead of retrying the delta until the next
//! scheduled full import hours later.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::time::{Duration, Instant};

use e2e::harness::token_hash;
use e2e::{Backend, Database, TestHost};
use serde_json::Value;

const TOKEN: &str = "resync-token-0123456789";

fn config(connection: &str) -> String {
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "hr"
kind = "sql"
schema = "ecma2host"
token = {{ hash = "{hash}" }}
full_import_every = "2h"
delta_import_every = "1s"
[connector.sql]
connection = {connection}
[[connector.sql.object]]
type = "User"
table = "People"
anchor = "Id"
[connector.sql.object.delta]
strategy = "watermark"
column = "Version"
kind = "integer"
"#,
        hash = token_hash(TOKEN),
        connection = toml::Value::String(connection.to_owned()),
    )
}

/// The import runs the space view lists, newest first.
async fn runs(host: &TestHost) -> Vec<Value> {
    let r = host
        .http()
        .get(format!("{}/ecma2host_hr/space", host.origin()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    body["runs"].as_array().cloned().unwrap_or_default()
}

fn full_successes(runs: &[Value]) -> usize {
    runs.iter()
        .filter(|r| r["kind"] == "full" && r["outcome"] == "success")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_the_connector_cannot_resume_from_triggers_a_full_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(Backend::Sqlite, dir.path()).unwrap();
    db.execute(r#"CREATE TABLE "People" ("Id" VARCHAR(64) NOT NULL PRIMARY KEY, "UserName" VARCHAR(128), "Version" INTEGER NOT NULL)"#).unwrap();
    db.execute(r#"INSERT INTO "People" VALUES ('p1', 'ada', 1)"#)
        .unwrap();
    let host = TestHost::start(&config(&db.connection), dir).await.unwrap();
    let client = host.scim("hr", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();
    assert_eq!(
        full_successes(&runs(&host).await),
        1,
        "the first full import"
    );

    // The stored watermark becomes one the SQL connector did not make.
    let space = rusqlite::Connection::open(host.data_dir().join("space").join("hr.db")).unwrap();
    space.busy_timeout(Duration::from_secs(5)).unwrap();
    space
        .execute("UPDATE watermarks SET value = 'a-foreign-cookie'", [])
        .unwrap();
    // A row added meanwhile: only a full import (or a working delta) brings it.
    db.execute(r#"INSERT INTO "People" VALUES ('p2', 'grace', 2)"#)
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = runs(&host).await;
        if full_successes(&list) >= 2 {
            let failed_delta = list.iter().any(|r| {
                r["kind"] == "delta" && r["outcome"].as_str().unwrap_or("").contains("full import")
            });
            assert!(
                failed_delta,
                "the delta run that asked for it is in the history: {list:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no second full import: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mark: String = space
        .query_row("SELECT value FROM watermarks", [], |r| r.get(0))
        .unwrap();
    assert_ne!(
        mark, "a-foreign-cookie",
        "the full import set a fresh watermark"
    );
    let found = client
        .get(
            "/Users",
            &[(
                "filter",
                r#"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:UserName eq "grace""#,
            )],
        )
        .await
        .unwrap();
    assert_eq!(found.body["totalResults"], 1, "{}", found.got());
}
