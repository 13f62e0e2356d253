//! The SQL staging-table connector: users, groups and their multi-valued attributes kept in
//! database tables, as Microsoft's Generic SQL connector keeps them for the ECMA host.
//!
//! One [`SqlConnector`] serves every object type configured in its [`SqlConfig`]: each type is
//! one table with an anchor column, and each multi-valued attribute (proxy addresses, group
//! members) is a child table with one row per value. Columns and types are discovered from the
//! database and cached. Two backends sit behind the same code: the built-in SQLite (always
//! compiled; `sqlite://path.db`) and ODBC (feature `odbc`; any other connection string), which
//! reaches PostgreSQL, MariaDB/MySQL, SQL Server, Oracle and DB2 through their drivers.
//!
//! Layout: [`config`] (the `[connector.sql]` table), [`dialect`] (SQL text per database),
//! `value` (attribute values ↔ column values), `errors` (driver errors → [`ConnectorError`]),
//! `db` (the SQLite and ODBC backends behind one session interface), `model` (schema
//! discovery), `export` (changes → statements in one transaction) and `import` (keyset-paged
//! full imports).
//!
//! **Invariants.** Identifiers from the configuration are always quoted by the dialect and values
//! are always bound parameters. Each export is one transaction. Imports hold no cursor between
//! pages. The connection string is never logged past its password key.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use connector_core::{
    Capabilities, Change, Connector, ConnectorError, ConnectorSchema, ExportOutcome, ExportStyle,
    ImportStream,
};

pub mod config;
mod db;
pub mod dialect;
mod errors;
mod export;
mod import;
mod model;
mod value;

pub use config::{
    AttrType, AttributeOverride, DirectionName, DnConfig, MultiValuedConfig, ObjectConfig,
    SqlConfig,
};
pub use dialect::Dialect;

use db::{Backend, Session};
use model::Model;

/// The SQL connector.
pub struct SqlConnector {
    config: SqlConfig,
    backend: Backend,
    model: Mutex<Option<Arc<Model>>>,
}

impl std::fmt::Debug for SqlConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SqlConnector {
    /// Checks the configuration and opens the backend. A relative `sqlite://` path is resolved
    /// against `base_dir`. ODBC connects on first use, so a database that is down now only fails
    /// the calls made while it is down (`Unavailable`).
    pub fn new(config: SqlConfig, base_dir: &Path) -> Result<Self, ConnectorError> {
        validate(&config)?;
        let backend = Backend::open(&config, base_dir)?;
        tracing::debug!(connection = %config.redacted_connection(), "SQL connector opened");
        Ok(SqlConnector {
            config,
            backend,
            model: Mutex::new(None),
        })
    }

    /// The configuration this connector runs with.
    pub fn config(&self) -> &SqlConfig {
        &self.config
    }

    /// Forgets the cached schema, so the next call discovers the tables again (after a column
    /// was added, say).
    pub fn refresh_schema(&self) {
        *self.model.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn cached(&self) -> Option<Arc<Model>> {
        self.model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` on a session with the discovered model, discovering it first if needed.
    fn with_model<R>(
        &self,
        f: impl FnOnce(&Model, &mut dyn Session) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let cached = self.cached();
        self.backend.with_session(|s| {
            let model = match cached {
                Some(m) => m,
                None => {
                    let m = Arc::new(model::discover(&self.config, s)?);
                    *self.model.lock().unwrap_or_else(PoisonError::into_inner) = Some(m.clone());
                    m
                }
            };
            f(&model, s)
        })
    }
}

fn validate(config: &SqlConfig) -> Result<(), ConnectorError> {
    let bad = |m: String| Err(ConnectorError::misconfigured(m));
    if config.objects.is_empty() {
        return bad("no object type is configured: add an [[object]] table".into());
    }
    if config.page_size == 0 || config.pool_size == 0 {
        return bad("page_size and pool_size must be at least 1".into());
    }
    for (i, o) in config.objects.iter().enumerate() {
        if o.object_type.trim().is_empty()
            || o.table.trim().is_empty()
            || o.anchor.trim().is_empty()
        {
            return bad(format!(
                "object #{} needs a type, a table and an anchor",
                i + 1
            ));
        }
        if config
            .objects
            .iter()
            .skip(i + 1)
            .any(|p| p.object_type.eq_ignore_ascii_case(&o.object_type))
        {
            return bad(format!("object type {} is configured twice", o.object_type));
        }
    }
    Ok(())
}

impl Connector for SqlConnector {
    fn kind(&self) -> &'static str {
        "sql"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            delta_import: false,
            export_style: ExportStyle::AttributeUpdate,
            anchor_assigned_by_target: false,
            passwords: false,
            renames: false,
            references: true,
            filter_pushdown: false,
            concurrent_exports: self.backend.concurrent(),
        }
    }

    fn schema(&self) -> Result<ConnectorSchema, ConnectorError> {
        if let Some(m) = self.cached() {
            return Ok(m.schema.clone());
        }
        self.with_model(|m, _| Ok(m.schema.clone()))
    }

    fn test_connection(&self) -> Result<String, ConnectorError> {
        // Always rediscover, so a test after a schema change sees the change.
        self.refresh_schema();
        self.with_model(|m, s| {
            let tables: Vec<String> = m
                .objects
                .iter()
                .map(|o| format!("table {}: {} columns", o.table, o.columns.len()))
                .collect();
            Ok(format!("{}, {}", s.describe_server(), tables.join(", ")))
        })
    }

    fn export(&self, change: &Change) -> Result<ExportOutcome, ConnectorError> {
        let result = self.with_model(|m, s| {
            let obj = m.object(change.object_type())?;
            let context = format!("{} {}", change.operation(), obj.object_type);
            export::in_transaction(s, &context, |s| export::apply(obj, s, change))
        });
        match &result {
            Ok(o) => tracing::debug!(op = change.operation(), anchor = %o.anchor, "exported"),
            Err(e) => tracing::debug!(op = change.operation(), error = %e, "export failed"),
        }
        result
    }

    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        // Resolve the type now so a typo fails at the start, not on the first page.
        let name = self.with_model(|m, _| Ok(m.object(object_type)?.object_type.clone()))?;
        let page_size = if page_size == 0 {
            self.config.page_size
        } else {
            page_size
        };
        Ok(Box::new(import::SqlImport {
            connector: self,
            object_type: name,
            page_size,
            after: None,
            done: false,
        }))
    }
}
