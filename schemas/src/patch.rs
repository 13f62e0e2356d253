//! SCIM PATCH (RFC 7644 §3.5.2): the request body and its atomic application to a resource.
//!
//! [`apply_patch`] works on a copy of the resource and replaces the original only when every
//! operation succeeded, so a failed PATCH changes nothing. Rules, per RFC 7644 §3.5.2.1–3:
//!
//! - **add**: a single-valued attribute is set; a complex one has the given sub-attributes
//!   merged in; a multi-valued one gets the new values appended, skipping values already there
//!   (same JSON, or same `value` and `type`, in which case the new sub-attributes are merged).
//! - **replace**: a single-valued attribute is set, a complex one merged (sub-attributes not
//!   given are left unchanged), a multi-valued one replaced as a whole. With a value filter the
//!   matching values (or their sub-attribute) are replaced.
//! - **remove**: the attribute, sub-attribute or the values matching a filter are removed.
//!   Without a path it is `noTarget`. With `path: "members"` and a `value` array only the
//!   listed values are removed (Entra quirk 4 in [`crate::quirks`]). Removing something
//!   absent succeeds, except a filter that matches nothing, which is `noTarget`.
//! - A `null` value in add/replace clears the target (RFC 7643 §2.5; Entra's validator sends
//!   it to clear); `""` is stored as sent.
//! - Without a path, the value object's keys are paths themselves (`name.givenName`,
//!   `urn:…:User:employeeNumber`, extension URN objects) and each is applied in turn.
//! - Writing an extension attribute creates the extension object and lists its URN in
//!   `schemas`; removing its last attribute removes both.
//! - When a value with `primary: true` is added or replaced, every other value loses primary.
//! - A filter that matches no value is `noTarget` for replace, except that add and replace
//!   through a filter made only of `eq` joined by `and` (`emails[type eq "work"].value`) create
//!   the value from those terms (Entra quirk 8).
//! - A sub-attribute of a multi-valued attribute without a filter (`emails.value`) can only be
//!   removed (from every value); add/replace need a filter and are `invalidPath`.
//!
//! Errors: unknown attribute or malformed path → `invalidPath`; read-only attribute, removal of
//! a required attribute, change of an `immutable` attribute that is already set →
//! `mutability`; wrong value type → `invalidValue`; an unknown `op` → `invalidSyntax` (when
//! parsing the request). Each error detail starts with `Operations[i]:`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{Filter, resolve_attr};
use crate::path::PatchPath;
use crate::quirks::{Context, coerce, coerce_single, resolve_key};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema};

/// URN of the PATCH request message.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A PATCH request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// Normally `[PATCH_OP_SCHEMA]`; not enforced.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// Parses a request body; any malformation (including an unknown `op`) is `invalidSyntax`.
    pub fn from_slice(body: &[u8]) -> Result<PatchRequest, ScimError> {
        serde_json::from_slice(body)
            .map_err(|e| ScimError::invalid_syntax(format!("invalid PATCH request: {e}")))
    }

    /// As [`PatchRequest::from_slice`], from a parsed JSON value.
    pub fn from_value(body: Value) -> Result<PatchRequest, ScimError> {
        serde_json::from_value(body)
            .map_err(|e| ScimError::invalid_syntax(format!("invalid PATCH request: {e}")))
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `None` when absent; `Some(Value::Null)` when sent as `null`.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
}

fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The PATCH operation kind; deserialised case-insensitively (Entra sends `Add`, `Replace`,
/// `Remove`), serialised in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    /// The RFC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

impl Serialize for PatchOpKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PatchOpKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown PATCH op {s:?}: expected add, replace or remove"
                ))
            })
    }
}

/// Applies `ops` to `resource` atomically (see the module docs).
pub fn apply_patch(
    resource: &mut Value,
    ops: &[PatchOperation],
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let mut work = resource.clone();
    let Some(doc) = work.as_object_mut() else {
        return Err(ScimError::invalid_syntax(
            "a resource must be a JSON object",
        ));
    };
    for (i, op) in ops.iter().enumerate() {
        apply_operation(doc, op, schema).map_err(|e| ScimError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        })?;
    }
    *resource = work;
    Ok(())
}

struct Target<'s, 'f> {
    ext: Option<&'s str>,
    def: &'s AttributeDef,
    sub: Option<&'s AttributeDef>,
    filter: Option<&'f Filter>,
    label: String,
}

