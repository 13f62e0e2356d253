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
mod references;
mod render;
pub mod values;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connector_core::{Change, Connector, ConnectorError, Deadline, ExportOutcome, ExportStatus};
use schemas::schema::ResourceSchema;

use crate::config::{ConnectorConfig, DeleteAction, TokenHash};
use crate::error::ApiError;
use crate::space::{ExportLock, Journal, Origin, Space, StoredObject};
use crate::telemetry::Metrics;
use binding::{Binding, ResourceKind};
use locks::KeyLocks;

pub use render::{etag, etag_matches};
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
    /// Held around every export when the connector cannot take two at once
    /// ([`connector_core::Capabilities::concurrent_exports`] is false).
    pub export_gate: tokio::sync::Mutex<()>,
    pub metrics: Arc<Metrics>,
    /// True once the space holds a complete import (now or from before a restart).
    pub ready: AtomicBool,
    pub max_page_size: usize,
    pub max_filter_scan: u64,
    /// Write-throughs made while a full import runs, re-applied after it commits.
    pub journal: Journal,
    /// The connector's import schedule as operators see it: the running import's progress is
    /// what a request refused during the first import is told.
    /// How far the running import is, for the first-import refusal.
    pub progress: Arc<dyn ImportProgress>,
    /// How this host names itself among the hosts sharing the space (`[server] host_id`): in
    /// the run history, the import lease and logs.
    pub host_id: String,
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

    /// The resource schemas this connector exposes: each binding's advertised schema, exactly
    /// what it holds (DESIGN §3).
    pub fn resource_schemas(&self) -> Vec<ResourceSchema> {
        let mut out = vec![self.users.schema.clone()];
        if let Some(g) = &self.groups {
            out.push(g.schema.clone());
        }
        out
    }

    /// Refuses lookups and writes until the first full import completed, as Microsoft's host
    /// does: an empty space would make Entra create duplicates of existing objects. The answer
    /// says how far the import is and asks the client to come back when it should be done
    /// (at most 30 s later).
    pub fn ensure_ready(&self) -> Result<(), ApiError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc();
        let running = self.progress.running_import(now);
        let progress = running
            .as_ref()
            .map(|r| format!(" ({})", r.line))
            .unwrap_or_default();
        let retry_after = match running {
            Some(r) if r.storing => STORING_RETRY,
            Some(r) => r.eta.map_or(FIRST_IMPORT_RETRY, |eta| {
                eta.clamp(Duration::from_secs(1), FIRST_IMPORT_RETRY)
            }),
            None => FIRST_IMPORT_RETRY,
        };
        Err(ApiError::Importing {
            detail: format!(
                "connector {} is running its first import from the target system{progress}; retry later",
                self.name
            ),
            retry_after,
        })
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
    /// connector gets the budget as its [`Deadline`] and stops there; the host stops waiting at
    /// the same moment, and the task still writes through whatever the target did, so a slow
    /// target never leaves the space and the target apart.
    pub async fn export(
        self: &Arc<Self>,
        change: Change,
        before: Option<StoredObject>,
        hold: locks::ExportHold,
    ) -> Result<Option<StoredObject>, ApiError> {
        self.export_prepared(move |_| Ok(change), before, hold)
            .await
    }

    /// [`Runtime::export`] of the change `prepare` builds on the blocking task, right before
    /// the intent is recorded: checks that read the space (a create's uniqueness, its
    /// references) share the export's trip to the blocking pool instead of taking one of their
    /// own. A `prepare` that fails leaves the space and the target untouched.
    pub(crate) async fn export_prepared(
        self: &Arc<Self>,
        prepare: impl FnOnce(&Runtime) -> Result<Change, ApiError> + Send + 'static,
        before: Option<StoredObject>,
        hold: locks::ExportHold,
    ) -> Result<Option<StoredObject>, ApiError> {
        let _one_at_a_time = if self.connector.capabilities().concurrent_exports {
            None
        } else {
            Some(self.export_gate.lock().await)
        };
        let rt = self.clone();
        let deadline = Deadline::after(self.export_timeout());
        let task = tokio::task::spawn_blocking(move || {
            let mut hold = Some(hold);
            let change = prepare(&rt)?;
            // Recorded before the target sees the change and cleared with its write-through,
            // so a crash in between costs a re-read of this one object at the next start.
            let intent =
                rt.space
                    .record_intent(change.object_type(), change.anchor(), &rt.host_id)?;
            let started = std::time::Instant::now();
            let result = rt.connector.export(&change, deadline);
            let elapsed = started.elapsed();
            let op = change.operation();
            tracing::info!(
                target: "audit",
                connector = %rt.name,
                op,
                object_type = change.object_type(),
                anchor = %audit_anchor(&result, &change),
                outcome = %AuditOutcome(&result),
                duration_ms = elapsed.as_millis() as u64,
                "export"
            );
            rt.metrics
                .observe_export(&rt.name, op, result.is_ok(), elapsed);
            // A refused export left the target as it was; an anchorless create's write-through
            // had no anchor to clear its intent by. A timeout keeps it open unless read back.
            let refused = matches!(&result, Err(e) if !matches!(e, ConnectorError::Timeout { .. }));
            let anchorless = result.is_ok() && change.anchor().is_none();
            let written = write_through(&rt, &change, before.as_ref(), result, &mut hold);
            if refused || (anchorless && written.is_ok()) {
                rt.space.clear_intent(intent)?;
            }
            written
        });
        // The connector stops at the deadline; a little grace lets it say so itself, and a
        // write-through may then wait for a space that is restarting.
        let budget = self.export_timeout() + EXPORT_GRACE + WRITE_THROUGH_PATIENCE;
        match tokio::time::timeout(budget, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(ApiError::Internal(format!("export task failed: {join}"))),
            Err(_) => Err(ApiError::Connector(ConnectorError::timeout(format!(
                "no answer within {}",
                self.config.export_timeout
            )))),
        }
    }
}

