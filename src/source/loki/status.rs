//! What the Loki source reports to `/readyz` and `/api/v1/status`, and the clock it reads time from.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// `backfill_lines_expected` when there is no count.
const UNCOUNTED: u64 = u64::MAX;

/// Live state of the source, shared (as `Arc<SourceStatus>`) with the HTTP server.
#[derive(Debug)]
pub struct SourceStatus {
    loki_reachable: AtomicBool,
    backfill_done: AtomicBool,
    backfill_lines_read: AtomicU64,
    /// [`UNCOUNTED`] until counted, or when the count failed.
    backfill_lines_expected: AtomicU64,
    caught_up: AtomicBool,
    cursor_ns: AtomicI64,
    last_success_ns: AtomicI64,
    lines_read: AtomicU64,
    consecutive_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Streams owned and listed in the last window (replicas only; `u64::MAX` before).
    streams_owned: AtomicU64,
    streams_listed: AtomicU64,
}

/// A copy of [`SourceStatus`] for JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatusSnapshot {
    /// The last request to Loki succeeded.
    pub loki_reachable: bool,
    /// Progress of the first-start backfill.
    pub backfill: BackfillSnapshot,
    /// The last poll read its whole window (false while `max_lines_per_poll` holds lines back).
    pub caught_up: bool,
    /// Where reading resumes, RFC 3339 (empty before the first poll).
    pub cursor: String,
    /// Last successful request, RFC 3339 (empty if none yet).
    pub last_success: String,
    /// Lines delivered since start, after de-duplication.
    pub lines_read: u64,
    /// Failed requests since the last success.
    pub consecutive_failures: u64,
    /// The last error, shortened (cleared by the next success).
    pub last_error: Option<String>,
    /// With replicas: streams of the last window this replica read, and streams listed in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<StreamsSnapshot>,
}

/// A replica's share of the streams in its last window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamsSnapshot {
    pub owned: u64,
    pub listed: u64,
}

/// The first-start backfill, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackfillSnapshot {
    /// The backfill reached the present (or the source resumed from a saved cursor: no backfill).
    pub done: bool,
    /// Lines delivered by the backfill so far.
    pub lines_read: u64,
    /// Lines the count query found in the part of the window kept; `null` before the count, or when it
    /// failed and the whole window is read. `lines_read` can pass it when `max_lines_per_poll` splits
    /// the backfill over several polls (the later ones reach further).
    pub lines_expected: Option<u64>,
}

fn rfc3339(ns: i64) -> String {
    if ns == 0 {
        return String::new();
    }
    jiff::Timestamp::from_nanosecond(i128::from(ns)).map(|t| t.to_string()).unwrap_or_default()
}

impl Default for SourceStatus {
    fn default() -> Self {
        SourceStatus {
            loki_reachable: AtomicBool::new(false),
            backfill_done: AtomicBool::new(false),
            backfill_lines_read: AtomicU64::new(0),
            backfill_lines_expected: AtomicU64::new(UNCOUNTED),
            caught_up: AtomicBool::new(false),
            cursor_ns: AtomicI64::new(0),
            last_success_ns: AtomicI64::new(0),
            lines_read: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            streams_owned: AtomicU64::new(u64::MAX),
            streams_listed: AtomicU64::new(u64::MAX),
        }
    }
}

impl SourceStatus {
    /// A status for a source that has not polled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the last request to Loki succeeded (for `/readyz`).
    pub fn loki_reachable(&self) -> bool {
        self.loki_reachable.load(Ordering::Relaxed)
    }

    /// Whether the backfill is done.
    pub fn backfill_done(&self) -> bool {
        self.backfill_done.load(Ordering::Relaxed)
    }

    /// Progress of the backfill.
    pub fn backfill(&self) -> BackfillSnapshot {
        let expected = self.backfill_lines_expected.load(Ordering::Relaxed);
        BackfillSnapshot {
            done: self.backfill_done(),
            lines_read: self.backfill_lines_read.load(Ordering::Relaxed),
            lines_expected: (expected != UNCOUNTED).then_some(expected),
        }
    }

    /// Whether the last poll drained its window.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Lines delivered since start.
    pub fn lines_read(&self) -> u64 {
        self.lines_read.load(Ordering::Relaxed)
    }

    /// The last error message, shortened.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    /// Everything at once, for `/api/v1/status`.
    pub fn snapshot(&self) -> SourceStatusSnapshot {
        SourceStatusSnapshot {
            loki_reachable: self.loki_reachable(),
            backfill: self.backfill(),
            caught_up: self.caught_up(),
            cursor: rfc3339(self.cursor_ns.load(Ordering::Relaxed)),
            last_success: rfc3339(self.last_success_ns.load(Ordering::Relaxed)),
            lines_read: self.lines_read(),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_error: self.last_error(),
            streams: match (self.streams_owned.load(Ordering::Relaxed), self.streams_listed.load(Ordering::Relaxed)) {
                (u64::MAX, _) | (_, u64::MAX) => None,
                (owned, listed) => Some(StreamsSnapshot { owned, listed }),
            },
        }
    }

    pub(crate) fn record_success(&self, now_ns: i64) {
        self.loki_reachable.store(true, Ordering::Relaxed);
        self.last_success_ns.store(now_ns, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    pub(crate) fn record_failure(&self, message: String) {
        self.loki_reachable.store(false, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }

    pub(crate) fn set_cursor(&self, ns: i64) {
        self.cursor_ns.store(ns, Ordering::Relaxed);
    }

    pub(crate) fn set_backfill_done(&self) {
        self.backfill_done.store(true, Ordering::Relaxed);
    }

    /// Where the backfill stands (`expected`: `None` when it could not be counted).
    pub(crate) fn set_backfill_progress(&self, read: u64, expected: Option<u64>) {
        self.backfill_lines_read.store(read, Ordering::Relaxed);
        self.backfill_lines_expected.store(expected.unwrap_or(UNCOUNTED), Ordering::Relaxed);
    }

    pub(crate) fn set_caught_up(&self, v: bool) {
        self.caught_up.store(v, Ordering::Relaxed);
    }

    pub(crate) fn set_streams(&self, owned: u64, listed: u64) {
        self.streams_owned.store(owned, Ordering::Relaxed);
        self.streams_listed.store(listed, Ordering::Relaxed);
    }

    pub(crate) fn add_lines(&self, n: u64) {
        self.lines_read.fetch_add(n, Ordering::Relaxed);
    }
}

/// Wall-clock time as unix nanoseconds. The query window ends at `now - query_delay_secs`.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, unix nanoseconds.
    fn now_ns(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        jiff::Timestamp::now().as_nanosecond() as i64
    }
}

/// A wall clock that starts at `base_ns` and advances with `tokio::time` (so it follows
/// `tokio::time::pause()`/`advance()` in tests and runs many intervals without sleeping).
#[derive(Debug, Clone)]
pub struct TokioClock {
    base_ns: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `base_ns` now.
    pub fn starting_at(base_ns: i64) -> Self {
        TokioClock { base_ns, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ns(&self) -> i64 {
        self.base_ns + self.start.elapsed().as_nanos() as i64
    }
}
