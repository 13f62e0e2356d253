//! Entries: searching by anchor and turning what the server returns into connector objects,
//! with AD's ranged retrieval of large attributes completed on the way (`complete_ranges`).
//!
//! Runs inside the connection's future (so ldap3's panicking BER parsers are under the pool's
//! `catch_unwind`). Secrets never leave this module: the password attribute is never requested,
//! and dropped if a server returns it anyway.

use std::collections::HashMap;

use connector_core::{AttrKind, AttrValue, ConnectorError, ConnectorObject};
use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapResult, ResultEntry, Scope, SearchEntry};

use crate::config::{AnchorConfig, ScopeName};
use crate::dn::{self, eq_filter, escape_filter_bytes};
use crate::errors::{self, Op};
use crate::schema::ObjectModel;
use crate::value;

/// An entry as returned: DN and raw values by attribute name (as the server spelled it).
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub dn: String,
    pub values: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// Decodes a search result entry (ldap3 panics on malformed BER; callers run under the
    /// pool's `catch_unwind`).
    pub fn from_result(re: ResultEntry) -> Entry {
        let se = SearchEntry::construct(re);
        Entry::from_maps(se.dn, se.attrs, se.bin_attrs)
    }

    pub fn from_maps(
        dn: String,
        attrs: HashMap<String, Vec<String>>,
        bin_attrs: HashMap<String, Vec<Vec<u8>>>,
    ) -> Entry {
        let mut values: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for (name, vals) in attrs {
            values
                .entry(name)
                .or_default()
                .extend(vals.into_iter().map(String::into_bytes));
        }
        for (name, vals) in bin_attrs {
            values.entry(name).or_default().extend(vals);
        }
        Entry { dn, values }
    }

    /// The values of an attribute, by any case of its name.
    pub fn get(&self, name: &str) -> &[Vec<u8>] {
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The entry's anchor.
    pub fn anchor(&self, anchor: &AnchorConfig) -> Result<String, ConnectorError> {
        value::anchor_text(
            anchor,
            &self.dn,
            self.get(anchor.attribute()).first().map(Vec::as_slice),
        )
        .ok_or_else(|| {
            ConnectorError::misconfigured(format!(
                "the entry {} has no usable {anchor} (is the anchor attribute readable by the bind identity?)",
                self.dn
            ))
        })
    }

    /// The connector object: exposed attributes under their schema names, typed by the
    /// schema; secrets and unexposed attributes dropped.
    pub fn to_object(
        &self,
        obj: &ObjectModel,
        anchor: &AnchorConfig,
    ) -> Result<ConnectorObject, ConnectorError> {
        let anchor_text = self.anchor(anchor)?;
        let mut out = ConnectorObject::new(obj.name.clone(), anchor_text.clone());
        out.dn = Some(self.dn.clone());
        for (name, raw) in &self.values {
            let Some(attr) = obj.attribute(name) else {
                continue;
            };
            if attr.is_secret() || raw.is_empty() {
                continue;
            }
            let values = raw
                .iter()
                .map(|bytes| match (attr.kind, std::str::from_utf8(bytes)) {
                    (AttrKind::Binary, _) | (_, Err(_)) => AttrValue::Binary(bytes.clone()),
                    (kind, Ok(text)) => value::import_text(kind, text),
                })
                .collect();
            out.set(attr.name.clone(), values);
        }
        let anchor_attribute = obj.schema.anchor_attribute.clone();
        out.set(anchor_attribute, vec![AttrValue::String(anchor_text)]);
        Ok(out)
    }
}

/// The search scope of an object type.
pub fn scope(s: ScopeName) -> Scope {
    match s {
        ScopeName::Sub => Scope::Subtree,
        ScopeName::One => Scope::OneLevel,
    }
}

/// One search, all entries at once (for small results: lookups, the root DSE, one page).
pub async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[String],
    controls: Vec<RawControl>,
) -> Result<(Vec<Entry>, LdapResult), ConnectorError> {
    if !controls.is_empty() {
        ldap.with_controls(controls);
    }
    let result = ldap
        .search(base, scope, filter, attrs.to_vec())
        .await
        .map_err(|e| errors::from_ldap(Op::Search, base, e))?;
    let (entries, res) = (result.0, result.1);
    if res.rc != 0 {
        return Err(errors::from_result(Op::Search, base, &res));
    }
    let mut entries: Vec<Entry> = entries.into_iter().map(Entry::from_result).collect();
    for entry in &mut entries {
        complete_ranges(ldap, entry).await?;
    }
    Ok((entries, res))
}

/// An attribute description with a range option, as AD returns a large attribute:
/// `member;range=0-1499` → (`member`, 0, Some(1499)); `member;range=1500-*` → (…, None).
pub fn parse_range(name: &str) -> Option<(&str, u64, Option<u64>)> {
    let at = name.to_ascii_lowercase().find(";range=")?;
    let attr = name.get(..at)?;
    let (low, high) = name.get(at + ";range=".len()..)?.split_once('-')?;
    let low = low.parse().ok()?;
    let high = if high == "*" {
        None
    } else {
        Some(high.parse().ok()?)
    };
    Some((attr, low, high))
}

