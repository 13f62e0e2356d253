//! The simulator over real HTTP(S): the shapes and statuses the connector relies on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mimservice_sim::{ApprovalRule, DenyRule, Operation, SimHandle, SimOptions, serve};
use serde_json::{Value, json};

struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    user: (&'static str, &'static str),
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Client {
    fn new(sim: &SimHandle) -> Client {
        let mut b = reqwest::Client::builder();
        if let Some(ca) = sim.ca_pem() {
            b = b.tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()]);
        }
        Client {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: b.build().unwrap(),
            base: sim.base_url(),
            user: ("svc-connector", "sim-password"),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .basic_auth(self.user.0, Some(self.user.1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.rt.block_on(async {
            let r = req.send().await.unwrap();
            Answer {
                status: r.status().as_u16(),
                headers: r.headers().clone(),
                body: r.text().await.unwrap(),
            }
        })
    }
}

fn sim(options: SimOptions) -> SimHandle {
    serve("127.0.0.1:0".parse().unwrap(), options).unwrap()
}

fn error_code(a: &Answer) -> String {
    a.json()["error"]["code"].as_str().unwrap().to_owned()
}

#[test]
fn basic_authentication_is_required() {
    let s = sim(SimOptions::default());
    let mut c = Client::new(&s);
    c.user = ("svc-connector", "wrong");
    let a = c.call("GET", "v2/resources/?filter=/Person", None);
    assert_eq!(a.status, 401);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
}

#[test]
fn create_read_update_delete() {
    let s = sim(SimOptions::default());
    let c = Client::new(&s);
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "Person", "AccountName": "bob", "ProxyAddressCollection": ["smtp:a@x"], "IsRASEnabled": true})),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let created = a.json();
    let id = created["ObjectID"].as_str().unwrap().to_owned();
    assert!(
        a.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/v2/resources/{id}"))
    );
    assert_eq!(created["ProxyAddressCollection"], json!(["smtp:a@x"]));
    assert_eq!(created["IsRASEnabled"], json!(true));
    assert_eq!(created["ObjectType"], json!("Person"));

    let a = c.call(
        "PATCH",
        &format!("v2/resources/{id}/"),
        Some(json!({"FirstName": "Bob", "ProxyAddressCollection": []})),
    );
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    let got = c.call("GET", &format!("v2/resources/{id}/"), None).json();
    assert_eq!(got["FirstName"], json!("Bob"));
    assert!(got.get("ProxyAddressCollection").is_none());

    let boss = s.create("Person", json!({"AccountName": "boss"})).unwrap();
    let a = c.call("PUT", &format!("v2/resources/{id}/Manager/{boss}/"), None);
    assert_eq!(a.status, 204, "{}", a.body);
    let a = c.call("GET", &format!("v2/resources/{id}/Manager/"), None);
    assert_eq!(a.json(), json!([boss]));
    let a = c.call("DELETE", &format!("v2/resources/{id}/Manager/"), None);
    assert_eq!(a.status, 204);

    let a = c.call("DELETE", &format!("v2/resources/{id}/"), None);
    assert_eq!(a.status, 200);
    let a = c.call("GET", &format!("v2/resources/{id}/"), None);
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (404, "resource-not-found")
    );
    let a = c.call("DELETE", &format!("v2/resources/{id}/"), None);
    assert_eq!(a.status, 404);
}

#[test]
fn errors_look_like_the_api_s() {
    let s = sim(SimOptions::default());
    let c = Client::new(&s);
    let a = c.call("GET", "v2/resources/not-a-guid/", None);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "bad-request"));
    assert_eq!(a.json()["error"]["target"], json!("id"));
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "Person", "Nope": "x"})),
    );
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (500, "internal-server-error")
    );
    let a = c.call("POST", "v2/resources/", Some(json!({"AccountName": "x"})));
    assert_eq!((a.status, error_code(&a).as_str()), (400, "bad-request"));
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "CostCenter", "DisplayName": "x"})),
    );
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (400, "resource-management-exception")
    );
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "Person", "Manager": "6c2c9a5e-0b1c-4a43-9c5e-3a1f4f6f7a10"})),
    );
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (403, "permission-denied")
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ReferencedResourceIsMissing")
    );
    let a = c.call(
        "GET",
        "v2/resources/?filter=/Person[Manager = /Person[AccountName = 'x']]",
        None,
    );
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (400, "resource-management-exception")
    );
    let long = format!(
        "v2/resources/?filter=/Person[AccountName = '{}']",
        "x".repeat(2100)
    );
    assert_eq!(c.call("GET", &long, None).status, 404);
    let big = "x".repeat(70_000);
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "Person", "DisplayName": big})),
    );
    assert_eq!(a.status, 413);
}

