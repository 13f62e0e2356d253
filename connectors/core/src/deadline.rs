//! [`Deadline`]: the instant by which a connector call must have returned.
//!
//! Every call the host makes carries one (Entra gives up after 60 s; the host budgets less).
//! A connector whose work can be interrupted (a statement, an LDAP operation, an HTTP call, a
//! child process) bounds that work by [`Deadline::remaining`] and, once it has passed, returns
//! [`ConnectorError::Timeout`]. A connector that cannot interrupt its driver at least checks the
//! deadline before it starts ([`Deadline::check`]), so work that is already too late never
//! reaches the target.

use std::time::{Duration, Instant};

use crate::error::ConnectorError;

/// The instant by which a connector call must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Deadline(
            now.checked_add(budget)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        )
    }

    /// A deadline at an instant.
    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    /// A deadline that has already passed (tests, and calls that must not start).
    pub fn passed() -> Self {
        Deadline(Instant::now())
    }

    /// The instant itself.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// The time left; zero once the deadline has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// `Ok` while time is left, else a [`ConnectorError::Timeout`] naming `what` was not started.
    pub fn check(&self, what: &str) -> Result<(), ConnectorError> {
        if self.expired() {
            Err(ConnectorError::timeout(format!(
                "the deadline passed before {what}"
            )))
        } else {
            Ok(())
        }
    }

    /// The time left, capped at `limit` (a connector's own per-operation limit).
    pub fn remaining_within(&self, limit: Duration) -> Duration {
        self.remaining().min(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_shrinks_and_a_passed_deadline_refuses_work() {
        let d = Deadline::after(Duration::from_secs(60));
        assert!(d.remaining() > Duration::from_secs(59));
        assert!(d.check("the export").is_ok());
        assert_eq!(
            d.remaining_within(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        let p = Deadline::passed();
        assert!(p.expired());
        assert_eq!(p.remaining(), Duration::ZERO);
        let err = p.check("the export").unwrap_err();
        assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
        assert!(err.detail().contains("the export"));
    }
}
