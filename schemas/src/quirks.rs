//! Normalisation of what Microsoft Entra (and other real clients) send into the RFC wire form.
//!
//! Entra's SCIM client deviates from RFC 7643/7644 in documented ways
//! (`/work/shared/reference/entra-ecma.md` D.1–D.3, D.8). Rather than spreading tolerance
//! through the host, everything is normalised here, at the edge, and the rest of the code sees
//! RFC-shaped resources. The accepted deviations:
//!
//! 1. **`op` in any case** (`Add`, `REPLACE`, `remove`): see [`crate::patch::PatchOpKind`].
//! 2. **Booleans as strings**: `"True"`, `"False"`, `"true"`, `"false"` for a `boolean`
//!    attribute become JSON booleans, in PATCH values, no-path value objects and POST/PUT
//!    bodies. Other strings for a boolean attribute are `invalidValue`.
//! 3. **No-path PATCH with dotted and URN keys**: `{"name.givenName": "y",
//!    "urn:…:enterprise:2.0:User:employeeNumber": "7"}` is applied as one operation per key,
//!    each with that key as its path (see [`crate::patch`]).
//! 4. **Member removal by value**: `{"op":"Remove","path":"members","value":[{"value":"u1"}]}`
//!    removes exactly the listed values (matched on `value`), where an RFC-strict server would
//!    remove every member; `members[value eq "u1"]` works too (see [`crate::patch`]).
//! 5. **Manager shapes**: a single-valued complex attribute with a `value` sub-attribute (the
//!    enterprise `manager`) given as a plain string (`"271"`), as an array of one object
//!    (`[{"$ref": "…", "value": "271"}]`) or as an object is stored as an object
//!    (`{"value": "271"}`, plus whatever other known sub-attributes were sent). An empty array
//!    clears it.
//! 6. **Extension attributes without their URN in `schemas`**, including top-level keys such as
//!    `"urn:…:ECMA2Host:2.0:User:ContosoLogin": "x"`, are moved under the extension object and
//!    the URN is added to `schemas`.
//! 7. **`null` values are dropped** (`"$ref": null` in members, `null` attributes in bodies):
//!    RFC 7643 §2.5 makes null equivalent to unassigned.
//! 8. **Value-path creation**: `add`/`replace` on `emails[type eq "work"].value` when no
//!    element matches creates `{"type": "work", "value": …}` (see [`crate::patch`]).
//!
//! 9. **Numbers and numeric strings**: a number sent for a `string` or `reference` attribute
//!    (`"employeeNumber": 42`) becomes its decimal text, and a string holding a whole number
//!    sent for an `integer` attribute (`"7"`, as ECMA-style targets often receive) becomes the
//!    number. Any other mismatch is `invalidValue`.
//!
//! Besides, key case is normalised to the schema's spelling, a single value for a multi-valued
//! attribute is wrapped in an array, and `display` and `primary` are accepted in any
//! multi-valued complex value (RFC 7643 §2.4 lists them as standard sub-attributes even where
//! a schema omits them, and RFC 7644's own examples use them that way).
//! In bodies, `readOnly` attributes other than `id` and `meta` are silently dropped
//! (RFC 7643 §7: "SHALL be ignored"), and so are `readOnly` sub-attributes in any value.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimType};
use crate::filter::parse::Parser;
use crate::filter::resolve_attr;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema};

/// Which error an unknown name produces: `invalidValue` in a body (the body does not fit the
/// resource's schema: RFC 7644 §3.12, as for any attribute outside what the service provider
/// holds), `invalidPath` in PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Body,
    Patch,
}

impl Context {
    pub(crate) fn unknown(self, what: impl std::fmt::Display) -> ScimError {
        match self {
            Context::Body => ScimError::invalid_value(format!("unknown attribute {what}")),
            Context::Patch => ScimError::invalid_path(format!("unknown attribute {what}")),
        }
    }
}

fn mismatch(label: &str, expected: &str, got: &Value) -> ScimError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ScimError::invalid_value(format!("\"{label}\" must be {expected}, not {kind}"))
}

/// Normalises `value` for attribute `def` (see the module docs); `None` means "unassigned".
/// Multi-valued attributes always yield an array.
pub(crate) fn coerce(
    value: Value,
    def: &AttributeDef,
    label: &str,
    ctx: Context,
) -> Result<Option<Value>, ScimError> {
    if !def.multi_valued {
        return coerce_single(value, def, label, ctx);
    }
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = coerce_single(item, def, label, ctx)? {
            out.push(v);
        }
    }
    Ok(Some(Value::Array(out)))
}

