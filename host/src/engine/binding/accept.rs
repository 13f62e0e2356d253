//! What a write may carry (DESIGN §3): nothing a client sends is dropped silently.
//!
//! A create or replace body, and a resource after a PATCH, may hold only what the binding
//! holds: values its fields map, the sub-attribute that selects a mapped value
//! (`type: "work"` of a work email mapped by `emails[type eq "work"].value`), and what carries
//! no value at all (`null`, `""`, `[]`, `primary: false`). Besides:
//! - `schemas`, `id` and `meta` (read-only; ignored as RFC 7643 §7 says), and a user's
//!   `active`, which the deprovisioning rule handles (`[connector.deprovision] disable`);
//! - `primary` on a value the map holds: it says which value a single-valued target keeps when
//!   several are sent (see `fields`), and is not kept otherwise (Entra marks its one work
//!   e-mail primary, whatever the target);
//! - `$ref`, `type` and `display` next to the `value` of a reference (`members`, `manager`):
//!   they describe the object the id names, which the host knows from the id.
//!
//! Anything else is refused with `400 invalidValue` naming it (`invalidPath` for a PATCH
//! `path`), before anything is written, unless the connector's `ignore` list names it: then it
//! is accepted and dropped, and the caller reports the drop (one warning per attribute, and a
//! metric).

use schemas::ScimError;
use schemas::filter::Literal;
use schemas::path::PatchPath;
use schemas::resource::get_ci;
use schemas::schema::{AttrType, ResourceSchema};
use serde_json::{Map, Value};

use super::{Binding, Field, ResourceKind};
use connector_core::AttrKind;

/// One `ignore` entry: an attribute (or a sub-attribute) a write may carry although the binding
/// does not hold it; it is accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    /// Extension URN (canonical), `None` for the core schema.
    pub urn: Option<String>,
    /// Attribute name (canonical).
    pub name: String,
    /// Sub-attribute (canonical); `None` covers the whole attribute.
    pub sub: Option<String>,
    /// The entry as configured, which names it in the warning and the metric.
    pub label: String,
}

impl IgnoreRule {
    fn covers(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> bool {
        same_urn(self.urn.as_deref(), urn)
            && self.name.eq_ignore_ascii_case(name)
            && match (&self.sub, sub) {
                (None, _) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (Some(_), None) => false,
            }
    }
}

/// What a write carried that the binding does not hold but accepted because it is ignored:
/// the labels of the `ignore` entries that dropped something, each once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub ignored: Vec<String>,
}

impl Accepted {
    fn note(&mut self, rule: &IgnoreRule) {
        if !self.ignored.contains(&rule.label) {
            self.ignored.push(rule.label.clone());
        }
    }

    /// Adds what `other` dropped.
    pub fn merge(&mut self, other: Accepted) {
        for l in other.ignored {
            if !self.ignored.contains(&l) {
                self.ignored.push(l);
            }
        }
    }
}

/// What a PATCH `path` names, for this binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathVerdict {
    /// Something the binding holds (or the protocol handles: `id`, `meta`, `active`).
    Held,
    /// Something the configuration ignores: the operation is dropped.
    Ignored(Accepted),
}

/// What a map need not hold although Entra's standard requests carry it (its default
/// attribute mappings, `reference/entra-ecma.md` D.2 and D.8): ignored unless mapped, or unless
/// the configuration gives its own `ignore` list.
fn entra_defaults(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::User => &["externalId", "name.formatted"],
        ResourceKind::Group => &["externalId"],
    }
}

/// Reads the `ignore` entries of `[connector.<section>]`: SCIM attribute paths (`roles`,
/// `name.formatted`, `urn:…:enterprise:2.0:User:costCenter`) the protocol defines and no field
/// maps as a whole. Without a configured list, [`entra_defaults`] not mapped.
pub(super) fn ignore_rules(
    configured: Option<&[String]>,
    kind: ResourceKind,
    input: &ResourceSchema,
    fields: &[Field],
) -> Result<Vec<IgnoreRule>, String> {
    let section = match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    };
    let defaults: Vec<String>;
    let entries = match configured {
        Some(list) => list,
        None => {
            defaults = entra_defaults(kind)
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            &defaults
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let bad = |why: String| format!("{section}.ignore: {entry:?} {why}");
        let p =
            PatchPath::parse(entry.trim()).map_err(|e| bad(format!("is no path: {}", e.detail)))?;
        if p.filter.is_some() {
            return Err(bad(
                "has a filter; name an attribute or a sub-attribute (emails, name.formatted)"
                    .to_owned(),
            ));
        }
        let canon = p.attr.canonical(input).ok_or_else(|| {
            bad(format!(
                "is not an attribute of the {} schema; only attributes the protocol defines can \
                 be ignored (anything else is refused)",
                input.name
            ))
        })?;
        if canon.urn.is_none()
            && ["id", "meta", "schemas"]
                .iter()
                .any(|n| canon.name.eq_ignore_ascii_case(n))
        {
            return Err(bad("is always accepted; it need not be ignored".to_owned()));
        }
        let mapped = fields.iter().find(|f| {
            same_urn(f.scim.urn.as_deref(), canon.urn.as_deref())
                && f.scim.name.eq_ignore_ascii_case(&canon.name)
                && f.scim.select.is_none()
                && match (&canon.sub, &f.scim.sub) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    (Some(a), None) => f.value_sub().is_some_and(|v| v.eq_ignore_ascii_case(a)),
                }
        });
        if let Some(f) = mapped {
            if configured.is_none() {
                continue;
            }
            return Err(bad(format!(
                "is mapped (as {}); an attribute is either mapped or ignored",
                f.scim
            )));
        }
        out.push(IgnoreRule {
            urn: canon.urn,
            name: canon.name,
            sub: canon.sub,
            label: entry.trim().to_owned(),
        });
    }
    Ok(out)
}

