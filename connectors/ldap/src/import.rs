//! Full imports (Simple Paged Results, RFC 2696) and delta imports (RFC 4533 refreshOnly, or
//! timestamp polling: a paged import with `(modifyTimestamp>=watermark)` added to the filter,
//! which sees adds and changes but never deletes).
//!
//! **Full.** One paged search per base, one page per `next_page`: each call sends one search
//! request with the paged-results cookie and returns what that page holds, so memory is bounded
//! by the page size. The paged-results cookie belongs to the connection, so the stream keeps its
//! connection until it ends (and discards it when dropped half-way). With `delta = "sync"` the
//! watermark is taken *before* the first page: a sync refreshOnly search that matches nothing
//! returns the server's current cookie, so a change made during the import is read again by the
//! next delta instead of lost.
//!
//! **Delta.** A refreshOnly search per base with the cookie from the watermark. Changed entries
//! arrive whole (Sync State add/modify) and become upserts; deleted entries arrive as entryUUIDs
//! in a `syncIdSet` (or a Sync State delete) and become deletes by anchor. The new cookie comes
//! in Sync Done. Where deletes cannot be detected: when the server's session log no longer covers
//! the watermark (`syncprov-sessionlog` too small, or slapd restarted since: the log is in
//! memory), syncprov answers with a *present phase* (the UUIDs of every unchanged entry) and
//! leaves the client to diff; this connector keeps no copy of the directory to diff against, so
//! it fails with `ResyncRequired` and the host runs a full import at once, which sets things right. Deletes
//! anywhere in the database are reported (syncprov's session log is not scoped by base or
//! filter), so a delta may name anchors the host does not hold; the host ignores those.
//!
//! ldap3 reads a search's replies as fast as the server sends them, so a delta's memory is
//! bounded by the size of the delta (typically small), not by the page size.

use std::collections::VecDeque;
use std::sync::Arc;

use connector_core::{ConnectorError, Deadline, ImportItem, ImportStream, Watermark};
use ldap3::controls::{
    EntryState, PagedResults, RawControl, RefreshMode, SyncDone, SyncInfo, SyncRequest, SyncState,
};
use ldap3::{Ldap, SearchStream};

use crate::LdapConnector;
use crate::conn::Conn;
use crate::entry::{self, Entry};
use crate::errors::{self, Op};
use crate::schema::{Model, ObjectModel, oid};
use crate::value;

const WATERMARK_PREFIX: &str = "ldapsync1:";
const TIMESTAMP_PREFIX: &str = "ldapts1:";

/// A timestamp watermark: the connector's clock now, less `overlap`, in whole seconds.
pub fn timestamp_watermark(overlap: std::time::Duration) -> Watermark {
    let now = time::OffsetDateTime::now_utc() - overlap;
    let now = now.replace_nanosecond(0).unwrap_or(now);
    Watermark(format!(
        "{TIMESTAMP_PREFIX}{}",
        value::generalized_time(now)
    ))
}

/// The Generalized Time in a timestamp watermark.
pub fn decode_timestamp(w: &Watermark) -> Option<String> {
    let t = w.0.strip_prefix(TIMESTAMP_PREFIX)?;
    value::parse_generalized_time(t).map(value::generalized_time)
}

/// Encodes per-base cookies as a watermark.
pub fn encode_watermark(cookies: &[Vec<u8>]) -> Watermark {
    let parts: Vec<String> = cookies
        .iter()
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    Watermark(format!("{WATERMARK_PREFIX}{}", parts.join(".")))
}

