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
//! Beyond plain tables an object type may be read from a view, imported incrementally
//! (`[object.delta]`: a watermark column or a trigger-fed history table, with soft deletes), and
//! written through stored procedures or configured statements (`[object.export]`). One table may also
//! hold several object types told apart by a column (`type_column` with `types` or
//! `types_query`): each type then sees only its own rows. Every key
//! and its default is described in [`config`] and in the crate's `README.md`.
//!
//! Layout: [`config`] (the `[connector.sql]` table), [`dialect`] (SQL text per database),
//! `value` (attribute values ↔ column values), `errors` (driver errors → [`ConnectorError`]),
//! `db` (the SQLite and ODBC backends behind one session interface), `model` (schema
//! discovery), `export` (changes → statements in one transaction, generated or configured) and
//! `import` (keyset-paged full and delta imports, watermarks).
//!
//! **Invariants.** Identifiers from the configuration are always quoted by the dialect and values
//! are always bound parameters. Each export is one transaction. Imports hold no cursor between
//! pages. The connection string is never logged past its password key.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use connector_core::{
    Anchor, Capabilities, Change, Connector, ConnectorError, ConnectorObject, ConnectorSchema,
    Deadline, ExportOutcome, ExportStyle, ImportStream, ReferenceForm, Watermark,
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
    AfterRead, AttrType, AttributeOverride, ChangeValues, DeltaConfig, DeltaTableConfig,
    DirectionName, DnConfig, ExportConfig, ExportStyleName, MultiValuedConfig, ObjectConfig,
    ProcedureCall, ProcedureExport, SqlConfig, SqlExport, WatermarkConfig, WatermarkKind,
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

    fn page_size(&self, asked: usize) -> usize {
        if asked == 0 {
            self.config.page_size
        } else {
            asked
        }
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

    /// Runs `f` on a session with the discovered model, discovering it first if needed; every
    /// statement ends by `deadline`.
    fn with_model<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&Model, &mut dyn Session) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let cached = self.cached();
        self.backend.with_session(deadline, |s| {
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
        if (o.object_type.trim().is_empty() && o.type_column.is_none())
            || o.table.trim().is_empty()
            || o.anchor.trim().is_empty()
        {
            return bad(format!(
                "object #{} needs a type (or a type_column), a table and an anchor",
                i + 1
            ));
        }
        // Types read from a column are checked against the others at discovery, once known.
        if !o.object_type.is_empty()
            && config
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
            delta_import: self.config.objects.iter().any(|o| o.delta.is_some()),
            export_style: match self.config.export_style {
                ExportStyleName::Update => ExportStyle::AttributeUpdate,
                ExportStyleName::Replace => ExportStyle::ObjectReplace,
            },
            anchor_assigned_by_target: false,
            renames: false,
            reference_form: ReferenceForm::Anchor,
            concurrent_exports: self.backend.concurrent(),
        }
    }

    fn schema(&self, deadline: Deadline) -> Result<ConnectorSchema, ConnectorError> {
        if let Some(m) = self.cached() {
            return Ok(m.schema.clone());
        }
        self.with_model(deadline, |m, _| Ok(m.schema.clone()))
    }

    fn test_connection(&self, deadline: Deadline) -> Result<String, ConnectorError> {
        // Always rediscover, so a test after a schema change sees the change.
        self.refresh_schema();
        self.with_model(deadline, |m, s| {
            let tables: Vec<String> = m
                .objects
                .iter()
                .map(|o| format!("table {}: {} columns", o.table, o.columns.len()))
                .collect();
            Ok(format!("{}, {}", s.describe_server(), tables.join(", ")))
        })
    }

    fn export(&self, change: &Change, deadline: Deadline) -> Result<ExportOutcome, ConnectorError> {
        let attempt = || {
            self.with_model(deadline, |m, s| {
                let obj = m.object(change.object_type())?;
                let context = format!("{} {}", change.operation(), obj.object_type);
                if export::is_single_statement(obj, change) {
                    export::apply(obj, m.dialect, s, change)
                } else {
                    export::in_transaction(s, &context, |s| {
                        export::apply(obj, m.dialect, s, change)
                    })
                }
            })
        };
        let mut result = attempt();
        // A deadlock or serialization victim: the server rolled the whole transaction back, so
        // nothing of this change was committed and running it once more is safe.
        if let Err(e) = &result
            && errors::is_transaction_victim(e)
        {
            tracing::debug!(error = %e, "export chosen as deadlock victim; retrying once");
            result = attempt();
        }
        match &result {
            Ok(o) => tracing::debug!(op = change.operation(), anchor = %o.anchor, "exported"),
            Err(e) => tracing::debug!(op = change.operation(), error = %e, "export failed"),
        }
        result
    }

    fn read(
        &self,
        object_type: &str,
        anchor: &Anchor,
        deadline: Deadline,
    ) -> Result<Option<ConnectorObject>, ConnectorError> {
        self.with_model(deadline, |m, s| {
            let obj = m.object(object_type)?;
            let mut found =
                import::read_by_anchors(obj, m.dialect, s, std::slice::from_ref(&anchor.0))?;
            Ok(found.remove(anchor.as_str()))
        })
    }

    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        // Resolve the type now so a typo fails at the start, not on the first page, and take
        // the watermark before reading, so a change made meanwhile is read again by the next
        // delta instead of lost.
        let (name, mark, total) = self.with_model(deadline, |m, s| {
            let obj = m.object(object_type)?;
            Ok((
                obj.object_type.clone(),
                import::current_mark(obj, m.dialect, s)?,
                import::row_count(obj, s),
            ))
        })?;
        let mut stream = import::SqlImport::new(
            self,
            name,
            self.page_size(page_size),
            import::Mode::Full,
            mark,
        );
        stream.total = total;
        Ok(Box::new(stream))
    }

    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        let since_mark = import::Mark::decode(since).ok_or_else(|| {
            ConnectorError::resync_required(format!(
                "the watermark {:?} was not made by the SQL connector",
                since.0
            ))
        })?;
        let (name, mode, mark) = self.with_model(deadline, |m, s| {
            let obj = m.object(object_type)?;
            if obj.delta.is_none() {
                return Err(ConnectorError::misconfigured(format!(
                    "object type {} has no [object.delta] strategy; the host runs full imports",
                    obj.object_type
                )));
            }
            if let import::Mark::Seq(Some(committed)) = since_mark {
                // The host committed everything up to `since` with its connector space: only
                // now may those history rows go.
                import::after_read(obj, s, committed)?;
            }
            let now = import::current_mark(obj, m.dialect, s)?
                .ok_or_else(|| ConnectorError::misconfigured("no delta strategy"))?;
            let mode = import::delta_mode(obj, &since_mark, &now)?;
            Ok((
                obj.object_type.clone(),
                mode,
                import::Mark::later(&since_mark, now),
            ))
        })?;
        Ok(Box::new(import::SqlImport::new(
            self,
            name,
            self.page_size(page_size),
            mode,
            Some(mark),
        )))
    }
}
