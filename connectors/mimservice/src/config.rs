//! The `[connector.mimservice]` configuration: where the Lithnet REST API is, how to reach it
//! safely, and which MIM object types and attributes the connector exposes.
//!
//! The host embeds this table in its TOML file and hands it over as a [`MimServiceConfig`].
//! Unknown keys are rejected (`deny_unknown_fields`). Durations are integer seconds (`30`) or a
//! string with a unit (`"500ms"`, `"30s"`, `"2m"`, `"1h"`). The password is a plain string the
//! host has already resolved (from the environment or a file); `Debug` never shows it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use connector_core::settings::duration;
use serde::Deserialize;

/// The configuration of one MIM Service connector.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MimServiceConfig {
    /// The root of the Lithnet REST API, under which its `v2/` routes live:
    /// `https://mimapi.corp.example/` (or `https://host/lithnet/` for an IIS application).
    pub base_url: String,
    /// The account the REST API authenticates with Basic authentication, e.g.
    /// `CORP\svc-scim`. Its MPRs decide what the connector may read and change.
    pub username: String,
    /// Its password.
    pub password: String,
    /// PEM bundle of the CAs to trust for the REST API's certificate, instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the REST API's own certificate(s): only these are accepted, whoever issued
    /// them, for whatever name (pinning). Exclusive with `ca_file`.
    #[serde(default)]
    pub pinned_certificate: Option<PathBuf>,
    /// PEM certificate chain to present to IIS (client certificate), with `client_key`.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// PEM private key of `client_certificate`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Allow `http://` URLs. Basic authentication then sends the password in clear text, so
    /// this is for tests and loopback only. Default false.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Time limit of one HTTP call (always also within the caller's deadline). Default 30 s.
    #[serde(default = "default_request_timeout", deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Further attempts after a transport error or a 5xx answer, with exponential back-off,
    /// within the deadline. Default 2.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The first back-off; doubled on each further attempt. Default 200 ms.
    #[serde(default = "default_retry_backoff", deserialize_with = "duration")]
    pub retry_backoff: Duration,
    /// Import page size when the host asks for 0. Default 200 (Lithnet's own default).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// How far before its watermark each delta import reads completed Requests again, to
    /// catch Requests stamped before they became visible and clock differences between the
    /// web server and the MIM Service. Default 60 s.
    #[serde(default = "default_delta_overlap", deserialize_with = "duration")]
    pub delta_overlap: Duration,
    /// The most bytes of a query string the connector sends (IIS refuses longer ones:
    /// `maxQueryString`, 2048 by default). Default 2048.
    #[serde(default = "default_max_query_string")]
    pub max_query_string: usize,
    /// One entry per MIM object type (`[[connector.mimservice.object]]`).
    #[serde(rename = "object", default)]
    pub objects: Vec<ObjectConfig>,
    /// Values a create sets where the change itself sets no value, by object type and
    /// attribute: `[connector.mimservice.create_defaults.Group]` with `Scope = "Universal"`.
    /// For what the MIM Service requires but SCIM has no attribute for (a group's `Scope`,
    /// `Type`, `MembershipLocked`, …). Never applied to updates, replaces or adopted objects.
    /// Checked against the service's schema when the connector first reads it.
    #[serde(default)]
    pub create_defaults: BTreeMap<String, BTreeMap<String, DefaultValue>>,
}

/// One value of `create_defaults`: a string (also for date-times and ObjectIDs), an integer,
/// a boolean, or a list of them for a multi-valued attribute.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DefaultValue {
    Boolean(bool),
    Integer(i64),
    Text(String),
    List(Vec<DefaultValue>),
}

/// One exposed MIM object type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// The MIM object type, as `ObjectTypeDescription.Name` spells it: `Person`, `Group`, a
    /// custom type.
    #[serde(rename = "type")]
    pub object_type: String,
    /// The attributes exposed. Empty (the default): every attribute bound to the type.
    /// `ObjectID` is always exposed (it is the anchor).
    #[serde(default)]
    pub attributes: Vec<String>,
    /// An XPath predicate limiting the objects imported (what goes between the brackets of
    /// `/Person[…]`), e.g. `EmployeeType = 'Employee'`.
    #[serde(default)]
    pub filter: Option<String>,
    /// The attribute an add looks for first (`AccountName`, `EmployeeID`, …) so that it never
    /// creates a second object for a person MIM already has.
    #[serde(default)]
    pub matching_attribute: Option<String>,
    /// What an add does when `matching_attribute` finds an existing object: `"conflict"` (the
    /// default: refuse with a conflict) or `"adopt"` (take it over: set the add's attributes
    /// on it and answer with its ObjectID).
    #[serde(default)]
    pub on_match: OnMatch,
    /// For reference attributes, the object type they refer to (`Manager = "Person"`). Known
    /// defaults: `Manager`, `Owner`, `DisplayedOwner` refer to `Person`.
    #[serde(default)]
    pub references: BTreeMap<String, String>,
}

