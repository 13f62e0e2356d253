//! SCIM 2.0 protocol core (RFC 7643, RFC 7644) for connector-host. No I/O.
//!
//! (Crate overview to be completed: wire model, Entra quirk normalisation, limits.)

pub mod error;
pub mod schema;

pub mod filter;
pub mod path;
pub mod patch;
pub mod quirks;

pub mod discovery;
pub mod list;
pub mod projection;
pub mod resource;

pub use error::{ScimError, ScimType};
