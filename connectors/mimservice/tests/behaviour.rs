//! The connector against the simulated Lithnet REST API over real HTTP(S): approvals, denials,
//! the API going away mid-export, deltas of changes made in the Portal, paging over thousands
//! of objects, XPath escaping, matching, members, custom types, retries, deadlines and TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use connector_core::conformance::soon;
use connector_core::import::collect_all;
use connector_core::{
    Anchor, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError, Deadline,
    ExportStatus, ImportItem,
};
use connector_mimservice::{DefaultValue, MimServiceConnector, ObjectConfig, OnMatch};
use mimservice_sim::{DenyRule, Operation, SimOptions};
use serde_json::json;

fn add(
    c: &MimServiceConnector,
    object_type: &str,
    attributes: Attributes,
) -> Result<connector_core::ExportOutcome, ConnectorError> {
    c.export(
        &Change::Add {
            object_type: object_type.into(),
            anchor: None,
            dn: None,
            attributes,
        },
        soon(),
    )
}

fn update(
    c: &MimServiceConnector,
    object_type: &str,
    anchor: &str,
    changes: Vec<AttributeChange>,
) -> Result<connector_core::ExportOutcome, ConnectorError> {
    c.export(
        &Change::Update {
            object_type: object_type.into(),
            anchor: Anchor(anchor.into()),
            new_dn: None,
            changes,
        },
        soon(),
    )
}

fn import(
    c: &MimServiceConnector,
    object_type: &str,
    page_size: usize,
) -> BTreeMap<String, connector_core::ConnectorObject> {
    let mut stream = c.full_import(object_type, page_size, soon()).unwrap();
    let mut out = BTreeMap::new();
    while let Some(page) = stream.next_page(soon()).unwrap() {
        assert!(
            page.len() <= page_size,
            "page of {} > {page_size}",
            page.len()
        );
        for item in page {
            let ImportItem::Upsert(o) = item else {
                panic!("a delete in a full import")
            };
            assert!(
                out.insert(o.anchor.0.clone(), o).is_none(),
                "imported twice"
            );
        }
    }
    out
}

/// The watermark of a full import of Person.
fn watermark(c: &MimServiceConnector) -> connector_core::Watermark {
    let mut full = c.full_import("Person", 100, soon()).unwrap();
    collect_all(full.as_mut(), Duration::from_secs(30)).unwrap();
    full.watermark().unwrap()
}

fn pending_request(detail: &ExportStatus) -> String {
    let ExportStatus::Pending { detail } = detail else {
        panic!("not pending: {detail:?}")
    };
    detail
        .split_whitespace()
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no request id in {detail:?}"))
        .to_owned()
}

fn contractor(i: usize) -> Attributes {
    let mut a = person(i);
    a.insert("EmployeeType".into(), s("Contractor"));
    a
}

#[test]
fn an_approved_add_shows_up_in_the_next_imports_with_the_anchor_it_was_given() {
    let sim = sim(SimOptions {
        approvals: vec![contractor_approval()],
        ..SimOptions::default()
    });
    let c = connector(config(&sim, vec![person_config()]));
    let mark = watermark(&c);

    let outcome = add(&c, "Person", contractor(1)).unwrap();
    let request = pending_request(&outcome.status);
    assert_eq!(sim.pending_requests(), vec![request.clone()]);
    assert!(
        !import(&c, "Person", 100).contains_key(&outcome.anchor.0),
        "not before approval"
    );

    sim.approve(&request).unwrap();
    let after = import(&c, "Person", 100);
    let obj = after
        .get(&outcome.anchor.0)
        .expect("the approved object carries the pending anchor");
    assert_eq!(obj.values("AccountName"), s("user1").as_slice());

    let mut delta = c.delta_import("Person", &mark, 100, soon()).unwrap();
    let items = collect_all(delta.as_mut(), Duration::from_secs(30)).unwrap();
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ImportItem::Upsert(o) if o.anchor == outcome.anchor))
    );
}

