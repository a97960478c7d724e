//! Plain-text lines: a leading timestamp if there is one, a level word near the start, the rest is
//! the message. Recognised leading timestamps:
//!
//! - ISO 8601 / RFC 3339: `2015-10-18 18:01:47,978`, `2026-11-24T03:00:00Z` (Hadoop, Zookeeper, …)
//! - bracketed: `[10/Oct/2000:13:55:36 -0700]`, `[Sun Dec 04 04:47:44 2005]` (Apache error log),
//!   `[2026-11-24 03:00:00]`
//! - syslog: `Jun 14 15:16:01` (the year is the reference time's, or the one before if that would
//!   put the line more than a day in the future)
//! - `081109 203615` (HDFS: yyMMdd HHmmss), `17/06/09 20:10:40` (Spark: yy/MM/dd),
//!   `03-17 16:13:38.811` (Android logcat: MM-dd, year as for syslog)
//!
//! Level words: upper-case (`ERROR`, `WARN`, `INFO`, …), capitalised common ones (`Error`, `Info`),
//! any case when bracketed or followed by a colon (`[error]`, `error:`), and logcat's one-letter
//! levels after numeric fields (`1702 2395 D WindowManager: …`). Only the first six words are looked
//! at (ten for upper-case words, as BGL puts `RAS KERNEL INFO` after six fields).
//!
//! A message of the shape `GET /api/users 200 12ms` also yields method, path, status and time.

use std::borrow::Cow;

use jiff::tz::Offset;
use jiff::Timestamp;

use super::fields::{is_method, Field, Found, Val};
use super::time::{from_parts, month_abbrev, parse_clf_prefix, parse_iso_prefix};
use super::values::{level_word, parse_duration_ms};
use super::Level;

/// Parses a text line into `found` (time, level, message, and request fields if the message starts
/// like one).
pub(crate) fn parse<'a>(line: &'a str, reference: Timestamp, found: &mut Found<'a>) {
    let (time, used) = leading_time(line, reference).map_or((None, 0), |(t, u)| (Some(t), u));
    if time.is_some() {
        found.time.val = time;
    }
    let rest = line[used..].trim_start();
    let message = match find_level(rest) {
        Some((level, end)) => {
            found.level.val = Some(level);
            rest[end..].trim_start_matches([' ', '\t', ':', ']'])
        }
        None => rest.trim_start_matches([' ', '\t', ',']),
    };
    request_in_message(message, found);
    if !message.is_empty() {
        found.offer(Field::Message, 1, Val::Str(Cow::Borrowed(message)));
    }
}

/// `GET /api/users 200 12ms` → method, path, status, response time.
fn request_in_message<'a>(message: &'a str, found: &mut Found<'a>) {
    let mut toks = message.split_ascii_whitespace();
    let (Some(method), Some(path)) = (toks.next(), toks.next()) else {
        return;
    };
    if !path.starts_with('/') || !is_method(method) || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return;
    }
    found.offer(Field::Method, 1, Val::Str(Cow::Borrowed(method)));
    found.offer(Field::Path, 1, Val::Str(Cow::Borrowed(path)));
    for tok in toks.take(3) {
        if tok.len() == 3 && tok.bytes().all(|b| b.is_ascii_digit()) {
            found.offer(Field::Status, 1, Val::Str(Cow::Borrowed(tok)));
        } else if let Some(ms) = parse_duration_ms(tok.trim_matches(['(', ')', ','])) {
            found.offer(Field::ResponseTime(super::fields::TimeUnit::Millis), 1, Val::F64(ms));
        }
    }
}

/// A level word among the first six words of `rest` (upper-case ones among the first ten); returns
/// it and the byte offset after it.
fn find_level(rest: &str) -> Option<(Level, usize)> {
    const EDGE: &[char] = &['[', ']', '(', ')', '<', '>', ':', ',', '|'];
    let mut prev_numeric = true;
    let mut pos = 0;
    for idx in 0..10 {
        let tail = &rest[pos..];
        let start = pos + (tail.len() - tail.trim_start().len());
        if start >= rest.len() {
            return None;
        }
        let end = rest[start..].find(char::is_whitespace).map_or(rest.len(), |e| start + e);
        let tok = &rest[start..end];
        pos = end;
        let core = tok.trim_matches(EDGE);
        let marked = tok.starts_with(['[', '<', '(']) || tok.ends_with([':', ']']);
        let level = if idx >= 6 && !(core.len() > 1 && core.bytes().all(|b| b.is_ascii_uppercase())) {
            None // past the first six words only an upper-case level word counts
        } else if core.len() == 1 {
            let c = core.as_bytes()[0];
            (idx > 0 && prev_numeric && b"VDIWEF".contains(&c)).then(|| level_word(core)).flatten()
        } else if core.bytes().all(|b| b.is_ascii_uppercase())
            || marked
            || matches!(core, "Trace" | "Debug" | "Info" | "Information" | "Warn" | "Warning" | "Error" | "Fatal")
        {
            level_word(core)
        } else {
            None
        };
        if let Some(level) = level {
            return Some((level, end));
        }
        prev_numeric &= tok.bytes().any(|b| b.is_ascii_digit());
    }
    None
}

