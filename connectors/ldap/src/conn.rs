//! Connections: an internal tokio runtime, TLS (rustls), failover over the configured servers,
//! bind, a small pool with health checks and back-off, and the deadline around every operation.
//!
//! **Why a runtime of our own.** The [`connector_core::Connector`] trait is synchronous and the
//! host calls it from its blocking pool. ldap3 is async (its blocking `LdapConn` wraps a
//! current-thread runtime *per connection* and cannot share connections between threads), so the
//! connector owns one small multi-thread runtime (one worker) that drives every connection's I/O
//! task, and each call blocks on its own future with [`tokio::runtime::Runtime::block_on`]. That
//! gives one pool for all threads, per-operation timeouts from the [`Deadline`], and paged or
//! sync searches that stay open across `next_page` calls. The runtime is shut down in the
//! background on drop, so dropping the connector inside an async context is safe.
//!
//! **Isolation.** ldap3 panics on some malformed BER (its control parsers and
//! `SearchEntry::construct` use `expect`). Every future runs under `catch_unwind`, and a panic
//! becomes [`ConnectorError::Unavailable`] ("malformed reply") with the connection discarded; a
//! panic in a connection's I/O task only ends that task.
//!
//! **Sockets.** Each connection is a `std::net::TcpStream` we connect ourselves (with the connect
//! timeout and `TCP_NODELAY`, which ldap3 never sets and which costs 40+ ms per TLS round trip
//! otherwise) and hand to ldap3 with `set_std_stream`.

use std::future::Future;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use connector_core::{ConnectorError, Deadline};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, StdStream};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::config::{BindMethod, LdapConfig};
use crate::errors::{self, Op};

/// How one server is reached.
#[derive(Debug, Clone)]
pub struct Server {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub ldaps: bool,
    pub starttls: bool,
}

impl Server {
    /// Parses `ldap://host[:port][/]` or `ldaps://…`.
    pub fn parse(url: &str, starttls: bool) -> Result<Server, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an LDAP URL (ldap://host or ldaps://host)"))?;
        let ldaps = match scheme.to_ascii_lowercase().as_str() {
            "ldap" => false,
            "ldaps" => true,
            other => {
                return Err(format!(
                    "{url:?}: scheme {other:?} is not supported (ldap or ldaps)"
                ));
            }
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| format!("{url:?}: {p:?} is not a port"))?,
            None if ldaps => 636,
            None => 389,
        };
        Ok(Server {
            url: url.trim_end_matches('/').to_owned(),
            host,
            port,
            ldaps,
            starttls: starttls && !ldaps,
        })
    }

    /// Whether traffic to this server is encrypted.
    pub fn encrypted(&self) -> bool {
        self.ldaps || self.starttls
    }

    /// Whether the host is on the loopback interface.
    pub fn loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    fn describe(&self) -> String {
        let how = if self.ldaps {
            "LDAPS"
        } else if self.starttls {
            "StartTLS"
        } else {
            "plain LDAP"
        };
        format!("{} ({how})", self.url)
    }
}

/// Everything needed to open a bound connection.
struct Target {
    servers: Vec<Server>,
    tls: Option<Arc<ClientConfig>>,
    bind_method: BindMethod,
    bind_dn: String,
    bind_password: String,
    connect_timeout: Duration,
    operation_timeout: Duration,
}

/// Exponential back-off after every server failed to connect.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<ConnectorError>,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

struct Idle {
    ldap: Ldap,
    since: Instant,
    server: usize,
}

