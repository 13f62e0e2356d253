//! Imports: the full import that fills the connector space on first start and on a schedule,
//! streamed page by page into a new generation that replaces the old one in one step, the delta
//! imports in between, and the schedule that runs both.
//!
//! While a full import runs, exports keep going; the space's [`Journal`](crate::space::Journal)
//! re-applies their write-throughs right after the import commits.
//!
//! When several hosts share the space, only the holder of the [`lease`] runs the scheduled
//! imports and reconciles the exports dead hosts left in flight; the others serve what the
//! space holds.

mod control;
pub mod lease;

pub use control::{Failure, ImportControl, ImportKind, RunningImport};
pub use lease::{ImportLease, LeaseStore};

use std::sync::Arc;
use std::time::Duration;

use connector_core::{ConnectorError, Deadline, ImportItem};
use time::OffsetDateTime;

use crate::engine::Runtime;
use crate::space::{ImportStats, PendingOutcome, SpaceError};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    Space(#[from] SpaceError),
    /// This host lost the import lease during the import (it could not renew it in time):
    /// another host may be importing, so this import stopped and changed nothing.
    #[error(
        "the import lease passed to another host (or could not be renewed); this import stopped and changed nothing"
    )]
    LeaseLost,
}

/// Progress of a running import: object type, objects read so far, and how many the connector
/// expects (when it can tell).
pub type Progress<'a> = &'a dyn Fn(&str, u64, Option<u64>);

/// Runs a full import of every object type the connector serves. Blocking.
pub fn full_import(
    rt: &Runtime,
    progress: Progress<'_>,
) -> Result<Vec<(String, ImportStats)>, ImportError> {
    full_import_while(rt, progress, &|| true)
}

/// A full import that stops, changing nothing, when `keep_going` says so between pages.
fn full_import_while(
    rt: &Runtime,
    progress: Progress<'_>,
    keep_going: &dyn Fn() -> bool,
) -> Result<Vec<(String, ImportStats)>, ImportError> {
    run_each(rt, "full", |t| {
        rt.journal.start();
        let result = import_one(rt, t, progress, keep_going);
        let finish = rt.journal.finish(&rt.space, result.is_ok());
        let stats = result?;
        finish?;
        Ok(Some(stats))
    })
}

fn import_one(
    rt: &Runtime,
    object_type: &str,
    progress: Progress<'_>,
    keep_going: &dyn Fn() -> bool,
) -> Result<ImportStats, ImportError> {
    let page = rt.config.import_page_size;
    let mut stream = rt
        .connector
        .full_import(object_type, page, Deadline::after(PAGE_BUDGET))?;
    let mut staging = rt.space.begin_full_import(object_type)?;
    staging.expire_pending_after(rt.config.pending_expiry.0);
    let mut seen = 0u64;
    let total = stream.expected_total();
    progress(object_type, 0, total);
    while let Some(mut items) = stream.next_page(Deadline::after(PAGE_BUDGET))? {
        seen += items.len() as u64;
        without_secrets(rt, object_type, &mut items);
        staging.add_page(&items)?;
        progress(object_type, seen, total);
        if !keep_going() {
            return Err(ImportError::LeaseLost);
        }
    }
    // Everything read: what remains is storing it.
    progress(object_type, seen, Some(seen));
    Ok(staging.commit(stream.watermark().as_ref())?)
}

