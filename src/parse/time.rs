//! Timestamp parsing for log lines: RFC 3339 / ISO 8601 (with or without fraction and zone; no zone
//! means UTC; `T` or space between date and time; `.` or `,` before the fraction), the access-log
//! form `10/Oct/2000:13:55:36 -0700`, and epoch numbers whose unit (seconds, milliseconds,
//! microseconds, nanoseconds) is chosen by magnitude. The common shapes are parsed by hand (no
//! allocation, no error values built on the hot path); anything else is tried with `jiff`.

use jiff::Timestamp;

/// Earliest timestamp accepted from a line (1990-01-01T00:00:00Z); earlier ones are garbage.
const MIN_SANE_SECS: i64 = 631_152_000;
/// How far past the reference time a line's timestamp may be (clock skew between hosts).
const MAX_FUTURE_SECS: i64 = 86_400;

/// True if `ts` is plausible for a log line read at `reference`: not before 1990 and at most a day
/// after `reference` (or after now, whichever is later).
pub(crate) fn is_sane(ts: Timestamp, reference: Timestamp) -> bool {
    let secs = ts.as_second();
    if secs < MIN_SANE_SECS {
        return false;
    }
    // Asking the clock costs a system call's worth per line: only when the reference is not enough.
    secs <= reference.as_second().saturating_add(MAX_FUTURE_SECS)
        || secs <= Timestamp::now().as_second().saturating_add(MAX_FUTURE_SECS)
}

/// Parses a timestamp given as text: an epoch number, RFC 3339 / ISO 8601, or the access-log form.
pub(crate) fn parse_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        if b.iter().all(u8::is_ascii_digit) {
            return s.parse::<u64>().ok().and_then(from_epoch_int);
        }
        return s.parse::<f64>().ok().and_then(from_epoch_f64);
    }
    if let Some((ts, used)) = parse_iso_prefix(s) {
        if used == s.len() {
            return Some(ts);
        }
    }
    if let Some((ts, used)) = parse_clf_prefix(s) {
        if used == s.len() {
            return Some(ts);
        }
    }
    // Rarer shapes (e.g. RFC 3339 with a bracketed zone annotation): let jiff decide.
    if b.len() <= 64 && b[0].is_ascii_digit() {
        return s.parse::<Timestamp>().ok();
    }
    None
}

/// An epoch number: seconds below 1e11, milliseconds below 1e14, microseconds below 1e17, else
/// nanoseconds.
pub(crate) fn from_epoch_int(v: u64) -> Option<Timestamp> {
    let r = if v < 100_000_000_000 {
        Timestamp::from_second(v as i64)
    } else if v < 100_000_000_000_000 {
        Timestamp::from_millisecond(v as i64)
    } else if v < 100_000_000_000_000_000 {
        Timestamp::from_microsecond(v as i64)
    } else {
        Timestamp::from_nanosecond(i128::from(v))
    };
    r.ok()
}

/// A floating-point epoch number (unit chosen by magnitude as in [`from_epoch_int`]).
pub(crate) fn from_epoch_f64(v: f64) -> Option<Timestamp> {
    if !v.is_finite() || !(0.0..=1e19).contains(&v) {
        return None;
    }
    let nanos_per_unit = if v < 1e11 {
        1e9
    } else if v < 1e14 {
        1e6
    } else if v < 1e17 {
        1e3
    } else {
        1.0
    };
    Timestamp::from_nanosecond((v * nanos_per_unit) as i128).ok()
}

/// Reads `n` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i32> {
    let part = b.get(at..at + n)?;
    let mut v = 0i32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i32::from(c - b'0');
    }
    Some(v)
}

/// Builds a timestamp from a civil date `[year, month, day]`, a clock
/// `[hour, minute, second, nanosecond]` and an offset in seconds east of UTC. Checked as jiff
/// checks them (a real date, a clock within the day, an offset within ±25:59:59); the arithmetic is
/// done here because it runs for every line.
pub(crate) fn from_parts([y, mo, d]: [i32; 3], [h, mi, s, nanos]: [i32; 4], off: i32) -> Option<Timestamp> {
    let s = s.min(59); // a leap second becomes :59
    let valid = (-9999..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && d >= 1
        && d <= days_in_month(y, mo)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&s)
        && (0..1_000_000_000).contains(&nanos)
        && off.abs() <= 93_599;
    if !valid {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s) - i64::from(off);
    Timestamp::new(secs, nanos).ok()
}

