//! Serving the certificate, and replacing it without a restart.
//!
//! Certificates are renewed while the host runs (SIGHUP, or a file watcher in
//! the host). rustls asks a resolver for the certificate at every handshake,
//! so holding the current one behind a lock lets a reload take effect for the
//! next handshake while established connections keep the session they have.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::load::{certified_key, provider};
use crate::{CertError, TlsMaterial};

/// A [`ResolvesServerCert`] that always answers with the current certificate
/// and can be given a new one at any time.
#[derive(Debug)]
pub struct ReloadableResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableResolver {
    /// A resolver serving `material`.
    ///
    /// # Errors
    /// When the key cannot be used or does not match the leaf certificate.
    pub fn new(material: TlsMaterial) -> Result<Self, CertError> {
        let key = certified_key(&material, "the given key", "the given certificate")?;
        Ok(Self {
            current: RwLock::new(key),
        })
    }

    /// Serves `material` from the next handshake on. Connections already
    /// established are not affected. On error the old certificate stays.
    ///
    /// # Errors
    /// When the key cannot be used or does not match the leaf certificate.
    pub fn reload(&self, material: TlsMaterial) -> Result<(), CertError> {
        let key = certified_key(&material, "the new key", "the new certificate")?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The certificate and key new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for ReloadableResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls server configuration of the SCIM endpoint: aws-lc-rs, TLS 1.2
/// and 1.3 only, no client certificates, ALPN `http/1.1`, certificates from
/// `resolver`.
///
/// # Errors
/// [`CertError::Tls`] if rustls rejects the protocol versions for the provider.
pub fn server_config(resolver: Arc<ReloadableResolver>) -> Result<Arc<ServerConfig>, CertError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| CertError::Tls {
            reason: err.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
