//! The MIM Service connector: provisions users, groups and custom objects into the MIM
//! Service (the FIM/MIM Portal's Resource Management Service) through the **Lithnet Resource
//! Management REST API v2**, and imports them back, in full or as deltas.
//!
//! Why the REST API: the MIM Service's own protocol is SOAP with WCF message-level security
//! negotiated inside SOAP, which even .NET Core cannot speak (reference §1.6); Lithnet's REST
//! API, hosted in IIS next to the service, wraps it in plain HTTPS and JSON.
//!
//! One [`MimServiceConnector`] serves the object types configured in its
//! [`MimServiceConfig`]. Their attributes come from the service's schema resources. The anchor
//! is the **ObjectID**, assigned by the service on create; references (`Manager`,
//! `ExplicitMember`) are ObjectIDs too ([`ReferenceForm::Anchor`]). An add may first look for an
//! existing object by a matching attribute. A change that needs an approval comes back as
//! [`ExportStatus::Pending`](connector_core::ExportStatus) naming the MIM Request. Delta
//! imports poll completed Request objects.
//!
//! Layout: [`config`] (the `[connector.mimservice]` table), `http` (one call within a deadline,
//! retries, the error table), `tls` (CA bundle, pinning, client certificates), `search`
//! (paged searches), `model` (schema discovery), `value` (JSON ↔ values), `xpath` (literals
//! and filters), `export` (changes → calls) and `import` (full and delta streams).
//!
//! **Invariants.** Every HTTP call ends by the caller's deadline. Values reach XPath only as
//! quoted literals (`xpath` is unit-tested with hostile input) and anchors only
//! after they parsed as GUIDs. A create is never sent twice unless a lookup showed the first
//! did not run. The password never appears in `Debug`, a log line or an error.
//!
//! **Authentication**: Basic over HTTPS (IIS Basic authentication). Kerberos/Negotiate is not
//! supported: a maintained pure-Rust implementation exists (Devolutions' `sspi`), but nothing
//! here can test it, so it is left for later (see the README).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use connector_core::{
    Anchor, Capabilities, Change, Connector, ConnectorError, ConnectorObject, ConnectorSchema,
    Deadline, ExportOutcome, ExportStyle, ImportStream, ReferenceForm, Watermark,
};

pub mod config;
mod export;
mod http;
mod import;
mod model;
mod search;
mod tls;
mod value;
mod xpath;

pub use config::{DefaultValue, MimServiceConfig, ObjectConfig, OnMatch};

use http::{Http, Req};
use model::Model;

/// The MIM Service connector.
///
/// ```
/// use connector_core::Connector;
/// use connector_mimservice::{MimServiceConfig, MimServiceConnector, ObjectConfig};
///
/// let mut person = ObjectConfig::new("Person");
/// person.matching_attribute = Some("AccountName".into());
/// let config = MimServiceConfig::new(
///     "https://mimapi.corp.example/",
///     r"CORP\svc-scim",
///     "resolved by the host",
///     vec![person],
/// );
/// // Nothing is sent yet: the service is reached on the first call.
/// let connector = MimServiceConnector::new(config, std::path::Path::new("."))?;
/// assert_eq!(connector.kind(), "mimservice");
/// assert!(connector.capabilities().anchor_assigned_by_target);
/// assert!(!format!("{connector:?}").contains("resolved by the host"));
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
pub struct MimServiceConnector {
    config: MimServiceConfig,
    http: Http,
    model: Mutex<Option<Arc<Model>>>,
}

impl std::fmt::Debug for MimServiceConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MimServiceConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MimServiceConnector {
    /// Checks the configuration and builds the HTTP client. Relative certificate paths are
    /// resolved against `base_dir`. Nothing is sent yet: a service that is down now only fails
    /// the calls made while it is down (`Unavailable`).
    pub fn new(config: MimServiceConfig, base_dir: &Path) -> Result<Self, ConnectorError> {
        validate(&config)?;
        let tls = tls::client_config(&config, base_dir)?;
        let http = Http::new(&config, tls)?;
        Ok(MimServiceConnector {
            config,
            http,
            model: Mutex::new(None),
        })
    }

    /// The configuration this connector runs with.
    pub fn config(&self) -> &MimServiceConfig {
        &self.config
    }

    /// Forgets the discovered schema, so the next call reads it again.
    pub fn refresh_schema(&self) {
        *self.model.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn model(&self, deadline: Deadline) -> Result<Arc<Model>, ConnectorError> {
        if let Some(m) = self
            .model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(m);
        }
        let m = Arc::new(model::discover(&self.config, &self.http, deadline)?);
        *self.model.lock().unwrap_or_else(PoisonError::into_inner) = Some(m.clone());
        Ok(m)
    }

