//! `connector-host demo --connector mimservice`, as a newcomer runs it: the real binary starts
//! the simulator binary found next to it, serves SCIM in front of it, answers a contractor's
//! create with 201 while MIM waits for an approval, lists it with `space pending`, and stops
//! the simulator when it stops.
//!
//! The simulator is a separate binary of the workspace (`mimservice-sim`), which cargo does
//! not build for this package's tests: the test builds it first with the same cargo and
//! profile, so it lands next to `connector-host` in `target/<profile>/`, where the demo looks.
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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds `mimservice-sim` into the directory `connector-host` was built into.
fn build_simulator() {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let target_dir = bin_dir.parent().unwrap();
    let profile = bin_dir.file_name().unwrap().to_str().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "mimservice-sim", "--bin", "mimservice-sim"])
        .arg("--target-dir")
        .arg(target_dir);
    if profile != "debug" {
        cmd.args(["--profile", profile]);
    }
    let status = cmd.status().expect("run cargo build -p mimservice-sim");
    assert!(status.success(), "cargo build -p mimservice-sim failed");
    assert!(bin_dir.join("mimservice-sim").is_file());
}

/// A client trusting only `pem`; `None` while the file is not a whole certificate yet.
fn client_trusting(pem: &[u8]) -> Option<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem).ok()?])
        .timeout(Duration::from_secs(30))
        .build()
        .ok()
}

#[test]
fn the_mimservice_demo_serves_the_simulator_and_lists_pending_approvals() {
    build_simulator();
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "demo",
            "--connector",
            "mimservice",
            "--port",
            &port.to_string(),
            "--dir",
        ])
        .arg(&demo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);

    // Ready: the certificate exists and SCIM answers (not 503: the first import is done).
    let cert = demo.join("data/certs/connector-host.crt");
    let users = format!("https://127.0.0.1:{port}/ecma2host_mim/scim/Users");
    let deadline = Instant::now() + Duration::from_secs(90);
    let (client, token) = loop {
        assert!(server.0.try_wait().unwrap().is_none(), "the demo stopped");
        assert!(Instant::now() < deadline, "the demo never served");
        if let (Ok(pem), Ok(token)) = (
            std::fs::read(&cert),
            std::fs::read_to_string(demo.join("secrets/mim.token")),
        ) && let Some(client) = client_trusting(&pem)
        {
            let token = token.trim().to_owned();
            let probe = client
                .get(format!("{users}?filter=userName eq \"nobody\""))
                .bearer_auth(&token)
                .send();
            if probe.map(|r| r.status().as_u16()).ok() == Some(200) {
                break (client, token);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let r = client
        .post(&users)
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"cora","displayName":"Cora Contractor","userType":"Contractor"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());

    // A group: MIM's required Scope, Type, … come from the demo's create_defaults.
    let r = client
        .post(format!("https://127.0.0.1:{port}/ecma2host_mim/scim/Groups"))
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Demo Group","members":[]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());

    let out = Command::new(BIN)
        .arg("--config")
        .arg(demo.join("connector-host.toml"))
        .args(["space", "pending", "mim"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 pending exports in mim"), "{text}");
    assert!(text.contains("approval of MIM request"), "{text}");
    assert!(text.contains("cora"), "{text}");

    // Stopping the demo stops the simulator.
    let config = std::fs::read_to_string(demo.join("connector-host.toml")).unwrap();
    let sim_addr = config
        .lines()
        .find_map(|l| l.strip_prefix("base_url = \"http://"))
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let ok = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = server.0.wait().unwrap();
    assert!(status.success(), "the demo ended with {status}");
    assert!(
        std::net::TcpStream::connect(&sim_addr).is_err(),
        "the simulator at {sim_addr} outlived the demo"
    );
}
