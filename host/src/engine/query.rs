//! Reads: GET by id, filtered queries and paged listings, all answered from the connector space.
//!
//! A filter that is an `eq` (or an `and` of `eq`s, which is all Entra sends) on an indexed
//! attribute is an index lookup; the full filter is then evaluated on the few candidates. Any
//! other filter is evaluated over a bounded scan, refused with `tooMany` past the configured
//! bound so one request cannot occupy the host. A plain listing pages through the space in
//! creation order with a true `totalResults`, at the same cost wherever the page starts.

use std::sync::Arc;

use connector_core::Anchor;
use schemas::filter::{Filter, Literal};
use schemas::list::{ListResponse, Paging, Sort};
use schemas::projection::Projection;
use schemas::{ScimError, ScimType};
use serde_json::Value;

use super::binding::{Binding, ConnectorSide, FilterTarget};
use super::{Runtime, blocking};
use crate::config::SchemaMode;
use crate::error::ApiError;
use crate::space::StoredObject;

/// The query parameters of a list request (`GET /Users?…` or `POST /.search`).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub filter: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
}

/// Where an indexed equality lookup finds its candidates (see [`Runtime::probe`]).
enum Probe {
    Anchor(Anchor),
    Dn(String),
    Value {
        attribute: String,
        value: String,
    },
    /// A reference attribute's value: the SCIM id of the object it names, which becomes the
    /// connector's form of the reference before the lookup.
    Reference {
        attribute: String,
        id: String,
    },
}

/// Default page size when the client gives no `count`.
pub const DEFAULT_PAGE: usize = 100;
const SCAN_BATCH: u64 = 1000;

impl Runtime {
    /// GET by id.
    pub async fn get(
        self: &Arc<Self>,
        binding: &Binding,
        id: &str,
        projection: &Projection,
        base_url: &str,
    ) -> Result<(StoredObject, Value), ApiError> {
        self.ensure_ready()?;
        // Inline on the embedded space; on a shared space, asynchronous on this runtime.
        let stored = self
            .space
            .get_async(&binding.object_type, &Anchor(id.to_owned()))
            .await?
            .ok_or_else(|| super::write::not_found(binding, id))?;
        let mut doc = self.render(binding, &stored, base_url);
        projection.apply(&mut doc, &binding.schema);
        Ok((stored, doc))
    }

    /// The page a query asks for, within this host's page size limits.
    fn paging(&self, q: &Query) -> Result<Paging, ApiError> {
        Ok(Paging::from_query(
            q.start_index.as_deref(),
            q.count.as_deref(),
            DEFAULT_PAGE.min(self.max_page_size),
            self.max_page_size,
        )?)
    }

    /// A filtered, sorted, paged query.
    pub async fn query(
        self: &Arc<Self>,
        binding: &Binding,
        q: &Query,
        base_url: &str,
    ) -> Result<ListResponse, ApiError> {
        let paging = self.paging(q)?;
        let projection =
            Projection::parse(q.attributes.as_deref(), q.excluded_attributes.as_deref())?;
        let sort = Sort::from_query(q.sort_by.as_deref(), q.sort_order.as_deref())?;
        let filter = self.parse_filter(binding, q)?;
        self.ensure_ready()?;
        // An equality on an indexed attribute costs tens of microseconds in the space, less
        // than handing it to the blocking pool; everything else (pages, scans) goes there.
        if sort.is_none()
            && !self.space.is_shared()
            && filter
                .as_ref()
                .is_some_and(|f| self.is_indexed_lookup(binding, f))
        {
            return self.answer(
                binding,
                filter.as_ref(),
                None,
                &paging,
                &projection,
                base_url,
            );
        }
        let rt = self.clone();
        let kind = binding.kind;
        let base = base_url.to_owned();
        blocking(move || {
            let binding = rt.binding(kind)?;
            rt.answer(
                binding,
                filter.as_ref(),
                sort.as_ref(),
                &paging,
                &projection,
                &base,
            )
        })
        .await
    }

