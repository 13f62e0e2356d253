//! HR staging through SCIM and straight from the database (the SQL staging issue's acceptance):
//! a joiner, a mover (new department and manager) and a leaver (disabled, then deleted) driven
//! through SCIM in the standard schema; rows changed directly in the table (insert, update, soft
//! delete, hard delete, all seen through a trigger-fed history table) reaching the host's lookups
//! by delta import; and a PostgreSQL restart in the middle of a run of exports.

use std::time::{Duration, Instant};

use e2e::db::sql_bool;
use e2e::harness::token_hash;
use e2e::{Backend, Database, ScimClient, TestHost};
use serde_json::{Value, json};

const TOKEN: &str = "hr-staging-token-0123456789";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn staff_ddl(backend: Backend) -> Vec<&'static str> {
    let mut ddl = vec![
        r#"CREATE TABLE "Staff" ("EmployeeId" VARCHAR(64) NOT NULL PRIMARY KEY, "UserName" VARCHAR(191) NOT NULL UNIQUE, "DisplayName" VARCHAR(256), "Department" VARCHAR(128), "ManagerId" VARCHAR(64), "IsActive" BOOL_T, "IsDeleted" BOOL_T NOT NULL DEFAULT FALSE)"#,
    ];
    ddl.extend(match backend {
        #[cfg(feature = "odbc")]
        Backend::Postgres => vec![
            r#"CREATE TABLE "StaffChanges" ("seq" BIGSERIAL PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE FUNCTION "staff_log"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'DELETE' THEN INSERT INTO "StaffChanges" ("anchor", "op") VALUES (OLD."EmployeeId", 'D'); ELSE INSERT INTO "StaffChanges" ("anchor", "op") VALUES (NEW."EmployeeId", CASE TG_OP WHEN 'INSERT' THEN 'A' ELSE 'U' END); END IF; RETURN NULL; END $$"#,
            r#"CREATE TRIGGER "staff_log" AFTER INSERT OR UPDATE OR DELETE ON "Staff" FOR EACH ROW EXECUTE FUNCTION "staff_log"()"#,
        ],
        #[cfg(feature = "odbc")]
        Backend::MariaDb => vec![
            r#"CREATE TABLE "StaffChanges" ("seq" BIGINT AUTO_INCREMENT PRIMARY KEY, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE TRIGGER "staff_ai" AFTER INSERT ON "Staff" FOR EACH ROW INSERT INTO "StaffChanges" ("anchor", "op") VALUES (NEW."EmployeeId", 'A')"#,
            r#"CREATE TRIGGER "staff_au" AFTER UPDATE ON "Staff" FOR EACH ROW INSERT INTO "StaffChanges" ("anchor", "op") VALUES (NEW."EmployeeId", 'U')"#,
            r#"CREATE TRIGGER "staff_ad" AFTER DELETE ON "Staff" FOR EACH ROW INSERT INTO "StaffChanges" ("anchor", "op") VALUES (OLD."EmployeeId", 'D')"#,
        ],
        _ => vec![
            r#"CREATE TABLE "StaffChanges" ("seq" INTEGER PRIMARY KEY AUTOINCREMENT, "anchor" VARCHAR(64) NOT NULL, "op" VARCHAR(8) NOT NULL)"#,
            r#"CREATE TRIGGER "staff_ai" AFTER INSERT ON "Staff" BEGIN INSERT INTO "StaffChanges" ("anchor", "op") VALUES (NEW."EmployeeId", 'A'); END"#,
            r#"CREATE TRIGGER "staff_au" AFTER UPDATE ON "Staff" BEGIN INSERT INTO "StaffChanges" ("anchor", "op") VALUES (NEW."EmployeeId", 'U'); END"#,
            r#"CREATE TRIGGER "staff_ad" AFTER DELETE ON "Staff" BEGIN INSERT INTO "StaffChanges" ("anchor", "op") VALUES (OLD."EmployeeId", 'D'); END"#,
        ],
    });
    ddl
}

fn config(connection: &str, delta: bool) -> String {
    let delta = if delta {
        "[connector.sql.object.delta]\nstrategy = \"table\"\ntable = \"StaffChanges\"\nanchor_column = \"anchor\"\nchange_column = \"op\"\nsequence_column = \"seq\"\n"
    } else {
        ""
    };
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "hr"
kind = "sql"
schema = "scim"
token = {{ hash = "{hash}" }}
full_import_every = "2h"
delta_import_every = "1s"
export_timeout = "20s"
[connector.sql]
connection = {connection}
command_timeout = "5s"
[[connector.sql.object]]
type = "User"
table = "Staff"
anchor = "EmployeeId"
soft_delete = "IsDeleted"
[connector.sql.object.attributes.IsActive]
type = "boolean"
{delta}[connector.deprovision]
disable = {{ set = "IsActive", value = false }}
delete = "delete"
[connector.users]
object_type = "User"
[connector.users.map]
userName = "UserName"
displayName = "DisplayName"
"{ENTERPRISE}:employeeNumber" = "EmployeeId"
"{ENTERPRISE}:department" = "Department"
"{ENTERPRISE}:manager" = "ManagerId"
"#,
        hash = token_hash(TOKEN),
        connection = toml::Value::String(connection.to_owned()),
    )
}