#[test]
fn search_pages_as_lithnet_does() {
    let s = sim(SimOptions::default());
    let c = Client::new(&s);
    let people: Vec<Value> = (0..10)
        .map(|i| json!({"AccountName": format!("p{i:02}"), "EmployeeType": "Paged"}))
        .collect();
    s.seed("Person", people).unwrap();
    let first = c.call("GET", "v2/resources/?filter=/Person[EmployeeType = 'Paged']&pageSize=5&attributes=AccountName", None).json();
    assert_eq!(first["TotalCount"], json!(10));
    assert_eq!(first["HasMoreItems"], json!(true));
    assert_eq!(first["PreviousPage"], Value::Null);
    let r0 = &first["Results"][0];
    assert_eq!(r0["AccountName"], json!("p00"));
    assert!(r0.get("ObjectID").is_some() && r0.get("ObjectType").is_some());
    assert!(
        r0.get("EmployeeType").is_none(),
        "only the attributes asked for"
    );
    let second = c
        .call("GET", first["NextPage"].as_str().unwrap(), None)
        .json();
    assert_eq!(second["Results"].as_array().unwrap().len(), 5);
    // Lithnet offers one more page when the count is a multiple of the page size.
    let third = c
        .call("GET", second["NextPage"].as_str().unwrap(), None)
        .json();
    assert_eq!(third["Results"], json!([]));
    assert_eq!(third["NextPage"], Value::Null);
    let a = c.call(
        "GET",
        "v2/resources/?token=00000000-0000-0000-0000-000000000000&pageSize=5&index=5",
        None,
    );
    assert_eq!(
        (a.status, a.json()["error"]["message"].as_str().unwrap()),
        (400, "Invalid token")
    );
}

#[test]
fn approvals_and_requests() {
    let s = sim(SimOptions {
        approvals: vec![ApprovalRule {
            object_type: "Person".into(),
            operations: vec![Operation::Create],
            attribute: Some("EmployeeType".into()),
            value: Some("Contractor".into()),
        }],
        denials: vec![DenyRule {
            user: Some("svc-connector".into()),
            operation: Operation::Delete,
            object_type: "Person".into(),
            attribute: None,
        }],
        ..SimOptions::default()
    });
    let c = Client::new(&s);
    let a = c.call(
        "POST",
        "v2/resources/",
        Some(json!({"ObjectType": "Person", "AccountName": "carl", "EmployeeType": "Contractor"})),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let pending = a.json();
    assert_eq!(pending["Message"], json!("Authorization Pending"));
    let request = pending["RequestID"].as_str().unwrap().to_owned();
    let req = c
        .call("GET", &format!("v2/resources/{request}/"), None)
        .json();
    assert_eq!(req["RequestStatus"], json!("Authorizing"));
    let target = req["Target"].as_str().unwrap().to_owned();
    assert!(!s.exists(&target));

    let mut approver = Client::new(&s);
    approver.user = ("approver", "approver-password");
    let list = approver.call("GET", "v2/approvals/pending", None).json();
    let approval = list[0]["ObjectID"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["Request"], json!(request));
    let a = c.call(
        "POST",
        &format!("v2/approvals/{approval}/approve"),
        Some(json!({"Reason": "no"})),
    );
    assert_eq!(a.status, 403, "only an approver decides");
    let a = approver.call(
        "POST",
        &format!("v2/approvals/{approval}/Approve"),
        Some(json!({"Reason": "ok"})),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        s.exists(&target),
        "the approved create ran with the Request's Target as ObjectID"
    );
    let done = c
        .call(
            "GET",
            &format!(
                "v2/resources/?filter=/Request[Target = '{target}' and RequestStatus = 'Completed']"
            ),
            None,
        )
        .json();
    assert_eq!(done["TotalCount"], json!(1));
    assert!(done["Results"][0]["msidmCompletedTime"].as_str().is_some());

    let a = c.call("DELETE", &format!("v2/resources/{target}/"), None);
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (403, "permission-denied")
    );
}

#[test]
fn https_with_the_generated_ca_and_failures_on_demand() {
    let s = sim(SimOptions {
        tls: true,
        ..SimOptions::default()
    });
    assert!(s.base_url().starts_with("https://"));
    let c = Client::new(&s);
    let a = c.call(
        "GET",
        "v2/resources/?filter=/ObjectTypeDescription[Name = 'Person']",
        None,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["TotalCount"], json!(1));
    s.fail_next(1);
    assert_eq!(
        c.call("GET", "v2/resources/?filter=/Person", None).status,
        503
    );
    assert_eq!(
        c.call("GET", "v2/resources/?filter=/Person", None).status,
        200
    );
}
