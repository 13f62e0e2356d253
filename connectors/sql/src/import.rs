//! Full and delta imports as keyset-paged scans, so memory is bounded by the page size whatever
//! the size of the table or of the change history.
//!
//! A full import pages `SELECT … WHERE anchor > last ORDER BY anchor` over the object table,
//! plus one query per child table for the anchors of that page (`WHERE anchor_column IN (…)`).
//! A delta import does the same restricted to what changed: rows whose watermark column lies
//! between the previous run's bound and this run's (`strategy = "watermark"`), or the anchors a
//! trigger-fed history table names, collapsed to the last change per anchor by the database and
//! re-read from the object table (`strategy = "table"`). Pages are independent statements, so
//! nothing is held open between them and a concurrent export never waits on an import cursor.
//!
//! **Watermarks** are taken when the stream starts, before anything is read, so a change made
//! while pages are read is read again by the next delta rather than lost. They are encoded as
//! `sql1:int:<n>`, `sql1:ts:<YYYY-MM-DD HH:MM:SS.ffffff>` or `sql1:seq:<n>` (an empty value
//! means "from the beginning"); the host stores them opaquely.

use std::collections::HashMap;

use connector_core::{
    AttrKind, AttrValue, ConnectorError, ConnectorObject, Deadline, Direction, ImportItem,
    ImportStream, Watermark,
};
use time::{Duration as TimeDuration, OffsetDateTime, UtcOffset};

use crate::SqlConnector;
use crate::config::WatermarkKind;
use crate::db::Session;
use crate::dialect::Dialect;
use crate::errors::classify;
use crate::model::{
    AfterReadModel, ColumnModel, DeltaModel, DnModel, ImportQuery, ObjectModel, QueryParam,
};
use crate::value::{
    Value, datetime_from_cell, format_datetime, from_cell, parse_bool, parse_datetime, to_param,
};

/// A decoded watermark.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mark {
    /// The highest integer watermark (or rowversion) read; `None` for an empty table.
    Int(Option<i64>),
    /// The upper time bound of the run, in the database's wall-clock frame.
    Time(Option<OffsetDateTime>),
    /// The highest history-table sequence read.
    Seq(Option<i64>),
}

impl Mark {
    pub fn encode(&self) -> Watermark {
        let (tag, value) = match self {
            Mark::Int(v) => ("int", v.map(|n| n.to_string())),
            Mark::Time(v) => ("ts", v.map(format_datetime)),
            Mark::Seq(v) => ("seq", v.map(|n| n.to_string())),
        };
        Watermark(format!("sql1:{tag}:{}", value.unwrap_or_default()))
    }

    /// The watermark after a run from `since` bounded by `now`: never earlier than `since` (a
    /// history table emptied by `after_read = "delete"` has no maximum any more).
    pub fn later(since: &Mark, now: Mark) -> Mark {
        match (since, now) {
            (Mark::Int(Some(a)), Mark::Int(b)) => Mark::Int(Some(b.map_or(*a, |b| b.max(*a)))),
            (Mark::Seq(Some(a)), Mark::Seq(b)) => Mark::Seq(Some(b.map_or(*a, |b| b.max(*a)))),
            (Mark::Time(Some(a)), Mark::Time(b)) => Mark::Time(Some(b.map_or(*a, |b| b.max(*a)))),
            (_, now) => now,
        }
    }

    pub fn decode(w: &Watermark) -> Option<Mark> {
        let rest = w.0.strip_prefix("sql1:")?;
        let (tag, value) = rest.split_once(':')?;
        let int = || -> Option<Option<i64>> {
            if value.is_empty() {
                Some(None)
            } else {
                value.parse().ok().map(Some)
            }
        };
        match tag {
            "int" => int().map(Mark::Int),
            "seq" => int().map(Mark::Seq),
            "ts" if value.is_empty() => Some(Mark::Time(None)),
            "ts" => parse_datetime(value).map(|t| Mark::Time(Some(t))),
            _ => None,
        }
    }
}

