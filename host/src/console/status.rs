//! What the console pages show, gathered from the connectors' runtimes, spaces, import controls
//! and metrics: plain values, so the templates in `pages` only lay them out.

use std::collections::HashMap;
use std::sync::Arc;

use certs::ReloadableResolver;
use connector_core::Anchor;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Console, Failure, blocking};
use crate::engine::Runtime;
use crate::engine::binding::Binding;
use crate::engine::query::Query;
use crate::imports::{Failure as ImportFailure, ImportKind, RunningImport};
use crate::space::{RunRecord, StoredObject};
use crate::telemetry::ExportMinute;

/// Rows per page of every console list.
pub const PAGE: u64 = 50;

/// Minutes of export counts on the operations page.
pub const EXPORT_MINUTES_SHOWN: usize = 10;

/// The endpoint certificate, as served now.
pub struct Certificate {
    pub subject: String,
    pub not_after: OffsetDateTime,
    pub days_left: i64,
}

/// The certificate new TLS handshakes get.
pub fn certificate(resolver: &ReloadableResolver) -> Option<Certificate> {
    let current = resolver.current();
    let info = certs::inspect_certificate(current.cert.first()?).ok()?;
    Some(Certificate {
        days_left: (info.not_after - OffsetDateTime::now_utc()).whole_days(),
        subject: info.subject,
        not_after: info.not_after,
    })
}

/// Where a connector is.
pub enum State {
    /// Connecting to its target and reading its schema.
    Binding,
    /// It could not be bound: the target cannot be reached (retried), or something else.
    NotBound { reason: String, unreachable: bool },
    /// Bound; the first full import has not completed yet (SCIM answers 503).
    FirstImport,
    /// Answering SCIM requests from its connector space.
    Serving,
}

/// One object type of a bound connector.
pub struct TypeStatus {
    pub object_type: String,
    pub objects: u64,
    pub last_full: Option<RunRecord>,
    pub last_delta: Option<RunRecord>,
}

/// The operations card of one connector.
pub struct ConnectorStatus {
    pub name: String,
    pub kind: String,
    pub state: State,
    pub running: Option<RunningImport>,
    pub requested: Option<ImportKind>,
    /// The last import's failure (or why the connector could not start).
    pub failure: Option<ImportFailure>,
    pub types: Vec<TypeStatus>,
    pub pending: u64,
    pub exports: Vec<ExportMinute>,
    pub delta_supported: bool,
    pub full_every: Option<String>,
    pub delta_every: Option<String>,
}

/// Gathers the card of connector `name`.
pub async fn connector(c: &Console, name: &str) -> Result<ConnectorStatus, Failure> {
    let slot = c.slot(name)?;
    let control = c.controls.get(name).cloned();
    let runtime = match slot.runtime.read().map(|r| r.clone()) {
        Ok(r) => r,
        Err(_) => return Err(Failure::internal("slot lock poisoned")),
    };
    let failure = control.as_ref().and_then(|c| c.failure());
    let mut status = ConnectorStatus {
        name: name.to_owned(),
        kind: String::new(),
        state: State::Binding,
        running: control.as_ref().and_then(|c| c.running()),
        requested: control.as_ref().and_then(|c| c.requested()),
        failure: failure.clone(),
        types: Vec::new(),
        pending: 0,
        exports: c.app.metrics.exports_per_minute(
            name,
            EXPORT_MINUTES_SHOWN,
            OffsetDateTime::now_utc(),
        ),
        delta_supported: false,
        full_every: None,
        delta_every: None,
    };
    let rt = match runtime {
        Ok(rt) => rt,
        Err(reason) => {
            if reason != "starting" {
                status.state = State::NotBound {
                    unreachable: failure.as_ref().is_some_and(|f| f.unreachable),
                    reason,
                };
            }
            return Ok(status);
        }
    };
    status.kind = rt.config.kind.clone();
    status.state = if rt.ready.load(std::sync::atomic::Ordering::Acquire) {
        State::Serving
    } else {
        State::FirstImport
    };
    status.delta_supported = rt.connector.capabilities().delta_import;
    status.full_every = Some(rt.config.full_import_every.to_string());
    status.delta_every = rt
        .config
        .delta_import_every
        .filter(|_| status.delta_supported)
        .map(|d| d.to_string());
    let rt2 = rt.clone();
    let (types, pending) = blocking(move || {
        let mut types = Vec::new();
        for t in object_types(&rt2) {
            types.push(TypeStatus {
                objects: rt2.space.count(&t)?,
                last_full: rt2.space.last_run(&t, "full")?,
                last_delta: rt2.space.last_run(&t, "delta")?,
                object_type: t,
            });
        }
        Ok((types, rt2.space.pending_count()?))
    })
    .await?;
    status.types = types;
    status.pending = pending;
    Ok(status)
}

/// The object types a connector serves (users, then groups).
pub fn object_types(rt: &Runtime) -> Vec<String> {
    let mut types = vec![rt.users.object_type.clone()];
    if let Some(g) = rt
        .groups
        .as_ref()
        .filter(|g| g.object_type != rt.users.object_type)
    {
        types.push(g.object_type.clone());
    }
    types
}

fn binding_of<'a>(rt: &'a Runtime, object_type: &str) -> &'a Binding {
    match &rt.groups {
        Some(g) if g.object_type == object_type => g,
        _ => &rt.users,
    }
}

/// How objects were looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// Everything, in anchor order.
    All,
    /// An attribute (`anchor`, `dn` or an indexed attribute) equal to a value.
    Attribute { attribute: String, value: String },
    /// A SCIM filter.
    Filter(String),
}

