//! PATCH: the RFC 7644 §3.5.2 examples, path parsing, and the rules and errors of
//! `apply_patch` (mutability, types, noTarget, primary, extensions, atomicity).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    CORE_USER, ECMA, ENTERPRISE, bjensen, ecma_schema, ecma_user, group_schema, user_schema,
};
use schemas::schema::ResourceSchema;
use schemas::{PatchPath, PatchRequest, ScimType, apply_patch};
use serde_json::{Value, json};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn body(ops: Value) -> PatchRequest {
    PatchRequest::from_value(json!({"schemas": [PATCH_OP], "Operations": ops})).unwrap()
}

/// Applies `ops` to `resource` and compares with `expected`.
#[track_caller]
fn check(schema: &ResourceSchema, resource: Value, ops: Value, expected: Value) {
    let mut r = resource;
    let req = body(ops);
    apply_patch(&mut r, &req.operations, schema).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r, expected, "\n got: {r:#}\nwant: {expected:#}");
}

/// Applies `ops`, expects an error of `kind` whose detail contains `detail`, and checks that
/// the resource is unchanged.
#[track_caller]
fn check_err(schema: &ResourceSchema, resource: Value, ops: Value, kind: ScimType, detail: &str) {
    let mut r = resource.clone();
    let req = body(ops);
    let e = apply_patch(&mut r, &req.operations, schema).expect_err("should fail");
    assert_eq!(e.scim_type, Some(kind), "{e}");
    assert!(e.detail.contains(detail), "{}", e.detail);
    assert_eq!(r, resource, "a failed PATCH must not change the resource");
}

/// `resource` with `f` applied, to express expectations as edits of a fixture.
fn with(mut resource: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut resource);
    resource
}

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";

fn member(id: &str, name: &str) -> Value {
    json!({"value": id, "$ref": format!("https://example.com/v2/Users/{id}"), "display": name})
}

fn tour_guides() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [member(BABS, "Babs Jensen"), member(MANDY, "Mandy Pepperidge")]
    })
}

