//! Full and delta imports, streamed one API page at a time.
//!
//! **Full import**: `/{Type}` (with the configured filter) paged by the API. The MIM Service
//! pages by position — each page evaluates the query again and skips what was already returned
//! (the enumeration context holds the filter and an index, not a result set) — so an object
//! deleted while the import runs shifts later ones back and one of them can be skipped; the
//! host would then drop it from its connector space. The connector guards against that: it
//! counts the completed delete Requests of the type before the first page and after the last,
//! and fails the import (`Unavailable`: run it again) when the count grew. The watermark is
//! the server's time (the `Date` header) when the import began.
//!
//! **Delta import**: the MIM Service has no change feed, so the connector polls completed
//! Requests (reference §1.8, as Lithnet's change observer does):
//! `/Request[msidmCompletedTime > 'W - overlap' and (RequestStatus = 'Completed' or
//! RequestStatus = 'Denied') and TargetObjectType = 'Type']`, reads again every target they name (in batches that keep the
//! query string under IIS's limit, with the configured filter), and reports what it finds as
//! upserts and what it does not find as deletes — so an object that left the filter is a
//! delete too, and the order of Requests does not matter. Re-reading a target twice is
//! harmless, which is why each run reads `delta_overlap` before the watermark. Denied Requests
//! (an approver rejected them) are read too: the target of a denied create does not exist, so
//! it is reported as a delete — the host's signal that a pending export was rejected — and the
//! target of a denied update is reported as it is (unchanged). The new
//! watermark is the latest `msidmCompletedTime` seen. Composite Requests
//! (`msidmCompositeType`, the FIM MA's batched exports) name their targets only in
//! `RequestParameter`; the connector does not expand them and fails the delta
//! (`ResyncRequired`: the host runs a full import) rather than miss their changes.

use std::time::Duration;

use connector_core::{ConnectorError, Deadline, ImportItem, ImportStream, Watermark};
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::MimServiceConfig;
use crate::http::{Http, Req};
use crate::model::TypeModel;
use crate::search::Search;
use crate::value::{format_time, guid, parse_time};
use crate::xpath::{and, any_object_id, literal, query};

const PREFIX: &str = "mim1:";

/// The watermark's text for an instant.
pub(crate) fn encode_mark(t: OffsetDateTime) -> Watermark {
    Watermark(format!("{PREFIX}{}", format_time(t)))
}

fn decode_mark(w: &Watermark) -> Option<OffsetDateTime> {
    w.0.strip_prefix(PREFIX).and_then(parse_time)
}

/// The server's clock, from an answer's `Date` header; this machine's if it sent none.
fn server_time(date: Option<&str>) -> OffsetDateTime {
    date.and_then(|d| httpdate::parse_http_date(d).ok())
        .map(OffsetDateTime::from)
        .unwrap_or_else(|| {
            tracing::warn!(
                "the REST API sent no Date header; the watermark uses this machine's clock"
            );
            OffsetDateTime::now_utc()
        })
}

fn minus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_sub(time::Duration::try_from(d).unwrap_or(time::Duration::ZERO))
        .unwrap_or(t)
}

/// The filter counting completed delete Requests of a type since `since`.
fn deletes_filter(t: &TypeModel, since: OffsetDateTime) -> String {
    format!(
        "/Request[(msidmCompletedTime > '{}') and (RequestStatus = 'Completed') and (Operation = 'Delete') and (TargetObjectType = {})]",
        format_time(since),
        literal(&t.name)
    )
}

fn count(http: &Http, filter: &str, deadline: Deadline) -> Result<u64, ConnectorError> {
    Ok(Search::new(http, filter, ("attributes", "ObjectID"), 1)
        .page(http, deadline)?
        .map(|p| p.total)
        .unwrap_or(0))
}

/// A running full import.
pub(crate) struct FullImport<'a> {
    http: &'a Http,
    t: TypeModel,
    search: Search,
    deletes: String,
    deletes_before: u64,
    watermark: Watermark,
    done: bool,
}

