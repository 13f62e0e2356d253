//! The real `connector-host` binary, as an administrator runs it: `init` writes a configuration
//! that `check-config` accepts, `token` prints a hash the configuration takes, and `serve`
//! reloads its certificate on SIGHUP without dropping open connections and drains on SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");

fn run(args: &[&str], dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run connector-host");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "connector-host {args:?} failed:\n{text}"
    );
    text
}

#[test]
fn init_writes_a_configuration_that_check_config_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["init", "--dir", "conf", "--name", "hr"], dir.path());
    assert!(out.contains("Secret token (shown once"), "{out}");
    let config = std::fs::read_to_string(dir.path().join("conf/connector-host.toml")).unwrap();
    assert!(
        config.contains("token = { hash = \"sha256:"),
        "only the hash is stored:\n{config}"
    );
    let token_line = out
        .lines()
        .skip_while(|l| !l.contains("Secret token"))
        .nth(2)
        .unwrap()
        .trim();
    assert!(
        !config.contains(token_line),
        "the token itself must not be in the file"
    );
    let checked = run(
        &["--config", "conf/connector-host.toml", "check-config"],
        dir.path(),
    );
    assert!(checked.contains("hr: ok"), "{checked}");
    let cert = run(
        &["--config", "conf/connector-host.toml", "cert"],
        dir.path(),
    );
    assert!(cert.contains("SHA-256:"), "{cert}");
    // Refuses to overwrite.
    let again = Command::new(BIN)
        .args(["init", "--dir", "conf"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn token_prints_a_hash_line_the_configuration_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["token", "hr"], dir.path());
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("token = { hash"))
        .expect(&out)
        .trim();
    let hash = line.split('"').nth(1).unwrap();
    assert!(
        connector_host::config::TokenHash::parse(hash).is_ok(),
        "{line}"
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn client_trusting(pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn write_cert(dir: &Path, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let g = certs::generate_self_signed(&names, 30).unwrap();
    std::fs::write(dir.join("host.crt"), &g.cert_pem).unwrap();
    std::fs::write(dir.join("host.key"), &g.key_pem).unwrap();
    g.cert_pem
}

#[test]
fn serve_reloads_the_certificate_on_sighup_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cert_a = write_cert(dir.path(), &["localhost", "127.0.0.1"]);
    rusqlite::Connection::open(dir.path().join("hr.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE Employees (EmployeeId TEXT PRIMARY KEY, UserName TEXT NOT NULL)",
        )
        .unwrap();
    std::fs::write(dir.path().join("hr.token"), "a-token-of-enough-length\n").unwrap();
    std::fs::write(
        dir.path().join("ch.toml"),
        format!(
            r#"version = 1
[server]
listen = "127.0.0.1:{port}"
[server.tls]
cert = "host.crt"
key = "host.key"
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
    let child = Command::new(BIN)
        .args(["--config", "ch.toml", "serve"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let url = format!("https://localhost:{port}/healthz");
    let old = client_trusting(&cert_a);
    let deadline = Instant::now() + Duration::from_secs(60);
    while old.get(&url).send().map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the host never answered /healthz"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let cert_b = write_cert(dir.path(), &["localhost"]);
    signal(&server.0, "-HUP");
    let new = client_trusting(&cert_b);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match new.get(&url).send() {
            Ok(r) if r.status().as_u16() == 200 => break,
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "a new connection never saw the reloaded certificate"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // The connection opened before the reload is still served.
    assert_eq!(old.get(&url).send().unwrap().status().as_u16(), 200);

    signal(&server.0, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the host did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
