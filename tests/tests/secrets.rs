//! Passwords reach the target and nothing else (contract v2, DESIGN §2): a password created,
//! changed by PATCH and by PUT, and one already in the table when the host imports it, is
//! written to the staging table, and never appears in the connector space (its files, WAL
//! included), the space view, a SCIM response or a log line, in both schema modes, on the
//! built-in SQLite and on PostgreSQL through its ODBC driver.
//!
//! The host runs in this test process, so a global `tracing` subscriber at TRACE level for the
//! host's crates (and the `audit` target) records every line it logs; the test checks that the
//! recording holds the export audit lines and none of the passwords.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use e2e::harness::token_hash;
use e2e::{Backend, Database, TestHost};
use serde_json::{Value, json};

const TOKEN: &str = "secrets-token-0123456789";
const ECMA: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Everything the host logged in this process.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "connector_host=trace,connector_sql=trace,connector_core=trace,schemas=trace,audit=trace",
            ))
            .with_ansi(false)
            .with_writer(move || Recorder(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
    .clone()
}

/// A `tracing` writer appending to the shared buffer.
struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Write for Recorder {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// The password is an ECMA2Host attribute of a column declared `type = "secret"`.
    Ecma2host,
    /// SCIM `password` is mapped to a column declared `type = "secret"`.
    Scim,
}

/// The passwords of one run; each unique to it, so a match anywhere is a leak of this run.
struct Passwords {
    seeded: String,
    created: String,
    patched: String,
    put: String,
}

impl Passwords {
    fn new() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let tag = &tag[..12];
        Passwords {
            seeded: format!("Seeded#{tag}"),
            created: format!("Created#{tag}"),
            patched: format!("Patched#{tag}"),
            put: format!("Put#{tag}"),
        }
    }

    fn all(&self) -> [&str; 4] {
        [&self.seeded, &self.created, &self.patched, &self.put]
    }

    /// Fails if `text` (from `place`) holds any of the passwords.
    fn assert_absent(&self, place: &str, text: &str) {
        for p in self.all() {
            assert!(!text.contains(p), "a password ({p}) leaked into {place}");
        }
    }
}

fn config(connection: &str, mode: Mode) -> String {
    let map = match mode {
        Mode::Ecma2host => String::new(),
        Mode::Scim => "[connector.users]\nobject_type = \"User\"\n[connector.users.map]\n\
                       userName = \"UserName\"\ndisplayName = \"DisplayName\"\n\
                       password = \"Password\"\n"
            .to_owned(),
    };
    let schema = match mode {
        Mode::Ecma2host => "ecma2host",
        Mode::Scim => "scim",
    };
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "apps"
kind = "sql"
schema = "{schema}"
token = {{ hash = "{hash}" }}
full_import_every = "2s"
[connector.sql]
connection = {connection}
[[connector.sql.object]]
type = "User"
table = "Accounts"
anchor = "AccountId"
[connector.sql.object.attributes.Password]
type = "secret"
[connector.deprovision]
delete = "delete"
{map}"#,
        hash = token_hash(TOKEN),
        connection = toml::Value::String(connection.to_owned()),
    )
}

fn user_body(mode: Mode, id: &str, user: &str, display: &str, password: &str) -> Value {
    match mode {
        Mode::Ecma2host => json!({
            "schemas": [CORE, ECMA],
            ECMA: {"AccountId": id, "UserName": user, "DisplayName": display, "Password": password}
        }),
        Mode::Scim => json!({
            "schemas": [CORE],
            "userName": user, "displayName": display, "password": password
        }),
    }
}

/// The PATCH Entra sends to change a password.
fn password_patch(mode: Mode, password: &str) -> Value {
    let path = match mode {
        Mode::Ecma2host => format!("{ECMA}:Password"),
        Mode::Scim => "password".to_owned(),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": path, "value": password}]
    })
}

fn stored_password(db: &Database, id: &str) -> Option<String> {
    db.query(&format!(
        r#"SELECT "Password" FROM "Accounts" WHERE "AccountId" = '{id}'"#
    ))
    .unwrap()
    .into_iter()
    .next()
    .and_then(|row| row.into_iter().next().flatten())
}

