//! Exports: one [`Change`] becomes the statements on the object row and its child-table rows,
//! all in one transaction, so the target holds either the whole change or none of it.
//!
//! Values are checked against the columns before anything is sent: an unknown attribute, a
//! second value for a single-valued column or a value that does not fit the column type is
//! `Rejected` with a message naming the attribute (and never showing a value of a secret-looking
//! attribute). Zero rows affected on an update, replace or delete is `NotFound`, after a check
//! that the row really is absent (MySQL counts unchanged rows as not affected).

use std::collections::BTreeSet;

use connector_core::{
    Anchor, AttrKind, AttrValue, AttributeChange, Attributes, Change, ConnectorError, Direction,
    ExportOutcome,
};

use crate::db::Session;
use crate::dialect::Dialect;
use crate::errors::{DbError, classify};
use crate::import::{deleted_value, not_deleted_value, read_by_anchors};
use crate::model::{
    ColumnModel, DnModel, ExportModel, MvModel, ObjectModel, ParamSource, Statement, TypeFilter,
};
use crate::value::{Value, datetime_param, kind_name, to_param, to_param_as};

/// Whether an attribute's values must never appear in a message.
pub(crate) fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token"]
        .iter()
        .any(|s| n.contains(s))
}

/// Converts one value for a column, or says why not.
fn param(
    attr: &str,
    storage: connector_core::AttrKind,
    v: &AttrValue,
) -> Result<Value, ConnectorError> {
    param_as(attr, storage, storage, v)
}

/// Converts one value exposed as `kind` for a column storing `storage`, or says why not.
fn param_as(
    attr: &str,
    kind: connector_core::AttrKind,
    storage: connector_core::AttrKind,
    v: &AttrValue,
) -> Result<Value, ConnectorError> {
    to_param_as(v, kind, storage).map_err(|m| {
        let shown = if looks_secret(attr) {
            String::new()
        } else {
            let mut t = m.text;
            if t.chars().count() > 64 {
                t = t.chars().take(64).collect::<String>() + "…";
            }
            format!(" {t:?}")
        };
        ConnectorError::rejected(format!(
            "attribute {attr} holds {} values; the {} value{shown} does not convert",
            kind_name(m.expected),
            m.got
        ))
    })
}

/// The single value of a column from a list of values (none → NULL), converted to the
/// column's time zone and format for date-times.
fn single(col: &ColumnModel, values: &[AttrValue]) -> Result<Value, ConnectorError> {
    match values {
        [] => Ok(Value::Null(col.storage)),
        [v] if col.kind == connector_core::AttrKind::DateTime
            && (col.zone.is_some() || col.format.is_some()) =>
        {
            let utc = param_as(&col.name, col.kind, connector_core::AttrKind::DateTime, v)?;
            let Value::DateTime(t) = utc else {
                return Err(ConnectorError::rejected(format!(
                    "attribute {} holds datetime values",
                    col.name
                )));
            };
            datetime_param(
                t,
                col.zone.unwrap_or(time::UtcOffset::UTC),
                col.format.as_deref(),
                col.storage,
            )
            .map_err(|e| ConnectorError::rejected(format!("attribute {}: {e}", col.name)))
        }
        [v] => param_as(&col.name, col.kind, col.storage, v),
        _ => Err(ConnectorError::rejected(format!(
            "attribute {} is single-valued but {} values were given",
            col.name,
            values.len()
        ))),
    }
}

fn writable(col: &ColumnModel) -> Result<(), ConnectorError> {
    if col.direction == Direction::Import {
        return Err(ConnectorError::rejected(format!(
            "attribute {} is import-only and cannot be written",
            col.name
        )));
    }
    Ok(())
}

fn unknown(obj: &ObjectModel, name: &str) -> ConnectorError {
    ConnectorError::rejected(format!(
        "object type {} has no attribute {name}",
        obj.object_type
    ))
}

