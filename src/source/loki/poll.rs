//! One poll: establish the cursor (backfill or catch-up), list this replica's streams, page through
//! the window (sequentially, or in sub-ranges read at once), then look back for late lines.

use std::collections::VecDeque;

use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cursor::Cursor;
use super::late::{LateTracker, MINUTE_NS};
use super::page::PageEntry;
use super::progress::BackfillProgress;
use super::range::RangeReader;
use super::shard::{selector_span, Assignment};
use super::{LokiSource, NS};
use crate::metrics::ReasonLabel;
use crate::source::{RawLine, SourceError};

/// Buckets the backfill window is counted in (one metric query) to find where to start.
const BACKFILL_BUCKETS: u64 = 500;
/// Buckets a window is counted in to cut it into sub-ranges of similar size.
const SPLIT_BUCKETS: i64 = 200;
/// Lines per sub-range, in pages (a sub-range is read whole before it is handed over).
const SPLIT_PAGES: u64 = 4;

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

/// What the source keeps between polls.
#[derive(Debug, Default)]
pub(super) struct ReadState {
    pub cursor: Option<Cursor>,
    /// Set on first start, taken when the backfill reaches the present (possibly polls later).
    pub backfill: Option<BackfillProgress>,
    /// Lines delivered per minute of the lookback (`None` while off or before the first cursor).
    pub late: Option<LateTracker>,
}

/// A sub-range read in the background: its pages, each with the cursor after it.
type SubRange = JoinHandle<Result<Vec<(Vec<PageEntry>, Cursor)>, SourceError>>;

/// Sub-ranges in flight, aborted when dropped (an error, the budget, a shutdown).
struct InFlight(VecDeque<SubRange>);

