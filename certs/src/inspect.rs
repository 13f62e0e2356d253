//! What a certificate says about itself, and whether Entra will accept it.
//!
//! Admins need to see which certificate the host serves (subject, names,
//! dates, the SHA-256 fingerprint Windows and openssl display) and to hear at
//! start-up, not from a failed provisioning run, when a certificate is too
//! weak, expired, or about to expire. Time is a parameter of
//! [`check_policy`] so that the rules are testable without waiting.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::{CertError, TlsMaterial};

/// A certificate expiring within this many days produces
/// [`PolicyWarning::ExpiresSoon`].
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The public key of a certificate, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// ECDSA on a curve of `curve_bits` bits (256 for P-256).
    Ec {
        /// Curve size.
        curve_bits: u32,
    },
    /// Ed25519.
    Ed25519,
    /// Any other algorithm (DSA, GOST, …).
    Other,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA {bits} bits"),
            Self::Ec { curve_bits } => write!(f, "EC {curve_bits} bits"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Other => f.write_str("unrecognised key type"),
        }
    }
}

/// A summary of the leaf certificate of some [`TlsMaterial`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, e.g. `CN=host.example.com`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses as plain text;
    /// other kinds prefixed (`email:`, `URI:`).
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The public key.
    pub key: KeyKind,
    /// SHA-256 of the DER certificate, as [`fingerprint_sha256`] prints it.
    pub fingerprint_sha256: String,
    /// Subject and issuer are the same name (a self-signed certificate).
    pub self_signed: bool,
}

/// Something an admin should know about a certificate that still works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyWarning {
    /// The certificate expires within [`EXPIRY_WARNING_DAYS`] days.
    ExpiresSoon {
        /// Subject DN.
        subject: String,
        /// End of validity.
        not_after: OffsetDateTime,
        /// Whole days left (0 on the last day).
        days_left: i64,
    },
    /// The certificate is self-signed, so clients must be told to trust it.
    SelfSigned {
        /// Subject DN.
        subject: String,
        /// Its SHA-256 fingerprint.
        fingerprint_sha256: String,
    },
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExpiresSoon {
                subject,
                not_after,
                days_left,
            } => write!(
                f,
                "certificate {subject} expires on {} (in {days_left} days); install a renewed certificate before then, or provisioning will stop",
                format_time(*not_after)
            ),
            Self::SelfSigned {
                subject,
                fingerprint_sha256,
            } => write!(
                f,
                "certificate {subject} is self-signed; the provisioning agent's machine must trust it: import it into Local Computer > Trusted Root Certification Authorities (SHA-256 fingerprint {fingerprint_sha256}), or use a certificate from a trusted CA"
            ),
        }
    }
}

/// SHA-256 of the DER certificate as uppercase hex pairs joined by colons,
/// the way `openssl x509 -fingerprint -sha256` and Windows show it.
pub fn fingerprint_sha256(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

/// Describes the leaf certificate of `material`.
///
/// # Errors
/// [`CertError::EmptyChain`] or [`CertError::BadCertificate`].
pub fn inspect(material: &TlsMaterial) -> Result<CertInfo, CertError> {
    let leaf = material
        .chain
        .first()
        .ok_or_else(|| CertError::EmptyChain {
            source_name: "the TLS material".to_string(),
        })?;
    inspect_certificate(leaf)
}

/// Describes one certificate (e.g. the leaf a [`crate::ReloadableResolver`] serves now).
///
/// # Errors
/// [`CertError::BadCertificate`].
pub fn inspect_certificate(leaf: &CertificateDer<'_>) -> Result<CertInfo, CertError> {
    let source = "the TLS material";
    let bad = |reason: String| CertError::BadCertificate {
        source_name: source.to_string(),
        index: 1,
        reason,
    };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|e| bad(e.to_string()))?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(general_name)
            .collect(),
        Ok(None) => Vec::new(),
        Err(err) => return Err(bad(err.to_string())),
    };
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        key: key_kind(&cert),
        fingerprint_sha256: fingerprint_sha256(leaf),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

