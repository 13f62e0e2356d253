//! The `[connector.script]` configuration: which program to run, where, with which environment,
//! within which limits, and the parameters handed to the script.
//!
//! The host embeds this table in its TOML file and hands it over as a [`ScriptConfig`]; this
//! crate owns its shape. Unknown keys are rejected (`deny_unknown_fields`). Parameters and
//! secrets reach the script as data in the `hello` message on its standard input — never on a
//! command line (which `ps` shows to every user) or in its environment (which
//! `/proc/<pid>/environ` shows to the same user and to root). Secret values are
//! [`SecretParameter`]s: `Debug` shows them redacted, so a logged configuration leaks nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use connector_core::Secret;
use connector_core::settings::duration;
use serde::Deserialize;

/// The configuration of one script connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// The interpreter (`python3`, `sh`, `pwsh`), looked up on the allowed `PATH` when it has
    /// no slash. Absent: `script` is itself an executable.
    #[serde(default)]
    pub interpreter: Option<String>,
    /// Arguments for the interpreter, before the script (`["-NoProfile", "-File"]` for pwsh).
    #[serde(default)]
    pub interpreter_args: Vec<String>,
    /// The script (or executable), relative to the host's base directory.
    pub script: PathBuf,
    /// Arguments after the script. Never put credentials here: use `secrets`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory of the script, relative to the base directory. Default: the base
    /// directory.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// The names of the host's environment variables the script may see; every other variable
    /// is removed. Default: `PATH`, `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ`, `HOME`, `TMPDIR`.
    #[serde(default = "default_env")]
    pub env: Vec<String>,
    /// The most worker processes kept at once. Used only when the script's `hello` declares
    /// `concurrencySafe`; otherwise one worker serves every call, one at a time. Default 4.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Operations a worker serves before it is replaced by a fresh one (a leaking script stays
    /// bounded); 0 means never. Default 1000.
    #[serde(default = "default_max_operations")]
    pub max_operations: u64,
    /// The largest message, in bytes, accepted from the script (one line of stdout) and sent
    /// to it. Default 16 MiB.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// The most bytes of standard error a worker may write during one call before it is
    /// replaced as flooding. Default 1 MiB.
    #[serde(default = "default_max_log_per_call")]
    pub max_log_per_call: usize,
    /// Time for a new worker to start and answer `hello`. Default 30 s (PowerShell 7 takes
    /// 10 s on a slow machine).
    #[serde(default = "default_start_timeout", deserialize_with = "duration")]
    pub start_timeout: Duration,
    /// Import page size when the host asks for 0. Default 500.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Parameters handed to the script in `hello` (`config.parameters`).
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Secret parameters (passwords, API keys) handed to the script in `hello`
    /// (`config.secrets`), as plain strings the host has resolved. Redacted in `Debug`, and
    /// redacted from the script's logged standard error.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretParameter>,
}

/// A secret configuration value: the text reaches the script and nothing else.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct SecretParameter(Secret);

impl SecretParameter {
    /// Wraps a secret value.
    pub fn new(text: impl Into<String>) -> Self {
        SecretParameter(Secret::new(text))
    }

    /// The secret text; called only where it is written to the script.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl From<String> for SecretParameter {
    fn from(text: String) -> Self {
        SecretParameter::new(text)
    }
}

impl fmt::Debug for SecretParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl ScriptConfig {
    /// A configuration with defaults for everything but the script.
    pub fn new(script: impl Into<PathBuf>) -> Self {
        ScriptConfig {
            interpreter: None,
            interpreter_args: Vec::new(),
            script: script.into(),
            args: Vec::new(),
            working_dir: None,
            env: default_env(),
            workers: default_workers(),
            max_operations: default_max_operations(),
            max_message_size: default_max_message_size(),
            max_log_per_call: default_max_log_per_call(),
            start_timeout: default_start_timeout(),
            page_size: default_page_size(),
            parameters: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }

    /// The same configuration run by `interpreter`.
    pub fn with_interpreter(mut self, interpreter: impl Into<String>) -> Self {
        self.interpreter = Some(interpreter.into());
        self
    }

    /// The same configuration with one more parameter.
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// The same configuration with one more secret parameter.
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.secrets
            .insert(name.into(), SecretParameter::new(value.into()));
        self
    }
}

fn default_env() -> Vec<String> {
    ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR"]
        .map(String::from)
        .to_vec()
}
fn default_workers() -> usize {
    4
}
fn default_max_operations() -> u64 {
    1000
}
fn default_max_message_size() -> usize {
    16 * 1024 * 1024
}
fn default_max_log_per_call() -> usize {
    1024 * 1024
}
fn default_start_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_page_size() -> usize {
    500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_and_unknown_keys_fail() {
        let text = r#"
            interpreter = "python3"
            script = "connectors/hr.py"
            args = ["--verbose"]
            working_dir = "data"
            env = ["PATH"]
            workers = 2
            max_operations = 0
            start_timeout = "45s"
            [parameters]
            database = "hr.db"
            [secrets]
            password = "S3cret!"
        "#;
        let c: ScriptConfig = toml::from_str(text).unwrap();
        assert_eq!(c.interpreter.as_deref(), Some("python3"));
        assert_eq!(c.start_timeout, Duration::from_secs(45));
        assert_eq!(c.max_operations, 0);
        assert_eq!(c.page_size, 500);
        assert_eq!(c.secrets["password"].expose(), "S3cret!");
        let shown = format!("{c:?}");
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(toml::from_str::<ScriptConfig>("script = \"x\"\nworker = 2").is_err());
        assert!(
            toml::from_str::<ScriptConfig>("script = \"x\"\nstart_timeout = \"soon\"").is_err()
        );
        let c: ScriptConfig = toml::from_str("script = \"x\"\nstart_timeout = \"500ms\"").unwrap();
        assert_eq!(c.start_timeout, Duration::from_millis(500));
    }
}
