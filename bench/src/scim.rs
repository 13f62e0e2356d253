//! The SCIM requests the benchmark sends, shaped as Entra sends them in the `ecma2host`
//! schema (lookup by `UserName`, create with the ECMA2Host extension, disable by PATCH), and
//! the one check it makes on a lookup answer.

use serde::Deserialize;
use serde_json::{Value, json};

/// The ECMA2Host extension URN; every staging-table column appears under it.
pub const ECMA2HOST_USER: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";

/// The user name of row `i` of the generated staging table.
pub fn user_name(i: u64) -> String {
    format!("u{i}")
}

/// Percent-encodes a query value: everything but RFC 3986 unreserved characters and `:`.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/Users?filter=<ECMA2Host>:UserName eq "<user>"`, URL-encoded, relative to the SCIM base.
pub fn lookup_path(user: &str) -> String {
    let filter = format!("{ECMA2HOST_USER}:UserName eq \"{user}\"");
    format!("/Users?filter={}", encode_query_value(&filter))
}

#[derive(Deserialize)]
struct ListHead {
    #[serde(rename = "totalResults")]
    total_results: u64,
    #[serde(rename = "Resources", default)]
    resources: Vec<serde::de::IgnoredAny>,
}

/// Whether a `ListResponse` body holds exactly one resource (what a lookup of an existing user
/// must return).
pub fn is_single_result(body: &[u8]) -> bool {
    serde_json::from_slice::<ListHead>(body)
        .map(|h| h.total_results == 1 && h.resources.len() == 1)
        .unwrap_or(false)
}

/// `POST <users_url>` creating the user `user` (userName, external id and display name all
/// `user`), with the bearer `authorization` header value.
pub fn create_request(
    client: &reqwest::Client,
    users_url: &str,
    authorization: &str,
    user: &str,
) -> reqwest::RequestBuilder {
    client
        .post(users_url)
        .header("authorization", authorization)
        .header("content-type", "application/scim+json")
        .json(&create_body(user, user, user))
}

/// A create as Entra sends it for an `ecma2host` connector over the `Employees` table shape.
pub fn create_body(employee_id: &str, user: &str, display: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ECMA2HOST_USER],
        "active": true,
        ECMA2HOST_USER: {
            "EmployeeId": employee_id,
            "UserName": user,
            "DisplayName": display,
            "FirstName": "Bench",
            "LastName": display,
            "Email": format!("{user}@example.com"),
            "Department": "Load",
        }
    })
}

/// Entra's default disable: `{"op":"Replace","path":"active","value":"False"}`.
pub fn disable_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        let check = |input: &str, expected: &str| assert_eq!(encode_query_value(input), expected);
        check("u1", "u1");
        check("a b", "a%20b");
        check("\"x\"", "%22x%22");
        check("urn:a:b", "urn:a:b");
        check("a&b=c", "a%26b%3Dc");
        check("ü", "%C3%BC");
    }

    #[test]
    fn lookup_path_is_entras_filter() {
        assert_eq!(
            lookup_path("u42"),
            "/Users?filter=urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:UserName%20eq%20%22u42%22"
        );
    }

    #[test]
    fn single_result_needs_one_resource_and_total_one() {
        let check = |body: &str, expected: bool| {
            assert_eq!(is_single_result(body.as_bytes()), expected, "{body}")
        };
        check(r#"{"totalResults":1,"Resources":[{"id":"1"}]}"#, true);
        check(
            r#"{"schemas":[],"totalResults":1,"itemsPerPage":1,"startIndex":1,"Resources":[{}]}"#,
            true,
        );
        check(r#"{"totalResults":0,"Resources":[]}"#, false);
        check(r#"{"totalResults":0}"#, false);
        check(r#"{"totalResults":2,"Resources":[{},{}]}"#, false);
        check(r#"{"totalResults":1,"Resources":[]}"#, false);
        check("not json", false);
    }

    #[test]
    fn create_body_carries_the_extension_attributes() {
        let b = create_body("e1", "u1", "User One");
        assert_eq!(b[ECMA2HOST_USER]["EmployeeId"], "e1");
        assert_eq!(b[ECMA2HOST_USER]["UserName"], "u1");
        assert_eq!(b["schemas"][1], ECMA2HOST_USER);
        assert_eq!(disable_body()["Operations"][0]["value"], "False");
    }
}
