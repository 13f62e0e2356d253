//! SCIM filters (RFC 7644 §3.4.2.2): a bounded parser, a protocol-neutral AST and an evaluator.
//!
//! The AST exists so that one parse serves three consumers: the host answers `eq`/`and` lookups
//! from an index ([`Filter::equality_terms`]), connectors translate the tree into SQL `WHERE`
//! clauses or LDAP filters, and everything else is evaluated in memory ([`Filter::matches`]).
//!
//! # Grammar
//!
//! ```text
//! filter     = or
//! or         = and *( "or" and )
//! and        = unary *( "and" unary )
//! unary      = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath [ "." subAttr compare ]
//! attrExp    = attrPath "pr" / attrPath compareOp compValue
//! valuePath  = attrPath "[" filter "]"            ; no value path inside a value path
//! attrPath   = [ URN ":" ] name [ "." subAttr ]
//! compareOp  = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "ge" / "lt" / "le"
//! compValue  = JSON string / JSON number / "true" / "false" / "null"
//! ```
//!
//! Precedence is `not` > `and` > `or`; `and` and `or` associate to the left. Keywords and
//! operators are case-insensitive, whitespace between tokens is optional where unambiguous.
//! Attribute names accept letters, digits, `-`, `_` and `$` in any position (so ECMA2Host names
//! like `-dn-` and `members.$ref` work). A name starting with `urn:` is split at its *last* colon:
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` has the URN
//! `urn:…:enterprise:2.0:User`, name `manager` and sub-attribute `value`. The URN is kept as
//! written, including the core schema URN; [`AttrPath::canonical`] resolves it against a schema.
//! An unqualified name that the core schema lacks resolves to the first extension declaring it
//! (Entra filters and patches `manager` without its URN).
//!
//! `emails[type eq "work"].value eq "x"`, which Entra sends for uniqueness checks though RFC 7644
//! only allows it in PATCH paths, is accepted and parsed as the equivalent
//! `emails[type eq "work" and value eq "x"]`.
//!
//! # Evaluation
//!
//! [`Filter::matches`] follows RFC 7644 §3.4.2.2, with these choices where the RFC leaves room:
//! - Attribute and sub-attribute names match case-insensitively. Extension attributes are read
//!   from the object under their schema URN key.
//! - A multi-valued attribute matches if *any* value matches. A complex attribute compared
//!   without a sub-attribute (`emails eq "x"`, Entra's `manager eq "42"`) compares its `value`.
//! - Strings compare case-insensitively unless the attribute is `caseExact` (unknown attributes
//!   are case-insensitive; `binary` is always exact). `gt`/`ge`/`lt`/`le` on strings are
//!   lexicographic after that folding.
//! - `dateTime` values compare as instants when both sides are RFC 3339 (`…Z` equals `…+00:00`);
//!   numbers compare numerically; booleans support only `eq`/`ne`.
//! - `pr`: present and non-empty (null, `""`, `[]` and `{}` are absent, RFC 7643 §2.5).
//! - `eq null` is true when the attribute is absent; `ne` is the negation of `eq`, so
//!   `title ne "x"` is true for a user without a title.
//! - A comparison whose value has the wrong type for the attribute (`active gt true`, a number
//!   against a string attribute, any operator on a complex value without `value`) is false.
//!
//! # Limits
//!
//! Input longer than [`MAX_FILTER_LEN`] bytes and nesting (parentheses, `not`, value paths)
//! deeper than [`MAX_DEPTH`] are rejected with `invalidFilter`. Parsing is a single left-to-right
//! pass; `and`/`or` chains are built iteratively, and evaluation and printing walk those chains
//! iteratively too, so their recursion depth is bounded by the nesting limit, not by input length.
//! (Only the compiler-generated `Drop` of a long chain recurses once per term; with 8 KiB of
//! input a chain has at most about 1,200 terms, which is far from any stack limit.)

mod eval;
pub(crate) mod parse;

use std::fmt;

use crate::error::ScimError;
use crate::schema::{AttributeDef, ResourceSchema};

pub(crate) use eval::{common_attribute, get_ci};

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 32;

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Literal,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not match.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued (or complex) `attr` matches `filter`, whose
    /// paths name sub-attributes of `attr`.
    ValuePath { attr: AttrPath, filter: Box<Filter> },
}

/// An attribute reference: `[urn:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN when the name was URN-qualified, as written (the core URN is kept too).
    pub urn: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
}

