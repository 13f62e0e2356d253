//! Changes → LDAP operations.
//!
//! - **Add**: the DN from the change or the object type's template, the configured object
//!   classes and the attributes; the anchor comes back in the same round trip through the
//!   Post-Read control (RFC 4527) where the server offers it, else from a base search.
//! - **Update**: a search by anchor for the current DN, a modify DN when the change renames
//!   (`new_dn`, or a new value of an attribute the DN template uses), then one modify with
//!   value-level add/delete/replace. `Clear` is a replace with no values. A group's members are
//!   changed value by value: the modify carries only the members added or removed, never the
//!   list. With the permissive modify control (where offered), adding a value that is there or
//!   removing one that is not succeeds, so a retried membership change is idempotent.
//! - **Replace**: every writable exposed attribute is replaced; those left out are emptied
//!   (except the naming attribute of the current RDN and the password).
//! - **Delete**: a search by anchor, then a delete.
//! - **Passwords**: in the add or modify, or with the Password Modify extended operation
//!   (RFC 3062) after it (`password_mode = "password_modify"`); never logged, never echoed.
//!
//! A change is one add, one modify or one delete, each atomic at the server. A rename plus a
//! modify is two operations: if the modify fails the rename is undone; an add whose Password
//! Modify fails is deleted again. Only an update that both changes attributes and sets a
//! password with `password_modify` can fail half-way (the error says so).

use std::collections::{BTreeSet, HashSet};

use connector_core::{
    AttrValue, AttributeChange, Attributes, Change, ConnectorError, ExportOutcome, Secret,
};
use ldap3::controls::{PostRead, PostReadResp, RawControl};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, Mod, Scope};

use crate::config::{AnchorConfig, LdapConfig, PasswordMode};
use crate::dn::{self, Dn};
use crate::entry::{self, Entry};
use crate::errors::{self, Op};
use crate::schema::{AttrModel, Model, ObjectModel, oid};
use crate::value;

/// What an export needs to know.
pub struct Ctx<'a> {
    pub config: &'a LdapConfig,
    pub model: &'a Model,
    pub obj: &'a ObjectModel,
}

type Bytes = Vec<u8>;

/// Runs one change.
pub async fn apply(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    change: &Change,
) -> Result<ExportOutcome, ConnectorError> {
    match change {
        Change::Add { dn, attributes, .. } => add(ldap, ctx, dn.as_deref(), attributes).await,
        Change::Update {
            anchor,
            new_dn,
            changes,
            ..
        } => update(ldap, ctx, anchor.as_str(), new_dn.as_deref(), changes).await,
        Change::Replace {
            anchor,
            dn,
            attributes,
            ..
        } => replace(ldap, ctx, anchor.as_str(), dn.as_deref(), attributes).await,
        Change::Delete { anchor, .. } => delete(ldap, ctx, anchor.as_str()).await,
    }
}

/// The exposed, writable attribute called `name`, or why not.
fn writable<'m>(obj: &'m ObjectModel, name: &str) -> Result<&'m AttrModel, ConnectorError> {
    let attr = obj.attribute(name).ok_or_else(|| {
        ConnectorError::rejected(format!(
            "attribute {name} is not in the schema of object type {}",
            obj.name
        ))
    })?;
    if !attr.writable() {
        return Err(ConnectorError::rejected(format!(
            "attribute {} of object type {} is read-only",
            attr.name, obj.name
        )));
    }
    Ok(attr)
}

fn secret_of(values: &[AttrValue], attr: &AttrModel) -> Result<Option<Secret>, ConnectorError> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(match one {
            AttrValue::Secret(s) => s.clone(),
            other => Secret::new(other.to_text()),
        })),
        _ => Err(ConnectorError::rejected(format!(
            "{} takes one password, not {}",
            attr.name,
            values.len()
        ))),
    }
}

/// Refuses several values for a single-valued attribute (before the server does, with a
/// clearer message).
fn check_arity(values: &[AttrValue], attr: &AttrModel) -> Result<(), ConnectorError> {
    if !attr.multi_valued && !attr.is_secret() && values.len() > 1 {
        return Err(ConnectorError::rejected(format!(
            "{} is single-valued but the change gives it {} values",
            attr.name,
            values.len()
        )));
    }
    Ok(())
}

