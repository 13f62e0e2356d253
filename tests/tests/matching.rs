//! The matching report (`connector-host match`) on a generated Entra admin center export and a
//! staging table with planted cases of each kind: exact matches (also by the second rule, and
//! differing only in case), Entra users with no account, orphan accounts, an Entra user that
//! matches two accounts and an account two Entra users match. The host imports the table into
//! its connector space first, as it would before go-live; the report then reads that space.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use connector_host::cli::{MatchArgs, match_report};
use connector_host::matching::{List, Summary};
use e2e::harness::{CONFIG_FILE, token_hash};
use e2e::{Backend, Database, TestHost};

const TOKEN: &str = "matching-token-0123456789";

fn config(connection: &str) -> String {
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "hr"
kind = "sql"
schema = "ecma2host"
token = {{ hash = "{hash}" }}
[connector.sql]
connection = {connection:?}
[[connector.sql.object]]
type = "User"
table = "Employees"
anchor = "EmployeeId"
"#,
        hash = token_hash(TOKEN),
    )
}

/// The columns of the Entra admin center's "Download users" CSV, in its order.
const ENTRA_COLUMNS: [&str; 25] = [
    "userPrincipalName",
    "displayName",
    "surname",
    "mail",
    "givenName",
    "objectId",
    "userType",
    "jobTitle",
    "department",
    "accountEnabled",
    "usageLocation",
    "streetAddress",
    "state",
    "country",
    "physicalDeliveryOfficeName",
    "city",
    "postalCode",
    "telephoneNumber",
    "mobile",
    "authenticationAlternativePhoneNumber",
    "authenticationEmail",
    "alternateEmailAddress",
    "ageGroup",
    "consentProvidedForMinor",
    "legalAgeGroupClassification",
];

/// An Entra user of the generated export.
struct EntraUser {
    upn: String,
    mail: String,
    object_id: String,
}

fn entra(i: usize, upn: &str, mail: &str) -> EntraUser {
    EntraUser {
        upn: upn.to_owned(),
        mail: mail.to_owned(),
        object_id: format!("00000000-0000-4000-8000-{i:012}"),
    }
}

/// Writes the users as the admin center does: UTF-8 with a byte order mark, CRLF, every
/// column of the download, display names with commas quoted.
fn write_admin_center_csv(path: &Path, users: &[EntraUser]) {
    let mut out = String::from("\u{feff}");
    out.push_str(&ENTRA_COLUMNS.join(","));
    out.push_str("\r\n");
    for u in users {
        let given = u.upn.split('@').next().unwrap_or_default();
        let row: Vec<String> = ENTRA_COLUMNS
            .iter()
            .map(|c| match *c {
                "userPrincipalName" => u.upn.clone(),
                "displayName" => format!("\"Surname, {given}\""),
                "surname" => "Surname".into(),
                "mail" => u.mail.clone(),
                "givenName" => given.to_owned(),
                "objectId" => u.object_id.clone(),
                "userType" => "Member".into(),
                "accountEnabled" => "True".into(),
                "department" => "Research".into(),
                _ => String::new(),
            })
            .collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    std::fs::write(path, out).unwrap();
}

/// Writes the users as Graph `GET /users` pages of `per_page`, each page but the last with an
/// `@odata.nextLink`; returns the files.
fn write_graph_pages(dir: &Path, users: &[EntraUser], per_page: usize) -> Vec<PathBuf> {
    let chunks: Vec<&[EntraUser]> = users.chunks(per_page).collect();
    let mut files = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let value: Vec<serde_json::Value> = chunk
            .iter()
            .map(|u| {
                serde_json::json!({
                    "id": u.object_id, "userPrincipalName": u.upn, "mail": u.mail,
                    "displayName": u.upn, "businessPhones": [], "jobTitle": null
                })
            })
            .collect();
        let mut page = serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": value,
        });
        if i + 1 < chunks.len() {
            page["@odata.nextLink"] = serde_json::json!(format!(
                "https://graph.microsoft.com/v1.0/users?$skiptoken={i}"
            ));
        }
        let path = dir.join(format!("users-page-{}.json", i + 1));
        std::fs::write(&path, serde_json::to_vec_pretty(&page).unwrap()).unwrap();
        files.push(path);
    }
    files
}

