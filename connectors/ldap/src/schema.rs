//! Schema discovery: the root DSE (naming contexts, controls, extensions, vendor) and the
//! subschema entry (RFC 4512 object class and attribute type descriptions), turned into the
//! connector schema of the configured object types.
//!
//! Attribute kinds follow the LDAP syntax: DN and Name-and-Optional-UID → `Reference`, Integer,
//! Boolean, Generalized Time, the binary syntaxes (octet string, JPEG, certificates) → `Binary`,
//! everything else → `String`. The password attribute (`userPassword`, `unicodePwd`) is a
//! write-only `Secret`. Operational and `NO-USER-MODIFICATION` attributes are import-only; the
//! anchor attribute (`entryUUID`, `objectGUID`) is listed as an import-only string.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use connector_core::{
    AttrKind, AttributeSchema, ConnectorError, ConnectorSchema, Direction, DnStyle,
    ObjectTypeSchema,
};

use crate::config::{AnchorConfig, LdapConfig, ObjectConfig, ScopeName};
use crate::dn::DnTemplate;

/// OIDs this connector looks for in the root DSE.
pub mod oid {
    pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
    pub const SYNC: &str = "1.3.6.1.4.1.4203.1.9.1.1";
    pub const POST_READ: &str = "1.3.6.1.1.13.2";
    pub const SYNC_STATE: &str = "1.3.6.1.4.1.4203.1.9.1.2";
    pub const SYNC_DONE: &str = "1.3.6.1.4.1.4203.1.9.1.3";
    pub const PERMISSIVE_MODIFY: &str = "1.2.840.113556.1.4.1413";
    pub const PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
    pub const STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
    pub const WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
    pub const AD_LDS: &str = "1.2.840.113556.1.4.1851";
    pub const AD_DS: &str = "1.2.840.113556.1.4.800";
}

/// What the root DSE says about the server.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    pub vendor: String,
    pub naming_contexts: Vec<String>,
    pub controls: BTreeSet<String>,
    pub extensions: BTreeSet<String>,
    pub subschema: String,
}

/// The root DSE attributes to request.
pub const ROOT_DSE_ATTRIBUTES: &[&str] = &[
    "objectClass",
    "namingContexts",
    "supportedControl",
    "supportedExtension",
    "supportedCapabilities",
    "vendorName",
    "vendorVersion",
    "subschemaSubentry",
];

impl ServerInfo {
    /// Whether the server is 389 Directory Server (or Red Hat Directory Server), whose RFC 4533
    /// content synchronisation differs from OpenLDAP's: the cookie is bound to the search's
    /// filter, and Sync Done says `refreshDeletes = FALSE` even after a delete phase (it never
    /// runs a present phase with a cookie: a cookie its retro changelog no longer covers is
    /// refused with e-syncRefreshRequired).
    pub fn is_389(&self) -> bool {
        self.vendor.starts_with("389 ") || self.vendor.contains("389-Directory")
    }

    /// Reads the root DSE's attributes (lower-cased names → values).
    pub fn from_root_dse(attrs: &HashMap<String, Vec<String>>) -> ServerInfo {
        let get = |name: &str| -> Vec<String> {
            attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let has = |name: &str, value: &str| get(name).iter().any(|v| v.eq_ignore_ascii_case(value));
        let vendor = match get("vendorName").first() {
            Some(name) => {
                let version = get("vendorVersion").first().cloned().unwrap_or_default();
                format!("{name} {version}").trim().to_owned()
            }
            None if has("supportedCapabilities", oid::AD_LDS) => "Microsoft AD LDS".into(),
            None if has("supportedCapabilities", oid::AD_DS) => "Microsoft Active Directory".into(),
            None if has("objectClass", "OpenLDAProotDSE") => "OpenLDAP".into(),
            None => "an LDAP v3 server (vendor not published)".into(),
        };
        ServerInfo {
            vendor,
            naming_contexts: get("namingContexts"),
            controls: get("supportedControl").into_iter().collect(),
            extensions: get("supportedExtension").into_iter().collect(),
            subschema: get("subschemaSubentry")
                .first()
                .cloned()
                .unwrap_or_else(|| "cn=Subschema".into()),
        }
    }

    pub fn supports_control(&self, oid: &str) -> bool {
        self.controls.contains(oid)
    }

    pub fn supports_extension(&self, oid: &str) -> bool {
        self.extensions.contains(oid)
    }

    /// Human names of the extended operations that matter here.
    pub fn notable_extensions(&self) -> Vec<&'static str> {
        [
            (oid::STARTTLS, "StartTLS"),
            (oid::PASSWORD_MODIFY, "password modify"),
            (oid::WHOAMI, "WhoAmI"),
        ]
        .iter()
        .filter(|(o, _)| self.supports_extension(o))
        .map(|(_, n)| *n)
        .collect()
    }

