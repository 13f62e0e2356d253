//! Attribute values between the REST API's JSON and the connector model.
//!
//! The API writes multi-valued attributes as arrays and single-valued ones as scalars;
//! integers and booleans natively; date-times as `yyyy-MM-ddTHH:mm:ss.fff` in UTC with no
//! zone (`TypeConverter.FimServiceDateFormat`); references as bare GUIDs (sometimes prefixed
//! `urn:uuid:`); binary as base64. Writes use the same forms: Lithnet parses date-times with
//! exactly that format.

use base64::Engine;
use connector_core::AttrValue;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::model::{Attr, DataType};

/// A GUID in its canonical form (lower case, hyphens, no `urn:uuid:`), if `text` is one.
pub(crate) fn guid(text: &str) -> Option<String> {
    let bare = text
        .strip_prefix("urn:uuid:")
        .unwrap_or(text)
        .trim_start_matches('{')
        .trim_end_matches('}');
    let groups: Vec<&str> = bare.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| bare.to_ascii_lowercase())
}

/// `yyyy-MM-ddTHH:mm:ss.fff` in UTC.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
        ))
        .unwrap_or_default()
}

/// The API's date-time (taken as UTC), with or without milliseconds or a `Z`, or RFC 3339.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Some(t.to_offset(time::UtcOffset::UTC));
    }
    let bare = text.strip_suffix('Z').unwrap_or(text);
    let with_fraction =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(bare, with_fraction)
        .or_else(|_| time::PrimitiveDateTime::parse(bare, without))
        .ok()
        .map(|t| t.assume_utc())
}

/// One JSON value of an attribute read from the API; `None` when it does not fit the type.
pub(crate) fn from_json(data_type: DataType, v: &Value) -> Option<AttrValue> {
    match (data_type, v) {
        (DataType::String, Value::String(s)) => Some(AttrValue::String(s.clone())),
        (DataType::String, Value::Number(n)) => Some(AttrValue::String(n.to_string())),
        (DataType::String, Value::Bool(b)) => Some(AttrValue::String(b.to_string())),
        (DataType::Integer, Value::Number(n)) => n.as_i64().map(AttrValue::Integer),
        (DataType::Integer, Value::String(s)) => s.trim().parse().ok().map(AttrValue::Integer),
        (DataType::Boolean, Value::Bool(b)) => Some(AttrValue::Boolean(*b)),
        (DataType::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Some(AttrValue::Boolean(true)),
            "false" => Some(AttrValue::Boolean(false)),
            _ => None,
        },
        (DataType::DateTime, Value::String(s)) => parse_time(s).map(AttrValue::DateTime),
        (DataType::Reference, Value::String(s)) => guid(s).map(AttrValue::Reference),
        (DataType::Binary, Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .map(AttrValue::Binary),
        _ => None,
    }
}

/// Every value of an attribute in a resource's JSON (a scalar or an array).
pub(crate) fn values_from_json(attr: &Attr, v: &Value) -> Vec<AttrValue> {
    let raw: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    raw.into_iter()
        .filter_map(|r| {
            let value = from_json(attr.data_type, r);
            if value.is_none() {
                tracing::warn!(attribute = %attr.name, value = %r, "a value the connector cannot read was skipped");
            }
            value
        })
        .collect()
}

/// One value to write, as the API takes it; the error says why it cannot be written.
pub(crate) fn to_json(attr: &Attr, v: &AttrValue) -> Result<Value, String> {
    let name = &attr.name;
    let wrong = |what: &str| Err(format!("{name} takes {what}, not {:?}", v.to_text()));
    if v.is_secret() {
        return Err(format!(
            "{name}: the MIM Service has no secret attributes; a password cannot be written here"
        ));
    }
    match attr.data_type {
        DataType::String => match v {
            AttrValue::Binary(_) => wrong("text"),
            other => Ok(Value::String(other.to_text())),
        },
        DataType::Integer => match v {
            AttrValue::Integer(i) => Ok(Value::from(*i)),
            AttrValue::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => wrong("an integer"),
            },
            _ => wrong("an integer"),
        },
        DataType::Boolean => match v {
            AttrValue::Boolean(b) => Ok(Value::Bool(*b)),
            AttrValue::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            AttrValue::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => wrong("true or false"),
        },
        DataType::DateTime => match v {
            AttrValue::DateTime(t) => Ok(Value::String(format_time(*t))),
            AttrValue::String(s) => match parse_time(s) {
                Some(t) => Ok(Value::String(format_time(t))),
                None => wrong("a date-time"),
            },
            _ => wrong("a date-time"),
        },
        DataType::Reference => match v.as_str().and_then(guid) {
            Some(id) => Ok(Value::String(id)),
            None => wrong("an ObjectID (a GUID)"),
        },
        DataType::Binary => match v {
            AttrValue::Binary(b) => Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            _ => wrong("binary data"),
        },
    }
}

