//! The Loki source against the fake Loki: every line exactly once, whatever Loki does.
//! Time is paused (`start_paused`), so intervals, backoff and timeouts run without sleeping; tests
//! count events and compare what arrived, never wall-clock durations.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anomaly_detector::config::LokiConfig;
use anomaly_detector::metrics::Metrics;
use anomaly_detector::metrics::{OutcomeLabel, ReasonLabel};
use anomaly_detector::source::loki::{LokiSource, SourceStatus, TokioClock};
use anomaly_detector::source::{RawLine, SourceError};
use support::fake_loki::{FakeLoki, Fault};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2026-11-24T04:00:00Z in unix ns: "now" when each test starts.
const BASE: i64 = 1_795_492_800_000_000_000;
const SEC: i64 = 1_000_000_000;
const INTERVAL: Duration = Duration::from_secs(60);

fn config(url: &str, page_limit: u32) -> LokiConfig {
    LokiConfig {
        url: url.to_string(),
        query: r#"{job="app"}"#.into(),
        query_delay_secs: 5,
        page_limit,
        timeout_ms: 2_000,
        max_lines_per_poll: 1_000_000,
        max_catch_up_secs: 6 * 3600,
        backfill_secs: 3600,
        backfill_max_lines: 1_000_000,
        max_backoff_secs: 16,
        ..LokiConfig::default()
    }
}

/// What identifies a delivered line: (ts, labels, line).
type Key = (i64, String, String);

fn key_of(l: &RawLine) -> Key {
    (l.timestamp.as_nanosecond() as i64, format!("{:?}", l.labels), l.line.clone())
}

fn labels_str(pairs: &[(&str, &str)]) -> String {
    let m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    format!("{m:?}")
}

/// A running source and everything it delivered.
struct Run {
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), SourceError>>,
    got: Arc<Mutex<Vec<RawLine>>>,
    collector: JoinHandle<()>,
}

/// Start a source; `stop_after_batches` cancels it from the receiving side after that many batches
/// (so the shutdown lands in the middle of a poll).
fn start(
    cfg: &LokiConfig,
    dir: &Path,
    metrics: &Arc<Metrics>,
    clock: &Arc<TokioClock>,
    stop_after_batches: Option<usize>,
) -> (Run, Arc<SourceStatus>) {
    let status = Arc::new(SourceStatus::new());
    let src = LokiSource::new(cfg, INTERVAL, dir, metrics.clone(), status.clone()).unwrap().with_clock(clock.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RawLine>>(4);
    let shutdown = CancellationToken::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, sd) = (got.clone(), shutdown.clone());
    let collector = tokio::spawn(async move {
        let mut batches = 0;
        while let Some(batch) = rx.recv().await {
            g.lock().unwrap().extend(batch);
            batches += 1;
            if stop_after_batches == Some(batches) {
                sd.cancel();
            }
        }
    });
    let handle = tokio::spawn(src.run(tx, shutdown.clone()));
    (Run { shutdown, handle, got, collector }, status)
}

impl Run {
    async fn stop(self) -> Vec<RawLine> {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
        self.collector.await.unwrap();
        Arc::try_unwrap(self.got).unwrap().into_inner().unwrap()
    }
}

fn counter(metrics: &Metrics, outcome: &str) -> u64 {
    metrics.loki_requests.get_or_create(&OutcomeLabel { outcome: outcome.into() }).get()
}

fn skipped(metrics: &Metrics, reason: &str) -> u64 {
    metrics.lines_skipped.get_or_create(&ReasonLabel { reason: reason.into() }).get()
}

fn sorted(mut v: Vec<Key>) -> Vec<Key> {
    v.sort();
    v
}

fn assert_time_ordered(lines: &[RawLine]) {
    for w in lines.windows(2) {
        assert!(
            w[0].timestamp <= w[1].timestamp,
            "delivered out of order: {:?} then {:?}",
            w[0].timestamp,
            w[1].timestamp
        );
    }
}

