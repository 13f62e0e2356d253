//! The connector conformance suite: the behaviour every connector must show against its real
//! target, whatever that target is.
//!
//! A connector crate provides a `setup` function that builds a [`Fixture`] on a fresh, real
//! target (a new table, a new LDAP subtree, …) and invokes [`conformance_tests!`](crate::conformance_tests)
//! in its tests; that expands to one `#[test]` per check below, so a failure names the exact rule
//! broken. The checks only use the [`Connector`] trait, so they hold every connector to the same
//! contract: what an add, update, replace, delete and import mean, which error each failure is,
//! and that imports page with bounded memory. Contract v2 adds reading one object by anchor,
//! references in the connector's own form, secrets that never come back, accepted-pending
//! outcomes (where a fixture says how to provoke one) and deadlines.
//!
//! This module is a test harness compiled into the library so sibling crates can use it; like a
//! test, it panics with a message when a check fails.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{
    Anchor, AttrValue, AttributeChange, Attributes, Change, Connector, ConnectorError,
    ConnectorObject, Deadline, ExportOutcome, ImportItem, ReferenceForm, Secret,
    import::collect_all,
};

/// The budget the suite gives each call: generous, since targets here are real servers.
pub const BUDGET: Duration = Duration::from_secs(60);

/// A deadline one budget from now.
pub fn soon() -> Deadline {
    Deadline::after(BUDGET)
}

/// Reads secrets back from the target, to check an export wrote them (e.g. a column read
/// directly, or a bind as the user).
pub type SecretProbe = Box<dyn Fn(&Anchor) -> Option<String> + Send>;

/// A connector on a fresh target, plus what the suite needs to know to exercise it.
pub struct Fixture {
    pub connector: Box<dyn Connector>,
    /// The object type the checks create objects of.
    pub object_type: String,
    /// Attributes of a valid new object number `i`: unique where the target needs uniqueness,
    /// including the anchor attribute unless the target assigns anchors.
    pub sample: Box<dyn Fn(usize) -> Attributes + Send + Sync>,
    /// A single-valued string attribute that can be changed and cleared.
    pub mutable_attribute: String,
    /// A multi-valued string attribute, if the object type has one.
    pub multi_valued_attribute: Option<String>,
    /// A reference attribute of the object type that may refer to another object of the same
    /// type (a manager), if it has one.
    pub reference_attribute: Option<String>,
    /// An attribute of kind [`crate::AttrKind::Secret`] (a password), if the object type has
    /// one, and how to read it back at the target.
    pub secret: Option<(String, SecretProbe)>,
    /// Attributes of a valid new object number `i` that the target accepts but queues (an
    /// approval), for a connector that can answer [`crate::ExportStatus::Pending`].
    pub pending_sample: Option<Box<dyn Fn(usize) -> Attributes + Send + Sync>>,
    /// Anything that must live as long as the fixture (temp dirs, database handles).
    pub keep_alive: Box<dyn std::any::Any + Send>,
}

impl Fixture {
    /// A fixture with the required parts; the optional ones are `None` until set.
    pub fn new(
        connector: Box<dyn Connector>,
        object_type: impl Into<String>,
        sample: impl Fn(usize) -> Attributes + Send + Sync + 'static,
        mutable_attribute: impl Into<String>,
        keep_alive: Box<dyn std::any::Any + Send>,
    ) -> Self {
        Fixture {
            connector,
            object_type: object_type.into(),
            sample: Box::new(sample),
            mutable_attribute: mutable_attribute.into(),
            multi_valued_attribute: None,
            reference_attribute: None,
            secret: None,
            pending_sample: None,
            keep_alive,
        }
    }

    fn anchor_attribute(&self) -> String {
        let schema = self.connector.schema(soon()).expect("schema");
        schema
            .object_type(&self.object_type)
            .unwrap_or_else(|| panic!("schema has no object type {}", self.object_type))
            .anchor_attribute
            .clone()
    }

    /// Adds sample object `i` and returns its anchor.
    pub fn add(&self, i: usize) -> Anchor {
        self.add_attributes((self.sample)(i))
    }

