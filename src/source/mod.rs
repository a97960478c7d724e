//! Sources: where log lines come from. Each produces [`RawLine`]s.
//!
//! - [`file`]: read (or follow) files
//! - [`stdin`]: read standard input
//! - [`demo`]: the built-in traffic generator with scheduled incidents
//! - [`loki`]: the Loki `query_range` poller

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

pub mod demo;
pub mod file;
pub mod loki;
pub mod stdin;

/// Stream labels, shared by every line of one stream.
pub type Labels = Arc<BTreeMap<String, String>>;

/// One log line as a source delivers it.
#[derive(Debug, Clone)]
pub struct RawLine {
    /// When the source says the line was written (Loki's entry timestamp), or when it was read.
    pub timestamp: Timestamp,
    /// Stream labels (empty for files and stdin).
    pub labels: Labels,
    /// The line, without its trailing newline. Invalid UTF-8 is replaced (U+FFFD) by the source.
    pub line: String,
    /// 1-based position in the input (files and stdin: across files in order); 0 when meaningless.
    pub line_no: u64,
    /// The source cut the line at its length cap (the rest of the line was discarded).
    pub truncated: bool,
}

impl RawLine {
    /// A line with no labels.
    pub fn new(timestamp: Timestamp, line: impl Into<String>, line_no: u64) -> Self {
        RawLine { timestamp, labels: Labels::default(), line: line.into(), line_no, truncated: false }
    }
}

/// Errors a source can hit. Per-line problems are counted, never raised here.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("source closed")]
    Closed,
    #[error("demo traffic: {0}")]
    Demo(#[from] demo::ScheduleError),
    /// Loki answered with a non-success status; `body` is its text/plain message, shortened.
    #[error("Loki answered HTTP {status}: {body}")]
    Http { status: u16, body: String, retry_after_secs: Option<u64> },
    /// The request took longer than `loki.timeout_ms`.
    #[error("request to Loki timed out")]
    Timeout,
    /// No connection (refused, reset, DNS, TLS) or the body was cut short.
    #[error("cannot reach Loki: {0}")]
    Connect(String),
    /// A success status with a body that is not the expected JSON.
    #[error("cannot decode Loki's answer: {0}")]
    Decode(String),
    /// A setting cannot be used (unreadable secret or CA file, ...).
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
}

impl SourceError {
    /// Short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SourceError::Io { .. } => "io",
            SourceError::Closed => "closed",
            SourceError::Demo(_) => "demo",
            SourceError::Http { status, .. } if *status >= 500 => "http_5xx",
            SourceError::Http { .. } => "http_4xx",
            SourceError::Timeout => "timeout",
            SourceError::Connect(_) => "connect",
            SourceError::Decode(_) => "decode",
            SourceError::Config { .. } => "config",
        }
    }

    /// Worth retrying soon with backoff (429, 5xx, timeout, connect, decode); other 4xx need an operator.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Http { status, .. } => *status == 429 || *status >= 500,
            SourceError::Timeout | SourceError::Connect(_) | SourceError::Decode(_) => true,
            SourceError::Io { .. } | SourceError::Closed | SourceError::Config { .. } | SourceError::Demo(_) => false,
        }
    }
}
