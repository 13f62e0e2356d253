//! `path::values_at`: the values at `attr[key eq "text"].sub` in a resource, as an attribute map
//! reads them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use schemas::path::values_at;
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn resource() -> Value {
    json!({
        "userName": "ada@contoso.com",
        "name": {"givenName": "Ada", "familyName": null},
        "emails": [
            {"type": "home", "value": "ada@home"},
            {"TYPE": "Work", "value": "ada@contoso.com"},
            {"type": "work", "value": null},
            "not an object"
        ],
        "phoneNumbers": {"type": "work", "value": "555"},
        "proxyAddresses": ["smtp:a@x", null, "smtp:b@x"],
        "nickName": null,
        ENTERPRISE: {"Manager": {"value": "42"}, "department": "R&D"}
    })
}

/// A place in a resource: (`urn`, `name`, `select`, `sub`), the arguments of `values_at`.
type Place<'a> = (
    Option<&'a str>,
    &'a str,
    Option<(&'a str, &'a str)>,
    Option<&'a str>,
);

/// The values at `place` in [`resource`].
#[track_caller]
fn check((urn, name, select, sub): Place<'_>, expected: Value) {
    let doc = resource();
    let found: Vec<Value> = values_at(&doc, urn, name, select, sub)
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(
        Value::Array(found),
        expected,
        "{urn:?} {name} {select:?} {sub:?}"
    );
}

#[test]
fn values_at_reads_what_a_map_names() {
    check((None, "userName", None, None), json!(["ada@contoso.com"]));
    check((None, "USERNAME", None, None), json!(["ada@contoso.com"]));
    check((None, "name", None, Some("givenName")), json!(["Ada"]));
    check((None, "name", None, Some("familyName")), json!([]));
    check(
        (None, "emails", Some(("type", "work")), Some("value")),
        json!(["ada@contoso.com"]),
    );
    check(
        (None, "emails", None, Some("value")),
        json!(["ada@home", "ada@contoso.com"]),
    );
    check(
        (None, "emails", Some(("type", "home")), None),
        json!(["ada@home"]),
    );
    check(
        (None, "emails", None, None),
        json!(["ada@home", "ada@contoso.com", "not an object"]),
    );
    check(
        (None, "phoneNumbers", Some(("type", "work")), Some("value")),
        json!([]),
    );
    check((None, "phoneNumbers", None, Some("value")), json!(["555"]));
    check(
        (None, "proxyAddresses", None, None),
        json!(["smtp:a@x", "smtp:b@x"]),
    );
    check((None, "nickName", None, None), json!([]));
    check((None, "title", None, None), json!([]));
    check((Some(ENTERPRISE), "manager", None, None), json!(["42"]));
    check((Some(ENTERPRISE), "department", None, None), json!(["R&D"]));
    check((None, "department", None, None), json!([]));
    check(
        (Some("urn:example:missing"), "department", None, None),
        json!([]),
    );
    assert!(values_at(&json!("text"), None, "userName", None, None).is_empty());
}
