//! Conversions between SCIM JSON values and connector [`AttrValue`]s, driven by the connector's
//! attribute kind on the way in and the SCIM attribute type on the way out.
//!
//! Both directions know both types, so this is where a SCIM boolean kept in an integer or bit
//! column (SQLite `INTEGER`, MariaDB `TINYINT(1)`, SQL Server `BIT` read as an integer,
//! PostgreSQL `smallint`) becomes 1/0 on the way in and a boolean again on the way out, with
//! no type override: the connector reports the column as it is, the SCIM side says what the
//! value means.

use connector_core::{AttrKind, AttrValue, Secret};
use schemas::ScimError;
use schemas::schema::AttrType;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Converts one SCIM JSON value, of SCIM type `scim_type`, into a value for a connector
/// attribute of kind `kind`. `Null` and empty strings are "no value".
pub fn to_connector(
    value: &Value,
    kind: AttrKind,
    scim_type: AttrType,
    attribute: &str,
) -> Result<Option<AttrValue>, ScimError> {
    let bad = |what: &str| {
        ScimError::invalid_value(format!(
            "attribute {attribute} expects {what}, got {}",
            describe(value)
        ))
    };
    let v = match (kind, value) {
        (_, Value::Null) => return Ok(None),
        (_, Value::String(s)) if s.is_empty() => return Ok(None),
        (AttrKind::String, Value::String(s)) => AttrValue::String(s.clone()),
        (AttrKind::String, Value::Number(n)) => AttrValue::String(n.to_string()),
        (AttrKind::String, Value::Bool(b)) => AttrValue::String(b.to_string()),
        // A secret is wrapped the moment it leaves the request, so nothing after can print it.
        (AttrKind::Secret, Value::String(s)) => AttrValue::Secret(Secret::new(s.as_str())),
        (AttrKind::Reference, Value::String(s)) => AttrValue::Reference(s.clone()),
        (AttrKind::Reference, Value::Number(n)) => AttrValue::Reference(n.to_string()),
        // A SCIM boolean in an integer (or bit) column: 1 or 0.
        (AttrKind::Integer, Value::Bool(b)) if scim_type == AttrType::Boolean => {
            AttrValue::Integer(i64::from(*b))
        }
        (AttrKind::Integer, Value::String(s)) if scim_type == AttrType::Boolean => {
            match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => AttrValue::Integer(1),
                "false" | "0" => AttrValue::Integer(0),
                _ => return Err(bad("a boolean")),
            }
        }
        (AttrKind::Integer, Value::Number(n)) => {
            AttrValue::Integer(n.as_i64().ok_or_else(|| bad("an integer"))?)
        }
        (AttrKind::Integer, Value::String(s)) => {
            AttrValue::Integer(s.trim().parse().map_err(|_| bad("an integer"))?)
        }
        (AttrKind::Boolean, Value::Bool(b)) => AttrValue::Boolean(*b),
        (AttrKind::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => AttrValue::Boolean(true),
            "false" | "0" => AttrValue::Boolean(false),
            _ => return Err(bad("a boolean")),
        },
        (AttrKind::Boolean, Value::Number(n)) => match n.as_i64() {
            Some(0) => AttrValue::Boolean(false),
            Some(1) => AttrValue::Boolean(true),
            _ => return Err(bad("a boolean")),
        },
        (AttrKind::DateTime, Value::String(s)) => AttrValue::DateTime(
            OffsetDateTime::parse(s.trim(), &Rfc3339)
                .map_err(|_| bad("an RFC 3339 date-time such as 2024-05-01T08:00:00Z"))?
                .to_offset(time::UtcOffset::UTC),
        ),
        (AttrKind::Binary, Value::String(s)) => {
            AttrValue::Binary(base64_decode(s).ok_or_else(|| bad("base64-encoded binary"))?)
        }
        (AttrKind::String, _) => return Err(bad("a string")),
        (AttrKind::Reference, _) => return Err(bad("a reference (string id)")),
        (AttrKind::Integer, _) => return Err(bad("an integer")),
        (AttrKind::Boolean, _) => return Err(bad("a boolean")),
        (AttrKind::DateTime, _) => return Err(bad("a date-time string")),
        (AttrKind::Binary, _) => return Err(bad("a base64 string")),
        (AttrKind::Secret, _) => return Err(bad("a string")),
    };
    Ok(Some(v))
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Renders a connector value as the JSON a SCIM attribute of type `ty` carries.
pub fn to_scim(value: &AttrValue, ty: AttrType) -> Value {
    match (ty, value) {
        (AttrType::Boolean, AttrValue::Boolean(b)) => Value::Bool(*b),
        (AttrType::Boolean, AttrValue::Integer(i)) => Value::Bool(*i != 0),
        (AttrType::Boolean, AttrValue::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::String(s.clone()),
        },
        (AttrType::Integer | AttrType::Decimal, AttrValue::Integer(i)) => Value::from(*i),
        (AttrType::Integer, AttrValue::String(s)) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.clone())),
        (_, AttrValue::Binary(b)) => Value::String(base64_encode(b)),
        (_, other) => Value::String(other.to_text()),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), as SCIM's `binary` type uses.