/// The data set of the main test: two matching streams and one that is not selected, with runs of 150
/// lines sharing one nanosecond (some identical), neighbours 1 ns apart, and a > 5,000-line burst.
fn build_data(fake: &FakeLoki) -> Vec<Key> {
    let a = [("job", "app"), ("host", "a")];
    let b = [("job", "app"), ("host", "b")];
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    // Backfill history: 1,000 lines in the hour before BASE.
    for i in 0..1_000i64 {
        ea.push((BASE - 3_500 * SEC + i * 3 * SEC, format!("history a {i}")));
    }
    // Live traffic over 8 minutes, with runs at one ns and 1-ns neighbours.
    let mut n = 0;
    for s in 0..480i64 {
        let ts = BASE + s * SEC;
        if s % 40 == 7 {
            // 150 lines at one nanosecond in stream a; 30 of them identical.
            for j in 0..150 {
                let line = if j % 5 == 0 { "same text at one ns".to_string() } else { format!("run {s} line {j}") };
                ea.push((ts, line));
            }
            ea.push((ts - 1, format!("one ns before run {s}")));
            eb.push((ts, format!("b at run {s}")));
            eb.push((ts + 1, format!("b one ns after run {s}")));
        } else {
            for j in 0..6 {
                ea.push((ts + j * 1_000_000, format!("a {n}")));
                n += 1;
            }
            eb.push((ts + 500_000_000, format!("b {n}")));
        }
    }
    // A burst of 6,000 lines inside one minute (more than 5,000 in one interval).
    for i in 0..6_000i64 {
        eb.push((BASE + 500 * SEC + i * 5_000_000, format!("burst {i}")));
    }
    ea.sort_by_key(|e| e.0);
    eb.sort_by_key(|e| e.0);
    let mut expected: Vec<Key> = ea.iter().map(|(t, l)| (*t, labels_str(&a), l.clone())).collect();
    expected.extend(eb.iter().map(|(t, l)| (*t, labels_str(&b), l.clone())));
    fake.push(&a, ea);
    fake.push(&b, eb);
    fake.push(&[("job", "other")], (0..100).map(|i| (BASE + i * SEC, format!("not selected {i}"))).collect());
    // Flushed chunks every 37 entries: starting a page exactly on one of them would lose entries.
    fake.flush_every(37);
    expected
}

#[tokio::test(start_paused = true)]
async fn every_line_arrives_exactly_once_across_pages_intervals_and_a_restart() {
    let fake = FakeLoki::start().await;
    let expected = build_data(&fake);
    assert!(expected.len() >= 12_000, "{}", expected.len());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let cfg = config(&fake.url(), 100);

    // First run: stopped from the receiving side after 40 batches, in the middle of a poll.
    let (run, first_status) = start(&cfg, dir.path(), &metrics, &clock, Some(40));
    let first = run.stop_when_cancelled().await;
    assert!(!first.is_empty() && first.len() < expected.len(), "first run read {}", first.len());

    // Second run on the same state dir until well past the last line.
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(700)).await;
    let second = run.stop().await;

    assert_time_ordered(&first);
    assert_time_ordered(&second);
    let mut all: Vec<Key> = first.iter().map(key_of).collect();
    all.extend(second.iter().map(key_of));
    let (got, want) = (sorted(all), sorted(expected.clone()));
    assert_eq!(got.len(), want.len(), "lines delivered vs pushed");
    assert!(got == want, "the delivered multiset differs from what was pushed");
    assert_eq!(first_status.lines_read() + status.lines_read(), want.len() as u64);
    assert!(status.loki_reachable() && status.caught_up());
    // Caught up: the cursor sits at the window end, query_delay_secs (5) behind the clock.
    let lag = metrics.lag_seconds.get();
    assert!((5.0..6.0).contains(&lag), "lag {lag}");
    assert!(metrics.last_success_timestamp.get() > (BASE / SEC) as f64);
    assert!(metrics.encode().contains("anomaly_detector_loki_request_duration_seconds_count"));

    // Every request sent limit and direction=forward; runs of 150 at one ns forced bigger pages.
    let reqs = fake.requests_to("/loki/api/v1/query_range");
    let pages: Vec<_> = reqs.iter().filter(|r| r.params.contains_key("direction")).collect();
    assert!(pages.len() > 120, "{} pages", pages.len());
    assert!(pages.iter().all(|r| r.params["direction"] == "forward" && r.params.contains_key("limit")));
    assert!(pages.iter().any(|r| r.params["limit"] == "200"), "no page asked for more than page_limit");
}

