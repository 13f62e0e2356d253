//! How a SCIM resource type binds onto a connector object type: which SCIM attribute holds which
//! connector attribute, in both schema modes (DESIGN §3).
//!
//! - `ecma2host` (drop-in for Microsoft's host, module `ecma2host`): every exposed connector
//!   attribute `A` is `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:A`, the DN is
//!   `…:User:-dn-`.
//! - `scim` (module `scim`): a declarative map from SCIM paths (`name.givenName`,
//!   `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:manager`, `members`) to connector
//!   attributes.
//!
//! This module holds the binding's types and what both modes share (the `active` rule).
//! `fields` reads and writes a binding's fields in SCIM JSON (values converted by
//! [`super::values`]); `filter` finds which connector attribute a filter term looks up.
//!
//! In both modes the SCIM `id` is the connector anchor, so later requests survive a rename of
//! the matching attribute, as in Microsoft's host.

mod ecma2host;
mod fields;
mod filter;
mod scim;

use connector_core::{AttrKind, AttrValue, Attributes, DnStyle, ObjectTypeSchema};
use schemas::schema::{AttrType, AttributeDef, ResourceSchema};

use crate::config::{DisableAction, SimpleAction};

pub use filter::FilterTarget;

/// The SCIM name of the DN pseudo-attribute in the ECMA2Host schema.
pub const DN_ATTRIBUTE: &str = "-dn-";

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The endpoint segment, `Users` or `Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
}

/// Where a field's connector value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorSide {
    Attribute(String),
    Dn,
}

/// Where a field's value lives in the SCIM resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimSide {
    /// Extension URN (None: core schema).
    pub urn: Option<String>,
    /// Top-level attribute name, as the schema spells it.
    pub name: String,
    /// `emails[type eq "work"]`: the selecting sub-attribute and value.
    pub select: Option<(String, String)>,
    /// The sub-attribute holding the value (`givenName`, `value`), if any.
    pub sub: Option<String>,
}

/// One mapped attribute.
#[derive(Debug, Clone)]
pub struct Field {
    pub scim: ScimSide,
    pub connector: ConnectorSide,
    /// The connector attribute's kind (String for the DN).
    pub kind: AttrKind,
    /// Whether the connector attribute holds several values.
    pub multi_valued: bool,
    /// The SCIM definition of the top-level attribute.
    pub top: AttributeDef,
    /// The SCIM type of the value itself (the sub-attribute's, or the top-level one's).
    pub value_type: AttrType,
    /// Whether values compare case-sensitively.
    pub case_exact: bool,
}

/// How `active` is represented at the target.
#[derive(Debug, Clone, PartialEq)]
pub enum ActiveRule {
    /// `active` is a mapped field like any other.
    Mapped,
    /// Disable sets this boolean attribute to `disabled`; enable sets the opposite.
    SetAttribute {
        attribute: String,
        disabled: bool,
        kind: AttrKind,
    },
    /// Disable deletes the object.
    Delete,
    /// Disable changes nothing at the target.
    Ignore,
}

/// A SCIM resource type bound to a connector object type.
#[derive(Debug, Clone)]
pub struct Binding {
    pub kind: ResourceKind,
    pub schema: ResourceSchema,
    pub object_type: String,
    pub anchor_attribute: String,
    pub dn_style: DnStyle,
    pub fields: Vec<Field>,
    pub active: ActiveRule,
    /// The connector attributes whose values must be unique (checked against the space).
    pub unique: Vec<String>,
    /// Connector attributes to index in the space, with case sensitivity.
    pub indexed: Vec<(String, bool)>,
    /// Connector attributes that hold secrets ([`AttrKind::Secret`]): written by exports, and
    /// dropped from anything bound for the connector space.
    pub secrets: Vec<String>,
}

impl Binding {
    /// Whether the anchor attribute is filled from the SCIM resource.
    pub fn anchor_is_mapped(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(&f.connector, ConnectorSide::Attribute(a) if a.eq_ignore_ascii_case(&self.anchor_attribute))
        })
    }

    /// Whether any mapped attribute holds references.
    pub fn has_references(&self) -> bool {
        self.fields.iter().any(|f| f.kind == AttrKind::Reference)
    }

    /// Whether connector attribute `name` holds references.
    pub fn is_reference(&self, name: &str) -> bool {
        self.fields.iter().any(|f| {
            f.kind == AttrKind::Reference
                && matches!(&f.connector, ConnectorSide::Attribute(a) if a == name)
        })
    }

    /// The connector attributes this binding writes.
    pub fn mapped_attributes(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter_map(|f| match &f.connector {
            ConnectorSide::Attribute(a) => Some(a.as_str()),
            ConnectorSide::Dn => None,
        })
    }

    /// Whether a stored user is active under the binding's rule.
    pub fn is_active(&self, attributes: &Attributes) -> bool {
        match &self.active {
            ActiveRule::SetAttribute {
                attribute,
                disabled,
                ..
            } => match attributes.get(attribute).and_then(|v| v.first()) {
                None => true,
                Some(v) => flag_of(v) != Some(*disabled),
            },
            _ => true,
        }
    }
}

fn flag_of(v: &AttrValue) -> Option<bool> {
    match v {
        AttrValue::Boolean(b) => Some(*b),
        AttrValue::Integer(i) => Some(*i != 0),
        AttrValue::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The rule for `active` that `[connector.deprovision] disable` sets, checked against `ot`.
fn active_rule(disable: &DisableAction, ot: &ObjectTypeSchema) -> Result<ActiveRule, String> {
    Ok(match disable.effective() {
        DisableAction::Simple(SimpleAction::Delete) => ActiveRule::Delete,
        DisableAction::Set { set, value } => {
            let a = ot.attribute(&set).ok_or_else(|| {
                format!(
                    "deprovision.disable sets {set:?}, which {} does not have; it has: {}",
                    ot.name,
                    list_names(ot)
                )
            })?;
            if a.kind != AttrKind::Boolean
                && a.kind != AttrKind::Integer
                && a.kind != AttrKind::String
            {
                return Err(format!(
                    "deprovision.disable: {set:?} must be a boolean column"
                ));
            }
            ActiveRule::SetAttribute {
                attribute: a.name.clone(),
                disabled: value,
                kind: a.kind,
            }
        }
        _ => ActiveRule::Ignore,
    })
}

/// Whether values of `kind` can be indexed for lookups (not binary blobs, never secrets).
fn indexable(kind: AttrKind) -> bool {
    !matches!(kind, AttrKind::Binary | AttrKind::Secret)
}

/// The attributes of `ot` that hold secrets.
fn secret_attributes(ot: &ObjectTypeSchema) -> Vec<String> {
    ot.attributes
        .iter()
        .filter(|a| a.kind == AttrKind::Secret)
        .map(|a| a.name.clone())
        .collect()
}

/// The attribute names of `ot`, for messages.
fn list_names(ot: &ObjectTypeSchema) -> String {
    ot.attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
