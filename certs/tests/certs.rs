//! End-to-end checks of the `certs` crate against real files made by the
//! openssl CLI (the tool admins use next to Windows' own exports) and over real
//! TLS connections, so that what the host accepts and serves matches what the
//! rest of the world produces and expects.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step should abort the test"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use certs::{
    CertError, CertInfo, KeyKind, PolicyWarning, ReloadableResolver, TlsMaterial, check_policy,
    ensure_self_signed, fingerprint_sha256, generate_self_signed, inspect, load_pem, load_pfx,
    server_config,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector, client::TlsStream};

// ---------------------------------------------------------------- helpers

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "certs-test-{}-{n}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the openssl CLI in `dir`; a missing CLI fails the test with advice.
///
/// `command` is split on whitespace, so arguments must not contain spaces.
fn openssl(dir: &TempDir, command: &str) -> String {
    let args: Vec<&str> = command.split_whitespace().collect();
    let output = match Command::new("openssl")
        .args(&args)
        .current_dir(&dir.0)
        .output()
    {
        Ok(output) => output,
        Err(err) => panic!(
            "cannot run the openssl CLI ({err}); these tests compare against it: install it (apt-get install openssl)"
        ),
    };
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A self-signed certificate and key made by openssl; returns (cert, key).
fn openssl_self_signed(dir: &TempDir, name: &str, newkey: &str, days: &str) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &format!(
            "req -x509 -newkey {newkey} -nodes -keyout {name}.key -out {name}.crt -subj /CN={name} -days {days}"
        ),
    );
    (
        dir.path(&format!("{name}.crt")),
        dir.path(&format!("{name}.key")),
    )
}

