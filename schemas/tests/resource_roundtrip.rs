//! Resources keep what clients send, and the typed views read what Entra really sends.

// Test helpers outside #[test] functions may panic on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use schemas::resource::{
    BulkRequest, ENTERPRISE_USER_SCHEMA, Group, Resource, SearchRequest, USER_SCHEMA, User,
};
use serde_json::{Value, json};

/// Reading `body` as a generic resource and writing it back gives the same JSON value.
fn check_roundtrip(body: Value) {
    let resource = Resource::from_value(body.clone()).expect("parses");
    assert_eq!(resource.to_value(), body, "round trip changed the body");
}

#[test]
fn generic_resource_round_trips_exactly() {
    check_roundtrip(json!({"schemas": [USER_SCHEMA], "userName": "bjensen"}));
    check_roundtrip(json!({"userName": "no-schemas-member"}));
    check_roundtrip(json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": "2819c223",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "active": "True",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "$ref": "../Users/26118915"}
        },
        "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User": {
            "-dn-": "CN=bjensen,OBJECT=USER", "objectClass": ["inetOrgPerson", "posixAccount"]
        },
        "x-unknown": {"nested": [1, 2.5, {"deep": null}], "flag": false},
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "custom": 7}
    }));
    check_roundtrip(
        json!({"schemas": [USER_SCHEMA], "emails": [{"value": "a@b.c", "weird": [null]}]}),
    );
}

#[test]
fn generic_resource_reads_attributes_case_insensitively() {
    let r = Resource::from_value(json!({
        "schemas": [USER_SCHEMA],
        "UserName": "bjensen",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Sales"}
    }))
    .unwrap();
    assert_eq!(r.get("userName"), Some(&json!("bjensen")));
    assert_eq!(
        r.attribute(
            Some("URN:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
            "department"
        ),
        Some(&json!("Sales"))
    );
    assert!(r.has_schema("urn:ietf:params:scim:schemas:core:2.0:user"));
}

#[test]
fn non_objects_and_wrong_shapes_are_invalid_syntax() {
    for body in [
        json!([1]),
        json!("user"),
        json!({"id": 5}),
        json!({"schemas": "x"}),
    ] {
        let e = Resource::from_value(body.clone()).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type.map(|t| t.as_str())),
            (400, Some("invalidSyntax")),
            "{body}"
        );
    }
}

/// The create body of Entra's SCIM client (reference entra-ecma.md D.8 / D.2).
fn entra_create_body() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "1234", "department": "Sales", "manager": "271"
        }
    })
}

#[test]
fn user_view_parses_entra_create_body() {
    let u = User::from_value(entra_create_body()).unwrap();
    assert_eq!(
        u.user_name.as_deref(),
        Some("Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1")
    );
    assert_eq!(
        u.external_id.as_deref(),
        Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
    );
    assert_eq!(u.active, Some(true));
    let name = u.name.as_ref().unwrap();
    assert_eq!(
        (name.given_name.as_deref(), name.family_name.as_deref()),
        (Some("givenName"), Some("familyName"))
    );
    let email = u.primary_email().unwrap();
    assert_eq!(
        (email.value.as_deref(), email.kind.as_deref(), email.primary),
        (
            Some("Test_User_fd0ea19b@testuser.com"),
            Some("work"),
            Some(true)
        )
    );
    assert!(u.roles.is_empty());
    assert_eq!(
        u.meta.as_ref().and_then(|m| m.resource_type.as_deref()),
        Some("User")
    );
    let ent = u.enterprise.as_ref().unwrap();
    assert_eq!(ent.employee_number.as_deref(), Some("1234"));
    assert_eq!(ent.department.as_deref(), Some("Sales"));
    // Entra may send the manager as a bare id.
    assert_eq!(
        ent.manager.as_ref().and_then(|m| m.value.as_deref()),
        Some("271")
    );
}

