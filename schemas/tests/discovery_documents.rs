//! Core schemas against RFC 7643 §8.7.1, the ECMA2Host extension, and the discovery documents.

// Test helpers outside #[test] functions may panic on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use schemas::discovery::{
    ServiceProviderFeatures, find_null, resource_type_document, resource_types_list,
    schema_document, schemas_list, schemas_of, service_provider_config_document,
};
use schemas::schema::{
    AttrType, AttributeDef, Mutability, Returned, Uniqueness, common_attribute,
    ecma2host_resource_schema, ecma2host_user_schema, enterprise_user_schema,
    group_resource_schema, group_schema, user_resource_schema, user_schema,
};
use serde_json::{Value, json};

const BASE: &str = "https://host:8585/ecma2host_hr/scim/";

/// `(type, multiValued, required, caseExact, mutability, returned, uniqueness)`.
type Chars = (AttrType, bool, bool, bool, Mutability, Returned, Uniqueness);

/// The attribute at `path` (`name` or `name.sub`) of `def` has exactly these characteristics.
fn check(def: &schemas::schema::SchemaDef, path: &str, expected: Chars) {
    let (top, sub) = match path.split_once('.') {
        Some((t, s)) => (t, Some(s)),
        None => (path, None),
    };
    let a = def
        .attribute(top)
        .unwrap_or_else(|| panic!("{} has no {top}", def.id));
    let a = match sub {
        Some(s) => a
            .sub_attribute(s)
            .unwrap_or_else(|| panic!("{top} has no {s}")),
        None => a,
    };
    let got = (
        a.attr_type,
        a.multi_valued,
        a.required,
        a.case_exact,
        a.mutability,
        a.returned,
        a.uniqueness,
    );
    assert_eq!(got, expected, "{}: {path}", def.name);
}

use AttrType::*;
use Mutability::*;
use Returned as R;
use Uniqueness as U;

