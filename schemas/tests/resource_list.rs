//! List responses, paging (RFC 7644 §3.4.2.4) and sorting (§3.4.2.3).

// Test helpers outside #[test] functions may panic on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use schemas::list::{ListResponse, Paging, Sort};
use schemas::schema::user_resource_schema;
use serde_json::{Value, json};

#[test]
fn empty_list_response_has_the_shape_entras_probe_needs() {
    let text = serde_json::to_string(&ListResponse::empty()).unwrap();
    assert_eq!(
        text,
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"itemsPerPage":0,"startIndex":1,"Resources":[]}"#
    );
}

#[test]
fn non_empty_list_response() {
    let page = ListResponse::new(7, 3, vec![json!({"id": "a"}), json!({"id": "b"})]);
    assert_eq!(
        page.to_value(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 7, "itemsPerPage": 2, "startIndex": 3,
            "Resources": [{"id": "a"}, {"id": "b"}]
        })
    );
    // And it reads back.
    let back: ListResponse = serde_json::from_value(page.to_value()).unwrap();
    assert_eq!(back, page);
}

/// `Paging::from_query(start, count, default 100, max 1000)` over 12 resources: the
/// (startIndex, count) it yields and the ids of the page, or the error detail's start.
fn check_paging(
    start: Option<&str>,
    count: Option<&str>,
    expected: Result<(usize, usize, &[usize]), &str>,
) {
    let all: Vec<Value> = (1..=12).map(|i| json!({"id": i})).collect();
    match (Paging::from_query(start, count, 100, 1000), expected) {
        (Ok(p), Ok((s, c, ids))) => {
            assert_eq!((p.start_index, p.count), (s, c), "{start:?} {count:?}");
            let page = ListResponse::page(all, &p);
            let got: Vec<usize> = page
                .resources
                .iter()
                .map(|r| r["id"].as_u64().unwrap() as usize)
                .collect();
            assert_eq!(got, ids, "{start:?} {count:?}");
            assert_eq!(page.total_results, 12, "the total is always true");
            assert_eq!(page.items_per_page, ids.len());
            assert_eq!(page.start_index, s);
        }
        (Err(e), Err(detail)) => {
            assert_eq!(
                (e.status, e.scim_type.map(|t| t.as_str())),
                (400, Some("invalidValue"))
            );
            assert!(e.detail.starts_with(detail), "{}", e.detail);
        }
        (got, want) => panic!("{start:?} {count:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn paging_table() {
    let all: &[usize] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    check_paging(None, None, Ok((1, 100, all)));
    check_paging(Some("0"), None, Ok((1, 100, all)));
    check_paging(Some("-5"), None, Ok((1, 100, all)));
    check_paging(Some("1"), Some("5"), Ok((1, 5, &[1, 2, 3, 4, 5])));
    check_paging(Some("3"), Some("5"), Ok((3, 5, &[3, 4, 5, 6, 7])));
    check_paging(Some("11"), Some("5"), Ok((11, 5, &[11, 12])));
    check_paging(Some("100"), Some("5"), Ok((100, 5, &[])));
    check_paging(
        Some("99999999999999999999999"),
        Some("5"),
        Ok((i64::MAX as usize, 5, &[])),
    );
    check_paging(Some("1"), Some("0"), Ok((1, 0, &[])));
    check_paging(Some("1"), Some("-1"), Ok((1, 0, &[])));
    check_paging(Some("1"), Some("10000"), Ok((1, 1000, all)));
    check_paging(Some(" 2 "), Some("+2"), Ok((2, 2, &[2, 3])));
    check_paging(Some(""), Some(""), Ok((1, 100, all)));
    check_paging(None, Some("abc"), Err("count must be an integer"));
    check_paging(Some("abc"), None, Err("startIndex must be an integer"));
    check_paging(Some("1.5"), None, Err("startIndex must be an integer"));
    check_paging(None, Some("5e2"), Err("count must be an integer"));
    check_paging(None, Some("-"), Err("count must be an integer"));
}

#[test]
fn default_count_is_capped_by_max() {
    let p = Paging::from_query(None, None, 500, 50).unwrap();
    assert_eq!(p.count, 50);
}

#[test]
fn entra_validator_pages_of_five() {
    // GET /Users?startIndex=N&count=5 over two pages: startIndex echoes page*5+1.
    let all: Vec<Value> = (1..=8).map(|i| json!({"id": i})).collect();
    for (page, start) in [(0, "1"), (1, "6")] {
        let p = Paging::from_query(Some(start), Some("5"), 100, 100).unwrap();
        let lr = ListResponse::page(all.clone(), &p);
        assert_eq!(lr.start_index, page * 5 + 1);
    }
}

fn users() -> Vec<Value> {
    vec![
        json!({"id": "1", "userName": "bob", "externalId": "B", "active": true,
               "meta": {"created": "2024-01-02T00:00:00Z"},
               "name": {"givenName": "Zed"},
               "emails": [{"value": "z@x", "primary": false}, {"value": "b@x", "primary": true}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "10"},
               "x-score": 10}),
        json!({"id": "2", "userName": "Alice", "externalId": "a", "active": false,
               "meta": {"created": "2023-12-31T23:00:00-02:00"},
               "emails": [{"value": "c@x"}, {"value": "a@x"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "9"},
               "x-score": 9.5}),
        json!({"id": "3", "userName": "carol", "externalId": "C",
               "meta": {"created": "2024-01-01T12:00:00Z"},
               "name": {"givenName": "amy"},
               "x-score": 100}),
    ]
}

/// Sorting `users()` by `sort_by`/`sort_order` gives these ids.
fn check_sort(sort_by: &str, sort_order: Option<&str>, expected: [&str; 3]) {
    let sort = Sort::from_query(Some(sort_by), sort_order)
        .unwrap()
        .unwrap();
    let mut list = users();
    sort.sort(&mut list, &user_resource_schema(true));
    let ids: Vec<&str> = list.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected, "sortBy={sort_by} sortOrder={sort_order:?}");
}

#[test]
fn sorting_table() {
    // userName is case-insensitive.
    check_sort("userName", None, ["2", "1", "3"]);
    check_sort("USERNAME", Some("descending"), ["3", "1", "2"]);
    check_sort("userName", Some("Ascending"), ["2", "1", "3"]);
    // externalId is caseExact: "B" < "C" < "a" in code point order.
    check_sort("externalId", None, ["1", "3", "2"]);
    // dateTime compares instants, not strings (23:00-02:00 is 01:00Z on Jan 1st).
    check_sort("meta.created", None, ["2", "3", "1"]);
    // Booleans: false before true; a missing value last when ascending...
    check_sort("active", None, ["2", "1", "3"]);
    // ...and first when descending.
    check_sort("active", Some("descending"), ["3", "1", "2"]);
    check_sort("name.givenName", None, ["3", "1", "2"]);
    check_sort("name.givenName", Some("descending"), ["2", "1", "3"]);
    // Multi-valued: the primary value, or else the first.
    check_sort("emails.value", None, ["1", "2", "3"]);
    check_sort("emails", Some("descending"), ["3", "2", "1"]);
    // Extension attributes by URN path; strings compare as strings ("10" < "9").
    check_sort(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        None,
        ["1", "2", "3"],
    );
    // Unknown attributes are typed by their JSON value: numbers numerically.
    check_sort("x-score", None, ["2", "1", "3"]);
    // No resource has it: order is kept.
    check_sort("nickName", Some("descending"), ["1", "2", "3"]);
}

#[test]
fn sort_parameters() {
    assert_eq!(Sort::from_query(None, Some("descending")).unwrap(), None);
    assert_eq!(Sort::from_query(Some(" "), None).unwrap(), None);
    let e = Sort::from_query(Some("userName"), Some("up")).unwrap_err();
    assert_eq!(
        (e.status, e.scim_type.map(|t| t.as_str())),
        (400, Some("invalidValue"))
    );
}
