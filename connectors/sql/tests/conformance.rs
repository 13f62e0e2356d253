//! The connector conformance suite against every database the connector supports: the built-in
//! SQLite, and over ODBC SQLite, PostgreSQL and MariaDB; each once with full imports only and
//! once with delta imports from a trigger-fed history table (`check_delta_import` runs then).

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

mod builtin_sqlite_delta {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::delta_fixture(super::common::Target::Builtin)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_sqlite_delta {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::delta_fixture(super::common::Target::SqliteOdbc)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_postgres_delta {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::delta_fixture(super::common::Target::Postgres)
    }
    connector_core::conformance_tests!(setup);
}

#[cfg(feature = "odbc")]
mod odbc_mariadb_delta {
    fn setup() -> connector_core::conformance::Fixture {
        super::common::delta_fixture(super::common::Target::MariaDb)
    }
    connector_core::conformance_tests!(setup);
}