#[test]
fn user_schema_matches_rfc() {
    let u = user_schema();
    assert_eq!(u.id, "urn:ietf:params:scim:schemas:core:2.0:User");
    check(
        &u,
        "userName",
        (String, false, true, false, ReadWrite, R::Default, U::Server),
    );
    check(
        &u,
        "name",
        (Complex, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "name.givenName",
        (String, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "profileUrl",
        (
            Reference,
            false,
            false,
            false,
            ReadWrite,
            R::Default,
            U::None,
        ),
    );
    check(
        &u,
        "active",
        (Boolean, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "password",
        (String, false, false, false, WriteOnly, R::Never, U::None),
    );
    check(
        &u,
        "emails",
        (Complex, true, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "emails.value",
        (String, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "emails.primary",
        (Boolean, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "phoneNumbers",
        (Complex, true, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "photos.value",
        (
            Reference,
            false,
            false,
            false,
            ReadWrite,
            R::Default,
            U::None,
        ),
    );
    check(
        &u,
        "addresses.postalCode",
        (String, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &u,
        "groups",
        (Complex, true, false, false, ReadOnly, R::Default, U::None),
    );
    check(
        &u,
        "groups.$ref",
        (
            Reference,
            false,
            false,
            false,
            ReadOnly,
            R::Default,
            U::None,
        ),
    );
    check(
        &u,
        "x509Certificates.value",
        (Binary, false, false, false, ReadWrite, R::Default, U::None),
    );
    let names: Vec<&str> = u.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates"
        ]
    );
    let emails = u.attribute("emails").unwrap();
    assert_eq!(
        emails.sub_attribute("type").unwrap().canonical_values,
        ["work", "home", "other"]
    );
    assert_eq!(
        u.attribute("ims")
            .unwrap()
            .sub_attribute("type")
            .unwrap()
            .canonical_values
            .len(),
        8
    );
    // As in the RFC text, addresses has no primary sub-attribute.
    assert!(
        u.attribute("addresses")
            .unwrap()
            .sub_attribute("primary")
            .is_none()
    );
    assert_eq!(
        u.attribute("groups")
            .unwrap()
            .sub_attribute("$ref")
            .unwrap()
            .reference_types,
        ["User", "Group"]
    );
}

#[test]
fn common_attributes_match_rfc_section_3_1() {
    let id = common_attribute("ID").unwrap();
    assert_eq!(
        (id.case_exact, id.mutability, id.returned),
        (true, ReadOnly, R::Always)
    );
    let ext = common_attribute("externalId").unwrap();
    assert_eq!(
        (ext.case_exact, ext.mutability, ext.returned),
        (true, ReadWrite, R::Default)
    );
    let meta = common_attribute("meta").unwrap();
    assert_eq!(meta.sub_attribute("created").unwrap().attr_type, DateTime);
    assert!(meta.sub_attributes.iter().all(|s| s.mutability == ReadOnly));
    // Resource schemas resolve them too.
    let rs = user_resource_schema(true);
    assert_eq!(rs.resolve("meta.lastModified").unwrap().attr_type, DateTime);
    assert_eq!(
        rs.resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .unwrap()
            .name,
        "value"
    );
    assert!(rs.resolve("nonsense").is_none());
}

#[test]
fn group_and_enterprise_schemas_match_rfc() {
    let g = group_schema();
    check(
        &g,
        "displayName",
        (String, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &g,
        "members",
        (Complex, true, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &g,
        "members.value",
        (String, false, false, false, Immutable, R::Default, U::None),
    );
    check(
        &g,
        "members.$ref",
        (
            Reference,
            false,
            false,
            false,
            Immutable,
            R::Default,
            U::None,
        ),
    );
    check(
        &g,
        "members.type",
        (String, false, false, false, Immutable, R::Default, U::None),
    );
    let e = enterprise_user_schema();
    assert_eq!(
        e.id,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    for a in [
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
    ] {
        check(
            &e,
            a,
            (String, false, false, false, ReadWrite, R::Default, U::None),
        );
    }
    check(
        &e,
        "manager",
        (Complex, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &e,
        "manager.value",
        (String, false, false, false, ReadWrite, R::Default, U::None),
    );
    check(
        &e,
        "manager.$ref",
        (
            Reference,
            false,
            false,
            false,
            ReadWrite,
            R::Default,
            U::None,
        ),
    );
    check(
        &e,
        "manager.displayName",
        (String, false, false, false, ReadOnly, R::Default, U::None),
    );
}

fn connector_attrs() -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("-dn-", AttrType::String).with_case_exact(true),
        AttributeDef::new("ContosoLogin", AttrType::String).with_required(true),
        AttributeDef::new("objectClass", AttrType::String).with_multi_valued(true),
        AttributeDef::new("userPassword", AttrType::String)
            .with_mutability(Mutability::WriteOnly)
            .with_returned(Returned::Never),
        AttributeDef::new("contosologin", AttrType::Integer),
        AttributeDef::new("IsActive", AttrType::Boolean),
    ]
}

#[test]
fn ecma2host_schema_keeps_connector_names() {
    let s = ecma2host_user_schema(&connector_attrs());
    assert_eq!(
        s.id,
        "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"
    );
    let names: Vec<&str> = s.attributes.iter().map(|a| a.name.as_str()).collect();
    // Exact spelling kept; a name differing only by case is dropped (first wins).
    assert_eq!(
        names,
        [
            "-dn-",
            "ContosoLogin",
            "objectClass",
            "userPassword",
            "IsActive"
        ]
    );
    assert!(s.attribute("OBJECTCLASS").unwrap().multi_valued);

    let rs = ecma2host_resource_schema(&connector_attrs());
    assert_eq!((rs.name.as_str(), rs.endpoint.as_str()), ("User", "/Users"));
    assert_eq!(rs.core, user_schema());
    assert_eq!(rs.extensions.len(), 1);
    assert!(!rs.extensions[0].1, "the extension is not required");
    assert_eq!(
        rs.split_urn("urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:-dn-"),
        (
            Some("urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"),
            "-dn-"
        )
    );

    let doc = schema_document(&s, BASE);
    assert_eq!(doc["name"], "ECMA2Host User");
    assert_eq!(doc["attributes"][0]["name"], "-dn-");
    assert_eq!(doc["attributes"][0]["caseExact"], true);
    assert_eq!(doc["attributes"][2]["multiValued"], true);
    assert_eq!(doc["attributes"][3]["returned"], "never");
    assert_eq!(doc["attributes"][4]["type"], "boolean");
}

fn assert_no_nulls(doc: &Value) {
    assert_eq!(find_null(doc), None, "null in {doc}");
}

#[test]
fn find_null_reports_the_path() {
    assert_eq!(
        find_null(&json!({"a": [1, {"b": null}]})).as_deref(),
        Some("$.a[1].b")
    );
    assert_eq!(find_null(&json!(null)).as_deref(), Some("$"));
    assert_eq!(find_null(&json!({"a": [1, {"b": 2}], "c": ""})), None);
}

#[test]
fn schema_documents_have_rfc_shape_and_no_nulls() {
    let rts = [
        user_resource_schema(true),
        group_resource_schema(),
        ecma2host_resource_schema(&connector_attrs()),
    ];
    let all = schemas_of(&rts);
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"
        ]
    );
    let list = schemas_list(&all, BASE);
    assert_no_nulls(&list);
    assert_eq!(list["totalResults"], 4);
    assert_eq!(list["Resources"].as_array().unwrap().len(), 4);

    let doc = schema_document(&user_schema(), BASE);
    assert_eq!(
        doc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"])
    );
    assert_eq!(
        doc["meta"],
        json!({"resourceType": "Schema",
               "location": "https://host:8585/ecma2host_hr/scim/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"})
    );
    let user_name = &doc["attributes"][0];
    assert_eq!(
        user_name.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "caseExact",
            "mutability",
            "returned",
            "uniqueness"
        ]
    );
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(
        doc["attributes"][1]["subAttributes"][2]["name"],
        "givenName"
    );
}

#[test]
fn resource_type_documents() {
    let doc = resource_type_document(&user_resource_schema(true), BASE);
    assert_eq!(
        doc,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            "schemaExtensions": [{"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false}],
            "meta": {"resourceType": "ResourceType", "location": "https://host:8585/ecma2host_hr/scim/ResourceTypes/User"}
        })
    );
    let group = resource_type_document(&group_resource_schema(), BASE);
    assert!(group.get("schemaExtensions").is_none());
    let list = resource_types_list(
        &[user_resource_schema(false), group_resource_schema()],
        BASE,
    );
    assert_no_nulls(&list);
    assert_eq!(list["totalResults"], 2);
}

#[test]
fn service_provider_config() {
    let minimal = ServiceProviderFeatures {
        patch: true,
        filter_max_results: 200,
        ..Default::default()
    };
    let doc = service_provider_config_document(&minimal, "https://h/scim");
    assert_no_nulls(&doc);
    assert_eq!(
        doc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert!(doc.get("documentationUri").is_none());
    assert_eq!(doc["patch"], json!({"supported": true}));
    assert_eq!(
        doc["bulk"],
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
    );
    assert_eq!(doc["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!(doc["changePassword"], json!({"supported": false}));
    assert_eq!(doc["sort"], json!({"supported": false}));
    assert_eq!(doc["etag"], json!({"supported": false}));
    let auth = &doc["authenticationSchemes"][0];
    assert_eq!(
        (
            auth["type"].as_str(),
            auth["name"].as_str(),
            &auth["primary"]
        ),
        (
            Some("oauthbearertoken"),
            Some("OAuth Bearer Token"),
            &json!(true)
        )
    );
    assert_eq!(
        doc["meta"],
        json!({"resourceType": "ServiceProviderConfig", "location": "https://h/scim/ServiceProviderConfig"})
    );

    let full = ServiceProviderFeatures {
        patch: true,
        bulk: Some((50, 1_048_576)),
        filter_max_results: 1000,
        change_password: true,
        sort: true,
        etag: true,
        documentation_uri: Some("https://example.com/help".into()),
    };
    let doc = service_provider_config_document(&full, "https://h/scim");
    assert_no_nulls(&doc);
    assert_eq!(doc["documentationUri"], "https://example.com/help");
    assert_eq!(
        doc["bulk"],
        json!({"supported": true, "maxOperations": 50, "maxPayloadSize": 1_048_576})
    );
    assert_eq!(doc["sort"], json!({"supported": true}));
}