fn apply_operation(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        return apply_without_path(doc, op, schema);
    };
    let pp = PatchPath::parse(path)?;
    if pp.filter.is_none()
        && pp.sub_attribute().is_none()
        && let Some(urn) = &pp.attr.urn
        && let Some(s) = schema.schema(&format!("{urn}:{}", pp.attr.name))
        && !std::ptr::eq(s, &schema.core)
    {
        return apply_to_extension(doc, op, &s.id, schema);
    }
    let unknown = || ScimError::invalid_path(format!("unknown attribute \"{path}\""));
    let (ext, def) =
        resolve_attr(schema, pp.attr.urn.as_deref(), &pp.attr.name).ok_or_else(unknown)?;
    let sub = match pp.sub_attribute() {
        None => None,
        Some(s) => Some(def.sub_attribute(s).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "unknown attribute \"{}.{s}\" in path \"{path}\"",
                def.name
            ))
        })?),
    };
    if pp.filter.is_some() && def.attr_type != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "\"{}\" is not complex and cannot take a value filter",
            def.name
        )));
    }
    let label = match sub {
        Some(s) => format!("{}.{}", def.name, s.name),
        None => def.name.clone(),
    };
    let target = Target {
        ext,
        def,
        sub,
        filter: pp.filter.as_ref(),
        label,
    };
    apply_target(doc, op.op, &target, op.value.clone())
}

fn apply_without_path(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    if op.op == PatchOpKind::Remove {
        return Err(ScimError::no_target("remove needs a path"));
    }
    let Some(Value::Object(obj)) = &op.value else {
        return Err(ScimError::invalid_value(format!(
            "{} without a path needs an object value",
            op.op.as_str()
        )));
    };
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(s) = schema.schema(k)
            && let Value::Object(inner) = v
        {
            let within = (!std::ptr::eq(s, &schema.core)).then_some(s.id.as_str());
            for (k2, v2) in inner {
                let t = resolve_key(schema, within, k2, Context::Patch)?;
                apply_key(doc, op.op, t, v2.clone())?;
            }
            continue;
        }
        let t = resolve_key(schema, None, k, Context::Patch)?;
        apply_key(doc, op.op, t, v.clone())?;
    }
    Ok(())
}

fn apply_key(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: crate::quirks::KeyTarget<'_>,
    value: Value,
) -> Result<(), ScimError> {
    let label = match t.sub {
        Some(s) => format!("{}.{}", t.def.name, s.name),
        None => t.def.name.clone(),
    };
    let target = Target {
        ext: t.ext,
        def: t.def,
        sub: t.sub,
        filter: None,
        label,
    };
    apply_target(doc, kind, &target, Some(value))
}

/// A path naming a whole extension (`urn:…:enterprise:2.0:User`).
fn apply_to_extension(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    urn: &str,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    if op.op == PatchOpKind::Remove {
        if let Some(s) = schema.schema(urn) {
            for a in &s.attributes {
                if a.required {
                    return Err(ScimError::mutability(format!(
                        "\"{urn}:{}\" is required and cannot be removed",
                        a.name
                    )));
                }
            }
        }
        canonicalize_key(doc, urn);
        doc.shift_remove(urn);
        sync_schemas(doc, urn);
        return Ok(());
    }
    let Some(Value::Object(obj)) = &op.value else {
        return Err(ScimError::invalid_value(format!(
            "\"{urn}\" needs an object value"
        )));
    };
    for (k, v) in obj {
        let t = resolve_key(schema, Some(urn), k, Context::Patch)?;
        apply_key(doc, op.op, t, v.clone())?;
    }
    Ok(())
}

/// Renames a key spelled in another case to `name`.
fn canonicalize_key(m: &mut Map<String, Value>, name: &str) {
    if m.contains_key(name) {
        return;
    }
    let found = m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    if let Some(k) = found
        && let Some(v) = m.shift_remove(&k)
    {
        m.insert(name.to_owned(), v);
    }
}

