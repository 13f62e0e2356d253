//! The records the space keeps beside its objects, as both backends hand them back: exports in
//! flight (intents), exports the target queued (pending), and the import run history.

use connector_core::Anchor;
use time::OffsetDateTime;

use super::stored::{ImportStats, StoredObject};

/// An export that was in flight when the host stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// Identifies the intent for [`Space::clear_intent`](super::Space::clear_intent).
    pub id: i64,
    pub object_type: String,
    /// `None` for a create whose anchor the target assigns.
    pub anchor: Option<Anchor>,
    /// When the export recorded it: on a shared space, an intent older than an export's budget
    /// was left by a host that died (a live export clears its own within the budget).
    pub since: OffsetDateTime,
    /// The host that recorded it, on a shared space (`None` on the embedded space, which one
    /// host owns, and for intents an older build recorded).
    pub host: Option<String>,
}

/// A stored object waiting for the target, with what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExport {
    /// The object as exported.
    pub object: StoredObject,
    /// What it waits for, as the connector said (e.g. `approval of MIM request 5a1f… (…)`).
    pub detail: String,
    /// When the export was accepted as pending.
    pub since: OffsetDateTime,
}

/// How a pending export ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingOutcome {
    /// An import showed the new object: the target holds it.
    Confirmed,
    /// An import read back an object a pending export changed: the space holds the target's
    /// state, which may not show the change yet.
    ReadBack,
    /// A delta import reported it deleted: the target refused the change.
    Rejected,
    /// A full import did not show it after `pending_expiry`.
    Expired,
}

impl PendingOutcome {
    /// `confirmed`, `rejected`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingOutcome::Confirmed => "confirmed",
            PendingOutcome::ReadBack => "read back",
            PendingOutcome::Rejected => "rejected",
            PendingOutcome::Expired => "expired",
        }
    }
}

/// A pending export an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEnd {
    pub object_type: String,
    pub anchor: Anchor,
    /// What it waited for.
    pub detail: String,
    pub outcome: PendingOutcome,
}

impl PendingEnd {
    /// An import showed the object: confirmed when the pending export created it.
    pub(crate) fn shown(object_type: &str, anchor: &Anchor, ended: (String, bool)) -> PendingEnd {
        let (detail, is_new) = ended;
        PendingEnd {
            object_type: object_type.to_owned(),
            anchor: anchor.clone(),
            detail,
            outcome: if is_new {
                PendingOutcome::Confirmed
            } else {
                PendingOutcome::ReadBack
            },
        }
    }
}

/// One import run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Increasing, never reused.
    pub id: i64,
    /// `full` or `delta`.
    pub kind: String,
    /// The object type imported.
    pub object_type: String,
    /// When it started.
    pub started: OffsetDateTime,
    /// When it ended; `None` while running.
    pub finished: Option<OffsetDateTime>,
    /// `running`, `success`, or `failed: <reason>`.
    pub outcome: String,
    /// What it changed.
    pub stats: ImportStats,
    /// What else it did, e.g. the pending exports it confirmed or ended.
    pub notes: Option<String>,
    /// The `host_id` of the host that ran it; `None` for runs recorded before hosts were named
    /// (schema version 4) and for imports run by the command line.
    pub host: Option<String>,
}

/// The outcome of a run that has not finished.
pub const RUNNING: &str = "running";