/// Whether a change is exactly one generated statement at the target (an add or an update of
/// single-valued columns only), so autocommit already makes it atomic and the explicit
/// transaction, which costs extra round trips on every driver, can be skipped.
pub(crate) fn is_single_statement(obj: &ObjectModel, change: &Change) -> bool {
    if !matches!(obj.export, ExportModel::Table) || obj.view || obj.soft_delete.is_some() {
        return false;
    }
    match change {
        Change::Add { attributes, .. } => attributes.keys().all(|k| obj.multivalued(k).is_none()),
        Change::Update {
            changes, new_dn, ..
        } => new_dn.is_none() && changes.iter().all(|c| obj.multivalued(c.name()).is_none()),
        Change::Replace { .. } | Change::Delete { .. } => false,
    }
}

/// Runs `f` in a transaction: committed when it succeeds, rolled back otherwise.
pub(crate) fn in_transaction<R>(
    s: &mut dyn Session,
    context: &str,
    f: impl FnOnce(&mut dyn Session) -> Result<R, ConnectorError>,
) -> Result<R, ConnectorError> {
    let d = s.dialect();
    s.begin()
        .map_err(|e| classify(&e, d, &format!("{context}: starting a transaction")))?;
    match f(s) {
        Ok(r) => {
            if let Err(e) = s.commit() {
                // Best effort: the commit failed, leave nothing open.
                let _ = s.rollback();
                return Err(classify(&e, d, &format!("{context}: committing")));
            }
            Ok(r)
        }
        Err(err) => {
            if let Err(e) = s.rollback() {
                tracing::warn!(error = %e, "rollback after a failed export failed");
            }
            Err(err)
        }
    }
}

struct Ctx<'a> {
    obj: &'a ObjectModel,
    dialect: Dialect,
    what: String,
}

/// ` AND (soft_delete IS NULL OR soft_delete = ?)` and ` AND type_column = ?` with their
/// parameters, or nothing: the rows of this object type an update or delete may touch.
fn live(obj: &ObjectModel) -> (String, Vec<Value>) {
    let (mut sql, mut params) = match &obj.soft_delete {
        Some((col, storage)) => (
            format!(" AND ({col} IS NULL OR {col} = ?)"),
            vec![not_deleted_value(*storage)],
        ),
        None => (String::new(), Vec::new()),
    };
    let (type_sql, mut type_params) = TypeFilter::condition(obj);
    sql.push_str(&type_sql);
    params.append(&mut type_params);
    (sql, params)
}

