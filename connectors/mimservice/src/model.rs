//! The MIM schema as the connector uses it, discovered from the service's schema resources:
//! `ObjectTypeDescription` (the types), `BindingDescription` (which attribute types are bound
//! to each, and which are required) and `AttributeTypeDescription` (`Name`, `DataType`,
//! `Multivalued`).

use std::collections::BTreeMap;

use connector_core::{
    AttrKind, AttributeSchema, ConnectorError, ConnectorObject, Deadline, Direction, DnStyle,
    ObjectTypeSchema,
};
use serde_json::Value;

use crate::config::{DefaultValue, MimServiceConfig, ObjectConfig};
use crate::http::Http;
use crate::search::Search;
use crate::value::{guid, set_json, values_from_json};
use crate::xpath::literal;

/// The anchor attribute.
pub(crate) const OBJECT_ID: &str = "ObjectID";

/// Attributes the MIM Service computes or maintains itself: read, never written (reference
/// §1.4, "Computed attributes cannot be written").
const COMPUTED: &[&str] = &[
    "ObjectID",
    "ObjectType",
    "Creator",
    "CreatedTime",
    "ExpectedRulesList",
    "DetectedRulesList",
    "DeletedTime",
    "ResourceTime",
    "ComputedMember",
    "ComputedActor",
];

/// Reference attributes whose target type is known without configuration.
const KNOWN_REFERENCES: &[(&str, &str)] = &[
    ("Manager", "Person"),
    ("Owner", "Person"),
    ("DisplayedOwner", "Person"),
];

/// `AttributeTypeDescription.DataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataType {
    /// `String` and `Text`.
    String,
    Integer,
    Boolean,
    DateTime,
    Reference,
    Binary,
}

impl DataType {
    fn parse(name: &str) -> Option<DataType> {
        Some(match name {
            "String" | "Text" => DataType::String,
            "Integer" => DataType::Integer,
            "Boolean" => DataType::Boolean,
            "DateTime" => DataType::DateTime,
            "Reference" => DataType::Reference,
            "Binary" => DataType::Binary,
            _ => return None,
        })
    }

    fn kind(self) -> AttrKind {
        match self {
            DataType::String => AttrKind::String,
            DataType::Integer => AttrKind::Integer,
            DataType::Boolean => AttrKind::Boolean,
            DataType::DateTime => AttrKind::DateTime,
            DataType::Reference => AttrKind::Reference,
            DataType::Binary => AttrKind::Binary,
        }
    }
}

/// One exposed attribute.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    /// As MIM spells it.
    pub name: String,
    pub data_type: DataType,
    pub multi: bool,
    pub required: bool,
    pub writable: bool,
}

/// One exposed object type.
#[derive(Debug, Clone)]
pub(crate) struct TypeModel {
    pub name: String,
    pub config: ObjectConfig,
    /// Lower-cased name → attribute, `ObjectID` included.
    pub attrs: BTreeMap<String, Attr>,
    /// `create_defaults` of this type, checked against the schema: attribute (bound and
    /// writable, exposed or not) and its value as the API takes it.
    pub create_defaults: Vec<(Attr, Value)>,
    /// The `attributes=` list of searches.
    pub select: String,
    pub schema: ObjectTypeSchema,
}

impl TypeModel {
    /// The exposed attribute called `name` (any case).
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.get(&name.to_ascii_lowercase())
    }

    /// The attribute `name` as a change may write it, or why not.
    pub fn writable(&self, name: &str) -> Result<&Attr, ConnectorError> {
        match self.attr(name) {
            Some(a) if a.writable => Ok(a),
            Some(a) => Err(ConnectorError::rejected(format!(
                "{}.{} is maintained by the MIM Service and cannot be written",
                self.name, a.name
            ))),
            None => Err(ConnectorError::rejected(format!(
                "{} has no attribute {name} (not bound in the MIM Service, or not exposed by the connector's `attributes`)",
                self.name
            ))),
        }
    }

    /// What a search asks to get back: the exposed attributes, or, when that list would make
    /// the query string too long for IIS, every attribute of the type (`objectType=`).
    pub fn fields(&self) -> (&'static str, &str) {
        if crate::http::encode(&self.select).len() > 1000 {
            ("objectType", &self.name)
        } else {
            ("attributes", &self.select)
        }
    }

    /// The configured filter predicate.
    pub fn filter(&self) -> Option<&str> {
        self.config.filter.as_deref()
    }

    /// A resource's JSON as a connector object, `None` when it has no usable ObjectID.
    pub fn object(&self, json: &Value) -> Option<ConnectorObject> {
        let map = json.as_object()?;
        let anchor = map.get(OBJECT_ID).and_then(Value::as_str).and_then(guid)?;
        let mut obj = ConnectorObject::new(self.name.clone(), anchor.clone());
        for (name, v) in map {
            if let Some(attr) = self.attr(name)
                && attr.name != OBJECT_ID
            {
                obj.set(attr.name.clone(), values_from_json(attr, v));
            }
        }
        obj.set(OBJECT_ID, vec![connector_core::AttrValue::String(anchor)]);
        Some(obj)
    }
}