/// A self-signed certificate for an existing key file made by openssl.
fn openssl_cert_for_key(dir: &TempDir, name: &str, key: &str) -> PathBuf {
    let cert = format!("{name}.crt");
    openssl(
        dir,
        &format!("req -x509 -key {key} -out {cert} -subj /CN={name} -days 365"),
    );
    dir.path(&cert)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn write_generated(dir: &TempDir, names_: &[&str]) -> (PathBuf, PathBuf, TlsMaterial) {
    let generated = generate_self_signed(&names(names_), 730).unwrap();
    let cert = dir.path("gen.crt");
    let key = dir.path("gen.key");
    std::fs::write(&cert, &generated.cert_pem).unwrap();
    std::fs::write(&key, &generated.key_pem).unwrap();
    (cert, key, generated.material)
}

fn info_of(cert: &Path, key: &Path) -> CertInfo {
    inspect(&load_pem(cert, key).unwrap()).unwrap()
}

// ---------------------------------------------------------------- generation and PEM

#[test]
fn generated_certificate_round_trips_and_matches_openssl() {
    let dir = TempDir::new();
    let (cert, key, material) = write_generated(&dir, &["host.example.com", "127.0.0.1", "::1"]);
    let loaded = load_pem(&cert, &key).unwrap();
    assert_eq!(loaded.chain, material.chain);
    assert_eq!(loaded.key.secret_der(), material.key.secret_der());

    let fingerprint = openssl(&dir, "x509 -noout -fingerprint -sha256 -in gen.crt");
    let openssl_fp = fingerprint.trim().rsplit('=').next().unwrap();
    assert_eq!(fingerprint_sha256(&loaded.chain[0]), openssl_fp);

    let text = openssl(&dir, "x509 -noout -text -in gen.crt");
    for expected in [
        "Subject: CN = host.example.com",
        "DNS:host.example.com",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Server Authentication",
        "ASN1 OID: prime256v1",
        "ecdsa-with-SHA256",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let info = inspect(&loaded).unwrap();
    assert_eq!(info.subject, "CN=host.example.com");
    assert_eq!(info.issuer, "CN=host.example.com");
    assert_eq!(info.sans, names(&["host.example.com", "127.0.0.1", "::1"]));
    assert_eq!(info.key, KeyKind::Ec { curve_bits: 256 });
    assert!(info.self_signed);
    assert_eq!(info.fingerprint_sha256, openssl_fp);
    let validity = info.not_after - info.not_before;
    assert!(
        validity >= Duration::days(730) && validity <= Duration::days(730) + Duration::hours(2),
        "validity {validity}"
    );
    let now = OffsetDateTime::now_utc();
    assert!(info.not_before <= now && now < info.not_after);
}

#[test]
fn generate_rejects_unusable_names_and_validity() {
    fn check(names_: &[&str], days: u32, expected: &str) {
        let err = generate_self_signed(&names(names_), days).unwrap_err();
        assert!(err.to_string().contains(expected), "{names_:?}: {err}");
    }
    check(&[], 730, "at least one host name");
    check(&[""], 730, "empty");
    check(&["host name"], 730, "spaces");
    check(&["bücher.example"], 730, "punycode");
    check(&["ok.example", ""], 730, "empty");
    check(&["ok.example"], 0, "at least one day");
}

#[test]
fn key_formats_openssl_writes_are_loaded() {
    let dir = TempDir::new();
    // PKCS#8 RSA: openssl req's default output.
    let (rsa_cert, _) = openssl_self_signed(&dir, "rsa", "rsa:2048", "30");
    // PKCS#1 RSA from the same key.
    openssl(&dir, "rsa -in rsa.key -traditional -out rsa-pkcs1.key");
    // SEC1 EC and PKCS#8 EC from the same key.
    openssl(
        &dir,
        "ecparam -name prime256v1 -genkey -noout -out ec-sec1.key",
    );
    let ec_cert = openssl_cert_for_key(&dir, "ec", "ec-sec1.key");
    openssl(
        &dir,
        "pkcs8 -topk8 -nocrypt -in ec-sec1.key -out ec-pkcs8.key",
    );

    let check = |cert: &Path, key: &str, expected: &str| {
        let material = load_pem(cert, &dir.path(key)).unwrap();
        let kind = match material.key {
            PrivateKeyDer::Pkcs8(_) => "pkcs8",
            PrivateKeyDer::Pkcs1(_) => "pkcs1",
            PrivateKeyDer::Sec1(_) => "sec1",
            _ => "other",
        };
        assert_eq!(kind, expected, "{key}");
    };
    check(&rsa_cert, "rsa.key", "pkcs8");
    check(&rsa_cert, "rsa-pkcs1.key", "pkcs1");
    check(&ec_cert, "ec-sec1.key", "sec1");
    check(&ec_cert, "ec-pkcs8.key", "pkcs8");
}

#[test]
fn certificate_and_key_in_one_file_load() {
    let dir = TempDir::new();
    let (cert, key, material) = write_generated(&dir, &["combined.example"]);
    let combined = dir.path("combined.pem");
    let text = std::fs::read_to_string(&key).unwrap() + &std::fs::read_to_string(&cert).unwrap();
    std::fs::write(&combined, text).unwrap();
    let loaded = load_pem(&combined, &combined).unwrap();
    assert_eq!(loaded.chain, material.chain);
}

#[test]
fn pem_chain_keeps_file_order() {
    let dir = TempDir::new();
    let (leaf, ca) = openssl_ca_and_leaf(&dir);
    let chain_file = dir.path("chain.pem");
    let text = std::fs::read_to_string(&leaf).unwrap()
        + &std::fs::read_to_string(dir.path("ca.crt")).unwrap();
    std::fs::write(&chain_file, text).unwrap();
    let material = load_pem(&chain_file, &dir.path("leaf.key")).unwrap();
    assert_eq!(material.chain.len(), 2);
    assert_eq!(material.chain[0], ca.0);
    assert_eq!(material.chain[1], ca.1);
    let info = inspect(&material).unwrap();
    assert_eq!(info.subject, "CN=leaf.example");
    assert_eq!(info.issuer, "CN=TestCA");
    assert!(!info.self_signed);
}

/// A CA and a leaf it signed; returns the leaf path and (leaf DER, CA DER).
fn openssl_ca_and_leaf(
    dir: &TempDir,
) -> (PathBuf, (CertificateDer<'static>, CertificateDer<'static>)) {
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=TestCA -days 30",
    );
    openssl(
        dir,
        "req -new -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=leaf.example",
    );
    // Without extensions `openssl x509 -req` makes a version 1 certificate.
    std::fs::write(dir.path("leaf.ext"), "subjectAltName=DNS:leaf.example\n").unwrap();
    openssl(
        dir,
        "x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out leaf.crt -days 30 -extfile leaf.ext",
    );
    let der = |name: &str| {
        openssl(
            dir,
            &format!("x509 -in {name}.crt -outform DER -out {name}.der"),
        );
        CertificateDer::from(std::fs::read(dir.path(&format!("{name}.der"))).unwrap())
    };
    (dir.path("leaf.crt"), (der("leaf"), der("ca")))
}

#[test]
fn version_1_certificate_is_explained() {
    let dir = TempDir::new();
    openssl_ca_and_leaf(&dir);
    openssl(
        &dir,
        "x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out v1.crt -days 30",
    );
    let err = load_pem(&dir.path("v1.crt"), &dir.path("leaf.key")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("v1.crt") && message.contains("version 1"),
        "{message}"
    );
}

#[test]
fn mismatched_key_and_certificate_are_rejected() {
    let dir = TempDir::new();
    let (cert_a, _) = openssl_self_signed(&dir, "a", "rsa:2048", "30");
    let (_, key_b) = openssl_self_signed(&dir, "b", "rsa:2048", "30");
    let err = load_pem(&cert_a, &key_b).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&*key_b.to_string_lossy()), "{message}");
    assert!(message.contains(&*cert_a.to_string_lossy()), "{message}");
    assert!(message.contains("does not match"), "{message}");

    // Different algorithms (EC key, RSA certificate) are a mismatch too.
    let (gen_cert, gen_key, _) = write_generated(&dir, &["x.example"]);
    assert!(matches!(
        load_pem(&cert_a, &gen_key),
        Err(CertError::KeyMismatch { .. })
    ));
    assert!(matches!(
        load_pem(&gen_cert, &key_b),
        Err(CertError::KeyMismatch { .. })
    ));

    // The resolver refuses mismatched material as well.
    let mut material = load_pem(&gen_cert, &gen_key).unwrap();
    material.key = load_pem(&cert_a, &dir.path("a.key")).unwrap().key;
    assert!(matches!(
        ReloadableResolver::new(material),
        Err(CertError::KeyMismatch { .. })
    ));
}