fn same_urn(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Whether a value carries nothing: `null`, `""`, and arrays or objects of such.
fn carries_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(carries_nothing),
        Value::Object(m) => m.iter().all(|(k, v)| sub_carries_nothing(k, v)),
        _ => false,
    }
}

/// As [`carries_nothing`], for sub-attribute `k` of a complex value: `primary: false` is what an
/// absent `primary` means (RFC 7643 §2.4).
fn sub_carries_nothing(k: &str, v: &Value) -> bool {
    (k.eq_ignore_ascii_case("primary") && *v == Value::Bool(false)) || carries_nothing(v)
}

/// Whether the text of a selecting sub-attribute in `element` is `text` (a boolean compares
/// as `true`/`false`, for `roles[primary eq "True"]`).
pub(super) fn selects(element: &Map<String, Value>, key: &str, text: &str) -> bool {
    match get_ci(element, key) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(text),
        Some(Value::Bool(b)) => b.to_string().eq_ignore_ascii_case(text),
        _ => false,
    }
}

/// Sub-attributes that describe the object a reference names.
fn describes_reference(sub: &str) -> bool {
    ["$ref", "type", "display"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(sub))
}

impl Binding {
    /// `users` or `groups`.
    fn section(&self) -> &'static str {
        match self.kind {
            ResourceKind::User => "users",
            ResourceKind::Group => "groups",
        }
    }

    /// The fields on attribute `name` of schema `urn` (None: core).
    fn fields_on(&self, urn: Option<&str>, name: &str) -> Vec<&Field> {
        self.fields
            .iter()
            .filter(|f| {
                same_urn(f.scim.urn.as_deref(), urn) && f.scim.name.eq_ignore_ascii_case(name)
            })
            .collect()
    }

    /// Checks that `resource` (a normalised create or replace body, or a resource after a
    /// PATCH) carries nothing this binding does not hold; what it carries that is ignored is
    /// returned, to be reported once the write succeeded.
    pub fn accept(&self, resource: &Value) -> Result<Accepted, ScimError> {
        let mut out = Accepted::default();
        let Some(map) = resource.as_object() else {
            return Ok(out);
        };
        for (key, value) in map {
            if ["schemas", "id", "meta"]
                .iter()
                .any(|k| key.eq_ignore_ascii_case(k))
            {
                continue;
            }
            let extension = self
                .input
                .extensions
                .iter()
                .map(|(s, _)| s)
                .find(|s| s.id.eq_ignore_ascii_case(key));
            match (extension, value) {
                (Some(ext), Value::Object(inner)) => {
                    for (k, v) in inner {
                        self.accept_attribute(Some(&ext.id), k, v, &mut out)?;
                    }
                }
                (Some(_), _) => {}
                (None, _) => self.accept_attribute(None, key, value, &mut out)?,
            }
        }
        Ok(out)
    }

    fn accept_attribute(
        &self,
        urn: Option<&str>,
        name: &str,
        value: &Value,
        out: &mut Accepted,
    ) -> Result<(), ScimError> {
        if carries_nothing(value)
            || (self.kind == ResourceKind::User
                && urn.is_none()
                && name.eq_ignore_ascii_case("active"))
        {
            return Ok(());
        }
        let fields = self.fields_on(urn, name);
        let complex = self
            .input
            .attribute(urn, name)
            .map(|d| d.attr_type == AttrType::Complex)
            .unwrap_or(false);
        if !complex {
            return match fields.is_empty() {
                true => self.not_held(urn, name, None, "", out),
                false => Ok(()),
            };
        }
        let elements: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for el in elements {
            let Some(obj) = el.as_object() else {
                continue;
            };
            let taking: Vec<&Field> = fields
                .iter()
                .copied()
                .filter(|f| {
                    f.scim
                        .select
                        .as_ref()
                        .is_none_or(|(k, v)| selects(obj, k, v))
                })
                .collect();
            // `value` first, so a value nothing takes is named by it.
            let mut subs: Vec<(&String, &Value)> = obj.iter().collect();
            subs.sort_by_key(|(k, _)| !k.eq_ignore_ascii_case("value"));
            for (sub, v) in subs {
                if sub_carries_nothing(sub, v) || holds_sub(&taking, sub) {
                    continue;
                }
                let selection = selection_label(&fields, obj);
                self.not_held(urn, name, Some(sub), &selection, out)?;
            }
        }
        Ok(())
    }

    /// An attribute the binding does not hold: ignored, or refused naming it.
    fn not_held(
        &self,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
        selection: &str,
        out: &mut Accepted,
    ) -> Result<(), ScimError> {
        if let Some(rule) = self.ignore.iter().find(|r| r.covers(urn, name, sub)) {
            out.note(rule);
            return Ok(());
        }
        Err(ScimError::invalid_value(
            self.not_held_detail(&label(urn, name, selection, sub)),
        ))
    }

    fn not_held_detail(&self, label: &str) -> String {
        format!(
            "{label} is not held by this connector (/Schemas lists what it holds); its \
             administrator can map it, or list it in [connector.{}] ignore to accept and drop it",
            self.section()
        )
    }

    /// Checks the `path` of one PATCH operation: `invalidPath` naming it when it points at
    /// something this binding does not hold, [`PathVerdict::Ignored`] when the configuration
    /// ignores it (the operation is then dropped).
    pub fn accept_path(&self, path: &str) -> Result<PathVerdict, ScimError> {
        let p = PatchPath::parse(path)?;
        // A path the protocol does not know is refused by the PATCH itself, naming it.
        let Some(canon) = p.attr.canonical(&self.input) else {
            return Ok(PathVerdict::Held);
        };
        let urn = canon.urn.as_deref();
        let name = canon.name.as_str();
        if urn.is_none()
            && (["id", "meta", "schemas"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
                || (self.kind == ResourceKind::User && name.eq_ignore_ascii_case("active")))
        {
            return Ok(PathVerdict::Held);
        }
        let sub = p.sub.as_deref().or(canon.sub.as_deref());
        let fields = self.fields_on(urn, name);
        let refuse = |selection: &str| -> Result<PathVerdict, ScimError> {
            if let Some(rule) = self.ignore.iter().find(|r| r.covers(urn, name, sub)) {
                let mut a = Accepted::default();
                a.note(rule);
                return Ok(PathVerdict::Ignored(a));
            }
            Err(ScimError::invalid_path(format!(
                "path {path:?}: {}",
                self.not_held_detail(&label(urn, name, selection, sub))
            )))
        };
        if fields.is_empty() {
            return refuse("");
        }
        if let Some(s) = sub
            && !holds_sub(&fields, s)
        {
            return refuse("");
        }
        // A value filter on the selecting sub-attribute must select a mapped value
        // (`emails[type eq "home"]` when only work e-mails are held is not held).
        if let Some(filter) = &p.filter
            && fields.iter().all(|f| f.scim.select.is_some())
        {
            for (term, literal) in filter.equality_terms().unwrap_or_default() {
                let key = term.sub.as_deref().unwrap_or(&term.name);
                let text = match literal {
                    Literal::String(s) => s.clone(),
                    Literal::Bool(b) => b.to_string(),
                    Literal::Number(n) => n.to_string(),
                    Literal::Null => continue,
                };
                let keyed: Vec<&&Field> = fields
                    .iter()
                    .filter(|f| {
                        f.scim
                            .select
                            .as_ref()
                            .is_some_and(|(k, _)| k.eq_ignore_ascii_case(key))
                    })
                    .collect();
                if !keyed.is_empty()
                    && !keyed.iter().any(|f| {
                        f.scim
                            .select
                            .as_ref()
                            .is_some_and(|(_, v)| v.eq_ignore_ascii_case(&text))
                    })
                {
                    return refuse(&format!("[{key} eq \"{text}\"]"));
                }
            }
        }
        Ok(PathVerdict::Held)
    }
}