/// The anchor an audit line names: the target's answer, else the change's own, else nothing.
fn audit_anchor<'a>(
    result: &'a Result<ExportOutcome, ConnectorError>,
    change: &'a Change,
) -> &'a str {
    match (result, change.anchor()) {
        (Ok(o), _) => o.anchor.as_str(),
        (Err(_), Some(a)) => a.as_str(),
        (Err(_), None) => "",
    }
}

/// An export's outcome as the audit line spells it, written straight into the line (no
/// string is built for a subscriber that drops it).
struct AuditOutcome<'a>(&'a Result<ExportOutcome, ConnectorError>);

impl std::fmt::Display for AuditOutcome<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Ok(ExportOutcome {
                status: ExportStatus::Pending { detail },
                ..
            }) => write!(f, "pending: {detail}"),
            Ok(_) => f.write_str("success"),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// How far the import running now is, as a request refused during the first import is told.
/// The imports' schedule implements it, so the engine reads progress without knowing imports.
pub trait ImportProgress: Send + Sync {
    /// The running import at `now`, or `None` when none runs.
    fn running_import(&self, now: time::OffsetDateTime) -> Option<ImportProgressNow>;
}

/// One reading of [`ImportProgress`].
#[derive(Debug, Clone)]
pub struct ImportProgressNow {
    /// What a person reads: type, objects so far of the total, rate, time left.
    pub line: String,
    /// Everything is read and the space is storing it (no time left to estimate).
    pub storing: bool,
    /// The time left reading, when the total is known.
    pub eta: Option<Duration>,
}

/// The longest `Retry-After` a request refused during the first import is given.
const FIRST_IMPORT_RETRY: Duration = Duration::from_secs(30);

/// `Retry-After` once the first import has read everything and is storing it (about 12 s per
/// million objects in the space benchmark).
const STORING_RETRY: Duration = Duration::from_secs(5);

