//! TLS against a slapd with a throw-away CA: StartTLS and LDAPS verified against `tls.ca_file`,
//! a pinned certificate, SASL EXTERNAL with a client certificate, and the refusals (an unknown
//! CA, a wrong pin, a password over plain LDAP to a remote host).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use connector_core::Connector;
use connector_core::conformance::soon;
use connector_ldap::{BindMethod, LdapConfig, LdapConnector, TlsConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use testkit::{Slapd, SlapdOptions};

fn tls_slapd() -> Slapd {
    Slapd::start_with_options(&SlapdOptions {
        tls: true,
        ..SlapdOptions::default()
    })
}

fn with_ca(mut c: LdapConfig, slapd: &Slapd) -> LdapConfig {
    c.tls = TlsConfig {
        ca_file: Some(slapd.tls().unwrap().ca_cert.clone()),
        ..TlsConfig::default()
    };
    c
}

/// Adds a user and reads it back: proves the whole path works over this configuration.
fn round_trip(c: LdapConfig) -> String {
    let connector = LdapConnector::new(c, Path::new(".")).unwrap();
    let summary = connector.test_connection(soon()).unwrap();
    let outcome = connector
        .export(
            &connector_core::Change::Add {
                object_type: "User".into(),
                anchor: None,
                dn: None,
                attributes: common::user(1),
            },
            soon(),
        )
        .unwrap();
    assert!(
        connector
            .read("User", &outcome.anchor, soon())
            .unwrap()
            .is_some()
    );
    summary
}

#[test]
fn starttls_with_the_ca_file() {
    let slapd = tls_slapd();
    let mut c = with_ca(common::config(&slapd.url(), &slapd), &slapd);
    c.starttls = true;
    let summary = round_trip(c);
    assert!(summary.contains("StartTLS"), "{summary}");
}

#[test]
fn ldaps_with_the_ca_file() {
    let slapd = tls_slapd();
    let c = with_ca(common::config(&slapd.ldaps_url().unwrap(), &slapd), &slapd);
    let summary = round_trip(c);
    assert!(summary.contains("LDAPS"), "{summary}");
}

#[test]
fn ldaps_with_a_pinned_certificate() {
    let slapd = tls_slapd();
    let der = CertificateDer::from_pem_file(&slapd.tls().unwrap().server_cert).unwrap();
    let mut c = common::config(&slapd.ldaps_url().unwrap(), &slapd);
    c.tls.pinned_sha256 = vec![connector_ldap::fingerprint(der.as_ref()).to_uppercase()];
    round_trip(c);

    let mut wrong = common::config(&slapd.ldaps_url().unwrap(), &slapd);
    wrong.tls.pinned_sha256 = vec!["00".repeat(32)];
    common::misconfigured(wrong, "pinned");
}

#[test]
fn sasl_external_with_a_client_certificate() {
    let slapd = tls_slapd();
    let tls = slapd.tls().unwrap();
    let mut c = with_ca(common::config(&slapd.ldaps_url().unwrap(), &slapd), &slapd);
    c.bind_method = BindMethod::SaslExternal;
    c.bind_dn = None;
    c.bind_password = None;
    c.tls.client_cert_file = Some(tls.client_cert.clone());
    c.tls.client_key_file = Some(tls.client_key.clone());
    let summary = round_trip(c);
    // slapd maps the certificate's subject to the root DN (testkit's authz-regexp).
    assert!(
        summary.contains("dn:cn=admin,dc=example,dc=com"),
        "{summary}"
    );
}

#[test]
fn an_unknown_ca_is_refused() {
    let slapd = tls_slapd();
    let other = tls_slapd();
    let mut c = with_ca(common::config(&slapd.ldaps_url().unwrap(), &slapd), &other);
    c.tls.ca_file = Some(other.tls().unwrap().ca_cert.clone());
    common::misconfigured(c, "TLS");
}

#[test]
fn a_password_over_plain_ldap_to_a_remote_host_is_refused() {
    let slapd = tls_slapd();
    let c = common::config("ldap://ldap.example.com", &slapd);
    common::misconfigured(c.clone(), "in clear");
    let mut allowed = c;
    allowed.allow_plaintext_bind = true;
    assert!(LdapConnector::new(allowed, Path::new(".")).is_ok());
    // SASL EXTERNAL without a client certificate cannot work.
    let mut external = common::config(&slapd.ldaps_url().unwrap(), &slapd);
    external.bind_method = BindMethod::SaslExternal;
    assert!(LdapConnector::new(external, Path::new(".")).is_err());
}
