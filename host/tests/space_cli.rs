//! Operating the connector space with the real `connector-host` binary: `space migrate` upgrades
//! a file written by an older build and says from which version, the run history names the host
//! that ran each import (`space stats`, `GET …/space`), `/healthz` names the space backend and
//! nothing else, `/metrics` names the host, and a PostgreSQL URL with a password in it is
//! refused without being repeated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");
const TOKEN: &str = "a-token-of-enough-length";
const ADMIN: &str = "an-admin-token-of-enough-length";

fn exec(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run connector-host")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(args: &[&str], dir: &Path) -> String {
    let out = exec(args, dir);
    let text = text(&out);
    assert!(
        out.status.success(),
        "connector-host {args:?} failed:\n{text}"
    );
    text
}

/// A target of two employees and a configuration serving it on `port` as host `agent-a`, with
/// `space` appended to the `[server]` table.
fn setup(dir: &Path, port: u16, space: &str) {
    rusqlite::Connection::open(dir.join("hr.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL);
             INSERT INTO Employees VALUES ('1', 'ann'), ('2', 'bob');",
        )
        .unwrap();
    std::fs::write(dir.join("hr.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join("admin.token"), format!("{ADMIN}\n")).unwrap();
    std::fs::write(
        dir.join("ch.toml"),
        format!(
            r#"version = 1
[server]
listen = "127.0.0.1:{port}"
host_id = "agent-a"
admin_token = {{ file = "admin.token" }}
{space}
[[connector]]
name = "hr"
kind = "sql"
token = {{ file = "hr.token" }}
[connector.sql]
connection = "sqlite://hr.db"
[[connector.sql.object]]
type = "User"
table = "Employees"
anchor = "EmployeeId"
"#
        ),
    )
    .unwrap();
}

/// The run lines of `space stats hr`.
fn run_lines(dir: &Path) -> Vec<String> {
    run(&["--config", "ch.toml", "space", "stats", "hr"], dir)
        .lines()
        .filter(|l| l.starts_with("run "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn space_migrate_upgrades_a_version_3_file_and_the_runs_name_their_host() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 8585, "");
    let first = run(&["--config", "ch.toml", "space", "migrate"], dir.path());
    assert!(first.contains("hr: no connector space yet"), "{first}");

    run(&["--config", "ch.toml", "import", "hr"], dir.path());
    let lines = run_lines(dir.path());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" full ") && lines[0].contains(" on agent-a → success"),
        "{lines:?}"
    );

    // The file as a version 3 build left it: runs without a host.
    let space = dir.path().join("data/space/hr.db");
    rusqlite::Connection::open(&space)
        .unwrap()
        .execute_batch(
            "ALTER TABLE runs DROP COLUMN host;
             UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    let migrated = run(&["--config", "ch.toml", "space", "migrate"], dir.path());
    assert!(migrated.contains("hr: schema version 3 → 5"), "{migrated}");
    let lines = run_lines(dir.path());
    assert_eq!(lines.len(), 1, "the run is kept: {lines:?}");
    assert!(lines[0].contains(" on - → success"), "{lines:?}");
    let count = run(&["--config", "ch.toml", "space", "list", "hr"], dir.path());
    assert!(count.starts_with("2 objects of type User"), "{count}");

    let again = run(&["--config", "ch.toml", "space", "migrate"], dir.path());
    assert!(again.contains("hr: schema version 5, current"), "{again}");
}

#[test]
fn space_migrate_refuses_a_file_of_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 8585, "");
    run(&["--config", "ch.toml", "import", "hr"], dir.path());
    rusqlite::Connection::open(dir.path().join("data/space/hr.db"))
        .unwrap()
        .execute_batch("UPDATE meta SET value = '99' WHERE key = 'schema_version';")
        .unwrap();
    let out = exec(&["--config", "ch.toml", "space", "migrate"], dir.path());
    assert!(!out.status.success());
    let text = text(&out);
    assert!(
        text.contains("schema version 99, newer than the 5"),
        "{text}"
    );
}

#[test]
fn a_password_in_the_postgres_url_is_refused_and_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        8585,
        "[server.space]\nbackend = \"postgres\"\nurl = \"postgresql://ch:pw-in-url-x9@db.invalid/spaces\"",
    );
    for args in [
        &["--config", "ch.toml", "check-config"][..],
        &["--config", "ch.toml", "space", "migrate"][..],
    ] {
        let out = exec(args, dir.path());
        assert!(!out.status.success(), "{args:?}");
        let text = text(&out);
        assert!(text.contains("must not contain the password"), "{text}");
        assert!(!text.contains("pw-in-url-x9"), "{text}");
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn healthz_names_the_backend_only_and_the_host_shows_in_the_space_view_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    setup(dir.path(), port, "");
    let _server = Server(
        Command::new(BIN)
            .args(["--config", "ch.toml", "serve"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The generated certificate is trusted by reading it: this test is about the answers.
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let origin = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        if let Ok(r) = http.get(format!("{origin}/healthz")).send()
            && r.status().as_u16() == 200
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the host never answered /healthz"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        health
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        health.text().unwrap(),
        r#"{"status":"ok","space":"sqlite"}"#
    );

    // The first import (the space was empty) names this host in the run history.
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let r = http
            .get(format!("{origin}/ecma2host_hr/space"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        if r.status().as_u16() == 200 {
            let v: serde_json::Value = r.json().unwrap();
            if v["runs"][0]["outcome"] == "success" {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no successful import in the view"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(view["host"], "agent-a");
    assert_eq!(view["runs"][0]["host"], "agent-a");
    assert_eq!(view["space"]["backend"], "sqlite");
    assert_eq!(view["space"]["shared"], false);
    assert_eq!(view["space"]["importLease"], serde_json::Value::Null);

    let metrics = http
        .get(format!("{origin}/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("connector_host_info{host=\"agent-a\",space=\"sqlite\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("connector_host_import_lease_held{connector=\"hr\"} 1"),
        "{metrics}"
    );
}
