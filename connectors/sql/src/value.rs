//! Values between the object model and the database: what a column receives for an attribute
//! value, and what an attribute value a cell becomes.
//!
//! Both backends speak [`Value`]: parameters are bound from it and cells are read into it. The
//! ODBC backend reads most cells as text, SQLite reads them with their storage class, so reading
//! is lenient (an integer column may come back as `"42"`) while writing is strict: a value that
//! does not fit the column is refused with a message naming the column, never silently changed.

use connector_core::{AttrKind, AttrValue};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A parameter or a cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL, typed by the column it is meant for (ODBC binds typed NULLs).
    Null(AttrKind),
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Always UTC.
    DateTime(OffsetDateTime),
    Bytes(Vec<u8>),
}

/// Why a value does not fit a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// What the column holds.
    pub expected: AttrKind,
    /// The kind of value given (never the value itself).
    pub got: &'static str,
    /// The value as text, to be shown only when the attribute is not secret.
    pub text: String,
}

fn value_kind(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::String(_) => "string",
        AttrValue::Integer(_) => "integer",
        AttrValue::Boolean(_) => "boolean",
        AttrValue::DateTime(_) => "datetime",
        AttrValue::Binary(_) => "binary",
        AttrValue::Reference(_) => "reference",
        AttrValue::Secret(_) => "secret",
    }
}

pub(crate) fn kind_name(k: AttrKind) -> &'static str {
    match k {
        AttrKind::String => "string",
        AttrKind::Integer => "integer",
        AttrKind::Boolean => "boolean",
        AttrKind::DateTime => "datetime",
        AttrKind::Binary => "binary",
        AttrKind::Reference => "reference",
        AttrKind::Secret => "secret",
    }
}

/// Converts an attribute value for a column that stores `storage`.
pub(crate) fn to_param(v: &AttrValue, storage: AttrKind) -> Result<Value, Mismatch> {
    let mismatch = || Mismatch {
        expected: storage,
        got: value_kind(v),
        text: v.to_text(),
    };
    match storage {
        // The one place a secret's text leaves its wrapper: bound as a parameter, never logged.
        AttrKind::String | AttrKind::Reference | AttrKind::Secret => Ok(Value::Text(match v {
            AttrValue::Secret(secret) => secret.expose().to_owned(),
            other => other.to_text(),
        })),
        AttrKind::Integer => match v {
            AttrValue::Integer(i) => Ok(Value::Int(*i)),
            AttrValue::Boolean(b) => Ok(Value::Int(i64::from(*b))),
            AttrValue::String(s) | AttrValue::Reference(s) => {
                s.trim().parse().map(Value::Int).map_err(|_| mismatch())
            }
            _ => Err(mismatch()),
        },
        AttrKind::Boolean => match v {
            AttrValue::Boolean(b) => Ok(Value::Bool(*b)),
            AttrValue::Integer(0) => Ok(Value::Bool(false)),
            AttrValue::Integer(1) => Ok(Value::Bool(true)),
            AttrValue::String(s) => parse_bool(s).map(Value::Bool).ok_or_else(mismatch),
            _ => Err(mismatch()),
        },
        AttrKind::DateTime => match v {
            AttrValue::DateTime(t) => Ok(Value::DateTime(t.to_offset(UtcOffset::UTC))),
            AttrValue::String(s) => parse_datetime(s).map(Value::DateTime).ok_or_else(mismatch),
            _ => Err(mismatch()),
        },
        AttrKind::Binary => match v {
            AttrValue::Binary(b) => Ok(Value::Bytes(b.clone())),
            _ => Err(mismatch()),
        },
    }
}

/// Converts an attribute value exposed as `kind` for a column that stores `storage`: the value
/// is read as `kind` first (so `"True"` for a boolean kept in an integer column becomes 1).
pub(crate) fn to_param_as(
    v: &AttrValue,
    kind: AttrKind,
    storage: AttrKind,
) -> Result<Value, Mismatch> {
    if kind == storage
        || matches!(
            kind,
            AttrKind::String | AttrKind::Reference | AttrKind::Secret
        )
    {
        return to_param(v, storage);
    }
    let normal = match to_param(v, kind)? {
        Value::Bool(b) => AttrValue::Boolean(b),
        Value::Int(i) => AttrValue::Integer(i),
        Value::DateTime(t) => AttrValue::DateTime(t),
        Value::Bytes(b) => AttrValue::Binary(b),
        _ => v.clone(),
    };
    to_param(&normal, storage)
}

