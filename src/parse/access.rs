//! Access-log lines in the Common and Combined formats:
//!
//! ```text
//! 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "http://ref/" "UA/1.0" 0.042
//! ```
//!
//! A leading virtual host (`example.com:443 10.0.0.1 - - […`, Apache `%v:%p`, GoAccess VCOMBINED)
//! is skipped; werkzeug's date without a zone (`[02/Dec/2026 04:00:00]`) is read as UTC.
//!
//! After the Combined fields, extra trailing fields are tolerated. The request time is, in this
//! order of preference:
//! 1. the first bare decimal number, in seconds (nginx `$request_time`, also ingress-nginx's,
//!    which follows an integer `$request_length`), or the first number with a unit (`12ms`,
//!    Traefik CLF), or an `rt=0.042` / `request_time=…` pair (read through the aliases, `rt` is
//!    seconds);
//! 2. else a bare integer that is the only trailing number and the last field of the line, in the
//!    [`IntUnit`] the caller gives: microseconds by default (Apache `%D`, gunicorn `%(D)s`),
//!    seconds for Apache `%T`, milliseconds for `%{ms}T`.
//!
//! Further quoted strings (`"$http_x_forwarded_for"`, Traefik's router and URL) and numbers
//! (upstream times, request counts) are skipped. The line is scanned byte by byte, no regex.

use std::borrow::Cow;

use super::cursor::Cur;
use super::fields::{alias, Field, Found, TimeUnit, Val};
use super::time;
use super::values::parse_duration_ms;

/// The unit of a lone trailing integer request time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IntUnit {
    /// Apache `%D`, gunicorn `%(D)s` (the default).
    #[default]
    Micros,
    /// Apache `%{ms}T`.
    Millis,
    /// Apache `%T`.
    Secs,
}

impl IntUnit {
    fn time_unit(self) -> TimeUnit {
        match self {
            IntUnit::Micros => TimeUnit::Micros,
            IntUnit::Millis => TimeUnit::Millis,
            IntUnit::Secs => TimeUnit::Secs,
        }
    }
}

/// Rank given to values read from the access-log positions.
const RANK: u16 = 1;

/// Why a line is not an access-log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Not even the `host ident user [` start: some other kind of line.
    NotAccess,
    /// It started like an access-log line but broke off (truncated or mangled).
    Broken,
}

/// `dd/Mon/` — the start of an access-log date; anything else in brackets (`[main]`, `[error]`) is
/// another kind of line.
fn starts_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'/'
        && b[3..6].iter().all(u8::is_ascii_alphabetic)
        && b[6] == b'/'
}

/// Parses an access-log line into `found`; a lone trailing integer is a request time in `unit`.
pub(crate) fn parse<'a>(line: &'a str, unit: IntUnit, found: &mut Found<'a>) -> Result<(), Miss> {
    match parse_from(line, 0, unit, found) {
        Err(Miss::NotAccess) => {
            // `vhost:port host ident user [date]`: skip the virtual host once.
            let Some(sp) = line.as_bytes().iter().position(|&b| b == b' ') else {
                return Err(Miss::NotAccess);
            };
            let start = sp + 1 + line[sp + 1..].bytes().take_while(|&b| b == b' ').count();
            if line[..sp].contains(['[', '"']) || start >= line.len() {
                return Err(Miss::NotAccess);
            }
            parse_from(line, start, unit, found)
        }
        other => other,
    }
}

