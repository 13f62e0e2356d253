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
//! **The advertised schema is the binding** (DESIGN §3): `advertise` derives from the fields
//! the schema `/Schemas` shows (exactly what is mapped, with `required`, `mutability`,
//! `returned`, `uniqueness` from the target and the map) and the schema requests are read
//! with, and `accept` refuses anything a write carries outside it (or drops what the
//! configuration says to ignore), so nothing a client sends is lost silently.
//!
//! This module holds the binding's types and what both modes share (the `active` rule).
//! `fields` reads and writes a binding's fields in SCIM JSON (values converted by
//! [`super::values`]); `filter` finds which connector attribute a filter term looks up.
//!
//! In both modes the SCIM `id` is the connector anchor, so later requests survive a rename of
//! the matching attribute, as in Microsoft's host.

mod accept;
mod advertise;
mod ecma2host;
mod fields;
mod filter;
mod scim;

use connector_core::{
    AttrKind, AttrValue, AttributeSchema, Attributes, Capabilities, Direction, DnStyle,
    ObjectTypeSchema,
};
use schemas::schema::{AttrType, AttributeDef, Mutability, ResourceSchema, Returned, Uniqueness};

use crate::config::{DisableAction, SimpleAction};

pub use accept::{Accepted, IgnoreRule, PathVerdict};
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
    /// The SCIM definition of the top-level attribute (as the protocol defines it).
    pub top: AttributeDef,
    /// The SCIM type of the value itself (the sub-attribute's, or the top-level one's).
    pub value_type: AttrType,
    /// Whether values compare case-sensitively.
    pub case_exact: bool,
    /// How the value behaves at this binding, from the target and the map (what `/Schemas`
    /// advertises for it).
    pub traits: Traits,
}

/// The characteristics of one mapped value that come from the target rather than the protocol:
/// an import-only column is `readOnly`, an export-only one (a password) `writeOnly` and never
/// returned, a NOT NULL column `required`, a value the host keeps unique `server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    pub mutability: Mutability,
    pub returned: Returned,
    pub required: bool,
    pub uniqueness: Uniqueness,
}

impl Field {
    /// The sub-attribute this field's value is: the mapped one, or `value` of a complex
    /// attribute mapped as a whole (`manager`, `members`, `roles`); `None` for a simple one.
    pub fn value_sub(&self) -> Option<&str> {
        match &self.scim.sub {
            Some(s) => Some(s.as_str()),
            None if self.top.attr_type == AttrType::Complex => Some("value"),
            None => None,
        }
    }

    /// Whether the connector attribute is `name`.
    fn is_attribute(&self, name: &str) -> bool {
        matches!(&self.connector, ConnectorSide::Attribute(a) if a == name)
    }
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
    /// The advertised schema: exactly what this binding holds, as `/Schemas` and
    /// `/ResourceTypes` show it. Reads (filters, projections) use it.
    pub schema: ResourceSchema,
    /// The schema requests are read with: the advertised one plus the rest of the protocol's
    /// schema (so that a write naming a protocol attribute this binding does not hold is
    /// refused by [`Binding::accept`] with a message naming it, or dropped when ignored).
    pub input: ResourceSchema,
    /// The attributes a write may carry without the binding holding them (`ignore`).
    pub ignore: Vec<IgnoreRule>,
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
        self.fields
            .iter()
            .any(|f| f.kind == AttrKind::Reference && f.is_attribute(name))
    }

    /// Whether connector attribute `name` holds several values at the target.
    pub fn is_multi_valued(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.multi_valued && f.is_attribute(name))
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

/// The traits of a field that maps connector attribute `a` of `ot` to a value the protocol
/// defines as `value_def`: the target decides mutability (import-only → `readOnly`,
/// export-only or secret → `writeOnly` and never returned, the anchor → `immutable`, or
/// `readOnly` when the target assigns it) and adds `required` (NOT NULL, LDAP MUST, an anchor
/// the host is given) to the protocol's; the anchor is unique.
fn traits_of(
    value_def: &AttributeDef,
    a: &AttributeSchema,
    ot: &ObjectTypeSchema,
    caps: &Capabilities,
) -> Traits {
    let anchor = a.name.eq_ignore_ascii_case(&ot.anchor_attribute);
    let assigned = anchor && caps.anchor_assigned_by_target;
    let mutability = match a.direction {
        _ if a.kind == AttrKind::Secret => Mutability::WriteOnly,
        Direction::Import => Mutability::ReadOnly,
        Direction::Export => Mutability::WriteOnly,
        Direction::ImportExport if assigned => Mutability::ReadOnly,
        Direction::ImportExport if anchor => Mutability::Immutable,
        Direction::ImportExport => value_def.mutability,
    };
    let returned = if mutability == Mutability::WriteOnly {
        Returned::Never
    } else {
        value_def.returned
    };
    Traits {
        mutability,
        returned,
        required: mutability != Mutability::ReadOnly
            && (value_def.required || a.required || (anchor && !assigned)),
        uniqueness: if anchor {
            Uniqueness::Server
        } else {
            value_def.uniqueness
        },
    }
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
