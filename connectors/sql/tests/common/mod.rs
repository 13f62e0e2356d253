//! Shared test helpers: a fresh database of each kind the connector supports, DDL written once
//! and adapted per database, and the conformance fixture.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use connector_core::conformance::Fixture;
use connector_core::{AttrValue, Attributes};
use connector_sql::{
    AttrType, AttributeOverride, MultiValuedConfig, ObjectConfig, SqlConfig, SqlConnector,
};

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The built-in SQLite (rusqlite), in a temp file.
    Builtin,
    #[cfg(feature = "odbc")]
    SqliteOdbc,
    #[cfg(feature = "odbc")]
    Postgres,
    #[cfg(feature = "odbc")]
    MariaDb,
}

/// A fresh database.
pub struct Db {
    pub target: Target,
    /// The connection string the connector gets.
    pub connection: String,
    pub base_dir: PathBuf,
    keep: Box<dyn std::any::Any + Send>,
}

impl Db {
    pub fn new(target: Target) -> Db {
        match target {
            Target::Builtin => {
                let dir = tempfile::tempdir().unwrap();
                Db {
                    target,
                    connection: "sqlite://test.db".into(),
                    base_dir: dir.path().to_path_buf(),
                    keep: Box::new(dir),
                }
            }
            #[cfg(feature = "odbc")]
            _ => {
                let db = match target {
                    Target::SqliteOdbc => testkit::fresh_sqlite_odbc(),
                    Target::Postgres => testkit::fresh_postgres(),
                    _ => testkit::fresh_mariadb(),
                };
                Db {
                    target,
                    connection: db.odbc_connection_string.clone(),
                    base_dir: PathBuf::from("/nonexistent"),
                    keep: Box::new(db),
                }
            }
        }
    }

    /// Adapts DDL written with `"` quotes and the type tokens BOOL_T, DATETIME_T, BLOB_T.
    pub fn adapt(&self, ddl: &str) -> String {
        let (b, d, bl) = match self.target {
            Target::Builtin => ("BOOLEAN", "DATETIME", "BLOB"),
            #[cfg(feature = "odbc")]
            Target::SqliteOdbc => ("BOOLEAN", "DATETIME", "BLOB"),
            #[cfg(feature = "odbc")]
            Target::Postgres => ("BOOLEAN", "TIMESTAMP", "BYTEA"),
            #[cfg(feature = "odbc")]
            Target::MariaDb => ("BOOLEAN", "DATETIME(6)", "VARBINARY(255)"),
        };
        let s = ddl
            .replace("BOOL_T", b)
            .replace("DATETIME_T", d)
            .replace("BLOB_T", bl);
        if self.is_mariadb() {
            s.replace('"', "`")
        } else {
            s
        }
    }

    /// Runs one statement (adapted).
    pub fn exec(&self, sql: &str) {
        let sql = self.adapt(sql);
        match self.target {
            Target::Builtin => {
                let c = rusqlite::Connection::open(self.base_dir.join("test.db")).unwrap();
                c.execute_batch(&sql).unwrap();
            }
            #[cfg(feature = "odbc")]
            _ => testkit::execute(&self.connection, &sql),
        }
    }

    /// Runs one statement as written, without adapting it.
    pub fn exec_raw(&self, sql: &str) {
        match self.target {
            Target::Builtin => {
                let c = rusqlite::Connection::open(self.base_dir.join("test.db")).unwrap();
                c.execute_batch(sql).unwrap();
            }
            #[cfg(feature = "odbc")]
            _ => testkit::execute(&self.connection, sql),
        }
    }

    /// Whether the database is MariaDB (backtick quoting, no real boolean type).
    pub fn is_mariadb(&self) -> bool {
        #[cfg(feature = "odbc")]
        if self.target == Target::MariaDb {
            return true;
        }
        false
    }