/// Lists `urn` in `schemas` when its extension object is present and non-empty; otherwise
/// removes the empty object and the URN.
fn sync_schemas(doc: &mut Map<String, Value>, urn: &str) {
    let present = doc
        .get(urn)
        .is_some_and(|v| v.as_object().is_none_or(|o| !o.is_empty()));
    if !present {
        doc.shift_remove(urn);
    }
    canonicalize_key(doc, "schemas");
    let schemas = doc
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = schemas else {
        return;
    };
    let listed = list
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    if present && !listed {
        list.push(Value::String(urn.to_owned()));
    } else if !present && listed {
        list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    }
}

fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn read_only(label: &str) -> ScimError {
    ScimError::mutability(format!("\"{label}\" is read-only"))
}

fn required(label: &str) -> ScimError {
    ScimError::mutability(format!("\"{label}\" is required and cannot be removed"))
}

fn immutable(label: &str) -> ScimError {
    ScimError::mutability(format!(
        "\"{label}\" is immutable and already has a different value"
    ))
}

fn apply_target(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_, '_>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    if t.def.mutability == Mutability::ReadOnly
        || t.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(read_only(&t.label));
    }
    let value = match (kind, value) {
        (PatchOpKind::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => {
            return Err(ScimError::invalid_value(format!(
                "{} of \"{}\" needs a value",
                kind.as_str(),
                t.label
            )));
        }
    };
    if let Some(ext) = t.ext {
        canonicalize_key(doc, ext);
        if !doc.get(ext).is_some_and(Value::is_object) {
            if kind == PatchOpKind::Remove {
                return match t.filter {
                    Some(f) => Err(no_match(t, f)),
                    None => Ok(()),
                };
            }
            doc.insert(ext.to_owned(), Value::Object(Map::new()));
        }
    }
    let container = match t.ext {
        None => &mut *doc,
        Some(ext) => match doc.get_mut(ext).and_then(Value::as_object_mut) {
            Some(c) => c,
            None => return Ok(()),
        },
    };
    canonicalize_key(container, &t.def.name);
    let result = match (t.filter, t.sub) {
        (None, None) => whole(container, kind, t, value),
        (None, Some(sd)) => sub_without_filter(container, kind, t, sd, value),
        (Some(f), sd) => filtered(container, kind, t, f, sd, value),
    };
    if let Some(ext) = t.ext {
        sync_schemas(doc, ext);
    }
    result
}

/// Two values of a multi-valued attribute are the same value: equal JSON, or equal `value`
/// and `type` sub-attributes.
fn same_value(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let get = |m: &Map<String, Value>, k: &str| crate::filter::get_ci(m, k).cloned();
            get(x, "value").is_some()
                && get(x, "value") == get(y, "value")
                && get(x, "type") == get(y, "type")
        }
        _ => false,
    }
}

/// The value to remove (`{"value": "u1"}`) matches an existing value on `value`.
fn listed_for_removal(existing: &Value, listed: &Value) -> bool {
    match (existing, listed) {
        (Value::Object(e), Value::Object(l)) => match crate::filter::get_ci(l, "value") {
            Some(v) => crate::filter::get_ci(e, "value") == Some(v),
            None => existing == listed,
        },
        _ => existing == listed,
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| crate::filter::get_ci(o, "primary"))
        == Some(&Value::Bool(true))
}

/// After values at `touched` were written: if one of them is primary, no other value is.
fn fix_primary(items: &mut [Value], touched: &[usize]) {
    let Some(winner) = touched
        .iter()
        .copied()
        .find(|&i| items.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner
            && is_primary(item)
            && let Some(o) = item.as_object_mut()
        {
            let key = o
                .keys()
                .find(|k| k.eq_ignore_ascii_case("primary"))
                .cloned()
                .unwrap_or_else(|| "primary".into());
            o.insert(key, Value::Bool(false));
        }
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        canonicalize_key(into, &k);
        into.insert(k, v);
    }
}

fn remove_whole(container: &mut Map<String, Value>, t: &Target<'_, '_>) -> Result<(), ScimError> {
    if !is_set(container.get(&t.def.name)) {
        container.shift_remove(&t.def.name);
        return Ok(());
    }
    if t.def.required {
        return Err(required(&t.label));
    }
    if t.def.mutability == Mutability::Immutable {
        return Err(immutable(&t.label));
    }
    container.shift_remove(&t.def.name);
    Ok(())
}

