//! Instants as nanoseconds since the Unix epoch (UTC): the `--since`/`--until` bounds, days,
//! weekdays and hours. The calendar arithmetic is the audit log's own (`Timestamp`).

use govops_core::audit::Timestamp;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// The weekdays in the heatmap's order (Monday first, as the ledger's heatmap).
pub(crate) const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The instant as the audit log writes it: RFC 3339, UTC, nine fractional digits.
pub(crate) fn rfc3339(nanos: u64) -> String {
    Timestamp::from_unix(nanos / NANOS_PER_SEC, (nanos % NANOS_PER_SEC) as u32).to_string()
}

/// The instant to the second, for tables: `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn short(nanos: u64) -> String {
    let secs = nanos / NANOS_PER_SEC;
    let rem = secs % SECS_PER_DAY;
    format!(
        "{} {:02}:{:02}:{:02}",
        day_text(secs / SECS_PER_DAY),
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since the epoch.
pub(crate) fn day_number(nanos: u64) -> u64 {
    nanos / NANOS_PER_SEC / SECS_PER_DAY
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn day_text(day: u64) -> String {
    let (y, m, d) = Timestamp::from_unix(day * SECS_PER_DAY, 0).date();
    format!("{y:04}-{m:02}-{d:02}")
}

/// (weekday, Monday 0; hour of day), UTC.
pub(crate) fn weekday_hour(nanos: u64) -> (usize, usize) {
    let secs = nanos / NANOS_PER_SEC;
    let days = secs / SECS_PER_DAY;
    // 1970-01-01 was a Thursday: Monday-first weekday 3.
    (
        ((days + 3) % 7) as usize,
        (secs % SECS_PER_DAY / 3600) as usize,
    )
}

/// The hour since the epoch.
pub(crate) fn hour_number(nanos: u64) -> u64 {
    nanos / NANOS_PER_SEC / 3600
}

/// `YYYY-MM-DD HH:00` of an hour number.
pub(crate) fn hour_text(hour: u64) -> String {
    format!("{} {:02}:00", day_text(hour / 24), hour % 24)
}

/// What `--since` and `--until` accept, for messages.
pub(crate) const ACCEPTED: &str = "accepted: a date YYYY-MM-DD (midnight UTC) or an RFC 3339 timestamp \
     YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), from 1970";

/// Parses a `--since`/`--until` bound: `YYYY-MM-DD` (midnight UTC that day) or an RFC 3339
/// timestamp with `Z` or a numeric offset. Nanoseconds since the epoch.
pub(crate) fn parse_bound(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a date or timestamp; {ACCEPTED}");
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Result<u32, String> {
        let part = b.get(range).ok_or_else(bad)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        part.iter()
            .try_fold(0u32, |n, d| {
                n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
            })
            .ok_or_else(bad)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let midnight = Timestamp::from_date(year, month, day).ok_or_else(bad)?;
    let mut secs = i64::try_from(midnight.since_unix_epoch().as_secs()).map_err(|_| bad())?;
    let mut nanos = 0u64;
    if b.len() > 10 {
        // RFC 3339: `T` (or `t`, or a space, which RFC 3339 allows), the time, then the offset.
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 20 || b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad());
        }
        // A leap second counts as the last second of its minute.
        let second = second.min(59);
        secs += i64::from(hour * 3600 + minute * 60 + second);
        let mut at = 19;
        if b[at] == b'.' {
            let start = at + 1;
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if end == start {
                return Err(bad());
            }
            // Nanoseconds: the first nine digits; finer ones are dropped.
            let kept = &b[start..end.min(start + 9)];
            let value = kept.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            nanos = value * 10u64.pow(9 - kept.len() as u32);
            at = end;
        }
        match &b[at..] {
            [b'Z' | b'z'] => {}
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (oh, om) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                let offset = i64::from(oh * 3600 + om * 60);
                // Local time = UTC + offset.
                secs -= if *sign == b'+' { offset } else { -offset };
            }
            _ => return Err(bad()),
        }
    }
    let secs = u64::try_from(secs).map_err(|_| bad())?;
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_midnight_utc_and_offsets_are_applied() {
        let day = parse_bound("2026-03-02").ok();
        assert_eq!(day, parse_bound("2026-03-02T00:00:00Z").ok());
        assert_eq!(day, parse_bound("2026-03-02T01:30:00+01:30").ok());
        assert_eq!(day, parse_bound("2026-03-01t19:00:00-05:00").ok());
        assert_eq!(
            parse_bound("2026-03-02T00:00:00.25Z").ok(),
            day.map(|d| d + 250_000_000)
        );
        assert_eq!(
            day.map(rfc3339).as_deref(),
            Some("2026-03-02T00:00:00.000000000Z")
        );
        // 2026-03-02 is a Monday.
        assert_eq!(day.map(weekday_hour), Some((0, 0)));
        assert_eq!(
            day.map(|d| day_text(day_number(d))).as_deref(),
            Some("2026-03-02")
        );
        assert_eq!(
            day.map(|d| hour_text(hour_number(d + 3_600_000_000_000 * 13)))
                .as_deref(),
            Some("2026-03-02 13:00")
        );
    }

    #[test]
    fn what_is_not_a_date_is_refused_with_what_is_accepted() {
        for bad in [
            "",
            "yesterday",
            "2026-02-30",
            "2026-13-01",
            "1969-12-31",
            "2026-03-02T10:00:00",
            "2026-03-02T25:00:00Z",
            "2026-03-02T10:00:00+0100",
            "2026-03-02T10:00:00.Z",
            "2026-3-2",
        ] {
            let error = parse_bound(bad).err().unwrap_or_default();
            assert!(error.contains("YYYY-MM-DD"), "{bad:?}: {error}");
        }
    }
}
