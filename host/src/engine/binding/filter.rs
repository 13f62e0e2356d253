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
}