    /// A filtered, sorted, paged query, answered as the list response's JSON. An equality
    /// lookup on an indexed attribute with the default projection (what Entra sends) is
    /// written straight from the stored objects ([`Runtime::write_resource`]); anything else
    /// is the [`Runtime::query`] list, serialised. The bytes are the same either way.
    pub async fn query_json(
        self: &Arc<Self>,
        binding: &Binding,
        q: &Query,
        base_url: &str,
    ) -> Result<Vec<u8>, ApiError> {
        // The same checks in the same order as `query`, so a refusal is the same refusal.
        let paging = self.paging(q)?;
        let projection =
            Projection::parse(q.attributes.as_deref(), q.excluded_attributes.as_deref())?;
        let sort = Sort::from_query(q.sort_by.as_deref(), q.sort_order.as_deref())?;
        let filter = self.parse_filter(binding, q)?;
        self.ensure_ready()?;
        if sort.is_none()
            && projection.is_default()
            && let Some(f) = &filter
            && let Some(probe) = self.probe(binding, f)
        {
            // Inline on the embedded space (a few microseconds); on a shared space the round
            // trip to PostgreSQL is awaited on this runtime, no thread waits for it.
            let found = self.probe_async(binding, probe).await?;
            if let Some(body) = self.write_lookup(binding, f, found, &paging, base_url) {
                return Ok(body);
            }
        }
        let list = self.query(binding, q, base_url).await?;
        let mut body = Vec::with_capacity(2048);
        serde_json::to_writer(&mut body, &list)
            .map_err(|e| ApiError::Internal(format!("the answer could not be serialised: {e}")))?;
        Ok(body)
    }