    /// Adds an object with these attributes and returns its anchor.
    pub fn add_attributes(&self, attributes: Attributes) -> Anchor {
        let outcome = self
            .try_add(attributes, soon())
            .unwrap_or_else(|e| panic!("add failed: {e}"));
        assert!(
            !outcome.is_pending(),
            "a plain add must be applied, not queued"
        );
        outcome.anchor
    }

    /// The change that adds an object with these attributes (anchor taken from them unless
    /// the target assigns it).
    pub fn add_change(&self, attributes: Attributes) -> Change {
        let anchor = if self.connector.capabilities().anchor_assigned_by_target {
            None
        } else {
            let name = self.anchor_attribute();
            let value = attributes
                .get(&name)
                .and_then(|v| v.first())
                .unwrap_or_else(|| panic!("sample lacks the anchor attribute {name}"));
            Some(Anchor(value.to_text()))
        };
        Change::Add {
            object_type: self.object_type.clone(),
            anchor,
            dn: None,
            attributes,
        }
    }

    /// Exports an add of these attributes by `deadline`; checks the outcome's anchor.
    pub fn try_add(
        &self,
        attributes: Attributes,
        deadline: Deadline,
    ) -> Result<ExportOutcome, ConnectorError> {
        let change = self.add_change(attributes);
        let outcome = self.connector.export(&change, deadline)?;
        if let Some(a) = change.anchor() {
            assert_eq!(
                &outcome.anchor, a,
                "the outcome must carry the anchor of the add"
            );
        }
        Ok(outcome)
    }

    /// Reads one object by anchor.
    pub fn read(&self, anchor: &Anchor) -> Option<ConnectorObject> {
        self.connector
            .read(&self.object_type, anchor, soon())
            .unwrap_or_else(|e| panic!("read {anchor}: {e}"))
    }

    /// Exports an update of one anchor.
    pub fn update(
        &self,
        anchor: &Anchor,
        changes: Vec<AttributeChange>,
    ) -> Result<crate::ExportOutcome, ConnectorError> {
        self.connector.export(
            &Change::Update {
                object_type: self.object_type.clone(),
                anchor: anchor.clone(),
                new_dn: None,
                changes,
            },
            soon(),
        )
    }

    /// Exports a delete.
    pub fn delete(&self, anchor: &Anchor) -> Result<crate::ExportOutcome, ConnectorError> {
        self.connector.export(
            &Change::Delete {
                object_type: self.object_type.clone(),
                anchor: anchor.clone(),
            },
            soon(),
        )
    }

    /// Runs a full import and returns the objects by anchor, checking page sizes on the way.
    pub fn import_all(&self, page_size: usize) -> BTreeMap<Anchor, ConnectorObject> {
        let mut stream = self
            .connector
            .full_import(&self.object_type, page_size, soon())
            .unwrap_or_else(|e| panic!("full import failed to start: {e}"));
        let mut out = BTreeMap::new();
        while let Some(page) = stream
            .next_page(soon())
            .unwrap_or_else(|e| panic!("import page: {e}"))
        {
            assert!(
                page.len() <= page_size,
                "a page of {} items exceeds the page size {page_size}",
                page.len()
            );
            for item in page {
                match item {
                    ImportItem::Upsert(obj) => {
                        assert_no_secrets(&obj);
                        let anchor = obj.anchor.clone();
                        assert!(
                            out.insert(anchor.clone(), obj).is_none(),
                            "anchor {anchor} imported twice in one full import"
                        );
                    }
                    ImportItem::Delete { anchor, .. } => {
                        panic!("a full import must not report deletes (got {anchor})")
                    }
                }
            }
        }
        out
    }
}

fn text(values: &[AttrValue]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(AttrValue::to_text).collect();
    v.sort();
    v
}

fn assert_has_attributes(obj: &ConnectorObject, expected: &Attributes) {
    for (name, values) in expected {
        assert_eq!(
            text(obj.values(name)),
            text(values),
            "attribute {name} of {} after import",
            obj.anchor
        );
    }
}

fn assert_no_secrets(obj: &ConnectorObject) {
    for (name, values) in &obj.attributes {
        assert!(
            !values.iter().any(AttrValue::is_secret),
            "{} came back with a secret in {name}: a connector never returns secrets",
            obj.anchor
        );
    }
}

