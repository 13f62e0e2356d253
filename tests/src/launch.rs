//! The one place that calls into the host library: load the configuration file, then spawn
//! `connector_host::run(config, listener, shutdown)` on the current tokio runtime.

use std::net::TcpListener;
use std::path::Path;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{E2eError, Result};

/// Loads `config_path` and spawns the host on `listener`; it stops when `shutdown` fires or is
/// dropped. The task's result is the host's own error, as text.
pub(crate) fn spawn_host(
    config_path: &Path,
    listener: TcpListener,
    shutdown: oneshot::Receiver<()>,
) -> Result<JoinHandle<Result<(), String>>> {
    let config = connector_host::config::Config::load(config_path)
        .map_err(|e| E2eError::Host(format!("the configuration was rejected: {e}")))?;
    let stop = async move {
        // A dropped sender (the harness went away) stops the host as well.
        let _ = shutdown.await;
    };
    Ok(tokio::spawn(async move {
        connector_host::run(config, listener, stop)
            .await
            .map_err(|e| e.to_string())
    }))
}
