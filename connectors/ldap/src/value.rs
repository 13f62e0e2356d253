//! Attribute values between the object model and LDAP's octet strings, and anchors in text.
//!
//! Import: text of an attribute whose kind is Integer, Boolean or DateTime is parsed into that
//! kind (and kept as a string when it does not parse, so nothing is lost); DN-syntax attributes
//! become references; binary attributes keep their bytes. Export: the reverse, with date-times as
//! UTC Generalized Time and booleans as `TRUE`/`FALSE`. Secrets are written only through
//! [`Secret::expose`], and `unicodePwd` is encoded as Active Directory requires (the password in
//! double quotes, UTF-16LE).

use connector_core::{AttrKind, AttrValue, Secret};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::config::AnchorConfig;

/// One value as imported.
pub fn import_text(kind: AttrKind, text: &str) -> AttrValue {
    match kind {
        AttrKind::Integer => text
            .trim()
            .parse()
            .map(AttrValue::Integer)
            .unwrap_or_else(|_| AttrValue::String(text.to_owned())),
        AttrKind::Boolean => match text.trim().to_ascii_uppercase().as_str() {
            "TRUE" => AttrValue::Boolean(true),
            "FALSE" => AttrValue::Boolean(false),
            _ => AttrValue::String(text.to_owned()),
        },
        AttrKind::DateTime => parse_generalized_time(text)
            .map(AttrValue::DateTime)
            .unwrap_or_else(|| AttrValue::String(text.to_owned())),
        AttrKind::Reference => AttrValue::Reference(text.to_owned()),
        AttrKind::Binary => AttrValue::Binary(text.as_bytes().to_vec()),
        AttrKind::String | AttrKind::Secret => AttrValue::String(text.to_owned()),
    }
}

/// The bytes an export writes for one value.
pub fn export_bytes(value: &AttrValue, attribute: &str) -> Vec<u8> {
    match value {
        AttrValue::String(s) | AttrValue::Reference(s) => s.as_bytes().to_vec(),
        AttrValue::Integer(i) => i.to_string().into_bytes(),
        AttrValue::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.as_bytes().to_vec(),
        AttrValue::DateTime(t) => generalized_time(*t).into_bytes(),
        AttrValue::Binary(b) => b.clone(),
        AttrValue::Secret(s) => secret_bytes(s, attribute),
    }
}

/// A password as the attribute wants it: `unicodePwd` is `"password"` in UTF-16LE.
pub fn secret_bytes(secret: &Secret, attribute: &str) -> Vec<u8> {
    if attribute.eq_ignore_ascii_case("unicodePwd") {
        format!("\"{}\"", secret.expose())
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect()
    } else {
        secret.expose().as_bytes().to_vec()
    }
}

/// `YYYYMMDDHHMMSS[.fff]Z` in UTC.
pub fn generalized_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.microsecond() != 0 {
        let frac = format!("{:06}", t.microsecond());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses Generalized Time (RFC 4517 §3.3.13): `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|±HH[MM])`.
pub fn parse_generalized_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let digits = text.get(..digits_end)?;
    let num =
        |from: usize, len: usize| -> Option<u32> { digits.get(from..from + len)?.parse().ok() };
    if !matches!(digits.len(), 10 | 12 | 14) {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4, 2)?).ok()?).ok()?;
    let day = u8::try_from(num(6, 2)?).ok()?;
    let hour = u8::try_from(num(8, 2)?).ok()?;
    let minute = if digits.len() >= 12 {
        u8::try_from(num(10, 2)?).ok()?
    } else {
        0
    };
    let second = if digits.len() >= 14 {
        u8::try_from(num(12, 2)?).ok()?
    } else {
        0
    };
    let mut rest = text.get(digits_end..)?;
    let mut micro = 0u32;
    if let Some(frac) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let f = frac.get(..end)?;
        if f.is_empty() {
            return None;
        }
        let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
        micro = six.parse().ok()?;
        rest = frac.get(end..)?;
    }
    let offset = match rest {
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hh: i8 = rest.get(1..3)?.parse().ok()?;
            let mm: i8 = match rest.len() {
                3 => 0,
                5 => rest.get(3..5)?.parse().ok()?,
                _ => return None,
            };
            UtcOffset::from_hms(sign * hh, sign * mm, 0).ok()?
        }
    };
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_micro(hour, minute, second, micro).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC),
    )
}

