//! PATCH attribute paths (RFC 7644 §3.5.2): `attrPath / valuePath [ "." subAttr ]`.
//!
//! Examples: `name.givenName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
//! `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:-dn-`. The attribute-path and
//! filter syntax, URN splitting and limits (length, nesting) are those of [`crate::filter`];
//! errors are `400 invalidPath`.

use std::fmt;

use crate::error::{ScimError, ScimType};
use crate::filter::parse::Parser;
use crate::filter::{AttrPath, Filter};

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
