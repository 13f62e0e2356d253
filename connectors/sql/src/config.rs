//! The `[connector.sql]` configuration: which database, which tables, and how their columns
//! become attributes.
//!
//! The host embeds this table in its TOML file and hands it over as a [`SqlConfig`]; this crate
//! owns the shape so the host never needs to know what a staging table is. Unknown keys are
//! rejected (`deny_unknown_fields`) so a typo fails at start-up instead of being ignored.
//! Durations are written either as integer seconds (`30`) or as a string with a unit
//! (`"500ms"`, `"30s"`, `"2m"`, `"1h"`). The connection string may hold a password, so
//! [`SqlConfig`]'s `Debug` shows only [`SqlConfig::redacted_connection`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use connector_core::settings::duration;
use connector_core::{AttrKind, Direction};
use serde::{Deserialize, Deserializer};

use crate::dialect::Dialect;

/// The configuration of one SQL connector.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// `sqlite://path.db` (relative to the host's base directory), `sqlite::memory:`, or an ODBC
    /// connection string (`Driver={PostgreSQL Unicode};Server=…;`, `DSN=…;`).
    pub connection: String,
    /// The SQL dialect; detected from the ODBC driver's DBMS name when absent.
    #[serde(default)]
    pub dialect: Option<Dialect>,
    /// Time limit per statement (ODBC query timeout; SQLite busy timeout). Default 30 s.
    #[serde(default = "default_command_timeout", deserialize_with = "duration")]
    pub command_timeout: Duration,
    /// ODBC connections kept open. Default 4.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Page size of imports when the caller asks for 0. Default 500.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// How the host sends changes to existing objects: `"update"` (attribute-level, the
    /// default) or `"replace"` (every exported attribute on each change, which suits stored
    /// procedures and custom SQL that write whole rows).
    #[serde(default)]
    pub export_style: ExportStyleName,
    /// One entry per object type (`[[object]]`).
    #[serde(rename = "object", default)]
    pub objects: Vec<ObjectConfig>,
}

/// `export_style` as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStyleName {
    #[default]
    Update,
    Replace,
}

impl fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConfig")
            .field("connection", &self.redacted_connection())
            .field("dialect", &self.dialect)
            .field("command_timeout", &self.command_timeout)
            .field("pool_size", &self.pool_size)
            .field("page_size", &self.page_size)
            .field("export_style", &self.export_style)
            .field("objects", &self.objects)
            .finish()
    }
}

impl SqlConfig {
    /// A configuration with defaults for everything but the connection and object types.
    pub fn new(connection: impl Into<String>, objects: Vec<ObjectConfig>) -> Self {
        SqlConfig {
            connection: connection.into(),
            dialect: None,
            command_timeout: default_command_timeout(),
            pool_size: default_pool_size(),
            page_size: default_page_size(),
            export_style: ExportStyleName::Update,
            objects,
        }
    }

    /// The connection string safe to log: everything before a `PWD=` or `Password=` key.
    pub fn redacted_connection(&self) -> String {
        redact(&self.connection)
    }
}

/// The part of a connection string before any password key.
pub(crate) fn redact(connection: &str) -> String {
    let lower = connection.to_ascii_lowercase();
    let cut = ["pwd=", "password="]
        .iter()
        .filter_map(|key| lower.find(key))
        .min();
    match cut {
        Some(at) => format!("{}…", connection.get(..at).unwrap_or("")),
        None => connection.to_owned(),
    }
}

fn default_command_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_pool_size() -> usize {
    4
}
fn default_page_size() -> usize {
    500
}

