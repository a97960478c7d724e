//! Proxy access logs with fixed layouts: Envoy's default format and HAProxy's `httplog`.
//!
//! Envoy (`[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//! %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% …upstream time
//! "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" …`): `%DURATION%` is integer milliseconds; the
//! client is the first `X-Forwarded-For` address.
//!
//! HAProxy `httplog` (`%ci:%cp [%tr] %ft %b/%s <timers> %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc
//! %sq/%bq {%hrl} {%hsl} %{+Q}r`), with HAProxy 1.x timers `Tq/Tw/Tc/Tr/Tt` or 2.x
//! `TR/Tw/Tc/Tr/Ta`: the latency is the last timer (1.x `Tt`, the whole session; 2.x `Ta`, the
//! request's active time), in milliseconds; `-1` (aborted) means none. The syslog prefix HAProxy
//! usually writes is removed before (see [`super::wrapper`]).

use std::borrow::Cow;

use super::cursor::{is_int, Cur};
use super::fields::{Field, Found, TimeUnit, Val};
use super::time;

const RANK: u16 = 1;

/// `[2026-…` : the start of an Envoy line.
pub(crate) fn looks_like_envoy(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 12 && b[0] == b'[' && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b'-' && b[11] == b'T'
}

/// Parses an Envoy default-format line; `None` if it does not match.
pub(crate) fn envoy<'a>(line: &'a str, found: &mut Found<'a>) -> Option<()> {
    let mut c = Cur::at(line, 1);
    let start = c.until(b']')?;
    c.space();
    if !c.eat(b'"') {
        return None;
    }
    let request = c.quoted()?;
    let status = c.field()?;
    let _flags = c.field()?;
    let bytes_received = c.field()?;
    let bytes_sent = c.field()?;
    let duration = c.field()?;
    if !is_int(&status) || !is_int_or_dash(&bytes_received) || !is_int_or_dash(&duration) {
        return None;
    }
    found.time.val = time::parse_str(start);
    found.offer(Field::Path, RANK, Val::Str(request));
    found.offer(Field::Status, RANK, Val::Str(status));
    found.offer(Field::Bytes, RANK, Val::Str(bytes_sent));
    found.offer(Field::ResponseTime(TimeUnit::Millis), RANK, Val::Str(duration));
    let _upstream_time = c.field();
    if let Some(xff) = c.field() {
        found.offer(Field::Client, RANK, Val::Str(xff));
    }
    if let Some(ua) = c.field() {
        found.offer(Field::UserAgent, RANK, Val::Str(ua));
    }
    Some(())
}

/// `ip:port [dd/Mon/` : the start of an HAProxy `httplog` line (after any syslog prefix). The byte
/// after the first space is checked first: a Common/Combined line has `-` there.
pub(crate) fn looks_like_haproxy(line: &str) -> bool {
    let b = line.as_bytes();
    let Some(sp) = b.iter().take(48).position(|&c| c == b' ') else { return false };
    if b.get(sp + 1) != Some(&b'[') || !b.get(sp + 2).is_some_and(u8::is_ascii_digit) || b.get(sp + 4) != Some(&b'/') {
        return false;
    }
    let addr = &line[..sp];
    addr.rfind(':').is_some_and(|i| i + 1 < addr.len() && addr[i + 1..].bytes().all(|c| c.is_ascii_digit()))
}

/// Parses an HAProxy `httplog` line; `None` if it does not match.
pub(crate) fn haproxy<'a>(line: &'a str, found: &mut Found<'a>) -> Option<()> {
    let mut c = Cur::at(line, 0);
    let addr = c.token();
    c.space();
    if !c.eat(b'[') {
        return None;
    }
    let date = c.until(b']')?;
    let _frontend = c.field()?;
    let backend = c.field()?;
    let timers = c.field()?;
    let status = c.field()?;
    let bytes = c.field()?;
    if !backend.contains('/') || timers.split('/').count() != 5 || !is_int(&status) {
        return None;
    }
    let client = addr.rfind(':').map_or(addr, |i| &addr[..i]);
    let client = client.trim_start_matches('[').trim_end_matches(']');
    found.offer(Field::Client, RANK, Val::Str(Cow::Borrowed(client)));
    found.time.val = time::parse_clf_prefix(date).map(|(t, _)| t);
    found.offer(Field::Status, RANK, Val::Str(status));
    found.offer(Field::Bytes, RANK, Val::Str(Cow::Owned(bytes.trim_start_matches('+').to_string())));
    let total = timers.rsplit('/').next().unwrap_or("-1").trim_start_matches('+');
    if !total.starts_with('-') {
        found.offer(Field::ResponseTime(TimeUnit::Millis), RANK, Val::Str(Cow::Owned(total.to_string())));
    }
    // Cookies, termination state, connection counts, queues, captured headers, then the request.
    while !c.done() {
        if c.eat(b'"') {
            if let Some(request) = c.quoted() {
                found.offer(Field::Path, RANK, Val::Str(request));
            }
            break;
        }
        c.token();
    }
    Some(())
}

fn is_int_or_dash(s: &str) -> bool {
    s == "-" || is_int(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_default_format() {
        // From Envoy's access-log documentation (default format).
        let line = r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#;
        assert!(looks_like_envoy(line));
        let mut f = Found::default();
        assert_eq!(envoy(line, &mut f), Some(()));
        assert_eq!(f.method.val.as_deref(), Some("POST"));
        assert_eq!(f.path.val.as_deref(), Some("/api/v1/locations"));
        assert_eq!(f.status.val, Some(204));
        assert_eq!(f.response_time_ms.val, Some(226.0));
        assert_eq!(f.client.val.as_deref(), Some("10.0.35.28"));
        assert_eq!(f.user_agent.val.as_deref(), Some("nsq2http"));
        assert!(!looks_like_envoy("[Sun Dec 04 04:47:44 2005] [error] x"));
    }

    #[test]
    fn haproxy_1x_and_2x_timers() {
        // HAProxy configuration manual, "HTTP log format" example (1.x timers Tq/Tw/Tc/Tr/Tt).
        let v1 = r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#;
        let v2 = r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in~ static/srv1 0/0/1/2999/3001 502 +219 - - SH-- 3/3/0/0/0 0/0 "GET /slow?id=1 HTTP/1.1""#;
        for (line, ms, status) in [(v1, 109.0, 200), (v2, 3001.0, 502)] {
            assert!(looks_like_haproxy(line), "{line}");
            let mut f = Found::default();
            assert_eq!(haproxy(line, &mut f), Some(()));
            assert_eq!(f.response_time_ms.val, Some(ms));
            assert_eq!(f.status.val, Some(status));
            assert_eq!(f.client.val.as_deref(), Some("10.0.1.2"));
            assert_eq!(f.method.val.as_deref(), Some("GET"));
        }
        let aborted = r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 -1/-1/-1/-1/8 400 187 - - CR-- 1/1/0/0/0 0/0 "<BADREQ>""#;
        let mut f = Found::default();
        assert_eq!(haproxy(aborted, &mut f), Some(()));
        assert_eq!(f.response_time_ms.val, Some(8.0));
        assert!(!looks_like_haproxy("127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1"));
    }
}
