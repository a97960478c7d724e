//! Writing a generated request as an access-log line: nginx-style JSON or nginx `combined` with a
//! trailing `$request_time`.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The shape of the generated lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// nginx-style JSON access log:
    /// `{"time":"2026-11-24T03:00:00.123Z","remote_addr":"…","method":"GET","path":"/api/users?page=2",
    /// "status":200,"response_time_ms":31.2,"bytes":1834,"user_agent":"…","referer":"-"}`.
    #[default]
    Json,
    /// nginx `combined` plus `$request_time` in seconds:
    /// `1.2.3.4 - - [24/Nov/2026:03:00:00 +0000] "GET /api/users?page=2 HTTP/1.1" 200 1834 "-" "UA" 0.031`.
    Combined,
}

/// One request, ready to be written. `method`, `user_agent` and `referer` are written as they are
/// (they come from fixed lists or validated input); `client` and `path` are escaped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub client: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub bytes: u64,
    pub user_agent: &'a str,
    pub referer: &'a str,
}

/// Writes lines, caching the date-time text of the current second.
#[derive(Debug)]
pub(crate) struct LineWriter {
    format: LineFormat,
    cached_sec: i64,
    /// `2026-11-24T03:00:00` (JSON) or `24/Nov/2026:03:00:00 +0000` (combined).
    cached_text: String,
}

impl LineWriter {
    pub fn new(format: LineFormat) -> Self {
        LineWriter { format, cached_sec: i64::MIN, cached_text: String::new() }
    }

    /// The line for `req`.
    pub fn write(&mut self, req: &Request<'_>) -> String {
        let sec = req.time_ms.div_euclid(1000);
        let milli = req.time_ms.rem_euclid(1000);
        if sec != self.cached_sec {
            self.cached_sec = sec;
            self.cached_text.clear();
            let ts = Timestamp::from_second(sec).unwrap_or(Timestamp::UNIX_EPOCH);
            let dt = ts.to_zoned(TimeZone::UTC);
            let pattern = match self.format {
                LineFormat::Json => "%Y-%m-%dT%H:%M:%S",
                LineFormat::Combined => "%d/%b/%Y:%H:%M:%S +0000",
            };
            let _ = write!(self.cached_text, "{}", dt.strftime(pattern));
        }
        let mut line = String::with_capacity(160 + req.path.len() + req.user_agent.len());
        match self.format {
            LineFormat::Json => {
                let _ = write!(line, "{{\"time\":\"{}.{milli:03}Z\",\"remote_addr\":", self.cached_text);
                json_str(&mut line, req.client);
                // Method, user agent and referer come from fixed lists or validated input: no escaping.
                let _ = write!(line, ",\"method\":\"{}\",\"path\":", req.method);
                json_str(&mut line, req.path);
                let _ = write!(
                    line,
                    ",\"status\":{},\"response_time_ms\":{:.1},\"bytes\":{},\"user_agent\":\"{}\",\"referer\":\"{}\"}}",
                    req.status, req.latency_ms, req.bytes, req.user_agent, req.referer
                );
            }
            LineFormat::Combined => {
                nginx_escaped(&mut line, req.client);
                let _ = write!(line, " - - [{}] \"{} ", self.cached_text, req.method);
                nginx_escaped(&mut line, req.path);
                let _ = write!(
                    line,
                    " HTTP/1.1\" {} {} \"{}\" \"{}\" {:.3}",
                    req.status,
                    req.bytes,
                    req.referer,
                    req.user_agent,
                    req.latency_ms / 1000.0
                );
            }
        }
        line
    }
}

/// Whether `s` needs escaping in a JSON string or a quoted nginx field.
fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if !needs_escape(s) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Appends `s` the way nginx escapes variables in a text log: `"`, `\` and control bytes as `\xHH`.
fn nginx_escaped(out: &mut String, s: &str) {
    if !needs_escape(s) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if c == '"' || c == '\\' || (c as u32) < 0x20 {
            let _ = write!(out, "\\x{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> Request<'_> {
        Request {
            time_ms: 1_795_489_200_123, // 2026-11-24T03:00:00.123Z
            client: "10.1.2.3",
            method: "GET",
            path,
            status: 200,
            latency_ms: 31.24,
            bytes: 1834,
            user_agent: "curl/8.4.0",
            referer: "-",
        }
    }

    #[test]
    fn json_line_has_the_documented_shape() {
        let line = LineWriter::new(LineFormat::Json).write(&request("/api/users?page=2"));
        assert_eq!(
            line,
            r#"{"time":"2026-11-24T03:00:00.123Z","remote_addr":"10.1.2.3","method":"GET","path":"/api/users?page=2","status":200,"response_time_ms":31.2,"bytes":1834,"user_agent":"curl/8.4.0","referer":"-"}"#
        );
    }

    #[test]
    fn combined_line_has_the_documented_shape() {
        let line = LineWriter::new(LineFormat::Combined).write(&request("/api/users?page=2"));
        assert_eq!(
            line,
            r#"10.1.2.3 - - [24/Nov/2026:03:00:00 +0000] "GET /api/users?page=2 HTTP/1.1" 200 1834 "-" "curl/8.4.0" 0.031"#
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let path = r#"/a?q="x"\y"#;
        let json = LineWriter::new(LineFormat::Json).write(&request(path));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["path"], path);
        let combined = LineWriter::new(LineFormat::Combined).write(&request(path));
        assert!(combined.contains(r#""GET /a?q=\x22x\x22\x5Cy HTTP/1.1""#), "{combined}");
    }

    #[test]
    fn cached_second_is_refreshed() {
        let mut w = LineWriter::new(LineFormat::Json);
        let a = w.write(&request("/"));
        let mut later = request("/");
        later.time_ms += 61_000;
        let b = w.write(&later);
        assert!(a.contains("03:00:00.123Z") && b.contains("03:01:01.123Z"), "{a} {b}");
    }
}