    /// Human names of the controls that matter here.
    pub fn notable_controls(&self) -> Vec<&'static str> {
        [
            (oid::PAGED_RESULTS, "paged results"),
            (oid::SYNC, "content sync (RFC 4533)"),
            (oid::POST_READ, "post-read"),
            (oid::PERMISSIVE_MODIFY, "permissive modify"),
        ]
        .iter()
        .filter(|(o, _)| self.supports_control(o))
        .map(|(_, n)| *n)
        .collect()
    }
}

/// One parsed RFC 4512 definition: `( oid NAME 'x' KEY value FLAG … )`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definition {
    pub oid: String,
    pub names: Vec<String>,
    /// Keyword → values (a single value or a parenthesised list).
    pub fields: BTreeMap<String, Vec<String>>,
    pub flags: BTreeSet<String>,
}

const FLAGS: &[&str] = &[
    "SINGLE-VALUE",
    "COLLECTIVE",
    "NO-USER-MODIFICATION",
    "OBSOLETE",
    "ABSTRACT",
    "STRUCTURAL",
    "AUXILIARY",
];

impl Definition {
    /// Parses one description; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Definition> {
        let tokens = tokenize(text)?;
        let mut it = tokens.into_iter().peekable();
        if it.next()? != Token::Open {
            return None;
        }
        let Token::Word(oid) = it.next()? else {
            return None;
        };
        let mut def = Definition {
            oid,
            ..Definition::default()
        };
        let mut closed = false;
        while let Some(token) = it.next() {
            let keyword = match token {
                Token::Close => {
                    closed = true;
                    break;
                }
                Token::Word(w) => w.to_ascii_uppercase(),
                _ => return None,
            };
            if FLAGS.contains(&keyword.as_str()) {
                def.flags.insert(keyword);
                continue;
            }
            let values = match it.next()? {
                Token::Open => {
                    let mut values = Vec::new();
                    loop {
                        match it.next()? {
                            Token::Close => break,
                            Token::Word(w) | Token::Quoted(w) => values.push(w),
                            Token::Open => return None,
                        }
                    }
                    values
                }
                Token::Word(w) | Token::Quoted(w) => vec![w],
                Token::Close => return None,
            };
            if keyword == "NAME" {
                def.names = values.clone();
            }
            def.fields.insert(keyword, values);
        }
        if !closed || it.next().is_some() {
            return None;
        }
        Some(def)
    }

    /// The first value of a field.
    pub fn field(&self, keyword: &str) -> Option<&str> {
        self.fields
            .get(keyword)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The values of a field.
    pub fn list(&self, keyword: &str) -> &[String] {
        self.fields.get(keyword).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first name, else the OID.
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.oid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '$' => {
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => s.push(c),
                    }
                }
                // RFC 4512 qdstring escapes: \27 (') and \5C (\).
                tokens.push(Token::Quoted(
                    s.replace("\\27", "'")
                        .replace("\\5C", "\\")
                        .replace("\\5c", "\\"),
                ));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '\'' || c == '$' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(s));
            }
        }
    }
    Some(tokens)
}

/// An attribute type, with what it inherits resolved.
#[derive(Debug, Clone)]
pub struct AttributeType {
    pub name: String,
    pub syntax: String,
    pub equality: String,
    pub single_valued: bool,
    pub no_user_modification: bool,
    pub operational: bool,
}

