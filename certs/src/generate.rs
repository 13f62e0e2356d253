//! The self-signed certificate made on first start.
//!
//! Like Microsoft's ECMA host wizard, the host must serve HTTPS even when the
//! admin has configured no certificate yet: it generates one (ECDSA P-256,
//! two years, the host's names as SANs) into its data directory and reuses it
//! on every later start. The files are written so that a crash or power loss
//! never leaves a truncated key behind, and the key is readable only by the
//! service account.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType, string::Ia5String,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::load::load_pem;
use crate::{CertError, TlsMaterial};

/// File name of the generated certificate inside the directory given to
/// [`ensure_self_signed`].
pub const CERT_FILE_NAME: &str = "connector-host.crt";
/// File name of the generated private key inside that directory.
pub const KEY_FILE_NAME: &str = "connector-host.key";
/// Validity of the first-start certificate: two years, as Microsoft's wizard.
pub const DEFAULT_VALIDITY_DAYS: u32 = 730;

/// How long before "now" a new certificate starts to be valid, so that a
/// client whose clock is a little behind still accepts it.
const BACKDATE: Duration = Duration::hours(1);

/// A freshly generated certificate, both as PEM text (to write to disk) and
/// as ready-to-serve material.
#[derive(Clone)]
pub struct GeneratedCert {
    /// The certificate, `-----BEGIN CERTIFICATE-----`.
    pub cert_pem: String,
    /// The PKCS#8 private key, `-----BEGIN PRIVATE KEY-----`.
    pub key_pem: String,
    /// The same certificate and key, decoded.
    pub material: TlsMaterial,
}

impl std::fmt::Debug for GeneratedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .field("material", &self.material)
            .finish()
    }
}

/// Where the certificate served came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// True when this call generated the files; false when it loaded them.
    pub generated: bool,
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The private key file.
    pub key_path: PathBuf,
}

/// Generates a self-signed server certificate with a new ECDSA P-256 key.
///
/// Every entry of `names` becomes a subject alternative name (an IP address
/// SAN when it parses as one, a DNS name otherwise); the first is also the
/// common name. The certificate is valid from an hour ago for
/// `valid_for_days` days, and is marked for server authentication only.
///
/// # Errors
/// [`CertError::InvalidName`] when `names` is empty or a name cannot be
/// encoded (empty, non-ASCII: use the punycode form), and
/// [`CertError::Generate`] when `valid_for_days` is 0 or generation fails.
pub fn generate_self_signed(
    names: &[String],
    valid_for_days: u32,
) -> Result<GeneratedCert, CertError> {
    let Some(common_name) = names.first() else {
        return Err(CertError::InvalidName {
            name: String::new(),
            reason: "at least one host name is needed for a certificate".to_string(),
        });
    };
    if valid_for_days == 0 {
        return Err(CertError::Generate {
            reason: "the validity must be at least one day".to_string(),
        });
    }
    let mut sans = Vec::with_capacity(names.len());
    for name in names {
        sans.push(san(name)?);
    }

    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name.as_str());
    params.subject_alt_names = sans;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(valid_for_days));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

    let generate_error = |err: rcgen::Error| CertError::Generate {
        reason: err.to_string(),
    };
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate_error)?;
    let cert = params.self_signed(&key_pair).map_err(generate_error)?;
    let material = TlsMaterial {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der())),
    };
    Ok(GeneratedCert {
        cert_pem: cert.pem(),
        key_pem: key_pair.serialize_pem(),
        material,
    })
}

/// Loads `dir/connector-host.crt` and `dir/connector-host.key`, or, when
/// neither exists, generates a self-signed certificate for `names` (valid
/// [`DEFAULT_VALIDITY_DAYS`] days) and writes both files.
///
/// The directory is created if needed. Each file is written to a temporary
/// name, flushed to disk and renamed into place, so a crash never leaves half
/// a key; on Unix the key file is created with mode 0600.
///
/// # Errors
/// [`CertError::IncompletePair`] when only one of the two files exists (it is
/// never overwritten), any error of [`load_pem`] for existing files, and
/// [`CertError::Write`] when the directory or files cannot be written.
pub fn ensure_self_signed(
    dir: &Path,
    names: &[String],
) -> Result<(TlsMaterial, Provenance), CertError> {
    let cert_path = dir.join(CERT_FILE_NAME);
    let key_path = dir.join(KEY_FILE_NAME);
    let cert_exists = exists(&cert_path)?;
    let key_exists = exists(&key_path)?;
    let provenance = |generated| Provenance {
        generated,
        cert_path: cert_path.clone(),
        key_path: key_path.clone(),
    };
    match (cert_exists, key_exists) {
        (true, true) => {
            let material = load_pem(&cert_path, &key_path)?;
            Ok((material, provenance(false)))
        }
        (true, false) => Err(CertError::IncompletePair {
            present: cert_path.clone(),
            missing: key_path.clone(),
        }),
        (false, true) => Err(CertError::IncompletePair {
            present: key_path.clone(),
            missing: cert_path.clone(),
        }),
        (false, false) => {
            let generated = generate_self_signed(names, DEFAULT_VALIDITY_DAYS)?;
            fs::create_dir_all(dir).map_err(|source| CertError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
            // Key first: a crash between the two renames leaves a key without
            // a certificate, which the next start reports instead of guessing.
            write_atomically(&key_path, generated.key_pem.as_bytes(), true)?;
            write_atomically(&cert_path, generated.cert_pem.as_bytes(), false)?;
            sync_dir(dir)?;
            tracing::info!(
                cert = %cert_path.display(),
                key = %key_path.display(),
                "generated a self-signed TLS certificate"
            );
            Ok((generated.material, provenance(true)))
        }
    }
}

fn san(name: &str) -> Result<SanType, CertError> {
    let invalid = |reason: &str| CertError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if name.contains(char::is_whitespace) {
        return Err(invalid("a host name cannot contain spaces"));
    }
    Ia5String::try_from(name)
        .map(SanType::DnsName)
        .map_err(|_| invalid("only ASCII host names are allowed; use the punycode (xn--) form"))
}

fn exists(path: &Path) -> Result<bool, CertError> {
    path.try_exists().map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `contents` to a temporary file beside `path`, syncs it and renames
/// it over `path`.
fn write_atomically(path: &Path, contents: &[u8], secret: bool) -> Result<(), CertError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let write_error = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    // A leftover from a crash may have other permissions; start afresh.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = open_new(&tmp, secret)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file holds nothing the next try needs.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_error)
}

#[cfg(unix)]
fn open_new(path: &Path, secret: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    options.mode(if secret { 0o600 } else { 0o644 });
    options.open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _secret: bool) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Makes the renames durable (Unix); a no-op elsewhere.
fn sync_dir(dir: &Path) -> Result<(), CertError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| CertError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