/// Reads back, by anchor, every object an export had in flight when the host last stopped
/// (its intent is still open), so the space holds what the target holds before the connector
/// serves; everything else is served as stored. Blocking. Returns true when that is not enough
/// and a full import must run now: a create whose anchor the target assigns (the contract
/// cannot find it by anything else), a target that cannot answer, or a space error.
///
/// On a shared space other hosts' exports are in flight at any time, so only intents older
/// than an export's budget ([`orphan_age`]) are read back: those a dead host left. At this
/// host's start (`at_start`) its own intents are read back whatever their age: whatever
/// recorded them died with the previous run. The import lease holder reads back orphans again
/// at every renewal.
pub fn settle_intents(rt: &Runtime, at_start: bool) -> bool {
    let orphan = rt.space.is_shared().then(|| orphan_age(rt));
    let own = |host: Option<&str>| at_start && host == Some(rt.host_id.as_str());
    let intents = match rt.space.open_intents() {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(connector = %rt.name, error = %e, "cannot read the exports left in flight; running a full import");
            return true;
        }
    };
    let now = OffsetDateTime::now_utc();
    let intents: Vec<_> = intents
        .into_iter()
        .filter(|i| orphan.is_none_or(|age| i.since + age <= now || own(i.host.as_deref())))
        .collect();
    if intents.is_empty() {
        return false;
    }
    let mut full = false;
    let mut read = 0u64;
    for intent in &intents {
        let Some(anchor) = &intent.anchor else {
            tracing::warn!(connector = %rt.name, object_type = %intent.object_type,
                "a create whose anchor the target assigns was in flight; running a full import to find it");
            full = true;
            continue;
        };
        let t = intent.object_type.as_str();
        let settled = match rt.connector.read(t, anchor, Deadline::after(SETTLE_BUDGET)) {
            Ok(Some(object)) => {
                let mut items = vec![ImportItem::Upsert(object)];
                without_secrets(rt, t, &mut items);
                match items.pop() {
                    Some(ImportItem::Upsert(object)) => rt
                        .space
                        .put(&object, crate::space::Origin::Import)
                        .map(|_| ()),
                    _ => Ok(()),
                }
            }
            Ok(None) => rt.space.remove(t, anchor).map(|_| ()),
            Err(e) => {
                tracing::warn!(connector = %rt.name, object_type = t, anchor = %anchor, error = %e,
                    "cannot read back an object whose export was in flight; running a full import");
                full = true;
                continue;
            }
        };
        match settled {
            Ok(()) => read += 1,
            Err(e) => {
                tracing::error!(connector = %rt.name, error = %e, "cannot store a read-back object; running a full import");
                full = true;
            }
        }
    }
    tracing::info!(connector = %rt.name, read_back = read, full_import = full,
        "exports left in flight by the last run read back from the target");
    full
}

/// How old an open intent must be on a shared space before it counts as left by a dead host:
/// the export's budget plus [`ORPHAN_GRACE`], after which no live export still holds it.
pub fn orphan_age(rt: &Runtime) -> Duration {
    rt.config.export_timeout.0 + ORPHAN_GRACE
}

/// Beyond an export's budget, the time its write-through may still take (a slow commit).
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// How long the target gets to answer one read-back after a crash.
const SETTLE_BUDGET: Duration = Duration::from_secs(10);

/// How long a connector may take to start an import or to read one page of it.
const PAGE_BUDGET: Duration = Duration::from_secs(300);

/// Drops secrets from imported objects before they reach the connector space: any secret
/// value, and every attribute the connector declares a secret. A connector never returns
/// them (contract v2); this makes sure of it.
fn without_secrets(rt: &Runtime, object_type: &str, items: &mut [ImportItem]) {
    let secrets: Vec<&String> = std::iter::once(&rt.users)
        .chain(rt.groups.iter())
        .filter(|b| b.object_type == object_type)
        .flat_map(|b| b.secrets.iter())
        .collect();
    for item in items {
        if let ImportItem::Upsert(object) = item {
            object.strip_secrets();
            if !secrets.is_empty() {
                object.attributes.retain(|name, _| !secrets.contains(&name));
            }
        }
    }
}