/// The subschema: object classes and attribute types by lower-cased name and OID.
#[derive(Debug, Clone, Default)]
pub struct Subschema {
    classes: HashMap<String, Definition>,
    attributes: HashMap<String, Definition>,
}

/// Superclass and SUP chains are followed this deep at most (a loop in a broken schema stops).
const MAX_DEPTH: usize = 32;

impl Subschema {
    /// Builds it from the `objectClasses` and `attributeTypes` values; unparsable definitions are
    /// skipped (and counted in the log).
    pub fn parse(object_classes: &[String], attribute_types: &[String]) -> Subschema {
        let mut schema = Subschema::default();
        let mut skipped = 0usize;
        for (texts, map) in [
            (object_classes, &mut schema.classes),
            (attribute_types, &mut schema.attributes),
        ] {
            for text in texts {
                match Definition::parse(text) {
                    Some(def) => {
                        map.insert(def.oid.to_ascii_lowercase(), def.clone());
                        for name in &def.names {
                            map.insert(name.to_ascii_lowercase(), def.clone());
                        }
                    }
                    None => skipped += 1,
                }
            }
        }
        if skipped > 0 {
            tracing::debug!(skipped, "unparsable subschema definitions skipped");
        }
        schema
    }

    pub fn class(&self, name: &str) -> Option<&Definition> {
        self.classes.get(&name.to_ascii_lowercase())
    }

    /// An attribute type with syntax and equality inherited through SUP.
    pub fn attribute(&self, name: &str) -> Option<AttributeType> {
        let def = self.attributes.get(&name.to_ascii_lowercase())?;
        let mut syntax = def.field("SYNTAX").map(str::to_owned);
        let mut equality = def.field("EQUALITY").map(str::to_owned);
        let mut sup = def.field("SUP").map(str::to_owned);
        let mut depth = 0;
        while let (Some(s), true) = (sup.clone(), syntax.is_none() || equality.is_none()) {
            depth += 1;
            let Some(parent) = self.attributes.get(&s.to_ascii_lowercase()) else {
                break;
            };
            if depth > MAX_DEPTH {
                break;
            }
            syntax = syntax.or_else(|| parent.field("SYNTAX").map(str::to_owned));
            equality = equality.or_else(|| parent.field("EQUALITY").map(str::to_owned));
            sup = parent.field("SUP").map(str::to_owned);
        }
        let syntax = syntax.unwrap_or_default();
        // Drop a length bound: 1.3.6.1.4.1.1466.115.121.1.15{256}.
        let syntax = syntax.split('{').next().unwrap_or("").to_owned();
        Some(AttributeType {
            name: def.name().to_owned(),
            syntax,
            equality: equality.unwrap_or_default(),
            single_valued: def.flags.contains("SINGLE-VALUE"),
            no_user_modification: def.flags.contains("NO-USER-MODIFICATION"),
            operational: def
                .field("USAGE")
                .is_some_and(|u| !u.eq_ignore_ascii_case("userApplications")),
        })
    }

    /// MUST and MAY of a class and its superclasses (names as the schema spells them).
    pub fn class_attributes(&self, class: &str) -> Option<(Vec<String>, Vec<String>)> {
        let mut must = Vec::new();
        let mut may = Vec::new();
        let mut pending = vec![(class.to_owned(), 0usize)];
        let mut seen = BTreeSet::new();
        self.class(class)?;
        while let Some((name, depth)) = pending.pop() {
            if depth > MAX_DEPTH || !seen.insert(name.to_ascii_lowercase()) {
                continue;
            }
            let Some(def) = self.class(&name) else {
                continue;
            };
            must.extend(def.list("MUST").iter().cloned());
            may.extend(def.list("MAY").iter().cloned());
            for sup in def.list("SUP") {
                pending.push((sup.clone(), depth + 1));
            }
        }
        Some((must, may))
    }
}

