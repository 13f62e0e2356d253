//! The fixture the end-to-end matrix shares: staging tables (employees, groups, memberships)
//! per connector, the host configuration for a schema mode and a set of connectors, and test
//! people with the request bodies Entra would send for them in each mode.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::db::Database;
use crate::entra::{CORE_USER, ENTERPRISE_USER, ecma};
use crate::error::{E2eError, Result};
use crate::harness::token_hash;

/// Which SCIM schema the connectors expose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Microsoft's ECMA host schema: every column under the ECMA2Host extension URN.
    Ecma2host,
    /// Core User, EnterpriseUser and Group with the attribute map below.
    Scim,
}

impl Mode {
    /// The value of `schema = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Ecma2host => "ecma2host",
            Mode::Scim => "scim",
        }
    }

    /// The matching attribute Entra filters on (`userName`, or the UserName column).
    pub fn user_name_attr(self) -> String {
        match self {
            Mode::Ecma2host => ecma("UserName"),
            Mode::Scim => "userName".to_owned(),
        }
    }
}

/// What `active: false` does (`[connector.deprovision] disable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisable {
    /// `"none"`.
    Nothing,
    /// `"delete"`.
    Delete,
    /// `{ set = "IsActive", value = false }`.
    SetIsActive,
}

/// What `DELETE` does (`[connector.deprovision] delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// `"none"`.
    Nothing,
    /// `"delete"`.
    Delete,
}

/// One `[[connector]]` of the fixture, with its own tables `<name>_Employees`,
/// `<name>_Groups` and `<name>_GroupMembers`.
#[derive(Debug, Clone)]
pub struct ConnectorSpec {
    /// The connector's name (URL part and table prefix).
    pub name: String,
    /// Its bearer token (the configuration holds only its hash).
    pub token: String,
    /// Deprovisioning on disable.
    pub on_disable: OnDisable,
    /// Deprovisioning on delete.
    pub on_delete: OnDelete,
    /// Whether it serves `/Groups` (scim mode only).
    pub groups: bool,
}

impl ConnectorSpec {
    /// A connector named `name` with a random 40-character token.
    pub fn new(name: &str, on_disable: OnDisable, on_delete: OnDelete, groups: bool) -> Self {
        ConnectorSpec {
            name: name.to_owned(),
            token: format!("tok-{}", uuid::Uuid::new_v4().simple()),
            on_disable,
            on_delete,
            groups,
        }
    }

    /// The employees table.
    pub fn employees(&self) -> String {
        format!("{}_Employees", self.name)
    }

    /// The groups table.
    pub fn groups_table(&self) -> String {
        format!("{}_Groups", self.name)
    }

    /// The membership table.
    pub fn members_table(&self) -> String {
        format!("{}_GroupMembers", self.name)
    }
}

/// The employees table's columns, in [`EmployeeRow`] order.
pub const EMPLOYEE_COLUMNS: [&str; 10] = [
    "EmployeeId",
    "UserName",
    "ExternalId",
    "FirstName",
    "LastName",
    "DisplayName",
    "Email",
    "Department",
    "ManagerId",
    "IsActive",
];

/// One row of an employees table, column → text (`None` for NULL).
pub type EmployeeRow = BTreeMap<String, Option<String>>;

/// Creates `spec`'s tables in `db` (group tables only when `spec.groups`).
pub fn create_tables(db: &Database, spec: &ConnectorSpec) -> Result<()> {
    db.execute(&format!(
        r#"CREATE TABLE "{}" ("EmployeeId" VARCHAR(64) NOT NULL PRIMARY KEY, "UserName" VARCHAR(191) NOT NULL UNIQUE, "ExternalId" VARCHAR(191), "FirstName" VARCHAR(128), "LastName" VARCHAR(128), "DisplayName" VARCHAR(256), "Email" VARCHAR(256), "Department" VARCHAR(128), "ManagerId" VARCHAR(64), "IsActive" BOOL_T)"#,
        spec.employees()
    ))?;
    if spec.groups {
        db.execute(&format!(
            r#"CREATE TABLE "{}" ("GroupId" VARCHAR(64) NOT NULL PRIMARY KEY, "DisplayName" VARCHAR(191) NOT NULL UNIQUE, "ExternalId" VARCHAR(191))"#,
            spec.groups_table()
        ))?;
        db.execute(&format!(
            r#"CREATE TABLE "{}" ("GroupId" VARCHAR(64) NOT NULL, "MemberId" VARCHAR(64) NOT NULL, PRIMARY KEY ("GroupId", "MemberId"))"#,
            spec.members_table()
        ))?;
    }
    Ok(())
}

/// The employees row whose `UserName` is `user_name`, or `None`. More than one is an error.
pub fn employee_by_user_name(
    db: &Database,
    spec: &ConnectorSpec,
    user_name: &str,
) -> Result<Option<EmployeeRow>> {
    employee_where(db, spec, "UserName", user_name)
}

