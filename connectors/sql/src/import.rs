//! Full imports as a keyset-paged scan of the object table, so memory is bounded by the page
//! size whatever the size of the table.
//!
//! Each page is `SELECT … WHERE anchor > last ORDER BY anchor` limited to the page size, plus one
//! query per child table for the anchors of that page (`WHERE anchor_column IN (…)`). Pages are
//! independent statements, so nothing is held open between them and a concurrent export never
//! waits on an import cursor.

use std::collections::HashMap;

use connector_core::{
    AttrKind, AttrValue, ConnectorError, ConnectorObject, Direction, ImportItem, ImportStream,
    Watermark,
};

use crate::SqlConnector;
use crate::db::Session;
use crate::dialect::Dialect;
use crate::errors::classify;
use crate::model::{DnModel, ObjectModel};
use crate::value::{Value, from_cell, to_param};

/// A running full import of one object type.
pub(crate) struct SqlImport<'a> {
    pub connector: &'a SqlConnector,
    pub object_type: String,
    pub page_size: usize,
    /// The anchor of the last row returned, as a parameter for the anchor column.
    pub after: Option<Value>,
    pub done: bool,
}

impl ImportStream for SqlImport<'_> {
    fn next_page(&mut self) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let (items, last) = self.connector.with_model(|model, s| {
            let obj = model.object(&self.object_type)?;
            read_page(obj, model.dialect, s, self.after.as_ref(), self.page_size)
        })?;
        if items.len() < self.page_size {
            self.done = true;
        }
        if items.is_empty() {
            return Ok(None);
        }
        self.after = last;
        Ok(Some(items))
    }

    fn watermark(&self) -> Option<Watermark> {
        None
    }
}

fn cell_error(obj: &ObjectModel, column: &str, anchor: &str, e: String) -> ConnectorError {
    ConnectorError::misconfigured(format!(
        "table {} column {column} of the row with anchor {anchor}: {e}; \
         set its type under [object.attributes.{column}]",
        obj.table
    ))
}

/// Reads one page: the objects, and the anchor to continue after.
fn read_page(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
    after: Option<&Value>,
    page_size: usize,
) -> Result<(Vec<ImportItem>, Option<Value>), ConnectorError> {
    let anchor_col = obj.anchor_column();
    // Columns read: the anchor first, then importable columns, then the DN column.
    let mut read: Vec<(&str, &str, AttrKind, AttrKind)> = vec![(
        anchor_col.name.as_str(),
        anchor_col.quoted.as_str(),
        anchor_col.storage,
        anchor_col.kind,
    )];
    for (i, c) in obj.columns.iter().enumerate() {
        if i != obj.anchor && c.direction != Direction::Export {
            read.push((c.name.as_str(), c.quoted.as_str(), c.storage, c.kind));
        }
    }
    if let DnModel::Column(c) = &obj.dn {
        read.push((
            c.name.as_str(),
            c.quoted.as_str(),
            c.storage,
            AttrKind::String,
        ));
    }
    let list: Vec<&str> = read.iter().map(|r| r.1).collect();
    let sql = dialect.page_query(
        &list.join(", "),
        &obj.table_q,
        &anchor_col.quoted,
        after.is_some(),
        page_size,
    );
    let storage: Vec<AttrKind> = read.iter().map(|r| r.2).collect();
    let params: Vec<Value> = after.into_iter().cloned().collect();
    let rows = s
        .query(&sql, &params, &storage)
        .map_err(|e| classify(&e, s.dialect(), &format!("reading {}", obj.table)))?;

    let mut objects = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows {
        let mut cells = row.into_iter();
        let anchor_cell = cells.next().unwrap_or(Value::Null(anchor_col.storage));
        let anchor_native = from_cell(anchor_cell, anchor_col.storage)
            .map_err(|e| cell_error(obj, &anchor_col.name, "?", e))?
            .ok_or_else(|| {
                ConnectorError::misconfigured(format!(
                    "table {} has a row whose anchor column {} is NULL",
                    obj.table, anchor_col.name
                ))
            })?;
        let anchor = anchor_native.to_text();
        last = to_param(&anchor_native, anchor_col.storage).ok();
        let mut o = ConnectorObject::new(obj.object_type.clone(), anchor.clone());
        o.dn = obj.auto_dn(&anchor);
        if anchor_col.direction != Direction::Export {
            let exposed = from_cell(Value::Text(anchor.clone()), anchor_col.kind)
                .map_err(|e| cell_error(obj, &anchor_col.name, &anchor, e))?;
            o.set(anchor_col.name.clone(), exposed.into_iter().collect());
        }
        for ((name, _, _, kind), cell) in read.iter().skip(1).zip(cells) {
            let v = from_cell(cell, *kind).map_err(|e| cell_error(obj, name, &anchor, e))?;
            if matches!(&obj.dn, DnModel::Column(c) if c.name == *name) {
                o.dn = v.map(|v| v.to_text());
            } else if let Some(v) = v {
                o.set(name.to_string(), vec![v]);
            }
        }
        objects.push(o);
    }

    if !objects.is_empty() {
        for mv in &obj.multivalued {
            let anchors: Vec<Value> = objects
                .iter()
                .filter_map(|o| {
                    to_param(&AttrValue::String(o.anchor.0.clone()), mv.anchor_storage).ok()
                })
                .collect();
            if anchors.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT {}, {} FROM {} WHERE {} IN ({}){}",
                mv.anchor_q,
                mv.value_q,
                mv.table_q,
                mv.anchor_q,
                Dialect::markers(anchors.len()),
                mv.filter_sql()
            );
            let mut params = anchors;
            if let Some((_, name)) = &mv.attr_filter {
                params.push(Value::Text(name.clone()));
            }
            let rows = s
                .query(&sql, &params, &[mv.anchor_storage, mv.value_storage])
                .map_err(|e| classify(&e, s.dialect(), &format!("reading {}", mv.table)))?;
            let mut by_anchor: HashMap<String, Vec<AttrValue>> = HashMap::new();
            for row in rows {
                let mut cells = row.into_iter();
                let (Some(a), Some(v)) = (cells.next(), cells.next()) else {
                    continue;
                };
                let Some(a) = from_cell(a, mv.anchor_storage)
                    .map_err(|e| cell_error(obj, &mv.attribute, "?", e))?
                else {
                    continue;
                };
                let a = a.to_text();
                if let Some(v) =
                    from_cell(v, mv.kind).map_err(|e| cell_error(obj, &mv.attribute, &a, e))?
                {
                    by_anchor.entry(a).or_default().push(v);
                }
            }
            for o in &mut objects {
                if let Some(values) = by_anchor.remove(o.anchor.as_str()) {
                    o.set(mv.attribute.clone(), values);
                }
            }
        }
    }
    Ok((objects.into_iter().map(ImportItem::Upsert).collect(), last))
}
