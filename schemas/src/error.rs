//! The SCIM error (RFC 7644 §3.12): the one error type of this crate and the wire body every
//! failure is rendered as.
//!
//! Everything in `schemas` that can fail returns a [`ScimError`], already carrying the HTTP status
//! and the `scimType` keyword a client needs, so callers never guess a status from a message.

use serde::{Deserialize, Serialize};

/// URN of the error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    /// The filter syntax was invalid or the filter type is not supported.
    InvalidFilter,
    /// The filter yields too many results for the server to process.
    TooMany,
    /// One or more attribute values are already in use or reserved.
    Uniqueness,
    /// The attempted modification is not compatible with the target attribute's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed.
    InvalidPath,
    /// The specified `path` did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value was not compatible with the operation or type.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because it would reveal sensitive information.
    Sensitive,
}

impl ScimType {
    /// The keyword as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }

    /// The HTTP status RFC 7644 pairs with this keyword.
    pub fn status(self) -> u16 {
        match self {
            ScimType::Uniqueness => 409,
            ScimType::Sensitive => 403,
            _ => 400,
        }
    }
}

/// A SCIM error: HTTP status, optional `scimType` and a detail a human can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.map(ScimType::as_str).unwrap_or("error"))]
pub struct ScimError {
    /// HTTP status code.
    pub status: u16,
    /// The `scimType` keyword, where one applies.
    pub scim_type: Option<ScimType>,
    /// Human-readable explanation.
    pub detail: String,
}

impl ScimError {
    /// An error with a `scimType`, at the status RFC 7644 gives that keyword.
    pub fn new(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError {
            status: scim_type.status(),
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// An error with a status and no `scimType` (404, 401, 500, 503, …).
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// `400 invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidFilter, detail)
    }
    /// `400 invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidPath, detail)
    }
    /// `400 invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidSyntax, detail)
    }
    /// `400 invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidValue, detail)
    }
    /// `400 noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ScimType::NoTarget, detail)
    }
    /// `400 mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ScimType::Mutability, detail)
    }
    /// `409 uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(ScimType::Uniqueness, detail)
    }
    /// `404` for a resource that does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::status(404, detail)
    }

    /// The RFC 7644 §3.12 JSON body.
    pub fn to_body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("schemas".into(), serde_json::json!([ERROR_SCHEMA]));
        // RFC 7644 shows status as a string ("400"); Entra and most clients accept either.
        body.insert(
            "status".into(),
            serde_json::Value::String(self.status.to_string()),
        );
        if let Some(t) = self.scim_type {
            body.insert(
                "scimType".into(),
                serde_json::Value::String(t.as_str().into()),
            );
        }
        body.insert(
            "detail".into(),
            serde_json::Value::String(self.detail.clone()),
        );
        serde_json::Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_rfc_shape() {
        let e = ScimError::uniqueness("userName \"bjensen\" is already taken");
        assert_eq!(e.status, 409);
        assert_eq!(
            e.to_body(),
            serde_json::json!({
                "schemas": [ERROR_SCHEMA],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName \"bjensen\" is already taken"
            })
        );
        let nf = ScimError::not_found("no such user").to_body();
        assert!(nf.get("scimType").is_none());
        assert_eq!(nf["status"], "404");
    }
}
