//! Changes → REST API calls, one MIM Request each wherever the API allows it.
//!
//! - **Add**: an optional lookup by the matching attribute (conflict, or adopt), then
//!   `POST v2/resources/` with `Prefer: return=minimal`; the ObjectID comes from `Location`.
//!   The create carries the type's `create_defaults` for every attribute the change sets no
//!   value for (an adopt does not: it changes an object that exists).
//! - **Update**: one `PATCH v2/resources/{id}/` setting every changed attribute — one Request,
//!   so one approval and all-or-nothing. Adding or removing values of a multi-valued attribute
//!   reads its current values first (`GET v2/resources/{id}/{attribute}/`) and sends the new
//!   set; Lithnet turns that back into value adds and removes. The exception: a change made only
//!   of value adds and removes on multi-valued **reference** attributes (group members) uses
//!   `PUT`/`DELETE v2/resources/{id}/{attribute}/{value}/`, one call per value, which needs no
//!   read of a large member list and no request body near WCF's 64 KiB limit; such a change with
//!   several values is several Requests (each idempotent, so a retry converges).
//! - **Replace**: one PATCH setting every writable exposed attribute (absent ones cleared).
//! - **Delete**: `DELETE v2/resources/{id}/`.
//!
//! A 202 is an approval: the outcome is [`ExportStatus::Pending`](connector_core::ExportStatus)
//! naming the Request. For a pending add the anchor is the Request's `Target`, the ObjectID the
//! object will have once approved.

use std::collections::BTreeMap;

use connector_core::{
    Anchor, AttrValue, AttributeChange, Attributes, ConnectorError, Deadline, ExportOutcome,
};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::config::OnMatch;
use crate::http::{Http, Lost, Purpose, Reply, Req};
use crate::model::{Attr, DataType, OBJECT_ID, TypeModel};
use crate::search::Search;
use crate::value::{guid, same, set_json, to_json, values_from_json};
use crate::xpath::{literal, query};

fn rejected(detail: String) -> ConnectorError {
    ConnectorError::rejected(detail)
}

/// The ObjectID an anchor names; a string that is no GUID names nothing.
fn object_id(t: &TypeModel, anchor: &Anchor) -> Result<String, ConnectorError> {
    guid(anchor.as_str()).ok_or_else(|| {
        ConnectorError::not_found(format!(
            "{} {anchor}: not an ObjectID, so no such object",
            t.name
        ))
    })
}

/// The change's attributes by exposed attribute, every value checked.
fn body_of<'t>(
    t: &'t TypeModel,
    attributes: &Attributes,
) -> Result<Vec<(&'t Attr, Value)>, ConnectorError> {
    let mut out = Vec::new();
    for (name, values) in attributes {
        let attr = t.writable(name)?;
        let json = set_json(attr, values).map_err(|e| rejected(format!("{}: {e}", t.name)))?;
        out.push((attr, json));
    }
    Ok(out)
}