pub fn base64_encode(bytes: &[u8]) -> String {
    let sym = |i: u32| char::from(B64.get((i & 63) as usize).copied().unwrap_or(b'A'));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Decodes standard or URL-safe base64, with or without padding; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scim_to_connector_table() {
        let ok = |v: Value, k: AttrKind| to_connector(&v, k, AttrType::String, "a").unwrap();
        assert_eq!(
            ok(json!("x"), AttrKind::String),
            Some(AttrValue::String("x".into()))
        );
        assert_eq!(
            ok(json!(42), AttrKind::String),
            Some(AttrValue::String("42".into()))
        );
        assert_eq!(
            ok(json!("42"), AttrKind::Integer),
            Some(AttrValue::Integer(42))
        );
        assert_eq!(
            ok(json!("False"), AttrKind::Boolean),
            Some(AttrValue::Boolean(false))
        );
        assert_eq!(ok(json!(null), AttrKind::String), None);
        assert_eq!(ok(json!(""), AttrKind::Integer), None);
        assert_eq!(
            ok(json!("2024-05-01T10:00:00+02:00"), AttrKind::DateTime)
                .unwrap()
                .to_text(),
            "2024-05-01T08:00:00Z"
        );
        assert_eq!(
            ok(json!("AA/+"), AttrKind::Binary),
            Some(AttrValue::Binary(vec![0, 15, 254]))
        );
        for (v, k) in [
            (json!("x"), AttrKind::Integer),
            (json!("maybe"), AttrKind::Boolean),
            (json!({"a": 1}), AttrKind::String),
            (json!("yesterday"), AttrKind::DateTime),
        ] {
            let e = to_connector(&v, k, AttrType::String, "Col").unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.contains("Col"), "{}", e.detail);
        }
    }

    /// A SCIM boolean kept in an integer column is 1/0 there, and a boolean again when read.
    #[test]
    fn booleans_in_integer_columns() {
        let to = |v: Value| to_connector(&v, AttrKind::Integer, AttrType::Boolean, "Enabled");
        assert_eq!(to(json!(true)).unwrap(), Some(AttrValue::Integer(1)));
        assert_eq!(to(json!(false)).unwrap(), Some(AttrValue::Integer(0)));
        assert_eq!(to(json!("False")).unwrap(), Some(AttrValue::Integer(0)));
        assert_eq!(to(json!(1)).unwrap(), Some(AttrValue::Integer(1)));
        assert!(to(json!("maybe")).unwrap_err().detail.contains("Enabled"));
        // An integer attribute that is an integer in SCIM too takes no boolean.
        let e =
            to_connector(&json!(true), AttrKind::Integer, AttrType::Integer, "Age").unwrap_err();
        assert!(e.detail.contains("expects an integer"), "{}", e.detail);
        for (stored, shown) in [(1, true), (0, false)] {
            assert_eq!(
                to_scim(&AttrValue::Integer(stored), AttrType::Boolean),
                json!(shown)
            );
        }
    }

    #[test]
    fn connector_to_scim_table() {
        assert_eq!(
            to_scim(&AttrValue::Integer(1), AttrType::Boolean),
            json!(true)
        );
        assert_eq!(
            to_scim(&AttrValue::String("0".into()), AttrType::Boolean),
            json!(false)
        );
        assert_eq!(
            to_scim(&AttrValue::Integer(7), AttrType::String),
            json!("7")
        );
        assert_eq!(
            to_scim(&AttrValue::String("7".into()), AttrType::Integer),
            json!(7)
        );
        assert_eq!(
            to_scim(&AttrValue::Binary(vec![1, 2, 3, 4]), AttrType::Binary),
            json!("AQIDBA==")
        );
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert!(base64_decode("a*b").is_none());
    }
}