/// Converts a cell into an attribute value of `kind`; `Ok(None)` for NULL. The error is a short
/// description of what the cell held.
pub(crate) fn from_cell(cell: Value, kind: AttrKind) -> Result<Option<AttrValue>, String> {
    let text_of = |cell: &Value| -> Option<String> {
        match cell {
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Real(r) => Some(r.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::DateTime(t) => Some(format_datetime(*t)),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Value::Null(_) => None,
        }
    };
    if let Value::Null(_) = cell {
        return Ok(None);
    }
    let bad = |cell: &Value| format!("{cell:?} is not a {} value", kind_name(kind));
    let v = match kind {
        // Never read back: a secret column is export-only.
        AttrKind::Secret => return Ok(None),
        AttrKind::String => AttrValue::String(text_of(&cell).ok_or_else(|| bad(&cell))?),
        AttrKind::Reference => AttrValue::Reference(text_of(&cell).ok_or_else(|| bad(&cell))?),
        AttrKind::Integer => match &cell {
            Value::Int(i) => AttrValue::Integer(*i),
            Value::Bool(b) => AttrValue::Integer(i64::from(*b)),
            Value::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                AttrValue::Integer(*r as i64)
            }
            Value::Text(s) => AttrValue::Integer(s.trim().parse().map_err(|_| bad(&cell))?),
            _ => return Err(bad(&cell)),
        },
        AttrKind::Boolean => match &cell {
            Value::Bool(b) => AttrValue::Boolean(*b),
            Value::Int(i) => AttrValue::Boolean(*i != 0),
            Value::Text(s) => AttrValue::Boolean(parse_bool(s).ok_or_else(|| bad(&cell))?),
            _ => return Err(bad(&cell)),
        },
        AttrKind::DateTime => match &cell {
            Value::DateTime(t) => AttrValue::DateTime(*t),
            Value::Text(s) => AttrValue::DateTime(parse_datetime(s).ok_or_else(|| bad(&cell))?),
            _ => return Err(bad(&cell)),
        },
        AttrKind::Binary => match cell {
            Value::Bytes(b) => AttrValue::Binary(b),
            Value::Text(s) => AttrValue::Binary(s.into_bytes()),
            other => return Err(bad(&other)),
        },
    };
    Ok(Some(v))
}

/// `true`/`false`, `1`/`0`, `t`/`f`, `yes`/`no`, `y`/`n`, case-insensitively.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" | "y" => Some(true),
        "false" | "0" | "f" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// The text form written to SQLite and read back: `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC.
pub(crate) fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() == 0 {
        base
    } else {
        format!("{base}.{:06}", t.microsecond())
    }
}

/// Parses the date-time forms databases and SCIM clients write: `YYYY-MM-DD`,
/// `YYYY-MM-DD[ T]HH:MM[:SS[.fraction]]`, optionally followed by `Z` or an offset `±HH`,
/// `±HH:MM` or `±HHMM`. Without an offset the time is taken as UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    parse_datetime_in(s, UtcOffset::UTC)
}

/// `time_zone` as configured: `UTC`/`Z` or a fixed offset `±HH[:MM]`.
pub(crate) fn parse_zone(zone: &str) -> Option<UtcOffset> {
    let z = zone.trim();
    if z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt") {
        return Some(UtcOffset::UTC);
    }
    if z.is_empty() {
        return None;
    }
    parse_offset(z)
}

/// The wall-clock time `t` shows in `zone`, carried as if it were UTC: what a column without a
/// zone stores for the instant `t`.
pub(crate) fn wall_clock(t: OffsetDateTime, zone: UtcOffset) -> OffsetDateTime {
    t.to_offset(zone).replace_offset(UtcOffset::UTC)
}

