//! W3C extended log files: IIS and Amazon CloudFront.
//!
//! A `#Fields:` directive names the columns of the lines after it in the same file or stream
//! (`#Version:`, `#Software:`, `#Date:` and other `#` lines are directives too); directives are not
//! events. Columns are separated by spaces (IIS) or tabs (CloudFront). What is read: `date` +
//! `time` (UTC), `cs-method`, `cs-uri-stem` + `cs-uri-query`, `sc-status`, `c-ip`,
//! `cs(User-Agent)` (IIS writes `+` for spaces, CloudFront percent-encodes), `sc-bytes` and
//! `time-taken`: milliseconds in IIS, seconds in CloudFront (recognised by its `x-edge-*`
//! columns). Without a `#Fields:` line (a preset forcing the format), the default columns of IIS
//! or of CloudFront's standard log are assumed.

use std::borrow::Cow;

use super::fields::{Field, Found, TimeUnit, Val};
use super::time;

const RANK: u16 = 1;

/// The columns the reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Date,
    Time,
    Method,
    Stem,
    Query,
    Status,
    TimeTaken,
    ClientIp,
    UserAgent,
    Bytes,
    Other,
}

/// The columns named by a `#Fields:` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Columns {
    cols: Vec<Col>,
    /// CloudFront: `time-taken` in seconds, the user agent percent-encoded.
    cloudfront: bool,
}

/// IIS's default `#Fields:` (W3C logging, default selection).
pub(crate) const IIS_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";
/// CloudFront's standard log `#Fields:` (first 26 columns; later ones are ignored).
pub(crate) const CLOUDFRONT_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields";

impl Columns {
    /// Columns from the text after `#Fields:`.
    pub(crate) fn new(fields: &str) -> Columns {
        let mut cloudfront = false;
        let cols = fields
            .split_ascii_whitespace()
            .map(|name| {
                cloudfront |= name.starts_with("x-edge-");
                match name.to_ascii_lowercase().as_str() {
                    "date" => Col::Date,
                    "time" => Col::Time,
                    "cs-method" => Col::Method,
                    "cs-uri-stem" => Col::Stem,
                    "cs-uri-query" => Col::Query,
                    "sc-status" => Col::Status,
                    "time-taken" => Col::TimeTaken,
                    "c-ip" => Col::ClientIp,
                    "cs(user-agent)" => Col::UserAgent,
                    "sc-bytes" => Col::Bytes,
                    _ => Col::Other,
                }
            })
            .collect();
        Columns { cols, cloudfront }
    }

    /// True for CloudFront's columns.
    pub(crate) fn is_cloudfront(&self) -> bool {
        self.cloudfront
    }
}

/// A CloudFront line without its header: `YYYY-MM-DD<TAB>`, the only tab-separated log that starts so.
pub(crate) fn looks_like_cloudfront(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'\t' && b[..4].iter().all(u8::is_ascii_digit)
}

/// An IIS line without its header: `YYYY-MM-DD HH:MM:SS s-ip METHOD …` with exactly the columns of
/// IIS's default selection (a text log starting with a date rarely has an HTTP method fourth).
pub(crate) fn looks_like_iis(line: &str) -> bool {
    let b = line.as_bytes();
    if b.len() < 40 || b[4] != b'-' || b[10] != b' ' || b[13] != b':' {
        return false;
    }
    let mut words = line.split(' ');
    let method = words.nth(3).unwrap_or("");
    method.len() >= 3 && method.bytes().all(|c| c.is_ascii_uppercase()) && words.count() + 4 == IIS_COLUMNS
}

/// Columns in [`IIS_FIELDS`].
const IIS_COLUMNS: usize = 15;

/// What a `#` line is.
pub(crate) enum Directive<'a> {
    /// `#Fields: …`: the columns of the following lines.
    Fields(&'a str),
    /// Any other `#Name:` directive.
    Other,
}

/// A `#Name: …` directive, if the line is one.
pub(crate) fn directive(line: &str) -> Option<Directive<'_>> {
    let rest = line.strip_prefix('#')?;
    let (name, value) = rest.split_once(':')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return None;
    }
    Some(if name.eq_ignore_ascii_case("fields") { Directive::Fields(value.trim()) } else { Directive::Other })
}

