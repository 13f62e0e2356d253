//! Changes the host exports and what comes back.
//!
//! One [`Change`] is one object: Add, Update (attribute-level), Replace (whole object) or Delete,
//! mirroring ECMA2's `CSEntryChange`. The host builds them from SCIM requests; which of Update or
//! Replace it sends follows [`crate::Capabilities::export_style`].

use serde::Serialize;

use crate::object::{Anchor, AttrValue, Attributes, ConnectorObject};

/// A change to one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum AttributeChange {
    /// Set the attribute to exactly these values.
    Replace {
        name: String,
        values: Vec<AttrValue>,
    },
    /// Add these values to a multi-valued attribute.
    Add {
        name: String,
        values: Vec<AttrValue>,
    },
    /// Remove these values from a multi-valued attribute.
    Remove {
        name: String,
        values: Vec<AttrValue>,
    },
    /// Remove every value.
    Clear { name: String },
}

impl AttributeChange {
    /// The attribute this change touches.
    pub fn name(&self) -> &str {
        match self {
            AttributeChange::Replace { name, .. }
            | AttributeChange::Add { name, .. }
            | AttributeChange::Remove { name, .. }
            | AttributeChange::Clear { name } => name,
        }
    }

    /// Applies this change to an object's attributes (used to compute the state after an export).
    pub fn apply_to(&self, attributes: &mut Attributes) {
        match self {
            AttributeChange::Replace { name, values } => {
                if values.is_empty() {
                    attributes.remove(name);
                } else {
                    attributes.insert(name.clone(), values.clone());
                }
            }
            AttributeChange::Add { name, values } => {
                let current = attributes.entry(name.clone()).or_default();
                for v in values {
                    if !current.contains(v) {
                        current.push(v.clone());
                    }
                }
                if current.is_empty() {
                    attributes.remove(name);
                }
            }
            AttributeChange::Remove { name, values } => {
                if let Some(current) = attributes.get_mut(name) {
                    current.retain(|v| !values.contains(v));
                    if current.is_empty() {
                        attributes.remove(name);
                    }
                }
            }
            AttributeChange::Clear { name } => {
                attributes.remove(name);
            }
        }
    }
}

/// A change to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Change {
    /// Create an object. `anchor` is `None` when the target assigns it
    /// ([`crate::Capabilities::anchor_assigned_by_target`]).
    Add {
        object_type: String,
        anchor: Option<Anchor>,
        dn: Option<String>,
        attributes: Attributes,
    },
    /// Change some attributes of an existing object; `new_dn` renames it.
    Update {
        object_type: String,
        anchor: Anchor,
        new_dn: Option<String>,
        changes: Vec<AttributeChange>,
    },
    /// Replace every exported attribute of an existing object. Attributes of kind
    /// [`crate::AttrKind::Secret`] that are left out keep their value: the host never knows a
    /// stored secret, so their absence means "unchanged", never "clear".
    Replace {
        object_type: String,
        anchor: Anchor,
        dn: Option<String>,
        attributes: Attributes,
    },
    /// Delete an object.
    Delete { object_type: String, anchor: Anchor },
}

impl Change {
    /// The object type the change is for.
    pub fn object_type(&self) -> &str {
        match self {
            Change::Add { object_type, .. }
            | Change::Update { object_type, .. }
            | Change::Replace { object_type, .. }
            | Change::Delete { object_type, .. } => object_type,
        }
    }

    /// The anchor, when the change carries one.
    pub fn anchor(&self) -> Option<&Anchor> {
        match self {
            Change::Add { anchor, .. } => anchor.as_ref(),
            Change::Update { anchor, .. }
            | Change::Replace { anchor, .. }
            | Change::Delete { anchor, .. } => Some(anchor),
        }
    }

