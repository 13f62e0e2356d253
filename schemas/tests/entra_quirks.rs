//! The request bodies Microsoft Entra really sends (reference/entra-ecma.md D.2, D.3, D.8),
//! normalised and applied, with the exact expected result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{CORE_USER, ECMA, ENTERPRISE, ecma_schema, group_schema, user_schema};
use schemas::schema::ResourceSchema;
use schemas::{PatchRequest, ScimType, apply_patch, normalize_resource};
use serde_json::{Value, json};

/// Applies a PATCH body (as Entra sends it) to `resource` and compares with `expected`.
#[track_caller]
fn check_patch(schema: &ResourceSchema, resource: Value, patch: Value, expected: Value) {
    let req = PatchRequest::from_slice(patch.to_string().as_bytes()).unwrap();
    let mut r = resource;
    apply_patch(&mut r, &req.operations, schema).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r, expected, "\n got: {r:#}\nwant: {expected:#}");
}

#[track_caller]
fn check_body(schema: &ResourceSchema, body: Value, expected: Value) {
    let got = normalize_resource(body, schema).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, expected, "\n got: {got:#}\nwant: {expected:#}");
}

#[track_caller]
fn check_body_err(schema: &ResourceSchema, body: Value, kind: ScimType, detail: &str) {
    let e = normalize_resource(body, schema).unwrap_err();
    assert_eq!(e.scim_type, Some(kind), "{e}");
    assert_eq!(e.detail, detail);
}

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn ryan() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "id": "42",
        "externalId": "ryan-old",
        "userName": "ryan@contoso.com",
        "active": true,
        "displayName": "Ryan L",
        "emails": [{"primary": true, "type": "work", "value": "old@contoso.com"}],
        "name": {"familyName": "Leenay", "givenName": "R"},
        ENTERPRISE: {"employeeNumber": "1"}
    })
}

fn ryan_updated() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "id": "42",
        "externalId": "ryan",
        "userName": "ryan@contoso.com",
        "active": true,
        "displayName": "Ryan Leenay",
        "emails": [{"primary": true, "type": "work", "value": "ryan@contoso.com"}],
        "name": {"familyName": "Leenay", "givenName": "Ryan"},
        ENTERPRISE: {"employeeNumber": "7"}
    })
}

#[test]
fn create_user_body() {
    let body = json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    });
    check_body(&user_schema(), body.clone(), body);
}

#[test]
fn create_user_body_quirks() {
    // Boolean strings, key case, manager as a string, a null, a read-only attribute, and a
    // top-level ECMA2Host key without its URN in `schemas`.
    let mut schema = ecma_schema();
    schema
        .extensions
        .push((schemas::schema::enterprise_user_schema(), false));
    check_body(
        &schema,
        json!({
            "schemas": [CORE_USER],
            "USERNAME": "jdoe",
            "Active": "False",
            "name": {"GivenName": "John", "familyName": null},
            "groups": [{"value": "g1"}],
            "nickName": null,
            format!("{ECMA}:ContosoLogin"): "JDoe",
            format!("{ECMA}:IsContractor"): "true",
            ENTERPRISE: {"Manager": "271"}
        }),
        json!({
            "schemas": [CORE_USER, ECMA, ENTERPRISE],
            "userName": "jdoe",
            "active": false,
            "name": {"givenName": "John"},
            ECMA: {"ContosoLogin": "JDoe", "IsContractor": true},
            ENTERPRISE: {"manager": {"value": "271"}}
        }),
    );
    // Dotted keys in a body and the core URN as a prefix.
    check_body(
        &user_schema(),
        json!({"userName": "a", "name.givenName": "A", format!("{CORE_USER}:displayName"): "Ann"}),
        json!({"schemas": [CORE_USER], "userName": "a", "name": {"givenName": "A"}, "displayName": "Ann"}),
    );
    // Manager as an array of one object; `$ref: null` dropped; manager.displayName read-only.
    check_body(
        &user_schema(),
        json!({"userName": "a", ENTERPRISE: {"manager": [{"$ref": null, "value": "271", "displayName": "Boss"}]}}),
        json!({"schemas": [CORE_USER, ENTERPRISE], "userName": "a", ENTERPRISE: {"manager": {"value": "271"}}}),
    );
}

#[test]
fn numbers_and_numeric_strings_are_coerced() {
    check_body(
        &user_schema(),
        json!({"userName": "a", ENTERPRISE: {"employeeNumber": 42}}),
        json!({"schemas": [CORE_USER, ENTERPRISE], "userName": "a", ENTERPRISE: {"employeeNumber": "42"}}),
    );
    let e = ecma_schema();
    let got = normalize_resource(json!({ECMA: {"EmployeeId": " 7 "}}), &e).unwrap();
    assert_eq!(got[ECMA]["EmployeeId"], json!(7));
    check_body_err(
        &e,
        json!({ECMA: {"EmployeeId": "seven"}}),
        ScimType::InvalidValue,
        "\"EmployeeId\" must be an integer, not a string",
    );
}

