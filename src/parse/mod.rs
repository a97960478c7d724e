//! Parse: turns a [`RawLine`] into a [`LogEvent`] with [`Parser::parse`].
//!
//! The format is auto-detected per line unless `parse.format` forces one, by the first byte:
//! `{` is JSON ([`json`]); `[` is tried as JSON (a valid array is [`ParseProblem::NotAnObject`], an
//! invalid one that starts `[[`, `[{`, `["` or `[]` is [`ParseProblem::BadJson`], otherwise it is
//! text such as `[Sun Dec 04 …] [error] …`); a first word `key=` is logfmt ([`logfmt`]);
//! `host ident user [dd/Mon/…` is a Common/Combined access log ([`access`], an optional trailing
//! request time in seconds as nginx writes it); everything else is text ([`text`]). Field names are
//! found through aliases or an explicit `[parse.fields]` mapping ([`fields`]); timestamps as in
//! [`time`]; endpoint keys as in [`endpoint`].
//!
//! The endpoint key ([`LogEvent::endpoint`]) is `METHOD /path/template` for requests (`ANY` when
//! the method is unknown), `text: LEVEL masked message` for lines with a message but no path, and
//! `-` for structured lines with neither.
//!
//! A line that does not parse as the format it looked like is kept as text with `problem` set;
//! parsing never fails and never panics. Lines longer than `parse.max_line_bytes` are cut there (at
//! a char boundary) and flagged `truncated`; if the cut line then fails to parse, its problem is
//! [`ParseProblem::TooLong`].

pub mod access;
mod aws;
pub mod census;
mod cursor;
pub mod endpoint;
pub mod fields;
pub mod json;
pub mod logfmt;
mod presets;
mod proxies;
mod storage;
mod streams;
pub mod text;
pub mod time;
pub mod values;
mod w3c;
mod wrapper;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::RefCell;

use jiff::Timestamp;

use crate::config::ParseConfig;
use crate::source::RawLine;
use presets::Reader;

pub use fields::FieldMap;
use fields::Found;
pub use presets::{FormatChoice, PRESETS};

/// The format a line was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Logfmt,
    /// Common/Combined and the servers that extend it (nginx, Apache, gunicorn, werkzeug, Traefik CLF…).
    Access,
    Envoy,
    Haproxy,
    /// AWS Application Load Balancer.
    Alb,
    /// AWS Classic Load Balancer.
    Elb,
    /// W3C extended (IIS).
    W3c,
    Cloudfront,
    Squid,
    /// Amazon S3 server access log.
    S3,
    /// Google Cloud Storage usage log.
    CloudStorage,
    Text,
    /// Not an event: a `#Fields:`-style header, or a part of a container line held until its end.
    Directive,
}

impl Format {
    /// Every format, in `Format as usize` order.
    pub const ALL: [Format; 14] = [
        Format::Json,
        Format::Logfmt,
        Format::Access,
        Format::Envoy,
        Format::Haproxy,
        Format::Alb,
        Format::Elb,
        Format::W3c,
        Format::Cloudfront,
        Format::Squid,
        Format::S3,
        Format::CloudStorage,
        Format::Text,
        Format::Directive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::Access => "access",
            Format::Envoy => "envoy",
            Format::Haproxy => "haproxy",
            Format::Alb => "alb",
            Format::Elb => "elb",
            Format::W3c => "w3c",
            Format::Cloudfront => "cloudfront",
            Format::Squid => "squid",
            Format::S3 => "s3",
            Format::CloudStorage => "cloud-storage",
            Format::Text => "text",
            Format::Directive => "directive",
        }
    }
}

/// Severity level found in the line, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// Why a line could not be parsed as the structured format it looked like. Small and cheap: it is
/// counted, never raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseProblem {
    /// It looked like JSON but is not valid JSON (or nests too deeply).
    BadJson,
    /// JSON, but the top level is not an object.
    NotAnObject,
    /// It looked like an access log line but did not match.
    BadAccessLog,
    /// It was longer than `parse.max_line_bytes` and was cut there.
    TooLong,
}

impl ParseProblem {
    /// Bounded label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            ParseProblem::BadJson => "bad_json",
            ParseProblem::NotAnObject => "not_an_object",
            ParseProblem::BadAccessLog => "bad_access_log",
            ParseProblem::TooLong => "too_long",
        }
    }
}