#[test]
fn path_parsing() {
    let check_path = |input: &str, printed: &str| {
        let p = PatchPath::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(p.to_string(), printed);
        assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p);
    };
    check_path("name.givenName", "name.givenName");
    check_path(
        r#"emails[type eq "work"].value"#,
        r#"emails[type eq "work"].value"#,
    );
    check_path(
        r#"members[value eq "2819c223"]"#,
        r#"members[value eq "2819c223"]"#,
    );
    check_path(
        r#"emails[type eq "work" AND primary eq TRUE]"#,
        r#"emails[type eq "work" and primary eq true]"#,
    );
    check_path(
        &format!("{ENTERPRISE}:manager"),
        &format!("{ENTERPRISE}:manager"),
    );
    check_path(
        &format!("{ENTERPRISE}:manager.value"),
        &format!("{ENTERPRISE}:manager.value"),
    );
    check_path(&format!("{ECMA}:-dn-"), &format!("{ECMA}:-dn-"));
    let p = PatchPath::parse(r#"addresses[type eq "work"].streetAddress"#).unwrap();
    assert_eq!(p.attr.name, "addresses");
    assert_eq!(p.sub.as_deref(), Some("streetAddress"));
    assert_eq!(p.sub_attribute(), Some("streetAddress"));
    assert_eq!(
        PatchPath::parse("name.givenName").unwrap().sub_attribute(),
        Some("givenName")
    );

    let check_bad = |input: &str, detail: &str| {
        let e = PatchPath::parse(input).expect_err(input);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{input}");
        assert!(e.detail.starts_with(detail), "{input}: {}", e.detail);
    };
    check_bad("", "path is empty");
    check_bad("emails[", "expected an attribute name");
    check_bad(r#"emails[type eq "work"]value"#, "unexpected 'v' in path");
    check_bad(
        r#"emails[type eq "work"]."#,
        "expected a sub-attribute name",
    );
    check_bad("name givenName", "unexpected ' ' in path");
    check_bad("a.b.c", "invalid attribute path");
    check_bad(&"x".repeat(9000), "path is longer than 8192 bytes");
    let deep = format!("emails[{}type pr{}]", "(".repeat(40), ")".repeat(40));
    check_bad(&deep, "nesting is deeper than 32 levels");
}

#[test]
fn rfc_add_examples() {
    let g = group_schema();
    // §3.5.2.1: add a member.
    let new_member = json!({"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223", "value": "2819c223"});
    check(
        &g,
        tour_guides(),
        json!([{"op": "add", "path": "members", "value": [new_member]}]),
        with(tour_guides(), |r| {
            r["members"]
                .as_array_mut()
                .unwrap()
                .push(new_member.clone())
        }),
    );
    // Adding a member that is already there changes nothing.
    check(
        &g,
        tour_guides(),
        json!([{"op": "add", "path": "members", "value": [{"value": BABS}]}]),
        tour_guides(),
    );
    // §3.5.2.1: add without a path; `nickname` is spelled as in the RFC.
    let u = user_schema();
    check(
        &u,
        bjensen(),
        json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@x.org", "type": "other"}], "nickname": "Babs"}}]),
        with(bjensen(), |r| {
            r["emails"]
                .as_array_mut()
                .unwrap()
                .push(json!({"value": "b@x.org", "type": "other"}));
            r["nickName"] = json!("Babs");
        }),
    );
}

#[test]
fn rfc_remove_examples() {
    let g = group_schema();
    check(
        &g,
        tour_guides(),
        json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
        with(tour_guides(), |r| {
            r["members"].as_array_mut().unwrap().remove(0);
        }),
    );
    check(
        &g,
        tour_guides(),
        json!([{"op": "remove", "path": "members"}]),
        with(tour_guides(), |r| {
            r.as_object_mut().unwrap().remove("members");
        }),
    );
    // Remove all, then add two.
    let a = member("a", "A");
    let b = member("b", "B");
    check(
        &g,
        tour_guides(),
        json!([{"op": "remove", "path": "members"}, {"op": "add", "path": "members", "value": [a, b]}]),
        with(tour_guides(), |r| r["members"] = json!([a, b])),
    );
    let u = user_schema();
    check(
        &u,
        bjensen(),
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
        with(bjensen(), |r| {
            r["emails"].as_array_mut().unwrap().remove(0);
        }),
    );
}

#[test]
fn rfc_replace_examples() {
    let g = group_schema();
    let a = member("a", "A");
    check(
        &g,
        tour_guides(),
        json!([{"op": "replace", "path": "members", "value": [a]}]),
        with(tour_guides(), |r| r["members"] = json!([a])),
    );
    let u = user_schema();
    let home = json!({"type": "home", "streetAddress": "1 Home St", "locality": "Hollywood"});
    let work = json!({"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true});
    let with_addresses = with(bjensen(), |r| r["addresses"] = json!([home, work]));
    let new_work = json!({"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true});
    check(
        &u,
        with_addresses.clone(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": new_work}]),
        with(with_addresses.clone(), |r| {
            r["addresses"][1] = new_work.clone()
        }),
    );
    check(
        &u,
        with_addresses.clone(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
        with(with_addresses.clone(), |r| {
            r["addresses"][1]["streetAddress"] = json!("1010 Broadway Ave")
        }),
    );
    // Replace without a path: multi-valued attributes are replaced as a whole.
    let emails = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}]);
    check(
        &u,
        with(bjensen(), |r| {
            r["emails"] = json!([{"value": "old@x.org", "type": "other"}])
        }),
        json!([{"op": "replace", "value": {"emails": emails, "nickname": "Babs"}}]),
        with(bjensen(), |r| r["nickName"] = json!("Babs")),
    );
}

#[test]
fn complex_attributes_merge_and_sub_attributes() {
    let u = user_schema();
    check(
        &u,
        bjensen(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Barbie"}}]),
        with(bjensen(), |r| r["name"]["givenName"] = json!("Barbie")),
    );
    check(
        &u,
        bjensen(),
        json!([{"op": "add", "path": "name.middleName", "value": "Jane"}]),
        with(bjensen(), |r| r["name"]["middleName"] = json!("Jane")),
    );
    check(
        &u,
        bjensen(),
        json!([{"op": "remove", "path": "name.givenName"}]),
        with(bjensen(), |r| {
            r["name"].as_object_mut().unwrap().remove("givenName");
        }),
    );
    // Creating a complex attribute through its sub-attribute.
    check(
        &u,
        json!({"userName": "x"}),
        json!([{"op": "add", "path": "name.givenName", "value": "X"}]),
        json!({"userName": "x", "name": {"givenName": "X"}}),
    );
    // Removing the last sub-attribute removes the attribute.
    check(
        &u,
        json!({"userName": "x", "name": {"givenName": "X"}}),
        json!([{"op": "remove", "path": "name.givenName"}]),
        json!({"userName": "x"}),
    );
    // Removing a sub-attribute of a multi-valued attribute removes it from every value.
    check(
        &u,
        bjensen(),
        json!([{"op": "remove", "path": "emails.type"}]),
        with(bjensen(), |r| {
            for e in r["emails"].as_array_mut().unwrap() {
                e.as_object_mut().unwrap().remove("type");
            }
        }),
    );
}

#[test]
fn primary_is_unique() {
    let u = user_schema();
    check(
        &u,
        bjensen(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@x.org", "type": "other", "primary": true}]}]),
        with(bjensen(), |r| {
            r["emails"][0]["primary"] = json!(false);
            r["emails"]
                .as_array_mut()
                .unwrap()
                .push(json!({"value": "new@x.org", "type": "other", "primary": true}));
        }),
    );
    check(
        &u,
        bjensen(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        with(bjensen(), |r| {
            r["emails"][0]["primary"] = json!(false);
            r["emails"][1]["primary"] = json!(true);
        }),
    );
}

#[test]
fn extension_attributes() {
    let u = user_schema();
    let plain = with(bjensen(), |r| {
        let o = r.as_object_mut().unwrap();
        o.remove(ENTERPRISE);
        r["schemas"] = json!([CORE_USER]);
    });
    check(
        &u,
        plain.clone(),
        json!([{"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
        with(plain.clone(), |r| {
            r["schemas"] = json!([CORE_USER, ENTERPRISE]);
            r[ENTERPRISE] = json!({"department": "Sales"});
        }),
    );
    // Removing the last extension attribute removes the object and the URN.
    check(
        &u,
        with(plain.clone(), |r| {
            r["schemas"] = json!([CORE_USER, ENTERPRISE]);
            r[ENTERPRISE] = json!({"department": "Sales"});
        }),
        json!([{"op": "remove", "path": format!("{ENTERPRISE}:department")}]),
        plain.clone(),
    );
    // The extension URN as the path.
    check(
        &u,
        plain.clone(),
        json!([{"op": "add", "path": ENTERPRISE, "value": {"costCenter": "4130"}}]),
        with(plain.clone(), |r| {
            r["schemas"] = json!([CORE_USER, ENTERPRISE]);
            r[ENTERPRISE] = json!({"costCenter": "4130"});
        }),
    );
    check(
        &u,
        bjensen(),
        json!([{"op": "remove", "path": ENTERPRISE}]),
        plain.clone(),
    );
    // ECMA2Host attribute names such as -dn-.
    let e = ecma_schema();
    check(
        &e,
        ecma_user(),
        json!([{"op": "replace", "path": format!("{ECMA}:-dn-"), "value": "CN=J,DC=x"}]),
        with(ecma_user(), |r| r[ECMA]["-dn-"] = json!("CN=J,DC=x")),
    );
}

#[test]
fn null_clears_and_empty_string_is_kept() {
    let u = user_schema();
    check(
        &u,
        bjensen(),
        json!([{"op": "replace", "path": "title", "value": null}]),
        with(bjensen(), |r| {
            r.as_object_mut().unwrap().remove("title");
        }),
    );
    check(
        &u,
        bjensen(),
        json!([{"op": "replace", "path": "title", "value": ""}]),
        with(bjensen(), |r| r["title"] = json!("")),
    );
    // Removing an absent attribute succeeds.
    check(
        &u,
        bjensen(),
        json!([{"op": "remove", "path": "profileUrl"}]),
        bjensen(),
    );
}

#[test]
fn errors() {
    let u = user_schema();
    let b = bjensen;
    check_err(
        &u,
        b(),
        json!([{"op": "remove"}]),
        ScimType::NoTarget,
        "remove needs a path",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "shoeSize", "value": "9"}]),
        ScimType::InvalidPath,
        "unknown attribute \"shoeSize\"",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "name.nickname", "value": "9"}]),
        ScimType::InvalidPath,
        "unknown attribute \"name.nickname\"",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "add", "value": {"shoeSize": "9"}}]),
        ScimType::InvalidPath,
        "unknown attribute \"shoeSize\"",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]),
        ScimType::InvalidPath,
        "expected ']'",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "remove", "path": "userName"}]),
        ScimType::Mutability,
        "\"userName\" is required",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "userName", "value": null}]),
        ScimType::Mutability,
        "\"userName\" is required",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "id", "value": "1"}]),
        ScimType::Mutability,
        "\"id\" is read-only",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "meta.version", "value": "1"}]),
        ScimType::Mutability,
        "read-only",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
        ScimType::Mutability,
        "\"groups\" is read-only",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "active", "value": "yes"}]),
        ScimType::InvalidValue,
        "\"active\" must be a boolean, not a string",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "userName", "value": [7]}]),
        ScimType::InvalidValue,
        "\"userName\" must be a string, not an array",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "name", "value": 7}]),
        ScimType::InvalidValue,
        "\"name\" must be an object",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "title"}]),
        ScimType::InvalidValue,
        "replace of \"title\" needs a value",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "add", "value": "x"}]),
        ScimType::InvalidValue,
        "add without a path needs an object value",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "emails.value", "value": "x"}]),
        ScimType::InvalidPath,
        "\"emails\" is multi-valued",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "title[value eq \"x\"]", "value": "x"}]),
        ScimType::InvalidPath,
        "\"title\" is not complex",
    );
    // A filter that matches nothing: noTarget for remove, and for replace when not eq-only.
    check_err(
        &u,
        b(),
        json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
        ScimType::NoTarget,
        "no value of \"emails\" matches [type eq \"other\"]",
    );
    check_err(
        &u,
        b(),
        json!([{"op": "replace", "path": "emails[value co \"nobody\"].type", "value": "x"}]),
        ScimType::NoTarget,
        "no value of \"emails\"",
    );
    // Immutable: settable once.
    let e = ecma_schema();
    let badge = format!("{ECMA}:BadgeId");
    check(
        &e,
        ecma_user(),
        json!([{"op": "add", "path": badge, "value": "B1"}]),
        with(ecma_user(), |r| r[ECMA]["BadgeId"] = json!("B1")),
    );
    let badged = with(ecma_user(), |r| r[ECMA]["BadgeId"] = json!("B1"));
    check_err(
        &e,
        badged.clone(),
        json!([{"op": "replace", "path": badge, "value": "B2"}]),
        ScimType::Mutability,
        "immutable",
    );
    check(
        &e,
        badged.clone(),
        json!([{"op": "replace", "path": badge, "value": "B1"}]),
        badged.clone(),
    );
    check_err(
        &e,
        ecma_user(),
        json!([{"op": "add", "path": format!("{ECMA}:CreatedBy"), "value": "me"}]),
        ScimType::Mutability,
        "read-only",
    );
    check_err(
        &e,
        ecma_user(),
        json!([{"op": "remove", "path": format!("{ECMA}:Team")}]),
        ScimType::Mutability,
        "required",
    );
    check_err(
        &e,
        ecma_user(),
        json!([{"op": "replace", "path": format!("{ECMA}:EmployeeId"), "value": 1.5}]),
        ScimType::InvalidValue,
        "must be an integer",
    );
    check_err(
        &e,
        ecma_user(),
        json!([{"op": "replace", "path": format!("{ECMA}:HireDate"), "value": "yesterday"}]),
        ScimType::InvalidValue,
        "RFC 3339",
    );
    // Group members: immutable sub-attributes of an existing member cannot change.
    check_err(
        &group_schema(),
        tour_guides(),
        json!([{"op": "replace", "path": format!("members[value eq \"{BABS}\"].value"), "value": "other"}]),
        ScimType::Mutability,
        "immutable",
    );
}