/// Ranged retrieval (AD and AD LDS): a server that returns at most `MaxValRange` values of an
/// attribute per search names it `member;range=0-1499`; the rest is read with base searches
/// for `member;range=1500-*` and on, until a range ends in `*`. The values are merged under the
/// plain attribute name, so callers never see a range. A reply that does not continue where the
/// last range ended is an error, never a truncated list.
async fn complete_ranges(ldap: &mut Ldap, entry: &mut Entry) -> Result<(), ConnectorError> {
    let ranged: Vec<String> = entry
        .values
        .keys()
        .filter(|k| parse_range(k).is_some())
        .cloned()
        .collect();
    for key in ranged {
        let Some((attr, _, mut high)) = parse_range(&key) else {
            continue;
        };
        let attr = attr.to_owned();
        let mut values = entry.values.remove(&key).unwrap_or_default();
        while let Some(last) = high {
            let from = last + 1;
            let result = ldap
                .search(
                    &entry.dn,
                    Scope::Base,
                    "(objectClass=*)",
                    vec![format!("{attr};range={from}-*")],
                )
                .await
                .map_err(|e| errors::from_ldap(Op::Search, &entry.dn, e))?;
            if result.1.rc != 0 {
                return Err(errors::from_result(Op::Search, &entry.dn, &result.1));
            }
            let next = result.0.into_iter().next().map(Entry::from_result);
            let part = next.and_then(|e| {
                e.values.into_iter().find(|(k, _)| {
                    parse_range(k).is_some_and(|(a, _, _)| a.eq_ignore_ascii_case(&attr))
                })
            });
            // No ranged attribute in the reply: nothing beyond the last range.
            let Some((name, more)) = part else { break };
            match parse_range(&name) {
                Some((_, low, next_high)) if low == from => {
                    values.extend(more);
                    high = next_high;
                }
                _ => {
                    return Err(ConnectorError::unavailable(format!(
                        "{}: the server answered {name} when asked for {attr};range={from}-*",
                        entry.dn
                    )));
                }
            }
        }
        entry.values.entry(attr).or_default().extend(values);
    }
    Ok(())
}

/// Finds the entry of an object type with this anchor under its bases; `None` when there is
/// none (a malformed anchor included).
pub async fn find(
    ldap: &mut Ldap,
    obj: &ObjectModel,
    anchor_config: &AnchorConfig,
    anchor: &str,
    attrs: &[String],
) -> Result<Option<Entry>, ConnectorError> {
    let attrs = if attrs.is_empty() {
        vec!["1.1".to_owned()]
    } else {
        attrs.to_vec()
    };
    let mut wanted = attrs.clone();
    if !matches!(anchor_config, AnchorConfig::Dn) {
        wanted.push(anchor_config.attribute().to_owned());
    }
    let assertion = match anchor_config {
        AnchorConfig::Dn => {
            if !obj.bases.iter().any(|b| dn::is_within(anchor, b)) {
                return Ok(None);
            }
            match search(ldap, anchor, Scope::Base, &obj.filter, &wanted, vec![]).await {
                Ok((mut entries, _)) => return Ok(entries.pop()),
                // No such entry, or an anchor that is no DN (invalidDNSyntax).
                Err(ConnectorError::NotFound { .. } | ConnectorError::Rejected { .. }) => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        AnchorConfig::EntryUuid => {
            match value::parse_uuid(anchor).and_then(|b| value::uuid_text(&b)) {
                Some(canonical) => eq_filter("entryUUID", &canonical),
                None => return Ok(None),
            }
        }
        AnchorConfig::ObjectGuid => match value::guid_bytes(anchor) {
            Some(bytes) => format!("(objectGUID={})", escape_filter_bytes(&bytes)),
            None => return Ok(None),
        },
        AnchorConfig::Attribute(a) => eq_filter(a, anchor),
    };
    let filter = format!("(&{}{assertion})", obj.filter);
    for base in &obj.bases {
        match search(ldap, base, scope(obj.scope), &filter, &wanted, vec![]).await {
            Ok((mut entries, _)) => {
                if let Some(e) = entries.pop() {
                    return Ok(Some(e));
                }
            }
            Err(ConnectorError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The raw control of a response, by OID.
pub fn response_control<'r>(res: &'r LdapResult, oid: &str) -> Option<&'r RawControl> {
    res.ctrls.iter().map(|c| &c.1).find(|c| c.ctype == oid)
}

#[cfg(test)]
mod range_tests {
    use super::parse_range;

    #[test]
    fn ranged_attribute_names_parse() {
        assert_eq!(
            parse_range("member;range=0-1499"),
            Some(("member", 0, Some(1499)))
        );
        assert_eq!(
            parse_range("Member;Range=1500-*"),
            Some(("Member", 1500, None))
        );
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;range=x-1"), None);
        assert_eq!(parse_range("member;range=5"), None);
    }
}