fn bytes(values: &[AttrValue], attr: &AttrModel) -> HashSet<Bytes> {
    values
        .iter()
        .map(|v| value::export_bytes(v, &attr.name))
        .collect()
}

fn post_read_anchor(res: &ldap3::LdapResult, anchor: &AnchorConfig) -> Option<Vec<u8>> {
    let raw = entry::response_control(res, oid::POST_READ)?;
    let resp: PostReadResp = raw.parse();
    Entry::from_maps(String::new(), resp.attrs, resp.bin_attrs)
        .get(anchor.attribute())
        .first()
        .cloned()
}

async fn set_password(ldap: &mut Ldap, dn: &str, password: &Secret) -> Result<(), ConnectorError> {
    let exop = PasswordModify {
        user_id: Some(dn),
        old_pass: None,
        new_pass: Some(password.expose()),
    };
    ldap.extended(exop)
        .await
        .and_then(|r| r.success())
        .map(|_| ())
        .map_err(|e| errors::from_ldap(Op::Extended, dn, e))
}

async fn add(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    dn: Option<&str>,
    attributes: &Attributes,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let mut entry: Vec<(Bytes, HashSet<Bytes>)> = vec![(
        b"objectClass".to_vec(),
        obj.object_classes
            .iter()
            .map(|c| c.as_bytes().to_vec())
            .collect(),
    )];
    let mut password = None;
    for (name, values) in attributes {
        let attr = writable(obj, name)?;
        check_arity(values, attr)?;
        if values.is_empty() {
            continue;
        }
        if attr.is_secret() && ctx.config.password_mode == PasswordMode::PasswordModify {
            password = secret_of(values, attr)?;
            continue;
        }
        entry.push((attr.wire.as_bytes().to_vec(), bytes(values, attr)));
    }
    let dn = match dn {
        Some(dn) => dn.to_owned(),
        None => obj
            .template
            .render(|a| {
                attributes
                    .iter()
                    .find(|(k, _)| {
                        k.eq_ignore_ascii_case(a)
                            || obj
                                .attribute(k)
                                .is_some_and(|m| m.name.eq_ignore_ascii_case(a))
                    })
                    .and_then(|(_, v)| v.first())
                    .map(AttrValue::to_text)
            })
            .map_err(|a| {
                ConnectorError::rejected(format!(
                    "the DN of a new {} needs a value for {a}",
                    obj.name
                ))
            })?,
    };
    let anchor_config = &ctx.config.anchor;
    let post_read = !matches!(anchor_config, AnchorConfig::Dn)
        && ctx.model.server.supports_control(oid::POST_READ);
    if post_read {
        ldap.with_controls(PostRead::new(vec![anchor_config.attribute()]));
    }
    let res = ldap
        .add(&dn, entry)
        .await
        .map_err(|e| errors::from_ldap(Op::Add, &dn, e))?;
    if res.rc != 0 {
        return Err(errors::from_result(Op::Add, &dn, &res));
    }
    if let Some(p) = &password
        && let Err(e) = set_password(ldap, &dn, p).await
    {
        let undone = ldap.delete(&dn).await.and_then(|r| r.success()).is_ok();
        return Err(e.with_more_detail(if undone {
            " (the entry was added, then deleted again)"
        } else {
            " (the entry was added and could not be deleted again)"
        }));
    }
    let raw = if post_read {
        post_read_anchor(&res, anchor_config)
    } else {
        None
    };
    let anchor = match raw {
        Some(raw) => value::anchor_text(anchor_config, &dn, Some(&raw)),
        None => {
            let (mut found, _) = entry::search(
                ldap,
                &dn,
                Scope::Base,
                "(objectClass=*)",
                &[anchor_config.attribute().to_owned()],
                vec![],
            )
            .await?;
            found.pop().and_then(|e| e.anchor(anchor_config).ok())
        }
    }
    .ok_or_else(|| {
        ConnectorError::misconfigured(format!(
            "{dn} was added but its {anchor_config} cannot be read back"
        ))
    })?;
    let mut outcome = ExportOutcome::anchor(anchor.clone().into());
    outcome.dn = Some(dn);
    outcome.assigned.insert(
        obj.schema.anchor_attribute.clone(),
        vec![AttrValue::String(anchor)],
    );
    Ok(outcome)
}