/// The kind an LDAP syntax OID maps to.
pub fn kind_of_syntax(syntax: &str) -> AttrKind {
    match syntax.rsplit('.').next() {
        _ if !syntax.starts_with("1.3.6.1.4.1.1466.115.121.1.") => {
            // AD syntaxes are written as 2.5.5.x in some servers' schema.
            match syntax {
                "2.5.5.1" => AttrKind::Reference,
                "2.5.5.8" => AttrKind::Boolean,
                "2.5.5.9" | "2.5.5.16" => AttrKind::Integer,
                "2.5.5.10" | "2.5.5.17" => AttrKind::Binary,
                "2.5.5.11" => AttrKind::DateTime,
                _ => AttrKind::String,
            }
        }
        Some("12") | Some("34") => AttrKind::Reference,
        Some("27") => AttrKind::Integer,
        Some("7") => AttrKind::Boolean,
        Some("24") => AttrKind::DateTime,
        Some("5") | Some("8") | Some("9") | Some("10") | Some("28") | Some("40") | Some("49") => {
            AttrKind::Binary
        }
        _ => AttrKind::String,
    }
}

/// One exposed attribute of an object type.
#[derive(Debug, Clone)]
pub struct AttrModel {
    pub name: String,
    /// The name on the wire: `userCertificate;binary` for the syntaxes RFC 4522 says must be
    /// transferred with the `;binary` option (certificates, CRLs, certificate pairs,
    /// supported algorithms), else the name.
    pub wire: String,
    pub kind: AttrKind,
    pub multi_valued: bool,
    pub direction: Direction,
    pub required: bool,
}

impl AttrModel {
    pub fn is_secret(&self) -> bool {
        self.kind == AttrKind::Secret
    }
    pub fn writable(&self) -> bool {
        self.direction != Direction::Import
    }
}

/// One configured object type, resolved against the server's schema.
#[derive(Debug, Clone)]
pub struct ObjectModel {
    pub name: String,
    pub object_classes: Vec<String>,
    pub bases: Vec<String>,
    pub scope: ScopeName,
    /// The full search filter of the type: its classes and the configured filter.
    pub filter: String,
    pub template: DnTemplate,
    /// Lower-cased name (and aliases) → attribute.
    pub attributes: BTreeMap<String, AttrModel>,
    /// Exposed attributes in schema order, each once.
    pub order: Vec<String>,
    /// Attributes an import requests: every readable exposed attribute plus the anchor.
    pub requested: Vec<String>,
    pub schema: ObjectTypeSchema,
}

impl ObjectModel {
    /// The exposed attribute called `name` (any alias, any case, with or without options such
    /// as `;binary`).
    pub fn attribute(&self, name: &str) -> Option<&AttrModel> {
        let base = name.split(';').next().unwrap_or(name);
        self.attributes.get(&base.to_ascii_lowercase())
    }
}

/// Everything discovered: the server, the object types and the connector schema.
#[derive(Debug, Clone)]
pub struct Model {
    pub server: ServerInfo,
    pub objects: Vec<ObjectModel>,
    pub schema: ConnectorSchema,
    pub class_count: usize,
}

impl Model {
    /// The object type called `name` (case-insensitive), or `Misconfigured`.
    pub fn object(&self, name: &str) -> Result<&ObjectModel, ConnectorError> {
        self.object_at(name).map(|(_, o)| o)
    }

