//! [`Secret`]: a value that must reach the exporting connector and nothing else.
//!
//! Passwords travel from a SCIM request to the one connector that exports them, inside a
//! [`crate::Change`], and nowhere else: not into the connector space, an import, a log line, a
//! response or the space view (DESIGN §2). The type makes the safe thing the easy thing:
//! - `Debug` prints `Secret(<redacted>)`, so a change or an object logged with `{:?}` leaks
//!   nothing;
//! - there is no `Display`, and [`crate::AttrValue::to_text`] of a secret is a redaction marker,
//!   never the text;
//! - serialising a [`crate::AttrValue::Secret`] fails, so a secret that reached a serialiser (the
//!   connector space's JSON, a response) is an error, not a leak;
//! - the text is reached only through [`Secret::expose`], which a connector calls at the one
//!   place it hands the value to its target.

use std::fmt;

/// A secret value (a password). See the module docs for what it guarantees.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What [`crate::AttrValue::to_text`] returns for a secret.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret text. Call it only where the value is handed to the target.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrValue, ConnectorObject};

    #[test]
    fn a_secret_never_prints_and_never_serialises() {
        let obj = ConnectorObject::new("User", "1")
            .with("password", vec![AttrValue::Secret(Secret::new("S3cret!"))]);
        let debug = format!("{obj:?}");
        assert!(!debug.contains("S3cret"), "{debug}");
        assert!(debug.contains(REDACTED));
        assert_eq!(obj.values("password")[0].to_text(), REDACTED);
        assert!(
            serde_json::to_string(&obj).is_err(),
            "serialising a secret must fail"
        );
        assert_eq!(
            obj.values("password")[0].as_secret().map(Secret::expose),
            Some("S3cret!")
        );
    }
}
