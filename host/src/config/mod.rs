//! The configuration file: a versioned TOML document with one `[[connector]]` table per
//! connector, parsed strictly (unknown keys are errors that name the line), with secrets read
//! from files or the environment and never kept in a form that could be logged.
//!
//! Each connector kind owns its own settings table, named after the kind (`kind = "<kind>"`
//! reads `[connector.<kind>]`), whose keys only that kind's crate knows. This module names no
//! kind: it keeps that table as the file has it, and reads it for the host's connector registry
//! as whatever type the registry asks ([`Config::kind_settings`]), as strictly as the rest and
//! with errors that name their line. It owns everything around it: the server, tokens, schema
//! mode and attribute map, deprovisioning and import schedules. Relative paths are
//! resolved against the directory of the configuration file.

mod duration;
mod secret;
mod space;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use duration::HumanDuration;
pub use secret::{MIN_TOKEN_LEN, Secret, TokenHash, generate_token};
pub use space::{MIN_IMPORT_LEASE, PostgresSpace, SpaceBackend, SpaceConfig};

/// The only configuration format version this build understands.
pub const CONFIG_VERSION: u32 = 1;

/// A configuration problem an administrator must fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be 1.
    pub version: u32,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default, rename = "connector")]
    pub connectors: Vec<ConnectorConfig>,
    /// Directory of the configuration file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where the configuration was read from.
    #[serde(skip)]
    pub source: PathBuf,
    /// The file's text, kept for reading each connector kind's own settings table later.
    #[serde(skip)]
    text: SourceText,
}

/// The text of a configuration file. It may hold secrets (a password in a connection string),
/// so it never shows in a `Debug` print.
#[derive(Clone, Default)]
struct SourceText(Arc<str>);

impl std::fmt::Debug for SourceText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceText(..)")
    }
}

/// `[server]`: the listener, TLS, data directory and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `0.0.0.0:8585`, as Microsoft's ECMA host.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the connector space, generated certificates and run history live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Host names (and IP addresses) put into a generated certificate and shown in endpoint URLs.
    /// Default: this machine's host name, `localhost` and `127.0.0.1`.
    #[serde(default)]
    pub public_names: Vec<String>,
    /// TLS certificate; when absent, a self-signed one is generated into `<data_dir>/certs`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Token for the administrative endpoints (`/metrics`). Without one they are disabled.
    #[serde(default)]
    pub admin_token: Option<TokenSource>,
    /// Largest request body accepted, in bytes. Default 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest `count` a list request may ask for. Default 1000.
    #[serde(default = "default_max_page")]
    pub max_page_size: usize,
    /// How many objects a filter without an index may scan before the request is refused with
    /// `tooMany`. Default 200,000.
    #[serde(default = "default_max_scan")]
    pub max_filter_scan: u64,
    /// Log format: `text` (default) or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// How this host names itself in the run history, the import lease, logs and metrics when
    /// several hosts share a connector space. Default: this machine's host name and the port
    /// it listens on, `name:8585`.
    #[serde(default)]
    pub host_id: Option<String>,
    /// `[server.space]`: where the connector spaces live.
    #[serde(default)]
    pub space: SpaceConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            public_names: Vec::new(),
            tls: None,
            admin_token: None,
            max_body_bytes: default_max_body(),
            max_page_size: default_max_page(),
            max_filter_scan: default_max_scan(),
            log_format: LogFormat::Text,
            host_id: None,
            space: SpaceConfig::default(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8585))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
