//! Exports: a change is checked against the script's own schema, then sent as one `export`
//! message — or, for a script that sets passwords separately (`passwords: "separate"`, PSMA's
//! Password.ps1), as an `export` without its secrets plus one `setPassword` per secret.
//!
//! Secret values are exposed ([`Secret::expose`]) only while the message that carries them is
//! built, and handed to the worker as the call's redaction list so that nothing the script logs
//! during the call can show them.

use std::sync::Arc;

use connector_core::{
    AttrKind, AttrValue, AttributeChange, Attributes, Change, ConnectorError, Deadline, Direction,
    ExportOutcome, ObjectTypeSchema, Secret,
};
use serde_json::{Map, Value};

use crate::import::warn_dropped;
use crate::pool::{Effect, Inner};
use crate::protocol::{self, ExportStyleName, PasswordMode};

/// Exports one change.
pub(crate) fn export(
    inner: &Arc<Inner>,
    ot: &ObjectTypeSchema,
    change: &Change,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    validate(ot, change)?;
    let replaced;
    let change = match change {
        Change::Update { .. }
            if inner.capabilities.export_style == ExportStyleName::ObjectReplace =>
        {
            replaced = update_as_replace(inner, ot, change, deadline)?;
            &replaced
        }
        _ => change,
    };
    if inner.capabilities.passwords == PasswordMode::Separate && change.carries_secrets() {
        return export_with_separate_passwords(inner, ot, change, deadline);
    }
    send_export(inner, ot, change, deadline)
}

/// A script that takes whole objects (`exportStyle: "objectReplace"`, as every PSMA script)
/// gets an attribute-level update as a `replace`: the object is read, the changes applied, and
/// the result sent. The host serialises exports to one anchor, so nothing of ours interleaves.
fn update_as_replace(
    inner: &Arc<Inner>,
    ot: &ObjectTypeSchema,
    change: &Change,
    deadline: Deadline,
) -> Result<Change, ConnectorError> {
    let Change::Update {
        object_type,
        anchor,
        new_dn,
        changes,
    } = change
    else {
        return Ok(change.clone());
    };
    let schema = connector_core::ConnectorSchema {
        object_types: vec![ot.clone()],
    };
    let mut object = crate::import::read_object(inner, &schema, &ot.name, anchor, deadline)?
        .ok_or_else(|| ConnectorError::not_found(format!("{} {anchor} does not exist", ot.name)))?;
    // Import-only attributes are the target's own; a replace does not carry them.
    object.attributes.retain(|name, _| {
        ot.attribute(name)
            .is_some_and(|a| a.direction != Direction::Import)
    });
    for c in changes {
        c.apply_to(&mut object.attributes);
    }
    Ok(Change::Replace {
        object_type: object_type.clone(),
        anchor: anchor.clone(),
        dn: new_dn.clone().or(object.dn),
        attributes: object.attributes,
    })
}

fn send_export(
    inner: &Arc<Inner>,
    ot: &ObjectTypeSchema,
    change: &Change,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    let secrets = secrets_of(change);
    let exposed: Vec<&str> = secrets.iter().map(|(_, s)| s.expose()).collect();
    let mut body = Map::new();
    body.insert("change".into(), protocol::encode_change(change));
    let result = inner.call("export", body, deadline, Effect::Write, &exposed)?;
    let mut dropped = Vec::new();
    let outcome = protocol::decode_outcome(ot, change, result, &mut dropped).map_err(|e| {
        ConnectorError::timeout(format!(
            "the script's export answer is invalid ({}), so whether the target holds the change is unknown",
            inner.redact(&e)
        ))
    })?;
    warn_dropped(inner, &dropped);
    Ok(outcome)
}