#[test]
fn create_body_errors() {
    let u = user_schema();
    check_body_err(
        &u,
        json!({"userName": "a", "shoeSize": 9}),
        ScimType::InvalidValue,
        "unknown attribute \"shoeSize\"",
    );
    check_body_err(
        &u,
        json!({"userName": "a", format!("{ECMA}:ContosoLogin"): "x"}),
        ScimType::InvalidValue,
        &format!("unknown attribute \"{ECMA}:ContosoLogin\""),
    );
    check_body_err(
        &u,
        json!({"userName": "a", "name": {"nick": "x"}}),
        ScimType::InvalidValue,
        "unknown attribute \"name.nick\"",
    );
    check_body_err(
        &u,
        json!({"userName": "a", "active": "maybe"}),
        ScimType::InvalidValue,
        "\"active\" must be a boolean, not a string",
    );
    check_body_err(
        &u,
        json!({"userName": "a", "emails": [{"value": true}]}),
        ScimType::InvalidValue,
        "\"emails.value\" must be a string, not a boolean",
    );
    check_body_err(
        &u,
        json!(["not", "an", "object"]),
        ScimType::InvalidSyntax,
        "a resource must be a JSON object",
    );
    check_body_err(
        &u,
        json!({"schemas": "x"}),
        ScimType::InvalidSyntax,
        "\"schemas\" must be an array of schema URNs",
    );
}

#[test]
fn create_group_body() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "members": [],
        "meta": {"resourceType": "Group"}
    });
    check_body(&group_schema(), body.clone(), body);
}

#[test]
fn update_with_several_replace_ops() {
    check_patch(
        &user_schema(),
        ryan(),
        ops(json!([
            {"op": "Replace", "path": "displayName", "value": "Ryan Leenay"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ryan@contoso.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Ryan"},
            {"op": "Replace", "path": "externalId", "value": "ryan"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "7"}
        ])),
        ryan_updated(),
    );
}

#[test]
fn update_keeps_attribute_order() {
    let req = PatchRequest::from_value(ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ryan@contoso.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Ryan"},
        {"op": "Replace", "path": "displayName", "value": "Ryan Leenay"},
        {"op": "Replace", "path": "externalId", "value": "ryan"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "7"}
    ])))
    .unwrap();
    let mut r = ryan();
    apply_patch(&mut r, &req.operations, &user_schema()).unwrap();
    assert_eq!(r.to_string(), ryan_updated().to_string());
}

#[test]
fn update_without_path_with_dotted_and_urn_keys() {
    check_patch(
        &user_schema(),
        ryan(),
        ops(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ryan@contoso.com"},
            {"op": "replace", "value": {
                "displayName": "Ryan Leenay",
                "name.givenName": "Ryan",
                "externalId": "ryan",
                format!("{ENTERPRISE}:employeeNumber"): "7"
            }}
        ])),
        ryan_updated(),
    );
    // Booleans as strings inside a no-path value object.
    check_patch(
        &user_schema(),
        ryan(),
        ops(json!([{"op": "Replace", "value": {"active": "False"}}])),
        {
            let mut r = ryan();
            r["active"] = json!(false);
            r
        },
    );
}

#[test]
fn disable_and_restore() {
    let disabled = {
        let mut r = ryan();
        r["active"] = json!(false);
        r
    };
    for value in [json!("False"), json!("false"), json!(false), json!("FALSE")] {
        for op in ["Replace", "replace"] {
            check_patch(
                &user_schema(),
                ryan(),
                ops(json!([{"op": op, "path": "active", "value": value}])),
                disabled.clone(),
            );
        }
    }
    for value in [json!("True"), json!("true"), json!(true)] {
        check_patch(
            &user_schema(),
            disabled.clone(),
            ops(json!([{"op": "Replace", "path": "active", "value": value}])),
            ryan(),
        );
    }
}

#[test]
fn add_single_value_string() {
    let mut expected = ryan();
    expected["nickName"] = json!("Babs");
    check_patch(
        &user_schema(),
        ryan(),
        ops(json!([{"op": "Add", "path": "nickName", "value": "Babs"}])),
        expected.clone(),
    );
    check_patch(
        &user_schema(),
        ryan(),
        ops(json!([{"op": "add", "path": "nickName", "value": "Babs"}])),
        expected,
    );
}

fn group(members: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "Sales", "members": members})
}

