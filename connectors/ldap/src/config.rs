//! The `[connector.ldap]` configuration: which servers, how to reach and bind to them, and which
//! object types live where in the directory.
//!
//! The host embeds this table in its TOML file and hands it over as an [`LdapConfig`]; this crate
//! owns its shape. Unknown keys are rejected (`deny_unknown_fields`), so a typo fails at start-up.
//! Durations are integer seconds (`30`) or a string with a unit (`"500ms"`, `"30s"`, `"2m"`,
//! `"1h"`). The bind password arrives as a string the host has already resolved from a file or
//! the environment; [`LdapConfig`]'s `Debug` never shows it, and nothing in this crate logs it.
//! Every key is described in the crate's `README.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use connector_core::settings::duration;
use serde::{Deserialize, Deserializer};

/// The configuration of one LDAP connector.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// Server URLs, tried in order on every new connection (failover): `ldap://host:389` or
    /// `ldaps://host:636`.
    pub servers: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS (RFC 4513). Ignored for `ldaps://`.
    #[serde(default)]
    pub starttls: bool,
    /// How the server's certificate is checked, and the client certificate.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `"simple"` (bind DN and password; anonymous without a DN) or `"sasl_external"` (the TLS
    /// client certificate, RFC 4422 EXTERNAL).
    #[serde(default)]
    pub bind_method: BindMethod,
    /// The DN to bind as with `bind_method = "simple"`.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Its password, resolved by the host from a file or the environment. Never logged.
    #[serde(default)]
    pub bind_password: Option<String>,
    /// Allow a simple bind with a password over a connection without TLS to a server that is not
    /// on the loopback interface. Off by default: the password would cross the network in clear.
    #[serde(default)]
    pub allow_plaintext_bind: bool,
    /// Time limit for opening a connection (TCP, TLS, bind) to one server. Default 10 s.
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Upper bound for one call besides the host's deadline. Default 60 s.
    #[serde(default = "default_operation_timeout", deserialize_with = "duration")]
    pub operation_timeout: Duration,
    /// Connections kept open between calls. Default 4.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// A pooled connection idle longer than this is checked with a WhoAmI before it is reused.
    /// Default 30 s.
    #[serde(default = "default_health_check_after", deserialize_with = "duration")]
    pub health_check_after: Duration,
    /// Page size of imports when the host asks for 0. Default 500.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// The anchor: `"entryUUID"` (OpenLDAP, 389 DS; the default), `"objectGUID"` (AD LDS;
    /// binary, shown as a GUID string), `"dn"`, or the name of another single-valued,
    /// immutable attribute (`"nsUniqueId"`, `"ipaUniqueID"`).
    #[serde(default)]
    pub anchor: AnchorConfig,
    /// `"update"` (attribute-level changes, the default) or `"replace"` (the host sends whole
    /// objects).
    #[serde(default)]
    pub export_style: ExportStyleName,
    /// The attribute that holds passwords; exposed as a write-only secret. Default
    /// `userPassword`.
    #[serde(default = "default_password_attribute")]
    pub password_attribute: String,
    /// How passwords are written: `"attribute"` (the value in the add or modify; with
    /// `unicodePwd` encoded as AD expects) or `"password_modify"` (the RFC 3062 extended
    /// operation, so the server hashes it by its own policy).
    #[serde(default)]
    pub password_mode: PasswordMode,
    /// Delta imports: `"none"` (the default: full imports only), `"sync"` (RFC 4533
    /// refreshOnly with the cookie as the watermark; needs `anchor = "entryUUID"`, or
    /// `"nsUniqueId"` on 389 DS), `"timestamp"` (entries whose `timestamp_attribute` is at or
    /// after the watermark, a UTC time; adds and changes only, deletes are not seen) or
    /// `"accesslog"` (OpenLDAP's accesslog overlay; needs `anchor = "entryUUID"`).
    #[serde(default)]
    pub delta: DeltaMode,
    /// With `delta = "timestamp"`: the attribute polled. Default `modifyTimestamp`; AD LDS:
    /// `whenChanged`.
    #[serde(default = "default_timestamp_attribute")]
    pub timestamp_attribute: String,
    /// With `delta = "timestamp"`: how far before the connector's clock each run's watermark is
    /// set, to cover clock skew between this host and the server and changes committed late.
    /// Entries changed in that window are read again (harmless). Default 60 s.
    #[serde(default = "default_timestamp_overlap", deserialize_with = "duration")]
    pub timestamp_overlap: Duration,
    /// With `delta = "accesslog"`: the suffix of OpenLDAP's accesslog database (the overlay's
    /// `logdb`). Default `cn=accesslog`.
    #[serde(default = "default_accesslog_base")]
    pub accesslog_base: String,
    /// One entry per object type (`[[object]]`).
    #[serde(rename = "object", default)]
    pub objects: Vec<ObjectConfig>,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("servers", &self.servers)
            .field("starttls", &self.starttls)
            .field("tls", &self.tls)
            .field("bind_method", &self.bind_method)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_plaintext_bind", &self.allow_plaintext_bind)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("pool_size", &self.pool_size)
            .field("health_check_after", &self.health_check_after)
            .field("page_size", &self.page_size)
            .field("anchor", &self.anchor)
            .field("export_style", &self.export_style)
            .field("password_attribute", &self.password_attribute)
            .field("password_mode", &self.password_mode)
            .field("delta", &self.delta)
            .field("timestamp_attribute", &self.timestamp_attribute)
            .field("timestamp_overlap", &self.timestamp_overlap)
            .field("accesslog_base", &self.accesslog_base)
            .field("objects", &self.objects)
            .finish()
    }
}

