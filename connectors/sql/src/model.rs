//! Schema discovery: what the configured tables look like, resolved once into a [`Model`] the
//! export and import code work from.
//!
//! Columns and their types come from the database; the configuration excludes some, overrides
//! types and directions, names the DN column and adds multi-valued attributes from child tables.
//! Every identifier is quoted here, once, so no other module builds SQL from raw names. A table
//! or column the configuration names but the database lacks is a [`ConnectorError::Misconfigured`]
//! whose detail lists what does exist.

use connector_core::{
    AttrKind, AttributeSchema, ConnectorError, ConnectorSchema, Direction, DnStyle,
    ObjectTypeSchema,
};

use std::sync::Arc;
use std::time::Duration;

use time::UtcOffset;
use time::format_description::OwnedFormatItem;

use crate::config::{
    AfterRead, ChangeValues, DeltaConfig, DnConfig, ExportConfig, ObjectConfig, SqlConfig,
    WatermarkKind, toml_value::Scalar,
};
use crate::db::{ColumnInfo, Session};
use crate::dialect::Dialect;
use crate::errors::classify;
use crate::value::Value;

/// Everything discovered, for all object types.
#[derive(Debug)]
pub(crate) struct Model {
    pub dialect: Dialect,
    pub objects: Vec<ObjectModel>,
    pub schema: ConnectorSchema,
}

impl Model {
    /// The object type called `name` (case-insensitive).
    pub fn object(&self, name: &str) -> Result<&ObjectModel, ConnectorError> {
        self.objects
            .iter()
            .find(|o| o.object_type.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .objects
                    .iter()
                    .map(|o| o.object_type.as_str())
                    .collect();
                ConnectorError::misconfigured(format!(
                    "no object type {name} is configured (configured: {})",
                    known.join(", ")
                ))
            })
    }
}

/// One exposed column of the object table.
#[derive(Debug, Clone)]
pub(crate) struct ColumnModel {
    pub name: String,
    pub quoted: String,
    /// What the column stores (drives parameter binding).
    pub storage: AttrKind,
    /// What the attribute is exposed as (storage unless overridden).
    pub kind: AttrKind,
    pub direction: Direction,
    pub required: bool,
    /// For date-times: the zone stored wall-clock times are in (`None`: UTC).
    pub zone: Option<UtcOffset>,
    /// For date-times kept as text: how the text is written.
    pub format: Option<Arc<OwnedFormatItem>>,
}

/// How an object type's DN is produced.
#[derive(Debug, Clone)]
pub(crate) enum DnModel {
    None,
    Auto,
    Column(ColumnModel),
}

/// A multi-valued attribute kept in a child table.
#[derive(Debug, Clone)]
pub(crate) struct MvModel {
    pub attribute: String,
    pub table: String,
    pub table_q: String,
    pub anchor_q: String,
    pub anchor_storage: AttrKind,
    pub value_q: String,
    pub value_storage: AttrKind,
    pub kind: AttrKind,
    /// For a shared table: the quoted attribute column and the value naming this attribute.
    pub attr_filter: Option<(String, String)>,
}

impl MvModel {
    /// ` AND attr_col = ?` plus its parameter, or nothing.
    pub fn filter_sql(&self) -> String {
        match &self.attr_filter {
            Some((col, _)) => format!(" AND {col} = ?"),
            None => String::new(),
        }
    }
}

/// One object type, resolved.
#[derive(Debug, Clone)]
pub(crate) struct ObjectModel {
    pub object_type: String,
    pub table: String,
    pub table_q: String,
    /// Index of the anchor in `columns`.
    pub anchor: usize,
    pub columns: Vec<ColumnModel>,
    pub dn: DnModel,
    pub multivalued: Vec<MvModel>,
    /// The table is a view: generated statements never write to it.
    pub view: bool,
    /// The soft-delete column (quoted) and what it stores.
    pub soft_delete: Option<(String, AttrKind)>,
    /// The soft-delete column's name as the database spells it.
    pub soft_delete_name: Option<String>,
    pub delta: Option<DeltaModel>,
    pub export: ExportModel,
    /// The configured full-import query, when there is one.
    pub import_query: Option<ImportQuery>,
    /// For a type read from a `type_column`: the column and this type's value in it. Every
    /// statement on `table` is restricted to these rows, and adds set the column.
    pub type_filter: Option<TypeFilter>,
}

