//! The script connector: a connector written as a script in any language — Python, POSIX
//! shell, PowerShell (through `powershell/runner.ps1`, with Granfeldt PSMA conventions) — that
//! the host speaks to over a versioned JSON protocol on the script's stdin and stdout.
//!
//! Microsoft's ECMA host starts a fresh `pwsh` for every call (9–11 s before the first line of
//! the script runs, out of Entra's 60 s); here a script runs as a **warm worker** that serves
//! call after call. A [`ScriptConnector`] keeps a pool of them: one when the script's `hello`
//! does not declare itself concurrency-safe (calls are then serialised), up to
//! [`ScriptConfig::workers`] when it does. A worker is replaced when it crashes, breaks the
//! protocol, floods its output, passes a call's deadline (its whole process group is killed
//! and the call is [`ConnectorError::Timeout`]) or has served
//! [`ScriptConfig::max_operations`] calls.
//!
//! The protocol is specified in `PROTOCOL.md` beside this crate; the README tells an
//! administrator how to write a connector and what the limits are.
//!
//! Layout: [`config`] (the `[connector.script]` table), `protocol` (the wire format: requests,
//! answers, typed values, errors — the only module that knows field names), `worker` (one
//! process and its I/O threads, process-group kill), `pool` (warm workers, the one place a
//! call is made), `export` (schema checks, secrets, separate password sets) and `import`
//! (paged full and delta imports).
//!
//! **Invariants.** Credentials reach a script only as data on its stdin (`hello`), never on its
//! command line or in its environment, which holds only the allow-listed variables. Secret
//! attribute values appear only in the `export` or `setPassword` message that writes them.
//! Requests are never logged, and nothing a script prints is quoted in an error: a script that
//! echoes its input cannot leak through the host. Known secrets are redacted from every
//! standard-error line and error detail the script produces. A worker that misbehaved is never
//! used again.
//!
//! ```no_run
//! use connector_core::{Connector, Deadline};
//! use connector_script::{ScriptConfig, ScriptConnector};
//! use std::time::Duration;
//!
//! let config = ScriptConfig::new("connectors/script/examples/python/connector.py")
//!     .with_interpreter("python3")
//!     .with_parameter("database", "hr.db");
//! let connector = ScriptConnector::named("hr", config, std::path::Path::new("."))?;
//! println!("{}", connector.test_connection(Deadline::after(Duration::from_secs(10)))?);
//! # Ok::<(), connector_core::ConnectorError>(())
//! ```

use std::path::Path;
use std::sync::{Arc, PoisonError};

use connector_core::{
    Anchor, Capabilities, Change, Connector, ConnectorError, ConnectorObject, ConnectorSchema,
    Deadline, ExportOutcome, ImportStream, Watermark,
};
use serde_json::{Map, Value};

pub mod config;
mod export;
mod import;
mod pool;
mod protocol;
mod worker;

pub use config::{ScriptConfig, SecretParameter};
pub use protocol::PROTOCOL_VERSION;

use pool::{Effect, Inner};