impl LdapConfig {
    /// A configuration with defaults for everything but the servers and object types.
    pub fn new(servers: Vec<String>, objects: Vec<ObjectConfig>) -> Self {
        LdapConfig {
            servers,
            starttls: false,
            tls: TlsConfig::default(),
            bind_method: BindMethod::Simple,
            bind_dn: None,
            bind_password: None,
            allow_plaintext_bind: false,
            connect_timeout: default_connect_timeout(),
            operation_timeout: default_operation_timeout(),
            pool_size: default_pool_size(),
            health_check_after: default_health_check_after(),
            page_size: default_page_size(),
            anchor: AnchorConfig::EntryUuid,
            export_style: ExportStyleName::Update,
            password_attribute: default_password_attribute(),
            password_mode: PasswordMode::Attribute,
            delta: DeltaMode::None,
            timestamp_attribute: default_timestamp_attribute(),
            timestamp_overlap: default_timestamp_overlap(),
            accesslog_base: default_accesslog_base(),
            objects,
        }
    }

    /// Sets a simple bind.
    pub fn with_simple_bind(mut self, dn: impl Into<String>, password: impl Into<String>) -> Self {
        self.bind_method = BindMethod::Simple;
        self.bind_dn = Some(dn.into());
        self.bind_password = Some(password.into());
        self
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_operation_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_pool_size() -> usize {
    4
}
fn default_health_check_after() -> Duration {
    Duration::from_secs(30)
}
fn default_page_size() -> usize {
    500
}
fn default_timestamp_attribute() -> String {
    "modifyTimestamp".into()
}
fn default_timestamp_overlap() -> Duration {
    Duration::from_secs(60)
}
fn default_accesslog_base() -> String {
    "cn=accesslog".into()
}
fn default_password_attribute() -> String {
    "userPassword".into()
}

/// `[connector.ldap.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that may sign the server's certificate. Default: the
    /// operating system's trust store. Relative paths are resolved against the host's base
    /// directory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprints (hex, colons allowed) of server certificates trusted as they are,
    /// whatever their issuer and name: for self-signed directory certificates. When set, only
    /// these certificates are accepted.
    #[serde(default)]
    pub pinned_sha256: Vec<String>,
    /// PEM client certificate (chain) for SASL EXTERNAL or servers that require one.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

/// `bind_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindMethod {
    #[default]
    Simple,
    SaslExternal,
}

/// `export_style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStyleName {
    #[default]
    Update,
    Replace,
}

/// `password_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordMode {
    #[default]
    Attribute,
    PasswordModify,
}

/// `delta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaMode {
    #[default]
    None,
    Sync,
    Timestamp,
    /// OpenLDAP's accesslog overlay: the write records after the watermark.
    Accesslog,
}

/// `anchor`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnchorConfig {
    /// `entryUUID` (RFC 4530), text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    #[default]
    EntryUuid,
    /// Active Directory's 16-byte `objectGUID`, as its usual GUID string.
    ObjectGuid,
    /// The DN itself: renames are then refused, since an anchor never changes.
    Dn,
    /// Another single-valued string attribute.
    Attribute(String),
}

impl AnchorConfig {
    /// The attribute name the schema lists as the anchor attribute.
    pub fn attribute(&self) -> &str {
        match self {
            AnchorConfig::EntryUuid => "entryUUID",
            AnchorConfig::ObjectGuid => "objectGUID",
            AnchorConfig::Dn => "dn",
            AnchorConfig::Attribute(a) => a,
        }
    }

    /// Whether this is 389 Directory Server's `nsUniqueId`, which its content synchronisation
    /// reports entries by.
    pub fn is_nsuniqueid(&self) -> bool {
        matches!(self, AnchorConfig::Attribute(a) if a.eq_ignore_ascii_case("nsUniqueId"))
    }

