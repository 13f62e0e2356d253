use connector_core::{
    AttrKind, AttrValue, AttributeSchema, Attributes, Capabilities, DnStyle, ObjectTypeSchema,
};
use schemas::filter::Filter;
use schemas::resource::ECMA2HOST_USER_SCHEMA;
use schemas::schema::{Mutability, Returned, Uniqueness};
use serde_json::{Map, Value, json};

use super::{ActiveRule, Binding, FilterTarget, ResourceKind};
use crate::config::{DisableAction, ResourceMapConfig};

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
            mv,
        ],
    }
}

fn scim_binding() -> Binding {
    let mut cfg = ResourceMapConfig::default();
    for (k, v) in [
        ("userName", "UserName"),
        ("name.givenName", "GivenName"),
        ("emails[type eq \"work\"].value", "Mail"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "Dept",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "ManagerId",
        ),
    ] {
        cfg.map.insert(k.into(), v.into());
    }
    Binding::scim(
        ResourceKind::User,
        &users_table(),
        &cfg,
        &DisableAction::Set {
            set: "IsActive".into(),
            value: false,
        },
        &Capabilities::default(),
    )
    .unwrap()
}

#[test]
fn scim_map_extracts_what_entra_sends() {
    let b = scim_binding();
    let body = json!({
        "userName": "ada@contoso.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "home", "value": "ada@home"}, {"type": "work", "value": "ada@contoso.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "42"}}
    });
    let (attrs, dn) = b.extract(&body).unwrap();
    assert_eq!(dn, None);
    let text = |n: &str| {
        attrs
            .get(n)
            .map(|v| v.iter().map(AttrValue::to_text).collect::<Vec<_>>())
    };
    assert_eq!(text("UserName"), Some(vec!["ada@contoso.com".into()]));
    assert_eq!(text("GivenName"), Some(vec!["Ada".into()]));
    assert_eq!(text("Mail"), Some(vec!["ada@contoso.com".into()]));
    assert_eq!(text("Dept"), Some(vec!["R&D".into()]));
    assert_eq!(
        attrs.get("ManagerId"),
        Some(&vec![AttrValue::Reference("42".into())])
    );
    assert_eq!(b.unique, vec!["UserName".to_owned()]);
    assert_eq!(
        b.active,
        ActiveRule::SetAttribute {
            attribute: "IsActive".into(),
            disabled: false,
            kind: AttrKind::Boolean
        }
    );
}

#[test]
fn render_then_extract_round_trips() {
    let b = scim_binding();
    let mut attrs = Attributes::new();
    attrs.insert("UserName".into(), vec!["u1".into()]);
    attrs.insert("GivenName".into(), vec!["Grace".into()]);
    attrs.insert("Mail".into(), vec!["g@x".into()]);
    attrs.insert("ManagerId".into(), vec![AttrValue::Reference("7".into())]);
    let mut doc = Map::new();
    b.render_into(&mut doc, &attrs, None, &|r| Some(r.to_owned()));
    let doc = Value::Object(doc);
    assert_eq!(doc["name"]["givenName"], "Grace");
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "g@x"}]));
    assert_eq!(
        doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
        json!({"value": "7"})
    );
    let (back, _) = b.extract(&doc).unwrap();
    assert_eq!(back, attrs);
}

#[test]
fn filter_targets_resolve_to_columns() {
    let b = scim_binding();
    let target = |f: &str| match schemas::filter::Filter::parse(f).unwrap() {
        Filter::Compare { path, .. } => b.filter_target(&path),
        other => panic!("{other:?}"),
    };
    assert_eq!(target("id eq \"1\""), Some(FilterTarget::Anchor));
    assert_eq!(
        target("USERNAME eq \"a\""),
        Some(FilterTarget::Attribute("UserName".into()))
    );
    assert_eq!(
        target("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"a\""),
        Some(FilterTarget::Attribute("UserName".into()))
    );
    assert_eq!(
        target("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"7\""),
        Some(FilterTarget::Attribute("ManagerId".into()))
    );
    assert_eq!(target("title eq \"x\""), None);
}

