//! UTC timestamps in RFC 3339 with nanoseconds, formatted by hand from `SystemTime` (no date crate
//! is in the tree).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant, written as RFC 3339 with nine fractional digits: `2025-06-01T12:00:00.000000001Z`.
///
/// Instants before 1970 are not represented: a clock set before the Unix epoch reads as the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: u64,
    nanos: u32,
}

impl Timestamp {
    /// The current time of the system clock.
    #[must_use]
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// The instant `time`; before the Unix epoch, the epoch.
    #[must_use]
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch (`nanos` past
    /// 999 999 999 carries into the seconds).
    #[must_use]
    pub fn from_unix(secs: u64, nanos: u32) -> Self {
        let since = Duration::new(secs, 0).saturating_add(Duration::from_nanos(u64::from(nanos)));
        Self {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    /// The time since the Unix epoch.
    #[must_use]
    pub fn since_unix_epoch(self) -> Duration {
        Duration::new(self.secs, self.nanos)
    }

    /// Midnight UTC of a calendar date; `None` when the date does not exist or is before 1970.
    #[must_use]
    pub fn from_date(year: u32, month: u32, day: u32) -> Option<Self> {
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year.is_multiple_of(4)
                && (!year.is_multiple_of(100) || year.is_multiple_of(400)) =>
            {
                29
            }
            2 => 28,
            _ => return None,
        };
        if year < 1970 || day == 0 || day > days_in_month {
            return None;
        }
        let days = u64::try_from(days_from_civil(i64::from(year), month, day)).ok()?;
        Some(Self {
            secs: days * 86_400,
            nanos: 0,
        })
    }

    /// The instant's calendar date in UTC: (year, month, day).
    #[must_use]
    pub fn date(self) -> (i64, u32, u32) {
        civil_from_days((self.secs / 86_400) as i64)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rem = self.secs % 86_400;
        let (year, month, day) = self.date();
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            self.nanos
        )
    }
}

/// Parses what [`Timestamp`]'s `Display` writes: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1
/// to 9 digits, and `Z`.
impl FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?} is not a timestamp; accepted: RFC 3339 in UTC, YYYY-MM-DDTHH:MM:SS[.fraction]Z, from 1970"
            )
        };
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return Err(bad());
        }
        if b[16] != b':' || b[b.len() - 1] != b'Z' {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Result<u32, String> {
            let part = s.get(range).ok_or_else(bad)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let nanos = match &b[19..b.len() - 1] {
            [] => 0,
            [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
                let value = num(20..b.len() - 1)?;
                value * 10u32.pow(9 - digits.len() as u32)
            }
            _ => return Err(bad()),
        };
        let midnight = Self::from_date(year, month, day).ok_or_else(bad)?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad());
        }
        let secs =
            midnight.secs + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
        Ok(Self { secs, nanos })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix(0, 0).to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2000-02-29 (a leap day in a year divisible by 400), 23:59:59.
        assert_eq!(
            Timestamp::from_unix(951_868_799, 123_456_789).to_string(),
            "2000-02-29T23:59:59.123456789Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_767_225_600, 1).to_string(),
            "2026-01-01T00:00:00.000000001Z"
        );
    }

    #[test]
    fn every_day_for_a_few_centuries_round_trips() {
        for days in (0..150_000_u64).step_by(7) {
            let t = Timestamp::from_unix(
                days * 86_400 + days % 86_400,
                (days * 7919) as u32 % 1_000_000_000,
            );
            let text = t.to_string();
            assert_eq!(text.parse::<Timestamp>(), Ok(t), "{text}");
        }
    }

    #[test]
    fn parses_short_fractions_and_rejects_what_is_not_rfc3339_utc() {
        assert_eq!(
            "2024-03-01T10:20:30.5Z".parse::<Timestamp>(),
            Ok(Timestamp::from_unix(1_709_288_430, 500_000_000))
        );
        assert_eq!(
            "2024-03-01T10:20:30Z".parse::<Timestamp>(),
            Ok(Timestamp::from_unix(1_709_288_430, 0))
        );
        for bad in [
            "",
            "2024-03-01 10:20:30Z",
            "2024-03-01T10:20:30+01:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:20:30.Z",
            "2024-03-01T10:20:30.1234567890Z",
            "1969-12-31T23:59:59Z",
            "2024-03-01T10:20:3xZ",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_clock_before_the_epoch_reads_as_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Timestamp::from_system_time(before), Timestamp::default());
    }
}
