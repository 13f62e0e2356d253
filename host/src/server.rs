//! The server: TLS, the bring-up of every configured connector (retried while its target is
//! down), their import schedules, and HTTPS with graceful shutdown and certificate reload on
//! SIGHUP.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::HostError;
use crate::assemble::build_runtime;
use crate::config::{Config, ConnectorConfig};
use crate::http::{AppState, Slot};
use crate::imports::ImportControl;
use crate::registry::{self, Connectors};
use crate::telemetry::Metrics;
use crate::tls::TlsSource;

/// How long in-flight requests get to finish on shutdown.
const DRAIN: Duration = Duration::from_secs(10);
/// The file in the data directory that marks a running host.
const RUNNING_MARKER: &str = "host.running";
/// How long a clean stop waits for the import schedules to release their leases.
const LEASE_RELEASE_WAIT: Duration = Duration::from_secs(5);
/// How long start-up waits for connectors to bind before it starts serving.
const FIRST_BIND_WAIT: Duration = Duration::from_secs(15);

/// Runs the host on `listener` until `shutdown` completes, after the registry has read every
/// connector's settings in `config`.
pub async fn run(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HostError> {
    let connectors = registry::read(&config)?;
    serve(config, connectors, listener, shutdown).await
}

/// Runs the host on `listener` until `shutdown` completes, with the connectors' settings as the
/// registry read them from `config`.
pub async fn serve(
    config: Config,
    connectors: Connectors,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HostError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    std::fs::create_dir_all(config.data_dir()).map_err(|e| {
        HostError::Startup(format!(
            "cannot create data directory {}: {e}",
            config.data_dir().display()
        ))
    })?;
    // A marker that exists while the host runs: found at start, the last run did not stop
    // cleanly. A process crash (kill -9, a panic, the OOM killer) loses nothing the space
    // committed, and the exports it left in flight are re-read by anchor at bring-up. A machine
    // that restarted since (a power failure: the marker names another boot) may have lost the
    // last commits, which were not yet synced: then every connector re-imports at once
    // (lookups are served meanwhile).
    let marker = config.data_dir().join(RUNNING_MARKER);
    let boot = boot_id();
    let unclean = std::fs::read_to_string(&marker).ok();
    let reimport = match &unclean {
        None => false,
        Some(text) => {
            let same_boot = boot
                .as_deref()
                .is_some_and(|b| text.lines().nth(1) == Some(b));
            if same_boot {
                tracing::warn!(
                    "the previous run did not stop cleanly; exports it left in flight are read back from the targets"
                );
            } else {
                tracing::warn!(
                    "the previous run did not stop cleanly and the machine restarted since; every connector runs a full import now"
                );
            }
            !same_boot
        }
    };
    std::fs::write(
        &marker,
        format!("{}\n{}\n", std::process::id(), boot.unwrap_or_default()),
    )
    .map_err(|e| HostError::Startup(format!("cannot write {}: {e}", marker.display())))?;
    let tls_source = TlsSource::from_config(&config)?;
    let material = {
        let s = tls_source.clone();
        tokio::task::spawn_blocking(move || s.load())
            .await
            .map_err(|e| HostError::Startup(e.to_string()))??
    };
    let (resolver, tls_config) = crate::tls::server_config(material)?;

    let port = listener
        .local_addr()
        .map_err(|e| HostError::Startup(e.to_string()))?
        .port();
    let host_id: Arc<str> = config.host_id(port).into();
    tracing::info!(host_id = %host_id, space = config.server.space.backend.as_str(), "this host");
    let metrics = Arc::new(Metrics::default());
    let space_backend = config.server.space.backend.as_str();
    metrics.set_host(&host_id, space_backend);
    let admin_token = match &config.server.admin_token {
        Some(t) => Some(t.resolve(&config, "server.admin_token")?),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut slots = HashMap::new();
    let mut controls = HashMap::new();
    let mut first_attempts = Vec::new();
    let mut schedules = Vec::new();
    let config = Arc::new(config);
    let connectors = Arc::new(connectors);
    for c in &config.connectors {
        let slot = Arc::new(Slot {
            token: config.connector_token(c)?,
            runtime: RwLock::new(Err("starting".into())),
        });
        slots.insert(c.name.clone(), slot.clone());
        let control = Arc::new(ImportControl::default());
        controls.insert(c.name.clone(), control.clone());
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        first_attempts.push(first_rx);
        schedules.push(tokio::spawn(bring_up(
            config.clone(),
            c.clone(),
            connectors.clone(),
            slot,
            control,
            metrics.clone(),
            stop_rx.clone(),
            first_tx,
            reimport,
            host_id.clone(),
        )));
    }
    // Serve only once every connector had its first chance to bind, so a restart answers
    // lookups from the persisted space at once; a target that is slow to answer does not hold
    // the others back for longer than this.
    let _ = tokio::time::timeout(FIRST_BIND_WAIT, futures::future::join_all(first_attempts)).await;
    let state = Arc::new(AppState {
        slots,
        admin_token,
        metrics,
        max_body: config.server.max_body_bytes,
        health: crate::http::health_body(config.server.space.backend),
    });
    let console =
        crate::console::Console::new(state.clone(), controls, resolver.clone(), config.data_dir());
    let app = crate::http::router(state).merge(crate::console::router(console));

    let handle = axum_server::Handle::new();
    let shutdown_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        shutdown_handle.graceful_shutdown(Some(DRAIN));
    });
    spawn_reload_on_sighup(tls_source, resolver);

    let local = listener
        .local_addr()
        .map_err(|e| HostError::Startup(e.to_string()))?;
    tracing::info!("listening on https://{local}");
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(tls_config),
    )
    .acceptor(axum_server::accept::NoDelayAcceptor::new());
    axum_server::from_tcp(listener)
        .map_err(|e| HostError::Startup(format!("cannot use the listener: {e}")))?
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .map_err(|e| HostError::Startup(format!("server failed: {e}")))?;
    // The schedules stop at the stop signal and release their import leases (a running import
    // is not waited for past this).
    let _ = tokio::time::timeout(LEASE_RELEASE_WAIT, futures::future::join_all(schedules)).await;
    if let Err(e) = std::fs::remove_file(&marker) {
        tracing::warn!("cannot remove {}: {e}", marker.display());
    }
    Ok(())
}

