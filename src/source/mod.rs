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
}

impl RawLine {
    /// A line with no labels.
    pub fn new(timestamp: Timestamp, line: impl Into<String>, line_no: u64) -> Self {
        RawLine { timestamp, labels: Labels::default(), line: line.into(), line_no }
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
}

impl SourceError {
    /// Short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SourceError::Io { .. } => "io",
            SourceError::Closed => "closed",
        }
    }
}
