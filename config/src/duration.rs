//! Durations written as `"30s"`, `"5m"`, `"1h"` or `"250ms"`.
//!
//! A bare number is refused: `30` could mean seconds or milliseconds, and a configuration that
//! guesses wrong by a factor of a thousand is worse than one that asks for a unit.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration as the configuration file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationText(pub Duration);

/// Units from the largest to the smallest, with their length in nanoseconds; `Display` picks the
/// first that divides the duration exactly.
const UNITS: &[(&str, u128)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

impl DurationText {
    /// Parses `"30s"`, `"5m"`, `"1h"`, `"250ms"` (also `"us"` and `"ns"`; whole numbers only).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u128 = num.parse().map_err(|_| {
            format!("{s:?} is not a duration: write a whole number with a unit, as in \"30s\", \"5m\", \"1h\" or \"250ms\"")
        })?;
        let unit = unit.trim();
        if unit.is_empty() {
            return Err(format!(
                "{s:?} has no unit: write \"{n}s\" for seconds or \"{n}ms\" for milliseconds"
            ));
        }
        let nanos_per = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| format!("{unit:?} is not a duration unit: use h, m, s, ms, us or ns"))?;
        let total = n
            .checked_mul(nanos_per)
            .ok_or_else(|| format!("{s:?} is too long"))?;
        let secs =
            u64::try_from(total / 1_000_000_000).map_err(|_| format!("{s:?} is too long"))?;
        // The remainder of a division by 10^9 always fits.
        let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
        Ok(DurationText(Duration::new(secs, nanos)))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for DurationText {
    fn from(d: Duration) -> Self {
        DurationText(d)
    }
}

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        for (unit, per) in UNITS {
            if nanos % per == 0 {
                return write!(f, "{}{unit}", nanos / per);
            }
        }
        write!(f, "{nanos}ns")
    }
}

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\", \"1h\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                DurationText::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}
