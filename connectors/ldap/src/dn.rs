//! Safe LDAP text: RFC 4514 DN values, RFC 4515 filter values, DN parsing and DN templates.
//!
//! **Invariant.** No value that came from a change, an anchor or an entry is ever put into a DN or
//! a filter without going through [`escape_dn_value`] or [`escape_filter_value`] (or
//! [`escape_filter_bytes`] for binary anchors). Configuration text (bases, the `filter` key, the
//! template's fixed parts) is the administrator's and is used as written.

use std::collections::BTreeSet;

/// Escapes one attribute value for use inside a DN (RFC 4514 §2.4): the specials
/// `" + , ; < > \ =`, a leading space or `#`, a trailing space, NUL and other control
/// characters.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for use in a filter assertion (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL
/// become `\2a`, `\28`, `\29`, `\5c` and `\00`. Other text, UTF-8 included, stays as it is.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes every byte of a binary value for a filter assertion (`objectGUID`).
pub fn escape_filter_bytes(value: &[u8]) -> String {
    value.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// `(attribute=value)` with the value escaped.
pub fn eq_filter(attribute: &str, value: &str) -> String {
    format!("({attribute}={})", escape_filter_value(value))
}

/// One attribute-value assertion of an RDN, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    pub attribute: String,
    pub value: String,
}

/// A parsed DN: its RDNs from the leaf up, each with one or more AVAs (`cn=a+uid=b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn {
    pub rdns: Vec<Vec<Ava>>,
}

impl Dn {
    /// Parses an RFC 4514 string. `None` when it is not one (an unterminated escape, an RDN
    /// without `=`). The empty string is the root DSE's empty DN.
    pub fn parse(text: &str) -> Option<Dn> {
        let text = text.trim();
        if text.is_empty() {
            return Some(Dn { rdns: Vec::new() });
        }
        let mut rdns = Vec::new();
        for rdn in split_unescaped(text, &[',', ';'])? {
            let mut avas = Vec::new();
            for ava in split_unescaped(&rdn, &['+'])? {
                let (attribute, value) = ava.split_once('=')?;
                let attribute = attribute.trim();
                if attribute.is_empty() {
                    return None;
                }
                avas.push(Ava {
                    attribute: attribute.to_owned(),
                    value: unescape(value.trim_start())?,
                });
            }
            rdns.push(avas);
        }
        Some(Dn { rdns })
    }

    /// A comparison key: attribute types and values lower-cased, AVAs of an RDN sorted.
    /// Two DNs naming the same entry in a case-insensitive directory have the same key.
    pub fn key(&self) -> Vec<BTreeSet<(String, String)>> {
        self.rdns
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| (a.attribute.to_lowercase(), a.value.trim().to_lowercase()))
                    .collect()
            })
            .collect()
    }

    /// The parent DN, as a string (empty for a one-RDN DN).
    pub fn parent(&self) -> String {
        format_rdns(self.rdns.get(1..).unwrap_or(&[]))
    }

    /// The leaf RDN, as a string.
    pub fn rdn(&self) -> String {
        format_rdns(self.rdns.get(..1).unwrap_or(&[]))
    }

    /// The AVAs of the leaf RDN.
    pub fn leaf(&self) -> &[Ava] {
        self.rdns.first().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl std::fmt::Display for Dn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_rdns(&self.rdns))
    }
}

