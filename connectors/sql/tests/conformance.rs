//! The connector conformance suite against every database the connector supports: the built-in
//! SQLite, and over ODBC SQLite, PostgreSQL and MariaDB.

mod common;

mod builtin_sqlite {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture(super::common::Target::Builtin)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_sqlite {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture(super::common::Target::SqliteOdbc)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_postgres {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture(super::common::Target::Postgres)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_mariadb {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::fixture(super::common::Target::MariaDb)
    }
    connector_core::conformance_tests!(setup);
}