#[test]
fn a_rejected_add_never_shows_up() {
    let sim = sim(SimOptions {
        approvals: vec![contractor_approval()],
        ..SimOptions::default()
    });
    let c = connector(config(&sim, vec![person_config()]));
    let mark = watermark(&c);
    let outcome = add(&c, "Person", contractor(2)).unwrap();
    sim.reject(&pending_request(&outcome.status)).unwrap();
    assert!(!import(&c, "Person", 100).contains_key(&outcome.anchor.0));
    assert_eq!(c.read("Person", &outcome.anchor, soon()).unwrap(), None);
    let mut delta = c.delta_import("Person", &mark, 100, soon()).unwrap();
    let items = collect_all(delta.as_mut(), Duration::from_secs(30)).unwrap();
    assert!(
        !items
            .iter()
            .any(|i| matches!(i, ImportItem::Upsert(o) if o.anchor == outcome.anchor))
    );
    // The denied Request's target is reported deleted: the host's signal of the rejection.
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ImportItem::Delete { anchor, .. } if *anchor == outcome.anchor)),
        "a rejected add is a delete in the next delta: {items:?}"
    );
}

#[test]
fn an_update_waiting_for_approval_is_pending_and_changes_nothing_yet() {
    let sim = sim(SimOptions {
        approvals: vec![mimservice_sim::ApprovalRule {
            object_type: "Person".into(),
            operations: vec![Operation::Update],
            attribute: Some("Department".into()),
            value: None,
        }],
        ..SimOptions::default()
    });
    let c = connector(config(&sim, vec![person_config()]));
    let anchor = add(&c, "Person", person(3)).unwrap().anchor;
    let outcome = update(
        &c,
        "Person",
        &anchor.0,
        vec![
            AttributeChange::Replace {
                name: "Department".into(),
                values: s("Finance"),
            },
            AttributeChange::Replace {
                name: "JobTitle".into(),
                values: s("Clerk"),
            },
        ],
    )
    .unwrap();
    assert_eq!(outcome.anchor, anchor);
    let request = pending_request(&outcome.status);
    assert!(
        sim.values(&anchor.0, "JobTitle").is_empty(),
        "one Request: nothing applied before approval"
    );
    sim.approve(&request).unwrap();
    assert_eq!(sim.values(&anchor.0, "Department"), vec!["Finance"]);
    assert_eq!(sim.values(&anchor.0, "JobTitle"), vec!["Clerk"]);
}

#[test]
fn permission_denied_is_a_clear_rejection_and_bad_credentials_a_misconfiguration() {
    let sim = sim(SimOptions {
        denials: vec![DenyRule {
            user: Some(USER.into()),
            operation: Operation::Delete,
            object_type: "Person".into(),
            attribute: None,
        }],
        ..SimOptions::default()
    });
    let c = connector(config(&sim, vec![person_config()]));
    let anchor = add(&c, "Person", person(4)).unwrap().anchor;
    let err = c
        .export(
            &Change::Delete {
                object_type: "Person".into(),
                anchor: anchor.clone(),
            },
            soon(),
        )
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        err.detail().contains("management policy rule") && err.detail().contains(USER),
        "{err}"
    );
    assert!(sim.exists(&anchor.0));

    let mut wrong = config(&sim, vec![person_config()]);
    wrong.password = "not-it".into();
    let err = connector(wrong).test_connection(soon()).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(!err.detail().contains("not-it"));
}