/// The rows of a shared table that belong to one object type.
#[derive(Debug, Clone)]
pub(crate) struct TypeFilter {
    /// The type column's name as the database spells it.
    pub column: String,
    /// The quoted type column.
    pub column_q: String,
    /// The type's name, as a parameter for that column.
    pub value: Value,
}

impl TypeFilter {
    /// ` AND type_column = ?` and its parameter, for `obj`'s type (nothing for a fixed type).
    pub fn condition(obj: &ObjectModel) -> (String, Vec<Value>) {
        match &obj.type_filter {
            Some(t) => (format!(" AND {} = ?", t.column_q), vec![t.value.clone()]),
            None => (String::new(), Vec::new()),
        }
    }
}

/// A placeholder of a configured import query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryParam {
    /// The anchor of the last row of the previous page (keyset paging).
    LastAnchor,
    /// The page size.
    PageSize,
    /// The 1-based number of the first row of the page.
    StartIndex,
    /// The 1-based number of the last row of the page.
    EndIndex,
}

/// `import_query`, resolved: the text with `?` markers and what each marker binds.
#[derive(Debug, Clone)]
pub(crate) struct ImportQuery {
    pub sql: String,
    pub params: Vec<QueryParam>,
}

impl ImportQuery {
    /// Whether pages follow the last anchor read (otherwise row numbers).
    pub fn keyset(&self) -> bool {
        self.params.contains(&QueryParam::LastAnchor)
    }
}

