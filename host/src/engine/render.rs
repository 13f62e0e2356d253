//! Rendering: a stored connector object as the SCIM resource a client sees, with its `meta`
//! (location, version) and ETag. The engine renders and encodes its own URLs, so the SCIM answer
//! of a write or a read is whole before it leaves the engine, and the engine needs nothing from
//! the HTTP side.

use std::ops::Range;

use connector_core::AttrValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schemas::resource::Meta;
use schemas::schema::{AttrType, AttributeDef, Returned};
use serde_json::{Map, Value};

use super::binding::{ActiveRule, Binding, ConnectorSide, ResourceKind};
use super::{Runtime, values};
use crate::space::StoredObject;

impl Runtime {
    /// Renders a stored object as a SCIM resource (before projection).
    pub fn render(&self, binding: &Binding, stored: &StoredObject, base_url: &str) -> Value {
        render_resource(binding, stored, base_url, &|r| self.id_for_reference(r))
    }

    /// Writes the SCIM resource of a stored object as JSON into `out`, the bytes of
    /// [`Runtime::render`], the default projection and serialisation; see [`write_resource`].
    pub fn write_resource(
        &self,
        binding: &Binding,
        stored: &StoredObject,
        base_url: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        write_resource(
            binding,
            stored,
            base_url,
            &|r| self.id_for_reference(r),
            out,
        )
    }
}

/// A stored object as a SCIM resource (before projection); `reference_id` turns a stored
/// reference into the SCIM id of the object it names.
fn render_resource(
    binding: &Binding,
    stored: &StoredObject,
    base_url: &str,
    reference_id: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), Value::Array(Vec::new()));
    doc.insert("id".into(), Value::String(stored.object.anchor.to_string()));
    binding.render_into(
        &mut doc,
        &stored.object.attributes,
        stored.object.dn.as_deref(),
        reference_id,
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
    doc.insert("meta".into(), meta_value(meta(binding, stored, base_url)));
    Value::Object(doc)
}

/// One member of a resource written by [`Runtime::write_resource`]: its name and where its
/// value's JSON sits in the scratch buffer.
struct Member<'b> {
    name: &'b str,
    value: Range<usize>,
}

/// A top-level member of a resource written by [`Runtime::write_resource`]: a value, or an
/// extension's container of members.
enum Top<'b> {
    Value(Member<'b>),
    Container {
        urn: &'b str,
        members: Vec<Member<'b>>,
    },
}

impl Top<'_> {
    fn key(&self) -> &str {
        match self {
            Top::Value(m) => m.name,
            Top::Container { urn, .. } => urn,
        }
    }
}

/// Adds a member or replaces the value of the one of the same name in its place, as a map
/// insert does.
fn put<'b>(members: &mut Vec<Member<'b>>, name: &'b str, value: Range<usize>) {
    match members.iter_mut().find(|m| m.name == name) {
        Some(m) => m.value = value,
        None => members.push(Member { name, value }),
    }
}

/// Whether the default projection (no `attributes`, no `excludedAttributes`) keeps a member
/// defined by `defs` under this name: it drops `returned: never` and `request` members.
fn kept(defs: &[AttributeDef], name: &str) -> bool {
    !defs.iter().any(|d| {
        d.name.eq_ignore_ascii_case(name)
            && matches!(d.returned, Returned::Never | Returned::Request)
    })
}

