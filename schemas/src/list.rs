//! Query results: the list response (RFC 7644 §3.4.2), paging (§3.4.2.4) and sorting
//! (§3.4.2.3).
//!
//! Every query answer is a [`ListResponse`], even an empty one: Entra's probe
//! (`filter=userName eq "<random GUID>"`) needs `200` with `totalResults: 0` and `Resources: []`.
//! [`Paging`] turns the `startIndex`/`count` parameters into a window over the matching
//! resources, forgiving what the RFC says to forgive and rejecting what is not a number.
//! [`Sort`] orders resources by one attribute the way the RFC prescribes.

use std::cmp::Ordering;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::error::ScimError;
use crate::resource::{LIST_RESPONSE, get_ci, parse_instant};
use crate::schema::{AttrType, ResourceSchema};

/// A list response (RFC 7644 §3.4.2). It serialises as
/// `{"schemas":[ListResponse URN],"totalResults":…,"itemsPerPage":…,"startIndex":…,"Resources":[…]}`,
/// with `Resources` always present (`[]` when empty).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    /// How many resources match the query in all (not just on this page).
    pub total_results: usize,
    /// How many resources this page holds.
    pub items_per_page: usize,
    /// The 1-based index of this page's first resource.
    pub start_index: usize,
    /// The resources of this page.
    #[serde(rename = "Resources", default)]
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// A page of `resources` that starts at `start_index` out of `total_results` matches;
    /// `itemsPerPage` is the number of resources given.
    pub fn new(total_results: usize, start_index: usize, resources: Vec<Value>) -> Self {
        ListResponse {
            total_results,
            items_per_page: resources.len(),
            start_index: start_index.max(1),
            resources,
        }
    }

    /// The answer to a query that matched nothing.
    pub fn empty() -> Self {
        ListResponse::new(0, 1, Vec::new())
    }

    /// A whole result set, paged: sorts nothing, takes the window `paging` selects out of
    /// `all` and reports the true total.
    pub fn page(all: Vec<Value>, paging: &Paging) -> Self {
        let total = all.len();
        let (offset, limit) = paging.window(total);
        let resources = all.into_iter().skip(offset).take(limit).collect();
        ListResponse::new(total, paging.start_index, resources)
    }

    /// The JSON body.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for ListResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("schemas", &[LIST_RESPONSE])?;
        map.serialize_entry("totalResults", &self.total_results)?;
        map.serialize_entry("itemsPerPage", &self.items_per_page)?;
        map.serialize_entry("startIndex", &self.start_index)?;
        map.serialize_entry("Resources", &self.resources)?;
        map.end()
    }
}

/// The page a query asks for (RFC 7644 §3.4.2.4): a 1-based `start_index` and a `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based index of the first resource to return; never below 1.
    pub start_index: usize,
    /// How many resources to return at most; 0 returns none but still the true total.
    pub count: usize,
}

impl Paging {
    /// The paging the query parameters ask for. Following RFC 7644 §3.4.2.4: a `startIndex`
    /// below 1 is 1; a negative `count` is 0; a `count` above `max_count` is `max_count`; an
    /// absent `count` is `default_count` (itself capped at `max_count`). An empty parameter
    /// counts as absent. Anything that is not an integer is `400 invalidValue`.
    pub fn from_query(
        start_index: Option<&str>,
        count: Option<&str>,
        default_count: usize,
        max_count: usize,
    ) -> Result<Paging, ScimError> {
        let start = parse_int("startIndex", start_index)?;
        let count = parse_int("count", count)?;
        Ok(Paging::new(start, count, default_count, max_count))
    }

    /// The same rules as [`Paging::from_query`] for values already parsed (e.g. from a
    /// `POST /.search` body).
    pub fn new(
        start_index: Option<i64>,
        count: Option<i64>,
        default_count: usize,
        max_count: usize,
    ) -> Paging {
        let start_index = match start_index {
            Some(s) if s > 1 => usize::try_from(s).unwrap_or(usize::MAX),
            _ => 1,
        };
        let count = match count {
            None => default_count,
            Some(c) if c <= 0 => 0,
            Some(c) => usize::try_from(c).unwrap_or(usize::MAX),
        }
        .min(max_count);
        Paging { start_index, count }
    }

