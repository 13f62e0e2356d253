//! The connector registry: the connector kinds this build has. It is the only place in the host
//! that names a kind or a connector crate. Each kind brings its `kind` string, which also names
//! its own settings table in the configuration (`kind = "sql"` reads `[connector.sql]`), the
//! type those settings are read into, and how they build the connector.
//!
//! Adding a connector is one crate and one entry here: a line in `KINDS` and the
//! [`ConnectorSettings`] impl that builds the connector from its settings type.
//!
//! The host loads its configuration through [`load`] (or, given a parsed [`Config`], [`read`]):
//! every connector's settings are read and checked there, when the file is read, so that
//! `check-config`, `serve` and every other command refuse an unknown kind, a missing settings
//! table or an unknown key in one with a message that names the connector and the line. The
//! settings are kept, read once, in [`Connectors`] until a connector is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_core::{Connector, ConnectorError};
use serde::de::DeserializeOwned;

use crate::config::{Config, ConfigError, ConnectorConfig};

/// A connector's own settings, read and checked from its table; they build the connector.
pub trait ConnectorSettings: Send + Sync {
    /// Builds the connector called `name` (for its logs); relative paths in the settings
    /// resolve against `base_dir`.
    fn build(&self, name: &str, base_dir: &Path) -> Result<Arc<dyn Connector>, ConnectorError>;
}

/// Reads and checks a kind's settings table.
type ReadSettings =
    fn(&Config, &ConnectorConfig) -> Result<Box<dyn ConnectorSettings>, ConfigError>;

/// One connector kind.
struct Kind {
    /// `kind = "…"` in a `[[connector]]` table, and the name of its settings table.
    name: &'static str,
    /// Reads and checks the kind's settings table.
    read: ReadSettings,
}

/// The connector kinds this build has.
const KINDS: &[Kind] = &[
    Kind {
        name: "sql",
        read: read_settings::<connector_sql::SqlConfig>,
    },
    Kind {
        name: "ldap",
        read: read_settings::<connector_ldap::LdapConfig>,
    },
    Kind {
        name: "script",
        read: read_settings::<connector_script::ScriptConfig>,
    },
    Kind {
        name: "mimservice",
        read: read_settings::<connector_mimservice::MimServiceConfig>,
    },
];

/// The SQL staging-table connector: `[connector.sql]` is [`connector_sql::SqlConfig`].
impl ConnectorSettings for connector_sql::SqlConfig {
    fn build(&self, _name: &str, base_dir: &Path) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(connector_sql::SqlConnector::new(
            self.clone(),
            base_dir,
        )?))
    }
}

/// The LDAP connector: `[connector.ldap]` is [`connector_ldap::LdapConfig`].
impl ConnectorSettings for connector_ldap::LdapConfig {
    fn build(&self, _name: &str, base_dir: &Path) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(connector_ldap::LdapConnector::new(
            self.clone(),
            base_dir,
        )?))
    }
}

/// The MIM Service connector: `[connector.mimservice]` is
/// [`connector_mimservice::MimServiceConfig`].
impl ConnectorSettings for connector_mimservice::MimServiceConfig {
    fn build(&self, _name: &str, base_dir: &Path) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(connector_mimservice::MimServiceConnector::new(
            self.clone(),
            base_dir,
        )?))
    }
}

/// The script connector: `[connector.script]` is [`connector_script::ScriptConfig`].
impl ConnectorSettings for connector_script::ScriptConfig {
    fn build(&self, name: &str, base_dir: &Path) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(connector_script::ScriptConnector::named(
            name,
            self.clone(),
            base_dir,
        )?))
    }
}

/// Reads `[connector.<kind>]` as `T`, the kind's settings type.
fn read_settings<T: ConnectorSettings + DeserializeOwned + 'static>(
    config: &Config,
    c: &ConnectorConfig,
) -> Result<Box<dyn ConnectorSettings>, ConfigError> {
    Ok(Box::new(config.kind_settings::<T>(c)?))
}

