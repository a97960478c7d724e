//! Conversion of raw values (JSON numbers, strings, logfmt values) into typed fields.
//!
//! Response-time units, by alias:
//! - milliseconds: `response_time_ms`, `duration_ms`, `latency_ms`, `elapsed_ms`, `took_ms`,
//!   `time_ms`, `rt_ms`;
//! - seconds: `request_time`, `upstream_response_time` (nginx), `response_time_secs`,
//!   `response_time_seconds`, `duration_secs`, `duration_seconds`;
//! - microseconds: `response_time_us`, `duration_us`, `latency_us`, `elapsed_us`, `took_us`;
//!   nanoseconds: `duration_ns`, `latency_ns`, `elapsed_ns`, `response_time_ns`;
//! - `duration`, `dur`: a Go duration string (`12.5ms`, `1.2s`, `1m30s`); a bare decimal is
//!   seconds (Caddy's `0.0123`), a bare integer is nanoseconds (Go's `time.Duration` marshalled as
//!   JSON, as Traefik's `Duration` is);
//! - `took`: like `response_time`; `time_taken` (W3C `time-taken`): milliseconds;
//! - `response_time`, `elapsed`, `latency`: a bare number with a fractional part below 60 is
//!   seconds (`0.042` as nginx writes it), any other bare number is milliseconds (`250`);
//! - `service` (Heroku router, `service=18ms`): milliseconds, and only used when nothing else is.
//!
//! A string value with a unit suffix (`12ms`, `1.5s`, `800us`) is read in that unit, whatever the
//! field. Values that are NaN, infinite, negative or over one day become `None`.
//!
//! Numbers may arrive as JSON numbers or numeric strings. A status must be an integer in
//! 100..=599, a size a non-negative integer; strings that are empty or `-` count as absent;
//! a client list (`X-Forwarded-For`) yields its first address; levels are words in any case
//! (`warning`, `E`, `crit`) or bunyan/pino numbers (30 = info, 50 = error). Timestamps: see
//! [`super::time`].

use std::borrow::Cow;

use jiff::Timestamp;

use super::fields::{TimeUnit, Val};
use super::{time, Level};