impl Drop for InFlight {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

impl LokiSource {
    /// One poll. Progress made before an error is kept (each batch was sent and saved).
    pub(super) async fn poll(
        &self,
        st: &mut ReadState,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<PollEnd, SourceError> {
        let end = self.clock.now_ns() - self.query_delay_ns;
        if st.cursor.is_none() {
            let (start, expected) = tokio::select! {
                r = self.first_cursor(end) => r?,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            st.cursor = Some(start);
            self.save(&st.cursor)?;
            if self.backfill_secs == 0 {
                self.status.set_backfill_done();
            } else {
                self.status.set_backfill_progress(0, expected);
                st.backfill = Some(BackfillProgress::start(expected, tokio::time::Instant::now()));
            }
        }
        let cur = st.cursor.as_mut().expect("set above");
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
            // What was skipped is not late: the lookback starts again from here.
            st.late = None;
            self.save(&st.cursor)?;
        }
        let cur_ts = st.cursor.as_ref().expect("set above").ts;
        if self.lookback_secs > 0 && st.late.is_none() {
            st.late = Some(LateTracker::new(self.lookback_secs, cur_ts));
        }
        let mut assignment = None;
        if self.shard.is_split() {
            let selector = selector_span(&self.query).map_or(self.query.as_str(), |(a, b)| &self.query[a..b]);
            let series = tokio::select! {
                r = self.client.series(selector, cur_ts - 1, end) => r?,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            let a = Assignment::plan(&self.query, self.shard, series);
            self.status.set_streams(a.owned as u64, a.listed as u64);
            if a.owned == 0 {
                // None of the streams in the window is this replica's.
                let cur = st.cursor.as_mut().expect("set above");
                cur.jump_to(end);
                self.save(&st.cursor)?;
                return Ok(self.window_done(st));
            }
            assignment = Some(a);
        }
        let query = assignment.as_ref().map_or(self.query.clone(), |a| a.query.clone());
        let ended = if self.parallel_queries > 1 {
            self.read_split(st, &query, &mut assignment, end, tx, shutdown).await?
        } else {
            self.read_window(st, &query, &mut assignment, end, tx, shutdown).await?
        };
        if ended == PollEnd::Drained {
            self.look_back(st, &query, &mut assignment, tx, shutdown).await?;
        }
        Ok(ended)
    }

    /// Read `[cursor, end)` page by page.
    async fn read_window(
        &self,
        st: &mut ReadState,
        query: &str,
        assignment: &mut Option<Assignment>,
        end: i64,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<PollEnd, SourceError> {
        let mut delivered: u64 = 0;
        let mut reader = RangeReader::new(st.cursor.clone().expect("cursor established"), end, self.page_limit);
        loop {
            let page = tokio::select! {
                r = reader.next(&self.client, query) => r?,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            let Some(fresh) = page else { break };
            self.succeeded();
            delivered += self.hand_over(st, fresh, assignment, tx).await?;
            self.commit(st, reader.cursor().clone())?;
            if let Some(end) = self.after_batch(st, delivered, shutdown) {
                return Ok(end);
            }
        }
        Ok(self.window_done(st))
    }

    /// Read `[cursor, end)` as consecutive sub-ranges of similar line counts, `parallel_queries` at
    /// once, handed over in time order. The cursor stays exact: a sub-range `[a, b)` starts with
    /// nothing seen at `a` and ends before `b`, and it is handed over only after all before it.
    async fn read_split(
        &self,
        st: &mut ReadState,
        query: &str,
        assignment: &mut Option<Assignment>,
        end: i64,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<PollEnd, SourceError> {
        let cur = st.cursor.clone().expect("cursor established");
        let ranges = tokio::select! {
            r = self.sub_ranges(query, cur.ts, end) => r,
            _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
        };
        if ranges.len() < 2 {
            return self.read_window(st, query, assignment, end, tx, shutdown).await;
        }
        let mut pending = ranges.into_iter();
        let mut in_flight = InFlight(VecDeque::new());
        let mut delivered: u64 = 0;
        let mut first = Some(cur);
        loop {
            while in_flight.0.len() < self.parallel_queries as usize {
                let Some((a, b)) = pending.next() else { break };
                let from = first.take().unwrap_or_else(|| Cursor::at(a));
                let (client, query, limit) = (self.client.clone(), query.to_string(), self.page_limit);
                in_flight.0.push_back(tokio::spawn(async move {
                    let mut reader = RangeReader::new(from, b, limit);
                    let mut pages = Vec::new();
                    while let Some(fresh) = reader.next(&client, &query).await? {
                        pages.push((fresh, reader.cursor().clone()));
                    }
                    Ok(pages)
                }));
            }
            let Some(next) = in_flight.0.front_mut() else { break };
            let pages = tokio::select! {
                r = next => r.map_err(|e| SourceError::Connect(format!("sub-range reader failed: {e}")))??,
                _ = shutdown.cancelled() => return Ok(PollEnd::Shutdown),
            };
            in_flight.0.pop_front();
            self.succeeded();
            for (fresh, after) in pages {
                delivered += self.hand_over(st, fresh, assignment, tx).await?;
                self.commit(st, after)?;
            }
            if let Some(end) = self.after_batch(st, delivered, shutdown) {
                return Ok(end);
            }
        }
        Ok(self.window_done(st))
    }

    /// Cut `[from, to)` into sub-ranges of about [`SPLIT_PAGES`] pages each, by Loki's counts of
    /// [`SPLIT_BUCKETS`] buckets; one range when the count fails or there is little to read.
    async fn sub_ranges(&self, query: &str, from: i64, to: i64) -> Vec<(i64, i64)> {
        let span = to - from;
        let step_secs = (span / NS / SPLIT_BUCKETS).max(1) as u64;
        let step = step_secs as i64 * NS;
        let buckets = (span + step - 1) / step;
        if buckets < 2 {
            return vec![(from, to)];
        }
        let counts = match self.client.count_buckets(query, to, step_secs, buckets as u64).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("Cannot count the window to split it ({e}); reading it in one range.");
                return vec![(from, to)];
            }
        };
        let target = u64::from(self.page_limit) * SPLIT_PAGES;
        let mut ranges = Vec::new();
        let (mut start, mut lines) = (from, 0u64);
        // counts[k] covers [to - (k+1)·step, to - k·step): oldest first is k descending.
        for k in (1..buckets as usize).rev() {
            lines += counts[k];
            if lines >= target {
                let b = to - k as i64 * step;
                ranges.push((start, b));
                (start, lines) = (b, 0);
            }
        }
        ranges.push((start, to));
        ranges
    }

    /// Note a page's entries for the lookback, keep this replica's, and hand them to the pipeline.
    /// Returns how many were handed over.
    async fn hand_over(
        &self,
        st: &mut ReadState,
        fresh: Vec<PageEntry>,
        assignment: &mut Option<Assignment>,
        tx: &Sender<Vec<RawLine>>,
    ) -> Result<u64, SourceError> {
        if let Some(late) = st.late.as_mut() {
            late.record(&fresh);
        }
        self.send(st, fresh, assignment, tx).await
    }

    /// Keep this replica's entries and send them as one batch.
    async fn send(
        &self,
        st: &mut ReadState,
        mut fresh: Vec<PageEntry>,
        assignment: &mut Option<Assignment>,
        tx: &Sender<Vec<RawLine>>,
    ) -> Result<u64, SourceError> {
        if let Some(a) = assignment.as_mut() {
            fresh.retain(|e| a.owns(&e.labels));
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        let n = fresh.len() as u64;
        // The page in hand is always sent, even when shutdown is under way.
        tx.send(fresh.into_iter().map(to_raw).collect()).await.map_err(|_| SourceError::Closed)?;
        self.sent_one();
        self.status.add_lines(n);
        if let Some(p) = st.backfill.as_mut() {
            p.advance(n, tokio::time::Instant::now());
            self.status.set_backfill_progress(p.read(), p.expected());
        }
        Ok(n)
    }

    /// Move the cursor over what was handed over and save it.
    fn commit(&self, st: &mut ReadState, after: Cursor) -> Result<(), SourceError> {
        st.cursor = Some(after);
        self.save(&st.cursor)
    }

    /// After a batch was committed: stop for the budget or a shutdown.
    fn after_batch(&self, st: &ReadState, delivered: u64, shutdown: &CancellationToken) -> Option<PollEnd> {
        let cur = st.cursor.as_ref().expect("set");
        self.status.set_cursor(cur.ts);
        self.set_lag(cur.ts);
        if delivered >= self.max_lines_per_poll {
            self.status.set_caught_up(false);
            tracing::info!(delivered, cursor = %fmt_ns(cur.ts), "loki.max_lines_per_poll reached; the rest is read next poll.");
            return Some(PollEnd::Budget);
        }
        shutdown.is_cancelled().then_some(PollEnd::Shutdown)
    }

    fn succeeded(&self) {
        self.status.record_success(self.clock.now_ns());
        self.metrics.last_success_timestamp.set(self.clock.now_ns() as f64 / NS as f64);
    }

    /// Compare Loki's per-minute counts of the lookback with what was delivered; read the minutes
    /// that grew again and hand over the lines that arrived late.
    async fn look_back(
        &self,
        st: &mut ReadState,
        query: &str,
        assignment: &mut Option<Assignment>,
        tx: &Sender<Vec<RawLine>>,
        shutdown: &CancellationToken,
    ) -> Result<(), SourceError> {
        let (Some(late), Some(cur)) = (st.late.as_ref(), st.cursor.as_ref()) else { return Ok(()) };
        let Some((end, buckets)) = late.check_range(cur.ts) else { return Ok(()) };
        let counts = tokio::select! {
            r = self.client.count_buckets(query, end, 60, buckets) => r?,
            _ = shutdown.cancelled() => return Ok(()),
        };
        let verdict = st.late.as_mut().expect("checked").compare(end, &counts);
        if verdict.skipped > 0 {
            self.skipped("late", verdict.skipped);
            tracing::warn!(
                lines = verdict.skipped,
                "Lines arrived in Loki later than loki.lookback_secs allows; counted, not read."
            );
        }
        for (minute, loki) in verdict.reread {
            let mut reader = RangeReader::new(Cursor::at(minute), minute + MINUTE_NS, self.page_limit);
            let mut entries = Vec::new();
            loop {
                let page = tokio::select! {
                    r = reader.next(&self.client, query) => r?,
                    _ = shutdown.cancelled() => return Ok(()),
                };
                let Some(page) = page else { break };
                entries.extend(page);
            }
            let (fresh, missing) = st.late.as_mut().expect("checked").take_unseen(minute, loki, entries);
            if missing > 0 {
                self.skipped("late", missing);
            }
            let found = fresh.len();
            let sent = self.send(st, fresh, assignment, tx).await?;
            self.metrics.lines_late.inc_by(sent);
            if found > 0 {
                tracing::info!(minute = %fmt_ns(minute), lines = sent, "Read lines that arrived in Loki late.");
            }
        }
        Ok(())
    }

    /// The window was read to its end: the source is at the present, so a backfill under way is done.
    fn window_done(&self, st: &mut ReadState) -> PollEnd {
        if let Some(p) = st.backfill.take() {
            p.finish();
            self.status.set_backfill_done();
        }
        let ts = st.cursor.as_ref().expect("cursor established").ts;
        self.status.set_cursor(ts);
        self.status.set_caught_up(true);
        self.set_lag(ts);
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

pub(super) fn fmt_ns(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).map(|t| t.to_string()).unwrap_or_else(|_| ns.to_string())
}
