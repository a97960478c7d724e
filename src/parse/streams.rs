//! What the parser remembers per stream (the stream labels, plus `stdout`/`stderr` inside a
//! container wrapper): the W3C columns a `#Fields:` line named, and the parts of a container line
//! held until its last part. Bounded: past [`MAX_STREAMS`] streams, the oldest memory is dropped.

use std::collections::HashMap;

use super::w3c::Columns;
use crate::source::Labels;

/// Most streams remembered (each kind of memory).
const MAX_STREAMS: usize = 1024;

/// Per-stream memory of a [`Parser`](super::Parser).
#[derive(Debug, Clone, Default)]
pub(crate) struct Streams {
    columns: HashMap<u64, Columns>,
    held: HashMap<u64, String>,
}

/// The key of a stream: its labels, and the container stream name when there is one.
pub(crate) fn key(labels: &Labels, stream: &str) -> u64 {
    let mut h = crate::hash::Fnv1a::default();
    for (k, v) in labels.iter() {
        h.write(k.as_bytes());
        h.write(b"=");
        h.write(v.as_bytes());
        h.write(b"\n");
    }
    h.write(stream.as_bytes());
    h.finish()
}

impl Streams {
    /// True once any stream has W3C columns (lines are then checked against them).
    pub fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    pub fn columns(&self, key: u64) -> Option<&Columns> {
        self.columns.get(&key)
    }

    pub fn set_columns(&mut self, key: u64, cols: Columns) {
        if self.columns.len() >= MAX_STREAMS && !self.columns.contains_key(&key) {
            self.columns.clear();
        }
        self.columns.insert(key, cols);
    }

    /// Holds a part of a line; at most `max` bytes are kept.
    pub fn hold(&mut self, key: u64, part: &str, max: usize) {
        if self.held.len() >= MAX_STREAMS && !self.held.contains_key(&key) {
            self.held.clear();
        }
        let buf = self.held.entry(key).or_default();
        let room = max.saturating_sub(buf.len());
        let mut cut = part.len().min(room);
        while !part.is_char_boundary(cut) {
            cut -= 1;
        }
        buf.push_str(&part[..cut]);
    }

    /// The parts held for `key`, followed by `last`; `None` when nothing was held.
    pub fn join(&mut self, key: u64, last: &str) -> Option<String> {
        let mut buf = self.held.remove(&key)?;
        buf.push_str(last);
        Some(buf)
    }
}