impl<'a> FullImport<'a> {
    pub fn start(
        http: &'a Http,
        t: TypeModel,
        page_size: usize,
        overlap: Duration,
        deadline: Deadline,
    ) -> Result<Self, ConnectorError> {
        deadline.check("the full import")?;
        // The server's time now: a cheap read that also proves the type still exists.
        let context = format!("start the full import of {}", t.name);
        let probe = Search::new(
            http,
            &format!("/ObjectTypeDescription[Name = {}]", literal(&t.name)),
            ("attributes", "Name"),
            1,
        );
        let mut probe = probe;
        let page = probe.page(http, deadline)?;
        let now = server_time(page.as_ref().and_then(|p| p.date.as_deref()));
        if page.is_none_or(|p| p.total == 0) {
            return Err(ConnectorError::misconfigured(format!(
                "{context}: the MIM Service has no object type {}",
                t.name
            )));
        }
        let deletes = deletes_filter(&t, minus(now, overlap));
        let deletes_before = count(http, &deletes, deadline)?;
        let filter = query(&t.name, t.filter());
        let search = Search::new(http, &filter, t.fields(), page_size);
        Ok(FullImport {
            http,
            t,
            search,
            deletes,
            deletes_before,
            watermark: encode_mark(now),
            done: false,
        })
    }
}

impl ImportStream for FullImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        deadline.check("the next import page")?;
        if let Some(page) = self.search.page(self.http, deadline)? {
            let items: Vec<ImportItem> = page
                .results
                .iter()
                .filter_map(|r| self.t.object(r))
                .map(ImportItem::Upsert)
                .collect();
            if !items.is_empty() {
                return Ok(Some(items));
            }
        }
        let after = count(self.http, &self.deletes, deadline)?;
        self.done = true;
        if after > self.deletes_before {
            return Err(ConnectorError::unavailable(format!(
                "{} {} object(s) were deleted in the MIM Service while the full import ran; the service pages by position, so an object may have been skipped: run the import again",
                after - self.deletes_before,
                self.t.name
            )));
        }
        Ok(None)
    }

    fn watermark(&self) -> Option<Watermark> {
        Some(self.watermark.clone())
    }
}

/// A running delta import.
pub(crate) struct DeltaImport<'a> {
    http: &'a Http,
    t: TypeModel,
    requests: Search,
    latest: OffsetDateTime,
    max_query_string: usize,
}

impl<'a> DeltaImport<'a> {
    pub fn start(
        http: &'a Http,
        t: TypeModel,
        since: &Watermark,
        page_size: usize,
        config: &MimServiceConfig,
        deadline: Deadline,
    ) -> Result<Self, ConnectorError> {
        deadline.check("the delta import")?;
        let since = decode_mark(since).ok_or_else(|| {
            ConnectorError::resync_required(format!(
                "the watermark {:?} was not made by the MIM Service connector",
                since.0
            ))
        })?;
        let filter = format!(
            "/Request[(msidmCompletedTime > '{}') and (RequestStatus = 'Completed' or RequestStatus = 'Denied') and (TargetObjectType = {} or TargetObjectType = 'msidmCompositeType')]",
            format_time(minus(since, config.delta_overlap)),
            literal(&t.name)
        );
        let requests = Search::new(
            http,
            &filter,
            (
                "attributes",
                "Target,TargetObjectType,Operation,msidmCompletedTime",
            ),
            page_size,
        );
        Ok(DeltaImport {
            http,
            t,
            requests,
            latest: since,
            max_query_string: config.max_query_string,
        })
    }