#[test]
fn when_the_api_goes_away_every_success_was_applied_and_every_failure_is_retryable() {
    let mut sim = sim(SimOptions::default());
    let ids = sim
        .seed("Person", (0..40).map(|i| json!({"AccountName": format!("p{i}"), "JobTitle": "old", "Department": "old"})).collect())
        .unwrap();
    sim.set_latency(Duration::from_millis(15));
    let c = Arc::new(connector(config(&sim, vec![person_config()])));
    c.schema(soon()).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (c, done, ids) = (c.clone(), done.clone(), ids.clone());
        std::thread::spawn(move || {
            ids.iter()
                .map(|id| {
                    let r = update(
                        &c,
                        "Person",
                        id,
                        vec![
                            AttributeChange::Replace {
                                name: "JobTitle".into(),
                                values: s("new"),
                            },
                            AttributeChange::Replace {
                                name: "Department".into(),
                                values: s("new"),
                            },
                        ],
                    );
                    done.fetch_add(1, Ordering::SeqCst);
                    (id.clone(), r)
                })
                .collect::<Vec<_>>()
        })
    };
    while done.load(Ordering::SeqCst) < 10 {
        std::thread::sleep(Duration::from_millis(2));
    }
    sim.stop();
    let results = worker.join().unwrap();
    let (mut ok, mut failed) = (0, 0);
    for (id, r) in results {
        let (title, dept) = (sim.values(&id, "JobTitle"), sim.values(&id, "Department"));
        assert_eq!(title, dept, "{id}: half-applied ({title:?} / {dept:?})");
        match r {
            Ok(_) => {
                ok += 1;
                assert_eq!(title, vec!["new"], "{id}: a success that was not applied");
            }
            Err(e) => {
                failed += 1;
                assert!(e.is_retryable(), "{id}: {e:?}");
            }
        }
    }
    assert!(ok >= 10 && failed > 0, "ok {ok}, failed {failed}");
}

#[test]
fn delta_imports_see_changes_made_in_the_portal_including_deletes() {
    let sim = sim(SimOptions::default());
    let kept = sim
        .create("Person", json!({"AccountName": "kept", "JobTitle": "a"}))
        .unwrap();
    let gone = sim
        .create("Person", json!({"AccountName": "gone"}))
        .unwrap();
    let quiet = sim
        .create(
            "Group",
            json!({"DisplayName": "g", "Scope": "Universal", "Type": "Security",
                   "MembershipLocked": false, "MembershipAddWorkflow": "None"}),
        )
        .unwrap();
    let c = connector(config(
        &sim,
        vec![person_config(), ObjectConfig::new("Group")],
    ));
    let mark = watermark(&c);

    let born = sim
        .create("Person", json!({"AccountName": "born"}))
        .unwrap();
    sim.update(&kept, json!({"JobTitle": "b"})).unwrap();
    sim.delete(&gone).unwrap();
    sim.update(&quiet, json!({"DisplayName": "g2"})).unwrap();

    let mut delta = c.delta_import("Person", &mark, 2, soon()).unwrap();
    let items = collect_all(delta.as_mut(), Duration::from_secs(30)).unwrap();
    let upserts: BTreeMap<String, _> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Upsert(o) => Some((o.anchor.0.clone(), o.clone())),
            _ => None,
        })
        .collect();
    let deletes: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Delete { anchor, .. } => Some(anchor.0.clone()),
            _ => None,
        })
        .collect();
    assert!(upserts.contains_key(&born));
    assert_eq!(upserts[&kept].values("JobTitle"), s("b").as_slice());
    assert!(deletes.contains(&gone), "{items:?}");
    assert!(
        !upserts.contains_key(&quiet) && !deletes.contains(&quiet),
        "a Group change is not a Person delta"
    );
    let next = delta.watermark().unwrap();
    assert!(next.0 >= mark.0, "{next:?} < {mark:?}");
    drop(delta);

    // A watermark of another connector asks the host for a full import.
    let err = c
        .delta_import(
            "Person",
            &connector_core::Watermark("sql1:int:4".into()),
            10,
            soon(),
        )
        .err()
        .unwrap();
    assert!(
        matches!(err, connector_core::ConnectorError::ResyncRequired { .. }),
        "{err}"
    );
}

#[test]
fn a_delta_with_many_changes_reads_them_in_batches_that_fit_iis_s_query_limit() {
    let sim = sim(SimOptions::default());
    let c = connector(config(&sim, vec![person_config()]));
    let mark = watermark(&c);
    let born: Vec<String> = (0..150)
        .map(|i| {
            sim.create("Person", json!({"AccountName": format!("n{i}")}))
                .unwrap()
        })
        .collect();
    let mut delta = c.delta_import("Person", &mark, 200, soon()).unwrap();
    let items = collect_all(delta.as_mut(), Duration::from_secs(30)).unwrap();
    let seen: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Upsert(o) => Some(o.anchor.as_str()),
            _ => None,
        })
        .collect();
    assert!(born.iter().all(|b| seen.contains(&b.as_str())));
}