fn not_found(obj: &ObjectModel, anchor: &str) -> ConnectorError {
    ConnectorError::not_found(format!("no {} with anchor {anchor}", obj.name))
}

/// The attributes the DN template uses (what a lookup must return to compute a rename).
fn template_attributes(obj: &ObjectModel) -> Vec<String> {
    obj.template
        .attributes()
        .iter()
        .map(|a| {
            obj.attribute(a)
                .map_or_else(|| (*a).to_owned(), |m| m.name.clone())
        })
        .collect()
}

/// Renames `current` to `target` when they differ; returns whether it did.
async fn rename(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    current: &str,
    target: &str,
) -> Result<bool, ConnectorError> {
    if dn::same_dn(current, target) {
        return Ok(false);
    }
    if matches!(ctx.config.anchor, AnchorConfig::Dn) {
        return Err(ConnectorError::rejected(format!(
            "{current} cannot be renamed to {target}: with anchor = \"dn\" the DN is the anchor, which never changes"
        )));
    }
    let (Some(from), Some(to)) = (Dn::parse(current), Dn::parse(target)) else {
        return Err(ConnectorError::rejected(format!(
            "{target:?} is not a valid DN"
        )));
    };
    let new_sup = if dn::same_dn(&from.parent(), &to.parent()) {
        None
    } else {
        Some(to.parent())
    };
    ldap.modifydn(current, &to.rdn(), true, new_sup.as_deref())
        .await
        .and_then(|r| r.success())
        .map_err(|e| errors::from_ldap(Op::Rename, current, e))?;
    Ok(true)
}

/// Undoes a rename after a later step failed (best effort) and returns the error.
async fn undo_rename(
    ldap: &mut Ldap,
    renamed: &str,
    original: &str,
    e: ConnectorError,
) -> ConnectorError {
    let (Some(now), Some(before)) = (Dn::parse(renamed), Dn::parse(original)) else {
        return e;
    };
    let new_sup = if dn::same_dn(&now.parent(), &before.parent()) {
        None
    } else {
        Some(before.parent())
    };
    match ldap
        .modifydn(renamed, &before.rdn(), true, new_sup.as_deref())
        .await
        .and_then(|r| r.success())
    {
        Ok(_) => e,
        Err(_) => e.with_more_detail(&format!(" (the entry stays renamed to {renamed})")),
    }
}

async fn modify(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    dn: &str,
    mods: Vec<Mod<Bytes>>,
) -> Result<(), ConnectorError> {
    let _ = ctx;
    if mods.is_empty() {
        return Ok(());
    }
    let res = send_modify(ldap, dn, mods.clone()).await?;
    if res.rc == 0 {
        return Ok(());
    }
    // attributeOrValueExists / noSuchAttribute: a value added that is there, or removed that is
    // not (a retried membership change, a change made behind our back). Drop those values,
    // checked one by one with compare, and send the rest once more: value changes are
    // idempotent, whether or not the server honours the permissive modify control.
    if matches!(res.rc, 16 | 20) {
        let mut kept = Vec::with_capacity(mods.len());
        let mut dropped = false;
        for m in mods {
            match m {
                Mod::Add(attr, values) => {
                    let mut missing = HashSet::new();
                    for v in values {
                        if has_value(ldap, dn, &attr, &v).await? {
                            dropped = true;
                        } else {
                            missing.insert(v);
                        }
                    }
                    if !missing.is_empty() {
                        kept.push(Mod::Add(attr, missing));
                    }
                }
                Mod::Delete(attr, values) if !values.is_empty() => {
                    let mut present = HashSet::new();
                    for v in values {
                        if has_value(ldap, dn, &attr, &v).await? {
                            present.insert(v);
                        } else {
                            dropped = true;
                        }
                    }
                    if !present.is_empty() {
                        kept.push(Mod::Delete(attr, present));
                    }
                }
                other => kept.push(other),
            }
        }
        if dropped {
            if kept.is_empty() {
                return Ok(());
            }
            let again = send_modify(ldap, dn, kept).await?;
            if again.rc == 0 {
                return Ok(());
            }
            return Err(errors::from_result(Op::Modify, dn, &again));
        }
    }
    Err(errors::from_result(Op::Modify, dn, &res))
}

