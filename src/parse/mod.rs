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
pub mod endpoint;
pub mod fields;
pub mod json;
pub mod logfmt;
pub mod text;
pub mod time;
pub mod values;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::RefCell;

use jiff::Timestamp;

use crate::config::ParseConfig;
use crate::source::RawLine;

pub use fields::FieldMap;
use fields::Found;

/// The format a line was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Logfmt,
    Access,
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::Access => "access",
            Format::Text => "text",
        }
    }
}

/// Which format to parse lines as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    #[default]
    Auto,
    Json,
    Logfmt,
    Access,
    Text,
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
        let mut p = self.parse_line(&raw.line, raw.timestamp);
        if truncated && p.problem.is_some() {
            p.problem = Some(ParseProblem::TooLong);
        }
        LogEvent {
            time: p.time.unwrap_or(raw.timestamp),
            own_time: p.time.is_some(),
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
            level: p.level,
            message: p.message,
            raw,
            problem: p.problem,
            truncated,
        }
    }

    fn parse_line(&self, line: &str, reference: Timestamp) -> Parsed {
        let line = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        let mut found = Found::default();
        let (format, problem) = self.fill(line, reference, &mut found);
        build(found, format, problem, reference)
    }

    /// Detects the format (or uses the configured one) and fills `found`.
    fn fill<'a>(&self, line: &'a str, reference: Timestamp, found: &mut Found<'a>) -> (Format, Option<ParseProblem>) {
        let first = line.as_bytes().first().copied();
        let choice = match self.format {
            FormatChoice::Auto => match first {
                Some(b'{') => FormatChoice::Json,
                Some(b'[') => return self.bracket(line, reference, found),
                Some(_) if logfmt::looks_like(line) => FormatChoice::Logfmt,
                Some(c) if c.is_ascii_alphanumeric() || c == b':' => FormatChoice::Access,
                _ => FormatChoice::Text,
            },
            forced => forced,
        };
        match choice {
            FormatChoice::Json => match self.json(line, found) {
                Ok(()) => (Format::Json, None),
                Err(problem) => as_text(line, reference, found, Some(problem)),
            },
            FormatChoice::Logfmt => {
                if logfmt::parse(line, &self.fields, found) > 0 {
                    (Format::Logfmt, None)
                } else {
                    as_text(line, reference, found, None)
                }
            }
            FormatChoice::Access => match access::parse(line, found) {
                Ok(()) => (Format::Access, None),
                Err(access::Miss::NotAccess) if self.format == FormatChoice::Auto => {
                    as_text(line, reference, found, None)
                }
                Err(_) => as_text(line, reference, found, Some(ParseProblem::BadAccessLog)),
            },
            FormatChoice::Text | FormatChoice::Auto => as_text(line, reference, found, None),
        }
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
        level,
        message,
        problem,
    }
}
