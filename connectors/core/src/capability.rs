//! What a connector can do, so the host adapts instead of failing at run time (ECMA2's
//! `MACapabilities`, trimmed to what the host acts on).

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

/// The capabilities a connector declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Delta imports are supported ([`crate::Connector::delta_import`]).
    pub delta_import: bool,
    /// How changes to existing objects are exported.
    pub export_style: ExportStyle,
    /// The target assigns the anchor on add (identity column, `entryUUID`, ObjectID): an add may
    /// come without one and the outcome carries it.
    pub anchor_assigned_by_target: bool,
    /// Passwords can be set on add/update.
    pub passwords: bool,
    /// Objects can be renamed (DN change) without delete and add.
    pub renames: bool,
    /// Reference attributes (manager, members) are supported.
    pub references: bool,
    /// The connector can evaluate filters at the target (`schemas::filter` push-down).
    pub filter_pushdown: bool,
    /// Exports to different anchors may run concurrently.
    pub concurrent_exports: bool,
}