fn parse_from<'a>(line: &'a str, start: usize, unit: IntUnit, found: &mut Found<'a>) -> Result<(), Miss> {
    let mut c = Cur::at(line, start);
    let host = c.token();
    c.space();
    let _ident = c.token();
    c.space();
    // The user may be empty in sloppy formats; the date bracket is what must come next.
    let user = if c.s.as_bytes().get(c.i) == Some(&b'[') { "-" } else { c.token() };
    c.space();
    if host.is_empty() || user.is_empty() || !c.eat(b'[') || !starts_like_date(&line[c.i..]) {
        return Err(Miss::NotAccess);
    }
    let close = line[c.i..].find(']').ok_or(Miss::Broken)?;
    let date = &line[c.i..c.i + close];
    c.i += close + 1;
    c.space();
    if !c.eat(b'"') {
        return Err(Miss::Broken);
    }
    let request = c.quoted().ok_or(Miss::Broken)?;
    c.space();
    let status = c.token();
    c.space();
    let bytes = c.token();
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) || bytes.is_empty() {
        return Err(Miss::Broken);
    }
    if bytes != "-" && !bytes.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Miss::Broken);
    }

    found.offer(Field::Client, RANK, Val::Str(Cow::Borrowed(host)));
    if let Some((ts, _)) = time::parse_clf_prefix(date) {
        found.time.val = Some(ts);
    }
    found.offer(Field::Path, RANK, Val::Str(request));
    found.offer(Field::Status, RANK, Val::Str(Cow::Borrowed(status)));
    found.offer(Field::Bytes, RANK, Val::Str(Cow::Borrowed(bytes)));

    // Combined: "referer" "user agent". Then anything nginx adds.
    let mut quoted_seen = 0;
    let mut ints = Integers::default();
    loop {
        c.space();
        if c.i >= line.len() {
            break;
        }
        if c.eat(b'"') {
            let Some(v) = c.quoted() else {
                // An unterminated quote: a cut line. What came before is still good.
                return Ok(());
            };
            ints.last_was = false;
            quoted_seen += 1;
            match quoted_seen {
                1 => found.offer(Field::Referer, RANK, Val::Str(v)),
                2 => found.offer(Field::UserAgent, RANK, Val::Str(v)),
                _ => {}
            }
            continue;
        }
        trailing_token(c.token(), &mut ints, found);
    }
    if let (1, true, Some(n)) = (ints.count, ints.last_was, ints.last) {
        found.offer(Field::ResponseTime(unit.time_unit()), RANK_INTEGER, Val::Str(Cow::Borrowed(n)));
    }
    Ok(())
}

/// Rank of a trailing decimal or unit-suffixed request time.
const RANK_TRAILING: u16 = 2;
/// Rank of a lone trailing integer request time (any decimal one beats it).
const RANK_INTEGER: u16 = 3;

/// The bare integers among the trailing fields.
#[derive(Default)]
struct Integers<'a> {
    count: u32,
    last: Option<&'a str>,
    /// The field just read was a bare integer.
    last_was: bool,
}