/// How long past an export's deadline the host waits for the connector to report it.
const EXPORT_GRACE: Duration = Duration::from_millis(500);

/// How long the host gives a connector to read back one object whose export timed out.
const SETTLE_BUDGET: Duration = Duration::from_secs(5);

/// Applies a finished export to the connector space: what the target applied (or queued, then
/// recorded as pending until an import confirms it), nothing of what it refused, and after a
/// timeout whatever the target now holds.
fn write_through(
    rt: &Arc<Runtime>,
    change: &Change,
    before: Option<&StoredObject>,
    result: Result<ExportOutcome, ConnectorError>,
    hold: &mut Option<locks::ExportHold>,
) -> Result<Option<StoredObject>, ApiError> {
    match result {
        Ok(outcome) => {
            let obj = change.resulting_object(before.map(|b| &b.object), &outcome);
            let anchor = obj
                .as_ref()
                .map(|o| o.anchor.clone())
                .unwrap_or_else(|| outcome.anchor.clone());
            // The target has the change, so the client must never be told to retry it: a store
            // that is restarting (a shared space) is waited for a little, then caught up with
            // in the background (`catch_up`) while the client gets the target's answer.
            let wt = WriteThrough {
                object_type: change.object_type().to_owned(),
                anchor,
                pending: match &outcome.status {
                    ExportStatus::Pending { detail } => Some(detail.clone()),
                    _ => None,
                },
                object: obj,
            };
            match patiently(|| wt.apply(rt)) {
                Err(crate::space::SpaceError::Unavailable(why)) => {
                    let stored = wt.object.clone().map(|object| {
                        let now = time::OffsetDateTime::now_utc();
                        StoredObject {
                            object,
                            created: before.map_or(now, |b| b.created),
                            modified: now,
                            version: before.map_or(1, |b| b.version + 1),
                            origin: if wt.pending.is_some() {
                                Origin::Pending
                            } else {
                                Origin::Export
                            },
                        }
                    });
                    // The object's locks go with the catch-up: a later export of it waits until
                    // the space holds this one, so it cannot be overwritten by it.
                    let held = hold.take();
                    catch_up(rt.clone(), why, move |rt: &Runtime| {
                        let _held = &held;
                        wt.apply(rt).map(|_| ())
                    });
                    Ok(stored)
                }
                written => Ok(written?),
            }
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
        Err(e @ ConnectorError::Timeout { .. }) => {
            settle(rt, change);
            Err(ApiError::Connector(e))
        }
        Err(e) => Err(ApiError::Connector(e)),
    }
}

/// How long a write-through waits for a space that is unavailable (a shared PostgreSQL space
/// restarting) before the export is answered with 503. Its intent stays open either way, so
/// the object is read back from the target once the space is back.
const WRITE_THROUGH_PATIENCE: Duration = Duration::from_secs(10);

/// Runs `write`, again every 200 ms while the space is unavailable, for up to
/// [`WRITE_THROUGH_PATIENCE`].
fn patiently<T>(
    mut write: impl FnMut() -> Result<T, crate::space::SpaceError>,
) -> Result<T, crate::space::SpaceError> {
    let until = std::time::Instant::now() + WRITE_THROUGH_PATIENCE;
    loop {
        match write() {
            Err(crate::space::SpaceError::Unavailable(why))
                if std::time::Instant::now() < until =>
            {
                tracing::warn!(reason = %why, "the connector space is unavailable; the write-through waits for it");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// What a successful export writes into the space.
struct WriteThrough {
    object_type: String,
    anchor: connector_core::Anchor,
    /// The object as the target now holds it; `None` when it deleted it.
    object: Option<connector_core::ConnectorObject>,
    /// What the target queued it for, when it did.
    pending: Option<String>,
}

impl WriteThrough {
    fn apply(&self, rt: &Runtime) -> Result<Option<StoredObject>, crate::space::SpaceError> {
        match (&self.object, &self.pending) {
            (Some(o), Some(detail)) => rt.journal.write_pending(&rt.space, o, detail),
            (Some(o), None) => rt.journal.write(
                &rt.space,
                &self.object_type,
                &self.anchor,
                Some((o, Origin::Export)),
            ),
            (None, _) => rt
                .journal
                .write(&rt.space, &self.object_type, &self.anchor, None),
        }
    }
}

/// How long a background catch-up keeps trying to write through an export the target made
/// while the space was unavailable; past it, the export's intent (recorded before the target
/// saw the change) has the object read back when the host next starts or a lease holder finds
/// it.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(600);

/// Writes through, on a thread of its own, an export the target made while the space was
/// unavailable: every second until the space takes it.
fn catch_up(
    rt: Arc<Runtime>,
    why: String,
    write: impl Fn(&Runtime) -> Result<(), crate::space::SpaceError> + Send + 'static,
) {
    tracing::warn!(connector = %rt.name, reason = %why,
        "the target made an export but the connector space is unavailable; the client is answered and the space is caught up when it is back");
    let spawned = std::thread::Builder::new()
        .name("space-catch-up".into())
        .spawn(move || {
            let until = std::time::Instant::now() + CATCH_UP_PATIENCE;
            loop {
                std::thread::sleep(Duration::from_secs(1));
                match write(&rt) {
                    Ok(()) => {
                        tracing::info!(connector = %rt.name, "the connector space is back; an export made while it was unavailable is written through");
                        return;
                    }
                    Err(crate::space::SpaceError::Unavailable(_))
                        if std::time::Instant::now() < until => {}
                    Err(e) => {
                        tracing::error!(connector = %rt.name, error = %e,
                            "an export made while the connector space was unavailable could not be written through; its intent has the object read back later");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the connector space catch-up thread; the export's intent has the object read back later");
    }
}

/// After an export whose outcome is unknown (a timeout), reads the object back so the space
/// holds what the target holds, whichever way it went; the client retries against that. If
/// the target cannot say either, the space keeps its last state until the next import.
fn settle(rt: &Runtime, change: &Change) {
    let Some(anchor) = change.anchor() else {
        return;
    };
    let read = rt
        .connector
        .read(change.object_type(), anchor, Deadline::after(SETTLE_BUDGET));
    let settled = match read {
        Ok(Some(mut object)) => {
            object.strip_secrets();
            rt.journal
                .write(
                    &rt.space,
                    change.object_type(),
                    anchor,
                    Some((&object, Origin::Import)),
                )
                .map(|_| "the target holds it")
        }
        Ok(None) => rt
            .journal
            .write(&rt.space, change.object_type(), anchor, None)
            .map(|_| "the target does not hold it"),
        Err(e) => {
            tracing::warn!(connector = %rt.name, anchor = %anchor, error = %e,
                "an export timed out and the object cannot be read back; the next import settles it");
            return;
        }
    };
    match settled {
        Ok(what) => tracing::info!(connector = %rt.name, anchor = %anchor,
            "an export timed out; read back: {what}"),
        Err(e) => tracing::warn!(connector = %rt.name, anchor = %anchor, error = %e,
            "an export timed out; cannot record what the target holds"),
    }
}

impl Runtime {
    /// On a space several hosts share, takes the space's export locks on `keys` (on the
    /// blocking pool: the database may make it wait for another host's export); nothing on a
    /// space only this host uses, whose exports the in-memory locks already serialise.
    pub(crate) async fn lock_shared(
        self: &Arc<Self>,
        keys: Vec<String>,
    ) -> Result<Option<ExportLock>, ApiError> {
        if keys.is_empty() || !self.space.is_shared() {
            return Ok(None);
        }
        let space = self.space.clone();
        blocking(move || Ok(Some(space.lock_exports(&keys)?))).await
    }
}

/// Runs blocking space work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}
