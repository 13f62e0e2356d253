//! The end-to-end matrix: every database backend × both schema modes, each with one host that
//! serves four connectors (one per deprovisioning setup, one for paging), replaying Entra's
//! provisioning sequences and checking the SCIM answers and the target tables.
//!
//! Each `backend::mode` test starts one host and runs the scenarios in turn with distinct
//! people, reporting every scenario's outcome (`ok` / `FAILED: request, expected, got`) on
//! stderr and failing with the list of failed scenarios; the restart scenario runs last.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

#[path = "e2e/hr_staging.rs"]
mod hr_staging;

use std::collections::BTreeSet;

use e2e::db::sql_bool;
use e2e::entra::{self, ecma, enterprise};
use e2e::error::{Result, unexpected};
use e2e::fixture::{
    self, ConnectorSpec, EmployeeRow, Mode, OnDelete, OnDisable, Person, employee_by_id,
    employee_by_user_name, members_of,
};
use e2e::scenarios;
use e2e::{Backend, Database, ScimClient, TestHost};
use reqwest::Method;
use serde_json::{Value, json};

/// One host on one fresh database, with its four connectors.
struct Ctx {
    backend: Backend,
    mode: Mode,
    /// Declared before `db` so that it is dropped (and stopped) before the database is.
    host: TestHost,
    db: Database,
    /// disable → set IsActive = false, delete → delete; groups in scim mode.
    hr: ConnectorSpec,
    /// disable → none, delete → none.
    keep: ConnectorSpec,
    /// disable → delete, delete → delete.
    purge: ConnectorSpec,
    /// For paging: nothing else writes here.
    pages: ConnectorSpec,
}

impl Ctx {
    async fn start(backend: Backend, mode: Mode) -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(backend, dir.path()).unwrap();
        let groups = mode == Mode::Scim;
        let hr = ConnectorSpec::new("hr", OnDisable::SetIsActive, OnDelete::Delete, groups);
        let keep = ConnectorSpec::new("keep", OnDisable::Nothing, OnDelete::Nothing, false);
        let purge = ConnectorSpec::new("purge", OnDisable::Delete, OnDelete::Delete, false);
        let pages = ConnectorSpec::new("pages", OnDisable::Nothing, OnDelete::Delete, false);
        let specs = [hr.clone(), keep.clone(), purge.clone(), pages.clone()];
        for spec in &specs {
            fixture::create_tables(&db, spec).unwrap();
        }
        let config = fixture::host_config(&db, mode, &specs);
        let host = match TestHost::start(&config, dir).await {
            Ok(host) => host,
            Err(e) => {
                panic!("{backend:?}/{mode:?}: the host did not start: {e}\nconfig:\n{config}")
            }
        };
        for spec in &specs {
            let client = host.scim(&spec.name, Some(&spec.token));
            if let Err(e) = host.wait_serving(&client).await {
                panic!(
                    "{backend:?}/{mode:?}: connector {} never served: {e}",
                    spec.name
                );
            }
        }
        Ctx {
            backend,
            mode,
            db,
            host,
            hr,
            keep,
            purge,
            pages,
        }
    }

    fn client(&self, spec: &ConnectorSpec) -> ScimClient {
        self.host.scim(&spec.name, Some(&spec.token))
    }

    /// Runs a blocking database read without stalling the host's runtime.
    fn db<T>(&self, f: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        tokio::task::block_in_place(|| f(&self.db))
    }

    fn row(&self, spec: &ConnectorSpec, user_name: &str) -> Result<Option<EmployeeRow>> {
        self.db(|db| employee_by_user_name(db, spec, user_name))
    }

    fn row_by_id(&self, spec: &ConnectorSpec, id: &str) -> Result<Option<EmployeeRow>> {
        self.db(|db| employee_by_id(db, spec, id))
    }

    /// The row that must exist for `user_name`.
    fn existing_row(&self, spec: &ConnectorSpec, user_name: &str) -> Result<EmployeeRow> {
        self.row(spec, user_name)?.ok_or_else(|| {
            unexpected(
                format!(
                    "SELECT … FROM {} WHERE UserName = '{user_name}'",
                    spec.employees()
                ),
                "one row",
                "no row",
            )
        })
    }

    /// Fails if a row exists for `user_name`.
    fn expect_no_row(&self, spec: &ConnectorSpec, user_name: &str, after: &str) -> Result<()> {
        match self.row(spec, user_name)? {
            None => Ok(()),
            Some(row) => Err(unexpected(
                format!(
                    "after {after}: SELECT … FROM {} WHERE UserName = '{user_name}'",
                    spec.employees()
                ),
                "no row",
                format!("{row:?}"),
            )),
        }
    }

    fn user_name_attr(&self) -> String {
        self.mode.user_name_attr()
    }

    /// match-or-create for `person` on `spec`, which must create it.
    async fn create(&self, spec: &ConnectorSpec, person: &Person) -> Result<String> {
        let client = self.client(spec);
        let made = entra::match_or_create(
            &client,
            &self.user_name_attr(),
            &person.user_name,
            &person.create_body(self.mode),
        )
        .await?;
        if !made.created {
            return Err(unexpected(
                format!(
                    "GET /Users?filter={} eq \"{}\"",
                    self.user_name_attr(),
                    person.user_name
                ),
                "no match for a new person (so Entra POSTs)",
                format!("a match: {}", made.resource),
            ));
        }
        if self.mode == Mode::Ecma2host && made.id != person.employee_id {
            return Err(unexpected(
                "POST /Users (ecma2host)",
                format!("id = the anchor EmployeeId {:?}", person.employee_id),
                format!("id {:?}", made.id),
            ));
        }
        Ok(made.id)
    }
}

