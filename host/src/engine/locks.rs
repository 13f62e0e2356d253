//! Per-key async locks, so exports to the same anchor run one after the other while exports to
//! different anchors run side by side. Entries disappear when nobody holds or waits for them.
//!
//! These serialise one host's exports. When several hosts share the connector space, an export
//! also holds the space's own locks (`Space::lock_exports`), which every host takes: an
//! [`ExportHold`] carries both for the length of the export.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::space::ExportLock;

/// A set of named locks.
#[derive(Default)]
pub struct KeyLocks {
    map: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Holds one key's lock; released (and the entry cleaned up) on drop.
pub struct KeyGuard {
    locks: Arc<KeyLocks>,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

/// What an export holds until its write-through is done: this host's lock on the object (none
/// for a create whose anchor the target assigns), and, on a space several hosts share, the
/// space's locks on the object and on the unique values a create claims.
#[derive(Default)]
pub struct ExportHold {
    _local: Option<KeyGuard>,
    _shared: Option<ExportLock>,
}

impl ExportHold {
    /// Holds `local` and `shared` together.
    pub fn new(local: Option<KeyGuard>, shared: Option<ExportLock>) -> ExportHold {
        ExportHold {
            _local: local,
            _shared: shared,
        }
    }
}

impl KeyLocks {
    /// Waits for and takes the lock on `key`.
    pub async fn lock(self: &Arc<Self>, key: String) -> KeyGuard {
        let mutex = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = mutex.lock_owned().await;
        KeyGuard {
            locks: self.clone(),
            key,
            guard: Some(guard),
        }
    }

    /// How many keys have an entry (for tests).
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no key has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds the mutex now: nobody holds or waits for it.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_key_is_serialised_and_entries_are_cleaned_up() {
        let locks = Arc::new(KeyLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (locks, inside, max_seen) = (locks.clone(), inside.clone(), max_seen.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock("anchor-1".into()).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty());
        let _a = locks.lock("a".into()).await;
        let _b = locks.lock("b".into()).await; // different keys do not block each other
        assert_eq!(locks.len(), 2);
    }
}