/// One request or event, with the fields the detector uses.
#[derive(Debug, Clone)]
pub struct LogEvent {
    /// Event time: the line's own timestamp when it has one, else the source's.
    pub time: Timestamp,
    /// `time` is the line's own (a plausible timestamp was found in it), not the source's.
    pub own_time: bool,
    /// The line's own time when the stream clock judges it at another (`time`): it was dated far
    /// ahead of the stream (see `app::clock`).
    pub stated_time: Option<Timestamp>,
    pub format: Format,
    /// Upper-case HTTP method, if any.
    pub method: Option<String>,
    /// Request path without the query string.
    pub path: Option<String>,
    /// Query string without the leading `?`.
    pub query: Option<String>,
    /// Method + path template (`GET /api/users/{id}`); for non-HTTP lines a message template key.
    pub endpoint: String,
    pub status: Option<u16>,
    /// Response time in milliseconds (converted from seconds where the field is in seconds).
    pub response_time_ms: Option<f64>,
    /// Response size in bytes.
    pub bytes: Option<u64>,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    /// The `Referer` header, when the format logs it (`-` is none).
    pub referer: Option<String>,
    pub level: Option<Level>,
    /// For text lines: the message; for structured lines: a `msg`/`message` field if present.
    pub message: Option<String>,
    /// The original line and its labels.
    pub raw: RawLine,
    /// Set when the line did not parse as the format it looked like (it is then treated as text).
    pub problem: Option<ParseProblem>,
    /// The line was cut at `parse.max_line_bytes` (by the source or by the parser).
    pub truncated: bool,
}

impl LogEvent {
    /// True when the event is an HTTP request (has at least a path or a status).
    pub fn is_request(&self) -> bool {
        self.path.is_some() || self.status.is_some()
    }
}

/// Parses lines: the compiled field mapping, the format choice and the line-length cap.
#[derive(Debug, Clone)]
pub struct Parser {
    format: FormatChoice,
    max_line_bytes: usize,
    fields: FieldMap,
    /// The JSON keys of recent lines and what they mean under `fields`.
    keys: RefCell<json::KeyMemo>,
    /// W3C columns and held container-line parts, per stream.
    streams: RefCell<streams::Streams>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(&ParseConfig::default())
    }
}

/// The owned result of parsing one line, before the line itself is moved into the event.
struct Parsed {
    time: Option<Timestamp>,
    format: Format,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    endpoint: String,
    status: Option<u16>,
    response_time_ms: Option<f64>,
    bytes: Option<u64>,
    client: Option<String>,
    user_agent: Option<String>,
    referer: Option<String>,
    level: Option<Level>,
    message: Option<String>,
    problem: Option<ParseProblem>,
}

impl Parser {
    /// Builds a parser from a validated `[parse]` section.
    pub fn new(cfg: &ParseConfig) -> Parser {
        Parser {
            format: cfg.format,
            max_line_bytes: cfg.max_line_bytes.max(1),
            fields: FieldMap::new(&cfg.fields),
            keys: RefCell::default(),
            streams: RefCell::default(),
        }
    }

    /// Lines longer than this many bytes are cut.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Parses one line. Never fails, never panics: unparseable structured lines come back as
    /// [`Format::Text`] with `problem` set.
    pub fn parse(&self, mut raw: RawLine) -> LogEvent {
        let mut truncated = raw.truncated;
        if raw.line.len() > self.max_line_bytes {
            let mut cut = self.max_line_bytes;
            while !raw.line.is_char_boundary(cut) {
                cut -= 1;
            }
            raw.line.truncate(cut);
            truncated = true;
        }
        let mut p = self.unwrap_and_parse(&raw);
        if truncated && p.problem.is_some() {
            p.problem = Some(ParseProblem::TooLong);
        }
        LogEvent {
            time: p.time.unwrap_or(raw.timestamp),
            own_time: p.time.is_some(),
            stated_time: None,
            format: p.format,
            method: p.method,
            path: p.path,
            query: p.query,
            endpoint: p.endpoint,
            status: p.status,
            response_time_ms: p.response_time_ms,
            bytes: p.bytes,
            client: p.client,
            user_agent: p.user_agent,
            referer: p.referer,
            level: p.level,
            message: p.message,
            raw,
            problem: p.problem,
            truncated,
        }
    }

