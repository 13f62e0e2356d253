//! The SCIM resource endpoints of one connector: `Users`, `Groups`, `Schemas`,
//! `ResourceTypes`, `ServiceProviderConfig` and `.search`, dispatched by method and path.
//!
//! What RFC 7644 asks of the protocol lives here, so every SCIM client (not only Entra) gets
//! it: endpoint names in any case, 405 with the `Allow` methods, 415 for a body that is not
//! JSON (via [`super::json_body`]), the same answer from `POST .search` as from GET, and
//! ETags (`If-None-Match` here; `If-Match` is handed to the engine, which checks it under the
//! object's export lock).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use schemas::discovery::{
    ServiceProviderFeatures, resource_type_document, resource_types_list, schema_document,
    schemas_list, schemas_of, service_provider_config_document,
};
use schemas::projection::Projection;
use schemas::resource::SearchRequest;
use serde_json::Value;

use std::borrow::Cow;

use super::{AppState, empty, json_body, scim_bytes, scim_json};
use crate::engine::Runtime;
use crate::engine::binding::ResourceKind;
use crate::engine::query::Query;
use crate::engine::{etag, etag_matches};
use crate::error::ApiError;
use crate::space::StoredObject;

/// The resource endpoints, spelt as RFC 7644 §3.2 does; a request may spell them in any case.
const ENDPOINTS: [&str; 6] = [
    "Users",
    "Groups",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    ".search",
];

/// The canonical spelling of an endpoint name, or the segment unchanged.
fn endpoint_name(segment: &str) -> &str {
    ENDPOINTS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(segment))
        .copied()
        .unwrap_or(segment)
}

/// 405 with the methods the endpoint supports.
fn not_allowed(method: &Method, path: &str, allow: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        detail: format!("{method} is not supported on {path}; it supports {allow}"),
        allow,
    }
}

