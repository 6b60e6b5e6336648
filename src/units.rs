//! Durations as people write them in YAML files (`10s`, `500ms`, `1m30s`), parsed with humantime.

use std::time::Duration;

/// Parse a human duration; the error says what was wrong and how to write one.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}): write e.g. 10s, 500ms or 2m"))
}

/// Parse a size in bytes: a number, optionally with a unit `k`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB` (all powers of 1024), case-insensitive (`256MiB`, `1g`, `4096`). The error says
/// what was wrong and how to write one.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("'{s}' is not a size: write e.g. 256MiB, 1GiB or 4096 (bytes)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Seconds as a human duration (`1.5s` → "1.5s", 90 → "1m 30s").
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The units [`parse_duration`] (humantime) takes, longest spelling first.
const DURATION_UNITS: &str = "nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y";

/// A regular expression (ECMA-262 and Python alike) for what [`parse_duration`] takes: one or
/// more numbers, each with a unit (`10s`, `500ms`, `1m30s`, `1.5s`, `2h 30m`).
pub fn duration_pattern() -> String {
    format!(r"^\s*([0-9]+(\.[0-9]+)?\s*({DURATION_UNITS})\s*)+$")
}

/// The JSON Schema of a duration as [`duration`] reads it: a string with a unit, never a bare
/// number (`#[schemars(with = "crate::units::DurationText")]` on a duration field).
pub struct DurationText;

impl schemars::JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": duration_pattern(),
            "description": "A duration with a unit (humantime): 10s, 500ms, 1m30s, 2h. A bare number is refused: is 10 seconds or milliseconds?",
            "examples": ["10s", "500ms", "1m30s"]
        })
    }
}

/// `#[serde(with = "crate::units::duration")]`: a duration written as a string with a unit. A bare
/// number is refused (is `10` seconds or milliseconds?).
pub mod duration {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;
    use std::time::Duration;

    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration with a unit, e.g. 10s or 500ms")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            super::parse_duration(s).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
            Err(E::custom(format!("'{n}' has no unit: write {n}s or {n}ms")))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "'{n}' is not a duration: write e.g. 10s"
            )))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Duration, E> {
            Err(E::custom(format!("'{n}' has no unit: write {n}s")))
        }
    }

    /// Deserialize a [`Duration`] from `"10s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(V)
    }

    /// Serialize a [`Duration`] as `"10s"`.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::show(*d))
    }

    /// The same for `Option<Duration>` fields (`#[serde(default, with = "crate::units::duration::option")]`).
    pub mod option {
        use serde::{Deserializer, Serializer};
        use std::time::Duration;

        /// Deserialize a present value as a duration.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }

        /// Serialize as the duration string, or null.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("2 KB").unwrap(), 2048);
        let e = parse_bytes("lots").unwrap_err();
        assert!(e.contains("'lots' is not a size"), "{e}");
        assert!(parse_bytes("5TB").is_err());
        assert_eq!(
            parse_bytes("256MiB").unwrap(),
            crate::history::DEFAULT_MAX_BYTES,
            "the CLI's default --history-max"
        );
    }

    /// The schema's pattern takes what the parser takes, and refuses what it refuses.
    #[test]
    fn the_duration_pattern_agrees_with_the_parser() {
        let re = regex::Regex::new(&duration_pattern()).unwrap();
        for ok in [
            "10s",
            "500ms",
            "1m30s",
            "1m 30s",
            "2h",
            "1.5s",
            "0s",
            " 10s ",
            "3days",
            "1µs",
            "2M",
            "7 sec",
            "1h2m3s4ms",
        ] {
            assert!(parse_duration(ok).is_ok(), "{ok}");
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in [
            "10",
            "",
            "s",
            "ten seconds",
            "10 parsecs",
            "-1s",
            "1.s",
            ".5s",
            "10s!",
            "1,5s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
