//! Full and delta imports as streams of `importPage` calls.
//!
//! The host pulls a page; the stream asks the script for the next one with the `pageToken` the
//! previous answer gave, so the only state of an import is that token: the pages of one import
//! may be served by different workers, and a worker replaced in the middle costs nothing. A
//! script that answers more items than the page size (PSMA's scripts often ignore it) is
//! re-batched here, holding at most one answer — bounded by `max_message_size` — in memory.

use std::collections::VecDeque;
use std::sync::Arc;

use connector_core::{
    Anchor, ConnectorError, ConnectorObject, ConnectorSchema, Deadline, ImportItem, ImportStream,
    Watermark,
};
use serde_json::{Map, Value};

use crate::pool::{Effect, Inner};
use crate::protocol::{self, PageResult};

/// Which import.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    Full,
    Delta(Watermark),
}

/// A running import.
pub(crate) struct ScriptImport {
    inner: Arc<Inner>,
    schema: Arc<ConnectorSchema>,
    object_type: String,
    page_size: usize,
    mode: Mode,
    token: Option<String>,
    done: bool,
    buffer: VecDeque<ImportItem>,
    watermark: Option<Watermark>,
}

impl ScriptImport {
    pub fn new(
        inner: Arc<Inner>,
        schema: Arc<ConnectorSchema>,
        object_type: String,
        page_size: usize,
        mode: Mode,
    ) -> Self {
        ScriptImport {
            inner,
            schema,
            object_type,
            page_size,
            mode,
            token: None,
            done: false,
            buffer: VecDeque::new(),
            watermark: None,
        }
    }

    fn fetch(&mut self, deadline: Deadline) -> Result<(), ConnectorError> {
        let mut body = Map::new();
        let (mode, since) = match &self.mode {
            Mode::Full => ("full", Value::Null),
            Mode::Delta(w) => ("delta", Value::from(w.0.as_str())),
        };
        body.insert("mode".into(), Value::from(mode));
        body.insert("objectType".into(), Value::from(self.object_type.as_str()));
        body.insert("pageSize".into(), Value::from(self.page_size));
        body.insert(
            "pageToken".into(),
            self.token.as_deref().map_or(Value::Null, Value::from),
        );
        body.insert("watermark".into(), since);
        let result = self
            .inner
            .call("importPage", body, deadline, Effect::Read, &[])?;
        let invalid = |e: String| {
            ConnectorError::misconfigured(format!("the script's importPage answer is invalid: {e}"))
        };
        let page: PageResult =
            serde_json::from_value(result).map_err(|e| invalid(e.to_string()))?;
        let mut dropped = Vec::new();
        for item in page.items {
            let item = protocol::decode_item(&self.schema, &self.object_type, item, &mut dropped)
                .map_err(|e| invalid(self.inner.redact(&e)))?;
            if matches!(self.mode, Mode::Full) && matches!(item, ImportItem::Delete { .. }) {
                return Err(invalid("a full import cannot report deletes".into()));
            }
            self.buffer.push_back(item);
        }
        warn_dropped(&self.inner, &dropped);
        if page.more && (page.page_token.is_none() || page.page_token == self.token) {
            return Err(invalid(
                "more pages follow, but the answer has no new pageToken to ask for them".into(),
            ));
        }
        self.token = page.page_token;
        if let Some(w) = page.watermark {
            self.watermark = Some(Watermark(w));
        }
        self.done = !page.more;
        Ok(())
    }
}

impl ImportStream for ScriptImport {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        deadline.check("the next import page")?;
        // Ask until something arrives or the script says it is done; the deadline bounds a
        // script that keeps answering empty pages.
        while self.buffer.is_empty() && !self.done {
            self.fetch(deadline)?;
        }
        if self.buffer.is_empty() {
            if self.inner.capabilities.delta_import && self.watermark.is_none() {
                tracing::warn!(connector = %self.inner.name, object_type = %self.object_type,
                    "the script declares delta imports but returned no watermark");
            }
            return Ok(None);
        }
        let n = self.page_size.min(self.buffer.len());
        Ok(Some(self.buffer.drain(..n).collect()))
    }

    fn watermark(&self) -> Option<Watermark> {
        self.watermark.clone()
    }
}

/// Reads one object by anchor (`read`); `None` when the script answers `null` or `notFound`.
pub(crate) fn read_object(
    inner: &Arc<Inner>,
    schema: &ConnectorSchema,
    object_type: &str,
    anchor: &Anchor,
    deadline: Deadline,
) -> Result<Option<ConnectorObject>, ConnectorError> {
    let mut body = Map::new();
    body.insert("objectType".into(), Value::from(object_type));
    body.insert("anchor".into(), Value::from(anchor.as_str()));
    let result = match inner.call("read", body, deadline, Effect::Read, &[]) {
        Err(ConnectorError::NotFound { .. }) => return Ok(None),
        other => other?,
    };
    let object = result.get("object").cloned().unwrap_or(Value::Null);
    if object.is_null() {
        return Ok(None);
    }
    let mut dropped = Vec::new();
    let item = protocol::decode_item(schema, object_type, object, &mut dropped).map_err(|e| {
        ConnectorError::misconfigured(format!(
            "the script's read answer is invalid: {}",
            inner.redact(&e)
        ))
    })?;
    warn_dropped(inner, &dropped);
    match item {
        ImportItem::Upsert(obj) if obj.anchor == *anchor => Ok(Some(obj)),
        ImportItem::Upsert(obj) => Err(ConnectorError::misconfigured(format!(
            "the script answered a read of {anchor} with object {}",
            obj.anchor
        ))),
        ImportItem::Delete { .. } => Ok(None),
    }
}

/// Logs, once per object, that the script returned a secret attribute (dropped: scripts never
/// return secrets).
pub(crate) fn warn_dropped(inner: &Inner, dropped: &[String]) {
    if let Some(name) = dropped.first() {
        tracing::warn!(connector = %inner.name, attribute = %name,
            "the script returned a value for a secret attribute; it was dropped (scripts never return secrets)");
    }
}
