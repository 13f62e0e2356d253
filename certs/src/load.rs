//! Loading certificates and keys that admins bring.
//!
//! Windows admins export certificates either as PEM pairs (from a CA or
//! `openssl`) or as PFX archives (`Export-PfxCertificate`, certlm.msc). Both
//! end up as a [`TlsMaterial`] here, and both are checked the same way: every
//! certificate must parse, and the private key must belong to the leaf, so a
//! mix-up is caught at start-up instead of as a failed handshake.

use std::path::Path;
use std::sync::Arc;

use p12_keystore::Pkcs12Archive;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{Error as TlsError, InconsistentKeys};
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

use crate::inspect::leaf_key_kind;
use crate::{CertError, KeyKind, TlsMaterial};

/// Loads a PEM certificate chain and its private key.
///
/// `cert_path` holds the leaf certificate first, then any intermediates, in
/// the order they are sent to clients. `key_path` holds the leaf's private key
/// as PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
/// (`BEGIN EC PRIVATE KEY`); it may be the same file as `cert_path`.
///
/// # Errors
/// A [`CertError`] naming the file when a file cannot be read, holds no
/// certificate or key, holds an encrypted key, or when the key does not belong
/// to the first certificate.
pub fn load_pem(cert_path: &Path, key_path: &Path) -> Result<TlsMaterial, CertError> {
    let cert_bytes = read_file(cert_path)?;
    let chain = pem_certificates(cert_path, &cert_bytes)?;
    let key = if key_path == cert_path {
        pem_private_key(key_path, &cert_bytes)?
    } else {
        pem_private_key(key_path, &read_file(key_path)?)?
    };
    let material = TlsMaterial { chain, key };
    certified_key(
        &material,
        &key_path.display().to_string(),
        &cert_path.display().to_string(),
    )?;
    Ok(material)
}

/// Loads a PKCS#12 (PFX) archive: the private key, its certificate and the
/// chain of issuers the archive contains.
///
/// Reads archives made by Windows `Export-PfxCertificate` (AES-256/SHA-256 or
/// TripleDES/SHA-1) and by `openssl pkcs12 -export` (the AES-256 default and
/// the `-legacy` RC2/3DES formats). The chain is ordered leaf first, then each
/// issuer found in the archive.
///
/// # Errors
/// [`CertError::PfxPassword`] for a wrong password; other [`CertError`]s when
/// the file is unreadable, not PKCS#12, or holds no usable key and certificate.
pub fn load_pfx(path: &Path, password: &str) -> Result<TlsMaterial, CertError> {
    let data = read_file(path)?;
    let archive = Pkcs12Archive::from_pkcs12(&data, password).map_err(|e| pfx_error(path, e))?;
    if archive.keys.is_empty() {
        return Err(CertError::PfxNoKey {
            path: path.to_path_buf(),
        });
    }
    let certs: Vec<CertificateDer<'static>> = archive
        .certs
        .iter()
        .map(|bag| CertificateDer::from(bag.cert.as_der().to_vec()))
        .collect();
    let source = path.display().to_string();
    for (index, cert) in certs.iter().enumerate() {
        parse_certificate(cert, &source, index)?;
    }

    let provider = provider();
    let mut last_key_error = None;
    for bag in &archive.keys {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec()));
        let spki = match provider.key_provider.load_private_key(key.clone_key()) {
            Ok(signing) => signing.public_key().map(|spki| spki.as_ref().to_vec()),
            Err(err) => {
                last_key_error = Some(err);
                continue;
            }
        };
        let Some(spki) = spki else { continue };
        let leaf = certs.iter().position(|cert| {
            X509Certificate::from_der(cert.as_ref())
                .is_ok_and(|(_, parsed)| parsed.public_key().raw == spki.as_slice())
        });
        if let Some(leaf) = leaf {
            let chain = order_chain(&certs, leaf);
            let material = TlsMaterial { chain, key };
            certified_key(&material, &source, &source)?;
            return Ok(material);
        }
    }
    match last_key_error {
        Some(err) if archive.keys.len() == 1 => Err(CertError::UnusableKey {
            source_name: source,
            reason: err.to_string(),
        }),
        _ => Err(CertError::PfxNoCertificate {
            path: path.to_path_buf(),
        }),
    }
}