fn s(v: &str) -> Vec<AttrValue> {
    vec![AttrValue::String(v.to_owned())]
}

/// The connection test succeeds and says something.
pub fn check_test_connection(f: &Fixture) {
    let what = f
        .connector
        .test_connection(soon())
        .expect("test_connection");
    assert!(
        !what.trim().is_empty(),
        "test_connection must describe the target"
    );
}

/// The schema lists the fixture's object type, its anchor attribute and the attributes used.
pub fn check_schema(f: &Fixture) {
    let schema = f.connector.schema(soon()).expect("schema");
    let ot = schema
        .object_type(&f.object_type)
        .unwrap_or_else(|| panic!("no object type {}", f.object_type));
    assert!(
        ot.attribute(&ot.anchor_attribute).is_some(),
        "anchor attribute {} is not in the attribute list",
        ot.anchor_attribute
    );
    let sample = (f.sample)(0);
    for name in sample.keys() {
        assert!(
            ot.attribute(name).is_some(),
            "sample attribute {name} is not in the schema"
        );
    }
    assert!(ot.attribute(&f.mutable_attribute).is_some());
}

/// An add is visible to the next full import with exactly the values exported.
pub fn check_add_then_import(f: &Fixture) {
    let mut anchors = Vec::new();
    for i in 1..=3 {
        anchors.push((f.add(i), (f.sample)(i)));
    }
    let imported = f.import_all(100);
    for (anchor, attrs) in &anchors {
        let obj = imported
            .get(anchor)
            .unwrap_or_else(|| panic!("added object {anchor} missing from import"));
        assert_eq!(obj.object_type.to_lowercase(), f.object_type.to_lowercase());
        assert_has_attributes(obj, attrs);
    }
}

/// Text outside ASCII survives an export and an import unchanged.
pub fn check_unicode_round_trip(f: &Fixture) {
    let mut attrs = (f.sample)(10);
    let value = "Jürgen Ößmann-日本語-😀";
    attrs.insert(f.mutable_attribute.clone(), s(value));
    let anchor = f.add_attributes(attrs);
    let imported = f.import_all(100);
    assert_eq!(
        text(imported[&anchor].values(&f.mutable_attribute)),
        vec![value.to_owned()]
    );
}

/// Adding an object whose anchor exists is a conflict, and changes nothing.
pub fn check_duplicate_add_is_conflict(f: &Fixture) {
    if f.connector.capabilities().anchor_assigned_by_target {
        return;
    }
    let anchor = f.add(20);
    let mut again = (f.sample)(20);
    again.insert(f.mutable_attribute.clone(), s("second"));
    let err = f
        .connector
        .export(
            &Change::Add {
                object_type: f.object_type.clone(),
                anchor: Some(anchor.clone()),
                dn: None,
                attributes: again,
            },
            soon(),
        )
        .expect_err("duplicate add must fail");
    assert!(
        matches!(err, ConnectorError::Conflict { .. }),
        "expected Conflict, got {err:?}"
    );
    let imported = f.import_all(100);
    assert_has_attributes(&imported[&anchor], &(f.sample)(20));
}

/// Replace and clear of a single-valued attribute are visible to the next import.
pub fn check_update_replace_and_clear(f: &Fixture) {
    let anchor = f.add(30);
    f.update(
        &anchor,
        vec![AttributeChange::Replace {
            name: f.mutable_attribute.clone(),
            values: s("changed"),
        }],
    )
    .expect("replace");
    let imported = f.import_all(100);
    assert_eq!(
        text(imported[&anchor].values(&f.mutable_attribute)),
        vec!["changed"]
    );

    f.update(
        &anchor,
        vec![AttributeChange::Clear {
            name: f.mutable_attribute.clone(),
        }],
    )
    .expect("clear");
    let imported = f.import_all(100);
    assert!(
        imported[&anchor].values(&f.mutable_attribute).is_empty(),
        "cleared attribute still has values"
    );
}

