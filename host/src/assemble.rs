//! Assembling one connector's [`Runtime`]: connect to the target (the connector built from its
//! settings, as the registry read them), discover its schema (or recall the copy saved at the
//! last discovery), bind SCIM onto it, and open the connector space.
//!
//! The server does this for every connector at start-up, retrying while a target is down; the
//! command line does it for `check-config` and `import`. Both resolve the connector's token
//! first and hand it in, so it is read once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use connector_core::{Capabilities, Connector, ConnectorError, ConnectorSchema, Deadline};

use crate::config::{Config, ConnectorConfig, SchemaMode, TokenHash};
use crate::engine::binding::{Binding, ResourceKind};
use crate::engine::locks::KeyLocks;
use crate::engine::{ImportProgress, Runtime};
use crate::registry::Connectors;
use crate::space::{IndexSpec, IndexedAttribute, Space, SpaceError};
use crate::telemetry::Metrics;

/// The connector space file of a connector.
pub fn space_path(config: &Config, name: &str) -> PathBuf {
    config.data_dir().join("space").join(format!("{name}.db"))
}

/// Connects, discovers the schema, binds SCIM onto it and opens the connector space; the
/// runtime names this host `host_id`. Blocking.
pub fn build_runtime(
    config: &Config,
    c: &ConnectorConfig,
    connectors: &Connectors,
    token: TokenHash,
    metrics: Arc<Metrics>,
    progress: Arc<dyn ImportProgress>,
    host_id: &str,
) -> Result<Runtime, ConnectorError> {
    let connector = connectors.build(&c.name)?;
    let path = space_path(config, &c.name);
    let schema = discover_schema(
        connector.as_ref(),
        &path.with_extension("schema.json"),
        &c.name,
    )?;
    let (users, groups) = bind(c, &schema, &connector.capabilities())?;
    let (space, ready) = open_space(config, &c.name, &path, &users, groups.as_ref())?;
    for t in std::iter::once(&users.object_type).chain(groups.iter().map(|g| &g.object_type)) {
        if let Ok(n) = space.count(t) {
            metrics.set_space_size(&c.name, t, n);
        }
    }
    Ok(Runtime {
        name: c.name.clone(),
        config: c.clone(),
        token,
        connector,
        space: Arc::new(space),
        users,
        groups,
        locks: Arc::new(KeyLocks::default()),
        create_lock: tokio::sync::Mutex::new(()),
        export_gate: tokio::sync::Mutex::new(()),
        metrics,
        ready: AtomicBool::new(ready),
        max_page_size: config.server.max_page_size,
        max_filter_scan: config.server.max_filter_scan,
        journal: Default::default(),
        progress,
        host_id: host_id.to_owned(),
    })
}

