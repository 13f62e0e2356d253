use connector_core::{AttrKind, AttrValue, AttributeSchema, Attributes, DnStyle, ObjectTypeSchema};
use schemas::filter::Filter;
use schemas::resource::ECMA2HOST_USER_SCHEMA;
use schemas::schema::Mutability;
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
fn ecma2host_exposes_every_column_and_the_dn() {
    let b = Binding::ecma2host(
        &users_table(),
        &ResourceMapConfig::default(),
        &DisableAction::Default,
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
        )
        .unwrap_err()
    };
    assert!(bad(&[("userName", "Nope")]).contains("it has: EmployeeId"));
    assert!(bad(&[("colour", "UserName")]).contains("not an attribute"));
    assert!(bad(&[("id", "EmployeeId")]).contains("always the anchor"));
    assert!(bad(&[("emails[type ne \"work\"].value", "Mail")]).contains("only a filter"));
    assert!(bad(&[]).contains("is empty"));
}