    /// Removes a container wrapper (CRI, Docker json-file), holding partial lines, then parses.
    fn unwrap_and_parse(&self, raw: &RawLine) -> Parsed {
        let line = raw.line.as_str();
        let wrapped = match line.as_bytes().first() {
            Some(b'{') => wrapper::docker(line),
            Some(c) if c.is_ascii_digit() => wrapper::cri(line),
            _ => None,
        };
        let Some(w) = wrapped else {
            return self.parse_line(line, &raw.labels, raw.timestamp);
        };
        let key = streams::key(&raw.labels, w.stream);
        let mut streams = self.streams.borrow_mut();
        if w.partial {
            streams.hold(key, &w.line, self.max_line_bytes);
            return directive();
        }
        let joined = streams.join(key, &w.line);
        drop(streams);
        let inner = joined.as_deref().unwrap_or(&w.line);
        let mut p = self.parse_line(inner, &raw.labels, raw.timestamp);
        if p.time.is_none() {
            p.time = w.time.filter(|t| time::is_sane(*t, raw.timestamp));
        }
        p
    }

    fn parse_line(&self, line: &str, labels: &crate::source::Labels, reference: Timestamp) -> Parsed {
        let line = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        let reader = self.format.reader();
        if line.starts_with(storage::CLOUD_STORAGE_HEADER) && matches!(reader, Reader::Auto | Reader::CloudStorage) {
            return directive();
        }
        if line.starts_with('#') && matches!(reader, Reader::Auto | Reader::W3c { .. }) {
            if let Some(d) = w3c::directive(line) {
                if let w3c::Directive::Fields(cols) = d {
                    self.streams.borrow_mut().set_columns(streams::key(labels, ""), w3c::Columns::new(cols));
                }
                return directive();
            }
        }
        let mut found = Found::default();
        let (format, problem) = self.fill(line, reader, labels, reference, &mut found);
        build(found, format, problem, reference)
    }