    /// The window over `total` matching resources: how many to skip and how many to take.
    /// A `start_index` past the end gives an empty window.
    pub fn window(&self, total: usize) -> (usize, usize) {
        let offset = self.start_index.saturating_sub(1).min(total);
        let limit = self.count.min(total - offset);
        (offset, limit)
    }
}

/// Parses an optional integer query parameter. Integers too large for `i64` saturate, so a
/// huge `startIndex` is simply past the end.
fn parse_int(name: &str, raw: Option<&str>) -> Result<Option<i64>, ScimError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScimError::invalid_value(format!(
            "{name} must be an integer, got \"{raw}\""
        )));
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Ok(Some(if negative { -magnitude } else { magnitude }))
}

/// The direction of a sort (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    /// `ascending` or `descending`, in any case; absent or empty is ascending. Anything else is
    /// `400 invalidValue`.
    pub fn parse(raw: Option<&str>) -> Result<SortOrder, ScimError> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
            Some(s) => Err(ScimError::invalid_value(format!(
                "sortOrder must be \"ascending\" or \"descending\", got \"{s}\""
            ))),
        }
    }
}

/// A sort by one attribute (RFC 7644 §3.4.2.3), applied over resources in wire form.
///
/// The rules, from the RFC text:
/// - `sortBy` is an attribute path (`userName`, `name.familyName`, `meta.lastModified`,
///   `urn:…:enterprise:2.0:User:employeeNumber`); names match case-insensitively.
/// - A multi-valued attribute sorts by the value marked `primary`, or else the first value;
///   naming a complex multi-valued attribute without a sub-attribute uses its `value`.
/// - Values compare by their type: strings case-insensitively unless the attribute is
///   `caseExact` (Unicode code point order, no locale), numbers numerically, `dateTime`s as
///   instants, booleans false before true. Attributes the schema does not know are typed by
///   their JSON value and compared case-insensitively.
/// - A resource with no value for `sortBy` is ordered last when ascending and first when
///   descending.
/// - The sort is stable: resources with equal keys keep their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// The attribute path to sort by.
    pub by: String,
    /// The direction.
    pub order: SortOrder,
}

/// A sortable value extracted from a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// A boolean.
    Bool(bool),
    /// A number (integer or decimal).
    Number(serde_json::Number),
    /// A `dateTime`, as an instant.
    Instant(time::OffsetDateTime),
    /// A string, already folded to lower case when the attribute is not case-exact.
    Text(String),
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::Instant(_) => 2,
            SortKey::Text(_) => 3,
        }
    }

    /// Total order over keys; keys of different kinds (which only a schema-less attribute
    /// holding mixed JSON types produces) order booleans, numbers, instants, then strings.
    pub fn compare(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => compare_numbers(a, b),
            (SortKey::Instant(a), SortKey::Instant(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let x = a.as_f64().unwrap_or(f64::NAN);
    let y = b.as_f64().unwrap_or(f64::NAN);
    x.total_cmp(&y)
}

impl Sort {
    /// The sort the query parameters ask for: `None` without a `sortBy` (a `sortOrder` alone is
    /// ignored); an invalid `sortOrder` is `400 invalidValue`.
    pub fn from_query(
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> Result<Option<Sort>, ScimError> {
        let order = SortOrder::parse(sort_order)?;
        Ok(sort_by
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|by| Sort {
                by: by.to_owned(),
                order,
            }))
    }

    /// The key `resource` sorts by, or `None` if it has no value for the attribute.
    pub fn key(&self, resource: &Value, schema: &ResourceSchema) -> Option<SortKey> {
        sort_key(resource, &self.by, schema)
    }

    /// Compares two resources under this sort.
    pub fn compare(&self, a: &Value, b: &Value, schema: &ResourceSchema) -> Ordering {
        compare_keys(
            self.key(a, schema).as_ref(),
            self.key(b, schema).as_ref(),
            self.order,
        )
    }

    /// Sorts `resources` in place (stable), extracting each key once.
    pub fn sort(&self, resources: &mut Vec<Value>, schema: &ResourceSchema) {
        let mut keyed: Vec<(Option<SortKey>, Value)> = std::mem::take(resources)
            .into_iter()
            .map(|r| (self.key(&r, schema), r))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| compare_keys(a.as_ref(), b.as_ref(), self.order));
        resources.extend(keyed.into_iter().map(|(_, r)| r));
    }
}

/// Orders two optional keys: missing keys last when ascending, first when descending.
pub fn compare_keys(a: Option<&SortKey>, b: Option<&SortKey>, order: SortOrder) -> Ordering {
    let ascending = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.compare(y),
    };
    match order {
        SortOrder::Ascending => ascending,
        SortOrder::Descending => ascending.reverse(),
    }
}

