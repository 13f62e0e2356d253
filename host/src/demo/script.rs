//! The script demo: not built yet.

use std::path::Path;

use anyhow::Result;

use super::Demo;

/// Prepares the script demo in `dir`.
pub fn prepare(dir: &Path, port: u16) -> Result<Demo> {
    let _ = (dir, port);
    anyhow::bail!("the script demo is not built yet; try `connector-host demo` (SQL)")
}