#[test]
fn unusable_pem_files_give_actionable_errors() {
    let dir = TempDir::new();
    let (cert, key, _) = write_generated(&dir, &["err.example"]);
    openssl(
        &dir,
        "pkcs8 -topk8 -in gen.key -passout pass:hunter22 -out enc.key",
    );
    openssl(
        &dir,
        "ec -in gen.key -aes256 -passout pass:hunter22 -out enc-legacy.key",
    );
    std::fs::write(
        dir.path("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\n!!SECRETSTUFF!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(dir.path("empty.pem"), "").unwrap();

    let check = |cert_file: &Path, key_file: &Path, expected: &[&str]| {
        let err = load_pem(cert_file, key_file).unwrap_err();
        let message = err.to_string();
        for part in expected {
            assert!(message.contains(part), "expected {part:?} in {message:?}");
        }
        assert!(
            !message.contains("SECRETSTUFF") && !message.contains("hunter22"),
            "{message}"
        );
    };
    let p = |name: &str| dir.path(name);
    let shown = |path: &Path| path.display().to_string();
    check(
        &key,
        &key,
        &[
            &shown(&key),
            "no certificate found",
            "-----BEGIN CERTIFICATE-----",
        ],
    );
    check(
        &p("empty.pem"),
        &key,
        &[&shown(&p("empty.pem")), "no certificate found"],
    );
    check(
        &cert,
        &cert,
        &[&shown(&cert), "no private key found", "BEGIN PRIVATE KEY"],
    );
    check(
        &cert,
        &p("enc.key"),
        &[&shown(&p("enc.key")), "encrypted", "openssl pkey"],
    );
    check(
        &cert,
        &p("enc-legacy.key"),
        &[&shown(&p("enc-legacy.key")), "encrypted"],
    );
    check(
        &cert,
        &p("broken.pem"),
        &[&shown(&p("broken.pem")), "invalid PEM", "base64"],
    );
    check(
        &p("missing.crt"),
        &key,
        &["while reading", &shown(&p("missing.crt"))],
    );
    check(
        &cert,
        &p("missing.key"),
        &["while reading", &shown(&p("missing.key"))],
    );
}

// ---------------------------------------------------------------- PFX

fn openssl_major_version(dir: &TempDir) -> u32 {
    let version = openssl(dir, "version");
    version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the openssl version from {version:?}"))
}

#[test]
fn pfx_files_exported_by_openssl_load_with_the_right_password_only() {
    let dir = TempDir::new();
    let (cert, key) = openssl_self_signed(&dir, "pfx", "rsa:2048", "30");
    let expected = load_pem(&cert, &key).unwrap();
    let modern = openssl_major_version(&dir) >= 3;

    let variants: &[(&str, &str)] = &[
        // OpenSSL 3's default: PBES2 AES-256-CBC, HMAC-SHA256 (as Windows' AES256_SHA256 export).
        ("default.pfx", ""),
        (
            "aes.pfx",
            "-keypbe AES-256-CBC -certpbe AES-256-CBC -macalg SHA256",
        ),
        // Windows' TripleDES-SHA1 export.
        (
            "3des.pfx",
            "-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg SHA1",
        ),
        // RC2-40 certificates, 3DES key: before OpenSSL 3 this was the default.
        ("legacy.pfx", if modern { "-legacy" } else { "" }),
    ];

    for (file, extra) in variants {
        openssl(
            &dir,
            &format!(
                "pkcs12 -export -inkey pfx.key -in pfx.crt -passout pass:Correct-Horse-1 -out {file} {extra}"
            ),
        );
        let path = dir.path(file);

        let loaded = load_pfx(&path, "Correct-Horse-1").unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded.chain, expected.chain, "{file}");
        assert_eq!(
            inspect(&loaded).unwrap().key,
            KeyKind::Rsa { bits: 2048 },
            "{file}"
        );
        ReloadableResolver::new(loaded).unwrap_or_else(|e| panic!("{file}: {e}"));

        let err = load_pfx(&path, "wrong-password").unwrap_err();
        assert!(
            matches!(err, CertError::PfxPassword { .. }),
            "{file}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("wrong password") && message.contains(file),
            "{message}"
        );
        assert!(!message.contains("Correct-Horse-1") && !message.contains("wrong-password"));
    }
}

#[test]
fn pfx_with_chain_puts_the_leaf_first() {
    let dir = TempDir::new();
    let (_, (leaf, ca)) = openssl_ca_and_leaf(&dir);
    openssl(
        &dir,
        "pkcs12 -export -inkey leaf.key -in leaf.crt -certfile ca.crt -passout pass:pw -out chain.pfx",
    );
    let material = load_pfx(&dir.path("chain.pfx"), "pw").unwrap();
    assert_eq!(material.chain, vec![leaf, ca]);
}

#[test]
fn pfx_without_key_or_not_pfx_is_explained() {
    let dir = TempDir::new();
    openssl_self_signed(&dir, "nokey", "rsa:2048", "30");
    openssl(
        &dir,
        "pkcs12 -export -nokeys -in nokey.crt -passout pass:pw -out nokey.pfx",
    );
    let err = load_pfx(&dir.path("nokey.pfx"), "pw").unwrap_err();
    assert!(matches!(err, CertError::PfxNoKey { .. }), "{err:?}");
    assert!(err.to_string().contains("no private key"), "{err}");

    let err = load_pfx(&dir.path("nokey.crt"), "pw").unwrap_err();
    assert!(matches!(err, CertError::BadPfx { .. }), "{err:?}");
    assert!(err.to_string().contains("nokey.crt"), "{err}");

    let err = load_pfx(&dir.path("absent.pfx"), "pw").unwrap_err();
    assert!(matches!(err, CertError::Read { .. }), "{err:?}");
}

// ---------------------------------------------------------------- policy

#[test]
fn key_policy_follows_entra_minimums() {
    let dir = TempDir::new();
    // (name, how openssl makes the key, expected kind, expected error text or None)
    let cases: &[(&str, &str, KeyKind, Option<&str>)] = &[
        (
            "rsa1024",
            "rsa:1024",
            KeyKind::Rsa { bits: 1024 },
            Some("RSA key of 1024 bits is too weak; Entra requires at least 2048"),
        ),
        ("rsa2048", "rsa:2048", KeyKind::Rsa { bits: 2048 }, None),
        ("rsa3072", "rsa:3072", KeyKind::Rsa { bits: 3072 }, None),
        (
            "p192",
            "prime192v1",
            KeyKind::Ec { curve_bits: 192 },
            Some("EC key of 192 bits is too weak"),
        ),
        ("p256", "prime256v1", KeyKind::Ec { curve_bits: 256 }, None),
        ("p384", "secp384r1", KeyKind::Ec { curve_bits: 384 }, None),
        (
            "ed25519",
            "ed25519",
            KeyKind::Ed25519,
            Some("Ed25519 keys are not accepted"),
        ),
    ];
    for (name, how, kind, error) in cases {
        let key = format!("{name}.key");
        if let Some(bits) = how.strip_prefix("rsa:") {
            openssl(
                &dir,
                &format!("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{bits} -out {key}"),
            );
        } else if *how == "ed25519" {
            openssl(&dir, &format!("genpkey -algorithm ed25519 -out {key}"));
        } else {
            openssl(
                &dir,
                &format!("ecparam -name {how} -genkey -noout -out {key}"),
            );
        }
        let cert = openssl_cert_for_key(&dir, name, &key);
        // Inspection needs only the certificate; weak keys may not even load.
        let cert_der = CertificateDer::from(
            rustls::pki_types::pem::PemObject::from_pem_file(&cert)
                .map(|c: CertificateDer<'static>| c.to_vec())
                .unwrap(),
        );
        let material = TlsMaterial {
            chain: vec![cert_der],
            key: load_key_for_inspection(&dir.path(&key)),
        };
        let info = inspect(&material).unwrap();
        assert_eq!(info.key, *kind, "{name}");
        let result = check_policy(&info, OffsetDateTime::now_utc());
        match error {
            None => {
                let warnings = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
                assert!(
                    matches!(warnings[0], PolicyWarning::SelfSigned { .. }),
                    "{name}"
                );
            }
            Some(text) => {
                let err = result.expect_err(name);
                assert!(err.to_string().contains(text), "{name}: {err}");
            }
        }
    }
}

fn load_key_for_inspection(path: &Path) -> PrivateKeyDer<'static> {
    rustls::pki_types::pem::PemObject::from_pem_file(path).unwrap()
}

#[test]
fn weak_rsa_certificate_is_reported_as_weak_when_loaded() {
    let dir = TempDir::new();
    let (cert, key) = openssl_self_signed(&dir, "weak", "rsa:1024", "30");
    match load_pem(&cert, &key) {
        // Loading may already refuse the key; then it must say why.
        Err(err) => assert!(
            err.to_string()
                .contains("RSA key of 1024 bits is too weak; Entra requires at least 2048"),
            "{err}"
        ),
        Ok(material) => {
            let err =
                check_policy(&inspect(&material).unwrap(), OffsetDateTime::now_utc()).unwrap_err();
            assert!(
                matches!(err, CertError::WeakRsaKey { bits: 1024 }),
                "{err:?}"
            );
        }
    }
}

#[test]
fn validity_window_is_enforced_and_expiry_warned() {
    let dir = TempDir::new();
    let (cert, key, _) = write_generated(&dir, &["clock.example"]);
    let info = info_of(&cert, &key);
    let (start, end) = (info.not_before, info.not_after);

    #[derive(Debug, PartialEq)]
    enum Outcome {
        NotYetValid,
        Expired,
        Warns(Vec<&'static str>),
    }
    let check = |now: OffsetDateTime, expected: Outcome| {
        let outcome = match check_policy(&info, now) {
            Err(CertError::NotYetValid { .. }) => Outcome::NotYetValid,
            Err(CertError::Expired { .. }) => Outcome::Expired,
            Err(other) => panic!("unexpected {other}"),
            Ok(warnings) => Outcome::Warns(
                warnings
                    .iter()
                    .map(|w| match w {
                        PolicyWarning::ExpiresSoon { .. } => "expires-soon",
                        PolicyWarning::SelfSigned { .. } => "self-signed",
                        _ => "other",
                    })
                    .collect(),
            ),
        };
        assert_eq!(outcome, expected, "at {now}");
    };
    check(start - Duration::seconds(1), Outcome::NotYetValid);
    check(start - Duration::days(400), Outcome::NotYetValid);
    check(start, Outcome::Warns(vec!["self-signed"]));
    check(
        end - Duration::days(31),
        Outcome::Warns(vec!["self-signed"]),
    );
    check(
        end - Duration::days(30),
        Outcome::Warns(vec!["expires-soon", "self-signed"]),
    );
    check(
        end - Duration::days(10),
        Outcome::Warns(vec!["expires-soon", "self-signed"]),
    );
    check(end, Outcome::Warns(vec!["expires-soon", "self-signed"]));
    check(end + Duration::seconds(1), Outcome::Expired);
    check(end + Duration::days(1000), Outcome::Expired);

    let expired = check_policy(&info, end + Duration::days(1))
        .unwrap_err()
        .to_string();
    assert!(
        expired.contains("CN=clock.example") && expired.contains("expired on"),
        "{expired}"
    );
    assert!(expired.contains(&end.year().to_string()), "{expired}");
    let early = check_policy(&info, start - Duration::days(1))
        .unwrap_err()
        .to_string();
    assert!(
        early.contains("not valid yet") && early.contains("clock"),
        "{early}"
    );
}

#[test]
fn openssl_certificate_expiring_in_ten_days_warns() {
    let dir = TempDir::new();
    let (cert, key) = openssl_self_signed(&dir, "short", "rsa:2048", "10");
    let info = info_of(&cert, &key);
    let warnings = check_policy(&info, OffsetDateTime::now_utc()).unwrap();
    let soon = warnings
        .iter()
        .find_map(|w| match w {
            PolicyWarning::ExpiresSoon { days_left, .. } => Some(*days_left),
            _ => None,
        })
        .expect("an expiry warning");
    assert!((9..=10).contains(&soon), "{soon}");
    let text = warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("CN=short expires on") && text.contains("renewed"),
        "{text}"
    );
    assert!(
        text.contains(&info.fingerprint_sha256) && text.contains("Trusted Root"),
        "{text}"
    );
}

// ---------------------------------------------------------------- ensure_self_signed

#[test]
fn ensure_self_signed_generates_once_then_reuses() {
    let dir = TempDir::new();
    let target = dir.path("state/certs");
    let host_names = names(&["agent.example.com", "10.1.2.3"]);

    let (first, provenance) = ensure_self_signed(&target, &host_names).unwrap();
    assert!(provenance.generated);
    assert_eq!(provenance.cert_path, target.join("connector-host.crt"));
    assert_eq!(provenance.key_path, target.join("connector-host.key"));
    assert!(provenance.cert_path.is_file() && provenance.key_path.is_file());
    let mut files: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["connector-host.crt", "connector-host.key"],
        "no temporary files left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&provenance.key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let info = inspect(&first).unwrap();
    assert_eq!(info.sans, host_names);
    assert_eq!(info.subject, "CN=agent.example.com");

    let (second, provenance) = ensure_self_signed(&target, &names(&["other.example"])).unwrap();
    assert!(!provenance.generated);
    assert_eq!(
        fingerprint_sha256(&second.chain[0]),
        fingerprint_sha256(&first.chain[0])
    );
    assert_eq!(second.key.secret_der(), first.key.secret_der());
}

#[test]
fn ensure_self_signed_never_overwrites_half_a_pair() {
    let dir = TempDir::new();
    let target = dir.path("certs");
    let (_, provenance) = ensure_self_signed(&target, &names(&["h.example"])).unwrap();
    let key_before = std::fs::read(&provenance.key_path).unwrap();
    std::fs::remove_file(&provenance.cert_path).unwrap();

    let err = ensure_self_signed(&target, &names(&["h.example"])).unwrap_err();
    assert!(matches!(err, CertError::IncompletePair { .. }), "{err:?}");
    assert!(err.to_string().contains("connector-host.crt"), "{err}");
    assert_eq!(std::fs::read(&provenance.key_path).unwrap(), key_before);
    assert!(!provenance.cert_path.exists());
}

// ---------------------------------------------------------------- TLS serving

async fn start_echo_server(config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 256];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn client(
    trusted: &[&TlsMaterial],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for material in trusted {
        roots.add(material.chain[0].clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Each connection must show the certificate served now, not a resumed session's.
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

fn served_cert(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

async fn echo(stream: &mut TlsStream<TcpStream>, message: &[u8]) {
    stream.write_all(message).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = vec![0u8; message.len()];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, message);
}

#[tokio::test]
async fn reload_serves_new_certificate_to_new_connections_only() {
    let a = generate_self_signed(&names(&["localhost", "a.test"]), 30)
        .unwrap()
        .material;
    let b = generate_self_signed(&names(&["localhost", "b.test"]), 30)
        .unwrap()
        .material;
    let resolver = Arc::new(ReloadableResolver::new(a.clone()).unwrap());
    let addr = start_echo_server(server_config(Arc::clone(&resolver)).unwrap()).await;
    let connector = client(
        &[&a, &b],
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        &[],
    );

    let mut first = connect(&connector, addr).await;
    assert_eq!(served_cert(&first), a.chain[0]);
    echo(&mut first, b"before reload").await;

    resolver.reload(b.clone()).unwrap();
    assert_eq!(resolver.current().cert[0], b.chain[0]);

    let mut second = connect(&connector, addr).await;
    assert_eq!(served_cert(&second), b.chain[0]);
    echo(&mut second, b"new connection").await;

    // The connection made before the reload keeps working, with its certificate.
    echo(&mut first, b"still here after reload").await;
    assert_eq!(served_cert(&first), a.chain[0]);

    // A failed reload keeps the current certificate.
    let mut broken = a.clone();
    broken.key = b.key.clone_key();
    assert!(resolver.reload(broken).is_err());
    let third = connect(&connector, addr).await;
    assert_eq!(served_cert(&third), b.chain[0]);
}

#[tokio::test]
async fn server_speaks_tls12_and_tls13_with_http11_alpn() {
    let material = generate_self_signed(&names(&["localhost"]), 30)
        .unwrap()
        .material;
    let config =
        server_config(Arc::new(ReloadableResolver::new(material.clone()).unwrap())).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let addr = start_echo_server(config).await;

    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let connector = client(&[&material], &[version], &[b"h2", b"http/1.1"]);
        let mut stream = connect(&connector, addr).await;
        let session = stream.get_ref().1;
        assert_eq!(session.protocol_version(), Some(version.version));
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        echo(&mut stream, b"hello").await;
    }
}
