//! TLS for the REST API: the system's trust store by default, or a CA bundle (`ca_file`), or a
//! pinned server certificate (`pinned_certificate`), plus an optional client certificate.
//!
//! With any of those set the connector builds its own rustls configuration (aws-lc-rs, the
//! provider the whole workspace uses) and hands it to reqwest; otherwise reqwest's default
//! (rustls with the platform verifier) applies.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_core::ConnectorError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::MimServiceConfig;

fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ConnectorError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ConnectorError::misconfigured(format!("cannot read {what} {}: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(ConnectorError::misconfigured(format!(
            "{what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Accepts exactly the pinned certificates as the server's end-entity certificate, whoever
/// issued them and whatever names they carry; the handshake signatures are still verified.
#[derive(Debug)]
struct Pinned {
    pins: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls configuration the connector's settings ask for; `None` for reqwest's default.
pub(crate) fn client_config(
    config: &MimServiceConfig,
    base_dir: &Path,
) -> Result<Option<rustls::ClientConfig>, ConnectorError> {
    let bad = |m: String| ConnectorError::misconfigured(m);
    if config.ca_file.is_none()
        && config.pinned_certificate.is_none()
        && config.client_certificate.is_none()
    {
        return Ok(None);
    }
    if config.ca_file.is_some() && config.pinned_certificate.is_some() {
        return Err(bad(
            "ca_file and pinned_certificate exclude each other: trust a CA or pin the certificate"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?;
    let builder = if let Some(pin) = &config.pinned_certificate {
        let pins = certificates(&resolve(base_dir, pin), "pinned_certificate")?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { pins, provider }))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &config.ca_file {
            Some(ca) => {
                for cert in certificates(&resolve(base_dir, ca), "ca_file")? {
                    roots
                        .add(cert)
                        .map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
                }
            }
            None => {
                // A client certificate without a CA bundle: trust the platform's roots.
                let native = rustls_platform_roots();
                if native.is_empty() {
                    return Err(bad(
                        "with client_certificate, also set ca_file: no system CA store was found"
                            .into(),
                    ));
                }
                for cert in native {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut tls = match (&config.client_certificate, &config.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates(&resolve(base_dir, cert), "client_certificate")?;
            let key_path = resolve(base_dir, key);
            let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                bad(format!(
                    "cannot read client_key {}: {e}",
                    key_path.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("client certificate: {e}")))?
        }
        _ => {
            return Err(bad("client_certificate and client_key go together".into()));
        }
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tls))
}

/// The CA certificates of the usual system bundle locations (Debian, RHEL, Alpine, SUSE).
fn rustls_platform_roots() -> Vec<CertificateDer<'static>> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
    ]
    .iter()
    .find_map(|p| {
        CertificateDer::pem_file_iter(p)
            .ok()
            .map(|iter| iter.filter_map(Result::ok).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
    })
    .unwrap_or_default()
}