impl Run {
    /// Wait until the source stops by itself (cancelled by the collector).
    async fn stop_when_cancelled(self) -> Vec<RawLine> {
        self.shutdown.cancelled().await;
        self.stop().await
    }
}

#[tokio::test(start_paused = true)]
async fn errors_slow_answers_and_downtime_lose_and_repeat_nothing() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app"), ("host", "a")];
    let entries: Vec<(i64, String)> = (0..3_000i64).map(|i| (BASE + i * 100_000_000, format!("line {i}"))).collect();
    let expected: Vec<Key> = entries.iter().map(|(t, l)| (*t, labels_str(&labels), l.clone())).collect();
    fake.push(&labels, entries);
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.backfill_secs = 0;

    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(90)).await;
    let before = run.got.lock().unwrap().len();
    assert!(before > 0, "nothing read before the faults");

    let n = fake.requests_to("/loki/api/v1/query_range").len();
    fake.fail_next(2, Fault::server_error());
    fake.fail_next(1, Fault::too_many_requests(Some(10)));
    fake.fail_next(2, Fault::Garbage);
    fake.fail_next(1, Fault::Hang(Duration::from_secs(3600)));
    tokio::time::sleep(Duration::from_secs(240)).await;
    assert_eq!(fake.pending_faults(), 0);
    assert!(counter(&metrics, "http_5xx") >= 2);
    assert!(counter(&metrics, "http_4xx") >= 1);
    assert!(counter(&metrics, "decode") >= 2);
    assert!(counter(&metrics, "timeout") >= 1);

    // Retries back off: 1 s after the first 500, 2 s after the second, and the 429's Retry-After: 10
    // is honoured (gaps in paused tokio time, deterministic).
    let reqs = fake.requests_to("/loki/api/v1/query_range");
    let gap = |i: usize| reqs[n + i + 1].at - reqs[n + i].at;
    assert!(gap(0) >= Duration::from_secs(1) && gap(1) >= Duration::from_secs(2), "{:?} {:?}", gap(0), gap(1));
    assert!(gap(2) >= Duration::from_secs(10), "retry after the 429 came after {:?}", gap(2));
    assert!(gap(2) < INTERVAL, "retry after the 429 waited for the interval");

    // Loki down for several intervals, then back.
    fake.stop().await;
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!status.loki_reachable());
    assert!(status.last_error().is_some());
    assert!(counter(&metrics, "connect") >= 3, "connect failures: {}", counter(&metrics, "connect"));
    fake.restart().await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(status.loki_reachable());

    let got = run.stop().await;
    assert_time_ordered(&got);
    assert_eq!(sorted(got.iter().map(key_of).collect()), sorted(expected.clone()));
    assert_eq!(status.lines_read(), expected.len() as u64);
    assert!(counter(&metrics, "ok") > 30);
}