fn days_in_month(y: i32, mo: i32) -> i32 {
    match mo {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date, counted in 400-year eras that start on
/// 1 March (so the leap day ends its year).
fn days_from_civil(y: i32, mo: i32, d: i32) -> i64 {
    let y = i64::from(if mo <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let mo = i64::from(mo);
    let day_of_year = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + i64::from(d) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads a fraction (`.123` or `,123456789`) at `at`; returns nanoseconds and the end position.
fn fraction(b: &[u8], at: usize) -> (i32, usize) {
    if !matches!(b.get(at), Some(b'.' | b',')) || !b.get(at + 1).is_some_and(u8::is_ascii_digit) {
        return (0, at);
    }
    let mut i = at + 1;
    let mut nanos = 0i32;
    let mut scale = 100_000_000i32;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        nanos += i32::from(c - b'0') * scale;
        scale /= 10;
        i += 1;
    }
    (nanos, i)
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|±HH[:MM]]` at the start of `s`. Without a zone the time
/// is UTC. Returns the timestamp and the number of bytes used.
pub(crate) fn parse_iso_prefix(s: &str) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    let mut i = 16;
    let mut sec = 0;
    let mut nanos = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b, i + 1, 2)?;
        (nanos, i) = fraction(b, i + 3);
    }
    let mut off = 0;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            i += 3;
            let mut om = 0;
            if b.get(i) == Some(&b':') {
                om = digits(b, i + 1, 2)?;
                i += 3;
            } else if let Some(v) = digits(b, i, 2) {
                om = v;
                i += 2;
            }
            off = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
        }
        _ => {}
    }
    Some((from_parts([y, mo, d], [h, mi, sec, nanos], off)?, i))
}

/// Month number (1..=12) of an English three-letter month abbreviation (any case).
pub(crate) fn month_abbrev(b: &[u8]) -> Option<i32> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let m = b.get(..3)?;
    let lower = [m[0].to_ascii_lowercase(), m[1].to_ascii_lowercase(), m[2].to_ascii_lowercase()];
    MONTHS.iter().position(|x| **x == lower).map(|i| i as i32 + 1)
}

/// Parses the access-log form `10/Oct/2000:13:55:36 -0700` (zone optional; a space instead of the
/// first colon as werkzeug writes it; a fraction as HAProxy writes it) at the start of `s`.
pub(crate) fn parse_clf_prefix(s: &str) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || !matches!(b[11], b':' | b' ') || b[14] != b':' || b[17] != b':' {
        return None;
    }
    let d = digits(b, 0, 2)?;
    let mo = month_abbrev(&b[3..6])?;
    let y = digits(b, 7, 4)?;
    let (h, mi, sec) = (digits(b, 12, 2)?, digits(b, 15, 2)?, digits(b, 18, 2)?);
    let (nanos, mut i) = fraction(b, 20);
    let mut off = 0;
    if b.get(i) == Some(&b' ') && matches!(b.get(i + 1), Some(b'+' | b'-')) {
        let sign = if b[i + 1] == b'-' { -1 } else { 1 };
        if let (Some(oh), Some(om)) = (digits(b, i + 2, 2), digits(b, i + 4, 2)) {
            off = sign * (oh * 3600 + om * 60);
            i += 6;
        }
    }
    Some((from_parts([y, mo, d], [h, mi, sec, nanos], off)?, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// What jiff makes of the same parts: the reference `from_parts` must agree with.
    fn jiff_parts([y, mo, d]: [i32; 3], [h, mi, s, nanos]: [i32; 4], off: i32) -> Option<Timestamp> {
        let (y, s) = (i16::try_from(y).ok()?, s.min(59));
        let (mo, d, h, mi, s) =
            (i8::try_from(mo).ok()?, i8::try_from(d).ok()?, i8::try_from(h).ok()?, i8::try_from(mi).ok()?, s as i8);
        let dt = jiff::civil::DateTime::new(y, mo, d, h, mi, s, nanos).ok()?;
        jiff::tz::Offset::from_seconds(off).ok()?.to_timestamp(dt).ok()
    }

    #[test]
    fn from_parts_agrees_with_jiff_on_valid_and_invalid_parts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut valid = 0;
        for _ in 0..200_000 {
            let year = if rng.gen_bool(0.5) { rng.gen_range(1899..2101) } else { rng.gen_range(-10_001..10_001) };
            let date = [year, rng.gen_range(0..14), rng.gen_range(0..33)];
            let clock =
                [rng.gen_range(0..25), rng.gen_range(0..61), rng.gen_range(0..61), rng.gen_range(-1..1_000_000_001)];
            let off = if rng.gen_bool(0.8) { rng.gen_range(-14..15) * 1800 } else { rng.gen_range(-100_000..100_000) };
            let ours = from_parts(date, clock, off);
            assert_eq!(ours, jiff_parts(date, clock, off), "{date:?} {clock:?} {off}");
            valid += usize::from(ours.is_some());
        }
        assert!(valid > 50_000, "only {valid} valid samples");
        // Leap days and the edges of jiff's range.
        assert_eq!(from_parts([2024, 2, 29], [0, 0, 0, 0], 0), Some(ts("2024-02-29T00:00:00Z")));
        assert_eq!(from_parts([2100, 2, 29], [0, 0, 0, 0], 0), None);
        assert_eq!(from_parts([2000, 2, 29], [23, 59, 60, 0], 3600), Some(ts("2000-02-29T22:59:59Z")));
        for date in [[-9999, 1, 1], [9999, 12, 31]] {
            for off in [-93_599, 0, 93_599] {
                assert_eq!(from_parts(date, [0, 0, 0, 0], off), jiff_parts(date, [0, 0, 0, 0], off));
            }
        }
    }

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_str("2026-11-24T03:48:59.494Z"), Some(ts("2026-11-24T03:48:59.494Z")));
        assert_eq!(parse_str("2026-11-24T03:48:59+02:00"), Some(ts("2026-11-24T01:48:59Z")));
        assert_eq!(parse_str("2026-11-24T03:48:59-0530"), Some(ts("2026-11-24T09:18:59Z")));
        // No zone means UTC.
        assert_eq!(parse_str("2026-11-24T03:48:59"), Some(ts("2026-11-24T03:48:59Z")));
        assert_eq!(parse_str("2026-11-24 03:00:00,123"), Some(ts("2026-11-24T03:00:00.123Z")));
        assert_eq!(parse_str("2026-11-24 03:00"), Some(ts("2026-11-24T03:00:00Z")));
        assert_eq!(parse_str("2026-11-24T03:00:00.123456789Z"), Some(ts("2026-11-24T03:00:00.123456789Z")));
        assert_eq!(parse_str("2026-13-24T03:00:00Z"), None);
        assert_eq!(parse_str("2026-11-24Tnope"), None);
    }

    #[test]
    fn access_log_form() {
        assert_eq!(parse_clf_prefix("02/Dec/2026 04:00:00").map(|p| p.0), Some(ts("2026-12-02T04:00:00Z")));
        assert_eq!(parse_clf_prefix("06/Feb/2009:12:14:14.655").map(|p| p.0), Some(ts("2009-02-06T12:14:14.655Z")));
        assert_eq!(parse_str("10/Oct/2000:13:55:36 -0700"), Some(ts("2000-10-10T20:55:36Z")));
        assert_eq!(parse_str("24/Nov/2026:03:00:00 +0000"), Some(ts("2026-11-24T03:00:00Z")));
        assert_eq!(parse_str("24/Foo/2026:03:00:00 +0000"), None);
    }

    #[test]
    fn epoch_units_by_magnitude() {
        let want = ts("2026-11-24T03:00:00Z");
        assert_eq!(parse_str("1795489200"), Some(want));
        assert_eq!(parse_str("1795489200000"), Some(want));
        assert_eq!(parse_str("1795489200000000"), Some(want));
        assert_eq!(parse_str("1795489200000000000"), Some(want));
        assert_eq!(from_epoch_f64(1_795_489_200.5), Some(ts("2026-11-24T03:00:00.5Z")));
        assert_eq!(from_epoch_f64(f64::NAN), None);
        assert_eq!(from_epoch_f64(-1.0), None);
        assert_eq!(from_epoch_f64(1e30), None);
    }

    #[test]
    fn sanity_window() {
        let now = Timestamp::now();
        assert!(is_sane(ts("2005-06-03T15:42:50Z"), now));
        assert!(!is_sane(ts("1970-01-01T00:00:01Z"), now));
        assert!(!is_sane(ts("2200-01-01T00:00:00Z"), now));
    }
}