/// Decodes a watermark made by [`encode_watermark`].
pub fn decode_watermark(w: &Watermark) -> Option<Vec<Vec<u8>>> {
    let body = w.0.strip_prefix(WATERMARK_PREFIX)?;
    body.split('.')
        .map(|hex| {
            if hex.len() % 2 != 0 {
                return None;
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .collect()
}

fn sync_control(cookie: Option<Vec<u8>>) -> RawControl {
    let mut raw: RawControl = SyncRequest {
        mode: RefreshMode::RefreshOnly,
        cookie,
        reload_hint: false,
    }
    .into();
    raw.crit = true;
    raw
}

fn present_phase(obj: &ObjectModel) -> ConnectorError {
    ConnectorError::resync_required(format!(
        "delta import of {}: the server answered with a present phase, so deletes since the \
         watermark cannot be told (its syncprov session log does not reach back that far, or it \
         restarted); raise syncprov-sessionlog if this recurs",
        obj.name
    ))
}

/// The current sync cookie of each base. OpenLDAP: a refreshOnly search that matches no entry
/// returns it. 389 DS binds its cookie to the search's filter, so there the search uses the
/// delta's own filter and asks for no attributes; its entries are read and dropped one by one
/// (a DN each), so memory stays flat even over a large base.
pub async fn current_cookies(
    ldap: &mut Ldap,
    obj: &ObjectModel,
    filter_bound: bool,
) -> Result<Vec<Vec<u8>>, ConnectorError> {
    let mut cookies = Vec::new();
    for base in &obj.bases {
        let filter = if filter_bound {
            obj.filter.clone()
        } else {
            format!("(&{}(!(objectClass=*)))", obj.filter)
        };
        ldap.with_controls(sync_control(None));
        let mut stream = ldap
            .streaming_search(base, entry::scope(obj.scope), &filter, vec!["1.1"])
            .await
            .map_err(|e| errors::from_ldap(Op::Search, base, e))?;
        while stream
            .next()
            .await
            .map_err(|e| errors::from_ldap(Op::Search, base, e))?
            .is_some()
        {}
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(errors::from_result(Op::Search, base, &res));
        }
        let done: Option<SyncDone> =
            entry::response_control(&res, oid::SYNC_DONE).map(|c| c.parse());
        let cookie = done.and_then(|d| d.cookie).ok_or_else(|| {
            ConnectorError::misconfigured(format!(
                "{base}: the server returned no sync cookie (delta = \"sync\" needs RFC 4533, \
                 e.g. OpenLDAP's syncprov overlay or 389 DS's Content Synchronization plugin)"
            ))
        })?;
        cookies.push(cookie);
    }
    Ok(cookies)
}

/// What both kinds of import stream hold: the object type, the connection they keep, which base
/// they are at, and the items read but not yet handed out.
pub struct Cursor<'a> {
    connector: &'a LdapConnector,
    model: Arc<Model>,
    object: usize,
    conn: Conn<'a>,
    base: usize,
    page_size: usize,
    pending: VecDeque<ImportItem>,
    done: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(
        connector: &'a LdapConnector,
        model: Arc<Model>,
        object: usize,
        conn: Conn<'a>,
        page_size: usize,
    ) -> Self {
        Cursor {
            connector,
            model,
            object,
            conn,
            base: 0,
            page_size: page_size.max(1),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Checks the deadline and gives the model.
    fn start(&self, deadline: Deadline) -> Result<Arc<Model>, ConnectorError> {
        deadline.check("the next import page")?;
        Ok(self.model.clone())
    }

    /// Up to a page of what was read; `None` when nothing is left.
    fn page(&mut self) -> Option<Vec<ImportItem>> {
        let n = self.pending.len().min(self.page_size);
        (n > 0).then(|| self.pending.drain(..n).collect())
    }
}

/// A paged import of one object type: every entry (a full import), or those matching an extra
/// filter (a timestamp delta import).
pub struct FullImport<'a> {
    cursor: Cursor<'a>,
    cookie: Vec<u8>,
    filter: Option<String>,
    watermark: Option<Watermark>,
}

impl<'a> FullImport<'a> {
    pub fn new(cursor: Cursor<'a>, watermark: Option<Watermark>) -> Self {
        FullImport {
            cursor,
            cookie: Vec::new(),
            filter: None,
            watermark,
        }
    }

    /// Only the entries that also match `filter`.
    pub fn filtered(mut self, filter: String) -> Self {
        self.filter = Some(filter);
        self
    }
}

impl ImportStream for FullImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        let model = self.cursor.start(deadline)?;
        let c = &mut self.cursor;
        let Some(obj) = model.objects.get(c.object) else {
            return Ok(None);
        };
        let anchor = &c.connector.config().anchor;
        let filter = self.filter.as_deref().unwrap_or(&obj.filter);
        while c.pending.is_empty() && !c.done {
            let Some(base) = obj.bases.get(c.base).cloned() else {
                c.done = true;
                break;
            };
            let mut control: RawControl = PagedResults {
                size: i32::try_from(c.page_size).unwrap_or(i32::MAX),
                cookie: std::mem::take(&mut self.cookie),
            }
            .into();
            control.crit = true;
            let (objects, next) = c.conn.run(deadline, "an import page", async |ldap| {
                let (entries, res) = entry::search(
                    ldap,
                    &base,
                    entry::scope(obj.scope),
                    filter,
                    &obj.requested,
                    vec![control],
                )
                .await
                .map_err(|e| match e {
                    ConnectorError::NotFound { detail } => ConnectorError::misconfigured(format!(
                        "the base {base} of object type {} does not exist: {detail}",
                        obj.name
                    )),
                    other => other,
                })?;
                let next: Option<PagedResults> =
                    entry::response_control(&res, oid::PAGED_RESULTS).map(|c| c.parse());
                let objects = entries
                    .iter()
                    .map(|e| e.to_object(obj, anchor))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((objects, next.map(|p| p.cookie).unwrap_or_default()))
            })?;
            c.pending
                .extend(objects.into_iter().map(ImportItem::Upsert));
            if next.is_empty() {
                c.base += 1;
            } else {
                self.cookie = next;
            }
        }
        Ok(c.page())
    }

    fn watermark(&self) -> Option<Watermark> {
        self.watermark.clone()
    }
}