/// Every exposed object type.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub types: Vec<TypeModel>,
}

impl Model {
    /// The type called `name` (any case).
    pub fn get(&self, name: &str) -> Result<&TypeModel, ConnectorError> {
        self.types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ConnectorError::misconfigured(format!(
                    "the object type {name} is not configured for this MIM Service connector"
                ))
            })
    }
}

fn text<'v>(json: &'v Value, name: &str) -> Option<&'v str> {
    json.get(name).and_then(Value::as_str)
}

/// Reads the schema resources and builds the model of the configured types.
pub(crate) fn discover(
    config: &MimServiceConfig,
    http: &Http,
    deadline: Deadline,
) -> Result<Model, ConnectorError> {
    let bad = |m: String| ConnectorError::misconfigured(m);
    let page = config.page_size.max(50);
    let names: Vec<String> = config
        .objects
        .iter()
        .map(|o| format!("Name = {}", literal(&o.object_type)))
        .collect();
    let types = Search::new(
        http,
        &format!("/ObjectTypeDescription[{}]", names.join(" or ")),
        ("attributes", "Name"),
        page,
    )
    .all(http, deadline)?;
    let mut type_ids: BTreeMap<String, String> = BTreeMap::new();
    for t in &types {
        if let (Some(id), Some(name)) = (text(t, OBJECT_ID).and_then(guid), text(t, "Name")) {
            type_ids.insert(name.to_owned(), id);
        }
    }
    let mut bound: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    if !type_ids.is_empty() {
        let clauses: Vec<String> = type_ids
            .values()
            .map(|id| format!("BoundObjectType = '{id}'"))
            .collect();
        for b in Search::new(
            http,
            &format!("/BindingDescription[{}]", clauses.join(" or ")),
            ("attributes", "BoundObjectType,BoundAttributeType,Required"),
            page,
        )
        .all(http, deadline)?
        {
            let (Some(t), Some(a)) = (
                text(&b, "BoundObjectType").and_then(guid),
                text(&b, "BoundAttributeType").and_then(guid),
            ) else {
                continue;
            };
            let required = b.get("Required").and_then(Value::as_bool).unwrap_or(false);
            bound.entry(t).or_default().push((a, required));
        }
    }
    let mut attribute_types: BTreeMap<String, (String, DataType, bool)> = BTreeMap::new();
    for a in Search::new(
        http,
        "/AttributeTypeDescription",
        ("attributes", "Name,DataType,Multivalued"),
        page,
    )
    .all(http, deadline)?
    {
        let (Some(id), Some(name), Some(dt)) = (
            text(&a, OBJECT_ID).and_then(guid),
            text(&a, "Name"),
            text(&a, "DataType").and_then(DataType::parse),
        ) else {
            continue;
        };
        let multi = a
            .get("Multivalued")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        attribute_types.insert(id, (name.to_owned(), dt, multi));
    }

    let mut model = Model { types: Vec::new() };
    for o in &config.objects {
        let Some((name, type_id)) = type_ids
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&o.object_type))
        else {
            return Err(bad(format!(
                "the MIM Service has no object type {} (no ObjectTypeDescription with that Name)",
                o.object_type
            )));
        };
        let mut all: BTreeMap<String, Attr> = BTreeMap::new();
        for (attr_id, required) in bound.get(type_id).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some((attr_name, data_type, multi)) = attribute_types.get(attr_id) {
                all.insert(
                    attr_name.to_ascii_lowercase(),
                    Attr {
                        name: attr_name.clone(),
                        data_type: *data_type,
                        multi: *multi,
                        required: *required,
                        writable: !COMPUTED.contains(&attr_name.as_str()),
                    },
                );
            }
        }
        let mut attrs = BTreeMap::new();
        if o.attributes.is_empty() {
            attrs = all.clone();
            attrs.remove("objecttype");
        } else {
            for wanted in &o.attributes {
                let a = all.get(&wanted.to_ascii_lowercase()).ok_or_else(|| {
                    bad(format!(
                        "the attribute {wanted} is not bound to {name} in the MIM Service"
                    ))
                })?;
                attrs.insert(a.name.to_ascii_lowercase(), a.clone());
            }
        }
        attrs.insert(
            OBJECT_ID.to_ascii_lowercase(),
            Attr {
                name: OBJECT_ID.into(),
                data_type: DataType::String,
                multi: false,
                required: false,
                writable: false,
            },
        );
        attrs.remove("objecttype");
        if let Some(m) = &o.matching_attribute {
            match attrs.get(&m.to_ascii_lowercase()) {
                Some(a)
                    if matches!(a.data_type, DataType::String | DataType::Integer) && !a.multi => {}
                Some(a) => {
                    return Err(bad(format!(
                        "matching_attribute {} of {name} must be a single-valued string or integer",
                        a.name
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "matching_attribute {m} is not an exposed attribute of {name}"
                    )));
                }
            }
        }
        for r in o.references.keys() {
            if !attrs
                .get(&r.to_ascii_lowercase())
                .is_some_and(|a| a.data_type == DataType::Reference)
            {
                return Err(bad(format!(
                    "references: {r} is not an exposed reference attribute of {name}"
                )));
            }
        }
        let create_defaults = defaults_of(config, name, &all)?;
        let defaulted = |a: &Attr| create_defaults.iter().any(|(d, _)| d.name == a.name);
        let unreachable: Vec<&str> = all
            .values()
            .filter(|a| a.required && a.writable && !defaulted(a))
            .filter(|a| !attrs.contains_key(&a.name.to_ascii_lowercase()))
            .map(|a| a.name.as_str())
            .collect();
        if !unreachable.is_empty() {
            tracing::warn!(
                object_type = %name,
                attributes = %unreachable.join(", "),
                "the MIM Service requires these attributes on create, but they are neither exposed nor in create_defaults: every add of this type will be rejected"
            );
        }
        let select = attrs
            .values()
            .filter(|a| a.name != OBJECT_ID)
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let schema = ObjectTypeSchema {
            name: name.clone(),
            anchor_attribute: OBJECT_ID.into(),
            dn_style: DnStyle::None,
            attributes: attrs
                .values()
                .map(|a| AttributeSchema {
                    name: a.name.clone(),
                    kind: a.data_type.kind(),
                    multi_valued: a.multi,
                    required: a.required && a.writable && !defaulted(a),
                    direction: if a.writable {
                        Direction::ImportExport
                    } else {
                        Direction::Import
                    },
                    case_exact: false,
                    references: (a.data_type == DataType::Reference)
                        .then(|| {
                            o.references
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(&a.name))
                                .map(|(_, v)| v.clone())
                                .or_else(|| {
                                    KNOWN_REFERENCES
                                        .iter()
                                        .find(|(k, _)| *k == a.name)
                                        .map(|(_, v)| (*v).to_owned())
                                })
                        })
                        .flatten(),
                })
                .collect(),
        };
        model.types.push(TypeModel {
            name: name.clone(),
            config: o.clone(),
            attrs,
            create_defaults,
            select,
            schema,
        });
    }
    Ok(model)
}

