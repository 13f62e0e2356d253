//! The advertised schema (DESIGN §3, RFC 7643 §7): what `/Schemas` and `/ResourceTypes` say a
//! binding holds, derived from its fields so that it cannot drift from them.
//!
//! From the protocol's definition of the resource type (RFC 7643's User, EnterpriseUser and
//! Group, or the ECMA2Host extension built from the exposed columns) only what a field maps is
//! kept: each mapped top-level attribute, and of a complex one only its mapped sub-attributes,
//! the sub-attribute that selects among its values (`type` of `emails[type eq "work"]`, with the
//! selected values as `canonicalValues`), each with the field's [`Traits`]. An extension
//! appears only when something in it is mapped. `externalId`, a common attribute no schema
//! lists (RFC 7643 §3.1 allows listing it), is listed when it is mapped, so a schema-driven
//! client can tell it is held.
//!
//! The *input* schema requests are read with is the protocol's whole definition with the
//! mapped parts characterised the same way: it parses everything the protocol defines, so a
//! write naming an attribute this binding does not hold reaches `accept`, which names it.

use schemas::schema::{
    AttrType, AttributeDef, Mutability, ResourceSchema, Returned, SchemaDef, Uniqueness,
    common_attribute,
};

use super::{Field, Traits};

/// The advertised and the input schema of a binding whose resource type the protocol defines
/// as `protocol`. `always` names core attributes held without a field (`active`, which the
/// deprovisioning rule handles).
pub(super) fn schemas(
    protocol: &ResourceSchema,
    fields: &[Field],
    always: &[&str],
) -> (ResourceSchema, ResourceSchema) {
    let mut input = protocol.clone();
    let (mut core, input_core) = characterise_schema(&protocol.core, None, fields, always);
    input.core.attributes = input_core;
    // Mapped common attributes (`externalId`): listed first, and known to the input schema
    // with the same characteristics.
    let mut common: Vec<AttributeDef> = Vec::new();
    for f in fields.iter().filter(|f| f.scim.urn.is_none()) {
        if protocol.core.attribute(&f.scim.name).is_some()
            || common.iter().any(|c| c.name == f.scim.name)
        {
            continue;
        }
        if let Some(def) = common_attribute(&f.scim.name) {
            let (adv, inp) = characterise(&def, &on(fields, None, &def.name));
            common.push(adv);
            input.core.attributes.insert(0, inp);
        }
    }
    common.append(&mut core);
    let mut extensions = Vec::new();
    for ((ext, required), (input_ext, _)) in protocol.extensions.iter().zip(&mut input.extensions) {
        let (held, characterised) = characterise_schema(ext, Some(&ext.id), fields, &[]);
        input_ext.attributes = characterised;
        if !held.is_empty() {
            extensions.push((with_attributes(ext, held), *required));
        }
    }
    let advertised = ResourceSchema {
        name: protocol.name.clone(),
        endpoint: protocol.endpoint.clone(),
        core: with_attributes(&protocol.core, common),
        extensions,
    };
    (advertised, input)
}

/// The fields on attribute `name` of schema `urn` (None: core).
fn on<'f>(fields: &'f [Field], urn: Option<&str>, name: &str) -> Vec<&'f Field> {
    fields
        .iter()
        .filter(|f| {
            let same_urn = match (&f.scim.urn, urn) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            };
            same_urn && f.scim.name.eq_ignore_ascii_case(name)
        })
        .collect()
}

/// The held attributes of `schema` (advertised) and all its attributes, characterised (input).
fn characterise_schema(
    schema: &SchemaDef,
    urn: Option<&str>,
    fields: &[Field],
    always: &[&str],
) -> (Vec<AttributeDef>, Vec<AttributeDef>) {
    let mut held = Vec::new();
    let mut all = Vec::with_capacity(schema.attributes.len());
    for def in &schema.attributes {
        let mapped = on(fields, urn, &def.name);
        if mapped.is_empty() {
            if always.iter().any(|a| a.eq_ignore_ascii_case(&def.name)) {
                held.push(def.clone());
            }
            all.push(def.clone());
            continue;
        }
        let (adv, inp) = characterise(def, &mapped);
        held.push(adv);
        all.push(inp);
    }
    (held, all)
}

fn with_attributes(schema: &SchemaDef, attributes: Vec<AttributeDef>) -> SchemaDef {
    SchemaDef {
        attributes,
        ..schema.clone()
    }
}

/// One mapped top-level attribute: as advertised (only what is held), and as the input schema
/// reads it (everything the protocol defines, the held parts characterised).
fn characterise(def: &AttributeDef, fields: &[&Field]) -> (AttributeDef, AttributeDef) {
    if def.attr_type != AttrType::Complex {
        let traits = merged(fields.iter().map(|f| f.traits));
        let mut d = def.clone();
        apply(&mut d, traits);
        return (d.clone(), d);
    }
    let mut input = def.clone();
    let mut held_subs = Vec::new();
    let mut value_traits = Vec::new();
    for (i, sub) in def.sub_attributes.iter().enumerate() {
        let holding: Vec<Traits> = fields
            .iter()
            .filter(|f| {
                f.value_sub()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&sub.name))
            })
            .map(|f| f.traits)
            .collect();
        if !holding.is_empty() {
            let traits = merged(holding.iter().copied());
            value_traits.push(traits);
            let mut d = sub.clone();
            apply(&mut d, traits);
            if let Some(slot) = input.sub_attributes.get_mut(i) {
                *slot = d.clone();
            }
            held_subs.push(d);
            continue;
        }
        let mut selected: Vec<String> = Vec::new();
        for f in fields {
            if let Some((k, v)) = &f.scim.select
                && k.eq_ignore_ascii_case(&sub.name)
                && !selected.iter().any(|s| s.eq_ignore_ascii_case(v))
            {
                selected.push(v.clone());
            }
        }
        if !selected.is_empty() {
            let mut d = sub.clone();
            if d.attr_type == AttrType::String {
                d.canonical_values = selected;
            }
            held_subs.push(d);
        }
    }
    let required = value_traits.iter().any(|t| t.required);
    let read_only = !value_traits.is_empty()
        && value_traits
            .iter()
            .all(|t| t.mutability == Mutability::ReadOnly);
    let never =
        !value_traits.is_empty() && value_traits.iter().all(|t| t.returned == Returned::Never);
    input.required = required;
    if read_only {
        input.mutability = Mutability::ReadOnly;
    }
    if never {
        input.returned = Returned::Never;
    }
    let advertised = AttributeDef {
        sub_attributes: held_subs,
        ..input.clone()
    };
    (advertised, input)
}

/// The characteristics of values held by several fields: what all of them share, else the
/// protocol's default; required or unique when any is.
fn merged(traits: impl Iterator<Item = Traits>) -> Traits {
    let mut out: Option<Traits> = None;
    for t in traits {
        out = Some(match out {
            None => t,
            Some(o) => Traits {
                mutability: if o.mutability == t.mutability {
                    o.mutability
                } else {
                    Mutability::ReadWrite
                },
                returned: if o.returned == t.returned {
                    o.returned
                } else {
                    Returned::Default
                },
                required: o.required || t.required,
                uniqueness: if o.uniqueness != Uniqueness::None {
                    o.uniqueness
                } else {
                    t.uniqueness
                },
            },
        });
    }
    out.unwrap_or(Traits {
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        required: false,
        uniqueness: Uniqueness::None,
    })
}

fn apply(def: &mut AttributeDef, t: Traits) {
    def.mutability = t.mutability;
    def.returned = t.returned;
    def.required = t.required;
    def.uniqueness = t.uniqueness;
}