#[test]
fn full_imports_page_through_thousands_of_objects_and_notice_deletes_that_shift_pages() {
    let sim = sim(SimOptions::default());
    let ids = sim
        .seed(
            "Person",
            (0..3000)
                .map(|i| json!({"AccountName": format!("bulk{i:04}"), "EmployeeType": "Bulk"}))
                .collect(),
        )
        .unwrap();
    let mut cfg = person_config();
    cfg.filter = Some("EmployeeType = 'Bulk'".into());
    let c = connector(config(&sim, vec![cfg]));
    let all = import(&c, "Person", 40);
    assert_eq!(all.len(), 3000);
    assert!(ids.iter().all(|id| all.contains_key(id)));

    // A delete while the import runs shifts later results back by one: the import says so.
    let mut stream = c.full_import("Person", 40, soon()).unwrap();
    stream.next_page(soon()).unwrap().unwrap();
    sim.delete(&ids[0]).unwrap();
    let err = loop {
        match stream.next_page(soon()) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the import ended without noticing the delete"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, ConnectorError::Unavailable { .. })
            && err.detail().contains("run the import again"),
        "{err:?}"
    );
}

#[test]
fn values_are_escaped_in_xpath_and_matching_conflicts_or_adopts() {
    let sim = sim(SimOptions::default());
    let hostile = "o'brien \"the\" ] or AccountName != '";
    let existing = sim
        .create("Person", json!({"AccountName": hostile}))
        .unwrap();
    sim.create("Person", json!({"AccountName": "someone else"}))
        .unwrap();
    let c = connector(config(&sim, vec![person_config()]));

    let mut a = Attributes::new();
    a.insert("AccountName".into(), s(hostile));
    let err = add(&c, "Person", a.clone()).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Conflict { .. }) && err.detail().contains(&existing),
        "{err:?}"
    );

    // An injection attempt matches nothing, so the add goes ahead.
    let mut b = Attributes::new();
    b.insert("AccountName".into(), s("x' or AccountName != 'x"));
    let created = add(&c, "Person", b).unwrap();
    assert!(sim.exists(&created.anchor.0));

    let mut adopt = person_config();
    adopt.on_match = OnMatch::Adopt;
    let c = connector(config(&sim, vec![adopt]));
    a.insert("JobTitle".into(), s("adopted"));
    let outcome = add(&c, "Person", a).unwrap();
    assert_eq!(outcome.anchor.0, existing);
    assert_eq!(sim.values(&existing, "JobTitle"), vec!["adopted"]);
    assert_eq!(
        sim.search(&format!(
            "/Person[AccountName = '{}']",
            hostile.replace('\'', "''")
        ))
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn group_members_change_one_value_at_a_time_and_custom_types_keep_their_types() {
    let sim = sim(SimOptions::default());
    let mut cfg = config(
        &sim,
        vec![
            person_config(),
            ObjectConfig::new("Group"),
            ObjectConfig::new("CostCenter"),
        ],
    );
    cfg.create_defaults.insert("Group".into(), group_defaults());
    let c = connector(cfg);
    let p1 = add(&c, "Person", person(1)).unwrap().anchor.0;
    let p2 = add(&c, "Person", person(2)).unwrap().anchor.0;
    // The MIM Service requires Scope, Type, MembershipLocked and MembershipAddWorkflow on a
    // group: the configured defaults fill what the add leaves out, and only that.
    let mut g = Attributes::new();
    g.insert("DisplayName".into(), s("Staff"));
    g.insert("Type".into(), s("Distribution"));
    let group = add(&c, "Group", g.clone()).unwrap().anchor.0;
    assert_eq!(sim.values(&group, "Scope"), ["Universal"]);
    assert_eq!(
        sim.values(&group, "Type"),
        ["Distribution"],
        "the add's own value wins"
    );
    assert_eq!(sim.get(&group).unwrap()["MembershipLocked"], json!(false));
    assert_eq!(sim.values(&group, "MembershipAddWorkflow"), ["None"]);
    // Defaults are for creates only: an update leaves them alone.
    update(
        &c,
        "Group",
        &group,
        vec![AttributeChange::Replace {
            name: "DisplayName".into(),
            values: s("Staff 2"),
        }],
    )
    .unwrap();
    assert_eq!(sim.values(&group, "Type"), ["Distribution"]);
    let members = |ids: &[&str]| {
        ids.iter()
            .map(|i| AttrValue::Reference((*i).into()))
            .collect::<Vec<_>>()
    };
    update(
        &c,
        "Group",
        &group,
        vec![AttributeChange::Add {
            name: "ExplicitMember".into(),
            values: members(&[&p1, &p2]),
        }],
    )
    .unwrap();
    let mut got = sim.values(&group, "ExplicitMember");
    got.sort();
    let mut want = vec![p1.clone(), p2.clone()];
    want.sort();
    assert_eq!(got, want);
    update(
        &c,
        "Group",
        &group,
        vec![AttributeChange::Remove {
            name: "ExplicitMember".into(),
            values: members(&[&p1]),
        }],
    )
    .unwrap();
    assert_eq!(sim.values(&group, "ExplicitMember"), vec![p2.clone()]);
    let read = c
        .read("Group", &Anchor(group.clone()), soon())
        .unwrap()
        .unwrap();
    assert_eq!(read.values("ExplicitMember"), members(&[&p2]).as_slice());
    // A required binding left out, with no default, is refused before any call.
    g.remove("DisplayName");
    let calls = sim.calls();
    let err = add(&c, "Group", g).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Rejected { .. }) && err.detail().contains("DisplayName"),
        "{err:?}"
    );
    assert_eq!(sim.calls(), calls);

    let when = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let mut cc = Attributes::new();
    cc.insert("msidmCostCenterCode".into(), s("CC-1"));
    cc.insert("msidmBudget".into(), vec![AttrValue::Integer(-42)]);
    cc.insert("msidmActive".into(), vec![AttrValue::Boolean(true)]);
    cc.insert("msidmValidFrom".into(), vec![AttrValue::DateTime(when)]);
    cc.insert(
        "msidmLogo".into(),
        vec![AttrValue::Binary(vec![0, 1, 254, 255])],
    );
    cc.insert("Manager".into(), vec![AttrValue::Reference(p2.clone())]);
    let anchor = add(&c, "CostCenter", cc.clone()).unwrap().anchor;
    let back = c.read("CostCenter", &anchor, soon()).unwrap().unwrap();
    for (name, values) in &cc {
        assert_eq!(back.values(name), values.as_slice(), "{name}");
    }
    let schema = c.schema(soon()).unwrap();
    let t = schema.object_type("CostCenter").unwrap();
    assert_eq!(t.anchor_attribute, "ObjectID");
    assert!(t.attribute("msidmCostCenterCode").unwrap().required);
    let t = schema.object_type("Group").unwrap();
    assert!(t.attribute("DisplayName").unwrap().required);
    assert!(
        !t.attribute("Scope").unwrap().required,
        "a default fills it, so a client need not"
    );
    assert_eq!(
        schema
            .object_type("Person")
            .unwrap()
            .attribute("Manager")
            .unwrap()
            .references
            .as_deref(),
        Some("Person")
    );
}

