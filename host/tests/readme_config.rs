//! The configuration examples in the README are real: every ```toml block that is a whole
//! configuration file (starts with `version = 1`) must parse and validate, each connector's own
//! settings table included (read by the connector registry, as the host loads a file).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::path::Path;

use connector_host::config::Config;
use connector_host::registry;

fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_full_configuration_in_the_readme_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let configs: Vec<_> = toml_blocks(&readme)
        .into_iter()
        .filter(|b| b.trim_start().starts_with("version = 1"))
        .collect();
    assert!(
        configs.len() >= 2,
        "expected the reference and the scim example"
    );
    for (i, text) in configs.iter().enumerate() {
        let parsed = Config::parse(
            text,
            Path::new("README.md"),
            Path::new("/etc/connector-host"),
        )
        .and_then(|config| registry::read(&config));
        assert!(
            parsed.is_ok(),
            "README configuration block {i} is invalid: {}",
            parsed.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
}