/// `on_match` as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMatch {
    #[default]
    Conflict,
    Adopt,
}

impl fmt::Debug for MimServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MimServiceConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("pinned_certificate", &self.pinned_certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("request_timeout", &self.request_timeout)
            .field("retries", &self.retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("page_size", &self.page_size)
            .field("delta_overlap", &self.delta_overlap)
            .field("max_query_string", &self.max_query_string)
            .field("objects", &self.objects)
            .field("create_defaults", &self.create_defaults)
            .finish()
    }
}

impl MimServiceConfig {
    /// A configuration with defaults for everything but the endpoint, the credentials and the
    /// object types.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
        objects: Vec<ObjectConfig>,
    ) -> Self {
        MimServiceConfig {
            base_url: base_url.into(),
            username: username.into(),
            password: password.into(),
            ca_file: None,
            pinned_certificate: None,
            client_certificate: None,
            client_key: None,
            allow_plain_http: false,
            request_timeout: default_request_timeout(),
            retries: default_retries(),
            retry_backoff: default_retry_backoff(),
            page_size: default_page_size(),
            delta_overlap: default_delta_overlap(),
            max_query_string: default_max_query_string(),
            objects,
            create_defaults: BTreeMap::new(),
        }
    }
}

impl ObjectConfig {
    /// An object type exposing every bound attribute, with no filter and no matching.
    pub fn new(object_type: impl Into<String>) -> Self {
        ObjectConfig {
            object_type: object_type.into(),
            attributes: Vec::new(),
            filter: None,
            matching_attribute: None,
            on_match: OnMatch::Conflict,
            references: BTreeMap::new(),
        }
    }
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retries() -> u32 {
    2
}
fn default_retry_backoff() -> Duration {
    Duration::from_millis(200)
}
fn default_page_size() -> usize {
    200
}
fn default_delta_overlap() -> Duration {
    Duration::from_secs(60)
}
fn default_max_query_string() -> usize {
    2048
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_parses_and_hides_the_password() {
        let c: MimServiceConfig = toml::from_str(
            r#"
            base_url = "https://mimapi.corp.example/"
            username = 'CORP\svc-scim'
            password = "s3cret!"
            ca_file = "certs/corp-ca.pem"
            request_timeout = "10s"
            retry_backoff = "250ms"
            delta_overlap = 120
            [[object]]
            type = "Person"
            attributes = ["AccountName", "DisplayName", "Manager"]
            filter = "EmployeeType = 'Employee'"
            matching_attribute = "AccountName"
            on_match = "adopt"
            [[object]]
            type = "Group"
            references = { ExplicitMember = "Person" }
            [create_defaults.Group]
            Scope = "Universal"
            MembershipLocked = false
            Owner = ["7fb2b853-24f0-4498-9534-4e10589723c4"]
            "#,
        )
        .unwrap();
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.retry_backoff, Duration::from_millis(250));
        assert_eq!(c.delta_overlap, Duration::from_secs(120));
        assert_eq!(c.objects[0].on_match, OnMatch::Adopt);
        assert_eq!(c.objects[1].on_match, OnMatch::Conflict);
        let group = &c.create_defaults["Group"];
        assert_eq!(group["Scope"], DefaultValue::Text("Universal".into()));
        assert_eq!(group["MembershipLocked"], DefaultValue::Boolean(false));
        assert!(matches!(&group["Owner"], DefaultValue::List(v) if v.len() == 1));
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn typos_and_bad_durations_are_refused() {
        let e = toml::from_str::<MimServiceConfig>(
            "base_url = 'x'\nusername = 'u'\npassword = 'p'\nretires = 3\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("retires"), "{e}");
        let e = toml::from_str::<MimServiceConfig>(
            "base_url = 'x'\nusername = 'u'\npassword = 'p'\nrequest_timeout = '5 minutes'\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid duration"), "{e}");
    }
}
