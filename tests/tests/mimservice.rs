//! The MIM Service connector through the host, end to end: Entra's SCIM requests against a
//! host with `kind = "mimservice"` in front of the simulated Lithnet REST API v2
//! (`tests/mimservice-sim`, plain HTTP on a free loopback port with the connector's
//! `allow_plain_http`).
//!
//! - the user lifecycle in the `scim` mode (Person attributes mapped from core, enterprise and
//!   `emails[type eq "work"]`): probe, match, create, both PATCH shapes, disable, re-enable,
//!   manager as a reference (an ObjectID in MIM), delete;
//! - the group lifecycle in the `scim` mode: create with a member (MIM's required Scope, Type,
//!   MembershipLocked and MembershipAddWorkflow from `create_defaults`), members added and
//!   removed in both of Entra's PATCH shapes as ObjectID references, rename, delete;
//! - the user lifecycle in the `ecma2host` mode (create, match, update, delete);
//! - approvals: a create waiting for approval is answered 201 with the object, listed by
//!   `GET …/space/pending` with the MIM Request it waits for, found by lookup; after the
//!   approver approves, an import confirms it; after the approver rejects, an import removes
//!   it and the run history says so by anchor and request;
//! - an MPR denial: a clear 400, nothing stored in the space or in MIM;
//! - the API going away in the middle of 100 creates: every 2xx is in MIM, every failure is a
//!   503 with Retry-After, and every object MIM holds is whole.
//!
//! The simulator runs its own runtime, so each test starts it first and then runs its async
//! body on a runtime of its own. Imports are polled for with a deadline, never slept for.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::harness::token_hash;
use e2e::{ScimClient, TestHost, entra};
use mimservice_sim::{ApprovalRule, DenyRule, Operation, SimHandle, SimOptions};
use serde_json::{Value, json};

const TOKEN: &str = "mimservice-token-0123456789";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ECMA: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scim,
    Ecma2host,
}

fn sim(options: SimOptions) -> SimHandle {
    mimservice_sim::serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options).unwrap()
}

/// Contractors (`EmployeeType = Contractor`) wait for an approval when created.
fn contractor_approval() -> ApprovalRule {
    ApprovalRule {
        object_type: "Person".into(),
        operations: vec![Operation::Create],
        attribute: Some("EmployeeType".into()),
        value: Some("Contractor".into()),
    }
}

fn config(sim: &SimHandle, mode: Mode, imports: &str) -> String {
    let (schema, users) = match mode {
        Mode::Scim => (
            "scim",
            concat!(
                "[connector.users]\nobject_type = \"Person\"\n[connector.users.map]\n",
                "userName = \"AccountName\"\ndisplayName = \"DisplayName\"\n",
                "\"name.givenName\" = \"FirstName\"\n\"name.familyName\" = \"LastName\"\n",
                "'emails[type eq \"work\"].value' = \"Email\"\nuserType = \"EmployeeType\"\n",
                "title = \"JobTitle\"\n",
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\" = \"EmployeeID\"\n",
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\" = \"Department\"\n",
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager\" = \"Manager\"\n",
            ),
        ),
        Mode::Ecma2host => ("ecma2host", "[connector.users]\nobject_type = \"Person\"\n"),
    };
    // Groups in the scim mode: displayName and members (ObjectID references to Persons); what
    // MIM requires on a group and SCIM lacks comes from create_defaults.
    let groups = match mode {
        Mode::Scim => concat!(
            "[connector.groups]\nobject_type = \"Group\"\n[connector.groups.map]\n",
            "displayName = \"DisplayName\"\nmembers = \"ExplicitMember\"\n",
        ),
        Mode::Ecma2host => "",
    };
    let group_object = match mode {
        Mode::Scim => concat!(
            "[[connector.mimservice.object]]\ntype = \"Group\"\n",
            "attributes = [\"DisplayName\", \"Scope\", \"Type\", \"ExplicitMember\"]\n",
            "references = { ExplicitMember = \"Person\" }\n",
            "[connector.mimservice.create_defaults.Group]\n",
            "Scope = \"Universal\"\nType = \"Security\"\n",
            "MembershipLocked = false\nMembershipAddWorkflow = \"None\"\n",
        ),
        Mode::Ecma2host => "",
    };
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "mim"
kind = "mimservice"
schema = "{schema}"
token = {{ hash = "{hash}" }}
{imports}
# The simulated Person has no account-enabled flag: a boolean stands in for one.
[connector.deprovision]
disable = {{ set = "IsRASEnabled", value = false }}
delete = "delete"
[connector.mimservice]
base_url = "{base}"
username = "svc-connector"
password = "sim-password"
allow_plain_http = true
request_timeout = "10s"
retry_backoff = "20ms"
[[connector.mimservice.object]]
type = "Person"
attributes = ["AccountName", "DisplayName", "FirstName", "LastName", "Email", "EmployeeID", "EmployeeType", "JobTitle", "Department", "Manager", "IsRASEnabled"]
matching_attribute = "AccountName"
on_match = "adopt"
{group_object}{users}{groups}"#,
        hash = token_hash(TOKEN),
        base = sim.base_url(),
    )
}

