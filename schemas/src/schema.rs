//! Schema definitions (RFC 7643 §2 and §7): the attribute characteristics that drive behaviour.
//!
//! A [`ResourceSchema`] is what every other module asks when it needs to know how an attribute
//! behaves: the filter evaluator (is it `caseExact`?), PATCH (is it multi-valued, read-only?),
//! projection (`returned`), the host's uniqueness checks (`uniqueness`). Lookups are
//! case-insensitive, as RFC 7643 §2.1 requires for attribute names, and accept URN-qualified names.

use serde::{Deserialize, Serialize};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    #[default]
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// Whether and how an attribute can be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// When an attribute is returned in a response (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

/// How unique an attribute's value must be (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition, serialised exactly as in a `/Schemas` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, read-write, case-insensitive string: the RFC defaults.
    pub fn new(name: impl Into<String>, attr_type: AttrType) -> Self {
        AttributeDef {
            name: name.into(),
            attr_type,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// The sub-attribute called `name` (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema resource (RFC 7643 §7): an id (URN), a name and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// The top-level attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The schemas of one resource type: its core schema and the extensions it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    /// Resource type name, e.g. `User`.
    pub name: String,
    /// Endpoint, e.g. `/Users`.
    pub endpoint: String,
    /// The core schema, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub core: SchemaDef,
    /// Extension schemas and whether each is required.
    pub extensions: Vec<(SchemaDef, bool)>,
}

impl ResourceSchema {
    /// The schema (core or extension) whose URN is `urn` (case-insensitive).
    pub fn schema(&self, urn: &str) -> Option<&SchemaDef> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(&self.core);
        }
        self.extensions
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute by `urn` (None = core schema) and name, case-insensitively.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<&AttributeDef> {
        match urn {
            None => self.core.attribute(name),
            Some(u) => self.schema(u)?.attribute(name),
        }
    }

    /// Splits a possibly URN-qualified attribute name (`urn:…:User:manager`, `userName`) into the
    /// extension URN it belongs to (if any, as declared by this resource type) and the bare
    /// name. A name qualified with the core URN resolves to `None`.
    pub fn split_urn<'a>(&self, full: &'a str) -> (Option<&str>, &'a str) {
        if !full.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            return (None, full);
        }
        let candidates = std::iter::once(&self.core).chain(self.extensions.iter().map(|(s, _)| s));
        for s in candidates {
            let id_len = s.id.len();
            if full.len() > id_len + 1
                && full.get(..id_len).is_some_and(|p| p.eq_ignore_ascii_case(&s.id))
                && full.as_bytes().get(id_len) == Some(&b':')
            {
                let rest = full.get(id_len + 1..).unwrap_or_default();
                let urn = if std::ptr::eq(s, &self.core) { None } else { Some(s.id.as_str()) };
                return (urn, rest);
            }
        }
        (None, full)
    }
}