fn person(id: &str, user: &str, dept: &str, manager: Option<&str>) -> Value {
    let mut ext = json!({"employeeNumber": id, "department": dept});
    if let Some(m) = manager {
        ext["manager"] = json!({"value": m});
    }
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user, "displayName": user, "active": true, ENTERPRISE: ext
    })
}

/// The table row of an employee: (UserName, Department, ManagerId, IsActive, IsDeleted).
fn row(db: &Database, id: &str) -> Option<Vec<Option<String>>> {
    db.query(&format!(
        r#"SELECT "UserName", "Department", "ManagerId", "IsActive", "IsDeleted" FROM "Staff" WHERE "EmployeeId" = '{id}'"#
    ))
    .unwrap()
    .into_iter()
    .next()
}

async fn lookup(client: &ScimClient, user: &str) -> Vec<Value> {
    let r = client
        .get("/Users", &[("filter", &format!("userName eq \"{user}\""))])
        .await
        .unwrap();
    r.expect_status(&[200]).unwrap();
    r.body["Resources"].as_array().cloned().unwrap_or_default()
}

/// Polls a lookup until `done` holds for its result (delta imports run every second).
async fn eventually(client: &ScimClient, user: &str, what: &str, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = lookup(client, user).await;
        if done(&found) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: lookup of {user} still gives {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn start(backend: Backend, delta: bool) -> (TestHost, Database, ScimClient) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(backend, dir.path()).unwrap();
    for stmt in staff_ddl(backend) {
        db.execute(stmt).unwrap();
    }
    let host = TestHost::start(&config(&db.connection, delta), dir)
        .await
        .unwrap();
    let client = host.scim("hr", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();
    (host, db, client)
}

async fn hr_lifecycle(backend: Backend) {
    let (host, db, client) = start(backend, true).await;

    // Joiner, with a manager.
    for (id, user, manager) in [
        ("E1", "boss1", None),
        ("E2", "joiner", Some("E1")),
        ("E3", "boss2", None),
    ] {
        let r = client
            .post("/Users", &person(id, user, "Sales", manager))
            .await
            .unwrap();
        r.expect_status(&[201]).unwrap();
        assert_eq!(
            r.body["id"], id,
            "the employee number is the anchor and the SCIM id"
        );
    }
    let joiner = row(&db, "E2").unwrap();
    assert_eq!(joiner[0].as_deref(), Some("joiner"));
    assert_eq!(joiner[1].as_deref(), Some("Sales"));
    assert_eq!(joiner[2].as_deref(), Some("E1"));
    assert_eq!(sql_bool(joiner[3].as_deref()), Some(true));

    // Mover: department and manager change, in Entra's default PATCH form.
    let mover = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Marketing"},
        {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "E3"}]});
    let r = client.patch("/Users/E2", &mover).await.unwrap();
    r.expect_status(&[200]).unwrap();
    assert_eq!(r.body[ENTERPRISE]["department"], "Marketing");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "E3");
    let moved = row(&db, "E2").unwrap();
    assert_eq!(
        (moved[1].as_deref(), moved[2].as_deref()),
        (Some("Marketing"), Some("E3"))
    );

    // A PUT replaces every mapped attribute: what it leaves out is cleared.
    let mut replacement = person("E3", "boss2", "Legal", None);
    replacement["displayName"] = json!("Boss Two");
    let r = client.put("/Users/E3", &replacement).await.unwrap();
    r.expect_status(&[200]).unwrap();
    assert_eq!(r.body["displayName"], "Boss Two");
    client
        .put("/Users/E3", &person("E3", "boss2", "Legal", Some("E1")))
        .await
        .unwrap()
        .expect_status(&[200])
        .unwrap();
    let r = client
        .put("/Users/E3", &person("E3", "boss2", "Legal", None))
        .await
        .unwrap();
    r.expect_status(&[200]).unwrap();
    let boss2 = row(&db, "E3").unwrap();
    assert_eq!(
        (boss2[1].as_deref(), boss2[2].as_deref()),
        (Some("Legal"), None)
    );

    // Leaver: disabled, then deleted (soft delete: the row stays, flagged).
    let disable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let r = client.patch("/Users/E2", &disable).await.unwrap();
    r.expect_status(&[200]).unwrap();
    assert_eq!(r.body["active"], false);
    assert_eq!(sql_bool(row(&db, "E2").unwrap()[3].as_deref()), Some(false));
    client
        .delete("/Users/E2")
        .await
        .unwrap()
        .expect_status(&[204])
        .unwrap();
    client
        .get("/Users/E2", &[])
        .await
        .unwrap()
        .expect_status(&[404])
        .unwrap();
    assert_eq!(
        sql_bool(row(&db, "E2").unwrap()[4].as_deref()),
        Some(true),
        "soft-deleted row"
    );
    assert!(lookup(&client, "joiner").await.is_empty());

    // Straight into the table: the delta import brings each change to the lookups.
    db.execute(r#"INSERT INTO "Staff" ("EmployeeId", "UserName", "DisplayName", "Department", "IsActive") VALUES ('E9', 'direct.hire', 'Direct Hire', 'Ops', TRUE)"#).unwrap();
    eventually(&client, "direct.hire", "insert", |f| {
        f.len() == 1 && f[0]["id"] == "E9"
    })
    .await;
    db.execute(r#"UPDATE "Staff" SET "Department" = 'Finance' WHERE "EmployeeId" = 'E1'"#)
        .unwrap();
    eventually(&client, "boss1", "update", |f| {
        f.len() == 1 && f[0][ENTERPRISE]["department"] == "Finance"
    })
    .await;
    db.execute(r#"UPDATE "Staff" SET "IsDeleted" = TRUE WHERE "EmployeeId" = 'E3'"#)
        .unwrap();
    eventually(&client, "boss2", "soft delete", <[Value]>::is_empty).await;
    db.execute(r#"DELETE FROM "Staff" WHERE "EmployeeId" = 'E9'"#)
        .unwrap();
    eventually(&client, "direct.hire", "hard delete", <[Value]>::is_empty).await;
    client
        .get("/Users/E9", &[])
        .await
        .unwrap()
        .expect_status(&[404])
        .unwrap();
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    hr_lifecycle(Backend::Sqlite).await;
}

#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    hr_lifecycle(Backend::Postgres).await;
}

#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    hr_lifecycle(Backend::MariaDb).await;
}

/// The database restarts in the middle of a run of exports: every export either succeeded and
/// is in the table, or failed with 503 (retry later) and is not; afterwards exports succeed
/// again, and the host was never restarted.
#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_during_exports() {
    let pg = std::sync::Arc::new(
        tokio::task::spawn_blocking(testkit::PrivatePostgres::start)
            .await
            .unwrap(),
    );
    let conn = pg.connection_string();
    for stmt in staff_ddl(Backend::Sqlite).into_iter().take(1) {
        testkit::execute(&conn, &stmt.replace("BOOL_T", "BOOLEAN"));
    }
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(&config(&conn, false), dir).await.unwrap();
    let client = host.scim("hr", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();

    let mut created = Vec::new();
    let mut refused = Vec::new();
    for i in 0..40 {
        if i == 10 {
            let pg = pg.clone();
            tokio::task::spawn_blocking(move || pg.stop_server())
                .await
                .unwrap();
        }
        if i == 20 {
            let pg = pg.clone();
            tokio::task::spawn_blocking(move || pg.start_server())
                .await
                .unwrap();
        }
        let id = format!("R{i:02}");
        let r = client
            .post("/Users", &person(&id, &format!("user{i}"), "Ops", None))
            .await
            .unwrap();
        match r.status.as_u16() {
            201 => created.push(id),
            503 => {
                assert!(
                    r.header("retry-after").is_some(),
                    "503 without Retry-After: {}",
                    r.got()
                );
                refused.push(id);
            }
            _ => panic!("export {id}: expected 201 or 503, got {}", r.got()),
        }
    }
    assert!(
        refused.len() >= 10,
        "exports while the database was down must fail: {refused:?}"
    );
    assert!(
        created.iter().any(|id| id.as_str() >= "R20"),
        "exports must succeed again after the restart without restarting the host: {created:?}"
    );
    let in_table: Vec<String> = testkit::query_strings(
        &conn,
        r#"SELECT "EmployeeId" FROM "Staff" ORDER BY "EmployeeId""#,
    )
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .collect();
    assert_eq!(
        in_table, created,
        "exactly the acknowledged exports are in the table"
    );
    for id in &refused {
        client
            .get(&format!("/Users/{id}"), &[])
            .await
            .unwrap()
            .expect_status(&[404])
            .unwrap();
    }
    drop(host);
}
