//! The `ecma2host` schema mode, a drop-in for Microsoft's ECMA host: users only, every exposed
//! connector attribute under the ECMA2Host extension, the DN as `-dn-`, discovered by Entra
//! through `/Schemas` so an Entra app configured for Microsoft's host works unchanged.

use connector_core::{AttrKind, Capabilities, DnStyle, ObjectTypeSchema};
use schemas::resource::ECMA2HOST_USER_SCHEMA;
use schemas::schema::{
    AttrType, AttributeDef, Mutability, Returned, Uniqueness, ecma2host_resource_schema,
};

use super::{
    ActiveRule, Binding, ConnectorSide, DN_ATTRIBUTE, Field, ResourceKind, ScimSide, Traits,
    accept, active_rule, advertise, indexable, list_names, secret_attributes, traits_of,
};
use crate::config::{DisableAction, ResourceMapConfig};

impl Binding {
    /// The `ecma2host` drop-in binding for users of `ot`, on a target with `caps`.
    pub fn ecma2host(
        ot: &ObjectTypeSchema,
        cfg: &ResourceMapConfig,
        disable: &DisableAction,
        caps: &Capabilities,
    ) -> Result<Binding, String> {
        let exposed: Vec<_> = match &cfg.expose {
            None => ot.attributes.iter().collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    ot.attribute(n).ok_or_else(|| {
                        format!(
                            "users.expose names {n:?}, which {} does not have; it has: {}",
                            ot.name,
                            list_names(ot)
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let active = active_rule(disable, ot)?;
        let mut defs = Vec::new();
        let mut fields = Vec::new();
        for a in exposed {
            let plain = AttributeDef::new(a.name.clone(), kind_to_scim(a.kind))
                .with_multi_valued(a.multi_valued)
                .with_case_exact(a.case_exact);
            let mut traits = traits_of(&plain, a, ot, caps);
            // The attribute `active` sets (`disable = { set = … }`) is written through `active`.
            if matches!(&active, ActiveRule::SetAttribute { attribute, .. } if attribute == &a.name)
            {
                traits.mutability = Mutability::ReadOnly;
                traits.required = false;
            }
            let def = plain
                .with_mutability(traits.mutability)
                .with_returned(traits.returned)
                .with_required(traits.required)
                .with_uniqueness(traits.uniqueness);
            fields.push(Field {
                scim: ecma2host_side(&a.name),
                connector: ConnectorSide::Attribute(a.name.clone()),
                kind: a.kind,
                multi_valued: a.multi_valued,
                value_type: def.attr_type,
                case_exact: a.case_exact,
                top: def.clone(),
                traits,
            });
            defs.push(def);
        }
        if ot.dn_style != DnStyle::None {
            // A DN is unique; it is set on create and changes only where the target renames.
            let traits = Traits {
                mutability: if caps.renames {
                    Mutability::ReadWrite
                } else {
                    Mutability::Immutable
                },
                returned: Returned::Default,
                required: false,
                uniqueness: Uniqueness::Server,
            };
            let def = AttributeDef::new(DN_ATTRIBUTE, AttrType::String)
                .with_mutability(traits.mutability)
                .with_uniqueness(traits.uniqueness);
            fields.push(Field {
                scim: ecma2host_side(DN_ATTRIBUTE),
                connector: ConnectorSide::Dn,
                kind: AttrKind::String,
                multi_valued: false,
                value_type: AttrType::String,
                case_exact: false,
                top: def.clone(),
                traits,
            });
            defs.push(def);
        }
        let (schema, input) =
            advertise::schemas(&ecma2host_resource_schema(&defs), &fields, &["active"]);
        let ignore =
            accept::ignore_rules(cfg.ignore.as_deref(), ResourceKind::User, &input, &fields)?;
        let indexed = if cfg.match_attributes.is_empty() {
            ot.attributes
                .iter()
                .filter(|a| indexable(a.kind) && !a.multi_valued)
                .map(|a| (a.name.clone(), a.case_exact))
                .collect()
        } else {
            cfg.match_attributes
                .iter()
                .map(|n| match ot.attribute(n) {
                    Some(a) if a.kind == AttrKind::Secret => Err(format!(
                        "users.match_attributes names {n:?}, a secret: secrets are never stored, so they cannot be matched"
                    )),
                    Some(a) => Ok((a.name.clone(), a.case_exact)),
                    None => Err(format!(
                        "users.match_attributes names unknown attribute {n:?}"
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Binding {
            kind: ResourceKind::User,
            schema,
            input,
            ignore,
            object_type: ot.name.clone(),
            anchor_attribute: ot.anchor_attribute.clone(),
            dn_style: ot.dn_style,
            fields,
            active,
            unique: Vec::new(),
            indexed,
            secrets: secret_attributes(ot),
        })
    }
}

/// Where connector attribute `name` sits in the ECMA2Host schema.
fn ecma2host_side(name: &str) -> ScimSide {
    ScimSide {
        urn: Some(ECMA2HOST_USER_SCHEMA.to_owned()),
        name: name.to_owned(),
        select: None,
        sub: None,
    }
}

fn kind_to_scim(kind: AttrKind) -> AttrType {
    match kind {
        AttrKind::String => AttrType::String,
        AttrKind::Integer => AttrType::Integer,
        AttrKind::Boolean => AttrType::Boolean,
        AttrKind::DateTime => AttrType::DateTime,
        AttrKind::Binary => AttrType::Binary,
        AttrKind::Reference | AttrKind::Secret => AttrType::String,
    }
}