/// `create_defaults` of the type `name`, each attribute bound to it and writable, each value
/// of the attribute's type (an error names the table, the attribute and why).
fn defaults_of(
    config: &MimServiceConfig,
    name: &str,
    bound: &BTreeMap<String, Attr>,
) -> Result<Vec<(Attr, Value)>, ConnectorError> {
    let mut out = Vec::new();
    for (table_type, table) in &config.create_defaults {
        if !table_type.eq_ignore_ascii_case(name) {
            continue;
        }
        for (attr_name, default) in table {
            let bad = |why: String| {
                ConnectorError::misconfigured(format!(
                    "create_defaults.{table_type}.{attr_name}: {why}"
                ))
            };
            let attr = bound
                .get(&attr_name.to_ascii_lowercase())
                .ok_or_else(|| bad(format!("not bound to {name} in the MIM Service")))?;
            if !attr.writable {
                return Err(bad(format!(
                    "{} is maintained by the MIM Service and cannot be written",
                    attr.name
                )));
            }
            let values = match default {
                DefaultValue::List(list) => list.iter().map(scalar).collect::<Option<Vec<_>>>(),
                one => scalar(one).map(|v| vec![v]),
            }
            .ok_or_else(|| bad("a list inside a list".into()))?;
            if values.is_empty() {
                return Err(bad("an empty list sets nothing".into()));
            }
            let json = set_json(attr, &values).map_err(bad)?;
            out.push((attr.clone(), json));
        }
    }
    Ok(out)
}

fn scalar(v: &DefaultValue) -> Option<connector_core::AttrValue> {
    use connector_core::AttrValue;
    Some(match v {
        DefaultValue::Boolean(b) => AttrValue::Boolean(*b),
        DefaultValue::Integer(i) => AttrValue::Integer(*i),
        DefaultValue::Text(s) => AttrValue::String(s.clone()),
        DefaultValue::List(_) => return None,
    })
}
