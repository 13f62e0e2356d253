//! The host's TLS: the configured PEM or PFX certificate, or one generated on first start,
//! checked against Entra's key policy, served through a resolver that SIGHUP reloads.

use std::path::PathBuf;
use std::sync::Arc;

use certs::{CertError, ReloadableResolver, TlsMaterial};

use crate::config::Config;

/// Where the TLS material comes from, so a reload reads the same place again.
#[derive(Debug, Clone)]
pub enum TlsSource {
    Pem { cert: PathBuf, key: PathBuf },
    Pfx { path: PathBuf, password: String },
    Generated { dir: PathBuf, names: Vec<String> },
}

impl TlsSource {
    /// The source described by the configuration.
    pub fn from_config(config: &Config) -> Result<TlsSource, crate::HostError> {
        Ok(match &config.server.tls {
            Some(t) => match (&t.cert, &t.key, &t.pfx) {
                (Some(c), Some(k), _) => TlsSource::Pem {
                    cert: config.resolve(c),
                    key: config.resolve(k),
                },
                (_, _, Some(p)) => {
                    let password = match &t.pfx_password {
                        Some(src) => src
                            .read(config, "server.tls.pfx_password")?
                            .expose()
                            .to_owned(),
                        None => String::new(),
                    };
                    TlsSource::Pfx {
                        path: config.resolve(p),
                        password,
                    }
                }
                _ => {
                    return Err(crate::HostError::Startup(
                        "[server.tls] needs cert + key or pfx".into(),
                    ));
                }
            },
            None => TlsSource::Generated {
                dir: config.data_dir().join("certs"),
                names: public_names(config),
            },
        })
    }

    /// Loads (or on first start generates) the material and checks it against the key policy.
    pub fn load(&self) -> Result<TlsMaterial, CertError> {
        let material = match self {
            TlsSource::Pem { cert, key } => certs::load_pem(cert, key)?,
            TlsSource::Pfx { path, password } => certs::load_pfx(path, password)?,
            TlsSource::Generated { dir, names } => {
                let (material, provenance) = certs::ensure_self_signed(dir, names)?;
                if provenance.generated {
                    tracing::info!(
                        cert = %provenance.cert_path.display(),
                        "generated a self-signed certificate for {}; for production, configure a certificate from your CA in [server.tls]",
                        names.join(", ")
                    );
                }
                material
            }
        };
        let info = certs::inspect(&material)?;
        for warning in certs::check_policy(&info, time::OffsetDateTime::now_utc())? {
            tracing::warn!("{warning}");
        }
        tracing::info!(
            subject = %info.subject,
            not_after = %info.not_after,
            fingerprint_sha256 = %info.fingerprint_sha256,
            "TLS certificate loaded"
        );
        Ok(material)
    }
}

/// Host names for a generated certificate: the configured ones, or this machine's name plus
/// `localhost` and the loopback addresses.
pub fn public_names(config: &Config) -> Vec<String> {
    if !config.server.public_names.is_empty() {
        return config.server.public_names.clone();
    }
    let mut names = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" {
            names.push(h.to_owned());
        }
    }
    names.extend([
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]);
    names
}

/// Builds the resolver and the rustls server configuration.
pub fn server_config(
    material: TlsMaterial,
) -> Result<(Arc<ReloadableResolver>, Arc<rustls::ServerConfig>), CertError> {
    let resolver = Arc::new(ReloadableResolver::new(material)?);
    let config = certs::server_config(resolver.clone())?;
    Ok((resolver, config))
}