/// One object type backed by one table (plus child tables for multi-valued attributes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// The object type name, e.g. `User` or `Group`. Required unless `type_column` is given
    /// (empty when absent); giving both is `Misconfigured` at discovery.
    #[serde(rename = "type", default)]
    pub object_type: String,
    /// The table, optionally schema-qualified (`hr.Employees`).
    pub table: String,
    /// The anchor column.
    pub anchor: String,
    /// How objects get a DN; `None` for no DN.
    #[serde(default)]
    pub dn: Option<DnConfig>,
    /// Columns not exposed as attributes.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Per-column overrides of the discovered type and direction.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeOverride>,
    /// Child tables holding multi-valued attributes (`[[object.multivalued]]`).
    #[serde(default)]
    pub multivalued: Vec<MultiValuedConfig>,
    /// `table` names a view: it is read like a table but never written with generated
    /// statements, so exports are refused unless `[object.export]` gives procedures or SQL.
    #[serde(default)]
    pub view: bool,
    /// A column marking rows as deleted (`IsDeleted`, `_isdeleted`): rows where it is true or
    /// non-zero are skipped by full imports and reported as deletes by delta imports, and a
    /// delete export sets it instead of removing the row.
    #[serde(default)]
    pub soft_delete: Option<String>,
    /// How delta imports find changes (`[object.delta]`); none means full imports only.
    #[serde(default)]
    pub delta: Option<DeltaConfig>,
    /// How changes are written (`[object.export]`); none means generated statements on `table`.
    #[serde(default)]
    pub export: Option<ExportConfig>,
    /// A query full imports read instead of `table` (a join, a view with parameters, a source
    /// too large for one scan): `@LastAnchor` and `@PageSize` for keyset paging, or MIM's
    /// `@StartIndex`/`@EndIndex` (1-based row numbers), bound as parameters. Its result columns
    /// are matched by name to the attributes discovered from `table`, which still defines the
    /// schema and serves delta imports and exports.
    #[serde(default)]
    pub import_query: Option<String>,
    /// A column of `table` holding each row's object type (MIM's "a column holds the object
    /// types"). Each type named by `types` or returned by `types_query` becomes its own object
    /// type, with the table's other columns and this entry's settings; its rows are those whose
    /// `type_column` equals the type name. Replaces `type`.
    #[serde(default)]
    pub type_column: Option<String>,
    /// With `type_column`: the fixed list of type names.
    #[serde(default)]
    pub types: Vec<String>,
    /// With `type_column`: a query returning the type names in its one column, run at schema
    /// discovery (`SELECT DISTINCT ObjectKind FROM Directory`).
    #[serde(default)]
    pub types_query: Option<String>,
}

/// How delta imports of one object type find what changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "strategy", rename_all = "lowercase")]
pub enum DeltaConfig {
    /// A column that grows with every change (`strategy = "watermark"`).
    Watermark(WatermarkConfig),
    /// A history table filled by triggers (`strategy = "table"`).
    Table(DeltaTableConfig),
}

/// `strategy = "watermark"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkConfig {
    /// The column on the object table that the staging DDL sets on every insert and update
    /// (and, through a trigger, on every change of a child table row).
    pub column: String,
    /// `"integer"` (a sequence, a counter, a rowversion cast to bigint), `"timestamp"`, or
    /// `"rowversion"` (SQL Server only: bounded by `MIN_ACTIVE_ROWVERSION()`). Default: from the
    /// column's type (date/time → timestamp, anything else → integer).
    #[serde(default)]
    pub kind: Option<WatermarkKind>,
    /// For timestamps: how far behind the database's current time each run stops, so a
    /// transaction that commits late with an earlier timestamp is still seen. Default 5 s.
    #[serde(default = "default_safety_lag", deserialize_with = "duration")]
    pub safety_lag: Duration,
}

/// The kind of a watermark column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatermarkKind {
    Integer,
    Timestamp,
    Rowversion,
}

fn default_safety_lag() -> Duration {
    Duration::from_secs(5)
}

/// `strategy = "table"`: a history (delta) table filled by triggers on the object table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaTableConfig {
    /// The history table.
    pub table: String,
    /// Its column holding the changed object's anchor.
    pub anchor_column: String,
    /// Its column holding the change type.
    pub change_column: String,
    /// Its strictly increasing column (identity, sequence, autoincrement).
    pub sequence_column: String,
    /// Values of `change_column` meaning add, update and delete. Default
    /// `add = ["A", "Add"]`, `update = ["U", "Update", "M", "Modify"]`, `delete = ["D", "Delete"]`,
    /// compared case-insensitively.
    #[serde(default)]
    pub change_values: ChangeValues,
    /// What happens to rows already imported and committed by the host: `"keep"` (default),
    /// `"delete"` or `{ set = "Processed", value = 1 }`. Done at the start of the next delta
    /// import, for rows at or below the watermark that run starts from.
    #[serde(default)]
    pub after_read: AfterRead,
}

