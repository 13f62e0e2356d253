//! The plug-in boundary of connector-host: contract v2.
//!
//! Everything a connector is and does, and nothing the host does with it: the object model
//! (objects, anchors, DNs, typed attribute values, references, secrets), the schema and
//! capabilities a connector declares, the changes the host exports and the outcomes it gets
//! back (applied or accepted-pending), streaming full and delta imports with bounded memory,
//! deadlines, and [`ConnectorError`], whose variants are named for the host's reaction. It is
//! modelled on what MIM's ECMA2 framework and ConnId proved: see
//! `shared/reference/connectors.md` §3.
//!
//! # The contract, in brief
//! - **Objects** have an object type, an **anchor** (opaque, unique, immutable, chosen by the
//!   connector), an optional DN and attributes. The host derives the SCIM id from the anchor,
//!   so the anchor must never change for the same object (across imports, renames, restarts).
//! - **References** ([`AttrValue::Reference`]) name the referenced object as the target does,
//!   in the connector's [`ReferenceForm`]: by anchor or by DN. The host translates SCIM ids to
//!   that form before a change reaches the connector and back when it answers, through the
//!   connector space: a connector never sees a SCIM id.
//! - **Secrets** ([`AttrValue::Secret`], attributes of kind [`AttrKind::Secret`]) travel only
//!   inside a [`Change`] to the connector that exports them. A connector never returns one
//!   from an import or [`Connector::read`]; the host never stores, logs or answers one.
//! - **Outcomes**: an export succeeds ([`ExportStatus::Applied`]), is accepted but queued
//!   ([`ExportStatus::Pending`], e.g. a MIM approval; a later import confirms it), or fails with
//!   a [`ConnectorError`] that says whether to retry. A failed export leaves nothing of the
//!   change at the target.
//! - **Deadlines**: every call carries a [`Deadline`]. A connector bounds interruptible work by
//!   it and returns [`ConnectorError::Timeout`] when it passes; work whose deadline has
//!   already passed is not started.
//! - **Capabilities** ([`Capabilities`]) hold only what the host acts on.
//!
//! **API boundary.** This crate depends on no workspace crate and no HTTP, async or driver
//! crate. Each connector (`connectors/sql`, LDAP, script, MIM Service) is a sibling crate that
//! depends on this one plus its driver; the host holds connectors as `Arc<dyn Connector>`, finds
//! them through its registry, and never sees a driver.
//!
//! **Synchronous by design.** Connector calls block: the drivers we build on (ODBC, SQLite,
//! child processes, and LDAP and HTTP clients driven to completion) are blocking or are easy to
//! drive so, a synchronous trait is simpler to write, test and reason about than an async one
//! (no runtime in the contract, no `Send` futures across FFI), and the host runs each call on
//! its blocking pool. Interruption is the connector's business, through the [`Deadline`].
//!
//! **Conformance.** [`conformance`] is the suite every connector runs against its real target.

pub mod capability;
pub mod change;
pub mod conformance;
pub mod deadline;
pub mod error;
pub mod import;
pub mod object;
pub mod schema;
pub mod secret;
pub mod settings;

pub use capability::{Capabilities, ExportStyle, ReferenceForm};
pub use change::{AttributeChange, Change, ExportOutcome, ExportStatus};
pub use deadline::Deadline;
pub use error::ConnectorError;
pub use import::{ImportItem, ImportStream, Watermark};
pub use object::{Anchor, AttrValue, Attributes, ConnectorObject, strip_secrets};
pub use schema::{
    AttrKind, AttributeSchema, ConnectorSchema, Direction, DnStyle, ObjectTypeSchema,
};
pub use secret::Secret;

/// A connector: one target system (a SQL table set, an LDAP directory, a script, the MIM Service)
/// seen through the ECMA2-style object model.
///
/// Implementations must be safe to call from several threads at once. The host serialises
/// exports to the same anchor itself, and all exports when
/// [`Capabilities::concurrent_exports`] is false.
pub trait Connector: Send + Sync {
    /// The connector kind as it appears in configuration (`sql`, `ldap`, …).
    fn kind(&self) -> &'static str;

    /// What this connector can do. Cheap; called often.
    fn capabilities(&self) -> Capabilities;

    /// The schema of the target, discovered where the target allows it (table columns, LDAP
    /// subschema, a script's schema step) and overridden by configuration.
    fn schema(&self, deadline: Deadline) -> Result<ConnectorSchema, ConnectorError>;

    /// Checks that the target is reachable and the configuration usable (`connector test`).
    /// Returns a short human description of what was reached, e.g. the server version.
    fn test_connection(&self, deadline: Deadline) -> Result<String, ConnectorError>;

    /// Exports one change. On success the target holds the change (or has queued it:
    /// [`ExportStatus::Pending`]); on error it holds nothing of it (connectors use a transaction
    /// or a compensating step where the target allows). Secret values in the change are written
    /// with [`Secret::expose`] and never echoed in the outcome or an error.
    fn export(&self, change: &Change, deadline: Deadline) -> Result<ExportOutcome, ConnectorError>;

    /// Reads one object by anchor, as an import would return it; `None` when the target does
    /// not have it. The host uses it to settle objects whose export outcome is unknown (after a
    /// timeout or a crash).
    fn read(
        &self,
        object_type: &str,
        anchor: &Anchor,
        deadline: Deadline,
    ) -> Result<Option<ConnectorObject>, ConnectorError>;

    /// Starts a full import of one object type: a stream of pages, each at most `page_size`
    /// objects, so memory is bounded whatever the size of the target. After the stream ends,
    /// [`ImportStream::watermark`] gives the point a later delta import starts from. `deadline`
    /// bounds starting the import; each page has its own.
    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError>;

    /// Starts a delta import: the changes since `since`, as upserts and deletes. Only called
    /// when [`Capabilities::delta_import`] is true; the default says it is not supported.
    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        let _ = (object_type, since, page_size, deadline);
        Err(ConnectorError::Misconfigured {
            detail: format!(
                "the {} connector does not support delta imports",
                self.kind()
            ),
        })
    }
}