/// What a running import reads.
pub(crate) enum Mode {
    /// Every live row.
    Full,
    /// Rows whose watermark column is in `(lower, upper]`.
    Watermark {
        lower: Option<Value>,
        upper: Option<Value>,
    },
    /// The last change per anchor in the history table with sequence in `(after, upper]`.
    Table {
        after: Option<i64>,
        upper: Option<i64>,
    },
}

/// A running import of one object type.
pub(crate) struct SqlImport<'a> {
    pub connector: &'a SqlConnector,
    pub object_type: String,
    pub page_size: usize,
    /// The anchor of the last row returned, as a parameter for the anchor column.
    pub after: Option<Value>,
    /// Rows read so far (for `@StartIndex`/`@EndIndex` paging).
    pub offset: usize,
    pub done: bool,
    pub mode: Mode,
    /// The watermark reported once the stream is complete.
    pub mark: Option<Mark>,
    /// The rows the table held when the import started (a full import of a table).
    pub total: Option<u64>,
}

impl<'a> SqlImport<'a> {
    /// An import of `object_type` from its first row.
    pub fn new(
        connector: &'a SqlConnector,
        object_type: String,
        page_size: usize,
        mode: Mode,
        mark: Option<Mark>,
    ) -> Self {
        SqlImport {
            connector,
            object_type,
            page_size,
            after: None,
            offset: 0,
            done: false,
            mode,
            mark,
            total: None,
        }
    }
}

impl ImportStream for SqlImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let page_size = self.page_size;
        let after = self.after.clone();
        let (items, read, last) = match &mut self.mode {
            Mode::Full => self.connector.with_model(deadline, |model, s| {
                let obj = model.object(&self.object_type)?;
                if let Some(query) = &obj.import_query {
                    let at = QueryPosition {
                        after: after.as_ref(),
                        offset: self.offset,
                    };
                    let (rows, n, last) = read_query_page(obj, query, s, at, page_size)?;
                    if query.keyset() && n > 0 && (last.is_none() || last == after) {
                        return Err(ConnectorError::misconfigured(format!(
                            "the import_query of {} returned no row after @LastAnchor {:?}: \
                             it must keep WHERE anchor > @LastAnchor ORDER BY anchor",
                            obj.object_type, after
                        )));
                    }
                    let items = rows
                        .into_iter()
                        .map(|(o, _)| ImportItem::Upsert(o))
                        .collect();
                    return Ok((items, n, last));
                }
                let mut f = Filter::default();
                f.live(obj);
                let (rows, last) = read_rows(obj, model.dialect, s, f, after.as_ref(), page_size)?;
                let n = rows.len();
                let items = rows
                    .into_iter()
                    .map(|(o, _)| ImportItem::Upsert(o))
                    .collect::<Vec<_>>();
                Ok((items, n, last))
            })?,
            Mode::Watermark { lower, upper } => {
                self.connector.with_model(deadline, |model, s| {
                    let obj = model.object(&self.object_type)?;
                    let mut f = Filter::default();
                    if let Some(DeltaModel::Watermark { column_q, kind, .. }) = &obj.delta {
                        let col = watermark_expr(column_q, *kind);
                        match upper {
                            Some(u) => {
                                f.add(format!("{col} <= ?"), u.clone());
                            }
                            // The table had no watermark at the start: nothing to read.
                            None => return Ok((Vec::new(), 0, None)),
                        }
                        if let Some(l) = lower {
                            f.add(format!("{col} > ?"), l.clone());
                        }
                    }
                    let (rows, last) =
                        read_rows(obj, model.dialect, s, f, after.as_ref(), page_size)?;
                    let n = rows.len();
                    let items = rows
                        .into_iter()
                        .map(|(o, deleted)| item(o, deleted))
                        .collect();
                    Ok((items, n, last))
                })?
            }
            Mode::Table { after, upper } => {
                let Some(upper) = *upper else {
                    self.done = true;
                    return Ok(None);
                };
                let from = *after;
                let (items, read, last_seq) = self.connector.with_model(deadline, |model, s| {
                    let obj = model.object(&self.object_type)?;
                    table_page(obj, model.dialect, s, from, upper, page_size)
                })?;
                if let Some(seq) = last_seq {
                    *after = Some(seq);
                }
                (items, read, None)
            }
        };
        self.offset = self.offset.saturating_add(read);
        if read < page_size {
            self.done = true;
        }
        if last.is_some() {
            self.after = last;
        }
        if items.is_empty() {
            // A history page may collapse to nothing only when it read nothing.
            return if self.done {
                Ok(None)
            } else {
                self.next_page(deadline)
            };
        }
        Ok(Some(items))
    }

    fn watermark(&self) -> Option<Watermark> {
        self.mark.as_ref().map(Mark::encode)
    }

    fn expected_total(&self) -> Option<u64> {
        self.total
    }
}

