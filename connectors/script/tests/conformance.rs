//! The connector conformance suite (contract v2) against the two reference connectors, run as
//! real child processes: `examples/python/connector.py` (SQLite; delta imports, a pool of
//! workers, inline passwords, pending adds) and `examples/shell/connector.sh` (a JSON file
//! through jq; one worker, passwords through `setPassword`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{crate_dir, fixture, json_password_probe};
use connector_core::AttrValue;
use connector_core::conformance::Fixture;
use connector_script::{ScriptConfig, ScriptConnector};

fn connector(script: &str, interpreter: &str, dir: &Path, store: (&str, &str)) -> ScriptConnector {
    let mut config = ScriptConfig::new(script)
        .with_interpreter(interpreter)
        .with_parameter(store.0, store.1);
    config.working_dir = Some(dir.to_owned());
    ScriptConnector::named("conformance", config, crate_dir()).expect("start the example")
}

fn python() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let c = connector(
        "examples/python/connector.py",
        "python3",
        dir.path(),
        ("database", "users.db"),
    );
    assert_eq!(c.max_workers(), 4, "the Python example is concurrency-safe");
    let probe = Box::new(move |anchor: &connector_core::Anchor| {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 r = sqlite3.connect(sys.argv[1]).execute(\
                 'SELECT password FROM users WHERE id = ?', (sys.argv[2],)).fetchone()\n\
                 print(r[0] if r and r[0] is not None else '')",
            )
            .arg(&db)
            .arg(anchor.as_str())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        (!text.is_empty()).then_some(text)
    });
    let mut f = fixture(c, "User", dir, probe);
    f.pending_sample = Some(Box::new(|i| {
        let mut a = common::sample(i);
        a.insert("needsApproval".into(), vec![AttrValue::Boolean(true)]);
        a
    }));
    f
}

fn shell() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("users.json");
    let c = connector(
        "examples/shell/connector.sh",
        "sh",
        dir.path(),
        ("store", "users.json"),
    );
    assert_eq!(
        c.max_workers(),
        1,
        "the shell example is not concurrency-safe"
    );
    fixture(c, "User", dir, json_password_probe(store))
}

mod python_sqlite {
    connector_core::conformance_tests!(super::python);
}

mod shell_json {
    connector_core::conformance_tests!(super::shell);
}
