//! Shared test helpers: where the crate is, and the conformance fixture every reference
//! connector (Python, shell, PowerShell samples) is checked with.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use connector_core::conformance::{Fixture, SecretProbe};
use connector_core::{Attributes, Connector};

pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Sample user number `i`.
pub fn sample(i: usize) -> Attributes {
    let mut a = Attributes::new();
    a.insert("id".into(), vec![format!("u{i:04}").as_str().into()]);
    a.insert("userName".into(), vec![format!("user{i}").as_str().into()]);
    a.insert(
        "displayName".into(),
        vec![format!("User {i}").as_str().into()],
    );
    a
}

/// The fixture of a reference connector: users with `displayName`, multi-valued `mail`, a
/// `manager` reference and a `password` read back by `probe`.
pub fn fixture(
    connector: impl Connector + 'static,
    object_type: &str,
    keep_alive: tempfile::TempDir,
    probe: SecretProbe,
) -> Fixture {
    let mut f = Fixture::new(
        Box::new(connector),
        object_type,
        sample,
        "displayName",
        Box::new(keep_alive),
    );
    f.multi_valued_attribute = Some("mail".into());
    f.reference_attribute = Some("manager".into());
    f.secret = Some(("password".into(), probe));
    f
}

/// A probe reading `passwords.<anchor>` from a JSON store file.
pub fn json_password_probe(store: std::path::PathBuf) -> SecretProbe {
    Box::new(move |anchor| {
        let text = std::fs::read_to_string(&store).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("passwords")?
            .get(anchor.as_str())?
            .as_str()
            .map(str::to_owned)
    })
}