/// 4 MiB: room for a 50,000-member group created in one POST (about 2.4 MB with GUID ids),
/// while a client still cannot make the host buffer more than that per request.
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_max_page() -> usize {
    1000
}
fn default_max_scan() -> u64 {
    200_000
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[server.tls]`: a PEM pair or a PFX file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first).
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// PKCS#12 file, as Windows exports it.
    pub pfx: Option<PathBuf>,
    /// Password of the PFX file.
    pub pfx_password: Option<SecretSource>,
}

/// Where a secret comes from: a file (first line, trimmed) or an environment variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// Where a bearer token comes from. `hash` keeps only the SHA-256 of the token in the file
/// (what `connector-host token` writes); `file` and `env` hold the token itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSource {
    pub hash: Option<String>,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// Which SCIM schema a connector exposes (DESIGN §3).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SchemaMode {
    /// Drop-in for Microsoft's ECMA host: users only, every exposed connector attribute under
    /// `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User`.
    #[default]
    Ecma2host,
    /// Standard SCIM: core User, EnterpriseUser and Group, with a declarative attribute map.
    Scim,
}

/// `[[connector]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Name used in the endpoint URL `/ecma2host_{name}/scim`; case-sensitive.
    pub name: String,
    /// The connector kind; its own settings are the table `[connector.<kind>]`,
    /// which the registry reads with [`Config::kind_settings`].
    pub kind: String,
    #[serde(default)]
    pub schema: SchemaMode,
    /// The bearer token Entra sends (at least 12 characters).
    pub token: TokenSource,
    /// Full import interval. Default 2 hours (the ECMA host's usual autosync timer).
    #[serde(default = "default_full_import_every")]
    pub full_import_every: HumanDuration,
    /// Delta import interval, for connectors that support delta imports.
    #[serde(default)]
    pub delta_import_every: Option<HumanDuration>,
    /// Time budget for one export; Entra gives up after 60 s, so the default is 30 s.
    #[serde(default = "default_export_timeout")]
    pub export_timeout: HumanDuration,
    /// Page size for imports. Default 500.
    #[serde(default = "default_import_page")]
    pub import_page_size: usize,
    /// Users: the object type and (in `scim` mode) the attribute map.
    #[serde(default)]
    pub users: ResourceMapConfig,
    /// Groups (`scim` mode only): the object type and attribute map. Absent: no `/Groups`.
    #[serde(default)]
    pub groups: Option<ResourceMapConfig>,
    #[serde(default)]
    pub deprovision: DeprovisionConfig,
    /// How long an export the target accepted but queued (an approval) stays in the space as
    /// pending while full imports do not show it; after that a full import removes it and
    /// reports it expired. Default 7 days. (A delta import that reports it deleted — the
    /// target refused it — ends it at once.)
    #[serde(default = "default_pending_expiry")]
    pub pending_expiry: HumanDuration,
}

fn default_pending_expiry() -> HumanDuration {
    HumanDuration::from_secs(7 * 86_400)
}

fn default_full_import_every() -> HumanDuration {
    HumanDuration::from_secs(2 * 3600)
}
fn default_export_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_import_page() -> usize {
    500
}

/// How one SCIM resource type maps onto a connector object type.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceMapConfig {
    /// Connector object type. Default `User` for users, `Group` for groups.
    pub object_type: Option<String>,
    /// `scim` mode: SCIM attribute path → connector attribute, e.g.
    /// `"name.givenName" = "FirstName"`, `'emails[type eq "work"].value' = "Mail"`.
    /// The connector's anchor attribute may be mapped; if it is not, new objects get a random
    /// UUID as their anchor.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// `ecma2host` mode: the connector attributes to expose (default: all).
    #[serde(default)]
    pub expose: Option<Vec<String>>,
    /// Connector attributes indexed for filter lookups besides the anchor and the mapped
    /// `userName`/`externalId`/`displayName` (and in `ecma2host` mode every exposed
    /// single-valued attribute, which is the default).
    #[serde(default)]
    pub match_attributes: Vec<String>,
    /// SCIM attributes a write may carry although nothing holds them: accepted and dropped
    /// (one warning per attribute, and the metric `connector_host_ignored_attributes_total`).
    /// SCIM paths of the protocol's schema, e.g. `"name.formatted"`, `"roles"`,
    /// `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"`. Anything
    /// else outside the advertised schema is refused with 400. Default (absent): what Entra's
    /// standard requests carry that a map may not hold — users `externalId` and
    /// `name.formatted`, groups `externalId` — unless mapped; `ignore = []` refuses them too.
    #[serde(default)]
    pub ignore: Option<Vec<String>>,
}

/// `[connector.deprovision]`: what disable and delete do, as in the ECMA host's wizard.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionConfig {
    #[serde(default)]
    pub disable: DisableAction,
    #[serde(default)]
    pub delete: DeleteAction,
}

