//! The engine: one SCIM request → binding → [`Change`] → connector export → connector space →
//! SCIM response (DESIGN §4).
//!
//! A [`Runtime`] is one configured connector, ready to serve: its connector, its connector
//! space, the bindings of SCIM resource types to connector object types, and the locks that
//! serialise exports per anchor. Reads (GET by id, filters, lists) are answered from the space
//! only; writes go to the target first and reach the space only when the target accepted them,
//! in the same blocking task, so a slow target never leaves the two apart.
//!
//! Layout: [`binding`] (SCIM resource types bound to connector object types, per schema mode),
//! [`values`] (value conversion), `write` (create, PATCH, PUT, DELETE), [`query`] (reads),
//! `render` (stored object → SCIM resource with its URL and ETag), [`locks`] (per-anchor export
//! serialisation). The engine knows no HTTP and no imports: the HTTP side and the imports call
//! into it.

pub mod binding;
pub mod locks;
pub mod query;
mod render;
pub mod values;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connector_core::{Change, Connector, ConnectorError, ExportOutcome};
use schemas::schema::ResourceSchema;

use crate::config::{ConnectorConfig, DeleteAction, TokenHash};
use crate::error::ApiError;
use crate::space::{Journal, Space, StoredObject};
use crate::telemetry::Metrics;
use binding::{Binding, ResourceKind};
use locks::KeyLocks;

pub use render::etag;
pub use write::flag_value;

/// One connector, bound and ready to serve SCIM.
pub struct Runtime {
    pub name: String,
    pub config: ConnectorConfig,
    pub token: TokenHash,
    pub connector: Arc<dyn Connector>,
    pub space: Arc<Space>,
    pub users: Binding,
    pub groups: Option<Binding>,
    pub locks: Arc<KeyLocks>,
    /// Creates are serialised per connector so the uniqueness check and the add are one step.
    pub create_lock: tokio::sync::Mutex<()>,
    pub metrics: Arc<Metrics>,
    /// True once the space holds a complete import (now or from before a restart).
    pub ready: AtomicBool,
    pub max_page_size: usize,
    pub max_filter_scan: u64,
    /// Write-throughs made while a full import runs, re-applied after it commits.
    pub journal: Journal,
}

impl Runtime {
    /// The binding serving `kind`, or 404 when this connector does not serve it.
    pub fn binding(&self, kind: ResourceKind) -> Result<&Binding, ApiError> {
        match kind {
            ResourceKind::User => Ok(&self.users),
            ResourceKind::Group => self.groups.as_ref().ok_or_else(|| {
                ApiError::NotFound(format!(
                    "connector {} does not serve Groups (groups need schema = \"scim\" and a [connector.groups] table)",
                    self.name
                ))
            }),
        }
    }

    /// The resource schemas this connector exposes.
    pub fn resource_schemas(&self) -> Vec<ResourceSchema> {
        let mut out = vec![self.users.schema.clone()];
        if let Some(g) = &self.groups {
            out.push(g.schema.clone());
        }
        out
    }

    /// Refuses lookups and writes until the first full import completed, as Microsoft's host
    /// does: an empty space would make Entra create duplicates of existing objects.
    pub fn ensure_ready(&self) -> Result<(), ApiError> {
        if self.ready.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ApiError::Importing(format!(
                "connector {} is still importing from the target system; retry shortly",
                self.name
            )))
        }
    }

    /// Marks the space as holding a complete import.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn export_timeout(&self) -> Duration {
        self.config.export_timeout.0
    }

    /// Whether DELETE removes objects at the target.
    pub fn deletes(&self) -> bool {
        self.config.deprovision.delete == DeleteAction::Delete
    }

    /// Runs one export and its write-through in a blocking task, under the time budget. The
    /// task keeps running past the budget, so the space is updated whenever the target
    /// completes; the caller only stops waiting.
    pub async fn export(
        self: &Arc<Self>,
        change: Change,
        before: Option<StoredObject>,
        guard: Option<locks::KeyGuard>,
    ) -> Result<Option<StoredObject>, ApiError> {
        let rt = self.clone();
        let op = change.operation();
        let task = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let started = std::time::Instant::now();
            let result = rt.connector.export(&change);
            let elapsed = started.elapsed();
            let anchor = change.anchor().map(|a| a.to_string()).unwrap_or_default();
            let outcome = match &result {
                Ok(_) => "success".to_owned(),
                Err(e) => format!("{e}"),
            };
            tracing::info!(
                target: "audit",
                connector = %rt.name,
                op,
                object_type = change.object_type(),
                anchor = %anchor,
                outcome = %outcome,
                duration_ms = elapsed.as_millis() as u64,
                "export"
            );
            rt.metrics
                .observe_export(&rt.name, op, result.is_ok(), elapsed);
            write_through(&rt, &change, before.as_ref(), result)
        });
        match tokio::time::timeout(self.export_timeout(), task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(ApiError::Internal(format!("export task failed: {join}"))),
            Err(_) => Err(ApiError::Connector(ConnectorError::timeout(format!(
                "no answer within {}",
                self.config.export_timeout
            )))),
        }
    }
}

/// Applies a finished export to the connector space.
fn write_through(
    rt: &Runtime,
    change: &Change,
    before: Option<&StoredObject>,
    result: Result<ExportOutcome, ConnectorError>,
) -> Result<Option<StoredObject>, ApiError> {
    match result {
        Ok(outcome) => {
            let obj = change.resulting_object(before.map(|b| &b.object), &outcome);
            let anchor = obj
                .as_ref()
                .map(|o| o.anchor.clone())
                .unwrap_or_else(|| outcome.anchor.clone());
            Ok(rt
                .journal
                .write(&rt.space, change.object_type(), &anchor, obj.as_ref())?)
        }
        Err(ConnectorError::NotFound { detail }) => {
            // The target no longer has the object: drop it from the space too.
            if let Some(a) = change.anchor() {
                rt.journal.write(&rt.space, change.object_type(), a, None)?;
            }
            if matches!(change, Change::Delete { .. }) {
                Ok(None)
            } else {
                Err(ApiError::Connector(ConnectorError::NotFound { detail }))
            }
        }
        Err(e) => Err(ApiError::Connector(e)),
    }
}