    /// Whether RFC 4533 sync controls name entries in this anchor's terms (`entryUUID` on
    /// OpenLDAP, `nsUniqueId` on 389 DS).
    pub fn carried_by_sync(&self) -> bool {
        *self == AnchorConfig::EntryUuid || self.is_nsuniqueid()
    }
}

impl<'de> Deserialize<'de> for AnchorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(match name.to_ascii_lowercase().as_str() {
            "entryuuid" => AnchorConfig::EntryUuid,
            "objectguid" => AnchorConfig::ObjectGuid,
            "dn" | "-dn-" => AnchorConfig::Dn,
            "" => return Err(serde::de::Error::custom("anchor must name an attribute")),
            _ => AnchorConfig::Attribute(name),
        })
    }
}

impl fmt::Display for AnchorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

/// One object type (`[[object]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// The object type name, e.g. `User` or `Group`.
    #[serde(rename = "type")]
    pub object_type: String,
    /// The object classes an add writes; an entry belongs to this type when it has all of them
    /// (and matches `filter`) under one of the bases.
    pub object_classes: Vec<String>,
    /// The search base(s): one DN or a list.
    pub base: OneOrMany,
    /// `"sub"` (the whole subtree, the default) or `"one"` (direct children only).
    #[serde(default)]
    pub scope: ScopeName,
    /// An extra LDAP filter the entries must match, e.g. `(!(uid=svc-*))`.
    #[serde(default)]
    pub filter: Option<String>,
    /// The naming attribute for new entries, placed under the first base: `uid` gives
    /// `uid=<value>,<base>`. Either this or `dn_template`.
    #[serde(default)]
    pub rdn_attribute: Option<String>,
    /// The DN of new entries, e.g. `"uid={uid},ou=people,dc=example,dc=com"`; each
    /// `{attribute}` takes the (escaped) first value of that attribute. A change of one of these
    /// attributes renames (or moves) the entry.
    #[serde(default)]
    pub dn_template: Option<String>,
    /// The attributes exposed. Default: every MUST and MAY attribute of the object classes and
    /// their superclasses (except `objectClass`).
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
    /// Attributes not exposed.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// For reference attributes: the object type they refer to (`member = "User"`), reported
    /// in the schema.
    #[serde(default)]
    pub references: BTreeMap<String, String>,
}

impl ObjectConfig {
    /// An object type under `base` with these classes, named by `rdn_attribute`.
    pub fn new(
        object_type: impl Into<String>,
        object_classes: &[&str],
        base: impl Into<String>,
        rdn_attribute: impl Into<String>,
    ) -> Self {
        ObjectConfig {
            object_type: object_type.into(),
            object_classes: object_classes.iter().map(|c| (*c).to_owned()).collect(),
            base: OneOrMany::One(base.into()),
            scope: ScopeName::Sub,
            filter: None,
            rdn_attribute: Some(rdn_attribute.into()),
            dn_template: None,
            attributes: None,
            exclude: Vec::new(),
            references: BTreeMap::new(),
        }
    }
}

/// A DN or a list of DNs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The DNs, in order.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    #[default]
    Sub,
    One,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_parses_and_hides_the_password() {
        let c: LdapConfig = toml::from_str(
            r#"
            servers = ["ldaps://ldap1.example.com", "ldaps://ldap2.example.com:1636"]
            bind_dn = "cn=connector,ou=services,dc=example,dc=com"
            bind_password = "s3cret!"
            connect_timeout = "3s"
            anchor = "objectGUID"
            delta = "sync"
            password_mode = "password_modify"
            [tls]
            ca_file = "certs/ca.pem"
            [[object]]
            type = "User"
            object_classes = ["inetOrgPerson"]
            base = "ou=people,dc=example,dc=com"
            dn_template = "uid={uid},ou=people,dc=example,dc=com"
            [[object]]
            type = "Group"
            object_classes = ["groupOfNames"]
            base = ["ou=groups,dc=example,dc=com", "ou=roles,dc=example,dc=com"]
            rdn_attribute = "cn"
            references = { member = "User" }
            "#,
        )
        .unwrap();
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.anchor, AnchorConfig::ObjectGuid);
        assert_eq!(c.objects[1].base.to_vec().len(), 2);
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        let err = toml::from_str::<LdapConfig>("servers = []\nbind_passwrd = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind_passwrd"), "{err}");
        assert!(
            toml::from_str::<LdapConfig>("servers = []\nconnect_timeout = \"3 weeks\"\n").is_err()
        );
    }
}