#[test]
fn group_membership() {
    let g = group_schema();
    // Add, with Entra's `"$ref": null`.
    check_patch(
        &g,
        group(json!([])),
        ops(
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"$ref": null, "value": "u2"}]}]),
        ),
        group(json!([{"value": "u1"}, {"value": "u2"}])),
    );
    // Group created without members at all.
    check_patch(
        &g,
        json!({"displayName": "Sales"}),
        ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}]}])),
        json!({"displayName": "Sales", "members": [{"value": "u1"}]}),
    );
    let three = || group(json!([{"value": "u1"}, {"value": "u1091"}, {"value": "u3"}]));
    // Default shape: remove exactly the listed values.
    check_patch(
        &g,
        three(),
        ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}])),
        group(json!([{"value": "u1"}, {"value": "u3"}])),
    );
    check_patch(
        &g,
        three(),
        ops(
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u3"}]}]),
        ),
        group(json!([{"value": "u1091"}])),
    );
    // A member that is not there: nothing happens.
    check_patch(
        &g,
        three(),
        ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "zz"}]}])),
        three(),
    );
    // aadOptscim062020 shape.
    check_patch(
        &g,
        three(),
        ops(json!([{"op": "remove", "path": "members[value eq \"u1091\"]"}])),
        group(json!([{"value": "u1"}, {"value": "u3"}])),
    );
    // Removing the last member leaves no members attribute.
    check_patch(
        &g,
        group(json!([{"value": "u1"}])),
        ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}])),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "Sales"}),
    );
}

#[test]
fn manager_shapes() {
    let u = user_schema();
    let with_manager = |m: Value| {
        let mut r = ryan();
        r[ENTERPRISE]["manager"] = m;
        r
    };
    check_patch(
        &u,
        ryan(),
        ops(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "271"}])),
        with_manager(json!({"value": "271"})),
    );
    check_patch(
        &u,
        ryan(),
        ops(
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": "https://x/Users/271", "value": "271"}]}]),
        ),
        with_manager(json!({"$ref": "https://x/Users/271", "value": "271"})),
    );
    check_patch(
        &u,
        ryan(),
        ops(json!([{"op": "Replace", "path": "manager", "value": {"value": "271"}}])),
        with_manager(json!({"value": "271"})),
    );
    check_patch(
        &u,
        with_manager(json!({"value": "100"})),
        ops(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "271"}])),
        with_manager(json!({"value": "271"})),
    );
    check_patch(
        &u,
        with_manager(json!({"value": "100"})),
        ops(json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}])),
        ryan(),
    );
    // Extension created on the fly when the user had none.
    let mut plain = ryan();
    plain.as_object_mut().unwrap().remove(ENTERPRISE);
    plain["schemas"] = json!([CORE_USER]);
    let mut expected = plain.clone();
    expected["schemas"] = json!([CORE_USER, ENTERPRISE]);
    expected[ENTERPRISE] = json!({"manager": {"value": "271"}});
    check_patch(
        &u,
        plain,
        ops(json!([{"op": "Add", "path": "manager", "value": "271"}])),
        expected,
    );
}

#[test]
fn value_path_creates_missing_element() {
    let u = user_schema();
    let mut no_email = ryan();
    no_email.as_object_mut().unwrap().remove("emails");
    let mut expected = no_email.clone();
    expected["emails"] = json!([{"type": "work", "value": "ryan@contoso.com"}]);
    for op in ["Add", "Replace"] {
        check_patch(
            &u,
            no_email.clone(),
            ops(
                json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "ryan@contoso.com"}]),
            ),
            expected.clone(),
        );
    }
    // Another attribute's first value.
    check_patch(
        &u,
        ryan(),
        ops(
            json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]),
        ),
        {
            let mut r = ryan();
            r["phoneNumbers"] = json!([{"type": "mobile", "value": "+1 555"}]);
            r
        },
    );
    // Several eq terms build the element; the new primary takes over.
    check_patch(
        &u,
        ryan(),
        ops(
            json!([{"op": "add", "path": "emails[type eq \"home\" and primary eq true].value", "value": "r@home.org"}]),
        ),
        {
            let mut r = ryan();
            r["emails"][0]["primary"] = json!(false);
            r["emails"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "home", "primary": true, "value": "r@home.org"}));
            r
        },
    );
}

#[test]
fn ecma2host_paths() {
    let e = ecma_schema();
    let user = json!({"schemas": [CORE_USER], "userName": "jdoe"});
    check_patch(
        &e,
        user,
        ops(json!([
            {"op": "Add", "path": format!("{ECMA}:-dn-"), "value": "CN=jdoe,DC=x"},
            {"op": "Add", "path": format!("{ECMA}:IsContractor"), "value": "True"},
            {"op": "Add", "path": format!("{ECMA}:EmployeeId"), "value": 7}
        ])),
        json!({
            "schemas": [CORE_USER, ECMA],
            "userName": "jdoe",
            ECMA: {"-dn-": "CN=jdoe,DC=x", "IsContractor": true, "EmployeeId": 7}
        }),
    );
}