fn item(o: ConnectorObject, deleted: bool) -> ImportItem {
    if deleted {
        ImportItem::Delete {
            object_type: o.object_type,
            anchor: o.anchor,
        }
    } else {
        ImportItem::Upsert(o)
    }
}

/// The watermark column as compared: rowversions are compared as integers.
fn watermark_expr(column_q: &str, kind: WatermarkKind) -> String {
    match kind {
        WatermarkKind::Rowversion => format!("CAST({column_q} AS BIGINT)"),
        _ => column_q.to_owned(),
    }
}

/// Extra `WHERE` conditions and their parameters.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    fn add(&mut self, condition: String, param: Value) {
        self.conditions.push(condition);
        self.params.push(param);
    }

    /// Only rows not marked deleted.
    fn live(&mut self, obj: &ObjectModel) {
        if let Some((col, storage)) = &obj.soft_delete {
            self.add(
                format!("({col} IS NULL OR {col} = ?)"),
                not_deleted_value(*storage),
            );
        }
    }
}

/// The value of a soft-delete column meaning "not deleted".
pub(crate) fn not_deleted_value(storage: AttrKind) -> Value {
    to_param(&AttrValue::Boolean(false), storage).unwrap_or(Value::Int(0))
}

/// The value of a soft-delete column meaning "deleted".
pub(crate) fn deleted_value(storage: AttrKind) -> Value {
    to_param(&AttrValue::Boolean(true), storage).unwrap_or(Value::Int(1))
}

/// Whether a soft-delete cell says deleted: true, non-zero, `yes`…
fn is_deleted(cell: &Value) -> bool {
    match cell {
        Value::Null(_) => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Real(r) => *r != 0.0,
        Value::Text(t) => parse_bool(t).unwrap_or(!t.trim().is_empty()),
        Value::DateTime(_) | Value::Bytes(_) => true,
    }
}

fn cell_error(obj: &ObjectModel, column: &str, anchor: &str, e: String) -> ConnectorError {
    ConnectorError::misconfigured(format!(
        "table {} column {column} of the row with anchor {anchor}: {e}; \
         set its type under [object.attributes.{column}]",
        obj.table
    ))
}

/// Converts a cell of an exposed column, honouring its time zone and format.
fn column_value(
    obj: &ObjectModel,
    col: &ColumnModel,
    anchor: &str,
    cell: Value,
) -> Result<Option<AttrValue>, ConnectorError> {
    if col.kind == AttrKind::DateTime && (col.zone.is_some() || col.format.is_some()) {
        if let Value::Null(_) = cell {
            return Ok(None);
        }
        let zone = col.zone.unwrap_or(UtcOffset::UTC);
        return datetime_from_cell(&cell, zone, col.format.as_deref())
            .map(|t| Some(AttrValue::DateTime(t)))
            .ok_or_else(|| {
                cell_error(
                    obj,
                    &col.name,
                    anchor,
                    format!("{cell:?} does not match the configured format"),
                )
            });
    }
    from_cell(cell, col.kind).map_err(|e| cell_error(obj, &col.name, anchor, e))
}

/// The columns an import reads, in order: the anchor, the importable columns, then the DN
/// column and the soft-delete column when configured.
struct Layout<'m> {
    read: Vec<&'m ColumnModel>,
    dn: Option<&'m ColumnModel>,
}