fn whole(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_, '_>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let def = t.def;
    let name = def.name.as_str();
    if kind == PatchOpKind::Remove {
        if let Some(listed) = value.filter(|_| def.multi_valued) {
            // Quirk 4: remove exactly the listed values.
            let Some(Value::Array(listed)) = coerce(listed, def, &t.label, Context::Patch)? else {
                return Ok(());
            };
            if let Some(Value::Array(items)) = container.get_mut(name) {
                items.retain(|e| !listed.iter().any(|l| listed_for_removal(e, l)));
                if items.is_empty() {
                    if def.required {
                        return Err(required(&t.label));
                    }
                    container.shift_remove(name);
                }
            }
            return Ok(());
        }
        return remove_whole(container, t);
    }
    let Some(new) = value
        .map(|v| coerce(v, def, &t.label, Context::Patch))
        .transpose()?
        .flatten()
    else {
        return remove_whole(container, t);
    };
    let existing = container.get(name);
    if def.mutability == Mutability::Immutable && is_set(existing) && existing != Some(&new) {
        return Err(immutable(&t.label));
    }
    if def.multi_valued {
        let Value::Array(new_items) = new else {
            return Ok(());
        };
        if kind == PatchOpKind::Replace || !matches!(existing, Some(Value::Array(_))) {
            if new_items.is_empty() {
                return remove_whole(container, t);
            }
            let touched: Vec<usize> = (0..new_items.len()).collect();
            let mut items = new_items;
            fix_primary(&mut items, &touched);
            container.insert(name.to_owned(), Value::Array(items));
            return Ok(());
        }
        if let Some(Value::Array(items)) = container.get_mut(name) {
            let mut touched = Vec::new();
            for item in new_items {
                match items.iter().position(|e| same_value(e, &item)) {
                    Some(pos) => {
                        if let (Some(Value::Object(e)), Value::Object(n)) =
                            (items.get_mut(pos), item)
                        {
                            merge(e, n);
                        }
                        touched.push(pos);
                    }
                    None => {
                        items.push(item);
                        touched.push(items.len() - 1);
                    }
                }
            }
            fix_primary(items, &touched);
        }
        return Ok(());
    }
    match (container.get_mut(name), new) {
        (Some(Value::Object(e)), Value::Object(n)) if def.attr_type == AttrType::Complex => {
            merge(e, n);
        }
        (_, new) => {
            container.insert(name.to_owned(), new);
        }
    }
    if matches!(container.get(name), Some(Value::Object(o)) if o.is_empty()) {
        container.shift_remove(name);
    }
    Ok(())
}