/// Resolves `import_query`: every placeholder must be one of the four paging parameters, and
/// the query must both move forward (`@LastAnchor` or `@StartIndex`) and bound its page
/// (`@PageSize` or `@EndIndex`), so memory stays bounded by the page size.
pub(crate) fn import_query(object_type: &str, text: &str) -> Result<ImportQuery, ConnectorError> {
    let bad =
        |m: String| ConnectorError::misconfigured(format!("import_query of {object_type}: {m}"));
    let (sql, names) = crate::dialect::placeholders(text).map_err(bad)?;
    let params = names
        .iter()
        .map(|n| match n.to_ascii_lowercase().as_str() {
            "lastanchor" => Ok(QueryParam::LastAnchor),
            "pagesize" => Ok(QueryParam::PageSize),
            "startindex" => Ok(QueryParam::StartIndex),
            "endindex" => Ok(QueryParam::EndIndex),
            _ => Err(bad(format!(
                "@{n} is not a paging parameter (@LastAnchor, @PageSize, @StartIndex, @EndIndex)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let has = |p: QueryParam| params.contains(&p);
    if !has(QueryParam::LastAnchor) && !has(QueryParam::StartIndex) {
        return Err(bad(
            "it must page forward with @LastAnchor (WHERE anchor > @LastAnchor ORDER BY anchor) \
             or @StartIndex"
                .into(),
        ));
    }
    if !has(QueryParam::PageSize) && !has(QueryParam::EndIndex) {
        return Err(bad(
            "it must bound each page with @PageSize (LIMIT @PageSize) or @EndIndex".into(),
        ));
    }
    Ok(ImportQuery { sql, params })
}

/// How a delta import finds changes, resolved.
#[derive(Debug, Clone)]
pub(crate) enum DeltaModel {
    Watermark {
        column_q: String,
        storage: AttrKind,
        kind: WatermarkKind,
        lag: Duration,
    },
    Table {
        table: String,
        table_q: String,
        anchor_q: String,
        anchor_storage: AttrKind,
        change_q: String,
        seq_q: String,
        values: Box<ChangeValues>,
        after_read: AfterReadModel,
    },
}

/// What happens to committed history rows, resolved.
#[derive(Debug, Clone)]
pub(crate) enum AfterReadModel {
    Keep,
    Delete,
    Set { column_q: String, value: Value },
}

/// Where a bound parameter of a procedure or custom statement takes its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParamSource {
    /// The object's anchor, bound for the anchor column.
    Anchor,
    /// The (single) value of this exposed column, by index into `columns`.
    Column(usize),
    /// The object type's name, for the `type_column` of a type read from a column.
    ObjectType,
}

/// One statement with its parameters in marker order.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub sql: String,
    pub params: Vec<ParamSource>,
}

/// How changes to one object type are written, resolved.
#[derive(Debug, Clone)]
pub(crate) enum ExportModel {
    /// Generated statements on the table.
    Table,
    /// Per operation (add, update, delete) the statements to run in one transaction; an empty
    /// list means the operation is not configured.
    Custom {
        /// `procedure` or `SQL`, for messages.
        what: &'static str,
        add: Vec<Statement>,
        update: Vec<Statement>,
        delete: Vec<Statement>,
    },
}

impl ObjectModel {
    /// The anchor column.
    pub fn anchor_column(&self) -> &ColumnModel {
        // `anchor` is an index discovery took from `columns`; fall back to the first column
        // rather than panic should that ever be violated.
        self.columns
            .get(self.anchor)
            .or_else(|| self.columns.first())
            .unwrap_or(&FALLBACK_COLUMN)
    }

    /// The column exposed as `name`: exact match first, then case-insensitive.
    pub fn column(&self, name: &str) -> Option<&ColumnModel> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// The multi-valued attribute `name`: exact match first, then case-insensitive.
    pub fn multivalued(&self, name: &str) -> Option<&MvModel> {
        self.multivalued
            .iter()
            .find(|m| m.attribute == name)
            .or_else(|| {
                self.multivalued
                    .iter()
                    .find(|m| m.attribute.eq_ignore_ascii_case(name))
            })
    }

    /// The DN of the object with this anchor, for autogenerated DNs.
    pub fn auto_dn(&self, anchor: &str) -> Option<String> {
        match self.dn {
            DnModel::Auto => Some(format!(
                "CN={anchor},OBJECT={}",
                self.object_type.to_uppercase()
            )),
            _ => None,
        }
    }

    fn schema(&self) -> ObjectTypeSchema {
        let mut attributes: Vec<AttributeSchema> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut a = AttributeSchema::new(c.name.clone(), c.kind);
                a.required = c.required || i == self.anchor;
                a.direction = c.direction;
                a
            })
            .collect();
        for m in &self.multivalued {
            let mut a = AttributeSchema::new(m.attribute.clone(), m.kind);
            a.multi_valued = true;
            attributes.push(a);
        }
        ObjectTypeSchema {
            name: self.object_type.clone(),
            anchor_attribute: self.anchor_column().name.clone(),
            dn_style: match self.dn {
                DnModel::None => DnStyle::None,
                DnModel::Auto | DnModel::Column(_) => DnStyle::Generic,
            },
            attributes,
        }
    }
}

static FALLBACK_COLUMN: ColumnModel = ColumnModel {
    name: String::new(),
    quoted: String::new(),
    storage: AttrKind::String,
    kind: AttrKind::String,
    direction: Direction::ImportExport,
    required: false,
    zone: None,
    format: None,
};

fn quote(d: Dialect, what: &str, name: &str) -> Result<String, ConnectorError> {
    d.quote_ident(name)
        .map_err(|e| ConnectorError::misconfigured(format!("{what}: {e}")))
}

fn quote_table(d: Dialect, name: &str) -> Result<String, ConnectorError> {
    d.quote_table(name)
        .map_err(|e| ConnectorError::misconfigured(format!("table {name:?}: {e}")))
}

/// The columns of `table`, or Misconfigured listing the tables that exist.
fn table_columns(
    s: &mut dyn Session,
    table: &str,
    quoted: &str,
) -> Result<Vec<ColumnInfo>, ConnectorError> {
    let d = s.dialect();
    match s.columns(table, quoted) {
        Ok(Some(cols)) => Ok(cols),
        Ok(None) => {
            let existing = s.table_names();
            Err(ConnectorError::misconfigured(format!(
                "table {table} does not exist{}",
                if existing.is_empty() {
                    String::new()
                } else {
                    format!(" (tables: {})", existing.join(", "))
                }
            )))
        }
        Err(e) => Err(classify(&e, d, &format!("reading the columns of {table}"))),
    }
}

fn find_column<'c>(
    cols: &'c [ColumnInfo],
    table: &str,
    role: &str,
    name: &str,
) -> Result<&'c ColumnInfo, ConnectorError> {
    cols.iter()
        .find(|c| c.name == name)
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
            ConnectorError::misconfigured(format!(
                "the {role} column {name} is not in table {table} (columns: {})",
                names.join(", ")
            ))
        })
}