/// What `active: false` does.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(untagged)]
pub enum DisableAction {
    /// `"none"` (nothing is exported) or `"delete"` (the object is deleted).
    Simple(SimpleAction),
    /// `{ set = "IsActive", value = false }`: set a boolean attribute; re-enabling sets the
    /// opposite value.
    Set { set: String, value: bool },
    #[default]
    #[serde(skip)]
    Default,
}

/// `"none"` or `"delete"`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SimpleAction {
    None,
    Delete,
}

/// What a SCIM `DELETE` does.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeleteAction {
    None,
    #[default]
    Delete,
}

impl DisableAction {
    /// The effective action (`Default` means none).
    pub fn effective(&self) -> DisableAction {
        match self {
            DisableAction::Default => DisableAction::Simple(SimpleAction::None),
            other => other.clone(),
        }
    }
}

impl Config {
    /// Reads and validates a configuration file, all but each connector kind's own settings
    /// table, which the host's connector registry reads from the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, path, &base_dir)
    }

    /// Parses and validates configuration text, as [`Config::load`]; `path` is only used in
    /// messages.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: describe_toml_error(text, &e),
        };
        let mut doc = DeTable::parse(text).map_err(parse_error)?;
        for connector in connector_tables(doc.get_mut()) {
            take_kind_table(connector).map_err(|(span, message)| ConfigError::Parse {
                path: path.to_owned(),
                message: describe_at(text, span, &message),
            })?;
        }
        let mut config =
            Config::deserialize(toml::de::Deserializer::from(doc)).map_err(parse_error)?;
        config.base_dir = base_dir.to_owned();
        config.source = path.to_owned();
        config.text = SourceText(text.into());
        config.validate()?;
        Ok(config)
    }

    /// Reads connector `c`'s own settings table, `[connector.<kind>]`, as `T`: as strictly as
    /// the rest of the file, with errors that name the connector and the line. Which `T` reads
    /// which kind is the registry's business.
    pub fn kind_settings<T: DeserializeOwned>(
        &self,
        c: &ConnectorConfig,
    ) -> Result<T, ConfigError> {
        let text = &*self.text.0;
        let mut doc = self.document()?;
        let table = self
            .connector_index(c)
            .and_then(|i| connector_tables(doc.get_mut()).nth(i))
            .and_then(|t| take_kind_table(t).ok().flatten())
            .ok_or_else(|| {
                self.invalid(format!(
                    "connector {:?} has kind = {:?} but no [connector.{}] table",
                    c.name, c.kind, c.kind
                ))
            })?;
        let mut table = table;
        resolve_secret_settings(&mut table, &self.base_dir).map_err(|(span, message)| {
            self.invalid(format!(
                "connector {:?}: {}",
                c.name,
                describe_at(text, span, &message)
            ))
        })?;
        T::deserialize(ValueDeserializer::from(table)).map_err(|e| ConfigError::Parse {
            path: self.source.clone(),
            message: format!("connector {:?}: {}", c.name, describe_toml_error(text, &e)),
        })
    }

    /// A refusal of connector `c`'s `kind`, naming the connector and the line.
    pub fn kind_error(&self, c: &ConnectorConfig, message: &str) -> ConfigError {
        let text = &*self.text.0;
        let span = self.document().ok().and_then(|mut doc| {
            let i = self.connector_index(c)?;
            let connector = connector_tables(doc.get_mut()).nth(i)?;
            Some(connector.get_ref().get("kind")?.span())
        });
        let located = match span {
            Some(span) => describe_at(text, span, message),
            None => message.to_owned(),
        };
        self.invalid(format!("connector {:?}: {located}", c.name))
    }

    /// The file parsed again, with the positions of everything in it.
    fn document(&self) -> Result<Spanned<DeTable<'_>>, ConfigError> {
        DeTable::parse(&self.text.0).map_err(|e| ConfigError::Parse {
            path: self.source.clone(),
            message: describe_toml_error(&self.text.0, &e),
        })
    }

    /// Where `c` stands among the `[[connector]]` tables (names are unique).
    fn connector_index(&self, c: &ConnectorConfig) -> Option<usize> {
        self.connectors.iter().position(|x| x.name == c.name)
    }

    fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.clone(),
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.version != CONFIG_VERSION {
            return Err(self.invalid(format!(
                "version = {} is not supported by this build; expected version = {CONFIG_VERSION}",
                self.version
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.connectors {
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
            {
                return Err(self.invalid(format!(
                    "connector name {:?} must be non-empty and use only letters, digits, '-', '_' and '.' (it becomes part of the URL)",
                    c.name
                )));
            }
            if !seen.insert(c.name.clone()) {
                return Err(self.invalid(format!("two connectors are named {:?}", c.name)));
            }
            let sources = [
                c.token.hash.is_some(),
                c.token.file.is_some(),
                c.token.env.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(self.invalid(format!(
                    "connector {:?}: give exactly one of token.hash, token.file or token.env",
                    c.name
                )));
            }
            if let Some(h) = &c.token.hash {
                TokenHash::parse(h).map_err(|m| {
                    self.invalid(format!("connector {:?}: token.hash: {m}", c.name))
                })?;
            }
            if c.schema == SchemaMode::Ecma2host && c.groups.is_some() {
                return Err(self.invalid(format!(
                    "connector {:?}: groups need schema = \"scim\"; the ecma2host schema has users only",
                    c.name
                )));
            }
            if c.schema == SchemaMode::Ecma2host && !c.users.map.is_empty() {
                return Err(self.invalid(format!(
                    "connector {:?}: [connector.users.map] is for schema = \"scim\"; in ecma2host mode use users.expose",
                    c.name
                )));
            }
            if c.import_page_size == 0 {
                return Err(self.invalid(format!(
                    "connector {:?}: import_page_size must be at least 1",
                    c.name
                )));
            }
        }
        self.server.space.check().map_err(|m| self.invalid(m))?;
        if let Some(id) = &self.server.host_id {
            space::check_host_id(id).map_err(|m| self.invalid(m))?;
        }
        if let Some(tls) = &self.server.tls {
            let pem = tls.cert.is_some() || tls.key.is_some();
            if pem && tls.pfx.is_some() {
                return Err(self.invalid("[server.tls]: give either cert + key or pfx, not both"));
            }
            if pem && (tls.cert.is_none() || tls.key.is_none()) {
                return Err(self.invalid("[server.tls]: cert and key must be given together"));
            }
            if !pem && tls.pfx.is_none() {
                return Err(self.invalid("[server.tls]: give cert + key, or pfx"));
            }
        }
        Ok(())
    }

    /// A path from the configuration, resolved against the configuration's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The data directory, resolved.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.server.data_dir)
    }

    /// The hash of connector `c`'s bearer token, read from where the configuration says.
    pub fn connector_token(&self, c: &ConnectorConfig) -> Result<TokenHash, ConfigError> {
        c.token
            .resolve(self, &format!("connector {} token", c.name))
    }

    /// The connector called `name` (case-sensitive, as in the URL).
    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.name == name)
    }
}

