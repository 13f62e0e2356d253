//! Any bytes as a PATCH request body applied to a fixed user: never panics, and a failed PATCH
//! leaves the resource unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schemas::{PatchRequest, apply_patch};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = PatchRequest::from_slice(data) else {
        return;
    };
    let schema = schemas::schema::user_resource_schema(true);
    let before = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "bjensen", "name": {"givenName": "Barbara"}, "active": true,
        "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "42"}}
    });
    let mut r = before.clone();
    if apply_patch(&mut r, &req.operations, &schema).is_err() {
        assert_eq!(r, before);
    }
});