/// Reads a date-time cell of a column whose stored wall-clock times are in `zone` and, for
/// text, written as `format` (default: the forms [`parse_datetime`] reads). Returns UTC.
pub(crate) fn datetime_from_cell(
    cell: &Value,
    zone: UtcOffset,
    format: Option<&time::format_description::OwnedFormatItem>,
) -> Option<OffsetDateTime> {
    match cell {
        Value::DateTime(t) => Some(t.replace_offset(zone).to_offset(UtcOffset::UTC)),
        Value::Text(text) => match format {
            Some(f) => {
                let text = text.trim();
                let local = PrimitiveDateTime::parse(text, f)
                    .or_else(|_| {
                        Date::parse(text, f).map(|d| PrimitiveDateTime::new(d, Time::MIDNIGHT))
                    })
                    .ok()?;
                Some(local.assume_offset(zone).to_offset(UtcOffset::UTC))
            }
            None => parse_datetime_in(text, zone),
        },
        _ => None,
    }
}

/// The parameter for the instant `t` in a column whose wall-clock times are in `zone`,
/// written as text with `format` when given.
pub(crate) fn datetime_param(
    t: OffsetDateTime,
    zone: UtcOffset,
    format: Option<&time::format_description::OwnedFormatItem>,
    storage: AttrKind,
) -> Result<Value, String> {
    let local = wall_clock(t, zone);
    match format {
        Some(f) => PrimitiveDateTime::new(local.date(), local.time())
            .format(f)
            .map(Value::Text)
            .map_err(|e| e.to_string()),
        None if storage == AttrKind::DateTime => Ok(Value::DateTime(local)),
        None => Ok(Value::Text(format_datetime(local))),
    }
}

/// [`parse_datetime`] for text without an offset written in `default_zone`.
pub(crate) fn parse_datetime_in(s: &str, default_zone: UtcOffset) -> Option<OffsetDateTime> {
    let s = s.trim();
    let date_part = s.get(..10)?;
    let rest = s.get(10..)?;
    let mut d = date_part.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    if d.next().is_some() || date_part.len() != 10 {
        return None;
    }
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    if rest.is_empty() {
        return Some(
            PrimitiveDateTime::new(date, Time::MIDNIGHT)
                .assume_offset(default_zone)
                .to_offset(UtcOffset::UTC),
        );
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // Split the clock from the zone.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((a, b)) => (a, b),
        None => (clock, ""),
    };
    let mut parts = hms.split(':');
    let hour: u8 = parts.next()?.parse().ok()?;
    let minute: u8 = parts.next()?.parse().ok()?;
    let second: u8 = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = fraction
            .chars()
            .chain("000000000".chars())
            .take(9)
            .collect();
        digits.parse().ok()?
    };
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    let offset = if zone.is_empty() {
        default_zone
    } else {
        parse_offset(zone)?
    };
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC),
    )
}

