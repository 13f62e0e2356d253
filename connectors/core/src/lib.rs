//! The plug-in boundary of connector-host.
//!
//! Everything a connector is and does, and nothing the host does with it: the object model
//! (objects, anchors, DNs, typed attribute values), the schema and capabilities a connector
//! declares, the changes the host exports and the results it gets back, streaming full and
//! delta imports with bounded memory, and [`ConnectorError`], whose variants are named for the
//! host's reaction. It is modelled on what MIM's ECMA2 framework and ConnId proved: see
//! `shared/reference/connectors.md` §3.
//!
//! **API boundary.** This crate depends on no HTTP, async or driver crate. Each connector
//! (`connectors/sql`, later LDAP, script, MIM Service) is a sibling crate that depends on this one
//! plus its driver; the host holds connectors as `Arc<dyn Connector>` and never sees a driver.
//!
//! **Blocking by design.** Connector calls are synchronous: every driver we build on (ODBC,
//! SQLite, child processes) blocks, and a synchronous trait keeps connectors simple to write and
//! to test. The host runs each call on its blocking pool under a time budget.
//!
//! **Conformance.** [`conformance`] is the suite every connector runs against its real target.

pub mod capability;
pub mod change;
pub mod conformance;
pub mod error;
pub mod import;
pub mod object;
pub mod schema;

pub use capability::{Capabilities, ExportStyle};
pub use change::{AttributeChange, Change, ExportOutcome};
pub use error::ConnectorError;
pub use import::{ImportItem, ImportStream, Watermark};
pub use object::{Anchor, AttrValue, Attributes, ConnectorObject};
pub use schema::{
    AttrKind, AttributeSchema, ConnectorSchema, Direction, DnStyle, ObjectTypeSchema,
};

/// A connector: one target system (a SQL table set, an LDAP directory, a script, the MIM Service)
/// seen through the ECMA2-style object model.
///
/// Implementations must be safe to call from several threads at once; a connector that cannot
/// run two exports concurrently serialises internally and says so in [`Capabilities`]. The host
/// serialises exports to the same anchor itself.
pub trait Connector: Send + Sync {
    /// The connector kind as it appears in configuration (`sql`, `ldap`, …).
    fn kind(&self) -> &'static str;

    /// What this connector can do. Cheap; called often.
    fn capabilities(&self) -> Capabilities;

    /// The schema of the target, discovered where the target allows it (table columns, LDAP
    /// subschema, a script's schema step) and overridden by configuration.
    fn schema(&self) -> Result<ConnectorSchema, ConnectorError>;

    /// Checks that the target is reachable and the configuration usable (`connector test`).
    /// Returns a short human description of what was reached, e.g. the server version.
    fn test_connection(&self) -> Result<String, ConnectorError>;

    /// Exports one change. On success the target holds the change; on error it holds nothing of
    /// it (connectors use a transaction or a compensating step where the target allows).
    fn export(&self, change: &Change) -> Result<ExportOutcome, ConnectorError>;

    /// Starts a full import of one object type: a stream of pages, each at most `page_size`
    /// objects, so memory is bounded whatever the size of the target. After the stream ends,
    /// [`ImportStream::watermark`] gives the point a later delta import starts from.
    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError>;

    /// Starts a delta import: the changes since `since`, as upserts and deletes. Only called
    /// when [`Capabilities::delta_import`] is true; the default says it is not supported.
    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        let _ = (object_type, since, page_size);
        Err(ConnectorError::Misconfigured {
            detail: format!(
                "the {} connector does not support delta imports",
                self.kind()
            ),
        })
    }
}
