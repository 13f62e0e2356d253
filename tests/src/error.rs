//! The one error type of the harness. End-to-end helpers report a host that breaks Entra's
//! contract as [`E2eError::Unexpected`], naming the request, what Entra expects and what came
//! back, so a failing test reads like a bug report the host's author can act on.

use std::fmt;

/// Why a harness call or an Entra sequence failed.
#[derive(thiserror::Error)]
pub enum E2eError {
    /// The host answered, but not as Entra expects.
    #[error("{request}\n  expected: {expected}\n  got:      {got}")]
    Unexpected {
        /// The request, e.g. `POST /Users`.
        request: String,
        /// What Entra (or the brief's contract) expects.
        expected: String,
        /// What the host sent, status and body.
        got: String,
    },
    /// The HTTP exchange itself failed (connection, TLS, timeout).
    #[error("{request}: HTTP failure: {source}")]
    Http {
        /// The request.
        request: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The host could not be started, stopped or reached.
    #[error("host: {0}")]
    Host(String),
    /// A local file operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A fixture or assertion query on the target database failed.
    #[error("database: {0}")]
    Db(String),
}

// Tests returning `Result<(), E2eError>` print the error with `Debug`; show the readable form.
impl fmt::Debug for E2eError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The harness's result type.
pub type Result<T, E = E2eError> = std::result::Result<T, E>;

/// An [`E2eError::Unexpected`] for `request`.
pub fn unexpected(
    request: impl Into<String>,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> E2eError {
    E2eError::Unexpected {
        request: request.into(),
        expected: expected.into(),
        got: got.into(),
    }
}

/// Fails with [`E2eError::Unexpected`] unless `condition` holds.
pub fn ensure(
    condition: bool,
    request: impl Into<String>,
    expected: impl Into<String>,
    got: impl FnOnce() -> String,
) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(unexpected(request, expected, got()))
    }
}

/// An I/O error with its context.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
    let context = context.into();
    move |source| E2eError::Io { context, source }
}
