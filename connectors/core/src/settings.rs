//! Helpers for a connector's settings table (`[connector.<kind>]`), so every connector reads the
//! same values the same way: durations today.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a duration written as integer seconds (`30`) or as text with a unit: `"500ms"`,
/// `"30s"` (or `"30"`), `"2m"` (or `"2min"`), `"1h"`. Use with
/// `#[serde(deserialize_with = "connector_core::settings::duration")]`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {t:?}: write seconds (30) or \"500ms\", \"30s\", \"2m\", \"1h\""
            ))
        }),
    }
}

/// Parses the text forms [`duration`] accepts; `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit.trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_written_form() {
        for (text, expected) in [
            ("30", Some(Duration::from_secs(30))),
            ("30s", Some(Duration::from_secs(30))),
            (" 500ms ", Some(Duration::from_millis(500))),
            ("2m", Some(Duration::from_secs(120))),
            ("2min", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("m", None),
            ("x", None),
            ("1d", None),
            ("99999999999999999999h", None),
        ] {
            assert_eq!(parse_duration(text), expected, "{text}");
        }
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "duration")]
            d: Duration,
        }
        let t: T = serde_json::from_str(r#"{"d": 45}"#).unwrap();
        assert_eq!(t.d, Duration::from_secs(45));
        let e = serde_json::from_str::<T>(r#"{"d": "soon"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("invalid duration \"soon\""), "{e}");
    }
}
