//! Durations as people write them in YAML files (`10s`, `500ms`, `1m30s`), parsed with humantime.

use std::time::Duration;

/// Parse a human duration; the error says what was wrong and how to write one.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}): write e.g. 10s, 500ms or 2m"))
}

/// Seconds as a human duration (`1.5s` → "1.5s", 90 → "1m 30s").
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
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