/// Discovers every configured object type.
pub(crate) fn discover(config: &SqlConfig, s: &mut dyn Session) -> Result<Model, ConnectorError> {
    let dialect = config.dialect.unwrap_or_else(|| s.dialect());
    let mut objects: Vec<ObjectModel> = Vec::new();
    for oc in &config.objects {
        match &oc.type_column {
            None => {
                if !oc.types.is_empty() || oc.types_query.is_some() {
                    return Err(ConnectorError::misconfigured(format!(
                        "object type {}: types and types_query need a type_column",
                        oc.object_type
                    )));
                }
                objects.push(discover_object(oc, None, dialect, s)?);
            }
            Some(column) => {
                for name in type_names(oc, column, s)? {
                    let mut typed = oc.clone();
                    typed.object_type = name;
                    objects.push(discover_object(&typed, Some(column), dialect, s)?);
                }
            }
        }
    }
    for (i, o) in objects.iter().enumerate() {
        if objects
            .iter()
            .skip(i + 1)
            .any(|p| p.object_type.eq_ignore_ascii_case(&o.object_type))
        {
            return Err(ConnectorError::misconfigured(format!(
                "object type {} is configured twice (a fixed type, or a name given twice by \
                 types or types_query, which compare case-insensitively)",
                o.object_type
            )));
        }
    }
    let schema = ConnectorSchema {
        object_types: objects.iter().map(ObjectModel::schema).collect(),
    };
    Ok(Model {
        dialect,
        objects,
        schema,
    })
}

/// The type names of an `[[object]]` with a `type_column`: its `types`, or what its
/// `types_query` returns (one column; NULL, empty or no rows are `Misconfigured`).
fn type_names(
    oc: &ObjectConfig,
    column: &str,
    s: &mut dyn Session,
) -> Result<Vec<String>, ConnectorError> {
    let bad = |m: String| {
        ConnectorError::misconfigured(format!(
            "the [[object]] on table {} with type_column {column}: {m}",
            oc.table
        ))
    };
    if !oc.object_type.is_empty() {
        return Err(bad(format!(
            "give either type = {:?} (one fixed type) or type_column (types read from a \
             column), not both",
            oc.object_type
        )));
    }
    let names = match (&oc.types_query, oc.types.is_empty()) {
        (Some(_), false) => {
            return Err(bad("give either types or types_query, not both".into()));
        }
        (None, true) => {
            return Err(bad(
                "it needs types = [\"User\", …] or types_query = \"SELECT DISTINCT …\"".into(),
            ));
        }
        (None, false) => oc.types.clone(),
        (Some(query), true) => {
            let d = s.dialect();
            let (columns, rows) =
                s.query_named(query, &[], &|_| AttrKind::String)
                    .map_err(|e| {
                        classify(&e, d, &format!("running the types_query of {}", oc.table))
                    })?;
            if columns.len() != 1 {
                return Err(bad(format!(
                    "types_query must return one column, not {} ({})",
                    columns.len(),
                    columns.join(", ")
                )));
            }
            let mut names = Vec::with_capacity(rows.len());
            for row in rows {
                let cell = row
                    .into_iter()
                    .next()
                    .unwrap_or(Value::Null(AttrKind::String));
                match crate::value::from_cell(cell, AttrKind::String) {
                    Ok(Some(v)) => names.push(v.to_text()),
                    Ok(None) => {
                        return Err(bad(
                            "types_query returned NULL; every row needs a type name (add \
                             WHERE … IS NOT NULL)"
                                .into(),
                        ));
                    }
                    Err(e) => return Err(bad(format!("types_query returned {e}"))),
                }
            }
            if names.is_empty() {
                return Err(bad(
                    "types_query returned no type name, so there would be no object type".into(),
                ));
            }
            names
        }
    };
    if let Some(blank) = names.iter().find(|n| n.trim().is_empty()) {
        return Err(bad(format!("the type name {blank:?} is blank")));
    }
    Ok(names)
}