/// One unquoted trailing field: the first bare decimal (seconds) or number with a unit is the
/// request time; `k=v` pairs go through the aliases (`rt` meaning seconds); bare integers are
/// counted in `ints`.
fn trailing_token<'a>(tok: &'a str, ints: &mut Integers<'a>, found: &mut Found<'a>) {
    let b = tok.as_bytes();
    ints.last_was = false;
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        ints.count += 1;
        ints.last = Some(tok);
        ints.last_was = true;
        return;
    }
    if let Some((k, v)) = tok.split_once('=') {
        let v = v.trim_matches('"');
        if k.eq_ignore_ascii_case("rt") {
            found.offer(Field::ResponseTime(TimeUnit::Secs), RANK_TRAILING, Val::Str(Cow::Borrowed(v)));
        } else if let Some((field, rank)) = alias(k) {
            found.offer(field, RANK_TRAILING + rank, Val::Str(Cow::Borrowed(v)));
        }
        return;
    }
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return;
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        found.offer(Field::ResponseTime(TimeUnit::Secs), RANK_TRAILING, Val::Str(Cow::Borrowed(tok)));
    } else if b.last().is_some_and(u8::is_ascii_alphabetic) && parse_duration_ms(tok).is_some() {
        found.offer(Field::ResponseTime(TimeUnit::Duration), RANK_TRAILING, Val::Str(Cow::Borrowed(tok)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_m<'a>(line: &'a str, f: &mut Found<'a>) -> Result<(), Miss> {
        parse(line, IntUnit::Micros, f)
    }

    fn ok(line: &str) -> Found<'_> {
        let mut f = Found::default();
        assert_eq!(parse(line, IntUnit::Micros, &mut f), Ok(()), "{line}");
        f
    }

    #[test]
    fn common_log_format() {
        let f = ok(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#);
        assert_eq!(f.client.val.as_deref(), Some("127.0.0.1"));
        assert_eq!(f.method.val.as_deref(), Some("GET"));
        assert_eq!(f.path.val.as_deref(), Some("/apache_pb.gif"));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.bytes.val, Some(2326));
        assert_eq!(f.time.val, Some("2000-10-10T20:55:36Z".parse().unwrap()));
        assert_eq!(f.response_time_ms.val, None);
    }

    #[test]
    fn combined_with_request_time_and_extras() {
        let line = r#"10.1.2.3 - - [24/Nov/2026:03:00:00 +0000] "POST /api/orders?id=7 HTTP/1.1" 201 512 "https://shop.example/cart" "Mozilla/5.0 (X11; Linux x86_64)" "203.0.113.9" 0.042 0.040"#;
        let f = ok(line);
        assert_eq!(f.user_agent.val.as_deref(), Some("Mozilla/5.0 (X11; Linux x86_64)"));
        assert_eq!(f.referer.val.as_deref(), Some("https://shop.example/cart"));
        assert_eq!(f.response_time_ms.val, Some(42.0));
        assert_eq!(f.path.val.as_deref(), Some("/api/orders?id=7"));

        let f = ok(
            r#"10.1.2.3 - - [24/Nov/2026:03:00:00 +0000] "GET / HTTP/1.1" 304 0 "-" "curl/8.0" rt=0.005 uct="0.001""#,
        );
        assert_eq!(f.response_time_ms.val, Some(5.0));
        assert_eq!(f.bytes.val, Some(0));
    }

    #[test]
    fn escaped_quotes_and_odd_requests() {
        let f =
            ok(r#"::1 - - [24/Nov/2026:03:00:00 +0000] "GET /q?x=\"1\" HTTP/1.1" 400 - "-" "sqlmap/1.7 \"probe\"""#);
        assert_eq!(f.path.val.as_deref(), Some("/q?x=\"1\""));
        assert_eq!(f.user_agent.val.as_deref(), Some("sqlmap/1.7 \"probe\""));
        assert_eq!(f.bytes.val, None);
        // nginx logs "-" for a request it could not read; the line is still an access line.
        let f = ok(r#"10.0.0.1 - - [24/Nov/2026:03:00:00 +0000] "-" 400 0 "-" "-""#);
        assert_eq!(f.status.val, Some(400));
        assert_eq!(f.path.val, None);
        assert_eq!(f.user_agent.val, None);
    }

    #[test]
    fn trailing_request_times() {
        let base = r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl/8""#;
        // Apache %D: a lone trailing integer is microseconds.
        assert_eq!(ok(&format!("{base} 3000000")).response_time_ms.val, Some(3000.0));
        // ingress-nginx: `$request_length $request_time …`: the decimal wins.
        let ingress = format!("{base} 431 0.005 [default-web-80] [] 10.2.0.7:8080 612 0.004 200 8f3c");
        assert_eq!(ok(&ingress).response_time_ms.val, Some(5.0));
        // Traefik CLF: a request count, router, URL, then `12ms`.
        let traefik = format!(r#"{base} 42 "web@docker" "http://10.0.0.5:80" 12ms"#);
        assert_eq!(ok(&traefik).response_time_ms.val, Some(12.0));
        // Apache combinedio (`%I %O`): two integers are sizes, not a time.
        assert_eq!(ok(&format!("{base} 431 612")).response_time_ms.val, None);
        let mut f = Found::default();
        let secs = format!("{base} 3");
        assert_eq!(parse(&secs, IntUnit::Secs, &mut f), Ok(()));
        assert_eq!(f.response_time_ms.val, Some(3000.0));
    }

    #[test]
    fn vhost_prefix_and_werkzeug_date() {
        let f = ok(r#"shop.example:443 10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET /a HTTP/1.1" 200 12 "-" "UA""#);
        assert_eq!(f.client.val.as_deref(), Some("10.0.0.1"));
        assert_eq!(f.user_agent.val.as_deref(), Some("UA"));
        let f = ok(r#"127.0.0.1 - - [02/Dec/2026 04:00:00] "GET /hello HTTP/1.1" 200 -"#);
        assert_eq!(f.time.val, Some("2026-12-02T04:00:00Z".parse().unwrap()));
        assert_eq!(f.status.val, Some(200));
    }

    #[test]
    fn misses() {
        let mut f = Found::default();
        assert_eq!(parse_m("Jun 14 15:16:01 combo sshd[1]: hi", &mut f), Err(Miss::NotAccess));
        assert_eq!(parse_m("", &mut f), Err(Miss::NotAccess));
        assert_eq!(parse_m("1.2.3.4 - - [10/Oct/2000:13:55", &mut f), Err(Miss::Broken));
        assert_eq!(parse_m(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTT"#, &mut f), Err(Miss::Broken));
        assert_eq!(parse_m(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a" 2000 1"#, &mut f), Err(Miss::Broken));
        // Hadoop-style text with a bracketed thread name is not an access line.
        assert_eq!(
            parse_m("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop: Created", &mut f),
            Err(Miss::NotAccess)
        );
    }
}
