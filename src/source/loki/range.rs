//! Paging through one time range `[cursor, end)` of a query, oldest first: the loop every read uses
//! (the poll's window, each parallel sub-range, the re-read of a minute that grew).

use super::cursor::Cursor;
use super::page::{take_new, PageEntry};
use super::{LokiClient, LOKI_MAX_LIMIT};
use crate::source::SourceError;

/// Reads `[cursor, end)` page by page. Each call to [`RangeReader::next`] returns the entries of one
/// page that the cursor did not cover yet and moves the reader's cursor over them.
#[derive(Debug)]
pub(super) struct RangeReader {
    cursor: Cursor,
    end: i64,
    limit: u32,
    page_limit: u32,
    /// After giving up on an overfull nanosecond, start exactly on the next one once: stepping back
    /// would land on the overfull instant again.
    exact_start: bool,
    done: bool,
}

impl RangeReader {
    /// A reader from `cursor` (exclusive of what it has seen) to `end` (exclusive).
    pub fn new(cursor: Cursor, end: i64, page_limit: u32) -> Self {
        RangeReader { cursor, end, limit: page_limit, page_limit, exact_start: false, done: false }
    }

    /// Where reading stands: everything before it (and what it has seen at it) was returned.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The new entries of the next page (possibly none while the range is not done), or `None`
    /// once the range is read to its end (the cursor is then at `end`).
    pub async fn next(&mut self, client: &LokiClient, query: &str) -> Result<Option<Vec<PageEntry>>, SourceError> {
        if self.done || self.cursor.ts >= self.end {
            self.cursor.jump_to(self.end);
            self.done = true;
            return Ok(None);
        }
        // One nanosecond back, so a flushed chunk whose last entry sits on the cursor is returned.
        let start = self.cursor.ts - i64::from(!self.exact_start);
        let page = client.query_range(query, start, self.end, self.limit).await?;
        let full = page.len() >= self.limit as usize;
        self.exact_start = false;
        let oldest = page.entries.first().map(|e| e.ts);
        let fresh = take_new(&mut self.cursor, page.entries);
        if !full {
            self.cursor.jump_to(self.end);
            self.done = true;
            return Ok(Some(fresh));
        }
        // A full page lying entirely within [ts - 1, ts] means more entries share the boundary than
        // `limit` can carry: the same request would return the same page. Ask for more.
        if oldest.is_some_and(|o| o >= self.cursor.ts - 1) {
            if self.limit < LOKI_MAX_LIMIT {
                self.limit = self.limit.saturating_mul(2).min(LOKI_MAX_LIMIT);
            } else if fresh.is_empty() {
                let ts = self.cursor.ts;
                tracing::warn!(timestamp = %super::poll::fmt_ns(ts), limit = self.limit, "More entries share one nanosecond than Loki returns in a page; the unread ones at that instant are skipped.");
                self.cursor.jump_to(ts + 1);
                self.exact_start = true;
                self.limit = self.page_limit;
            }
        } else {
            self.limit = self.page_limit;
        }
        Ok(Some(fresh))
    }
}
