//! Entra's provisioning requests, exactly as documented (`reference/entra-ecma.md` D.1–D.8),
//! as reusable steps: the random-GUID probe, match-or-create, GET-then-PATCH updates in the
//! default and the `aadOptscim062020` forms, disable/enable with the string booleans Entra
//! sends, delete, groups with their two schemas and both member-removal shapes, the manager in
//! its array and plain-string forms, and paging with `startIndex`/`count`.
//!
//! Each step checks what Entra relies on (status, `Location`, `id`, `meta.version`, a
//! `ListResponse` with a true `totalResults`) and returns an [`E2eError::Unexpected`] naming
//! the request, the expectation and the answer when the host breaks it.

use serde_json::{Value, json};

use crate::client::{LIST_RESPONSE, PATCH_OP, ScimClient, ScimResponse, clip};
use crate::error::{E2eError, Result, ensure, unexpected};

/// Core User schema URN.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Core Group schema URN.
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The second schema Entra puts on a group it creates.
pub const ADSCIM_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
/// Prefix of every attribute in the ECMA host's schema: `{ECMA2HOST_USER}:<Column>`.
pub const ECMA2HOST_USER: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";

/// `{ECMA2HOST_USER}:<column>`, the SCIM path of a column in `ecma2host` mode.
pub fn ecma(column: &str) -> String {
    format!("{ECMA2HOST_USER}:{column}")
}

/// `{ENTERPRISE_USER}:<attribute>`.
pub fn enterprise(attribute: &str) -> String {
    format!("{ENTERPRISE_USER}:{attribute}")
}

/// A random GUID in the form Entra probes with.
pub fn random_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A filter `attr eq "value"` as Entra writes it.
pub fn eq_filter(attr: &str, value: &str) -> String {
    format!("{attr} eq \"{value}\"")
}

/// A PATCH body with `operations`.
pub fn patch_body(operations: Vec<Value>) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// One page of a `ListResponse`.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// `totalResults`.
    pub total_results: u64,
    /// `startIndex`, when present.
    pub start_index: Option<u64>,
    /// `itemsPerPage`, when present.
    pub items_per_page: Option<u64>,
    /// `Resources` (empty when absent).
    pub resources: Vec<Value>,
}

/// Checks that `response` is `200` with a `ListResponse` body and returns it.
pub fn list_page(response: &ScimResponse) -> Result<ListPage> {
    response.expect_status(&[200])?;
    let body = &response.body;
    let schema_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(LIST_RESPONSE)));
    let total = body.get("totalResults").and_then(Value::as_u64);
    let resources = match body.get("Resources") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => Some(items.clone()),
        Some(_) => None,
    };
    match (schema_ok, total, resources) {
        (true, Some(total_results), Some(resources)) => {
            ensure(
                resources.len() as u64 <= total_results,
                response.request.clone(),
                "no more Resources than totalResults",
                || response.got(),
            )?;
            for r in &resources {
                ensure(
                    r.get("id").and_then(Value::as_str).is_some(),
                    response.request.clone(),
                    "an `id` on every resource",
                    || clip(&r.to_string()),
                )?;
            }
            Ok(ListPage {
                total_results,
                start_index: body.get("startIndex").and_then(Value::as_u64),
                items_per_page: body.get("itemsPerPage").and_then(Value::as_u64),
                resources,
            })
        }
        _ => Err(unexpected(
            response.request.clone(),
            format!(
                "a ListResponse: schemas [{LIST_RESPONSE}], numeric totalResults, Resources array"
            ),
            response.got(),
        )),
    }
}

/// The probe Entra sends at the start of every cycle and on Test Connection:
/// `GET /Users?filter=<attr> eq "<random GUID>"` must answer `200` with `totalResults: 0`.
pub async fn probe(client: &ScimClient, attr: &str) -> Result<()> {
    probe_resource(client, "/Users", attr, &[]).await
}

/// The group probe: `GET /Groups?excludedAttributes=members&filter=displayName eq "<GUID>"`.
pub async fn probe_group(client: &ScimClient) -> Result<()> {
    probe_resource(
        client,
        "/Groups",
        "displayName",
        &[("excludedAttributes", "members")],
    )
    .await
}