/// How long a schema discovery or a connection test may take (Entra is not waiting).
pub const TARGET_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The target's schema; when the target is unavailable, the copy saved at the last successful
/// discovery, so a restart serves lookups from the connector space even while the target is
/// down (exports then get 503 until it is back).
fn discover_schema(
    connector: &dyn Connector,
    cache: &Path,
    name: &str,
) -> Result<ConnectorSchema, ConnectorError> {
    match connector.schema(Deadline::after(TARGET_CALL_BUDGET)) {
        Ok(schema) => {
            if let Some(dir) = cache.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let saved = serde_json::to_vec_pretty(&schema)
                .map_err(|e| e.to_string())
                .and_then(|json| std::fs::write(cache, json).map_err(|e| e.to_string()));
            if let Err(e) = saved {
                tracing::warn!(connector = name, error = %e, "cannot save the schema cache {}", cache.display());
            }
            Ok(schema)
        }
        Err(e) if e.is_retryable() => {
            let cached = std::fs::read(cache)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            match cached {
                Some(schema) => {
                    tracing::warn!(
                        connector = name, error = %e,
                        "target unavailable; serving lookups from the connector space with the schema saved at the last start"
                    );
                    Ok(schema)
                }
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Binds the connector's users (and groups, when configured) onto the target's object types,
/// in the connector's schema mode.
fn bind(
    c: &ConnectorConfig,
    schema: &ConnectorSchema,
    caps: &Capabilities,
) -> Result<(Binding, Option<Binding>), ConnectorError> {
    let bind_err = |e: String| ConnectorError::misconfigured(format!("connector {}: {e}", c.name));
    let find = |name: &str| {
        schema.object_type(name).ok_or_else(|| {
            bind_err(format!(
                "the connector has no object type {name:?}; it has: {}",
                schema
                    .object_types
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    };
    let disable = &c.deprovision.disable;
    let user_ot = find(c.users.object_type.as_deref().unwrap_or("User"))?;
    let users = match c.schema {
        SchemaMode::Ecma2host => Binding::ecma2host(user_ot, &c.users, disable, caps),
        SchemaMode::Scim => Binding::scim(ResourceKind::User, user_ot, &c.users, disable, caps),
    }
    .map_err(bind_err)?;
    let groups = match &c.groups {
        Some(g) => {
            let ot = find(g.object_type.as_deref().unwrap_or("Group"))?;
            Some(Binding::scim(ResourceKind::Group, ot, g, disable, caps).map_err(bind_err)?)
        }
        None => None,
    };
    Ok((users, groups))
}

/// Opens the connector space of connector `name` with the bindings' indexes, in the store the
/// configuration names (the file at `path`, or the shared PostgreSQL database); also says
/// whether it holds a complete import of every bound object type (then it can serve at once).
/// On a shared space that import may be any host's: the run history is shared.
fn open_space(
    config: &Config,
    name: &str,
    path: &Path,
    users: &Binding,
    groups: Option<&Binding>,
) -> Result<(Space, bool), ConnectorError> {
    let mut index = Vec::new();
    for b in std::iter::once(users).chain(groups) {
        for (name, case_exact) in &b.indexed {
            let a = IndexedAttribute::new(b.object_type.clone(), name.clone());
            index.push(if *case_exact { a.case_exact() } else { a });
        }
    }
    let index = IndexSpec::new(index);
    let space = match config
        .postgres_space()
        .map_err(|e| ConnectorError::misconfigured(e.to_string()))?
    {
        Some(pg) => postgres::open(
            &pg.url,
            pg.password.as_ref().map(|p| p.expose()),
            name,
            index,
        )
        .map_err(|e| match e {
            SpaceError::Unavailable(m) => ConnectorError::unavailable(m),
            e => ConnectorError::misconfigured(e.to_string()),
        })?,
        None => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ConnectorError::misconfigured(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            Space::open(path, index).map_err(|e| ConnectorError::misconfigured(e.to_string()))?
        }
    };
    tracing::info!(connector = name, space = space.backend_name(), at = %space.describe(), "connector space open");
    let mut ready = space
        .last_full_import(&users.object_type)
        .map_err(|e| ConnectorError::misconfigured(e.to_string()))?
        .is_some();
    if let Some(g) = groups {
        ready &= space
            .last_full_import(&g.object_type)
            .map_err(|e| ConnectorError::misconfigured(e.to_string()))?
            .is_some();
    }
    Ok((space, ready))
}

/// The PostgreSQL store, in one place: until `space::postgres` lands on this branch, opening or
/// migrating a PostgreSQL space says so. Merging it turns each body into one call,
/// `Space::open_postgres(url, password, connector, index)` and
/// `Space::migrate_postgres(url, password)`.
pub mod postgres {
    use crate::space::{IndexSpec, Space, SpaceError};

    const NOT_BUILT: &str = "backend = \"postgres\" is not built into this connector-host yet; \
         use backend = \"sqlite\" (the default)";

    /// Opens the space of `connector` in the PostgreSQL database at `url`.
    pub fn open(
        url: &str,
        password: Option<&str>,
        connector: &str,
        index: IndexSpec,
    ) -> Result<Space, SpaceError> {
        let _ = (url, password, connector, index);
        Err(SpaceError::Storage(NOT_BUILT.to_owned()))
    }

    /// Creates or upgrades the schema of the PostgreSQL database at `url`: the version found and
    /// the version now.
    pub fn migrate(url: &str, password: Option<&str>) -> Result<(i64, i64), SpaceError> {
        let _ = (url, password);
        Err(SpaceError::Storage(NOT_BUILT.to_owned()))
    }
}
