//! The script connector behind the host, seen from a SCIM client: Entra's user lifecycle
//! replayed against the Python reference connector (`connectors/script/examples/python`, real
//! `python3` workers, its SQLite store in the test directory) in both schema modes and under
//! each deprovisioning option; the failures issue #14 names (a named error, a hung script, a
//! crash, garbage and oversized output) through a test-only variant of it that misbehaves on
//! request (`tests/script/misbehave.py`); and a create/lookup/delete round trip through the
//! shell reference connector (`sh` and `jq`).
//!
//! Passwords reach the script's store and nothing else: not a SCIM answer, not the connector
//! space's files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::client::{PATCH_OP, ScimResponse};
use e2e::entra::{self, CORE_USER, ENTERPRISE_USER, ecma};
use e2e::harness::token_hash;
use e2e::{ScimClient, TestHost};
use serde_json::{Value, json};

/// The Python reference connector.
fn python_reference() -> PathBuf {
    workspace().join("connectors/script/examples/python/connector.py")
}

/// The shell reference connector.
fn shell_reference() -> PathBuf {
    workspace().join("connectors/script/examples/shell/connector.sh")
}

/// The misbehaving variant of the Python reference connector.
fn misbehave() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/script/misbehave.py")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ecma2host,
    Scim,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Ecma2host => "ecma2host",
            Mode::Scim => "scim",
        }
    }

    /// The SCIM path of one of the script's attributes.
    fn path(self, attribute: &str) -> String {
        match (self, attribute) {
            (Mode::Ecma2host, a) => ecma(a),
            (Mode::Scim, "department") => format!("{ENTERPRISE_USER}:department"),
            (Mode::Scim, a) => a.to_owned(),
        }
    }
}

/// One `[[connector]]` of kind `script`.
struct Script<'a> {
    name: &'a str,
    token: String,
    mode: Mode,
    disable: &'a str,
    delete: &'a str,
    /// `interpreter`, `script`, `args`.
    command: (&'a str, PathBuf, Vec<PathBuf>),
    /// `[connector.script.parameters]`.
    parameters: Vec<(&'a str, String)>,
    /// More lines for `[connector]` (before the script table).
    extra: &'a str,
    /// More lines for `[connector.script]`.
    script_extra: &'a str,
}

impl<'a> Script<'a> {
    /// The Python reference connector with its store in `<name>.db`.
    fn python(name: &'a str, mode: Mode, disable: &'a str, delete: &'a str) -> Self {
        Script {
            name,
            token: format!("tok-{}", uuid::Uuid::new_v4().simple()),
            mode,
            disable,
            delete,
            command: ("python3", python_reference(), vec![]),
            parameters: vec![("database", format!("{name}.db"))],
            extra: "",
            script_extra: "",
        }
    }

    fn config(&self) -> String {
        let (interpreter, script, args) = &self.command;
        let args: Vec<String> = args
            .iter()
            .map(|a| toml_str(&a.to_string_lossy()))
            .collect();
        let mut out = format!(
            "\n[[connector]]\nname = \"{name}\"\nkind = \"script\"\nschema = \"{schema}\"\n\
             token = {{ hash = \"{hash}\" }}\nfull_import_every = \"2h\"\n{extra}\n\
             [connector.script]\ninterpreter = \"{interpreter}\"\nscript = {script}\n\
             args = [{args}]\n{script_extra}\n[connector.script.parameters]\n",
            name = self.name,
            schema = self.mode.name(),
            hash = token_hash(&self.token),
            extra = self.extra,
            script = toml_str(&script.to_string_lossy()),
            args = args.join(", "),
            script_extra = self.script_extra,
        );
        for (k, v) in &self.parameters {
            out.push_str(&format!("{k} = {}\n", toml_str(v)));
        }
        out.push_str(&format!(
            "[connector.deprovision]\ndisable = {}\ndelete = {}\n",
            self.disable, self.delete
        ));
        if self.mode == Mode::Scim {
            out.push_str(&format!(
                "[connector.users]\nobject_type = \"User\"\n[connector.users.map]\n\
                 userName = \"userName\"\ndisplayName = \"displayName\"\n\
                 \"{ENTERPRISE_USER}:department\" = \"department\"\npassword = \"password\"\n"
            ));
        }
        out
    }

    fn client(&self, host: &TestHost) -> ScimClient {
        host.scim(self.name, Some(&self.token))
    }
}

fn host_config(scripts: &[&Script<'_>]) -> String {
    let mut out =
        String::from("version = 1\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n");
    for s in scripts {
        out.push_str(&s.config());
    }
    out
}

/// A test user, unique to the run.
struct User {
    anchor: String,
    user_name: String,
    password: String,
}

impl User {
    fn new(tag: &str) -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let unique = format!("{tag}-{}", &random[..8]);
        User {
            anchor: format!("E-{unique}"),
            user_name: format!("{unique}@contoso.example"),
            password: format!("Pw#{}", &random[8..20]),
        }
    }

    /// The `POST /Users` body Entra sends, with a password and a department.
    fn body(&self, mode: Mode, department: &str) -> Value {
        match mode {
            Mode::Ecma2host => json!({
                "schemas": [CORE_USER],
                ecma("id"): self.anchor,
                ecma("userName"): self.user_name,
                ecma("displayName"): "Ada Lovelace",
                ecma("department"): department,
                ecma("password"): self.password,
            }),
            Mode::Scim => json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "userName": self.user_name,
                "active": true,
                "displayName": "Ada Lovelace",
                "password": self.password,
                ENTERPRISE_USER: {"department": department},
                "meta": {"resourceType": "User"},
            }),
        }
    }
}

