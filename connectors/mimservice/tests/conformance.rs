//! The connector conformance suite v2 against the simulated Lithnet REST API, over real HTTP:
//! Person objects, `Manager` as the reference, and contractors whose creation waits for an
//! approval (so `check_pending_outcome` runs).

mod common;

connector_core::conformance_tests!(common::fixture);