/// The change-type values of a history table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeValues {
    #[serde(default = "default_add")]
    pub add: Vec<String>,
    #[serde(default = "default_update")]
    pub update: Vec<String>,
    #[serde(default = "default_delete")]
    pub delete: Vec<String>,
}

impl Default for ChangeValues {
    fn default() -> Self {
        ChangeValues {
            add: default_add(),
            update: default_update(),
            delete: default_delete(),
        }
    }
}

fn default_add() -> Vec<String> {
    vec!["A".into(), "Add".into()]
}
fn default_update() -> Vec<String> {
    vec!["U".into(), "Update".into(), "M".into(), "Modify".into()]
}
fn default_delete() -> Vec<String> {
    vec!["D".into(), "Delete".into()]
}

/// What to do with history rows the host has committed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AfterRead {
    #[default]
    Keep,
    Delete,
    /// Set `column` to `value` (an integer, boolean or string).
    Set {
        column: String,
        value: toml_value::Scalar,
    },
}

impl<'de> Deserialize<'de> for AfterRead {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Set {
            set: String,
            value: toml_value::Scalar,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Keyword(String),
            Set(Set),
        }
        match Raw::deserialize(d)? {
            Raw::Keyword(k) if k.eq_ignore_ascii_case("keep") => Ok(AfterRead::Keep),
            Raw::Keyword(k) if k.eq_ignore_ascii_case("delete") => Ok(AfterRead::Delete),
            Raw::Keyword(k) => Err(serde::de::Error::custom(format!(
                "after_read must be \"keep\", \"delete\" or {{ set = \"column\", value = … }}, not \"{k}\""
            ))),
            Raw::Set(s) => Ok(AfterRead::Set {
                column: s.set,
                value: s.value,
            }),
        }
    }
}

/// Scalars written in the configuration (a value to set, a parameter default).
pub mod toml_value {
    use serde::Deserialize;

    /// An integer, boolean or string from the configuration.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(untagged)]
    pub enum Scalar {
        Boolean(bool),
        Integer(i64),
        String(String),
    }
}

/// How changes to one object type are written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ExportConfig {
    /// Generated `INSERT`/`UPDATE`/`DELETE` on the table (the default; `mode = "table"`).
    Table(NoOptions),
    /// Stored procedures (`mode = "procedure"`).
    Procedure(ProcedureExport),
    /// Statements with `@Attribute` placeholders (`mode = "sql"`).
    Sql(SqlExport),
}

/// No further keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// `mode = "procedure"`: one procedure per operation; an operation without one is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureExport {
    #[serde(default)]
    pub add: Option<ProcedureCall>,
    #[serde(default)]
    pub update: Option<ProcedureCall>,
    #[serde(default)]
    pub delete: Option<ProcedureCall>,
}

/// One procedure and the attributes bound to its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureCall {
    /// The procedure name, optionally schema-qualified.
    pub name: String,
    /// The attributes passed positionally, in the procedure's parameter order (`"anchor"` for
    /// the anchor; a leading `@` is allowed and ignored).
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// `mode = "sql"`: per operation, statements run in order in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlExport {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub update: Vec<String>,
    #[serde(default)]
    pub delete: Vec<String>,
}

impl ObjectConfig {
    /// An object type with no DN, exclusions, overrides or child tables.
    pub fn new(
        object_type: impl Into<String>,
        table: impl Into<String>,
        anchor: impl Into<String>,
    ) -> Self {
        ObjectConfig {
            object_type: object_type.into(),
            table: table.into(),
            anchor: anchor.into(),
            dn: None,
            exclude: Vec::new(),
            attributes: BTreeMap::new(),
            multivalued: Vec::new(),
            view: false,
            soft_delete: None,
            delta: None,
            export: None,
            import_query: None,
            type_column: None,
            types: Vec::new(),
            types_query: None,
        }
    }
}

/// How an object's DN is formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnConfig {
    /// `CN=<anchor>,OBJECT=<TYPE>`, as Microsoft's ECMA host generates it (`dn = "autogenerated"`).
    Autogenerated,
    /// Read from and written to this column (`dn = { column = "DN" }`).
    Column(String),
}

