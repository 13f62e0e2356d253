//! The stored form of an object (the `body` column), compact and self-describing.
//!
//! Until this format, the body was the object's `ConnectorObject` JSON: the object type and the
//! anchor again (both are columns of the row), a type tag spelled out per value and JSON
//! punctuation, about 2× the values themselves. A body is now a BLOB whose first byte is the
//! format:
//!
//! - `{` (a TEXT value): the JSON of older spaces, still read as it is. Nothing is rewritten on
//!   upgrade; such a row takes the compact form the next time it is written, and content
//!   comparisons decode it first, so an upgrade does not count as a change (no new version,
//!   no new ETag).
//! - [`COMPACT`]: the DN and the attributes, in the order of the object's `BTreeMap` (so one
//!   object has exactly one encoding and "changed" stays "the bytes differ"). Lengths and
//!   integers are LEB128 varints; each value is one varint whose low 3 bits are its kind and
//!   whose other bits are its length (text, binary), its zig-zagged value (integer) or the
//!   boolean, followed by its bytes (a date-time: seconds, nanoseconds and UTC offset, so the
//!   offset survives as it does in JSON). Object type and anchor come from the row's columns.
//!   Written until schema version 5; still read, and rewritten in the current form at its
//!   next write, which is no change either.
//! - [`NAMED`] (schema version 5): the same, except that each attribute name is its id in the
//!   space's dictionary of names (`dict`), one varint instead of the name's bytes.
//!
//! Secrets are never stored: encoding an object that holds one fails, as the JSON form did.

use connector_core::object::{AttrValue, Attributes, ConnectorObject};
use rusqlite::types::ValueRef;
use time::{OffsetDateTime, UtcOffset};

use super::dict::Dict;
use crate::space::error::SpaceError;

/// The leading byte of a compact body with attribute names as text (until schema version 5).
pub(crate) const COMPACT: u8 = 1;

/// The leading byte of the current body: compact, attribute names by dictionary id.
pub(crate) const NAMED: u8 = 2;

const STRING: u64 = 0;
const INTEGER: u64 = 1;
const BOOLEAN: u64 = 2;
const DATE_TIME: u64 = 3;
const BINARY: u64 = 4;
const REFERENCE: u64 = 5;
/// An integer too large to share its varint with the kind (its zig-zag needs more than 61
/// bits): the kind alone, then the zig-zagged value.
const INTEGER_WIDE: u64 = 6;

/// Encodes an object's DN and attributes in the current form, naming attributes by their ids
/// in `dict`; `None` when a name has no id yet (`SqliteSpace::encode` gives it one).
pub(crate) fn encode(object: &ConnectorObject, dict: &Dict) -> Result<Option<Vec<u8>>, SpaceError> {
    let Some(ids) = dict.ids(object.attributes.keys()) else {
        return Ok(None);
    };
    encode_with(object, NAMED, ids.into_iter().map(Some)).map(Some)
}

/// Encodes in the form of schema version 4 (names as text): what older spaces hold, for
/// comparing their bodies and for tests.
#[cfg(test)]
pub(crate) fn encode_v4(object: &ConnectorObject) -> Result<Vec<u8>, SpaceError> {
    encode_with(object, COMPACT, std::iter::repeat(None))
}