impl Filter {
    /// Parses a filter; errors are `400 invalidFilter` naming what was expected and where.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        parse::Parser::new(input, crate::ScimType::InvalidFilter)?.filter_to_end()
    }

    /// `Some(terms)` when the filter is one `eq` comparison or an `and` of `eq` comparisons
    /// (what Entra sends), so the caller can answer it from an index; `None` otherwise.
    pub fn equality_terms(&self) -> Option<Vec<(&AttrPath, &Literal)>> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(f) = stack.pop() {
            match f {
                Filter::And(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
                Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value,
                } => out.push((path, value)),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Whether `resource` (a SCIM resource in wire form) matches this filter, by the rules in
    /// the module documentation ("Evaluation").
    pub fn matches(&self, resource: &serde_json::Value, schema: &ResourceSchema) -> bool {
        eval::eval(self, resource, &eval::Scope::Resource(schema))
    }

    /// Whether one value of a complex attribute described by `def` matches this filter, whose
    /// paths name sub-attributes (the inside of `emails[...]`).
    pub fn matches_element(&self, element: &serde_json::Value, def: Option<&AttributeDef>) -> bool {
        eval::eval(self, element, &eval::Scope::Element(def))
    }

    /// The first attribute path (as written) that `schema` does not define, or `None` when
    /// every path names an attribute of the schema (common attributes `id`, `externalId` and
    /// `meta` included). Inside `attr[...]` the paths are sub-attributes of `attr`. A server
    /// answers such a filter with `invalidFilter` (RFC 7644 §3.4.2.2) rather than with no match.
    pub fn unknown_attribute(&self, schema: &ResourceSchema) -> Option<String> {
        match self {
            Filter::Compare { path, .. } | Filter::Present(path) => {
                path.canonical(schema).is_none().then(|| path.to_string())
            }
            Filter::And(l, r) | Filter::Or(l, r) => l
                .unknown_attribute(schema)
                .or_else(|| r.unknown_attribute(schema)),
            Filter::Not(inner) => inner.unknown_attribute(schema),
            Filter::ValuePath { attr, filter } => {
                let Some((_, def)) = resolve_attr(schema, attr.urn.as_deref(), &attr.name) else {
                    return Some(attr.to_string());
                };
                filter
                    .unknown_sub_attribute(def)
                    .map(|sub| format!("{attr}.{sub}"))
            }
        }
    }

    /// Inside `attr[...]`: the first path that is no sub-attribute of `def`.
    fn unknown_sub_attribute(&self, def: &AttributeDef) -> Option<String> {
        match self {
            Filter::Compare { path, .. } | Filter::Present(path) => {
                let known = path.urn.is_none()
                    && path.sub.is_none()
                    && (def.sub_attribute(&path.name).is_some()
                        || (def.sub_attributes.is_empty()
                            && path.name.eq_ignore_ascii_case("value")));
                (!known).then(|| path.to_string())
            }
            Filter::And(l, r) | Filter::Or(l, r) => l
                .unknown_sub_attribute(def)
                .or_else(|| r.unknown_sub_attribute(def)),
            Filter::Not(inner) => inner.unknown_sub_attribute(def),
            Filter::ValuePath { attr, .. } => Some(attr.to_string()),
        }
    }

    /// The terms of a left-leaning chain of the same logical operator, in source order.
    pub(crate) fn chain(&self) -> Vec<&Filter> {
        let mut rights = Vec::new();
        let mut cur = self;
        while let (Filter::And(..), Filter::And(l, r)) | (Filter::Or(..), Filter::Or(l, r)) =
            (self, cur)
        {
            rights.push(r.as_ref());
            cur = l;
        }
        rights.push(cur);
        rights.reverse();
        rights
    }
}

impl AttrPath {
    /// A bare attribute name without URN or sub-attribute.
    pub fn simple(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// This path with canonical names from `schema`: the core URN becomes `None`, extension URNs
    /// and names take the schema's spelling. `None` when the attribute (or sub-attribute) is
    /// unknown to the schema (common attributes `id`, `externalId`, `meta` are known).
    pub fn canonical(&self, schema: &ResourceSchema) -> Option<AttrPath> {
        let (urn, def) = resolve_attr(schema, self.urn.as_deref(), &self.name)?;
        let sub = match &self.sub {
            None => None,
            Some(s) => Some(def.sub_attribute(s)?.name.clone()),
        };
        Some(AttrPath {
            urn: urn.map(str::to_owned),
            name: def.name.clone(),
            sub,
        })
    }
}

/// Finds a top-level attribute: `urn` None or the core URN → core schema, then the common
/// attributes, then (for an unqualified name only) the first extension that declares it;
/// otherwise the extension with that URN. Returns the extension's canonical URN.
pub(crate) fn resolve_attr<'s>(
    schema: &'s ResourceSchema,
    urn: Option<&str>,
    name: &str,
) -> Option<(Option<&'s str>, &'s AttributeDef)> {
    match urn {
        Some(u) if !schema.core.id.eq_ignore_ascii_case(u) => {
            let ext = schema.schema(u)?;
            Some((Some(ext.id.as_str()), ext.attribute(name)?))
        }
        _ => {
            if let Some(d) = schema
                .core
                .attribute(name)
                .or_else(|| common_attribute(name))
            {
                return Some((None, d));
            }
            if urn.is_some() {
                return None;
            }
            // Entra sends `manager` unqualified (`manager eq "42"`, `"path": "manager"`).
            schema
                .extensions
                .iter()
                .find_map(|(s, _)| Some((Some(s.id.as_str()), s.attribute(name)?)))
        }
    }
}

impl CompareOp {
    /// The operator keyword, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator for a keyword, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl Literal {
    /// The JSON value of this literal.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Literal::String(s) => serde_json::Value::String(s.clone()),
            Literal::Number(n) => serde_json::Value::Number(n.clone()),
            Literal::Bool(b) => serde_json::Value::Bool(*b),
            Literal::Null => serde_json::Value::Null,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

/// Prints the canonical form: lower-case keywords, single spaces, parentheses only where the
/// tree needs them. It parses back to an equal [`Filter`].
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
            Filter::And(..) | Filter::Or(..) => {
                let is_or = matches!(self, Filter::Or(..));
                for (i, term) in self.chain().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(if is_or { " or " } else { " and " })?;
                    }
                    // The first term of a chain is never the same operator (the chain consumed
                    // it); later terms of the same operator were grouped in the source.
                    let group = match term {
                        Filter::Or(..) => true,
                        Filter::And(..) => !is_or,
                        _ => false,
                    };
                    if group {
                        write!(f, "({term})")?;
                    } else {
                        write!(f, "{term}")?;
                    }
                }
                Ok(())
            }
        }
    }
}