/// A 16-byte UUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (RFC 4122 byte order, as
/// `entryUUID` and the RFC 4533 sync controls carry it).
pub fn uuid_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8)?,
        hex.get(8..12)?,
        hex.get(12..16)?,
        hex.get(16..20)?,
        hex.get(20..32)?
    ))
}

/// A 16-byte sync UUID (RFC 4533) as 389 Directory Server's `nsUniqueId` text,
/// `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`: 389 DS's content synchronisation reports each entry by
/// the bytes of its `nsUniqueId`, not its `entryUUID`.
pub fn nsuniqueid_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}",
        hex.get(0..8)?,
        hex.get(8..16)?,
        hex.get(16..24)?,
        hex.get(24..32)?
    ))
}

/// The anchor text of an entry a sync control names by its 16-byte UUID: the `entryUUID` form
/// (OpenLDAP) or the `nsUniqueId` form (389 DS); `None` for other anchors.
pub fn sync_uuid_anchor(anchor: &AnchorConfig, bytes: &[u8]) -> Option<String> {
    match anchor {
        AnchorConfig::EntryUuid => uuid_text(bytes),
        a if a.is_nsuniqueid() => nsuniqueid_text(bytes),
        _ => None,
    }
}

/// An AD `objectGUID` (16 bytes, first three fields little-endian) as its usual GUID string.
pub fn guid_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 16 {
        return None;
    }
    let order = [3usize, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let reordered: Vec<u8> = order
        .iter()
        .map(|&i| bytes.get(i).copied())
        .collect::<Option<_>>()?;
    uuid_text(&reordered)
}

/// The bytes of a GUID string (inverse of [`guid_text`]); `None` when it is not one.
pub fn guid_bytes(text: &str) -> Option<Vec<u8>> {
    let canonical = parse_uuid(text)?;
    let order = [3usize, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    order.iter().map(|&i| canonical.get(i).copied()).collect()
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (any case) into its 16 bytes.
pub fn parse_uuid(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let groups: Vec<&str> = t.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    (0..16)
        .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect()
}

/// The anchor of an entry, from its DN and the anchor attribute's raw value.
pub fn anchor_text(anchor: &AnchorConfig, dn: &str, raw: Option<&[u8]>) -> Option<String> {
    match anchor {
        AnchorConfig::Dn => Some(dn.to_owned()),
        AnchorConfig::EntryUuid => {
            let text = std::str::from_utf8(raw?).ok()?;
            Some(text.trim().to_ascii_lowercase())
        }
        AnchorConfig::ObjectGuid => guid_text(raw?),
        AnchorConfig::Attribute(_) => std::str::from_utf8(raw?).ok().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_round_trips() {
        let t = parse_generalized_time("20240506070809Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_714_979_289);
        assert_eq!(generalized_time(t), "20240506070809Z");
        let t = parse_generalized_time("20240506070809.5+0200").unwrap();
        assert_eq!(generalized_time(t), "20240506050809.5Z");
        assert!(parse_generalized_time("2024050607Z").is_some());
        for bad in [
            "",
            "2024",
            "20241306070809Z",
            "20240506070809",
            "20240506070809.Z",
            "x",
        ] {
            assert!(parse_generalized_time(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn uuids_and_guids() {
        let bytes: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            uuid_text(&bytes).unwrap(),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
        let guid = guid_text(&bytes).unwrap();
        assert_eq!(guid, "03020100-0504-0706-0809-0a0b0c0d0e0f");
        assert_eq!(guid_bytes(&guid).unwrap(), bytes);
        assert_eq!(parse_uuid("no-such-anchor-4711"), None);
        assert_eq!(uuid_text(&[1, 2]), None);
    }

    #[test]
    fn values_convert_both_ways() {
        assert_eq!(import_text(AttrKind::Integer, "42"), AttrValue::Integer(42));
        assert_eq!(
            import_text(AttrKind::Integer, "x"),
            AttrValue::String("x".into())
        );
        assert_eq!(
            import_text(AttrKind::Boolean, "TRUE"),
            AttrValue::Boolean(true)
        );
        assert_eq!(
            import_text(AttrKind::Reference, "cn=a,dc=x"),
            AttrValue::Reference("cn=a,dc=x".into())
        );
        assert_eq!(export_bytes(&AttrValue::Boolean(false), "x"), b"FALSE");
        let pwd = export_bytes(&AttrValue::Secret(Secret::new("ab")), "unicodePwd");
        assert_eq!(pwd, vec![b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
        assert_eq!(
            export_bytes(&AttrValue::Secret(Secret::new("ab")), "userPassword"),
            b"ab"
        );
    }
}
