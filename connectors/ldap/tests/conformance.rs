//! The connector conformance suite (contract v2) against a private OpenLDAP slapd: once with
//! passwords written as the `userPassword` attribute, once through the Password Modify extended
//! operation (the server hashes them), once with whole-object replace exports.

mod common;

mod attribute_passwords {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture()
    }
    connector_core::conformance_tests!(setup);
}

mod password_modify {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture_with(|c| {
            c.password_mode = connector_ldap::PasswordMode::PasswordModify
        })
    }
    connector_core::conformance_tests!(setup);
}

mod replace_style {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture_with(|c| c.export_style = connector_ldap::ExportStyleName::Replace)
    }
    connector_core::conformance_tests!(setup);
}
