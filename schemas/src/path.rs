//! PATCH attribute paths (RFC 7644 §3.5.2): `attrPath / valuePath [ "." subAttr ]`.
//!
//! Examples: `name.givenName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
//! `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:-dn-`. The attribute-path and
//! filter syntax, URN splitting and limits (length, nesting) are those of [`crate::filter`];
//! errors are `400 invalidPath`.
//!
//! [`values_at`] reads the values at such a path in its simple form, `attr[sub eq "text"].sub`,
//! the form an attribute map names (`emails[type eq "work"].value`).

use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimType};
use crate::filter::parse::Parser;
use crate::filter::{AttrPath, Filter};
use crate::resource::get_ci;

/// A parsed PATCH `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, possibly with a sub-attribute (`name.givenName`) when there is no filter.
    pub attr: AttrPath,
    /// The value selection filter of a value path (`emails[type eq "work"]`).
    pub filter: Option<Filter>,
    /// The sub-attribute after a value path (`.value` in `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path; errors are `400 invalidPath` naming what was expected and where.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        let mut p = Parser::new(input, ScimType::InvalidPath)?;
        let attr = p.attr_path()?;
        let mut filter = None;
        let mut sub = None;
        if p.peek() == Some('[') {
            filter = Some(p.bracket_filter(&attr)?);
            if p.peek() == Some('.') {
                p.bump();
                sub = Some(p.name("a sub-attribute name")?);
            }
        }
        if !p.at_end() {
            return Err(p.err(format_args!(
                "unexpected {:?} in path",
                p.peek().unwrap_or(' ')
            )));
        }
        Ok(PatchPath { attr, filter, sub })
    }

    /// The sub-attribute this path targets, whether written `name.givenName` or `emails[…].value`.
    pub fn sub_attribute(&self) -> Option<&str> {
        self.sub.as_deref().or(self.attr.sub.as_deref())
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// The values at one place of a resource in wire form, `attr[select].sub`: the attribute `name`
/// (inside the extension object `urn`, when given); of a multi-valued attribute each value, or,
/// with `select = Some((key, text))`, only the complex values whose `key` is the string `text`
/// (`emails[type eq "work"]`; a single value is never selected); then of each value its
/// sub-attribute `sub` or, with no `sub`, a complex value's `value` (`manager` → `manager.value`).
/// Names and the selecting text match case-insensitively; null values are left out.
pub fn values_at<'v>(
    resource: &'v Value,
    urn: Option<&str>,
    name: &str,
    select: Option<(&str, &str)>,
    sub: Option<&str>,
) -> Vec<&'v Value> {
    let Some(root) = resource.as_object() else {
        return Vec::new();
    };
    let container = match urn {
        None => Some(root),
        Some(u) => get_ci(root, u).and_then(Value::as_object),
    };
    let Some(top) = container.and_then(|c| get_ci(c, name)) else {
        return Vec::new();
    };
    let pick = |el: &'v Value| -> Option<&'v Value> {
        match (sub, el) {
            (Some(s), Value::Object(m)) => get_ci(m, s),
            (None, Value::Object(m)) => get_ci(m, "value"),
            (None, v) => Some(v),
            (Some(_), _) => None,
        }
    };
    let selected = |el: &Value| match (select, el) {
        (None, _) => true,
        (Some((k, text)), Value::Object(m)) => get_ci(m, k)
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case(text)),
        (Some(_), _) => false,
    };
    let picked: Vec<&Value> = match top {
        Value::Array(items) => items
            .iter()
            .filter(|el| selected(el))
            .filter_map(pick)
            .collect(),
        Value::Null => Vec::new(),
        single if select.is_none() => pick(single).into_iter().collect(),
        _ => Vec::new(),
    };
    picked.into_iter().filter(|v| !v.is_null()).collect()
}