/// A JSON string, escaped as `serde_json` escapes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and a &str always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// One connector value as [`values::to_scim`] converts it, serialised: strings and booleans
/// directly, anything else through its `Value`.
fn write_scim_value(out: &mut Vec<u8>, value: &AttrValue, ty: AttrType) {
    match (ty, value) {
        (AttrType::Boolean, AttrValue::Boolean(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        (AttrType::Boolean | AttrType::Integer | AttrType::Decimal, _) => {
            let _ = serde_json::to_writer(&mut *out, &values::to_scim(value, ty));
        }
        (_, AttrValue::String(s)) => write_str(out, s),
        _ => {
            let _ = serde_json::to_writer(&mut *out, &values::to_scim(value, ty));
        }
    }
}

/// Writes the SCIM resource of a stored object as JSON into `out`: the bytes that
/// [`Runtime::render`], the default projection and serialisation give, without building a
/// `Value` tree (at tens of thousands of lookups a second, that tree's maps and strings
/// were a tenth of the host's CPU). Covers bindings whose fields are simple values, single
/// or multi-valued, at the top or in an extension (every `ecma2host` binding, most `scim`
/// ones); returns false, having written nothing, for anything else (complex attributes,
/// `emails[type eq "work"]` selectors, names that clash), which the caller renders the
/// general way.
fn write_resource(
    binding: &Binding,
    stored: &StoredObject,
    base_url: &str,
    reference_id: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<u8>,
) -> bool {
    let mut scratch: Vec<u8> = Vec::with_capacity(512);
    let mut tops: Vec<Top<'_>> = Vec::with_capacity(binding.fields.len());
    for f in &binding.fields {
        if f.traits.returned == Returned::Never {
            continue;
        }
        if f.scim.select.is_some() || f.scim.sub.is_some() || f.top.attr_type == AttrType::Complex {
            return false;
        }
        let multi = f.top.multi_valued;
        let start = scratch.len();
        if multi {
            scratch.push(b'[');
        }
        let mut n = 0usize;
        match &f.connector {
            ConnectorSide::Dn => {
                if let Some(dn) = stored.object.dn.as_deref() {
                    write_str(&mut scratch, dn);
                    n = 1;
                }
            }
            ConnectorSide::Attribute(a) => {
                for v in stored.object.attributes.get(a).into_iter().flatten() {
                    let mark = scratch.len();
                    if n > 0 {
                        scratch.push(b',');
                    }
                    match v {
                        AttrValue::Reference(r) => match reference_id(r) {
                            Some(id) => write_str(&mut scratch, &id),
                            None => {
                                scratch.truncate(mark);
                                continue;
                            }
                        },
                        other => write_scim_value(&mut scratch, other, f.value_type),
                    }
                    n += 1;
                    if !multi {
                        break;
                    }
                }
            }
        }
        if n == 0 {
            scratch.truncate(start);
            continue;
        }
        if multi {
            scratch.push(b']');
        }
        let value = start..scratch.len();
        match &f.scim.urn {
            None => match tops.iter_mut().find(|t| t.key() == f.scim.name) {
                Some(Top::Value(m)) => m.value = value,
                Some(Top::Container { .. }) => return false,
                None => tops.push(Top::Value(Member {
                    name: &f.scim.name,
                    value,
                })),
            },
            Some(u) => match tops.iter_mut().find(|t| t.key() == u) {
                Some(Top::Container { members, .. }) => put(members, &f.scim.name, value),
                Some(Top::Value(_)) => return false,
                None => tops.push(Top::Container {
                    urn: u,
                    members: vec![Member {
                        name: &f.scim.name,
                        value,
                    }],
                }),
            },
        }
    }
    let schema = &binding.schema;
    let core = &schema.core.attributes;
    let active = (binding.kind == ResourceKind::User && binding.active != ActiveRule::Mapped)
        .then(|| binding.is_active(&stored.object.attributes));
    // What the default projection would drop or reshape is left to the general path.
    if active.is_some() && !kept(core, "active") {
        return false;
    }
    for t in &tops {
        let key = t.key();
        if matches!(key, "schemas" | "id" | "meta") || (key == "active" && active.is_some()) {
            return false;
        }
        let extension = schema
            .extensions
            .iter()
            .find(|(s, _)| s.id.eq_ignore_ascii_case(key));
        match t {
            Top::Value(m) => {
                if extension.is_some() || !kept(core, m.name) {
                    return false;
                }
            }
            Top::Container { urn, members } => {
                let defs = match extension {
                    Some((ext, _)) => schema.schema(&ext.id),
                    None if urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) => {
                        schema.schema(urn)
                    }
                    None => return false,
                }
                .map(|s| s.attributes.as_slice())
                .unwrap_or(&[]);
                if !members.iter().all(|m| kept(defs, m.name)) {
                    return false;
                }
            }
        }
    }
    let meta_members = [
        "resourceType",
        "created",
        "lastModified",
        "location",
        "version",
    ];
    if let Some(def) = core.iter().find(|d| d.name.eq_ignore_ascii_case("meta"))
        && (matches!(def.returned, Returned::Never | Returned::Request)
            || meta_members.iter().any(|m| {
                def.sub_attribute(m)
                    .is_some_and(|s| matches!(s.returned, Returned::Never | Returned::Request))
            }))
    {
        return false;
    }

    out.extend_from_slice(b"{\"schemas\":[");
    write_str(out, &schema.core.id);
    for (ext, _) in &schema.extensions {
        if tops.iter().any(|t| t.key() == ext.id) {
            out.push(b',');
            write_str(out, &ext.id);
        }
    }
    out.extend_from_slice(b"],\"id\":");
    write_str(out, stored.object.anchor.as_str());
    for t in &tops {
        out.push(b',');
        write_str(out, t.key());
        out.push(b':');
        match t {
            Top::Value(m) => {
                out.extend_from_slice(scratch.get(m.value.clone()).unwrap_or_default())
            }
            Top::Container { members, .. } => {
                out.push(b'{');
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, m.name);
                    out.push(b':');
                    out.extend_from_slice(scratch.get(m.value.clone()).unwrap_or_default());
                }
                out.push(b'}');
            }
        }
    }
    if let Some(a) = active {
        out.extend_from_slice(if a {
            b",\"active\":true"
        } else {
            b",\"active\":false"
        });
    }
    out.extend_from_slice(b",\"meta\":{");
    let meta = meta(binding, stored, base_url);
    let members = [
        ("resourceType", &meta.resource_type),
        ("created", &meta.created),
        ("lastModified", &meta.last_modified),
        ("location", &meta.location),
        ("version", &meta.version),
    ];
    let mut first = true;
    for (name, value) in members {
        if let Some(v) = value {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, name);
            out.push(b':');
            write_str(out, v);
        }
    }
    out.extend_from_slice(b"}}");
    true
}