    /// The object type called `name` and its position.
    pub fn object_at(&self, name: &str) -> Result<(usize, &ObjectModel), ConnectorError> {
        self.objects
            .iter()
            .enumerate()
            .find(|(_, o)| o.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ConnectorError::misconfigured(format!(
                    "object type {name} is not configured (configured: {})",
                    self.objects
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// Resolves the configuration against the discovered schema.
pub fn build(
    config: &LdapConfig,
    server: ServerInfo,
    subschema: &Subschema,
) -> Result<Model, ConnectorError> {
    let objects = config
        .objects
        .iter()
        .map(|o| object_model(config, o, subschema))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = ConnectorSchema {
        object_types: objects.iter().map(|o| o.schema.clone()).collect(),
    };
    Ok(Model {
        server,
        objects,
        schema,
        class_count: subschema
            .classes
            .values()
            .map(|d| &d.oid)
            .collect::<BTreeSet<_>>()
            .len(),
    })
}

fn object_model(
    config: &LdapConfig,
    o: &ObjectConfig,
    subschema: &Subschema,
) -> Result<ObjectModel, ConnectorError> {
    let bad =
        |m: String| ConnectorError::misconfigured(format!("object type {}: {m}", o.object_type));
    let mut must = BTreeSet::new();
    let mut candidates = Vec::new();
    for class in &o.object_classes {
        let (m, may) = subschema
            .class_attributes(class)
            .ok_or_else(|| bad(format!("the server's schema has no object class {class:?}")))?;
        must.extend(m.iter().map(|a| a.to_ascii_lowercase()));
        candidates.extend(m);
        candidates.extend(may);
    }
    if let Some(list) = &o.attributes {
        candidates = list.clone();
    }
    let excluded: BTreeSet<String> = o.exclude.iter().map(|a| a.to_ascii_lowercase()).collect();
    let password = config.password_attribute.to_ascii_lowercase();
    let anchor_name = config.anchor.attribute().to_owned();

    let mut attributes: BTreeMap<String, AttrModel> = BTreeMap::new();
    let mut order = Vec::new();
    let mut schema_attrs = Vec::new();
    let add = |attributes: &mut BTreeMap<String, AttrModel>,
               order: &mut Vec<String>,
               schema_attrs: &mut Vec<AttributeSchema>,
               model: AttrModel,
               aliases: Vec<String>,
               schema: AttributeSchema| {
        let key = model.name.to_ascii_lowercase();
        if attributes.contains_key(&key) {
            return;
        }
        order.push(model.name.clone());
        for alias in aliases {
            attributes.insert(alias.to_ascii_lowercase(), model.clone());
        }
        attributes.insert(key, model);
        schema_attrs.push(schema);
    };

    for name in candidates {
        let lower = name.to_ascii_lowercase();
        if lower == "objectclass" || excluded.contains(&lower) {
            continue;
        }
        let at = subschema.attribute(&name).ok_or_else(|| {
            bad(format!(
                "the server's schema has no attribute type {name:?}"
            ))
        })?;
        let aliases = subschema
            .attributes
            .get(&lower)
            .map(|d| {
                let mut a = d.names.clone();
                a.push(d.oid.clone());
                a
            })
            .unwrap_or_default();
        let secret = at.name.eq_ignore_ascii_case(&password)
            || aliases.iter().any(|a| a.eq_ignore_ascii_case(&password))
            || at.name.eq_ignore_ascii_case("unicodePwd");
        let (kind, direction, multi) = if secret {
            (AttrKind::Secret, Direction::Export, false)
        } else {
            let direction = if at.no_user_modification || at.operational {
                Direction::Import
            } else {
                Direction::ImportExport
            };
            (kind_of_syntax(&at.syntax), direction, !at.single_valued)
        };
        let required = must.contains(&lower) && direction != Direction::Import;
        let case_exact = matches!(
            at.equality.to_ascii_lowercase().as_str(),
            "caseexactmatch" | "caseexactia5match" | "octetstringmatch"
        );
        let references = o
            .references
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&at.name))
            .map(|(_, v)| v.clone());
        let binary_transfer = matches!(at.syntax.rsplit('.').next(), Some("8" | "9" | "10" | "49"))
            && at.syntax.starts_with("1.3.6.1.4.1.1466.115.121.1.");
        let model = AttrModel {
            name: at.name.clone(),
            wire: if binary_transfer {
                format!("{};binary", at.name)
            } else {
                at.name.clone()
            },
            kind,
            multi_valued: multi,
            direction,
            required,
        };
        let schema = AttributeSchema {
            name: at.name.clone(),
            kind,
            multi_valued: multi,
            required,
            direction,
            case_exact,
            references,
        };
        add(
            &mut attributes,
            &mut order,
            &mut schema_attrs,
            model,
            aliases,
            schema,
        );
    }

    // The anchor attribute: an import-only string (the DN pseudo-attribute `dn` for DN anchors).
    if config.anchor == AnchorConfig::Dn || subschema.attribute(&anchor_name).is_some() {
        let name = subschema
            .attribute(&anchor_name)
            .map(|a| a.name)
            .unwrap_or(anchor_name.clone());
        let model = AttrModel {
            name: name.clone(),
            wire: name.clone(),
            kind: AttrKind::String,
            multi_valued: false,
            direction: Direction::Import,
            required: false,
        };
        let mut schema = AttributeSchema::new(name.clone(), AttrKind::String);
        schema.direction = Direction::Import;
        schema.case_exact = false;
        let key = name.to_ascii_lowercase();
        if attributes.contains_key(&key) {
            for existing in attributes.values_mut() {
                if existing.name.eq_ignore_ascii_case(&name) {
                    existing.direction = Direction::Import;
                    existing.kind = AttrKind::String;
                    existing.required = false;
                }
            }
            if let Some(s) = schema_attrs
                .iter_mut()
                .find(|s| s.name.eq_ignore_ascii_case(&name))
            {
                *s = schema;
            }
        } else {
            add(
                &mut attributes,
                &mut order,
                &mut schema_attrs,
                model,
                vec![],
                schema,
            );
        }
    } else {
        return Err(bad(format!(
            "the anchor attribute {anchor_name} is not in the server's schema"
        )));
    }

    let template = match (&o.dn_template, &o.rdn_attribute) {
        (Some(t), None) => DnTemplate::parse(t).map_err(bad)?,
        (None, Some(rdn)) => {
            let base = o.base.to_vec().into_iter().next().unwrap_or_default();
            DnTemplate::parse(&format!("{rdn}={{{rdn}}},{base}")).map_err(bad)?
        }
        _ => {
            return Err(bad(
                "set exactly one of rdn_attribute and dn_template".into()
            ));
        }
    };
    for a in template.attributes() {
        if !attributes.contains_key(&a.to_ascii_lowercase()) {
            return Err(bad(format!(
                "the DN uses attribute {a}, which is not exposed"
            )));
        }
    }

    let mut filter = String::from("(&");
    for class in &o.object_classes {
        filter.push_str(&crate::dn::eq_filter("objectClass", class));
    }
    if let Some(extra) = &o.filter {
        let extra = extra.trim();
        let extra = if extra.starts_with('(') {
            extra.to_owned()
        } else {
            format!("({extra})")
        };
        ldap3::parse_filter(&extra)
            .map_err(|_| bad(format!("the filter {extra:?} does not parse")))?;
        filter.push_str(&extra);
    }
    filter.push(')');

    let mut requested: Vec<String> = order
        .iter()
        .filter_map(|n| attributes.get(&n.to_ascii_lowercase()))
        .filter(|a| !a.is_secret())
        .filter(|a| !(config.anchor == AnchorConfig::Dn && a.name == "dn"))
        .map(|a| a.wire.clone())
        .collect();
    if requested.is_empty() {
        requested.push("1.1".into());
    }

    let bases = o.base.to_vec();
    if bases.is_empty() {
        return Err(bad("base is empty".into()));
    }
    let schema = ObjectTypeSchema {
        name: o.object_type.clone(),
        anchor_attribute: attributes
            .get(&anchor_name.to_ascii_lowercase())
            .map(|a| a.name.clone())
            .unwrap_or(anchor_name),
        dn_style: DnStyle::Ldap,
        attributes: schema_attrs,
    };
    Ok(ObjectModel {
        name: o.object_type.clone(),
        object_classes: o.object_classes.clone(),
        bases,
        scope: o.scope,
        filter,
        template,
        attributes,
        order,
        requested,
        schema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse() {
        let d = Definition::parse(
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'it\\27s \\5Cx' SUP name )",
        )
        .unwrap();
        assert_eq!(d.field("DESC"), Some("it's \\x"));
        assert_eq!(d.names, vec!["cn", "commonName"]);
        let d = Definition::parse(
            "( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) DESC 'RFC4519: user identifier' \
             EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch \
             SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )",
        )
        .unwrap();
        assert_eq!(d.names, vec!["uid", "userid"]);
        assert_eq!(d.field("EQUALITY"), Some("caseIgnoreMatch"));
        let c = Definition::parse(
            "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL \
             MAY ( audio $ businessCategory $ carLicense ) )",
        )
        .unwrap();
        assert!(c.flags.contains("STRUCTURAL"));
        assert_eq!(c.list("MAY").len(), 3);
        assert_eq!(c.field("SUP"), Some("organizationalPerson"));
        for broken in [
            "",
            "(",
            "( 1.2 NAME",
            "( 1.2 NAME ( 'a' )",
            "x y z",
            "( 1.2 MUST ( ( ) )",
        ] {
            assert!(Definition::parse(broken).is_none(), "{broken:?}");
        }
    }

    #[test]
    fn syntaxes_map_to_kinds() {
        let k = kind_of_syntax;
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.12"), AttrKind::Reference);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.34"), AttrKind::Reference);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.27"), AttrKind::Integer);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.7"), AttrKind::Boolean);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.24"), AttrKind::DateTime);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.40"), AttrKind::Binary);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.15"), AttrKind::String);
        assert_eq!(k("1.3.6.1.4.1.1466.115.121.1.127"), AttrKind::String);
        assert_eq!(k("1.3.6.1.1.16.1"), AttrKind::String);
        assert_eq!(k("2.5.5.1"), AttrKind::Reference);
    }

    #[test]
    fn inheritance_is_resolved() {
        let s = Subschema::parse(
            &[
                "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )".into(),
                "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ seeAlso ) )".into(),
                "( 9.9 NAME 'loop' SUP loop MAY description )".into(),
            ],
            &[
                "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} )".into(),
                "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )".into(),
                "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )".into(),
                "( 2.5.4.35 NAME 'userPassword' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40{128} )".into(),
                "( 2.5.4.34 NAME 'seeAlso' SUP distinguishedName )".into(),
                "( 2.5.4.49 NAME 'distinguishedName' SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )".into(),
                "( 1.3.6.1.1.16.4 NAME 'entryUUID' SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )".into(),
                "( 9.8 NAME 'loopy' SUP loopy )".into(),
            ],
        );
        let cn = s.attribute("commonName").unwrap();
        assert_eq!(
            (cn.name.as_str(), cn.syntax.as_str()),
            ("cn", "1.3.6.1.4.1.1466.115.121.1.15")
        );
        assert!(s.attribute("loopy").is_some(), "a SUP loop ends");
        let (must, may) = s.class_attributes("person").unwrap();
        assert!(must.contains(&"objectClass".to_owned()) && must.contains(&"sn".to_owned()));
        assert!(may.contains(&"seeAlso".to_owned()));
        assert!(
            s.class_attributes("loop").is_some(),
            "a superclass loop ends"
        );
        assert!(s.class_attributes("nope").is_none());

        let mut config = LdapConfig::new(vec![], vec![]);
        config
            .objects
            .push(ObjectConfig::new("User", &["person"], "ou=p,dc=x", "cn"));
        let model = build(&config, ServerInfo::default(), &s).unwrap();
        let user = model.object("user").unwrap();
        assert_eq!(user.attribute("surname").unwrap().name, "sn");
        assert!(user.attribute("sn").unwrap().required);
        assert!(user.attribute("userPassword").unwrap().is_secret());
        assert_eq!(user.attribute("seeAlso").unwrap().kind, AttrKind::Reference);
        assert_eq!(user.schema.anchor_attribute, "entryUUID");
        assert_eq!(
            user.attribute("entryUUID").unwrap().direction,
            Direction::Import
        );
        assert!(!user.requested.iter().any(|a| a == "userPassword"));
        assert_eq!(user.filter, "(&(objectClass=person))");
        assert!(model.object("Group").is_err());
    }
}