/// Checks a certificate against what Entra's provisioning agent accepts, at
/// time `now`.
///
/// Returns the warnings (expiring within [`EXPIRY_WARNING_DAYS`] days,
/// self-signed) for the caller to show; nothing is logged here.
///
/// # Errors
/// RSA keys under 2048 bits, EC keys under 256 bits, Ed25519 and unknown key
/// types (Windows' TLS stack, which the agent uses, cannot use them), and a
/// certificate that is not yet valid or already expired.
pub fn check_policy(info: &CertInfo, now: OffsetDateTime) -> Result<Vec<PolicyWarning>, CertError> {
    match info.key {
        KeyKind::Rsa { bits } if bits < 2048 => return Err(CertError::WeakRsaKey { bits }),
        KeyKind::Ec { curve_bits } if curve_bits < 256 => {
            return Err(CertError::WeakEcKey { bits: curve_bits });
        }
        KeyKind::Rsa { .. } | KeyKind::Ec { .. } => {}
        KeyKind::Ed25519 => {
            return Err(CertError::UnsupportedKeyType {
                kind: "Ed25519 keys".to_string(),
            });
        }
        KeyKind::Other => {
            return Err(CertError::UnsupportedKeyType {
                kind: "keys of this type (neither RSA nor ECDSA)".to_string(),
            });
        }
    }
    if now < info.not_before {
        return Err(CertError::NotYetValid {
            subject: info.subject.clone(),
            not_before: format_time(info.not_before),
            not_after: format_time(info.not_after),
            now: format_time(now),
        });
    }
    if now > info.not_after {
        return Err(CertError::Expired {
            subject: info.subject.clone(),
            not_before: format_time(info.not_before),
            not_after: format_time(info.not_after),
            now: format_time(now),
        });
    }
    let mut warnings = Vec::new();
    let left = info.not_after - now;
    if left <= Duration::days(EXPIRY_WARNING_DAYS) {
        warnings.push(PolicyWarning::ExpiresSoon {
            subject: info.subject.clone(),
            not_after: info.not_after,
            days_left: left.whole_days(),
        });
    }
    if info.self_signed {
        warnings.push(PolicyWarning::SelfSigned {
            subject: info.subject.clone(),
            fingerprint_sha256: info.fingerprint_sha256.clone(),
        });
    }
    Ok(warnings)
}

/// `2026-01-31 12:00:00 UTC`: unambiguous for admins in any locale.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    let utc = t.to_offset(UtcOffset::UTC);
    utc.format(format).unwrap_or_else(|_| utc.to_string())
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some((*dns).to_string()),
        GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
        GeneralName::RFC822Name(mail) => Some(format!("email:{mail}")),
        GeneralName::URI(uri) => Some(format!("URI:{uri}")),
        _ => None,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

/// The key kind of a DER certificate, if it parses.
pub(crate) fn leaf_key_kind(cert: &CertificateDer<'_>) -> Option<KeyKind> {
    X509Certificate::from_der(cert.as_ref())
        .ok()
        .map(|(_, parsed)| key_kind(&parsed))
}