/// A page of found objects.
pub struct SearchResult {
    pub object_type: String,
    pub search: Search,
    /// The attributes that can be searched (indexed), besides anchor and DN.
    pub indexed: Vec<String>,
    pub page: u64,
    pub total: u64,
    pub objects: Vec<StoredObject>,
    /// Why the search could not be answered (a bad filter, say).
    pub error: Option<String>,
}

/// Runs a search of the connector space page (`type`, `attr` + `value`, or `filter`; `page`).
pub async fn search(
    rt: &Arc<Runtime>,
    q: &HashMap<String, String>,
    host: &str,
) -> Result<SearchResult, Failure> {
    let types = object_types(rt);
    let object_type = q
        .get("type")
        .filter(|t| types.contains(t))
        .cloned()
        .unwrap_or_else(|| rt.users.object_type.clone());
    let page = super::page_param(q);
    let offset = (page - 1) * PAGE;
    let indexed: Vec<String> = rt
        .space
        .index_spec()
        .attributes
        .iter()
        .filter(|a| a.object_type == object_type)
        .map(|a| a.name.clone())
        .collect();
    let value = q
        .get("value")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let filter = q
        .get("filter")
        .map(|f| f.trim().to_owned())
        .unwrap_or_default();
    let search = if !filter.is_empty() {
        Search::Filter(filter)
    } else if !value.is_empty() {
        Search::Attribute {
            attribute: q.get("attr").cloned().unwrap_or_else(|| "anchor".into()),
            value,
        }
    } else {
        Search::All
    };
    let mut result = SearchResult {
        object_type: object_type.clone(),
        search: search.clone(),
        indexed: indexed.clone(),
        page,
        total: 0,
        objects: Vec::new(),
        error: None,
    };
    match search {
        Search::Filter(f) => {
            let binding = binding_of(rt, &object_type);
            let query = Query {
                filter: Some(f),
                start_index: Some((offset + 1).to_string()),
                count: Some(PAGE.to_string()),
                attributes: Some("id".into()),
                ..Query::default()
            };
            let base = format!("https://{host}/ecma2host_{}/scim", rt.name);
            match rt.query(binding, &query, &base).await {
                Ok(list) => {
                    result.total = list.total_results as u64;
                    let ids: Vec<String> = list
                        .resources
                        .iter()
                        .filter_map(|d| d.get("id").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect();
                    let rt = rt.clone();
                    let t = object_type.clone();
                    result.objects = blocking(move || {
                        let mut found = Vec::new();
                        for id in ids {
                            if let Some(s) = rt.space.get(&t, &Anchor(id))? {
                                found.push(s);
                            }
                        }
                        Ok(found)
                    })
                    .await?;
                }
                Err(e) => {
                    let r = e.render();
                    if r.server_fault {
                        return Err(e.into());
                    }
                    result.error = Some(r.detail);
                }
            }
        }
        Search::Attribute { attribute, value } => {
            if attribute != "anchor" && attribute != "dn" && !indexed.contains(&attribute) {
                result.error = Some(format!(
                    "{attribute} is not indexed; search by an indexed attribute or use a SCIM filter"
                ));
                return Ok(result);
            }
            let rt = rt.clone();
            let t = object_type.clone();
            let (total, objects) = blocking(move || {
                Ok(match attribute.as_str() {
                    "anchor" => one(rt.space.get(&t, &Anchor(value))?, offset),
                    "dn" => one(rt.space.get_by_dn(&t, &value)?, offset),
                    a => rt.space.lookup_page(&t, a, &value, offset, PAGE)?,
                })
            })
            .await?;
            result.total = total;
            result.objects = objects;
        }
        Search::All => {
            let rt = rt.clone();
            let t = object_type.clone();
            let (total, objects) =
                blocking(move || Ok((rt.space.count(&t)?, rt.space.list(&t, offset, PAGE)?)))
                    .await?;
            result.total = total;
            result.objects = objects;
        }
    }
    Ok(result)
}

/// At most one object as a page.
fn one(found: Option<StoredObject>, offset: u64) -> (u64, Vec<StoredObject>) {
    let total = u64::from(found.is_some());
    (total, found.filter(|_| offset == 0).into_iter().collect())
}

/// One object as the console shows it.
pub struct Shown {
    pub stored: StoredObject,
    /// The SCIM resource a client gets for it.
    pub resource: Value,
    /// Attributes that hold secrets by the binding (never stored; hidden if they were).
    pub secrets: Vec<String>,
}

/// The object `type` / `anchor`.
pub async fn object(
    rt: &Arc<Runtime>,
    q: &HashMap<String, String>,
    host: &str,
) -> Result<Shown, Failure> {
    let types = object_types(rt);
    let object_type = q
        .get("type")
        .filter(|t| types.contains(t))
        .cloned()
        .unwrap_or_else(|| rt.users.object_type.clone());
    let anchor = q.get("anchor").cloned().ok_or_else(|| {
        Failure::new(
            axum::http::StatusCode::BAD_REQUEST,
            "which object? (anchor)",
        )
    })?;
    let rt2 = rt.clone();
    let t = object_type.clone();
    let a = anchor.clone();
    let stored = blocking(move || Ok(rt2.space.get(&t, &Anchor(a))?))
        .await?
        .ok_or_else(|| {
            Failure::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("no {object_type} with anchor {anchor:?} in the connector space"),
            )
        })?;
    let binding = binding_of(rt, &object_type);
    let base = format!("https://{host}/ecma2host_{}/scim", rt.name);
    Ok(Shown {
        resource: rt.render(binding, &stored, &base),
        secrets: binding.secrets.clone(),
        stored,
    })
}