/// Every file under `dir`, as bytes, with its path.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// `GET` on the connector space view, as text.
async fn view(host: &TestHost, path: &str) -> String {
    let r = host
        .http()
        .get(format!("{}/ecma2host_apps/space{path}", host.origin()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "space view {path}");
    r.text().await.unwrap()
}

/// Waits until the space view lists at least `n` successful full imports.
async fn wait_full_imports(host: &TestHost, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let summary: Value = serde_json::from_str(&view(host, "").await).unwrap();
        let done = summary["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .filter(|r| r["kind"] == "full" && r["outcome"] == "success")
                    .count()
            })
            .unwrap_or(0);
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no {n} full imports: {summary}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ok(r: e2e::client::ScimResponse, allowed: &[u16]) -> Value {
    r.expect_status(allowed).unwrap();
    r.body
}

async fn run(backend: Backend, mode: Mode) {
    let log = log();
    let pw = Passwords::new();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(backend, dir.path()).unwrap();
    db.execute(r#"CREATE TABLE "Accounts" ("AccountId" VARCHAR(64) NOT NULL PRIMARY KEY, "UserName" VARCHAR(191) NOT NULL UNIQUE, "DisplayName" VARCHAR(191), "Password" VARCHAR(191))"#).unwrap();
    // An account whose password is already in the table: the first full import reads the row.
    db.execute(&format!(
        r#"INSERT INTO "Accounts" VALUES ('seed-1', 'seed@contoso.com', 'Seed', '{}')"#,
        pw.seeded
    ))
    .unwrap();
    let mut host = TestHost::start(&config(&db.connection, mode), dir)
        .await
        .unwrap();
    let client = host.scim("apps", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();

    // Create with a password: the table has it, the answer does not.
    let created = client
        .post(
            "/Users",
            &user_body(mode, "acc-1", "ada@contoso.com", "Ada", &pw.created),
        )
        .await
        .unwrap();
    pw.assert_absent("the POST response", &created.text);
    let body = ok(created, &[201]);
    let id = body["id"].as_str().unwrap().to_owned();
    let anchor = match mode {
        Mode::Ecma2host => "acc-1".to_owned(),
        Mode::Scim => id.clone(),
    };
    assert_eq!(stored_password(&db, &anchor).as_deref(), Some(&*pw.created));

    // Change it by PATCH, as Entra does.
    let patched = client
        .patch(&format!("/Users/{id}"), &password_patch(mode, &pw.patched))
        .await
        .unwrap();
    pw.assert_absent("the PATCH response", &patched.text);
    ok(patched, &[200, 204]);
    assert_eq!(stored_password(&db, &anchor).as_deref(), Some(&*pw.patched));

    // A PATCH of another attribute leaves the password alone.
    let renamed = client
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": match mode {
                    Mode::Ecma2host => format!("{ECMA}:DisplayName"),
                    Mode::Scim => "displayName".to_owned(),
                }, "value": "Ada L."}]
            }),
        )
        .await
        .unwrap();
    ok(renamed, &[200, 204]);
    assert_eq!(stored_password(&db, &anchor).as_deref(), Some(&*pw.patched));

    // Replace by PUT with a new password.
    let put = client
        .put(
            &format!("/Users/{id}"),
            &user_body(mode, "acc-1", "ada@contoso.com", "Ada Lovelace", &pw.put),
        )
        .await
        .unwrap();
    pw.assert_absent("the PUT response", &put.text);
    ok(put, &[200]);
    assert_eq!(stored_password(&db, &anchor).as_deref(), Some(&*pw.put));

    // Reads: by id, by filter, listing, and the seeded account.
    let user_name = match mode {
        Mode::Ecma2host => format!("{ECMA}:UserName"),
        Mode::Scim => "userName".to_owned(),
    };
    for (path, query) in [
        (format!("/Users/{id}"), vec![]),
        ("/Users/seed-1".to_owned(), vec![]),
        (
            "/Users".to_owned(),
            vec![(
                "filter".to_owned(),
                format!("{user_name} eq \"ada@contoso.com\""),
            )],
        ),
        (
            "/Users".to_owned(),
            vec![("startIndex".to_owned(), "1".to_owned())],
        ),
    ] {
        let q: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = client.get(&path, &q).await.unwrap();
        r.expect_status(&[200]).unwrap();
        pw.assert_absent(&format!("GET {path}"), &r.text);
    }

    // A later full import reads the table again (the seeded password included).
    wait_full_imports(&host, 2).await;
    for path in ["", "/User", &format!("/User/{anchor}"), "/User/seed-1"] {
        pw.assert_absent(
            &format!("the space view {path:?}"),
            &view(&host, path).await,
        );
    }
    for (path, bytes) in files(host.data_dir()) {
        pw.assert_absent(&path, &String::from_utf8_lossy(&bytes));
    }
    host.stop().await.unwrap();
    for (path, bytes) in files(host.data_dir()) {
        pw.assert_absent(
            &format!("{path} after stop"),
            &String::from_utf8_lossy(&bytes),
        );
    }

    let logged = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(
        logged.contains("audit") && logged.contains("export"),
        "the log recording holds no export audit line, so it proves nothing: {}",
        &logged[..logged.len().min(2000)]
    );
    pw.assert_absent("the log", &logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ecma2host_passwords_reach_only_the_target() {
    run(Backend::Sqlite, Mode::Ecma2host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_scim_passwords_reach_only_the_target() {
    run(Backend::Sqlite, Mode::Scim).await;
}

#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ecma2host_passwords_reach_only_the_target() {
    run(Backend::Postgres, Mode::Ecma2host).await;
}

#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_scim_passwords_reach_only_the_target() {
    run(Backend::Postgres, Mode::Scim).await;
}
