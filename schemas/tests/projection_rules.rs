//! `attributes` / `excludedAttributes` with the `returned` characteristic.

// Test helpers outside #[test] functions may panic on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use schemas::projection::Projection;
use schemas::schema::{
    AttrType, AttributeDef, Returned, ecma2host_resource_schema, group_resource_schema,
    user_resource_schema,
};
use serde_json::{Value, json};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "42",
        "externalId": "e42",
        "userName": "bjensen",
        "password": "t1meMa$heen",
        "displayName": "Babs",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@x", "type": "work", "primary": true}, {"value": "h@x", "type": "home"}],
        "meta": {"resourceType": "User"},
        ENT: {"department": "Sales", "employeeNumber": "701984", "manager": {"value": "7", "displayName": "Boss"}}
    })
}

/// Projecting `user()` with the given parameters keeps exactly the top-level members and the
/// nested values in `expected` (the whole projected resource).
fn check(attributes: Option<&str>, excluded: Option<&str>, expected: Value) {
    let p = Projection::parse(attributes, excluded).unwrap();
    let mut r = user();
    p.apply(&mut r, &user_resource_schema(true));
    assert_eq!(
        r, expected,
        "attributes={attributes:?} excludedAttributes={excluded:?}"
    );
}

fn user_without(keys: &[&str]) -> Value {
    let mut u = user();
    for k in keys {
        u.as_object_mut().unwrap().remove(*k);
    }
    u
}

#[test]
fn default_projection_drops_only_never_attributes() {
    check(None, None, user_without(&["password"]));
    check(Some(""), Some(" "), user_without(&["password"]));
}

#[test]
fn attributes_selects_plus_always() {
    let schemas = user()["schemas"].clone();
    check(
        Some("userName"),
        None,
        json!({"schemas": schemas, "id": "42", "userName": "bjensen"}),
    );
    check(
        Some("USERNAME , displayname"),
        None,
        json!({"schemas": schemas, "id": "42", "userName": "bjensen", "displayName": "Babs"}),
    );
    // password is returned: never, even when asked for.
    check(
        Some("password"),
        None,
        json!({"schemas": schemas, "id": "42"}),
    );
    // Core-URN-qualified names work.
    check(
        Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
        None,
        json!({"schemas": schemas, "id": "42", "userName": "bjensen"}),
    );
    // Common attributes can be asked for by name.
    check(
        Some("externalId,meta"),
        None,
        json!({"schemas": schemas, "id": "42", "externalId": "e42", "meta": {"resourceType": "User"}}),
    );
}

#[test]
fn sub_attribute_paths() {
    let schemas = user()["schemas"].clone();
    check(
        Some("name.givenName"),
        None,
        json!({"schemas": schemas, "id": "42", "name": {"givenName": "Barbara"}}),
    );
    check(
        Some("emails.value"),
        None,
        json!({"schemas": schemas, "id": "42", "emails": [{"value": "b@x"}, {"value": "h@x"}]}),
    );
    check(
        Some("emails.value,emails.type"),
        None,
        json!({"schemas": schemas, "id": "42", "emails": [{"value": "b@x", "type": "work"}, {"value": "h@x", "type": "home"}]}),
    );
    // A sub-attribute nobody has: the attribute disappears rather than staying empty.
    check(
        Some("name.middleName"),
        None,
        json!({"schemas": schemas, "id": "42"}),
    );

    let mut expected = user_without(&["password"]);
    expected["name"] = json!({"familyName": "Jensen"});
    check(None, Some("name.givenName"), expected);

    let mut expected = user_without(&["password"]);
    expected["emails"] =
        json!([{"value": "b@x", "type": "work"}, {"value": "h@x", "type": "home"}]);
    check(None, Some("emails.primary"), expected);

    // Excluding every sub-attribute removes the attribute.
    check(
        None,
        Some("name.givenName,name.familyName"),
        user_without(&["password", "name"]),
    );
}