    /// A short operation name for logs and metrics: `add`, `update`, `replace`, `delete`.
    pub fn operation(&self) -> &'static str {
        match self {
            Change::Add { .. } => "add",
            Change::Update { .. } => "update",
            Change::Replace { .. } => "replace",
            Change::Delete { .. } => "delete",
        }
    }

    /// The object as it is after this change succeeded, given its state before (`None` for an
    /// add) and what the target reported. `None` after a delete. Secrets are never part of it:
    /// what this returns may be stored.
    pub fn resulting_object(
        &self,
        before: Option<&ConnectorObject>,
        outcome: &ExportOutcome,
    ) -> Option<ConnectorObject> {
        let mut obj = match self {
            Change::Delete { .. } => return None,
            Change::Add {
                object_type,
                dn,
                attributes,
                ..
            }
            | Change::Replace {
                object_type,
                dn,
                attributes,
                ..
            } => ConnectorObject {
                object_type: object_type.clone(),
                anchor: outcome.anchor.clone(),
                dn: dn.clone(),
                attributes: attributes.clone(),
            },
            Change::Update {
                object_type,
                new_dn,
                changes,
                ..
            } => {
                let mut obj = before.cloned().unwrap_or_else(|| {
                    ConnectorObject::new(object_type.clone(), outcome.anchor.clone())
                });
                for c in changes {
                    c.apply_to(&mut obj.attributes);
                }
                if new_dn.is_some() {
                    obj.dn = new_dn.clone();
                }
                obj
            }
        };
        if outcome.dn.is_some() {
            obj.dn = outcome.dn.clone();
        }
        for (name, values) in &outcome.assigned {
            obj.set(name.clone(), values.clone());
        }
        obj.strip_secrets();
        Some(obj)
    }

    /// Whether any value in this change is a secret.
    pub fn carries_secrets(&self) -> bool {
        let any = |values: &[AttrValue]| values.iter().any(AttrValue::is_secret);
        match self {
            Change::Add { attributes, .. } | Change::Replace { attributes, .. } => {
                attributes.values().any(|v| any(v))
            }
            Change::Update { changes, .. } => changes.iter().any(|c| match c {
                AttributeChange::Replace { values, .. }
                | AttributeChange::Add { values, .. }
                | AttributeChange::Remove { values, .. } => any(values),
                AttributeChange::Clear { .. } => false,
            }),
            Change::Delete { .. } => false,
        }
    }
}

/// Whether the target holds the change now or has queued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ExportStatus {
    /// The target holds the change.
    #[default]
    Applied,
    /// The target accepted the change but queued it (a MIM approval, a ticket): it is not
    /// there yet, and a later import confirms it (the object shows the change) or shows it was
    /// rejected (the object does not). The host records the object as pending and answers the
    /// client with success.
    Pending {
        /// What the change waits for, e.g. `approval of request 5a1f…`.
        detail: String,
    },
}

/// What the target reports after a successful export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ExportOutcome {
    /// The object's anchor (assigned by the target on an add where it chooses it).
    pub anchor: Anchor,
    /// The DN, when the target assigned or normalised it.
    pub dn: Option<String>,
    /// Attributes the target set or normalised (defaults, generated values, the anchor column).
    /// Never secrets.
    pub assigned: Attributes,
    /// Applied now, or queued.
    pub status: ExportStatus,
}

impl ExportOutcome {
    /// An applied outcome that reports nothing but the anchor.
    pub fn anchor(anchor: Anchor) -> Self {
        ExportOutcome {
            anchor,
            ..ExportOutcome::default()
        }
    }

    /// A pending outcome: the target queued the change for `detail`.
    pub fn pending(anchor: Anchor, detail: impl Into<String>) -> Self {
        ExportOutcome {
            anchor,
            status: ExportStatus::Pending {
                detail: detail.into(),
            },
            ..ExportOutcome::default()
        }
    }

    /// Whether the target queued the change instead of applying it.
    pub fn is_pending(&self) -> bool {
        matches!(self.status, ExportStatus::Pending { .. })
    }
}
