//! The one error type of this crate.
//!
//! An admin reads these messages at start-up, often on a machine they do not
//! know well, so each one names the file involved and says what to do next.
//! None of them ever carries key bytes or a password.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while loading, generating, checking or serving
/// TLS material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertError {
    /// A file could not be read.
    #[error("while reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A file or directory could not be written.
    #[error("while writing {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A PEM file is syntactically broken.
    #[error("while reading {}: invalid PEM ({reason}); expected -----BEGIN …----- / -----END …----- blocks of base64", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong, without the file's content.
        reason: String,
    },

    /// A certificate file holds no certificate.
    #[error("while reading {}: no certificate found; expected a PEM file with -----BEGIN CERTIFICATE-----", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },

    /// A chain handed to this crate is empty.
    #[error(
        "no certificate in {source_name}; a certificate chain needs at least the server's own certificate"
    )]
    EmptyChain {
        /// Where the chain came from.
        source_name: String,
    },

    /// A key file holds no (unencrypted) private key.
    #[error("while reading {}: no private key found; expected -----BEGIN PRIVATE KEY-----, -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },

    /// A key file holds only a password-protected private key.
    #[error("while reading {}: the private key is encrypted, which is not supported; decrypt it with `openssl pkey -in <file> -out <new file>` and protect the new file with file permissions", path.display())]
    EncryptedPrivateKey {
        /// The file.
        path: PathBuf,
    },

    /// A certificate cannot be parsed as X.509.
    #[error("certificate #{index} in {source_name} is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// Where it came from (a path, or a description).
        source_name: String,
        /// Position in the chain, 1 = leaf.
        index: usize,
        /// Parser message.
        reason: String,
    },

    /// The private key is of a kind or format the TLS stack cannot use.
    #[error(
        "private key in {source_name} cannot be used: {reason}; use an RSA (2048 bits or more) or ECDSA P-256/P-384 key"
    )]
    UnusableKey {
        /// Where it came from.
        source_name: String,
        /// What the TLS stack said (never key bytes).
        reason: String,
    },

    /// The private key belongs to a different certificate.
    #[error(
        "private key in {key_source} does not match the certificate in {cert_source}; check that both files come from the same certificate request"
    )]
    KeyMismatch {
        /// Where the key came from.
        key_source: String,
        /// Where the certificate came from.
        cert_source: String,
    },

    /// The PFX password is wrong (or the file was altered).
    #[error("while reading {}: wrong password for this PFX file (or the file is damaged); check the password given when it was exported", path.display())]
    PfxPassword {
        /// The file.
        path: PathBuf,
    },

    /// The file is not a PKCS#12 archive this crate can read.
    #[error("while reading {}: not a readable PKCS#12/PFX file ({reason}); export it again with Export-PfxCertificate or `openssl pkcs12 -export`, or use PEM files", path.display())]
    BadPfx {
        /// The file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },

    /// The PFX archive has no private key.
    #[error("while reading {}: the PFX file contains no private key; export it again including the private key (Export-PfxCertificate exports it; in certlm.msc choose \"Yes, export the private key\")", path.display())]
    PfxNoKey {
        /// The file.
        path: PathBuf,
    },

    /// The PFX archive has no certificate for its private key.
    #[error("while reading {}: the PFX file contains no certificate for its private key", path.display())]
    PfxNoCertificate {
        /// The file.
        path: PathBuf,
    },

    /// Only one file of a certificate/key pair exists.
    #[error("found {} but not {}; restore the missing file, or delete the other one to have a new self-signed certificate generated", present.display(), missing.display())]
    IncompletePair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// A name given for a self-signed certificate is unusable.
    #[error("cannot put {name:?} in a certificate: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },

    /// Certificate generation failed.
    #[error("cannot generate a certificate: {reason}")]
    Generate {
        /// Why.
        reason: String,
    },

    /// RSA key below Entra's minimum.
    #[error(
        "RSA key of {bits} bits is too weak; Entra requires at least 2048; issue a new certificate with a 2048-bit (or larger) RSA key or an ECDSA P-256 key"
    )]
    WeakRsaKey {
        /// Key size.
        bits: u32,
    },

    /// EC key below Entra's minimum.
    #[error(
        "EC key of {bits} bits is too weak; Entra requires at least 256; issue a new certificate on curve P-256 or P-384"
    )]
    WeakEcKey {
        /// Key size.
        bits: u32,
    },

    /// A key type Entra's client does not accept.
    #[error(
        "{kind} are not accepted by Entra's provisioning agent; issue a new certificate with an RSA (2048 bits or more) or ECDSA P-256 key"
    )]
    UnsupportedKeyType {
        /// Human description of the key type.
        kind: String,
    },

    /// The certificate's validity starts in the future.
    #[error(
        "certificate {subject} is not valid yet: valid from {not_before} to {not_after}, and it is now {now}; check the system clock or wait until it starts"
    )]
    NotYetValid {
        /// Subject DN.
        subject: String,
        /// Formatted start of validity.
        not_before: String,
        /// Formatted end of validity.
        not_after: String,
        /// Formatted current time.
        now: String,
    },

    /// The certificate has expired.
    #[error(
        "certificate {subject} expired on {not_after} (valid from {not_before}), and it is now {now}; install a renewed certificate (or delete the generated one to get a new self-signed certificate)"
    )]
    Expired {
        /// Subject DN.
        subject: String,
        /// Formatted start of validity.
        not_before: String,
        /// Formatted end of validity.
        not_after: String,
        /// Formatted current time.
        now: String,
    },

    /// rustls refused the configuration.
    #[error("TLS configuration error: {reason}")]
    Tls {
        /// What rustls said.
        reason: String,
    },
}
