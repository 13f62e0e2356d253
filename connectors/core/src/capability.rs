//! What a connector can do, so the host adapts instead of failing at run time (ECMA2's
//! `MACapabilities`, trimmed to what the host acts on: every field here is read by the host,
//! and one it would never read does not belong here).

use serde::Serialize;

/// How the target wants changes to existing objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ExportStyle {
    /// Attribute-level updates: only the changed attributes, with value adds and removes for
    /// multi-valued ones ([`crate::Change::Update`]).
    #[default]
    AttributeUpdate,
    /// Whole-object replace: every exported attribute on each change ([`crate::Change::Replace`]).
    ObjectReplace,
}

/// How the target names a referenced object in a reference attribute (`manager`, `member`).
///
/// The host stores references in this form, exactly as the target reports them, and translates
/// SCIM ids to it on export and back on the way out, through the connector space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ReferenceForm {
    /// By anchor: a key column (SQL), an ObjectID (MIM Service).
    #[default]
    Anchor,
    /// By distinguished name (LDAP). Every object type that can be referenced has a DN.
    Dn,
}

/// The capabilities a connector declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Delta imports are supported ([`crate::Connector::delta_import`]); the host schedules
    /// them only then.
    pub delta_import: bool,
    /// How changes to existing objects are exported.
    pub export_style: ExportStyle,
    /// The target assigns the anchor on add (identity column, `entryUUID`, ObjectID): the host
    /// sends an add without one and takes it from the outcome.
    pub anchor_assigned_by_target: bool,
    /// Objects can be renamed (DN change) without delete and add; otherwise the host refuses a
    /// DN change with `mutability`.
    pub renames: bool,
    /// How reference attributes name their targets.
    pub reference_form: ReferenceForm,
    /// Exports to different anchors may run concurrently; otherwise the host sends one export
    /// at a time.
    pub concurrent_exports: bool,
}