/// Encodes with each attribute named by its id (`Some`) or its text (`None`).
fn encode_with(
    object: &ConnectorObject,
    format: u8,
    ids: impl Iterator<Item = Option<u32>>,
) -> Result<Vec<u8>, SpaceError> {
    let mut out = Vec::with_capacity(192);
    out.push(format);
    match &object.dn {
        None => put_varint(&mut out, 0),
        Some(dn) => {
            put_varint(&mut out, len(dn.len()) + 1);
            out.extend_from_slice(dn.as_bytes());
        }
    }
    put_varint(&mut out, len(object.attributes.len()));
    for ((name, values), id) in object.attributes.iter().zip(ids) {
        match id {
            Some(id) => put_varint(&mut out, u64::from(id)),
            None => put_bytes(&mut out, name.as_bytes()),
        }
        put_varint(&mut out, len(values.len()));
        for value in values {
            match value {
                AttrValue::String(s) => put_tagged(&mut out, STRING, s.as_bytes()),
                AttrValue::Reference(s) => put_tagged(&mut out, REFERENCE, s.as_bytes()),
                AttrValue::Binary(b) => put_tagged(&mut out, BINARY, b),
                AttrValue::Integer(i) => match zigzag(*i) {
                    z if z < 1 << 61 => put_varint(&mut out, z << 3 | INTEGER),
                    z => {
                        put_varint(&mut out, INTEGER_WIDE);
                        put_varint(&mut out, z);
                    }
                },
                AttrValue::Boolean(b) => put_varint(&mut out, u64::from(*b) << 3 | BOOLEAN),
                AttrValue::DateTime(t) => {
                    put_varint(&mut out, DATE_TIME);
                    put_varint(&mut out, zigzag(t.unix_timestamp()));
                    put_varint(&mut out, u64::from(t.nanosecond()));
                    put_varint(&mut out, zigzag(i64::from(t.offset().whole_seconds())));
                }
                AttrValue::Secret(_) => {
                    return Err(SpaceError::Corrupt(format!(
                        "cannot store object {}: attribute {name} holds a secret",
                        object.anchor
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// Decodes a stored body of any form; `object_type` and `anchor` are the row's columns.
pub(crate) fn decode(
    body: ValueRef<'_>,
    object_type: &str,
    anchor: &str,
    dict: &Dict,
) -> Result<ConnectorObject, SpaceError> {
    match body {
        ValueRef::Text(json) => serde_json::from_slice(json)
            .map_err(|e| SpaceError::Corrupt(format!("stored object {anchor}: {e}"))),
        ValueRef::Blob(bytes) => decode_compact(bytes, object_type, anchor, dict)
            .map_err(|e| SpaceError::Corrupt(format!("stored object {anchor}: {e}"))),
        _ => Err(SpaceError::Corrupt(format!(
            "stored object {anchor}: the body is neither text nor a blob"
        ))),
    }
}

/// Whether a stored body holds exactly the content `current` (a body of the current form)
/// encodes: equal bytes, or a body of an older form whose object encodes to those bytes.
pub(crate) fn same_content(stored: &Stored, current: &[u8], dict: &Dict) -> bool {
    match stored {
        Stored::Compact(bytes) if stored.is_current() => bytes == current,
        // A name without an id cannot be in `current`: different content.
        Stored::Compact(bytes) => decode_compact(bytes, "", "", dict)
            .ok()
            .and_then(|object| encode(&object, dict).ok().flatten())
            .is_some_and(|bytes| bytes == current),
        Stored::Json(json) => serde_json::from_str::<ConnectorObject>(json)
            .ok()
            .and_then(|object| encode(&object, dict).ok().flatten())
            .is_some_and(|bytes| bytes == current),
    }
}

/// A body as read from a row, owned.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    /// The JSON of an older space.
    Json(String),
    /// The compact form.
    Compact(Vec<u8>),
}

impl Stored {
    /// Takes a column value.
    pub fn from_value(value: ValueRef<'_>) -> rusqlite::Result<Stored> {
        match value {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Stored::Json(s.to_owned()))
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                }),
            ValueRef::Blob(b) => Ok(Stored::Compact(b.to_vec())),
            other => Err(rusqlite::Error::InvalidColumnType(
                0,
                "body".to_owned(),
                other.data_type(),
            )),
        }
    }

    /// The column value it was read from.
    pub fn as_value(&self) -> ValueRef<'_> {
        match self {
            Stored::Json(s) => ValueRef::Text(s.as_bytes()),
            Stored::Compact(b) => ValueRef::Blob(b),
        }
    }

    /// Whether it is in the current form (anything else is rewritten at its next write).
    pub fn is_current(&self) -> bool {
        matches!(self, Stored::Compact(b) if b.first() == Some(&NAMED))
    }
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, len(bytes.len()));
    out.extend_from_slice(bytes);
}

fn put_tagged(out: &mut Vec<u8>, kind: u64, bytes: &[u8]) {
    put_varint(out, len(bytes.len()) << 3 | kind);
    out.extend_from_slice(bytes);
}

/// A cursor over a compact body; every read checks its bounds.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.rest.split_first().ok_or("truncated body")?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".to_owned())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length out of range")?;
        if n > self.rest.len() {
            return Err("truncated body".to_owned());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn text(&mut self, n: u64) -> Result<String, String> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("invalid UTF-8: {e}"))
    }

    /// A count of items that each take at least one byte: bounded by what is left, so a
    /// corrupt count cannot make us reserve memory for it.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.rest.len())
            .ok_or_else(|| format!("count {n} exceeds the body"))
    }
}

