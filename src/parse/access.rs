//! Access-log lines in the Common and Combined formats:
//!
//! ```text
//! 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "http://ref/" "UA/1.0" 0.042
//! ```
//!
//! After the Combined fields, extra trailing fields are tolerated: the first bare number is the
//! request time in seconds (nginx `$request_time`), `rt=0.042` / `request_time=…` style pairs are
//! read through the aliases (`rt` is seconds), further quoted strings (`"$http_x_forwarded_for"`)
//! and numbers (upstream times) are skipped. The line is scanned byte by byte, no regex.

use std::borrow::Cow;

use super::fields::{alias, Field, Found, TimeUnit, Val};
use super::time;

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

/// A cursor over the line's bytes.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn space(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    /// A run of non-space bytes (may be empty).
    fn token(&mut self) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.i;
        while self.i < b.len() && b[self.i] != b' ' {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A double-quoted string (the opening quote already eaten); `\"` and `\\` stay escaped in the
    /// returned slice, which is unescaped only if it contains a backslash.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        let start = self.i;
        let mut escaped = false;
        while self.i < b.len() {
            match b[self.i] {
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                b'"' => {
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    return Some(if escaped { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) });
                }
                _ => self.i += 1,
            }
        }
        None
    }
}

/// Undoes nginx/Apache escaping of `\"` and `\\` (other `\xHH` sequences are kept as written).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n == '"' || n == '\\' {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
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

/// Parses an access-log line into `found`.
pub(crate) fn parse<'a>(line: &'a str, found: &mut Found<'a>) -> Result<(), Miss> {
    let mut c = Cur { s: line, i: 0 };
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
    loop {
        c.space();
        if c.i >= line.len() {
            return Ok(());
        }
        if c.eat(b'"') {
            let Some(v) = c.quoted() else {
                // An unterminated quote: a cut line. What came before is still good.
                return Ok(());
            };
            quoted_seen += 1;
            if quoted_seen == 2 {
                found.offer(Field::UserAgent, RANK, Val::Str(v));
            }
            continue;
        }
        trailing_token(c.token(), found);
    }
}

/// One unquoted trailing field: the first bare number is the request time in seconds; `k=v` pairs
/// go through the aliases (`rt` meaning seconds).
fn trailing_token<'a>(tok: &'a str, found: &mut Found<'a>) {
    const RANK_TRAILING: u16 = 2;
    if let Some((k, v)) = tok.split_once('=') {
        let v = v.trim_matches('"');
        if k.eq_ignore_ascii_case("rt") {
            found.offer(Field::ResponseTime(TimeUnit::Secs), RANK_TRAILING, Val::Str(Cow::Borrowed(v)));
        } else if let Some((field, rank)) = alias(k) {
            found.offer(field, RANK_TRAILING + rank, Val::Str(Cow::Borrowed(v)));
        }
        return;
    }
    if tok.as_bytes().first().is_some_and(u8::is_ascii_digit) && tok.contains('.') {
        found.offer(Field::ResponseTime(TimeUnit::Secs), RANK_TRAILING, Val::Str(Cow::Borrowed(tok)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Found<'_> {
        let mut f = Found::default();
        assert_eq!(parse(line, &mut f), Ok(()), "{line}");
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
    fn misses() {
        let mut f = Found::default();
        assert_eq!(parse("Jun 14 15:16:01 combo sshd[1]: hi", &mut f), Err(Miss::NotAccess));
        assert_eq!(parse("", &mut f), Err(Miss::NotAccess));
        assert_eq!(parse("1.2.3.4 - - [10/Oct/2000:13:55", &mut f), Err(Miss::Broken));
        assert_eq!(parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTT"#, &mut f), Err(Miss::Broken));
        assert_eq!(parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a" 2000 1"#, &mut f), Err(Miss::Broken));
        // Hadoop-style text with a bracketed thread name is not an access line.
        assert_eq!(
            parse("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop: Created", &mut f),
            Err(Miss::NotAccess)
        );
    }
}