fn format_rdns(rdns: &[Vec<Ava>]) -> String {
    rdns.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|a| format!("{}={}", a.attribute, escape_dn_value(&a.value)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether two DN strings name the same entry (see [`Dn::key`]); unparsable DNs compare as
/// case-insensitive text.
pub fn same_dn(a: &str, b: &str) -> bool {
    match (Dn::parse(a), Dn::parse(b)) {
        (Some(a), Some(b)) => a.key() == b.key(),
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Whether `dn` is `base` or below it.
pub fn is_within(dn: &str, base: &str) -> bool {
    match (Dn::parse(dn), Dn::parse(base)) {
        (Some(dn), Some(base)) => {
            let (dn, base) = (dn.key(), base.key());
            dn.len() >= base.len() && dn.get(dn.len() - base.len()..) == Some(&base[..])
        }
        _ => false,
    }
}

/// Splits on separators that are not escaped with a backslash; keeps the escapes.
fn split_unescaped(text: &str, separators: &[char]) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            current.push(c);
            current.push(chars.next()?);
        } else if separators.contains(&c) {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    Some(parts)
}

/// Undoes RFC 4514 escapes: `\<special>` and `\XX` hex pairs (which may form UTF-8 sequences).
/// Unescaped trailing spaces are dropped (they are insignificant).
fn unescape(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    let mut escaped_len = 0;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next()?;
            if next.is_ascii_hexdigit() {
                let low = chars.next()?;
                let pair = [next, low].iter().collect::<String>();
                bytes.push(u8::from_str_radix(&pair, 16).ok()?);
            } else {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
            }
            escaped_len = bytes.len();
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    // Trailing unescaped spaces are not part of the value.
    while bytes.len() > escaped_len && bytes.last() == Some(&b' ') {
        bytes.pop();
    }
    String::from_utf8(bytes).ok()
}

/// A DN template: `uid={uid},ou=people,dc=example,dc=com`. Each `{attribute}` is replaced by the
/// object's first value of that attribute, escaped as a DN value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Attribute(String),
}

impl DnTemplate {
    /// Parses a template; `Err` says what is wrong with it.
    pub fn parse(template: &str) -> Result<DnTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (text, after) = rest.split_at(open);
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            let after = after.get(1..).unwrap_or("");
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed {{ in the DN template {template:?}"))?;
            let name = after.get(..close).unwrap_or("").trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(format!(
                    "{{{name}}} in the DN template {template:?} is not an attribute name"
                ));
            }
            parts.push(Part::Attribute(name.to_owned()));
            rest = after.get(close + 1..).unwrap_or("");
        }
        if rest.contains('}') {
            return Err(format!("unopened }} in the DN template {template:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Attribute(_))) {
            return Err(format!(
                "the DN template {template:?} names no attribute, so every object would get the same DN"
            ));
        }
        Ok(DnTemplate { parts })
    }

    /// The attributes the template uses.
    pub fn attributes(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Attribute(a) => Some(a.as_str()),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// The DN for these values; `Err(attribute)` names the first attribute without a value.
    pub fn render(&self, value_of: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Attribute(a) => {
                    let v = value_of(a)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| a.clone())?;
                    out.push_str(&escape_dn_value(&v));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_dn(input: &str, expected: &str) {
        assert_eq!(
            escape_dn_value(input),
            expected,
            "escape_dn_value({input:?})"
        );
        // Every escaped value parses back to itself inside a DN.
        let dn = Dn::parse(&format!("cn={},dc=x", escape_dn_value(input))).unwrap();
        assert_eq!(dn.rdns.len(), 2, "{input:?} split the DN");
        assert_eq!(dn.leaf()[0].value, input, "round trip of {input:?}");
    }

    #[test]
    fn dn_values_are_escaped() {
        check_dn("plain", "plain");
        check_dn("Smith, John", "Smith\\, John");
        check_dn("a+b", "a\\+b");
        check_dn("back\\slash", "back\\\\slash");
        check_dn("*)(uid=*", "*)(uid\\=*");
        check_dn(" leading", "\\ leading");
        check_dn("trailing ", "trailing\\ ");
        check_dn("#hash", "\\#hash");
        check_dn("in#side", "in#side");
        check_dn("nul\0byte", "nul\\00byte");
        check_dn("new\nline", "new\\0aline");
        check_dn("quote\"s;<>", "quote\\\"s\\;\\<\\>");
        check_dn("Jürgen Ößmann-日本語-😀", "Jürgen Ößmann-日本語-😀");
        check_dn(" ", "\\ ");
        check_dn(
            "cn=admin,dc=example,dc=com",
            "cn\\=admin\\,dc\\=example\\,dc\\=com",
        );
    }

    #[test]
    fn filter_values_are_escaped() {
        let check = |input: &str, expected: &str| {
            assert_eq!(escape_filter_value(input), expected, "{input:?}");
        };
        check("plain", "plain");
        check("*)(uid=*", "\\2a\\29\\28uid=\\2a");
        check("*", "\\2a");
        check("a\\b", "a\\5cb");
        check("nul\0", "nul\\00");
        check("(objectClass=*)", "\\28objectClass=\\2a\\29");
        check("Jürgen", "Jürgen");
        check(", + # ", ", + # ");
        assert_eq!(escape_filter_bytes(&[0, 0x2a, 0xff]), "\\00\\2a\\ff");
        assert_eq!(
            eq_filter("uid", "*)(|(uid=*"),
            "(uid=\\2a\\29\\28|\\28uid=\\2a)"
        );
        // Every escaped filter parses as one equality assertion.
        for hostile in ["*)(uid=*", ")(|(objectClass=*", "\\", "\0", "((((", "*"] {
            let f = eq_filter("uid", hostile);
            assert!(ldap3::parse_filter(&f).is_ok(), "{f} does not parse");
            assert_eq!(f.matches('(').count(), 1, "{f}");
        }
    }

    #[test]
    fn dns_parse_compare_and_split() {
        let dn = Dn::parse("uid=Jo\\, Smith+cn=x , OU=People,dc=example,dc=com").unwrap();
        assert_eq!(dn.rdns.len(), 4);
        assert_eq!(dn.leaf()[0].value, "Jo, Smith");
        assert_eq!(dn.leaf()[1].attribute, "cn");
        assert_eq!(dn.parent(), "OU=People,dc=example,dc=com");
        assert!(same_dn(
            "UID=a,ou=people,DC=Example,dc=com",
            "uid=A, ou=People,dc=example,dc=com"
        ));
        assert!(!same_dn("uid=a,ou=people", "uid=b,ou=people"));
        assert!(same_dn("cn=\\4a\\c3\\bcrgen", "cn=Jürgen"));
        assert!(is_within("uid=a,ou=people,dc=x", "ou=People,dc=x"));
        assert!(is_within("ou=people,dc=x", "ou=people,dc=x"));
        assert!(!is_within("uid=a,ou=groups,dc=x", "ou=people,dc=x"));
        assert!(!is_within("dc=x", "ou=people,dc=x"));
        assert_eq!(Dn::parse("uid=a\\"), None);
        assert_eq!(Dn::parse("noequals,dc=x"), None);
        assert_eq!(Dn::parse("").unwrap().rdns.len(), 0);
    }

    #[test]
    fn templates_render_escaped_values() {
        let t = DnTemplate::parse("uid={uid},ou={department},dc=example,dc=com").unwrap();
        assert_eq!(t.attributes(), vec!["uid", "department"]);
        let dn = t
            .render(|a| {
                Some(match a {
                    "uid" => "*)(uid=*".to_owned(),
                    _ => "R&D, Berlin".to_owned(),
                })
            })
            .unwrap();
        assert_eq!(dn, "uid=*)(uid\\=*,ou=R&D\\, Berlin,dc=example,dc=com");
        assert_eq!(Dn::parse(&dn).unwrap().rdns.len(), 4);
        assert_eq!(t.render(|_| None), Err("uid".to_owned()));
        assert!(DnTemplate::parse("uid={uid,dc=x").is_err());
        assert!(DnTemplate::parse("uid={},dc=x").is_err());
        assert!(DnTemplate::parse("cn=fixed,dc=x").is_err());
        assert!(DnTemplate::parse("uid={u id},dc=x").is_err());
    }
}