/// The employees row whose `EmployeeId` is `id`, or `None`.
pub fn employee_by_id(
    db: &Database,
    spec: &ConnectorSpec,
    id: &str,
) -> Result<Option<EmployeeRow>> {
    employee_where(db, spec, "EmployeeId", id)
}

fn employee_where(
    db: &Database,
    spec: &ConnectorSpec,
    column: &str,
    value: &str,
) -> Result<Option<EmployeeRow>> {
    let columns: Vec<String> = EMPLOYEE_COLUMNS
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect();
    let rows = db.query(&format!(
        r#"SELECT {} FROM "{}" WHERE "{column}" = '{}'"#,
        columns.join(", "),
        spec.employees(),
        value.replace('\'', "''")
    ))?;
    if rows.len() > 1 {
        return Err(E2eError::Db(format!(
            "{} rows in {} with {column} = {value:?}",
            rows.len(),
            spec.employees()
        )));
    }
    Ok(rows.into_iter().next().map(|row| {
        EMPLOYEE_COLUMNS
            .iter()
            .map(|c| (*c).to_owned())
            .zip(row)
            .collect()
    }))
}

/// How many rows the employees table holds.
pub fn employee_count(db: &Database, spec: &ConnectorSpec) -> Result<u64> {
    let rows = db.query(&format!(r#"SELECT COUNT(*) FROM "{}""#, spec.employees()))?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_deref())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            E2eError::Db(format!(
                "COUNT(*) of {} returned {rows:?}",
                spec.employees()
            ))
        })
}

