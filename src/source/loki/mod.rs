//! The Loki source: polls `query_range` every interval and hands each line over exactly once.
//!
//! - [`client`]: HTTP (tenant, auth, TLS, timeout), error bodies, request metrics
//! - [`page`]: decoding a page and merging its result streams by timestamp
//! - [`cursor`]: the persisted position (`cursor.json`) and its invariant
//! - [`poll`]: one poll: window, pages, de-duplication, backfill, catch-up
//! - [`progress`]: the backfill's progress bar (on a terminal) or progress log lines
//! - [`status`]: [`SourceStatus`] for `/readyz`, and the [`Clock`]
//!
//! How a poll reads (see DESIGN.md, "Never lose or repeat a line"): the window runs from the cursor to
//! `now - query_delay_secs` (exclusive). Each page is `query_range` with `start = cursor.ts - 1`,
//! `limit` and `direction=forward`; entries the cursor already covers are dropped, the rest are sent on
//! and the cursor advances over them. A page with fewer entries than `limit` ends the window, and the
//! cursor moves to the window's end. The cursor is saved after every batch handed to the channel.
//!
//! Errors: 429, 5xx, timeouts, refused connections and undecodable bodies are retried with capped
//! exponential backoff (1 s doubling up to `max_backoff_secs`; a `Retry-After` is honoured up to that
//! cap) without moving the cursor. Other 4xx (a bad query, bad credentials) are logged at ERROR with
//! Loki's message and retried at the normal interval: the daemon keeps serving `/healthz` and reports
//! not-ready until an operator fixes the setting, rather than exiting into a restart loop.

pub mod client;
pub mod cursor;
mod late;
pub mod page;
mod poll;
mod progress;
mod range;
pub mod shard;
pub mod status;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

pub use client::LokiClient;
pub use cursor::{Cursor, CursorStore};
pub use shard::Shard;
pub use status::{BackfillSnapshot, Clock, SourceStatus, SourceStatusSnapshot, SystemClock, TokioClock};

use crate::config::LokiConfig;
use crate::metrics::Metrics;
use crate::source::{RawLine, SourceError};

/// How often a waiting source writes down what the pipeline has processed.
const ACK_CHECK: Duration = Duration::from_secs(1);
/// How long a stopping source waits for the pipeline to process what it handed over.
const SHUTDOWN_ACK_WAIT: Duration = Duration::from_secs(10);

/// Loki's default (and usual maximum) `max_entries_limit_per_query`.
pub const LOKI_MAX_LIMIT: u32 = 5000;

/// Polls Loki and sends merged, de-duplicated lines in time order. Build with [`LokiSource::new`],
/// then `tokio::spawn(source.run(tx, shutdown))`.
pub struct LokiSource {
    client: LokiClient,
    query: String,
    interval: Duration,
    query_delay_ns: i64,
    page_limit: u32,
    max_lines_per_poll: u64,
    max_catch_up_ns: i64,
    backfill_secs: u64,
    backfill_max_lines: u64,
    lookback_secs: u64,
    parallel_queries: u32,
    shard: Shard,
    max_backoff: Duration,
    store: Option<CursorStore>,
    /// A failed cursor save was already reported (one WARN, not one per poll).
    save_failed: std::sync::atomic::AtomicBool,
    /// Acknowledged delivery (see [`LokiSource::with_acks`]); `None`: a batch counts as delivered
    /// once it is handed over.
    acks: Option<Arc<AtomicU64>>,
    /// Batches handed over so far.
    sent: AtomicU64,
    /// Cursor positions not yet on disk, each with the number of batches it covers: it may be
    /// written once the pipeline has processed that many.
    unacked: Mutex<VecDeque<(u64, Cursor)>>,
    metrics: Arc<Metrics>,
    status: Arc<SourceStatus>,
    clock: Arc<dyn Clock>,
}

const NS: i64 = 1_000_000_000;

impl std::fmt::Debug for LokiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiSource")
            .field("client", &self.client)
            .field("query", &self.query)
            .field("interval", &self.interval)
            .field("page_limit", &self.page_limit)
            .field("state", &self.store.as_ref().map(CursorStore::path))
            .finish_non_exhaustive()
    }
}

