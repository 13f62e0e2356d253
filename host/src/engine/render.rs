//! Rendering: a stored connector object as the SCIM resource a client sees, with its `meta`
//! (location, version) and ETag. The engine renders and encodes its own URLs, so the SCIM answer
//! of a write or a read is whole before it leaves the engine, and the engine needs nothing from
//! the HTTP side.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schemas::resource::Meta;
use serde_json::{Map, Value};

use super::Runtime;
use super::binding::{ActiveRule, Binding, ResourceKind};
use crate::space::StoredObject;

impl Runtime {
    /// Renders a stored object as a SCIM resource (before projection).
    pub fn render(&self, binding: &Binding, stored: &StoredObject, base_url: &str) -> Value {
        let mut doc = Map::new();
        doc.insert("schemas".into(), Value::Array(Vec::new()));
        doc.insert("id".into(), Value::String(stored.object.anchor.to_string()));
        binding.render_into(
            &mut doc,
            &stored.object.attributes,
            stored.object.dn.as_deref(),
            &|r| self.id_for_reference(r),
        );
        if binding.kind == ResourceKind::User && binding.active != ActiveRule::Mapped {
            doc.insert(
                "active".into(),
                Value::Bool(binding.is_active(&stored.object.attributes)),
            );
        }
        let mut schemas = vec![Value::String(binding.schema.core.id.clone())];
        for (ext, _) in &binding.schema.extensions {
            if doc.contains_key(&ext.id) {
                schemas.push(Value::String(ext.id.clone()));
            }
        }
        doc.insert("schemas".into(), Value::Array(schemas));
        let location = format!(
            "{base_url}/{}/{}",
            binding.kind.endpoint(),
            encode_segment(stored.object.anchor.as_str())
        );
        let meta = Meta::new(
            binding.schema.name.clone(),
            stored.created,
            stored.modified,
            Some(location),
            Some(etag(stored)),
        );
        doc.insert("meta".into(), meta_value(meta));
        Value::Object(doc)
    }
}

/// `meta` as JSON, the members in the order `Meta` serialises them, its strings moved rather
/// than copied as `serde_json::to_value` would (every rendered resource has one).
fn meta_value(meta: Meta) -> Value {
    let Meta {
        resource_type,
        created,
        last_modified,
        location,
        version,
        extra,
    } = meta;
    let mut m = Map::new();
    let members = [
        ("resourceType", resource_type),
        ("created", created),
        ("lastModified", last_modified),
        ("location", location),
        ("version", version),
    ];
    for (name, value) in members {
        if let Some(v) = value {
            m.insert(name.into(), Value::String(v));
        }
    }
    m.extend(extra);
    Value::Object(m)
}

/// The weak ETag of a stored object's version.
pub fn etag(stored: &StoredObject) -> String {
    format!("W/\"{}\"", stored.version)
}

/// Whether an `If-Match` / `If-None-Match` header value names the stored object's version:
/// `*` names any existing object; otherwise one of the comma-separated entity tags must carry
/// the same version. Tags compare weakly (RFC 7232 §2.3.2: `W/` is ignored), as SCIM's
/// versions are weak (RFC 7644 §3.14).
pub fn etag_matches(header: &str, stored: &StoredObject) -> bool {
    names_version(header, stored.version)
}

fn names_version(header: &str, version: u64) -> bool {
    let current = version.to_string();
    header.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag
                .strip_prefix("W/")
                .unwrap_or(tag)
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .is_some_and(|v| v == current)
    })
}

/// Percent-encodes one path segment (anchors may contain `/`, spaces, `=`, …).
fn encode_segment(s: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use schemas::resource::Meta;
    use time::macros::datetime;

    use super::{meta_value, names_version};

    #[test]
    fn meta_renders_as_its_serialisation() {
        let mut meta = Meta::new(
            "User",
            datetime!(2026-12-07 16:00:00 UTC),
            datetime!(2026-12-07 16:05:00.5 UTC),
            Some("https://h/ecma2host_x/scim/Users/a%2Fb".into()),
            Some("W/\"3\"".into()),
        );
        assert_eq!(
            meta_value(meta.clone()).to_string(),
            serde_json::to_value(&meta).unwrap().to_string()
        );
        meta.location = None;
        meta.extra.insert("x".into(), 1.into());
        assert_eq!(
            meta_value(meta.clone()).to_string(),
            serde_json::to_value(&meta).unwrap().to_string()
        );
    }

    #[test]
    fn entity_tags_compare_weakly_and_star_matches_any() {
        assert!(names_version("W/\"3\"", 3));
        assert!(names_version("\"3\"", 3));
        assert!(names_version("*", 3));
        assert!(names_version("W/\"1\", W/\"3\"", 3));
        assert!(!names_version("W/\"2\"", 3));
        assert!(!names_version("W/\"33\"", 3));
        assert!(!names_version("3", 3));
        assert!(!names_version("", 3));
    }
}
