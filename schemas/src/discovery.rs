//! The discovery documents (RFC 7643 §5–§7, RFC 7644 §4): `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig`.
//!
//! Entra reads `/Schemas` to learn which target attributes it may map to (in the ECMA2Host
//! drop-in mode, the connector attributes under the ECMA2Host extension), and it rejects
//! documents holding JSON `null`s, so every function here builds its document from non-null
//! values only and writes property names in camelCase. Each takes the SCIM base URL of the
//! connector (`https://host:8585/ecma2host_hr/scim`) to fill `meta.location`.

use serde_json::{Map, Value, json};

use crate::list::ListResponse;
use crate::resource::{RESOURCE_TYPE_SCHEMA, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA};
use crate::schema::{ResourceSchema, SchemaDef};

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({ "resourceType": resource_type, "location": location })
}

/// The `/Schemas/{id}` document of one schema.
pub fn schema_document(schema: &SchemaDef, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([SCHEMA_SCHEMA]));
    doc.insert("id".into(), Value::String(schema.id.clone()));
    doc.insert("name".into(), Value::String(schema.name.clone()));
    doc.insert(
        "description".into(),
        Value::String(schema.description.clone()),
    );
    doc.insert(
        "attributes".into(),
        serde_json::to_value(&schema.attributes).unwrap_or_else(|_| json!([])),
    );
    doc.insert(
        "meta".into(),
        meta(
            "Schema",
            format!("{}/Schemas/{}", base(base_url), schema.id),
        ),
    );
    Value::Object(doc)
}

/// The schemas a set of resource types uses (core and extensions), each once, in order.
pub fn schemas_of(resource_types: &[ResourceSchema]) -> Vec<SchemaDef> {
    let mut out: Vec<SchemaDef> = Vec::new();
    for rt in resource_types {
        for s in std::iter::once(&rt.core).chain(rt.extensions.iter().map(|(s, _)| s)) {
            if !out.iter().any(|o| o.id.eq_ignore_ascii_case(&s.id)) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// The `GET /Schemas` answer: a list response of schema documents.
pub fn schemas_list(schemas: &[SchemaDef], base_url: &str) -> Value {
    let docs: Vec<Value> = schemas
        .iter()
        .map(|s| schema_document(s, base_url))
        .collect();
    ListResponse::new(docs.len(), 1, docs).to_value()
}

/// The `/ResourceTypes/{name}` document of one resource type (RFC 7643 §6).
pub fn resource_type_document(resource: &ResourceSchema, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([RESOURCE_TYPE_SCHEMA]));
    doc.insert("id".into(), Value::String(resource.name.clone()));
    doc.insert("name".into(), Value::String(resource.name.clone()));
    doc.insert("endpoint".into(), Value::String(resource.endpoint.clone()));
    doc.insert("schema".into(), Value::String(resource.core.id.clone()));
    if !resource.extensions.is_empty() {
        let exts: Vec<Value> = resource
            .extensions
            .iter()
            .map(|(s, required)| json!({ "schema": s.id, "required": required }))
            .collect();
        doc.insert("schemaExtensions".into(), Value::Array(exts));
    }
    doc.insert(
        "meta".into(),
        meta(
            "ResourceType",
            format!("{}/ResourceTypes/{}", base(base_url), resource.name),
        ),
    );
    Value::Object(doc)
}

/// The `GET /ResourceTypes` answer: a list response of resource type documents.
pub fn resource_types_list(resources: &[ResourceSchema], base_url: &str) -> Value {
    let docs: Vec<Value> = resources
        .iter()
        .map(|r| resource_type_document(r, base_url))
        .collect();
    ListResponse::new(docs.len(), 1, docs).to_value()
}

/// What the service provider supports, for `/ServiceProviderConfig` (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceProviderFeatures {
    /// PATCH is supported.
    pub patch: bool,
    /// Bulk is supported, with `(maxOperations, maxPayloadSize in bytes)`.
    pub bulk: Option<(usize, usize)>,
    /// The most resources a filtered query returns. Filtering itself is always supported.
    pub filter_max_results: usize,
    /// Changing a password is supported.
    pub change_password: bool,
    /// `sortBy` is supported.
    pub sort: bool,
    /// ETags are supported.
    pub etag: bool,
    /// A page documenting this service provider, if any.
    pub documentation_uri: Option<String>,
}

/// The `/ServiceProviderConfig` document. The only authentication scheme is the OAuth bearer
/// token (what Entra sends), marked primary.
pub fn service_provider_config_document(
    features: &ServiceProviderFeatures,
    base_url: &str,
) -> Value {
    let supported = |b: bool| json!({ "supported": b });
    let (bulk_ops, bulk_size) = features.bulk.unwrap_or((0, 0));
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
    if let Some(uri) = &features.documentation_uri {
        doc.insert("documentationUri".into(), Value::String(uri.clone()));
    }
    doc.insert("patch".into(), supported(features.patch));
    doc.insert(
        "bulk".into(),
        json!({
            "supported": features.bulk.is_some(),
            "maxOperations": bulk_ops,
            "maxPayloadSize": bulk_size,
        }),
    );
    doc.insert(
        "filter".into(),
        json!({ "supported": true, "maxResults": features.filter_max_results }),
    );
    doc.insert("changePassword".into(), supported(features.change_password));
    doc.insert("sort".into(), supported(features.sort));
    doc.insert("etag".into(), supported(features.etag));
    doc.insert(
        "authenticationSchemes".into(),
        json!([{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the connector's secret token as an OAuth 2.0 bearer token (RFC 6750)",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }]),
    );
    doc.insert(
        "meta".into(),
        meta(
            "ServiceProviderConfig",
            format!("{}/ServiceProviderConfig", base(base_url)),
        ),
    );
    Value::Object(doc)
}

/// The first JSON path at which `value` holds a `null`, e.g. `$.attributes[3].description`;
/// `None` if there is none. Entra rejects discovery documents with nulls, so tests and the
/// host can check a document before serving it.
pub fn find_null(value: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut String) -> bool {
        match v {
            Value::Null => true,
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::from("$");
    walk(value, &mut path).then_some(path)
}