fn sub_without_filter(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_, '_>,
    sd: &AttributeDef,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let name = t.def.name.as_str();
    if t.def.multi_valued {
        if kind != PatchOpKind::Remove {
            return Err(ScimError::invalid_path(format!(
                "\"{name}\" is multi-valued: select the values to change with a filter, such as {name}[type eq \"work\"].{}",
                sd.name
            )));
        }
        if sd.required {
            return Err(required(&t.label));
        }
        if let Some(Value::Array(items)) = container.get_mut(name) {
            for item in items.iter_mut() {
                if let Some(o) = item.as_object_mut() {
                    canonicalize_key(o, &sd.name);
                    o.shift_remove(&sd.name);
                }
            }
            items.retain(|e| !matches!(e, Value::Object(o) if o.is_empty()));
            if items.is_empty() {
                container.shift_remove(name);
            }
        }
        return Ok(());
    }
    let new = match (kind, value) {
        (PatchOpKind::Remove, _) | (_, None) => None,
        (_, Some(v)) => coerce(v, sd, &t.label, Context::Patch)?,
    };
    let current = container
        .get(name)
        .and_then(Value::as_object)
        .and_then(|o| crate::filter::get_ci(o, &sd.name));
    let current_set = is_set(current);
    match new {
        None => {
            if current_set && sd.required {
                return Err(required(&t.label));
            }
            if current_set && sd.mutability == Mutability::Immutable {
                return Err(immutable(&t.label));
            }
            if let Some(Value::Object(o)) = container.get_mut(name) {
                canonicalize_key(o, &sd.name);
                o.shift_remove(&sd.name);
                if o.is_empty() {
                    container.shift_remove(name);
                }
            }
        }
        Some(v) => {
            if sd.mutability == Mutability::Immutable && current_set && current != Some(&v) {
                return Err(immutable(&t.label));
            }
            let parent = container
                .entry(name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            if let Some(o) = parent.as_object_mut() {
                canonicalize_key(o, &sd.name);
                o.insert(sd.name.clone(), v);
            }
        }
    }
    Ok(())
}

fn no_match(t: &Target<'_, '_>, f: &Filter) -> ScimError {
    ScimError::no_target(format!("no value of \"{}\" matches [{f}]", t.def.name))
}

/// The value an `eq`-only filter describes (`type eq "work"` → `{"type": "work"}`).
fn element_from_terms(def: &AttributeDef, f: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (path, lit) in f.equality_terms()? {
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        let sub = def.sub_attribute(&path.name)?;
        let v = lit.to_json();
        if !v.is_null() {
            out.insert(sub.name.clone(), v);
        }
    }
    Some(out)
}

fn filtered(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_, '_>,
    f: &Filter,
    sd: Option<&AttributeDef>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let def = t.def;
    let name = def.name.as_str();
    // Work on a list even for a single complex value, and put it back at the end.
    // Taken out in place (the key keeps its position) and written back below.
    let taken = container.get_mut(name).map(std::mem::take);
    let (mut items, single) = match taken {
        Some(Value::Array(a)) => (a, false),
        Some(Value::Null) | None => (Vec::new(), !def.multi_valued),
        Some(other) => (vec![other], !def.multi_valued),
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| f.matches_element(e, Some(def)))
        .map(|(i, _)| i)
        .collect();
    let outcome = filtered_items(&mut items, &matched, single, kind, t, f, sd, value);
    if !items.is_empty() {
        let v = if single {
            items.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(items)
        };
        container.insert(name.to_owned(), v);
    } else {
        container.shift_remove(name);
        if outcome.is_ok() && def.required {
            return Err(required(&t.label));
        }
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn filtered_items(
    items: &mut Vec<Value>,
    matched: &[usize],
    single: bool,
    kind: PatchOpKind,
    t: &Target<'_, '_>,
    f: &Filter,
    sd: Option<&AttributeDef>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let def = t.def;
    if kind == PatchOpKind::Remove {
        if matched.is_empty() {
            return Err(no_match(t, f));
        }
        match sd {
            Some(sd) => {
                if sd.required {
                    return Err(required(&t.label));
                }
                for &i in matched {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        canonicalize_key(o, &sd.name);
                        o.shift_remove(&sd.name);
                    }
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !matched.contains(&(i - 1))
                });
            }
        }
        return Ok(());
    }
    let new = match (sd, value) {
        (_, None) => None,
        (Some(sd), Some(v)) => coerce(v, sd, &t.label, Context::Patch)?,
        (None, Some(v)) => coerce_single(v, def, &t.label, Context::Patch)?,
    };
    if matched.is_empty() {
        let Some(mut element) = element_from_terms(def, f) else {
            return Err(no_match(t, f));
        };
        match (sd, new) {
            (_, None) => return Ok(()),
            (Some(sd), Some(v)) => {
                element.insert(sd.name.clone(), v);
            }
            (None, Some(Value::Object(n))) => merge(&mut element, n),
            (None, Some(_)) => return Ok(()),
        }
        if single {
            items.clear();
        }
        items.push(Value::Object(element));
        let touched = [items.len() - 1];
        fix_primary(items, &touched);
        return Ok(());
    }
    for &i in matched {
        let Some(item) = items.get_mut(i) else {
            continue;
        };
        match (sd, &new) {
            (Some(sd), Some(v)) => {
                if let Value::Object(o) = item {
                    canonicalize_key(o, &sd.name);
                    let current = o.get(&sd.name);
                    if sd.mutability == Mutability::Immutable
                        && is_set(current)
                        && current != Some(v)
                    {
                        return Err(immutable(&t.label));
                    }
                    o.insert(sd.name.clone(), v.clone());
                }
            }
            (Some(sd), None) => {
                if let Value::Object(o) = item {
                    canonicalize_key(o, &sd.name);
                    o.shift_remove(&sd.name);
                }
            }
            (None, Some(Value::Object(n))) => match (kind, item.as_object_mut()) {
                (PatchOpKind::Add, Some(o)) => merge(o, n.clone()),
                _ => *item = Value::Object(n.clone()),
            },
            (None, _) => *item = Value::Null,
        }
    }
    items.retain(|v| !v.is_null());
    fix_primary(items, matched);
    Ok(())
}
