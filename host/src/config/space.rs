//! `[server.space]` and `[server] host_id`: where the connector spaces live (an embedded SQLite
//! file per connector, or one PostgreSQL database several hosts share) and how this host names
//! itself among the hosts sharing one (in the run history, the import lease, logs and metrics).
//!
//! The PostgreSQL password never sits in the URL: a URL with one is refused, so the URL can be
//! shown in logs, `check-config` and the health of a space, and the password comes from a file
//! or the environment like every other secret.

use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError, HumanDuration, Secret, SecretSource};

/// `[server.space]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceConfig {
    /// `sqlite` (default: a file per connector in the data directory) or `postgres`.
    #[serde(default)]
    pub backend: SpaceBackend,
    /// `postgres`: the database, as a libpq URL without password,
    /// `postgresql://user@host:5432/dbname`.
    #[serde(default)]
    pub url: Option<String>,
    /// `postgres`: the password, `{ file = "…" }` or `{ env = "…" }`.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// How long the import lease lasts without renewal (`postgres`): the host holding it runs
    /// the scheduled imports and renews it every third of this; when it dies another host takes
    /// over within about this long. Default 30 s.
    #[serde(default = "default_import_lease")]
    pub import_lease: HumanDuration,
}

impl Default for SpaceConfig {
    fn default() -> Self {
        SpaceConfig {
            backend: SpaceBackend::Sqlite,
            url: None,
            password: None,
            import_lease: default_import_lease(),
        }
    }
}

fn default_import_lease() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// The shortest import lease accepted: renewed every third of it, a shorter one would keep the
/// database busy with renewals and hand the imports over at every hiccup.
pub const MIN_IMPORT_LEASE: Duration = Duration::from_secs(3);

/// Which store holds the connector spaces.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpaceBackend {
    /// An embedded SQLite file per connector; one host owns it.
    #[default]
    Sqlite,
    /// One PostgreSQL database several hosts share, active/active.
    Postgres,
}

impl SpaceBackend {
    /// `sqlite` or `postgres`, as the configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceBackend::Sqlite => "sqlite",
            SpaceBackend::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL space as configured: the URL (without password) and where the password is.
#[derive(Debug, Clone)]
pub struct PostgresSpace {
    pub url: String,
    pub password: Option<Secret>,
}

impl SpaceConfig {
    /// Checks the table; the message says what to write instead.
    pub(super) fn check(&self) -> Result<(), String> {
        match self.backend {
            SpaceBackend::Sqlite => {
                if self.url.is_some() || self.password.is_some() {
                    return Err(
                        "[server.space]: url and password are for backend = \"postgres\"; \
                         the sqlite backend keeps a file per connector in the data directory"
                            .into(),
                    );
                }
            }
            SpaceBackend::Postgres => {
                let Some(url) = &self.url else {
                    return Err("[server.space]: backend = \"postgres\" needs url = \
                         \"postgresql://user@host:5432/dbname\""
                        .into());
                };
                check_url(url)?;
                if let Some(p) = &self.password
                    && p.file.is_some() == p.env.is_some()
                {
                    return Err("[server.space]: password: give exactly one of file or env".into());
                }
            }
        }
        if self.import_lease.0 < MIN_IMPORT_LEASE {
            return Err(format!(
                "[server.space]: import_lease = \"{}\" is too short; give at least {} s",
                self.import_lease,
                MIN_IMPORT_LEASE.as_secs()
            ));
        }
        Ok(())
    }
}

/// Refuses a URL that is not a libpq `postgresql://` URL or that carries a password (in the
/// user part or as a `password=` parameter). The messages never repeat the URL, which may hold
/// the password.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| {
            "[server.space]: url must be a libpq URL, \"postgresql://user@host:5432/dbname\""
                .to_owned()
        })?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let user_info = authority.rsplit_once('@').map(|(u, _)| u);
    let query = rest.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let password_param = query.split('&').any(|kv| {
        kv.split('=')
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("password"))
    });
    if user_info.is_some_and(|u| u.contains(':')) || password_param {
        return Err("[server.space]: url must not contain the password; write \
             url = \"postgresql://user@host:5432/dbname\" and password = { file = \"…\" } or \
             password = { env = \"…\" }"
            .into());
    }
    Ok(())
}

impl Config {
    /// The PostgreSQL space, with its password read; `None` when the spaces are SQLite files.
    pub fn postgres_space(&self) -> Result<Option<PostgresSpace>, ConfigError> {
        let space = &self.server.space;
        if space.backend != SpaceBackend::Postgres {
            return Ok(None);
        }
        let url = space
            .url
            .clone()
            .ok_or_else(|| self.invalid("[server.space]: backend = \"postgres\" needs url"))?;
        let password = match &space.password {
            Some(p) => Some(p.read(self, "server.space.password")?),
            None => None,
        };
        Ok(Some(PostgresSpace { url, password }))
    }

    /// How this host names itself (run history, import lease, logs, metrics): `[server]
    /// host_id`, or this machine's host name and `port` (the port it listens on).
    pub fn host_id(&self, port: u16) -> String {
        if let Some(id) = &self.server.host_id {
            return id.clone();
        }
        format!("{}:{port}", machine_name())
    }
}

/// Checks `[server] host_id` when given.
pub(super) fn check_host_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(format!(
            "[server] host_id = {id:?} must be non-empty, at most 200 characters, without control characters"
        ));
    }
    Ok(())
}

/// This machine's host name: `/etc/hostname`, else what `hostname` prints, else `localhost`.
fn machine_name() -> String {
    let from_file = std::fs::read_to_string("/etc/hostname").ok();
    let from_command = || {
        std::process::Command::new("hostname")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    from_file
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| from_command().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
