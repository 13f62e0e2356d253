//! Filter evaluation against a resource in wire form.
//!
//! The rules are documented on [`crate::filter`] ("Evaluation").

use std::cmp::Ordering;
use std::sync::LazyLock;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AttrPath, CompareOp, Filter, Literal, resolve_attr};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema};

/// Where paths are resolved: a whole resource, or one value of a complex attribute.
pub(crate) enum Scope<'a> {
    Resource(&'a ResourceSchema),
    Element(Option<&'a AttributeDef>),
}

static COMMON: LazyLock<Vec<AttributeDef>> = LazyLock::new(|| {
    let mut all = crate::schema::common_attributes();
    let mut schemas = AttributeDef::new("schemas", AttrType::Reference);
    schemas.multi_valued = true;
    schemas.mutability = Mutability::ReadOnly;
    all.push(schemas);
    all
});

/// The RFC 7643 §3.1 common attributes (`id`, `externalId`, `meta`, `schemas`), used when a
/// resource schema does not declare them itself; `'static`, unlike [`crate::schema::common_attribute`].
pub(crate) fn common_attribute(name: &str) -> Option<&'static AttributeDef> {
    COMMON.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// `map[key]`, trying the exact key first and then any case.
pub(crate) fn get_ci<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub(crate) fn eval(f: &Filter, v: &Value, scope: &Scope<'_>) -> bool {
    match f {
        Filter::And(..) => f.chain().into_iter().all(|t| eval(t, v, scope)),
        Filter::Or(..) => f.chain().into_iter().any(|t| eval(t, v, scope)),
        Filter::Not(inner) => !eval(inner, v, scope),
        Filter::Present(path) => {
            let (vals, _) = candidates(path, v, scope, false);
            vals.into_iter().any(is_present)
        }
        Filter::Compare { path, op, value } => {
            let (vals, def) = candidates(path, v, scope, true);
            compare_all(&vals, def, *op, value)
        }
        Filter::ValuePath { attr, filter } => {
            if attr.sub.is_some() {
                return false;
            }
            let Some((val, def)) = lookup(attr, v, scope) else {
                return false;
            };
            let inner = Scope::Element(def);
            match val {
                Value::Array(items) => items.iter().any(|e| eval(filter, e, &inner)),
                Value::Object(_) => eval(filter, val, &inner),
                _ => false,
            }
        }
    }
}

/// The attribute's value and definition (ignoring `path.sub`).
fn lookup<'v, 's>(
    path: &AttrPath,
    v: &'v Value,
    scope: &Scope<'s>,
) -> Option<(&'v Value, Option<&'s AttributeDef>)> {
    let obj = v.as_object()?;
    match scope {
        Scope::Resource(schema) => {
            let resolved = resolve_attr(schema, path.urn.as_deref(), &path.name);
            let container = match (&path.urn, resolved) {
                (_, Some((Some(ext), _))) => get_ci(obj, ext)?.as_object()?,
                (Some(u), None) if !schema.core.id.eq_ignore_ascii_case(u) => {
                    get_ci(obj, u)?.as_object()?
                }
                _ => obj,
            };
            Some((get_ci(container, &path.name)?, resolved.map(|(_, d)| d)))
        }
        Scope::Element(parent) => {
            if path.urn.is_some() {
                return None;
            }
            let def = parent.and_then(|p| p.sub_attribute(&path.name));
            Some((get_ci(obj, &path.name)?, def))
        }
    }
}

/// The values a comparison looks at, flattened over multi-valued attributes, and their
/// definition. With `implicit_value`, complex values stand for their `value` sub-attribute.
fn candidates<'v, 's>(
    path: &AttrPath,
    v: &'v Value,
    scope: &Scope<'s>,
    implicit_value: bool,
) -> (Vec<&'v Value>, Option<&'s AttributeDef>) {
    let Some((val, def)) = lookup(path, v, scope) else {
        return (Vec::new(), None);
    };
    if matches!(scope, Scope::Element(_)) && path.sub.is_some() {
        return (Vec::new(), None);
    }
    let items: Vec<&Value> = match val {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let sub = path
        .sub
        .as_deref()
        .or(if implicit_value { Some("value") } else { None });
    let Some(sub) = sub else {
        return (items, def);
    };
    let sub_def = def.and_then(|d| d.sub_attribute(sub));
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Object(o) => match get_ci(o, sub) {
                Some(Value::Array(a)) => out.extend(a.iter()),
                Some(x) => out.push(x),
                None => {}
            },
            // A simple value stays itself when the comparison implied `.value`.
            other if path.sub.is_none() => out.push(other),
            _ => {}
        }
    }
    let def = if path.sub.is_some() || def.is_some_and(|d| d.attr_type == AttrType::Complex) {
        sub_def
    } else {
        def
    };
    (out, def)
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

fn compare_all(vals: &[&Value], def: Option<&AttributeDef>, op: CompareOp, lit: &Literal) -> bool {
    let present: Vec<&Value> = vals.iter().copied().filter(|v| is_present(v)).collect();
    if *lit == Literal::Null {
        return match op {
            CompareOp::Eq => present.is_empty(),
            CompareOp::Ne => !present.is_empty(),
            _ => false,
        };
    }
    match op {
        CompareOp::Ne => !present.iter().any(|v| compare(v, def, CompareOp::Eq, lit)),
        _ => present.iter().any(|v| compare(v, def, op, lit)),
    }
}

fn ordering_matches(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub(crate) fn cmp_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn compare_strings(a: &str, b: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, b) = if case_exact {
        (a.to_owned(), b.to_owned())
    } else {
        (a.to_lowercase(), b.to_lowercase())
    };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordering_matches(op, a.cmp(&b)),
    }
}

fn compare(v: &Value, def: Option<&AttributeDef>, op: CompareOp, lit: &Literal) -> bool {
    let ty = match def {
        Some(d) => d.attr_type,
        None => match v {
            Value::Bool(_) => AttrType::Boolean,
            Value::Number(_) => AttrType::Decimal,
            Value::Object(_) => AttrType::Complex,
            _ => AttrType::String,
        },
    };
    match ty {
        AttrType::Boolean => match (as_bool(v), lit) {
            (Some(a), Literal::Bool(b)) => ordering_matches(op, a.cmp(b)) && op == CompareOp::Eq,
            (Some(a), Literal::String(s)) => {
                op == CompareOp::Eq && as_bool(&Value::String(s.clone())) == Some(a)
            }
            _ => false,
        },
        AttrType::Integer | AttrType::Decimal => match (v, lit) {
            (Value::Number(a), Literal::Number(b)) => {
                cmp_numbers(a, b).is_some_and(|o| ordering_matches(op, o))
            }
            _ => false,
        },
        AttrType::DateTime => match (v, lit) {
            (Value::String(a), Literal::String(b)) => {
                let parsed = (
                    OffsetDateTime::parse(a, &Rfc3339),
                    OffsetDateTime::parse(b, &Rfc3339),
                );
                match (op, parsed) {
                    (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) => {
                        compare_strings(a, b, op, true)
                    }
                    (_, (Ok(x), Ok(y))) => ordering_matches(op, x.cmp(&y)),
                    _ => compare_strings(a, b, op, true),
                }
            }
            _ => false,
        },
        AttrType::Complex => false,
        AttrType::String | AttrType::Reference | AttrType::Binary => match (v, lit) {
            (Value::String(a), Literal::String(b)) => {
                let exact = def.is_some_and(|d| d.case_exact || d.attr_type == AttrType::Binary);
                compare_strings(a, b, op, exact)
            }
            _ => false,
        },
    }
}
