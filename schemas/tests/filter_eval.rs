//! Filter evaluation against resources in wire form: the RFC 7644 §3.4.2.2 examples on
//! Barbara Jensen, Entra's lookups, and the typing rules (caseExact, dateTime, numbers,
//! booleans, presence, null, multi-valued and complex attributes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ENTERPRISE, bjensen, ecma_schema, ecma_user, user_schema};
use schemas::Filter;
use schemas::schema::ResourceSchema;
use serde_json::Value;

#[track_caller]
fn check_on(resource: &Value, schema: &ResourceSchema, filter: &str, expected: bool) {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    assert_eq!(f.matches(resource, schema), expected, "{filter}");
}

#[track_caller]
fn check(filter: &str, expected: bool) {
    check_on(&bjensen(), &user_schema(), filter, expected);
}

#[track_caller]
fn check_ecma(filter: &str, expected: bool) {
    check_on(&ecma_user(), &ecma_schema(), filter, expected);
}

#[test]
fn rfc_7644_examples_on_bjensen() {
    check(r#"userName eq "bjensen@example.com""#, true);
    check(r#"userName eq "bjensen""#, false);
    check(r#"name.familyName co "O'Malley""#, true);
    check(r#"name.familyName co "o'malley""#, true);
    check(r#"userName sw "J""#, false);
    check(r#"userName sw "B""#, true);
    check(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#,
        true,
    );
    check("title pr", true);
    check(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false);
    check(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true);
    check(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false);
    check(r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true);
    check(r#"title pr and userType eq "Employee""#, true);
    check(r#"title pr or userType eq "Intern""#, true);
    check(r#"userType eq "Intern""#, false);
    check(&format!(r#"schemas eq "{ENTERPRISE}""#), true);
    check(
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        true,
    );
    check(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        false,
    );
    check(
        r#"not (emails co "example.com" or emails.value co "example.org")"#,
        false,
    );
    check(
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        true,
    );
    check(
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        true,
    );
    check(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        true,
    );
    check(r#"ims[type eq "xmpp" and value co "@foo.com"]"#, false);
}

#[test]
fn entra_lookups() {
    check(r#"externalId eq "701984""#, true);
    check(r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true);
    check(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
        true,
    );
    // The type and the value must hold for the same email.
    check(
        r#"emails[type eq "home"].value eq "bjensen@example.com""#,
        false,
    );
    check(r#"emails[type eq "home"].value eq "babs@jensen.org""#, true);
    // `manager` unqualified and without `.value`, as Entra's reference check sends it.
    check(
        r#"id eq "2819c223-7f76-453a-919d-413861904646" and manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        true,
    );
    check(r#"manager eq "someone-else""#, false);
    check(
        &format!(r#"{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
        true,
    );
    check(&format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#), true);
    check(r#"displayName eq "babs jensen""#, true);
    // The random-GUID probe matches nothing.
    check(
        r#"userName eq "6a1b0e43-1c53-4f3c-9d1e-0f0a6b7cfe11""#,
        false,
    );
}

#[test]
fn case_exactness_follows_the_schema() {
    check(r#"userName eq "BJENSEN@EXAMPLE.COM""#, true);
    check(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false);
    check(r#"externalId eq "701984""#, true);
    check(r#"meta.resourceType eq "user""#, false);
    check(r#"meta.resourceType eq "User""#, true);
    check("USERNAME pr", true);
    check(
        r#"EMAILS[TYPE eq "WORK"].VALUE eq "bjensen@example.com""#,
        true,
    );
    check_ecma(
        r#"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:-dn- eq "cn=john doe,ou=staff,dc=contoso,dc=com""#,
        false,
    );
    check_ecma(
        r#"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:-dn- sw "CN=John Doe,""#,
        true,
    );
    check_ecma(
        r#"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:contosologin eq "jdoe""#,
        true,
    );
}

#[test]
fn strings_order_and_substrings() {
    check(r#"userName gt "a""#, true);
    check(r#"userName lt "a""#, false);
    check(r#"userName ew "@EXAMPLE.com""#, true);
    check(r#"userName co "jensen@""#, true);
    check(r#"userName co """#, true);
    check(r#"userName eq 42"#, false);
}

#[test]
fn date_times_compare_as_instants() {
    check(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true);
    check(r#"meta.lastModified gt "2011-05-13T06:42:33+02:00""#, true);
    check(r#"meta.lastModified lt "2011-05-13T00:42:35-04:00""#, true);
    check(r#"meta.created lt "2011-01-01T00:00:00Z""#, true);
    check(r#"meta.lastModified sw "2011-05""#, true);
    check_ecma(
        r#"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:HireDate eq "2021-03-01T08:00:00Z""#,
        true,
    );
    check_ecma(r#"HireDate ge "2021-03-01T08:00:00.001Z""#, false);
}

#[test]
fn numbers_compare_numerically() {
    check_ecma("EmployeeId eq 1234", true);
    check_ecma("EmployeeId eq 1234.0", true);
    check_ecma("EmployeeId gt 999", true);
    check_ecma("EmployeeId lt 1e4", true);
    check_ecma("EmployeeId le -5", false);
    check_ecma(r#"EmployeeId eq "1234""#, false);
    check_ecma("Salary ge 5500.5", true);
    check_ecma("Salary gt 5500.5", false);
    check_ecma("Salary co 5", false);
}

#[test]
fn booleans_support_only_equality() {
    check("active eq true", true);
    check("active eq false", false);
    check("active ne false", true);
    check("ACTIVE eq TRUE", true);
    check("active gt false", false);
    check(
        r#"emails[primary eq true].value eq "bjensen@example.com""#,
        true,
    );
    check(
        r#"emails[primary eq true].value eq "babs@jensen.org""#,
        false,
    );
    check_ecma("IsContractor eq false", true);
}

#[test]
fn presence_and_null() {
    check("title pr", true);
    check("nickName pr", false); // ""
    check("phoneNumbers pr", false); // []
    check("profileUrl pr", false); // absent
    check("emails pr", true);
    check("emails.type pr", true);
    check("ims.display pr", false);
    check("name pr", true);
    check("manager pr", true);
    check("profileUrl eq null", true);
    check("nickName eq null", true);
    check("title eq null", false);
    check("title ne null", true);
    check(r#"profileUrl ne "x""#, true);
    check(r#"profileUrl eq "x""#, false);
    check(r#"emails.value ne "babs@jensen.org""#, false);
}

#[test]
fn unknown_attributes_never_match_but_do_not_fail() {
    check(r#"shoeSize eq "42""#, false);
    check("shoeSize pr", false);
    check(r#"urn:example:unknown:2.0:User:x eq "1""#, false);
    check(r#"name.nonsense eq "x""#, false);
    check(r#"emails[nonsense eq "x"]"#, false);
    check(r#"not (shoeSize eq "42")"#, true);
}

#[test]
fn complex_attribute_comparisons_use_value() {
    check(r#"emails eq "babs@jensen.org""#, true);
    check(r#"name eq "Barbara""#, false); // complex without a value sub-attribute
    check(
        r#"manager[value eq "26118915-6090-4610-87e4-49d8ca9f808d"]"#,
        true,
    );
}

#[test]
fn canonical_paths_resolve_against_the_schema() {
    let check_canonical = |input: &str, expected: Option<&str>| {
        let Filter::Present(p) = Filter::parse(&format!("{input} pr")).unwrap() else {
            panic!("{input}")
        };
        let got = p
            .canonical(&user_schema())
            .map(|c| format!("{:?}|{}|{:?}", c.urn, c.name, c.sub));
        assert_eq!(got.as_deref(), expected, "{input}");
    };
    check_canonical("USERNAME", Some("None|userName|None"));
    check_canonical(
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        Some("None|userName|None"),
    );
    check_canonical("emails.VALUE", Some(r#"None|emails|Some("value")"#));
    check_canonical(
        "manager",
        Some(r#"Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")|manager|None"#),
    );
    check_canonical(
        "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Manager.Value",
        Some(
            r#"Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")|manager|Some("value")"#,
        ),
    );
    check_canonical(
        "meta.lastmodified",
        Some(r#"None|meta|Some("lastModified")"#),
    );
    check_canonical("shoeSize", None);
    check_canonical("name.shoe", None);
    check_canonical("urn:ietf:params:scim:schemas:core:2.0:User:manager", None);
}

#[test]
fn unknown_attributes_are_named() {
    let unknown = |filter: &str| {
        Filter::parse(filter)
            .unwrap()
            .unknown_attribute(&user_schema())
    };
    for known in [
        r#"userName eq "a""#,
        r#"id eq "1" and meta.lastModified gt "2020-01-01T00:00:00Z""#,
        r#"not (externalId pr) or emails[type eq "work" and value co "@"]"#,
        r#"emails[type eq "work"].value eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "7""#,
    ] {
        assert_eq!(unknown(known), None, "{known}");
    }
    assert_eq!(
        unknown(r#"PLACEHOLDER eq "x""#).as_deref(),
        Some("PLACEHOLDER")
    );
    assert_eq!(
        unknown(r#"userName eq "a" and shoeSize gt 3"#).as_deref(),
        Some("shoeSize")
    );
    assert_eq!(unknown(r#"name.shoe pr"#).as_deref(), Some("name.shoe"));
    assert_eq!(
        unknown(r#"emails[colour eq "red"]"#).as_deref(),
        Some("emails.colour")
    );
    assert_eq!(unknown(r#"hats[value eq "x"]"#).as_deref(), Some("hats"));
}