#[test]
fn attributes_named_in_either_words_resolve_to_columns() {
    let b = scim_binding();
    let attr = |a: &str| Some(FilterTarget::Attribute(a.into()));
    assert_eq!(
        b.target_named("UserName"),
        attr("UserName"),
        "the connector's name"
    );
    assert_eq!(b.target_named("username"), attr("UserName"));
    assert_eq!(
        b.target_named("userName"),
        attr("UserName"),
        "the SCIM name"
    );
    assert_eq!(b.target_named("name.givenName"), attr("GivenName"));
    assert_eq!(
        b.target_named("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        attr("Dept")
    );
    assert_eq!(b.target_named("EmployeeId"), Some(FilterTarget::Anchor));
    assert_eq!(b.target_named("title"), None);
    assert!(!b.is_case_exact("UserName"));
}

#[test]
fn ecma2host_exposes_every_column_and_the_dn() {
    let b = Binding::ecma2host(
        &users_table(),
        &ResourceMapConfig::default(),
        &DisableAction::Default,
        &Capabilities::default(),
    )
    .unwrap();
    let ext = b.schema.schema(ECMA2HOST_USER_SCHEMA).unwrap();
    let names: Vec<_> = ext.attributes.iter().map(|a| a.name.as_str()).collect();
    assert!(
        names.contains(&"UserName") && names.contains(&"-dn-") && names.contains(&"proxyAddresses")
    );
    assert_eq!(
        ext.attribute("EmployeeId").unwrap().mutability,
        Mutability::Immutable
    );
    assert!(b.anchor_is_mapped());
    let body = json!({"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User": {
        "EmployeeId": "9", "Age": "41", "proxyAddresses": ["smtp:a@x", "smtp:b@x"], "-dn-": "CN=9,OBJECT=USER"}});
    let (attrs, dn) = b.extract(&body).unwrap();
    assert_eq!(dn.as_deref(), Some("CN=9,OBJECT=USER"));
    assert_eq!(attrs["Age"], vec![AttrValue::Integer(41)]);
    assert_eq!(attrs["proxyAddresses"].len(), 2);
    assert!(b.indexed.iter().any(|(n, _)| n == "UserName"));
    assert!(!b.indexed.iter().any(|(n, _)| n == "proxyAddresses"));
}

#[test]
fn configuration_mistakes_name_the_fix() {
    let bad = |map: &[(&str, &str)]| {
        let mut cfg = ResourceMapConfig::default();
        for (k, v) in map {
            cfg.map.insert((*k).into(), (*v).into());
        }
        Binding::scim(
            ResourceKind::User,
            &users_table(),
            &cfg,
            &DisableAction::Default,
            &Capabilities::default(),
        )
        .unwrap_err()
    };
    assert!(bad(&[("userName", "Nope")]).contains("it has: EmployeeId"));
    assert!(bad(&[("colour", "UserName")]).contains("not an attribute"));
    assert!(bad(&[("id", "EmployeeId")]).contains("always the anchor"));
    assert!(bad(&[("emails[type ne \"work\"].value", "Mail")]).contains("only a filter"));
    assert!(bad(&[]).contains("is empty"));
}

fn scim_binding_with(
    map: &[(&str, &str)],
    ignore: &[&str],
    ot: &ObjectTypeSchema,
    caps: &Capabilities,
) -> Result<Binding, String> {
    let mut cfg = ResourceMapConfig::default();
    for (k, v) in map {
        cfg.map.insert((*k).into(), (*v).into());
    }
    cfg.ignore = Some(ignore.iter().map(|s| (*s).to_owned()).collect());
    Binding::scim(ResourceKind::User, ot, &cfg, &DisableAction::Default, caps)
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn names(attrs: &[schemas::schema::AttributeDef]) -> Vec<&str> {
    attrs.iter().map(|a| a.name.as_str()).collect()
}

/// `/Schemas` lists exactly what is mapped: the mapped sub-attributes of a complex attribute,
/// the selecting `type` with the selected values, `active`, and the enterprise extension only
/// with something in it mapped.
#[test]
fn the_advertised_schema_is_what_is_mapped() {
    let b = scim_binding();
    let core = &b.schema.core;
    assert_eq!(
        names(&core.attributes),
        ["userName", "name", "active", "emails"]
    );
    assert_eq!(
        names(&core.attribute("name").unwrap().sub_attributes),
        ["givenName"]
    );
    let emails = core.attribute("emails").unwrap();
    assert_eq!(names(&emails.sub_attributes), ["value", "type"]);
    assert_eq!(
        emails.sub_attribute("type").unwrap().canonical_values,
        ["work"]
    );
    let (ext, required) = &b.schema.extensions[0];
    assert!(!required);
    assert_eq!(ext.id, ENTERPRISE);
    assert_eq!(names(&ext.attributes), ["department", "manager"]);
    assert_eq!(
        names(&ext.attribute("manager").unwrap().sub_attributes),
        ["value"]
    );
    // The input schema still reads the whole protocol (so a refusal can name what was sent).
    assert!(b.input.core.attribute("nickName").is_some());

    let plain = scim_binding_with(
        &[("userName", "UserName")],
        &[],
        &users_table(),
        &Capabilities::default(),
    )
    .unwrap();
    assert!(
        plain.schema.extensions.is_empty(),
        "no enterprise extension without a mapping"
    );
    assert_eq!(names(&plain.schema.core.attributes), ["userName", "active"]);
}

/// Characteristics come from the target: NOT NULL → required, import-only → readOnly, a
/// secret → writeOnly and never returned; a target-assigned anchor is read-only and not
/// required (the ECMA2Host schema of an LDAP or MIM target).
#[test]
fn characteristics_come_from_the_target() {
    let mut ot = users_table();
    for a in &mut ot.attributes {
        match a.name.as_str() {
            "UserName" => a.required = true,
            "Dept" => a.direction = connector_core::Direction::Import,
            "EmployeeId" => {
                a.required = true;
                a.direction = connector_core::Direction::Import;
            }
            _ => {}
        }
    }
    let mut pw = AttributeSchema::new("Password", AttrKind::Secret);
    pw.direction = connector_core::Direction::Export;
    ot.attributes.push(pw);
    let assigned = Capabilities {
        anchor_assigned_by_target: true,
        ..Capabilities::default()
    };
    let b = Binding::ecma2host(
        &ot,
        &ResourceMapConfig::default(),
        &DisableAction::Default,
        &assigned,
    )
    .unwrap();
    let ext = b.schema.schema(ECMA2HOST_USER_SCHEMA).unwrap();
    let anchor = ext.attribute("EmployeeId").unwrap();
    assert_eq!(anchor.mutability, Mutability::ReadOnly);
    assert!(!anchor.required, "a target-assigned anchor is not required");
    assert_eq!(anchor.uniqueness, Uniqueness::Server);
    assert!(ext.attribute("UserName").unwrap().required);
    assert_eq!(
        ext.attribute("Dept").unwrap().mutability,
        Mutability::ReadOnly
    );
    let pw = ext.attribute("Password").unwrap();
    assert_eq!(
        (pw.mutability, pw.returned),
        (Mutability::WriteOnly, Returned::Never)
    );
    assert_eq!(
        ext.attribute("-dn-").unwrap().mutability,
        Mutability::Immutable,
        "a target that cannot rename cannot change a DN"
    );
    // The core User holds only `active` in this mode.
    assert_eq!(names(&b.schema.core.attributes), ["active"]);

    // An anchor the host is given is immutable and required.
    let b = Binding::ecma2host(
        &users_table(),
        &ResourceMapConfig::default(),
        &DisableAction::Default,
        &Capabilities::default(),
    )
    .unwrap();
    let ext = b.schema.schema(ECMA2HOST_USER_SCHEMA).unwrap();
    let anchor = ext.attribute("EmployeeId").unwrap();
    assert_eq!(anchor.mutability, Mutability::Immutable);
    assert!(anchor.required);

    // scim mode: required from the column, readOnly from the direction, at sub level.
    let b = scim_binding_with(
        &[
            ("userName", "UserName"),
            ("name.givenName", "GivenName"),
            (&format!("{ENTERPRISE}:department"), "Dept"),
        ],
        &[],
        &{
            let mut ot = users_table();
            for a in &mut ot.attributes {
                match a.name.as_str() {
                    "GivenName" => a.required = true,
                    "Dept" => a.direction = connector_core::Direction::Import,
                    _ => {}
                }
            }
            ot
        },
        &Capabilities::default(),
    )
    .unwrap();
    let name = b.schema.core.attribute("name").unwrap();
    assert!(name.required && name.sub_attribute("givenName").unwrap().required);
    assert!(
        b.schema.core.attribute("userName").unwrap().required,
        "the RFC's own"
    );
    let dept = b.schema.attribute(Some(ENTERPRISE), "department").unwrap();
    assert_eq!(dept.mutability, Mutability::ReadOnly);
}

fn refusal(b: &Binding, body: Value) -> String {
    let resource = schemas::quirks::normalize_resource(body, &b.input).unwrap();
    let e = b.accept(&resource).unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(
        e.scim_type,
        Some(schemas::ScimType::InvalidValue),
        "{}",
        e.detail
    );
    e.detail
}

fn accepted(b: &Binding, body: Value) -> Vec<String> {
    let resource = schemas::quirks::normalize_resource(body, &b.input).unwrap();
    b.accept(&resource).unwrap().ignored
}

/// A write carrying what the binding does not hold is refused naming it; what carries no
/// value, what selects a mapped value and what the protocol handles is accepted. Without an
/// `ignore` list, what Entra's standard payload carries (`externalId`, `name.formatted`) is
/// ignored; `ignore = []` refuses it too.
#[test]
fn writes_carry_only_what_is_held() {
    let b = scim_binding();
    let entra = json!({
        "schemas": ["urn:ietf:params:scim:core:2.0:User", ENTERPRISE],
        "userName": "ada", "active": true, "meta": {"resourceType": "User"}, "roles": [],
        "externalId": "ada", "nickName": null,
        "name": {"givenName": "Ada", "familyName": "", "formatted": "Ada Lovelace"},
        "emails": [{"primary": true, "type": "work", "value": "a@x"}],
        ENTERPRISE: {"department": "R&D", "manager": [{"$ref": "https://h/Users/7", "value": "7"}]}
    });
    let mut ignored = accepted(&b, entra);
    ignored.sort();
    assert_eq!(ignored, ["externalId", "name.formatted"]);
    let mut map: Vec<(String, String)> = [
        ("userName", "UserName"),
        ("name.givenName", "GivenName"),
        ("emails[type eq \"work\"].value", "Mail"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    map.push((format!("{ENTERPRISE}:department"), "Dept".into()));
    let map: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let strict = scim_binding_with(&map, &[], &users_table(), &Capabilities::default()).unwrap();
    for (body, named) in [
        (json!({"userName": "a", "nickName": "Al"}), "nickName"),
        (
            json!({"userName": "a", "name": {"formatted": "A L"}}),
            "name.formatted",
        ),
        (json!({"userName": "a", "externalId": "x"}), "externalId"),
        (
            json!({"userName": "a", "emails": [{"type": "home", "value": "h@x"}]}),
            "emails[type eq \"home\"].value",
        ),
        (
            json!({"userName": "a", "emails": [{"type": "work", "value": "w@x", "display": "W"}]}),
            "emails[type eq \"work\"].display",
        ),
        (
            json!({"userName": "a", ENTERPRISE: {"costCenter": "7"}}),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        ),
        (
            json!({"userName": "a", "roles": [{"value": "admin"}]}),
            "roles.value",
        ),
    ] {
        let detail = refusal(&strict, body.clone());
        assert!(detail.starts_with(named), "{body}: {detail}");
        assert!(detail.contains("[connector.users] ignore"), "{detail}");
    }
    // The defaults yield to a mapping.
    let mut cfg = ResourceMapConfig::default();
    cfg.map.insert("userName".into(), "UserName".into());
    cfg.map.insert("externalId".into(), "Mail".into());
    let mapped = Binding::scim(
        ResourceKind::User,
        &users_table(),
        &cfg,
        &DisableAction::Default,
        &Capabilities::default(),
    )
    .unwrap();
    let labels: Vec<&str> = mapped.ignore.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["name.formatted"]);
}

/// `ignore` accepts and drops what it names, reporting each entry once per write.
#[test]
fn ignored_attributes_are_accepted_and_reported() {
    let b = scim_binding_with(
        &[
            ("userName", "UserName"),
            ("emails[type eq \"work\"].value", "Mail"),
        ],
        &[
            "name.formatted",
            "emails",
            "roles",
            &format!("{ENTERPRISE}:costCenter"),
        ],
        &users_table(),
        &Capabilities::default(),
    )
    .unwrap();
    let mut got = accepted(
        &b,
        json!({"userName": "a", "name": {"formatted": "A"},
               "emails": [{"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x"}],
               "roles": [{"value": "r1"}, {"value": "r2", "display": "R2"}],
               ENTERPRISE: {"costCenter": "7"}}),
    );
    got.sort();
    assert_eq!(
        got,
        [
            "emails",
            "name.formatted",
            "roles",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
        ]
    );
    // Only the sub-attribute named: the rest of `name` is still refused.
    let detail = refusal(&b, json!({"userName": "a", "name": {"givenName": "A"}}));
    assert!(detail.starts_with("name.givenName"), "{detail}");
}

#[test]
fn ignore_entries_must_name_protocol_attributes_not_mapped() {
    let bad = |ignore: &str| {
        scim_binding_with(
            &[("userName", "UserName"), ("name.givenName", "GivenName")],
            &[ignore],
            &users_table(),
            &Capabilities::default(),
        )
        .unwrap_err()
    };
    assert!(bad("favouriteColour").contains("not an attribute of the User schema"));
    assert!(bad("userName").contains("is mapped"));
    assert!(bad("name.givenName").contains("is mapped"));
    assert!(bad("emails[type eq \"home\"]").contains("has a filter"));
    assert!(bad("meta").contains("always accepted"));
}

/// PATCH paths: what is not held is `invalidPath` naming it, what is ignored is dropped.
#[test]
fn patch_paths_name_what_is_not_held() {
    let b = scim_binding_with(
        &[
            ("userName", "UserName"),
            ("emails[type eq \"work\"].value", "Mail"),
            (&format!("{ENTERPRISE}:manager"), "ManagerId"),
        ],
        &["name.formatted"],
        &users_table(),
        &Capabilities::default(),
    )
    .unwrap();
    for held in [
        "userName",
        "active",
        "emails[type eq \"work\"].value",
        "emails[value eq \"a@x\"]",
        "manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "noSuchAttribute",
    ] {
        assert_eq!(
            b.accept_path(held).unwrap(),
            super::PathVerdict::Held,
            "{held}"
        );
    }
    assert!(matches!(
        b.accept_path("name.formatted").unwrap(),
        super::PathVerdict::Ignored(a) if a.ignored == ["name.formatted"]
    ));
    for (path, named) in [
        ("nickName", "nickName"),
        ("name.givenName", "name.givenName"),
        (
            "emails[type eq \"home\"].value",
            "emails[type eq \"home\"].value",
        ),
        ("emails[type eq \"work\"].display", "emails.display"),
    ] {
        let e = b.accept_path(path).unwrap_err();
        assert_eq!(e.scim_type, Some(schemas::ScimType::InvalidPath), "{path}");
        assert!(
            e.detail.contains(&format!(": {named} is not held")),
            "{path}: {}",
            e.detail
        );
    }
}

/// Several values for a single-valued target: the primary one wins; none or several primaries
/// is a refusal naming the attribute.
#[test]
fn the_primary_value_wins_for_a_single_valued_target() {
    let b = scim_binding();
    let two = |p1: bool, p2: bool| {
        json!({"userName": "a", "emails": [
            {"type": "work", "value": "one@x", "primary": p1},
            {"type": "work", "value": "two@x", "primary": p2}]})
    };
    let (attrs, _) = b.extract(&two(false, true)).unwrap();
    assert_eq!(attrs["Mail"], vec![AttrValue::String("two@x".into())]);
    for (p1, p2, why) in [
        (false, false, "none is marked"),
        (true, true, "2 are marked"),
    ] {
        let e = b.extract(&two(p1, p2)).unwrap_err();
        assert!(
            e.detail.starts_with("emails[type eq \"work\"].value"),
            "{}",
            e.detail
        );
        assert!(e.detail.contains(why), "{}", e.detail);
    }
    // The same value twice is one value.
    let (attrs, _) = b
        .extract(&json!({"emails": [{"type": "work", "value": "a@x"}, {"type": "work", "value": "a@x"}]}))
        .unwrap();
    assert_eq!(attrs["Mail"].len(), 1);
}

/// A manager mapped to a plain text column is still a reference the engine resolves.
#[test]
fn a_manager_in_a_text_column_is_a_reference() {
    let mut ot = users_table();
    for a in &mut ot.attributes {
        if a.name == "ManagerId" {
            a.kind = AttrKind::String;
        }
    }
    let b = scim_binding_with(
        &[
            ("userName", "UserName"),
            (&format!("{ENTERPRISE}:manager"), "ManagerId"),
        ],
        &[],
        &ot,
        &Capabilities::default(),
    )
    .unwrap();
    assert!(b.is_reference("ManagerId"));
}

/// A boolean kept in an integer column reads back as a boolean, and is not looked up by text.
#[test]
fn active_on_an_integer_column() {
    let b = scim_binding_with(
        &[("userName", "UserName"), ("active", "Age")],
        &[],
        &users_table(),
        &Capabilities::default(),
    )
    .unwrap();
    let (attrs, _) = b
        .extract(&json!({"userName": "a", "active": true}))
        .unwrap();
    assert_eq!(attrs["Age"], vec![AttrValue::Integer(1)]);
    let mut doc = Map::new();
    b.render_into(&mut doc, &attrs, None, &|r| Some(r.to_owned()));
    assert_eq!(doc["active"], json!(true));
    let Filter::Compare { path, .. } = Filter::parse("active eq true").unwrap() else {
        unreachable!()
    };
    assert_eq!(b.filter_target(&path), None);
}

/// Entra's `SingleAppRoleAssignment` target, `roles[primary eq "True"].value`, on one column:
/// the primary role is read, written back as a boolean selector, and advertised so.
#[test]
fn the_primary_role_maps_to_one_column() {
    let b = scim_binding_with(
        &[
            ("userName", "UserName"),
            ("roles[primary eq \"True\"].value", "Dept"),
        ],
        &["roles.type"],
        &users_table(),
        &Capabilities::default(),
    )
    .unwrap();
    let body = json!({"userName": "a", "roles": [
        {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]});
    assert_eq!(accepted(&b, body.clone()), ["roles.type"]);
    let (attrs, _) = b.extract(&body).unwrap();
    assert_eq!(attrs["Dept"], vec![AttrValue::String("Admin".into())]);
    let mut doc = Map::new();
    b.render_into(&mut doc, &attrs, None, &|r| Some(r.to_owned()));
    assert_eq!(doc["roles"], json!([{"primary": true, "value": "Admin"}]));
    let roles = b.schema.core.attribute("roles").unwrap();
    assert_eq!(names(&roles.sub_attributes), ["value", "primary"]);
    assert_eq!(
        b.accept_path("roles[primary eq \"True\"].value").unwrap(),
        super::PathVerdict::Held
    );
}
