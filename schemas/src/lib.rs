//! SCIM 2.0 protocol core (RFC 7643, RFC 7644) for connector-host. No I/O.
//!
//! This crate is the only place that knows the SCIM wire format. The host parses requests and
//! renders responses with it; connectors see its filter AST (to push filters down to SQL or
//! LDAP) but never HTTP. It holds no state and does no I/O, so every rule is table-tested here.
//!
//! # Wire model
//!
//! A resource is a `serde_json::Value::Object` in RFC 7643 wire form, values kept exactly as
//! the client sent them: core attributes at the top level, each extension's attributes nested
//! under its schema URN (`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
//! {"manager": {"value": "42"}}`), plus `schemas`, `id`, `externalId` and `meta`. Attribute
//! names are case-insensitive (RFC 7643 §2.1): every lookup here ignores case, and
//! [`resource::canonicalize_names`] rewrites names to the schema's spelling where exact names
//! are needed. [`resource::Resource`] round-trips any body; [`resource::User`],
//! [`resource::EnterpriseUser`] and [`resource::Group`] are typed views over the same JSON.
//!
//! # Modules
//!
//! - [`error`]: [`ScimError`], the one error type, carrying HTTP status and `scimType`.
//! - [`schema`]: attribute characteristics ([`schema::ResourceSchema`]), the RFC 7643 §8.7.1
//!   core schemas (User, Group, Enterprise User) and the ECMA2Host drop-in extension built from
//!   a connector's exposed attributes.
//! - [`resource`]: resources, typed views, schema URN constants, bulk and search bodies.
//! - [`list`]: the list response every query returns, `startIndex`/`count` paging and
//!   `sortBy`/`sortOrder` sorting.
//! - [`projection`]: `attributes`/`excludedAttributes` together with the `returned`
//!   characteristic (`password` never leaves, `excludedAttributes=members` works).
//! - [`discovery`]: the `/Schemas`, `/ResourceTypes` and `/ServiceProviderConfig` documents,
//!   free of JSON nulls as Entra requires.
//! - [`filter`], [`path`], [`patch`]: filter AST, parser and evaluator; attribute and PATCH
//!   paths; PATCH application.
//! - [`quirks`]: normalisation of what Microsoft Entra really sends (string booleans, `op` in
//!   any case, no-path PATCH with dotted and URN keys, member removal by value, manager as a
//!   string or an array, extension URNs missing from `schemas`). The full list of accepted
//!   deviations, with sources, is in that module's documentation.
//!
//! # Entra behaviours handled outside `quirks`
//!
//! - The probe (`filter=userName eq "<random GUID>"`) gets an empty [`list::ListResponse`]:
//!   `totalResults: 0` and `Resources: []`, never a 404.
//! - `excludedAttributes=members` on group reads ([`projection`]).
//! - Paging for account discovery: `startIndex` below 1 is 1, negative `count` is 0, `count`
//!   above the server maximum is capped, `totalResults` is always the true total ([`list`]).
//! - The typed views accept `"True"`/`"False"` for booleans and a manager given as a bare id or
//!   a one-element array, even before normalisation.
//!
//! # Limits
//!
//! - Sorting is by one attribute, in memory, over resources the caller already holds; the host
//!   sorts large result sets in its store instead and uses [`list::sort_key`] for the order.
//! - Projection paths are plain attribute paths (`attr`, `attr.sub`, URN-qualified); value
//!   filters such as `emails[type eq "work"]` are rejected in `attributes`.
//! - Typed views parse timestamps lazily (`meta.created` stays a string until asked for).
//! - The core schemas follow RFC 7643 §8.7.1 as published, errata not applied.

pub mod error;
pub mod schema;

pub mod filter;
pub mod patch;
pub mod path;
pub mod quirks;

pub mod discovery;
pub mod list;
pub mod projection;
pub mod resource;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompareOp, Filter, Literal};
pub use list::{ListResponse, Paging, Sort, SortOrder};
pub use patch::{PatchOpKind, PatchOperation, PatchRequest, apply_patch};
pub use path::PatchPath;
pub use projection::Projection;
pub use quirks::normalize_resource;
pub use resource::Resource;
pub use schema::{AttributeDef, ResourceSchema, SchemaDef};