async fn probe_resource(
    client: &ScimClient,
    path: &str,
    attr: &str,
    extra: &[(&str, &str)],
) -> Result<()> {
    let filter = eq_filter(attr, &random_guid());
    let mut query = extra.to_vec();
    query.push(("filter", filter.as_str()));
    let response = client.get(path, &query).await?;
    let page = list_page(&response)?;
    ensure(
        page.total_results == 0 && page.resources.is_empty(),
        response.request.clone(),
        "200 with totalResults 0 and no Resources",
        || response.got(),
    )
}

/// `GET <path>?filter=<attr> eq "<value>"` (plus `extra` query pairs): the one match, or `None`.
/// More than one match is a failure: Entra's matching attributes identify one object.
pub async fn find(
    client: &ScimClient,
    path: &str,
    attr: &str,
    value: &str,
    extra: &[(&str, &str)],
) -> Result<Option<Value>> {
    let filter = eq_filter(attr, value);
    let mut query = extra.to_vec();
    query.push(("filter", filter.as_str()));
    let response = client.get(path, &query).await?;
    let page = list_page(&response)?;
    ensure(
        page.total_results <= 1 && page.resources.len() as u64 == page.total_results,
        response.request.clone(),
        "totalResults 0 or 1, with the match in Resources",
        || response.got(),
    )?;
    Ok(page.resources.into_iter().next())
}

/// `GET /Users?filter=<attr> eq "<value>"`.
pub async fn find_user(client: &ScimClient, attr: &str, value: &str) -> Result<Option<Value>> {
    find(client, "/Users", attr, value, &[]).await
}

/// `GET /Groups?excludedAttributes=members&filter=displayName eq "<name>"`; the group found
/// must not carry `members`.
pub async fn find_group(client: &ScimClient, display_name: &str) -> Result<Option<Value>> {
    let found = find(
        client,
        "/Groups",
        "displayName",
        display_name,
        &[("excludedAttributes", "members")],
    )
    .await?;
    if let Some(group) = &found {
        ensure(
            group.get("members").is_none(),
            format!(
                "GET /Groups?excludedAttributes=members&filter=displayName eq \"{display_name}\""
            ),
            "a group without `members`",
            || clip(&group.to_string()),
        )?;
    }
    Ok(found)
}

/// What match-or-create found or made.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The SCIM `id` Entra caches for all later requests.
    pub id: String,
    /// Whether a POST created it (false: the filter matched an existing object).
    pub created: bool,
    /// The resource as returned by the POST or the filter.
    pub resource: Value,
}

/// Entra's create flow: `GET /Users?filter=<attr> eq "<value>"`; on no match, `POST /Users`
/// with `body`, which must answer `201` with `Location`, `id` and `meta.version`.
pub async fn match_or_create(
    client: &ScimClient,
    filter_attr: &str,
    value: &str,
    body: &Value,
) -> Result<Provisioned> {
    if let Some(found) = find_user(client, filter_attr, value).await? {
        let id = resource_id(&found, "GET /Users?filter=…")?;
        return Ok(Provisioned {
            id,
            created: false,
            resource: found,
        });
    }
    create(client, "/Users", body).await
}

/// `POST <path>` (`/Users` or `/Groups`) → `201`, a `Location` ending in `<path>/<id>`, an
/// `id`, `meta.version` (equal to `ETag` when that header is sent).
pub async fn create(client: &ScimClient, path: &str, body: &Value) -> Result<Provisioned> {
    let response = client.post(path, body).await?;
    response.expect_status(&[201])?;
    let id = resource_id(&response.body, &response.request)?;
    let suffix = format!("{path}/{id}");
    let location = response.header("location").unwrap_or_default();
    ensure(
        location.starts_with("https://") && location.ends_with(&suffix),
        response.request.clone(),
        format!("a Location header https://…/ecma2host_<connector>/scim{suffix}"),
        || format!("Location: {location:?}"),
    )?;
    if let Some(meta_location) = response
        .body
        .pointer("/meta/location")
        .and_then(Value::as_str)
    {
        ensure(
            meta_location == location,
            response.request.clone(),
            "meta.location equal to the Location header",
            || format!("meta.location {meta_location:?}, Location {location:?}"),
        )?;
    }
    check_version(&response)?;
    Ok(Provisioned {
        id,
        created: true,
        resource: response.body,
    })
}