fn header(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Handles `/ecma2host_{name}/scim/{rest…}`. Endpoint names are matched case-insensitively,
/// ids exactly.
pub async fn handle(
    app: &AppState,
    rt: &Arc<Runtime>,
    base: &str,
    rest: &[Cow<'_, str>],
    req: Request,
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let params = query_params(req.uri().query());
    let mut parts: Vec<&str> = rest.iter().map(Cow::as_ref).collect();
    if let Some(first) = parts.first_mut() {
        *first = endpoint_name(first);
    }
    if let [first @ ("Users" | "Groups"), second] = parts.as_slice()
        && second.eq_ignore_ascii_case(".search")
    {
        parts = vec![first, ".search"];
    }
    // Only an error names the path: built then, not for every request.
    let path = || format!("/{}", parts.join("/"));
    let get_only = |found: Result<Response, ApiError>| {
        if method == Method::GET {
            found
        } else {
            Err(not_allowed(&method, &path(), "GET"))
        }
    };
    match parts.as_slice() {
        ["Users" | "Groups", tail @ ..] => {
            let kind = if parts.first() == Some(&"Users") {
                ResourceKind::User
            } else {
                ResourceKind::Group
            };
            let binding = rt.binding(kind)?;
            match (tail, &method) {
                ([], &Method::GET) => {
                    let q = query_from_params(&params);
                    Ok(scim_bytes(StatusCode::OK, rt.query_json(binding, &q, base).await?))
                }
                ([], &Method::POST) => {
                    let body = json_body(req, app.max_body).await?;
                    let stored = rt.create(binding, body).await?;
                    Ok(resource_response(rt, kind, &stored, base, StatusCode::CREATED, true))
                }
                ([], _) => Err(not_allowed(&method, &path(), "GET, POST")),
                ([".search"], &Method::POST) => search(app, rt, Some(kind), base, req).await,
                ([".search"], _) => Err(not_allowed(&method, &path(), "POST")),
                ([id], &Method::GET) => {
                    let projection = Projection::parse(
                        param(&params, "attributes"),
                        param(&params, "excludedAttributes"),
                    )?;
                    let (stored, doc) = rt.get(binding, id, &projection, base).await?;
                    if header(&req, header::IF_NONE_MATCH).is_some_and(|h| etag_matches(h, &stored)) {
                        let mut resp = empty(StatusCode::NOT_MODIFIED);
                        set_etag(&mut resp, &stored);
                        return Ok(resp);
                    }
                    let mut resp = scim_json(StatusCode::OK, &doc);
                    set_etag(&mut resp, &stored);
                    Ok(resp)
                }
                ([id], &Method::PATCH) => {
                    let if_match = header(&req, header::IF_MATCH).map(str::to_owned);
                    let body = json_body(req, app.max_body).await?;
                    let (stored, last) = rt
                        .patch(binding, id, body, base, if_match.as_deref())
                        .await?;
                    Ok(match stored {
                        Some(s) => resource_response(rt, kind, &s, base, StatusCode::OK, false),
                        None => scim_json(StatusCode::OK, &last),
                    })
                }
                ([id], &Method::PUT) => {
                    let if_match = header(&req, header::IF_MATCH).map(str::to_owned);
                    let body = json_body(req, app.max_body).await?;
                    let (stored, last) = rt.replace(binding, id, body, if_match.as_deref()).await?;
                    Ok(match stored {
                        Some(s) => resource_response(rt, kind, &s, base, StatusCode::OK, false),
                        None => scim_json(StatusCode::OK, &last),
                    })
                }
                ([id], &Method::DELETE) => {
                    rt.delete(binding, id, header(&req, header::IF_MATCH)).await?;
                    Ok(empty(StatusCode::NO_CONTENT))
                }
                ([_], _) => Err(not_allowed(&method, &path(), "GET, PUT, PATCH, DELETE")),
                _ => Err(ApiError::NotFound(format!("no such SCIM endpoint {}", path()))),
            }
        }
        [".search"] if method == Method::POST => search(app, rt, None, base, req).await,
        [".search"] => Err(not_allowed(&method, &path(), "POST")),
        ["Schemas"] => get_only(Ok(scim_json(
            StatusCode::OK,
            &schemas_list(&schemas_of(&rt.resource_schemas()), base),
        ))),
        ["Schemas", id] => get_only(
            schemas_of(&rt.resource_schemas())
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .map(|s| scim_json(StatusCode::OK, &schema_document(s, base)))
                .ok_or_else(|| ApiError::NotFound(format!("no schema {id:?}"))),
        ),
        ["ResourceTypes"] => get_only(Ok(scim_json(
            StatusCode::OK,
            &resource_types_list(&rt.resource_schemas(), base),
        ))),
        ["ResourceTypes", id] => get_only(
            rt.resource_schemas()
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(id))
                .map(|s| scim_json(StatusCode::OK, &resource_type_document(s, base)))
                .ok_or_else(|| ApiError::NotFound(format!("no resource type {id:?}"))),
        ),
        ["ServiceProviderConfig"] => {
            let features = ServiceProviderFeatures {
                patch: true,
                bulk: None,
                filter_max_results: rt.max_page_size,
                change_password: false,
                sort: true,
                etag: true,
                documentation_uri: None,
            };
            get_only(Ok(scim_json(
                StatusCode::OK,
                &service_provider_config_document(&features, base),
            )))
        }
        [] => Err(ApiError::NotFound(
            "this is the SCIM root; resources are under /Users, /Groups, /Schemas, /ResourceTypes and /ServiceProviderConfig".into(),
        )),
        _ => Err(ApiError::NotFound(format!("no such SCIM endpoint {}", path()))),
    }
}

/// `POST …/.search`: the same query as a GET with the same parameters, carried in the body.
/// Under `/Users` or `/Groups` it searches that type; at the root (`kind` None) every type the
/// connector serves, users first, then groups, as one list paged across both.
async fn search(
    app: &AppState,
    rt: &Arc<Runtime>,
    kind: Option<ResourceKind>,
    base: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let body = json_body(req, app.max_body).await?;
    let s = SearchRequest::from_value(body)?;
    let q = Query {
        filter: s.filter.clone(),
        start_index: s.start_index.map(|v| v.to_string()),
        count: s.count.map(|v| v.to_string()),
        attributes: s.attributes_param(),
        excluded_attributes: s.excluded_attributes_param(),
        sort_by: s.sort_by.clone(),
        sort_order: s.sort_order.clone(),
    };
    match kind {
        Some(kind) => Ok(scim_bytes(
            StatusCode::OK,
            rt.query_json(rt.binding(kind)?, &q, base).await?,
        )),
        None => Ok(scim_json(StatusCode::OK, &rt.query_all(&q, base).await?)),
    }
}

/// The query string's parameters in order, `+` as space; borrowed from the URI unless a
/// parameter is percent-encoded (no map and no copies per request for a plain lookup).
type Params<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

fn query_params(query: Option<&str>) -> Params<'_> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).collect()
}

/// A query parameter by name in any case (`excludedattributes` as well as the RFC's spelling),
/// the same for a list and for a GET by id; the last one wins when a name repeats.
fn param<'a>(params: &'a Params<'_>, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rfind(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

fn query_from_params(params: &Params<'_>) -> Query {
    let get = |k: &str| param(params, k).map(str::to_owned);
    Query {
        filter: get("filter"),
        start_index: get("startIndex"),
        count: get("count"),
        attributes: get("attributes"),
        excluded_attributes: get("excludedAttributes"),
        sort_by: get("sortBy"),
        sort_order: get("sortOrder"),
    }
}

fn set_etag(resp: &mut Response, stored: &StoredObject) {
    if let Ok(v) = HeaderValue::from_str(&etag(stored)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

fn resource_response(
    rt: &Runtime,
    kind: ResourceKind,
    stored: &StoredObject,
    base: &str,
    status: StatusCode,
    location: bool,
) -> Response {
    let Ok(binding) = rt.binding(kind) else {
        return super::error_response(&ApiError::Internal("binding vanished".into()));
    };
    let doc: Value = rt.render(binding, stored, base);
    let mut resp = scim_json(status, &doc);
    set_etag(&mut resp, stored);
    if location
        && let Some(loc) = doc.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(loc)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