impl LokiSource {
    /// Set up the client (reads secret and CA files) and the state directory (created if missing).
    pub fn new(
        cfg: &LokiConfig,
        interval: Duration,
        state_dir: &Path,
        metrics: Arc<Metrics>,
        status: Arc<SourceStatus>,
    ) -> Result<LokiSource, SourceError> {
        let client = LokiClient::new(cfg, metrics.clone())?;
        // A state directory that cannot be used never stops the source: it reads on without a cursor
        // on disk (a restart then backfills again).
        let store = match CursorStore::new(state_dir) {
            Ok(store) => Some(store),
            Err(e) => {
                tracing::warn!(dir = %state_dir.display(), error = %e, "Cannot use the state directory; the Loki cursor will not survive a restart");
                None
            }
        };
        Ok(LokiSource {
            client,
            query: cfg.query.trim().to_string(),
            interval,
            query_delay_ns: (cfg.query_delay_secs as i64).saturating_mul(NS),
            page_limit: cfg.page_limit.clamp(1, LOKI_MAX_LIMIT),
            max_lines_per_poll: cfg.max_lines_per_poll.max(1),
            max_catch_up_ns: (cfg.max_catch_up_secs as i64).saturating_mul(NS),
            backfill_secs: cfg.backfill_secs,
            backfill_max_lines: cfg.backfill_max_lines,
            lookback_secs: cfg.lookback_secs,
            parallel_queries: cfg.parallel_queries.max(1),
            shard: Shard { index: cfg.shard_index.unwrap_or(0), count: cfg.shard_count.max(1) },
            max_backoff: Duration::from_secs(cfg.max_backoff_secs.max(1)),
            store,
            save_failed: std::sync::atomic::AtomicBool::new(false),
            acks: None,
            sent: AtomicU64::new(0),
            unacked: Mutex::new(VecDeque::new()),
            metrics,
            status,
            clock: Arc::new(SystemClock),
        })
    }

    /// Acknowledged delivery, as in Vector's end-to-end acknowledgements: `processed` counts the
    /// batches the pipeline has finished (batches are processed in the order they are sent). The
    /// cursor on disk then never runs ahead of what was processed: after a crash only the lines in
    /// flight are read again, none is lost.
    pub fn with_acks(mut self, processed: Arc<AtomicU64>) -> Self {
        self.acks = Some(processed);
        self
    }

