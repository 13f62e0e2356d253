//! Two real `connector-host` processes sharing one connector space on PostgreSQL, as two agents
//! assigned to one Entra app are: what one host writes through, the other finds at once; racing
//! creates of one `userName` across both give one 201; one host at a time runs the scheduled
//! imports, and another takes over when it is killed; PostgreSQL restarting under exports
//! leaves every 201 applied and every failure a retryable 503.
//!
//! The space lives on a private PostgreSQL server started for each test (so it can be stopped
//! under the hosts without touching the machine's shared server); the target is one SQLite
//! staging table both hosts' configuration files point at.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use serde_json::{Value, json};
use testkit::PrivatePostgres;

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");
const TOKEN: &str = "a-token-of-enough-length";

/// A host process, killed (SIGKILL) when dropped.
struct Host {
    child: Child,
    name: &'static str,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    /// SIGKILL: no shutdown code runs (the lease is not handed over), as in a crash.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// No thread of the host panicked (a panic in a request task only closes its connection).
    fn assert_no_panic(&self) {
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        let all = format!("{}{err}", self.log());
        assert!(
            !all.contains("panicked"),
            "{} panicked; its log:\n{all}",
            self.name
        );
    }
}

/// One private PostgreSQL for the space, one target table, and the two hosts' files.
struct Cluster {
    dir: tempfile::TempDir,
    pg: PrivatePostgres,
    client: reqwest::blocking::Client,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let g = certs::generate_self_signed(&["localhost".to_owned()], 30).unwrap();
        std::fs::write(dir.path().join("host.crt"), &g.cert_pem).unwrap();
        std::fs::write(dir.path().join("host.key"), &g.key_pem).unwrap();
        std::fs::write(dir.path().join("hr.token"), format!("{TOKEN}\n")).unwrap();
        target(dir.path())
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL);",
            )
            .unwrap();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(g.cert_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Cluster {
            dir,
            pg: PrivatePostgres::start(),
            client,
        }
    }

    /// Writes `<name>.toml` (its own port and data directory, the shared space and target) and
    /// starts the binary; returns once it serves HTTPS.
    fn start(&self, name: &'static str, full_import_every: &str) -> Host {
        self.start_with(name, full_import_every, "")
    }

    /// [`start`](Cluster::start) with `connector_extra` added to the `[[connector]]` table.
    fn start_with(
        &self,
        name: &'static str,
        full_import_every: &str,
        connector_extra: &str,
    ) -> Host {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg_port = self.pg.port();
        std::fs::write(
            self.dir.path().join(format!("{name}.toml")),
            format!(
                r#"version = 1
[server]
listen = "127.0.0.1:{port}"
data_dir = "data-{name}"
host_id = "{name}"
[server.tls]
cert = "host.crt"
key = "host.key"
[server.space]
backend = "postgres"
url = "postgresql://postgres@127.0.0.1:{pg_port}/postgres"
import_lease = "3s"
[[connector]]
name = "hr"
kind = "sql"
schema = "scim"
token = {{ file = "hr.token" }}
full_import_every = "{full_import_every}"
{connector_extra}
[connector.sql]
connection = "sqlite://hr.db"
[[connector.sql.object]]
type = "User"
table = "Employees"
anchor = "EmployeeId"
[connector.users]
object_type = "User"
[connector.users.map]
userName = "UserName"
"#
            ),
        )
        .unwrap();
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new(BIN)
            .args(["--config", &format!("{name}.toml"), "serve"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap();
        let host = Host {
            child,
            name,
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.status(&host, "/healthz") != Some(200) {
            assert!(
                Instant::now() < deadline,
                "host {name} never answered /healthz; its log:\n{}\n{}",
                host.log(),
                std::fs::read_to_string(host.log.with_extension("err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        host
    }

    /// Sends `request` to `host`; a failure at the HTTP level (the host closed the connection:
    /// a panic in a request) fails the test with the host's log.
    fn send(&self, host: &Host, request: reqwest::blocking::RequestBuilder) -> Response {
        request.bearer_auth(TOKEN).send().unwrap_or_else(|e| {
            panic!(
                "a request to {} failed: {e}; its log:\n{}\n{}",
                host.name,
                host.log(),
                std::fs::read_to_string(host.log.with_extension("err")).unwrap_or_default()
            )
        })
    }

    /// Starts `host-a`, then `host-b` once `host-a` serves lookups, and waits for both.
    fn start_two(&self, full_import_every: &str) -> [Host; 2] {
        let a = self.start("host-a", full_import_every);
        self.wait_ready(&a);
        let b = self.start("host-b", full_import_every);
        self.wait_ready(&b);
        [a, b]
    }

    fn status(&self, host: &Host, path: &str) -> Option<u16> {
        self.client
            .get(url(host, path))
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// `filter=userName eq "name"` on `host`: (status, the resources found).
    fn lookup(&self, host: &Host, name: &str) -> (u16, Vec<Value>) {
        let (status, _, body) = self.lookup_answer(host, name);
        (
            status,
            body["Resources"].as_array().cloned().unwrap_or_default(),
        )
    }

    /// `filter=userName eq "name"` on `host`: (status, `Retry-After`, body).
    fn lookup_answer(&self, host: &Host, name: &str) -> (u16, Option<String>, Value) {
        let r = self
            .client
            .get(format!(
                "{}?filter={}",
                url(host, "/ecma2host_hr/scim/Users"),
                percent_encoding::utf8_percent_encode(
                    &format!("userName eq \"{name}\""),
                    percent_encoding::NON_ALPHANUMERIC
                )
            ))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, retry_after, r.json().unwrap_or(Value::Null))
    }

    /// Waits until `host` answers lookups (the space holds a complete import).
    fn wait_ready(&self, host: &Host) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.lookup(host, "nobody").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "host {} never became ready; its log:\n{}",
                host.name,
                host.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POST a user; (status, body).
    fn create(&self, host: &Host, name: &str) -> (u16, Value, Option<String>) {
        let r = self
            .client
            .post(url(host, "/ecma2host_hr/scim/Users"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name,
            }))
            .send();
        match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (status, r.json().unwrap_or(Value::Null), retry_after)
            }
            Err(e) => panic!("POST to {} failed at the HTTP level: {e}", host.name),
        }
    }

    fn table(&self) -> Vec<String> {
        let conn = target(self.dir.path());
        let mut stmt = conn
            .prepare("SELECT UserName FROM Employees ORDER BY UserName")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

fn url(host: &Host, path: &str) -> String {
    format!("https://localhost:{}{path}", host.port)
}

fn target(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("hr.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

#[test]
fn what_one_host_writes_the_other_reads_at_once() {
    let cluster = Cluster::new();
    let [a, b] = cluster.start_two("2h");

    // Created on A, found on B at once (no import in between: the schedule is 2 h).
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body, _) = cluster.create(&a, &format!("shared-{i}"));
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        let (status, found) = cluster.lookup(&b, &format!("shared-{i}"));
        assert_eq!(status, 200);
        assert_eq!(found.len(), 1, "host-b must find shared-{i}: {found:?}");
        assert_eq!(found[0]["id"], json!(id));
        assert_eq!(found[0]["meta"]["version"], json!("W/\"1\""));
    }

    // Changed on B, read on A with the next version.
    let r = cluster
        .client
        .patch(url(&b, &format!("/ecma2host_hr/scim/Users/{}", ids[0])))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "userName", "value": "renamed-0"}],
        }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let got: Value = cluster
        .send(
            &a,
            cluster
                .client
                .get(url(&a, &format!("/ecma2host_hr/scim/Users/{}", ids[0]))),
        )
        .json()
        .unwrap();
    assert_eq!(got["userName"], json!("renamed-0"));
    assert_eq!(got["meta"]["version"], json!("W/\"2\""));
    // An If-Match with the version A saw before B's change is refused on A.
    let stale = cluster.send(
        &a,
        cluster
            .client
            .delete(url(&a, &format!("/ecma2host_hr/scim/Users/{}", ids[0])))
            .header("if-match", "W/\"1\""),
    );
    assert_eq!(stale.status().as_u16(), 412);

    // Deleted on A, gone on B; both list the same objects with the same total.
    let r = cluster
        .client
        .delete(url(&a, &format!("/ecma2host_hr/scim/Users/{}", ids[1])))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let gone = cluster
        .client
        .get(url(&b, &format!("/ecma2host_hr/scim/Users/{}", ids[1])))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let total = |h: &Host| -> u64 {
        let page: Value = cluster
            .client
            .get(url(h, "/ecma2host_hr/scim/Users?startIndex=1&count=100"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        page["totalResults"].as_u64().unwrap()
    };
    assert_eq!(total(&a), 4);
    assert_eq!(total(&b), 4);
    assert_eq!(cluster.table().len(), 4);
    a.assert_no_panic();
    b.assert_no_panic();
}

#[test]
fn racing_creates_of_one_user_name_across_two_hosts_give_one_201() {
    let cluster = Arc::new(Cluster::new());
    let hosts = Arc::new(cluster.start_two("2h"));
    let go = Arc::new(std::sync::Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let (cluster, hosts, go) = (cluster.clone(), hosts.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let (status, body, _) = cluster.create(&hosts[i % 2], "the-one-and-only");
                (status, body)
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created, 1, "exactly one create must succeed: {results:?}");
    assert_eq!(
        conflicts.len(),
        19,
        "the others must be told 409: {results:?}"
    );
    for body in conflicts {
        assert_eq!(body["scimType"], json!("uniqueness"), "{body}");
    }
    assert_eq!(cluster.table(), vec!["the-one-and-only".to_owned()]);
    for h in hosts.iter() {
        assert_eq!(cluster.lookup(h, "the-one-and-only").1.len(), 1);
        h.assert_no_panic();
    }
}

#[test]
fn the_import_lease_moves_when_the_importing_host_is_killed() {
    let cluster = Cluster::new();
    let [a, b] = cluster.start_two("1s");
    // While A lives, A alone imports: B never takes the lease.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.log().contains("now runs the imports") {
        assert!(
            Instant::now() < deadline,
            "host-a never took the import lease; its log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !b.log().contains("now runs the imports"),
        "host-b took the lease while host-a held it; its log:\n{}",
        b.log()
    );

    // A dies without handing the lease over; a row written straight into the target can only
    // reach the space through B's imports once B holds the lease.
    a.kill();
    target(cluster.dir.path())
        .execute(
            "INSERT INTO Employees VALUES ('direct-1', 'written-behind-the-hosts')",
            [],
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, found) = cluster.lookup(&b, "written-behind-the-hosts");
        if status == 200 && found.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host-b did not take over the imports within the lease; its log:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        b.log().contains("now runs the imports"),
        "host-b imported without saying it took the lease; its log:\n{}",
        b.log()
    );
    b.assert_no_panic();
}

#[test]
fn postgres_restarting_under_exports_leaves_every_201_applied_and_every_failure_retryable() {
    let cluster = Arc::new(Cluster::new());
    let hosts = Arc::new(cluster.start_two("2h"));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (cluster, hosts, stop, counter) = (
                cluster.clone(),
                hosts.clone(),
                stop.clone(),
                counter.clone(),
            );
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let name = format!("during-restart-{n}");
                    let (status, body, retry_after) = cluster.create(&hosts[t % 2], &name);
                    outcomes.push((name, status, body, retry_after));
                }
                outcomes
            })
        })
        .collect();
    // Lookups on both hosts meanwhile: an answer from the space or a retryable 503, never an
    // error of another kind and never a hang (the client gives up after its timeout).
    let lookups = {
        let (cluster, hosts, stop) = (cluster.clone(), hosts.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                answers.push(cluster.lookup_answer(&hosts[n % 2], "during-restart-0"));
            }
            answers
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    // Down for longer than a write-through waits for it (10 s), so some requests are refused.
    cluster.pg.stop_server();
    std::thread::sleep(Duration::from_secs(12));
    cluster.pg.start_server();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let answers = lookups.join().unwrap();
    let refused = answers.iter().filter(|(s, _, _)| *s == 503).count();
    eprintln!(
        "{} lookups while PostgreSQL restarted: {refused} refused",
        answers.len()
    );
    assert!(
        refused > 0,
        "lookups were answered while the space was down"
    );
    for (status, retry_after, body) in &answers {
        assert!(
            *status == 200 || (*status == 503 && retry_after.is_some()),
            "a lookup while PostgreSQL restarted gave {status} (Retry-After {retry_after:?}): {body}"
        );
    }

    let created: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, s, _, _)| *s == 201)
        .map(|(n, _, _, _)| n.as_str())
        .collect();
    let failed: Vec<_> = outcomes.iter().filter(|(_, s, _, _)| *s != 201).collect();
    eprintln!(
        "{} creates while PostgreSQL restarted: {} answered 201, {} refused",
        outcomes.len(),
        created.len(),
        failed.len()
    );
    assert!(
        !created.is_empty(),
        "no create succeeded at all: {outcomes:?}"
    );
    for (name, status, body, retry_after) in &failed {
        assert_eq!(
            *status, 503,
            "a create that failed while PostgreSQL restarted must be a retryable 503 ({name}): {body}"
        );
        assert!(
            retry_after.is_some(),
            "a 503 must say when to retry ({name}): {body}"
        );
    }
    // Every 201 is in the target and found on both hosts.
    let table: BTreeSet<String> = cluster.table().into_iter().collect();
    for name in &created {
        assert!(
            table.contains(*name),
            "{name} was acknowledged but is not in the target"
        );
        for h in hosts.iter() {
            assert_eq!(
                cluster.lookup(h, name).1.len(),
                1,
                "{name} was acknowledged but {} does not find it",
                h.name
            );
        }
    }
    // A refused create must be safe to retry: if it reached the target after all (its outcome
    // is what the intent records), the space holds it once it is back, and the retry is a 409,
    // never a second row. Those, and a sample of the others, are retried.
    let reached: Vec<&str> = failed
        .iter()
        .map(|(n, _, _, _)| n.as_str())
        .filter(|n| table.contains(*n))
        .collect();
    let sample = failed
        .iter()
        .map(|(n, _, _, _)| n.as_str())
        .filter(|n| !table.contains(*n))
        .step_by((failed.len() / 20).max(1));
    for name in reached.iter().copied().chain(sample) {
        let (status, body, _) = cluster.create(&hosts[0], name);
        assert!(
            status == 201 || status == 409,
            "retrying {name} after the restart gave {status}: {body}"
        );
        let rows = cluster.table().iter().filter(|n| *n == name).count();
        assert_eq!(
            rows, 1,
            "{name} is in the target {rows} times after a retry"
        );
    }
    for h in hosts.iter() {
        h.assert_no_panic();
    }
}