fn json_object(pairs: &[(&Attr, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(a, v)| (a.name.clone(), v.clone()))
        .collect()
}

fn pending_request(reply: &Reply) -> Option<String> {
    reply
        .json()
        .ok()?
        .get("RequestID")
        .and_then(Value::as_str)
        .and_then(guid)
}

/// A 202: the change waits for approval of a Request.
fn pending(
    http: &Http,
    reply: &Reply,
    anchor: Option<String>,
    what: &str,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    let request = pending_request(reply).ok_or_else(|| {
        ConnectorError::unavailable(format!(
            "{what}: the REST API answered 202 without a Request ID"
        ))
    })?;
    let anchor = match anchor {
        Some(a) => a,
        // The create's Request names the ObjectID the object will have.
        None => {
            let context = format!("{what}: read the pending request {request}");
            let target = http
                .expect(
                    &Req::read(http.url(&["resources", &request]), &context),
                    deadline,
                )
                .and_then(|r| r.json())
                .ok()
                .and_then(|j| j.get("Target").and_then(Value::as_str).and_then(guid));
            match target {
                Some(t) => t,
                None => {
                    tracing::warn!(%request, "the pending create's Request could not be read: its ObjectID is not known until it is approved");
                    request.clone()
                }
            }
        }
    };
    tracing::info!(%request, %anchor, "{what}: waiting for approval");
    Ok(ExportOutcome::pending(
        Anchor(anchor),
        format!("approval of MIM request {request} ({what})"),
    ))
}

/// The ObjectIDs of the objects of `t` whose `attr` equals `value` (two at most).
fn lookup(
    http: &Http,
    t: &TypeModel,
    attr: &Attr,
    value: &AttrValue,
    deadline: Deadline,
) -> Result<Vec<String>, ConnectorError> {
    let json = to_json(attr, value).map_err(|e| rejected(format!("{}: {e}", t.name)))?;
    let text = match &json {
        Value::String(s) => literal(s),
        other => other.to_string(),
    };
    let filter = query(&t.name, Some(&format!("{} = {text}", attr.name)));
    let page = Search::new(http, &filter, ("attributes", OBJECT_ID), 2).page(http, deadline)?;
    Ok(page
        .map(|p| {
            p.results
                .iter()
                .filter_map(|r| r.get(OBJECT_ID).and_then(Value::as_str).and_then(guid))
                .collect()
        })
        .unwrap_or_default())
}

/// Exports an add.
pub(crate) fn add(
    http: &Http,
    t: &TypeModel,
    anchor: Option<&Anchor>,
    attributes: &Attributes,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    deadline.check("the add")?;
    if let Some(a) = anchor {
        return Err(rejected(format!(
            "the MIM Service assigns ObjectIDs: an add of {} cannot carry the anchor {a}",
            t.name
        )));
    }
    let pairs = body_of(t, attributes)?;
    let sets = |pairs: &[(&Attr, Value)], a: &Attr| {
        pairs
            .iter()
            .any(|(p, v)| p.name == a.name && v != &Value::Array(Vec::new()))
    };
    // The create also carries the configured defaults the change sets no value for.
    let mut create = pairs.clone();
    for (attr, value) in &t.create_defaults {
        if !sets(&pairs, attr) {
            create.retain(|(p, _)| p.name != attr.name);
            create.push((attr, value.clone()));
        }
    }
    let missing: Vec<&str> = t
        .attrs
        .values()
        .filter(|a| a.required && a.writable && !sets(&create, a))
        .map(|a| a.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(rejected(format!(
            "{} requires {} in the MIM Service",
            t.name,
            missing.join(", ")
        )));
    }
    let matching = t.config.matching_attribute.as_deref().and_then(|m| {
        let attr = t.attr(m)?;
        let value = attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&attr.name))
            .and_then(|(_, v)| v.first())?;
        Some((attr, value))
    });
    let what = format!("add {}", t.name);
    if let Some((attr, value)) = matching {
        let found = lookup(http, t, attr, value, deadline)?;
        match (found.as_slice(), t.config.on_match) {
            ([], _) => {}
            ([id], OnMatch::Adopt) => {
                tracing::info!(object_type = %t.name, %id, "add adopts the existing object with the same {}", attr.name);
                let mut body = json_object(&pairs);
                body.remove("ObjectType");
                return patch(http, id, &Value::Object(body), &what, deadline);
            }
            ([id], OnMatch::Conflict) => {
                return Err(ConnectorError::conflict(format!(
                    "a {} with {} = {:?} already exists in the MIM Service: {id}",
                    t.name,
                    attr.name,
                    value.to_text()
                )));
            }
            (_, _) => {
                return Err(ConnectorError::conflict(format!(
                    "several {} objects have {} = {:?} in the MIM Service",
                    t.name,
                    attr.name,
                    value.to_text()
                )));
            }
        }
    }
    let mut body = json_object(&create);
    body.insert("ObjectType".into(), Value::String(t.name.clone()));
    let body = Value::Object(body);
    let url = http.url(&["resources"]);
    let req = Req::write(Method::POST, url.clone(), Some(&body), &what);
    let outcome = http.call(req.method.clone(), &req.url, req.body, req.repeat, deadline);
    let unsure = match outcome {
        Ok(reply) if reply.status == 202 => return pending(http, &reply, None, &what, deadline),
        Ok(reply) if (200..300).contains(&reply.status) => return created(&reply, &what),
        Ok(reply) if reply.status >= 500 && reply.status != 503 => {
            http.refused(&reply, Purpose::Write, &what)
        }
        Ok(reply) => return Err(http.refused(&reply, Purpose::Write, &what)),
        Err(lost @ Lost::NoAnswer(_)) => http.lost(lost, true, &what),
        Err(lost) => return Err(http.lost(lost, true, &what)),
    };
    // The create may or may not have run. With a matching value, look: the object the lost
    // call created is there, or nothing is and the create can be sent once more.
    let Some((attr, value)) = matching else {
        return Err(unsure);
    };
    if !unsure.is_retryable() || deadline.expired() {
        return Err(unsure);
    }
    match lookup(http, t, attr, value, deadline)?.as_slice() {
        [id] => {
            tracing::warn!(object_type = %t.name, %id, "the add's answer was lost; the object it created was found by {}", attr.name);
            Ok(applied_add(id.clone()))
        }
        [] => match http.call(req.method.clone(), &req.url, req.body, req.repeat, deadline) {
            Ok(reply) if reply.status == 202 => pending(http, &reply, None, &what, deadline),
            Ok(reply) if (200..300).contains(&reply.status) => created(&reply, &what),
            Ok(reply) => Err(http.refused(&reply, Purpose::Write, &what)),
            Err(lost) => Err(http.lost(lost, true, &what)),
        },
        _ => Err(unsure),
    }
}