#[tokio::test(start_paused = true)]
async fn restart_inside_a_same_timestamp_run_resumes_exactly() {
    // 150 lines share one ns (30 identical) and page_limit is 100: the first page ends inside the run,
    // the source stops right after it, and the next run must deliver exactly the other lines.
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    let t = BASE - 100 * SEC;
    let mut entries: Vec<(i64, String)> = (0..50i64).map(|i| (t - 1_000 + i, format!("before {i}"))).collect();
    entries.extend((0..150).map(|j| (t, if j % 5 == 0 { "dup".to_string() } else { format!("run {j}") })));
    entries.extend((0..20i64).map(|i| (t + 1 + i, format!("after {i}"))));
    let expected: Vec<Key> = entries.iter().map(|(ts, l)| (*ts, labels_str(&labels), l.clone())).collect();
    fake.push(&labels, entries);
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let cfg = config(&fake.url(), 100);

    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, Some(1));
    let first = run.stop_when_cancelled().await;
    assert_eq!(first.len(), 100, "the first page: 50 before + 50 of the run");
    let saved = std::fs::read_to_string(dir.path().join("cursor.json")).unwrap();
    assert!(saved.contains(&format!("\"timestamp_ns\": \"{t}\"")), "{saved}");

    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let second = run.stop().await;
    let mut all: Vec<Key> = first.iter().map(key_of).collect();
    all.extend(second.iter().map(key_of));
    assert_eq!(sorted(all), sorted(expected));
    assert_eq!(
        second.iter().filter(|l| l.line == "dup").count() + first.iter().filter(|l| l.line == "dup").count(),
        30
    );
}

#[tokio::test(start_paused = true)]
async fn backfill_keeps_the_newest_lines_and_counts_the_rest() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    // 2,000 lines over the last hour (one every 1.75 s).
    let entries: Vec<(i64, String)> =
        (0..2_000i64).map(|i| (BASE - 3_550 * SEC + i * 1_750_000_000, format!("old {i}"))).collect();
    fake.push(&labels, entries.clone());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 500);
    cfg.backfill_max_lines = 500;
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = run.stop().await;
    assert!(status.backfill_done());
    assert!(got.len() <= 500 && got.len() >= 480, "kept {}", got.len());
    // The newest lines, none older than those kept.
    let want: Vec<String> = entries[entries.len() - got.len()..].iter().map(|(_, l)| l.clone()).collect();
    assert_eq!(got.iter().map(|l| l.line.clone()).collect::<Vec<_>>(), want);
    assert_eq!(skipped(&metrics, "backfill_limit"), 2_000 - got.len() as u64);
}

#[tokio::test(start_paused = true)]
async fn downtime_longer_than_max_catch_up_skips_ahead_and_counts_what_it_skipped() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.backfill_secs = 0;
    cfg.max_catch_up_secs = 3600;
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(run.stop().await.is_empty());

    // Ten hours down. Lines every 10 s through the gap (no line within 1 ms of the skip boundary).
    tokio::time::advance(Duration::from_secs(10 * 3600)).await;
    let entries: Vec<(i64, String)> =
        (0..3_600i64).map(|i| (BASE + 20 * SEC + i * 10 * SEC + 123, format!("l {i}"))).collect();
    fake.push(&labels, entries.clone());
    let end = clock_now(&clock) - 5 * SEC;
    let resume = end - 3600 * SEC;
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = run.stop().await;
    let want: Vec<&(i64, String)> = entries.iter().filter(|(t, _)| *t >= resume && *t < end).collect();
    let skipped_lines = entries.iter().filter(|(t, _)| *t < resume).count();
    assert!(skipped_lines > 3_000);
    assert_eq!(got.len(), want.len());
    assert_eq!(got.first().unwrap().line, want[0].1);
    assert_eq!(skipped(&metrics, "catch_up_limit"), skipped_lines as u64);
    assert_eq!(fake.requests_to("/loki/api/v1/query").len(), 1);
}

fn clock_now(clock: &TokioClock) -> i64 {
    use anomaly_detector::source::loki::Clock;
    clock.now_ns()
}