/// A non-empty string that is not the `-` placeholder access logs use for "none".
pub(crate) fn to_str(v: Val<'_>) -> Option<Cow<'_, str>> {
    match v {
        Val::Str(s) => {
            let b = s.as_bytes();
            let padded =
                b.first().is_some_and(u8::is_ascii_whitespace) || b.last().is_some_and(u8::is_ascii_whitespace);
            let t = if padded { s.trim() } else { &s };
            (!t.is_empty() && t != "-").then_some(s)
        }
        _ => None,
    }
}

/// First address of an `X-Forwarded-For`-style list.
pub(crate) fn first_address(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let first = match s.as_bytes().iter().position(|&b| b == b',') {
        Some(i) => s[..i].trim(),
        None => s.trim(),
    };
    if first.is_empty() || first == "-" {
        return None;
    }
    if first.len() == s.len() {
        return Some(s);
    }
    Some(super::fields::sub(&s, first))
}

pub(crate) fn to_timestamp(v: &Val<'_>) -> Option<Timestamp> {
    match v {
        Val::Str(s) => time::parse_str(s),
        Val::U64(n) => time::from_epoch_int(*n),
        Val::I64(n) => u64::try_from(*n).ok().and_then(time::from_epoch_int),
        Val::F64(f) => time::from_epoch_f64(*f),
        _ => None,
    }
}

/// A number as f64, from a JSON number or a numeric string.
fn to_f64(v: &Val<'_>) -> Option<f64> {
    match v {
        Val::Str(s) => s.trim().parse::<f64>().ok(),
        Val::U64(n) => Some(*n as f64),
        Val::I64(n) => Some(*n as f64),
        Val::F64(f) => Some(*f),
        _ => None,
    }
}

/// An HTTP status in 100..=599.
pub(crate) fn to_status(v: &Val<'_>) -> Option<u16> {
    let n = match v {
        Val::Str(s) => s.trim().parse::<u16>().ok()?,
        Val::U64(n) => u16::try_from(*n).ok()?,
        Val::I64(n) => u16::try_from(*n).ok()?,
        Val::F64(f) if f.fract() == 0.0 && (100.0..600.0).contains(f) => *f as u16,
        _ => return None,
    };
    (100..=599).contains(&n).then_some(n)
}

/// A non-negative integer size.
pub(crate) fn to_u64(v: &Val<'_>) -> Option<u64> {
    match v {
        Val::Str(s) => s.trim().parse::<u64>().ok(),
        Val::U64(n) => Some(*n),
        Val::I64(n) => u64::try_from(*n).ok(),
        Val::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15 => Some(*f as u64),
        _ => None,
    }
}

/// Longest plausible response time: one day, in milliseconds.
const MAX_RESPONSE_MS: f64 = 86_400_000.0;

/// A response time in milliseconds; `None` if NaN, infinite, negative or over a day.
pub(crate) fn to_millis(v: &Val<'_>, unit: TimeUnit) -> Option<f64> {
    let ms = match v {
        Val::Str(s) if s.trim_end().ends_with(|c: char| c.is_alphabetic()) => parse_duration_ms(s.trim())?,
        _ => {
            let n = to_f64(v)?;
            match unit {
                TimeUnit::Millis => n,
                TimeUnit::Micros => n / 1000.0,
                TimeUnit::Nanos => n / 1e6,
                TimeUnit::Secs => n * 1000.0,
                TimeUnit::Duration if is_integer(v) => n / 1e6,
                TimeUnit::Duration => n * 1000.0,
                TimeUnit::Guess if n.fract() != 0.0 && n < 60.0 => n * 1000.0,
                TimeUnit::Guess => n,
            }
        }
    };
    (ms.is_finite() && (0.0..=MAX_RESPONSE_MS).contains(&ms)).then_some(ms)
}

/// A JSON integer, or a string of digits only.
fn is_integer(v: &Val<'_>) -> bool {
    match v {
        Val::U64(_) | Val::I64(_) => true,
        Val::Str(s) => {
            let t = s.trim();
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Parses a Go-style duration (`12.5ms`, `1.2s`, `1m30s`, `800us`, `250µs`, `3h`) into milliseconds.
pub(crate) fn parse_duration_ms(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() || rest.len() > 64 {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" | "sec" | "secs" => 1000.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total)
}

pub(crate) fn to_level(v: &Val<'_>) -> Option<Level> {
    match v {
        Val::Str(s) => level_word(s.trim()),
        // bunyan / pino numeric levels
        Val::U64(n) => match n {
            10 => Some(Level::Trace),
            20 => Some(Level::Debug),
            30 => Some(Level::Info),
            40 => Some(Level::Warn),
            50 => Some(Level::Error),
            60 => Some(Level::Fatal),
            _ => None,
        },
        _ => None,
    }
}

/// A level name in any case, including one-letter forms (`E`, `W`, `I`, `D`, `V`, `F`, `T`).
pub(crate) fn level_word(s: &str) -> Option<Level> {
    if s.len() > 13 {
        return None;
    }
    let mut buf = [0u8; 13];
    for (d, c) in buf.iter_mut().zip(s.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    let level = match &buf[..s.len()] {
        b"trace" | b"t" | b"v" | b"verbose" | b"finest" | b"finer" => Level::Trace,
        b"debug" | b"dbg" | b"d" | b"fine" => Level::Debug,
        b"info" | b"information" | b"informational" | b"i" | b"notice" | b"inf" => Level::Info,
        b"warn" | b"warning" | b"w" | b"wrn" => Level::Warn,
        b"error" | b"err" | b"e" | b"eror" | b"severe" => Level::Error,
        b"fatal" | b"f" | b"critical" | b"crit" | b"panic" | b"emerg" | b"emergency" | b"alert" | b"dpanic" => {
            Level::Fatal
        }
        _ => return None,
    };
    Some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(v))
    }

    #[test]
    fn status_range_and_sizes() {
        assert_eq!(to_status(&s("404")), Some(404));
        assert_eq!(to_status(&Val::U64(99)), None);
        assert_eq!(to_status(&Val::U64(600)), None);
        assert_eq!(to_status(&Val::I64(-200)), None);
        assert_eq!(to_status(&Val::F64(500.0)), Some(500));
        assert_eq!(to_u64(&Val::I64(-1)), None);
        assert_eq!(to_u64(&Val::F64(12.5)), None);
        assert_eq!(to_u64(&s("2326")), Some(2326));
        assert_eq!(to_u64(&s("-")), None);
    }

    #[test]
    fn response_time_units() {
        use TimeUnit::*;
        assert_eq!(to_millis(&Val::F64(12.5), Millis), Some(12.5));
        assert_eq!(to_millis(&s("0.042"), Secs), Some(42.0));
        assert_eq!(to_millis(&Val::F64(0.25), Guess), Some(250.0));
        assert_eq!(to_millis(&Val::U64(250), Guess), Some(250.0));
        assert_eq!(to_millis(&Val::F64(1.5), Duration), Some(1500.0));
        // Traefik's `Duration`: integer nanoseconds.
        assert_eq!(to_millis(&Val::U64(3_000_000_000), Duration), Some(3000.0));
        assert_eq!(to_millis(&s("850us"), Duration), Some(0.85));
        assert_eq!(to_millis(&Val::U64(1500), Micros), Some(1.5));
        assert_eq!(to_millis(&Val::U64(2_000_000), Nanos), Some(2.0));
        assert_eq!(to_millis(&s("12.5ms"), Duration), Some(12.5));
        assert_eq!(to_millis(&s("1m30s"), Duration), Some(90_000.0));
        assert_eq!(to_millis(&s("250µs"), Millis), Some(0.25));
        assert_eq!(to_millis(&s("1.2s"), Millis), Some(1200.0));
        assert_eq!(to_millis(&s("NaN"), Millis), None);
        assert_eq!(to_millis(&s("inf"), Millis), None);
        assert_eq!(to_millis(&Val::F64(-3.0), Millis), None);
        assert_eq!(to_millis(&Val::F64(1e12), Millis), None);
        assert_eq!(to_millis(&s("2d"), Duration), None);
        assert_eq!(to_millis(&s("ms"), Duration), None);
    }

    #[test]
    fn level_words() {
        assert_eq!(level_word("WARNING"), Some(Level::Warn));
        assert_eq!(level_word("e"), Some(Level::Error));
        assert_eq!(level_word("notice"), Some(Level::Info));
        assert_eq!(level_word("CRIT"), Some(Level::Fatal));
        assert_eq!(level_word("loud"), None);
        assert_eq!(to_level(&Val::U64(50)), Some(Level::Error));
    }
}