impl<'de> Deserialize<'de> for DnConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Column {
            column: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Keyword(String),
            Column(Column),
        }
        match Raw::deserialize(d)? {
            Raw::Keyword(k) if k.eq_ignore_ascii_case("autogenerated") => {
                Ok(DnConfig::Autogenerated)
            }
            Raw::Keyword(k) => Err(serde::de::Error::custom(format!(
                "dn must be \"autogenerated\" or {{ column = \"…\" }}, not \"{k}\""
            ))),
            Raw::Column(c) => Ok(DnConfig::Column(c.column)),
        }
    }
}

/// Overrides for one discovered column.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeOverride {
    /// The attribute type instead of the discovered one.
    #[serde(rename = "type", default)]
    pub kind: Option<AttrType>,
    /// `import`, `export` or `importexport`.
    #[serde(default)]
    pub direction: Option<DirectionName>,
    /// Whether an add must carry a value.
    #[serde(default)]
    pub required: Option<bool>,
    /// For date-times stored without a zone: the zone the stored wall-clock time is in,
    /// `"UTC"` or a fixed offset such as `"+01:00"` (IANA names are not supported). Values
    /// reach the host in UTC and are converted back on export. Default UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// For date-times stored as text: a `time` crate format description, e.g.
    /// `"[day].[month].[year] [hour]:[minute]"`. Default: ISO-like `YYYY-MM-DD HH:MM:SS`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A child table holding one multi-valued attribute, one row per value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiValuedConfig {
    /// The attribute name exposed.
    pub attribute: String,
    /// The child table (optionally schema-qualified).
    pub table: String,
    /// The column referring back to the parent's anchor.
    pub anchor_column: String,
    /// The column holding one value.
    pub value_column: String,
    /// For a table shared by several attributes: the column naming the attribute of each row.
    #[serde(default)]
    pub attribute_column: Option<String>,
    /// The type of the values; default `string`. `reference` for memberships.
    #[serde(rename = "type", default)]
    pub kind: AttrType,
}

impl MultiValuedConfig {
    /// A child table of string values.
    pub fn new(
        attribute: impl Into<String>,
        table: impl Into<String>,
        anchor_column: impl Into<String>,
        value_column: impl Into<String>,
    ) -> Self {
        MultiValuedConfig {
            attribute: attribute.into(),
            table: table.into(),
            anchor_column: anchor_column.into(),
            value_column: value_column.into(),
            attribute_column: None,
            kind: AttrType::String,
        }
    }
}

/// An attribute type as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttrType {
    #[default]
    String,
    Integer,
    Boolean,
    #[serde(alias = "date", alias = "timestamp")]
    Datetime,
    Binary,
    Reference,
    /// A password: written by exports, never read by imports (export-only).
    #[serde(alias = "password")]
    Secret,
}

impl From<AttrType> for AttrKind {
    fn from(t: AttrType) -> Self {
        match t {
            AttrType::String => AttrKind::String,
            AttrType::Integer => AttrKind::Integer,
            AttrType::Boolean => AttrKind::Boolean,
            AttrType::Datetime => AttrKind::DateTime,
            AttrType::Binary => AttrKind::Binary,
            AttrType::Reference => AttrKind::Reference,
            AttrType::Secret => AttrKind::Secret,
        }
    }
}

/// An attribute direction as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectionName {
    Import,
    Export,
    #[serde(alias = "import_export", alias = "both")]
    ImportExport,
}