fn applied_add(id: String) -> ExportOutcome {
    let mut outcome = ExportOutcome::anchor(Anchor(id.clone()));
    outcome
        .assigned
        .insert(OBJECT_ID.into(), vec![AttrValue::String(id)]);
    outcome
}

/// A 201: the ObjectID from `Location` (its last segment), else from the body.
fn created(reply: &Reply, what: &str) -> Result<ExportOutcome, ConnectorError> {
    let from_location = reply
        .header("location")
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next().and_then(guid));
    let id = from_location
        .or_else(|| {
            reply
                .json()
                .ok()?
                .get(OBJECT_ID)
                .and_then(Value::as_str)
                .and_then(guid)
        })
        .ok_or_else(|| {
            ConnectorError::unavailable(format!(
                "{what}: the REST API answered {} without the new ObjectID",
                reply.status
            ))
        })?;
    Ok(applied_add(id))
}

/// One PATCH; 2xx applied, 202 pending.
fn patch(
    http: &Http,
    id: &str,
    body: &Value,
    what: &str,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    if body.as_object().is_some_and(Map::is_empty) {
        return Ok(ExportOutcome::anchor(Anchor(id.to_owned())));
    }
    let context = format!("{what} {id}");
    let reply = http.expect(
        &Req::write(
            Method::PATCH,
            http.url(&["resources", id]),
            Some(body),
            &context,
        ),
        deadline,
    )?;
    if reply.status == 202 {
        return pending(http, &reply, Some(id.to_owned()), &context, deadline);
    }
    Ok(ExportOutcome::anchor(Anchor(id.to_owned())))
}

/// The current values of one attribute of an object.
fn current(
    http: &Http,
    t: &TypeModel,
    id: &str,
    attr: &Attr,
    deadline: Deadline,
) -> Result<Vec<AttrValue>, ConnectorError> {
    let context = format!("read {}.{} of {id}", t.name, attr.name);
    let mut req = Req::read(http.url(&["resources", id, &attr.name]), &context);
    // A missing object is the update's NotFound, not a misconfiguration.
    req.purpose = Purpose::Write;
    let reply = http.expect(&req, deadline)?;
    let json = reply.json()?;
    // The attribute route lists values as text: read them with the attribute's type.
    Ok(values_from_json(attr, &json))
}

fn is_value_route_change(t: &TypeModel, changes: &[AttributeChange]) -> bool {
    changes.iter().all(|c| match c {
        AttributeChange::Add { name, values } | AttributeChange::Remove { name, values } => {
            !values.is_empty()
                && t.attr(name)
                    .is_some_and(|a| a.multi && a.data_type == DataType::Reference)
        }
        _ => false,
    })
}

/// Exports an update.
pub(crate) fn update(
    http: &Http,
    t: &TypeModel,
    anchor: &Anchor,
    changes: &[AttributeChange],
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    deadline.check("the update")?;
    let id = object_id(t, anchor)?;
    for c in changes {
        t.writable(c.name())?;
    }
    if changes.is_empty() {
        return Ok(ExportOutcome::anchor(Anchor(id)));
    }
    if is_value_route_change(t, changes) {
        return value_routes(http, t, &id, changes, deadline);
    }
    // Fold the changes per attribute, starting from the current values where a change adds
    // or removes values.
    let mut sets: BTreeMap<String, (&Attr, Vec<AttrValue>)> = BTreeMap::new();
    for c in changes {
        let attr = t.writable(c.name())?;
        let key = attr.name.clone();
        match c {
            AttributeChange::Replace { values, .. } => {
                sets.insert(key, (attr, values.clone()));
            }
            AttributeChange::Clear { .. } => {
                sets.insert(key, (attr, Vec::new()));
            }
            AttributeChange::Add { values, .. } | AttributeChange::Remove { values, .. } => {
                if !sets.contains_key(&key) {
                    let now = current(http, t, &id, attr, deadline)?;
                    sets.insert(key.clone(), (attr, now));
                }
                if let Some((_, set)) = sets.get_mut(&key) {
                    if matches!(c, AttributeChange::Add { .. }) {
                        if !attr.multi {
                            set.clear();
                        }
                        for v in values {
                            if !set.iter().any(|x| same(attr, x, v)) {
                                set.push(v.clone());
                            }
                        }
                    } else {
                        set.retain(|x| !values.iter().any(|v| same(attr, x, v)));
                    }
                }
            }
        }
    }
    let mut body = Map::new();
    for (attr, values) in sets.values() {
        let json = set_json(attr, values).map_err(|e| rejected(format!("{}: {e}", t.name)))?;
        body.insert(attr.name.clone(), json);
    }
    patch(
        http,
        &id,
        &Value::Object(body),
        &format!("update {}", t.name),
        deadline,
    )
}