/// The pool. Cheap to share: every method takes `&self`.
pub struct Pool {
    runtime: Option<tokio::runtime::Runtime>,
    target: Target,
    idle: Mutex<Vec<Idle>>,
    backoff: Mutex<Backoff>,
    max_idle: usize,
    health_check_after: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("servers", &self.target.servers)
            .finish_non_exhaustive()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Pool {
    /// Builds the pool (no connection is opened yet). Relative TLS file paths are resolved
    /// against `base_dir`.
    pub fn new(config: &LdapConfig, base_dir: &Path) -> Result<Pool, ConnectorError> {
        let bad = |m: String| ConnectorError::misconfigured(m);
        if config.servers.is_empty() {
            return Err(bad("no LDAP server is configured: set servers".into()));
        }
        let servers = config
            .servers
            .iter()
            .map(|u| Server::parse(u, config.starttls))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let has_password = config
            .bind_password
            .as_deref()
            .is_some_and(|p| !p.is_empty());
        if config.bind_method == BindMethod::Simple
            && has_password
            && !config.allow_plaintext_bind
            && let Some(s) = servers.iter().find(|s| !s.encrypted() && !s.loopback())
        {
            return Err(bad(format!(
                "{} is plain LDAP: the bind password would cross the network in clear; use ldaps://, \
                 starttls = true, or (not recommended) allow_plaintext_bind = true",
                s.url
            )));
        }
        let needs_tls = servers.iter().any(Server::encrypted);
        if config.bind_method == BindMethod::SaslExternal
            && (config.tls.client_cert_file.is_none() || !needs_tls)
        {
            return Err(bad(
                "bind_method = \"sasl_external\" needs TLS (ldaps:// or starttls) and tls.client_cert_file"
                    .into(),
            ));
        }
        let tls = if needs_tls {
            Some(Arc::new(tls_config(config, base_dir)?))
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ldap-connector")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the LDAP connector's runtime: {e}")))?;
        Ok(Pool {
            runtime: Some(runtime),
            target: Target {
                servers,
                tls,
                bind_method: config.bind_method,
                bind_dn: config.bind_dn.clone().unwrap_or_default(),
                bind_password: config.bind_password.clone().unwrap_or_default(),
                connect_timeout: config.connect_timeout,
                operation_timeout: config.operation_timeout,
            },
            idle: Mutex::new(Vec::new()),
            backoff: Mutex::new(Backoff::default()),
            max_idle: config.pool_size.max(1),
            health_check_after: config.health_check_after,
        })
    }

    /// Runs `fut` on the runtime until `deadline` (capped by the operation timeout). A panic
    /// inside becomes `Unavailable`, a passed deadline `Timeout`.
    pub fn block_on<R>(
        &self,
        deadline: Deadline,
        what: &str,
        fut: impl Future<Output = Result<R, ConnectorError>>,
    ) -> Result<R, ConnectorError> {
        deadline.check(what)?;
        let budget = deadline.remaining_within(self.target.operation_timeout);
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| ConnectorError::unavailable("the LDAP connector is shutting down"))?;
        match catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async move { tokio::time::timeout(budget, fut).await })
        })) {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(ConnectorError::timeout(format!(
                "the deadline passed during {what}"
            ))),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                if message.contains("runtime") {
                    // Not the server: the host called from inside an async task.
                    Err(ConnectorError::misconfigured(format!(
                        "the LDAP connector was called from an async task during {what}; call it from a blocking thread ({message})"
                    )))
                } else {
                    Err(ConnectorError::unavailable(format!(
                        "the LDAP server sent a reply the client could not parse during {what} ({message})"
                    )))
                }
            }
        }
    }

    /// A bound connection: a healthy idle one, or a new one (servers tried in order).
    pub fn get(&self, deadline: Deadline) -> Result<Conn<'_>, ConnectorError> {
        deadline.check("connecting to the LDAP server")?;
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(mut idle) = idle else { break };
            if idle.ldap.is_closed() {
                continue;
            }
            if idle.since.elapsed() >= self.health_check_after {
                let mut ldap = idle.ldap.clone();
                let probe = self.block_on(
                    Deadline::after(deadline.remaining_within(Duration::from_secs(5))),
                    "a connection health check",
                    async move {
                        ldap.extended(ldap3::exop::WhoAmI)
                            .await
                            .and_then(|r| r.success())
                            .map_err(|e| errors::from_ldap(Op::Extended, "", e))
                    },
                );
                if probe.is_err() {
                    tracing::debug!(
                        "dropping a pooled LDAP connection that failed its health check"
                    );
                    continue;
                }
            }
            return Ok(Conn {
                pool: self,
                ldap: Some(idle.ldap),
                server: idle.server,
                broken: false,
            });
        }
        let (ldap, server) = self.connect(deadline)?;
        Ok(Conn {
            pool: self,
            ldap: Some(ldap),
            server,
            broken: false,
        })
    }

    /// The server a connection goes to.
    pub fn server(&self, index: usize) -> Option<&Server> {
        self.target.servers.get(index)
    }

    fn connect(&self, deadline: Deadline) -> Result<(Ldap, usize), ConnectorError> {
        {
            let backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = backoff.retry_at {
                let now = Instant::now();
                if at > now {
                    let wait = at - now;
                    let detail = backoff.last_error.as_ref().map_or_else(
                        || "no LDAP server could be reached".to_owned(),
                        |e| e.detail().to_owned(),
                    );
                    return Err(ConnectorError::Unavailable {
                        detail: format!("{detail} (next attempt in {} ms)", wait.as_millis()),
                        retry_after: Some(wait),
                    });
                }
            }
        }
        let mut last = ConnectorError::unavailable("no LDAP server is configured");
        for (i, server) in self.target.servers.iter().enumerate() {
            match self.connect_one(server, deadline) {
                Ok(ldap) => {
                    *self.backoff.lock().unwrap_or_else(PoisonError::into_inner) =
                        Backoff::default();
                    return Ok((ldap, i));
                }
                Err(e) => {
                    tracing::debug!(server = %server.url, error = %e, "LDAP server not usable");
                    let stop = matches!(e, ConnectorError::Timeout { .. }) && deadline.expired();
                    last = e;
                    if stop {
                        break;
                    }
                }
            }
        }
        if matches!(last, ConnectorError::Unavailable { .. }) {
            let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
            backoff.failures = backoff.failures.saturating_add(1);
            let wait = BACKOFF_FIRST
                .saturating_mul(1u32 << backoff.failures.min(16).saturating_sub(1))
                .min(BACKOFF_MAX);
            backoff.retry_at = Some(Instant::now() + wait);
            backoff.last_error = Some(last.clone());
            if let ConnectorError::Unavailable { retry_after, .. } = &mut last {
                *retry_after = Some(wait);
            }
        }
        Err(last)
    }

    fn connect_one(&self, server: &Server, deadline: Deadline) -> Result<Ldap, ConnectorError> {
        let target = &self.target;
        let budget = deadline.remaining_within(target.connect_timeout);
        let unreachable = |e: std::io::Error| {
            ConnectorError::unavailable(format!("cannot connect to {}: {e}", server.url))
        };
        let addresses: Vec<SocketAddr> = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .map_err(unreachable)?
            .collect();
        let mut socket = Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host name has no address",
        ));
        for address in &addresses {
            let left = deadline.remaining_within(target.connect_timeout);
            if left.is_zero() {
                return Err(ConnectorError::timeout(format!(
                    "the deadline passed while connecting to {}",
                    server.url
                )));
            }
            socket = TcpStream::connect_timeout(address, left);
            if socket.is_ok() {
                break;
            }
        }
        let socket = socket.map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut && deadline.expired() {
                ConnectorError::timeout(format!(
                    "the deadline passed while connecting to {}",
                    server.url
                ))
            } else {
                unreachable(e)
            }
        })?;
        socket.set_nodelay(true).map_err(unreachable)?;
        let mut settings = LdapConnSettings::new()
            .set_std_stream(StdStream::Tcp(socket))
            .set_starttls(server.starttls);
        if let Some(tls) = &target.tls {
            settings = settings.set_config(tls.clone());
        }
        let url = server.url.clone();
        let bind_method = target.bind_method;
        let bind_dn = target.bind_dn.clone();
        let password = target.bind_password.clone();
        let what = format!("connecting to {}", server.url);
        let connected_by = Instant::now() + budget;
        self.block_on(
            Deadline::at(connected_by.min(deadline.instant())),
            &what,
            async move {
                let (conn, mut ldap) =
                    LdapConnAsync::with_settings(settings, &url)
                        .await
                        .map_err(|e| match errors::from_ldap(Op::Bind, &url, e) {
                            ConnectorError::Unavailable { detail, .. } => {
                                ConnectorError::unavailable(format!(
                                    "cannot connect to {url}: {detail}"
                                ))
                            }
                            other => other,
                        })?;
                tokio::spawn(async move {
                    if let Err(e) = conn.drive().await {
                        tracing::debug!(error = %e, "LDAP connection ended");
                    }
                });
                let bound = match bind_method {
                    BindMethod::Simple => ldap.simple_bind(&bind_dn, &password).await,
                    BindMethod::SaslExternal => ldap.sasl_external_bind().await,
                };
                bound
                    .and_then(|r| r.success())
                    .map_err(|e| errors::from_ldap(Op::Bind, &bind_dn, e))?;
                Ok(ldap)
            },
        )
        .map_err(|e| match e {
            ConnectorError::Timeout { .. } if !deadline.expired() => ConnectorError::unavailable(
                format!("{} did not answer within the connect timeout", server.url),
            ),
            other => other,
        })
    }

    fn put_back(&self, ldap: Ldap, server: usize) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(Idle {
                ldap,
                since: Instant::now(),
                server,
            });
        }
    }

    /// Describes the servers, for `test_connection`.
    pub fn describe(&self, server: usize) -> String {
        self.server(server)
            .map(Server::describe)
            .unwrap_or_default()
    }
}