/// The rows of one list of a report, by the named column.
fn rows(dir: &Path, list: List) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(format!("{}.csv", list.name()))).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn column(rows: &[BTreeMap<String, String>], name: &str) -> BTreeSet<String> {
    rows.iter().map(|r| r[name].clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `match` as the command line does, on the configuration the host runs with.
fn run_match(
    dir: &Path,
    entra: Vec<PathBuf>,
    on: &[&str],
) -> anyhow_free::Result<(PathBuf, Summary)> {
    let (config, connectors) = connector_host::registry::load(&dir.join(CONFIG_FILE)).unwrap();
    let args = MatchArgs {
        connector: "hr".into(),
        entra,
        on: on.iter().map(|s| (*s).to_owned()).collect(),
    };
    match_report(&config, &connectors, &args).map_err(|e| format!("{e:#}"))
}

mod anyhow_free {
    pub type Result<T> = std::result::Result<T, String>;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_cases_land_in_their_lists() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(Backend::Sqlite, dir.path()).unwrap();
    db.execute(r#"CREATE TABLE "Employees" ("EmployeeId" VARCHAR(64) NOT NULL PRIMARY KEY, "UserName" VARCHAR(128), "Mail" VARCHAR(128))"#)
        .unwrap();
    let mut entra_users = Vec::new();
    let mut target: Vec<(String, String, String)> = Vec::new();
    // 300 plain exact matches on userPrincipalName = UserName.
    for i in 0..300 {
        let upn = format!("user{i:03}@contoso.com");
        entra_users.push(entra(i, &upn, &format!("user{i:03}@mail.contoso.com")));
        target.push((format!("E{i:04}"), upn, String::new()));
    }
    // Exact, but the target spells the name in another case.
    entra_users.push(entra(
        1001,
        "Ada.Lovelace@Contoso.com",
        "ada@mail.contoso.com",
    ));
    target.push((
        "CASE1".into(),
        "ada.lovelace@contoso.com".into(),
        String::new(),
    ));
    // Exact by the second rule: the UPN is not in the table, the mail is.
    entra_users.push(entra(1002, "grace@contoso.com", "grace@mail.contoso.com"));
    target.push((
        "RULE2".into(),
        "g.hopper".into(),
        "GRACE@mail.contoso.com".into(),
    ));
    // The first rule decides: Alan's UPN finds ALAN1; ALAN2 (his mail) stays an orphan.
    entra_users.push(entra(1003, "alan@contoso.com", "alan@mail.contoso.com"));
    target.push(("ALAN1".into(), "alan@contoso.com".into(), String::new()));
    target.push((
        "ALAN2".into(),
        "someone-else".into(),
        "alan@mail.contoso.com".into(),
    ));
    // Entra users with no account: Entra will create them.
    for i in 0..5 {
        entra_users.push(entra(2000 + i, &format!("new{i}@contoso.com"), ""));
    }
    // Orphans: accounts no Entra user matches.
    for i in 0..4 {
        target.push((
            format!("ORPHAN{i}"),
            format!("left{i}@contoso.com"),
            String::new(),
        ));
    }
    // One Entra user matches two accounts (a duplicate in the target): Entra fails him.
    entra_users.push(entra(3001, "dup@contoso.com", ""));
    target.push(("DUP1".into(), "dup@contoso.com".into(), String::new()));
    target.push(("DUP2".into(), "DUP@contoso.com".into(), String::new()));
    // Two Entra users (no UPN match) share a mail that one account holds.
    entra_users.push(entra(3002, "twin1@contoso.com", "twins@mail.contoso.com"));
    entra_users.push(entra(3003, "twin2@contoso.com", "twins@mail.contoso.com"));
    target.push((
        "TWINS".into(),
        "twins".into(),
        "twins@mail.contoso.com".into(),
    ));
    for (id, user, mail) in &target {
        db.execute(&format!(
            r#"INSERT INTO "Employees" VALUES ('{id}', '{user}', {})"#,
            if mail.is_empty() {
                "NULL".into()
            } else {
                format!("'{mail}'")
            }
        ))
        .unwrap();
    }
    let host = TestHost::start(&config(&db.connection), dir).await.unwrap();
    host.wait_serving(&host.scim("hr", Some(TOKEN)))
        .await
        .unwrap();

    let csv_path = host.dir().join("entra-users.csv");
    write_admin_center_csv(&csv_path, &entra_users);
    let rules = ["userPrincipalName=UserName", "mail=Mail"];
    let (report_dir, summary) =
        tokio::task::block_in_place(|| run_match(host.dir(), vec![csv_path.clone()], &rules))
            .unwrap();

    assert_eq!(summary.entra_users, entra_users.len() as u64);
    assert_eq!(summary.target_accounts, target.len() as u64);
    assert_eq!(summary.rules, rules);
    assert_eq!(
        summary.count(List::Exact),
        303,
        "300 plain, one by case, one by rule 2, Alan"
    );
    assert_eq!(summary.count(List::EntraWithoutTarget), 5);
    assert_eq!(summary.count(List::Orphans), 5, "four planted and ALAN2");
    assert_eq!(summary.count(List::Several), 3, "DUP1, DUP2, TWINS");
    assert_eq!(summary.entra_users_failing, 1, "dup@contoso.com");

    let exact = rows(&report_dir, List::Exact);
    let by_anchor: BTreeMap<String, &BTreeMap<String, String>> = exact
        .iter()
        .map(|r| (r["target anchor"].clone(), r))
        .collect();
    let case = by_anchor["CASE1"];
    assert_eq!(case["entra userPrincipalName"], "Ada.Lovelace@Contoso.com");
    assert_eq!(case["case differs"], "yes");
    assert_eq!(case["rule"], "userPrincipalName=UserName");
    assert_eq!(by_anchor["E0042"]["case differs"], "no");
    assert_eq!(
        by_anchor["E0042"]["entra objectId"],
        "00000000-0000-4000-8000-000000000042"
    );
    assert_eq!(by_anchor["E0042"]["entra displayName"], "Surname, user042");
    assert_eq!(by_anchor["RULE2"]["rule"], "mail=Mail");
    assert_eq!(
        by_anchor["RULE2"]["entra userPrincipalName"],
        "grace@contoso.com"
    );
    assert_eq!(
        by_anchor["RULE2"]["case differs"], "yes",
        "GRACE@ vs grace@"
    );
    assert_eq!(
        by_anchor["ALAN1"]["entra userPrincipalName"],
        "alan@contoso.com"
    );

    assert_eq!(
        column(
            &rows(&report_dir, List::EntraWithoutTarget),
            "entra userPrincipalName"
        ),
        set(&[
            "new0@contoso.com",
            "new1@contoso.com",
            "new2@contoso.com",
            "new3@contoso.com",
            "new4@contoso.com"
        ])
    );
    assert_eq!(
        column(&rows(&report_dir, List::Orphans), "target anchor"),
        set(&["ALAN2", "ORPHAN0", "ORPHAN1", "ORPHAN2", "ORPHAN3"])
    );
    let several = rows(&report_dir, List::Several);
    assert_eq!(
        column(&several, "target anchor"),
        set(&["DUP1", "DUP2", "TWINS"])
    );
    for r in &several {
        match r["target anchor"].as_str() {
            "TWINS" => {
                assert!(
                    r["reason"].contains("2 Entra users match this account"),
                    "{r:?}"
                );
                assert_eq!(r["entra users"], "twin1@contoso.com; twin2@contoso.com");
            }
            _ => {
                assert!(
                    r["reason"].contains("dup@contoso.com matches 2 target accounts"),
                    "{r:?}"
                );
                assert_eq!(r["entra users"], "dup@contoso.com");
            }
        }
    }

    // The same users as Graph pages give the same report; without the last page, none.
    let pages_dir = host.dir().join("graph");
    std::fs::create_dir_all(&pages_dir).unwrap();
    let pages = write_graph_pages(&pages_dir, &entra_users, 100);
    assert_eq!(pages.len(), 4);
    let (_, from_graph) =
        tokio::task::block_in_place(|| run_match(host.dir(), pages.clone(), &rules)).unwrap();
    for list in List::ALL {
        assert_eq!(
            from_graph.count(list),
            summary.count(list),
            "{list:?} from Graph pages"
        );
    }
    let err = tokio::task::block_in_place(|| run_match(host.dir(), pages[..3].to_vec(), &rules))
        .unwrap_err();
    assert!(err.contains("last page is missing"), "{err}");

    // A rule naming an attribute the target does not have is refused with what it has.
    let err = tokio::task::block_in_place(|| {
        run_match(
            host.dir(),
            vec![csv_path.clone()],
            &["userPrincipalName=NoSuchColumn"],
        )
    })
    .unwrap_err();
    assert!(
        err.contains("NoSuchColumn") && err.contains("UserName"),
        "{err}"
    );
    // One naming an Entra attribute the export lacks, likewise.
    let err = tokio::task::block_in_place(|| {
        run_match(host.dir(), vec![csv_path], &["employeeId=UserName"])
    })
    .unwrap_err();
    assert!(err.contains("employeeId"), "{err}");
}