/// Parses a data line under `cols`; `None` if its column count does not match.
pub(crate) fn parse<'a>(line: &'a str, cols: &Columns, found: &mut Found<'a>) -> Option<()> {
    let values: Vec<&str> = if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split(' ').filter(|v| !v.is_empty()).collect()
    };
    if values.len() < cols.cols.len().min(8) || values.len() > cols.cols.len() + 2 {
        return None;
    }
    let (mut date, mut clock, mut stem, mut query) = (None, None, None, None);
    for (col, v) in cols.cols.iter().zip(values) {
        let v = v.trim();
        match col {
            Col::Date => date = Some(v),
            Col::Time => clock = Some(v),
            Col::Method => found.offer(Field::Method, RANK, Val::Str(Cow::Borrowed(v))),
            Col::Stem => stem = Some(v),
            Col::Query => query = Some(v).filter(|q| *q != "-" && !q.is_empty()),
            Col::Status => found.offer(Field::Status, RANK, Val::Str(Cow::Borrowed(v))),
            Col::TimeTaken => {
                let unit = if cols.cloudfront { TimeUnit::Secs } else { TimeUnit::Millis };
                found.offer(Field::ResponseTime(unit), RANK, Val::Str(Cow::Borrowed(v)));
            }
            Col::ClientIp => found.offer(Field::Client, RANK, Val::Str(Cow::Borrowed(v))),
            Col::UserAgent => found.offer(Field::UserAgent, RANK, Val::Str(decode_agent(v, cols.cloudfront))),
            Col::Bytes => found.offer(Field::Bytes, RANK, Val::Str(Cow::Borrowed(v))),
            Col::Other => {}
        }
    }
    if let (Some(d), Some(t)) = (date, clock) {
        found.time.val = time::parse_str(&format!("{d}T{t}Z"));
    }
    match (stem, query) {
        (Some(s), Some(q)) => found.offer(Field::Path, RANK, Val::Str(Cow::Owned(format!("{s}?{q}")))),
        (Some(s), None) => found.offer(Field::Path, RANK, Val::Str(Cow::Borrowed(s))),
        _ => {}
    }
    Some(())
}

/// IIS writes `+` for a space in the user agent; CloudFront percent-encodes it (sometimes twice).
fn decode_agent(v: &str, cloudfront: bool) -> Cow<'_, str> {
    if !cloudfront {
        return if v.contains('+') { Cow::Owned(v.replace('+', " ")) } else { Cow::Borrowed(v) };
    }
    let mut s = Cow::Borrowed(v);
    for _ in 0..2 {
        if !s.contains('%') {
            break;
        }
        s = Cow::Owned(percent_decode(&s));
    }
    s
}

/// Decodes `%XX` escapes; invalid ones are kept as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iis_default_fields() {
        let cols = Columns::new(IIS_FIELDS);
        assert_eq!(cols.cols.len(), IIS_COLUMNS);
        assert!(!looks_like_iis("2026-12-02 04:00:00,123 INFO [main] org.example.App: started in 3 s ok"));
        let line = "2026-12-02 04:00:00 10.0.0.4 GET /shop/cart id=7 443 - 203.0.113.9 Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 3012";
        assert!(looks_like_iis(line));
        let mut f = Found::default();
        assert_eq!(parse(line, &cols, &mut f), Some(()));
        assert_eq!(f.path.val.as_deref(), Some("/shop/cart?id=7"));
        assert_eq!(f.response_time_ms.val, Some(3012.0));
        assert_eq!(f.user_agent.val.as_deref(), Some("Mozilla/5.0 (Windows NT 10.0)"));
        assert_eq!(f.time.val, Some("2026-12-02T04:00:00Z".parse().unwrap()));
    }

    #[test]
    fn cloudfront_tabs_seconds_and_encoding() {
        let cols = Columns::new(CLOUDFRONT_FIELDS);
        assert!(cols.is_cloudfront());
        let line = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%2520(Windows%2520NT%252010.0)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-";
        assert!(looks_like_cloudfront(line));
        let mut f = Found::default();
        assert_eq!(parse(line, &cols, &mut f), Some(()));
        assert_eq!(f.response_time_ms.val, Some(1.0));
        assert_eq!(f.user_agent.val.as_deref(), Some("Mozilla/5.0 (Windows NT 10.0)"));
        assert_eq!(f.client.val.as_deref(), Some("192.0.2.100"));
        assert_eq!(f.bytes.val, Some(392));
        assert!(matches!(directive("#Fields: date time"), Some(Directive::Fields("date time"))));
        assert!(matches!(directive("#Version: 1.0"), Some(Directive::Other)));
        assert!(directive("# just a comment").is_none());
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