async fn send_modify(
    ldap: &mut Ldap,
    dn: &str,
    mods: Vec<Mod<Bytes>>,
) -> Result<ldap3::LdapResult, ConnectorError> {
    // Not critical: a server that does not know it ignores it.
    ldap.with_controls(RawControl {
        ctype: oid::PERMISSIVE_MODIFY.to_owned(),
        crit: false,
        val: None,
    });
    ldap.modify(dn, mods)
        .await
        .map_err(|e| errors::from_ldap(Op::Modify, dn, e))
}

/// Whether the entry holds this value (an LDAP compare; an absent attribute is `false`).
async fn has_value(
    ldap: &mut Ldap,
    dn: &str,
    attr: &[u8],
    value: &[u8],
) -> Result<bool, ConnectorError> {
    let attr = String::from_utf8_lossy(attr).into_owned();
    let res = ldap
        .compare(dn, &attr, value)
        .await
        .map_err(|e| errors::from_ldap(Op::Search, dn, e))?;
    match res.0.rc {
        6 => Ok(true),
        5 | 16 => Ok(false),
        _ => Err(errors::from_result(Op::Search, dn, &res.0)),
    }
}

async fn update(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    anchor: &str,
    new_dn: Option<&str>,
    changes: &[AttributeChange],
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let mut mods = Vec::new();
    let mut password = None;
    let mut touches_template = false;
    let template_names = template_attributes(obj);
    let template: BTreeSet<String> = template_names
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    for change in changes {
        let attr = writable(obj, change.name())?;
        let name = attr.wire.as_bytes().to_vec();
        touches_template |= template.contains(&attr.name.to_ascii_lowercase());
        if attr.is_secret() && ctx.config.password_mode == PasswordMode::PasswordModify {
            match change {
                AttributeChange::Replace { values, .. } | AttributeChange::Add { values, .. }
                    if !values.is_empty() =>
                {
                    password = secret_of(values, attr)?;
                    continue;
                }
                _ => {}
            }
        }
        match change {
            AttributeChange::Replace { values, .. } => {
                check_arity(values, attr)?;
                mods.push(Mod::Replace(name, bytes(values, attr)));
            }
            AttributeChange::Add { values, .. } if !values.is_empty() => {
                mods.push(Mod::Add(name, bytes(values, attr)));
            }
            // An empty Delete would remove every value: removing no values is a no-op.
            AttributeChange::Remove { values, .. } if !values.is_empty() => {
                mods.push(Mod::Delete(name, bytes(values, attr)));
            }
            AttributeChange::Add { .. } | AttributeChange::Remove { .. } => {}
            AttributeChange::Clear { .. } => mods.push(Mod::Replace(name, HashSet::new())),
        }
    }
    let wanted = if touches_template && new_dn.is_none() {
        template_names
    } else {
        vec![]
    };
    let current = entry::find(ldap, obj, &ctx.config.anchor, anchor, &wanted)
        .await?
        .ok_or_else(|| not_found(obj, anchor))?;
    let target = match new_dn {
        Some(dn) => Some(dn.to_owned()),
        None if touches_template => {
            let mut values = Attributes::new();
            for a in &wanted {
                let vals: Vec<AttrValue> = current
                    .get(a)
                    .iter()
                    .map(|v| AttrValue::String(String::from_utf8_lossy(v).into_owned()))
                    .collect();
                values.insert(a.to_ascii_lowercase(), vals);
            }
            for change in changes {
                let canonical = obj
                    .attribute(change.name())
                    .map_or_else(|| change.name().to_owned(), |m| m.name.clone());
                let mut lowered = change.clone();
                rename_change(&mut lowered, canonical.to_ascii_lowercase());
                lowered.apply_to(&mut values);
            }
            let dn = obj
                .template
                .render(|a| {
                    values
                        .get(&a.to_ascii_lowercase())
                        .and_then(|v| v.first())
                        .map(AttrValue::to_text)
                })
                .map_err(|a| {
                    ConnectorError::rejected(format!(
                        "the change leaves {} without a value for {a}, which its DN needs",
                        current.dn
                    ))
                })?;
            Some(dn)
        }
        None => None,
    };
    finish(ldap, ctx, anchor, &current.dn, target, mods, password).await
}