/// A checked-out connection; back to the pool on drop unless an operation on it failed in a way
/// that leaves it in doubt (timeout, lost connection, panic).
pub struct Conn<'p> {
    pool: &'p Pool,
    ldap: Option<Ldap>,
    server: usize,
    broken: bool,
}

impl Conn<'_> {
    /// Runs `f` with the connection's handle, bounded by `deadline`.
    pub fn run<R>(
        &mut self,
        deadline: Deadline,
        what: &str,
        f: impl AsyncFnOnce(&mut Ldap) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let Some(ldap) = self.ldap.as_mut() else {
            return Err(ConnectorError::unavailable(
                "the LDAP connection was closed",
            ));
        };
        let result = self.pool.block_on(deadline, what, f(ldap));
        if let Err(ConnectorError::Timeout { .. } | ConnectorError::Unavailable { .. }) = &result {
            self.broken = true;
        }
        result
    }

    /// The index of the server this connection goes to.
    pub fn server(&self) -> usize {
        self.server
    }

    /// Marks the connection as not reusable (an abandoned paged search, say).
    pub fn discard(&mut self) {
        self.broken = true;
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(ldap) = self.ldap.take()
            && !self.broken
        {
            self.pool.put_back(ldap, self.server);
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client configuration: trust from `ca_file`, pinned fingerprints or the system
/// store; an optional client certificate.
fn tls_config(config: &LdapConfig, base_dir: &Path) -> Result<ClientConfig, ConnectorError> {
    let bad = |m: String| ConnectorError::misconfigured(m);
    let path = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS configuration: {e}")))?;
    let tls = &config.tls;
    let builder = if !tls.pinned_sha256.is_empty() {
        let pins = tls
            .pinned_sha256
            .iter()
            .map(|p| parse_fingerprint(p).ok_or_else(|| bad(format!(
                "tls.pinned_sha256: {p:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
            ))))
            .collect::<Result<Vec<_>, _>>()?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pins,
                provider: provider(),
            }))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &tls.ca_file {
            let file = path(ca);
            let certs = CertificateDer::pem_file_iter(&file)
                .map_err(|e| bad(format!("tls.ca_file {}: {e}", file.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("tls.ca_file {}: {e}", file.display())))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(bad(format!(
                    "tls.ca_file {} holds no usable CA certificate",
                    file.display()
                )));
            }
        } else {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        builder.with_root_certificates(roots)
    };
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key)) => {
            let (cert, key) = (path(cert), path(key));
            let chain = CertificateDer::pem_file_iter(&cert)
                .map_err(|e| bad(format!("tls.client_cert_file {}: {e}", cert.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("tls.client_cert_file {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| bad(format!("tls.client_key_file {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("the client certificate and key do not fit: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(bad(
            "tls.client_cert_file and tls.client_key_file go together".into(),
        )),
    }
}

/// Parses a SHA-256 fingerprint written as hex, with or without colons.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 fingerprint of a DER certificate, as lower-case hex with colons.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts exactly the pinned certificates, by SHA-256 of their DER; the handshake signatures are
/// still verified, so the server must hold the pinned certificate's key.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&digest) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate (SHA-256 {}) is not one of tls.pinned_sha256",
                fingerprint(end_entity.as_ref())
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let s = Server::parse("ldaps://dc1.example.com", false).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.ldaps),
            ("dc1.example.com", 636, true)
        );
        let s = Server::parse("ldap://127.0.0.1:3389/", true).unwrap();
        assert_eq!((s.port, s.starttls, s.loopback()), (3389, true, true));
        let s = Server::parse("ldap://[::1]:10389", false).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.loopback()),
            ("::1", 10389, true)
        );
        assert!(Server::parse("http://x", false).is_err());
        assert!(Server::parse("ldap://", false).is_err());
        assert!(Server::parse("ldap://x:notaport", false).is_err());
    }

    #[test]
    fn fingerprints_parse() {
        let hex = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&hex), Some([0xab; 32]));
        assert_eq!(parse_fingerprint("abcd"), None);
        assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
    }
}
