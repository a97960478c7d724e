//! One poll: establish the cursor (backfill or catch-up), then page through the window.

use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use super::cursor::Cursor;
use super::page::{take_new, PageEntry};
use super::progress::BackfillProgress;
use super::{LokiSource, LOKI_MAX_LIMIT, NS};
use crate::metrics::ReasonLabel;
use crate::source::{RawLine, SourceError};

/// Buckets the backfill window is counted in (one metric query) to find where to start.
const BACKFILL_BUCKETS: u64 = 500;

/// How a poll ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PollEnd {
    /// The window was read to its end.
    Drained,
    /// `max_lines_per_poll` was reached; the rest waits for the next poll.
    Budget,
    /// Shutdown was requested; the cursor is saved.
    Shutdown,
}

impl LokiSource {
    /// One poll. Progress made before an error is kept (each batch was sent and saved). `backfill` is
    /// set on first start and taken when the backfill reaches the present (possibly polls later).
    pub(super) async fn poll(
        &self,
        cursor: &mut Option<Cursor>,
        backfill: &mut Option<BackfillProgress>,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<PollEnd, SourceError> {
        let end = self.clock.now_ns() - self.query_delay_ns;
        if cursor.is_none() {
            let (start, expected) = tokio::select! {
                r = self.first_cursor(end) => r?,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            *cursor = Some(start);
            self.save(cursor)?;
            if self.backfill_secs == 0 {
                self.status.set_backfill_done();
            } else {
                self.status.set_backfill_progress(0, expected);
                *backfill = Some(BackfillProgress::start(expected, tokio::time::Instant::now()));
            }
        }
        let cur = cursor.as_mut().expect("set above");
        if end - cur.ts > self.max_catch_up_ns {
            let resume = end - self.max_catch_up_ns;
            let counted = tokio::select! {
                r = self.client.count_lines(&self.query, cur.ts, resume) => r,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            let (from, to) = (fmt_ns(cur.ts), fmt_ns(resume));
            match counted {
                Ok(n) => {
                    let n = n.saturating_sub(cur.seen_total());
                    self.skipped("catch_up_limit", n);
                    tracing::warn!(from = %from, to = %to, skipped = n, "Downtime longer than loki.max_catch_up_secs; skipping ahead.");
                }
                Err(e) => {
                    tracing::warn!(from = %from, to = %to, "Downtime longer than loki.max_catch_up_secs; skipping ahead; the skipped lines could not be counted: {e}")
                }
            }
            cur.jump_to(resume);
            self.save(cursor)?;
        }
        self.read_window(cursor, backfill, end, tx, shutdown).await
    }

    async fn read_window(
        &self,
        cursor: &mut Option<Cursor>,
        backfill: &mut Option<BackfillProgress>,
        end: i64,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<PollEnd, SourceError> {
        let mut delivered: u64 = 0;
        let mut limit = self.page_limit;
        // After giving up on an overfull nanosecond, start exactly on the next one once: stepping back
        // would land on the overfull instant again.
        let mut exact_start = false;
        loop {
            let cur = cursor.as_mut().expect("cursor established");
            if cur.ts >= end {
                return Ok(self.window_done(cur, backfill));
            }
            let page = tokio::select! {
                r = self.client.query_range(&self.query, cur.ts - i64::from(!exact_start), end, limit) => r?,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            self.status.record_success(self.clock.now_ns());
            self.metrics.last_success_timestamp.set(self.clock.now_ns() as f64 / NS as f64);
            let full = page.len() >= limit as usize;
            exact_start = false;
            let oldest = page.entries.first().map(|e| e.ts);
            // The cursor moves only once the batch is handed over.
            let mut next = cur.clone();
            let fresh = take_new(&mut next, page.entries);
            let n = fresh.len() as u64;
            if !fresh.is_empty() {
                // The page in hand is always sent, even when shutdown is under way.
                tx.send(fresh.into_iter().map(to_raw).collect()).await.map_err(|_| SourceError::Closed)?;
                self.sent_one();
                self.status.add_lines(n);
                delivered += n;
                if let Some(p) = backfill.as_mut() {
                    p.advance(n, tokio::time::Instant::now());
                    self.status.set_backfill_progress(p.read(), p.expected());
                }
            }
            let cur = cursor.as_mut().expect("cursor established");
            *cur = next;
            if !full {
                cur.jump_to(end);
                self.save(cursor)?;
                return Ok(self.window_done(cursor.as_ref().expect("set"), backfill));
            }
            // A full page lying entirely within [ts - 1, ts] means more entries share the boundary
            // than `limit` can carry: the same request would return the same page. Ask for more.
            if oldest.is_some_and(|o| o >= cur.ts - 1) {
                if limit < LOKI_MAX_LIMIT {
                    limit = (limit.saturating_mul(2)).min(LOKI_MAX_LIMIT);
                } else if n == 0 {
                    let ts = cur.ts;
                    tracing::warn!(timestamp = %fmt_ns(ts), limit, "More entries share one nanosecond than Loki returns in a page; the unread ones at that instant are skipped.");
                    cur.jump_to(ts + 1);
                    exact_start = true;
                    limit = self.page_limit;
                }
            } else {
                limit = self.page_limit;
            }
            self.save(cursor)?;
            let cur = cursor.as_ref().expect("set");
            self.status.set_cursor(cur.ts);
            self.set_lag(cur.ts);
            if delivered >= self.max_lines_per_poll {
                self.status.set_caught_up(false);
                tracing::info!(delivered, cursor = %fmt_ns(cur.ts), "loki.max_lines_per_poll reached; the rest is read next poll.");
                return Ok(PollEnd::Budget);
            }
            if shutdown.is_cancelled() {
                return Ok(PollEnd::Shutdown);
            }
        }
    }

    /// The window was read to its end: the source is at the present, so a backfill under way is done.
    fn window_done(&self, cur: &Cursor, backfill: &mut Option<BackfillProgress>) -> PollEnd {
        if let Some(p) = backfill.take() {
            p.finish();
            self.status.set_backfill_done();
        }
        self.status.set_cursor(cur.ts);
        self.status.set_caught_up(true);
        self.set_lag(cur.ts);
        PollEnd::Drained
    }

    fn set_lag(&self, cursor_ns: i64) {
        let lag = (self.clock.now_ns() - cursor_ns).max(0) as f64 / NS as f64;
        self.metrics.lag_seconds.set(lag);
    }

    fn skipped(&self, reason: &str, n: u64) {
        self.metrics.lines_skipped.get_or_create(&ReasonLabel { reason: reason.into() }).inc_by(n);
    }

    /// First start: back `backfill_secs`, but late enough that at most `backfill_max_lines` lines
    /// (the newest) are read. The lines left out are counted as `backfill_limit`. Also returns how
    /// many lines the kept part holds (`None` when the count failed and the whole window is read).
    async fn first_cursor(&self, end: i64) -> Result<(Cursor, Option<u64>), SourceError> {
        if self.backfill_secs == 0 {
            return Ok((Cursor::at(end), Some(0)));
        }
        let step_secs = self.backfill_secs.div_ceil(BACKFILL_BUCKETS).max(1);
        let buckets = self.backfill_secs.div_ceil(step_secs);
        let step_ns = step_secs as i64 * NS;
        let start = end - buckets as i64 * step_ns;
        let counts = match self.client.count_buckets(&self.query, end, step_secs, buckets).await {
            Ok(c) => c,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::warn!(from = %fmt_ns(start), "Cannot count the backfill window ({e}); reading all of it.");
                return Ok((Cursor::at(start), None));
            }
        };
        let total: u64 = counts.iter().sum();
        let mut kept = 0u64;
        let mut k = 0usize;
        while k < counts.len() && kept + counts[k] <= self.backfill_max_lines {
            kept += counts[k];
            k += 1;
        }
        let from = end - k as i64 * step_ns;
        if total > kept {
            self.skipped("backfill_limit", total - kept);
            tracing::info!(total, kept, from = %fmt_ns(from), "Backfill holds more than loki.backfill_max_lines; starting later.");
        } else {
            tracing::info!(lines = total, from = %fmt_ns(from), "Backfilling.");
        }
        Ok((Cursor::at(from), Some(kept)))
    }
}

fn to_raw(e: PageEntry) -> RawLine {
    let timestamp = jiff::Timestamp::from_nanosecond(i128::from(e.ts)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    RawLine { timestamp, labels: e.labels, line: e.line, line_no: 0, truncated: false }
}

fn fmt_ns(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).map(|t| t.to_string()).unwrap_or_else(|_| ns.to_string())
}