/// The resource's `id` (a non-empty string).
pub fn resource_id(resource: &Value, request: &str) -> Result<String> {
    match resource.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(unexpected(
            request,
            "a resource with a non-empty string `id`",
            clip(&resource.to_string()),
        )),
    }
}

/// `meta.version` of a resource.
pub fn meta_version(resource: &Value) -> Option<&str> {
    resource.pointer("/meta/version").and_then(Value::as_str)
}

/// Checks that the body carries `meta.version` and that an `ETag` header, if sent, equals it.
pub fn check_version(response: &ScimResponse) -> Result<String> {
    let version = meta_version(&response.body).map(str::to_owned);
    let Some(version) = version else {
        return Err(unexpected(
            response.request.clone(),
            "meta.version on the resource",
            response.got(),
        ));
    };
    if let Some(etag) = response.header("etag") {
        ensure(
            etag == version,
            response.request.clone(),
            "an ETag header equal to meta.version",
            || format!("ETag {etag:?}, meta.version {version:?}"),
        )?;
    }
    Ok(version)
}

/// `GET <path>/<id>` → `200` with that `id` and a `meta.version`.
pub async fn get(client: &ScimClient, path: &str, id: &str) -> Result<Value> {
    let response = client.get(&format!("{path}/{id}"), &[]).await?;
    response.expect_status(&[200])?;
    let got = resource_id(&response.body, &response.request)?;
    ensure(
        got == id,
        response.request.clone(),
        format!("id {id:?}"),
        || format!("id {got:?}"),
    )?;
    check_version(&response)?;
    Ok(response.body)
}

/// `GET /Users/<id>`.
pub async fn get_user(client: &ScimClient, id: &str) -> Result<Value> {
    get(client, "/Users", id).await
}

/// `GET <path>/<id>` → `404` (only the status matters to Entra).
pub async fn expect_gone(client: &ScimClient, path: &str, id: &str) -> Result<()> {
    let response = client.get(&format!("{path}/{id}"), &[]).await?;
    response.expect_status(&[404])?;
    Ok(())
}

/// `PATCH <path>/<id>` with `operations` → `200` (with the resource, same `id`) or `204`.
pub async fn patch(
    client: &ScimClient,
    path: &str,
    id: &str,
    operations: Vec<Value>,
) -> Result<ScimResponse> {
    let response = client
        .patch(&format!("{path}/{id}"), &patch_body(operations))
        .await?;
    response.expect_status(&[200, 204])?;
    if response.status.as_u16() == 200 && !response.body.is_null() {
        let got = resource_id(&response.body, &response.request)?;
        ensure(
            got == id,
            response.request.clone(),
            format!("id {id:?}"),
            || format!("id {got:?}"),
        )?;
    }
    Ok(response)
}

/// Entra's update in the default form: `GET /Users/<id>`, then one `PATCH` with one
/// `{"op":"Replace","path":…,"value":…}` per changed attribute.
pub async fn update(client: &ScimClient, id: &str, changes: &[(&str, Value)]) -> Result<()> {
    get_user(client, id).await?;
    let operations = changes
        .iter()
        .map(|(path, value)| json!({ "op": "Replace", "path": path, "value": value }))
        .collect();
    patch(client, "/Users", id, operations).await.map(|_| ())
}