/// Extracts the sort key of `resource` for the attribute path `path`.
pub fn sort_key(resource: &Value, path: &str, schema: &ResourceSchema) -> Option<SortKey> {
    let obj = resource.as_object()?;
    let (urn, rest) = split_path_urn(schema, path);
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let container = match urn {
        Some(u) => get_ci(obj, u)?.as_object()?,
        None => obj,
    };
    let mut value = get_ci(container, name)?;
    if let Value::Array(items) = value {
        value = items
            .iter()
            .find(|v| v.get("primary").is_some_and(is_true))
            .or_else(|| items.first())?;
    }
    let def = schema.resolve(path);
    let sub = match (sub, value) {
        (Some(s), _) => Some(s),
        // A complex value named without a sub-attribute sorts by its `value`.
        (None, Value::Object(_)) => Some("value"),
        (None, _) => None,
    };
    let (value, def) = match sub {
        Some(s) => {
            let inner = get_ci(value.as_object()?, s)?;
            let inner_def = match &def {
                Some(d) if d.attr_type == AttrType::Complex => d.sub_attribute(s).cloned(),
                other => other.clone(),
            };
            (inner, inner_def)
        }
        None => (value, def),
    };
    let attr_type = def.as_ref().map(|d| d.attr_type);
    let case_exact = def.as_ref().is_some_and(|d| d.case_exact);
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => Some(SortKey::Number(n.clone())),
        Value::String(s) => match attr_type {
            Some(AttrType::DateTime) => parse_instant(s)
                .map(SortKey::Instant)
                .or_else(|| Some(text_key(s, case_exact))),
            Some(AttrType::Boolean) if s.eq_ignore_ascii_case("true") => Some(SortKey::Bool(true)),
            Some(AttrType::Boolean) if s.eq_ignore_ascii_case("false") => {
                Some(SortKey::Bool(false))
            }
            _ => Some(text_key(s, case_exact)),
        },
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn text_key(s: &str, case_exact: bool) -> SortKey {
    SortKey::Text(if case_exact {
        s.to_owned()
    } else {
        s.to_lowercase()
    })
}

fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Splits a path into the extension URN it is qualified with (as declared by `schema`, or
/// any other `urn:` prefix up to the last colon) and the rest. Core-qualified paths lose their
/// prefix.
pub(crate) fn split_path_urn<'a>(
    schema: &ResourceSchema,
    path: &'a str,
) -> (Option<&'a str>, &'a str) {
    let (urn, rest) = schema.split_urn(path);
    if urn.is_some() {
        let prefix_len = path.len().saturating_sub(rest.len() + 1);
        return (path.get(..prefix_len), rest);
    }
    if rest.len() == path.len()
        && path
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        && let Some((u, r)) = path.rsplit_once(':')
    {
        return (Some(u), r);
    }
    (None, rest)
}
