//! AD ranged retrieval against a fake AD LDS at the LDAP protocol level (`fake_ad`, since no AD
//! LDS can run here): a group of 3,200 members, of which the server returns 1,500 per search as
//! `member;range=…`, comes back whole from a full import and from a read by anchor, in the
//! server's order; the `objectGUID` anchor is the usual GUID string; and a server whose ranges do
//! not follow on gives an error, never a silently truncated member list.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fake_ad;

use std::path::Path;

use connector_core::conformance::soon;
use connector_core::{Anchor, Connector, ConnectorError, ConnectorObject, ImportItem};
use connector_ldap::{AnchorConfig, LdapConfig, LdapConnector, ObjectConfig};
use fake_ad::{FakeAd, FakeEntry};

const GROUPS: &str = "OU=Groups,O=Example";
const MEMBERS: usize = 3200;

/// `objectGUID` bytes whose GUID string is `33221100-5544-7766-8899-aabbccddeeff` (the first
/// three fields are little-endian).
const BIG_GUID: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn member(i: usize) -> String {
    format!("CN=User {i:04},OU=People,O=Example")
}

fn group(cn: &str, guid: [u8; 16], members: usize) -> FakeEntry {
    FakeEntry {
        dn: format!("CN={cn},{GROUPS}"),
        attrs: vec![
            (
                "objectClass".into(),
                vec![b"top".to_vec(), b"group".to_vec()],
            ),
            ("cn".into(), vec![cn.as_bytes().to_vec()]),
            ("objectGUID".into(), vec![guid.to_vec()]),
            (
                "member".into(),
                (0..members).map(|i| member(i).into_bytes()).collect(),
            ),
        ],
    }
}

fn start() -> (FakeAd, LdapConnector) {
    let ad = FakeAd::start(vec![
        group("Big", BIG_GUID, MEMBERS),
        group("Small", [7; 16], 3),
    ]);
    let mut config = LdapConfig::new(
        vec![ad.url()],
        vec![ObjectConfig::new("Group", &["group"], GROUPS, "cn")],
    )
    .with_simple_bind("CN=connector,OU=Service,O=Example", "pw");
    config.anchor = AnchorConfig::ObjectGuid;
    let c = LdapConnector::new(config, Path::new(".")).unwrap();
    (ad, c)
}

fn members(o: &ConnectorObject) -> Vec<String> {
    o.values("member").iter().map(|v| v.to_text()).collect()
}

fn import(c: &LdapConnector) -> Result<Vec<ConnectorObject>, ConnectorError> {
    let mut stream = c.full_import("Group", 10, soon())?;
    let mut out = Vec::new();
    while let Some(page) = stream.next_page(soon())? {
        for item in page {
            if let ImportItem::Upsert(o) = item {
                out.push(o);
            }
        }
    }
    Ok(out)
}

#[test]
fn a_full_import_reads_every_range_of_a_large_group() {
    let (ad, c) = start();
    let groups = import(&c).unwrap();
    assert_eq!(groups.len(), 2);
    let big = groups
        .iter()
        .find(|g| g.values("cn")[0].to_text() == "Big")
        .unwrap();
    let expected: Vec<String> = (0..MEMBERS).map(member).collect();
    assert_eq!(
        members(big),
        expected,
        "every member, in the server's order"
    );
    assert_eq!(
        big.anchor,
        Anchor::from("33221100-5544-7766-8899-aabbccddeeff"),
        "objectGUID as its GUID string"
    );
    let small = groups
        .iter()
        .find(|g| g.values("cn")[0].to_text() == "Small")
        .unwrap();
    assert_eq!(members(small).len(), 3);
    // 0-1499 came with the search; 1500-2999 and 3000-* were asked for, nothing else.
    assert_eq!(
        ad.range_requests(),
        vec!["member;range=1500-*", "member;range=3000-*"]
    );
}

#[test]
fn a_read_by_anchor_reads_every_range() {
    let (_ad, c) = start();
    let big = c
        .read(
            "Group",
            &Anchor::from("33221100-5544-7766-8899-aabbccddeeff"),
            soon(),
        )
        .unwrap()
        .expect("found by objectGUID");
    assert_eq!(members(&big).len(), MEMBERS);
    assert_eq!(members(&big)[MEMBERS - 1], member(MEMBERS - 1));
}

#[test]
fn ranges_that_do_not_follow_on_are_an_error_not_a_truncated_list() {
    let (ad, c) = start();
    ad.skip_a_range();
    let err = import(&c).unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    assert!(err.detail().contains("member;range=1500-*"), "{err:?}");
}
