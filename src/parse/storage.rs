//! Access logs of a proxy cache and of object stores, the last of GoAccess's predefined formats:
//!
//! - Squid's native format (`logformat squid %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un
//!   %Sh/%<a %mt`): `1286536309.450    180 192.168.0.224 TCP_MISS/200 411 GET
//!   http://www.google.com/ - DIRECT/74.125.39.99 text/html`. The second field is the elapsed
//!   time in milliseconds.
//! - Amazon S3 server access logs (`owner bucket [time] remote_ip requester request_id operation
//!   key "request_uri" status error_code bytes_sent object_size total_time turnaround_time
//!   "referer" "user_agent" …`): `total_time` is milliseconds.
//! - Google Cloud Storage usage logs (CSV, every value quoted, after a header row that names the
//!   columns: `"time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status",
//!   "cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent",…`): times
//!   in microseconds.

use std::borrow::Cow;

use super::cursor::{is_int, Cur};
use super::fields::{Field, Found, TimeUnit, Val};
use super::time;

const RANK: u16 = 1;

/// The header row of a Cloud Storage usage log.
pub(crate) const CLOUD_STORAGE_HEADER: &str = "\"time_micros\"";

/// `1286536309.450 ` : the start of a Squid native line (epoch seconds with milliseconds).
pub(crate) fn looks_like_squid(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[10] == b'.'
        && b[14] == b' '
        && b[..10].iter().all(u8::is_ascii_digit)
        && b[11..14].iter().all(u8::is_ascii_digit)
}

/// A 64-hex-digit canonical user id and a space: the start of an S3 server access log line.
pub(crate) fn looks_like_s3(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 70 && b[64] == b' ' && b[..64].iter().all(u8::is_ascii_hexdigit) && line[65..].contains(" [")
}

/// `"1305662566208148","` : the start of a Cloud Storage usage log row.
pub(crate) fn looks_like_cloud_storage(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20 && b[0] == b'"' && b[17..20] == *b"\",\"" && b[1..17].iter().all(u8::is_ascii_digit)
}

/// Parses a Squid native line; `None` if it does not match.
pub(crate) fn squid<'a>(line: &'a str, found: &mut Found<'a>) -> Option<()> {
    let mut c = Cur::at(line, 0);
    let at: f64 = c.field()?.parse().ok()?;
    let elapsed = c.field()?;
    let client = c.field()?;
    let result = c.field()?;
    let bytes = c.field()?;
    let method = c.field()?;
    let url = c.field()?;
    let (_code, status) = result.split_once('/')?;
    if !is_int(&elapsed) || !is_int(status) || !is_int(&bytes) {
        return None;
    }
    found.time.val = time::from_epoch_f64(at);
    found.offer(Field::ResponseTime(TimeUnit::Millis), RANK, Val::Str(elapsed));
    found.offer(Field::Client, RANK, Val::Str(client));
    found.offer(Field::Status, RANK, Val::Str(Cow::Owned(status.to_string())));
    found.offer(Field::Bytes, RANK, Val::Str(bytes));
    found.offer(Field::Method, RANK, Val::Str(method));
    found.offer(Field::Path, RANK, Val::Str(url));
    Some(())
}

/// Parses an S3 server access log line; `None` if it does not match.
pub(crate) fn s3<'a>(line: &'a str, found: &mut Found<'a>) -> Option<()> {
    let mut c = Cur::at(line, 65);
    let _bucket = c.field()?;
    c.space();
    if !c.eat(b'[') {
        return None;
    }
    let at = c.until(b']')?;
    let client = c.field()?;
    let _requester = c.field()?;
    let _request_id = c.field()?;
    let _operation = c.field()?;
    let _key = c.field()?;
    c.space();
    if !c.eat(b'"') {
        return None;
    }
    let request = c.quoted()?;
    let status = c.field()?;
    let _error_code = c.field()?;
    let bytes = c.field()?;
    let _object_size = c.field()?;
    let total_time = c.field()?;
    if !is_int(&status) {
        return None;
    }
    found.time.val = time::parse_clf_prefix(at).map(|(t, _)| t);
    found.offer(Field::Client, RANK, Val::Str(client));
    found.offer(Field::Path, RANK, Val::Str(request));
    found.offer(Field::Status, RANK, Val::Str(status));
    found.offer(Field::Bytes, RANK, Val::Str(bytes));
    if is_int(&total_time) {
        found.offer(Field::ResponseTime(TimeUnit::Millis), RANK, Val::Str(total_time));
    }
    let _turnaround = c.field();
    if let Some(referer) = c.field().filter(|r| r != "-") {
        found.offer(Field::Referer, RANK, Val::Str(referer));
    }
    if let Some(ua) = c.field().filter(|u| u != "-") {
        found.offer(Field::UserAgent, RANK, Val::Str(ua));
    }
    Some(())
}