impl<'m> Layout<'m> {
    fn of(obj: &'m ObjectModel) -> Layout<'m> {
        let mut read: Vec<&ColumnModel> = vec![obj.anchor_column()];
        for (i, c) in obj.columns.iter().enumerate() {
            if i != obj.anchor && c.direction != Direction::Export {
                read.push(c);
            }
        }
        let dn = match &obj.dn {
            DnModel::Column(c) => Some(c),
            _ => None,
        };
        Layout { read, dn }
    }
}

/// An objects page: each object and whether it is soft-deleted.
type Objects = Vec<(ConnectorObject, bool)>;

/// Reads up to `limit` rows matching `filter` after the anchor `after`, in anchor order: the
/// objects (with their multi-valued attributes) and whether each is soft-deleted, and the anchor
/// to continue after.
fn read_rows(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
    mut filter: Filter,
    after: Option<&Value>,
    limit: usize,
) -> Result<(Objects, Option<Value>), ConnectorError> {
    let layout = Layout::of(obj);
    let anchor_col = obj.anchor_column();
    let mut list: Vec<&str> = layout.read.iter().map(|c| c.quoted.as_str()).collect();
    let mut storage: Vec<AttrKind> = layout.read.iter().map(|c| c.storage).collect();
    if let Some(c) = layout.dn {
        list.push(&c.quoted);
        storage.push(c.storage);
    }
    if let Some((q, st)) = &obj.soft_delete {
        list.push(q);
        storage.push(*st);
    }
    if let Some(a) = after {
        filter.add(format!("{} > ?", anchor_col.quoted), a.clone());
    }
    // A type read from a column: only the rows of this type, whatever the mode.
    if let Some(t) = &obj.type_filter {
        filter.add(format!("{} = ?", t.column_q), t.value.clone());
    }
    let sql = dialect.page_query(
        &list.join(", "),
        &obj.table_q,
        &anchor_col.quoted,
        &filter.conditions,
        limit,
    );
    let rows = s
        .query(&sql, &filter.params, &storage)
        .map_err(|e| classify(&e, s.dialect(), &format!("reading {}", obj.table)))?;
    let (mut objects, last) = to_objects(obj, &layout, rows)?;
    if !objects.is_empty() {
        read_children(obj, s, &mut objects)?;
    }
    Ok((objects, last))
}

/// Converts rows laid out as `layout` says into objects, and the anchor of the last row.
fn to_objects(
    obj: &ObjectModel,
    layout: &Layout<'_>,
    rows: Vec<Vec<Value>>,
) -> Result<(Objects, Option<Value>), ConnectorError> {
    let anchor_col = obj.anchor_column();
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
        for col in layout.read.iter().skip(1) {
            let cell = cells.next().unwrap_or(Value::Null(col.storage));
            if let Some(v) = column_value(obj, col, &anchor, cell)? {
                o.set(col.name.clone(), vec![v]);
            }
        }
        if layout.dn.is_some() {
            let cell = cells.next().unwrap_or(Value::Null(AttrKind::String));
            o.dn = from_cell(cell, AttrKind::String)
                .ok()
                .flatten()
                .map(|v| v.to_text());
        }
        let deleted = obj.soft_delete.is_some() && cells.next().is_some_and(|c| is_deleted(&c));
        objects.push((o, deleted));
    }
    Ok((objects, last))
}

/// Where the configured import query's pages start: after an anchor (keyset) or at a row
/// offset (row numbers).
pub(crate) struct QueryPosition<'p> {
    pub after: Option<&'p Value>,
    pub offset: usize,
}

/// The `@LastAnchor` of the first page: the smallest value of the anchor column's type, so
/// `WHERE anchor > @LastAnchor` needs no special case (the empty string for text anchors).
fn first_anchor(storage: AttrKind) -> Value {
    match storage {
        AttrKind::Integer => Value::Int(i64::MIN),
        _ => Value::Text(String::new()),
    }
}

