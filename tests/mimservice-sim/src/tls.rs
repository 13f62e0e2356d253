//! HTTPS for the simulator: a throw-away CA and a server certificate it signs for `localhost`
//! and `127.0.0.1`, as an admin would issue one from a corporate CA for the REST API's IIS site.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The generated material, all PEM.
#[derive(Clone)]
pub struct Generated {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated").finish_non_exhaustive()
    }
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A CA and a server certificate for `localhost`, `127.0.0.1` and `names`.
pub fn generate(names: &[String]) -> std::io::Result<Generated> {
    let ca_key = KeyPair::generate().map_err(io)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(io)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "mimservice-sim test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(io)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    sans.extend(names.iter().cloned());
    let key = KeyPair::generate().map_err(io)?;
    let mut server = CertificateParams::new(sans).map_err(io)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "mimservice-sim");
    let cert = server.signed_by(&key, &issuer).map_err(io)?;
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A rustls server configuration (aws-lc-rs, HTTP/1.1) for the generated certificate.
pub fn server_config(g: &Generated) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(g.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    let key = PrivateKeyDer::from_pem_slice(g.key_pem.as_bytes()).map_err(io)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