/// Value adds and removes on multi-valued references, one call per value.
fn value_routes(
    http: &Http,
    t: &TypeModel,
    id: &str,
    changes: &[AttributeChange],
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    let mut calls = Vec::new();
    for c in changes {
        let attr = t.writable(c.name())?;
        let (method, values) = match c {
            AttributeChange::Add { values, .. } => (Method::PUT, values),
            AttributeChange::Remove { values, .. } => (Method::DELETE, values),
            _ => continue,
        };
        for v in values {
            let Value::String(value) =
                to_json(attr, v).map_err(|e| rejected(format!("{}: {e}", t.name)))?
            else {
                continue;
            };
            calls.push((method.clone(), attr, value));
        }
    }
    let total = calls.len();
    let mut pending_requests = Vec::new();
    for (done, (method, attr, value)) in calls.into_iter().enumerate() {
        let verb = if method == Method::PUT {
            "add"
        } else {
            "remove"
        };
        let context = if done == 0 {
            format!("{verb} {value} to {}.{} of {id}", t.name, attr.name)
        } else {
            format!(
                "{verb} {value} to {}.{} of {id} ({done} of {total} value changes were already made)",
                t.name, attr.name
            )
        };
        let reply = http.expect(
            &Req::write(
                method,
                http.url(&["resources", id, &attr.name, &value]),
                None,
                &context,
            ),
            deadline,
        )?;
        if reply.status == 202 {
            pending_requests.push(pending_request(&reply).unwrap_or_default());
        }
    }
    if pending_requests.is_empty() {
        Ok(ExportOutcome::anchor(Anchor(id.to_owned())))
    } else {
        Ok(ExportOutcome::pending(
            Anchor(id.to_owned()),
            format!(
                "approval of MIM request(s) {} (update {} {id})",
                pending_requests.join(", "),
                t.name
            ),
        ))
    }
}

/// Exports a whole-object replace: every writable exposed attribute is set, absent ones
/// cleared.
pub(crate) fn replace(
    http: &Http,
    t: &TypeModel,
    anchor: &Anchor,
    attributes: &Attributes,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    deadline.check("the replace")?;
    let id = object_id(t, anchor)?;
    let given = body_of(t, attributes)?;
    let mut body = Map::new();
    for attr in t.attrs.values().filter(|a| a.writable) {
        let value = given
            .iter()
            .find(|(a, _)| a.name == attr.name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Array(Vec::new()));
        body.insert(attr.name.clone(), value);
    }
    patch(
        http,
        &id,
        &Value::Object(body),
        &format!("replace {}", t.name),
        deadline,
    )
}

/// Exports a delete.
pub(crate) fn delete(
    http: &Http,
    t: &TypeModel,
    anchor: &Anchor,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    deadline.check("the delete")?;
    let id = object_id(t, anchor)?;
    let context = format!("delete {} {id}", t.name);
    let req = Req::write(
        Method::DELETE,
        http.url(&["resources", &id]),
        None,
        &context,
    );
    let reply = http
        .call(req.method.clone(), &req.url, None, req.repeat, deadline)
        .map_err(|lost| http.lost(lost, false, &context))?;
    match reply.status {
        202 => pending(http, &reply, Some(id), &context, deadline),
        s if (200..300).contains(&s) => Ok(ExportOutcome::anchor(Anchor(id))),
        // An earlier attempt whose answer was lost deleted it.
        404 if reply.repeated => Ok(ExportOutcome::anchor(Anchor(id))),
        _ => Err(http.refused(&reply, Purpose::Write, &context)),
    }
}
