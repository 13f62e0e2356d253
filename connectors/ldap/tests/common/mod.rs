//! Shared test helpers: a private slapd per test (testkit), the connector configuration for its
//! `ou=people` / `ou=groups` tree, the conformance fixture, and `ldap-utils` one-liners for
//! changes made behind the connector's back.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Stdio};

use connector_core::conformance::{Fixture, soon};
use connector_core::{AttrValue, Attributes, Connector};
use connector_ldap::{DeltaMode, LdapConfig, LdapConnector, ObjectConfig};
use testkit::Slapd;

pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub const GROUPS: &str = "ou=groups,dc=example,dc=com";

/// Users (inetOrgPerson, named by uid) and groups (groupOfNames, named by cn), bound as the
/// root DN, with sync delta imports.
pub fn config(url: &str, slapd: &Slapd) -> LdapConfig {
    let mut group = ObjectConfig::new("Group", &["groupOfNames"], GROUPS, "cn");
    group.references.insert("member".into(), "User".into());
    let mut c = LdapConfig::new(
        vec![url.to_owned()],
        vec![
            ObjectConfig::new("User", &["inetOrgPerson"], PEOPLE, "uid"),
            group,
        ],
    )
    .with_simple_bind(slapd.admin_dn(), slapd.admin_password());
    c.delta = DeltaMode::Sync;
    c
}

pub fn connector(slapd: &Slapd) -> LdapConnector {
    LdapConnector::new(config(&slapd.url(), slapd), Path::new(".")).unwrap()
}

/// The error a configuration gives: refused at construction, or by `test_connection`; and
/// asserts it is `Misconfigured` and its detail mentions `mentions`.
pub fn misconfigured(config: LdapConfig, mentions: &str) -> connector_core::ConnectorError {
    let err = match LdapConnector::new(config, Path::new(".")) {
        Err(e) => e,
        Ok(c) => c.test_connection(soon()).unwrap_err(),
    };
    assert!(
        matches!(err, connector_core::ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(
        err.detail().contains(mentions),
        "{mentions:?} not in {err:?}"
    );
    err
}

pub fn s(v: &str) -> Vec<AttrValue> {
    vec![AttrValue::String(v.to_owned())]
}

/// A valid new user number `i`.
pub fn user(i: usize) -> Attributes {
    let mut a = Attributes::new();
    a.insert("uid".into(), s(&format!("user{i}")));
    a.insert("cn".into(), s(&format!("User {i}")));
    a.insert("sn".into(), s(&format!("Surname{i}")));
    a
}

/// Whether `dn` can bind with `password` (a real simple bind through `ldapwhoami`).
pub fn can_bind(url: &str, dn: &str, password: &str) -> bool {
    Command::new("ldapwhoami")
        .args(["-x", "-H", url, "-D", dn, "-w", password])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ldapwhoami (package ldap-utils) runs")
        .success()
}

/// Runs `ldapmodify` as the root DN with `ldif` (changetype records): its status and output.
pub fn run_ldapmodify(slapd: &Slapd, ldif: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &slapd.url(),
            "-D",
            slapd.admin_dn(),
            "-w",
            slapd.admin_password(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ldapmodify (package ldap-utils) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// [`run_ldapmodify`], which must succeed.
pub fn ldapmodify(slapd: &Slapd, ldif: &str) {
    let out = run_ldapmodify(slapd, ldif);
    assert!(
        out.status.success(),
        "ldapmodify failed: {}\n{ldif}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The conformance fixture: users on a fresh slapd; `displayName` is the mutable attribute,
/// `mail` the multi-valued one, `manager` (a DN) the reference and `userPassword` the secret,
/// probed by binding as the user.
pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

/// [`fixture`] with a change to the configuration.
pub fn fixture_with(tweak: impl FnOnce(&mut LdapConfig)) -> Fixture {
    let slapd = Slapd::start();
    let mut config = config(&slapd.url(), &slapd);
    tweak(&mut config);
    let connector = LdapConnector::new(config.clone(), Path::new(".")).unwrap();
    let reader = LdapConnector::new(config, Path::new(".")).unwrap();
    let url = slapd.url();
    let mut f = Fixture::new(
        Box::new(connector),
        "User",
        user,
        "displayName",
        Box::new(slapd),
    );
    f.multi_valued_attribute = Some("mail".into());
    f.reference_attribute = Some("manager".into());
    f.secret = Some((
        "userPassword".into(),
        Box::new(move |anchor| {
            let dn = reader.read("User", anchor, soon()).unwrap()?.dn?;
            ["Initial#Passw0rd", "Changed#Passw0rd"]
                .into_iter()
                .find(|p| can_bind(&url, &dn, p))
                .map(str::to_owned)
        }),
    ));
    f
}