/// What the simulated MIM Service requires on a group and SCIM has no attribute for.
fn group_defaults() -> BTreeMap<String, DefaultValue> {
    BTreeMap::from([
        ("Scope".into(), DefaultValue::Text("Universal".into())),
        ("Type".into(), DefaultValue::Text("Security".into())),
        ("MembershipLocked".into(), DefaultValue::Boolean(false)),
        (
            "MembershipAddWorkflow".into(),
            DefaultValue::Text("None".into()),
        ),
    ])
}

#[test]
fn create_defaults_that_do_not_fit_the_schema_are_refused_when_the_schema_is_read() {
    let sim = sim(SimOptions::default());
    let with = |object_type: &str, attribute: &str, value: DefaultValue| {
        let mut cfg = config(&sim, vec![person_config(), ObjectConfig::new("Group")]);
        let mut table = group_defaults();
        table.insert(attribute.into(), value);
        cfg.create_defaults.insert(object_type.into(), table);
        cfg
    };
    // A type that is not configured: refused before anything is sent.
    let err = MimServiceConnector::new(
        with("CostCenter", "msidmBudget", DefaultValue::Integer(1)),
        std::path::Path::new("."),
    )
    .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }) && err.detail().contains("CostCenter"),
        "{err:?}"
    );
    for (attribute, value, why) in [
        (
            "Nickname",
            DefaultValue::Text("x".into()),
            "not bound to Group",
        ),
        (
            "ComputedMember",
            DefaultValue::Text("x".into()),
            "maintained by the MIM Service",
        ),
        (
            "MembershipLocked",
            DefaultValue::Text("maybe".into()),
            "true or false",
        ),
        ("Owner", DefaultValue::Text("bob".into()), "ObjectID"),
        (
            "Scope",
            DefaultValue::List(vec![
                DefaultValue::Text("a".into()),
                DefaultValue::Text("b".into()),
            ]),
            "single-valued",
        ),
        ("Owner", DefaultValue::List(vec![]), "empty list"),
    ] {
        let c = connector(with("Group", attribute, value));
        let err = c.schema(soon()).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Misconfigured { .. })
                && err
                    .detail()
                    .contains(&format!("create_defaults.Group.{attribute}"))
                && err.detail().contains(why),
            "{attribute}: {err:?}"
        );
    }
    // A reference default (an owner for every group) is an ObjectID.
    let plain = connector(config(&sim, vec![person_config()]));
    let owner = add(&plain, "Person", person(9)).unwrap().anchor.0;
    let c = connector(with(
        "Group",
        "Owner",
        DefaultValue::List(vec![DefaultValue::Text(owner.to_uppercase())]),
    ));
    let mut g = Attributes::new();
    g.insert("DisplayName".into(), s("Owned"));
    let group = add(&c, "Group", g).unwrap().anchor.0;
    assert_eq!(sim.values(&group, "Owner"), [owner]);
}