fn decode_compact(
    bytes: &[u8],
    object_type: &str,
    anchor: &str,
    dict: &Dict,
) -> Result<ConnectorObject, String> {
    let (&format, rest) = bytes.split_first().ok_or("empty body")?;
    if format != COMPACT && format != NAMED {
        return Err(format!("unknown body format {format}"));
    }
    let mut r = Reader { rest };
    let dn = match r.varint()? {
        0 => None,
        n => Some(r.text(n - 1)?),
    };
    let mut attributes = Attributes::new();
    for _ in 0..r.count()? {
        let name = if format == NAMED {
            let id = r.varint()?;
            dict.name(id)
                .ok_or_else(|| format!("unknown attribute name id {id}"))?
        } else {
            let name_len = r.varint()?;
            r.text(name_len)?
        };
        let n = r.count()?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let head = r.varint()?;
            let payload = head >> 3;
            values.push(match head & 7 {
                STRING => AttrValue::String(r.text(payload)?),
                REFERENCE => AttrValue::Reference(r.text(payload)?),
                BINARY => AttrValue::Binary(r.take(payload)?.to_vec()),
                INTEGER => AttrValue::Integer(unzigzag(payload)),
                INTEGER_WIDE => AttrValue::Integer(unzigzag(r.varint()?)),
                BOOLEAN => AttrValue::Boolean(payload != 0),
                DATE_TIME => {
                    let seconds = unzigzag(r.varint()?);
                    let nanos = u32::try_from(r.varint()?).map_err(|_| "nanoseconds")?;
                    let offset = i32::try_from(unzigzag(r.varint()?)).map_err(|_| "offset")?;
                    let offset =
                        UtcOffset::from_whole_seconds(offset).map_err(|e| e.to_string())?;
                    let t = OffsetDateTime::from_unix_timestamp(seconds)
                        .and_then(|t| t.replace_nanosecond(nanos))
                        .map_err(|e| e.to_string())?;
                    AttrValue::DateTime(t.to_offset(offset))
                }
                kind => return Err(format!("unknown value kind {kind}")),
            });
        }
        attributes.insert(name, values);
    }
    if !r.rest.is_empty() {
        return Err("trailing bytes".to_owned());
    }
    Ok(ConnectorObject {
        object_type: object_type.to_owned(),
        anchor: anchor.into(),
        dn,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use connector_core::secret::Secret;

    use super::*;

    fn all_kinds() -> ConnectorObject {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let mut o = ConnectorObject::new("User", "a-1");
        o.dn = Some("CN=Jürgen Ölmann,OU=Zürich,DC=example".into());
        o.with(
            "name",
            vec![
                "Jürgen 🙂".into(),
                "".into(),
                "x".repeat(300).as_str().into(),
            ],
        )
        .with(
            "age",
            vec![
                AttrValue::Integer(-7),
                AttrValue::Integer(i64::MIN),
                AttrValue::Integer(i64::MAX),
                AttrValue::Integer(0),
                AttrValue::Integer(1 << 60),
                AttrValue::Integer(-(1 << 60) - 1),
            ],
        )
        .with(
            "active",
            vec![AttrValue::Boolean(true), AttrValue::Boolean(false)],
        )
        .with(
            "hired",
            vec![
                AttrValue::DateTime(t),
                AttrValue::DateTime(t.to_offset(UtcOffset::from_hms(5, 30, 0).unwrap())),
                AttrValue::DateTime(OffsetDateTime::UNIX_EPOCH - time::Duration::days(40_000)),
            ],
        )
        .with(
            "photo",
            vec![
                AttrValue::Binary(vec![0, 15, 255]),
                AttrValue::Binary(Vec::new()),
            ],
        )
        .with(
            "manager",
            vec![AttrValue::Reference("CN=Boss,DC=example".into())],
        )
        .with("", vec!["an attribute without a name".into()])
    }

    /// A dictionary holding the names of `o`.
    fn dict_for(o: &ConnectorObject) -> Dict {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        )
        .unwrap();
        let dict = Dict::load(&conn).unwrap();
        dict.allocate(&conn, o.attributes.keys()).unwrap();
        dict
    }

    fn round_trip(o: &ConnectorObject) -> ConnectorObject {
        let dict = dict_for(o);
        assert!(encode(o, &Dict::default()).unwrap().is_none() || o.attributes.is_empty());
        let bytes = encode(o, &dict).unwrap().unwrap();
        assert_eq!(bytes.first(), Some(&NAMED));
        let back = decode(
            ValueRef::Blob(&bytes),
            &o.object_type,
            o.anchor.as_str(),
            &dict,
        )
        .unwrap();
        // One object, one encoding.
        assert_eq!(encode(&back, &dict).unwrap().unwrap(), bytes);
        // The form of schema version 4 still reads as the same object.
        let v4 = encode_v4(o).unwrap();
        assert_eq!(v4.first(), Some(&COMPACT));
        let old = decode(
            ValueRef::Blob(&v4),
            &o.object_type,
            o.anchor.as_str(),
            &dict,
        )
        .unwrap();
        assert_eq!(old, back);
        back
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        let o = all_kinds();
        let back = round_trip(&o);
        assert_eq!(back, o);
        // The offset of a date-time is kept, not only its instant.
        let hired = back.values("hired");
        assert_eq!(hired.get(1), o.values("hired").get(1));
        match (hired.get(1), o.values("hired").get(1)) {
            (Some(AttrValue::DateTime(a)), Some(AttrValue::DateTime(b))) => {
                assert_eq!(a.offset(), b.offset())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_objects_and_no_dn_round_trip() {
        let o = ConnectorObject::new("Group", "");
        assert_eq!(round_trip(&o), o);
        let mut with_empty_dn = ConnectorObject::new("Group", "g");
        with_empty_dn.dn = Some(String::new());
        assert_eq!(round_trip(&with_empty_dn), with_empty_dn);
    }

    #[test]
    fn the_compact_form_is_smaller_than_the_json() {
        let o = all_kinds();
        let json = serde_json::to_string(&o).unwrap();
        let compact = encode(&o, &dict_for(&o)).unwrap().unwrap();
        assert!(compact.len() < encode_v4(&o).unwrap().len());
        assert!(
            compact.len() < json.len(),
            "{} vs {}",
            compact.len(),
            json.len()
        );
    }

    #[test]
    fn bodies_of_older_spaces_still_decode_and_compare_by_content() {
        let o = all_kinds();
        let dict = dict_for(&o);
        let json = serde_json::to_string(&o).unwrap();
        let back = decode(ValueRef::Text(json.as_bytes()), "ignored", "ignored", &dict).unwrap();
        assert_eq!(back, o);
        let v4 = Stored::Compact(encode_v4(&o).unwrap());
        assert!(!v4.is_current());
        let current = encode(&o, &dict).unwrap().unwrap();
        assert!(Stored::Compact(current.clone()).is_current());
        assert!(same_content(&Stored::Json(json.clone()), &current, &dict));
        assert!(same_content(&v4, &current, &dict));
        assert!(same_content(
            &Stored::Compact(current.clone()),
            &current,
            &dict
        ));
        let changed = o.clone().with("age", vec![AttrValue::Integer(8)]);
        let changed = encode(&changed, &dict).unwrap().unwrap();
        assert!(!same_content(&Stored::Json(json), &changed, &dict));
        assert!(!same_content(&v4, &changed, &dict));
        assert!(!same_content(&Stored::Compact(current), &changed, &dict));
    }

    #[test]
    fn secrets_are_never_encoded() {
        let o = ConnectorObject::new("User", "s").with(
            "password",
            vec![AttrValue::Secret(Secret::new("hunter2".to_owned()))],
        );
        let err = encode(&o, &dict_for(&o)).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn corrupt_bodies_are_errors_not_panics() {
        let dict = dict_for(&all_kinds());
        for good in [
            encode(&all_kinds(), &dict).unwrap().unwrap(),
            encode_v4(&all_kinds()).unwrap(),
        ] {
            // Every truncation, and every single-byte change, decodes to an error or to some
            // object, never a panic.
            for n in 0..good.len() {
                assert!(decode(ValueRef::Blob(&good[..n]), "User", "a", &dict).is_err());
            }
            for i in 0..good.len() {
                for b in [0u8, 0x7f, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[i] = b;
                    let _ = decode(ValueRef::Blob(&bad), "User", "a", &dict);
                }
            }
        }
        let decode = |bytes: &[u8]| decode(ValueRef::Blob(bytes), "User", "a", &dict);
        assert!(decode(&[3, 0, 0]).is_err());
        assert!(decode(&[COMPACT, 0, 0, 0]).is_err());
        assert!(decode(&[COMPACT, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        // A name id the dictionary does not hold.
        assert!(decode(&[NAMED, 0, 1, 100, 0]).is_err());
        assert!(decode(&[NAMED, 0, 0]).is_ok());
        assert!(super::decode(ValueRef::Integer(3), "User", "a", &dict).is_err());
    }
}
