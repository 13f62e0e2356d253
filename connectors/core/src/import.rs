//! Imports as streams with bounded memory.
//!
//! A full import pages through the target; a delta import returns the changes since a watermark.
//! Either way the host pulls one page at a time, so memory is bounded by the page size, not by
//! the size of the target, and the watermark is only taken after the last page (it commits
//! atomically with the changes in the connector space).

use serde::{Deserialize, Serialize};

use crate::deadline::Deadline;
use crate::error::ConnectorError;
use crate::object::{Anchor, ConnectorObject};

/// An opaque point in the target's change history (a rowversion, a timestamp, an LDAP cookie, a
/// delta-table sequence). Connectors choose the encoding; the host only stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Watermark(pub String);

/// One imported item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ImportItem {
    /// The object exists with exactly this state (added or changed).
    Upsert(ConnectorObject),
    /// The object with this anchor no longer exists (delta imports only).
    Delete { object_type: String, anchor: Anchor },
}

/// A running import.
pub trait ImportStream: Send {
    /// The next page, at most the page size asked for, or `None` when the import is complete.
    /// The page must be read by `deadline` (else [`ConnectorError::Timeout`]); a stream that
    /// timed out may be dropped, never resumed.
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError>;

    /// The watermark to start the next delta import from. Meaningful only after `next_page`
    /// returned `None`; `None` when the connector has no delta support.
    fn watermark(&self) -> Option<Watermark>;

    /// How many objects the stream will return, when the connector can tell cheaply before
    /// reading them (a `COUNT(*)`); used only to show progress and an estimate of the time
    /// left, never relied on. The default says it cannot.
    fn expected_total(&self) -> Option<u64> {
        None
    }
}

/// An import stream over items already in memory (tests, tiny targets).
pub struct VecImport {
    pages: std::vec::IntoIter<Vec<ImportItem>>,
    watermark: Option<Watermark>,
}

impl VecImport {
    /// Splits `items` into pages of `page_size`.
    pub fn new(items: Vec<ImportItem>, page_size: usize, watermark: Option<Watermark>) -> Self {
        let size = page_size.max(1);
        let mut pages = Vec::new();
        let mut iter = items.into_iter().peekable();
        while iter.peek().is_some() {
            pages.push(iter.by_ref().take(size).collect());
        }
        VecImport {
            pages: pages.into_iter(),
            watermark,
        }
    }
}

impl ImportStream for VecImport {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        deadline.check("the next import page")?;
        Ok(self.pages.next())
    }
    fn watermark(&self) -> Option<Watermark> {
        self.watermark.clone()
    }
}

/// Reads a whole stream into memory, each page within `page_budget`. For tests and the
/// conformance suite only: the host streams.
pub fn collect_all(
    stream: &mut dyn ImportStream,
    page_budget: std::time::Duration,
) -> Result<Vec<ImportItem>, ConnectorError> {
    let mut all = Vec::new();
    while let Some(page) = stream.next_page(Deadline::after(page_budget))? {
        all.extend(page);
    }
    Ok(all)
}
