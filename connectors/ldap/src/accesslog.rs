//! Delta imports from OpenLDAP's accesslog overlay (`delta = "accesslog"`), for directories that
//! log writes to a log database (`cn=accesslog`) rather than, or besides, running syncprov.
//!
//! **Watermark** `ldapal1:<reqStart>`: the `reqStart` of the newest log record read, the
//! server's own unique, ordered timestamp of each operation, so no clock of this host is
//! involved. A full import takes it *before* reading, as the largest `reqStart` in the log (a
//! paged scan of the record names only; keep the log bounded with `logpurge`).
//!
//! **Delta**: the successful write records after the watermark
//! (`(&(objectClass=auditWriteObject)(reqResult=0)(reqStart>=W)(!(reqStart=W)))`, paged), in
//! `reqStart` order, reduced to the last operation per entry (`reqEntryUUID`, which OpenLDAP 2.5
//! and later log on every record). An entry whose last operation is a delete becomes a delete by
//! that entryUUID; any other is read again by its entryUUID and becomes an upsert, or a delete
//! when it no longer is of the object type or under its bases (moved away, say). Records about
//! entries that were never under the bases are skipped. Deletes of entries the host does not
//! hold (another object type in the same subtree) are harmless: the host ignores them.
//!
//! Everything the delta returns is worked out in its first page: memory is bounded by the number
//! of entries changed since the watermark, not by the directory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use connector_core::{ConnectorError, Deadline, ImportItem, ImportStream, Watermark};
use ldap3::controls::{PagedResults, RawControl};
use ldap3::{Ldap, Scope};

use crate::LdapConnector;
use crate::conn::Conn;
use crate::dn;
use crate::entry::{self, Entry};
use crate::schema::{Model, ObjectModel, oid};

const PREFIX: &str = "ldapal1:";
/// The watermark of an empty log: every record is newer.
const EMPTY_LOG: &str = "0";
const PAGE: i32 = 1000;

/// Encodes a `reqStart` as a watermark.
pub fn watermark(req_start: &str) -> Watermark {
    Watermark(format!("{PREFIX}{req_start}"))
}

/// The `reqStart` in a watermark made by [`watermark`]; `None` for any other watermark, or one
/// that is not a Generalized Time (it is placed in a filter, escaped, but must also compare).
pub fn decode(w: &Watermark) -> Option<String> {
    let t = w.0.strip_prefix(PREFIX)?;
    let plausible = t == EMPTY_LOG
        || (t.len() >= 15
            && t.ends_with('Z')
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == 'Z'));
    plausible.then(|| t.to_owned())
}

/// One log record.
#[derive(Debug, Clone)]
struct Record {
    start: String,
    kind: String,
    dn: String,
    new_dn: Option<String>,
    uuid: Option<String>,
}

/// Runs a paged search of the log and hands each entry to `each`.
async fn scan(
    ldap: &mut Ldap,
    log_base: &str,
    filter: &str,
    attrs: &[String],
    mut each: impl FnMut(Entry),
) -> Result<(), ConnectorError> {
    let mut cookie = Vec::new();
    loop {
        let mut control: RawControl = PagedResults {
            size: PAGE,
            cookie: std::mem::take(&mut cookie),
        }
        .into();
        control.crit = true;
        let (entries, res) = entry::search(
            ldap,
            log_base,
            Scope::OneLevel,
            filter,
            attrs,
            vec![control],
        )
        .await
        .map_err(|e| match e {
            ConnectorError::NotFound { detail } => ConnectorError::misconfigured(format!(
                "delta = \"accesslog\" but the log base {log_base} does not exist \
                         (is the accesslog overlay configured with logdb {log_base}?): {detail}"
            )),
            other => other,
        })?;
        entries.into_iter().for_each(&mut each);
        let next: Option<PagedResults> =
            entry::response_control(&res, oid::PAGED_RESULTS).map(|c| c.parse());
        match next {
            Some(p) if !p.cookie.is_empty() => cookie = p.cookie,
            _ => return Ok(()),
        }
    }
}

fn first_text(e: &Entry, name: &str) -> Option<String> {
    e.get(name)
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The watermark now: the newest `reqStart` in the log.
pub async fn current(ldap: &mut Ldap, log_base: &str) -> Result<Watermark, ConnectorError> {
    let mut newest = EMPTY_LOG.to_owned();
    scan(
        ldap,
        log_base,
        "(objectClass=auditWriteObject)",
        &["reqStart".to_owned()],
        |e| {
            if let Some(start) = first_text(&e, "reqStart")
                && (newest == EMPTY_LOG || start > newest)
            {
                newest = start;
            }
        },
    )
    .await?;
    Ok(watermark(&newest))
}

/// A delta import from the accesslog (see the module docs).
pub struct AccesslogImport<'a> {
    connector: &'a LdapConnector,
    model: Arc<Model>,
    object: usize,
    conn: Conn<'a>,
    since: String,
    next: Option<String>,
    page_size: usize,
    pending: VecDeque<ImportItem>,
    read: bool,
}