#[test]
fn an_export_a_killed_host_left_in_flight_is_read_back_by_the_other_host() {
    let cluster = Cluster::new();
    // A short export budget, so an intent counts as left by a dead host after 2 s + 30 s.
    let a = cluster.start_with("host-a", "2h", "export_timeout = \"2s\"");
    cluster.wait_ready(&a);
    let (status, body, _) = cluster.create(&a, "before-the-crash");
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let b = cluster.start_with("host-b", "2h", "export_timeout = \"2s\"");
    cluster.wait_ready(&b);

    kill_in_flight(&cluster, a, &id);
    assert_eq!(cluster.lookup(&b, "before-the-crash").1.len(), 1);

    // B takes the import lease over and, once the intent is older than A's export budget,
    // reads the object back.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, found) = cluster.lookup(&b, "changed-at-the-target");
        if status == 200 && found.len() == 1 {
            assert_eq!(found[0]["id"], json!(id));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host-b never read back the export host-a left in flight; its log:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(b.log().contains("read back from the target"), "{}", b.log());
    assert_eq!(cluster.lookup(&b, "before-the-crash").1.len(), 0);
    b.assert_no_panic();
}

/// Kills `host` while its PATCH of `id` waits inside the target (locked by someone else) after
/// its intent is recorded; then the object changes at the target, so only a read-back of the
/// open intent can bring that into the space (named `changed-at-the-target`).
fn kill_in_flight(cluster: &Cluster, host: Host, id: &str) {
    let mut blocker = target(cluster.dir.path());
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let patch = {
        let request = cluster
            .client
            .patch(url(&host, &format!("/ecma2host_hr/scim/Users/{id}")))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "userName", "value": "never-written"}],
            }));
        std::thread::spawn(move || request.send().map(|r| r.status().as_u16()))
    };
    std::thread::sleep(Duration::from_millis(700));
    host.kill();
    assert!(
        patch.join().unwrap().is_err(),
        "the PATCH must not have been answered before the kill"
    );
    lock.execute(
        "UPDATE Employees SET UserName = 'changed-at-the-target' WHERE EmployeeId = ?1",
        [id],
    )
    .unwrap();
    lock.commit().unwrap();
}

#[test]
fn a_host_restarted_after_a_kill_reads_back_its_own_export_in_flight_at_once() {
    let cluster = Cluster::new();
    // A long export budget: another host would count the intent as orphaned only after
    // 60 s + 30 s; the restarted host knows it as its own.
    let extra = "export_timeout = \"60s\"";
    let a = cluster.start_with("host-a", "2h", extra);
    cluster.wait_ready(&a);
    let (status, body, _) = cluster.create(&a, "before-the-crash");
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    kill_in_flight(&cluster, a, &id);

    let a = cluster.start_with("host-a", "2h", extra);
    cluster.wait_ready(&a);
    let (status, found) = cluster.lookup(&a, "changed-at-the-target");
    assert_eq!(status, 200);
    assert_eq!(
        found.len(),
        1,
        "the restart did not read its own intent back:\n{}",
        a.log()
    );
    assert_eq!(found[0]["id"], json!(id));
    assert_eq!(cluster.lookup(&a, "before-the-crash").1.len(), 0);
    assert!(a.log().contains("read back from the target"), "{}", a.log());
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the test took so long that the intent was an orphan anyway"
    );
    a.assert_no_panic();
}