/// Passwords set apart from the export: on an add after it (a failure deletes the object
/// again, so the add leaves nothing), on an update or replace before it (a refused password
/// leaves the object unchanged).
fn export_with_separate_passwords(
    inner: &Arc<Inner>,
    ot: &ObjectTypeSchema,
    change: &Change,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    let (rest, secrets) = split_secrets(change);
    match change {
        Change::Add { .. } => {
            let outcome = send_export(inner, ot, &rest, deadline)?;
            if outcome.is_pending() {
                tracing::warn!(connector = %inner.name, anchor = %outcome.anchor,
                    "the add is pending at the target, so its password is not set");
                return Ok(outcome);
            }
            for (attribute, secret) in &secrets {
                let set = set_password(
                    inner,
                    ot,
                    &outcome.anchor,
                    outcome.dn.as_deref(),
                    attribute,
                    secret,
                    deadline,
                );
                if let Err(e) = set {
                    let undo = send_export(
                        inner,
                        ot,
                        &Change::Delete {
                            object_type: ot.name.clone(),
                            anchor: outcome.anchor.clone(),
                        },
                        deadline,
                    );
                    return Err(e.with_more_detail(&match undo {
                            Ok(_) => " (the object added without it was deleted again)".into(),
                            Err(u) => format!(
                                " (the object {} was added without it and could not be deleted again: {u})",
                                outcome.anchor
                            ),
                        },
                    ));
                }
            }
            Ok(outcome)
        }
        Change::Update { anchor, new_dn, .. } => {
            for (attribute, secret) in &secrets {
                set_password(inner, ot, anchor, None, attribute, secret, deadline)?;
            }
            let Change::Update { changes: left, .. } = &rest else {
                return Err(ConnectorError::misconfigured(
                    "split changed the change kind",
                ));
            };
            if left.is_empty() && new_dn.is_none() {
                return Ok(ExportOutcome::anchor(anchor.clone()));
            }
            after_passwords(send_export(inner, ot, &rest, deadline))
        }
        Change::Replace { anchor, .. } => {
            for (attribute, secret) in &secrets {
                set_password(inner, ot, anchor, None, attribute, secret, deadline)?;
            }
            after_passwords(send_export(inner, ot, &rest, deadline))
        }
        Change::Delete { .. } => send_export(inner, ot, change, deadline),
    }
}

fn after_passwords(
    r: Result<ExportOutcome, ConnectorError>,
) -> Result<ExportOutcome, ConnectorError> {
    r.map_err(|e| e.with_more_detail(" (the password was already set)"))
}

fn set_password(
    inner: &Arc<Inner>,
    ot: &ObjectTypeSchema,
    anchor: &connector_core::Anchor,
    dn: Option<&str>,
    attribute: &str,
    secret: &Secret,
    deadline: Deadline,
) -> Result<(), ConnectorError> {
    let mut body = Map::new();
    body.insert("objectType".into(), Value::from(ot.name.as_str()));
    body.insert("anchor".into(), Value::from(anchor.as_str()));
    body.insert("dn".into(), dn.map_or(Value::Null, Value::from));
    body.insert("attribute".into(), Value::from(attribute));
    body.insert("password".into(), Value::from(secret.expose()));
    inner
        .call(
            "setPassword",
            body,
            deadline,
            Effect::Write,
            &[secret.expose()],
        )
        .map(|_| ())
}

/// Every secret value in a change, with its attribute.
fn secrets_of(change: &Change) -> Vec<(String, Secret)> {
    let mut out = Vec::new();
    let mut take = |name: &str, values: &[AttrValue]| {
        for v in values {
            if let AttrValue::Secret(s) = v {
                out.push((name.to_owned(), s.clone()));
            }
        }
    };
    match change {
        Change::Add { attributes, .. } | Change::Replace { attributes, .. } => {
            for (name, values) in attributes {
                take(name, values);
            }
        }
        Change::Update { changes, .. } => {
            for c in changes {
                match c {
                    AttributeChange::Replace { name, values }
                    | AttributeChange::Add { name, values }
                    | AttributeChange::Remove { name, values } => take(name, values),
                    AttributeChange::Clear { .. } => {}
                }
            }
        }
        Change::Delete { .. } => {}
    }
    out
}

