//! Paged searches: `GET v2/resources/?filter=…&attributes=…&pageSize=…`, then the `NextPage`
//! each answer points to, one page per call, so memory is bounded by the page size.
//!
//! Lithnet offers one more page while `index + pageSize - 1 < TotalCount`, so the last page
//! may be empty; an empty page ends the search whatever `NextPage` says. The API keeps a
//! search's pager for 5 minutes without use; a later page then fails with "Invalid token"
//! (`Unavailable`: run the import again).

use connector_core::{ConnectorError, Deadline};
use reqwest::Url;
use serde_json::Value;

use crate::http::{Http, Req};

/// One page of results.
pub(crate) struct Page {
    pub results: Vec<Value>,
    /// `TotalCount`: the size of the result set when the search began.
    pub total: u64,
    /// The server's `Date` header, when it sent one.
    pub date: Option<String>,
}

/// A search in progress.
pub(crate) struct Search {
    next: Option<Url>,
    context: String,
}

impl Search {
    /// A search for `filter`. `fields` is `("attributes", "A,B")` (`ObjectID` and
    /// `ObjectType` always come back) or `("objectType", "Person")` (all of its attributes).
    pub fn new(http: &Http, filter: &str, fields: (&str, &str), page_size: usize) -> Search {
        let page_size = page_size.max(1).to_string();
        let pairs = [("filter", filter), ("pageSize", page_size.as_str()), fields];
        Search {
            next: Some(http.search_url(&pairs)),
            context: format!("search {filter}"),
        }
    }

    /// The next page; `None` once the search is done.
    pub fn page(
        &mut self,
        http: &Http,
        deadline: Deadline,
    ) -> Result<Option<Page>, ConnectorError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        deadline.check("the next search page")?;
        let reply = http.expect(&Req::read(url, &self.context), deadline)?;
        let json = reply.json()?;
        let results = match json.get("Results") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                return Err(ConnectorError::unavailable(format!(
                    "{}: Results is not a list: {other}",
                    self.context
                )));
            }
        };
        let total = json.get("TotalCount").and_then(Value::as_u64).unwrap_or(0);
        if !results.is_empty()
            && let Some(next) = json.get("NextPage").and_then(Value::as_str)
        {
            self.next = http.next_page_url(next);
        }
        if results.is_empty() {
            self.next = None;
        }
        Ok(Some(Page {
            results,
            total,
            date: reply.header("date").map(str::to_owned),
        }))
    }

    /// Every result, for small result sets (the schema).
    pub fn all(mut self, http: &Http, deadline: Deadline) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        while let Some(page) = self.page(http, deadline)? {
            out.extend(page.results);
        }
        Ok(out)
    }
}