/// A stored object's `meta`: its type, times, URL and version.
fn meta(binding: &Binding, stored: &StoredObject, base_url: &str) -> Meta {
    let location = format!(
        "{base_url}/{}/{}",
        binding.kind.endpoint(),
        encode_segment(stored.object.anchor.as_str())
    );
    Meta::new(
        binding.schema.name.clone(),
        stored.created,
        stored.modified,
        Some(location),
        Some(etag(stored)),
    )
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
    use connector_core::{
        Anchor, AttrKind, AttrValue, AttributeSchema, Attributes, Capabilities, ConnectorObject,
        DnStyle, ObjectTypeSchema,
    };
    use schemas::projection::Projection;
    use schemas::resource::Meta;
    use time::macros::datetime;

    use super::{meta_value, names_version, render_resource, write_resource};
    use crate::config::{DisableAction, ResourceMapConfig};
    use crate::engine::binding::{Binding, ResourceKind};
    use crate::space::{Origin, StoredObject};

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

    fn users_table() -> ObjectTypeSchema {
        let a = AttributeSchema::new;
        let mut mv = a("proxyAddresses", AttrKind::String);
        mv.multi_valued = true;
        ObjectTypeSchema {
            name: "User".into(),
            anchor_attribute: "EmployeeId".into(),
            dn_style: DnStyle::Generic,
            attributes: vec![
                a("EmployeeId", AttrKind::String),
                a("UserName", AttrKind::String),
                a("GivenName", AttrKind::String),
                a("Mail", AttrKind::String),
                a("Dept", AttrKind::String),
                a("ManagerId", AttrKind::Reference),
                a("IsActive", AttrKind::Boolean),
                a("Age", AttrKind::Integer),
                a("Photo", AttrKind::Binary),
                mv,
            ],
        }
    }

    fn scim(map: &[(&str, &str)], disable: DisableAction) -> Binding {
        let mut cfg = ResourceMapConfig::default();
        for (k, v) in map {
            cfg.map.insert((*k).into(), (*v).into());
        }
        Binding::scim(
            ResourceKind::User,
            &users_table(),
            &cfg,
            &disable,
            &Capabilities::default(),
        )
        .unwrap()
    }

    fn stored(anchor: &str, dn: Option<&str>, attrs: &[(&str, Vec<AttrValue>)]) -> StoredObject {
        let mut attributes = Attributes::new();
        for (k, v) in attrs {
            attributes.insert((*k).into(), v.clone());
        }
        StoredObject {
            object: ConnectorObject {
                object_type: "User".into(),
                anchor: Anchor(anchor.into()),
                dn: dn.map(str::to_owned),
                attributes,
            },
            created: datetime!(2026-12-07 16:00:00 UTC),
            modified: datetime!(2026-12-07 16:05:00.123456789 UTC),
            version: 7,
            origin: Origin::Import,
        }
    }

    /// A manager reference resolves unless it names `gone`.
    fn reference_id(r: &str) -> Option<String> {
        (r != "gone").then(|| format!("id-of-{r}"))
    }

    /// The general way: render, default projection, serialisation.
    fn general(b: &Binding, s: &StoredObject) -> String {
        let mut doc = render_resource(b, s, "https://h:1/ecma2host_x/scim", &reference_id);
        Projection::default().apply(&mut doc, &b.schema);
        serde_json::to_string(&doc).unwrap()
    }

    fn direct(b: &Binding, s: &StoredObject) -> Option<String> {
        let mut out = b"prefix".to_vec();
        if !write_resource(
            b,
            s,
            "https://h:1/ecma2host_x/scim",
            &reference_id,
            &mut out,
        ) {
            assert_eq!(out, b"prefix", "nothing written when refused");
            return None;
        }
        Some(String::from_utf8(out.split_off(6)).unwrap())
    }

    fn objects() -> Vec<StoredObject> {
        let s = |v: &str| AttrValue::String(v.into());
        vec![
            stored(
                "e1",
                Some("CN=e1,OBJECT=USER"),
                &[
                    ("EmployeeId", vec![s("e1")]),
                    ("UserName", vec![s("zoë\"\\\n\u{1}</x>")]),
                    ("GivenName", vec![s("Zoë")]),
                    ("Dept", vec![s("Sales")]),
                    ("ManagerId", vec![AttrValue::Reference("e0".into())]),
                    ("IsActive", vec![AttrValue::Boolean(false)]),
                    ("Age", vec![AttrValue::Integer(41)]),
                    ("Photo", vec![AttrValue::Binary(vec![0, 1, 2, 250])]),
                    ("proxyAddresses", vec![s("smtp:a@x"), s("SMTP:b@x")]),
                ],
            ),
            // A reference to nothing, an active flag as text, no DN, few attributes.
            stored(
                "a/b c=d",
                None,
                &[
                    ("UserName", vec![s("u2")]),
                    ("ManagerId", vec![AttrValue::Reference("gone".into())]),
                    ("IsActive", vec![s("1")]),
                    ("Age", vec![s("not a number")]),
                ],
            ),
            stored("e3", Some("CN=e3"), &[]),
        ]
    }

    /// The direct writer must give the bytes of the general rendering, member order and
    /// escapes included, for every binding it accepts; and refuse the ones it does not cover.
    #[test]
    fn written_resources_are_byte_for_byte_the_general_rendering() {
        let ecma = Binding::ecma2host(
            &users_table(),
            &ResourceMapConfig::default(),
            &DisableAction::Default,
            &Capabilities::default(),
        )
        .unwrap();
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let plain = scim(
            &[
                ("userName", "UserName"),
                ("displayName", "GivenName"),
                (&format!("{enterprise}:department"), "Dept"),
                ("externalId", "EmployeeId"),
            ],
            DisableAction::Set {
                set: "IsActive".into(),
                value: false,
            },
        );
        let mapped_active = scim(
            &[("userName", "UserName"), ("active", "IsActive")],
            DisableAction::Default,
        );
        for (i, b) in [&ecma, &plain, &mapped_active].into_iter().enumerate() {
            for s in &objects() {
                let written = direct(b, s).unwrap_or_else(|| panic!("binding {i} is written"));
                assert_eq!(written, general(b, s));
            }
        }
        // Complex attributes (a sub-attribute, a selector, the enterprise `manager`) are left
        // to the general path.
        for map in [
            &[("userName", "UserName"), ("name.givenName", "GivenName")][..],
            &[
                ("userName", "UserName"),
                ("emails[type eq \"work\"].value", "Mail"),
            ][..],
            &[
                ("userName", "UserName"),
                (&format!("{enterprise}:manager"), "ManagerId"),
            ][..],
        ] {
            let complex = scim(map, DisableAction::Default);
            for s in &objects() {
                assert_eq!(direct(&complex, s), None);
            }
        }
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