/// Builds a connector's runtime with the token of its slot, retrying while the target is
/// unavailable, then runs its import schedule.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    config: Arc<Config>,
    c: ConnectorConfig,
    connectors: Arc<Connectors>,
    slot: Arc<Slot>,
    control: Arc<ImportControl>,
    metrics: Arc<Metrics>,
    stop: tokio::sync::watch::Receiver<bool>,
    first_attempt: tokio::sync::oneshot::Sender<()>,
    reimport: bool,
    host_id: Arc<str>,
) {
    let mut delay = Duration::from_secs(2);
    let mut first_attempt = Some(first_attempt);
    loop {
        let (cfg, cc, cs, m) = (
            config.clone(),
            c.clone(),
            connectors.clone(),
            metrics.clone(),
        );
        let token = slot.token.clone();
        let ctl = control.clone();
        let id = host_id.clone();
        let built =
            tokio::task::spawn_blocking(move || build_runtime(&cfg, &cc, &cs, token, m, ctl, &id))
                .await;
        match built {
            Ok(Ok(rt)) => {
                let rt = Arc::new(rt);
                // Exports left in flight by a crash are read back before the connector
                // serves, so no lookup answers from a state the target may not hold.
                let settle_rt = rt.clone();
                let reimport = reimport
                    || tokio::task::spawn_blocking(move || {
                        crate::imports::settle_intents(&settle_rt, true)
                    })
                    .await
                    .unwrap_or(true);
                tracing::info!(connector = %c.name, ready = rt.ready.load(std::sync::atomic::Ordering::Acquire), "connector bound");
                if let Ok(mut w) = slot.runtime.write() {
                    *w = Ok(rt.clone());
                }
                if let Some(tx) = first_attempt.take() {
                    let _ = tx.send(());
                }
                crate::imports::schedule(
                    rt,
                    control,
                    stop,
                    reimport,
                    config.server.space.import_lease.0,
                )
                .await;
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(connector = %c.name, error = %e, "connector cannot start; retrying in {}s", delay.as_secs());
                control.start_failed(e.detail().to_owned(), e.is_retryable());
                if let Ok(mut w) = slot.runtime.write() {
                    *w = Err(e.detail().to_owned());
                }
            }
            Err(e) => {
                tracing::error!(connector = %c.name, error = %e, "connector start-up task failed")
            }
        }
        if let Some(tx) = first_attempt.take() {
            let _ = tx.send(());
        }
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// The kernel's identifier of this boot (Linux), so a marker left by a crashed process can be
/// told from one left by a machine that lost power.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(unix)]
fn spawn_reload_on_sighup(source: TlsSource, resolver: Arc<certs::ReloadableResolver>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; certificate reload is unavailable");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let s = source.clone();
            let loaded = tokio::task::spawn_blocking(move || s.load()).await;
            match loaded {
                Ok(Ok(material)) => match resolver.reload(material) {
                    Ok(()) => tracing::info!("TLS certificate reloaded (SIGHUP)"),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                    }
                },
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                }
                Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_source: TlsSource, _resolver: Arc<certs::ReloadableResolver>) {}