    /// Detects the format (or uses the configured one) and fills `found`.
    fn fill<'a>(
        &self,
        line: &'a str,
        reader: Reader,
        labels: &crate::source::Labels,
        reference: Timestamp,
        found: &mut Found<'a>,
    ) -> (Format, Option<ParseProblem>) {
        let auto = reader == Reader::Auto;
        let reader = match reader {
            Reader::Auto => match self.detect(line, labels) {
                Some(r) => r,
                None if line.as_bytes().first() == Some(&b'[') => return self.bracket(line, reference, found),
                None => match wrapper::syslog(line, reference) {
                    Some((inner, ts)) => return self.syslog(line, inner, ts, labels, reference, found),
                    None => Reader::Text,
                },
            },
            Reader::Haproxy if !proxies::looks_like_haproxy(line) => match wrapper::syslog(line, reference) {
                Some((inner, ts)) => {
                    let r = self.read(inner, Reader::Haproxy, false, labels, reference, found);
                    if r.0 != Format::Text && found.time.val.is_none() {
                        found.time.val = ts;
                    }
                    return r;
                }
                None => Reader::Haproxy,
            },
            forced => forced,
        };
        self.read(line, reader, auto, labels, reference, found)
    }

    /// The reader for a line, by cheap byte checks; `None`: a `[` line that is not Envoy's, or a
    /// line that may carry a syslog header.
    fn detect(&self, line: &str, labels: &crate::source::Labels) -> Option<Reader> {
        let b = line.as_bytes();
        let first = *b.first()?;
        if self.streams.borrow().has_columns() && self.streams.borrow().columns(streams::key(labels, "")).is_some() {
            return Some(Reader::W3c { cloudfront: false });
        }
        Some(match first {
            b'{' => Reader::Json,
            b'[' if proxies::looks_like_envoy(line) => Reader::Envoy,
            b'[' | b'<' => return None,
            _ if logfmt::looks_like(line) => Reader::Logfmt,
            b'0'..=b'9' if aws::looks_like_elb(line) => Reader::Elb,
            b'0'..=b'9' if w3c::looks_like_cloudfront(line) => Reader::W3c { cloudfront: true },
            b'0'..=b'9' if w3c::looks_like_iis(line) => Reader::W3c { cloudfront: false },
            b'0'..=b'9' if proxies::looks_like_haproxy(line) => Reader::Haproxy,
            b'0'..=b'9' if storage::looks_like_squid(line) => Reader::Squid,
            b'0'..=b'9' | b'a'..=b'f' if storage::looks_like_s3(line) => Reader::S3,
            b'"' if storage::looks_like_cloud_storage(line) => Reader::CloudStorage,
            b'h' | b'g' | b'w' if aws::looks_like_alb(line) => Reader::Alb,
            b'A'..=b'Z' if time::month_abbrev(b).is_some() && b.get(3) == Some(&b' ') => return None,
            c if c.is_ascii_alphanumeric() || c == b':' => Reader::Access(access::IntUnit::Micros),
            _ => Reader::Text,
        })
    }

    /// A line with a syslog header: the message is read if it is a structured format, else the
    /// whole line is text.
    fn syslog<'a>(
        &self,
        line: &'a str,
        inner: &'a str,
        ts: Option<Timestamp>,
        labels: &crate::source::Labels,
        reference: Timestamp,
        found: &mut Found<'a>,
    ) -> (Format, Option<ParseProblem>) {
        match self.detect(inner, labels) {
            Some(r @ (Reader::Json | Reader::Logfmt | Reader::Haproxy | Reader::Access(_))) => {
                let got = self.read(inner, r, true, labels, reference, found);
                if got.0 != Format::Text {
                    if found.time.val.is_none() {
                        found.time.val = ts;
                    }
                    return got;
                }
                as_text(line, reference, found, None)
            }
            _ => as_text(line, reference, found, None),
        }
    }

    /// Reads `line` with `reader`; `auto`: the reader was detected, so a line that is not of its
    /// kind at all is plain text, not a problem.
    fn read<'a>(
        &self,
        line: &'a str,
        reader: Reader,
        auto: bool,
        labels: &crate::source::Labels,
        reference: Timestamp,
        found: &mut Found<'a>,
    ) -> (Format, Option<ParseProblem>) {
        let positional = |ok: Option<()>, format: Format, found: &mut Found<'a>| match ok {
            Some(()) => (format, None),
            None => as_text(line, reference, found, Some(ParseProblem::BadAccessLog)),
        };
        match reader {
            Reader::Json => match self.json(line, found) {
                Ok(()) => (Format::Json, None),
                Err(problem) => as_text(line, reference, found, Some(problem)),
            },
            Reader::Logfmt => {
                if logfmt::parse(line, &self.fields, found) > 0 {
                    (Format::Logfmt, None)
                } else {
                    as_text(line, reference, found, None)
                }
            }
            Reader::Access(unit) => match access::parse(line, unit, found) {
                Ok(()) => (Format::Access, None),
                Err(access::Miss::NotAccess) if auto => as_text(line, reference, found, None),
                Err(_) => as_text(line, reference, found, Some(ParseProblem::BadAccessLog)),
            },
            Reader::Envoy => positional(proxies::envoy(line, found), Format::Envoy, found),
            Reader::Haproxy => positional(proxies::haproxy(line, found), Format::Haproxy, found),
            Reader::Alb => positional(aws::parse(line, true, found), Format::Alb, found),
            Reader::Elb => positional(aws::parse(line, false, found), Format::Elb, found),
            Reader::Squid => positional(storage::squid(line, found), Format::Squid, found),
            Reader::S3 => positional(storage::s3(line, found), Format::S3, found),
            Reader::CloudStorage => positional(storage::cloud_storage(line, found), Format::CloudStorage, found),
            Reader::W3c { cloudfront } => {
                let key = streams::key(labels, "");
                let streams = self.streams.borrow();
                let default;
                let cols = match streams.columns(key) {
                    Some(c) => c,
                    None => {
                        default = w3c::Columns::new(if cloudfront { w3c::CLOUDFRONT_FIELDS } else { w3c::IIS_FIELDS });
                        &default
                    }
                };
                let format = if cols.is_cloudfront() { Format::Cloudfront } else { Format::W3c };
                let ok = w3c::parse(line, cols, found);
                drop(streams);
                match ok {
                    Some(()) => (format, None),
                    // Under a header, a line that does not fit may be any other line of the stream.
                    None if auto => match self.detect_without_columns(line) {
                        Some(r) => self.read(line, r, true, labels, reference, found),
                        None => as_text(line, reference, found, None),
                    },
                    None => as_text(line, reference, found, Some(ParseProblem::BadAccessLog)),
                }
            }
            Reader::Text | Reader::Auto => as_text(line, reference, found, None),
        }
    }

    /// The reader for a line that did not fit its stream's W3C columns.
    fn detect_without_columns(&self, line: &str) -> Option<Reader> {
        let first = *line.as_bytes().first()?;
        Some(match first {
            b'{' => Reader::Json,
            _ if logfmt::looks_like(line) => Reader::Logfmt,
            c if c.is_ascii_alphanumeric() => Reader::Access(access::IntUnit::Micros),
            _ => return None,
        })
    }

    fn json<'a>(&self, line: &'a str, found: &mut Found<'a>) -> Result<(), ParseProblem> {
        json::parse(line, &self.fields, &mut self.keys.borrow_mut(), found)
    }

    /// Auto-detection of a line starting with `[`: a JSON array, or text with a bracketed prefix.
    fn bracket<'a>(
        &self,
        line: &'a str,
        reference: Timestamp,
        found: &mut Found<'a>,
    ) -> (Format, Option<ParseProblem>) {
        let looks_json = matches!(line[1..].trim_start().as_bytes().first(), Some(b'[' | b'{' | b'"' | b']'));
        match self.json(line, found) {
            Ok(()) => (Format::Json, None),
            Err(ParseProblem::NotAnObject) => as_text(line, reference, found, Some(ParseProblem::NotAnObject)),
            Err(_) if looks_json => as_text(line, reference, found, Some(ParseProblem::BadJson)),
            Err(_) => as_text(line, reference, found, None),
        }
    }
}