/// Normalises one value (one element of a multi-valued attribute, or a single value).
pub(crate) fn coerce_single(
    value: Value,
    def: &AttributeDef,
    label: &str,
    ctx: Context,
) -> Result<Option<Value>, ScimError> {
    let v = match (def.attr_type, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(b),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (AttrType::Boolean, other) => return Err(mismatch(label, "a boolean", &other)),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => {
            Value::String(s)
        }
        // Quirk 9: numbers where strings are expected, and numeric strings where numbers are.
        (AttrType::String | AttrType::Reference, Value::Number(n)) => Value::String(n.to_string()),
        (AttrType::String | AttrType::Reference | AttrType::Binary, other) => {
            return Err(mismatch(label, "a string", &other));
        }
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        (AttrType::Integer, Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Value::from(s.trim().parse::<i64>().unwrap_or_default())
        }
        (AttrType::Integer, other) => return Err(mismatch(label, "an integer", &other)),
        (AttrType::Decimal, Value::Number(n)) => Value::Number(n),
        (AttrType::Decimal, other) => return Err(mismatch(label, "a number", &other)),
        (AttrType::DateTime, Value::String(s)) => {
            if OffsetDateTime::parse(&s, &Rfc3339).is_err() {
                return Err(ScimError::invalid_value(format!(
                    "\"{label}\" must be an RFC 3339 date-time such as \"2024-05-13T04:42:34Z\", not {s:?}"
                )));
            }
            Value::String(s)
        }
        (AttrType::DateTime, other) => return Err(mismatch(label, "a date-time string", &other)),
        (AttrType::Complex, Value::Object(o)) => return coerce_object(o, def, label, ctx),
        // Quirk 5: manager as a plain string or a one-element array.
        (AttrType::Complex, Value::String(s)) if def.sub_attribute("value").is_some() => {
            let mut o = Map::new();
            o.insert(sub_name(def, "value"), Value::String(s));
            Value::Object(o)
        }
        (AttrType::Complex, Value::Array(items)) if !def.multi_valued && items.len() <= 1 => {
            return match items.into_iter().next() {
                None => Ok(None),
                Some(item) => coerce_single(item, def, label, ctx),
            };
        }
        (AttrType::Complex, other) => return Err(mismatch(label, "an object", &other)),
    };
    Ok(Some(v))
}

fn sub_name(def: &AttributeDef, name: &str) -> String {
    def.sub_attribute(name)
        .map_or_else(|| name.to_owned(), |d| d.name.clone())
}

fn coerce_object(
    o: Map<String, Value>,
    def: &AttributeDef,
    label: &str,
    ctx: Context,
) -> Result<Option<Value>, ScimError> {
    if def.sub_attributes.is_empty() {
        return Ok(Some(Value::Object(o)));
    }
    let mut out = Map::new();
    for (k, v) in o {
        let Some(sub) = def.sub_attribute(&k) else {
            // RFC 7643 §2.4 standard sub-attributes, which some schemas omit (Group
            // `members.display`, User `addresses.primary`, both used in RFC 7644 examples).
            let standard = [("display", false), ("primary", true)]
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&k));
            if def.multi_valued
                && let Some((n, boolean)) = standard
            {
                let v = if boolean {
                    coerce_single(v, &AttributeDef::new(n, AttrType::Boolean), n, ctx)?
                } else {
                    coerce_single(v, &AttributeDef::new(n, AttrType::String), n, ctx)?
                };
                if let Some(v) = v {
                    out.insert(n.into(), v);
                }
                continue;
            }
            return Err(ctx.unknown(format_args!("\"{label}.{k}\"")));
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        let sub_label = format!("{label}.{}", sub.name);
        if let Some(v) = coerce(v, sub, &sub_label, ctx)? {
            out.insert(sub.name.clone(), v);
        }
    }
    Ok(Some(Value::Object(out)))
}

/// A key of a body or of a no-path PATCH value, resolved against the schema.
pub(crate) struct KeyTarget<'s> {
    /// The extension URN (canonical), `None` for core and common attributes.
    pub ext: Option<&'s str>,
    pub def: &'s AttributeDef,
    pub sub: Option<&'s AttributeDef>,
}