/// A user's row in the Python connector's SQLite store.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: String,
    display_name: Option<String>,
    department: Option<String>,
    active: Option<bool>,
    password: Option<String>,
}

fn row(db: &Path, user_name: &str) -> Option<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let exists: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'users'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        > 0;
    if !exists {
        return None;
    }
    let mut stmt = conn
        .prepare(
            "SELECT id, displayName, department, active, password FROM users WHERE userName = ?",
        )
        .unwrap();
    let mut rows = stmt
        .query_map([user_name], |r| {
            Ok(Row {
                id: r.get(0)?,
                display_name: r.get(1)?,
                department: r.get(2)?,
                active: r.get::<_, Option<i64>>(3)?.map(|v| v != 0),
                password: r.get(4)?,
            })
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(rows.len() <= 1, "{user_name} twice in {}", db.display());
    rows.pop()
}

/// Every file under `dir`, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

fn assert_no_password(user: &User, place: &str, text: &str) {
    assert!(
        !text.contains(&user.password),
        "the password of {} leaked into {place}",
        user.user_name
    );
}

fn ok(r: &ScimResponse, allowed: &[u16]) {
    if let Err(e) = r.expect_status(allowed) {
        panic!("{e}");
    }
}

/// Entra's whole user lifecycle against one connector.
async fn lifecycle(host: &TestHost, s: &Script<'_>) {
    let mode = s.mode;
    let client = s.client(host);
    let db = host.dir().join(format!("{}.db", s.name));
    let user_name = mode.path("userName");
    let user = User::new(s.name);

    // The probe and the match: a random id and a non-matching filter find nothing.
    entra::probe(&client, &user_name).await.unwrap();
    let r = client
        .get(&format!("/Users/{}", entra::random_guid()), &[])
        .await
        .unwrap();
    ok(&r, &[404]);
    assert!(
        entra::find_user(&client, &user_name, &user.user_name)
            .await
            .unwrap()
            .is_none()
    );

    // Create with a password: the store has it, the answer does not.
    let created = client
        .post("/Users", &user.body(mode, "Sales"))
        .await
        .unwrap();
    assert_no_password(&user, "the POST answer", &created.text);
    ok(&created, &[201]);
    let id = entra::resource_id(&created.body, "POST /Users").unwrap();
    let stored = row(&db, &user.user_name).expect("the script stored the user");
    assert_eq!(stored.password.as_deref(), Some(user.password.as_str()));
    assert_eq!(stored.department.as_deref(), Some("Sales"));
    match mode {
        Mode::Ecma2host => assert_eq!(id, user.anchor),
        Mode::Scim => assert_eq!(stored.id, id, "the host's generated anchor is the SCIM id"),
    }
    let found = entra::find_user(&client, &user_name, &user.user_name)
        .await
        .unwrap()
        .expect("found by userName");
    assert_eq!(found["id"], json!(id));
    assert_no_password(&user, "the filter answer", &found.to_string());

    // Update in Entra's default shape (one Replace per attribute, with a path)…
    entra::update(
        &client,
        &id,
        &[(&mode.path("displayName"), json!("Ada L."))],
    )
    .await
    .unwrap();
    let stored = row(&db, &user.user_name).unwrap();
    assert_eq!(stored.display_name.as_deref(), Some("Ada L."));
    // … and with aadOptscim062020 (no path, a value object of paths).
    entra::update_062020(
        &client,
        &id,
        json!({ mode.path("displayName"): "Ada King", mode.path("department"): "Research" }),
        &[],
    )
    .await
    .unwrap();
    let stored = row(&db, &user.user_name).unwrap();
    assert_eq!(stored.display_name.as_deref(), Some("Ada King"));
    assert_eq!(stored.department.as_deref(), Some("Research"));
    assert_eq!(stored.password.as_deref(), Some(user.password.as_str()));
    let got = entra::get_user(&client, &id).await.unwrap();
    assert_no_password(&user, "GET /Users/{id}", &got.to_string());
    assert_eq!(
        got.pointer(&json_ptr(&mode.path("displayName"))),
        Some(&json!("Ada King"))
    );

    // Disable, then re-enable, under this connector's deprovisioning option.
    let before = row(&db, &user.user_name).unwrap();
    entra::disable(&client, &id).await.unwrap();
    match s.disable {
        "\"none\"" => assert_eq!(row(&db, &user.user_name), Some(before.clone())),
        "\"delete\"" => {
            assert_eq!(row(&db, &user.user_name), None, "disable = delete");
            entra::expect_gone(&client, "/Users", &id).await.unwrap();
        }
        _ => {
            assert_eq!(row(&db, &user.user_name).unwrap().active, Some(false));
            entra::enable(&client, &id).await.unwrap();
            assert_eq!(row(&db, &user.user_name).unwrap().active, Some(true));
            entra::disable_062020(&client, &id).await.unwrap();
            assert_eq!(row(&db, &user.user_name).unwrap().active, Some(false));
            entra::enable_062020(&client, &id).await.unwrap();
            assert_eq!(row(&db, &user.user_name).unwrap().active, Some(true));
        }
    }
    if s.disable == "\"none\"" {
        entra::enable(&client, &id).await.unwrap();
        assert_eq!(row(&db, &user.user_name), Some(before));
    }

    // Delete.
    if s.disable != "\"delete\"" {
        let kept = row(&db, &user.user_name);
        entra::delete(&client, "/Users", &id).await.unwrap();
        match s.delete {
            "\"none\"" => assert_eq!(row(&db, &user.user_name), kept, "delete = none"),
            _ => {
                assert_eq!(row(&db, &user.user_name), None, "delete = delete");
                entra::expect_gone(&client, "/Users", &id).await.unwrap();
            }
        }
    }

    for (path, text) in files(host.data_dir()) {
        assert_no_password(&user, &path, &text);
    }
}

/// `urn:…:User:displayName` → the JSON pointer of that attribute in a resource.
fn json_ptr(path: &str) -> String {
    match path.rsplit_once(':') {
        Some((urn, attr)) if path.starts_with("urn:") => format!("/{urn}/{attr}"),
        _ => format!("/{path}"),
    }
}

async fn lifecycle_in(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let hr = Script::python(
        "hr",
        mode,
        "{ set = \"active\", value = false }",
        "\"delete\"",
    );
    let keep = Script::python("keep", mode, "\"none\"", "\"none\"");
    let purge = Script::python("purge", mode, "\"delete\"", "\"delete\"");
    let mut host = TestHost::start(&host_config(&[&hr, &keep, &purge]), dir)
        .await
        .unwrap();
    for s in [&hr, &keep, &purge] {
        host.wait_serving(&s.client(&host)).await.unwrap();
        lifecycle(&host, s).await;
    }
    assert!(
        !workers().is_empty(),
        "the workers run while the host serves"
    );
    host.stop().await.unwrap();
    wait_no_workers().await;
}

/// The processes this test process started (the script workers), as `pid comm`.
fn workers() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let (state, ppid) = (fields.next(), fields.next());
        if ppid == Some(me.as_str()) && state != Some("Z") {
            out.push(head.replace(" (", " "));
        }
    }
    out
}