/// Imports rarely: the test decides what the space sees.
const NO_SCHEDULE: &str = "full_import_every = \"2h\"";
/// A delta every second (the simulator's Requests), as an admin would set minutes.
const DELTAS: &str = "full_import_every = \"2h\"\ndelta_import_every = \"1s\"";

async fn start(sim: &SimHandle, mode: Mode, imports: &str) -> (TestHost, ScimClient) {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(&config(sim, mode, imports), dir)
        .await
        .unwrap();
    let client = host.scim("mim", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();
    (host, client)
}

/// Runs `body` on a runtime of its own (the simulator is started before, on its own).
fn run<F: std::future::Future<Output = ()>>(body: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
}

/// The one Person with this AccountName in MIM.
fn person(sim: &SimHandle, account: &str) -> Option<Value> {
    let mut found = sim
        .search(&format!("/Person[AccountName = '{account}']"))
        .unwrap();
    assert!(found.len() <= 1, "two Persons named {account}");
    found.pop()
}

fn text<'a>(v: &'a Value, attr: &str) -> Option<&'a str> {
    v.get(attr).and_then(Value::as_str)
}

fn scim_user(account: &str, contractor: bool) -> Value {
    json!({
        "schemas": [CORE, ENTERPRISE],
        "externalId": account,
        "userName": account,
        "active": true,
        "displayName": format!("{account} Display"),
        "name": {"givenName": "Given", "familyName": format!("Family {account}")},
        "emails": [{"primary": true, "type": "work", "value": format!("{account}@corp.example")}],
        "userType": if contractor { "Contractor" } else { "Employee" },
        ENTERPRISE: {"employeeNumber": format!("E-{account}"), "department": "Sales"},
    })
}