/// What a line that is not an event parses to (a header, a held part of a container line).
fn directive() -> Parsed {
    Parsed {
        time: None,
        format: Format::Directive,
        method: None,
        path: None,
        query: None,
        endpoint: "-".to_string(),
        status: None,
        response_time_ms: None,
        bytes: None,
        client: None,
        user_agent: None,
        referer: None,
        level: None,
        message: None,
        problem: None,
    }
}

/// Falls back to text: forgets what a failed structured parse found, then reads the line as text.
fn as_text<'a>(
    line: &'a str,
    reference: Timestamp,
    found: &mut Found<'a>,
    problem: Option<ParseProblem>,
) -> (Format, Option<ParseProblem>) {
    *found = Found::default();
    text::parse(line, reference, found);
    (Format::Text, problem)
}

fn owned(c: Option<Cow<'_, str>>) -> Option<String> {
    c.map(Cow::into_owned)
}

/// Converts what was found into owned fields and the endpoint key.
fn build(found: Found<'_>, format: Format, problem: Option<ParseProblem>, reference: Timestamp) -> Parsed {
    let method = found.method.val.map(|m| m.to_ascii_uppercase());
    let (path, query) = match found.path.val.as_deref().map(endpoint::split_target) {
        Some((p, q)) => (Some(p.to_string()), q.map(str::to_string)),
        None => (None, None),
    };
    let level = found.level.val;
    let message = owned(found.message.val);
    let endpoint = match (&path, &message) {
        (Some(p), _) => endpoint::request_key(method.as_deref(), p),
        (None, Some(m)) => endpoint::message_key(level, m),
        (None, None) if format == Format::Text => endpoint::message_key(level, ""),
        (None, None) => "-".to_string(),
    };
    Parsed {
        time: found.time.val.filter(|t| time::is_sane(*t, reference)),
        format,
        method,
        path,
        query,
        endpoint,
        status: found.status.val,
        response_time_ms: found.response_time_ms.val,
        bytes: found.bytes.val,
        client: owned(found.client.val),
        user_agent: owned(found.user_agent.val),
        referer: owned(found.referer.val).filter(|r| r != "-" && !r.is_empty()),
        level,
        message,
        problem,
    }
}
