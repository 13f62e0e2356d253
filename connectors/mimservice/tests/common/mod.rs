//! Shared test helpers: a simulator on a free loopback port and a connector pointed at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use connector_core::conformance::Fixture;
use connector_core::{AttrValue, Attributes};
use connector_mimservice::{MimServiceConfig, MimServiceConnector, ObjectConfig};
use mimservice_sim::{ApprovalRule, Operation, SimHandle, SimOptions, serve};

pub const USER: &str = "svc-connector";
pub const PASSWORD: &str = "sim-password";

/// The attributes of Person the tests expose.
pub const PERSON_ATTRIBUTES: &[&str] = &[
    "AccountName",
    "DisplayName",
    "FirstName",
    "LastName",
    "JobTitle",
    "Department",
    "EmployeeType",
    "ProxyAddressCollection",
    "Manager",
];

pub fn sim(options: SimOptions) -> SimHandle {
    serve("127.0.0.1:0".parse().unwrap(), options).expect("start the simulator")
}

/// Creating a Person whose EmployeeType is Contractor waits for an approval.
pub fn contractor_approval() -> ApprovalRule {
    ApprovalRule {
        object_type: "Person".into(),
        operations: vec![Operation::Create],
        attribute: Some("EmployeeType".into()),
        value: Some("Contractor".into()),
    }
}

pub fn person_config() -> ObjectConfig {
    let mut p = ObjectConfig::new("Person");
    p.attributes = PERSON_ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect();
    p.matching_attribute = Some("AccountName".into());
    p
}

/// A configuration for `sim`: plain HTTP on loopback, quick retries.
pub fn config(sim: &SimHandle, objects: Vec<ObjectConfig>) -> MimServiceConfig {
    let mut c = MimServiceConfig::new(sim.base_url(), USER, PASSWORD, objects);
    c.allow_plain_http = !sim.base_url().starts_with("https");
    c.request_timeout = Duration::from_secs(10);
    c.retry_backoff = Duration::from_millis(20);
    c
}

pub fn connector(config: MimServiceConfig) -> MimServiceConnector {
    MimServiceConnector::new(config, Path::new(".")).expect("connector")
}

pub fn s(v: &str) -> Vec<AttrValue> {
    vec![AttrValue::String(v.to_owned())]
}

pub fn person(i: usize) -> Attributes {
    let mut a = Attributes::new();
    a.insert("AccountName".into(), s(&format!("user{i}")));
    a.insert("DisplayName".into(), s(&format!("User {i}")));
    a.insert("FirstName".into(), s(&format!("First{i}")));
    a
}

/// The conformance fixture: Person, with Manager as the reference attribute and a pending
/// sample that the simulator holds for approval.
pub fn fixture() -> Fixture {
    let sim = sim(SimOptions {
        approvals: vec![contractor_approval()],
        ..SimOptions::default()
    });
    let connector = connector(config(&sim, vec![person_config()]));
    let mut f = Fixture::new(
        Box::new(connector),
        "Person",
        person,
        "JobTitle",
        Box::new(sim),
    );
    f.multi_valued_attribute = Some("ProxyAddressCollection".into());
    f.reference_attribute = Some("Manager".into());
    f.pending_sample = Some(Box::new(|i| {
        let mut a = person(i);
        a.insert("EmployeeType".into(), s("Contractor"));
        a
    }));
    f
}
