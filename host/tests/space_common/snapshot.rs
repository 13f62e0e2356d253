//! Everything a client can read from a space, as text: to compare a space before and after
//! an upgrade.

use std::fmt::Write as _;

use connector_host::space::Space;

use super::anchors;

/// Everything a client can read from the space, as text.
pub fn snapshot(space: &Space) -> String {
    let mut out = String::new();
    for object_type in ["User", "Group"] {
        writeln!(
            out,
            "count {object_type} {}",
            space.count(object_type).unwrap()
        )
        .unwrap();
        let all = space.list(object_type, 0, 1000).unwrap();
        for s in &all {
            writeln!(out, "{s:?}").unwrap();
            let again = space.get(object_type, &s.object.anchor).unwrap().unwrap();
            assert_eq!(&again, s);
            if let Some(dn) = &s.object.dn {
                let by_dn = space.get_by_dn(object_type, &dn.to_uppercase()).unwrap();
                writeln!(out, "dn {dn} -> {:?}", by_dn.map(|s| s.object.anchor.0)).unwrap();
            }
        }
        let scanned = space.scan(object_type, None, 1000).unwrap();
        writeln!(out, "scan {:?}", anchors(&scanned)).unwrap();
    }
    for (attribute, value) in [
        ("userName", "ANN"),
        ("userName", "bob"),
        ("userName", "nobody"),
        ("mail", "ann@example.com"),
        ("mail", "ANN.SECOND@EXAMPLE.COM"),
        ("mail", "shared@example.com"),
        ("employeeId", "E1"),
        ("employeeId", "e1"),
        ("employeeId", "E3"),
    ] {
        let found = space.lookup("User", attribute, value).unwrap();
        writeln!(out, "lookup {attribute}={value} -> {:?}", anchors(&found)).unwrap();
    }
    writeln!(out, "pending {:?}", space.pending(100).unwrap()).unwrap();
    let intents: Vec<_> = space
        .open_intents()
        .unwrap()
        .into_iter()
        .map(|i| (i.object_type, i.anchor))
        .collect();
    writeln!(out, "intents {intents:?}").unwrap();
    writeln!(out, "watermark {:?}", space.watermark("User").unwrap()).unwrap();
    out
}