/// The JSON of an attribute's whole value set: a scalar for a single-valued attribute, an
/// array for a multi-valued one, `[]` for none.
pub(crate) fn set_json(attr: &Attr, values: &[AttrValue]) -> Result<Value, String> {
    let mut json = values
        .iter()
        .map(|v| to_json(attr, v))
        .collect::<Result<Vec<_>, _>>()?;
    if attr.multi || json.is_empty() {
        json.dedup();
        return Ok(Value::Array(json));
    }
    if json.len() > 1 {
        return Err(format!("{} is single-valued: one value at most", attr.name));
    }
    Ok(json.pop().unwrap_or(Value::Null))
}

/// Whether two values are the same MIM value (text ignoring case for references).
pub(crate) fn same(attr: &Attr, a: &AttrValue, b: &AttrValue) -> bool {
    match (to_json(attr, a), to_json(attr, b)) {
        (Ok(x), Ok(y)) => match (x, y) {
            (Value::String(x), Value::String(y)) if attr.data_type == DataType::Reference => {
                x.eq_ignore_ascii_case(&y)
            }
            (x, y) => x == y,
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(data_type: DataType, multi: bool) -> Attr {
        Attr {
            name: "A".into(),
            data_type,
            multi,
            required: false,
            writable: true,
        }
    }

    #[test]
    fn guids_are_canonical() {
        let g = "7fb2b853-24f0-4498-9534-4e10589723c4";
        assert_eq!(guid(g).as_deref(), Some(g));
        assert_eq!(
            guid(&format!("urn:uuid:{}", g.to_uppercase())).as_deref(),
            Some(g)
        );
        assert_eq!(guid("no-such-anchor-4711"), None);
        assert_eq!(guid("7fb2b853-24f0-4498-9534-4e10589723cz"), None);
        assert_eq!(guid(""), None);
    }

    #[test]
    fn values_round_trip_in_the_api_s_forms() {
        let t = parse_time("2024-05-06T07:08:09.123").unwrap();
        assert_eq!(format_time(t), "2024-05-06T07:08:09.123");
        assert_eq!(
            parse_time("2024-05-06T07:08:09Z")
                .map(format_time)
                .as_deref(),
            Some("2024-05-06T07:08:09.000")
        );
        assert_eq!(
            parse_time("2024-05-06T09:08:09+02:00")
                .map(format_time)
                .as_deref(),
            Some("2024-05-06T07:08:09.000")
        );
        let cases = [
            (
                DataType::String,
                Value::from("x"),
                AttrValue::String("x".into()),
            ),
            (DataType::Integer, Value::from(-5), AttrValue::Integer(-5)),
            (
                DataType::Boolean,
                Value::from(true),
                AttrValue::Boolean(true),
            ),
            (
                DataType::DateTime,
                Value::from("2024-05-06T07:08:09.123"),
                AttrValue::DateTime(t),
            ),
            (
                DataType::Reference,
                Value::from("7fb2b853-24f0-4498-9534-4e10589723c4"),
                AttrValue::Reference("7fb2b853-24f0-4498-9534-4e10589723c4".into()),
            ),
            (
                DataType::Binary,
                Value::from("AA//"),
                AttrValue::Binary(vec![0, 15, 255]),
            ),
        ];
        for (dt, json, value) in cases {
            assert_eq!(from_json(dt, &json), Some(value.clone()), "{dt:?}");
            assert_eq!(to_json(&attr(dt, false), &value), Ok(json), "{dt:?}");
        }
    }

    #[test]
    fn wrong_values_are_refused_with_a_reason() {
        assert!(to_json(&attr(DataType::Integer, false), &"x".into()).is_err());
        assert!(to_json(&attr(DataType::Reference, false), &"bob".into()).is_err());
        let secret = AttrValue::Secret(connector_core::Secret::new("pw"));
        let e = to_json(&attr(DataType::String, false), &secret).unwrap_err();
        assert!(!e.contains("pw"), "{e}");
        assert_eq!(
            set_json(&attr(DataType::String, false), &["a".into(), "b".into()]).unwrap_err(),
            "A is single-valued: one value at most"
        );
        assert_eq!(
            set_json(&attr(DataType::String, false), &[]),
            Ok(Value::Array(vec![]))
        );
        assert_eq!(
            set_json(&attr(DataType::String, true), &["a".into()]),
            Ok(Value::Array(vec!["a".into()]))
        );
    }
}
