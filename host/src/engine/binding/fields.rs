//! A binding's fields in SCIM JSON: reading the mapped connector values out of a resource (a
//! create, a PUT, a patched resource) and writing stored connector values into one (every
//! response), each value converted by [`crate::engine::values`].

use std::collections::HashMap;
use std::fmt;
use std::mem::{Discriminant, discriminant};

use connector_core::{AttrValue, Attributes};
use schemas::ScimError;
use schemas::resource::get_ci;
use schemas::schema::{AttrType, AttributeDef, Mutability, Returned};
use serde_json::{Map, Value};

use super::accept::selects;
use super::{Binding, ConnectorSide, DN_ATTRIBUTE, ScimSide};
use crate::engine::values;

impl Binding {
    /// Reads the mapped connector attributes (and DN) out of a SCIM resource. A single-valued
    /// target given several values keeps the one marked `primary`; with none or several so
    /// marked the request is refused naming the attribute.
    pub fn extract(&self, resource: &Value) -> Result<(Attributes, Option<String>), ScimError> {
        let mut attrs = Attributes::new();
        let mut dn = None;
        for f in &self.fields {
            if f.traits.mutability == Mutability::ReadOnly {
                continue;
            }
            let name = match &f.connector {
                ConnectorSide::Attribute(a) => a.as_str(),
                ConnectorSide::Dn => DN_ATTRIBUTE,
            };
            // Each distinct value, and whether one of the values it came from is primary; found
            // by hash, so 50,000 group members are not compared with each other.
            let mut values: Vec<(AttrValue, bool)> = Vec::new();
            let mut seen: HashMap<(Discriminant<AttrValue>, String), usize> = HashMap::new();
            for (v, primary) in f.scim.read_marked(resource) {
                let Some(cv) = values::to_connector(v, f.kind, f.value_type, name)? else {
                    continue;
                };
                // A secret's text is redacted: secrets are compared as they are.
                let key = (!matches!(cv, AttrValue::Secret(_)))
                    .then(|| (discriminant(&cv), cv.to_text()));
                let at = match &key {
                    Some(k) => seen.get(k).copied(),
                    None => values.iter().position(|(w, _)| *w == cv),
                };
                match at.and_then(|i| values.get_mut(i)) {
                    Some((_, p)) => *p |= primary,
                    None => {
                        if let Some(k) = key {
                            seen.insert(k, values.len());
                        }
                        values.push((cv, primary));
                    }
                }
            }
            if !f.multi_valued && values.len() > 1 {
                let primaries = values.iter().filter(|(_, p)| *p).count();
                if primaries != 1 {
                    return Err(ScimError::invalid_value(format!(
                        "{} holds one value at the target, but {} were given and {}; mark \
                         exactly one of them \"primary\": true",
                        f.scim,
                        values.len(),
                        if primaries == 0 {
                            "none is marked primary".to_owned()
                        } else {
                            format!("{primaries} are marked primary")
                        }
                    )));
                }
                values.retain(|(_, p)| *p);
            }
            let values = values.into_iter().map(|(v, _)| v);
            match &f.connector {
                ConnectorSide::Dn => dn = values.map(|v| v.to_text()).next(),
                ConnectorSide::Attribute(a) => {
                    let values: Vec<AttrValue> = values.collect();
                    if !values.is_empty() {
                        attrs.entry(a.clone()).or_default().extend(values);
                    }
                }
            }
        }
        Ok((attrs, dn))
    }

