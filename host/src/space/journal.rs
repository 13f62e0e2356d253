//! The write-through journal: while a full import runs, exports keep going, and an export that
//! lands after the import read that object would be overwritten by the older imported state
//! when the import commits. So write-throughs made during a full import are journalled, and
//! re-applied right after its commit. The space owns this rule because it is about the order of
//! writes into the space, whoever makes them.

use std::collections::HashMap;
use std::sync::Mutex;

use connector_core::{Anchor, ConnectorObject};

use super::{Origin, Space, SpaceError, StoredObject};

/// The last state written through for each (object type, anchor), with its origin and, when
/// pending, what it waits for; `None` for a delete.
type Writes = HashMap<(String, Anchor), Option<(ConnectorObject, Origin, Option<String>)>>;

/// Write-throughs that happened while a full import was running.
#[derive(Default)]
pub struct Journal {
    inner: Mutex<Option<Writes>>,
}

impl Journal {
    /// Applies a write-through to the space, recording it when an import is running. Holding
    /// the journal lock across the write orders it against an import's re-apply step.
    pub fn write(
        &self,
        space: &Space,
        object_type: &str,
        anchor: &Anchor,
        object: Option<(&ConnectorObject, Origin)>,
    ) -> Result<Option<StoredObject>, SpaceError> {
        self.write_with(space, object_type, anchor, object, None)
    }

    /// As [`write`](Journal::write), for an export the target queued: the object is stored as
    /// pending, waiting for `detail`.
    pub fn write_pending(
        &self,
        space: &Space,
        object: &ConnectorObject,
        detail: &str,
    ) -> Result<Option<StoredObject>, SpaceError> {
        self.write_with(
            space,
            &object.object_type,
            &object.anchor,
            Some((object, Origin::Pending)),
            Some(detail),
        )
    }

    fn write_with(
        &self,
        space: &Space,
        object_type: &str,
        anchor: &Anchor,
        object: Option<(&ConnectorObject, Origin)>,
        detail: Option<&str>,
    ) -> Result<Option<StoredObject>, SpaceError> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let stored = match (object, detail) {
            (Some((o, _)), Some(detail)) => Some(space.put_pending(o, detail)?),
            (Some((o, origin)), None) => Some(space.put(o, origin)?),
            (None, _) => {
                space.remove(object_type, anchor)?;
                None
            }
        };
        if let Some(map) = guard.as_mut() {
            map.insert(
                (object_type.to_owned(), anchor.clone()),
                object.map(|(o, origin)| (o.clone(), origin, detail.map(str::to_owned))),
            );
        }
        Ok(stored)
    }

    /// Starts journalling: a full import begins.
    pub fn start(&self) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(HashMap::new());
    }

    /// Stops journalling; with `reapply` (the import committed), re-applies what was journalled.
    pub fn finish(&self, space: &Space, reapply: bool) -> Result<(), SpaceError> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = guard.take()
            && reapply
        {
            for ((object_type, anchor), object) in map {
                match object {
                    Some((o, _, Some(detail))) => {
                        space.put_pending(&o, &detail)?;
                    }
                    Some((o, origin, None)) => {
                        space.put(&o, origin)?;
                    }
                    None => {
                        space.remove(&object_type, &anchor)?;
                    }
                }
            }
        }
        Ok(())
    }
}
