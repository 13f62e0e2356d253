//! Which attributes a response carries: the `attributes` and `excludedAttributes` parameters
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned` characteristic
//! (RFC 7643 §7).
//!
//! Every resource the host sends back passes through [`Projection::apply`], so `password`
//! never leaves it and Entra's `excludedAttributes=members` really drops the member list.
//!
//! The rules:
//! - `returned: always` attributes stay whatever the parameters say. `id` and `schemas` are
//!   always returned, as is any attribute or sub-attribute whose schema says `always`.
//! - `returned: never` attributes (and sub-attributes), such as `password`, are always removed.
//! - `returned: request` attributes appear only when `attributes` names them (or a
//!   sub-attribute of them).
//! - `returned: default` attributes, and members the schema does not know (`externalId`,
//!   `meta`, unknown attributes), appear unless `attributes` is given without naming them, or
//!   `excludedAttributes` names them.
//! - A path is `attr`, `attr.sub`, `urn:…:attr` or `urn:…:attr.sub`, case-insensitive; a URN
//!   alone (`urn:…:enterprise:2.0:User`) stands for every attribute of that extension (the core
//!   URN alone for every core attribute). Naming `attr.sub` in `attributes` returns `attr` with
//!   only that sub-attribute (plus `always` ones), in each value of a multi-valued attribute.
//! - When both parameters are given, `attributes` selects first and `excludedAttributes` then
//!   removes from the selection.
//! - A complex value or extension object left empty is removed. The `schemas` array is not
//!   touched: it still lists an extension whose attributes were all projected away, since it
//!   describes the resource, not the response.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::list::split_path_urn;
use crate::schema::{AttributeDef, ResourceSchema, Returned};

/// A parsed `attributes` / `excludedAttributes` pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Paths named in `attributes`; `None` when the parameter was absent or empty.
    pub attributes: Option<Vec<String>>,
    /// Paths named in `excludedAttributes`.
    pub excluded: Vec<String>,
}

/// What a path names once resolved against a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Every attribute of one schema: `None` = core, `Some(urn)` = that extension.
    Schema(Option<String>),
    /// One attribute (of the core when `urn` is `None`), optionally one of its sub-attributes.
    Attr {
        urn: Option<String>,
        name: String,
        sub: Option<String>,
    },
}

impl Projection {
    /// Parses the two comma-separated parameters. Blank items are ignored, an empty parameter
    /// is absent. An item with characters no attribute path has (whitespace inside, quotes,
    /// brackets, or an empty segment as in `name.` or `a..b`) is `400 invalidValue`.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let attributes = match attributes {
            Some(raw) => {
                let list = split_list("attributes", raw)?;
                if list.is_empty() { None } else { Some(list) }
            }
            None => None,
        };
        let excluded = match excluded {
            Some(raw) => split_list("excludedAttributes", raw)?,
            None => Vec::new(),
        };
        Ok(Projection {
            attributes,
            excluded,
        })
    }

    /// Whether this projection changes nothing beyond the `returned` rules.
    pub fn is_default(&self) -> bool {
        self.attributes.is_none() && self.excluded.is_empty()
    }

    /// Projects `resource` (wire form, see the crate docs) in place for the resource type
    /// `schema`. Non-object values are left alone.
    pub fn apply(&self, resource: &mut Value, schema: &ResourceSchema) {
        let Some(obj) = resource.as_object_mut() else {
            return;
        };
        let selected: Option<Vec<Target>> = self
            .attributes
            .as_ref()
            .map(|paths| paths.iter().map(|p| resolve(schema, p)).collect());
        let excluded: Vec<Target> = self.excluded.iter().map(|p| resolve(schema, p)).collect();

        // Filtering in place keeps the members' order and allocates nothing per member
        // (every answer of a lookup passes through here).
        obj.retain(|key, value| {
            if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("id") {
                return true;
            }
            if let Some(urn) = extension_key(schema, key, value) {
                let defs = schema
                    .schema(urn)
                    .map(|s| s.attributes.as_slice())
                    .unwrap_or(&[]);
                if let Value::Object(inner) = value {
                    project_container(inner, Some(urn), defs, selected.as_deref(), &excluded);
                    return !inner.is_empty();
                }
                return true;
            }
            keep_member(
                key,
                value,
                None,
                &schema.core.attributes,
                selected.as_deref(),
                &excluded,
            )
        });
    }
}

fn split_list(param: &str, raw: &str) -> Result<Vec<String>, ScimError> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad_char = item
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '[' | ']' | '(' | ')'));
        // The last colon-separated segment is the attribute path; a URN's own segments
        // (`2.0`) may contain dots, so only that segment is checked for empty parts.
        let attr_part = item.rsplit(':').next().unwrap_or(item);
        let empty_segment = attr_part.split('.').any(str::is_empty) || item.ends_with(':');
        if bad_char || empty_segment {
            return Err(ScimError::invalid_value(format!(
                "{param} contains \"{item}\", which is not an attribute path"
            )));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

/// Resolves a path against the resource type.
fn resolve(schema: &ResourceSchema, path: &str) -> Target {
    if schema.core.id.eq_ignore_ascii_case(path) {
        return Target::Schema(None);
    }
    if let Some((ext, _)) = schema
        .extensions
        .iter()
        .find(|(s, _)| s.id.eq_ignore_ascii_case(path))
    {
        return Target::Schema(Some(ext.id.clone()));
    }
    let (urn, rest) = split_path_urn(schema, path);
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s.to_owned())),
        None => (rest, None),
    };
    Target::Attr {
        urn: urn.map(str::to_owned),
        name: name.to_owned(),
        sub,
    }
}

/// If the top-level member `key` is an extension object, the URN it stands for.
fn extension_key<'a>(schema: &'a ResourceSchema, key: &'a str, value: &Value) -> Option<&'a str> {
    if let Some((ext, _)) = schema
        .extensions
        .iter()
        .find(|(s, _)| s.id.eq_ignore_ascii_case(key))
    {
        return Some(&ext.id);
    }
    let is_urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    (is_urn && value.is_object()).then_some(key)
}

fn same_urn(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// How a list of targets names one attribute.
#[derive(Debug, Default)]
struct Naming {
    /// The attribute itself (or its whole schema) is named.
    whole: bool,
    /// Sub-attributes named as `attr.sub`.
    subs: Vec<String>,
}

fn naming(targets: &[Target], urn: Option<&str>, name: &str) -> Naming {
    let mut n = Naming::default();
    for t in targets {
        match t {
            Target::Schema(u) if same_urn(u.as_deref(), urn) => n.whole = true,
            Target::Attr {
                urn: u,
                name: a,
                sub,
            } if same_urn(u.as_deref(), urn) && a.eq_ignore_ascii_case(name) => match sub {
                None => n.whole = true,
                Some(s) => n.subs.push(s.clone()),
            },
            _ => {}
        }
    }
    n
}

/// Projects the attributes held in `container` (the resource's top level for the core, or an
/// extension object), defined by `defs`.
fn project_container(
    container: &mut Map<String, Value>,
    urn: Option<&str>,
    defs: &[AttributeDef],
    selected: Option<&[Target]>,
    excluded: &[Target],
) {
    container.retain(|key, value| keep_member(key, value, urn, defs, selected, excluded));
}

/// Projects one member of a container in place; false when it is to be left out.
fn keep_member(
    key: &str,
    value: &mut Value,
    urn: Option<&str>,
    defs: &[AttributeDef],
    selected: Option<&[Target]>,
    excluded: &[Target],
) -> bool {
    let def = defs.iter().find(|d| d.name.eq_ignore_ascii_case(key));
    let returned = def.map_or(Returned::Default, |d| d.returned);
    match returned {
        Returned::Never => return false,
        Returned::Always => {
            if let Some(d) = def {
                project_subs(value, d, None, &[]);
            }
            return true;
        }
        Returned::Default | Returned::Request => {}
    }
    let chosen = selected.map(|s| naming(s, urn, key));
    let keep_subs: Option<Vec<String>> = match &chosen {
        Some(n) if n.whole => None,
        Some(n) if !n.subs.is_empty() => Some(n.subs.clone()),
        Some(_) => return false,
        None if returned == Returned::Request => return false,
        None => None,
    };
    let dropped = naming(excluded, urn, key);
    if dropped.whole {
        return false;
    }
    let was_empty = is_empty_value(value);
    if let Some(d) = def {
        project_subs(value, d, keep_subs.as_deref(), &dropped.subs);
    } else if keep_subs.is_some() || !dropped.subs.is_empty() {
        project_unknown_subs(value, keep_subs.as_deref(), &dropped.subs);
    }
    was_empty || !is_empty_value(value)
}

fn is_empty_complex(value: &Value) -> bool {
    match value {
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Applies sub-attribute rules inside a complex (or multi-valued complex) value.
fn project_subs(value: &mut Value, def: &AttributeDef, keep: Option<&[String]>, drop: &[String]) {
    if def.sub_attributes.is_empty() && keep.is_none() && drop.is_empty() {
        return;
    }
    let apply = |obj: &mut Map<String, Value>| {
        obj.retain(|k, _| {
            let sub = def.sub_attribute(k);
            let returned = sub.map_or(Returned::Default, |s| s.returned);
            let named = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(k));
            match returned {
                Returned::Never => false,
                Returned::Always => true,
                Returned::Request => keep.is_some_and(named) && !named(drop),
                Returned::Default => keep.is_none_or(named) && !named(drop),
            }
        });
    };
    for_each_object(value, apply);
}

/// Sub-attribute selection for an attribute the schema does not define.
fn project_unknown_subs(value: &mut Value, keep: Option<&[String]>, drop: &[String]) {
    let apply = |obj: &mut Map<String, Value>| {
        obj.retain(|k, _| {
            let named = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(k));
            keep.is_none_or(named) && !named(drop)
        });
    };
    for_each_object(value, apply);
}

/// Runs `f` on the object, or on each object of an array, then drops array elements left
/// empty by it.
fn for_each_object(value: &mut Value, f: impl Fn(&mut Map<String, Value>)) {
    match value {
        Value::Object(o) => f(o),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    f(o);
                }
            }
            items.retain(|v| !is_empty_complex(v));
        }
        _ => {}
    }
}