impl From<DirectionName> for Direction {
    fn from(d: DirectionName) -> Self {
        match d {
            DirectionName::Import => Direction::Import,
            DirectionName::Export => Direction::Export,
            DirectionName::ImportExport => Direction::ImportExport,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_only_what_precedes_the_password() {
        let check = |input: &str, expected: &str| assert_eq!(redact(input), expected, "{input}");
        check(
            "Driver={PostgreSQL Unicode};Server=db;Uid=app;Pwd=s3cret;",
            "Driver={PostgreSQL Unicode};Server=db;Uid=app;…",
        );
        check("DSN=hr;PASSWORD=x;UID=a", "DSN=hr;…");
        check("sqlite://data/hr.db", "sqlite://data/hr.db");
        check("pwd=x", "…");
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
            connection = "sqlite://data/hr.db"
            dialect = "postgresql"
            command_timeout = "45s"
            pool_size = 2
            [[object]]
            type = "User"
            table = "hr.Employees"
            anchor = "EmployeeId"
            dn = "autogenerated"
            exclude = ["RowVersion"]
            [object.attributes.HireDate]
            type = "datetime"
            [[object.multivalued]]
            attribute = "proxyAddresses"
            table = "EmployeeProxyAddresses"
            anchor_column = "EmployeeId"
            value_column = "Address"
            [[object]]
            type = "Group"
            table = "Groups"
            anchor = "GroupId"
            dn = { column = "DN" }
            [[object.multivalued]]
            attribute = "members"
            table = "GroupMembers"
            anchor_column = "GroupId"
            value_column = "MemberId"
            type = "reference"
        "#;
        let c: SqlConfig = toml::from_str(text).unwrap();
        assert_eq!(c.dialect, Some(Dialect::PostgreSql));
        assert_eq!(c.command_timeout, Duration::from_secs(45));
        assert_eq!(c.pool_size, 2);
        assert_eq!(c.page_size, 500);
        let user = &c.objects[0];
        assert_eq!(user.dn, Some(DnConfig::Autogenerated));
        assert_eq!(user.attributes["HireDate"].kind, Some(AttrType::Datetime));
        assert_eq!(user.multivalued[0].kind, AttrType::String);
        let group = &c.objects[1];
        assert_eq!(group.dn, Some(DnConfig::Column("DN".into())));
        assert_eq!(group.multivalued[0].kind, AttrType::Reference);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let check = |text: &str| {
            assert!(toml::from_str::<SqlConfig>(text).is_err(), "{text}");
        };
        check("connection = \"x\"\ntabel = \"T\"");
        check("connection = \"x\"\ncommand_timeout = \"soon\"");
        check("connection = \"x\"\ndialect = \"cobol\"");
        check("connection = \"x\"\n[[object]]\ntype=\"U\"\ntable=\"T\"\nanchor=\"A\"\ndn=\"yes\"");
        let object = "connection = \"x\"\n[[object]]\ntype=\"U\"\ntable=\"T\"\nanchor=\"A\"\n";
        check(&format!(
            "{object}[object.delta]\nstrategy=\"watermark\"\ncolumn=\"v\"\ncolum=\"w\""
        ));
        check(&format!(
            "{object}[object.delta]\nstrategy=\"snapshot\"\ncolumn=\"v\""
        ));
        check(&format!(
            "{object}[object.delta]\nstrategy=\"table\"\ntable=\"H\"\nanchor_column=\"a\"\nchange_column=\"c\"\nsequence_column=\"s\"\nafter_read=\"purge\""
        ));
        check(&format!(
            "{object}[object.export]\nmode=\"sql\"\nadd=[\"x\"]\nremove=[\"y\"]"
        ));
        check(&format!(
            "{object}[object.export]\nmode=\"procedure\"\nadd={{ name=\"p\", params=[] }}"
        ));
        check("connection = \"x\"\nexport_style = \"patch\"");
        check("connection = \"x\"\n[[object]]\ntable=\"T\"\nanchor=\"A\"\ntype_colum=\"K\"");
        check("connection = \"x\"\n[[object]]\ntable=\"T\"\nanchor=\"A\"\ntypes=\"User\"");
        let typed: SqlConfig = toml::from_str(
            "connection = \"x\"\n[[object]]\ntable=\"T\"\nanchor=\"A\"\ntype_column=\"K\"\ntypes=[\"User\", \"Contact\"]",
        )
        .unwrap();
        assert_eq!(typed.objects[0].object_type, "");
        assert_eq!(typed.objects[0].type_column.as_deref(), Some("K"));
        assert_eq!(typed.objects[0].types, ["User", "Contact"]);
        // The same tables without the typo parse.
        let ok = format!(
            "{object}[object.delta]\nstrategy=\"watermark\"\ncolumn=\"v\"\nsafety_lag=\"2s\""
        );
        let c: SqlConfig = toml::from_str(&ok).unwrap();
        assert_eq!(
            c.objects[0].delta,
            Some(DeltaConfig::Watermark(WatermarkConfig {
                column: "v".into(),
                kind: None,
                safety_lag: Duration::from_secs(2),
            }))
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let c = SqlConfig::new("Driver={X};Uid=a;Pwd=topsecret", vec![]);
        let shown = format!("{c:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
    }
}
