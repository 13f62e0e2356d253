//! What the connector space hands back, whatever stores it: an object with its bookkeeping
//! (created, modified, version for ETags, origin), and what an import did. Both backends share
//! these definitions of "added", "changed" and "unchanged": an unchanged object keeps its
//! version and modification time, so the host's ETag `W/"<version>"` stays valid.

use connector_core::object::ConnectorObject;
use time::OffsetDateTime;

use super::error::SpaceError;

/// Where the stored state of an object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the target by a full or delta import.
    Import,
    /// Written through after a successful export.
    Export,
    /// Written through after an export the target accepted but queued (an approval): held
    /// until an import shows the object, which then replaces it. A full import that does not
    /// show it yet keeps it.
    Pending,
}

impl Origin {
    pub(crate) fn code(self) -> i64 {
        match self {
            Origin::Import => 0,
            Origin::Export => 1,
            Origin::Pending => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Result<Origin, SpaceError> {
        match code {
            0 => Ok(Origin::Import),
            1 => Ok(Origin::Export),
            2 => Ok(Origin::Pending),
            other => Err(SpaceError::Corrupt(format!("unknown origin code {other}"))),
        }
    }
}

/// An object in the connector space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The object as the connector sees it.
    pub object: ConnectorObject,
    /// When the space first stored it.
    pub created: OffsetDateTime,
    /// When its content last changed.
    pub modified: OffsetDateTime,
    /// Starts at 1, grows by one on every change of content.
    pub version: u64,
    /// Where the current state came from.
    pub origin: Origin,
}

/// What an import (or a batch of writes) did to the space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Objects that were not in the space.
    pub added: u64,
    /// Objects whose content changed.
    pub updated: u64,
    /// Objects seen with exactly the stored content.
    pub unchanged: u64,
    /// Objects removed (not seen by a full import, or deleted by a delta).
    pub removed: u64,
}

impl ImportStats {
    pub(crate) fn count(&mut self, change: Change) {
        match change {
            Change::Added => self.added += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

/// What a write did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Updated,
    Unchanged,
}

/// The bookkeeping of an object after a write, as either store's one write function reports it.
pub(crate) struct Written {
    /// The object's row id.
    pub id: i64,
    pub change: Change,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
    pub version: u64,
    pub origin: Origin,
    /// What the object waited for and whether it was a new object, when this write ended its
    /// pending state.
    pub ended_pending: Option<(String, bool)>,
}

impl Written {
    /// The stored object, given the object that was written.
    pub fn into_stored(self, object: ConnectorObject) -> StoredObject {
        StoredObject {
            object,
            created: self.created,
            modified: self.modified,
            version: self.version,
            origin: self.origin,
        }
    }
}

/// The DN as indexed: lower-cased, so lookups by DN ignore case.
pub(crate) fn dn_norm(object: &ConnectorObject) -> Option<String> {
    object.dn.as_deref().map(str::to_lowercase)
}

/// Refuses an item of another type than the operation's (`expected`).
pub(crate) fn check_object_type(expected: &str, found: &str) -> Result<(), SpaceError> {
    if found == expected {
        Ok(())
    } else {
        Err(SpaceError::WrongObjectType {
            expected: expected.to_owned(),
            found: found.to_owned(),
        })
    }
}

/// Refuses a delta whose items are not all of `object_type`: the whole delta fails, before
/// anything is written (both stores apply a delta in one transaction).
pub(crate) fn check_delta_types(
    object_type: &str,
    items: &[connector_core::import::ImportItem],
) -> Result<(), SpaceError> {
    use connector_core::import::ImportItem;
    for item in items {
        let found = match item {
            ImportItem::Upsert(object) => &object.object_type,
            ImportItem::Delete { object_type, .. } => object_type,
        };
        check_object_type(object_type, found)?;
    }
    Ok(())
}
