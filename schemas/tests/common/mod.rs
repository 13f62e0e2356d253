//! Shared fixtures for the filter, PATCH and Entra tests: resource schemas and resources.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use schemas::schema::{AttrType, AttributeDef, Mutability, ResourceSchema};
use schemas::{Filter, Literal};
use serde_json::{Value, json};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ECMA: &str = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";

/// RFC 7643 User with the Enterprise extension.
pub fn user_schema() -> ResourceSchema {
    schemas::schema::user_resource_schema(true)
}

/// RFC 7643 Group.
pub fn group_schema() -> ResourceSchema {
    schemas::schema::group_resource_schema()
}

/// The ECMA2Host drop-in User: core User plus connector attributes of every type.
pub fn ecma_schema() -> ResourceSchema {
    let attr = |name: &str, t: AttrType| AttributeDef::new(name, t);
    let mut badge = attr("BadgeId", AttrType::String);
    badge.mutability = Mutability::Immutable;
    let mut created = attr("CreatedBy", AttrType::String);
    created.mutability = Mutability::ReadOnly;
    let mut dn = attr("-dn-", AttrType::String);
    dn.case_exact = true;
    let mut team = attr("Team", AttrType::String);
    team.required = true;
    schemas::schema::ecma2host_resource_schema(&[
        dn,
        attr("ContosoLogin", AttrType::String),
        attr("EmployeeId", AttrType::Integer),
        attr("Salary", AttrType::Decimal),
        attr("HireDate", AttrType::DateTime),
        attr("IsContractor", AttrType::Boolean),
        badge,
        created,
        team,
    ])
}

/// Barbara Jensen, after RFC 7643 §8.2, with the Enterprise extension.
pub fn bjensen() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "O'Malley", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "nickName": "",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\""
        },
        ENTERPRISE: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    })
}

/// A user of the ECMA2Host schema.
pub fn ecma_user() -> Value {
    json!({
        "schemas": [CORE_USER, ECMA],
        "id": "42",
        "userName": "jdoe",
        ECMA: {
            "-dn-": "CN=John Doe,OU=Staff,DC=contoso,DC=com",
            "ContosoLogin": "JDoe",
            "EmployeeId": 1234,
            "Salary": 5500.5,
            "HireDate": "2021-03-01T09:00:00+01:00",
            "IsContractor": false,
            "Team": "Blue"
        }
    })
}

/// A structural rendering of a filter, to assert precedence and grouping in one line:
/// `(and (eq userName "x") (pr title))`.
pub fn sexpr(f: &Filter) -> String {
    match f {
        Filter::Compare { path, op, value } => format!("({op} {path} {})", lit(value)),
        Filter::Present(p) => format!("(pr {p})"),
        Filter::And(a, b) => format!("(and {} {})", sexpr(a), sexpr(b)),
        Filter::Or(a, b) => format!("(or {} {})", sexpr(a), sexpr(b)),
        Filter::Not(a) => format!("(not {})", sexpr(a)),
        Filter::ValuePath { attr, filter } => format!("({attr}[] {})", sexpr(filter)),
    }
}

fn lit(l: &Literal) -> String {
    match l {
        Literal::String(s) => format!("{s:?}"),
        Literal::Number(n) => format!("#{n}"),
        Literal::Bool(b) => format!("{b}"),
        Literal::Null => "null".into(),
    }
}