impl Ctx<'_> {
    /// Applies one change of a multi-valued attribute to its child table.
    fn apply_child_change(
        &self,
        s: &mut dyn Session,
        mv: &MvModel,
        anchor: &Anchor,
        change: &AttributeChange,
    ) -> Result<(), ConnectorError> {
        let back = child_anchor(mv, anchor)?;
        match change {
            AttributeChange::Replace { values, .. } => {
                let vals = self.mv_params(mv, values)?;
                self.mv_delete_all(s, mv, &back)?;
                self.mv_insert(s, mv, &back, &vals)
            }
            AttributeChange::Add { values, .. } => {
                // Delete first so re-adding an existing value is harmless.
                let vals = self.mv_params(mv, values)?;
                self.mv_delete_values(s, mv, &back, &vals)?;
                self.mv_insert(s, mv, &back, &vals)
            }
            AttributeChange::Remove { values, .. } => {
                let vals = self.mv_params(mv, values)?;
                self.mv_delete_values(s, mv, &back, &vals)
            }
            AttributeChange::Clear { .. } => self.mv_delete_all(s, mv, &back),
        }
    }
    fn run(&self, s: &mut dyn Session, sql: &str, params: &[Value]) -> Result<u64, ConnectorError> {
        let d = s.dialect();
        s.execute(sql, params)
            .map_err(|e: DbError| classify(&e, d, &self.what))
    }

    fn exists(&self, s: &mut dyn Session, anchor: &Value) -> Result<bool, ConnectorError> {
        let d = s.dialect();
        let (live_sql, mut live_params) = live(self.obj);
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = ?{live_sql}",
            self.obj.table_q,
            self.obj.anchor_column().quoted
        );
        let mut params = vec![anchor.clone()];
        params.append(&mut live_params);
        let rows = s
            .query(&sql, &params, &[connector_core::AttrKind::Integer])
            .map_err(|e| classify(&e, d, &self.what))?;
        Ok(!rows.is_empty())
    }

    fn not_found(&self, anchor: &Anchor) -> ConnectorError {
        ConnectorError::not_found(format!(
            "no {} with {} = {anchor} in {}",
            self.obj.object_type,
            self.obj.anchor_column().name,
            self.obj.table
        ))
    }

    fn mv_params(&self, mv: &MvModel, values: &[AttrValue]) -> Result<Vec<Value>, ConnectorError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for v in values {
            if seen.insert(v.to_text()) {
                out.push(param_as(&mv.attribute, mv.kind, mv.value_storage, v)?);
            }
        }
        Ok(out)
    }

    fn mv_delete_all(
        &self,
        s: &mut dyn Session,
        mv: &MvModel,
        anchor: &Value,
    ) -> Result<(), ConnectorError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?{}",
            mv.table_q,
            mv.anchor_q,
            mv.filter_sql()
        );
        let mut params = vec![anchor.clone()];
        if let Some((_, name)) = &mv.attr_filter {
            params.push(Value::Text(name.clone()));
        }
        self.run(s, &sql, &params).map(|_| ())
    }

    fn mv_delete_values(
        &self,
        s: &mut dyn Session,
        mv: &MvModel,
        anchor: &Value,
        values: &[Value],
    ) -> Result<(), ConnectorError> {
        // `value IN (?, …)` in chunks: one statement per few hundred values, not one per value.
        for chunk in values.chunks(CHILD_ROWS_PER_STATEMENT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "DELETE FROM {} WHERE {} = ? AND {} IN ({marks}){}",
                mv.table_q,
                mv.anchor_q,
                mv.value_q,
                mv.filter_sql()
            );
            let mut params = Vec::with_capacity(chunk.len() + 2);
            params.push(anchor.clone());
            params.extend(chunk.iter().cloned());
            if let Some((_, name)) = &mv.attr_filter {
                params.push(Value::Text(name.clone()));
            }
            self.run(s, &sql, &params)?;
        }
        Ok(())
    }

    fn mv_insert(
        &self,
        s: &mut dyn Session,
        mv: &MvModel,
        anchor: &Value,
        values: &[Value],
    ) -> Result<(), ConnectorError> {
        let (columns, row) = match &mv.attr_filter {
            Some((col, _)) => (
                format!("{}, {}, {col}", mv.anchor_q, mv.value_q),
                "(?, ?, ?)",
            ),
            None => (format!("{}, {}", mv.anchor_q, mv.value_q), "(?, ?)"),
        };
        // Several rows per statement where the database takes it (a 50,000-member group is a
        // few hundred statements, not 50,000 round trips); always parameterised.
        let per_statement = if s.dialect().multi_row_values() {
            CHILD_ROWS_PER_STATEMENT
        } else {
            1
        };
        for chunk in values.chunks(per_statement) {
            let rows = vec![row; chunk.len()].join(", ");
            let sql = format!("INSERT INTO {} ({columns}) VALUES {rows}", mv.table_q);
            let params: Vec<Value> = chunk
                .iter()
                .flat_map(|v| child_row_params(mv, anchor, v))
                .collect();
            self.run(s, &sql, &params)?;
        }
        Ok(())
    }
}

/// Child-table rows (or values) per statement: at most 900 parameters, under every supported
/// database's limit (SQLite's oldest is 999, SQL Server's 2,100 and 1,000 rows per `VALUES`).
const CHILD_ROWS_PER_STATEMENT: usize = 300;

/// The parameters of one child-table row: anchor, value, and the attribute name for a shared
/// (anchor, attribute, value) table.
fn child_row_params(mv: &MvModel, anchor: &Value, value: &Value) -> Vec<Value> {
    let mut params = vec![anchor.clone(), value.clone()];
    if let Some((_, name)) = &mv.attr_filter {
        params.push(Value::Text(name.clone()));
    }
    params
}

