//! Parse: turns a [`RawLine`] into a [`LogEvent`].
//!
//! The format is auto-detected per line (JSON, logfmt, Common/Combined access log with an optional
//! trailing request time, plain text) unless configured. Field names are found through aliases
//! ([`fields`]) or an explicit `[parse.fields]` mapping. A line that does not parse is kept as text
//! and counted; parsing never fails and never panics.

pub mod access;
pub mod endpoint;
pub mod fields;
pub mod json;
pub mod logfmt;
pub mod text;

use jiff::Timestamp;

use crate::source::RawLine;

pub use fields::FieldMap;

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
}

impl LogEvent {
    /// True when the event is an HTTP request (has at least a path or a status).
    pub fn is_request(&self) -> bool {
        self.path.is_some() || self.status.is_some()
    }
}

/// STAND-IN parser (replaced at integration).
pub struct Parser;
impl Parser {
    pub fn new(_cfg: &crate::config::ParseConfig) -> Parser {
        Parser
    }
    pub fn parse(&self, _raw: RawLine) -> LogEvent {
        todo!()
    }
}