/// The `MemberId`s of group `group_id`, sorted.
pub fn members_of(db: &Database, spec: &ConnectorSpec, group_id: &str) -> Result<Vec<String>> {
    let rows = db.query(&format!(
        r#"SELECT "MemberId" FROM "{}" WHERE "GroupId" = '{}' ORDER BY "MemberId""#,
        spec.members_table(),
        group_id.replace('\'', "''")
    ))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

/// The host configuration for `connectors` on `db` in `mode`, with `full_import_every = "2h"`.
pub fn host_config(db: &Database, mode: Mode, connectors: &[ConnectorSpec]) -> String {
    let mut out =
        String::from("version = 1\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n");
    for c in connectors {
        out.push_str(&connector_config(db, mode, c));
    }
    out
}

fn connector_config(db: &Database, mode: Mode, c: &ConnectorSpec) -> String {
    let mut out = format!(
        "\n[[connector]]\nname = {}\nkind = \"sql\"\nschema = \"{}\"\ntoken = {{ hash = \"{}\" }}\nfull_import_every = \"2h\"\n",
        toml_str(&c.name),
        mode.name(),
        token_hash(&c.token),
    );
    out.push_str(&format!(
        // MariaDB stores BOOLEAN as TINYINT(1), which discovery reports as an integer: an
        // admin declares the type, as this override does (harmless on the other databases).
        "[connector.sql]\nconnection = {}\n[[connector.sql.object]]\ntype = \"User\"\ntable = {}\nanchor = \"EmployeeId\"\ndn = \"autogenerated\"\n[connector.sql.object.attributes.IsActive]\ntype = \"boolean\"\n",
        toml_str(&db.connection),
        toml_str(&c.employees()),
    ));
    let groups = c.groups && mode == Mode::Scim;
    if groups {
        out.push_str(&format!(
            "[[connector.sql.object]]\ntype = \"Group\"\ntable = {}\nanchor = \"GroupId\"\n[[connector.sql.object.multivalued]]\nattribute = \"members\"\ntable = {}\nanchor_column = \"GroupId\"\nvalue_column = \"MemberId\"\ntype = \"reference\"\n",
            toml_str(&c.groups_table()),
            toml_str(&c.members_table()),
        ));
    }
    let disable = match c.on_disable {
        OnDisable::Nothing => "\"none\"",
        OnDisable::Delete => "\"delete\"",
        OnDisable::SetIsActive => "{ set = \"IsActive\", value = false }",
    };
    let delete = match c.on_delete {
        OnDelete::Nothing => "\"none\"",
        OnDelete::Delete => "\"delete\"",
    };
    out.push_str(&format!(
        "[connector.deprovision]\ndisable = {disable}\ndelete = {delete}\n"
    ));
    if mode == Mode::Scim {
        out.push_str(concat!(
            "[connector.users]\nobject_type = \"User\"\n[connector.users.map]\n",
            "userName = \"UserName\"\nexternalId = \"ExternalId\"\n",
            "\"name.givenName\" = \"FirstName\"\n\"name.familyName\" = \"LastName\"\n",
            "displayName = \"DisplayName\"\n'emails[type eq \"work\"].value' = \"Email\"\n",
            "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\" = \"Department\"\n",
            "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager\" = \"ManagerId\"\n",
        ));
        if groups {
            out.push_str(concat!(
                "[connector.groups]\nobject_type = \"Group\"\n[connector.groups.map]\n",
                "displayName = \"DisplayName\"\nexternalId = \"ExternalId\"\nmembers = \"members\"\n",
            ));
        }
    }
    out
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A test person; every value is derived from a tag unique to the scenario (letters, digits and
/// `-` only, so values can be spliced into SQL and filters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The tag.
    pub tag: String,
    /// `userName` / `UserName`.
    pub user_name: String,
    /// `externalId` / `ExternalId`.
    pub external_id: String,
    /// The anchor Entra supplies in ecma2host mode.
    pub employee_id: String,
    /// `name.givenName` / `FirstName`.
    pub first: String,
    /// `name.familyName` / `LastName`.
    pub last: String,
    /// `displayName` / `DisplayName`.
    pub display: String,
    /// The work e-mail / `Email`.
    pub email: String,
    /// The enterprise department / `Department`.
    pub department: String,
}

/// `tag` with a random suffix, so two runs against one server never meet.
pub fn unique(tag: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{tag}-{}", random.get(..8).unwrap_or(&random))
}

impl Person {
    /// The person for `tag`; a random suffix keeps two runs against one server apart.
    pub fn new(tag: &str) -> Person {
        let unique = unique(tag);
        Person {
            user_name: format!("{unique}@contoso.example"),
            external_id: format!("ext-{unique}"),
            employee_id: format!("E-{unique}"),
            first: format!("Given-{tag}"),
            last: format!("Family-{tag}"),
            display: format!("Display {tag}"),
            email: format!("{unique}.work@contoso.example"),
            department: "Sales".to_owned(),
            tag: unique,
        }
    }

    /// The `POST /Users` body Entra sends for this person in `mode`: in `scim` mode the payload
    /// of Entra's SCIM docs (core + enterprise schemas, `active`, `emails`, `meta`, `name`,
    /// `roles: []`); in `ecma2host` mode the ECMA2Host extension attributes, including the
    /// anchor column, under the core schema only (Entra omits extension URNs from `schemas`).
    pub fn create_body(&self, mode: Mode) -> Value {
        match mode {
            Mode::Scim => json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "externalId": self.external_id,
                "userName": self.user_name,
                "active": true,
                "displayName": self.display,
                "emails": [{ "primary": true, "type": "work", "value": self.email }],
                "meta": { "resourceType": "User" },
                "name": {
                    "formatted": format!("{} {}", self.first, self.last),
                    "familyName": self.last,
                    "givenName": self.first,
                },
                "roles": [],
                ENTERPRISE_USER: { "department": self.department },
            }),
            Mode::Ecma2host => {
                let mut body = serde_json::Map::new();
                body.insert("schemas".into(), json!([CORE_USER]));
                for (column, value) in [
                    ("EmployeeId", &self.employee_id),
                    ("UserName", &self.user_name),
                    ("ExternalId", &self.external_id),
                    ("FirstName", &self.first),
                    ("LastName", &self.last),
                    ("DisplayName", &self.display),
                    ("Email", &self.email),
                    ("Department", &self.department),
                ] {
                    body.insert(ecma(column), json!(value));
                }
                body.insert("meta".into(), json!({ "resourceType": "User" }));
                Value::Object(body)
            }
        }
    }

    /// The columns a create must have written, column → value.
    pub fn expected_columns(&self) -> Vec<(&'static str, String)> {
        vec![
            ("UserName", self.user_name.clone()),
            ("ExternalId", self.external_id.clone()),
            ("FirstName", self.first.clone()),
            ("LastName", self.last.clone()),
            ("DisplayName", self.display.clone()),
            ("Email", self.email.clone()),
            ("Department", self.department.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use connector_host::config::{Config, SchemaMode};

    use super::*;
    use crate::db::Backend;

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        let check = |input: &str, expected: &str| assert_eq!(toml_str(input), expected, "{input}");
        check("hr", "\"hr\"");
        check(
            "Driver={PostgreSQL Unicode};Pwd=;",
            "\"Driver={PostgreSQL Unicode};Pwd=;\"",
        );
        check("a\"b", "\"a\\\"b\"");
        check("C:\\db", "\"C:\\\\db\"");
    }

    /// The generated configuration is one the host accepts, in both modes.
    #[test]
    fn generated_configurations_are_accepted_by_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(Backend::Sqlite, dir.path()).unwrap();
        let specs = [
            ConnectorSpec::new("hr", OnDisable::SetIsActive, OnDelete::Delete, true),
            ConnectorSpec::new("keep", OnDisable::Nothing, OnDelete::Nothing, false),
            ConnectorSpec::new("purge", OnDisable::Delete, OnDelete::Delete, false),
        ];
        let check = |mode: Mode, schema: SchemaMode, groups: bool| {
            let text = host_config(&db, mode, &specs);
            let config = Config::parse(&text, Path::new("test.toml"), dir.path())
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(config.connectors.len(), 3, "{text}");
            let hr = config.connector("hr").unwrap();
            assert_eq!(hr.schema, schema);
            assert_eq!(hr.groups.is_some(), groups, "{text}");
        };
        check(Mode::Scim, SchemaMode::Scim, true);
        check(Mode::Ecma2host, SchemaMode::Ecma2host, false);
    }
}
