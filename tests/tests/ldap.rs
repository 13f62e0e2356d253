//! The LDAP connector through the host, end to end: Entra's provisioning lifecycle
//! (`reference/entra-ecma.md` D) replayed over SCIM against a host with `kind = "ldap"` in front
//! of a private OpenLDAP slapd (testkit), in both schema modes, checking what the directory
//! holds after every step with `ldap-utils` (`ldapsearch`, `ldapwhoami`), never through the
//! host. Also: references (group `member`, `manager`) as DNs at the directory and SCIM ids in
//! SCIM, renames, delta imports of changes made directly in the directory, StartTLS and LDAPS
//! with the test CA, and slapd restarted in the middle of a stream of creates.
//!
//! The directory's groups are of a class whose `member` is optional (`chGroup`, declared in the
//! test's slapd.conf): Entra creates a group empty and adds its members afterwards, which
//! `groupOfNames` (`MUST member`) refuses. slapd runs the `refint` overlay on `member` and
//! `manager`, as a directory whose entries get renamed should.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::entra::{self, CORE_USER, ECMA2HOST_USER, ENTERPRISE_USER, ecma, enterprise};
use e2e::harness::token_hash;
use e2e::{ScimClient, TestHost};
use serde_json::{Value, json};
use testkit::{Slapd, SlapdOptions};

const TOKEN: &str = "ldap-e2e-token-0123456789";
const PEOPLE: &str = "ou=people,dc=example,dc=com";
const GROUPS: &str = "ou=groups,dc=example,dc=com";
/// How long an asynchronous effect (a delta import, say) may take before a test gives up.
const WITHIN: Duration = Duration::from_secs(60);

/// Global slapd.conf lines: a group class with optional members, a Boolean enabled flag on an
/// auxiliary class, and the refint module.
const SLAPD_GLOBAL: &str = "\
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'chGroup' \
DESC 'a group of names whose members are optional' SUP top STRUCTURAL \
MUST cn MAY ( member $ description ) )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.2 NAME 'chActive' \
DESC 'whether the account is enabled' EQUALITY booleanMatch \
SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.3 NAME 'chAccount' \
DESC 'an account with an enabled flag' SUP top AUXILIARY MAY chActive )
moduleload refint
";
/// Database lines: member and manager values follow renames and deletes.
const SLAPD_DATABASE: &str = "\
overlay refint
refint_attributes member manager
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// LDAP attributes under the ECMA2Host extension; users only.
    Ecma2host,
    /// SCIM attributes mapped onto LDAP attributes; users and groups.
    Scim,
}

const SCIM_MAP: &str = r#"
[connector.users]
object_type = "User"
[connector.users.map]
userName = "uid"
externalId = "cn"
"name.givenName" = "givenName"
"name.familyName" = "sn"
displayName = "displayName"
'emails[type eq "work"].value' = "mail"
password = "userPassword"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" = "manager"
[connector.groups]
object_type = "Group"
[connector.groups.map]
displayName = "cn"
members = "member"
"#;

fn start_slapd(tls: bool) -> Slapd {
    Slapd::start_with_options(&SlapdOptions {
        tls,
        config: SLAPD_GLOBAL.into(),
        database_config: SLAPD_DATABASE.into(),
        ..SlapdOptions::default()
    })
}

/// A host configuration with one connector `dir` of kind `ldap` on `servers`. `ldap_extra`
/// goes into `[connector.ldap]` (it may open `[connector.ldap.tls]`); `disable` is the
/// deprovisioning's `disable` value.
fn config(mode: Mode, servers: &[String], ldap_extra: &str, disable: &str) -> String {
    let (schema, map) = match mode {
        Mode::Ecma2host => ("ecma2host", ""),
        Mode::Scim => ("scim", SCIM_MAP),
    };
    let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
    format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
data_dir = "data"
[[connector]]
name = "dir"
kind = "ldap"
schema = "{schema}"
token = {{ hash = "{hash}" }}
full_import_every = "2h"
delta_import_every = "1s"
[connector.deprovision]
disable = {disable}
delete = "delete"
[connector.ldap]
servers = [{servers}]
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = "adminpw"
delta = "sync"
{ldap_extra}
[[connector.ldap.object]]
type = "User"
object_classes = ["inetOrgPerson"]
base = "{PEOPLE}"
rdn_attribute = "uid"
references = {{ manager = "User" }}
[[connector.ldap.object]]
type = "Group"
object_classes = ["chGroup"]
base = "{GROUPS}"
rdn_attribute = "cn"
references = {{ member = "User" }}
{map}"#,
        hash = token_hash(TOKEN),
        servers = servers.join(", "),
    )
}

