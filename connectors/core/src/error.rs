//! [`ConnectorError`]: what went wrong at the target, named for what the host must do about it.
//!
//! The host maps each variant to exactly one SCIM status (in `host`), so a connector author only
//! has to decide which situation they are in, never which HTTP status to send.

use std::time::Duration;

/// An error from a connector, classified by the host's reaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target cannot be reached or is temporarily refusing work (connection refused, database
    /// restarting, deadlock victim, server busy). Nothing was written. The host answers 503 with
    /// `Retry-After`, and the caller should retry.
    #[error("target unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The target did not answer within the time budget. The outcome of a write is unknown; the
    /// host answers 503 so the caller retries, and re-reads the object before the retry is applied.
    #[error("target timed out: {detail}")]
    Timeout { detail: String },
    /// The object, or a value that must be unique, already exists at the target (409 `uniqueness`).
    #[error("conflict at target: {detail}")]
    Conflict { detail: String },
    /// The object does not exist at the target. The host drops it from the connector space (404).
    #[error("not found at target: {detail}")]
    NotFound { detail: String },
    /// The target refused the change for a reason retrying will not fix: a constraint, a missing
    /// required value, a value of the wrong type, a missing referenced object (400).
    #[error("rejected by target: {detail}")]
    Rejected { detail: String },
    /// A delta import cannot continue from the watermark it was given (the target's change
    /// history no longer reaches back that far, the server wants a full resynchronisation, the
    /// watermark was made by another connector or strategy). Nothing was read; the host runs a
    /// full import now, which sets a new watermark. Only delta imports return it.
    #[error("a full import is needed: {detail}")]
    ResyncRequired { detail: String },
    /// The connector is configured in a way that cannot work (unknown table, bad credentials,
    /// unsupported operation). An administrator must act; the host answers 500 and logs it.
    #[error("connector misconfigured: {detail}")]
    Misconfigured { detail: String },
}

impl ConnectorError {
    /// The human-readable detail, without the classification prefix.
    pub fn detail(&self) -> &str {
        match self {
            ConnectorError::Unavailable { detail, .. }
            | ConnectorError::Timeout { detail }
            | ConnectorError::Conflict { detail }
            | ConnectorError::NotFound { detail }
            | ConnectorError::Rejected { detail }
            | ConnectorError::ResyncRequired { detail }
            | ConnectorError::Misconfigured { detail } => detail,
        }
    }

    /// The same error with `more` appended to its detail (e.g. what was already done when it
    /// happened).
    pub fn with_more_detail(self, more: &str) -> Self {
        let mut e = self;
        match &mut e {
            ConnectorError::Unavailable { detail, .. }
            | ConnectorError::Timeout { detail }
            | ConnectorError::Conflict { detail }
            | ConnectorError::NotFound { detail }
            | ConnectorError::Rejected { detail }
            | ConnectorError::ResyncRequired { detail }
            | ConnectorError::Misconfigured { detail } => detail.push_str(more),
        }
        e
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Unavailable { .. } | ConnectorError::Timeout { .. }
        )
    }

    /// Shorthand for [`ConnectorError::Unavailable`] without a retry hint.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ConnectorError::Unavailable {
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// Shorthand for [`ConnectorError::Conflict`].
    pub fn conflict(detail: impl Into<String>) -> Self {
        ConnectorError::Conflict {
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ConnectorError::NotFound`].
    pub fn not_found(detail: impl Into<String>) -> Self {
        ConnectorError::NotFound {
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ConnectorError::Rejected`].
    pub fn rejected(detail: impl Into<String>) -> Self {
        ConnectorError::Rejected {
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ConnectorError::Misconfigured`].
    pub fn misconfigured(detail: impl Into<String>) -> Self {
        ConnectorError::Misconfigured {
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ConnectorError::ResyncRequired`].
    pub fn resync_required(detail: impl Into<String>) -> Self {
        ConnectorError::ResyncRequired {
            detail: detail.into(),
        }
    }
    /// Shorthand for [`ConnectorError::Timeout`].
    pub fn timeout(detail: impl Into<String>) -> Self {
        ConnectorError::Timeout {
            detail: detail.into(),
        }
    }
}
