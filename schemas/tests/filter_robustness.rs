//! Deterministic bounded random inputs (a tiny xorshift generator over grammar fragments), so
//! CI exercises the parsers and PATCH robustness without nightly fuzzing: nothing panics, every
//! accepted filter or path prints to text that parses back to the same tree, and a failed
//! PATCH leaves the resource unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use schemas::{Filter, PatchOperation, PatchPath, apply_patch};
use serde_json::{Value, json};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "userName",
    "emails",
    "name",
    ".",
    "familyName",
    "value",
    "type",
    "primary",
    "manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
    "urn:ietf:params:scim:schemas:core:2.0:User:",
    "urn:",
    ":",
    "-dn-",
    "$ref",
    "[",
    "]",
    "(",
    ")",
    " ",
    " ",
    " ",
    "\t",
    "eq",
    "ne",
    "co",
    "sw",
    "ew",
    "gt",
    "ge",
    "lt",
    "le",
    "pr",
    "and",
    "or",
    "not",
    "EQ",
    "Or",
    "\"x\"",
    "\"work\"",
    "\"\\u00e9\\\"\\\\\"",
    "\"",
    "\\",
    "1",
    "-2.5e3",
    "0.1",
    "1e999",
    "true",
    "FALSE",
    "null",
    "é",
    "😀",
    "\u{0}",
    "meta.lastModified",
    "\"2011-05-13T04:42:34Z\"",
];

fn random_text(rng: &mut XorShift) -> String {
    let n = 1 + rng.below(14);
    (0..n).map(|_| rng.pick(FRAGMENTS)).collect()
}

/// A grammatical filter, so that many generated inputs parse and exercise Display.
fn random_filter(rng: &mut XorShift, depth: usize) -> String {
    let attrs = [
        "userName",
        "name.familyName",
        "emails.value",
        "active",
        "meta.lastModified",
        "title",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "x-y_z",
    ];
    let values = [
        "\"bjensen@example.com\"",
        "\"x\\\"y\"",
        "true",
        "null",
        "42",
        "-1.5e2",
        "\"2011-05-13T04:42:34Z\"",
    ];
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    match if depth == 0 {
        rng.below(2)
    } else {
        rng.below(7)
    } {
        0 => format!(
            "{} {} {}",
            rng.pick(&attrs),
            rng.pick(&ops),
            rng.pick(&values)
        ),
        1 => format!("{} pr", rng.pick(&attrs)),
        2 => format!(
            "{} and {}",
            random_filter(rng, depth - 1),
            random_filter(rng, depth - 1)
        ),
        3 => format!(
            "{} or {}",
            random_filter(rng, depth - 1),
            random_filter(rng, depth - 1)
        ),
        4 => format!("not ({})", random_filter(rng, depth - 1)),
        5 => format!("({})", random_filter(rng, depth - 1)),
        _ => format!(
            "emails[type eq \"work\" {} {}]",
            rng.pick(&["and", "or"]),
            {
                let inner = ["value co \"@\"", "primary eq true", "display pr"];
                rng.pick(&inner)
            }
        ),
    }
}

#[test]
fn filters_never_panic_and_round_trip() {
    let schema = common::user_schema();
    let user = common::bjensen();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..6000 {
        let input = if i % 2 == 0 {
            random_text(&mut rng)
        } else {
            random_filter(&mut rng, 4)
        };
        if let Ok(f) = Filter::parse(&input) {
            accepted += 1;
            let printed = f.to_string();
            let again =
                Filter::parse(&printed).unwrap_or_else(|e| panic!("{input:?} → {printed:?}: {e}"));
            assert_eq!(again, f, "{input:?} → {printed:?}");
            let _ = f.matches(&user, &schema);
            let _ = f.equality_terms();
        }
    }
    assert!(
        accepted > 2000,
        "only {accepted} inputs parsed; the generator is too weak"
    );
}

#[test]
fn paths_never_panic_and_round_trip() {
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    for _ in 0..4000 {
        let input = random_text(&mut rng);
        if let Ok(p) = PatchPath::parse(&input) {
            let printed = p.to_string();
            assert_eq!(
                PatchPath::parse(&printed).unwrap(),
                p,
                "{input:?} → {printed:?}"
            );
        }
    }
}

#[test]
fn random_patches_are_atomic() {
    let schema = common::user_schema();
    let mut rng = XorShift(0x0123_4567_89AB_CDEF);
    let paths = [
        "userName",
        "title",
        "name",
        "name.givenName",
        "emails",
        "emails[type eq \"work\"].value",
        "emails[type eq \"work\"]",
        "emails.value",
        "active",
        "id",
        "groups",
        "manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "emails[value co \"zz\"]",
        "meta.version",
        "shoe",
        "name.givenName.x",
        "emails[",
    ];
    let values = [
        json!("x"),
        json!("False"),
        json!(true),
        json!(7),
        json!(null),
        json!([]),
        json!([{"value": "a@b", "type": "work", "primary": true}]),
        json!({"givenName": "G"}),
        json!({"value": "271"}),
        json!({"displayName": "D", "name.familyName": "F"}),
    ];
    let kinds = ["add", "replace", "remove"];
    for _ in 0..3000 {
        let n = 1 + rng.below(4);
        let ops: Vec<Value> = (0..n)
            .map(|_| {
                let mut op = json!({"op": rng.pick(&kinds)});
                if rng.below(5) > 0 {
                    op["path"] = json!(rng.pick(&paths));
                }
                if rng.below(4) > 0 {
                    op["value"] = values[rng.below(values.len())].clone();
                }
                op
            })
            .collect();
        let ops: Vec<PatchOperation> = serde_json::from_value(Value::Array(ops)).unwrap();
        let before = common::bjensen();
        let mut r = before.clone();
        match apply_patch(&mut r, &ops, &schema) {
            Ok(()) => assert!(r.is_object()),
            Err(e) => {
                assert_eq!(r, before, "failed PATCH changed the resource: {e}");
                assert_eq!(e.status, 400);
                assert!(e.detail.starts_with("Operations["), "{}", e.detail);
            }
        }
    }
}