    /// Read wall-clock time from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Poll every `interval` until `shutdown`. A poll in progress when `shutdown` fires finishes
    /// sending the page in hand, saves the cursor and returns. Errors only when the receiver is gone
    /// (`Closed`) or the cursor cannot be written.
    pub async fn run(self, tx: Sender<Vec<RawLine>>, shutdown: CancellationToken) -> Result<(), SourceError> {
        let mut st = poll::ReadState { cursor: self.load_cursor(), ..poll::ReadState::default() };
        let mut backoff = Backoff::new(self.max_backoff);
        tracing::info!(query = %self.query, interval_secs = self.interval.as_secs_f64(), "Loki source started.");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let started = tokio::time::Instant::now();
            let wait = match self.poll(&mut st, &tx, &shutdown).await {
                Ok(poll::PollEnd::Shutdown) => break,
                Ok(poll::PollEnd::Drained | poll::PollEnd::Budget) => {
                    backoff.reset();
                    (started + self.interval).saturating_duration_since(tokio::time::Instant::now())
                }
                Err(SourceError::Closed) => {
                    self.save(&st.cursor)?;
                    return Err(SourceError::Closed);
                }
                Err(e) => {
                    self.status.record_failure(e.to_string());
                    if e.is_retryable() {
                        let wait = backoff.next(e.retry_after());
                        tracing::warn!(
                            outcome = e.label(),
                            retry_in_secs = wait.as_secs_f64(),
                            "Loki request failed: {e}"
                        );
                        wait
                    } else if e.label() == "http_4xx" {
                        backoff.reset();
                        tracing::error!(outcome = e.label(), query = %self.query, "Loki rejected the query; fix the configuration: {e}");
                        self.interval
                    } else {
                        backoff.reset();
                        tracing::error!(outcome = e.label(), "Loki source cannot poll: {e}");
                        self.interval
                    }
                }
            };
            // While waiting, what the pipeline finishes is written down (about once a second).
            let until = tokio::time::Instant::now() + wait;
            loop {
                let step = until.saturating_duration_since(tokio::time::Instant::now()).min(ACK_CHECK);
                if step.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(step) => self.write_acked(),
                    _ = shutdown.cancelled() => break,
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        self.save(&st.cursor)?;
        self.drain_acks().await;
        tracing::info!("Loki source stopped; cursor saved.");
        Ok(())
    }

    /// At shutdown: wait (bounded) until the pipeline has processed every batch handed over (it
    /// goes on processing until this source ends), then write the last cursor.
    async fn drain_acks(&self) {
        let Some(done) = &self.acks else { return };
        let deadline = tokio::time::Instant::now() + SHUTDOWN_ACK_WAIT;
        while done.load(Ordering::Acquire) < self.sent.load(Ordering::Acquire) && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.write_acked();
    }

    /// Count one batch handed over to the pipeline.
    fn sent_one(&self) {
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    /// Write the newest cursor position whose batches the pipeline has all processed, if any is
    /// waiting.
    fn write_acked(&self) {
        let Some(done) = &self.acks else { return };
        let done = done.load(Ordering::Acquire);
        let ready = {
            let mut q = self.unacked.lock().expect("not poisoned");
            let mut ready = None;
            while q.front().is_some_and(|(covers, _)| *covers <= done) {
                ready = q.pop_front();
            }
            ready
        };
        if let Some((_, c)) = ready {
            self.write(&c);
        }
    }

    fn load_cursor(&self) -> Option<Cursor> {
        use cursor::CursorLoadError;
        let store = self.store.as_ref()?;
        match store.load() {
            Ok(c) => {
                tracing::info!(cursor_ns = c.ts, "Resuming from the saved cursor.");
                self.status.set_cursor(c.ts);
                self.status.set_backfill_done();
                Some(c)
            }
            Err(CursorLoadError::Missing) => {
                tracing::info!(path = %store.path().display(), "No saved cursor; first start, backfilling.");
                None
            }
            Err(e) => {
                tracing::warn!(path = %store.path().display(), "Ignoring the saved cursor ({e}); starting over with a backfill.");
                None
            }
        }
    }

    /// Save the cursor. A failure (full disk, read-only directory) is reported once and reading
    /// goes on: the cursor in memory stays exact, only a restart would read again.
    fn save(&self, cursor: &Option<Cursor>) -> Result<(), SourceError> {
        let Some(c) = cursor else { return Ok(()) };
        if self.acks.is_none() {
            self.write(c);
            return Ok(());
        }
        {
            let covers = self.sent.load(Ordering::Acquire);
            let mut q = self.unacked.lock().expect("not poisoned");
            // The newest position for the same batches replaces the older one.
            if q.back().is_some_and(|(n, _)| *n == covers) {
                q.pop_back();
            }
            q.push_back((covers, c.clone()));
        }
        self.write_acked();
        Ok(())
    }

    fn write(&self, c: &Cursor) {
        let Some(store) = &self.store else { return };
        match store.save(c, &self.query) {
            Ok(()) => {
                if self.save_failed.swap(false, Ordering::Relaxed) {
                    tracing::info!(path = %store.path().display(), "Loki cursor saved again.");
                }
            }
            Err(e) => {
                if !self.save_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "Cannot save the Loki cursor; reading goes on, a restart would read again from the last saved position");
                }
            }
        }
    }
}

impl SourceError {
    /// `Retry-After` seconds of a 429/503 answer.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Http { retry_after_secs: Some(s), .. } => Some(Duration::from_secs(*s)),
            _ => None,
        }
    }
}

/// Capped exponential backoff: 1 s, 2 s, 4 s, ... up to `max`.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Backoff { next: Duration::from_secs(1).min(max), max }
    }

    fn reset(&mut self) {
        self.next = Duration::from_secs(1).min(self.max);
    }

    /// The wait before the next attempt; `Retry-After` wins when given (capped at `max`).
    fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or(self.next).min(self.max);
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_honours_retry_after() {
        let mut b = Backoff::new(Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| b.next(None).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
        assert_eq!(b.next(Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(b.next(Some(Duration::from_secs(60))), Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next(None), Duration::from_secs(1));
    }
}
