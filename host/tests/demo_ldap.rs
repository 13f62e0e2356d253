//! `connector-host demo --connector ldap`, as a newcomer runs it: the binary starts its private
//! slapd, prints the endpoint and token, creates a user through that endpoint into the
//! directory, and takes slapd down with it when it stops.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");

/// The demo process, killed if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn ldap_demo_creates_a_user_in_its_slapd_and_stops_it() {
    if !Path::new("/usr/sbin/slapd").exists() {
        panic!(
            "/usr/sbin/slapd is missing: run ./scripts/test.sh (apt-get install slapd ldap-utils)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let child = Command::new(BIN)
        .args([
            "demo",
            "--connector",
            "ldap",
            "--dir",
            "demo",
            "--port",
            &port,
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Running(child);
    let stdout = demo.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut endpoint, mut token) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(e) = line.trim().strip_prefix("SCIM endpoint:") {
            endpoint = Some(e.trim().to_owned());
        }
        if let Some(t) = line.trim().strip_prefix("Secret token:") {
            token = Some(t.trim().to_owned());
            break;
        }
    }
    let (endpoint, token) = (endpoint.expect("an endpoint"), token.expect("a token"));
    assert_eq!(
        endpoint,
        format!("https://localhost:{port}/ecma2host_ldap/scim")
    );
    // Keep reading the banner so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let demo_dir = dir.path().join("demo");
    let cert_path = demo_dir.join("data/certs/connector-host.crt");
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = loop {
        if let Ok(pem) = std::fs::read(&cert_path)
            && let Ok(cert) = reqwest::Certificate::from_pem(&pem)
        {
            break reqwest::blocking::Client::builder()
                .tls_certs_only([cert])
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
        }
        assert!(Instant::now() < deadline, "no certificate was written");
        std::thread::sleep(Duration::from_millis(50));
    };
    let body = serde_json::json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"
        ],
        "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User": {
            "uid": "ada", "cn": "Ada Lovelace", "sn": "Lovelace"
        }
    });
    let status = loop {
        // 503 while the connector runs its first import; connection errors until it listens.
        match client
            .post(format!("{endpoint}/Users"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
        {
            Ok(r) if r.status().as_u16() != 503 => break r.status().as_u16(),
            _ => {
                assert!(Instant::now() < deadline, "the demo never served a create");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(status, 201);
    // The demo's second connector (scim schema) reads the same directory: it finds the user
    // by userName once its next delta import ran.
    let url = format!(
        "https://localhost:{port}/ecma2host_ldapgroups/scim/Users?filter=userName%20eq%20%22ada%22"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client.get(&url).bearer_auth(&token).send().unwrap();
        if r.status().as_u16() == 200 {
            let found: serde_json::Value = r.json().unwrap();
            if found["totalResults"] == 1 {
                assert_eq!(
                    found["Resources"][0]["name"]["familyName"], "Lovelace",
                    "{found}"
                );
                break;
            }
        }
        assert!(Instant::now() < deadline, "ldapgroups never found the user");
        std::thread::sleep(Duration::from_millis(200));
    }
    let slapd_pid = std::fs::read_to_string(demo_dir.join("slapd/slapd.pid"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(alive(&slapd_pid), "slapd runs while the demo serves");
    // The entry is in the demo's slapd (anonymous reads are allowed there).
    let config = std::fs::read_to_string(demo_dir.join("connector-host.toml")).unwrap();
    let server = config
        .lines()
        .find_map(|l| l.strip_prefix("servers = [\""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_owned();
    let search = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &server, "-s", "base"])
        .args(["-b", "uid=ada,ou=people,dc=example,dc=com", "sn"])
        .output()
        .unwrap();
    let ldif = String::from_utf8_lossy(&search.stdout);
    assert!(ldif.contains("sn: Lovelace"), "{ldif}");

    // Stop the demo as Ctrl-C would; slapd goes with it.
    let ok = Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(60);
    while demo.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(&slapd_pid) {
        assert!(Instant::now() < deadline, "slapd outlived the demo");
        std::thread::sleep(Duration::from_millis(50));
    }
}