/// Resolves `key` (`userName`, `name.givenName`, `urn:…:User:manager`), optionally inside the
/// extension object `within`.
pub(crate) fn resolve_key<'s>(
    schema: &'s ResourceSchema,
    within: Option<&str>,
    key: &str,
    ctx: Context,
) -> Result<KeyTarget<'s>, ScimError> {
    let kind = match ctx {
        Context::Body => ScimType::InvalidSyntax,
        Context::Patch => ScimType::InvalidPath,
    };
    let unknown = || ctx.unknown(format_args!("\"{key}\""));
    let mut p = Parser::new(key, kind).map_err(|_| unknown())?;
    let path = p.attr_path().map_err(|_| unknown())?;
    if !p.at_end() {
        return Err(unknown());
    }
    let urn = match (within, path.urn.as_deref()) {
        (Some(_), Some(_)) => return Err(unknown()),
        (Some(w), None) => Some(w),
        (None, u) => u,
    };
    let (ext, def) = resolve_attr(schema, urn, &path.name).ok_or_else(unknown)?;
    let sub = match &path.sub {
        None => None,
        Some(s) => Some(def.sub_attribute(s).ok_or_else(unknown)?),
    };
    Ok(KeyTarget { ext, def, sub })
}

/// Normalises a POST/PUT body (see the module docs for each rule): key case → the schema's
/// spelling, extension attributes nested under their URN with the URN added to `schemas`,
/// boolean strings, manager shapes, nulls dropped, `readOnly` attributes other than `id` and
/// `meta` dropped. An unknown attribute, or a value of the wrong type, is `400 invalidValue`
/// naming it.
pub fn normalize_resource(body: Value, schema: &ResourceSchema) -> Result<Value, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "a resource must be a JSON object",
        ));
    };
    let mut schemas: Vec<Value> = Vec::new();
    let mut out = Map::new();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            match value {
                Value::Array(items) if items.iter().all(Value::is_string) => schemas = items,
                Value::Null => {}
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "\"schemas\" must be an array of schema URNs",
                    ));
                }
            }
            continue;
        }
        if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
            let canonical = if key.eq_ignore_ascii_case("id") {
                "id"
            } else {
                "meta"
            };
            out.insert(canonical.into(), value);
            continue;
        }
        // An extension object, or the core schema URN used as an object key.
        if let Some(s) = schema.schema(&key) {
            let Value::Object(inner) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_syntax(format!(
                    "\"{key}\" must be an object of {} attributes",
                    s.name
                )));
            };
            let within = (!std::ptr::eq(s, &schema.core)).then_some(s.id.as_str());
            for (k, v) in inner {
                let target = resolve_key(schema, within, &k, Context::Body)?;
                put(&mut out, &target, v)?;
            }
            continue;
        }
        let target = resolve_key(schema, None, &key, Context::Body)?;
        put(&mut out, &target, value)?;
    }
    // Every extension present is declared in `schemas`, the core URN first if missing.
    if !schemas.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(&schema.core.id))
    }) {
        schemas.insert(0, Value::String(schema.core.id.clone()));
    }
    for (ext, _) in &schema.extensions {
        ensure_schema_urn(&mut schemas, &out, &ext.id);
    }
    let mut result = Map::new();
    result.insert("schemas".into(), Value::Array(schemas));
    result.extend(out);
    Ok(Value::Object(result))
}

fn ensure_schema_urn(schemas: &mut Vec<Value>, out: &Map<String, Value>, urn: &str) {
    let present = out
        .get(urn)
        .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    let listed = schemas
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    if present && !listed {
        schemas.push(Value::String(urn.to_owned()));
    }
}

/// Writes one body key into the nested output.
fn put(
    out: &mut Map<String, Value>,
    target: &KeyTarget<'_>,
    value: Value,
) -> Result<(), ScimError> {
    let top_read_only = target.def.mutability == Mutability::ReadOnly;
    if top_read_only
        || target
            .sub
            .is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    let (def, label) = match target.sub {
        Some(sub) => (sub, format!("{}.{}", target.def.name, sub.name)),
        None => (target.def, target.def.name.clone()),
    };
    let Some(value) = coerce(value, def, &label, Context::Body)? else {
        return Ok(());
    };
    let container = match target.ext {
        None => out,
        Some(ext) => {
            let slot = out
                .entry(ext.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot.as_object_mut() {
                Some(o) => o,
                None => return Ok(()),
            }
        }
    };
    match target.sub {
        None => {
            // `name` after `name.givenName`: merge rather than lose the earlier key.
            match (container.get_mut(&target.def.name), value) {
                (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                (_, value) => {
                    container.insert(target.def.name.clone(), value);
                }
            }
        }
        Some(sub) => {
            let parent = container
                .entry(target.def.name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            if let Some(p) = parent.as_object_mut() {
                p.insert(sub.name.clone(), value);
            }
        }
    }
    Ok(())
}