/// Runs a delta import of every object type the connector serves, from the watermarks stored
/// in the space; each page commits with its changes, the last one with the new watermark.
/// Blocking. An object type without a stored watermark is skipped (the next full import sets
/// one).
pub fn delta_import(rt: &Runtime) -> Result<Vec<(String, ImportStats)>, ImportError> {
    run_each(rt, "delta", |t| {
        let Some(since) = rt.space.watermark(t)? else {
            return Ok(None);
        };
        let mut stream = rt.connector.delta_import(
            t,
            &since,
            rt.config.import_page_size,
            Deadline::after(PAGE_BUDGET),
        )?;
        let mut total = ImportStats::default();
        while let Some(mut items) = stream.next_page(Deadline::after(PAGE_BUDGET))? {
            without_secrets(rt, t, &mut items);
            let s = rt.space.apply_delta(t, &items, None)?;
            total.added += s.added;
            total.updated += s.updated;
            total.unchanged += s.unchanged;
            total.removed += s.removed;
        }
        rt.space.apply_delta(t, &[], stream.watermark().as_ref())?;
        Ok(Some(total))
    })
}

/// Runs `one` for each object type as a recorded run of `kind` (run history, metrics, log);
/// `one` returns `None` to skip a type. Stops at the first failure.
fn run_each(
    rt: &Runtime,
    kind: &str,
    mut one: impl FnMut(&str) -> Result<Option<ImportStats>, ImportError>,
) -> Result<Vec<(String, ImportStats)>, ImportError> {
    let mut all = Vec::new();
    for t in object_types(rt) {
        let run = rt.space.start_run(kind, &t, Some(&rt.host_id))?;
        if kind == "full" {
            tracing::info!(connector = %rt.name, object_type = %t, "full import started");
        }
        match one(&t) {
            Ok(stats) => {
                let stats = stats.unwrap_or_default();
                rt.space.finish_run(run, "success", &stats)?;
                report_pending(rt, run)?;
                rt.metrics.set_space_size(&rt.name, &t, rt.space.count(&t)?);
                if kind == "full" || stats.added + stats.updated + stats.removed > 0 {
                    tracing::info!(
                        connector = %rt.name, object_type = %t, kind,
                        added = stats.added, updated = stats.updated,
                        unchanged = stats.unchanged, removed = stats.removed,
                        "import finished"
                    );
                }
                all.push((t, stats));
            }
            Err(e) => {
                let _ = rt
                    .space
                    .finish_run(run, &format!("failed: {e}"), &ImportStats::default());
                rt.metrics.import_finished(&rt.name, false);
                return Err(e);
            }
        }
    }
    rt.metrics.import_finished(&rt.name, true);
    Ok(all)
}

/// Logs the pending exports the run ended, by anchor and what each waited for, and notes
/// them in the run's history.
fn report_pending(rt: &Runtime, run: i64) -> Result<(), SpaceError> {
    for end in rt.space.take_ended_pending() {
        let note = format!(
            "pending export {} of {} {}: {}",
            end.outcome.as_str(),
            end.object_type,
            end.anchor,
            end.detail
        );
        match end.outcome {
            PendingOutcome::Confirmed => tracing::info!(
                target: "audit", connector = %rt.name, object_type = %end.object_type,
                anchor = %end.anchor, waited_for = %end.detail,
                "pending export confirmed: the target now holds the object"
            ),
            PendingOutcome::Rejected => tracing::warn!(
                target: "audit", connector = %rt.name, object_type = %end.object_type,
                anchor = %end.anchor, waited_for = %end.detail,
                "pending export rejected: the target refused it; removed from the connector space"
            ),
            PendingOutcome::ReadBack => tracing::info!(
                target: "audit", connector = %rt.name, object_type = %end.object_type,
                anchor = %end.anchor, waited_for = %end.detail,
                "pending change read back: the connector space now holds the object as the target does, which may not show the change until it is approved"
            ),
            PendingOutcome::Expired => tracing::warn!(
                target: "audit", connector = %rt.name, object_type = %end.object_type,
                anchor = %end.anchor, waited_for = %end.detail,
                expiry = %rt.config.pending_expiry,
                "pending export expired: no import showed the object; removed from the connector space"
            ),
        }
        rt.space.note_run(run, &note)?;
    }
    Ok(())
}

fn object_types(rt: &Runtime) -> Vec<String> {
    let mut types = vec![rt.users.object_type.clone()];
    if let Some(g) = rt
        .groups
        .as_ref()
        .filter(|g| g.object_type != rt.users.object_type)
    {
        types.push(g.object_type.clone());
    }
    types
}