/// Starts a host with `config` and returns it with its SCIM client, once it serves.
async fn host(config: &str) -> (TestHost, ScimClient) {
    let dir = tempfile::Builder::new()
        .prefix("ch-e2e-ldap-")
        .tempdir()
        .unwrap();
    let host = TestHost::start(config, dir).await.unwrap();
    let client = host.scim("dir", Some(TOKEN));
    host.wait_serving(&client).await.unwrap();
    (host, client)
}

// ---- the directory, read and changed with ldap-utils ----

/// One entry: `dn` and every attribute (lower-cased names), values as text.
type Entry = BTreeMap<String, Vec<String>>;

fn ldap_tool(slapd: &Slapd, tool: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let url = slapd.url();
    let mut child = Command::new(tool)
        .args([
            "-x",
            "-H",
            &url,
            "-D",
            slapd.admin_dn(),
            "-w",
            slapd.admin_password(),
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e} (Debian package ldap-utils)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The entries under `base` (`scope` `sub` or `base`) matching `filter`; none when `base`
/// does not exist.
fn search_scoped(slapd: &Slapd, base: &str, scope: &str, filter: &str) -> Vec<Entry> {
    let out = ldap_tool(
        slapd,
        "ldapsearch",
        &[
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-s",
            scope,
            "-b",
            base,
            filter,
            "*",
            "+",
        ],
        "",
    );
    if out.status.code() == Some(32) {
        return Vec::new(); // noSuchObject
    }
    assert!(
        out.status.success(),
        "ldapsearch {base} {filter}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut entry = Entry::new();
            for line in block.lines() {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                entry
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .push(value.trim_start_matches(':').trim().to_owned());
            }
            entry
        })
        .collect()
}

/// The entries under `base` matching `filter`.
fn search(slapd: &Slapd, base: &str, filter: &str) -> Vec<Entry> {
    search_scoped(slapd, base, "sub", filter)
}

/// The entry `dn` (user attributes only), if it exists.
fn entry(slapd: &Slapd, dn: &str) -> Option<Entry> {
    search_scoped(slapd, dn, "base", "(objectClass=*)")
        .into_iter()
        .next()
        .map(|mut e| {
            // Operational attributes change with every write (modifyTimestamp, entryCSN).
            for op in [
                "entryuuid",
                "entrycsn",
                "modifytimestamp",
                "modifiersname",
                "createtimestamp",
                "creatorsname",
                "entrydn",
                "structuralobjectclass",
                "subschemasubentry",
                "hassubordinates",
            ] {
                e.remove(op);
            }
            e
        })
}

/// The values of `attr` on `dn` (none when the entry or the attribute is missing).
fn values(slapd: &Slapd, dn: &str, attr: &str) -> BTreeSet<String> {
    entry(slapd, dn)
        .and_then(|mut e| e.remove(&attr.to_ascii_lowercase()))
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Applies `ldif` with `ldapmodify` (changetype records).
fn ldapmodify(slapd: &Slapd, ldif: &str) {
    let out = ldap_tool(slapd, "ldapmodify", &[], ldif);
    assert!(
        out.status.success(),
        "ldapmodify: {}\n{ldif}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `dn` can bind with `password` (a real simple bind with `ldapwhoami`).
fn can_bind(url: &str, dn: &str, password: &str) -> bool {
    Command::new("ldapwhoami")
        .args(["-x", "-H", url, "-D", dn, "-w", password])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS}")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Fails if any file under `dir` holds `secret`.
fn assert_nowhere(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_nowhere(&path, secret);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the password is in {}",
                path.display()
            );
        }
    }
}

/// Polls `check` every 100 ms until it holds; fails after [`WITHIN`] naming `what`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WITHIN;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /Users/<random GUID>` → 404, the first request of Entra's probe.
async fn get_random_id(c: &ScimClient) {
    c.get(&format!("/Users/{}", entra::random_guid()), &[])
        .await
        .unwrap()
        .expect_status(&[404])
        .unwrap();
}

// ---- SCIM bodies ----

/// Entra's user create in `scim` mode.
fn scim_user(uid: &str, given: &str, family: &str, password: Option<&str>) -> Value {
    let mut body = json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "externalId": format!("{given} {family}"),
        "userName": uid,
        "active": true,
        "displayName": format!("{given} {family}"),
        "name": { "givenName": given, "familyName": family },
        "emails": [{ "primary": true, "type": "work", "value": format!("{uid}@example.com") }],
    });
    if let Some(p) = password {
        body["password"] = json!(p);
    }
    body
}