    /// The list response to an indexed equality lookup, written straight from its stored
    /// candidates; `None` when a resource is not one [`Runtime::write_resource`] writes.
    fn write_lookup(
        &self,
        binding: &Binding,
        filter: &Filter,
        mut found: Vec<StoredObject>,
        paging: &Paging,
        base: &str,
    ) -> Option<Vec<u8>> {
        found.retain(|o| self.matches_stored(binding, filter, o, base));
        let total = found.len();
        let (offset, limit) = paging.window(total);
        let page: Vec<&StoredObject> = found.iter().skip(offset).take(limit).collect();
        // The envelope as `ListResponse` serialises it, with the resources spliced in.
        let envelope = ListResponse {
            total_results: total,
            items_per_page: page.len(),
            start_index: paging.start_index.max(1),
            resources: Vec::new(),
        };
        let mut body = Vec::with_capacity(1024 * page.len().max(1));
        if serde_json::to_writer(&mut body, &envelope).is_err() || !body.ends_with(b"[]}") {
            return None;
        }
        body.truncate(body.len() - 2);
        for (i, o) in page.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            if !self.write_resource(binding, o, base, &mut body) {
                return None;
            }
        }
        body.extend_from_slice(b"]}");
        Some(body)
    }

    /// Whether a candidate of an equality lookup satisfies the whole filter. The filter is
    /// evaluated on a document holding only what its terms name (the id, and every field of
    /// a named attribute's name, so each named path holds what the full resource holds there);
    /// a term naming anything else (`meta`, a computed `active`) gets the full resource.
    fn matches_stored(
        &self,
        binding: &Binding,
        filter: &Filter,
        stored: &StoredObject,
        base: &str,
    ) -> bool {
        let full = || filter.matches(&self.render(binding, stored, base), &binding.schema);
        let Some(terms) = filter.equality_terms() else {
            return full();
        };
        let mut attributes = connector_core::Attributes::new();
        let mut dn = None;
        for (path, _) in &terms {
            if path.urn.is_none() && path.name.eq_ignore_ascii_case("id") {
                continue;
            }
            let mut named = false;
            for f in &binding.fields {
                if !f.scim.name.eq_ignore_ascii_case(&path.name) {
                    continue;
                }
                named = true;
                match &f.connector {
                    ConnectorSide::Dn => dn = stored.object.dn.as_deref(),
                    ConnectorSide::Attribute(a) => {
                        if let Some(v) = stored.object.attributes.get(a) {
                            attributes.insert(a.clone(), v.clone());
                        }
                    }
                }
            }
            if !named {
                return full();
            }
        }
        let mut doc = serde_json::Map::new();
        doc.insert(
            "id".into(),
            Value::String(stored.object.anchor.as_str().to_owned()),
        );
        binding.render_into(&mut doc, &attributes, dn, &|r| self.id_for_reference(r));
        filter.matches(&Value::Object(doc), &binding.schema)
    }

    /// A query over every resource type the connector serves (`POST /.search` at the root):
    /// users first, then groups, as one list whose window spans both. A filter naming an
    /// attribute one type does not have matches nothing of that type; one that no type has
    /// is refused as for a single type.
    pub async fn query_all(
        self: &Arc<Self>,
        q: &Query,
        base_url: &str,
    ) -> Result<ListResponse, ApiError> {
        let paging = self.paging(q)?;
        let mut bindings = vec![&self.users];
        bindings.extend(self.groups.as_ref());
        let mut first_refusal = None;
        let known: Vec<&Binding> = bindings
            .into_iter()
            .filter(|b| match self.parse_filter(b, q) {
                Ok(_) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        if known.is_empty()
            && let Some(e) = first_refusal
        {
            return Err(e);
        }
        // Skip `offset` resources across the types in order, then take up to `count`.
        let mut skip = paging.start_index.saturating_sub(1);
        let mut room = paging.count;
        let mut total = 0usize;
        let mut resources = Vec::new();
        for binding in known {
            let part = Query {
                start_index: Some((skip + 1).to_string()),
                count: Some(room.to_string()),
                ..q.clone()
            };
            let list = self.query(binding, &part, base_url).await?;
            let found = list.total_results;
            let page = list.resources;
            total += found;
            skip = skip.saturating_sub(found);
            room = room.saturating_sub(page.len());
            resources.extend(page);
        }
        Ok(ListResponse::new(total, paging.start_index, resources))
    }

    /// The query's filter, parsed. In the `scim` schema mode a filter naming an attribute
    /// outside the advertised schema is refused with `invalidFilter` (RFC 7644 §3.4.2.2); the
    /// `ecma2host` mode keeps Microsoft's host's behaviour, where Entra's connectivity probe
    /// (`PLACEHOLDER eq "…"`) gets an empty list.
    pub fn parse_filter(&self, binding: &Binding, q: &Query) -> Result<Option<Filter>, ApiError> {
        let filter = match q.filter.as_deref().map(str::trim) {
            Some(f) if !f.is_empty() => Filter::parse(f)?,
            _ => return Ok(None),
        };
        if self.config.schema == SchemaMode::Scim
            && let Some(name) = filter.unknown_attribute(&binding.schema)
        {
            return Err(ScimError::invalid_filter(format!(
                "the filter names {name}, which is no attribute of {} here (see /Schemas)",
                binding.schema.name
            ))
            .into());
        }
        Ok(Some(filter))
    }

    /// Whether `filter` is answered by an index lookup (no scan).
    fn is_indexed_lookup(&self, binding: &Binding, filter: &Filter) -> bool {
        self.probe(binding, filter).is_some()
    }

    /// Computes one list response. Blocking (it reads the space). The caller serialises it
    /// as it is: no intermediate `Value` copy of the whole page.
    fn answer(
        &self,
        binding: &Binding,
        filter: Option<&Filter>,
        sort: Option<&Sort>,
        paging: &Paging,
        projection: &Projection,
        base: &str,
    ) -> Result<ListResponse, ApiError> {
        let mut list = match (filter, sort) {
            (None, None) => self.list_page(binding, paging, base)?,
            _ => {
                let indexed = match filter {
                    Some(f) => self.candidates(binding, f, base)?.map(|mut c| {
                        c.retain(|doc| f.matches(doc, &binding.schema));
                        c
                    }),
                    None => None,
                };
                let mut matches = match indexed {
                    Some(c) => c,
                    None => self.scan_matching(binding, filter, base)?,
                };
                if let Some(s) = sort {
                    s.sort(&mut matches, &binding.schema);
                }
                ListResponse::page(matches, paging)
            }
        };
        for doc in &mut list.resources {
            projection.apply(doc, &binding.schema);
        }
        Ok(list)
    }

    /// A plain page in creation order, without loading the rest.
    fn list_page(
        &self,
        binding: &Binding,
        paging: &Paging,
        base: &str,
    ) -> Result<ListResponse, ApiError> {
        let total = self.space.count(&binding.object_type)?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let (offset, limit) = paging.window(total);
        let objects = if limit == 0 {
            Vec::new()
        } else {
            self.space
                .list(&binding.object_type, offset as u64, limit as u64)?
        };
        let resources = objects
            .iter()
            .map(|o| self.render(binding, o, base))
            .collect();
        Ok(ListResponse::new(total, paging.start_index, resources))
    }

    /// The rendered candidates for an equality filter on an indexed attribute, or `None` when
    /// the filter cannot use an index.
    fn candidates(
        &self,
        binding: &Binding,
        filter: &Filter,
        base: &str,
    ) -> Result<Option<Vec<Value>>, ApiError> {
        Ok(self.candidate_objects(binding, filter)?.map(|found| {
            found
                .iter()
                .map(|o| self.render(binding, o, base))
                .collect()
        }))
    }

    /// The stored candidates for an equality filter on an indexed attribute, or `None` when
    /// the filter cannot use an index. Blocking on a shared space.
    fn candidate_objects(
        &self,
        binding: &Binding,
        filter: &Filter,
    ) -> Result<Option<Vec<StoredObject>>, ApiError> {
        let Some(probe) = self.probe(binding, filter) else {
            return Ok(None);
        };
        let ot = &binding.object_type;
        Ok(Some(match probe {
            Probe::Anchor(anchor) => self.space.get(ot, &anchor)?.into_iter().collect(),
            Probe::Dn(dn) => self.space.get_by_dn(ot, &dn)?.into_iter().collect(),
            Probe::Value { attribute, value } => self.space.lookup(ot, &attribute, &value)?,
            Probe::Reference { attribute, id } => match self.reference_for_id(&id)? {
                Some(value) => self.space.lookup(ot, &attribute, &value)?,
                None => Vec::new(),
            },
        }))
    }

    /// [`candidate_objects`](Self::candidate_objects) of a probe, for an async caller: inline
    /// on the embedded space, awaited without blocking a thread on a shared space.
    async fn probe_async(
        &self,
        binding: &Binding,
        probe: Probe,
    ) -> Result<Vec<StoredObject>, ApiError> {
        let ot = &binding.object_type;
        Ok(match probe {
            Probe::Anchor(anchor) => self
                .space
                .get_async(ot, &anchor)
                .await?
                .into_iter()
                .collect(),
            Probe::Dn(dn) => self
                .space
                .get_by_dn_async(ot, &dn)
                .await?
                .into_iter()
                .collect(),
            Probe::Value { attribute, value } => {
                self.space.lookup_async(ot, &attribute, &value).await?
            }
            Probe::Reference { attribute, id } => match self.reference_for_id_async(&id).await? {
                Some(value) => self.space.lookup_async(ot, &attribute, &value).await?,
                None => Vec::new(),
            },
        })
    }

    /// Where the candidates of an equality filter are found: the first term on the anchor, the
    /// DN or an indexed attribute; `None` when no term can use an index. Reads nothing.
    fn probe(&self, binding: &Binding, filter: &Filter) -> Option<Probe> {
        for (path, literal) in filter.equality_terms()? {
            let text = match literal {
                Literal::String(s) => s.clone(),
                Literal::Number(n) => n.to_string(),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => continue,
            };
            match binding.filter_target(path) {
                Some(FilterTarget::Anchor) => return Some(Probe::Anchor(Anchor(text))),
                Some(FilterTarget::Dn) => return Some(Probe::Dn(text)),
                Some(FilterTarget::Attribute(attribute))
                    if self.space.is_indexed(&binding.object_type, &attribute) =>
                {
                    // A reference is stored in the connector's form: look up that, not the id.
                    return Some(if binding.is_reference(&attribute) {
                        Probe::Reference {
                            attribute,
                            id: text,
                        }
                    } else {
                        Probe::Value {
                            attribute,
                            value: text,
                        }
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// Every object of the type, evaluated against `filter`, up to the configured bound.
    fn scan_matching(
        &self,
        binding: &Binding,
        filter: Option<&Filter>,
        base: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut after: Option<Anchor> = None;
        let mut scanned = 0u64;
        loop {
            let batch = self
                .space
                .scan(&binding.object_type, after.as_ref(), SCAN_BATCH)?;
            let Some(last) = batch.last() else { break };
            after = Some(last.object.anchor.clone());
            scanned += batch.len() as u64;
            if scanned > self.max_filter_scan {
                return Err(ScimError::new(
                    ScimType::TooMany,
                    format!(
                        "this filter cannot use an index and would scan more than {} objects; filter with eq on an indexed attribute (see match_attributes)",
                        self.max_filter_scan
                    ),
                )
                .into());
            }
            for o in &batch {
                let doc = self.render(binding, o, base);
                if filter.is_none_or(|f| f.matches(&doc, &binding.schema)) {
                    out.push(doc);
                }
            }
            if (batch.len() as u64) < SCAN_BATCH {
                break;
            }
        }
        Ok(out)
    }
}
