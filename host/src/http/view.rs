//! The read-only view of a connector space, behind the connector's own token (Microsoft's cache
//! view needs a debug mode that switches authentication off; ours never does).
//!
//! `GET /ecma2host_{name}/space` summarises the space (object counts, the import running now
//! with its progress, recent import runs);
//! `GET …/space/{objectType}?startIndex=&count=` lists stored objects as the connector sees
//! them; `GET …/space/{objectType}/{anchor}` shows one with its version and origin;
//! `GET …/space/pending` lists the exports the target accepted but queued (an approval), each
//! with what it waits for and since when (unless the connector has an object type named
//! `pending`, which then wins).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use connector_core::Anchor;
use serde_json::{Value, json};

use super::query_map;
use crate::engine::Runtime;
use crate::engine::blocking;
use crate::error::ApiError;
use crate::space::{PendingExport, StoredObject};

/// JSON for one stored object.
pub fn stored_json(s: &StoredObject) -> Value {
    json!({
        "objectType": s.object.object_type,
        "anchor": s.object.anchor,
        "dn": s.object.dn,
        "attributes": s.object.attributes,
        "version": s.version,
        "origin": format!("{:?}", s.origin).to_lowercase(),
        "created": s.created.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "modified": s.modified.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

/// JSON for one pending export: the stored object, what it waits for and since when.
pub fn pending_json(p: &PendingExport) -> Value {
    let mut v = stored_json(&p.object);
    if let Some(map) = v.as_object_mut() {
        map.insert("waitingFor".into(), json!(p.detail));
        map.insert(
            "pendingSince".into(),
            json!(
                p.since
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
        );
    }
    v
}

fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Handles `/ecma2host_{name}/space/{rest…}`.
pub async fn handle(
    rt: &Arc<Runtime>,
    rest: &[std::borrow::Cow<'_, str>],
    req: Request,
) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed {
            detail: "the connector space view is read-only".into(),
            allow: "GET",
        });
    }
    let params = query_map(req.uri().query());
    let rt = rt.clone();
    let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let body = blocking(move || {
        let space = &rt.space;
        let mut types = vec![rt.users.object_type.clone()];
        if let Some(g) = &rt.groups {
            types.push(g.object_type.clone());
        }
        Ok(match rest.as_slice() {
            [] => {
                let mut counts = serde_json::Map::new();
                for t in &types {
                    counts.insert(t.clone(), json!(space.count(t)?));
                }
                let runs: Vec<Value> = space
                    .runs(10)?
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id, "kind": r.kind, "objectType": r.object_type,
                            "started": r.started.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                            "finished": r.finished.and_then(|f| f.format(&time::format_description::well_known::Rfc3339).ok()),
                            "outcome": r.outcome,
                            "added": r.stats.added, "updated": r.stats.updated,
                            "unchanged": r.stats.unchanged, "removed": r.stats.removed,
                            "notes": r.notes,
                            "host": r.host,
                        })
                    })
                    .collect();
                let pending = space.pending_count()?;
                let import = rt
                    .progress
                    .running_import(time::OffsetDateTime::now_utc())
                    .map(|r| json!({"progress": r.line, "storing": r.storing, "etaSeconds": r.eta.map(|d| d.as_secs())}));
                let lease = space
                    .lease_holder(crate::space::IMPORT_LEASE)?
                    .map(|(holder, until)| json!({"holder": holder, "until": until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}));
                let store = json!({"backend": space.backend_name(), "at": space.describe(), "shared": space.is_shared(), "importLease": lease});
                json!({"connector": rt.name, "host": rt.host_id, "space": store, "objects": counts, "pending": pending, "import": import, "runs": runs})
            }
            [p] if p == "pending" && !types.contains(p) => {
                let count: u64 = params.get("count").and_then(|v| v.parse().ok()).unwrap_or(100).min(1000);
                let pending: Vec<Value> = space.pending(count)?.iter().map(pending_json).collect();
                json!({"pending": pending})
            }
            [t] => {
                let start: u64 = params.get("startIndex").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
                let count: u64 = params.get("count").and_then(|v| v.parse().ok()).unwrap_or(100).min(1000);
                let total = space.count(t)?;
                let objects: Vec<Value> = space.list(t, start - 1, count)?.iter().map(stored_json).collect();
                json!({"objectType": t, "total": total, "startIndex": start, "objects": objects})
            }
            [t, anchor] => {
                let s = space
                    .get(t, &Anchor(anchor.clone()))?
                    .ok_or_else(|| ApiError::NotFound(format!("no {t} with anchor {anchor:?} in the connector space")))?;
                stored_json(&s)
            }
            _ => return Err(ApiError::NotFound("no such connector space view".into())),
        })
    })
    .await?;
    Ok(json_response(&body))
}