/// The `[[connector]]` tables of a parsed file, in order.
fn connector_tables<'d, 'i>(
    doc: &'d mut DeTable<'i>,
) -> impl Iterator<Item = &'d mut Spanned<DeValue<'i>>> + use<'d, 'i> {
    let tables = match doc.get_mut("connector").map(Spanned::get_mut) {
        Some(DeValue::Array(a)) => a.iter_mut(),
        _ => [].iter_mut(),
    };
    tables.filter(|t| t.get_ref().is_table())
}

/// Takes a connector's own settings table, named after its `kind`, out of its `[[connector]]`
/// table: what is left is this module's to read. A connector without a `kind`, or without the
/// table its kind names, is refused here, before its other keys are read, so that a mistyped kind
/// is reported as one (and not as an unknown table). `None` when `kind` is not a string, which
/// the reading of the other keys reports.
fn take_kind_table<'i>(
    connector: &mut Spanned<DeValue<'i>>,
) -> Result<Option<Spanned<DeValue<'i>>>, (Range<usize>, String)> {
    let span = connector.span();
    let DeValue::Table(table) = connector.get_mut() else {
        return Ok(None);
    };
    let Some(kind) = table.get("kind") else {
        return Err((span, "missing field `kind`".to_owned()));
    };
    let kind_span = kind.span();
    let Some(kind) = kind.get_ref().as_str().map(str::to_owned) else {
        return Ok(None);
    };
    match table.remove(kind.as_str()) {
        Some(settings) => Ok(Some(settings)),
        None => {
            let name = table
                .get("name")
                .and_then(|n| n.get_ref().as_str())
                .unwrap_or_default();
            Err((
                kind_span,
                format!("connector {name:?} has kind = {kind:?} but no [connector.{kind}] table"),
            ))
        }
    }
}