/// The script connector (`kind = "script"`).
pub struct ScriptConnector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ScriptConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptConnector")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl ScriptConnector {
    /// Checks the configuration, starts the first worker and reads its `hello` (within
    /// `start_timeout`), so a script that cannot start fails here. Relative paths are resolved
    /// against `base_dir`. Logs name the connector after the script's file name; use
    /// [`ScriptConnector::named`] to give the connector's configured name.
    pub fn new(config: ScriptConfig, base_dir: &Path) -> Result<Self, ConnectorError> {
        let name = config
            .script
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".to_owned());
        Self::named(&name, config, base_dir)
    }

    /// As [`ScriptConnector::new`], with the connector's name for logs and the `hello` message.
    pub fn named(
        name: &str,
        config: ScriptConfig,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        Ok(ScriptConnector {
            inner: Inner::start(Arc::from(name), config, base_dir)?,
        })
    }

    /// The configuration this connector runs with.
    pub fn config(&self) -> &ScriptConfig {
        &self.inner.config
    }

    /// The most workers run at once: `workers` for a concurrency-safe script, else 1.
    pub fn max_workers(&self) -> usize {
        self.inner.max_workers()
    }

    /// Forgets the cached schema, so the next call asks the script again.
    pub fn refresh_schema(&self) {
        *self
            .inner
            .schema
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn cached_schema(&self, deadline: Deadline) -> Result<Arc<ConnectorSchema>, ConnectorError> {
        if let Some(s) = self
            .inner
            .schema
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(s);
        }
        let result = self
            .inner
            .call("schema", Map::new(), deadline, Effect::Read, &[])?;
        let schema = Arc::new(protocol::parse_schema(result).map_err(|e| {
            ConnectorError::misconfigured(format!("the script's schema is invalid: {e}"))
        })?);
        *self
            .inner
            .schema
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(schema.clone());
        Ok(schema)
    }

    /// The schema and the canonical name of `object_type` in it.
    fn object_type(
        &self,
        object_type: &str,
        deadline: Deadline,
    ) -> Result<(Arc<ConnectorSchema>, String), ConnectorError> {
        let schema = self.cached_schema(deadline)?;
        let name = schema
            .object_type(object_type)
            .map(|t| t.name.clone())
            .ok_or_else(|| {
                ConnectorError::misconfigured(format!(
                    "the script's schema has no object type {object_type}"
                ))
            })?;
        Ok((schema, name))
    }

    fn start_import(
        &self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
        mode: import::Mode,
    ) -> Result<Box<dyn ImportStream + '_>, ConnectorError> {
        deadline.check("the import")?;
        let (schema, name) = self.object_type(object_type, deadline)?;
        let page_size = if page_size == 0 {
            self.inner.config.page_size
        } else {
            page_size
        };
        Ok(Box::new(import::ScriptImport::new(
            self.inner.clone(),
            schema,
            name,
            page_size,
            mode,
        )))
    }
}

impl Connector for ScriptConnector {
    fn kind(&self) -> &'static str {
        "script"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner
            .capabilities
            .to_contract(self.inner.max_workers() > 1)
    }

    fn schema(&self, deadline: Deadline) -> Result<ConnectorSchema, ConnectorError> {
        Ok((*self.cached_schema(deadline)?).clone())
    }

    fn test_connection(&self, deadline: Deadline) -> Result<String, ConnectorError> {
        let result = self
            .inner
            .call("test", Map::new(), deadline, Effect::Read, &[])?;
        // Rediscover, so a test after the script changed its schema sees the change.
        self.refresh_schema();
        self.cached_schema(deadline)?;
        let description = result
            .get("description")
            .and_then(Value::as_str)
            .map(|d| self.inner.redact(d.trim()))
            .unwrap_or_default();
        Ok(if description.is_empty() {
            format!("script connector {} answered", self.inner.name)
        } else {
            description
        })
    }

    fn export(&self, change: &Change, deadline: Deadline) -> Result<ExportOutcome, ConnectorError> {
        deadline.check("the export")?;
        let schema = self.cached_schema(deadline)?;
        let ot = schema.object_type(change.object_type()).ok_or_else(|| {
            ConnectorError::rejected(format!(
                "the script's schema has no object type {}",
                change.object_type()
            ))
        })?;
        let result = export::export(&self.inner, ot, change, deadline);
        match &result {
            Ok(o) => {
                tracing::debug!(connector = %self.inner.name, op = change.operation(), anchor = %o.anchor, "exported")
            }
            Err(e) => {
                tracing::debug!(connector = %self.inner.name, op = change.operation(), error = %e, "export failed")
            }
        }
        result
    }

    fn read(
        &self,
        object_type: &str,
        anchor: &Anchor,
        deadline: Deadline,
    ) -> Result<Option<ConnectorObject>, ConnectorError> {
        deadline.check("the read")?;
        let (schema, name) = self.object_type(object_type, deadline)?;
        import::read_object(&self.inner, &schema, &name, anchor, deadline)
    }

    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        self.start_import(object_type, page_size, deadline, import::Mode::Full)
    }

    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        if !self.inner.capabilities.delta_import {
            return Err(ConnectorError::misconfigured(format!(
                "the script of connector {} does not declare deltaImport",
                self.inner.name
            )));
        }
        self.start_import(
            object_type,
            page_size,
            deadline,
            import::Mode::Delta(since.clone()),
        )
    }
}