/// Discovers one object type; `type_column` restricts it to the rows of its type in a shared
/// table (`oc.object_type` is then the type read from that column).
fn discover_object(
    oc: &ObjectConfig,
    type_column: Option<&String>,
    d: Dialect,
    s: &mut dyn Session,
) -> Result<ObjectModel, ConnectorError> {
    let table_q = quote_table(d, &oc.table)?;
    let cols = table_columns(s, &oc.table, &table_q)?;
    let anchor_name = find_column(&cols, &oc.table, "anchor", &oc.anchor)?
        .name
        .clone();
    let type_filter = match type_column {
        None => None,
        Some(name) => {
            let c = find_column(&cols, &oc.table, "type", name)?;
            let clash = [
                Some(&oc.anchor),
                oc.soft_delete.as_ref(),
                match &oc.dn {
                    Some(DnConfig::Column(dn)) => Some(dn),
                    _ => None,
                },
            ];
            if clash
                .iter()
                .flatten()
                .any(|x| x.eq_ignore_ascii_case(&c.name))
            {
                return Err(ConnectorError::misconfigured(format!(
                    "the type_column {} of table {} is also its anchor, DN or soft-delete column",
                    c.name, oc.table
                )));
            }
            if oc.import_query.is_some() {
                return Err(ConnectorError::misconfigured(format!(
                    "object type {}: import_query cannot be combined with type_column (the \
                     query is not restricted to one type); read a view per type instead",
                    oc.object_type
                )));
            }
            if let Some(DeltaConfig::Table(t)) = &oc.delta
                && t.after_read != AfterRead::Keep
            {
                return Err(ConnectorError::misconfigured(format!(
                    "object type {}: with type_column every type reads the same history table \
                     {} with its own watermark, so after_read must be \"keep\" (one type \
                     would otherwise remove rows another has not read)",
                    oc.object_type, t.table
                )));
            }
            Some((
                c.name.clone(),
                TypeFilter {
                    column: c.name.clone(),
                    column_q: quote(d, "column", &c.name)?,
                    value: scalar_param(&Scalar::String(oc.object_type.clone()), c.storage),
                },
            ))
        }
    };
    let dn_name = match &oc.dn {
        Some(DnConfig::Column(c)) => Some(find_column(&cols, &oc.table, "DN", c)?.name.clone()),
        _ => None,
    };
    for name in oc.attributes.keys() {
        find_column(&cols, &oc.table, "overridden", name)?;
    }
    let watermark_name = match &oc.delta {
        Some(DeltaConfig::Watermark(w)) => Some(
            find_column(&cols, &oc.table, "watermark", &w.column)?
                .name
                .clone(),
        ),
        _ => None,
    };
    let mut columns = Vec::new();
    let mut dn = match oc.dn {
        Some(DnConfig::Autogenerated) => DnModel::Auto,
        _ => DnModel::None,
    };
    let mut anchor = 0;
    for c in &cols {
        let is_anchor = c.name == anchor_name;
        if !is_anchor && oc.exclude.iter().any(|x| x.eq_ignore_ascii_case(&c.name)) {
            continue;
        }
        // The type column says which object type a row is; it is not an attribute.
        if type_filter
            .as_ref()
            .is_some_and(|(name, _)| *name == c.name)
        {
            continue;
        }
        let ov = oc
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&c.name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let kind: AttrKind = ov.kind.map_or(c.storage, Into::into);
        let (zone, format) = datetime_options(oc, &c.name, kind, &ov)?;
        // The watermark column is maintained by the database, never written by exports.
        let default_direction = if Some(&c.name) == watermark_name.as_ref() {
            Direction::Import
        } else {
            Direction::ImportExport
        };
        let direction = ov.direction.map_or(default_direction, Into::into);
        // A secret (password) column is written by exports and never read back.
        if kind == AttrKind::Secret && direction != Direction::Export && ov.direction.is_some() {
            return Err(ConnectorError::misconfigured(format!(
                "column {} of {} is a secret (type = \"secret\"): secrets are export-only, so its \
                 direction cannot be {:?}; remove the direction",
                c.name, oc.table, direction
            )));
        }
        if kind == AttrKind::Secret && (is_anchor || Some(&c.name) == dn_name.as_ref()) {
            return Err(ConnectorError::misconfigured(format!(
                "column {} of {} is the anchor or the DN and cannot be a secret",
                c.name, oc.table
            )));
        }
        let model = ColumnModel {
            name: c.name.clone(),
            quoted: quote(d, "column", &c.name)?,
            storage: c.storage,
            kind,
            direction: if kind == AttrKind::Secret {
                Direction::Export
            } else {
                direction
            },
            required: ov.required.unwrap_or(c.required),
            zone,
            format,
        };
        if Some(&c.name) == dn_name.as_ref() {
            dn = DnModel::Column(model);
            continue;
        }
        if is_anchor {
            anchor = columns.len();
        }
        columns.push(model);
    }
    let mut multivalued: Vec<MvModel> = Vec::new();
    for mc in &oc.multivalued {
        if columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&mc.attribute))
            || multivalued
                .iter()
                .any(|m| m.attribute.eq_ignore_ascii_case(&mc.attribute))
        {
            return Err(ConnectorError::misconfigured(format!(
                "the multi-valued attribute {} of {} clashes with another attribute of that name",
                mc.attribute, oc.object_type
            )));
        }
        let child_q = quote_table(d, &mc.table)?;
        let child = table_columns(s, &mc.table, &child_q)?;
        let back = find_column(&child, &mc.table, "anchor", &mc.anchor_column)?;
        let value = find_column(&child, &mc.table, "value", &mc.value_column)?;
        let attr_filter = match &mc.attribute_column {
            Some(name) => {
                let col = find_column(&child, &mc.table, "attribute", name)?;
                Some((quote(d, "column", &col.name)?, mc.attribute.clone()))
            }
            None => None,
        };
        multivalued.push(MvModel {
            attribute: mc.attribute.clone(),
            table: mc.table.clone(),
            table_q: child_q,
            anchor_q: quote(d, "column", &back.name)?,
            anchor_storage: back.storage,
            value_q: quote(d, "column", &value.name)?,
            value_storage: value.storage,
            kind: mc.kind.into(),
            attr_filter,
        });
    }
    let (soft_delete, soft_delete_name) = match &oc.soft_delete {
        Some(name) => {
            let c = find_column(&cols, &oc.table, "soft-delete", name)?;
            (
                Some((quote(d, "column", &c.name)?, c.storage)),
                Some(c.name.clone()),
            )
        }
        None => (None, None),
    };
    let delta = match &oc.delta {
        None => None,
        Some(DeltaConfig::Watermark(w)) => {
            let c = find_column(&cols, &oc.table, "watermark", &w.column)?;
            let kind = w.kind.unwrap_or(if c.storage == AttrKind::DateTime {
                WatermarkKind::Timestamp
            } else {
                WatermarkKind::Integer
            });
            if kind == WatermarkKind::Rowversion && d != Dialect::SqlServer {
                return Err(ConnectorError::misconfigured(format!(
                    "watermark kind \"rowversion\" of {} needs SQL Server; use \"integer\" with a \
                     sequence or counter column on {}",
                    oc.object_type,
                    d.name()
                )));
            }
            Some(DeltaModel::Watermark {
                column_q: quote(d, "column", &c.name)?,
                storage: c.storage,
                kind,
                lag: w.safety_lag,
            })
        }
        Some(DeltaConfig::Table(t)) => {
            let hq = quote_table(d, &t.table)?;
            let hist = table_columns(s, &t.table, &hq)?;
            let a = find_column(&hist, &t.table, "anchor", &t.anchor_column)?;
            let ch = find_column(&hist, &t.table, "change", &t.change_column)?;
            let seq = find_column(&hist, &t.table, "sequence", &t.sequence_column)?;
            let after_read = match &t.after_read {
                AfterRead::Keep => AfterReadModel::Keep,
                AfterRead::Delete => AfterReadModel::Delete,
                AfterRead::Set { column, value } => {
                    let c = find_column(&hist, &t.table, "after_read", column)?;
                    AfterReadModel::Set {
                        column_q: quote(d, "column", &c.name)?,
                        value: scalar_param(value, c.storage),
                    }
                }
            };
            Some(DeltaModel::Table {
                table: t.table.clone(),
                table_q: hq,
                anchor_q: quote(d, "column", &a.name)?,
                anchor_storage: a.storage,
                change_q: quote(d, "column", &ch.name)?,
                seq_q: quote(d, "column", &seq.name)?,
                values: Box::new(t.change_values.clone()),
                after_read,
            })
        }
    };
    let mut model = ObjectModel {
        object_type: oc.object_type.clone(),
        table: oc.table.clone(),
        table_q,
        anchor,
        columns,
        dn,
        multivalued,
        view: oc.view,
        soft_delete,
        soft_delete_name,
        delta,
        export: ExportModel::Table,
        import_query: match &oc.import_query {
            Some(q) => Some(import_query(&oc.object_type, q)?),
            None => None,
        },
        type_filter: type_filter.map(|(_, f)| f),
    };
    model.export = export_model(oc, d, &model)?;
    Ok(model)
}