/// Reads the secrets of a connector's settings table from where they are kept. A setting whose
/// name says it holds one (it contains `password` or `secret`: `bind_password`, `password`,
/// `client_secret`, and each entry of a `secrets` table) may be given as `{ file = "…" }` (the
/// first line of the file, relative to the configuration's directory) or `{ env = "VAR" }`, as
/// tokens are; it is replaced by the text here, so a connector only ever sees the text and the
/// configuration file need not hold it.
fn resolve_secret_settings(
    value: &mut Spanned<DeValue<'_>>,
    base_dir: &Path,
) -> Result<(), (Range<usize>, String)> {
    match value.get_mut() {
        DeValue::Table(table) => {
            for (key, entry) in table.iter_mut() {
                let name = key.get_ref().to_ascii_lowercase();
                if name.contains("password") || name.contains("secret") {
                    if resolve_secret_source(entry, base_dir, key.get_ref())? {
                        continue;
                    }
                    // A table of secrets (`secrets = { api_key = { env = "…" } }`).
                    if let DeValue::Table(inner) = entry.get_mut() {
                        for (k, v) in inner.iter_mut() {
                            resolve_secret_source(v, base_dir, k.get_ref())?;
                        }
                        continue;
                    }
                }
                resolve_secret_settings(entry, base_dir)?;
            }
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                resolve_secret_settings(item, base_dir)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces `{ file = "…" }` or `{ env = "…" }` by the secret it names; `false` when `value` is
/// neither.
fn resolve_secret_source(
    value: &mut Spanned<DeValue<'_>>,
    base_dir: &Path,
    name: &str,
) -> Result<bool, (Range<usize>, String)> {
    let span = value.span();
    let DeValue::Table(table) = value.get_ref() else {
        return Ok(false);
    };
    let mut entries = table.iter();
    let (Some((how, source)), None) = (entries.next(), entries.next()) else {
        return Ok(false);
    };
    let Some(source) = source.get_ref().as_str() else {
        return Ok(false);
    };
    let resolved = match how.get_ref().as_ref() {
        "file" => secret::read_file(&base_dir.join(source), name),
        "env" => secret::read_env(source, name),
        _ => return Ok(false),
    }
    .map_err(|e| (span.clone(), e))?;
    *value = Spanned::new(span, DeValue::String(resolved.expose().to_owned().into()));
    Ok(true)
}

/// A TOML error with its line and column and the offending line quoted.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => describe_at(text, span, message),
        None => message.to_owned(),
    }
}

/// `message` with the line and column of `span` in `text`, and that line quoted.
fn describe_at(text: &str, span: Range<usize>, message: &str) -> String {
    let before = text.get(..span.start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count() + 1)
        .unwrap_or(1);
    let quoted = text.lines().nth(line - 1).unwrap_or_default().trim();
    format!("line {line}, column {column}: {message} (in `{quoted}`)")
}

impl SecretSource {
    /// Reads the secret.
    pub fn read(&self, config: &Config, what: &str) -> Result<Secret, ConfigError> {
        match (&self.file, &self.env) {
            (Some(f), None) => {
                secret::read_file(&config.resolve(f), what).map_err(|m| config.invalid(m))
            }
            (None, Some(var)) => secret::read_env(var, what).map_err(|m| config.invalid(m)),
            _ => Err(config.invalid(format!("{what}: give exactly one of file or env"))),
        }
    }
}

impl TokenSource {
    /// Resolves the token to the hash the host compares against.
    pub fn resolve(&self, config: &Config, what: &str) -> Result<TokenHash, ConfigError> {
        if let Some(h) = &self.hash {
            return TokenHash::parse(h).map_err(|m| config.invalid(format!("{what}: {m}")));
        }
        let secret = SecretSource {
            file: self.file.clone(),
            env: self.env.clone(),
        }
        .read(config, what)?;
        TokenHash::of_token(secret.expose()).map_err(|m| config.invalid(format!("{what}: {m}")))
    }
}

#[cfg(test)]
pub(crate) mod tests;