/// The space view of the host.
async fn view(host: &TestHost, path: &str) -> Value {
    let r = host
        .http()
        .get(format!("{}/ecma2host_mim/space{path}", host.origin()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET …/space{path}");
    r.json().await.unwrap()
}

/// Polls the space view until `done` holds, within [`DEADLINE`].
async fn wait_view(
    host: &TestHost,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let v = view(host, path).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < until, "waiting for {what}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn scim_mode_user_lifecycle_with_manager() {
    let sim = sim(SimOptions::default());
    run(async {
        let (_host, c) = start(&sim, Mode::Scim, NO_SCHEDULE).await;
        entra::probe(&c, "userName").await.unwrap();

        // Match or create: the manager first, then the report.
        let boss = entra::match_or_create(&c, "userName", "boss1", &scim_user("boss1", false))
            .await
            .unwrap();
        assert!(boss.created);
        let u = entra::match_or_create(&c, "userName", "ann1", &scim_user("ann1", false))
            .await
            .unwrap();
        assert!(u.created);
        let mim = person(&sim, "ann1").expect("created in MIM");
        assert_eq!(text(&mim, "DisplayName"), Some("ann1 Display"));
        assert_eq!(text(&mim, "FirstName"), Some("Given"));
        assert_eq!(text(&mim, "LastName"), Some("Family ann1"));
        assert_eq!(text(&mim, "Email"), Some("ann1@corp.example"));
        assert_eq!(text(&mim, "EmployeeID"), Some("E-ann1"));
        let again = entra::match_or_create(&c, "userName", "ann1", &scim_user("ann1", false))
            .await
            .unwrap();
        assert!(!again.created, "the second cycle matches");
        assert_eq!(again.id, u.id);

        // Update, Entra's default shape, then the aadOptscim062020 shape.
        entra::update(
            &c,
            &u.id,
            &[
                ("displayName", json!("Ann Renamed")),
                (
                    "emails[type eq \"work\"].value",
                    json!("ann.r@corp.example"),
                ),
            ],
        )
        .await
        .unwrap();
        let mim = person(&sim, "ann1").unwrap();
        assert_eq!(text(&mim, "DisplayName"), Some("Ann Renamed"));
        assert_eq!(text(&mim, "Email"), Some("ann.r@corp.example"));
        entra::update_062020(
            &c,
            &u.id,
            json!({"name.givenName": "Annie", format!("{ENTERPRISE}:department"): "Legal"}),
            &[],
        )
        .await
        .unwrap();
        let mim = person(&sim, "ann1").unwrap();
        assert_eq!(text(&mim, "FirstName"), Some("Annie"));
        assert_eq!(text(&mim, "Department"), Some("Legal"));

        // The manager is a reference: its ObjectID in MIM, its SCIM id to Entra.
        entra::set_manager_array(&c, &u.id, &boss.id).await.unwrap();
        let boss_mim = person(&sim, "boss1").unwrap();
        let mim = person(&sim, "ann1").unwrap();
        assert_eq!(mim.get("Manager"), boss_mim.get("ObjectID"), "{mim}");
        let got = entra::get_user(&c, &u.id).await.unwrap();
        assert_eq!(
            got.pointer(&format!("/{ENTERPRISE}/manager/value"))
                .and_then(Value::as_str),
            Some(boss.id.as_str()),
            "{got}"
        );

        // Disable, re-enable (both shapes).
        entra::disable(&c, &u.id).await.unwrap();
        assert_eq!(
            person(&sim, "ann1").unwrap().get("IsRASEnabled"),
            Some(&json!(false))
        );
        entra::enable_062020(&c, &u.id).await.unwrap();
        assert_eq!(
            person(&sim, "ann1").unwrap().get("IsRASEnabled"),
            Some(&json!(true))
        );

        // Delete.
        entra::delete_user(&c, &u.id).await.unwrap();
        assert!(person(&sim, "ann1").is_none(), "deleted in MIM");
        assert!(
            entra::find_user(&c, "userName", "ann1")
                .await
                .unwrap()
                .is_none()
        );
    });
}

/// The one Group with this DisplayName in MIM.
fn mim_group(sim: &SimHandle, name: &str) -> Option<Value> {
    let mut found = sim
        .search(&format!("/Group[DisplayName = '{name}']"))
        .unwrap();
    assert!(found.len() <= 1, "two Groups named {name}");
    found.pop()
}

/// The ExplicitMember ObjectIDs of a MIM group, sorted.
fn mim_members(sim: &SimHandle, group: &Value) -> Vec<String> {
    let mut m = sim.values(text(group, "ObjectID").unwrap(), "ExplicitMember");
    m.sort();
    m
}

/// The ObjectIDs of Persons by AccountName, sorted.
fn object_ids(sim: &SimHandle, accounts: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = accounts
        .iter()
        .map(|a| {
            text(&person(sim, a).unwrap(), "ObjectID")
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// The SCIM ids in a group's `members`, sorted.
fn scim_members(group: &Value) -> Vec<String> {
    let mut m: Vec<String> = group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    m.sort();
    m
}

#[test]
fn scim_mode_group_lifecycle_with_members_as_object_ids() {
    let sim = sim(SimOptions::default());
    run(async {
        let (_host, c) = start(&sim, Mode::Scim, NO_SCHEDULE).await;
        entra::probe_group(&c).await.unwrap();
        let mut users = Vec::new();
        for name in ["gm1", "gm2", "gm3"] {
            users.push(
                entra::create(&c, "/Users", &scim_user(name, false))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let sorted = |ids: &[&String]| {
            let mut v: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
            v.sort();
            v
        };

        // Create with a member: the group gets MIM's required attributes from create_defaults.
        assert!(entra::find_group(&c, "Sales Team").await.unwrap().is_none());
        let body = json!({
            "schemas": [entra::CORE_GROUP, entra::ADSCIM_GROUP],
            "externalId": "sales-team",
            "displayName": "Sales Team",
            "members": [{"value": users[0]}],
        });
        let g = entra::create(&c, "/Groups", &body).await.unwrap();
        let mim = mim_group(&sim, "Sales Team").expect("created in MIM");
        assert_eq!(text(&mim, "Scope"), Some("Universal"));
        assert_eq!(text(&mim, "Type"), Some("Security"));
        assert_eq!(mim["MembershipLocked"], json!(false));
        assert_eq!(text(&mim, "MembershipAddWorkflow"), Some("None"));
        assert_eq!(mim_members(&sim, &mim), object_ids(&sim, &["gm1"]));
        let found = entra::find_group(&c, "Sales Team").await.unwrap().unwrap();
        assert_eq!(found["id"], g.id.as_str());

        // PATCH: Entra's member add, then both removal shapes.
        entra::add_members(&c, &g.id, &[&users[1], &users[2]])
            .await
            .unwrap();
        assert_eq!(
            mim_members(&sim, &mim),
            object_ids(&sim, &["gm1", "gm2", "gm3"])
        );
        let got = entra::get(&c, "/Groups", &g.id).await.unwrap();
        assert_eq!(
            scim_members(&got),
            sorted(&[&users[0], &users[1], &users[2]]),
            "members are SCIM ids to Entra: {got}"
        );
        entra::remove_members_by_value(&c, &g.id, &[&users[0]])
            .await
            .unwrap();
        assert_eq!(mim_members(&sim, &mim), object_ids(&sim, &["gm2", "gm3"]));
        entra::remove_member_by_path(&c, &g.id, &users[2])
            .await
            .unwrap();
        assert_eq!(mim_members(&sim, &mim), object_ids(&sim, &["gm2"]));
        let got = entra::get(&c, "/Groups", &g.id).await.unwrap();
        assert_eq!(scim_members(&got), sorted(&[&users[1]]), "{got}");

        // Rename: displayName by Replace; the defaults are not applied again.
        entra::patch(
            &c,
            "/Groups",
            &g.id,
            vec![json!({"op": "Replace", "path": "displayName", "value": "Sales EMEA"})],
        )
        .await
        .unwrap();
        assert!(mim_group(&sim, "Sales Team").is_none());
        let renamed = mim_group(&sim, "Sales EMEA").expect("renamed in MIM");
        assert_eq!(renamed["ObjectID"], mim["ObjectID"]);
        assert_eq!(mim_members(&sim, &renamed), object_ids(&sim, &["gm2"]));
        let found = entra::find_group(&c, "Sales EMEA").await.unwrap().unwrap();
        assert_eq!(found["id"], g.id.as_str());

        // Delete: gone from MIM and from SCIM; the members stay.
        entra::delete(&c, "/Groups", &g.id).await.unwrap();
        assert!(mim_group(&sim, "Sales EMEA").is_none());
        assert!(!sim.exists(text(&mim, "ObjectID").unwrap()));
        entra::expect_gone(&c, "/Groups", &g.id).await.unwrap();
        assert!(entra::find_group(&c, "Sales EMEA").await.unwrap().is_none());
        assert!(person(&sim, "gm1").is_some());
    });
}

#[test]
fn ecma2host_mode_user_lifecycle() {
    let sim = sim(SimOptions::default());
    run(async {
        let (_host, c) = start(&sim, Mode::Ecma2host, NO_SCHEDULE).await;
        let attr = format!("{ECMA}:AccountName");
        entra::probe(&c, &attr).await.unwrap();
        let body = json!({
            "schemas": [CORE, ECMA],
            "externalId": "eve1",
            ECMA: {"AccountName": "eve1", "DisplayName": "Eve", "FirstName": "Eve",
                   "LastName": "Ecma", "EmployeeID": "E-eve1"},
        });
        let u = entra::match_or_create(&c, &attr, "eve1", &body)
            .await
            .unwrap();
        assert!(u.created);
        assert_eq!(
            text(&person(&sim, "eve1").unwrap(), "EmployeeID"),
            Some("E-eve1")
        );
        let again = entra::match_or_create(&c, &attr, "eve1", &body)
            .await
            .unwrap();
        assert_eq!((again.created, again.id.as_str()), (false, u.id.as_str()));
        entra::update(
            &c,
            &u.id,
            &[(&format!("{ECMA}:DisplayName"), json!("Eve Two"))],
        )
        .await
        .unwrap();
        assert_eq!(
            text(&person(&sim, "eve1").unwrap(), "DisplayName"),
            Some("Eve Two")
        );
        entra::delete_user(&c, &u.id).await.unwrap();
        assert!(person(&sim, "eve1").is_none());
    });
}

/// The Request id in a pending entry's `waitingFor`.
fn request_of(pending: &Value) -> String {
    let detail = pending["waitingFor"].as_str().unwrap();
    detail
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.len() == 36)
        .unwrap_or_else(|| panic!("no request id in {detail:?}"))
        .to_owned()
}

#[test]
fn a_create_waiting_for_approval_is_pending_then_confirmed_or_rejected() {
    let sim = sim(SimOptions {
        approvals: vec![
            contractor_approval(),
            ApprovalRule {
                object_type: "Person".into(),
                operations: vec![Operation::Update],
                attribute: Some("JobTitle".into()),
                value: None,
            },
        ],
        ..SimOptions::default()
    });
    run(async {
        let (host, c) = start(&sim, Mode::Scim, DELTAS).await;

        // Two contractors: each create is answered 201 with the object (Entra stores its id).
        let kim = entra::create(&c, "/Users", &scim_user("kim1", true))
            .await
            .unwrap();
        let rex = entra::create(&c, "/Users", &scim_user("rex1", true))
            .await
            .unwrap();
        assert_eq!(kim.resource["userName"], "kim1");
        assert!(person(&sim, "kim1").is_none(), "not in MIM before approval");

        // Listed as pending, with the MIM Request each waits for; found by lookup and by id.
        let pending = view(&host, "/pending").await;
        let list = pending["pending"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{pending}");
        let by_name = |name: &str| {
            list.iter()
                .find(|p| p["attributes"]["AccountName"][0]["string"] == name)
                .unwrap_or_else(|| panic!("{name} not pending: {pending}"))
                .clone()
        };
        let (kim_pending, rex_pending) = (by_name("kim1"), by_name("rex1"));
        assert_eq!(kim_pending["origin"], "pending");
        let mut requests = vec![request_of(&kim_pending), request_of(&rex_pending)];
        requests.sort();
        let mut waiting = sim.pending_requests();
        waiting.sort();
        assert_eq!(requests, waiting);
        assert_eq!(view(&host, "").await["pending"], 2);
        let found = entra::find_user(&c, "userName", "kim1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found["id"], kim.id.as_str());
        entra::get_user(&c, &kim.id).await.unwrap();

        // Approved: the next import (a delta) confirms it, with the same SCIM id.
        sim.approve(&request_of(&kim_pending)).unwrap();
        let kim_anchor = kim_pending["anchor"].as_str().unwrap().to_owned();
        wait_view(
            &host,
            &format!("/Person/{kim_anchor}"),
            "kim1 confirmed",
            |v| v["origin"] == "import",
        )
        .await;
        assert_eq!(
            person(&sim, "kim1").unwrap()["ObjectID"],
            kim_anchor.as_str()
        );
        entra::get_user(&c, &kim.id).await.unwrap();

        // A change waiting for approval: PATCH answers 200, the change is listed as pending,
        // and once approved the next import reads the Person back with it.
        entra::update(&c, &kim.id, &[("title", json!("Lead"))])
            .await
            .unwrap();
        let waiting = view(&host, "/pending").await;
        let change = waiting["pending"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["anchor"] == kim_anchor.as_str())
            .unwrap_or_else(|| panic!("kim1's change not pending: {waiting}"))
            .clone();
        assert_eq!(text(&person(&sim, "kim1").unwrap(), "JobTitle"), None);
        sim.approve(&request_of(&change)).unwrap();
        wait_view(
            &host,
            &format!("/Person/{kim_anchor}"),
            "kim1's change read back",
            |v| v["origin"] == "import" && v["attributes"]["JobTitle"][0]["string"] == "Lead",
        )
        .await;
        assert_eq!(
            text(&person(&sim, "kim1").unwrap(), "JobTitle"),
            Some("Lead")
        );

        // Rejected: the next import removes it and the run history says so.
        let rex_request = request_of(&rex_pending);
        sim.reject(&rex_request).unwrap();
        let rex_anchor = rex_pending["anchor"].as_str().unwrap().to_owned();
        let summary = wait_view(&host, "", "rex1's rejection in the run history", |v| {
            v["runs"].as_array().unwrap().iter().any(|r| {
                r["notes"]
                    .as_str()
                    .is_some_and(|n| n.contains("rejected") && n.contains(&rex_request))
            })
        })
        .await;
        let note = summary["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|r| r["notes"].as_str().filter(|n| n.contains(&rex_request)))
            .unwrap();
        assert!(note.contains(&rex_anchor), "{note}");
        assert_eq!(summary["pending"], 0);
        assert!(
            view(&host, "/pending").await["pending"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        entra::expect_gone(&c, "/Users", &rex.id).await.unwrap();
        assert!(
            entra::find_user(&c, "userName", "rex1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(person(&sim, "rex1").is_none());
    });
}

#[test]
fn a_denied_change_is_a_clear_400_and_nothing_is_stored() {
    let sim = sim(SimOptions {
        denials: vec![DenyRule {
            user: None,
            operation: Operation::Create,
            object_type: "Person".into(),
            attribute: Some("JobTitle".into()),
        }],
        ..SimOptions::default()
    });
    run(async {
        let (host, c) = start(&sim, Mode::Scim, NO_SCHEDULE).await;
        let before = view(&host, "").await["objects"]["Person"].clone();
        let mut body = scim_user("den1", false);
        body["title"] = json!("Boss");
        let r = c.post("/Users", &body).await.unwrap();
        r.expect_error(400, None).unwrap();
        let detail = r.str_field("detail").unwrap_or_default().to_lowercase();
        assert!(
            detail.contains("policy") || detail.contains("permission") || detail.contains("denied"),
            "{}",
            r.got()
        );
        assert!(person(&sim, "den1").is_none());
        assert!(
            entra::find_user(&c, "userName", "den1")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(view(&host, "").await["objects"]["Person"], before);
    });
}

#[test]
fn the_api_going_away_mid_export_leaves_nothing_half_applied() {
    let sim = Arc::new(Mutex::new(sim(SimOptions::default())));
    let calls_at_start = sim.lock().unwrap().calls();
    sim.lock().unwrap().set_latency(Duration::from_millis(5));
    // Stops the API once about 40 creates went through (each create is a lookup and a POST).
    let stopped = Arc::new(AtomicBool::new(false));
    let stopper = {
        let (sim, stopped) = (sim.clone(), stopped.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                {
                    let mut s = sim.lock().unwrap();
                    if s.calls() >= calls_at_start + 80 {
                        s.stop();
                        stopped.store(true, Ordering::SeqCst);
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    run(async {
        let (_host, c) = {
            let cfg = config(&sim.lock().unwrap(), Mode::Scim, NO_SCHEDULE);
            let dir = tempfile::tempdir().unwrap();
            let host = TestHost::start(&cfg, dir).await.unwrap();
            let client = host.scim("mim", Some(TOKEN));
            host.wait_serving(&client).await.unwrap();
            (host, client)
        };
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for i in 0..100 {
            let name = format!("bulk{i:03}");
            let r = c.post("/Users", &scim_user(&name, false)).await.unwrap();
            match r.status.as_u16() {
                201 => ok.push(name),
                503 => {
                    assert!(
                        r.header("retry-after").is_some(),
                        "503 without Retry-After: {}",
                        r.got()
                    );
                    failed.push(name);
                }
                other => panic!("{name}: {other} is neither 201 nor 503: {}", r.got()),
            }
        }
        assert!(
            stopped.load(Ordering::SeqCst),
            "the API was stopped mid-run"
        );
        assert!(
            !ok.is_empty() && !failed.is_empty(),
            "{} ok, {} failed",
            ok.len(),
            failed.len()
        );
        {
            let s = sim.lock().unwrap();
            for name in &ok {
                let p = person(&s, name)
                    .unwrap_or_else(|| panic!("{name} answered 201 but is not in MIM"));
                assert_eq!(text(&p, "EmployeeID"), Some(format!("E-{name}").as_str()));
            }
            // Whatever MIM holds is whole: every attribute sent, none missing.
            for name in &failed {
                if let Some(p) = person(&s, name) {
                    for (attr, want) in [
                        ("DisplayName", format!("{name} Display")),
                        ("Email", format!("{name}@corp.example")),
                        ("EmployeeID", format!("E-{name}")),
                    ] {
                        assert_eq!(
                            text(&p, attr),
                            Some(want.as_str()),
                            "{name} half-applied: {p}"
                        );
                    }
                }
            }
        }
        // The space holds every 2xx and none of the failures.
        for name in &ok {
            assert!(
                entra::find_user(&c, "userName", name)
                    .await
                    .unwrap()
                    .is_some(),
                "{name}"
            );
        }
        for name in &failed {
            assert!(
                entra::find_user(&c, "userName", name)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
        }
    });
    stopper.join().unwrap();
}