impl Drop for FullImport<'_> {
    fn drop(&mut self) {
        if !self.cursor.done {
            // The server holds a paged search on this connection: do not hand it on.
            self.cursor.conn.discard();
        }
    }
}

/// A delta import of one object type (RFC 4533 refreshOnly).
pub struct DeltaImport<'a> {
    cursor: Cursor<'a>,
    cookies: Vec<Vec<u8>>,
    stream: Option<SearchStream<'static, String, Vec<String>>>,
}

impl<'a> DeltaImport<'a> {
    pub fn new(cursor: Cursor<'a>, cookies: Vec<Vec<u8>>) -> Self {
        DeltaImport {
            cursor,
            cookies,
            stream: None,
        }
    }
}

/// What one step of a sync search gave.
enum Step {
    Items(Vec<ImportItem>, Option<Vec<u8>>),
    Done(Option<Vec<u8>>),
}

impl ImportStream for DeltaImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        let model = self.cursor.start(deadline)?;
        let c = &mut self.cursor;
        let Some(obj) = model.objects.get(c.object) else {
            return Ok(None);
        };
        let anchor = &c.connector.config().anchor;
        while c.pending.len() < c.page_size && !c.done {
            let Some(base) = obj.bases.get(c.base).cloned() else {
                c.done = true;
                break;
            };
            let cookie = self.cookies.get(c.base).cloned();
            let mut stream = self.stream.take();
            let step = c.conn.run(deadline, "a delta import page", async |ldap| {
                let s = match &mut stream {
                    Some(s) => s,
                    None => {
                        ldap.with_controls(sync_control(cookie));
                        stream.insert(
                            ldap.streaming_search(
                                &base,
                                entry::scope(obj.scope),
                                &obj.filter,
                                obj.requested.clone(),
                            )
                            .await
                            .map_err(|e| errors::from_ldap(Op::Search, &base, e))?,
                        )
                    }
                };
                let item = s
                    .next()
                    .await
                    .map_err(|e| errors::from_ldap(Op::Search, &base, e))?;
                let Some(re) = item else {
                    let res = s.finish().await;
                    if res.rc != 0 {
                        return Err(errors::from_result(Op::Search, &base, &res));
                    }
                    let done: Option<SyncDone> =
                        entry::response_control(&res, oid::SYNC_DONE).map(|c| c.parse());
                    return match done {
                        // 389 DS clears the flag even after a delete phase (see `is_389`).
                        Some(d) if !d.refresh_deletes && !model.server.is_389() => {
                            Err(present_phase(obj))
                        }
                        Some(d) => Ok(Step::Done(d.cookie)),
                        None => Ok(Step::Done(None)),
                    };
                };
                if re.is_intermediate() {
                    return match ldap3::controls::parse_syncinfo(re) {
                        SyncInfo::NewCookie(c) => Ok(Step::Items(vec![], Some(c))),
                        SyncInfo::RefreshDelete { cookie, .. } => Ok(Step::Items(vec![], cookie)),
                        SyncInfo::RefreshPresent { .. } => Err(present_phase(obj)),
                        SyncInfo::SyncIdSet {
                            cookie,
                            refresh_deletes,
                            sync_uuids,
                        } => {
                            if !refresh_deletes {
                                return Err(present_phase(obj));
                            }
                            let deletes = sync_uuids
                                .iter()
                                .filter_map(|u| value::sync_uuid_anchor(anchor, u))
                                .map(|anchor| ImportItem::Delete {
                                    object_type: obj.name.clone(),
                                    anchor: anchor.into(),
                                })
                                .collect();
                            Ok(Step::Items(deletes, cookie))
                        }
                    };
                }
                if re.is_ref() {
                    return Ok(Step::Items(vec![], None));
                }
                let state: Option<SyncState> =
                    re.1.iter()
                        .map(|c| &c.1)
                        .find(|c| c.ctype == oid::SYNC_STATE)
                        .map(|c| c.parse());
                let cookie = state.as_ref().and_then(|s| s.cookie.clone());
                match state.as_ref().map(|s| &s.state) {
                    Some(EntryState::Present) => Err(present_phase(obj)),
                    Some(EntryState::Delete) => {
                        let uuid = state
                            .as_ref()
                            .and_then(|s| value::sync_uuid_anchor(anchor, &s.entry_uuid))
                            .ok_or_else(|| {
                                ConnectorError::unavailable("a sync delete without an entryUUID")
                            })?;
                        Ok(Step::Items(
                            vec![ImportItem::Delete {
                                object_type: obj.name.clone(),
                                anchor: uuid.into(),
                            }],
                            cookie,
                        ))
                    }
                    _ => {
                        let mut entry = Entry::from_result(re);
                        // 389 DS leaves nsUniqueId out of sync results even when asked for it;
                        // the Sync State control names the entry by it.
                        if entry.get(anchor.attribute()).is_empty()
                            && let Some(uuid) = state
                                .as_ref()
                                .and_then(|s| value::sync_uuid_anchor(anchor, &s.entry_uuid))
                        {
                            entry
                                .values
                                .insert(anchor.attribute().to_owned(), vec![uuid.into_bytes()]);
                        }
                        let object = entry.to_object(obj, anchor)?;
                        Ok(Step::Items(vec![ImportItem::Upsert(object)], cookie))
                    }
                }
            });
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    c.done = true;
                    c.conn.discard();
                    return Err(e);
                }
            };
            let (cookie, finished) = match step {
                Step::Items(items, cookie) => {
                    self.stream = stream;
                    c.pending.extend(items);
                    (cookie, false)
                }
                Step::Done(cookie) => (cookie, true),
            };
            if let (Some(new), Some(slot)) = (cookie, self.cookies.get_mut(c.base)) {
                *slot = new;
            }
            if finished {
                c.base += 1;
            }
        }
        Ok(c.page())
    }

    fn watermark(&self) -> Option<Watermark> {
        (self.cursor.done && self.cursor.pending.is_empty())
            .then(|| encode_watermark(&self.cookies))
    }
}

impl Drop for DeltaImport<'_> {
    fn drop(&mut self) {
        if self.stream.is_some() {
            self.cursor.conn.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_round_trip() {
        let cookies = vec![b"rid=000,csn=2024#0".to_vec(), vec![], vec![0, 255]];
        let w = encode_watermark(&cookies);
        assert_eq!(decode_watermark(&w), Some(cookies));
        assert_eq!(decode_watermark(&Watermark("sql1:int:4".into())), None);
        assert_eq!(decode_watermark(&Watermark("ldapsync1:abc".into())), None);
    }
}