/// A whole-object replace sets exactly the given attributes.
pub fn check_replace_object(f: &Fixture) {
    let anchor = f.add(40);
    let mut attrs = (f.sample)(40);
    attrs.insert(f.mutable_attribute.clone(), s("replaced"));
    f.connector
        .export(
            &Change::Replace {
                object_type: f.object_type.clone(),
                anchor: anchor.clone(),
                dn: None,
                attributes: attrs.clone(),
            },
            soon(),
        )
        .expect("replace object");
    let imported = f.import_all(100);
    assert_has_attributes(&imported[&anchor], &attrs);
}

/// Changing or deleting an object that does not exist is NotFound.
pub fn check_missing_object_is_not_found(f: &Fixture) {
    let ghost = Anchor("no-such-anchor-4711".into());
    let err = f
        .update(
            &ghost,
            vec![AttributeChange::Replace {
                name: f.mutable_attribute.clone(),
                values: s("x"),
            }],
        )
        .expect_err("update of a missing object must fail");
    assert!(
        matches!(err, ConnectorError::NotFound { .. }),
        "update: {err:?}"
    );
    let err = f
        .delete(&ghost)
        .expect_err("delete of a missing object must fail");
    assert!(
        matches!(err, ConnectorError::NotFound { .. }),
        "delete: {err:?}"
    );
}

/// A delete removes the object from the next import and from nothing else.
pub fn check_delete(f: &Fixture) {
    let gone = f.add(50);
    let kept = f.add(51);
    f.delete(&gone).expect("delete");
    let imported = f.import_all(100);
    assert!(
        !imported.contains_key(&gone),
        "deleted object still imported"
    );
    assert!(
        imported.contains_key(&kept),
        "delete removed another object"
    );
}

/// Exporting an attribute the schema does not have is rejected, not silently dropped.
pub fn check_unknown_attribute_rejected(f: &Fixture) {
    let mut attrs = (f.sample)(60);
    attrs.insert("noSuchAttribute4711".into(), s("x"));
    let err = f
        .try_add(attrs, soon())
        .expect_err("unknown attribute must be rejected");
    assert!(
        matches!(
            err,
            ConnectorError::Rejected { .. } | ConnectorError::Misconfigured { .. }
        ),
        "expected Rejected, got {err:?}"
    );
}

/// A full import pages: no page exceeds the page size and every object comes exactly once.
pub fn check_full_import_pages(f: &Fixture) {
    let mut anchors = Vec::new();
    for i in 100..117 {
        anchors.push(f.add(i));
    }
    for page_size in [1, 5, 16, 17, 1000] {
        let imported = f.import_all(page_size);
        for a in &anchors {
            assert!(
                imported.contains_key(a),
                "page size {page_size}: {a} missing"
            );
        }
    }
}

/// Multi-valued attributes: values can be added and removed one by one.
pub fn check_multi_valued(f: &Fixture) {
    let Some(mv) = f.multi_valued_attribute.clone() else {
        return;
    };
    let anchor = f.add(70);
    f.update(
        &anchor,
        vec![AttributeChange::Replace {
            name: mv.clone(),
            values: vec!["a".into(), "b".into()],
        }],
    )
    .expect("replace multi-valued");
    f.update(
        &anchor,
        vec![
            AttributeChange::Add {
                name: mv.clone(),
                values: vec!["c".into()],
            },
            AttributeChange::Remove {
                name: mv.clone(),
                values: vec!["a".into()],
            },
        ],
    )
    .expect("add/remove values");
    let imported = f.import_all(100);
    assert_eq!(text(imported[&anchor].values(&mv)), vec!["b", "c"]);
}