/// The anchor as a parameter for the anchor column (`None` when it cannot be a value of it).
fn anchor_value(obj: &ObjectModel, anchor: &Anchor) -> Option<Value> {
    to_param(
        &AttrValue::String(anchor.0.clone()),
        obj.anchor_column().storage,
    )
    .ok()
}

/// The anchor as a parameter for a child table's back-reference column.
fn child_anchor(mv: &MvModel, anchor: &Anchor) -> Result<Value, ConnectorError> {
    param(
        &mv.attribute,
        mv.anchor_storage,
        &AttrValue::String(anchor.0.clone()),
    )
}

/// Applies one change inside the caller's transaction.
pub(crate) fn apply(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
    change: &Change,
) -> Result<ExportOutcome, ConnectorError> {
    let ctx = Ctx {
        obj,
        dialect,
        what: format!(
            "{} of {} in {}",
            change.operation(),
            obj.object_type,
            obj.table
        ),
    };
    if let ExportModel::Custom { .. } = &obj.export {
        return custom(&ctx, s, change);
    }
    if obj.view {
        return Err(ConnectorError::misconfigured(format!(
            "object type {} is read from the view {}, which is not written; configure \
             [object.export] with mode = \"procedure\" or \"sql\" to export it",
            obj.object_type, obj.table
        )));
    }
    match change {
        Change::Add {
            anchor,
            dn,
            attributes,
            ..
        } => add(&ctx, s, anchor.as_ref(), dn.as_deref(), attributes),
        Change::Update {
            anchor,
            new_dn,
            changes,
            ..
        } => update(&ctx, s, anchor, new_dn.as_deref(), changes),
        Change::Replace {
            anchor,
            dn,
            attributes,
            ..
        } => replace(&ctx, s, anchor, dn.as_deref(), attributes),
        Change::Delete { anchor, .. } => delete(&ctx, s, anchor),
    }
}

fn outcome(obj: &ObjectModel, anchor: Anchor, dn: Option<&str>) -> ExportOutcome {
    let dn = match &obj.dn {
        DnModel::Auto => obj.auto_dn(anchor.as_str()),
        DnModel::Column(_) => dn.map(str::to_owned),
        DnModel::None => None,
    };
    ExportOutcome {
        anchor,
        dn,
        ..ExportOutcome::default()
    }
}

fn add(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: Option<&Anchor>,
    dn: Option<&str>,
    attributes: &Attributes,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let anchor_col = obj.anchor_column();
    let from_attrs = attributes
        .iter()
        .find(|(k, _)| obj.column(k).is_some_and(|c| c.name == anchor_col.name))
        .and_then(|(_, v)| v.first())
        .map(AttrValue::to_text);
    let anchor = match (anchor, from_attrs) {
        (Some(a), Some(b)) if a.0 != b => {
            return Err(ConnectorError::rejected(format!(
                "the anchor {a} differs from the value {b} given for the anchor column {}",
                anchor_col.name
            )));
        }
        (Some(a), _) => a.clone(),
        (None, Some(b)) => Anchor(b),
        (None, None) => {
            return Err(ConnectorError::rejected(format!(
                "the anchor column {} needs a value",
                anchor_col.name
            )));
        }
    };
    // A generated DN follows from the anchor: another one could not be kept, so it is refused
    // rather than replaced.
    if let (Some(given), Some(generated)) = (dn, obj.auto_dn(anchor.as_str()))
        && !given.eq_ignore_ascii_case(&generated)
    {
        return Err(ConnectorError::rejected(format!(
            "the DN is generated from the anchor ({generated}); {given:?} cannot be kept"
        )));
    }
    let mut names = vec![anchor_col.quoted.clone()];
    let mut params = vec![param(
        &anchor_col.name,
        anchor_col.storage,
        &AttrValue::String(anchor.0.clone()),
    )?];
    let mut children: Vec<(&MvModel, &Vec<AttrValue>)> = Vec::new();
    for (name, values) in attributes {
        if let Some(col) = obj.column(name) {
            if col.name == anchor_col.name {
                continue;
            }
            writable(col)?;
            if values.is_empty() {
                continue;
            }
            names.push(col.quoted.clone());
            params.push(single(col, values)?);
        } else if let Some(mv) = obj.multivalued(name) {
            children.push((mv, values));
        } else {
            return Err(unknown(obj, name));
        }
    }
    if let (DnModel::Column(col), Some(dn)) = (&obj.dn, dn) {
        names.push(col.quoted.clone());
        params.push(Value::Text(dn.to_owned()));
    }
    if let Some(t) = &obj.type_filter {
        names.push(t.column_q.clone());
        params.push(t.value.clone());
    }
    remove_tombstone(ctx, s, &anchor)?;
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        obj.table_q,
        names.join(", "),
        crate::dialect::Dialect::markers(names.len())
    );
    ctx.run(s, &sql, &params)?;
    for (mv, values) in children {
        let back = child_anchor(mv, &anchor)?;
        let vals = ctx.mv_params(mv, values)?;
        ctx.mv_insert(s, mv, &back, &vals)?;
    }
    Ok(outcome(obj, anchor, dn))
}

