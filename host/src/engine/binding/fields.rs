//! A binding's fields in SCIM JSON: reading the mapped connector values out of a resource (a
//! create, a PUT, a patched resource) and writing stored connector values into one (every
//! response), each value converted by [`crate::engine::values`].

use connector_core::{AttrValue, Attributes};
use schemas::ScimError;
use schemas::resource::get_ci;
use schemas::schema::{AttrType, AttributeDef, Mutability, Returned};
use serde_json::{Map, Value};

use super::{Binding, ConnectorSide, DN_ATTRIBUTE, ScimSide};
use crate::engine::values;

impl Binding {
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
