//! The connector space at 100k objects: a full import streamed in pages, then index lookups,
//! deep list pages and an unchanged re-import still give exact answers. Correctness at scale
//! only: timings belong to `benches/space.rs`.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used)]

mod space_common;

use connector_core::import::ImportItem;
use space_common::{anchors, fresh, up, user};

const TOTAL: u64 = 100_000;

fn page(p: u64, size: u64) -> Vec<ImportItem> {
    (p * size..((p + 1) * size).min(TOTAL))
        .map(|i| {
            let mail = format!("User{i}@Example.com");
            let mut o = user(
                &format!("{i:06}"),
                &format!("u{i}"),
                &[("mail", &mail), ("employeeId", &format!("E{i}"))],
            );
            o.dn = Some(format!("CN=U{i},DC=Example"));
            up(o)
        })
        .collect()
}

#[test]
fn a_100k_import_answers_lookups_and_deep_pages_exactly() {
    let (_dir, space) = fresh();
    let mut import = space.begin_full_import("User").unwrap();
    for p in 0..TOTAL.div_ceil(1000) {
        import.add_page(&page(p, 1000)).unwrap();
    }
    let stats = import.commit(None).unwrap();
    assert_eq!((stats.added, stats.removed), (TOTAL, 0));
    assert_eq!(space.count("User").unwrap(), TOTAL);

    for i in [0, 1, 54_321, 99_999] {
        let found = space
            .lookup("User", "mail", &format!("user{i}@example.COM"))
            .unwrap();
        assert_eq!(anchors(&found), [format!("{i:06}")]);
        assert_eq!(
            space
                .lookup("User", "employeeId", &format!("E{i}"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            space
                .lookup("User", "employeeId", &format!("e{i}"))
                .unwrap()
                .len(),
            0
        );
    }
    assert!(
        space
            .lookup("User", "mail", "user100000@example.com")
            .unwrap()
            .is_empty()
    );

    let deep = space.list("User", 99_900, 100).unwrap();
    let expected: Vec<String> = (99_900..TOTAL).map(|i| format!("{i:06}")).collect();
    assert_eq!(anchors(&deep), expected);
    assert_eq!(anchors(&space.list("User", 99_990, 100).unwrap()).len(), 10);
    assert!(space.list("User", TOTAL, 100).unwrap().is_empty());
    let mid = space.list("User", 50_000, 3).unwrap();
    assert_eq!(anchors(&mid), ["050000", "050001", "050002"]);

    // A second import with every 10th object gone and every 7th changed.
    let mut import = space.begin_full_import("User").unwrap();
    for p in 0..TOTAL.div_ceil(1000) {
        let items: Vec<ImportItem> = page(p, 1000)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !(p * 1000 + *k as u64).is_multiple_of(10))
            .map(|(k, item)| match item {
                ImportItem::Upsert(mut o) if (p * 1000 + k as u64).is_multiple_of(7) => {
                    o.set("title", vec!["changed".into()]);
                    ImportItem::Upsert(o)
                }
                other => other,
            })
            .collect();
        import.add_page(&items).unwrap();
    }
    let stats = import.commit(None).unwrap();
    let removed = TOTAL / 10;
    let changed = (0..TOTAL)
        .filter(|i| !i.is_multiple_of(10) && i.is_multiple_of(7))
        .count() as u64;
    assert_eq!(stats.removed, removed);
    assert_eq!(stats.updated, changed);
    assert_eq!(stats.unchanged, TOTAL - removed - changed);
    assert_eq!(stats.added, 0);
    assert_eq!(space.count("User").unwrap(), TOTAL - removed);
    assert!(
        space
            .lookup("User", "mail", "user50@example.com")
            .unwrap()
            .is_empty()
    );
    let seven = space.lookup("User", "mail", "user49@example.com").unwrap();
    assert_eq!(seven.first().map(|s| s.version), Some(2));
    let last = space.list("User", TOTAL - removed - 1, 100).unwrap();
    assert_eq!(anchors(&last), ["099999"]);
}