/// Runs `UPDATE … SET sets WHERE anchor = ?`, or only checks the row exists when nothing is set.
fn update_row(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: &Anchor,
    sets: Vec<(String, Value)>,
) -> Result<(), ConnectorError> {
    let obj = ctx.obj;
    let Some(key) = anchor_value(obj, anchor) else {
        return Err(ctx.not_found(anchor));
    };
    if sets.is_empty() {
        return if ctx.exists(s, &key)? {
            Ok(())
        } else {
            Err(ctx.not_found(anchor))
        };
    }
    let assignments: Vec<String> = sets.iter().map(|(c, _)| format!("{c} = ?")).collect();
    let mut params: Vec<Value> = sets.into_iter().map(|(_, v)| v).collect();
    params.push(key.clone());
    let (live_sql, mut live_params) = live(obj);
    params.append(&mut live_params);
    let sql = format!(
        "UPDATE {} SET {} WHERE {} = ?{live_sql}",
        obj.table_q,
        assignments.join(", "),
        obj.anchor_column().quoted
    );
    if ctx.run(s, &sql, &params)? == 0 && !ctx.exists(s, &key)? {
        return Err(ctx.not_found(anchor));
    }
    Ok(())
}

fn update(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: &Anchor,
    new_dn: Option<&str>,
    changes: &[AttributeChange],
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let anchor_name = obj.anchor_column().name.clone();
    let mut sets: Vec<(String, Value)> = Vec::new();
    let mut child_ops: Vec<(&MvModel, &AttributeChange)> = Vec::new();
    for change in changes {
        let name = change.name();
        if let Some(col) = obj.column(name) {
            writable(col)?;
            let value = match change {
                AttributeChange::Replace { values, .. } | AttributeChange::Add { values, .. } => {
                    single(col, values)?
                }
                AttributeChange::Remove { .. } | AttributeChange::Clear { .. } => {
                    Value::Null(col.storage)
                }
            };
            if col.name == anchor_name {
                let same = matches!(change, AttributeChange::Replace { values, .. } | AttributeChange::Add { values, .. }
                    if values.len() == 1 && values.first().map(AttrValue::to_text).as_deref() == Some(anchor.as_str()));
                if same {
                    continue;
                }
                return Err(ConnectorError::rejected(format!(
                    "the anchor column {anchor_name} cannot be changed"
                )));
            }
            sets.retain(|(c, _)| c != &col.quoted);
            sets.push((col.quoted.clone(), value));
        } else if let Some(mv) = obj.multivalued(name) {
            child_ops.push((mv, change));
        } else {
            return Err(unknown(obj, name));
        }
    }
    if let (DnModel::Column(col), Some(dn)) = (&obj.dn, new_dn) {
        sets.push((col.quoted.clone(), Value::Text(dn.to_owned())));
    }
    update_row(ctx, s, anchor, sets)?;
    for (mv, change) in child_ops {
        ctx.apply_child_change(s, mv, anchor, change)?;
    }
    let dn = match &obj.dn {
        DnModel::Column(_) => new_dn,
        _ => None,
    };
    Ok(outcome(obj, anchor.clone(), dn))
}