/// Delta import, where supported: after a full import's watermark, adds, changes and deletes
/// made through the connector come back as upserts and deletes.
pub fn check_delta_import(f: &Fixture) {
    if !f.connector.capabilities().delta_import {
        return;
    }
    let changed = f.add(80);
    let deleted = f.add(81);
    let mut stream = f
        .connector
        .full_import(&f.object_type, 100, soon())
        .expect("full import");
    collect_all(stream.as_mut(), BUDGET).expect("full import pages");
    let watermark = stream
        .watermark()
        .expect("a delta-capable connector gives a watermark");
    drop(stream);

    let added = f.add(82);
    f.update(
        &changed,
        vec![AttributeChange::Replace {
            name: f.mutable_attribute.clone(),
            values: s("delta"),
        }],
    )
    .expect("update");
    f.delete(&deleted).expect("delete");

    let mut stream = f
        .connector
        .delta_import(&f.object_type, &watermark, 100, soon())
        .expect("delta import");
    let items = collect_all(stream.as_mut(), BUDGET).expect("delta pages");
    let mut upserts = BTreeMap::new();
    let mut deletes = Vec::new();
    for item in items {
        match item {
            ImportItem::Upsert(o) => {
                assert_no_secrets(&o);
                upserts.insert(o.anchor.clone(), o);
            }
            ImportItem::Delete { anchor, .. } => deletes.push(anchor),
        }
    }
    assert!(upserts.contains_key(&added), "delta missed the add");
    assert_eq!(
        text(
            upserts
                .get(&changed)
                .expect("delta missed the update")
                .values(&f.mutable_attribute)
        ),
        vec!["delta"]
    );
    assert!(deletes.contains(&deleted), "delta missed the delete");
}

/// One object can be read by anchor, with what was exported; a missing one reads as `None`.
pub fn check_read_by_anchor(f: &Fixture) {
    let anchor = f.add(90);
    let obj = f
        .read(&anchor)
        .unwrap_or_else(|| panic!("read of the added object {anchor} found nothing"));
    assert_eq!(obj.anchor, anchor);
    assert_eq!(obj.object_type.to_lowercase(), f.object_type.to_lowercase());
    assert_has_attributes(&obj, &(f.sample)(90));
    assert_no_secrets(&obj);
    assert_eq!(
        f.read(&Anchor("no-such-anchor-4711".into())),
        None,
        "a missing object reads as None"
    );
}

/// A call whose deadline has passed is a timeout and writes nothing.
pub fn check_passed_deadline_writes_nothing(f: &Fixture) {
    let attrs = (f.sample)(91);
    let err = f
        .try_add(attrs.clone(), Deadline::passed())
        .expect_err("an export whose deadline has passed must not succeed");
    assert!(
        matches!(err, ConnectorError::Timeout { .. }),
        "expected Timeout, got {err:?}"
    );
    let anchor_attribute = f.anchor_attribute();
    let written = f.import_all(1000).into_values().any(|o| {
        attrs
            .iter()
            .all(|(name, values)| text(o.values(name)) == text(values))
            && (f.connector.capabilities().anchor_assigned_by_target
                || o.anchor.as_str() == attrs[&anchor_attribute][0].to_text())
    });
    assert!(!written, "an export that timed out wrote the object");
    match f
        .connector
        .full_import(&f.object_type, 10, Deadline::passed())
    {
        Err(e) => assert!(matches!(e, ConnectorError::Timeout { .. }), "{e:?}"),
        Ok(mut stream) => {
            let err = stream
                .next_page(Deadline::passed())
                .expect_err("an import page whose deadline has passed must not be read");
            assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
        }
    }
}

/// References name the referenced object in the connector's form (anchor or DN), and come
/// back from an import in that form.
pub fn check_references(f: &Fixture) {
    let Some(attr) = f.reference_attribute.clone() else {
        return;
    };
    let boss = f.add(92);
    let form = f.connector.capabilities().reference_form;
    let name = match form {
        ReferenceForm::Anchor => boss.to_string(),
        ReferenceForm::Dn => f
            .read(&boss)
            .and_then(|o| o.dn)
            .expect("a connector whose references are DNs gives its objects a DN"),
    };
    let mut attrs = (f.sample)(93);
    attrs.insert(attr.clone(), vec![AttrValue::Reference(name.clone())]);
    let report = f.add_attributes(attrs);
    let imported = f.import_all(100);
    let values = imported[&report].values(&attr);
    assert_eq!(values.len(), 1, "{attr} after import: {values:?}");
    match &values[0] {
        AttrValue::Reference(r) => assert!(
            r.eq_ignore_ascii_case(&name),
            "{attr} came back as {r:?}, expected {name:?} ({form:?})"
        ),
        other => panic!("{attr} came back as {other:?}, not a reference"),
    }
    f.update(&report, vec![AttributeChange::Clear { name: attr.clone() }])
        .expect("clear a reference");
    assert!(f.import_all(100)[&report].values(&attr).is_empty());
}