    /// Runs a query (adapted) and returns the first column of each row as text.
    pub fn strings(&self, sql: &str) -> Vec<Option<String>> {
        let sql = self.adapt(sql);
        match self.target {
            Target::Builtin => {
                let c = rusqlite::Connection::open(self.base_dir.join("test.db")).unwrap();
                let mut st = c.prepare(&sql).unwrap();
                st.query_map([], |r| {
                    let v: rusqlite::types::Value = r.get(0)?;
                    Ok(match v {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                        rusqlite::types::Value::Real(f) => Some(f.to_string()),
                        rusqlite::types::Value::Text(t) => Some(t),
                        rusqlite::types::Value::Blob(b) => Some(format!("{b:?}")),
                    })
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            #[cfg(feature = "odbc")]
            _ => testkit::query_strings(&self.connection, &sql)
                .into_iter()
                .map(|row| row.into_iter().next().flatten())
                .collect(),
        }
    }

    pub fn config(&self, objects: Vec<ObjectConfig>) -> SqlConfig {
        let mut c = SqlConfig::new(self.connection.clone(), objects);
        c.pool_size = 2;
        c
    }

    pub fn connector(&self, objects: Vec<ObjectConfig>) -> SqlConnector {
        SqlConnector::new(self.config(objects), &self.base_dir).unwrap()
    }

    pub fn into_keep(self) -> Box<dyn std::any::Any + Send> {
        Box::new(self)
    }

    /// Another handle on the same database, for reading it while `self` keeps it alive.
    pub fn handle(&self) -> Db {
        Db {
            target: self.target,
            connection: self.connection.clone(),
            base_dir: self.base_dir.clone(),
            keep: Box::new(()),
        }
    }
}

/// Users with a unique userName and a child table of e-mail addresses.
pub fn create_users(db: &Db) {
    db.exec(
        r#"CREATE TABLE "Users" ("id" VARCHAR(64) NOT NULL PRIMARY KEY, "userName" VARCHAR(128) NOT NULL UNIQUE, "displayName" VARCHAR(256), "title" VARCHAR(128))"#,
    );
    db.exec(
        r#"CREATE TABLE "UserEmails" ("userId" VARCHAR(64) NOT NULL REFERENCES "Users" ("id"), "email" VARCHAR(191) NOT NULL, PRIMARY KEY ("userId", "email"))"#,
    );
}

pub fn users_object() -> ObjectConfig {
    let mut o = ObjectConfig::new("User", "Users", "id");
    o.multivalued.push(MultiValuedConfig::new(
        "emails",
        "UserEmails",
        "userId",
        "email",
    ));
    o
}

pub fn s(v: &str) -> Vec<AttrValue> {
    vec![AttrValue::String(v.to_owned())]
}

pub fn user_sample(i: usize) -> Attributes {
    let mut a = Attributes::new();
    a.insert("id".into(), s(&format!("u{i:04}")));
    a.insert("userName".into(), s(&format!("user{i}@example.com")));
    a.insert("displayName".into(), s(&format!("User {i}")));
    a
}

/// The conformance fixture on a fresh database of `target`.
pub fn fixture(target: Target) -> Fixture {
    let db = Db::new(target);
    create_users(&db);
    let users = with_manager_and_password(&db, users_object());
    conformance_fixture(db, users)
}

/// Adds a reference column `managerId` and a secret column `password` to `Users`, and
/// declares them on `users`.
pub fn with_manager_and_password(db: &Db, mut users: ObjectConfig) -> ObjectConfig {
    db.exec(r#"ALTER TABLE "Users" ADD COLUMN "managerId" VARCHAR(64)"#);
    db.exec(r#"ALTER TABLE "Users" ADD COLUMN "password" VARCHAR(128)"#);
    for (column, kind) in [
        ("managerId", AttrType::Reference),
        ("password", AttrType::Secret),
    ] {
        users.attributes.insert(
            column.into(),
            AttributeOverride {
                kind: Some(kind),
                ..AttributeOverride::default()
            },
        );
    }
    users
}

/// The conformance fixture over `Users` as configured by `users`.
fn conformance_fixture(db: Db, users: ObjectConfig) -> Fixture {
    let connector = db.connector(vec![users]);
    let reader = db.handle();
    let mut f = Fixture::new(
        Box::new(connector),
        "User",
        user_sample,
        "displayName",
        db.into_keep(),
    );
    f.multi_valued_attribute = Some("emails".into());
    f.reference_attribute = Some("managerId".into());
    f.secret = Some((
        "password".into(),
        Box::new(move |anchor| {
            reader
                .strings(&format!(
                    r#"SELECT "password" FROM "Users" WHERE "id" = '{}'"#,
                    anchor.as_str().replace('\'', "''")
                ))
                .into_iter()
                .next()
                .flatten()
        }),
    ));
    f
}

/// The statements creating a trigger-fed history table `UserChanges` on `Users` and
/// `UserEmails` (adds `A`, updates `U`, deletes `D`; a change of an e-mail address is an update
/// of its user), one statement per entry, for `target`.
pub fn history_ddl(target: Target) -> Vec<&'static str> {
    match target {
        #[cfg(feature = "odbc")]
        Target::Postgres => vec![
            r#"CREATE TABLE "UserChanges" ("seq" BIGSERIAL PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE FUNCTION "users_log"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'DELETE' THEN INSERT INTO "UserChanges" ("anchor", "op") VALUES (OLD."id", 'D'); ELSE INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", CASE TG_OP WHEN 'INSERT' THEN 'A' ELSE 'U' END); END IF; RETURN NULL; END $$"#,
            r#"CREATE TRIGGER "users_log" AFTER INSERT OR UPDATE OR DELETE ON "Users" FOR EACH ROW EXECUTE FUNCTION "users_log"()"#,
            r#"CREATE FUNCTION "emails_log"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD."userId" ELSE NEW."userId" END, 'U'); RETURN NULL; END $$"#,
            r#"CREATE TRIGGER "emails_log" AFTER INSERT OR DELETE ON "UserEmails" FOR EACH ROW EXECUTE FUNCTION "emails_log"()"#,
        ],
        #[cfg(feature = "odbc")]
        Target::MariaDb => vec![
            r#"CREATE TABLE "UserChanges" ("seq" BIGINT AUTO_INCREMENT PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE TRIGGER "users_ai" AFTER INSERT ON "Users" FOR EACH ROW INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'A')"#,
            r#"CREATE TRIGGER "users_au" AFTER UPDATE ON "Users" FOR EACH ROW INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'U')"#,
            r#"CREATE TRIGGER "users_ad" AFTER DELETE ON "Users" FOR EACH ROW INSERT INTO "UserChanges" ("anchor", "op") VALUES (OLD."id", 'D')"#,
            r#"CREATE TRIGGER "emails_ai" AFTER INSERT ON "UserEmails" FOR EACH ROW INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."userId", 'U')"#,
            r#"CREATE TRIGGER "emails_ad" AFTER DELETE ON "UserEmails" FOR EACH ROW INSERT INTO "UserChanges" ("anchor", "op") VALUES (OLD."userId", 'U')"#,
        ],
        _ => vec![
            r#"CREATE TABLE "UserChanges" ("seq" INTEGER PRIMARY KEY AUTOINCREMENT, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE TRIGGER "users_ai" AFTER INSERT ON "Users" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'A'); END"#,
            r#"CREATE TRIGGER "users_au" AFTER UPDATE ON "Users" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."id", 'U'); END"#,
            r#"CREATE TRIGGER "users_ad" AFTER DELETE ON "Users" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (OLD."id", 'D'); END"#,
            r#"CREATE TRIGGER "emails_ai" AFTER INSERT ON "UserEmails" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (NEW."userId", 'U'); END"#,
            r#"CREATE TRIGGER "emails_ad" AFTER DELETE ON "UserEmails" BEGIN INSERT INTO "UserChanges" ("anchor", "op") VALUES (OLD."userId", 'U'); END"#,
        ],
    }
}

/// Users with a history-table delta strategy (`strategy = "table"`).
pub fn users_with_history(db: &Db) -> ObjectConfig {
    create_users(db);
    for stmt in history_ddl(db.target) {
        db.exec(stmt);
    }
    let mut o = users_object();
    o.delta = Some(connector_sql::DeltaConfig::Table(
        connector_sql::DeltaTableConfig {
            table: "UserChanges".into(),
            anchor_column: "anchor".into(),
            change_column: "op".into(),
            sequence_column: "seq".into(),
            change_values: connector_sql::ChangeValues::default(),
            after_read: connector_sql::AfterRead::Keep,
        },
    ));
    o
}

/// The conformance fixture with delta imports from a trigger-fed history table.
pub fn delta_fixture(target: Target) -> Fixture {
    let db = Db::new(target);
    let users = users_with_history(&db);
    let users = with_manager_and_password(&db, users);
    conformance_fixture(db, users)
}
