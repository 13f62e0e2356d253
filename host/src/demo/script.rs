//! The script demo: the Python reference script connector (embedded in this binary, written
//! into the demo directory as `connector.py`, a template to edit) run as warm workers by the
//! system `python3`, its users in the SQLite file `users.db` beside it, exposed in the
//! `ecma2host` schema. Only the standard library of Python 3 is needed.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::{Demo, write_private};
use crate::config::generate_token;

/// The Python reference connector (`connectors/script/examples/python/connector.py`).
const CONNECTOR_PY: &str = include_str!("../../../connectors/script/examples/python/connector.py");

/// The interpreter the demo runs the script with.
const PYTHON: &str = "python3";

fn config(port: u16) -> String {
    format!(
        r#"# connector-host configuration (see README "Script connectors").
version = 1

[server]
listen = "127.0.0.1:{port}"
data_dir = "data"

[[connector]]
name = "scripted"                    # endpoint: https://HOST:PORT/ecma2host_scripted/scim
kind = "script"
schema = "ecma2host"                 # every script attribute appears as urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User:<attribute>
token = {{ file = "secrets/scripted.token" }}   # demo only: init/token keep just a hash
full_import_every = "2h"
export_timeout = "30s"

[connector.script]
interpreter = "{PYTHON}"             # looked up on PATH
script = "connector.py"              # the reference connector: edit it, or point to your own
max_operations = 1000                # calls a worker serves before it is replaced

[connector.script.parameters]        # handed to the script in its hello
database = "users.db"

[connector.deprovision]
disable = {{ set = "active", value = false }}
delete = "delete"
"#
    )
}

/// Fails with how to install Python unless `python3` starts.
fn check_python() -> Result<()> {
    let started = Command::new(PYTHON)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match started {
        Ok(status) if status.success() => Ok(()),
        _ => anyhow::bail!(
            "the script demo runs its connector with `{PYTHON}`, which is not on PATH or does not start; \
             install Python 3 (Debian/Ubuntu: `sudo apt-get install python3`; Fedora/RHEL: \
             `sudo dnf install python3`; macOS: `brew install python`) and run the demo again"
        ),
    }
}

/// Creates the demo directory on first use and returns the demo.
pub fn prepare(dir: &Path, port: u16) -> Result<Demo> {
    check_python()?;
    let config_path = dir.join("connector-host.toml");
    let token_path = dir.join("secrets").join("scripted.token");
    let script_path = dir.join("connector.py");
    if !config_path.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("while creating {}", dir.display()))?;
        write_private(&token_path, &format!("{}\n", generate_token()))?;
        std::fs::write(&config_path, config(port))
            .with_context(|| format!("while writing {}", config_path.display()))?;
    }
    if !script_path.exists() {
        std::fs::write(&script_path, CONNECTOR_PY)
            .with_context(|| format!("while writing {}", script_path.display()))?;
        // Readable and runnable, never writable by others (the connector refuses that).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script_path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("while restricting {}", script_path.display()))?;
        }
    }
    let token = std::fs::read_to_string(&token_path)
        .with_context(|| format!("while reading {}", token_path.display()))?
        .trim()
        .to_owned();
    Ok(Demo {
        config_path,
        token,
        connector: "scripted".into(),
        target: format!(
            "{} run by {PYTHON} (users in {})",
            script_path.display(),
            dir.join("users.db").display()
        ),
        create_body: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User":{"id":"1001","userName":"ada@contoso.com","displayName":"Ada Lovelace","password":"Initial#1"}}"#.into(),
        keep: Box::new(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's configuration is one the host accepts, with the script beside it.
    #[test]
    fn the_demo_configuration_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connector-host.toml");
        std::fs::write(&path, config(8585)).unwrap();
        std::fs::write(dir.path().join("connector.py"), CONNECTOR_PY).unwrap();
        let (config, _) = crate::registry::load(&path).unwrap();
        assert_eq!(config.connectors.len(), 1);
        assert_eq!(config.connectors[0].kind, "script");
    }
}
