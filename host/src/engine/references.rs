//! References (`manager`, group `members`) translated at the engine's edges (contract v2).
//!
//! A SCIM client names a referenced object by its SCIM id (the object's anchor); a connector
//! names it in its own [`ReferenceForm`]: by anchor (SQL keys, MIM ObjectIDs) or by DN (LDAP).
//! The connector space stores references as the connector reports them. So the engine
//! translates through the space in both directions, and a connector never sees a SCIM id:
//! - on the way in, each id must name an object the space holds (a user or group of this
//!   connector), else the request is refused with `invalidValue`; in DN form the id becomes
//!   that object's DN;
//! - on the way out, a stored reference becomes the id of the object it names; in DN form, one
//!   naming an object the space does not hold is left out of the resource (and kept at the
//!   target by a later PATCH, see `write`).

use std::collections::HashSet;

use connector_core::{Anchor, AttrKind, AttrValue, Attributes, ReferenceForm};
use schemas::ScimError;

use super::Runtime;
use super::binding::{Binding, ConnectorSide};
use crate::error::ApiError;
use crate::space::StoredObject;

impl Runtime {
    /// How this connector names referenced objects.
    pub(crate) fn reference_form(&self) -> ReferenceForm {
        self.connector.capabilities().reference_form
    }

    /// The object types a reference can name: the bound users and groups.
    fn referable_types(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.users.object_type.as_str())
            .chain(self.groups.iter().map(|g| g.object_type.as_str()))
    }

    /// The stored object a SCIM id names, among the referable types. Blocking.
    fn referenced_by_id(&self, id: &str) -> Result<Option<StoredObject>, ApiError> {
        let anchor = Anchor(id.to_owned());
        for t in self.referable_types() {
            if let Some(o) = self.space.get(t, &anchor)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// The value a reference to SCIM id `id` has at the target, or `None` when the space holds
    /// no such object. Blocking.
    pub(crate) fn reference_for_id(&self, id: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .referenced_by_id(id)?
            .and_then(|found| self.reference_value(found)))
    }

    /// [`reference_for_id`](Self::reference_for_id) for an async caller.
    pub(crate) async fn reference_for_id_async(
        &self,
        id: &str,
    ) -> Result<Option<String>, ApiError> {
        let anchor = Anchor(id.to_owned());
        for t in self.referable_types() {
            if let Some(found) = self.space.get_async(t, &anchor).await? {
                return Ok(self.reference_value(found));
            }
        }
        Ok(None)
    }

    /// How the connector names `found` in a reference.
    fn reference_value(&self, found: StoredObject) -> Option<String> {
        match self.reference_form() {
            ReferenceForm::Anchor => Some(found.object.anchor.0),
            ReferenceForm::Dn => found.object.dn,
        }
    }

    /// The SCIM id of the object a stored reference names, or `None` when the space does not
    /// hold it. By anchor this needs no lookup: the id is the anchor.
    pub(crate) fn id_for_reference(&self, value: &str) -> Option<String> {
        match self.reference_form() {
            ReferenceForm::Anchor => Some(value.to_owned()),
            ReferenceForm::Dn => self.referable_types().find_map(|t| {
                match self.space.get_by_dn(t, value) {
                    Ok(found) => found.map(|o| o.object.anchor.0),
                    Err(e) => {
                        tracing::warn!(connector = %self.name, error = %e, "cannot resolve a reference");
                        None
                    }
                }
            }),
        }
    }

    /// Replaces the SCIM ids in `binding`'s reference attributes of `attrs` by the connector's
    /// form. Values also in `known` (the object's stored state) are taken as they are. An id
    /// that names nothing the space holds is refused. Blocking.
    pub(crate) fn references_to_target(
        &self,
        binding: &Binding,
        attrs: &mut Attributes,
        known: Option<&Attributes>,
    ) -> Result<(), ApiError> {
        let form = self.reference_form();
        for f in binding
            .fields
            .iter()
            .filter(|f| f.kind == AttrKind::Reference)
        {
            let ConnectorSide::Attribute(name) = &f.connector else {
                continue;
            };
            let Some(values) = attrs.get_mut(name) else {
                continue;
            };
            let stored: HashSet<&str> = known
                .and_then(|k| k.get(name))
                .map(|s| s.iter().filter_map(AttrValue::as_str).collect())
                .unwrap_or_default();
            // By anchor, the ids are the target's values: one batched read says which exist.
            let existing = if form == ReferenceForm::Anchor {
                let types: Vec<&str> = self.referable_types().collect();
                let new_ids = values.iter().filter_map(|v| match v {
                    AttrValue::Reference(id) if !stored.contains(id.as_str()) => Some(id.as_str()),
                    _ => None,
                });
                Some(self.space.existing_anchors(&types, new_ids)?)
            } else {
                None
            };
            for v in values.iter_mut() {
                let AttrValue::Reference(id) = v else {
                    continue;
                };
                let unknown = || {
                    ScimError::invalid_value(format!(
                        "{} refers to {id:?}, which is no user or group of connector {}",
                        f.scim, self.name
                    ))
                };
                match &existing {
                    Some(existing) => {
                        if !stored.contains(id.as_str()) && !existing.contains(id.as_str()) {
                            return Err(unknown().into());
                        }
                    }
                    None => {
                        let target = self.reference_for_id(id)?.ok_or_else(unknown)?;
                        *v = AttrValue::Reference(target);
                    }
                }
            }
        }
        Ok(())
    }

    /// In DN form, keeps the stored references that name objects the space does not hold:
    /// they were left out of the rendered resource, so a PATCH could not have meant to remove
    /// them.
    pub(crate) fn keep_unresolved_references(
        &self,
        binding: &Binding,
        attrs: &mut Attributes,
        stored: &Attributes,
    ) {
        if self.reference_form() != ReferenceForm::Dn {
            return;
        }
        for f in binding
            .fields
            .iter()
            .filter(|f| f.kind == AttrKind::Reference)
        {
            let ConnectorSide::Attribute(name) = &f.connector else {
                continue;
            };
            let unresolved: Vec<AttrValue> = stored
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .filter(|v| {
                    v.as_str()
                        .is_some_and(|r| self.id_for_reference(r).is_none())
                })
                .cloned()
                .collect();
            if !unresolved.is_empty() {
                attrs.entry(name.clone()).or_default().extend(unresolved);
            }
        }
    }
}
