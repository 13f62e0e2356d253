//! The private slapd starts, answers `ldapsearch`, and goes away on drop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test on purpose"
)]

use std::net::TcpStream;
use std::process::Command;

use testkit::Slapd;

fn ldapsearch(slapd: &Slapd, extra: &[&str]) -> String {
    let output = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &slapd.url(),
            "-D",
            slapd.admin_dn(),
            "-w",
            slapd.admin_password(),
        ])
        .args(extra)
        .output()
        .expect("ldapsearch (package ldap-utils) runs");
    assert!(
        output.status.success(),
        "ldapsearch {extra:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn base_entry_is_searchable() {
    let slapd = Slapd::start();
    let out = ldapsearch(&slapd, &["-b", slapd.base_dn(), "-s", "base"]);
    assert!(out.contains("dn: dc=example,dc=com"), "{out}");
}

#[test]
fn anonymous_base_search_works() {
    let slapd = Slapd::start();
    let status = Command::new("ldapsearch")
        .args([
            "-x",
            "-H",
            &slapd.url(),
            "-b",
            slapd.base_dn(),
            "-s",
            "base",
        ])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
}

#[test]
fn start_with_loads_extra_entries() {
    let slapd = Slapd::start_with(
        "dn: uid=jdoe,ou=people,dc=example,dc=com\n\
         objectClass: inetOrgPerson\n\
         uid: jdoe\n\
         cn: Jürgen Ößmann\n\
         sn: Ößmann\n",
    );
    let out = ldapsearch(
        &slapd,
        &["-b", "ou=people,dc=example,dc=com", "(uid=jdoe)", "uid"],
    );
    assert!(
        out.contains("dn: uid=jdoe,ou=people,dc=example,dc=com"),
        "{out}"
    );
}

#[test]
fn two_servers_run_side_by_side_and_stop_on_drop() {
    let a = Slapd::start();
    let b = Slapd::start();
    assert_ne!(a.port(), b.port());
    let port = a.port();
    drop(a);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "slapd still listening on {port}"
    );
    ldapsearch(&b, &["-b", b.base_dn(), "-s", "base"]);
}

#[test]
fn bad_ldif_is_reported() {
    let error =
        Slapd::try_start_with("dn: cn=x,dc=elsewhere,dc=org\nobjectClass: person\ncn: x\nsn: x\n")
            .unwrap_err()
            .to_string();
    assert!(error.contains("slapadd"), "{error}");
}

#[test]
fn tls_serves_ldaps_starttls_and_sasl_external() {
    let slapd = testkit::Slapd::start_with_options(&testkit::SlapdOptions {
        tls: true,
        ..Default::default()
    });
    let tls = slapd.tls().unwrap();
    let run = |url: &str, extra: &[&str], client_cert: bool| {
        let mut cmd = Command::new("ldapwhoami");
        cmd.env("LDAPTLS_CACERT", &tls.ca_cert)
            .env("LDAPTLS_REQCERT", "demand")
            .args(["-H", url])
            .args(extra);
        if client_cert {
            cmd.env("LDAPTLS_CERT", &tls.client_cert)
                .env("LDAPTLS_KEY", &tls.client_key);
        }
        let output = cmd.output().expect("ldapwhoami (package ldap-utils) runs");
        assert!(
            output.status.success(),
            "ldapwhoami {url} {extra:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let ldaps = slapd.ldaps_url().unwrap();
    run(&ldaps, &["-x"], false);
    run(&slapd.url(), &["-x", "-ZZ"], false);
    let who = run(&ldaps, &["-Y", "EXTERNAL"], true);
    assert!(who.contains(slapd.admin_dn()), "{who}");
}
