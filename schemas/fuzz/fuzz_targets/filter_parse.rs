//! Any text: parsing never panics; an accepted filter prints to a filter that parses back to
//! the same tree, and evaluating it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schemas::Filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = Filter::parse(text) {
        let printed = f.to_string();
        let again = Filter::parse(&printed);
        assert_eq!(again.as_ref(), Ok(&f), "{text:?} printed as {printed:?}");
        let schema = schemas::schema::user_resource_schema(true);
        let user = serde_json::json!({
            "userName": "bjensen", "name": {"familyName": "Jensen"}, "active": true,
            "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "42"}}
        });
        let _ = f.matches(&user, &schema);
        let _ = f.equality_terms();
    }
});
