//! Micro-benchmarks of what every Entra request costs in `schemas`: parsing and evaluating
//! its lookup filters over a realistic user, and applying its typical PATCH bodies.
//! Run with `cargo bench -p schemas --bench protocol`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use schemas::{Filter, PatchRequest, apply_patch, normalize_resource};
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "displayName": "Barbara Jensen",
        "emails": [
            {"primary": true, "type": "work", "value": "bjensen@contoso.com"},
            {"type": "home", "value": "babs@jensen.org"}
        ],
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        "meta": {"resourceType": "User", "created": "2024-01-23T04:56:22Z", "lastModified": "2024-05-13T04:42:34Z"},
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "title": "Tour Guide",
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "26118915"}}
    })
}

fn bench(c: &mut Criterion) {
    let schema = schemas::schema::user_resource_schema(true);
    let user = user();

    let by_name = r#"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1""#;
    let by_email = r#"emails[type eq "work"].value eq "bjensen@contoso.com""#;
    c.bench_function("filter parse+match userName eq", |b| {
        b.iter(|| {
            let f = Filter::parse(black_box(by_name)).unwrap();
            black_box(f.matches(&user, &schema))
        })
    });
    c.bench_function("filter parse+match emails[type eq work].value eq", |b| {
        b.iter(|| {
            let f = Filter::parse(black_box(by_email)).unwrap();
            black_box(f.matches(&user, &schema))
        })
    });
    let parsed = Filter::parse(by_email).unwrap();
    c.bench_function("filter match only emails[...] (parsed once)", |b| {
        b.iter(|| black_box(parsed.matches(black_box(&user), &schema)))
    });

    let update = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Ryan Leenay"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ryan@contoso.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Ryan"},
        {"op": "Replace", "path": "externalId", "value": "ryan"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "7"}
    ]})
    .to_string();
    let disable = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#;
    c.bench_function("patch parse+apply Entra multi-Replace update", |b| {
        b.iter(|| {
            let req = PatchRequest::from_slice(black_box(update.as_bytes())).unwrap();
            let mut r = user.clone();
            apply_patch(&mut r, &req.operations, &schema).unwrap();
            black_box(r)
        })
    });
    c.bench_function("patch parse+apply Entra disable", |b| {
        b.iter(|| {
            let req = PatchRequest::from_slice(black_box(disable.as_bytes())).unwrap();
            let mut r = user.clone();
            apply_patch(&mut r, &req.operations, &schema).unwrap();
            black_box(r)
        })
    });
    c.bench_function("clone of the user (baseline for the patches)", |b| {
        b.iter(|| black_box(user.clone()))
    });
    c.bench_function("normalize_resource Entra create body", |b| {
        b.iter(|| black_box(normalize_resource(user.clone(), &schema).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