/// A configured scalar as a parameter for a column storing `storage`.
pub(crate) fn scalar_param(v: &Scalar, storage: AttrKind) -> Value {
    let attr = match v {
        Scalar::Boolean(b) => connector_core::AttrValue::Boolean(*b),
        Scalar::Integer(i) => connector_core::AttrValue::Integer(*i),
        Scalar::String(s) => connector_core::AttrValue::String(s.clone()),
    };
    crate::value::to_param(&attr, storage).unwrap_or_else(|_| match v {
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::String(s) => Value::Text(s.clone()),
    })
}

/// The `time_zone` and `format` of a column, checked.
fn datetime_options(
    oc: &ObjectConfig,
    column: &str,
    kind: AttrKind,
    ov: &crate::config::AttributeOverride,
) -> Result<(Option<UtcOffset>, Option<Arc<OwnedFormatItem>>), ConnectorError> {
    if (ov.time_zone.is_some() || ov.format.is_some()) && kind != AttrKind::DateTime {
        return Err(ConnectorError::misconfigured(format!(
            "time_zone and format apply to datetime attributes; {}.{column} is not one \
             (set type = \"datetime\")",
            oc.object_type
        )));
    }
    let zone = match &ov.time_zone {
        None => None,
        Some(z) => Some(crate::value::parse_zone(z).ok_or_else(|| {
            ConnectorError::misconfigured(format!(
                "time_zone {z:?} of {}.{column}: write \"UTC\" or a fixed offset such as \
                 \"+01:00\"; IANA zone names are not supported",
                oc.object_type
            ))
        })?),
    };
    let format = match &ov.format {
        None => None,
        Some(f) => Some(Arc::new(
            time::format_description::parse_owned::<2>(f).map_err(|e| {
                ConnectorError::misconfigured(format!(
                    "format {f:?} of {}.{column} is not a time format description: {e}",
                    oc.object_type
                ))
            })?,
        )),
    };
    Ok((zone, format))
}