/// The common end of an update and a replace: rename to `target` if it differs, modify, set the
/// password; a failed modify undoes the rename.
async fn finish(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    anchor: &str,
    current: &str,
    target: Option<String>,
    mods: Vec<Mod<Bytes>>,
    password: Option<Secret>,
) -> Result<ExportOutcome, ConnectorError> {
    let mut dn = current.to_owned();
    let mut renamed = false;
    if let Some(target) = target {
        renamed = rename(ldap, ctx, &dn, &target).await?;
        if renamed {
            dn = target;
        }
    }
    if let Err(e) = modify(ldap, ctx, &dn, mods).await {
        return Err(if renamed {
            undo_rename(ldap, &dn, current, e).await
        } else {
            e
        });
    }
    if let Some(p) = &password {
        set_password(ldap, &dn, p).await.map_err(|e| {
            e.with_more_detail(" (other attributes of this change were already written)")
        })?;
    }
    let mut outcome = ExportOutcome::anchor(anchor.to_owned().into());
    outcome.dn = Some(dn);
    Ok(outcome)
}

fn rename_change(change: &mut AttributeChange, to: String) {
    match change {
        AttributeChange::Replace { name, .. }
        | AttributeChange::Add { name, .. }
        | AttributeChange::Remove { name, .. }
        | AttributeChange::Clear { name } => *name = to,
    }
}

async fn replace(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    anchor: &str,
    dn: Option<&str>,
    attributes: &Attributes,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let mut given = std::collections::BTreeMap::new();
    for (name, values) in attributes {
        // A whole object may carry its own anchor attribute back, unchanged: not a write.
        if name.eq_ignore_ascii_case(&obj.schema.anchor_attribute)
            && values
                .iter()
                .all(|v| v.to_text().eq_ignore_ascii_case(anchor))
        {
            continue;
        }
        let attr = writable(obj, name)?;
        check_arity(values, attr)?;
        given.insert(attr.name.to_ascii_lowercase(), (attr, values));
    }
    let current = entry::find(ldap, obj, &ctx.config.anchor, anchor, &[])
        .await?
        .ok_or_else(|| not_found(obj, anchor))?;
    let target = match dn {
        Some(dn) => Some(dn.to_owned()),
        None => obj
            .template
            .render(|a| {
                given
                    .get(&a.to_ascii_lowercase())
                    .and_then(|(_, v)| v.first())
                    .map(AttrValue::to_text)
            })
            .ok(),
    };
    // The DN the entry will have: its RDN's attribute is never emptied.
    let final_dn = target
        .clone()
        .filter(|t| !dn::same_dn(t, &current.dn))
        .unwrap_or_else(|| current.dn.clone());
    let rdn_attributes: BTreeSet<String> = Dn::parse(&final_dn)
        .map(|d| {
            d.leaf()
                .iter()
                .map(|a| a.attribute.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut mods = Vec::new();
    let mut password = None;
    for name in &obj.order {
        let Some(attr) = obj.attribute(name) else {
            continue;
        };
        if !attr.writable() {
            continue;
        }
        let key = attr.name.to_ascii_lowercase();
        match given.get(&key) {
            Some((_, values)) if attr.is_secret() => {
                if ctx.config.password_mode == PasswordMode::PasswordModify {
                    password = secret_of(values, attr)?;
                } else {
                    mods.push(Mod::Replace(
                        attr.wire.as_bytes().to_vec(),
                        bytes(values, attr),
                    ));
                }
            }
            Some((_, values)) => {
                mods.push(Mod::Replace(
                    attr.wire.as_bytes().to_vec(),
                    bytes(values, attr),
                ));
            }
            None if attr.is_secret() || rdn_attributes.contains(&key) => {}
            None => mods.push(Mod::Replace(attr.wire.as_bytes().to_vec(), HashSet::new())),
        }
    }
    finish(ldap, ctx, anchor, &current.dn, target, mods, password).await
}

async fn delete(
    ldap: &mut Ldap,
    ctx: &Ctx<'_>,
    anchor: &str,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let current = entry::find(ldap, obj, &ctx.config.anchor, anchor, &[])
        .await?
        .ok_or_else(|| not_found(obj, anchor))?;
    ldap.delete(&current.dn)
        .await
        .and_then(|r| r.success())
        .map_err(|e| errors::from_ldap(Op::Delete, &current.dn, e))?;
    Ok(ExportOutcome::anchor(anchor.to_owned().into()))
}