/// Waits (bounded: workers get 2 s to exit after their stdin closes) until the workers are
/// gone.
async fn wait_no_workers() {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = workers();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "script workers outlive the stopped host: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Full and delta imports bring what the script's store holds into the space: a user (with a
/// password) in the store before the host starts is found by filter after the first full
/// import, without its password; a user added and then deleted at the target behind the host's
/// back appears, then disappears, through delta imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_through_the_python_connector_fill_the_space() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hr.db");
    let seeded = User::new("seed");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id TEXT PRIMARY KEY, userName TEXT, displayName TEXT, \
         department TEXT, manager TEXT, employeeNumber INTEGER, active INTEGER, hireDate TEXT, \
         password TEXT);
         CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, \
         op TEXT NOT NULL);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO users (id, userName, displayName, active, password) VALUES (?, ?, 'Seed', 1, ?)",
        [&seeded.anchor, &seeded.user_name, &seeded.password],
    )
    .unwrap();
    let mut hr = Script::python("hr", Mode::Ecma2host, "\"none\"", "\"delete\"");
    hr.extra = "delta_import_every = \"1s\"";
    let mut host = TestHost::start(&host_config(&[&hr]), dir).await.unwrap();
    let client = hr.client(&host);
    host.wait_serving(&client).await.unwrap();

    let found = entra::find_user(&client, &ecma("userName"), &seeded.user_name)
        .await
        .unwrap()
        .expect("the seeded user, imported");
    assert_eq!(found["id"], json!(seeded.anchor));
    assert_eq!(
        found[e2e::entra::ECMA2HOST_USER]["displayName"],
        json!("Seed")
    );
    assert_no_password(&seeded, "the filter answer", &found.to_string());

    // Behind the host's back: an add, then a delete, each logged for delta imports.
    let late = User::new("late");
    conn.execute(
        "INSERT INTO users (id, userName, displayName) VALUES (?, ?, 'Late')",
        [&late.anchor, &late.user_name],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO changes (id, op) VALUES (?, 'add')",
        [&late.anchor],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while entra::find_user(&client, &ecma("userName"), &late.user_name)
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "no delta import brought {}",
            late.user_name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    conn.execute("DELETE FROM users WHERE id = ?", [&late.anchor])
        .unwrap();
    conn.execute(
        "INSERT INTO changes (id, op) VALUES (?, 'delete')",
        [&late.anchor],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .get(&format!("/Users/{}", late.anchor), &[])
            .await
            .unwrap();
        if r.status.as_u16() == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no delta import removed {}",
            late.anchor
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (path, text) in files(host.data_dir()) {
        assert_no_password(&seeded, &path, &text);
    }
    host.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reference_connector_serves_entras_lifecycle_in_ecma2host_mode() {
    lifecycle_in(Mode::Ecma2host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reference_connector_serves_entras_lifecycle_in_scim_mode() {
    lifecycle_in(Mode::Scim).await;
}

/// The object's entry in the connector space view, or `None` (404).
async fn space_object(host: &TestHost, s: &Script<'_>, anchor: &str) -> Option<Value> {
    let r = host
        .http()
        .get(format!(
            "{}/ecma2host_{}/space/User/{anchor}",
            host.origin(),
            s.name
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        404 => None,
        200 => Some(r.json().await.unwrap()),
        other => panic!("space view of {anchor}: {other}"),
    }
}

/// Waits (bounded, for the kill to land) until process `pid` is gone.
async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let proc = PathBuf::from(format!("/proc/{pid}"));
    while proc.exists() {
        let zombie = std::fs::read_to_string(proc.join("stat"))
            .map(|s| s.split(' ').nth(2) == Some("Z"))
            .unwrap_or(true);
        if zombie {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A create that fails and must leave nothing: not at the target, not in the space.
async fn failed_create(
    host: &TestHost,
    s: &Script<'_>,
    how: &str,
    status: u16,
) -> (User, ScimResponse) {
    let client = s.client(host);
    let db = host.dir().join(format!("{}.db", s.name));
    let user = User::new(how);
    let r = client
        .post("/Users", &user.body(s.mode, &format!("misbehave:{how}")))
        .await
        .unwrap();
    if let Err(e) = r.expect_error(status, None) {
        panic!("{how}: {e}");
    }
    assert_no_password(&user, &format!("the answer to {how}"), &r.text);
    assert_eq!(
        row(&db, &user.user_name),
        None,
        "{how}: nothing at the target"
    );
    assert!(
        space_object(host, s, &user.anchor).await.is_none(),
        "{how}: nothing in the space"
    );
    assert!(
        entra::find_user(&client, &s.mode.path("userName"), &user.user_name)
            .await
            .unwrap()
            .is_none(),
        "{how}: not found by userName"
    );
    (user, r)
}

/// A create that must work (the worker serving it is fresh after a failure).
async fn good_create(host: &TestHost, s: &Script<'_>, tag: &str) -> (User, String) {
    let user = User::new(tag);
    let r = s
        .client(host)
        .post("/Users", &user.body(s.mode, "Sales"))
        .await
        .unwrap();
    ok(&r, &[201]);
    let db = host.dir().join(format!("{}.db", s.name));
    assert!(row(&db, &user.user_name).is_some(), "{tag}: stored");
    (user, entra::resource_id(&r.body, "POST /Users").unwrap())
}

fn detail(r: &ScimResponse) -> String {
    r.str_field("detail").unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_failures_reach_the_scim_client_as_useful_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut faulty = Script::python("faulty", Mode::Ecma2host, "\"none\"", "\"delete\"");
    faulty.command = ("python3", misbehave(), vec![python_reference()]);
    // Long enough for a good export on a loaded 2-core machine; the hang case waits it out.
    faulty.extra = "export_timeout = \"8s\"";
    faulty.script_extra = "max_message_size = 65536";
    let mut host = TestHost::start(&host_config(&[&faulty]), dir)
        .await
        .unwrap();
    let s = &faulty;
    let client = s.client(&host);
    host.wait_serving(&client).await.unwrap();
    let db = host.dir().join("faulty.db");

    // A named error ([ErrorName]/[ErrorDetail] without a kind): a 400 with the script's reason.
    let (_, r) = failed_create(&host, s, "error", 400).await;
    let d = detail(&r);
    assert!(
        d.contains("DepartmentClosed") && d.contains("department Quarantine takes no new users"),
        "the client sees the script's reason: {d}"
    );
    // The same on an update: the store and the space keep what they had.
    let (user, id) = good_create(&host, s, "update-refused").await;
    let r = client
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": ecma("department"), "value": "misbehave:error"}]}),
        )
        .await
        .unwrap();
    r.expect_error(400, None).unwrap();
    assert!(detail(&r).contains("DepartmentClosed"), "{}", r.got());
    assert_eq!(
        row(&db, &user.user_name).unwrap().department.as_deref(),
        Some("Sales")
    );
    let got = entra::get_user(&client, &id).await.unwrap();
    assert_eq!(
        got[e2e::entra::ECMA2HOST_USER]["department"],
        json!("Sales")
    );

    // A hung script: killed at the deadline, with its child; 503 and Retry-After; a fresh
    // worker serves the next call.
    let pid_file = host.dir().join("hung.pid");
    let (_, r) = failed_create(&host, s, "hang", 503).await;
    assert!(
        r.header("retry-after").is_some(),
        "Retry-After: {:?}",
        r.headers
    );
    assert!(detail(&r).contains("in time"), "{}", r.got());
    // The worker and its `sleep 1000` child are both gone.
    let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "worker and child: {pids:?}");
    for pid in pids {
        wait_gone(pid).await;
    }
    good_create(&host, s, "after-hang").await;

    // A worker crashing mid-export: the outcome is unknown to the host, which reads the object
    // back (absent), answers 503, and serves the next call with a new worker.
    let (_, r) = failed_create(&host, s, "crash", 503).await;
    assert!(r.header("retry-after").is_some(), "{}", r.got());
    assert!(detail(&r).contains("exited"), "{}", r.got());
    good_create(&host, s, "after-crash").await;

    // A worker exiting after it answered: the next call finds it dead and is served by a new
    // one without an error.
    let (user, id) = good_create_with(&host, s, "exit-after").await;
    for value in ["first", "second", "third", "fourth", "fifth"] {
        entra::update(&client, &id, &[(&ecma("displayName"), json!(value))])
            .await
            .unwrap();
        assert_eq!(
            row(&db, &user.user_name).unwrap().display_name.as_deref(),
            Some(value)
        );
    }

    // Garbage and oversized output: clear errors, nothing written.
    for (how, says) in [
        ("garbage", "not a protocol answer"),
        ("oversized", "longer than max_message_size"),
    ] {
        let (_, r) = failed_create(&host, s, how, 503).await;
        assert!(detail(&r).contains(says), "{how}: {}", r.got());
        assert!(
            !r.text.contains("xxxxxxxxxx") && !r.text.contains("Exporting user"),
            "{how}: what the script printed is not quoted: {}",
            r.got()
        );
        good_create(&host, s, &format!("after-{how}")).await;
    }
    host.stop().await.unwrap();
}

/// A create whose department is `misbehave:<how>` and that must succeed.
async fn good_create_with(host: &TestHost, s: &Script<'_>, how: &str) -> (User, String) {
    let user = User::new(how);
    let r = s
        .client(host)
        .post("/Users", &user.body(s.mode, &format!("misbehave:{how}")))
        .await
        .unwrap();
    ok(&r, &[201]);
    (user, entra::resource_id(&r.body, "POST /Users").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_reference_connector_creates_finds_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Script::python("shell", Mode::Ecma2host, "\"none\"", "\"delete\"");
    shell.command = ("sh", shell_reference(), vec![]);
    shell.parameters = vec![("store", "users.json".to_owned())];
    let mut host = TestHost::start(&host_config(&[&shell]), dir).await.unwrap();
    let client = shell.client(&host);
    host.wait_serving(&client).await.unwrap();
    let store = host.dir().join("users.json");
    let read_store =
        || -> Value { serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap() };

    entra::probe(&client, &ecma("userName")).await.unwrap();
    let user = User::new("shell");
    let body = json!({
        "schemas": [CORE_USER],
        ecma("id"): user.anchor,
        ecma("userName"): user.user_name,
        ecma("displayName"): "Grace Hopper",
        ecma("password"): user.password,
    });
    let r = client.post("/Users", &body).await.unwrap();
    assert_no_password(&user, "the POST answer", &r.text);
    ok(&r, &[201]);
    let id = entra::resource_id(&r.body, "POST /Users").unwrap();
    assert_eq!(id, user.anchor);
    let stored = read_store();
    assert_eq!(
        stored["objects"][&user.anchor]["userName"],
        json!([user.user_name])
    );
    assert_eq!(stored["passwords"][&user.anchor], json!(user.password));

    let found = entra::find_user(&client, &ecma("userName"), &user.user_name)
        .await
        .unwrap()
        .expect("found by userName");
    assert_eq!(found["id"], json!(id));
    entra::update(
        &client,
        &id,
        &[(&ecma("displayName"), json!("Grace B. Hopper"))],
    )
    .await
    .unwrap();
    assert_eq!(
        read_store()["objects"][&user.anchor]["displayName"],
        json!(["Grace B. Hopper"])
    );

    entra::delete_user(&client, &id).await.unwrap();
    assert!(read_store()["objects"].get(&user.anchor).is_none());
    for (path, text) in files(host.data_dir()) {
        assert_no_password(&user, &path, &text);
    }
    host.stop().await.unwrap();
}

/// An add the script queues for approval (`needsApproval`, answered `pending`): the client gets
/// its 201 and finds the user by filter (so Entra does not create it twice), the store holds
/// only the approval request, and once an approver creates the user at the target a delta
/// import brings the real object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_add_is_answered_kept_and_confirmed_by_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut hr = Script::python("hr", Mode::Ecma2host, "\"none\"", "\"delete\"");
    hr.extra = "delta_import_every = \"1s\"";
    let mut host = TestHost::start(&host_config(&[&hr]), dir).await.unwrap();
    let client = hr.client(&host);
    host.wait_serving(&client).await.unwrap();
    let db = host.dir().join("hr.db");

    let user = User::new("pending");
    let mut body = user.body(Mode::Ecma2host, "Sales");
    body[ecma("needsApproval")] = json!(true);
    let r = client.post("/Users", &body).await.unwrap();
    assert_no_password(&user, "the POST answer", &r.text);
    ok(&r, &[201]);
    assert_eq!(row(&db, &user.user_name), None, "queued, not created");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let queued: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM approvals WHERE id = ?",
            [&user.anchor],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(queued, 1);
    let found = entra::find_user(&client, &ecma("userName"), &user.user_name)
        .await
        .unwrap()
        .expect("the pending user is found, so Entra does not create it again");
    assert_eq!(found["id"], json!(user.anchor));

    // The approver creates it at the target, with another display name.
    conn.execute(
        "INSERT INTO users (id, userName, displayName) VALUES (?, ?, 'Approved')",
        [&user.anchor, &user.user_name],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO changes (id, op) VALUES (?, 'add')",
        [&user.anchor],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = entra::get_user(&client, &user.anchor).await.unwrap();
        if got[e2e::entra::ECMA2HOST_USER]["displayName"] == json!("Approved") {
            break;
        }
        assert!(Instant::now() < deadline, "no import confirmed it: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    host.stop().await.unwrap();
}
