//! The import lease: of the hosts sharing one connector space, only the one holding the lease
//! runs the scheduled full and delta imports (and reconciles exports other hosts left in
//! flight when they died). The holder renews it every third of its duration, before each import
//! and between the pages of a full import; a host that dies stops renewing, and another takes
//! it over within about one lease period. A clean stop releases it at once.
//!
//! The store of the lease is a [`LeaseStore`] (the connector space; on the embedded store one
//! host always holds it), a seam the scheduler's skip path is tested through without a shared
//! database. Hand-overs are logged at INFO, a skipped import at DEBUG.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::space::{IMPORT_LEASE, Space, SpaceError};

/// Where a lease is kept: the connector space's `try_lease` / `lease_holder` / `release_lease`.
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` for `ttl`; whether `holder` holds it.
    fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, SpaceError>;
    /// Who holds the lease `name`, and until when.
    fn lease_holder(&self, name: &str) -> Result<Option<(String, OffsetDateTime)>, SpaceError>;
    /// Gives the lease up if `holder` holds it.
    fn release_lease(&self, name: &str, holder: &str) -> Result<(), SpaceError>;
}

impl LeaseStore for Space {
    fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, SpaceError> {
        Space::try_lease(self, name, holder, ttl)
    }
    fn lease_holder(&self, name: &str) -> Result<Option<(String, OffsetDateTime)>, SpaceError> {
        Space::lease_holder(self, name)
    }
    fn release_lease(&self, name: &str, holder: &str) -> Result<(), SpaceError> {
        Space::release_lease(self, name, holder)
    }
}

/// One host's view of one connector's import lease. Its methods block (they ask the store).
pub struct ImportLease<S: ?Sized> {
    store: std::sync::Arc<S>,
    connector: String,
    host_id: String,
    ttl: Duration,
    /// Whether several hosts may compete for it: only then are hand-overs logged.
    shared: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Whether this host held the lease at the last ask.
    held: bool,
    /// The other host known to hold it.
    other: Option<String>,
    /// When this host last took or renewed it.
    renewed: Option<Instant>,
    /// When a skipped import was last logged.
    skip_logged: Option<Instant>,
}

impl<S: LeaseStore + ?Sized> ImportLease<S> {
    /// The import lease of `connector` for this host, `host_id`, lasting `ttl`.
    pub fn new(
        store: std::sync::Arc<S>,
        connector: &str,
        host_id: &str,
        ttl: Duration,
        shared: bool,
    ) -> Self {
        ImportLease {
            store,
            connector: connector.to_owned(),
            host_id: host_id.to_owned(),
            ttl,
            shared,
            state: Mutex::new(State::default()),
        }
    }

    /// How often the holder renews (and the others try to take over): a third of the lease.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Whether this host held the lease at the last ask.
    pub fn held(&self) -> bool {
        self.with(|s| s.held)
    }

    /// Takes or renews the lease; whether this host holds it. A store that cannot be asked
    /// counts as not held: no import starts on a lease this host cannot vouch for.
    pub fn acquire(&self) -> bool {
        let result = self.store.try_lease(IMPORT_LEASE, &self.host_id, self.ttl);
        let other = match &result {
            Ok(false) => match self.store.lease_holder(IMPORT_LEASE) {
                Ok(holder) => holder.map(|(h, _)| h),
                Err(_) => None,
            },
            _ => None,
        };
        self.with(|s| match result {
            Ok(true) => {
                if !s.held && self.shared {
                    tracing::info!(connector = %self.connector, host_id = %self.host_id,
                        "this host now runs the imports of connector {}", self.connector);
                }
                s.held = true;
                s.other = None;
                s.renewed = Some(Instant::now());
                true
            }
            Ok(false) => {
                if (s.held || s.other != other)
                    && let Some(h) = &other
                {
                    tracing::info!(connector = %self.connector, holder = %h,
                        "host {h} runs the imports of connector {}", self.connector);
                }
                s.held = false;
                s.other = other;
                false
            }
            Err(e) => {
                tracing::warn!(connector = %self.connector, error = %e,
                    "cannot take or renew the import lease; no import starts on this host until it can");
                s.held = false;
                false
            }
        })
    }

    /// Renews the lease when a third of it passed since the last renewal (between the pages of
    /// an import); whether this host still holds it.
    pub fn renew_if_due(&self) -> bool {
        let due = self.with(|s| s.renewed.is_none_or(|r| r.elapsed() >= self.renew_every()));
        if due { self.acquire() } else { self.held() }
    }

    /// Logs at DEBUG, at most once per `period`, that a due import is left to the holder.
    pub fn log_skip(&self, period: Duration) {
        let (log, other) = self.with(|s| {
            let log = s.skip_logged.is_none_or(|t| t.elapsed() >= period);
            if log {
                s.skip_logged = Some(Instant::now());
            }
            (log, s.other.clone())
        });
        if log {
            tracing::debug!(connector = %self.connector, holder = other.as_deref().unwrap_or("unknown"),
                "another host holds the import lease; the scheduled import runs there");
        }
    }

    /// Gives the lease up if this host holds it, so another takes over at once (a clean stop).
    pub fn release(&self) {
        if !self.with(|s| std::mem::take(&mut s.held)) {
            return;
        }
        match self.store.release_lease(IMPORT_LEASE, &self.host_id) {
            Ok(()) if self.shared => {
                tracing::info!(connector = %self.connector, "import lease released")
            }
            Ok(()) => {}
            Err(e) => tracing::warn!(connector = %self.connector, error = %e,
                "cannot release the import lease; another host takes over when it expires"),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;

    /// A lease kept in memory, as a shared store keeps it: one holder until it expires or is
    /// released. Time is the test's: `expire` ends the current holder's term.
    #[derive(Default)]
    pub(crate) struct MemoryLease {
        holder: Mutex<Option<String>>,
    }

    impl MemoryLease {
        pub(crate) fn held_by(holder: &str) -> Arc<Self> {
            Arc::new(MemoryLease {
                holder: Mutex::new(Some(holder.to_owned())),
            })
        }
        pub(crate) fn expire(&self) {
            *self.holder.lock().unwrap() = None;
        }
        pub(crate) fn holder(&self) -> Option<String> {
            self.holder.lock().unwrap().clone()
        }
    }

    impl LeaseStore for MemoryLease {
        fn try_lease(&self, _: &str, holder: &str, _: Duration) -> Result<bool, SpaceError> {
            let mut h = self.holder.lock().unwrap();
            match h.as_deref() {
                Some(current) if current != holder => Ok(false),
                _ => {
                    *h = Some(holder.to_owned());
                    Ok(true)
                }
            }
        }
        fn lease_holder(&self, _: &str) -> Result<Option<(String, OffsetDateTime)>, SpaceError> {
            Ok(self
                .holder
                .lock()
                .unwrap()
                .clone()
                .map(|h| (h, OffsetDateTime::now_utc())))
        }
        fn release_lease(&self, _: &str, holder: &str) -> Result<(), SpaceError> {
            let mut h = self.holder.lock().unwrap();
            if h.as_deref() == Some(holder) {
                *h = None;
            }
            Ok(())
        }
    }

    fn lease(store: &Arc<MemoryLease>, host: &str) -> ImportLease<MemoryLease> {
        ImportLease::new(store.clone(), "hr", host, Duration::from_secs(30), true)
    }

    #[test]
    fn only_one_host_holds_it_until_it_expires_or_is_released() {
        let store = Arc::new(MemoryLease::default());
        let (a, b) = (lease(&store, "a:8585"), lease(&store, "b:8585"));
        assert!(a.acquire());
        assert!(!b.acquire(), "a holds it");
        assert!(a.acquire(), "the holder renews");
        store.expire();
        assert!(b.acquire(), "b takes over once a's term ended");
        assert!(!a.acquire());
        assert!(!a.held());
        b.release();
        assert_eq!(store.holder(), None, "a clean stop hands it over at once");
        assert!(a.acquire());
    }

    #[test]
    fn renewal_between_pages_asks_the_store_once_per_third_of_the_lease() {
        let store = MemoryLease::held_by("other:8585");
        let mine = lease(&store, "me:8585");
        assert!(
            !mine.renew_if_due(),
            "never renewed: asks, and another holds it"
        );
        store.expire();
        assert!(mine.renew_if_due(), "asks again: taken");
        // Renewed just now: the next page does not ask, so the lease stays held even if the
        // store changed hands meanwhile (it cannot while this host renews in time).
        *store.holder.lock().unwrap() = Some("other:8585".into());
        assert!(mine.renew_if_due());
        assert_eq!(mine.renew_every(), Duration::from_secs(10));
    }

    #[test]
    fn the_embedded_store_always_lets_its_one_host_import() {
        let dir = tempfile::tempdir().unwrap();
        let space = Arc::new(
            Space::open(&dir.path().join("s.db"), crate::space::IndexSpec::default()).unwrap(),
        );
        let l = ImportLease::new(
            space.clone(),
            "hr",
            "h:8585",
            Duration::from_secs(30),
            false,
        );
        assert!(l.acquire());
        assert!(l.acquire());
        l.release();
        assert!(l.acquire());
        assert_eq!(space.lease_holder(IMPORT_LEASE).unwrap(), None);
    }
}