/// A timestamp at the start of the line and the number of bytes it used.
pub(crate) fn leading_time(line: &str, reference: Timestamp) -> Option<(Timestamp, usize)> {
    let b = line.as_bytes();
    let first = *b.first()?;
    if first == b'[' {
        let close = line.get(..40.min(line.len())).and_then(|s| s.find(']'))?;
        let inner = &line[1..close];
        let ts = parse_iso_prefix(inner)
            .or_else(|| parse_clf_prefix(inner))
            .or_else(|| ctime(inner))
            .filter(|(_, used)| *used == inner.len())?;
        return Some((ts.0, close + 1));
    }
    if first.is_ascii_digit() {
        return parse_iso_prefix(line).or_else(|| compact(b)).or_else(|| slashed(b)).or_else(|| logcat(b, reference));
    }
    syslog(b, reference)
}

fn num(b: &[u8], at: usize, n: usize) -> Option<i32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0i32, |v, c| c.is_ascii_digit().then(|| v * 10 + i32::from(c - b'0')))
}

/// `HH:MM:SS[.frac]` at `at`; returns (h, m, s, nanos, end).
fn clock(b: &[u8], at: usize) -> Option<(i32, i32, i32, i32, usize)> {
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') {
        return None;
    }
    let (h, m, s) = (num(b, at, 2)?, num(b, at + 3, 2)?, num(b, at + 6, 2)?);
    let mut i = at + 8;
    let mut nanos = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let mut scale = 100_000_000;
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            nanos += i32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    Some((h, m, s, nanos, i))
}

/// A year-less date: this year (of `reference`, UTC), or last year if that is over a day ahead.
fn without_year(reference: Timestamp, [mo, d]: [i32; 2], clock: [i32; 4]) -> Option<Timestamp> {
    let year = i32::from(Offset::UTC.to_datetime(reference).year());
    let ts = from_parts([year, mo, d], clock, 0)?;
    if ts.as_second() > reference.as_second() + 86_400 {
        return from_parts([year - 1, mo, d], clock, 0);
    }
    Some(ts)
}

/// `Jun 14 15:16:01` / `Jul  1 09:00:55`.
fn syslog(b: &[u8], reference: Timestamp) -> Option<(Timestamp, usize)> {
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' {
        return None;
    }
    let mo = month_abbrev(&b[..3])?;
    let d = if b[4] == b' ' { num(b, 5, 1)? } else { num(b, 4, 2)? };
    let (h, mi, s, nanos, end) = clock(b, 7)?;
    Some((without_year(reference, [mo, d], [h, mi, s, nanos])?, end))
}

/// `Sun Dec 04 04:47:44 2005` (weekday ignored; optional fraction).
fn ctime(s: &str) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    if b.len() < 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' {
        return None;
    }
    let mo = month_abbrev(&b[4..7])?;
    let d = if b[8] == b' ' { num(b, 9, 1)? } else { num(b, 8, 2)? };
    let (h, mi, sec, nanos, end) = clock(b, 11)?;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    let y = num(b, end + 1, 4)?;
    Some((from_parts([y, mo, d], [h, mi, sec, nanos], 0)?, end + 5))
}

/// `081109 203615` (yyMMdd HHmmss).
fn compact(b: &[u8]) -> Option<(Timestamp, usize)> {
    if b.len() < 13 || b[6] != b' ' || b.get(13).is_some_and(|c| !c.is_ascii_whitespace()) {
        return None;
    }
    let (y, mo, d) = (num(b, 0, 2)?, num(b, 2, 2)?, num(b, 4, 2)?);
    let (h, mi, s) = (num(b, 7, 2)?, num(b, 9, 2)?, num(b, 11, 2)?);
    Some((from_parts([2000 + y, mo, d], [h, mi, s, 0], 0)?, 13))
}

/// `17/06/09 20:10:40` (yy/MM/dd).
fn slashed(b: &[u8]) -> Option<(Timestamp, usize)> {
    if b.len() < 17 || b[2] != b'/' || b[5] != b'/' || b[8] != b' ' {
        return None;
    }
    let (y, mo, d) = (num(b, 0, 2)?, num(b, 3, 2)?, num(b, 6, 2)?);
    let (h, mi, s, nanos, end) = clock(b, 9)?;
    Some((from_parts([2000 + y, mo, d], [h, mi, s, nanos], 0)?, end))
}

