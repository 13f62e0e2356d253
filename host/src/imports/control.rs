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
    /// How many objects of that type the connector expects to return, when it can tell.
    pub total: Option<u64>,
    /// When reading that type started: the rate is measured from here.
    pub type_started: OffsetDateTime,
}

impl RunningImport {
    /// Objects read per second so far, once there is something to measure.
    pub fn rate(&self, now: OffsetDateTime) -> Option<f64> {
        let secs = (now - self.type_started).as_seconds_f64();
        (self.seen > 0 && secs > 0.0).then(|| self.seen as f64 / secs)
    }

    /// Whether every object of the type has been read and the import is storing them (the
    /// import reports a total equal to what it read once the connector's stream ended).
    pub fn storing(&self) -> bool {
        self.object_type.is_some() && self.total.is_some_and(|t| self.seen >= t)
    }

    /// The time left reading at the rate so far, when the total is known (`None` once
    /// storing: how long that takes is not measured).
    pub fn eta(&self, now: OffsetDateTime) -> Option<std::time::Duration> {
        if self.storing() {
            return None;
        }
        let left = self.total?.saturating_sub(self.seen);
        let rate = self.rate(now)?;
        std::time::Duration::try_from_secs_f64(left as f64 / rate).ok()
    }

    /// One line for people: `User: 120000 of 1000000 objects read, 23000 objects/s, about 38 s
    /// left`.
    pub fn describe(&self, now: OffsetDateTime) -> String {
        let Some(t) = &self.object_type else {
            return format!("{} import starting", self.kind.as_str());
        };
        let mut out = match self.total {
            Some(total) => format!("{t}: {} of {total} objects read", self.seen),
            None => format!("{t}: {} objects read", self.seen),
        };
        if self.storing() {
            out.push_str(", storing them");
            return out;
        }
        if let Some(rate) = self.rate(now) {
            out.push_str(&format!(", {rate:.0} objects/s"));
        }
        if let Some(eta) = self.eta(now) {
            out.push_str(&format!(", about {} s left", eta.as_secs().max(1)));
        }
        out
    }
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

    /// Takes the pending request without serving it (another host runs the imports).
    pub fn take_request(&self) -> Option<ImportKind> {
        self.with(|s| s.requested.take())
    }

    /// Takes the pending request, if any, and marks that import running.
    pub fn start(&self, scheduled: ImportKind) -> ImportKind {
        self.with(|s| {
            let kind = s.requested.take().unwrap_or(scheduled);
            s.running = Some(RunningImport {
                kind,
                started: OffsetDateTime::now_utc(),
                object_type: None,
                seen: 0,
                total: None,
                type_started: OffsetDateTime::now_utc(),
            });
            kind
        })
    }

    /// Progress of the running full import: `seen` objects of `object_type` read, of `total`
    /// when the connector said.
    pub fn progress(&self, object_type: &str, seen: u64, total: Option<u64>) {
        self.with(|s| {
            if let Some(r) = &mut s.running {
                if r.object_type.as_deref() != Some(object_type) {
                    r.object_type = Some(object_type.to_owned());
                    r.type_started = OffsetDateTime::now_utc();
                }
                r.seen = seen;
                r.total = total;
            }
        });
    }

    /// The running import ended; `failure` says why it failed.
    pub fn finish(&self, failure: Option<(String, bool)>) {
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

impl crate::engine::ImportProgress for ImportControl {
    fn running_import(&self, now: OffsetDateTime) -> Option<crate::engine::ImportProgressNow> {
        self.running().map(|r| crate::engine::ImportProgressNow {
            line: r.describe(now),
            storing: r.storing(),
            eta: r.eta(now),
        })
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
        c.progress("User", 500, Some(1000));
        let running = c.running().unwrap();
        assert_eq!(
            (running.object_type.as_deref(), running.seen),
            (Some("User"), 500)
        );
        let later = running.type_started + time::Duration::seconds(10);
        assert_eq!(
            running.describe(later),
            "User: 500 of 1000 objects read, 50 objects/s, about 10 s left"
        );
        c.progress("User", 1000, Some(1000));
        let running = c.running().unwrap();
        assert!(running.storing() && running.eta(later).is_none());
        assert_eq!(
            running.describe(later),
            "User: 1000 of 1000 objects read, storing them"
        );
        c.finish(Some(("target down".into(), true)));
        assert!(c.running().is_none());
        assert!(c.failure().is_some_and(|f| f.unreachable));
        assert_eq!(c.start(ImportKind::Delta), ImportKind::Delta);
        c.finish(None);
        assert!(c.failure().is_none(), "a success clears the failure");
    }
}