#[test]
fn extension_paths() {
    let schemas = user()["schemas"].clone();
    check(
        Some(&format!("{ENT}:department")),
        None,
        json!({"schemas": schemas, "id": "42", ENT: {"department": "Sales"}}),
    );
    check(
        Some(&format!("{}:DEPARTMENT", ENT.to_uppercase())),
        None,
        json!({"schemas": schemas, "id": "42", ENT: {"department": "Sales"}}),
    );
    check(
        Some(&format!("{ENT}:manager.value")),
        None,
        json!({"schemas": schemas, "id": "42", ENT: {"manager": {"value": "7"}}}),
    );
    // The URN alone selects the whole extension.
    check(
        Some(ENT),
        None,
        json!({"schemas": schemas, "id": "42", ENT: user()[ENT].clone()}),
    );
    // A bare name never matches an extension attribute.
    check(
        Some("department"),
        None,
        json!({"schemas": schemas, "id": "42"}),
    );

    // Excluding the only attributes of the extension removes the object; schemas is untouched.
    let mut expected = user_without(&["password"]);
    expected.as_object_mut().unwrap().remove(ENT);
    check(None, Some(ENT), expected.clone());
    check(
        None,
        Some(&format!(
            "{ENT}:department,{ENT}:employeeNumber,{ENT}:manager"
        )),
        expected,
    );

    let mut expected = user_without(&["password"]);
    expected[ENT] =
        json!({"employeeNumber": "701984", "manager": {"value": "7", "displayName": "Boss"}});
    check(None, Some(&format!("{ENT}:department")), expected);
}

#[test]
fn excluded_never_removes_always_attributes() {
    check(
        None,
        Some("id,schemas,userName"),
        user_without(&["password", "userName"]),
    );
}

#[test]
fn attributes_then_excluded() {
    let schemas = user()["schemas"].clone();
    check(
        Some("userName,displayName"),
        Some("displayName"),
        json!({"schemas": schemas, "id": "42", "userName": "bjensen"}),
    );
}

#[test]
fn group_members_can_be_excluded() {
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1", "displayName": "Sales",
        "members": [{"value": "u1"}, {"value": "u2"}],
        "meta": {"resourceType": "Group"}
    });
    let mut r = group.clone();
    Projection::parse(None, Some("members"))
        .unwrap()
        .apply(&mut r, &group_resource_schema());
    let mut expected = group.clone();
    expected.as_object_mut().unwrap().remove("members");
    assert_eq!(r, expected);
}

#[test]
fn request_attributes_only_when_named() {
    let attrs = vec![
        AttributeDef::new("ContosoLogin", AttrType::String),
        AttributeDef::new("secretQuestion", AttrType::String).with_returned(Returned::Request),
        AttributeDef::new("userPassword", AttrType::String).with_returned(Returned::Never),
        AttributeDef::new("-dn-", AttrType::String).with_returned(Returned::Always),
    ];
    let schema = ecma2host_resource_schema(&attrs);
    let ext = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
    let resource = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "u",
        ext: {"ContosoLogin": "u1", "secretQuestion": "pet?", "userPassword": "x", "-dn-": "CN=u1"}
    });
    let run = |a: Option<&str>, e: Option<&str>| {
        let mut r = resource.clone();
        Projection::parse(a, e).unwrap().apply(&mut r, &schema);
        r
    };
    assert_eq!(
        run(None, None)[ext],
        json!({"ContosoLogin": "u1", "-dn-": "CN=u1"})
    );
    assert_eq!(
        run(Some(&format!("{ext}:secretQuestion")), None)[ext],
        json!({"secretQuestion": "pet?", "-dn-": "CN=u1"})
    );
    assert_eq!(run(Some("userName"), None)[ext], json!({"-dn-": "CN=u1"}));
    assert_eq!(
        run(None, Some(&format!("{ext}:-dn-,{ext}:ContosoLogin")))[ext],
        json!({"-dn-": "CN=u1"})
    );
}

#[test]
fn malformed_paths_are_invalid_value() {
    for (a, e) in [
        (Some("user name"), None),
        (Some("name."), None),
        (Some("emails[type eq \"work\"]"), None),
        (None, Some("a..b")),
        (None, Some("urn:x:")),
    ] {
        let err = Projection::parse(a, e).unwrap_err();
        assert_eq!(
            (err.status, err.scim_type.map(|t| t.as_str())),
            (400, Some("invalidValue")),
            "{a:?} {e:?}"
        );
    }
    // Trailing commas and spaces around items are tolerated.
    let p = Projection::parse(Some(" userName, ,displayName,"), None).unwrap();
    assert_eq!(
        p.attributes,
        Some(vec!["userName".to_owned(), "displayName".to_owned()])
    );
}