/// The change without its secret values, and the secrets to set.
fn split_secrets(change: &Change) -> (Change, Vec<(String, Secret)>) {
    let secrets = secrets_of(change);
    let strip = |attributes: &Attributes| {
        let mut a = attributes.clone();
        connector_core::strip_secrets(&mut a);
        a
    };
    let rest = match change {
        Change::Add {
            object_type,
            anchor,
            dn,
            attributes,
        } => Change::Add {
            object_type: object_type.clone(),
            anchor: anchor.clone(),
            dn: dn.clone(),
            attributes: strip(attributes),
        },
        Change::Replace {
            object_type,
            anchor,
            dn,
            attributes,
        } => Change::Replace {
            object_type: object_type.clone(),
            anchor: anchor.clone(),
            dn: dn.clone(),
            attributes: strip(attributes),
        },
        Change::Update {
            object_type,
            anchor,
            new_dn,
            changes,
        } => Change::Update {
            object_type: object_type.clone(),
            anchor: anchor.clone(),
            new_dn: new_dn.clone(),
            changes: changes
                .iter()
                .filter(|c| match c {
                    AttributeChange::Replace { values, .. }
                    | AttributeChange::Add { values, .. }
                    | AttributeChange::Remove { values, .. } => {
                        !values.iter().any(AttrValue::is_secret)
                    }
                    AttributeChange::Clear { .. } => true,
                })
                .cloned()
                .collect(),
        },
        Change::Delete { .. } => change.clone(),
    };
    (rest, secrets)
}

/// Refuses what the script's schema does not allow, so no script has to: unknown attributes,
/// import-only ones, values of the wrong type, several values for a single-valued attribute.
fn validate(ot: &ObjectTypeSchema, change: &Change) -> Result<(), ConnectorError> {
    let check = |name: &str, values: &[AttrValue]| -> Result<(), ConnectorError> {
        let a = ot.attribute(name).ok_or_else(|| {
            ConnectorError::rejected(format!(
                "attribute {name} is not in the schema of {}",
                ot.name
            ))
        })?;
        if a.direction == Direction::Import {
            return Err(ConnectorError::rejected(format!(
                "attribute {name} is import-only"
            )));
        }
        if values.len() > 1 && !a.multi_valued {
            return Err(ConnectorError::rejected(format!(
                "attribute {name} is single-valued but the change has {} values",
                values.len()
            )));
        }
        for v in values {
            let fits = matches!(
                (a.kind, v),
                (AttrKind::String, AttrValue::String(_))
                    | (AttrKind::Integer, AttrValue::Integer(_))
                    | (AttrKind::Boolean, AttrValue::Boolean(_))
                    | (AttrKind::DateTime, AttrValue::DateTime(_))
                    | (AttrKind::Binary, AttrValue::Binary(_))
                    | (
                        AttrKind::Reference,
                        AttrValue::Reference(_) | AttrValue::String(_)
                    )
                    | (AttrKind::Secret, AttrValue::Secret(_))
            );
            if !fits {
                return Err(ConnectorError::rejected(format!(
                    "attribute {name} takes {:?} values; the change has another type",
                    a.kind
                )));
            }
        }
        Ok(())
    };
    match change {
        Change::Add { attributes, .. } | Change::Replace { attributes, .. } => {
            for (name, values) in attributes {
                check(name, values)?;
            }
        }
        Change::Update { changes, .. } => {
            for c in changes {
                match c {
                    AttributeChange::Replace { name, values }
                    | AttributeChange::Add { name, values }
                    | AttributeChange::Remove { name, values } => check(name, values)?,
                    AttributeChange::Clear { name } => check(name, &[])?,
                }
            }
        }
        Change::Delete { .. } => {}
    }
    Ok(())
}