/// Entra's update with `aadOptscim062020`: `GET /Users/<id>`, then one `PATCH` whose first
/// operation is a lowercase `replace` with no path and a value object keyed by dotted and URN
/// paths, followed by one `replace` per filtered multi-valued path.
pub async fn update_062020(
    client: &ScimClient,
    id: &str,
    values: Value,
    filtered: &[(&str, Value)],
) -> Result<()> {
    get_user(client, id).await?;
    let mut operations = vec![json!({ "op": "replace", "value": values })];
    operations.extend(
        filtered
            .iter()
            .map(|(path, value)| json!({ "op": "replace", "path": path, "value": value })),
    );
    patch(client, "/Users", id, operations).await.map(|_| ())
}

/// Disable as Entra sends it by default: `{"op":"Replace","path":"active","value":"False"}`.
pub async fn disable(client: &ScimClient, id: &str) -> Result<()> {
    set_active(
        client,
        id,
        json!({"op": "Replace", "path": "active", "value": "False"}),
    )
    .await
}

/// Re-enable as Entra sends it by default: `"value":"True"`.
pub async fn enable(client: &ScimClient, id: &str) -> Result<()> {
    set_active(
        client,
        id,
        json!({"op": "Replace", "path": "active", "value": "True"}),
    )
    .await
}

/// Disable with `aadOptscim062020`: `{"op":"replace","path":"active","value":false}`.
pub async fn disable_062020(client: &ScimClient, id: &str) -> Result<()> {
    set_active(
        client,
        id,
        json!({"op": "replace", "path": "active", "value": false}),
    )
    .await
}

/// Re-enable with `aadOptscim062020`: `"value":true`.
pub async fn enable_062020(client: &ScimClient, id: &str) -> Result<()> {
    set_active(
        client,
        id,
        json!({"op": "replace", "path": "active", "value": true}),
    )
    .await
}

/// One PATCH of `active` with `operation` as given (for the shapes seen in the wild, e.g. the
/// lowercase strings `"false"`/`"true"` of community reports).
pub async fn set_active(client: &ScimClient, id: &str, operation: Value) -> Result<()> {
    patch(client, "/Users", id, vec![operation])
        .await
        .map(|_| ())
}

/// A single-valued `Add` as Entra sends it for an attribute that had no value:
/// `{"op":"Add","path":…,"value":"…"}` by default, `"op":"add"` with `aadOptscim062020`.
pub async fn add_value(
    client: &ScimClient,
    id: &str,
    path: &str,
    value: Value,
    flag_062020: bool,
) -> Result<()> {
    let op = if flag_062020 { "add" } else { "Add" };
    let operation = json!({ "op": op, "path": path, "value": value });
    patch(client, "/Users", id, vec![operation])
        .await
        .map(|_| ())
}

/// `DELETE /Users/<id>` → `204`, then `GET /Users/<id>` → `404`.
pub async fn delete_user(client: &ScimClient, id: &str) -> Result<()> {
    delete(client, "/Users", id).await?;
    expect_gone(client, "/Users", id).await
}

/// `DELETE <path>/<id>` → `204`.
pub async fn delete(client: &ScimClient, path: &str, id: &str) -> Result<()> {
    let response = client.delete(&format!("{path}/{id}")).await?;
    response.expect_status(&[204])?;
    Ok(())
}

/// Entra's group create: `POST /Groups` with the core and ADSCIM group schemas, `externalId`,
/// `displayName` and an empty `members` list.
pub async fn create_group(
    client: &ScimClient,
    display_name: &str,
    external_id: &str,
) -> Result<Provisioned> {
    let body = json!({
        "schemas": [CORE_GROUP, ADSCIM_GROUP],
        "externalId": external_id,
        "displayName": display_name,
        "members": [],
    });
    create(client, "/Groups", &body).await
}

/// Entra's member add: `{"op":"Add","path":"members","value":[{"$ref":null,"value":"<id>"}…]}`
/// → `204` (or `200`).
pub async fn add_members(client: &ScimClient, group_id: &str, user_ids: &[&str]) -> Result<()> {
    let value: Vec<Value> = user_ids
        .iter()
        .map(|id| json!({ "$ref": null, "value": id }))
        .collect();
    let operation = json!({ "op": "Add", "path": "members", "value": value });
    patch(client, "/Groups", group_id, vec![operation])
        .await
        .map(|_| ())
}

