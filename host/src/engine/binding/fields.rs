//! A binding's fields in SCIM JSON: reading the mapped connector values out of a resource (a
//! create, a PUT, a patched resource) and writing stored connector values into one (every
//! response), each value converted by [`crate::engine::values`].

use std::fmt;

use connector_core::{AttrValue, Attributes};
use schemas::ScimError;
use schemas::path::values_at;
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
            let mut values: Vec<AttrValue> = Vec::new();
            for v in f.scim.read(resource) {
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
                            f.scim,
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
    /// The values at this place in a SCIM resource, flattened over a multi-valued attribute.
    fn read<'v>(&self, resource: &'v Value) -> Vec<&'v Value> {
        values_at(
            resource,
            self.urn.as_deref(),
            &self.name,
            self.select.as_ref().map(|(k, v)| (k.as_str(), v.as_str())),
            self.sub.as_deref(),
        )
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