#[test]
fn transient_failures_are_retried_and_deadlines_bound_every_call() {
    let sim = sim(SimOptions::default());
    let c = connector(config(&sim, vec![person_config()]));
    c.schema(soon()).unwrap();
    sim.fail_next(2);
    add(&c, "Person", person(1)).expect("two 503s are retried");
    sim.fail_next(10);
    let err = add(&c, "Person", person(2)).unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    sim.fail_next(0);

    sim.set_latency(Duration::from_secs(3));
    let started = Instant::now();
    let err = c
        .export(
            &Change::Add {
                object_type: "Person".into(),
                anchor: None,
                dn: None,
                attributes: person(3),
            },
            Deadline::after(Duration::from_millis(400)),
        )
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn https_with_a_ca_bundle_or_a_pinned_certificate() {
    let sim = sim(SimOptions {
        tls: true,
        ..SimOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), sim.ca_pem().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("server.pem"),
        sim.server_cert_pem().unwrap(),
    )
    .unwrap();
    let other = common::sim(SimOptions {
        tls: true,
        ..SimOptions::default()
    });
    std::fs::write(dir.path().join("other-ca.pem"), other.ca_pem().unwrap()).unwrap();

    let mut cfg = config(&sim, vec![person_config()]);
    cfg.ca_file = Some("ca.pem".into());
    let c = MimServiceConnector::new(cfg.clone(), dir.path()).unwrap();
    let what = c.test_connection(soon()).unwrap();
    assert!(
        what.contains("Person") && what.contains("https://"),
        "{what}"
    );

    cfg.ca_file = None;
    cfg.pinned_certificate = Some(dir.path().join("server.pem"));
    let c = MimServiceConnector::new(cfg.clone(), dir.path()).unwrap();
    c.test_connection(soon()).unwrap();

    cfg.pinned_certificate = None;
    cfg.ca_file = Some("other-ca.pem".into());
    let err = MimServiceConnector::new(cfg.clone(), dir.path())
        .unwrap()
        .test_connection(soon())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");

    let mut plain = config(&sim, vec![person_config()]);
    plain.base_url = plain.base_url.replace("https://", "http://");
    plain.allow_plain_http = false;
    let err = MimServiceConnector::new(plain, dir.path()).unwrap_err();
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }) && err.detail().contains("clear text"),
        "{err:?}"
    );
}