fn key_kind(cert: &X509Certificate<'_>) -> KeyKind {
    let spki = cert.public_key();
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyKind::Rsa {
                bits: significant_bits(rsa.modulus),
            },
            _ => KeyKind::Other,
        }
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let curve_bits = match curve {
            Some(oid) if oid == OID_EC_P256 => 256,
            Some(oid) if oid == OID_NIST_EC_P384 => 384,
            Some(oid) if oid == OID_NIST_EC_P521 => 521,
            _ => match spki.parsed() {
                Ok(key) => u32::try_from(key.key_size()).unwrap_or(0),
                Err(_) => 0,
            },
        };
        KeyKind::Ec { curve_bits }
    } else if *algorithm == OID_SIG_ED25519 {
        KeyKind::Ed25519
    } else {
        KeyKind::Other
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn significant_bits(be: &[u8]) -> u32 {
    let trimmed = match be.iter().position(|b| *b != 0) {
        Some(start) => be.get(start..).unwrap_or_default(),
        None => return 0,
    };
    match trimmed.first() {
        Some(first) => {
            let rest = u32::try_from(trimmed.len().saturating_sub(1)).unwrap_or(u32::MAX / 16);
            rest.saturating_mul(8) + (8 - first.leading_zeros())
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_bits_ignores_leading_zero_bytes() {
        fn check(input: &[u8], expected: u32) {
            assert_eq!(significant_bits(input), expected, "{input:02x?}");
        }
        check(&[], 0);
        check(&[0, 0], 0);
        check(&[1], 1);
        check(&[0x80], 8);
        check(&[0x00, 0x80, 0x00], 16);
        check(&[0x00, 0x7f, 0xff], 15);
        // A 2048-bit modulus as DER stores it: a 0x00 pad byte, then 256 bytes.
        let mut modulus = vec![0u8; 257];
        modulus[1] = 0xc3;
        check(&modulus, 2048);
        // Leading zero bits inside the first byte count against the size.
        modulus[1] = 0x01;
        check(&modulus, 2041);
    }

    #[test]
    fn fingerprint_is_uppercase_colon_separated_sha256() {
        let cert = CertificateDer::from(b"abc".to_vec());
        assert_eq!(
            fingerprint_sha256(&cert),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn times_are_shown_in_utc() {
        fn check(input: OffsetDateTime, expected: &str) {
            assert_eq!(format_time(input), expected);
        }
        check(
            time::macros::datetime!(2026-01-31 12:00:00 UTC),
            "2026-01-31 12:00:00 UTC",
        );
        check(
            time::macros::datetime!(2026-01-31 12:00:00 +02:00),
            "2026-01-31 10:00:00 UTC",
        );
        check(
            time::macros::datetime!(2027-12-31 23:30:05 -01:00),
            "2028-01-01 00:30:05 UTC",
        );
    }

    #[test]
    fn key_kinds_are_checked_against_entra_minimums() {
        fn check(key: KeyKind, expected: Result<(), &str>) {
            let info = CertInfo {
                subject: "CN=x".to_string(),
                issuer: "CN=ca".to_string(),
                sans: Vec::new(),
                not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
                not_after: time::macros::datetime!(2028-01-01 0:00 UTC),
                key,
                fingerprint_sha256: String::new(),
                self_signed: false,
            };
            let now = time::macros::datetime!(2027-01-01 0:00 UTC);
            match (check_policy(&info, now), expected) {
                (Ok(warnings), Ok(())) => assert!(warnings.is_empty(), "{key}: {warnings:?}"),
                (Err(err), Err(text)) => assert!(err.to_string().contains(text), "{key}: {err}"),
                (got, want) => panic!("{key}: got {got:?}, want {want:?}"),
            }
        }
        check(
            KeyKind::Rsa { bits: 1024 },
            Err("RSA key of 1024 bits is too weak; Entra requires at least 2048"),
        );
        check(KeyKind::Rsa { bits: 2047 }, Err("2047 bits is too weak"));
        check(KeyKind::Rsa { bits: 2048 }, Ok(()));
        check(KeyKind::Rsa { bits: 4096 }, Ok(()));
        check(
            KeyKind::Ec { curve_bits: 192 },
            Err("EC key of 192 bits is too weak"),
        );
        check(KeyKind::Ec { curve_bits: 256 }, Ok(()));
        check(KeyKind::Ec { curve_bits: 521 }, Ok(()));
        check(KeyKind::Ed25519, Err("Ed25519 keys are not accepted"));
        check(KeyKind::Other, Err("neither RSA nor ECDSA"));
    }
}