fn replace(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: &Anchor,
    dn: Option<&str>,
    attributes: &Attributes,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let anchor_name = obj.anchor_column().name.clone();
    for (name, values) in attributes {
        match obj.column(name) {
            Some(col) if col.name == anchor_name => {
                if values.len() != 1
                    || values.first().map(AttrValue::to_text).as_deref() != Some(anchor.as_str())
                {
                    return Err(ConnectorError::rejected(format!(
                        "the anchor column {anchor_name} cannot be changed"
                    )));
                }
            }
            Some(col) => {
                if !values.is_empty() {
                    writable(col)?;
                }
            }
            None if obj.multivalued(name).is_some() => {}
            None => return Err(unknown(obj, name)),
        }
    }
    let mut sets = Vec::new();
    for col in &obj.columns {
        if col.name == anchor_name || col.direction == Direction::Import {
            continue;
        }
        let values = attributes
            .iter()
            .find(|(k, _)| obj.column(k).is_some_and(|c| c.name == col.name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        // The host never knows a stored secret, so one left out of a replace is kept as is.
        if values.is_empty() && col.kind == AttrKind::Secret {
            continue;
        }
        sets.push((col.quoted.clone(), single(col, values)?));
    }
    if let (DnModel::Column(col), Some(dn)) = (&obj.dn, dn) {
        sets.push((col.quoted.clone(), Value::Text(dn.to_owned())));
    }
    update_row(ctx, s, anchor, sets)?;
    for mv in &obj.multivalued {
        let values = attributes
            .iter()
            .find(|(k, _)| {
                obj.multivalued(k)
                    .is_some_and(|m| m.attribute == mv.attribute)
            })
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        let back = child_anchor(mv, anchor)?;
        let vals = ctx.mv_params(mv, values)?;
        ctx.mv_delete_all(s, mv, &back)?;
        ctx.mv_insert(s, mv, &back, &vals)?;
    }
    Ok(outcome(obj, anchor.clone(), dn))
}

fn delete(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: &Anchor,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let Some(key) = anchor_value(obj, anchor) else {
        return Err(ctx.not_found(anchor));
    };
    if let Some((col, storage)) = &obj.soft_delete {
        // Soft delete: the row stays, marked, so delta imports can report the delete.
        let (live_sql, mut live_params) = live(obj);
        let sql = format!(
            "UPDATE {} SET {col} = ? WHERE {} = ?{live_sql}",
            obj.table_q,
            obj.anchor_column().quoted
        );
        let mut params = vec![deleted_value(*storage), key];
        params.append(&mut live_params);
        if ctx.run(s, &sql, &params)? == 0 {
            return Err(ctx.not_found(anchor));
        }
        return Ok(outcome(obj, anchor.clone(), None));
    }
    // Of another type, the row is not this object: NotFound before its child rows go.
    if obj.type_filter.is_some() && !ctx.exists(s, &key)? {
        return Err(ctx.not_found(anchor));
    }
    for mv in &obj.multivalued {
        let back = child_anchor(mv, anchor)?;
        ctx.mv_delete_all(s, mv, &back)?;
    }
    let (type_sql, type_params) = TypeFilter::condition(obj);
    let sql = format!(
        "DELETE FROM {} WHERE {} = ?{type_sql}",
        obj.table_q,
        obj.anchor_column().quoted
    );
    let mut params = vec![key];
    params.extend(type_params);
    if ctx.run(s, &sql, &params)? == 0 {
        return Err(ctx.not_found(anchor));
    }
    Ok(outcome(obj, anchor.clone(), None))
}

/// With soft delete, an add of an anchor whose row is marked deleted first removes that row
/// (and its child rows), so the anchor can be used again.
fn remove_tombstone(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    anchor: &Anchor,
) -> Result<(), ConnectorError> {
    let obj = ctx.obj;
    let Some((col, storage)) = &obj.soft_delete else {
        return Ok(());
    };
    let Some(key) = anchor_value(obj, anchor) else {
        return Ok(());
    };
    let sql = format!(
        "SELECT 1 FROM {} WHERE {} = ? AND {col} IS NOT NULL AND {col} <> ?",
        obj.table_q,
        obj.anchor_column().quoted
    );
    let params = vec![key.clone(), not_deleted_value(*storage)];
    let d = s.dialect();
    let rows = s
        .query(&sql, &params, &[connector_core::AttrKind::Integer])
        .map_err(|e| classify(&e, d, &ctx.what))?;
    if rows.is_empty() {
        return Ok(());
    }
    for mv in &obj.multivalued {
        let back = child_anchor(mv, anchor)?;
        ctx.mv_delete_all(s, mv, &back)?;
    }
    let sql = format!(
        "DELETE FROM {} WHERE {} = ? AND {col} IS NOT NULL AND {col} <> ?",
        obj.table_q,
        obj.anchor_column().quoted
    );
    ctx.run(s, &sql, &params).map(drop)
}

/// The anchor a custom add writes: the change's, or the anchor column's value.
fn add_anchor(
    obj: &ObjectModel,
    anchor: Option<&Anchor>,
    attributes: &Attributes,
) -> Result<Anchor, ConnectorError> {
    let anchor_col = obj.anchor_column();
    let from_attrs = attributes
        .iter()
        .find(|(k, _)| obj.column(k).is_some_and(|c| c.name == anchor_col.name))
        .and_then(|(_, v)| v.first())
        .map(AttrValue::to_text);
    match (anchor, from_attrs) {
        (Some(a), Some(b)) if a.0 != b => Err(ConnectorError::rejected(format!(
            "the anchor {a} differs from the value {b} given for the anchor column {}",
            anchor_col.name
        ))),
        (Some(a), _) => Ok(a.clone()),
        (None, Some(b)) => Ok(Anchor(b)),
        (None, None) => Err(ConnectorError::rejected(format!(
            "the anchor column {} needs a value",
            anchor_col.name
        ))),
    }
}

/// Checks every attribute of a change is known and writable.
fn check_attributes<'n>(
    obj: &ObjectModel,
    names: impl Iterator<Item = &'n str>,
) -> Result<(), ConnectorError> {
    for name in names {
        match obj.column(name) {
            Some(col) if col.name != obj.anchor_column().name => writable(col)?,
            Some(_) => {}
            None if obj.multivalued(name).is_some() => {}
            None => return Err(unknown(obj, name)),
        }
    }
    Ok(())
}

/// Runs configured statements, binding each `@Attribute` from `state`.
fn run_statements(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    statements: &[Statement],
    anchor: &Anchor,
    state: &Attributes,
) -> Result<(), ConnectorError> {
    let obj = ctx.obj;
    for st in statements {
        let mut params = Vec::with_capacity(st.params.len());
        for p in &st.params {
            params.push(match p {
                ParamSource::Anchor => {
                    anchor_value(obj, anchor).unwrap_or_else(|| Value::Text(anchor.0.clone()))
                }
                ParamSource::ObjectType => match &obj.type_filter {
                    Some(t) => t.value.clone(),
                    None => Value::Text(obj.object_type.clone()),
                },
                ParamSource::Column(i) if *i == obj.anchor => {
                    anchor_value(obj, anchor).unwrap_or_else(|| Value::Text(anchor.0.clone()))
                }
                ParamSource::Column(i) => {
                    let Some(col) = obj.columns.get(*i) else {
                        continue;
                    };
                    let values = state
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&col.name))
                        .map(|(_, v)| v.as_slice())
                        .unwrap_or(&[]);
                    single(col, values)?
                }
            });
        }
        ctx.run(s, &st.sql, &params)?;
    }
    Ok(())
}

