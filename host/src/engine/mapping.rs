//! How a SCIM resource type maps onto a connector object type: which SCIM attribute holds which
//! connector attribute, in both schema modes (DESIGN §3), and the conversion in both directions.
//!
//! - `ecma2host` (drop-in for Microsoft's host): every exposed connector attribute `A` is
//!   `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:A`, the DN is `…:User:-dn-`.
//! - `scim`: a declarative map from SCIM paths (`name.givenName`, `emails[type eq "work"].value`,
//!   `urn:…:enterprise:2.0:User:manager`, `members`) to connector attributes.
//!
//! In both modes the SCIM `id` is the connector anchor, so later requests survive a rename of
//! the matching attribute, as in Microsoft's host.

use std::collections::BTreeMap;

use connector_core::{AttrKind, AttrValue, Attributes, Direction, DnStyle, ObjectTypeSchema};
use schemas::ScimError;
use schemas::filter::{CompareOp, Filter, Literal};
use schemas::path::PatchPath;
use schemas::resource::{ECMA2HOST_USER_SCHEMA, get_ci};
use schemas::schema::{
    AttrType, AttributeDef, Mutability, ResourceSchema, Returned, Uniqueness,
    ecma2host_resource_schema, group_resource_schema, user_resource_schema,
};
use serde_json::{Map, Value};

use super::values;
use crate::config::{DisableAction, ResourceMapConfig, SimpleAction};

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
}

fn kind_to_scim(kind: AttrKind) -> AttrType {
    match kind {
        AttrKind::String => AttrType::String,
        AttrKind::Integer => AttrType::Integer,
        AttrKind::Boolean => AttrType::Boolean,
        AttrKind::DateTime => AttrType::DateTime,
        AttrKind::Binary => AttrType::Binary,
        AttrKind::Reference => AttrType::String,
    }
}

fn setup_error(message: String) -> String {
    message
}