#[tokio::test(start_paused = true)]
async fn a_rejected_query_is_retried_at_the_interval_and_counted() {
    let fake = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.query = r#"{job=~".*"}"#.into(); // Loki: "queries require at least one ... matcher"
    cfg.backfill_secs = 0;
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(5 * 60 + 30)).await;
    assert!(!status.loki_reachable());
    assert!(status.last_error().unwrap().contains("empty-compatible"), "{:?}", status.last_error());
    let polls = fake.requests_to("/loki/api/v1/query_range").len();
    // First poll: no backfill, nothing to ask. Then one attempt per interval, no fast retry loop.
    assert_eq!(polls, 5);
    assert_eq!(counter(&metrics, "http_4xx"), 5);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn tenant_and_credentials_are_sent() {
    let fake = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let secret = dir.path().join("password");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let mut cfg = config(&fake.url(), 100);
    cfg.tenant_id = "team-a".into();
    cfg.username = "reader".into();
    cfg.password_file = Some(secret);
    let (run, _) = start(&cfg, &dir.path().join("state"), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.stop().await;
    let reqs = fake.requests();
    assert!(!reqs.is_empty());
    // "reader:s3cret" in base64.
    assert!(reqs.iter().all(|r| r.headers["x-scope-orgid"] == "team-a"));
    assert!(reqs.iter().all(|r| r.headers["authorization"] == "Basic cmVhZGVyOnMzY3JldA=="));

    let token = dir.path().join("token");
    std::fs::write(&token, "  tok123 \n").unwrap();
    let mut cfg = config(&fake.url(), 100);
    cfg.bearer_token_file = Some(token);
    let (run, _) = start(&cfg, &dir.path().join("state2"), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.stop().await;
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.headers["authorization"], "Bearer tok123");
    assert!(!last.headers.contains_key("x-scope-orgid"));
}

#[tokio::test(start_paused = true)]
async fn an_unusable_cursor_is_rebuilt_with_a_backfill() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    fake.push(&labels, (0..10i64).map(|i| (BASE - 600 * SEC + i * SEC, format!("h {i}"))).collect());
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let cfg = config(&fake.url(), 100);
    for bad in [r#"{"version": 7, "timestamp_ns": "1"}"#, "{ not json"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cursor.json"), bad).unwrap();
        let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(run.stop().await.len(), 10, "backfilled after {bad:?}");
        let saved = std::fs::read_to_string(dir.path().join("cursor.json")).unwrap();
        assert!(saved.contains("\"version\": 1"), "{saved}");
    }
}

#[tokio::test(start_paused = true)]
async fn max_lines_per_poll_defers_the_rest_to_the_next_poll() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    fake.push(&labels, (0..1_000i64).map(|i| (BASE - 900 * SEC + i * SEC / 2, format!("m {i}"))).collect());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.max_lines_per_poll = 300;
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Stops at the first page boundary at or past 300 (pages carry 99 new lines after the first:
    // the 1-ns step back re-reads the boundary entry).
    let first_poll = run.got.lock().unwrap().len();
    assert!((300..400).contains(&first_poll), "{first_poll}");
    assert!(!status.caught_up());
    assert!(metrics.lag_seconds.get() > 500.0);
    tokio::time::sleep(Duration::from_secs(3 * 60)).await;
    let got = run.stop().await;
    assert_eq!(got.len(), 1_000);
    assert_time_ordered(&got);
    assert!(status.caught_up());
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_hanging_request_returns_and_keeps_the_cursor() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    fake.push(&labels, (0..10i64).map(|i| (BASE - 60 * SEC + i, format!("s {i}"))).collect());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.timeout_ms = 600_000;
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(run.got.lock().unwrap().len(), 10);
    fake.fail_next(1, Fault::Hang(Duration::from_secs(3600)));
    tokio::time::sleep(Duration::from_secs(70)).await; // the next poll is now hanging
    let before = std::fs::read_to_string(dir.path().join("cursor.json")).unwrap();
    assert_eq!(run.stop().await.len(), 10);
    assert_eq!(std::fs::read_to_string(dir.path().join("cursor.json")).unwrap(), before);
}

