//! Wrappers around a log line, removed before the line is parsed as any format:
//!
//! - CRI (containerd, CRI-O; Kubernetes node logs): `<RFC 3339 time> stdout|stderr F|P <line>`.
//!   A `P` (partial) line is held and joined with the lines after it up to the next `F`.
//! - Docker's json-file driver: `{"log":"<line>\n","stream":"stdout","time":"…"}`. A `log` without
//!   its final newline is a part of a longer line (Docker splits at 16 KiB) and is held likewise.
//! - A syslog header (`Feb  6 12:14:14 host haproxy[14389]: `, optionally after `<PRI>`, or RFC 5424
//!   `<PRI>1 TIME HOST APP PROCID MSGID SD `): removed when what follows is a structured format.
//!
//! The wrapper's time is the event's time when the inner line has none.

use jiff::Timestamp;

use super::time;

/// One unwrapped container line.
pub(crate) struct Unwrapped<'a> {
    /// The stream (`stdout`/`stderr`), part of the key of the held parts.
    pub stream: &'a str,
    pub time: Option<Timestamp>,
    /// The inner line (Docker's is unescaped, hence owned).
    pub line: std::borrow::Cow<'a, str>,
    /// The line continues in the next entry of this stream.
    pub partial: bool,
}

/// A CRI line, if it is one.
pub(crate) fn cri(line: &str) -> Option<Unwrapped<'_>> {
    let b = line.as_bytes();
    if b.len() < 30 || b[4] != b'-' || b[10] != b'T' || !b[0].is_ascii_digit() {
        return None;
    }
    let sp = line.find(' ')?;
    let rest = &line[sp + 1..];
    let stream = if rest.starts_with("stdout ") {
        "stdout"
    } else if rest.starts_with("stderr ") {
        "stderr"
    } else {
        return None;
    };
    let rest = &rest[7..];
    let (tag, inner) = rest.split_once(' ').unwrap_or((rest, ""));
    let partial = match tag {
        "F" => false,
        "P" => true,
        _ => return None,
    };
    Some(Unwrapped { stream, time: time::parse_str(&line[..sp]), line: inner.into(), partial })
}

/// A Docker json-file line, if it is one.
pub(crate) fn docker(line: &str) -> Option<Unwrapped<'static>> {
    if !line.starts_with("{\"log\":") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        log: String,
        #[serde(default)]
        stream: String,
        #[serde(default)]
        time: String,
    }
    let mut e: Entry = serde_json::from_str(line).ok()?;
    let partial = !e.log.ends_with('\n');
    if !partial {
        e.log.pop();
        if e.log.ends_with('\r') {
            e.log.pop();
        }
    }
    let stream = if e.stream == "stderr" { "stderr" } else { "stdout" };
    Some(Unwrapped { stream, time: time::parse_str(&e.time), line: e.log.into(), partial })
}

/// The message after a syslog header, and the header's time (RFC 3164 times lack a year; the
/// reference time's is used).
pub(crate) fn syslog(line: &str, reference: Timestamp) -> Option<(&str, Option<Timestamp>)> {
    let mut s = line;
    if s.starts_with('<') {
        let close = s.bytes().take(5).position(|b| b == b'>')?;
        s = &s[close + 1..];
        if let Some(rest) = s.strip_prefix("1 ") {
            // RFC 5424: TIME HOST APP PROCID MSGID then structured data (`-` or `[…]`).
            let mut parts = rest.splitn(6, ' ');
            let ts = parts.next()?;
            for _ in 0..4 {
                parts.next()?;
            }
            let rest = parts.next()?;
            let msg = if let Some(m) = rest.strip_prefix("- ") {
                m
            } else if rest.starts_with('[') {
                rest.find("] ").map(|i| &rest[i + 2..])?
            } else {
                return None;
            };
            return Some((msg, time::parse_str(ts)));
        }
    }
    let b = s.as_bytes();
    // `Mmm dd hh:mm:ss host tag[pid]: `
    if b.len() < 20 || time::month_abbrev(b).is_none() || b[3] != b' ' || b[9] != b':' || b[12] != b':' || b[15] != b' '
    {
        return None;
    }
    let ts = super::text::leading_time(s, reference).map(|(t, _)| t);
    let after_time = &s[16..];
    let (_host, rest) = after_time.split_once(' ')?;
    let colon = rest.find(": ")?;
    let tag = &rest[..colon];
    if tag.contains(' ') || tag.is_empty() {
        return None;
    }
    Some((&rest[colon + 2..], ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_full_and_partial() {
        let u = cri("2026-12-02T04:00:00.123456789Z stdout F GET /x 200").unwrap();
        assert_eq!((u.stream, &*u.line, u.partial), ("stdout", "GET /x 200", false));
        assert_eq!(u.time, Some("2026-12-02T04:00:00.123456789Z".parse().unwrap()));
        assert!(cri("2026-12-02T04:00:00.123456789Z stderr P part").unwrap().partial);
        assert!(cri("2026-12-02T04:00:00.123456789Z level=info msg=x").is_none());
    }

    #[test]
    fn docker_json_file() {
        let u = docker(r#"{"log":"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n","stream":"stdout","time":"2026-12-02T04:00:00.5Z"}"#).unwrap();
        assert_eq!(&*u.line, r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET / HTTP/1.1" 200 1"#);
        assert!(!u.partial);
        assert!(docker(r#"{"log":"first half","stream":"stderr","time":"x"}"#).unwrap().partial);
        assert!(docker(r#"{"level":"info"}"#).is_none());
    }

    #[test]
    fn syslog_headers() {
        let now: Timestamp = "2026-12-02T05:00:00Z".parse().unwrap();
        let (msg, ts) = syslog("Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009", now).unwrap();
        assert_eq!(msg, "10.0.1.2:33317 [06/Feb/2009");
        assert!(ts.is_some());
        let (msg, _) = syslog("<134>Feb  6 12:14:14 lb1 haproxy[1]: hello", now).unwrap();
        assert_eq!(msg, "hello");
        let (msg, ts) = syslog("<134>1 2026-12-02T04:00:00Z lb1 haproxy 1234 - - hello there", now).unwrap();
        assert_eq!((msg, ts.is_some()), ("hello there", true));
        assert!(syslog("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass", now).is_some());
        assert!(syslog("GET / 200", now).is_none());
    }
}