/// The settings of every configured connector, read by its kind.
pub struct Connectors {
    /// Where relative paths in the settings resolve: the configuration file's directory.
    base_dir: PathBuf,
    by_name: BTreeMap<String, Box<dyn ConnectorSettings>>,
}

impl Connectors {
    /// Builds the connector called `name`.
    pub fn build(&self, name: &str) -> Result<Arc<dyn Connector>, ConnectorError> {
        match self.by_name.get(name) {
            Some(settings) => settings.build(name, &self.base_dir),
            None => Err(ConnectorError::misconfigured(format!(
                "no connector named {name:?} in the configuration"
            ))),
        }
    }
}

/// Reads and checks every connector's own settings with its kind.
pub fn read(config: &Config) -> Result<Connectors, ConfigError> {
    let mut by_name = BTreeMap::new();
    for c in &config.connectors {
        let kind = KINDS.iter().find(|k| k.name == c.kind).ok_or_else(|| {
            config.kind_error(
                c,
                &format!("unknown connector kind `{}`, expected {}", c.kind, known()),
            )
        })?;
        by_name.insert(c.name.clone(), (kind.read)(config, c)?);
    }
    Ok(Connectors {
        base_dir: config.base_dir.clone(),
        by_name,
    })
}

/// Reads the configuration file and every connector's settings in it: how the host loads its
/// configuration.
pub fn load(path: &Path) -> Result<(Config, Connectors), ConfigError> {
    let config = Config::load(path)?;
    let connectors = read(&config)?;
    Ok((config, connectors))
}

/// The kinds this build has, for messages: `` `sql` `` or `` one of `ldap`, `sql` ``.
fn known() -> String {
    let names: Vec<String> = KINDS.iter().map(|k| format!("`{}`", k.name)).collect();
    match names.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::MINIMAL;

    /// Parses `text` and reads every connector's settings, as the host loads a file.
    fn read_text(text: &str) -> Result<Connectors, ConfigError> {
        read(&Config::parse(
            text,
            Path::new("test.toml"),
            Path::new("/etc/ch"),
        )?)
    }

    fn error_of(text: &str) -> String {
        match read_text(text) {
            Ok(_) => panic!("config should be refused:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_kind_reads_its_own_table() {
        let connectors = read_text(MINIMAL).unwrap();
        assert!(connectors.by_name.contains_key("hr"));
        assert!(KINDS.iter().all(|k| !k.name.is_empty()));
    }

    #[test]
    fn unknown_key_inside_connector_settings_names_connector_and_line() {
        let text = MINIMAL.replace(
            "table = \"Employees\"",
            "table = \"Employees\"\ntabel = \"x\"",
        );
        let e = error_of(&text);
        assert!(e.contains("tabel"), "{e}");
        assert!(e.contains("connector \"hr\""), "{e}");
        assert!(e.contains("line 12, column 1"), "{e}");
    }

    #[test]
    fn wrong_value_inside_connector_settings_names_its_line() {
        let e = error_of(&MINIMAL.replace("connection = \"sqlite://hr.db\"", "connection = 5"));
        assert!(e.contains("line 8, column 14"), "{e}");
        assert!(e.contains("expected a string"), "{e}");
        let e = error_of(&MINIMAL.replace("connection = \"sqlite://hr.db\"\n", ""));
        assert!(e.contains("missing field `connection`"), "{e}");
    }

    #[test]
    fn unknown_kind_names_connector_and_line() {
        let text = MINIMAL
            .replace("kind = \"sql\"", "kind = \"kerberos\"")
            .replace("[connector.sql]", "[connector.kerberos]")
            .replace("[[connector.sql.object]]", "[[connector.kerberos.object]]");
        let e = error_of(&text);
        assert!(e.contains("connector \"hr\""), "{e}");
        assert!(e.contains("line 5, column 8"), "{e}");
        assert!(
            e.contains(
                "unknown connector kind `kerberos`, expected one of `sql`, `ldap`, `script`, `mimservice`"
            ),
            "{e}"
        );
    }
}
