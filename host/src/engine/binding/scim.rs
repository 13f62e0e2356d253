//! The `scim` schema mode: core User (with the EnterpriseUser extension) and Group, bound to
//! connector attributes through the declarative map of `[connector.users.map]` and
//! `[connector.groups.map]`, whose keys are SCIM attribute paths.

use std::collections::BTreeMap;

use connector_core::{AttrKind, Capabilities, ObjectTypeSchema};
use schemas::filter::{CompareOp, Filter, Literal};
use schemas::path::PatchPath;
use schemas::schema::{
    AttrType, AttributeDef, ENTERPRISE_USER_SCHEMA_URN, ResourceSchema, Uniqueness,
    group_resource_schema, user_resource_schema,
};

use super::{
    ActiveRule, Binding, ConnectorSide, Field, ResourceKind, ScimSide, accept, active_rule,
    advertise, indexable, list_names, secret_attributes, traits_of,
};
use crate::config::{DisableAction, ResourceMapConfig};

impl Binding {
    /// The standard-schema binding of `kind` onto `ot` through the configured map, on a
    /// target with `caps`.
    pub fn scim(
        kind: ResourceKind,
        ot: &ObjectTypeSchema,
        cfg: &ResourceMapConfig,
        disable: &DisableAction,
        caps: &Capabilities,
    ) -> Result<Binding, String> {
        let protocol = match kind {
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
            let side = parse_scim_side(path, &protocol)
                .map_err(|e| format!("{section}: {path:?}: {e}"))?;
            if side.urn.is_none() && side.name.eq_ignore_ascii_case("id") {
                return Err(format!(
                    "{section}: id cannot be mapped; the SCIM id is always the anchor"
                ));
            }
            if side.urn.is_none() && side.name == "active" {
                active_mapped = true;
            }
            let is_password = side.urn.is_none() && side.name == "password";
            if is_password != (a.kind == AttrKind::Secret) {
                return Err(if is_password {
                    format!(
                        "{section}: password maps to {attr:?}, which the connector does not declare \
                         as a secret; declare it so (for SQL: [connector.sql.object.attributes.{attr}] \
                         type = \"secret\"), so it is written but never read back or stored"
                    )
                } else {
                    format!(
                        "{section}: {path:?} maps to {attr:?}, a secret; only password can be \
                         mapped to a secret, which is never read back"
                    )
                });
            }
            let top = protocol
                .attribute(side.urn.as_deref(), &side.name)
                .cloned()
                .or_else(|| schemas::schema::common_attribute(&side.name))
                .ok_or_else(|| format!("{section}: {path:?} is not a SCIM attribute"))?;
            let value_def = match &side.sub {
                Some(s) => top.sub_attribute(s).cloned().unwrap_or_else(|| top.clone()),
                None if top.attr_type == AttrType::Complex => {
                    top.sub_attribute("value").cloned().ok_or_else(|| {
                        format!(
                            "{section}: {path:?} is complex: map its sub-attributes ({})",
                            top.sub_attributes
                                .iter()
                                .map(|s| format!("{}.{}", top.name, s.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?
                }
                None => top.clone(),
            };
            let case_exact = value_def.case_exact;
            let mut traits = traits_of(&value_def, a, ot, caps);
            if kind == ResourceKind::Group && side.urn.is_none() && side.name == "displayName" {
                traits.uniqueness = Uniqueness::Server;
            }
            if traits.uniqueness != Uniqueness::None
                && !a.name.eq_ignore_ascii_case(&ot.anchor_attribute)
            {
                unique.push(a.name.clone());
            }
            if !a.multi_valued && indexable(a.kind) {
                indexed.insert(a.name.clone(), case_exact);
            }
            // A manager or a member is the id of another object: the engine resolves it
            // through the connector space even where the column is plain text.
            let kind_of_value = if names_an_object(&side, kind)
                && matches!(a.kind, AttrKind::String | AttrKind::Integer)
            {
                AttrKind::Reference
            } else {
                a.kind
            };
            fields.push(Field {
                scim: side,
                connector: ConnectorSide::Attribute(a.name.clone()),
                kind: kind_of_value,
                multi_valued: a.multi_valued,
                value_type: value_def.attr_type,
                case_exact,
                top,
                traits,
            });
        }
        for n in &cfg.match_attributes {
            let a = ot
                .attribute(n)
                .ok_or_else(|| format!("match_attributes names unknown attribute {n:?}"))?;
            if a.kind == AttrKind::Secret {
                return Err(format!(
                    "match_attributes names {n:?}, a secret: secrets are never stored, so they \
                     cannot be matched"
                ));
            }
            indexed.insert(a.name.clone(), a.case_exact);
        }
        let active = if kind == ResourceKind::Group {
            ActiveRule::Ignore
        } else if active_mapped {
            ActiveRule::Mapped
        } else {
            active_rule(disable, ot)?
        };
        let always: &[&str] = if kind == ResourceKind::User {
            &["active"]
        } else {
            &[]
        };
        let (schema, input) = advertise::schemas(&protocol, &fields, always);
        let ignore = accept::ignore_rules(cfg.ignore.as_deref(), kind, &input, &fields)?;
        Ok(Binding {
            kind,
            schema,
            input,
            ignore,
            object_type: ot.name.clone(),
            anchor_attribute: ot.anchor_attribute.clone(),
            dn_style: ot.dn_style,
            fields,
            active,
            unique,
            indexed: indexed.into_iter().collect(),
            secrets: secret_attributes(ot),
        })
    }
}

/// Whether the SCIM attribute at `side` holds the id of another object: the enterprise
/// `manager` of a user, the `members` of a group.
fn names_an_object(side: &ScimSide, kind: ResourceKind) -> bool {
    match (kind, side.urn.as_deref()) {
        (ResourceKind::User, Some(u)) => {
            u.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA_URN)
                && side.name == "manager"
                && side.sub.as_deref().is_none_or(|s| s == "value")
        }
        (ResourceKind::Group, None) => {
            side.name == "members" && side.sub.as_deref().is_none_or(|s| s == "value")
        }
        _ => false,
    }
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