    /// Writes connector values into a SCIM resource. `reference_id` turns a stored reference
    /// (in the connector's form) into the SCIM id of the object it names; a reference to an
    /// object the connector space does not hold is left out.
    pub fn render_into(
        &self,
        doc: &mut Map<String, Value>,
        attributes: &Attributes,
        dn: Option<&str>,
        reference_id: &dyn Fn(&str) -> Option<String>,
    ) {
        for f in &self.fields {
            if f.traits.returned == Returned::Never {
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
                            .filter_map(|v| match v {
                                AttrValue::Reference(r) => reference_id(r).map(Value::String),
                                other => Some(values::to_scim(other, f.value_type)),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if values.is_empty() {
                continue;
            }
            f.scim.write(doc, &f.top, values);
        }
    }
}

impl ScimSide {
    /// The values at this place in a SCIM resource, flattened over a multi-valued attribute
    /// (as [`schemas::path::values_at`] reads them), each with whether the value it came from
    /// is marked `primary`.
    fn read_marked<'v>(&self, resource: &'v Value) -> Vec<(&'v Value, bool)> {
        let Some(root) = resource.as_object() else {
            return Vec::new();
        };
        let container = match &self.urn {
            None => Some(root),
            Some(u) => get_ci(root, u).and_then(Value::as_object),
        };
        let Some(top) = container.and_then(|c| get_ci(c, &self.name)) else {
            return Vec::new();
        };
        let pick = |el: &'v Value| -> Option<(&'v Value, bool)> {
            let primary = |m: &Map<String, Value>| get_ci(m, "primary") == Some(&Value::Bool(true));
            match (self.sub.as_deref(), el) {
                (Some(s), Value::Object(m)) => get_ci(m, s).map(|v| (v, primary(m))),
                (None, Value::Object(m)) => get_ci(m, "value").map(|v| (v, primary(m))),
                (None, v) => Some((v, false)),
                (Some(_), _) => None,
            }
        };
        let selected = |el: &Value| match (&self.select, el) {
            (None, _) => true,
            (Some((k, text)), Value::Object(m)) => selects(m, k, text),
            (Some(_), _) => false,
        };
        let picked: Vec<(&Value, bool)> = match top {
            Value::Array(items) => items
                .iter()
                .filter(|el| selected(el))
                .filter_map(pick)
                .collect(),
            Value::Null => Vec::new(),
            single if self.select.is_none() => pick(single).into_iter().collect(),
            _ => Vec::new(),
        };
        picked.into_iter().filter(|(v, _)| !v.is_null()).collect()
    }

    /// Writes values at this place in a SCIM resource; `top` is the attribute's definition.
    fn write(&self, doc: &mut Map<String, Value>, top: &AttributeDef, values: Vec<Value>) {
        let obj = match &self.urn {
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
        if let Some((k, v)) = &self.select {
            let sub = self.sub.clone().unwrap_or_else(|| "value".to_owned());
            let arr = obj
                .entry(self.name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !arr.is_array() {
                *arr = Value::Array(Vec::new());
            }
            if let Some(items) = arr.as_array_mut() {
                let pos = items
                    .iter()
                    .position(|el| el.as_object().is_some_and(|m| selects(m, k, v)));
                let idx = match pos {
                    Some(i) => i,
                    None => {
                        let mut m = Map::new();
                        // `roles[primary eq "True"]`: a boolean selector is written as one.
                        let boolean = top
                            .sub_attribute(k)
                            .is_some_and(|d| d.attr_type == AttrType::Boolean);
                        let selector = if boolean {
                            Value::Bool(v.eq_ignore_ascii_case("true"))
                        } else {
                            Value::String(v.clone())
                        };
                        m.insert(k.clone(), selector);
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
        let value = match (&self.sub, top.multi_valued, complex) {
            (Some(s), true, _) => Value::Array(values.into_iter().map(|v| wrap(v, s)).collect()),
            (Some(s), false, _) => {
                let entry = obj
                    .entry(self.name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(m), Some(first)) = (entry, values.into_iter().next()) {
                    m.insert(s.clone(), first);
                }
                return;
            }
            (None, true, true) => {
                Value::Array(values.into_iter().map(|v| wrap(v, "value")).collect())
            }
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
        obj.insert(self.name.clone(), value);
    }
}

/// The path as a map key writes it: `urn:…:name[key eq "text"].sub`.
impl fmt::Display for ScimSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some((k, v)) = &self.select {
            write!(f, "[{k} eq \"{v}\"]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