#[tokio::test(start_paused = true)]
async fn more_lines_in_one_nanosecond_than_loki_pages_does_not_stall_the_source() {
    // 5,001 lines at one ns cannot all be paged (Loki's maximum limit is 5,000): the source grows the
    // page to 5,000, gives up on the rest of that instant with a WARN, and reads on.
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    let t = BASE - 30 * SEC;
    let mut entries: Vec<(i64, String)> = (0..5_001).map(|j| (t, format!("same ns {j}"))).collect();
    entries.extend((1..=10i64).map(|i| (t + i, format!("after {i}"))));
    fake.push(&labels, entries);
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let (run, status) = start(&config(&fake.url(), 100), dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = run.stop().await;
    assert_eq!(got.len(), 5_010);
    assert_eq!(got.iter().filter(|l| l.line.starts_with("after")).count(), 10);
    assert!(status.caught_up());
    let limits: Vec<String> =
        fake.requests_to("/loki/api/v1/query_range").iter().filter_map(|r| r.params.get("limit").cloned()).collect();
    assert!(limits.iter().any(|l| l == "5000"), "{limits:?}");
}

#[tokio::test(start_paused = true)]
async fn catch_up_still_skips_ahead_when_the_count_query_fails() {
    let fake = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.backfill_secs = 0;
    cfg.max_catch_up_secs = 600;
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stop().await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let now = clock_now(&clock);
    fake.push(&[("job", "app")], vec![(now - 1800 * SEC, "skipped".into()), (now - 60 * SEC, "kept".into())]);
    fake.fail_next(1, Fault::server_error()); // the count query
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = run.stop().await;
    assert_eq!(got.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), vec!["kept"]);
    assert_eq!(skipped(&metrics, "catch_up_limit"), 0, "nothing counted when the count failed");
    assert_eq!(fake.requests_to("/loki/api/v1/query").len(), 1, "the count is not retried");
}

#[tokio::test(start_paused = true)]
async fn first_start_reports_backfill_progress_until_it_reaches_the_present() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    fake.push(&labels, (0..2_000i64).map(|i| (BASE - 3_000 * SEC + i * SEC, format!("b {i}"))).collect());
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let cfg = config(&fake.url(), 100);

    // Stopped after three pages: part way, not done.
    let dir = tempfile::tempdir().unwrap();
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, Some(3));
    let part = run.stop_when_cancelled().await;
    let b = status.backfill();
    assert!(!b.done);
    assert_eq!(b.lines_expected, Some(2_000));
    assert_eq!(b.lines_read, part.len() as u64);
    assert!(b.lines_read > 0 && b.lines_read < 2_000, "{b:?}");

    // A fresh first start read to the end: every counted line read, done, as `/api/v1/status` shows it.
    let dir = tempfile::tempdir().unwrap();
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = run.stop().await;
    assert_eq!(got.len(), 2_000);
    let json = serde_json::to_value(status.snapshot()).unwrap();
    assert_eq!(json["backfill"], serde_json::json!({"done": true, "lines_read": 2_000, "lines_expected": 2_000}));

    // Live lines after the backfill are not backfill progress.
    let dir = tempfile::tempdir().unwrap();
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = clock_now(&clock);
    fake.push(&labels, vec![(now, "live".into())]);
    tokio::time::sleep(INTERVAL + Duration::from_secs(10)).await;
    assert!(run.stop().await.iter().any(|l| l.line == "live"));
    assert_eq!(status.backfill().lines_read, 2_000);
    assert!(status.lines_read() > 2_000);
}

