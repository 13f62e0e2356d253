//! Failures of the server or the network: a deadline that passes while slapd is frozen
//! (SIGSTOP) is a timeout, and the connector recovers when it thaws; failover to the next server;
//! a server that is down is Unavailable with a retry hint; a server that sends garbage is an
//! error, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::user;
use connector_core::conformance::soon;
use connector_core::{Change, Connector, ConnectorError, Deadline};
use connector_ldap::LdapConnector;
use testkit::Slapd;

fn signal(slapd: &Slapd, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &slapd.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Thaws slapd even when the test fails half-way.
struct Frozen<'a>(&'a Slapd);
impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

fn add(
    c: &LdapConnector,
    i: usize,
    deadline: Deadline,
) -> Result<connector_core::ExportOutcome, ConnectorError> {
    c.export(
        &Change::Add {
            object_type: "User".into(),
            anchor: None,
            dn: None,
            attributes: user(i),
        },
        deadline,
    )
}

#[test]
fn a_deadline_that_passes_during_an_operation_is_a_timeout() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    add(&c, 1, soon()).unwrap(); // schema discovered, a connection pooled

    {
        let _thaw = Frozen(&slapd);
        signal(&slapd, "-STOP");
        // On a pooled connection: the add is sent and never answered.
        let started = Instant::now();
        let err = add(&c, 2, Deadline::after(Duration::from_millis(700))).unwrap_err();
        assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
        // Not a speed figure: without the deadline the call would wait forever.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );

        // On a new connection: TCP connects (the kernel accepts), the bind is never answered.
        let fresh = common::connector(&slapd);
        let err = fresh
            .test_connection(Deadline::after(Duration::from_millis(500)))
            .unwrap_err();
        assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");

        // Imports too.
        let err = c
            .full_import("User", 10, Deadline::after(Duration::from_millis(500)))
            .err()
            .unwrap();
        assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    }
    // Thawed: the timed-out connection was dropped, a new one works. The add that timed out
    // may or may not have happened (its outcome is unknown, which is what Timeout says).
    add(&c, 3, soon()).unwrap();
    let mut stream = c.full_import("User", 10, soon()).unwrap();
    let mut n = 0;
    while let Some(page) = stream.next_page(soon()).unwrap() {
        n += page.len();
    }
    assert!((2..=3).contains(&n), "{n}");
}

#[test]
fn a_page_deadline_interrupts_an_import() {
    let slapd = Slapd::start_with(&(0..50).map(|i| format!("dn: uid=p{i},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: p\nsn: p\n\n")).collect::<String>());
    let c = common::connector(&slapd);
    let mut stream = c.full_import("User", 10, soon()).unwrap();
    assert_eq!(stream.next_page(soon()).unwrap().unwrap().len(), 10);
    {
        let _thaw = Frozen(&slapd);
        signal(&slapd, "-STOP");
        let err = stream
            .next_page(Deadline::after(Duration::from_millis(500)))
            .unwrap_err();
        assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    }
    drop(stream);
    assert!(c.test_connection(soon()).is_ok());
}

#[test]
fn failover_to_the_next_server_and_back_off_when_all_are_down() {
    let slapd = Slapd::start();
    let dead = format!("ldap://127.0.0.1:{}", testkit::free_port());
    let mut config = common::config(&dead, &slapd);
    config.servers.push(slapd.url());
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    let summary = c.test_connection(soon()).unwrap();
    assert!(summary.contains(&slapd.url()), "{summary}");
    add(&c, 1, soon()).unwrap();

    let config = common::config(&dead, &slapd);
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    match c.test_connection(soon()).unwrap_err() {
        ConnectorError::Unavailable {
            detail,
            retry_after,
        } => {
            assert!(detail.contains("cannot connect"), "{detail}");
            assert!(retry_after.is_some());
        }
        other => panic!("{other:?}"),
    }
    // Right after, the back-off answers at once without trying again.
    let started = Instant::now();
    let err = c.test_connection(soon()).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Unavailable {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A TCP proxy to slapd whose connections can all be cut at once, as a server restart, a
/// firewall or an idle timeout cuts them.
struct Proxy {
    url: String,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn new(slapd: &Slapd) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://{}", listener.local_addr().unwrap());
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (port, sockets) = (slapd.port(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().take(16) {
                let Ok(client) = client else { return };
                let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                for s in [&client, &server] {
                    sockets.lock().unwrap().push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { url, open }
    }

    fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn cut_connections_are_replaced() {
    let slapd = Slapd::start();
    let proxy = Proxy::new(&slapd);
    let c = LdapConnector::new(common::config(&proxy.url, &slapd), Path::new(".")).unwrap();
    add(&c, 1, soon()).unwrap();
    proxy.cut();
    // The pooled connection is gone; the next call notices and opens a new one.
    std::thread::sleep(Duration::from_millis(100));
    add(&c, 2, soon()).unwrap();
    assert!(
        c.read("User", &add(&c, 3, soon()).unwrap().anchor, soon())
            .unwrap()
            .is_some()
    );
}

/// A fake server answering every request with `reply` (then closing).
fn fake_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    url
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    let slapd = Slapd::start(); // only for the admin DN and password of the config
    for reply in [
        // LDAPMessage { messageID 1 } without a protocol op.
        &b"\x30\x03\x02\x01\x01"[..],
        // A bind response with a truncated result.
        &b"\x30\x08\x02\x01\x01\x61\x03\x0a\x01"[..],
        // Not BER at all.
        &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
        // A bind response that says success, then a search reply of garbage.
        &b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00\x30\x05\x02\x01\x02\x64\x00"[..],
    ] {
        let url = fake_server(reply);
        let c = LdapConnector::new(common::config(&url, &slapd), Path::new(".")).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.test_connection(Deadline::after(Duration::from_secs(3)))
        }));
        let result = result.unwrap_or_else(|_| panic!("reply {reply:?} made the connector panic"));
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                ConnectorError::Unavailable { .. }
                    | ConnectorError::Timeout { .. }
                    | ConnectorError::Misconfigured { .. }
            ),
            "{reply:?}: {err:?}"
        );
    }
}

#[test]
fn a_call_from_an_async_task_is_an_error_not_a_crash() {
    let slapd = Slapd::start();
    let c = common::connector(&slapd);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // The host calls connectors from its blocking pool; from inside a task, block_on cannot run.
    let err = rt
        .block_on(async { c.test_connection(soon()) })
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    // From a blocking thread of a runtime it works.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let c = std::sync::Arc::new(c);
    let c2 = c.clone();
    let summary = rt
        .block_on(
            async move { tokio::task::spawn_blocking(move || c2.test_connection(soon())).await },
        )
        .unwrap()
        .unwrap();
    assert!(summary.contains("OpenLDAP"), "{summary}");
}