fn parse_offset(zone: &str) -> Option<UtcOffset> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = match zone.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let digits: String = zone.get(1..)?.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i8>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i8>().ok()?,
            digits.get(2..)?.parse::<i8>().ok()?,
        ),
        _ => return None,
    };
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn date_times_parse_to_utc() {
        let check = |input: &str, expected: Option<OffsetDateTime>| {
            assert_eq!(parse_datetime(input), expected, "{input}")
        };
        check("2024-02-29", Some(datetime!(2024-02-29 0:00 UTC)));
        check(
            "2024-02-29 13:14:15",
            Some(datetime!(2024-02-29 13:14:15 UTC)),
        );
        check(
            "2024-02-29T13:14:15Z",
            Some(datetime!(2024-02-29 13:14:15 UTC)),
        );
        check("2024-02-29T13:14", Some(datetime!(2024-02-29 13:14 UTC)));
        check(
            "2024-02-29 13:14:15.25",
            Some(datetime!(2024-02-29 13:14:15.25 UTC)),
        );
        check(
            "2024-02-29 13:14:15+02",
            Some(datetime!(2024-02-29 11:14:15 UTC)),
        );
        check(
            "2024-02-29T13:14:15+02:30",
            Some(datetime!(2024-02-29 10:44:15 UTC)),
        );
        check(
            "2024-02-29T01:00:00-0100",
            Some(datetime!(2024-02-29 2:00 UTC)),
        );
        check("2023-02-29", None);
        check("2024-13-01", None);
        check("yesterday", None);
        check("2024-02-29X13:14", None);
        check("2024-02-29 25:00:00", None);
        check("2024-02-29 10:00:00.5x", None);
    }

    #[test]
    fn zones_parse() {
        let check = |input: &str, expected: Option<UtcOffset>| {
            assert_eq!(parse_zone(input), expected, "{input}")
        };
        check("UTC", Some(UtcOffset::UTC));
        check("utc", Some(UtcOffset::UTC));
        check("Z", Some(UtcOffset::UTC));
        check("+01:00", Some(UtcOffset::from_hms(1, 0, 0).unwrap()));
        check("-0530", Some(UtcOffset::from_hms(-5, -30, 0).unwrap()));
        check("+02", Some(UtcOffset::from_hms(2, 0, 0).unwrap()));
        check("Europe/Berlin", None);
        check("", None);
    }

    #[test]
    fn zoned_and_formatted_date_times_convert_both_ways() {
        let plus1 = UtcOffset::from_hms(1, 0, 0).unwrap();
        let german = time::format_description::parse_owned::<2>(
            "[day].[month].[year] [hour]:[minute]:[second]",
        )
        .unwrap();
        let check = |cell: &str, zone, format, expected: Option<OffsetDateTime>| {
            assert_eq!(
                datetime_from_cell(&Value::Text(cell.into()), zone, format),
                expected,
                "{cell}"
            )
        };
        check(
            "2024-03-01 10:00:00",
            plus1,
            None,
            Some(datetime!(2024-03-01 9:00 UTC)),
        );
        check(
            "2024-03-01 10:00:00Z",
            plus1,
            None,
            Some(datetime!(2024-03-01 10:00 UTC)),
        );
        check(
            "01.03.2024 10:00:00",
            plus1,
            Some(&german),
            Some(datetime!(2024-03-01 9:00 UTC)),
        );
        check(
            "01.03.2024 10:00:00",
            UtcOffset::UTC,
            Some(&german),
            Some(datetime!(2024-03-01 10:00 UTC)),
        );
        check("2024-03-01", plus1, Some(&german), None);
        let t = datetime!(2024-03-01 9:00 UTC);
        assert_eq!(
            datetime_param(t, plus1, Some(&german), AttrKind::String),
            Ok(Value::Text("01.03.2024 10:00:00".into()))
        );
        assert_eq!(
            datetime_param(t, plus1, None, AttrKind::DateTime),
            Ok(Value::DateTime(datetime!(2024-03-01 10:00 UTC)))
        );
        assert_eq!(
            datetime_param(t, plus1, None, AttrKind::String),
            Ok(Value::Text("2024-03-01 10:00:00".into()))
        );
    }

    #[test]
    fn date_times_format_as_sqlite_text() {
        assert_eq!(
            format_datetime(datetime!(2024-02-29 13:14:15 +2)),
            "2024-02-29 11:14:15"
        );
        assert_eq!(
            format_datetime(datetime!(2024-02-29 13:14:15.5 UTC)),
            "2024-02-29 13:14:15.500000"
        );
    }

    #[test]
    fn values_convert_for_their_column() {
        let check = |v: AttrValue, storage: AttrKind, expected: Result<Value, &str>| {
            let got = to_param(&v, storage).map_err(|m| m.got);
            assert_eq!(got, expected, "{v:?} into {storage:?}");
        };
        check("42".into(), AttrKind::Integer, Ok(Value::Int(42)));
        check(" 7 ".into(), AttrKind::Integer, Ok(Value::Int(7)));
        check("4x".into(), AttrKind::Integer, Err("string"));
        check(
            AttrValue::Integer(5),
            AttrKind::String,
            Ok(Value::Text("5".into())),
        );
        check(
            AttrValue::Boolean(true),
            AttrKind::Integer,
            Ok(Value::Int(1)),
        );
        check("True".into(), AttrKind::Boolean, Ok(Value::Bool(true)));
        check("False".into(), AttrKind::Boolean, Ok(Value::Bool(false)));
        check("maybe".into(), AttrKind::Boolean, Err("string"));
        check(AttrValue::Integer(2), AttrKind::Boolean, Err("integer"));
        check(
            "2024-01-02T03:04:05+01:00".into(),
            AttrKind::DateTime,
            Ok(Value::DateTime(datetime!(2024-01-02 2:04:05 UTC))),
        );
        check(
            AttrValue::DateTime(datetime!(2024-01-02 3:04:05 -1)),
            AttrKind::DateTime,
            Ok(Value::DateTime(datetime!(2024-01-02 4:04:05 UTC))),
        );
        check(AttrValue::Integer(1), AttrKind::DateTime, Err("integer"));
        check(
            AttrValue::Binary(vec![1, 2]),
            AttrKind::Binary,
            Ok(Value::Bytes(vec![1, 2])),
        );
        check("abc".into(), AttrKind::Binary, Err("string"));
        check(
            AttrValue::Reference("9".into()),
            AttrKind::Integer,
            Ok(Value::Int(9)),
        );
    }

    #[test]
    fn values_are_read_as_their_exposed_kind_first() {
        let check = |v: AttrValue, kind: AttrKind, storage: AttrKind, expected: Option<Value>| {
            assert_eq!(
                to_param_as(&v, kind, storage).ok(),
                expected,
                "{v:?} {kind:?} {storage:?}"
            )
        };
        check(
            "True".into(),
            AttrKind::Boolean,
            AttrKind::Integer,
            Some(Value::Int(1)),
        );
        check(
            "no".into(),
            AttrKind::Boolean,
            AttrKind::Integer,
            Some(Value::Int(0)),
        );
        check(
            "2024-01-02".into(),
            AttrKind::DateTime,
            AttrKind::String,
            Some(Value::Text("2024-01-02T00:00:00Z".into())),
        );
        check("x".into(), AttrKind::Integer, AttrKind::String, None);
        check(
            "7".into(),
            AttrKind::Reference,
            AttrKind::Integer,
            Some(Value::Int(7)),
        );
    }

    #[test]
    fn cells_convert_to_attribute_values() {
        let check = |cell: Value, kind: AttrKind, expected: Option<AttrValue>| {
            assert_eq!(from_cell(cell.clone(), kind).unwrap(), expected, "{cell:?}")
        };
        check(Value::Null(AttrKind::String), AttrKind::String, None);
        check(
            Value::Text("42".into()),
            AttrKind::Integer,
            Some(AttrValue::Integer(42)),
        );
        check(Value::Int(42), AttrKind::String, Some("42".into()));
        check(
            Value::Real(3.0),
            AttrKind::Integer,
            Some(AttrValue::Integer(3)),
        );
        check(
            Value::Text("t".into()),
            AttrKind::Boolean,
            Some(AttrValue::Boolean(true)),
        );
        check(
            Value::Text("0".into()),
            AttrKind::Boolean,
            Some(AttrValue::Boolean(false)),
        );
        check(
            Value::Int(1),
            AttrKind::Boolean,
            Some(AttrValue::Boolean(true)),
        );
        check(
            Value::Text("2024-01-02 03:04:05+00".into()),
            AttrKind::DateTime,
            Some(AttrValue::DateTime(datetime!(2024-01-02 3:04:05 UTC))),
        );
        check(
            Value::Int(7),
            AttrKind::Reference,
            Some(AttrValue::Reference("7".into())),
        );
        check(
            Value::Bytes(vec![0, 255]),
            AttrKind::Binary,
            Some(AttrValue::Binary(vec![0, 255])),
        );
        assert!(from_cell(Value::Text("x".into()), AttrKind::Integer).is_err());
        assert!(from_cell(Value::Text("x".into()), AttrKind::DateTime).is_err());
    }
}