impl Binding {
    /// The `ecma2host` drop-in binding for users of `ot`.
    pub fn ecma2host(
        ot: &ObjectTypeSchema,
        cfg: &ResourceMapConfig,
        disable: &DisableAction,
    ) -> Result<Binding, String> {
        let exposed: Vec<_> = match &cfg.expose {
            None => ot.attributes.iter().collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    ot.attribute(n).ok_or_else(|| {
                        setup_error(format!(
                            "users.expose names {n:?}, which {} does not have; it has: {}",
                            ot.name,
                            list_names(ot)
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut defs = Vec::new();
        let mut fields = Vec::new();
        for a in exposed {
            let mut def = AttributeDef::new(a.name.clone(), kind_to_scim(a.kind))
                .with_multi_valued(a.multi_valued)
                .with_required(a.required)
                .with_case_exact(a.case_exact);
            if a.name.eq_ignore_ascii_case(&ot.anchor_attribute) {
                def = def
                    .with_mutability(Mutability::Immutable)
                    .with_uniqueness(Uniqueness::Server)
                    .with_required(true);
            }
            match a.direction {
                Direction::Import => def = def.with_mutability(Mutability::ReadOnly),
                Direction::Export => {
                    def = def
                        .with_mutability(Mutability::WriteOnly)
                        .with_returned(Returned::Never)
                }
                Direction::ImportExport => {}
            }
            fields.push(Field {
                scim: ScimSide {
                    urn: Some(ECMA2HOST_USER_SCHEMA.to_owned()),
                    name: a.name.clone(),
                    select: None,
                    sub: None,
                },
                connector: ConnectorSide::Attribute(a.name.clone()),
                kind: a.kind,
                multi_valued: a.multi_valued,
                value_type: def.attr_type,
                case_exact: a.case_exact,
                top: def.clone(),
            });
            defs.push(def);
        }
        if ot.dn_style != DnStyle::None {
            let def = AttributeDef::new(DN_ATTRIBUTE, AttrType::String);
            fields.push(Field {
                scim: ScimSide {
                    urn: Some(ECMA2HOST_USER_SCHEMA.to_owned()),
                    name: DN_ATTRIBUTE.to_owned(),
                    select: None,
                    sub: None,
                },
                connector: ConnectorSide::Dn,
                kind: AttrKind::String,
                multi_valued: false,
                value_type: AttrType::String,
                case_exact: false,
                top: def.clone(),
            });
            defs.push(def);
        }
        let schema = ecma2host_resource_schema(&defs);
        let indexed = if cfg.match_attributes.is_empty() {
            ot.attributes
                .iter()
                .filter(|a| !a.multi_valued && a.kind != AttrKind::Binary)
                .map(|a| (a.name.clone(), a.case_exact))
                .collect()
        } else {
            cfg.match_attributes
                .iter()
                .map(|n| {
                    ot.attribute(n)
                        .map(|a| (a.name.clone(), a.case_exact))
                        .ok_or_else(|| {
                            format!("users.match_attributes names unknown attribute {n:?}")
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let active = active_rule(disable, ot, false)?;
        Ok(Binding {
            kind: ResourceKind::User,
            schema,
            object_type: ot.name.clone(),
            anchor_attribute: ot.anchor_attribute.clone(),
            dn_style: ot.dn_style,
            fields,
            active,
            unique: Vec::new(),
            indexed,
        })
    }

    /// The standard-schema binding of `kind` onto `ot` through the configured map.
    pub fn scim(
        kind: ResourceKind,
        ot: &ObjectTypeSchema,
        cfg: &ResourceMapConfig,
        disable: &DisableAction,
    ) -> Result<Binding, String> {
        let schema = match kind {
            ResourceKind::User => user_resource_schema(true),
            ResourceKind::Group => group_resource_schema(),
        };
        let section = match kind {
            ResourceKind::User => "users.map",
            ResourceKind::Group => "groups.map",
        };
        if cfg.map.is_empty() {
            return Err(format!(
                "[connector.{section}] is empty: map at least {} to a column",
                if kind == ResourceKind::User {
                    "userName"
                } else {
                    "displayName"
                }
            ));
        }
        let mut fields = Vec::new();
        let mut unique = Vec::new();
        let mut indexed: BTreeMap<String, bool> = BTreeMap::new();
        let mut active_mapped = false;
        for (path, attr) in &cfg.map {
            let a = ot.attribute(attr).ok_or_else(|| {
                format!(
                    "{section}: {path:?} maps to {attr:?}, which {} does not have; it has: {}",
                    ot.name,
                    list_names(ot)
                )
            })?;
            let side =
                parse_scim_side(path, &schema).map_err(|e| format!("{section}: {path:?}: {e}"))?;
            if side.urn.is_none() && side.name.eq_ignore_ascii_case("id") {
                return Err(format!(
                    "{section}: id cannot be mapped; the SCIM id is always the anchor"
                ));
            }
            if side.urn.is_none() && side.name == "active" {
                active_mapped = true;
            }
            let top = schema
                .attribute(side.urn.as_deref(), &side.name)
                .cloned()
                .or_else(|| schemas::schema::common_attribute(&side.name))
                .ok_or_else(|| format!("{section}: {path:?} is not a SCIM attribute"))?;
            let value_def = match &side.sub {
                Some(s) => top.sub_attribute(s).cloned().unwrap_or_else(|| top.clone()),
                None => top.clone(),
            };
            let case_exact = value_def.case_exact;
            if top.uniqueness != Uniqueness::None
                || (kind == ResourceKind::Group && side.name == "displayName")
            {
                unique.push(a.name.clone());
            }
            if !a.multi_valued {
                indexed.insert(a.name.clone(), case_exact);
            }
            fields.push(Field {
                scim: side,
                connector: ConnectorSide::Attribute(a.name.clone()),
                kind: a.kind,
                multi_valued: a.multi_valued,
                value_type: value_def.attr_type,
                case_exact,
                top,
            });
        }
        for n in &cfg.match_attributes {
            let a = ot
                .attribute(n)
                .ok_or_else(|| format!("match_attributes names unknown attribute {n:?}"))?;
            indexed.insert(a.name.clone(), a.case_exact);
        }
        let active = if kind == ResourceKind::Group {
            ActiveRule::Ignore
        } else if active_mapped {
            ActiveRule::Mapped
        } else {
            active_rule(disable, ot, true)?
        };
        Ok(Binding {
            kind,
            schema,
            object_type: ot.name.clone(),
            anchor_attribute: ot.anchor_attribute.clone(),
            dn_style: ot.dn_style,
            fields,
            active,
            unique,
            indexed: indexed.into_iter().collect(),
        })
    }

    /// Whether the anchor attribute is filled from the SCIM resource.
    pub fn anchor_is_mapped(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(&f.connector, ConnectorSide::Attribute(a) if a.eq_ignore_ascii_case(&self.anchor_attribute))
        })
    }

    /// The connector attributes this binding writes.
    pub fn mapped_attributes(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter_map(|f| match &f.connector {
            ConnectorSide::Attribute(a) => Some(a.as_str()),
            ConnectorSide::Dn => None,
        })
    }

    /// Reads the mapped connector attributes (and DN) out of a SCIM resource.
    pub fn extract(&self, resource: &Value) -> Result<(Attributes, Option<String>), ScimError> {
        let mut attrs = Attributes::new();
        let mut dn = None;
        for f in &self.fields {
            if f.top.mutability == Mutability::ReadOnly {
                continue;
            }
            let raw = read_field(resource, &f.scim);
            let mut values: Vec<AttrValue> = Vec::new();
            for v in &raw {
                let name = match &f.connector {
                    ConnectorSide::Attribute(a) => a.as_str(),
                    ConnectorSide::Dn => DN_ATTRIBUTE,
                };
                if let Some(cv) = values::to_connector(v, f.kind, name)?
                    && !values.contains(&cv)
                {
                    values.push(cv);
                }
            }
            match &f.connector {
                ConnectorSide::Dn => dn = values.first().map(AttrValue::to_text),
                ConnectorSide::Attribute(a) => {
                    if !f.multi_valued && values.len() > 1 {
                        return Err(ScimError::invalid_value(format!(
                            "{} holds one value at the target, but {} were given",
                            describe_side(&f.scim),
                            values.len()
                        )));
                    }
                    if !values.is_empty() {
                        attrs.entry(a.clone()).or_default().extend(values);
                    }
                }
            }
        }
        Ok((attrs, dn))
    }

    /// Writes connector values into a SCIM resource.
    pub fn render_into(
        &self,
        doc: &mut Map<String, Value>,
        attributes: &Attributes,
        dn: Option<&str>,
    ) {
        for f in &self.fields {
            if f.top.returned == Returned::Never {
                continue;
            }
            let values: Vec<Value> = match &f.connector {
                ConnectorSide::Dn => dn
                    .map(|d| vec![Value::String(d.to_owned())])
                    .unwrap_or_default(),
                ConnectorSide::Attribute(a) => attributes
                    .get(a)
                    .map(|vs| {
                        vs.iter()
                            .map(|v| values::to_scim(v, f.value_type))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if values.is_empty() {
                continue;
            }
            write_field(doc, &f.scim, &f.top, values);
        }
    }

    /// The connector side of a SCIM attribute path used in a filter, for index lookups.
    pub fn filter_target(&self, path: &schemas::filter::AttrPath) -> Option<FilterTarget> {
        let (urn, name) = match &path.urn {
            Some(u) if u.eq_ignore_ascii_case(&self.schema.core.id) => (None, path.name.as_str()),
            Some(u) => (Some(u.as_str()), path.name.as_str()),
            None => (None, path.name.as_str()),
        };
        if urn.is_none() && name.eq_ignore_ascii_case("id") && path.sub.is_none() {
            return Some(FilterTarget::Anchor);
        }
        self.fields.iter().find_map(|f| {
            let same_urn = match (&f.scim.urn, urn) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            };
            let sub_ok = match (&path.sub, &f.scim.sub) {
                (None, None) => true,
                (Some(p), Some(s)) => p.eq_ignore_ascii_case(s),
                (Some(p), None) => p == "value" && f.top.attr_type == AttrType::Complex,
                (None, Some(s)) => s == "value" && f.top.attr_type == AttrType::Complex,
            };
            (same_urn
                && f.scim.select.is_none()
                && sub_ok
                && f.scim.name.eq_ignore_ascii_case(name))
            .then(|| match &f.connector {
                ConnectorSide::Attribute(a) => FilterTarget::Attribute(a.clone()),
                ConnectorSide::Dn => FilterTarget::Dn,
            })
        })
    }
}

/// What a filter term looks up in the connector space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTarget {
    Anchor,
    Dn,
    Attribute(String),
}

fn list_names(ot: &ObjectTypeSchema) -> String {
    ot.attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_side(s: &ScimSide) -> String {
    let mut out = match &s.urn {
        Some(u) => format!("{u}:{}", s.name),
        None => s.name.clone(),
    };
    if let Some((k, v)) = &s.select {
        out.push_str(&format!("[{k} eq \"{v}\"]"));
    }
    if let Some(sub) = &s.sub {
        out.push('.');
        out.push_str(sub);
    }
    out
}

fn active_rule(
    disable: &DisableAction,
    ot: &ObjectTypeSchema,
    _scim: bool,
) -> Result<ActiveRule, String> {
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

/// Parses a map key into where it points in a SCIM resource.
fn parse_scim_side(path: &str, schema: &ResourceSchema) -> Result<ScimSide, String> {
    let p = PatchPath::parse(path).map_err(|e| e.detail)?;
    let (urn, name) = match &p.attr.urn {
        Some(u) if u.eq_ignore_ascii_case(&schema.core.id) => (None, p.attr.name.clone()),
        Some(u) => {
            let s = schema
                .schema(u)
                .ok_or_else(|| format!("unknown schema {u}"))?;
            (Some(s.id.clone()), p.attr.name.clone())
        }
        None => (None, p.attr.name.clone()),
    };
    let def = schema
        .attribute(urn.as_deref(), &name)
        .cloned()
        .or_else(|| {
            if urn.is_none() {
                schemas::schema::common_attribute(&name)
            } else {
                None
            }
        })
        .ok_or_else(|| "not an attribute of this resource type".to_owned())?;
    let select = match &p.filter {
        None => None,
        Some(Filter::Compare {
            path: fp,
            op: CompareOp::Eq,
            value: Literal::String(v),
        }) if fp.sub.is_none() || fp.urn.is_none() => {
            let sub_name = fp.sub.clone().unwrap_or_else(|| fp.name.clone());
            Some((canonical_sub(&def, &sub_name)?, v.clone()))
        }
        Some(_) => {
            return Err("only a filter of the form [sub eq \"value\"] can be mapped".to_owned());
        }
    };
    let sub = match p.sub_attribute() {
        Some(s) => Some(canonical_sub(&def, s)?),
        None => None,
    };
    Ok(ScimSide {
        urn,
        name: def.name.clone(),
        select,
        sub,
    })
}

fn canonical_sub(def: &AttributeDef, sub: &str) -> Result<String, String> {
    def.sub_attribute(sub)
        .map(|s| s.name.clone())
        .ok_or_else(|| format!("{} has no sub-attribute {sub:?}", def.name))
}

fn container<'a>(resource: &'a Value, urn: Option<&str>) -> Option<&'a Map<String, Value>> {
    let root = resource.as_object()?;
    match urn {
        None => Some(root),
        Some(u) => get_ci(root, u)?.as_object(),
    }
}

/// The raw JSON values at a field's place in a resource (flattened for multi-valued).
fn read_field(resource: &Value, side: &ScimSide) -> Vec<Value> {
    let Some(obj) = container(resource, side.urn.as_deref()) else {
        return Vec::new();
    };
    let Some(top) = get_ci(obj, &side.name) else {
        return Vec::new();
    };
    let pick = |el: &Value| -> Option<Value> {
        match (&side.sub, el) {
            (Some(s), Value::Object(m)) => get_ci(m, s).cloned(),
            (None, Value::Object(m)) => get_ci(m, "value").cloned(),
            (None, v) => Some(v.clone()),
            (Some(_), _) => None,
        }
    };
    match top {
        Value::Array(items) => items
            .iter()
            .filter(|el| match (&side.select, el) {
                (None, _) => true,
                (Some((k, v)), Value::Object(m)) => get_ci(m, k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(v)),
                (Some(_), _) => false,
            })
            .filter_map(pick)
            .filter(|v| !v.is_null())
            .collect(),
        Value::Null => Vec::new(),
        single if side.select.is_none() => {
            pick(single).into_iter().filter(|v| !v.is_null()).collect()
        }
        _ => Vec::new(),
    }
}

/// Writes values at a field's place in a resource.
fn write_field(
    doc: &mut Map<String, Value>,
    side: &ScimSide,
    top: &AttributeDef,
    values: Vec<Value>,
) {
    let obj = match &side.urn {
        None => doc,
        Some(u) => {
            let entry = doc
                .entry(u.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry.as_object_mut() {
                Some(m) => m,
                None => return,
            }
        }
    };
    let complex = top.attr_type == AttrType::Complex;
    if let Some((k, v)) = &side.select {
        let sub = side.sub.clone().unwrap_or_else(|| "value".to_owned());
        let arr = obj
            .entry(side.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !arr.is_array() {
            *arr = Value::Array(Vec::new());
        }
        if let Some(items) = arr.as_array_mut() {
            let pos = items.iter().position(|el| {
                el.get(k.as_str())
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(v))
            });
            let idx = match pos {
                Some(i) => i,
                None => {
                    let mut m = Map::new();
                    m.insert(k.clone(), Value::String(v.clone()));
                    items.push(Value::Object(m));
                    items.len() - 1
                }
            };
            if let Some(Value::Object(el)) = items.get_mut(idx)
                && let Some(first) = values.into_iter().next()
            {
                el.insert(sub, first);
            }
        }
        return;
    }
    let wrap = |v: Value, sub: &str| {
        let mut m = Map::new();
        m.insert(sub.to_owned(), v);
        Value::Object(m)
    };
    let value = match (&side.sub, top.multi_valued, complex) {
        (Some(s), true, _) => Value::Array(values.into_iter().map(|v| wrap(v, s)).collect()),
        (Some(s), false, _) => {
            let entry = obj
                .entry(side.name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let (Value::Object(m), Some(first)) = (entry, values.into_iter().next()) {
                m.insert(s.clone(), first);
            }
            return;
        }
        (None, true, true) => Value::Array(values.into_iter().map(|v| wrap(v, "value")).collect()),
        (None, true, false) => Value::Array(values),
        (None, false, true) => match values.into_iter().next() {
            Some(v) => wrap(v, "value"),
            None => return,
        },
        (None, false, false) => match values.into_iter().next() {
            Some(v) => v,
            None => return,
        },
    };
    obj.insert(side.name.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::{AttributeSchema, ObjectTypeSchema};
    use serde_json::json;

    fn users_table() -> ObjectTypeSchema {
        let a = AttributeSchema::new;
        let mut mv = a("proxyAddresses", AttrKind::String);
        mv.multi_valued = true;
        ObjectTypeSchema {
            name: "User".into(),
            anchor_attribute: "EmployeeId".into(),
            dn_style: DnStyle::Generic,
            attributes: vec![
                a("EmployeeId", AttrKind::String),
                a("UserName", AttrKind::String),
                a("GivenName", AttrKind::String),
                a("Mail", AttrKind::String),
                a("Dept", AttrKind::String),
                a("ManagerId", AttrKind::Reference),
                a("IsActive", AttrKind::Boolean),
                a("Age", AttrKind::Integer),
                mv,
            ],
        }
    }

    fn scim_binding() -> Binding {
        let mut cfg = ResourceMapConfig::default();
        for (k, v) in [
            ("userName", "UserName"),
            ("name.givenName", "GivenName"),
            ("emails[type eq \"work\"].value", "Mail"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "Dept",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "ManagerId",
            ),
        ] {
            cfg.map.insert(k.into(), v.into());
        }
        Binding::scim(
            ResourceKind::User,
            &users_table(),
            &cfg,
            &DisableAction::Set {
                set: "IsActive".into(),
                value: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn scim_map_extracts_what_entra_sends() {
        let b = scim_binding();
        let body = json!({
            "userName": "ada@contoso.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"type": "home", "value": "ada@home"}, {"type": "work", "value": "ada@contoso.com", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "42"}}
        });
        let (attrs, dn) = b.extract(&body).unwrap();
        assert_eq!(dn, None);
        let text = |n: &str| {
            attrs
                .get(n)
                .map(|v| v.iter().map(AttrValue::to_text).collect::<Vec<_>>())
        };
        assert_eq!(text("UserName"), Some(vec!["ada@contoso.com".into()]));
        assert_eq!(text("GivenName"), Some(vec!["Ada".into()]));
        assert_eq!(text("Mail"), Some(vec!["ada@contoso.com".into()]));
        assert_eq!(text("Dept"), Some(vec!["R&D".into()]));
        assert_eq!(
            attrs.get("ManagerId"),
            Some(&vec![AttrValue::Reference("42".into())])
        );
        assert_eq!(b.unique, vec!["UserName".to_owned()]);
        assert_eq!(
            b.active,
            ActiveRule::SetAttribute {
                attribute: "IsActive".into(),
                disabled: false,
                kind: AttrKind::Boolean
            }
        );
    }

    #[test]
    fn render_then_extract_round_trips() {
        let b = scim_binding();
        let mut attrs = Attributes::new();
        attrs.insert("UserName".into(), vec!["u1".into()]);
        attrs.insert("GivenName".into(), vec!["Grace".into()]);
        attrs.insert("Mail".into(), vec!["g@x".into()]);
        attrs.insert("ManagerId".into(), vec![AttrValue::Reference("7".into())]);
        let mut doc = Map::new();
        b.render_into(&mut doc, &attrs, None);
        let doc = Value::Object(doc);
        assert_eq!(doc["name"]["givenName"], "Grace");
        assert_eq!(doc["emails"], json!([{"type": "work", "value": "g@x"}]));
        assert_eq!(
            doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
            json!({"value": "7"})
        );
        let (back, _) = b.extract(&doc).unwrap();
        assert_eq!(back, attrs);
    }

    #[test]
    fn filter_targets_resolve_to_columns() {
        let b = scim_binding();
        let target = |f: &str| match schemas::filter::Filter::parse(f).unwrap() {
            Filter::Compare { path, .. } => b.filter_target(&path),
            other => panic!("{other:?}"),
        };
        assert_eq!(target("id eq \"1\""), Some(FilterTarget::Anchor));
        assert_eq!(
            target("USERNAME eq \"a\""),
            Some(FilterTarget::Attribute("UserName".into()))
        );
        assert_eq!(
            target("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"a\""),
            Some(FilterTarget::Attribute("UserName".into()))
        );
        assert_eq!(
            target("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"7\""),
            Some(FilterTarget::Attribute("ManagerId".into()))
        );
        assert_eq!(target("title eq \"x\""), None);
    }

    #[test]
    fn ecma2host_exposes_every_column_and_the_dn() {
        let b = Binding::ecma2host(
            &users_table(),
            &ResourceMapConfig::default(),
            &DisableAction::Default,
        )
        .unwrap();
        let ext = b.schema.schema(ECMA2HOST_USER_SCHEMA).unwrap();
        let names: Vec<_> = ext.attributes.iter().map(|a| a.name.as_str()).collect();
        assert!(
            names.contains(&"UserName")
                && names.contains(&"-dn-")
                && names.contains(&"proxyAddresses")
        );
        assert_eq!(
            ext.attribute("EmployeeId").unwrap().mutability,
            Mutability::Immutable
        );
        assert!(b.anchor_is_mapped());
        let body = json!({"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User": {
            "EmployeeId": "9", "Age": "41", "proxyAddresses": ["smtp:a@x", "smtp:b@x"], "-dn-": "CN=9,OBJECT=USER"}});
        let (attrs, dn) = b.extract(&body).unwrap();
        assert_eq!(dn.as_deref(), Some("CN=9,OBJECT=USER"));
        assert_eq!(attrs["Age"], vec![AttrValue::Integer(41)]);
        assert_eq!(attrs["proxyAddresses"].len(), 2);
        assert!(b.indexed.iter().any(|(n, _)| n == "UserName"));
        assert!(!b.indexed.iter().any(|(n, _)| n == "proxyAddresses"));
    }

    #[test]
    fn configuration_mistakes_name_the_fix() {
        let bad = |map: &[(&str, &str)]| {
            let mut cfg = ResourceMapConfig::default();
            for (k, v) in map {
                cfg.map.insert((*k).into(), (*v).into());
            }
            Binding::scim(
                ResourceKind::User,
                &users_table(),
                &cfg,
                &DisableAction::Default,
            )
            .unwrap_err()
        };
        assert!(bad(&[("userName", "Nope")]).contains("it has: EmployeeId"));
        assert!(bad(&[("colour", "UserName")]).contains("not an attribute"));
        assert!(bad(&[("id", "EmployeeId")]).contains("always the anchor"));
        assert!(bad(&[("emails[type ne \"work\"].value", "Mail")]).contains("only a filter"));
        assert!(bad(&[]).contains("is empty"));
    }
}
