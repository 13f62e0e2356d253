//! [`TestHost`]: a connector-host running in-process on `127.0.0.1:0`, reached over HTTPS with
//! a client that trusts exactly the certificate the host generated into its data directory.
//!
//! Readiness is polled (certificate file, then `GET /healthz`) with a deadline, never slept
//! for. [`TestHost::restart`] stops the host and starts it again on the same directory and
//! configuration with a new port: that is how tests prove the connector space survives a
//! restart with no re-import.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::ScimClient;
use crate::error::{E2eError, Result, io};
use crate::launch::spawn_host;

/// The configuration file's name inside the test directory.
pub const CONFIG_FILE: &str = "connector-host.toml";
/// Where the host writes its generated certificate, relative to its data directory.
pub const GENERATED_CERT: &str = "certs/connector-host.crt";
/// How long a start or a stop may take before the harness gives up.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// `sha256:<hex>`, the form of `token = { hash = "…" }` in the configuration.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A running (or stopped) host in its own directory.
pub struct TestHost {
    dir: TempDir,
    data_dir: PathBuf,
    addr: SocketAddr,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost")
            .field("dir", &self.dir.path())
            .field("addr", &self.addr)
            .field("running", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

impl TestHost {
    /// Writes `config_toml` to `dir/connector-host.toml`, binds `127.0.0.1:0`, spawns the host
    /// on the current runtime and waits until `/healthz` answers 200 over TLS with the
    /// generated certificate trusted. The data directory is `dir/data` unless the
    /// configuration says otherwise (keep `data_dir = "data"`).
    pub async fn start(config_toml: &str, dir: TempDir) -> Result<TestHost> {
        let config_path = dir.path().join(CONFIG_FILE);
        std::fs::write(&config_path, config_toml)
            .map_err(io(format!("writing {}", config_path.display())))?;
        let data_dir = dir.path().join("data");
        let mut host = TestHost {
            dir,
            data_dir,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            http: reqwest::Client::new(),
            shutdown: None,
            task: None,
        };
        host.launch().await?;
        Ok(host)
    }

    /// The test directory (holds the configuration, the data directory and any SQLite file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The address the host listens on now.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The HTTPS client trusting the host's certificate.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A SCIM client for connector `name` with `token`.
    pub fn scim(&self, name: &str, token: Option<&str>) -> ScimClient {
        ScimClient::new(
            self.http.clone(),
            format!("{}/ecma2host_{name}/scim", self.origin()),
            token.map(str::to_owned),
        )
    }

    /// Waits until `client`'s connector serves requests: `GET /Users/<random id>` answers
    /// anything but `503` (a connector answers `503` while it is being bound or runs its first
    /// import, as Microsoft's host does while "importing data from the target application";
    /// Entra retries then). Fails after [`STARTUP_DEADLINE`].
    pub async fn wait_serving(&self, client: &ScimClient) -> Result<()> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let path = format!("/Users/{}", uuid::Uuid::new_v4());
        loop {
            let response = client.get(&path, &[]).await?;
            if response.status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(E2eError::Host(format!(
                    "{} still answers 503 after {STARTUP_DEADLINE:?}: {}",
                    client.base,
                    response.got()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether the host task is running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Signals shutdown and waits for `run` to return; its error, if any, is reported.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            // The host may already have stopped; then there is no one to tell.
            let _ = tx.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(STARTUP_DEADLINE, task).await {
            Err(_) => Err(E2eError::Host(format!(
                "run() did not return within {STARTUP_DEADLINE:?} of the shutdown signal"
            ))),
            Ok(Err(join)) => Err(E2eError::Host(format!("the host task failed: {join}"))),
            Ok(Ok(Err(e))) => Err(E2eError::Host(format!(
                "run() returned an error at shutdown: {e}"
            ))),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    /// Stops the host, then starts it again with the same directory and configuration on a new
    /// port; returns once `/healthz` answers.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.launch().await
    }

    async fn launch(&mut self) -> Result<()> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(io("binding 127.0.0.1:0 for the host"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("making the listener non-blocking"))?;
        self.addr = listener
            .local_addr()
            .map_err(io("reading the listener's address"))?;
        let (tx, rx) = oneshot::channel();
        let task = spawn_host(&self.dir.path().join(CONFIG_FILE), listener, rx)?;
        self.shutdown = Some(tx);
        self.task = Some(task);
        self.wait_ready().await
    }

    /// Polls until the certificate exists and `/healthz` answers 200 through a client trusting
    /// it; fails early if `run` returns.
    async fn wait_ready(&mut self) -> Result<()> {
        let cert_path = self.data_dir.join(GENERATED_CERT);
        let url = format!("{}/healthz", self.origin());
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut last = String::from("the certificate file was never written");
        loop {
            if let Some(task) = &self.task
                && task.is_finished()
            {
                let result = match self.task.take() {
                    Some(task) => task.await,
                    None => Ok(Ok(())),
                };
                return Err(E2eError::Host(format!(
                    "run() returned before the host was ready: {result:?}"
                )));
            }
            if let Some(client) = trusting_client(&cert_path, &mut last) {
                match client
                    .get(&url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => {
                        self.http = client;
                        return Ok(());
                    }
                    Ok(r) => last = format!("GET /healthz answered {}", r.status()),
                    Err(e) => last = format!("GET /healthz failed: {e}"),
                }
            }
            if Instant::now() >= deadline {
                return Err(E2eError::Host(format!(
                    "not ready within {STARTUP_DEADLINE:?}: {last}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client trusting only the PEM certificate at `path`, or `None` (with the reason in `last`)
/// while it is not there yet.
fn trusting_client(path: &Path, last: &mut String) -> Option<reqwest::Client> {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            *last = format!("cannot read {}: {e}", path.display());
            return None;
        }
    };
    let cert = match reqwest::Certificate::from_pem(&pem) {
        Ok(cert) => cert,
        Err(e) => {
            *last = format!("{} is not a PEM certificate (yet?): {e}", path.display());
            return None;
        }
    };
    match reqwest::Client::builder()
        .tls_certs_only([cert])
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(client) => Some(client),
        Err(e) => {
            *last = format!("cannot build a client trusting {}: {e}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_hash;

    #[test]
    fn token_hashes_are_sha256_hex_with_a_prefix() {
        let check =
            |token: &str, expected: &str| assert_eq!(token_hash(token), expected, "{token}");
        check(
            "abc",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        check(
            "",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
    }
}
