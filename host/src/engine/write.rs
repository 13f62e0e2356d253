//! Writes: create (POST), modify (PATCH, PUT) and delete, each turned into one [`Change`].
//!
//! PATCH is applied at the SCIM level (by `schemas::patch`, with Entra's quirks) to the resource
//! rendered from the connector space; the result is mapped back to connector attributes and
//! diffed against the stored object, so only what really changed is exported, whatever shape of
//! PATCH the client sent.
//!
//! Every write is first checked against what the binding holds ([`Binding::accept`]): a body,
//! a PATCH `path` or a patched resource carrying anything else is refused before anything is
//! written, or, where the connector's `ignore` list names it, accepted and dropped, which is
//! reported once the write succeeded (a warning per attribute, and a metric).

use std::collections::HashSet;
use std::sync::Arc;

use connector_core::{
    Anchor, AttrKind, AttrValue, AttributeChange, Attributes, Change, ExportStyle, ReferenceForm,
};
use schemas::patch::{PatchRequest, apply_patch};
use schemas::projection::Projection;
use schemas::quirks::normalize_resource;
use schemas::{ScimError, ScimType};
use serde_json::Value;

use super::binding::{Accepted, ActiveRule, Binding, PathVerdict};
use super::locks::ExportHold;
use super::{Runtime, blocking};
use crate::error::ApiError;
use crate::space::StoredObject;

/// The value a boolean flag has in a column of `kind`.
pub fn flag_value(kind: AttrKind, flag: bool) -> AttrValue {
    match kind {
        AttrKind::Integer => AttrValue::Integer(i64::from(flag)),
        AttrKind::String => AttrValue::String(flag.to_string()),
        _ => AttrValue::Boolean(flag),
    }
}

fn requested_active(resource: &Value) -> Option<bool> {
    resource.get("active").and_then(Value::as_bool)
}

fn lock_key(binding: &Binding, anchor: &str) -> String {
    format!("{}\u{0}{anchor}", binding.object_type)
}

/// The key that serialises creates claiming the same value of a unique attribute, normalised as
/// the space's index compares it (so `Alice` and `alice` meet when the index ignores case).
fn unique_key(rt: &Runtime, binding: &Binding, attribute: &str, value: &str) -> String {
    let case_exact = rt
        .space
        .index_spec()
        .find(&binding.object_type, attribute)
        .is_some_and(|a| a.case_exact);
    format!(
        "unique\u{0}{}\u{0}{attribute}\u{0}{}",
        binding.object_type,
        crate::space::normalise(value, case_exact)
    )
}