/// Whether this host runs an import that is due: only when it holds the import lease (always,
/// on the embedded store). Otherwise the import is the holder's, and this host marks the
/// connector ready as soon as the shared run history shows a complete import by any host, so
/// it serves what the space holds instead of answering 503. Blocking.
pub fn take_import_turn(rt: &Runtime, lease: &ImportLease<dyn LeaseStore>) -> bool {
    if lease.acquire() {
        return true;
    }
    lease.log_skip(rt.config.full_import_every.0);
    refresh_ready(rt);
    false
}

/// Marks the connector ready when every object type it serves has a complete import in the
/// run history (which, on a shared space, any host may have run).
pub fn refresh_ready(rt: &Runtime) {
    if rt.ready.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    let imported = object_types(rt)
        .iter()
        .all(|t| matches!(rt.space.last_full_import(t), Ok(Some(_))));
    if imported {
        tracing::info!(connector = %rt.name, "the connector space holds a complete import (by the host holding the import lease); serving");
        rt.set_ready();
    }
}

/// A full import by the holder of `lease`, renewing it between pages; when the lease cannot be
/// renewed (another host took it, or the store cannot be reached) the import stops there and
/// changes nothing ([`ImportError::LeaseLost`]), so two hosts never import at once.
pub fn full_import_leased(
    rt: &Runtime,
    lease: &ImportLease<dyn LeaseStore>,
    progress: Progress<'_>,
) -> Result<Vec<(String, ImportStats)>, ImportError> {
    full_import_while(rt, progress, &|| lease.renew_if_due())
}

/// The housekeeping of a shared space between imports, every third of the lease: renew (or try
/// to take over) the lease; the holder reads back exports dead hosts left in flight, the others
/// check whether the space has been imported. True when a full import must run now. Blocking.
fn tend_lease(rt: &Runtime, lease: &ImportLease<dyn LeaseStore>) -> bool {
    if lease.acquire() {
        settle_intents(rt, false)
    } else {
        refresh_ready(rt);
        false
    }
}

/// When the next full import is due: now if the space never completed one.
pub fn next_full_import_due(rt: &Runtime) -> Result<Option<OffsetDateTime>, SpaceError> {
    let last = rt.space.last_full_import(&rt.users.object_type)?;
    Ok(last
        .and_then(|r| r.finished)
        .map(|f| f + rt.config.full_import_every.0))
}