/// Reads one page through the configured import query: its result columns are matched by name
/// to the anchor, the importable attributes, the DN and soft-delete columns. Returns the
/// objects, the number of rows read and the anchor of the last row.
fn read_query_page(
    obj: &ObjectModel,
    query: &ImportQuery,
    s: &mut dyn Session,
    at: QueryPosition<'_>,
    limit: usize,
) -> Result<(Objects, usize, Option<Value>), ConnectorError> {
    let layout = Layout::of(obj);
    let anchor_col = obj.anchor_column();
    let to_i64 = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let params: Vec<Value> = query
        .params
        .iter()
        .map(|p| match p {
            QueryParam::LastAnchor => at
                .after
                .cloned()
                .unwrap_or_else(|| first_anchor(anchor_col.storage)),
            QueryParam::PageSize => to_i64(limit),
            QueryParam::StartIndex => to_i64(at.offset.saturating_add(1)),
            QueryParam::EndIndex => to_i64(at.offset.saturating_add(limit)),
        })
        .collect();
    let mut wanted: Vec<(&str, AttrKind)> = layout
        .read
        .iter()
        .map(|c| (c.name.as_str(), c.storage))
        .collect();
    if let Some(c) = layout.dn {
        wanted.push((c.name.as_str(), c.storage));
    }
    let soft = obj.soft_delete_name.as_deref();
    let storage_of = |name: &str| {
        position(name, wanted.iter().map(|(n, _)| *n))
            .and_then(|i| wanted.get(i))
            .map_or(AttrKind::String, |(_, k)| *k)
    };
    let context = format!("reading {} with its import_query", obj.object_type);
    let (names, rows) = s
        .query_named(&query.sql, &params, &storage_of)
        .map_err(|e| classify(&e, s.dialect(), &context))?;
    // Where each expected column is in the result.
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for (name, _) in &wanted {
        let at = position(name, names.iter().map(String::as_str));
        if at.is_none() {
            missing.push(*name);
        }
        slots.push(at);
    }
    let soft_slot = soft.and_then(|name| position(name, names.iter().map(String::as_str)));
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| {
            position(n, wanted.iter().map(|(w, _)| *w)).is_none()
                && soft.is_none_or(|s| !s.eq_ignore_ascii_case(n))
        })
        .collect();
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(ConnectorError::misconfigured(format!(
            "{context}: its columns must be the attributes discovered from {} (by name);              missing: [{}], not attributes: [{}] (exclude attributes it cannot return)",
            obj.table,
            missing.join(", "),
            unknown.join(", ")
        )));
    }
    let read = rows.len();
    let laid_out = rows
        .into_iter()
        .map(|row| {
            // The soft-delete column may also be an attribute: read its cell before the
            // attribute slot takes it.
            let soft_cell = soft_slot.and_then(|i| row.get(i)).cloned();
            let mut cells: Vec<Option<Value>> = row.into_iter().map(Some).collect();
            let mut laid: Vec<Value> = slots
                .iter()
                .map(|slot| {
                    slot.and_then(|i| cells.get_mut(i))
                        .and_then(Option::take)
                        .unwrap_or(Value::Null(AttrKind::String))
                })
                .collect();
            if obj.soft_delete.is_some() {
                laid.push(soft_cell.unwrap_or(Value::Null(AttrKind::Boolean)));
            }
            laid
        })
        .collect();
    let (mut objects, last) = to_objects(obj, &layout, laid_out)?;
    objects.retain(|(_, deleted)| !deleted);
    if !objects.is_empty() {
        read_children(obj, s, &mut objects)?;
    }
    Ok((objects, read, last))
}

/// The index of `name` among `names`: exact match first, then case-insensitive.
fn position<'n>(name: &str, names: impl Iterator<Item = &'n str> + Clone) -> Option<usize> {
    names
        .clone()
        .position(|n| n == name)
        .or_else(|| names.into_iter().position(|n| n.eq_ignore_ascii_case(name)))
}