impl Runtime {
    /// POST: creates an object; returns the stored result.
    pub async fn create(
        self: &Arc<Self>,
        binding: &Binding,
        body: Value,
    ) -> Result<StoredObject, ApiError> {
        self.ensure_ready()?;
        let resource = normalize_resource(body, &binding.input)?;
        let accepted = binding.accept(&resource)?;
        let (mut attrs, dn) = binding.extract(&resource)?;
        if let ActiveRule::SetAttribute {
            attribute,
            disabled,
            kind,
        } = &binding.active
        {
            let active = requested_active(&resource).unwrap_or(true);
            let flag = if active { !*disabled } else { *disabled };
            attrs.insert(attribute.clone(), vec![flag_value(*kind, flag)]);
        }
        let caps = self.connector.capabilities();
        // A target that assigns anchors (an LDAP entryUUID, a MIM ObjectID) assigns them whether
        // or not the anchor attribute is exposed (in ecma2host mode every attribute is).
        let anchor = if caps.anchor_assigned_by_target {
            None
        } else if binding.anchor_is_mapped() {
            let a = attrs
                .get(&binding.anchor_attribute)
                .and_then(|v| v.first())
                .map(AttrValue::to_text)
                .ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "{} is the anchor of {} and needs a value",
                        binding.anchor_attribute, binding.object_type
                    ))
                })?;
            Some(Anchor(a))
        } else {
            let a = uuid::Uuid::new_v4().to_string();
            attrs.insert(
                binding.anchor_attribute.clone(),
                vec![AttrValue::String(a.clone())],
            );
            Some(Anchor(a))
        };

        let _create = self.create_lock.lock().await;
        let (guard, anchor) = match anchor {
            Some(a) => (
                Some(self.locks.lock(lock_key(binding, a.as_str())).await),
                Some(a),
            ),
            None => (None, None),
        };
        // Other hosts sharing the space: the same anchor and the same unique values.
        let mut shared_keys: Vec<String> = anchor
            .iter()
            .map(|a| lock_key(binding, a.as_str()))
            .collect();
        for attr in &binding.unique {
            if let Some(value) = attrs.get(attr).and_then(|v| v.first()) {
                shared_keys.push(unique_key(self, binding, attr, &value.to_text()));
            }
        }
        let hold = ExportHold::new(guard, self.lock_shared(shared_keys).await?);
        // Uniqueness against the connector space, before the target sees anything; then the
        // references, which must name objects the space holds. Both run in the export's own
        // blocking task, ahead of its intent: one trip to the blocking pool per create.
        let kind = binding.kind;
        let prepare = move |rt: &Runtime| {
            let binding = rt.binding(kind)?;
            let ot = &binding.object_type;
            if let Some(a) = &anchor
                && rt.space.get(ot, a)?.is_some()
            {
                return Err(ScimError::uniqueness(format!(
                    "an object of type {ot} with anchor {a:?} already exists"
                ))
                .into());
            }
            for attr in &binding.unique {
                let Some(value) = attrs
                    .get(attr)
                    .and_then(|v| v.first())
                    .map(AttrValue::to_text)
                else {
                    continue;
                };
                if rt.space.is_indexed(ot, attr) && !rt.space.lookup(ot, attr, &value)?.is_empty() {
                    return Err(ScimError::uniqueness(format!(
                        "{attr} {value:?} is already taken by another {ot}"
                    ))
                    .into());
                }
            }
            rt.references_to_target(binding, &mut attrs, None)?;
            Ok(Change::Add {
                object_type: ot.clone(),
                anchor,
                dn,
                attributes: attrs,
            })
        };
        let stored = self
            .export_prepared(prepare, None, hold)
            .await?
            .ok_or_else(|| ApiError::Internal("an add produced no object".into()))?;
        self.report_ignored(binding, &accepted);
        Ok(stored)
    }

    /// Reports what a successful write dropped because the connector ignores it: counted in
    /// the metrics, and a warning the first time each attribute is dropped.
    fn report_ignored(&self, binding: &Binding, accepted: &Accepted) {
        let resource = binding.kind.endpoint();
        for attribute in &accepted.ignored {
            if self.metrics.count_ignored(&self.name, resource, attribute) {
                tracing::warn!(
                    connector = %self.name,
                    resource,
                    attribute = %attribute,
                    "a write to {resource} carried {attribute}, which this connector's ignore list \
                     accepts and drops (warned once; connector_host_ignored_attributes_total counts each)"
                );
            }
        }
    }

    /// Loads an object for modification, taking its lock. An `If-Match` is checked here, on the
    /// version read under the lock, so no other write can slip in between the check and this
    /// one: a stale version is refused with 412 and nothing is written.
    async fn load_locked(
        self: &Arc<Self>,
        binding: &Binding,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(StoredObject, ExportHold), ApiError> {
        self.ensure_ready()?;
        let key = lock_key(binding, id);
        let guard = self.locks.lock(key.clone()).await;
        let hold = ExportHold::new(Some(guard), self.lock_shared(vec![key]).await?);
        // As GET: inline on the embedded space (cheaper than a trip to the blocking pool and
        // back), awaited on this runtime on a shared space.
        let stored = self
            .space
            .get_async(&binding.object_type, &Anchor(id.to_owned()))
            .await?
            .ok_or_else(|| not_found(binding, id))?;
        if let Some(wanted) = if_match
            && !super::etag_matches(wanted, &stored)
        {
            return Err(ApiError::PreconditionFailed(format!(
                "If-Match {wanted} does not match the current version {} of {} {id:?}; nothing \
                 was changed: read the resource again and retry",
                super::etag(&stored),
                binding.schema.name
            )));
        }
        Ok((stored, hold))
    }

    /// PATCH: applies the operations and exports what changed. Returns the stored result, or
    /// `None` when the object was deleted (disable configured as delete).
    pub async fn patch(
        self: &Arc<Self>,
        binding: &Binding,
        id: &str,
        body: Value,
        base_url: &str,
        if_match: Option<&str>,
    ) -> Result<(Option<StoredObject>, Value), ApiError> {
        let request = PatchRequest::from_value(body)?;
        // Operations on what the binding does not hold are refused, or dropped when ignored.
        let mut accepted = Accepted::default();
        let mut operations = Vec::with_capacity(request.operations.len());
        for (i, op) in request.operations.into_iter().enumerate() {
            if let Some(path) = &op.path {
                let verdict = binding.accept_path(path).map_err(|e| {
                    ScimError::new(
                        e.scim_type.unwrap_or(ScimType::InvalidPath),
                        format!("Operations[{i}]: {}", e.detail),
                    )
                })?;
                if let PathVerdict::Ignored(dropped) = verdict {
                    accepted.merge(dropped);
                    continue;
                }
            }
            operations.push(op);
        }
        let (stored, hold) = self.load_locked(binding, id, if_match).await?;
        let mut resource = self.render(binding, &stored, base_url);
        apply_patch(&mut resource, &operations, &binding.input)?;
        accepted.merge(binding.accept(&resource)?);
        let result = self.modify(binding, stored, resource, hold, false).await?;
        self.report_ignored(binding, &accepted);
        Ok(result)
    }

    /// PUT: replaces the object's mapped attributes with the body's.
    pub async fn replace(
        self: &Arc<Self>,
        binding: &Binding,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<(Option<StoredObject>, Value), ApiError> {
        let resource = normalize_resource(body, &binding.input)?;
        let accepted = binding.accept(&resource)?;
        let (stored, hold) = self.load_locked(binding, id, if_match).await?;
        let result = self.modify(binding, stored, resource, hold, true).await?;
        self.report_ignored(binding, &accepted);
        Ok(result)
    }

    async fn modify(
        self: &Arc<Self>,
        binding: &Binding,
        stored: StoredObject,
        resource: Value,
        hold: ExportHold,
        put: bool,
    ) -> Result<(Option<StoredObject>, Value), ApiError> {
        let (new_attrs, new_dn) = binding.extract(&resource)?;
        // References to the target's form (new ones must name objects the space holds); a
        // binding without references needs no trip to the blocking pool for that.
        let (new_attrs, stored) = if binding.has_references() {
            let rt = self.clone();
            let kind = binding.kind;
            blocking(move || {
                let mut new_attrs = new_attrs;
                let binding = rt.binding(kind)?;
                let known = &stored.object.attributes;
                rt.references_to_target(binding, &mut new_attrs, Some(known))?;
                rt.keep_unresolved_references(binding, &mut new_attrs, known);
                Ok((new_attrs, stored))
            })
            .await?
        } else {
            (new_attrs, stored)
        };
        let key = value_key(self.reference_form());
        let old = &stored.object;
        let mut changes = Vec::new();
        let mut names: Vec<&str> = binding.mapped_attributes().collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let before = old.values(name);
            let after: &[AttrValue] = new_attrs.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let before_keys: HashSet<String> = before.iter().map(key).collect();
            let after_keys: HashSet<String> = after.iter().map(key).collect();
            if before.len() == after.len() && before_keys == after_keys {
                continue;
            }
            // A secret is never stored, so one the request leaves out is unchanged, not cleared.
            if after.is_empty() && binding.secrets.iter().any(|s| s == name) {
                continue;
            }
            if name.eq_ignore_ascii_case(&binding.anchor_attribute) {
                // An anchor that is left out keeps its value; one that differs is a rename.
                if after.is_empty() {
                    continue;
                }
                return Err(ScimError::mutability(format!(
                    "{name} is the anchor of {}; it cannot change (id {:?})",
                    binding.object_type,
                    old.anchor.as_str()
                ))
                .into());
            }
            let multi = binding.is_multi_valued(name);
            if after.is_empty() {
                changes.push(AttributeChange::Clear {
                    name: name.to_owned(),
                });
            } else if multi {
                let add: Vec<_> = after
                    .iter()
                    .filter(|v| !before_keys.contains(&key(v)))
                    .cloned()
                    .collect();
                let remove: Vec<_> = before
                    .iter()
                    .filter(|v| !after_keys.contains(&key(v)))
                    .cloned()
                    .collect();
                if !add.is_empty() {
                    changes.push(AttributeChange::Add {
                        name: name.to_owned(),
                        values: add,
                    });
                }
                if !remove.is_empty() {
                    changes.push(AttributeChange::Remove {
                        name: name.to_owned(),
                        values: remove,
                    });
                }
            } else {
                changes.push(AttributeChange::Replace {
                    name: name.to_owned(),
                    values: after.to_vec(),
                });
            }
        }
        let was_active = binding.is_active(&old.attributes);
        let wants_active =
            requested_active(&resource).unwrap_or(if put { true } else { was_active });
        let mut delete = false;
        if was_active != wants_active {
            match &binding.active {
                ActiveRule::SetAttribute {
                    attribute,
                    disabled,
                    kind,
                } => {
                    let flag = if wants_active { !*disabled } else { *disabled };
                    changes.retain(|c| c.name() != attribute);
                    changes.push(AttributeChange::Replace {
                        name: attribute.clone(),
                        values: vec![flag_value(*kind, flag)],
                    });
                }
                ActiveRule::Delete if !wants_active => delete = true,
                _ => {}
            }
        }
        let new_dn = match (new_dn, &old.dn) {
            (Some(n), Some(o)) if !n.eq_ignore_ascii_case(o) => {
                if !self.connector.capabilities().renames {
                    return Err(ScimError::mutability(format!(
                        "the target of connector {} cannot rename objects; -dn- cannot change",
                        self.name
                    ))
                    .into());
                }
                Some(n)
            }
            _ => None,
        };
        if delete {
            let change = Change::Delete {
                object_type: binding.object_type.clone(),
                anchor: old.anchor.clone(),
            };
            let mut last = resource;
            if let Some(obj) = last.as_object_mut() {
                obj.insert("active".into(), Value::Bool(false));
            }
            // What the request carried that is never returned (a password) goes.
            Projection::default().apply(&mut last, &binding.schema);
            self.export(change, Some(stored), hold).await?;
            return Ok((None, last));
        }
        if changes.is_empty() && new_dn.is_none() {
            let unchanged = resource;
            return Ok((Some(stored), unchanged));
        }
        let change = match self.connector.capabilities().export_style {
            ExportStyle::AttributeUpdate => Change::Update {
                object_type: binding.object_type.clone(),
                anchor: old.anchor.clone(),
                new_dn,
                changes,
            },
            ExportStyle::ObjectReplace => {
                let mut attrs: Attributes = old.attributes.clone();
                for c in &changes {
                    c.apply_to(&mut attrs);
                }
                Change::Replace {
                    object_type: binding.object_type.clone(),
                    anchor: old.anchor.clone(),
                    dn: new_dn.or_else(|| old.dn.clone()),
                    attributes: attrs,
                }
            }
        };
        let after = self.export(change, Some(stored), hold).await?;
        Ok((after, resource))
    }

    /// DELETE: deletes the object at the target (or, with `delete = "none"`, only checks that it
    /// exists).
    pub async fn delete(
        self: &Arc<Self>,
        binding: &Binding,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError> {
        let (stored, hold) = self.load_locked(binding, id, if_match).await?;
        if !self.deletes() {
            tracing::info!(connector = %self.name, anchor = id, "DELETE ignored: deprovision.delete = \"none\"");
            return Ok(());
        }
        let change = Change::Delete {
            object_type: binding.object_type.clone(),
            anchor: stored.object.anchor.clone(),
        };
        self.export(change, Some(stored), hold).await?;
        Ok(())
    }
}

/// 404 for an id this binding does not know.
pub fn not_found(binding: &Binding, id: &str) -> ApiError {
    ApiError::NotFound(format!("no {} with id {id:?}", binding.schema.name))
}

/// What two values are compared by when diffing: their text, and references in DN form
/// regardless of case (a DN the target reported may be spelt differently from the referenced
/// object's). Keys go into hash sets, so a group of 50,000 members diffs in linear time.
fn value_key(form: ReferenceForm) -> fn(&AttrValue) -> String {
    match form {
        ReferenceForm::Anchor => AttrValue::to_text,
        ReferenceForm::Dn => |v| match v {
            AttrValue::Reference(x) => x.to_lowercase(),
            _ => v.to_text(),
        },
    }
}