impl<'a> AccesslogImport<'a> {
    pub fn new(
        connector: &'a LdapConnector,
        model: Arc<Model>,
        object: usize,
        conn: Conn<'a>,
        since: String,
        page_size: usize,
    ) -> Self {
        AccesslogImport {
            connector,
            model,
            object,
            conn,
            next: Some(since.clone()),
            since,
            page_size: page_size.max(1),
            pending: VecDeque::new(),
            read: false,
        }
    }
}

/// Whether `dn` is under one of the object type's bases.
fn within(obj: &ObjectModel, dn: &str) -> bool {
    obj.bases.iter().any(|b| dn::is_within(dn, b))
}

impl ImportStream for AccesslogImport<'_> {
    fn next_page(&mut self, deadline: Deadline) -> Result<Option<Vec<ImportItem>>, ConnectorError> {
        deadline.check("the next import page")?;
        if !self.read {
            let model = self.model.clone();
            let Some(obj) = model.objects.get(self.object) else {
                return Ok(None);
            };
            let config = self.connector.config();
            let log_base = config.accesslog_base.clone();
            let anchor = config.anchor.clone();
            let since = self.since.clone();
            let result = self.conn.run(deadline, "an accesslog delta", async |ldap| {
                let mut filter = "(&(objectClass=auditWriteObject)(reqResult=0)".to_owned();
                if since != EMPTY_LOG {
                    let w = dn::escape_filter_value(&since);
                    filter.push_str(&format!("(reqStart>={w})(!(reqStart={w}))"));
                }
                filter.push(')');
                let attrs: Vec<String> =
                    ["reqStart", "reqType", "reqDN", "reqNewDN", "reqEntryUUID"]
                        .map(str::to_owned)
                        .to_vec();
                let mut records = Vec::new();
                scan(ldap, &log_base, &filter, &attrs, |e| {
                    records.push(Record {
                        start: first_text(&e, "reqStart").unwrap_or_default(),
                        kind: first_text(&e, "reqType").unwrap_or_default(),
                        dn: first_text(&e, "reqDN").unwrap_or_default(),
                        new_dn: first_text(&e, "reqNewDN"),
                        uuid: first_text(&e, "reqEntryUUID"),
                    });
                })
                .await?;
                records.sort_by(|a, b| a.start.cmp(&b.start));
                let newest = records.last().map(|r| r.start.clone());
                // The last operation per entry, among those that touched the bases.
                let mut last: BTreeMap<String, Record> = BTreeMap::new();
                for r in records {
                    let touches =
                        within(obj, &r.dn) || r.new_dn.as_deref().is_some_and(|d| within(obj, d));
                    if !touches {
                        continue;
                    }
                    let uuid = r.uuid.clone().ok_or_else(|| {
                        ConnectorError::misconfigured(format!(
                            "the accesslog record {} names no reqEntryUUID (OpenLDAP 2.5 or \
                             later logs it); delta = \"accesslog\" cannot tell which entry \
                             {} was",
                            r.start, r.dn
                        ))
                    })?;
                    last.insert(uuid, r);
                }
                let mut items = Vec::new();
                for (uuid, r) in last {
                    let delete = ImportItem::Delete {
                        object_type: obj.name.clone(),
                        anchor: uuid.clone().into(),
                    };
                    if r.kind.eq_ignore_ascii_case("delete") {
                        items.push(delete);
                        continue;
                    }
                    match entry::find(ldap, obj, &anchor, &uuid, &obj.requested).await? {
                        Some(e) => items.push(ImportItem::Upsert(e.to_object(obj, &anchor)?)),
                        None => items.push(delete),
                    }
                }
                Ok((items, newest))
            });
            let (items, newest) = match result {
                Ok(r) => r,
                Err(e) => {
                    self.conn.discard();
                    return Err(e);
                }
            };
            self.pending.extend(items);
            if newest.is_some() {
                self.next = newest;
            }
            self.read = true;
        }
        let n = self.pending.len().min(self.page_size);
        Ok((n > 0).then(|| self.pending.drain(..n).collect()))
    }

    fn watermark(&self) -> Option<Watermark> {
        (self.read && self.pending.is_empty())
            .then(|| self.next.as_deref().map(watermark))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_round_trip_and_refuse_others() {
        let w = watermark("20261207152137.000005Z");
        assert_eq!(decode(&w).as_deref(), Some("20261207152137.000005Z"));
        assert_eq!(decode(&watermark(EMPTY_LOG)).as_deref(), Some(EMPTY_LOG));
        assert_eq!(decode(&Watermark("ldapsync1:00".into())), None);
        assert_eq!(decode(&Watermark("ldapal1:*)(x=1".into())), None);
    }
}