/// Entra's user create in `ecma2host` mode.
fn ecma_user(uid: &str, family: &str, password: Option<&str>) -> Value {
    let mut ext = json!({ "uid": uid, "cn": format!("{uid} {family}"), "sn": family });
    if let Some(p) = password {
        ext["userPassword"] = json!(p);
    }
    json!({ "schemas": [CORE_USER, ECMA2HOST_USER], ECMA2HOST_USER: ext })
}

/// The `value`s of a group's `members`.
fn member_ids(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|v| v["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn manager_of(user: &Value) -> Option<String> {
    user[ENTERPRISE_USER]["manager"]["value"]
        .as_str()
        .map(str::to_owned)
}

// ---- the scenarios ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_mode_lifecycle_with_groups_and_manager() {
    let slapd = start_slapd(false);
    let url = slapd.url();
    let (host, c) = host(&config(
        Mode::Scim,
        std::slice::from_ref(&url),
        "",
        "\"none\"",
    ))
    .await;

    // The probes: a random id and filters that match nothing.
    get_random_id(&c).await;
    entra::probe(&c, "userName").await.unwrap();
    entra::probe_group(&c).await.unwrap();

    // Match by userName, else create, with a password.
    let password = format!("Pw#{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let ada = entra::match_or_create(
        &c,
        "userName",
        "ada",
        &scim_user("ada", "Ada", "Lovelace", Some(&password)),
    )
    .await
    .unwrap();
    assert!(ada.created);
    let again = entra::match_or_create(
        &c,
        "userName",
        "ada",
        &scim_user("ada", "Ada", "Lovelace", None),
    )
    .await
    .unwrap();
    assert!(!again.created);
    assert_eq!(again.id, ada.id);
    let ada_dn = user_dn("ada");
    let e = entry(&slapd, &ada_dn).expect("ada is in the directory");
    assert_eq!(e["sn"], ["Lovelace"]);
    assert_eq!(e["givenname"], ["Ada"]);
    assert_eq!(e["mail"], ["ada@example.com"]);
    assert_eq!(e["displayname"], ["Ada Lovelace"]);
    assert!(can_bind(&url, &ada_dn, &password), "ada binds");
    assert!(ada.resource.get("password").is_none());
    assert_nowhere(host.data_dir(), &password);

    // Updates, in both of Entra's PATCH shapes.
    entra::update(
        &c,
        &ada.id,
        &[
            ("displayName", json!("Ada King")),
            ("name.familyName", json!("King")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(values(&slapd, &ada_dn, "sn"), set(&["King"]));
    assert_eq!(values(&slapd, &ada_dn, "displayName"), set(&["Ada King"]));
    entra::update_062020(
        &c,
        &ada.id,
        json!({ "displayName": "Augusta King", "name.givenName": "Augusta" }),
        &[(
            "emails[type eq \"work\"].value",
            json!("augusta@example.com"),
        )],
    )
    .await
    .unwrap();
    assert_eq!(values(&slapd, &ada_dn, "givenName"), set(&["Augusta"]));
    assert_eq!(
        values(&slapd, &ada_dn, "mail"),
        set(&["augusta@example.com"])
    );
    let got = entra::get_user(&c, &ada.id).await.unwrap();
    assert_eq!(got["displayName"], "Augusta King");
    assert_eq!(got["userName"], "ada");

    // A new password by PATCH.
    let changed = format!("{password}-2");
    entra::patch(
        &c,
        "/Users",
        &ada.id,
        vec![json!({"op": "Replace", "path": "password", "value": changed})],
    )
    .await
    .unwrap();
    assert!(can_bind(&url, &ada_dn, &changed), "the new password binds");
    assert!(!can_bind(&url, &ada_dn, &password), "the old one no more");
    assert_nowhere(host.data_dir(), &changed);

    // Disable with `disable = "none"`: nothing changes at the directory; re-enable.
    let before = entry(&slapd, &ada_dn).unwrap();
    entra::disable(&c, &ada.id).await.unwrap();
    entra::enable_062020(&c, &ada.id).await.unwrap();
    assert_eq!(entry(&slapd, &ada_dn).unwrap(), before);

    // The manager, in both shapes, a DN at the directory and an id in SCIM.
    let bob = entra::create(&c, "/Users", &scim_user("bob", "Bob", "Byron", None))
        .await
        .unwrap();
    let carol = entra::create(&c, "/Users", &scim_user("carol", "Carol", "Cayley", None))
        .await
        .unwrap();
    let bob_dn = user_dn("bob");
    entra::set_manager_array(&c, &bob.id, &ada.id)
        .await
        .unwrap();
    assert_eq!(values(&slapd, &bob_dn, "manager"), set(&[&ada_dn]));
    let got = entra::get_user(&c, &bob.id).await.unwrap();
    assert_eq!(manager_of(&got).as_deref(), Some(ada.id.as_str()), "{got}");
    entra::set_manager_string(&c, &bob.id, &carol.id)
        .await
        .unwrap();
    assert_eq!(
        values(&slapd, &bob_dn, "manager"),
        set(&[&user_dn("carol")])
    );
    let got = entra::get_user(&c, &bob.id).await.unwrap();
    assert_eq!(
        manager_of(&got).as_deref(),
        Some(carol.id.as_str()),
        "{got}"
    );
    // A manager that is no user: refused, nothing changes.
    let r = c
        .patch(
            &format!("/Users/{}", bob.id),
            &entra::patch_body(vec![json!({
                "op": "Add", "path": enterprise("manager"), "value": entra::random_guid()
            })]),
        )
        .await
        .unwrap();
    r.expect_error(400, Some("invalidValue")).unwrap();
    assert_eq!(
        values(&slapd, &bob_dn, "manager"),
        set(&[&user_dn("carol")])
    );

    // Groups: created empty, members added one then two, removed in both shapes.
    let eng = entra::create_group(&c, "Engineers", "eng").await.unwrap();
    let eng_dn = group_dn("Engineers");
    assert!(
        entry(&slapd, &eng_dn).is_some(),
        "the group is in the directory"
    );
    assert!(values(&slapd, &eng_dn, "member").is_empty());
    assert_eq!(
        entra::find_group(&c, "Engineers")
            .await
            .unwrap()
            .map(|g| g["id"].clone()),
        Some(json!(eng.id))
    );
    entra::add_members(&c, &eng.id, &[&ada.id]).await.unwrap();
    assert_eq!(values(&slapd, &eng_dn, "member"), set(&[&ada_dn]));
    entra::add_members(&c, &eng.id, &[&bob.id, &carol.id])
        .await
        .unwrap();
    let all = set(&[&ada_dn, &bob_dn, &user_dn("carol")]);
    assert_eq!(values(&slapd, &eng_dn, "member"), all);
    let got = entra::get(&c, "/Groups", &eng.id).await.unwrap();
    assert_eq!(
        member_ids(&got),
        set(&[&ada.id, &bob.id, &carol.id]),
        "{got}"
    );
    let r = c
        .get(
            &format!("/Groups/{}", eng.id),
            &[("excludedAttributes", "members")],
        )
        .await
        .unwrap();
    r.expect_status(&[200]).unwrap();
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(r.body["displayName"], "Engineers");

    // A member id that is no user: 400 invalidValue, the directory unchanged.
    let r = c
        .patch(
            &format!("/Groups/{}", eng.id),
            &entra::patch_body(vec![json!({
                "op": "Add", "path": "members",
                "value": [{ "value": entra::random_guid() }]
            })]),
        )
        .await
        .unwrap();
    r.expect_error(400, Some("invalidValue")).unwrap();
    assert_eq!(values(&slapd, &eng_dn, "member"), all);

    entra::remove_members_by_value(&c, &eng.id, &[&bob.id])
        .await
        .unwrap();
    assert_eq!(
        values(&slapd, &eng_dn, "member"),
        set(&[&ada_dn, &user_dn("carol")])
    );
    entra::remove_member_by_path(&c, &eng.id, &carol.id)
        .await
        .unwrap();
    assert_eq!(values(&slapd, &eng_dn, "member"), set(&[&ada_dn]));
    let got = entra::get(&c, "/Groups", &eng.id).await.unwrap();
    assert_eq!(member_ids(&got), set(&[&ada.id]), "{got}");

    // A rename (the RDN attribute): the same id, the same memberships and reports.
    entra::update(&c, &ada.id, &[("userName", json!("ada.king"))])
        .await
        .unwrap();
    let renamed_dn = user_dn("ada.king");
    assert!(entry(&slapd, &ada_dn).is_none(), "the old DN is gone");
    assert!(entry(&slapd, &renamed_dn).is_some(), "the new DN exists");
    let got = entra::get_user(&c, &ada.id).await.unwrap();
    assert_eq!(got["userName"], "ada.king");
    assert_eq!(
        entra::find_user(&c, "userName", "ada.king")
            .await
            .unwrap()
            .map(|u| u["id"].clone()),
        Some(json!(ada.id))
    );
    assert_eq!(values(&slapd, &eng_dn, "member"), set(&[&renamed_dn]));
    // The space learns the group's new member DN (refint's change) with the next delta import;
    // until then the old DN names nothing and the member is left out of the group.
    eventually("the group lists the renamed member", || {
        let (c, group, ada) = (c.clone(), eng.id.clone(), ada.id.clone());
        async move {
            let got = entra::get(&c, "/Groups", &group).await.unwrap();
            member_ids(&got) == set(&[&ada])
        }
    })
    .await;
    // bob's manager is carol; make it ada (renamed) and read it back.
    entra::set_manager_string(&c, &bob.id, &ada.id)
        .await
        .unwrap();
    assert_eq!(values(&slapd, &bob_dn, "manager"), set(&[&renamed_dn]));
    let got = entra::get_user(&c, &bob.id).await.unwrap();
    assert_eq!(manager_of(&got).as_deref(), Some(ada.id.as_str()), "{got}");

    // Deletes.
    entra::delete_user(&c, &carol.id).await.unwrap();
    assert!(entry(&slapd, &user_dn("carol")).is_none());
    entra::delete(&c, "/Groups", &eng.id).await.unwrap();
    entra::expect_gone(&c, "/Groups", &eng.id).await.unwrap();
    assert!(entry(&slapd, &eng_dn).is_none());
    assert_nowhere(host.data_dir(), &password);
    assert_nowhere(host.data_dir(), &changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecma2host_mode_lifecycle_disable_deletes() {
    let slapd = start_slapd(false);
    let url = slapd.url();
    let (host, c) = host(&config(
        Mode::Ecma2host,
        std::slice::from_ref(&url),
        "",
        "\"delete\"",
    ))
    .await;

    get_random_id(&c).await;
    entra::probe(&c, &ecma("uid")).await.unwrap();

    let password = format!("Pw#{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let ada = entra::match_or_create(
        &c,
        &ecma("uid"),
        "ada",
        &ecma_user("ada", "Lovelace", Some(&password)),
    )
    .await
    .unwrap();
    assert!(ada.created);
    let ada_dn = user_dn("ada");
    assert_eq!(values(&slapd, &ada_dn, "sn"), set(&["Lovelace"]));
    assert!(can_bind(&url, &ada_dn, &password), "ada binds");
    assert_nowhere(host.data_dir(), &password);
    let again = entra::match_or_create(&c, &ecma("uid"), "ada", &ecma_user("ada", "L", None))
        .await
        .unwrap();
    assert_eq!((again.created, again.id.as_str()), (false, ada.id.as_str()));

    entra::update(
        &c,
        &ada.id,
        &[
            (&ecma("sn"), json!("King")),
            (&ecma("title"), json!("Countess")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(values(&slapd, &ada_dn, "sn"), set(&["King"]));
    assert_eq!(values(&slapd, &ada_dn, "title"), set(&["Countess"]));
    entra::update_062020(
        &c,
        &ada.id,
        json!({ ecma("sn"): "Byron", ecma("givenName"): "Augusta" }),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(values(&slapd, &ada_dn, "sn"), set(&["Byron"]));
    assert_eq!(values(&slapd, &ada_dn, "givenName"), set(&["Augusta"]));
    let got = entra::get_user(&c, &ada.id).await.unwrap();
    // `sn` is multi-valued in inetOrgPerson (no SINGLE-VALUE): an array.
    assert_eq!(got[ECMA2HOST_USER]["sn"], json!(["Byron"]), "{got}");

    // The manager as an ECMA2Host reference: a DN at the directory, the id in SCIM.
    let bob = entra::create(&c, "/Users", &ecma_user("bob", "Byron", None))
        .await
        .unwrap();
    entra::update(&c, &bob.id, &[(&ecma("manager"), json!(ada.id))])
        .await
        .unwrap();
    assert_eq!(values(&slapd, &user_dn("bob"), "manager"), set(&[&ada_dn]));
    let got = entra::get_user(&c, &bob.id).await.unwrap();
    assert_eq!(got[ECMA2HOST_USER]["manager"], json!([ada.id]), "{got}");

    // `disable = "delete"`: disabling deletes the entry.
    entra::disable(&c, &bob.id).await.unwrap();
    assert!(entry(&slapd, &user_dn("bob")).is_none(), "bob was deleted");
    entra::expect_gone(&c, "/Users", &bob.id).await.unwrap();

    entra::delete_user(&c, &ada.id).await.unwrap();
    assert!(entry(&slapd, &ada_dn).is_none());
    assert_nowhere(host.data_dir(), &password);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_sets_a_boolean_attribute_and_enable_sets_it_back() {
    let slapd = start_slapd(false);
    let text = config(
        Mode::Ecma2host,
        &[slapd.url()],
        "",
        "{ set = \"chActive\", value = false }",
    )
    .replace(
        r#"object_classes = ["inetOrgPerson"]"#,
        r#"object_classes = ["inetOrgPerson", "chAccount"]"#,
    );
    let (_host, c) = host(&text).await;
    let ada = entra::create(&c, "/Users", &ecma_user("ada", "Lovelace", None))
        .await
        .unwrap();
    let dn = user_dn("ada");
    assert_eq!(values(&slapd, &dn, "chActive"), set(&["TRUE"]));
    assert_eq!(entra::get_user(&c, &ada.id).await.unwrap()["active"], true);
    entra::disable(&c, &ada.id).await.unwrap();
    assert_eq!(values(&slapd, &dn, "chActive"), set(&["FALSE"]));
    assert_eq!(entra::get_user(&c, &ada.id).await.unwrap()["active"], false);
    entra::enable_062020(&c, &ada.id).await.unwrap();
    assert_eq!(values(&slapd, &dn, "chActive"), set(&["TRUE"]));
    assert_eq!(entra::get_user(&c, &ada.id).await.unwrap()["active"], true);
    assert_eq!(
        values(&slapd, &dn, "objectClass"),
        set(&["inetOrgPerson", "chAccount"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_imports_bring_direct_directory_changes_to_scim() {
    let slapd = start_slapd(false);
    let (_host, c) = host(&config(Mode::Scim, &[slapd.url()], "", "\"none\"")).await;
    entra::probe(&c, "userName").await.unwrap();

    // An add.
    ldapmodify(
        &slapd,
        &format!(
            "dn: {}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: dave\ncn: Dave\nsn: Dee\ndisplayName: Dave Dee\n",
            user_dn("dave")
        ),
    );
    let deadline = Instant::now() + WITHIN;
    let dave_id = loop {
        if let Some(u) = entra::find_user(&c, "userName", "dave").await.unwrap() {
            break u["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the added entry is never found");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // A modify.
    ldapmodify(
        &slapd,
        &format!(
            "dn: {}\nchangetype: modify\nreplace: displayName\ndisplayName: David Dee\n",
            user_dn("dave")
        ),
    );
    eventually("the modified displayName is served", || {
        let (c, id) = (c.clone(), dave_id.clone());
        async move { entra::get_user(&c, &id).await.unwrap()["displayName"] == "David Dee" }
    })
    .await;

    // A rename: the same id, the new userName.
    ldapmodify(
        &slapd,
        &format!(
            "dn: {}\nchangetype: modrdn\nnewrdn: uid=david\ndeleteoldrdn: 1\n",
            user_dn("dave")
        ),
    );
    eventually("the renamed entry keeps its id", || {
        let (c, id) = (c.clone(), dave_id.clone());
        async move { entra::get_user(&c, &id).await.unwrap()["userName"] == "david" }
    })
    .await;
    assert!(
        entra::find_user(&c, "userName", "dave")
            .await
            .unwrap()
            .is_none()
    );

    // A delete.
    ldapmodify(
        &slapd,
        &format!("dn: {}\nchangetype: delete\n", user_dn("david")),
    );
    eventually("the deleted entry is gone", || {
        let (c, id) = (c.clone(), dave_id.clone());
        async move { c.get(&format!("/Users/{id}"), &[]).await.unwrap().status == 404 }
    })
    .await;
    assert!(
        entra::find_user(&c, "userName", "david")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_ldaps_with_the_test_ca() {
    let slapd = start_slapd(true);
    let tls = slapd.tls().unwrap().clone();
    let ca = format!(
        "[connector.ldap.tls]\nca_file = {:?}\n",
        tls.ca_cert.display().to_string()
    );
    for (servers, extra, uid) in [
        (
            slapd.url(),
            format!("starttls = true\n{ca}"),
            "starttls-user",
        ),
        (slapd.ldaps_url().unwrap(), ca.clone(), "ldaps-user"),
    ] {
        let (mut host, c) = host(&config(Mode::Scim, &[servers], &extra, "\"none\"")).await;
        let u = entra::create(&c, "/Users", &scim_user(uid, "T", "Ls", None))
            .await
            .unwrap();
        assert_eq!(values(&slapd, &user_dn(uid), "sn"), set(&["Ls"]));
        assert_eq!(entra::get_user(&c, &u.id).await.unwrap()["userName"], uid);
        host.stop().await.unwrap();
    }
    // Without the CA the server is not trusted: the connector is misconfigured, not served.
    let (_host, c) = {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::start(
            &config(Mode::Scim, &[slapd.ldaps_url().unwrap()], "", "\"none\""),
            dir,
        )
        .await
        .unwrap();
        let c = host.scim("dir", Some(TOKEN));
        (host, c)
    };
    let r = c
        .post("/Users", &scim_user("untrusted", "U", "T", None))
        .await
        .unwrap();
    assert!(r.status.as_u16() >= 500, "{}", r.got());
    assert!(entry(&slapd, &user_dn("untrusted")).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_restarted_among_200_creates() {
    const USERS: usize = 200;
    const WORKERS: usize = 4;
    let mut slapd = start_slapd(false);
    let (_host, c) = host(&config(Mode::Scim, &[slapd.url()], "", "\"none\"")).await;

    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uid = |i: usize| format!("bulk{i:03}");
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (c, created) = (c.clone(), created.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in (w..USERS).step_by(WORKERS) {
                let r = c
                    .post(
                        "/Users",
                        &scim_user(&format!("bulk{i:03}"), "Bulk", &format!("N{i}"), None),
                    )
                    .await
                    .unwrap();
                if r.status.as_u16() == 201 {
                    created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                outcomes.push((i, r));
            }
            outcomes
        }));
    }
    // Restart slapd once a quarter of the creates went through.
    eventually("a quarter of the creates succeed", || {
        let created = created.clone();
        async move { created.load(std::sync::atomic::Ordering::SeqCst) >= USERS / 4 }
    })
    .await;
    slapd.restart();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.unwrap());
    }
    assert_eq!(outcomes.len(), USERS);

    let mut failed = Vec::new();
    for (i, r) in &outcomes {
        match r.status.as_u16() {
            201 => assert!(
                entry(&slapd, &user_dn(&uid(*i))).is_some(),
                "{} answered 201 but is not in the directory",
                uid(*i)
            ),
            503 => {
                assert!(
                    r.header("retry-after").is_some(),
                    "503 without Retry-After: {}",
                    r.got()
                );
                failed.push(*i);
            }
            _ => panic!("{} answered {}", uid(*i), r.got()),
        }
    }
    eprintln!("{} of {USERS} creates answered 503", failed.len());

    // Entra retries: match by userName, create if absent; every one ends up created once.
    for i in failed {
        let deadline = Instant::now() + WITHIN;
        loop {
            let r = entra::match_or_create(
                &c,
                "userName",
                &uid(i),
                &scim_user(&uid(i), "Bulk", &format!("N{i}"), None),
            )
            .await;
            match r {
                Ok(_) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "{} never succeeded: {e}", uid(i));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    // Nothing half-applied: each user once, whole, in the directory and in SCIM.
    let entries = search(&slapd, PEOPLE, "(uid=bulk*)");
    assert_eq!(entries.len(), USERS);
    for e in &entries {
        let u = &e["uid"][0];
        let i: usize = u.trim_start_matches("bulk").parse().unwrap();
        assert_eq!(e["sn"], [format!("N{i}")], "{e:?}");
        assert_eq!(e["mail"], [format!("{u}@example.com")], "{e:?}");
        let found = entra::find_user(&c, "userName", u).await.unwrap();
        assert!(found.is_some(), "{u} is not found through SCIM");
    }
}
