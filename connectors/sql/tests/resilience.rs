//! The ODBC pool survives the server dropping its connections (a restart, a failover, an
//! administrator killing sessions): the next calls reconnect instead of failing forever.
#![cfg(feature = "odbc")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use connector_core::{Anchor, AttrValue, Attributes, Change, Connector, ConnectorError};
use connector_sql::{ObjectConfig, SqlConfig, SqlConnector};

fn add(c: &SqlConnector, anchor: &str) -> Result<connector_core::ExportOutcome, ConnectorError> {
    let mut attributes = Attributes::new();
    attributes.insert("name".into(), vec![AttrValue::String(anchor.to_owned())]);
    c.export(&Change::Add {
        object_type: "User".into(),
        anchor: Some(Anchor(anchor.into())),
        dn: None,
        attributes,
    })
}

#[test]
fn postgres_sessions_killed_by_the_server_are_replaced() {
    let db = testkit::fresh_postgres();
    db.execute(r#"CREATE TABLE "Users" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(64))"#);
    let config = SqlConfig::new(
        db.odbc_connection_string.clone(),
        vec![ObjectConfig::new("User", "Users", "id")],
    );
    let c = SqlConnector::new(config, std::path::Path::new(".")).unwrap();
    add(&c, "a").unwrap();

    let admin = testkit::DbKind::Postgres
        .server_connection_string()
        .unwrap();
    testkit::execute(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    );

    // The pooled connection is dead. At most one call may notice (as Unavailable, which the
    // host retries); it must not be put back, so the call after it reconnects.
    match add(&c, "b") {
        Ok(_) => {}
        Err(ConnectorError::Unavailable { .. }) => add(&c, "b").map(drop).unwrap(),
        Err(other) => panic!("a dropped connection must be Unavailable, got {other:?}"),
    }
    add(&c, "c").unwrap();
    let rows = db.query_strings(r#"SELECT "id" FROM "Users" ORDER BY "id""#);
    let ids: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
}

#[test]
fn an_unreachable_server_is_unavailable_and_a_bad_driver_misconfigured() {
    let check = |conn: &str, want_unavailable: bool| {
        let config = SqlConfig::new(conn, vec![ObjectConfig::new("User", "Users", "id")]);
        let c = SqlConnector::new(config, std::path::Path::new(".")).unwrap();
        let err = c.schema().unwrap_err();
        assert_eq!(
            matches!(err, ConnectorError::Unavailable { .. }),
            want_unavailable,
            "{conn}: {err:?}"
        );
        assert!(
            !err.detail().contains("s3cret"),
            "the password leaked: {err}"
        );
    };
    // Port 1 on loopback: nothing listens there.
    check(
        "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=x;Uid=u;Pwd=s3cret;",
        true,
    );
    check(
        "Driver={No Such Driver 4711};Server=127.0.0.1;Pwd=s3cret;",
        false,
    );
}