/// `field` of the User read from `body` (`active` or the manager id).
fn check_user(body: Value, active: Option<bool>, manager: Option<&str>) {
    let u = User::from_value(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(u.active, active, "{body}");
    let m = u.enterprise.and_then(|e| e.manager).and_then(|m| m.value);
    assert_eq!(m.as_deref(), manager, "{body}");
}

#[test]
fn user_view_accepts_entra_spellings() {
    let ent = ENTERPRISE_USER_SCHEMA;
    check_user(json!({"active": "True"}), Some(true), None);
    check_user(json!({"active": "False"}), Some(false), None);
    check_user(json!({"active": "false"}), Some(false), None);
    check_user(json!({"ACTIVE": false}), Some(false), None);
    check_user(json!({"active": null}), None, None);
    check_user(json!({ent: {"manager": {"value": "42"}}}), None, Some("42"));
    check_user(json!({ent: {"manager": "42"}}), None, Some("42"));
    check_user(
        json!({ent: {"manager": [{"value": "42", "$ref": "../Users/42"}]}}),
        None,
        Some("42"),
    );
    check_user(json!({ent: {"manager": ""}}), None, None);
    check_user(json!({ent: {"MANAGER": {"VALUE": "7"}}}), None, Some("7"));
    check_user(
        json!({"urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": {"manager": "9"}}),
        None,
        Some("9"),
    );
}

#[test]
fn user_view_rejects_wrong_types() {
    for body in [
        json!({"active": "yes"}),
        json!({"userName": 5}),
        json!({"emails": {"value": "x"}}),
    ] {
        let e = User::from_value(body.clone()).unwrap_err();
        assert_eq!(e.status, 400, "{body}");
    }
}

#[test]
fn user_view_keeps_what_it_does_not_model() {
    let body = json!({
        "userName": "a",
        "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User": {"-dn-": "CN=a"},
        "emails": [{"value": "a@x", "extraSub": 1}]
    });
    let u = User::from_value(body).unwrap();
    let v = u.to_value();
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"]["-dn-"],
        "CN=a"
    );
    assert_eq!(v["emails"][0]["extraSub"], 1);
    // Absent optional attributes are not written, not even as null.
    assert!(v.get("displayName").is_none());
    assert!(v.get("password").is_none());
}

#[test]
fn group_view_parses_entra_group_create_and_member_values() {
    let g = Group::from_value(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "members": [{"$ref": null, "value": "u1"}, {"value": "u2", "display": "Two", "type": "User"}]
    }))
    .unwrap();
    assert_eq!(g.display_name.as_deref(), Some("displayName"));
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.members[0].value.as_deref(), Some("u1"));
    assert_eq!(g.members[0].reference, None);
    assert_eq!(g.members[1].kind.as_deref(), Some("User"));
    assert_eq!(g.schemas.len(), 2);
    let v = g.to_value();
    assert!(
        v["members"][0].get("$ref").is_none(),
        "a null $ref is not written back"
    );
}

#[test]
fn bulk_and_search_bodies() {
    let bulk = BulkRequest::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"userName": "Alice"}},
            {"method": "DELETE", "path": "/Users/b7c14771", "version": "W/\"0ee8add0a938e1a\""}
        ]
    }))
    .unwrap();
    assert_eq!(bulk.fail_on_errors, Some(1));
    assert_eq!(bulk.operations[0].bulk_id.as_deref(), Some("qwerty"));
    assert_eq!(bulk.operations[0].data, Some(json!({"userName": "Alice"})));
    assert_eq!(
        bulk.operations[1].version.as_deref(),
        Some("W/\"0ee8add0a938e1a\"")
    );

    let resp =
        schemas::resource::BulkResponse::new(vec![schemas::resource::BulkOperationResponse {
            method: "POST".into(),
            bulk_id: Some("qwerty".into()),
            version: None,
            location: Some("https://h/Users/1".into()),
            status: "201".into(),
            response: None,
        }]);
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
            "Operations": [{"method": "POST", "bulkId": "qwerty", "location": "https://h/Users/1", "status": "201"}]
        })
    );

    let search = SearchRequest::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["displayName", "userName"],
        "excludedAttributes": ["members"],
        "filter": "displayName sw \"smith\"",
        "startIndex": 0,
        "count": 10
    }))
    .unwrap();
    assert_eq!(
        search.attributes_param().as_deref(),
        Some("displayName,userName")
    );
    assert_eq!(
        search.excluded_attributes_param().as_deref(),
        Some("members")
    );
    let paging = search.paging(100, 1000);
    assert_eq!((paging.start_index, paging.count), (1, 10));
}