#[tokio::test(start_paused = true)]
async fn a_backfill_that_cannot_be_counted_reports_lines_read_without_a_total() {
    let fake = FakeLoki::start().await;
    fake.push(&[("job", "app")], (0..50i64).map(|i| (BASE - 600 * SEC + i * SEC, format!("u {i}"))).collect());
    fake.fail_next(1, Fault::Status { status: 400, body: "count rejected".into(), retry_after: None });
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let (run, status) = start(&config(&fake.url(), 100), dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(run.stop().await.len(), 50);
    let b = status.backfill();
    assert_eq!((b.done, b.lines_read, b.lines_expected), (true, 50, None));
}

#[tokio::test(start_paused = true)]
async fn resuming_from_a_saved_cursor_is_no_backfill() {
    let fake = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let cfg = config(&fake.url(), 100);
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.stop().await;
    let (run, status) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = status.backfill();
    assert_eq!((b.done, b.lines_read, b.lines_expected), (true, 0, None));
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn lines_that_arrive_late_are_read_once_within_the_lookback_and_counted_beyond_it() {
    let fake = FakeLoki::start().await;
    let labels = [("job", "app")];
    // Ten minutes of history, one line a second.
    let history: Vec<(i64, String)> =
        (0..600i64).map(|i| (BASE - 600 * SEC + i * SEC, format!("on time {i}"))).collect();
    let mut expected: Vec<Key> = history.iter().map(|(t, l)| (*t, labels_str(&labels), l.clone())).collect();
    fake.push(&labels, history);
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut cfg = config(&fake.url(), 100);
    cfg.lookback_secs = 600;
    let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The first poll read up to BASE - 5 s. Now lines turn up 30 s and 4 minutes behind that (one
    // at the very nanosecond of a line already read, with other text), and one 15 minutes behind,
    // past the 10-minute lookback.
    let read_to = BASE - 5 * SEC;
    let late = vec![
        (read_to - 30 * SEC + 500_000_000, "late by 30 s".to_string()),
        (read_to - 240 * SEC + 7, "late by 4 min".to_string()),
        (BASE - 300 * SEC, "late at the ns of on time 300".to_string()),
    ];
    expected.extend(late.iter().map(|(t, l)| (*t, labels_str(&labels), l.clone())));
    fake.push(&labels, late);
    fake.push(&labels, vec![(read_to - 900 * SEC, "late by 15 min".to_string())]);
    // On-time traffic goes on meanwhile.
    let live: Vec<(i64, String)> = (0..120i64).map(|i| (BASE + i * SEC, format!("live {i}"))).collect();
    expected.extend(live.iter().map(|(t, l)| (*t, labels_str(&labels), l.clone())));
    fake.push(&labels, live);
    tokio::time::sleep(Duration::from_secs(4 * 60)).await;
    let got = run.stop().await;

    assert_eq!(sorted(got.iter().map(key_of).collect()), sorted(expected), "every line within the lookback once");
    assert_eq!(skipped(&metrics, "late"), 1, "the line 15 minutes late is counted, not read");
    assert_eq!(metrics.lines_late.get(), 3);
    // Each poll asks one count query for the lookback; only the minutes that grew were read again
    // (the 4-minute-late line and the one at a read line's nanosecond share a minute).
    let rereads = fake
        .requests_to("/loki/api/v1/query_range")
        .into_iter()
        .filter(|r| {
            r.params.contains_key("direction")
                && r.params["end"].parse::<i64>().unwrap() - r.params["start"].parse::<i64>().unwrap() <= 60 * SEC + 1
                && r.params["end"].parse::<i64>().unwrap() % (60 * SEC) == 0
        })
        .count();
    assert_eq!(rereads, 2, "the two minutes of the three late lines, once each");
}

#[tokio::test(start_paused = true)]
async fn parallel_sub_ranges_deliver_every_line_once_in_time_order() {
    for parallel in [2, 4, 8] {
        let fake = FakeLoki::start().await;
        fake.set_latency(Duration::from_millis(50));
        let expected = build_data(&fake);
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let clock = Arc::new(TokioClock::starting_at(BASE));
        let mut cfg = config(&fake.url(), 100);
        cfg.parallel_queries = parallel;
        // Stopped once in the middle of the backfill, then resumed: the cursor stays exact.
        let (run, _) = start(&cfg, dir.path(), &metrics, &clock, Some(25));
        let first = run.stop_when_cancelled().await;
        let (run, _) = start(&cfg, dir.path(), &metrics, &clock, None);
        tokio::time::sleep(Duration::from_secs(700)).await;
        let second = run.stop().await;
        assert_time_ordered(&first);
        assert_time_ordered(&second);
        let mut all: Vec<Key> = first.iter().map(key_of).collect();
        all.extend(second.iter().map(key_of));
        assert!(sorted(all) == sorted(expected.clone()), "parallel_queries = {parallel}: delivered multiset differs");
        // Sub-ranges were really read at the same time: several pages asked at one instant.
        let mut at_once: BTreeMap<tokio::time::Instant, usize> = BTreeMap::new();
        for r in fake.requests_to("/loki/api/v1/query_range").iter().filter(|r| r.params.contains_key("direction")) {
            *at_once.entry(r.at).or_default() += 1;
        }
        let most = at_once.values().copied().max().unwrap_or(0);
        assert!(most >= 2 && most <= parallel as usize, "parallel_queries = {parallel}: at most {most} pages at once");
    }
}

#[tokio::test(start_paused = true)]
async fn three_replicas_over_forty_streams_read_each_line_exactly_once() {
    let fake = FakeLoki::start().await;
    let mut expected = Vec::new();
    let mut push = |pod: &str, shard: Option<&str>, from: i64, n: i64| {
        let mut labels = vec![("job", "app"), ("pod", pod)];
        if let Some(s) = shard {
            labels.push(("__stream_shard__", s));
        }
        let entries: Vec<(i64, String)> = (0..n).map(|i| (from + i * 700_000_000, format!("{pod} line {i}"))).collect();
        expected.extend(entries.iter().map(|(t, l)| (*t, labels_str(&labels), l.clone())));
        fake.push(&labels, entries);
    };
    for p in 0..40 {
        push(&format!("p{p:02}"), None, BASE - 1_800 * SEC + p * SEC, 50);
    }
    // One hot stream that Loki's automatic stream sharding split into pieces.
    push("hot", None, BASE - 900 * SEC, 20);
    push("hot", Some("0"), BASE - 800 * SEC, 20);
    push("hot", Some("1"), BASE - 800 * SEC + 1, 20);
    let metrics: Vec<Arc<Metrics>> = (0..3).map(|_| Arc::new(Metrics::new())).collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let clock = Arc::new(TokioClock::starting_at(BASE));
    let mut runs = Vec::new();
    for i in 0..3u32 {
        let mut cfg = config(&fake.url(), 100);
        cfg.shard_count = 3;
        cfg.shard_index = Some(i);
        runs.push(start(&cfg, dirs[i as usize].path(), &metrics[i as usize], &clock, None).0);
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    // A stream that appears later is read too, by one replica.
    push("p40", None, BASE + 10 * SEC, 30);
    tokio::time::sleep(Duration::from_secs(150)).await;
    let mut got: Vec<Vec<RawLine>> = Vec::new();
    for run in runs {
        got.push(run.stop().await);
    }
    let all: Vec<Key> = got.iter().flatten().map(key_of).collect();
    assert_eq!(all.len(), expected.len(), "each line read by exactly one replica");
    assert!(sorted(all) == sorted(expected), "the union is what was pushed");
    let pods = |lines: &[RawLine]| -> BTreeSet<String> { lines.iter().map(|l| l.labels["pod"].clone()).collect() };
    for (i, a) in got.iter().enumerate() {
        assert!(!a.is_empty(), "replica {i} read nothing");
        for (j, b) in got.iter().enumerate().skip(i + 1) {
            assert!(pods(a).is_disjoint(&pods(b)), "replicas {i} and {j} share a stream");
        }
    }
    // Each replica asked only for its own streams: the pod matcher is in its queries (the backfill's
    // windows list many streams; a window with one stream needs no narrowing).
    let pages: Vec<_> = fake
        .requests_to("/loki/api/v1/query_range")
        .into_iter()
        .filter(|r| r.params.contains_key("direction") && r.params["start"].parse::<i64>().unwrap() < BASE - 100 * SEC)
        .collect();
    assert!(pages.len() >= 3);
    let unnarrowed: Vec<_> =
        pages.iter().filter(|r| !r.params["query"].starts_with(r#"{job="app", pod=~""#)).map(|r| &r.params).collect();
    assert!(unnarrowed.is_empty(), "{unnarrowed:?}");
    assert!(!fake.requests_to("/loki/api/v1/series").is_empty());
}