#[test]
fn failed_patch_is_atomic_and_names_the_operation() {
    let u = user_schema();
    let mut r = bjensen();
    let req = body(json!([
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "replace", "path": "shoeSize", "value": "9"}
    ]));
    let e = apply_patch(&mut r, &req.operations, &u).unwrap_err();
    assert_eq!(e.detail, "Operations[1]: unknown attribute \"shoeSize\"");
    assert_eq!(r, bjensen());
}

#[test]
fn op_is_case_insensitive_and_unknown_ops_are_invalid_syntax() {
    for op in ["add", "Add", "ADD", "aDd"] {
        let r = PatchRequest::from_value(
            json!({"Operations": [{"op": op, "path": "title", "value": "x"}]}),
        )
        .unwrap();
        assert_eq!(r.operations[0].op, schemas::PatchOpKind::Add, "{op}");
    }
    for op in ["Replace", "REPLACE", "remove", "Remove"] {
        assert!(
            PatchRequest::from_value(json!({"Operations": [{"op": op, "path": "title"}]})).is_ok(),
            "{op}"
        );
    }
    for bad in [
        json!({"Operations": [{"op": "move", "path": "title"}]}),
        json!({"Operations": [{"path": "title"}]}),
        json!({"Operations": "x"}),
        json!([]),
    ] {
        let e = PatchRequest::from_value(bad.clone()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{bad}");
    }
    let e = PatchRequest::from_slice(br#"{"Operations": [{"op": "copy"}]}"#).unwrap_err();
    assert!(
        e.detail.contains("unknown PATCH op \"copy\""),
        "{}",
        e.detail
    );
    // A null value is kept apart from a missing one.
    let r = PatchRequest::from_value(json!({"Operations": [{"op": "replace", "path": "title", "value": null}, {"op": "remove", "path": "title"}]})).unwrap();
    assert_eq!(r.operations[0].value, Some(Value::Null));
    assert_eq!(r.operations[1].value, None);
}