/// Fills the multi-valued attributes of `objects` from their child tables.
fn read_children(
    obj: &ObjectModel,
    s: &mut dyn Session,
    objects: &mut Objects,
) -> Result<(), ConnectorError> {
    for mv in &obj.multivalued {
        let anchors: Vec<Value> = objects
            .iter()
            .filter(|(_, deleted)| !deleted)
            .filter_map(|(o, _)| {
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
        for (o, _) in objects.iter_mut() {
            if let Some(values) = by_anchor.remove(o.anchor.as_str()) {
                o.set(mv.attribute.clone(), values);
            }
        }
    }
    Ok(())
}

/// Reads the current state of some objects by anchor (for exports and history re-reads):
/// `None` for an anchor that is absent or soft-deleted.
pub(crate) fn read_by_anchors(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
    anchors: &[String],
) -> Result<HashMap<String, ConnectorObject>, ConnectorError> {
    let anchor_col = obj.anchor_column();
    let params: Vec<Value> = anchors
        .iter()
        .filter_map(|a| to_param(&AttrValue::String(a.clone()), anchor_col.storage).ok())
        .collect();
    if params.is_empty() {
        return Ok(HashMap::new());
    }
    let mut f = Filter {
        conditions: vec![format!(
            "{} IN ({})",
            anchor_col.quoted,
            Dialect::markers(params.len())
        )],
        params,
    };
    f.live(obj);
    let (rows, _) = read_rows(obj, dialect, s, f, None, anchors.len().max(1))?;
    Ok(rows
        .into_iter()
        .filter(|(_, deleted)| !deleted)
        .map(|(o, _)| (o.anchor.0.clone(), o))
        .collect())
}

/// One page of a history-table delta: the last change per anchor with sequence in
/// `(after, upper]`, in sequence order; adds and updates re-read from the object table.
/// Returns the items, the number of history rows read, and the last sequence read.
fn table_page(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
    after: Option<i64>,
    upper: i64,
    limit: usize,
) -> Result<(Vec<ImportItem>, usize, Option<i64>), ConnectorError> {
    let Some(DeltaModel::Table {
        table,
        table_q,
        anchor_q,
        anchor_storage,
        change_q,
        seq_q,
        values,
        ..
    }) = &obj.delta
    else {
        return Ok((Vec::new(), 0, None));
    };
    // The database collapses the history: a row is read only when no later row (up to the
    // bound) names the same anchor.
    let mut conditions = vec![
        format!("d.{seq_q} <= ?"),
        format!(
            "NOT EXISTS (SELECT 1 FROM {table_q} e WHERE e.{anchor_q} = d.{anchor_q} \
             AND e.{seq_q} > d.{seq_q} AND e.{seq_q} <= ?)"
        ),
    ];
    let mut params = vec![Value::Int(upper), Value::Int(upper)];
    if let Some(a) = after {
        conditions.push(format!("d.{seq_q} > ?"));
        params.push(Value::Int(a));
    }
    let sql = dialect.page_query(
        &format!("d.{anchor_q}, d.{change_q}, d.{seq_q}"),
        &format!("{table_q} d"),
        &format!("d.{seq_q}"),
        &conditions,
        limit,
    );
    let rows = s
        .query(
            &sql,
            &params,
            &[*anchor_storage, AttrKind::String, AttrKind::Integer],
        )
        .map_err(|e| classify(&e, s.dialect(), &format!("reading {table}")))?;
    let read = rows.len();
    let mut last = None;
    let mut upserts: Vec<String> = Vec::new();
    let mut items = Vec::new();
    for row in rows {
        let mut cells = row.into_iter();
        let (Some(a), Some(c), Some(q)) = (cells.next(), cells.next(), cells.next()) else {
            continue;
        };
        if let Ok(Some(AttrValue::Integer(n))) = from_cell(q, AttrKind::Integer) {
            last = Some(n);
        }
        let Some(anchor) = from_cell(a, *anchor_storage).ok().flatten() else {
            continue;
        };
        let anchor = anchor.to_text();
        let change = from_cell(c, AttrKind::String)
            .ok()
            .flatten()
            .map(|v| v.to_text())
            .unwrap_or_default();
        let is = |list: &[String]| list.iter().any(|v| v.eq_ignore_ascii_case(change.trim()));
        if is(&values.delete) {
            items.push(ImportItem::Delete {
                object_type: obj.object_type.clone(),
                anchor: anchor.into(),
            });
        } else if is(&values.add) || is(&values.update) {
            upserts.push(anchor);
        } else {
            return Err(ConnectorError::misconfigured(format!(
                "history table {table} has the change type {change:?}, which is none of the \
                 configured change_values (add {:?}, update {:?}, delete {:?})",
                values.add, values.update, values.delete
            )));
        }
    }
    if !upserts.is_empty() {
        let mut current = read_by_anchors(obj, dialect, s, &upserts)?;
        for anchor in upserts {
            // Gone since the change was recorded: its delete is later in the history, and the
            // object's current state is "deleted" either way.
            items.push(match current.remove(&anchor) {
                Some(o) => ImportItem::Upsert(o),
                None => ImportItem::Delete {
                    object_type: obj.object_type.clone(),
                    anchor: anchor.into(),
                },
            });
        }
    }
    Ok((items, read, last))
}

/// The watermark of `obj` as of now: taken before a full or delta import reads anything.
/// The rows of the object's table, for progress; `None` for an import query (its count could
/// cost as much as the import) or when the count fails.
pub(crate) fn row_count(obj: &ObjectModel, s: &mut dyn Session) -> Option<u64> {
    if obj.import_query.is_some() {
        return None;
    }
    let sql = format!("SELECT COUNT(*) FROM {}", obj.table_q);
    let rows = s.query(&sql, &[], &[AttrKind::Integer]).ok()?;
    let cell = rows.into_iter().next()?.into_iter().next()?;
    match from_cell(cell, AttrKind::Integer) {
        Ok(Some(AttrValue::Integer(n))) => u64::try_from(n).ok(),
        _ => None,
    }
}

pub(crate) fn current_mark(
    obj: &ObjectModel,
    dialect: Dialect,
    s: &mut dyn Session,
) -> Result<Option<Mark>, ConnectorError> {
    let Some(delta) = &obj.delta else {
        return Ok(None);
    };
    let scalar =
        |s: &mut dyn Session, sql: &str, what: &str| -> Result<Option<i64>, ConnectorError> {
            let rows = s
                .query(sql, &[], &[AttrKind::Integer])
                .map_err(|e| classify(&e, s.dialect(), what))?;
            let cell = rows.into_iter().next().and_then(|r| r.into_iter().next());
            match cell.map(|c| from_cell(c, AttrKind::Integer)) {
                None | Some(Ok(None)) => Ok(None),
                Some(Ok(Some(AttrValue::Integer(n)))) => Ok(Some(n)),
                Some(Ok(Some(_))) | Some(Err(_)) => Err(ConnectorError::misconfigured(format!(
                    "{what}: the value is not an integer"
                ))),
            }
        };
    Ok(Some(match delta {
        DeltaModel::Watermark {
            column_q,
            kind,
            lag,
            ..
        } => match kind {
            WatermarkKind::Integer => Mark::Int(scalar(
                s,
                &format!("SELECT MAX({column_q}) FROM {}", obj.table_q),
                &format!("reading the watermark of {}", obj.table),
            )?),
            WatermarkKind::Rowversion => Mark::Int(scalar(
                s,
                "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) - 1",
                "reading MIN_ACTIVE_ROWVERSION()",
            )?),
            WatermarkKind::Timestamp => {
                let rows = s
                    .query(dialect.current_time_query(), &[], &[AttrKind::String])
                    .map_err(|e| classify(&e, s.dialect(), "reading the database time"))?;
                let text = rows
                    .into_iter()
                    .next()
                    .and_then(|r| r.into_iter().next())
                    .and_then(|c| from_cell(c, AttrKind::String).ok().flatten())
                    .map(|v| v.to_text())
                    .unwrap_or_default();
                let now = parse_datetime(&text).ok_or_else(|| {
                    ConnectorError::misconfigured(format!(
                        "the database time {text:?} is not a date-time"
                    ))
                })?;
                let lag = TimeDuration::try_from(*lag).unwrap_or(TimeDuration::ZERO);
                Mark::Time(Some(now - lag))
            }
        },
        DeltaModel::Table {
            table_q,
            seq_q,
            table,
            ..
        } => Mark::Seq(scalar(
            s,
            &format!("SELECT MAX({seq_q}) FROM {table_q}"),
            &format!("reading the last sequence of {table}"),
        )?),
    }))
}

/// Housekeeping of a history table at the start of a delta run: rows at or below the watermark
/// the host committed are deleted or marked, as configured.
pub(crate) fn after_read(
    obj: &ObjectModel,
    s: &mut dyn Session,
    committed: i64,
) -> Result<(), ConnectorError> {
    let Some(DeltaModel::Table {
        table,
        table_q,
        seq_q,
        after_read,
        ..
    }) = &obj.delta
    else {
        return Ok(());
    };
    let (sql, params) = match after_read {
        AfterReadModel::Keep => return Ok(()),
        AfterReadModel::Delete => (
            format!("DELETE FROM {table_q} WHERE {seq_q} <= ?"),
            vec![Value::Int(committed)],
        ),
        AfterReadModel::Set { column_q, value } => (
            format!("UPDATE {table_q} SET {column_q} = ? WHERE {seq_q} <= ?"),
            vec![value.clone(), Value::Int(committed)],
        ),
    };
    s.execute(&sql, &params)
        .map(drop)
        .map_err(|e| classify(&e, s.dialect(), &format!("cleaning up {table}")))
}

/// The stream mode of a delta import from `since`, given the bound taken now.
pub(crate) fn delta_mode(
    obj: &ObjectModel,
    since: &Mark,
    now: &Mark,
) -> Result<Mode, ConnectorError> {
    let mismatch = || {
        ConnectorError::resync_required(format!(
            "the watermark of {} was made by another delta strategy",
            obj.object_type
        ))
    };
    let Some(delta) = &obj.delta else {
        return Err(mismatch());
    };
    match (delta, since, now) {
        (DeltaModel::Watermark { storage, .. }, Mark::Int(lower), Mark::Int(upper)) => {
            let p = |n: i64| match storage {
                AttrKind::String => Value::Text(n.to_string()),
                _ => Value::Int(n),
            };
            Ok(Mode::Watermark {
                lower: lower.map(p),
                upper: upper.map(p),
            })
        }
        (DeltaModel::Watermark { .. }, Mark::Time(lower), Mark::Time(upper)) => {
            Ok(Mode::Watermark {
                lower: lower.map(Value::DateTime),
                upper: upper.map(Value::DateTime),
            })
        }
        (DeltaModel::Table { .. }, Mark::Seq(after), Mark::Seq(upper)) => Ok(Mode::Table {
            after: *after,
            upper: *upper,
        }),
        _ => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn watermarks_round_trip() {
        let check = |m: Mark, text: &str| {
            assert_eq!(m.encode().0, text);
            assert_eq!(Mark::decode(&Watermark(text.into())), Some(m), "{text}");
        };
        check(Mark::Int(Some(42)), "sql1:int:42");
        check(Mark::Int(None), "sql1:int:");
        check(Mark::Seq(Some(-1)), "sql1:seq:-1");
        check(
            Mark::Time(Some(datetime!(2024-05-06 7:08:09.5 UTC))),
            "sql1:ts:2024-05-06 07:08:09.500000",
        );
        check(Mark::Time(None), "sql1:ts:");
        for bad in [
            "",
            "sql1:int:x",
            "sql2:int:1",
            "sql1:what:1",
            "sql1:ts:noon",
        ] {
            assert_eq!(Mark::decode(&Watermark(bad.into())), None, "{bad}");
        }
    }

    #[test]
    fn soft_delete_cells_are_read_generously() {
        let check =
            |cell: Value, expected: bool| assert_eq!(is_deleted(&cell), expected, "{cell:?}");
        check(Value::Null(AttrKind::Boolean), false);
        check(Value::Int(0), false);
        check(Value::Int(1), true);
        check(Value::Bool(true), true);
        check(Value::Text("0".into()), false);
        check(Value::Text("1".into()), true);
        check(Value::Text("false".into()), false);
        check(Value::Text("t".into()), true);
    }
}