/// Resolves `[object.export]`: procedure calls and custom statements with their parameters.
/// An unknown placeholder or parameter is a configuration error here, at discovery, not at
/// export time.
fn export_model(
    oc: &ObjectConfig,
    d: Dialect,
    obj: &ObjectModel,
) -> Result<ExportModel, ConnectorError> {
    let source = |name: &str, context: &str| -> Result<ParamSource, ConnectorError> {
        let name = name.strip_prefix('@').unwrap_or(name);
        if name.eq_ignore_ascii_case("anchor") {
            return Ok(ParamSource::Anchor);
        }
        if obj
            .type_filter
            .as_ref()
            .is_some_and(|t| t.column.eq_ignore_ascii_case(name))
        {
            return Ok(ParamSource::ObjectType);
        }
        let exact = obj.columns.iter().position(|c| c.name == name);
        let found = exact.or_else(|| {
            obj.columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
        });
        found.map(ParamSource::Column).ok_or_else(|| {
            let names: Vec<&str> = obj.columns.iter().map(|c| c.name.as_str()).collect();
            ConnectorError::misconfigured(format!(
                "{context} of {}: @{name} is neither \"anchor\" nor a single-valued attribute \
                 (attributes: {})",
                oc.object_type,
                names.join(", ")
            ))
        })
    };
    match &oc.export {
        None | Some(ExportConfig::Table(_)) => Ok(ExportModel::Table),
        Some(ExportConfig::Procedure(p)) => {
            let call = |c: &Option<crate::config::ProcedureCall>,
                        op: &str|
             -> Result<Vec<Statement>, ConnectorError> {
                let Some(c) = c else {
                    return Ok(Vec::new());
                };
                let context = format!("the {op} procedure {}", c.name);
                let name_q = quote_table(d, &c.name)?;
                let sql = d.procedure_call(&name_q, c.parameters.len()).map_err(|e| {
                    ConnectorError::misconfigured(format!("{context} of {}: {e}", oc.object_type))
                })?;
                let params = c
                    .parameters
                    .iter()
                    .map(|p| source(p, &context))
                    .collect::<Result<_, _>>()?;
                Ok(vec![Statement { sql, params }])
            };
            Ok(ExportModel::Custom {
                what: "procedure",
                add: call(&p.add, "add")?,
                update: call(&p.update, "update")?,
                delete: call(&p.delete, "delete")?,
            })
        }
        Some(ExportConfig::Sql(q)) => {
            let stmts = |list: &[String], op: &str| -> Result<Vec<Statement>, ConnectorError> {
                list.iter()
                    .enumerate()
                    .map(|(i, text)| {
                        let context = format!("{op} statement #{}", i + 1);
                        let (sql, names) = crate::dialect::placeholders(text).map_err(|e| {
                            ConnectorError::misconfigured(format!(
                                "{context} of {}: {e}",
                                oc.object_type
                            ))
                        })?;
                        let params = names
                            .iter()
                            .map(|n| source(n, &context))
                            .collect::<Result<_, _>>()?;
                        Ok(Statement { sql, params })
                    })
                    .collect()
            };
            Ok(ExportModel::Custom {
                what: "SQL",
                add: stmts(&q.add, "add")?,
                update: stmts(&q.update, "update")?,
                delete: stmts(&q.delete, "delete")?,
            })
        }
    }
}