/// Whether one of `fields` (those taking a value) holds its sub-attribute `sub`: the mapped
/// value, the selecting sub-attribute, `primary`, or what describes a reference.
fn holds_sub(fields: &[&Field], sub: &str) -> bool {
    fields.iter().any(|f| {
        f.value_sub().is_some_and(|s| s.eq_ignore_ascii_case(sub))
            || f.scim
                .select
                .as_ref()
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(sub))
            || sub.eq_ignore_ascii_case("primary")
            || (describes_reference(sub)
                && f.kind == AttrKind::Reference
                && f.value_sub() == Some("value"))
    })
}

/// `[type eq "home"]` for a value of an attribute whose fields select by `type`, else nothing.
fn selection_label(fields: &[&Field], element: &Map<String, Value>) -> String {
    fields
        .iter()
        .find_map(|f| f.scim.select.as_ref())
        .and_then(|(k, _)| match get_ci(element, k) {
            Some(Value::String(s)) => Some(format!("[{k} eq \"{s}\"]")),
            Some(Value::Bool(b)) => Some(format!("[{k} eq \"{b}\"]")),
            _ => None,
        })
        .unwrap_or_default()
}

/// `urn:…:name[sel].sub`, as a map key or an `ignore` entry names it.
fn label(urn: Option<&str>, name: &str, selection: &str, sub: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(u) = urn {
        out.push_str(u);
        out.push(':');
    }
    out.push_str(name);
    out.push_str(selection);
    if let Some(s) = sub {
        out.push('.');
        out.push_str(s);
    }
    out
}
