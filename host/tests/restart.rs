//! The real `connector-host` binary across starts. Killed with SIGKILL, as a crash or the OOM
//! killer would, in the middle of concurrent creates and in the middle of a full import: after
//! a restart the connector space must equal the target table, lookups must answer from the
//! persisted space at once (no 503 while a full import re-reads the target), and no full import
//! may run just because the stop was unclean. On a very first start, requests get a 503 that
//! says how far the first import is, and `import` shows the same progress.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connector_core::{Anchor, AttrValue};
use connector_host::space::Space;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");
const TOKEN: &str = "a-token-of-enough-length";

/// A host process, killed (SIGKILL) when dropped.
struct Host {
    child: Child,
    log: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    /// SIGKILL: no shutdown code runs, as in a crash.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

struct Setup {
    dir: tempfile::TempDir,
    port: u16,
    cert: String,
    client: reqwest::blocking::Client,
    starts: usize,
}

impl Setup {
    fn new(full_import_every: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
        std::fs::write(
            dir.path().join("ch.toml"),
            format!(
                r#"version = 1
[server]
listen = "127.0.0.1:{port}"
data_dir = "data"
[server.tls]
cert = "host.crt"
key = "host.key"
[[connector]]
name = "hr"
kind = "sql"
schema = "scim"
token = {{ file = "hr.token" }}
full_import_every = "{full_import_every}"
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
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(g.cert_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Setup {
            dir,
            port,
            cert: g.cert_pem,
            client,
            starts: 0,
        }
    }

    /// Fills the target with `n` more rows `bulk-<i>` in one transaction.
    fn grow(&self, n: u64) {
        let mut t = target(self.dir.path());
        let tx = t.transaction().unwrap();
        {
            let mut insert = tx.prepare("INSERT INTO Employees VALUES (?1, ?2)").unwrap();
            for i in 0..n {
                insert
                    .execute([format!("n{i:07}"), format!("bulk-{i}")])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }

    /// Starts the binary and waits until it serves HTTPS (not until the connector is ready).
    fn start(&mut self) -> Host {
        self.starts += 1;
        let log = self.dir.path().join(format!("host-{}.log", self.starts));
        let child = Command::new(BIN)
            .args(["--config", "ch.toml", "serve"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap();
        let host = Host { child, log };
        let deadline = Instant::now() + Duration::from_secs(90);
        while self
            .client
            .get(self.url("/healthz"))
            .send()
            .map(|r| r.status().as_u16())
            .ok()
            != Some(200)
        {
            assert!(
                Instant::now() < deadline,
                "the host never answered /healthz"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        host
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn users_url(&self) -> String {
        self.url("/ecma2host_hr/scim/Users")
    }

    /// `filter=userName eq "name"`: (status, totalResults).
    fn lookup(&self, name: &str) -> (u16, Option<u64>) {
        let r = self
            .client
            .get(format!(
                "{}?filter={}",
                self.users_url(),
                percent_encoding::utf8_percent_encode(
                    &format!("userName eq \"{name}\""),
                    percent_encoding::NON_ALPHANUMERIC
                )
            ))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap_or(Value::Null);
        (status, body["totalResults"].as_u64())
    }

    /// Waits until the connector answers lookups (its first import is done).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.lookup("nobody").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the connector never became ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every userName the host lists, walking all pages.
    fn listed(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut start = 1;
        loop {
            let page: Value = self
                .client
                .get(format!("{}?startIndex={start}&count=100", self.users_url()))
                .bearer_auth(TOKEN)
                .send()
                .unwrap()
                .json()
                .unwrap();
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            if resources.is_empty() {
                return names;
            }
            start += resources.len();
            names.extend(
                resources
                    .iter()
                    .map(|r| r["userName"].as_str().unwrap().to_owned()),
            );
        }
    }

    fn table(&self) -> BTreeSet<String> {
        let conn = target(self.dir.path());
        let mut stmt = conn.prepare("SELECT UserName FROM Employees").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn space_path(&self) -> PathBuf {
        self.dir.path().join("data/space/hr.db")
    }
}

fn target(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("hr.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// Creates users from `threads` threads until `stop`; returns the userNames the host answered
/// 201 for.
fn create_until(
    setup: &Setup,
    threads: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..threads)
        .map(|t| {
            let client = reqwest::blocking::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(setup.cert.as_bytes()).unwrap()])
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let url = setup.users_url();
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("user-{t}-{i}");
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name,
                    });
                    match client.post(&url).bearer_auth(TOKEN).json(&body).send() {
                        Ok(r) if r.status().as_u16() == 201 => {
                            mine.push(name);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("create {name}: {}", r.status()),
                        // The host was killed under this request.
                        Err(_) => break,
                    }
                }
                mine
            })
        })
        .collect()
}

#[test]
fn a_kill_during_creates_costs_a_read_back_not_a_full_import() {
    let mut setup = Setup::new("2h");
    let host = setup.start();
    setup.wait_ready();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let workers = create_until(&setup, 8, stop.clone(), acked.clone());
    while acked.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    host.kill();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();

    // The instant an export reaches the target and the host dies before its write-through:
    // the intent is in the space (as the export records it first), the target holds the row.
    // One new object the space never saw, and one deletion it never saw.
    {
        let space = Space::open_as_stored(&setup.space_path()).unwrap();
        let gone = &acknowledged[0];
        let gone_anchor = space
            .scan("User", None, 1_000_000)
            .unwrap()
            .into_iter()
            .find(|s| s.object.attributes["UserName"] == vec![AttrValue::String(gone.clone())])
            .unwrap()
            .object
            .anchor;
        space
            .record_intent("User", Some(&gone_anchor), "test-host")
            .unwrap();
        space
            .record_intent("User", Some(&Anchor("in-flight".into())), "test-host")
            .unwrap();
        let t = target(setup.dir.path());
        t.execute(
            "DELETE FROM Employees WHERE EmployeeId = ?1",
            [gone_anchor.as_str()],
        )
        .unwrap();
        t.execute(
            "INSERT INTO Employees (EmployeeId, UserName) VALUES ('in-flight', 'in-flight')",
            [],
        )
        .unwrap();
        assert!(
            space
                .get("User", &Anchor("in-flight".into()))
                .unwrap()
                .is_none()
        );
    }

    let restarted = setup.start();
    // The first lookup after the restart is answered from the persisted space, no 503.
    assert_eq!(
        setup.lookup("in-flight"),
        (200, Some(1)),
        "the object in flight at the kill, read back"
    );
    assert_eq!(
        setup.lookup(&acknowledged[0]),
        (200, Some(0)),
        "the object deleted in flight at the kill, read back"
    );
    let table = setup.table();
    for name in &acknowledged[1..] {
        assert!(table.contains(name), "acknowledged {name} is in the table");
    }
    assert_eq!(setup.listed(), table, "the space equals the target");
    let log = restarted.log();
    assert!(
        log.contains("read back from the target"),
        "the restart read back the exports in flight:\n{log}"
    );
    assert!(
        !log.contains("full import started"),
        "no full import after a kill:\n{log}"
    );
    eprintln!(
        "{} creates acknowledged before the kill; {} rows in the table",
        acknowledged.len(),
        table.len()
    );
}

#[test]
fn a_kill_during_a_full_import_leaves_the_previous_state() {
    let mut setup = Setup::new("1s");
    {
        let t = target(setup.dir.path());
        for i in 1..=20 {
            t.execute(
                "INSERT INTO Employees VALUES (?1, ?2)",
                [format!("e{i}"), format!("before-{i}")],
            )
            .unwrap();
        }
    }
    let host = setup.start();
    setup.wait_ready();
    let before = setup.table();
    assert_eq!(setup.listed(), before);

    // A target that grows by 100,000 rows: the next scheduled full import takes a while.
    setup.grow(100_000);
    // Kill an import 200 ms after it started, once one is still running then: one that read
    // the 20 rows before the insert committed is over by then.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = host.log().matches("full import started").count();
    loop {
        assert!(
            Instant::now() < deadline,
            "no full import ran long enough to be killed"
        );
        let log = host.log();
        let started = log.matches("full import started").count();
        if started > seen {
            seen = started;
            std::thread::sleep(Duration::from_millis(200));
            let log = host.log();
            let last = log.rfind("full import started").unwrap();
            if !log[last..].contains("import finished") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    host.kill();

    // The file holds exactly one complete import: the 20 rows, or all 100,020 when an import
    // of the grown table committed before the one that was killed (the schedule runs every
    // second, and a commit can precede its log line). Never anything in between.
    {
        let space = Space::open_as_stored(&setup.space_path()).unwrap();
        let count = space.count("User").unwrap();
        let complete = [before.len() as u64, before.len() as u64 + 100_000];
        assert!(
            complete.contains(&count),
            "the space holds {count} users after the kill: not one complete import ({complete:?})"
        );
    }
    let _restarted = setup.start();
    let (status, _) = setup.lookup("before-1");
    assert_eq!(status, 200, "served from the persisted space at once");
}

#[test]
fn the_first_start_answers_503_with_progress_until_its_import_is_done() {
    let mut setup = Setup::new("2h");
    setup.grow(200_000);
    let _host = setup.start();
    let mut progress = None;
    let mut view_progress = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "the first import never finished");
        let r = setup
            .client
            .get(format!(
                "{}?filter=userName%20eq%20%22bulk-7%22",
                setup.users_url()
            ))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        if status == 200 {
            let body: Value = r.json().unwrap();
            assert_eq!(body["totalResults"], 1);
            break;
        }
        assert_eq!(status, 503, "only 503 before the first import is done");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "Retry-After {retry}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/scim+json"
        );
        let body: Value = r.json().unwrap();
        let detail = body["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("first import"), "{detail}");
        if detail.contains("of 200000 objects read") && detail.contains("objects/s") {
            progress = Some(detail);
        }
        // The space view, behind the same token, shows the same progress meanwhile.
        let view: Value = setup
            .client
            .get(setup.url("/ecma2host_hr/space"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(line) = view["import"]["progress"].as_str()
            && line.contains("of 200000 objects read")
        {
            view_progress = Some(line.to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let progress = progress.expect("no 503 showed the import's progress");
    eprintln!("{progress}");
    let view_progress = view_progress.expect("the space view never showed the import's progress");
    eprintln!("{view_progress}");
}

#[test]
fn import_prints_objects_read_of_the_total() {
    let setup = Setup::new("2h");
    setup.grow(1_000);
    let out = Command::new(BIN)
        .args(["--config", "ch.toml", "import", "hr"])
        .current_dir(setup.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("User: 0 of 1000 objects read"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1000 added"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