    /// Reads the current state of `ids` (within the filter); absent ones are deletes.
    fn resolve(
        &self,
        ids: &[String],
        deadline: Deadline,
    ) -> Result<Vec<ImportItem>, ConnectorError> {
        let mut found = std::collections::BTreeMap::new();
        let mut batch: Vec<String> = Vec::new();
        let fits = |batch: &[String]| {
            let filter = query(
                &self.t.name,
                and(Some(&any_object_id(batch)), self.t.filter()).as_deref(),
            );
            self.http
                .search_url(&[("filter", &filter), ("pageSize", "1000"), self.t.fields()])
                .query()
                .map_or(0, str::len)
                <= self.max_query_string
        };
        let mut flush = |batch: &mut Vec<String>| -> Result<(), ConnectorError> {
            if batch.is_empty() {
                return Ok(());
            }
            let filter = query(
                &self.t.name,
                and(Some(&any_object_id(batch)), self.t.filter()).as_deref(),
            );
            let mut search = Search::new(self.http, &filter, self.t.fields(), batch.len());
            while let Some(page) = search.page(self.http, deadline)? {
                for r in &page.results {
                    if let Some(o) = self.t.object(r) {
                        found.insert(o.anchor.0.clone(), o);
                    }
                }
            }
            batch.clear();
            Ok(())
        };
        for id in ids {
            batch.push(id.clone());
            if batch.len() > 1 && !fits(&batch) {
                batch.pop();
                flush(&mut batch)?;
                batch.push(id.clone());
            }
        }
        flush(&mut batch)?;
        Ok(ids
            .iter()
            .map(|id| match found.remove(id) {
                Some(o) => ImportItem::Upsert(o),
                None => ImportItem::Delete {
                    object_type: self.t.name.clone(),
                    anchor: id.clone().into(),
                },
            })
            .collect())
    }
}

impl ImportStream for DeltaImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        deadline.check("the next delta page")?;
        let Some(page) = self.requests.page(self.http, deadline)? else {
            return Ok(None);
        };
        if page.results.is_empty() {
            return Ok(None);
        }
        let mut targets: Vec<String> = Vec::new();
        for r in &page.results {
            let text = |n: &str| r.get(n).and_then(Value::as_str);
            if text("TargetObjectType") == Some("msidmCompositeType") {
                return Err(ConnectorError::resync_required(format!(
                    "the MIM Service completed a composite Request ({}), whose targets the connector cannot read through the REST API; {} needs a full import",
                    text("ObjectID").unwrap_or("?"),
                    self.t.name
                )));
            }
            if let Some(t) = text("msidmCompletedTime").and_then(parse_time) {
                self.latest = self.latest.max(t);
            }
            if let Some(target) = text("Target").and_then(guid)
                && !targets.contains(&target)
            {
                targets.push(target);
            }
        }
        Ok(Some(self.resolve(&targets, deadline)?))
    }

    fn watermark(&self) -> Option<Watermark> {
        Some(encode_mark(self.latest))
    }
}

/// Reads one object; `None` when the service has no such object of that type.
pub(crate) fn read(
    http: &Http,
    t: &TypeModel,
    anchor: &str,
    deadline: Deadline,
) -> Result<Option<connector_core::ConnectorObject>, ConnectorError> {
    deadline.check("the read")?;
    let Some(id) = guid(anchor) else {
        return Ok(None);
    };
    let context = format!("read {} {id}", t.name);
    match http.expect(
        &Req::read(http.url(&["resources", &id]), &context),
        deadline,
    ) {
        Ok(reply) => {
            let json = reply.json()?;
            let of_type = json
                .get("ObjectType")
                .and_then(Value::as_str)
                .is_some_and(|ty| ty.eq_ignore_ascii_case(&t.name));
            Ok(if of_type { t.object(&json) } else { None })
        }
        Err(ConnectorError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_round_trip_and_foreign_ones_are_refused() {
        let t = parse_time("2024-05-06T07:08:09.123").unwrap();
        let w = encode_mark(t);
        assert_eq!(w.0, "mim1:2024-05-06T07:08:09.123");
        assert_eq!(decode_mark(&w), Some(t));
        assert_eq!(decode_mark(&Watermark("sql1:int:4".into())), None);
        assert_eq!(
            format_time(server_time(Some("Mon, 06 May 2024 07:08:09 GMT"))),
            "2024-05-06T07:08:09.000"
        );
    }
}