/// Member removal in Entra's default shape:
/// `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`.
pub async fn remove_members_by_value(
    client: &ScimClient,
    group_id: &str,
    user_ids: &[&str],
) -> Result<()> {
    let value: Vec<Value> = user_ids.iter().map(|id| json!({ "value": id })).collect();
    let operation = json!({ "op": "Remove", "path": "members", "value": value });
    patch(client, "/Groups", group_id, vec![operation])
        .await
        .map(|_| ())
}

/// Member removal with `aadOptscim062020`: `{"op":"remove","path":"members[value eq \"<id>\"]"}`.
pub async fn remove_member_by_path(
    client: &ScimClient,
    group_id: &str,
    user_id: &str,
) -> Result<()> {
    let operation = json!({ "op": "remove", "path": format!("members[value eq \"{user_id}\"]") });
    patch(client, "/Groups", group_id, vec![operation])
        .await
        .map(|_| ())
}

/// The manager in the array form of Entra's SCIM docs:
/// `{"op":"Add","path":"manager","value":[{"$ref":"…/Users/<id>","value":"<id>"}]}`.
pub async fn set_manager_array(client: &ScimClient, user_id: &str, manager_id: &str) -> Result<()> {
    let operation = json!({
        "op": "Add",
        "path": "manager",
        "value": [{ "$ref": format!("{}/Users/{manager_id}", client.base), "value": manager_id }],
    });
    patch(client, "/Users", user_id, vec![operation])
        .await
        .map(|_| ())
}

/// The manager as a plain string under the enterprise URN:
/// `{"op":"Add","path":"urn:…:enterprise:2.0:User:manager","value":"<id>"}`.
pub async fn set_manager_string(
    client: &ScimClient,
    user_id: &str,
    manager_id: &str,
) -> Result<()> {
    let operation = json!({ "op": "Add", "path": enterprise("manager"), "value": manager_id });
    patch(client, "/Users", user_id, vec![operation])
        .await
        .map(|_| ())
}

/// Account discovery / the validator's paging test: `GET /Users?startIndex=N&count=<count>`
/// from 1 until every result was seen. Each page must echo the asked `startIndex`, report the
/// same `totalResults`, hold `count` items unless it is the last, and `itemsPerPage` (when
/// sent) must equal the number of items. Returns every resource in page order.
pub async fn page_all(client: &ScimClient, count: u64) -> Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut start = 1u64;
    let mut total: Option<u64> = None;
    loop {
        let (s, c) = (start.to_string(), count.to_string());
        let response = client
            .get(
                "/Users",
                &[("startIndex", s.as_str()), ("count", c.as_str())],
            )
            .await?;
        let page = list_page(&response)?;
        let request = response.request.clone();
        ensure(
            page.start_index == Some(start),
            request.clone(),
            format!("startIndex {start}"),
            || format!("startIndex {:?}", page.start_index),
        )?;
        if let Some(t) = total {
            ensure(
                page.total_results == t,
                request.clone(),
                format!("the same totalResults {t} on every page"),
                || format!("totalResults {}", page.total_results),
            )?;
        }
        let t = page.total_results;
        total = Some(t);
        let remaining = t.saturating_sub(start - 1);
        let expected_len = remaining.min(count);
        ensure(
            page.resources.len() as u64 == expected_len,
            request.clone(),
            format!("{expected_len} resources on this page (totalResults {t}, count {count})"),
            || format!("{} resources", page.resources.len()),
        )?;
        if let Some(n) = page.items_per_page {
            ensure(
                n == page.resources.len() as u64,
                request.clone(),
                "itemsPerPage equal to the number of Resources",
                || format!("itemsPerPage {n}, {} resources", page.resources.len()),
            )?;
        }
        all.extend(page.resources);
        start += count;
        if start > t || expected_len == 0 {
            break;
        }
    }
    Ok(all)
}

/// A failure for a database check: what the table should hold and what it holds.
pub fn table_mismatch(
    what: impl Into<String>,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> E2eError {
    unexpected(what, expected, got)
}