/// Leaf first, then each issuer found among `certs`, following issuer names
/// until a self-issued certificate or a missing link.
fn order_chain(certs: &[CertificateDer<'static>], leaf: usize) -> Vec<CertificateDer<'static>> {
    let names: Vec<Option<(Vec<u8>, Vec<u8>)>> = certs
        .iter()
        .map(|cert| {
            X509Certificate::from_der(cert.as_ref())
                .ok()
                .map(|(_, c)| (c.subject().as_raw().to_vec(), c.issuer().as_raw().to_vec()))
        })
        .collect();
    let mut used = vec![leaf];
    let mut current = leaf;
    while let Some(Some((subject, issuer))) = names.get(current) {
        if subject == issuer {
            break;
        }
        let next = names
            .iter()
            .enumerate()
            .position(|(i, n)| !used.contains(&i) && n.as_ref().is_some_and(|(s, _)| s == issuer));
        match next {
            Some(next) => {
                used.push(next);
                current = next;
            }
            None => break,
        }
    }
    used.iter().filter_map(|&i| certs.get(i).cloned()).collect()
}

fn pfx_error(path: &Path, err: p12_keystore::error::Error) -> CertError {
    use p12_keystore::error::Error as P12;
    match err {
        P12::MacError(_) | P12::UnpadError => CertError::PfxPassword {
            path: path.to_path_buf(),
        },
        P12::IoError(source) => CertError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => CertError::BadPfx {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// The crypto provider of the whole host: aws-lc-rs, chosen explicitly.
pub(crate) fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Builds the rustls view of `material`, checking that every certificate
/// parses and that the key belongs to the leaf.
pub(crate) fn certified_key(
    material: &TlsMaterial,
    key_source: &str,
    cert_source: &str,
) -> Result<Arc<CertifiedKey>, CertError> {
    if material.chain.is_empty() {
        return Err(CertError::EmptyChain {
            source_name: cert_source.to_string(),
        });
    }
    for (index, cert) in material.chain.iter().enumerate() {
        parse_certificate(cert, cert_source, index)?;
    }
    if let Some(leaf) = material.chain.first() {
        check_leaf_version(leaf, cert_source)?;
    }
    let signing = match provider()
        .key_provider
        .load_private_key(material.key.clone_key())
    {
        Ok(signing) => signing,
        // aws-lc-rs refuses small RSA keys outright; say so in Entra's terms.
        Err(err) => {
            return Err(match material.chain.first().and_then(leaf_key_kind) {
                Some(KeyKind::Rsa { bits }) if bits < 2048 => CertError::WeakRsaKey { bits },
                _ => CertError::UnusableKey {
                    source_name: key_source.to_string(),
                    reason: err.to_string(),
                },
            });
        }
    };
    let certified = CertifiedKey::new(material.chain.clone(), signing);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(CertError::KeyMismatch {
                key_source: key_source.to_string(),
                cert_source: cert_source.to_string(),
            })
        }
        Err(TlsError::InconsistentKeys(_)) => Err(CertError::UnusableKey {
            source_name: key_source.to_string(),
            reason: "its public key cannot be compared with the certificate".to_string(),
        }),
        Err(other) => Err(CertError::BadCertificate {
            source_name: cert_source.to_string(),
            index: 1,
            reason: other.to_string(),
        }),
    }
}

/// TLS clients (webpki, SChannel) only accept X.509 v3 server certificates;
/// `openssl x509 -req` without `-extfile` makes v1 ones.
fn check_leaf_version(leaf: &CertificateDer<'_>, source: &str) -> Result<(), CertError> {
    match X509Certificate::from_der(leaf.as_ref()) {
        Ok((_, cert)) if cert.version() != X509Version::V3 => Err(CertError::BadCertificate {
            source_name: source.to_string(),
            index: 1,
            reason: format!(
                "it is an X.509 version {} certificate, and TLS clients need version 3; \
                 issue it again with extensions (e.g. `openssl x509 -req … -extfile` with a subjectAltName)",
                cert.version().0 + 1
            ),
        }),
        _ => Ok(()),
    }
}

fn parse_certificate(
    cert: &CertificateDer<'_>,
    source: &str,
    index: usize,
) -> Result<(), CertError> {
    match X509Certificate::from_der(cert.as_ref()) {
        Ok(_) => Ok(()),
        Err(err) => Err(CertError::BadCertificate {
            source_name: source.to_string(),
            index: index + 1,
            reason: err.to_string(),
        }),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every PEM section of `bytes`, with a message that never quotes the content.
fn pem_sections(path: &Path, bytes: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>, CertError> {
    <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CertError::BadPem {
            path: path.to_path_buf(),
            reason: pem_reason(&err).to_string(),
        })
}

fn pem_reason(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => {
            "a -----BEGIN----- line has no matching -----END----- line"
        }
        pem::Error::IllegalSectionStart { .. } => "a -----BEGIN----- line is malformed",
        pem::Error::Base64Decode(_) => "the base64 text inside a block is damaged",
        pem::Error::SectionTooLarge => "a block is larger than 256 MB",
        _ => "the file cannot be parsed as PEM",
    }
}

fn pem_certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain: Vec<CertificateDer<'static>> = pem_sections(path, bytes)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn pem_private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    let encrypted = contains(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || contains(bytes, b"Proc-Type: 4,ENCRYPTED");
    let encrypted_error = || CertError::EncryptedPrivateKey {
        path: path.to_path_buf(),
    };
    if contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
        // Old OpenSSL-style encryption inside a BEGIN RSA/EC PRIVATE KEY block.
        return Err(encrypted_error());
    }
    let sections = match pem_sections(path, bytes) {
        Ok(sections) => sections,
        Err(_) if encrypted => return Err(encrypted_error()),
        Err(err) => return Err(err),
    };
    match sections
        .into_iter()
        .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
    {
        Some(key) => Ok(key),
        None if encrypted => Err(encrypted_error()),
        None => Err(CertError::NoPrivateKey {
            path: path.to_path_buf(),
        }),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