/// A secret is written to the target on add and on update, and never comes back from an
/// import or a read.
pub fn check_secrets_are_write_only(f: &Fixture) {
    let Some((attr, probe)) = &f.secret else {
        return;
    };
    let mut attrs = (f.sample)(94);
    attrs.insert(
        attr.clone(),
        vec![AttrValue::Secret(Secret::new("Initial#Passw0rd"))],
    );
    let anchor = f.add_attributes(attrs);
    assert_eq!(
        probe(&anchor).as_deref(),
        Some("Initial#Passw0rd"),
        "the add did not write the secret"
    );
    f.update(
        &anchor,
        vec![AttributeChange::Replace {
            name: attr.clone(),
            values: vec![AttrValue::Secret(Secret::new("Changed#Passw0rd"))],
        }],
    )
    .expect("update a secret");
    assert_eq!(
        probe(&anchor).as_deref(),
        Some("Changed#Passw0rd"),
        "the update did not write the secret"
    );
    let mut replaced = (f.sample)(94);
    replaced.insert(f.mutable_attribute.clone(), s("replaced"));
    f.connector
        .export(
            &Change::Replace {
                object_type: f.object_type.clone(),
                anchor: anchor.clone(),
                dn: None,
                attributes: replaced,
            },
            soon(),
        )
        .expect("replace without the secret");
    assert_eq!(
        probe(&anchor).as_deref(),
        Some("Changed#Passw0rd"),
        "a replace that left the secret out changed it"
    );
    let imported = f.import_all(100);
    let obj = &imported[&anchor];
    assert!(
        obj.values(attr).is_empty(),
        "the import returned the secret attribute {attr}"
    );
    let read = f.read(&anchor).expect("read");
    assert!(read.values(attr).is_empty(), "read returned {attr}");
}

/// Where the target can queue a change, the outcome says so, and the queued object is not
/// reported as present until the target applies it.
pub fn check_pending_outcome(f: &Fixture) {
    let Some(sample) = &f.pending_sample else {
        return;
    };
    let outcome = f
        .try_add(sample(95), soon())
        .unwrap_or_else(|e| panic!("a queued add failed: {e}"));
    assert!(
        outcome.is_pending(),
        "the target queued the add but the outcome is {:?}",
        outcome.status
    );
    if !f.connector.capabilities().anchor_assigned_by_target {
        assert!(
            !f.import_all(1000).contains_key(&outcome.anchor),
            "a queued add is already visible to an import"
        );
    }
}

/// Expands to one `#[test]` per conformance check, each on a fresh fixture from `$setup`.
///
/// ```text
/// connector_core::conformance_tests!(crate::fixtures::sqlite_fixture);
/// // where the target may be missing on a machine: `fn setup() -> Option<Fixture>`
/// connector_core::conformance_tests!(optional crate::fixtures::ds389_fixture);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($setup:path) => {
        $crate::conformance_tests!(@list each $setup);
    };
    // A setup that returns `Option<Fixture>`: `None` when the target cannot run on this
    // machine (the setup prints a "NOT RUN" line saying why; it must fail instead where the
    // target is required).
    (optional $setup:path) => {
        $crate::conformance_tests!(@list each_optional $setup);
    };
    (@list $mode:ident $setup:path) => {
        $crate::conformance_tests!(@$mode $setup;
            check_test_connection, check_schema, check_add_then_import, check_unicode_round_trip,
            check_duplicate_add_is_conflict, check_update_replace_and_clear, check_replace_object,
            check_missing_object_is_not_found, check_delete, check_unknown_attribute_rejected,
            check_full_import_pages, check_multi_valued, check_delta_import, check_read_by_anchor,
            check_passed_deadline_writes_nothing, check_references, check_secrets_are_write_only,
            check_pending_outcome);
    };
    (@each $setup:path; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                let fixture = $setup();
                $crate::conformance::$check(&fixture);
            }
        )*
    };
    (@each_optional $setup:path; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                if let Some(fixture) = $setup() {
                    $crate::conformance::$check(&fixture);
                }
            }
        )*
    };
}