    fn page_size(&self, asked: usize) -> usize {
        if asked == 0 {
            self.config.page_size
        } else {
            asked
        }
    }
}

fn validate(config: &MimServiceConfig) -> Result<(), ConnectorError> {
    let bad = |m: String| Err(ConnectorError::misconfigured(m));
    if config.objects.is_empty() {
        return bad(
            "no object type is configured: add an [[connector.mimservice.object]] table".into(),
        );
    }
    if config.username.trim().is_empty() {
        return bad("username is empty".into());
    }
    if config.page_size == 0 {
        return bad("page_size must be at least 1".into());
    }
    if config.max_query_string < 512 {
        return bad("max_query_string must be at least 512".into());
    }
    for (i, o) in config.objects.iter().enumerate() {
        let name_ok = !o.object_type.is_empty()
            && o.object_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return bad(format!(
                "object #{}: {:?} is not a MIM object type name",
                i + 1,
                o.object_type
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
        if o.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
            return bad(format!(
                "object type {}: the filter is empty",
                o.object_type
            ));
        }
    }
    for object_type in config.create_defaults.keys() {
        if !config
            .objects
            .iter()
            .any(|o| o.object_type.eq_ignore_ascii_case(object_type))
        {
            return bad(format!(
                "create_defaults.{object_type}: {object_type} is not a configured object type (add an [[connector.mimservice.object]] with type = {object_type:?})"
            ));
        }
    }
    Ok(())
}

impl Connector for MimServiceConnector {
    fn kind(&self) -> &'static str {
        "mimservice"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            delta_import: true,
            export_style: ExportStyle::AttributeUpdate,
            anchor_assigned_by_target: true,
            renames: false,
            reference_form: ReferenceForm::Anchor,
            concurrent_exports: true,
        }
    }

    fn schema(&self, deadline: Deadline) -> Result<ConnectorSchema, ConnectorError> {
        let m = self.model(deadline)?;
        Ok(ConnectorSchema {
            object_types: m.types.iter().map(|t| t.schema.clone()).collect(),
        })
    }

    fn test_connection(&self, deadline: Deadline) -> Result<String, ConnectorError> {
        self.refresh_schema();
        let m = self.model(deadline)?;
        let mut counts = Vec::new();
        let mut server = None;
        for t in &m.types {
            let filter = xpath::query(&t.name, t.filter());
            let context = format!("count {filter}");
            let url = self.http.search_url(&[
                ("filter", &filter),
                ("pageSize", "1"),
                ("attributes", "ObjectID"),
            ]);
            let reply = self.http.expect(&Req::read(url, &context), deadline)?;
            server = server.or_else(|| reply.header("server").map(str::to_owned));
            let total = reply
                .json()?
                .get("TotalCount")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            counts.push(format!(
                "{} ({total} objects, {} attributes)",
                t.name,
                t.attrs.len()
            ));
        }
        Ok(format!(
            "Lithnet REST API v2 at {} as {}{}: {}",
            self.http.base(),
            self.http.username(),
            server.map(|s| format!(" (server {s})")).unwrap_or_default(),
            counts.join(", ")
        ))
    }

    fn export(&self, change: &Change, deadline: Deadline) -> Result<ExportOutcome, ConnectorError> {
        deadline.check(&format!("the {}", change.operation()))?;
        let m = self.model(deadline)?;
        let t = m.get(change.object_type())?;
        let result = match change {
            Change::Add {
                anchor, attributes, ..
            } => export::add(&self.http, t, anchor.as_ref(), attributes, deadline),
            Change::Update {
                anchor,
                new_dn,
                changes,
                ..
            } => {
                if new_dn.is_some() {
                    return Err(ConnectorError::rejected(
                        "MIM Service objects have no DN to rename",
                    ));
                }
                export::update(&self.http, t, anchor, changes, deadline)
            }
            Change::Replace {
                anchor, attributes, ..
            } => export::replace(&self.http, t, anchor, attributes, deadline),
            Change::Delete { anchor, .. } => export::delete(&self.http, t, anchor, deadline),
        };
        match &result {
            Ok(o) => {
                tracing::debug!(op = change.operation(), anchor = %o.anchor, pending = o.is_pending(), "exported")
            }
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
        let m = self.model(deadline)?;
        import::read(&self.http, m.get(object_type)?, anchor.as_str(), deadline)
    }

    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        let m = self.model(deadline)?;
        let t = m.get(object_type)?.clone();
        Ok(Box::new(import::FullImport::start(
            &self.http,
            t,
            self.page_size(page_size),
            self.config.delta_overlap,
            deadline,
        )?))
    }

    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        let m = self.model(deadline)?;
        let t = m.get(object_type)?.clone();
        Ok(Box::new(import::DeltaImport::start(
            &self.http,
            t,
            since,
            self.page_size(page_size),
            &self.config,
            deadline,
        )?))
    }
}