/// Fails unless `row[column]` is `expected`.
fn check_column(
    row: &EmployeeRow,
    column: &str,
    expected: Option<&str>,
    context: &str,
) -> Result<()> {
    let got = row.get(column).cloned().flatten();
    if got.as_deref() == expected {
        Ok(())
    } else {
        Err(unexpected(
            format!("{context}: column {column}"),
            format!("{expected:?}"),
            format!("{got:?} (row {row:?})"),
        ))
    }
}

/// Fails unless the boolean column `IsActive` reads as `expected`.
fn check_is_active(row: &EmployeeRow, expected: bool, context: &str) -> Result<()> {
    let text = row.get("IsActive").cloned().flatten();
    if sql_bool(text.as_deref()) == Some(expected) {
        Ok(())
    } else {
        Err(unexpected(
            format!("{context}: column IsActive"),
            format!("{expected}"),
            format!("{text:?} (row {row:?})"),
        ))
    }
}

/// Fails unless the JSON value at `pointer` in `resource` is `expected`.
fn check_json(resource: &Value, pointer: &str, expected: &Value, context: &str) -> Result<()> {
    let got = resource.pointer(pointer).unwrap_or(&Value::Null);
    if got == expected {
        Ok(())
    } else {
        Err(unexpected(
            format!("{context}: {pointer}"),
            expected.to_string(),
            format!("{got} in {resource}"),
        ))
    }
}

/// A JSON pointer to the ECMA2Host attribute `column` in a resource, where extension
/// attributes sit in an object under the extension URN (RFC 7643 §3.3).
fn ecma_ptr(column: &str) -> String {
    format!("/{}/{column}", entra::ECMA2HOST_USER)
}

/// A JSON pointer to an enterprise extension attribute.
fn enterprise_ptr(attribute: &str) -> String {
    format!("/{}/{attribute}", entra::ENTERPRISE_USER)
}

/// The work e-mail of a SCIM user.
fn work_email(user: &Value) -> Option<&str> {
    user.get("emails")?
        .as_array()?
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))?
        .get("value")?
        .as_str()
}

// ------------------------------------------------------------------------------ scenarios --

async fn probe(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    entra::probe(&client, &ctx.user_name_attr()).await?;
    match ctx.mode {
        Mode::Scim => {
            entra::probe(&client, "externalId").await?;
            entra::probe_group(&client).await
        }
        Mode::Ecma2host => entra::probe(&client, &ecma("ExternalId")).await,
    }
}

/// TLS: the generated certificate is valid for both `127.0.0.1` and `localhost` (the tenant URL
/// Microsoft documents is `https://localhost:8585/…`), and a client that does not trust it
/// cannot connect.
async fn tls(ctx: &Ctx) -> Result<()> {
    let port = ctx.host.addr().port();
    let url = format!("https://localhost:{port}/healthz");
    match ctx.host.http().get(&url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {}
        Ok(r) => {
            return Err(unexpected(
                format!("GET {url}"),
                "200",
                r.status().to_string(),
            ));
        }
        Err(e) => {
            return Err(unexpected(
                format!("GET {url}"),
                "200 over TLS (localhost in the SAN)",
                e.to_string(),
            ));
        }
    }
    let stranger = reqwest::Client::new();
    if let Ok(r) = stranger
        .get(format!("{}/healthz", ctx.host.origin()))
        .send()
        .await
    {
        return Err(unexpected(
            "GET /healthz from a client that does not trust the generated certificate",
            "a TLS failure",
            r.status().to_string(),
        ));
    }
    Ok(())
}