/// Parses a Cloud Storage usage log row; `None` if it does not match.
pub(crate) fn cloud_storage<'a>(line: &'a str, found: &mut Found<'a>) -> Option<()> {
    let mut cols = CsvRow { s: line, i: 0 };
    let micros: u64 = cols.next()?.parse().ok()?;
    let client = cols.next()?;
    let _ip_type = cols.next()?;
    let _region = cols.next()?;
    let method = cols.next()?;
    let uri = cols.next()?;
    let status = cols.next()?;
    let _received = cols.next()?;
    let bytes = cols.next()?;
    let taken = cols.next()?;
    if !is_int(&status) {
        return None;
    }
    found.time.val = time::from_epoch_int(micros);
    found.offer(Field::Client, RANK, Val::Str(client));
    found.offer(Field::Method, RANK, Val::Str(method));
    found.offer(Field::Path, RANK, Val::Str(uri));
    found.offer(Field::Status, RANK, Val::Str(status));
    found.offer(Field::Bytes, RANK, Val::Str(bytes));
    if is_int(&taken) {
        found.offer(Field::ResponseTime(TimeUnit::Micros), RANK, Val::Str(taken));
    }
    let _host = cols.next();
    if let Some(referer) = cols.next().filter(|r| !r.is_empty()) {
        found.offer(Field::Referer, RANK, Val::Str(referer));
    }
    if let Some(ua) = cols.next().filter(|u| !u.is_empty()) {
        found.offer(Field::UserAgent, RANK, Val::Str(ua));
    }
    Some(())
}

/// The values of a CSV row whose values are all double-quoted (`""` is a quote inside one).
struct CsvRow<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> CsvRow<'a> {
    fn next(&mut self) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        if self.i > 0 {
            if b.get(self.i) != Some(&b',') {
                return None;
            }
            self.i += 1;
        }
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let mut j = start;
        let mut doubled = false;
        loop {
            match b.get(j)? {
                b'"' if b.get(j + 1) == Some(&b'"') => {
                    doubled = true;
                    j += 2;
                }
                b'"' => break,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        let v = &self.s[start..j];
        Some(if doubled { Cow::Owned(v.replace("\"\"", "\"")) } else { Cow::Borrowed(v) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squid_native_entry_from_the_squid_documentation() {
        let line = "1286536309.450    180 192.168.0.224 TCP_MISS/200 411 GET http://www.google.com/ - DIRECT/74.125.39.99 text/html";
        assert!(looks_like_squid(line));
        let mut f = Found::default();
        assert_eq!(squid(line, &mut f), Some(()));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.response_time_ms.val, Some(180.0));
        assert_eq!(f.client.val.as_deref(), Some("192.168.0.224"));
        assert_eq!(f.method.val.as_deref(), Some("GET"));
        assert_eq!(f.bytes.val, Some(411));
        assert!(!looks_like_squid(r#"10.0.0.1 - - [02/Dec/2026:04:00:00 +0000] "GET / HTTP/1.1" 200 5"#));
    }

    #[test]
    fn s3_entry_from_the_aws_documentation() {
        let line = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;
        assert!(looks_like_s3(line));
        let mut f = Found::default();
        assert_eq!(s3(line, &mut f), Some(()));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.response_time_ms.val, Some(7.0));
        assert_eq!(f.client.val.as_deref(), Some("192.0.2.3"));
        assert_eq!(f.user_agent.val.as_deref(), Some("S3Console/0.4"));
        assert_eq!(f.path.val.as_deref(), Some("/DOC-EXAMPLE-BUCKET1?versioning"));
        assert_eq!(f.time.val.map(|t| t.as_second()), Some(1_549_411_238));
    }

    #[test]
    fn cloud_storage_row_from_the_google_documentation() {
        let line = r#""1305662566208148","192.0.2.1","1","","GET","/example-bucket/photo.jpg?alt=media","200","0","23456","76000","storage.googleapis.com","https://example.com/page","Mozilla/5.0 (X11; Linux x86_64) ""quoted""","AFi2b9","GET_Object","example-bucket","photo.jpg""#;
        assert!(looks_like_cloud_storage(line));
        let mut f = Found::default();
        assert_eq!(cloud_storage(line, &mut f), Some(()));
        assert_eq!(f.status.val, Some(200));
        assert_eq!(f.response_time_ms.val, Some(76.0));
        assert_eq!(f.bytes.val, Some(23456));
        assert_eq!(f.referer.val.as_deref(), Some("https://example.com/page"));
        assert_eq!(f.user_agent.val.as_deref(), Some(r#"Mozilla/5.0 (X11; Linux x86_64) "quoted""#));
        assert!(!looks_like_cloud_storage(CLOUD_STORAGE_HEADER));
    }
}