/// The background task that keeps a connector's space fresh: a full import now if the space
/// never completed one, then one every `full_import_every`, and in between a delta import
/// every `delta_import_every` where the connector supports it. Failures are retried sooner.
/// An import requested through `control` runs next; `control` also shows the running one.
///
/// On a shared space an import runs only on the host holding the import lease
/// (`[server.space] import_lease`); every host renews or tries to take it every third of the
/// lease, and a clean stop releases it.
pub async fn schedule(
    rt: Arc<Runtime>,
    control: Arc<ImportControl>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut import_now: bool,
    lease_ttl: Duration,
) {
    const RETRY: Duration = Duration::from_secs(30);
    let shared = rt.space.is_shared();
    let store: Arc<dyn LeaseStore> = rt.space.clone();
    let lease: Arc<ImportLease<dyn LeaseStore>> = Arc::new(ImportLease::new(
        store,
        &rt.name,
        &rt.host_id,
        lease_ttl,
        shared,
    ));
    let tick = shared.then(|| lease.renew_every());
    loop {
        let due = {
            let rt = rt.clone();
            tokio::task::spawn_blocking(move || next_full_import_due(&rt)).await
        };
        let wait = match due {
            Ok(Ok(Some(_))) if import_now => Duration::ZERO,
            Ok(Ok(Some(at))) => {
                let now = OffsetDateTime::now_utc();
                if at > now {
                    Duration::try_from(at - now).unwrap_or(Duration::ZERO)
                } else {
                    Duration::ZERO
                }
            }
            Ok(Ok(None)) => Duration::ZERO,
            Ok(Err(e)) => {
                tracing::error!(connector = %rt.name, error = %e, "cannot read import history");
                RETRY
            }
            Err(_) => RETRY,
        };
        let delta_every = rt
            .config
            .delta_import_every
            .filter(|_| rt.connector.capabilities().delta_import)
            .map(|d| d.0);
        let run_delta = !import_now
            && matches!(delta_every, Some(d) if d < wait && rt.ready.load(std::sync::atomic::Ordering::Acquire));
        let wait = match delta_every {
            Some(d) if run_delta => d,
            _ => wait,
        };
        // On a shared space, wake every third of the lease to tend it before the import is due.
        let tend = tick.filter(|t| *t < wait);
        let requested = tokio::select! {
            _ = tokio::time::sleep(tend.unwrap_or(wait)) => false,
            _ = control.requested_now() => true,
            _ = shutdown.changed() => {
                release(&lease).await;
                return;
            }
        };
        if tend.is_some() && !requested {
            let (r, l) = (rt.clone(), lease.clone());
            if tokio::task::spawn_blocking(move || tend_lease(&r, &l))
                .await
                .unwrap_or(false)
            {
                import_now = true;
            }
            rt.metrics.set_import_lease(&rt.name, lease.held());
            continue;
        }
        let (r, l) = (rt.clone(), lease.clone());
        let turn = tokio::task::spawn_blocking(move || take_import_turn(&r, &l))
            .await
            .unwrap_or(false);
        rt.metrics.set_import_lease(&rt.name, turn);
        if !turn {
            import_now = false;
            if let Some(kind) = control.take_request() {
                tracing::info!(connector = %rt.name, kind = kind.as_str(),
                    "an import was requested on this host, but another host holds the import lease and runs the imports");
            }
            tokio::select! {
                _ = tokio::time::sleep(tick.unwrap_or(RETRY)) => {}
                _ = shutdown.changed() => {
                    release(&lease).await;
                    return;
                }
            }
            continue;
        }
        import_now = false;
        let scheduled = if run_delta {
            ImportKind::Delta
        } else {
            ImportKind::Full
        };
        let kind = control.start(scheduled);
        let task_rt = rt.clone();
        let task_control = control.clone();
        let task_lease = lease.clone();
        let result = tokio::task::spawn_blocking(move || match kind {
            ImportKind::Delta => delta_import(&task_rt),
            ImportKind::Full => full_import_leased(&task_rt, &task_lease, &|t, n, total| {
                task_control.progress(t, n, total)
            }),
        })
        .await;
        control.finish(match &result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some((
                e.to_string(),
                matches!(e, ImportError::Connector(c) if c.is_retryable()),
            )),
            Err(e) => Some((e.to_string(), false)),
        });
        match result {
            Ok(Ok(_)) => rt.set_ready(),
            Ok(Err(ImportError::LeaseLost)) => {
                tracing::warn!(connector = %rt.name,
                    "the import lease could not be renewed during the import; it stopped and changed nothing, and the lease holder imports");
            }
            Ok(Err(ImportError::Connector(ConnectorError::ResyncRequired { detail }))) => {
                tracing::warn!(connector = %rt.name, %detail,
                    "the delta import cannot continue from its watermark; running a full import now");
                import_now = true;
            }
            Ok(Err(e)) => {
                tracing::error!(connector = %rt.name, error = %e, "import failed; retrying in 30 s");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown.changed() => {
                        release(&lease).await;
                        return;
                    }
                }
            }
            Err(e) => tracing::error!(connector = %rt.name, error = %e, "import task failed"),
        }
    }
}

/// Releases the import lease on a clean stop, so another host takes the imports over at once.
async fn release(lease: &Arc<ImportLease<dyn LeaseStore>>) {
    let l = lease.clone();
    let _ = tokio::task::spawn_blocking(move || l.release()).await;
}

#[cfg(test)]
mod tests;