/// Schema discovery (D.2): `GET /Schemas` is a ListResponse of Schema resources with no `null`
/// anywhere (D.1); ecma2host mode lists every column (and `-dn-`) under the ECMA2Host
/// extension, scim mode the core User, EnterpriseUser and Group schemas.
async fn schemas(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let response = client.get("/Schemas", &[]).await?;
    let page = entra::list_page(&response)?;
    if let Some(path) = first_null(&response.body, String::new()) {
        return Err(unexpected(
            "GET /Schemas",
            "no null values (Entra rejects them)",
            format!("null at {path}"),
        ));
    }
    let find = |id: &str| {
        page.resources
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
    };
    let required: Vec<&str> = match ctx.mode {
        Mode::Ecma2host => vec![entra::ECMA2HOST_USER],
        Mode::Scim => vec![entra::CORE_USER, entra::ENTERPRISE_USER, entra::CORE_GROUP],
    };
    for id in required {
        if find(id).is_none() {
            return Err(unexpected(
                "GET /Schemas",
                format!("a Schema with id {id}"),
                response.got(),
            ));
        }
    }
    // ServiceProviderConfig: PATCH and filtering, which Entra relies on, are advertised.
    let response = client.get("/ServiceProviderConfig", &[]).await?;
    response.expect_status(&[200])?;
    for pointer in ["/patch/supported", "/filter/supported"] {
        if response.body.pointer(pointer) != Some(&json!(true)) {
            return Err(unexpected(
                response.request.clone(),
                format!("{pointer} = true"),
                response.got(),
            ));
        }
    }
    if ctx.mode == Mode::Ecma2host {
        let schema = find(entra::ECMA2HOST_USER).cloned().unwrap_or_default();
        let names: BTreeSet<String> = schema
            .get("attributes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut want: BTreeSet<String> = fixture::EMPLOYEE_COLUMNS
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        want.insert("-dn-".to_owned());
        if !want.is_subset(&names) {
            return Err(unexpected(
                "GET /Schemas: the ECMA2Host schema's attributes",
                format!("every column and -dn-: {want:?}"),
                format!("{names:?}"),
            ));
        }
    }
    Ok(())
}

/// The JSON pointer of the first `null` in `value`, if any.
fn first_null(value: &Value, at: String) -> Option<String> {
    match value {
        Value::Null => Some(if at.is_empty() { "/".to_owned() } else { at }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_null(v, format!("{at}/{i}"))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| first_null(v, format!("{at}/{k}"))),
        _ => None,
    }
}

/// Match-or-create of three people, a second match that finds instead of creating, updates in
/// both PATCH forms, disable/enable in both forms under `set IsActive`, and delete.
async fn lifecycle(ctx: &Ctx) -> Result<()> {
    let hr = &ctx.hr;
    let client = ctx.client(hr);
    let people = [Person::new("lc1"), Person::new("lc2"), Person::new("lc3")];
    let mut ids = Vec::new();
    for p in &people {
        let id = ctx.create(hr, p).await?;
        let row = ctx.existing_row(hr, &p.user_name)?;
        check_column(&row, "EmployeeId", Some(&id), "after POST /Users")?;
        for (column, value) in p.expected_columns() {
            check_column(&row, column, Some(&value), "after POST /Users")?;
        }
        let user = entra::get_user(&client, &id).await?;
        match ctx.mode {
            Mode::Scim => {
                check_json(&user, "/userName", &json!(p.user_name), "GET /Users/{id}")?;
                check_json(&user, "/name/givenName", &json!(p.first), "GET /Users/{id}")?;
                check_json(
                    &user,
                    &enterprise_ptr("department"),
                    &json!(p.department),
                    "GET /Users/{id}",
                )?;
                check_json(&user, "/active", &json!(true), "GET /Users/{id}")?;
            }
            Mode::Ecma2host => {
                check_json(
                    &user,
                    &ecma_ptr("UserName"),
                    &json!(p.user_name),
                    "GET /Users/{id}",
                )?;
                check_json(
                    &user,
                    &ecma_ptr("FirstName"),
                    &json!(p.first),
                    "GET /Users/{id}",
                )?;
                let dn = user
                    .pointer(&ecma_ptr("-dn-"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !dn.eq_ignore_ascii_case(&format!("CN={id},OBJECT=USER")) {
                    return Err(unexpected(
                        "GET /Users/{id} (ecma2host): the autogenerated DN",
                        format!("CN={id},OBJECT=USER"),
                        format!("{dn:?}"),
                    ));
                }
            }
        }
        ids.push(id);
    }

    // Entra's next cycle matches the same person instead of creating it again.
    let again = entra::match_or_create(
        &client,
        &ctx.user_name_attr(),
        &people[0].user_name,
        &people[0].create_body(ctx.mode),
    )
    .await?;
    if again.created || again.id != ids[0] {
        return Err(unexpected(
            "match-or-create of an existing person",
            format!("a match with id {:?}, no POST", ids[0]),
            format!("created {} with id {:?}", again.created, again.id),
        ));
    }
    ctx.existing_row(hr, &people[0].user_name)?;

    // Update, default form: GET, then one Replace per attribute.
    let before = entra::get_user(&client, &ids[0]).await?;
    let new_email = format!("{}.new@contoso.example", people[0].tag);
    let changes: Vec<(String, Value)> = match ctx.mode {
        Mode::Scim => vec![
            ("displayName".into(), json!("Renamed One")),
            ("emails[type eq \"work\"].value".into(), json!(new_email)),
            ("name.givenName".into(), json!("NewGiven")),
            (enterprise("department"), json!("Engineering")),
        ],
        Mode::Ecma2host => vec![
            (ecma("DisplayName"), json!("Renamed One")),
            (ecma("Email"), json!(new_email)),
            (ecma("FirstName"), json!("NewGiven")),
            (ecma("Department"), json!("Engineering")),
        ],
    };
    let changes_ref: Vec<(&str, Value)> = changes
        .iter()
        .map(|(p, v)| (p.as_str(), v.clone()))
        .collect();
    entra::update(&client, &ids[0], &changes_ref).await?;
    let row = ctx.existing_row(hr, &people[0].user_name)?;
    for (column, value) in [
        ("DisplayName", "Renamed One"),
        ("Email", new_email.as_str()),
        ("FirstName", "NewGiven"),
        ("Department", "Engineering"),
        ("LastName", people[0].last.as_str()),
    ] {
        check_column(&row, column, Some(value), "after PATCH Replace ops")?;
    }
    let after = entra::get_user(&client, &ids[0]).await?;
    if entra::meta_version(&after) == entra::meta_version(&before) {
        return Err(unexpected(
            "GET /Users/{id} after a PATCH",
            "a new meta.version",
            format!("the same {:?}", entra::meta_version(&after)),
        ));
    }
    match ctx.mode {
        Mode::Scim => {
            check_json(
                &after,
                "/displayName",
                &json!("Renamed One"),
                "GET after PATCH",
            )?;
            if work_email(&after) != Some(new_email.as_str()) {
                return Err(unexpected(
                    "GET after PATCH: work email",
                    new_email.clone(),
                    after.to_string(),
                ));
            }
        }
        Mode::Ecma2host => {
            check_json(
                &after,
                &ecma_ptr("DisplayName"),
                &json!("Renamed One"),
                "GET after PATCH",
            )?;
        }
    }

    // Update, aadOptscim062020 form: one path-less replace with dotted and URN keys.
    let email2 = format!("{}.062020@contoso.example", people[1].tag);
    match ctx.mode {
        Mode::Scim => {
            entra::update_062020(
                &client,
                &ids[1],
                json!({
                    "displayName": "Renamed Two",
                    "name.familyName": "NewFamily",
                    enterprise("department"): "Finance",
                }),
                &[("emails[type eq \"work\"].value", json!(email2))],
            )
            .await?
        }
        Mode::Ecma2host => {
            entra::update_062020(
                &client,
                &ids[1],
                json!({
                    ecma("DisplayName"): "Renamed Two",
                    ecma("LastName"): "NewFamily",
                    ecma("Department"): "Finance",
                    ecma("Email"): email2,
                }),
                &[],
            )
            .await?
        }
    }
    let row = ctx.existing_row(hr, &people[1].user_name)?;
    for (column, value) in [
        ("DisplayName", "Renamed Two"),
        ("LastName", "NewFamily"),
        ("Department", "Finance"),
        ("Email", email2.as_str()),
        ("FirstName", people[1].first.as_str()),
    ] {
        check_column(&row, column, Some(value), "after PATCH without path")?;
    }

    // Disable and re-enable under `set IsActive = false`, in every shape Entra sends.
    let forms = [
        (
            0usize,
            "default: \"False\"/\"True\"",
            "Replace",
            json!("False"),
            json!("True"),
        ),
        (
            1,
            "aadOptscim062020: false/true",
            "replace",
            json!(false),
            json!(true),
        ),
        (
            0,
            "lowercase strings \"false\"/\"true\"",
            "Replace",
            json!("false"),
            json!("true"),
        ),
    ];
    for (i, form, op, off, on) in forms {
        let id = &ids[i];
        let operation = |value: &Value| json!({ "op": op, "path": "active", "value": value });
        entra::set_active(&client, id, operation(&off)).await?;
        let row = ctx.existing_row(hr, &people[i].user_name)?;
        check_is_active(&row, false, &format!("after disable ({form})"))?;
        let user = entra::get_user(&client, id).await?;
        match ctx.mode {
            Mode::Scim => check_json(&user, "/active", &json!(false), "GET after disable")?,
            Mode::Ecma2host => check_json(
                &user,
                &ecma_ptr("IsActive"),
                &json!(false),
                "GET after disable",
            )?,
        }
        entra::set_active(&client, id, operation(&on)).await?;
        let row = ctx.existing_row(hr, &people[i].user_name)?;
        check_is_active(&row, true, &format!("after re-enable ({form})"))?;
        let user = entra::get_user(&client, id).await?;
        if ctx.mode == Mode::Scim {
            check_json(&user, "/active", &json!(true), "GET after re-enable")?;
        }
    }

    // Lookups by the second matching attribute (externalId) find the same user; in scim mode
    // userName is not case-exact, so a differently cased filter value matches too.
    let (ext_attr, ext_value) = match ctx.mode {
        Mode::Scim => ("externalId".to_owned(), people[1].external_id.clone()),
        Mode::Ecma2host => (ecma("ExternalId"), people[1].external_id.clone()),
    };
    let found = entra::find_user(&client, &ext_attr, &ext_value).await?;
    check_found(found, &ids[1], "GET /Users?filter=externalId eq …")?;
    if ctx.mode == Mode::Scim {
        let upper = people[1].user_name.to_uppercase();
        let found = entra::find_user(&client, "userName", &upper).await?;
        check_found(
            found,
            &ids[1],
            "GET /Users?filter=userName eq <upper-cased>",
        )?;
    }

    // Add of a single value that had none, in both op spellings.
    let family_path = match ctx.mode {
        Mode::Scim => "name.familyName".to_owned(),
        Mode::Ecma2host => ecma("LastName"),
    };
    entra::add_value(&client, &ids[2], &family_path, json!("AddedFamily"), false).await?;
    let row = ctx.existing_row(hr, &people[2].user_name)?;
    check_column(&row, "LastName", Some("AddedFamily"), "after PATCH Add")?;
    entra::add_value(&client, &ids[2], &family_path, json!("AddedAgain"), true).await?;
    let row = ctx.existing_row(hr, &people[2].user_name)?;
    check_column(&row, "LastName", Some("AddedAgain"), "after PATCH add")?;

    // Delete under `delete = "delete"`: 204, then 404, and the row is gone.
    entra::delete_user(&client, &ids[2]).await?;
    ctx.expect_no_row(hr, &people[2].user_name, "DELETE /Users/{id}")?;
    Ok(())
}

/// The manager in both shapes Entra sends (scim mode).
async fn manager(ctx: &Ctx) -> Result<()> {
    let hr = &ctx.hr;
    let client = ctx.client(hr);
    let boss = Person::new("boss");
    let (a, b) = (Person::new("rep-a"), Person::new("rep-b"));
    let boss_id = ctx.create(hr, &boss).await?;
    let a_id = ctx.create(hr, &a).await?;
    let b_id = ctx.create(hr, &b).await?;
    entra::set_manager_array(&client, &a_id, &boss_id).await?;
    entra::set_manager_string(&client, &b_id, &boss_id).await?;
    for (person, id, form) in [(&a, &a_id, "array"), (&b, &b_id, "string")] {
        let row = ctx.existing_row(hr, &person.user_name)?;
        check_column(
            &row,
            "ManagerId",
            Some(&boss_id),
            &format!("after manager Add ({form} form)"),
        )?;
        let user = entra::get_user(&client, id).await?;
        check_json(
            &user,
            &format!("{}/value", enterprise_ptr("manager")),
            &json!(boss_id),
            "GET after manager Add",
        )?;
    }
    // The reference check Entra may send before touching a manager (D.2).
    for (manager, expected) in [(boss_id.as_str(), 1usize), (a_id.as_str(), 0)] {
        let filter = format!("id eq \"{b_id}\" and manager eq \"{manager}\"");
        let response = client.get("/Users", &[("filter", filter.as_str())]).await?;
        let page = entra::list_page(&response)?;
        if page.resources.len() != expected || page.total_results != expected as u64 {
            return Err(unexpected(
                response.request.clone(),
                format!("{expected} result(s)"),
                response.got(),
            ));
        }
    }
    Ok(())
}

/// `disable = "none"`, `delete = "none"`: the row stays exactly as it was.
async fn deprovision_none(ctx: &Ctx) -> Result<()> {
    let keep = &ctx.keep;
    let client = ctx.client(keep);
    let p = Person::new("keep");
    let id = ctx.create(keep, &p).await?;
    let original = ctx.existing_row(keep, &p.user_name)?;
    let unchanged = |after: &str| -> Result<()> {
        let row = ctx.existing_row(keep, &p.user_name)?;
        if row == original {
            Ok(())
        } else {
            Err(unexpected(
                format!("after {after} under disable/delete = none: the row"),
                format!("{original:?}"),
                format!("{row:?}"),
            ))
        }
    };
    entra::disable(&client, &id).await?;
    unchanged("disable")?;
    entra::get_user(&client, &id).await?;
    entra::enable(&client, &id).await?;
    unchanged("re-enable")?;
    entra::delete(&client, "/Users", &id).await?;
    unchanged("DELETE")
}

/// `disable = "delete"`: disabling deletes the row, and the user is gone.
async fn deprovision_delete(ctx: &Ctx) -> Result<()> {
    let purge = &ctx.purge;
    let client = ctx.client(purge);
    let p = Person::new("purge");
    let id = ctx.create(purge, &p).await?;
    ctx.existing_row(purge, &p.user_name)?;
    entra::disable(&client, &id).await?;
    ctx.expect_no_row(purge, &p.user_name, "disable under disable = delete")?;
    entra::expect_gone(&client, "/Users", &id).await
}

/// Account discovery: 12 users read with `startIndex`/`count=5`, each exactly once.
async fn paging(ctx: &Ctx) -> Result<()> {
    let pages = &ctx.pages;
    let client = ctx.client(pages);
    let mut created = BTreeSet::new();
    for i in 0..12 {
        let p = Person::new(&format!("page{i}"));
        created.insert(ctx.create(pages, &p).await?);
    }
    let all = entra::page_all(&client, 5).await?;
    let ids: Vec<String> = all
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let seen: BTreeSet<String> = ids.iter().cloned().collect();
    if ids.len() != 12 || seen != created {
        return Err(unexpected(
            "GET /Users?startIndex=1,6,11&count=5",
            format!("the 12 created ids, each once: {created:?}"),
            format!("{ids:?}"),
        ));
    }
    Ok(())
}

/// Groups (scim mode): create with an empty member list, find by displayName with members
/// excluded, add members (one, then two in one PATCH), remove in both shapes, delete.
async fn groups(ctx: &Ctx) -> Result<()> {
    let hr = &ctx.hr;
    let client = ctx.client(hr);
    entra::probe_group(&client).await?;
    let users = [Person::new("gm1"), Person::new("gm2"), Person::new("gm3")];
    let mut uids = Vec::new();
    for u in &users {
        uids.push(ctx.create(hr, u).await?);
    }
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("Team {}", &suffix[..8]);
    let ext = format!("grp-{suffix}");
    if entra::find_group(&client, &name).await?.is_some() {
        return Err(unexpected(
            "GET /Groups?filter=displayName eq …",
            "no match before create",
            "a match",
        ));
    }
    let group = entra::create_group(&client, &name, &ext).await?;
    let gid = group.id.clone();
    let rows = ctx.db(|db| {
        db.query(&format!(
            r#"SELECT "DisplayName", "ExternalId" FROM "{}" WHERE "GroupId" = '{gid}'"#,
            hr.groups_table()
        ))
    })?;
    if rows != vec![vec![Some(name.clone()), Some(ext.clone())]] {
        return Err(unexpected(
            format!("after POST /Groups: {} row", hr.groups_table()),
            format!("[{name:?}, {ext:?}]"),
            format!("{rows:?}"),
        ));
    }
    let found = entra::find_group(&client, &name).await?;
    if found
        .as_ref()
        .and_then(|g| g.get("id"))
        .and_then(Value::as_str)
        != Some(gid.as_str())
    {
        return Err(unexpected(
            "GET /Groups?excludedAttributes=members&filter=displayName eq …",
            format!("the group {gid}"),
            format!("{found:?}"),
        ));
    }

    // displayName is unique (D.2): a second group with the same name is refused, unwritten.
    let response = client
        .post(
            "/Groups",
            &json!({
                "schemas": [entra::CORE_GROUP, entra::ADSCIM_GROUP],
                "externalId": format!("{ext}-twin"),
                "displayName": name,
                "members": [],
            }),
        )
        .await?;
    response.expect_error(409, Some("uniqueness"))?;
    let same_name = ctx.db(|db| {
        db.query(&format!(
            r#"SELECT "GroupId" FROM "{}" WHERE "DisplayName" = '{name}'"#,
            hr.groups_table()
        ))
    })?;
    if same_name.len() != 1 {
        return Err(unexpected(
            "after a duplicate POST /Groups: rows with that DisplayName",
            "1",
            format!("{same_name:?}"),
        ));
    }

    let check_members = |expected: &[&str], after: &str| -> Result<()> {
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        let got = ctx.db(|db| members_of(db, hr, &gid))?;
        if got == want {
            Ok(())
        } else {
            Err(unexpected(
                format!("after {after}: {} rows", hr.members_table()),
                format!("{want:?}"),
                format!("{got:?}"),
            ))
        }
    };
    entra::add_members(&client, &gid, &[&uids[0]]).await?;
    check_members(&[&uids[0]], "member Add")?;
    entra::add_members(&client, &gid, &[&uids[1], &uids[2]]).await?;
    check_members(&[&uids[0], &uids[1], &uids[2]], "member Add of two")?;
    let full = entra::get(&client, "/Groups", &gid).await?;
    let mut listed: Vec<String> = full
        .get("members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    let mut want = uids.clone();
    want.sort();
    if listed != want {
        return Err(unexpected(
            "GET /Groups/{id}: members",
            format!("{want:?}"),
            full.to_string(),
        ));
    }
    // A rename: Replace displayName, checked in the table and by the new name.
    let renamed = format!("{name} renamed");
    entra::patch(
        &client,
        "/Groups",
        &gid,
        vec![json!({"op": "Replace", "path": "displayName", "value": renamed})],
    )
    .await?;
    let names = ctx.db(|db| {
        db.query(&format!(
            r#"SELECT "DisplayName" FROM "{}" WHERE "GroupId" = '{gid}'"#,
            hr.groups_table()
        ))
    })?;
    if names != vec![vec![Some(renamed.clone())]] {
        return Err(unexpected(
            "after PATCH Replace displayName: the group row",
            renamed.clone(),
            format!("{names:?}"),
        ));
    }
    let found = entra::find_group(&client, &renamed).await?;
    check_found(found, &gid, "GET /Groups?filter=displayName eq <new name>")?;
    if entra::find_group(&client, &name).await?.is_some() {
        return Err(unexpected(
            "GET /Groups?filter=displayName eq <old name> after a rename",
            "no match",
            "a match",
        ));
    }
    check_members(&[&uids[0], &uids[1], &uids[2]], "a rename")?;

    // GET /Groups/{id}?excludedAttributes=members (D.2): the group without its members.
    let response = client
        .get(
            &format!("/Groups/{gid}"),
            &[("excludedAttributes", "members")],
        )
        .await?;
    response.expect_status(&[200])?;
    if response.body.get("members").is_some() || response.str_field("id") != Some(gid.as_str()) {
        return Err(unexpected(
            response.request.clone(),
            format!("the group {gid} without `members`"),
            response.got(),
        ));
    }
    entra::remove_members_by_value(&client, &gid, &[&uids[0]]).await?;
    check_members(&[&uids[1], &uids[2]], "Remove with a value array")?;
    entra::remove_member_by_path(&client, &gid, &uids[1]).await?;
    check_members(&[&uids[2]], "remove with members[value eq …]")?;
    entra::delete(&client, "/Groups", &gid).await?;
    entra::expect_gone(&client, "/Groups", &gid).await?;
    let left = ctx.db(|db| {
        db.query(&format!(
            r#"SELECT "GroupId" FROM "{}" WHERE "GroupId" = '{gid}'"#,
            hr.groups_table()
        ))
    })?;
    if !left.is_empty() {
        return Err(unexpected(
            "after DELETE /Groups/{id}: the group row",
            "gone",
            format!("{left:?}"),
        ));
    }
    Ok(())
}

/// Nothing was written for `person`: no row and no filter match.
async fn nothing_written(ctx: &Ctx, person: &Person, after: &str) -> Result<()> {
    ctx.expect_no_row(&ctx.hr, &person.user_name, after)?;
    let found = entra::find_user(
        &ctx.client(&ctx.hr),
        &ctx.user_name_attr(),
        &person.user_name,
    )
    .await?;
    match found {
        None => Ok(()),
        Some(u) => Err(unexpected(
            format!("after {after}: GET /Users?filter=…"),
            "no match",
            u.to_string(),
        )),
    }
}

async fn malformed_json(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let p = Person::new("badjson");
    let mut text = p.create_body(ctx.mode).to_string();
    text.truncate(text.len() - 10);
    let response = client
        .send_raw(Method::POST, "/Users", text.into_bytes())
        .await?;
    response.expect_error(400, Some("invalidSyntax"))?;
    nothing_written(ctx, &p, "a malformed POST").await
}

async fn unknown_attribute(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let unknown = match ctx.mode {
        Mode::Scim => "favouriteColour".to_owned(),
        Mode::Ecma2host => ecma("NoSuchColumn"),
    };
    let p = Person::new("unknown");
    let mut body = p.create_body(ctx.mode);
    body[unknown.as_str()] = json!("blue");
    let response = client.post("/Users", &body).await?;
    response.expect_error(400, None)?;
    nothing_written(ctx, &p, "a POST with an unknown attribute").await?;

    // A PATCH of an unknown attribute changes nothing either.
    let q = Person::new("unknown-patch");
    let id = ctx.create(&ctx.hr, &q).await?;
    let before = ctx.existing_row(&ctx.hr, &q.user_name)?;
    let response = client
        .patch(
            &format!("/Users/{id}"),
            &entra::patch_body(vec![
                json!({"op": "Replace", "path": unknown, "value": "blue"}),
            ]),
        )
        .await?;
    response.expect_error(400, None)?;
    let after = ctx.existing_row(&ctx.hr, &q.user_name)?;
    if after != before {
        return Err(unexpected(
            "PATCH of an unknown attribute",
            format!("row unchanged {before:?}"),
            format!("{after:?}"),
        ));
    }
    Ok(())
}

async fn invalid_filter(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let attr = ctx.user_name_attr();
    for filter in [
        format!("{attr} eq"),
        format!("{attr} zz \"x\""),
        format!("({attr} eq \"x\""),
        format!("{attr} eq \"x\" and"),
    ] {
        let response = client.get("/Users", &[("filter", filter.as_str())]).await?;
        response.expect_error(400, Some("invalidFilter"))?;
    }
    Ok(())
}

async fn duplicate_user_name(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let p = Person::new("dup");
    let id = ctx.create(&ctx.hr, &p).await?;
    let mut twin = Person::new("dup-twin");
    twin.user_name = p.user_name.clone();
    let response = client.post("/Users", &twin.create_body(ctx.mode)).await?;
    response.expect_error(409, Some("uniqueness"))?;
    // Exactly the first row (employee_by_user_name fails on two), unchanged.
    let row = ctx.existing_row(&ctx.hr, &p.user_name)?;
    check_column(&row, "EmployeeId", Some(&id), "after a duplicate POST")?;
    check_column(
        &row,
        "ExternalId",
        Some(&p.external_id),
        "after a duplicate POST",
    )?;
    if ctx.mode == Mode::Ecma2host && ctx.row_by_id(&ctx.hr, &twin.employee_id)?.is_some() {
        return Err(unexpected(
            "after a duplicate POST",
            "no row for the twin's anchor",
            "a row",
        ));
    }
    let found = entra::find_user(&client, &ctx.user_name_attr(), &p.user_name).await?;
    if found
        .as_ref()
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        != Some(id.as_str())
    {
        return Err(unexpected(
            "GET /Users?filter=… after a duplicate POST",
            format!("the first user {id}"),
            format!("{found:?}"),
        ));
    }
    Ok(())
}

async fn unknown_id(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let id = format!("E-{}", entra::random_guid());
    let operation = match ctx.mode {
        Mode::Scim => json!({"op": "Replace", "path": "displayName", "value": "Ghost"}),
        Mode::Ecma2host => json!({"op": "Replace", "path": ecma("DisplayName"), "value": "Ghost"}),
    };
    let response = client
        .patch(&format!("/Users/{id}"), &entra::patch_body(vec![operation]))
        .await?;
    response.expect_error(404, None)?;
    let response = client.delete(&format!("/Users/{id}")).await?;
    response.expect_status(&[404])?;
    if ctx.row_by_id(&ctx.hr, &id)?.is_some() {
        return Err(unexpected(
            "PATCH of an unknown id",
            "no row created",
            "a row",
        ));
    }
    entra::expect_gone(&client, "/Users", &id).await
}

async fn authentication(ctx: &Ctx) -> Result<()> {
    let hr = ctx.client(&ctx.hr);
    for (label, token) in [
        ("no token", None),
        ("a wrong token", Some("wrong-token-0123456789")),
        ("the token of connector keep", Some(ctx.keep.token.as_str())),
    ] {
        let client = hr.with_token(token);
        let p = Person::new("auth");
        let response = client.post("/Users", &p.create_body(ctx.mode)).await?;
        response
            .expect_error(401, None)
            .map_err(|e| unexpected(format!("POST /Users with {label}"), "401", e.to_string()))?;
        let filter = entra::eq_filter(&ctx.user_name_attr(), &p.user_name);
        let response = client.get("/Users", &[("filter", filter.as_str())]).await?;
        response
            .expect_error(401, None)
            .map_err(|e| unexpected(format!("GET /Users with {label}"), "401", e.to_string()))?;
        nothing_written(ctx, &p, &format!("a POST with {label}")).await?;
    }
    Ok(())
}

async fn oversized_body(ctx: &Ctx) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let p = Person::new("huge");
    let mut body = p.create_body(ctx.mode);
    let big = "x".repeat(4 * 1024 * 1024 + 1024);
    match ctx.mode {
        Mode::Scim => body["displayName"] = json!(big),
        Mode::Ecma2host => body[ecma("DisplayName").as_str()] = json!(big),
    }
    let response = client.post("/Users", &body).await?;
    response.expect_status(&[413])?;
    nothing_written(ctx, &p, "an oversized POST").await
}

/// Before a restart: one user created through SCIM, and one row inserted behind the host's
/// back (which only an import could bring into the space).
struct BeforeRestart {
    id: String,
    person: Person,
    sneak: Person,
}

async fn prepare_restart(ctx: &Ctx) -> Result<BeforeRestart> {
    let hr = &ctx.hr;
    let person = Person::new("restart");
    let id = ctx.create(hr, &person).await?;
    let sneak = Person::new("sneak");
    ctx.db(|db| {
        db.execute(&format!(
            r#"INSERT INTO "{}" ("EmployeeId", "UserName", "ExternalId") VALUES ('{}', '{}', '{}')"#,
            hr.employees(),
            sneak.employee_id,
            sneak.user_name,
            sneak.external_id
        ))
    })?;
    Ok(BeforeRestart { id, person, sneak })
}

/// Right after the restarted host's `/healthz`, with no waiting: a lookup by filter answers
/// `200` with the user (the connector space is persistent; nothing has to be imported first).
async fn restart_immediate(ctx: &Ctx, before: &BeforeRestart) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    let found = entra::find_user(&client, &ctx.user_name_attr(), &before.person.user_name).await?;
    check_found(found, &before.id, "GET /Users?filter=… right after restart")
}

/// Once the restarted connector serves: the user is still there with the same id, and the row
/// inserted behind the host's back is not (no import ran at start, since the space had
/// completed one and `full_import_every = "2h"`).
async fn restart_no_reimport(ctx: &Ctx, before: &BeforeRestart) -> Result<()> {
    let client = ctx.client(&ctx.hr);
    ctx.host.wait_serving(&client).await?;
    let found = entra::find_user(&client, &ctx.user_name_attr(), &before.person.user_name).await?;
    check_found(found, &before.id, "GET /Users?filter=… after restart")?;
    entra::get_user(&client, &before.id).await?;
    if let Some(u) =
        entra::find_user(&client, &ctx.user_name_attr(), &before.sneak.user_name).await?
    {
        return Err(unexpected(
            "GET /Users?filter=<a row inserted directly into the table before the restart>",
            "no match (no import at start: the space was complete and full_import_every = 2h)",
            u.to_string(),
        ));
    }
    Ok(())
}

fn check_found(found: Option<Value>, id: &str, request: &str) -> Result<()> {
    if found
        .as_ref()
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        == Some(id)
    {
        Ok(())
    } else {
        Err(unexpected(
            request,
            format!("the user {id}"),
            format!("{found:?}"),
        ))
    }
}

// --------------------------------------------------------------------------------- runner --

const COMMON: &[&str] = &[
    "probe",
    "schemas",
    "tls",
    "lifecycle",
    "deprovision_none",
    "deprovision_delete",
    "paging",
    "malformed_json",
    "unknown_attribute",
    "invalid_filter",
    "duplicate_user_name",
    "unknown_id",
    "authentication",
    "oversized_body",
];
const SCIM_ONLY: &[&str] = &["manager", "groups"];

async fn run_scenario(name: &str, ctx: &Ctx) -> Result<()> {
    match name {
        "probe" => probe(ctx).await,
        "schemas" => schemas(ctx).await,
        "tls" => tls(ctx).await,
        "lifecycle" => lifecycle(ctx).await,
        "manager" => manager(ctx).await,
        "deprovision_none" => deprovision_none(ctx).await,
        "deprovision_delete" => deprovision_delete(ctx).await,
        "paging" => paging(ctx).await,
        "groups" => groups(ctx).await,
        "malformed_json" => malformed_json(ctx).await,
        "unknown_attribute" => unknown_attribute(ctx).await,
        "invalid_filter" => invalid_filter(ctx).await,
        "duplicate_user_name" => duplicate_user_name(ctx).await,
        "unknown_id" => unknown_id(ctx).await,
        "authentication" => authentication(ctx).await,
        "oversized_body" => oversized_body(ctx).await,
        other => panic!("no scenario {other}"),
    }
}

/// Runs every scenario of `mode` on one host on a fresh `backend` database.
async fn matrix(backend: Backend, mode: Mode) {
    let mut ctx = Ctx::start(backend, mode).await;
    let names: Vec<&str> = COMMON
        .iter()
        .chain(if mode == Mode::Scim { SCIM_ONLY } else { &[] })
        .copied()
        .collect();
    // The scenarios plus restart_immediate and restart_no_reimport.
    let total = names.len() + 2;
    let label = format!("{:?}/{:?}", ctx.backend, ctx.mode);
    let mut failures = scenarios::run_each(&label, &names, |name| run_scenario(name, &ctx)).await;
    match prepare_restart(&ctx).await {
        Err(e) => report(
            &ctx,
            "restart",
            Some(format!("preparing: {e}")),
            &mut failures,
        ),
        Ok(before) => {
            let old = ctx.host.addr();
            match ctx.host.restart().await {
                Err(e) => report(&ctx, "restart", Some(e.to_string()), &mut failures),
                Ok(()) => {
                    let moved = (ctx.host.addr() != old)
                        .then_some(())
                        .ok_or_else(|| unexpected("restart", "a new port", old.to_string()));
                    let immediate = match moved {
                        Ok(()) => restart_immediate(&ctx, &before).await,
                        Err(e) => Err(e),
                    };
                    report(
                        &ctx,
                        "restart_immediate",
                        immediate.err().map(|e| e.to_string()),
                        &mut failures,
                    );
                    let persisted = restart_no_reimport(&ctx, &before).await;
                    report(
                        &ctx,
                        "restart_no_reimport",
                        persisted.err().map(|e| e.to_string()),
                        &mut failures,
                    );
                }
            }
        }
    }
    if let Err(e) = ctx.host.stop().await {
        failures.push(format!("stop: {e}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {total} scenarios failed on {:?}/{:?}:\n{}",
        failures.len(),
        ctx.backend,
        ctx.mode,
        failures.join("\n")
    );
}

fn report(ctx: &Ctx, name: &str, failure: Option<String>, failures: &mut Vec<String>) {
    match failure {
        None => eprintln!("[{:?}/{:?}] {name}: ok", ctx.backend, ctx.mode),
        Some(message) => {
            eprintln!(
                "[{:?}/{:?}] {name}: FAILED: {message}",
                ctx.backend, ctx.mode
            );
            failures.push(format!("{name}: {message}"));
        }
    }
}

e2e::backend_tests!(sqlite, Backend::Sqlite);
#[cfg(feature = "odbc")]
e2e::backend_tests!(sqlite_odbc, Backend::SqliteOdbc);
#[cfg(feature = "odbc")]
e2e::backend_tests!(postgres, Backend::Postgres);
#[cfg(feature = "odbc")]
e2e::backend_tests!(mariadb, Backend::MariaDb);
