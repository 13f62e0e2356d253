//! TLS material for the SCIM endpoint.
//!
//! The host serves HTTPS to Microsoft Entra's provisioning agent, and the
//! admins who run it bring certificates in whatever shape Windows gave them
//! (PEM pairs, PFX files) or none at all. This crate turns each of those into
//! one [`TlsMaterial`] value, checks it against what Entra accepts
//! ([`check_policy`]), and serves it through a rustls resolver that can swap
//! certificates without dropping live connections ([`ReloadableResolver`]).
//!
//! # Layout
//! - [`error`]: [`CertError`], whose messages name the file and say what to do.
//! - `load`: [`load_pem`] and [`load_pfx`], both checking that key and certificate belong together.
//! - `generate`: [`generate_self_signed`] and [`ensure_self_signed`] (first-start certificate).
//! - `inspect`: [`inspect`], [`fingerprint_sha256`] and the key/validity policy [`check_policy`].
//! - `resolver`: [`ReloadableResolver`] and [`server_config`] (TLS 1.2/1.3, aws-lc-rs only).
//!
//! Invariant: the only crypto provider used is aws-lc-rs; nothing here pulls in `ring`.
//! Invariant: no error message or `Debug` output contains key bytes or passwords.

pub mod error;
mod generate;
mod inspect;
mod load;
mod resolver;

use std::fmt;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use error::CertError;
pub use generate::{CERT_FILE_NAME, DEFAULT_VALIDITY_DAYS, KEY_FILE_NAME};
pub use generate::{GeneratedCert, Provenance, ensure_self_signed, generate_self_signed};
pub use inspect::{
    CertInfo, EXPIRY_WARNING_DAYS, KeyKind, PolicyWarning, check_policy, fingerprint_sha256,
    inspect, inspect_certificate,
};
pub use load::{load_pem, load_pfx};
pub use resolver::{ReloadableResolver, server_config};

/// A certificate chain (leaf first) with the private key of the leaf.
///
/// Every constructor in this crate has already checked that `key` belongs to
/// the first certificate of `chain`.
pub struct TlsMaterial {
    /// The leaf certificate first, then any intermediates, in the order the
    /// server sends them.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PrivateKeyDer<'static>,
}

impl TlsMaterial {
    /// The leaf certificate, if the chain is not empty.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fingerprints: Vec<String> = self.chain.iter().map(fingerprint_sha256).collect();
        f.debug_struct("TlsMaterial")
            .field("chain_sha256", &fingerprints)
            .field("key", &"<redacted>")
            .finish()
    }
}