/// A change through configured procedures or statements; child tables of multi-valued
/// attributes are still written with generated statements, in the same transaction.
fn custom(
    ctx: &Ctx<'_>,
    s: &mut dyn Session,
    change: &Change,
) -> Result<ExportOutcome, ConnectorError> {
    let obj = ctx.obj;
    let ExportModel::Custom {
        what,
        add,
        update,
        delete,
    } = &obj.export
    else {
        return Err(ConnectorError::misconfigured("not a custom export"));
    };
    let (op, statements) = match change {
        Change::Add { .. } => ("add", add),
        Change::Update { .. } | Change::Replace { .. } => ("update", update),
        Change::Delete { .. } => ("delete", delete),
    };
    if statements.is_empty() {
        return Err(ConnectorError::misconfigured(format!(
            "object type {} has no {op} {what} configured under [object.export]",
            obj.object_type
        )));
    }
    let current = |s: &mut dyn Session, anchor: &Anchor| -> Result<Attributes, ConnectorError> {
        read_by_anchors(obj, ctx.dialect, s, std::slice::from_ref(&anchor.0))?
            .remove(anchor.as_str())
            .map(|o| o.attributes)
            .ok_or_else(|| ctx.not_found(anchor))
    };
    match change {
        Change::Add {
            anchor,
            attributes,
            dn,
            ..
        } => {
            check_attributes(obj, attributes.keys().map(String::as_str))?;
            let anchor = add_anchor(obj, anchor.as_ref(), attributes)?;
            run_statements(ctx, s, statements, &anchor, attributes)?;
            for (name, values) in attributes {
                if let Some(mv) = obj.multivalued(name) {
                    let back = child_anchor(mv, &anchor)?;
                    let vals = ctx.mv_params(mv, values)?;
                    ctx.mv_insert(s, mv, &back, &vals)?;
                }
            }
            Ok(outcome(obj, anchor, dn.as_deref()))
        }
        Change::Update {
            anchor, changes, ..
        } => {
            check_attributes(obj, changes.iter().map(AttributeChange::name))?;
            let mut state = current(s, anchor)?;
            for c in changes {
                if obj.column(c.name()).is_some() {
                    c.apply_to(&mut state);
                }
            }
            run_statements(ctx, s, statements, anchor, &state)?;
            for c in changes {
                if let Some(mv) = obj.multivalued(c.name()) {
                    ctx.apply_child_change(s, mv, anchor, c)?;
                }
            }
            Ok(outcome(obj, anchor.clone(), None))
        }
        Change::Replace {
            anchor,
            attributes,
            dn,
            ..
        } => {
            check_attributes(obj, attributes.keys().map(String::as_str))?;
            current(s, anchor)?;
            run_statements(ctx, s, statements, anchor, attributes)?;
            for mv in &obj.multivalued {
                let values = attributes
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&mv.attribute))
                    .map(|(_, v)| v.as_slice())
                    .unwrap_or(&[]);
                let back = child_anchor(mv, anchor)?;
                let vals = ctx.mv_params(mv, values)?;
                ctx.mv_delete_all(s, mv, &back)?;
                ctx.mv_insert(s, mv, &back, &vals)?;
            }
            Ok(outcome(obj, anchor.clone(), dn.as_deref()))
        }
        Change::Delete { anchor, .. } => {
            let state = current(s, anchor)?;
            for mv in &obj.multivalued {
                let back = child_anchor(mv, anchor)?;
                ctx.mv_delete_all(s, mv, &back)?;
            }
            run_statements(ctx, s, statements, anchor, &state)?;
            Ok(outcome(obj, anchor.clone(), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_are_recognised() {
        let check = |name: &str, expected: bool| assert_eq!(looks_secret(name), expected, "{name}");
        check("userPassword", true);
        check("PWD", true);
        check("apiToken", true);
        check("clientSecret", true);
        check("displayName", false);
        check("mail", false);
    }

    #[test]
    fn conversion_messages_hide_secret_values() {
        let err = param(
            "PasswordHash",
            connector_core::AttrKind::Integer,
            &"hunter2".into(),
        )
        .unwrap_err();
        assert!(!err.detail().contains("hunter2"), "{err}");
        assert!(err.detail().contains("PasswordHash"), "{err}");
        let err = param("Age", connector_core::AttrKind::Integer, &"old".into()).unwrap_err();
        assert!(err.detail().contains("\"old\""), "{err}");
        assert!(matches!(err, ConnectorError::Rejected { .. }));
    }
}
