//! What an operator sees of, and asks of, one connector's import schedule: the import running
//! now (with how many objects it has read), the last failure (a target that cannot be reached),
//! and "run a full or delta import now", which the schedule serves next, one import at a time.
//!
//! The console holds the same [`ImportControl`] as the connector's schedule; a request never
//! runs an import itself, so a console click can never run two imports of one connector at once.

use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use tokio::sync::Notify;

/// A full or a delta import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Full,
    Delta,
}

impl ImportKind {
    /// `full` or `delta`, as the run history names them.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Full => "full",
            ImportKind::Delta => "delta",
        }
    }

    /// Parses `full` or `delta`.
    pub fn parse(text: &str) -> Option<ImportKind> {
        match text {
            "full" => Some(ImportKind::Full),
            "delta" => Some(ImportKind::Delta),
            _ => None,
        }
    }
}

/// The import running now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImport {
    pub kind: ImportKind,
    pub started: OffsetDateTime,
    /// The object type being read, once the first page arrived (full imports only).
    pub object_type: Option<String>,
    /// Objects of that type read so far (full imports only).
    pub seen: u64,
}

/// Why the connector could not be started, or its last import failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: OffsetDateTime,
    pub error: String,
    /// The target could not be reached (the host retries); otherwise a configuration or data
    /// problem that needs an operator.
    pub unreachable: bool,
}

#[derive(Debug, Default)]
struct State {
    requested: Option<ImportKind>,
    running: Option<RunningImport>,
    failure: Option<Failure>,
}

/// Shared between a connector's schedule and whoever watches or drives it.
#[derive(Debug, Default)]
pub struct ImportControl {
    state: Mutex<State>,
    wake: Notify,
}

impl ImportControl {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Asks the schedule to run an import of `kind` as soon as the running one (if any) ends.
    /// A full import asked for wins over a delta asked for before it.
    pub fn request(&self, kind: ImportKind) {
        self.with(|s| {
            if s.requested != Some(ImportKind::Full) {
                s.requested = Some(kind);
            }
        });
        self.wake.notify_one();
    }

    /// The import asked for and not started yet.
    pub fn requested(&self) -> Option<ImportKind> {
        self.with(|s| s.requested)
    }

    /// The import running now.
    pub fn running(&self) -> Option<RunningImport> {
        self.with(|s| s.running.clone())
    }

    /// Why the connector could not start, or its last import failed; `None` once an import
    /// succeeded again.
    pub fn failure(&self) -> Option<Failure> {
        self.with(|s| s.failure.clone())
    }

    /// Waits until an import is requested (at once if one was requested meanwhile).
    pub(crate) async fn requested_now(&self) {
        self.wake.notified().await;
    }

    /// Takes the pending request, if any, and marks that import running.
    pub(crate) fn start(&self, scheduled: ImportKind) -> ImportKind {
        self.with(|s| {
            let kind = s.requested.take().unwrap_or(scheduled);
            s.running = Some(RunningImport {
                kind,
                started: OffsetDateTime::now_utc(),
                object_type: None,
                seen: 0,
            });
            kind
        })
    }

    /// Progress of the running full import.
    pub(crate) fn progress(&self, object_type: &str, seen: u64) {
        self.with(|s| {
            if let Some(r) = &mut s.running {
                if r.object_type.as_deref() != Some(object_type) {
                    r.object_type = Some(object_type.to_owned());
                }
                r.seen = seen;
            }
        });
    }

    /// The running import ended; `failure` says why it failed.
    pub(crate) fn finish(&self, failure: Option<(String, bool)>) {
        self.with(|s| {
            s.running = None;
            s.failure = failure.map(|(error, unreachable)| Failure {
                at: OffsetDateTime::now_utc(),
                error,
                unreachable,
            });
        });
    }

    /// The connector could not be started (its target, say, is down).
    pub fn start_failed(&self, error: String, unreachable: bool) {
        self.with(|s| {
            s.failure = Some(Failure {
                at: OffsetDateTime::now_utc(),
                error,
                unreachable,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_served_once_and_full_wins_over_delta() {
        let c = ImportControl::default();
        assert_eq!(c.start(ImportKind::Delta), ImportKind::Delta, "no request");
        c.finish(None);
        c.request(ImportKind::Delta);
        c.request(ImportKind::Full);
        c.request(ImportKind::Delta);
        assert_eq!(c.requested(), Some(ImportKind::Full));
        assert_eq!(c.start(ImportKind::Delta), ImportKind::Full);
        assert_eq!(c.requested(), None, "taken");
        c.progress("User", 500);
        let running = c.running().unwrap();
        assert_eq!(
            (running.object_type.as_deref(), running.seen),
            (Some("User"), 500)
        );
        c.finish(Some(("target down".into(), true)));
        assert!(c.running().is_none());
        assert!(c.failure().is_some_and(|f| f.unreachable));
        assert_eq!(c.start(ImportKind::Delta), ImportKind::Delta);
        c.finish(None);
        assert!(c.failure().is_none(), "a success clears the failure");
    }
}
