//! `connector-host demo --connector script`, as a newcomer runs it: it prints an endpoint, a
//! token and a certificate; a user created through that endpoint (with the Python reference
//! connector behind it, run by the system `python3`) is found by filter; the demo stops on
//! SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");
const ECMA: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value after `label` on a banner line.
fn banner_value(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {label:?} in the banner:\n{}", lines.join("\n")))
}

#[test]
fn script_demo_creates_a_user_and_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "demo",
            "--connector",
            "script",
            "--dir",
            "demo",
            "--port",
            &port.to_string(),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);

    // The banner: read lines until the create example has been printed.
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("curl")) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => lines.push(line),
            Err(e) => panic!("no banner ({e}); printed so far:\n{}", lines.join("\n")),
        }
    }
    let endpoint = banner_value(&lines, "SCIM endpoint:");
    let token = banner_value(&lines, "Secret token:");
    let cert_path = banner_value(&lines, "Certificate:");
    let cert_path = cert_path.split(" (").next().unwrap().to_owned();
    assert_eq!(
        endpoint,
        format!("https://localhost:{port}/ecma2host_scripted/scim")
    );
    assert!(dir.path().join("demo/connector.py").exists());

    // The certificate is written on start; the connector answers 503 until its first import.
    let deadline = Instant::now() + Duration::from_secs(60);
    let cert = loop {
        match std::fs::read(dir.path().join(&cert_path)) {
            Ok(pem) if !pem.is_empty() => break pem,
            _ => {
                assert!(Instant::now() < deadline, "no certificate at {cert_path}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let client = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&cert).unwrap()])
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let users = format!("{endpoint}/Users");
    let create = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        ECMA: {"id": "1001", "userName": "ada@contoso.com", "displayName": "Ada Lovelace",
               "password": "Initial#1"}
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let created = loop {
        let r = client
            .post(&users)
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(create.to_string())
            .send();
        match r {
            Ok(r) if r.status().as_u16() == 503 || r.status().as_u16() == 502 => {}
            Ok(r) => break r,
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "the demo never served a create");
        std::thread::sleep(Duration::from_millis(100));
    };
    let status = created.status().as_u16();
    let body = created.text().unwrap();
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.contains("Initial#1"),
        "the password is never answered"
    );

    let filter = format!("{ECMA}:userName eq \"ada@contoso.com\"");
    let found: serde_json::Value = client
        .get(reqwest::Url::parse_with_params(&users, [("filter", filter.as_str())]).unwrap())
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["totalResults"], serde_json::json!(1), "{found}");
    assert_eq!(found["Resources"][0]["id"], serde_json::json!("1001"));

    // The script's store has the user (and its password), in the demo directory.
    let db = rusqlite::Connection::open(dir.path().join("demo/users.db")).unwrap();
    let password: String = db
        .query_row("SELECT password FROM users WHERE id = '1001'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(password, "Initial#1");

    let ok = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
