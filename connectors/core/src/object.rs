//! The connector object: what one entry in a target looks like to the host.
//!
//! An object has a type, an **anchor** (opaque, unique and immutable, chosen by the connector: a
//! key column, `entryUUID`, `objectGUID`, an ObjectID), an optional DN, and attributes as
//! name → values. Every attribute is a list of values; single-valued attributes hold one. An
//! attribute with no values is absent: connectors never store empty lists.
//!
//! **References** ([`AttrValue::Reference`]) name the referenced object the way the target
//! names it, in the connector's [`crate::ReferenceForm`]: its anchor (a key column, a MIM
//! ObjectID) or its DN (LDAP). The host translates between SCIM ids and that form through the
//! connector space, so a connector never sees a SCIM id. **Secrets** ([`AttrValue::Secret`])
//! exist only inside a change on its way to the target; see [`crate::secret`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::secret::Secret;

/// The anchor: the connector's stable, unique, immutable identifier of an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Anchor(pub String);

impl Anchor {
    /// The anchor as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Anchor {
    fn from(s: &str) -> Self {
        Anchor(s.to_owned())
    }
}

impl From<String> for Anchor {
    fn from(s: String) -> Self {
        Anchor(s)
    }
}

/// One attribute value, typed as the ECMA2 model types them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttrValue {
    String(String),
    Integer(i64),
    Boolean(bool),
    /// An instant, always in UTC once it reaches the host.
    DateTime(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    Binary(#[serde(with = "hex_bytes")] Vec<u8>),
    /// A reference to another object of the same connector, in the connector's
    /// [`crate::ReferenceForm`]: the referenced object's anchor, or its DN.
    Reference(String),
    /// A secret (a password) on its way to the target. Only ever found in a [`crate::Change`]:
    /// never in an import, never stored. It cannot be serialised.
    #[serde(skip)]
    Secret(Secret),
}

impl AttrValue {
    /// The canonical text of the value: what the connector space indexes and what a SCIM
    /// string attribute shows. Date-times are RFC 3339 in UTC, binary is lower-case hex, and a
    /// secret is [`crate::secret::REDACTED`] (a connector writes [`Secret::expose`] instead).
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Secret(_) => crate::secret::REDACTED.to_owned(),
            AttrValue::String(s) | AttrValue::Reference(s) => s.clone(),
            AttrValue::Integer(i) => i.to_string(),
            AttrValue::Boolean(b) => b.to_string(),
            AttrValue::DateTime(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            AttrValue::Binary(b) => hex_bytes::encode(b),
        }
    }

    /// The string inside a `String` or `Reference` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) | AttrValue::Reference(s) => Some(s),
            _ => None,
        }
    }

    /// The secret inside a `Secret` value.
    pub fn as_secret(&self) -> Option<&Secret> {
        match self {
            AttrValue::Secret(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this value is a secret.
    pub fn is_secret(&self) -> bool {
        matches!(self, AttrValue::Secret(_))
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::String(s.to_owned())
    }
}

/// Attributes of an object: name → values, ordered by name so output is stable.
pub type Attributes = BTreeMap<String, Vec<AttrValue>>;

/// One object as the connector sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorObject {
    /// The object type, e.g. `User`, `Group`, `inetOrgPerson`.
    pub object_type: String,
    /// The anchor.
    pub anchor: Anchor,
    /// The distinguished name, for connectors with a DN style other than `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dn: Option<String>,
    /// The attributes, each with at least one value.
    pub attributes: Attributes,
}

impl ConnectorObject {
    /// A new object with no attributes.
    pub fn new(object_type: impl Into<String>, anchor: impl Into<Anchor>) -> Self {
        ConnectorObject {
            object_type: object_type.into(),
            anchor: anchor.into(),
            dn: None,
            attributes: Attributes::new(),
        }
    }

    /// Sets an attribute (replacing its values); an empty list removes it.
    pub fn with(mut self, name: impl Into<String>, values: Vec<AttrValue>) -> Self {
        self.set(name, values);
        self
    }

    /// Sets an attribute (replacing its values); an empty list removes it.
    pub fn set(&mut self, name: impl Into<String>, values: Vec<AttrValue>) {
        let name = name.into();
        if values.is_empty() {
            self.attributes.remove(&name);
        } else {
            self.attributes.insert(name, values);
        }
    }

    /// The values of an attribute (empty when absent).
    pub fn values(&self, name: &str) -> &[AttrValue] {
        self.attributes.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first value of an attribute.
    pub fn first(&self, name: &str) -> Option<&AttrValue> {
        self.values(name).first()
    }

    /// Drops every secret value (and attributes left without values). What remains may be
    /// stored, logged or answered.
    pub fn strip_secrets(&mut self) {
        strip_secrets(&mut self.attributes);
    }
}

/// Drops every secret value from `attributes`, and attributes left without values.
pub fn strip_secrets(attributes: &mut Attributes) {
    attributes.retain(|_, values| {
        values.retain(|v| !v.is_secret());
        !values.is_empty()
    });
}

/// Binary values travel as lower-case hex in the connector space's JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn encode(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            for nibble in [b >> 4, b & 0x0f] {
                out.push(char::from(
                    DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
        out
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(D::Error::custom("hex string of odd length"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| D::Error::custom("invalid hex digit"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_json() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let obj = ConnectorObject::new("User", "42")
            .with("name", vec!["Jürgen".into()])
            .with("age", vec![AttrValue::Integer(-7)])
            .with("active", vec![AttrValue::Boolean(true)])
            .with("hired", vec![AttrValue::DateTime(t)])
            .with("photo", vec![AttrValue::Binary(vec![0, 15, 255])])
            .with("manager", vec![AttrValue::Reference("7".into())])
            .with("empty", vec![]);
        let json = serde_json::to_string(&obj).unwrap();
        assert!(json.contains("\"000fff\""), "{json}");
        let back: ConnectorObject = serde_json::from_str(&json).unwrap();
        assert_eq!(back, obj);
        assert!(back.values("empty").is_empty());
        assert_eq!(
            back.first("hired").unwrap().to_text(),
            "2023-11-14T22:13:20Z"
        );
    }
}
