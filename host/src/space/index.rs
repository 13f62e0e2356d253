//! Which attributes get a lookup index, how their values are normalised, and how the stored
//! entries follow a changed index specification.
//!
//! Entra finds an object by `filter=<matching attribute> eq "value"` before every create, so
//! those lookups must be index seeks. Values are compared on `AttrValue::to_text()`, lower-cased
//! with Unicode rules (`str::to_lowercase`) unless the attribute is case-exact, one entry per
//! value. Attribute and object type names are matched exactly, as the connector spells them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The attributes that get a lookup index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// One entry per (object type, attribute).
    pub attributes: Vec<IndexedAttribute>,
}

/// One indexed attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedAttribute {
    /// The connector object type, e.g. `User`.
    pub object_type: String,
    /// The connector attribute name, exactly as in `ConnectorObject::attributes`.
    pub name: String,
    /// Compare values exactly; otherwise they are lower-cased first.
    pub case_exact: bool,
}

impl IndexedAttribute {
    /// A case-insensitive index on `name` of `object_type`.
    pub fn new(object_type: impl Into<String>, name: impl Into<String>) -> Self {
        IndexedAttribute {
            object_type: object_type.into(),
            name: name.into(),
            case_exact: false,
        }
    }

    /// The same attribute, compared exactly.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
}

impl IndexSpec {
    /// A specification from its attributes.
    pub fn new(attributes: Vec<IndexedAttribute>) -> Self {
        IndexSpec { attributes }
    }

    /// The indexed attribute, if any.
    pub fn find(&self, object_type: &str, attribute: &str) -> Option<&IndexedAttribute> {
        self.attributes
            .iter()
            .find(|a| a.object_type == object_type && a.name == attribute)
    }

    /// The specification as a map, later duplicates winning, for comparing two of them.
    fn canonical(&self) -> BTreeMap<(&str, &str), bool> {
        self.attributes
            .iter()
            .map(|a| ((a.object_type.as_str(), a.name.as_str()), a.case_exact))
            .collect()
    }

    /// The specification without duplicates, in a stable order, for storing in `meta`.
    pub(crate) fn to_stored(&self) -> String {
        let list: Vec<IndexedAttribute> = self
            .canonical()
            .into_iter()
            .map(|((t, n), case_exact)| IndexedAttribute {
                object_type: t.to_owned(),
                name: n.to_owned(),
                case_exact,
            })
            .collect();
        serde_json::to_string(&list).unwrap_or_default()
    }

    /// Parses what `to_stored` wrote; anything unreadable counts as "no index".
    pub(crate) fn from_stored(text: &str) -> IndexSpec {
        IndexSpec {
            attributes: serde_json::from_str(text).unwrap_or_default(),
        }
    }
}

/// The normalised form of an attribute's text.
pub fn normalise(text: &str, case_exact: bool) -> String {
    if case_exact {
        text.to_owned()
    } else {
        text.to_lowercase()
    }
}

/// What changed between the stored specification and the one given to `open`.
pub(crate) struct SpecChange<'a> {
    /// Attributes whose entries must go (no longer indexed, or compared differently).
    pub dropped: Vec<(&'a str, &'a str)>,
    /// Attributes whose entries must be built from the stored objects.
    pub built: Vec<IndexedAttribute>,
}

impl SpecChange<'_> {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty() && self.built.is_empty()
    }
}

/// Compares the stored specification with the new one.
pub(crate) fn diff<'a>(old: &'a IndexSpec, new: &IndexSpec) -> SpecChange<'a> {
    let old_map = old.canonical();
    let new_map = new.canonical();
    let dropped = old_map
        .iter()
        .filter(|(key, exact)| new_map.get(*key) != Some(*exact))
        .map(|(key, _)| *key)
        .collect();
    let built = new_map
        .iter()
        .filter(|(key, exact)| old_map.get(*key) != Some(*exact))
        .map(|((t, n), exact)| IndexedAttribute {
            object_type: (*t).to_owned(),
            name: (*n).to_owned(),
            case_exact: *exact,
        })
        .collect();
    SpecChange { dropped, built }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(entries: &[(&str, &str, bool)]) -> IndexSpec {
        IndexSpec::new(
            entries
                .iter()
                .map(|(t, n, exact)| IndexedAttribute {
                    object_type: (*t).into(),
                    name: (*n).into(),
                    case_exact: *exact,
                })
                .collect(),
        )
    }

    fn check(
        old: &[(&str, &str, bool)],
        new: &[(&str, &str, bool)],
        dropped: &[&str],
        built: &[&str],
    ) {
        let (old, new) = (spec(old), spec(new));
        let change = diff(&old, &new);
        let got_dropped: Vec<String> = change
            .dropped
            .iter()
            .map(|(t, n)| format!("{t}.{n}"))
            .collect();
        let got_built: Vec<String> = change
            .built
            .iter()
            .map(|a| format!("{}.{}", a.object_type, a.name))
            .collect();
        assert_eq!(got_dropped, dropped, "dropped");
        assert_eq!(got_built, built, "built");
    }

    #[test]
    fn spec_changes() {
        check(&[], &[], &[], &[]);
        check(&[], &[("User", "mail", false)], &[], &["User.mail"]);
        check(&[("User", "mail", false)], &[], &["User.mail"], &[]);
        check(
            &[("User", "mail", false)],
            &[("User", "mail", false)],
            &[],
            &[],
        );
        check(
            &[("User", "mail", false)],
            &[("User", "mail", true)],
            &["User.mail"],
            &["User.mail"],
        );
        check(
            &[("User", "a", false), ("User", "b", false)],
            &[("User", "b", false), ("User", "a", false)],
            &[],
            &[],
        );
        check(
            &[("User", "a", false)],
            &[("Group", "a", false)],
            &["User.a"],
            &["Group.a"],
        );
    }

    #[test]
    fn stored_form_round_trips_and_is_canonical() {
        let a = spec(&[("User", "b", false), ("User", "a", true)]);
        let b = spec(&[("User", "a", true), ("User", "b", false)]);
        assert_eq!(a.to_stored(), b.to_stored());
        assert!(diff(&IndexSpec::from_stored(&a.to_stored()), &b).is_empty());
        assert_eq!(IndexSpec::from_stored("not json"), IndexSpec::default());
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalise("ÄBC.Straße", false), "äbc.straße");
        assert_eq!(normalise("ÄBC", true), "ÄBC");
        assert_eq!(normalise("ΣΑΣ", false), "σας");
    }
}