/// `03-17 16:13:38.811` (MM-dd, logcat).
fn logcat(b: &[u8], reference: Timestamp) -> Option<(Timestamp, usize)> {
    if b.len() < 14 || b[2] != b'-' || b[5] != b' ' {
        return None;
    }
    let (mo, d) = (num(b, 0, 2)?, num(b, 3, 2)?);
    let (h, mi, s, nanos, end) = clock(b, 6)?;
    Some((without_year(reference, [mo, d], [h, mi, s, nanos])?, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Timestamp {
        "2026-11-24T04:00:00Z".parse().unwrap()
    }

    fn run(line: &str) -> Found<'_> {
        let mut f = Found::default();
        parse(line, reference(), &mut f);
        f
    }

    fn at(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn hadoop_and_zookeeper() {
        let f = run("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001");
        assert_eq!(f.time.val, at("2015-10-18T18:01:47.978Z"));
        assert_eq!(f.level.val, Some(Level::Info));
        assert!(f.message.val.as_deref().unwrap().starts_with("[main] org.apache.hadoop"));

        let f = run("2015-07-29 19:04:12,394 - WARN  [SendWorker:188978561024:QuorumCnxManager$SendWorker@679] - Interrupted while waiting for message on queue");
        assert_eq!(f.level.val, Some(Level::Warn));
        assert_eq!(f.time.val, at("2015-07-29T19:04:12.394Z"));
    }

    #[test]
    fn hdfs_syslog_apache_spark_logcat() {
        let f = run("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating");
        assert_eq!(f.time.val, at("2008-11-09T20:36:15Z"));
        assert_eq!(f.level.val, Some(Level::Info));
        assert_eq!(
            f.message.val.as_deref(),
            Some("dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating")
        );

        let f = run("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4");
        assert_eq!(f.time.val, at("2026-06-14T15:16:01Z"));
        assert_eq!(f.level.val, None);
        assert!(f.message.val.as_deref().unwrap().starts_with("combo sshd(pam_unix)"));

        // December seen in November: last year's.
        let f = run("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186");
        assert_eq!(f.time.val, at("2025-12-10T06:55:46Z"));
        let f = run("Jul  1 09:00:55 calvisitor kernel[0]: ARPT: 620701.011328: AirPort_Brcm43xx::syncPowerState");
        assert_eq!(f.time.val, at("2026-07-01T09:00:55Z"));

        let f = run("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6");
        assert_eq!(f.time.val, at("2005-12-04T04:47:44Z"));
        assert_eq!(f.level.val, Some(Level::Error));
        assert_eq!(f.message.val.as_deref(), Some("mod_jk child workerEnv in error state 6"));

        let f = run("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers");
        assert_eq!(f.time.val, at("2017-06-09T20:10:40Z"));
        assert_eq!(f.level.val, Some(Level::Info));

        let f = run("03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app");
        assert_eq!(f.time.val, at("2026-03-17T16:13:38.811Z"));
        assert_eq!(f.level.val, Some(Level::Debug));
    }

    #[test]
    fn level_words_without_timestamps() {
        assert_eq!(run("ERROR: upstream timeout after 30s calling payments-service").level.val, Some(Level::Error));
        assert_eq!(run("WARNING: slow query detected (1534 ms)").level.val, Some(Level::Warn));
        assert_eq!(run("error: cannot open file").level.val, Some(Level::Error));
        // Ordinary words are not levels.
        assert_eq!(run("I think the error is elsewhere").level.val, None);
        assert_eq!(run("Starting worker pool with 8 workers").level.val, None);
        assert_eq!(run("Notification time out: 3200").level.val, None);
    }

    #[test]
    fn request_shaped_message() {
        let f = run("GET /api/users 200 12ms");
        assert_eq!(f.method.val.as_deref(), Some("GET"));
        assert_eq!(f.path.val.as_deref(), Some("/api/users"));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.response_time_ms.val, Some(12.0));
        assert_eq!(run("Get /lost in thought").path.val, None);
    }

    #[test]
    fn odd_prefixes_do_not_panic() {
        for line in
            ["[", "[]", "[Sun Dec", "0", "12-", "Jun", "Jun 14 15:16", "081109 2036", "17/06/09", "é[é]", "2026-11-2"]
        {
            let _ = run(line);
        }
        assert_eq!(run("[2026-11-24 03:00:00] done").time.val, at("2026-11-24T03:00:00Z"));
    }
}
