//! [`ApiError`]: the one error type of the SCIM boundary, and the one place where every failure
//! becomes an HTTP status, a `scimType` and a body.
//!
//! Client mistakes carry their detail to the client. Server-side failures (a broken connector
//! space, a misconfigured connector, a panic) are logged with their cause inside the request's
//! span, and the client gets a generic detail plus the request id to quote to an administrator.

use std::time::Duration;

use connector_core::ConnectorError;
use schemas::{ScimError, ScimType};

use crate::space::SpaceError;

/// Everything a SCIM request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol-level error with its own status and `scimType` (bad filter, bad PATCH, …).
    #[error("{0}")]
    Scim(#[from] ScimError),
    /// The connector reported a failure at the target.
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    /// The connector space failed.
    #[error("{0}")]
    Space(#[from] SpaceError),
    /// No or a wrong bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The request body is larger than the configured limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// No such endpoint or connector.
    #[error("{0}")]
    NotFound(String),
    /// A method the endpoint does not support; `allow` lists those it does (the `Allow` header).
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: &'static str },
    /// A request body of a media type other than SCIM's JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `If-Match` that does not match the resource's current version (RFC 7644 §3.14).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The connector has not finished its first full import, so lookups cannot be answered;
    /// the client is asked to retry after `retry_after`.
    #[error("{detail}")]
    Importing {
        detail: String,
        retry_after: Duration,
    },
    /// A bug or an unexpected state; details only in the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the HTTP layer sends for an [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    /// The detail sent to the client.
    pub detail: String,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// Whether the cause is on the server side and must be logged as an error.
    pub server_fault: bool,
    /// `Allow`: the methods the endpoint supports (405 only).
    pub allow: Option<&'static str>,
}

/// Seconds a client is asked to wait after a target outage or timeout.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

impl ApiError {
    /// The status, `scimType`, detail and retry hint for this error (the mapping table).
    pub fn render(&self) -> Rendered {
        let r = |status: u16, scim_type: Option<ScimType>, detail: String| Rendered {
            status,
            scim_type,
            detail,
            retry_after: None,
            server_fault: status >= 500,
            allow: None,
        };
        match self {
            ApiError::Scim(e) => r(e.status, e.scim_type, e.detail.clone()),
            ApiError::Connector(e) => match e {
                ConnectorError::Unavailable {
                    detail,
                    retry_after,
                } => Rendered {
                    retry_after: Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER).as_secs().max(1)),
                    ..r(
                        503,
                        None,
                        format!("the target system is unavailable; nothing was changed, retry later ({detail})"),
                    )
                },
                ConnectorError::Timeout { detail } => Rendered {
                    retry_after: Some(DEFAULT_RETRY_AFTER.as_secs()),
                    ..r(
                        503,
                        None,
                        format!("the target system did not answer in time; the change may still complete, retry later ({detail})"),
                    )
                },
                ConnectorError::Conflict { detail } => {
                    r(409, Some(ScimType::Uniqueness), detail.clone())
                }
                ConnectorError::NotFound { detail } => r(404, None, detail.clone()),
                ConnectorError::Rejected { detail } => {
                    r(400, Some(ScimType::InvalidValue), detail.clone())
                }
                // Only delta imports return it, and the host answers it with a full import; a
                // request that met it can be retried once that has run.
                ConnectorError::ResyncRequired { detail } => Rendered {
                    retry_after: Some(DEFAULT_RETRY_AFTER.as_secs()),
                    ..r(
                        503,
                        None,
                        format!("the connector is resynchronising with its target; retry later ({detail})"),
                    )
                },
                ConnectorError::Misconfigured { .. } => r(
                    500,
                    None,
                    "the connector is misconfigured; an administrator must check the connector-host log".into(),
                ),
            },
            // A shared store restarting: nothing was written, and the client retries.
            ApiError::Space(SpaceError::Unavailable(_)) => Rendered {
                retry_after: Some(DEFAULT_RETRY_AFTER.as_secs()),
                ..r(
                    503,
                    None,
                    "the connector space is unavailable (its database is restarting or unreachable); nothing was changed, retry later".into(),
                )
            },
            ApiError::Space(SpaceError::NotIndexed { .. }) | ApiError::Space(_) => r(
                500,
                None,
                "the connector space failed; an administrator must check the connector-host log".into(),
            ),
            ApiError::Unauthorized(detail) => r(401, None, (*detail).to_owned()),
            ApiError::TooLarge(limit) => r(
                413,
                None,
                format!("the request body is larger than the limit of {limit} bytes"),
            ),
            ApiError::NotFound(detail) => r(404, None, detail.clone()),
            ApiError::MethodNotAllowed { detail, allow } => Rendered {
                allow: Some(allow),
                ..r(405, None, detail.clone())
            },
            ApiError::UnsupportedMediaType(detail) => r(415, None, detail.clone()),
            ApiError::PreconditionFailed(detail) => r(412, None, detail.clone()),
            ApiError::Importing {
                detail,
                retry_after,
            } => Rendered {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..r(503, None, detail.clone())
            },
            ApiError::Internal(_) => r(
                500,
                None,
                "internal error; an administrator must check the connector-host log".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: ApiError, status: u16, scim_type: Option<ScimType>, retry: bool) {
        let r = err.render();
        assert_eq!(r.status, status, "{err:?}");
        assert_eq!(r.scim_type, scim_type, "{err:?}");
        assert_eq!(r.retry_after.is_some(), retry, "{err:?}");
        assert!(!r.detail.is_empty());
    }

    #[test]
    fn mapping_table() {
        use ConnectorError as C;
        check(
            ScimError::invalid_filter("x").into(),
            400,
            Some(ScimType::InvalidFilter),
            false,
        );
        check(
            ScimError::uniqueness("x").into(),
            409,
            Some(ScimType::Uniqueness),
            false,
        );
        check(C::unavailable("down").into(), 503, None, true);
        check(C::timeout("slow").into(), 503, None, true);
        check(
            C::conflict("dup").into(),
            409,
            Some(ScimType::Uniqueness),
            false,
        );
        check(C::not_found("gone").into(), 404, None, false);
        check(
            C::rejected("NOT NULL").into(),
            400,
            Some(ScimType::InvalidValue),
            false,
        );
        check(C::misconfigured("no table").into(), 500, None, false);
        check(SpaceError::Storage("disk".into()).into(), 500, None, false);
        check(
            SpaceError::Unavailable("restarting".into()).into(),
            503,
            None,
            true,
        );
        check(ApiError::Unauthorized("no token"), 401, None, false);
        check(ApiError::TooLarge(10), 413, None, false);
        check(ApiError::NotFound("x".into()), 404, None, false);
        check(
            ApiError::MethodNotAllowed {
                detail: "x".into(),
                allow: "GET",
            },
            405,
            None,
            false,
        );
        check(ApiError::UnsupportedMediaType("x".into()), 415, None, false);
        check(ApiError::PreconditionFailed("x".into()), 412, None, false);
        check(
            ApiError::Importing {
                detail: "first import".into(),
                retry_after: Duration::from_secs(5),
            },
            503,
            None,
            true,
        );
        check(ApiError::Internal("bug".into()), 500, None, false);
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let r = ApiError::MethodNotAllowed {
            detail: "PUT is not supported on /Schemas".into(),
            allow: "GET",
        }
        .render();
        assert_eq!((r.status, r.allow), (405, Some("GET")));
        assert_eq!(ApiError::NotFound("x".into()).render().allow, None);
    }

    #[test]
    fn server_faults_do_not_leak_their_cause() {
        for err in [
            ApiError::Connector(ConnectorError::misconfigured("password=hunter2 rejected")),
            ApiError::Space(SpaceError::Storage("/secret/path: disk".into())),
            ApiError::Internal("stack".into()),
        ] {
            let r = err.render();
            assert!(r.server_fault);
            assert!(
                !r.detail.contains("hunter2")
                    && !r.detail.contains("/secret")
                    && !r.detail.contains("stack")
            );
        }
    }

    #[test]
    fn retry_after_uses_the_connector_hint() {
        let r = ApiError::Connector(ConnectorError::Unavailable {
            detail: "restarting".into(),
            retry_after: Some(Duration::from_secs(5)),
        })
        .render();
        assert_eq!(r.retry_after, Some(5));
    }
}
