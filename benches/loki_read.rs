//! Reading a backlog from Loki: lines per second of the Loki source at `loki.parallel_queries` 1, 2,
//! 4 and 8, beside a bare forward pager (one `query_range` after another, decoded, nothing else), against
//! the fake Loki of the tests answering each page after a fixed latency (a Loki reading chunks).
//!
//!   cargo bench --bench loki_read                 # 300,000 lines, 25 ms per page
//!   LINES=500000 LATENCY_MS=40 cargo bench --bench loki_read
//!
//! Wall time is what this measures: reading a backlog waits on Loki, and parallel queries exist to
//! overlap those waits. CPU seconds of the process are printed beside it.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anomaly_detector::config::LokiConfig;
use anomaly_detector::metrics::Metrics;
use anomaly_detector::source::loki::page::decode_streams;
use anomaly_detector::source::loki::{LokiSource, SourceStatus};
use anomaly_detector::source::RawLine;
use support::fake_loki::FakeLoki;
use tokio_util::sync::CancellationToken;

const SEC: i64 = 1_000_000_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn config(url: &str, parallel: u32) -> LokiConfig {
    LokiConfig {
        url: url.into(),
        query: r#"{job="bench"}"#.into(),
        query_delay_secs: 0,
        max_lines_per_poll: 10_000_000,
        backfill_secs: 3600,
        backfill_max_lines: 10_000_000,
        lookback_secs: 0,
        parallel_queries: parallel,
        ..LokiConfig::default()
    }
}

/// Lines/s of the source reading the whole backlog once.
async fn source_rate(fake: &FakeLoki, lines: u64, parallel: u32) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let status = Arc::new(SourceStatus::new());
    let src = LokiSource::new(
        &config(&fake.url(), parallel),
        Duration::from_secs(3600),
        dir.path(),
        Arc::new(Metrics::new()),
        status,
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RawLine>>(4);
    let stop = CancellationToken::new();
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let task = tokio::spawn(src.run(tx, stop.clone()));
    let mut got = 0u64;
    while got < lines {
        got += rx.recv().await.expect("source ended early").len() as u64;
    }
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    stop.cancel();
    drop(rx);
    let _ = task.await;
    assert_eq!(got, lines, "every line once");
    (lines as f64 / wall, cpu)
}

/// Lines/s of a bare forward pager over the same backlog.
async fn bare_rate(fake: &FakeLoki, lines: u64, from: i64, to: i64) -> (f64, f64) {
    let client = reqwest::Client::new();
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let (mut start, mut got) = (from, 0u64);
    loop {
        let body = client
            .get(format!("{}/loki/api/v1/query_range", fake.url()))
            .query(&[
                ("query", r#"{job="bench"}"#.to_string()),
                ("start", start.to_string()),
                ("end", to.to_string()),
                ("limit", "5000".into()),
                ("direction", "forward".into()),
            ])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let page = decode_streams(&body).unwrap();
        let n = page.len();
        got += n as u64;
        if n < 5000 {
            break;
        }
        // Timestamps are distinct in this data set, so the next page starts after the last one.
        start = page.entries.last().unwrap().ts + 1;
    }
    assert_eq!(got, lines);
    (lines as f64 / started.elapsed().as_secs_f64(), cpu_seconds() - cpu0)
}

fn main() {
    let lines = env_or("LINES", 300_000);
    let latency = Duration::from_millis(env_or("LATENCY_MS", 25));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let fake = FakeLoki::start().await;
        fake.set_latency(latency);
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let (from, to) = (now - 3000 * SEC, now - 60 * SEC);
        let step = (to - from) / lines as i64;
        for s in 0..4u64 {
            let pod = format!("pod-{s}");
            let entries: Vec<(i64, String)> = (s..lines)
                .step_by(4)
                .map(|i| {
                    let line = format!(
                        r#"{{"method":"GET","path":"/api/items/{}","status":200,"response_time_ms":{},"bytes":{}}}"#,
                        i % 977,
                        i % 83,
                        1000 + i % 5000
                    );
                    (from + i as i64 * step, line)
                })
                .collect();
            fake.push(&[("job", "bench"), ("pod", &pod)], entries);
        }
        println!("{lines} lines, {} ms per page", latency.as_millis());
        let (bare, bare_cpu) = bare_rate(&fake, lines, from, to + 1).await;
        println!("bare pager            {:>9.0} lines/s   ({bare_cpu:.2} CPU-s)", bare);
        for parallel in [1u32, 2, 4, 8] {
            let (rate, cpu) = source_rate(&fake, lines, parallel).await;
            println!(
                "parallel_queries = {parallel}  {:>9.0} lines/s   ({cpu:.2} CPU-s)  {:.2}x the bare pager",
                rate,
                rate / bare
            );
        }
    });
}
