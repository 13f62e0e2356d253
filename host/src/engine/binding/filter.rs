//! Filter targeting: which connector attribute (or the anchor, or the DN) a SCIM filter term
//! names, so that an `eq` on it is answered by an index lookup in the connector space.

use schemas::filter::AttrPath;
use schemas::schema::AttrType;

use super::{Binding, ConnectorSide};

/// Whether the field's values are stored in a form whose text differs from the filter
/// literal's (a boolean kept as 1/0 in an integer column): such a term is evaluated on the
/// rendered resource instead of being looked up.
fn stored_differently(f: &super::Field) -> bool {
    f.value_type == AttrType::Boolean && f.kind != connector_core::AttrKind::Boolean
}

/// What a filter term looks up in the connector space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTarget {
    Anchor,
    Dn,
    Attribute(String),
}

impl Binding {
    /// The connector side of a SCIM attribute path used in a filter, for index lookups.
    pub fn filter_target(&self, path: &AttrPath) -> Option<FilterTarget> {
        let (urn, name) = match &path.urn {
            Some(u) if u.eq_ignore_ascii_case(&self.schema.core.id) => (None, path.name.as_str()),
            Some(u) => (Some(u.as_str()), path.name.as_str()),
            None => (None, path.name.as_str()),
        };
        if urn.is_none() && name.eq_ignore_ascii_case("id") && path.sub.is_none() {
            return Some(FilterTarget::Anchor);
        }
        self.fields.iter().find_map(|f| {
            let same_urn = match (&f.scim.urn, urn) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            };
            let sub_ok = match (&path.sub, &f.scim.sub) {
                (None, None) => true,
                (Some(p), Some(s)) => p.eq_ignore_ascii_case(s),
                (Some(p), None) => p == "value" && f.top.attr_type == AttrType::Complex,
                (None, Some(s)) => s == "value" && f.top.attr_type == AttrType::Complex,
            };
            (same_urn
                && f.scim.select.is_none()
                && sub_ok
                && f.scim.name.eq_ignore_ascii_case(name)
                && !stored_differently(f))
            .then(|| match &f.connector {
                ConnectorSide::Attribute(a) => FilterTarget::Attribute(a.clone()),
                ConnectorSide::Dn => FilterTarget::Dn,
            })
        })
    }

    /// The connector side of an attribute named the way the connector names it (`UserName`)
    /// or the way SCIM does (`userName`, `name.givenName`,
    /// `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:UserName`), as an admin
    /// writes it in a matching rule.
    pub fn target_named(&self, name: &str) -> Option<FilterTarget> {
        if name == self.anchor_attribute {
            return Some(FilterTarget::Anchor);
        }
        let mapped = |exact: bool| {
            self.mapped_attributes().find(|a| {
                if exact {
                    *a == name
                } else {
                    a.eq_ignore_ascii_case(name)
                }
            })
        };
        if let Some(a) = mapped(true).or_else(|| mapped(false)) {
            return Some(FilterTarget::Attribute(a.to_owned()));
        }
        let (urn, rest) = match name.rsplit_once(':') {
            Some((urn, rest)) if name.to_ascii_lowercase().starts_with("urn:") => {
                (Some(urn.to_owned()), rest)
            }
            _ => (None, name),
        };
        let (top, sub) = match rest.split_once('.') {
            Some((top, sub)) => (top, Some(sub.to_owned())),
            None => (rest, None),
        };
        self.filter_target(&AttrPath {
            urn,
            name: top.to_owned(),
            sub,
        })
    }

    /// Whether values of connector attribute `name` compare case-sensitively (as the
    /// connector space indexes them).
    pub fn is_case_exact(&self, name: &str) -> bool {
        self.fields
            .iter()
            .find(|f| matches!(&f.connector, ConnectorSide::Attribute(a) if a == name))
            .map(|f| f.case_exact)
            .or_else(|| {
                self.indexed
                    .iter()
                    .find(|(a, _)| a == name)
                    .map(|(_, exact)| *exact)
            })
            .unwrap_or(false)
    }
}
