//! The live demo source: clean history first (so the detector trains at once), then real-time
//! traffic with a repeating incident cycle.

use jiff::Timestamp;
use tokio::sync::mpsc::Sender;
use tokio::time::{Duration, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::format::LineFormat;
use super::scenarios::{demo_schedule, DEMO_CYCLE_SECS};
use super::traffic::{Generated, TrafficConfig, TrafficGenerator};
use crate::config::SourceConfig;
use crate::source::{RawLine, SourceError};

/// Lines per batch while sending history.
const HISTORY_BATCH: usize = 1000;
/// How often live lines are sent.
const LIVE_TICK: Duration = Duration::from_millis(250);

/// The `demo` source: generated API access logs with scheduled incidents.
#[derive(Debug, Clone)]
pub struct DemoSource {
    requests_per_sec: f64,
    history_secs: u64,
    seed: u64,
    format: LineFormat,
}

impl DemoSource {
    /// From `[source]`: `demo_requests_per_sec`, `demo_history_secs`, `demo_seed` (0 picks a random
    /// seed, see [`DemoSource::seed`]). Lines are JSON, like the demo app writes.
    pub fn new(config: &SourceConfig) -> Self {
        let seed = match config.demo_seed {
            0 => rand::random::<u64>().max(1),
            seed => seed,
        };
        DemoSource {
            requests_per_sec: config.demo_requests_per_sec,
            history_secs: config.demo_history_secs,
            seed,
            format: LineFormat::Json,
        }
    }

    /// Writes lines in `format` instead of JSON.
    pub fn with_format(mut self, format: LineFormat) -> Self {
        self.format = format;
        self
    }

    /// The seed in use (set `source.demo_seed` to it to replay the same traffic).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sends `history_secs` of clean history ending now, as fast as `tx` takes it, then live lines
    /// every 250 ms in real (tokio) time until `shutdown`. Incidents repeat every
    /// [`DEMO_CYCLE_SECS`], each kind starting within 90 s of the live start; each start is logged
    /// at INFO. Returns `Ok` on shutdown and [`SourceError::Closed`] if the receiver goes away.
    pub async fn run(self, tx: Sender<Vec<RawLine>>, shutdown: CancellationToken) -> Result<(), SourceError> {
        let history = self.history_secs as f64;
        let now_ms = Timestamp::now().as_millisecond();
        let mut config = TrafficConfig::new(self.seed, self.requests_per_sec);
        config.format = self.format;
        // The demo app's own log: one message a second among the requests.
        config.app_lines_per_sec = 1.0;
        config.start =
            Timestamp::from_millisecond(now_ms - self.history_secs as i64 * 1000).unwrap_or(Timestamp::now());
        config.incidents = demo_schedule(0, history);
        let mut generator = TrafficGenerator::new(config)?;
        tracing::info!(
            seed = self.seed,
            requests_per_sec = self.requests_per_sec,
            history_secs = self.history_secs,
            "Demo traffic starts: history first, then live lines with an incident cycle every {DEMO_CYCLE_SECS} s"
        );

        let mut line_no = 0u64;
        let mut carry: Option<Generated> = None;
        let mut batch = Vec::with_capacity(HISTORY_BATCH);
        loop {
            let reached_now = fill(&mut generator, &mut carry, &mut batch, &mut line_no, now_ms, HISTORY_BATCH);
            if !batch.is_empty() && !send(&tx, &shutdown, std::mem::take(&mut batch)).await? {
                return Ok(());
            }
            if reached_now {
                break;
            }
        }
        tracing::info!(lines = line_no, "Demo history sent; live traffic follows");

        let live_start = Instant::now();
        let mut ticker = tokio::time::interval(LIVE_TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_cycle = 1u32;
        let mut announced = 0usize;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = ticker.tick() => {}
            }
            let elapsed = live_start.elapsed().as_secs_f64();
            let horizon_ms = now_ms + (elapsed * 1000.0) as i64;
            // Keep the schedule one cycle ahead.
            while f64::from(next_cycle - 1) * DEMO_CYCLE_SECS <= elapsed {
                for incident in demo_schedule(next_cycle, history + f64::from(next_cycle) * DEMO_CYCLE_SECS) {
                    generator.add_incident(&incident)?;
                }
                next_cycle += 1;
            }
            while let Some(truth) = generator.incidents().get(announced) {
                if truth.start.as_millisecond() > horizon_ms {
                    break;
                }
                let duration_secs = truth.end.duration_since(truth.start).as_secs_f64();
                tracing::info!(
                    kind = truth.kind.as_str(),
                    endpoint = truth.endpoint.as_deref().unwrap_or("-"),
                    client = truth.client.as_deref().unwrap_or("-"),
                    duration_secs,
                    "Demo: starting {}",
                    truth.describe()
                );
                announced += 1;
            }
            let mut batch = Vec::new();
            fill(&mut generator, &mut carry, &mut batch, &mut line_no, horizon_ms, usize::MAX);
            if !batch.is_empty() && !send(&tx, &shutdown, batch).await? {
                return Ok(());
            }
        }
    }
}

/// Moves generated lines up to `until_ms` into `batch`, at most `max` of them. Returns true when
/// the next line lies beyond `until_ms` (it is kept in `carry`).
fn fill(
    generator: &mut TrafficGenerator,
    carry: &mut Option<Generated>,
    batch: &mut Vec<RawLine>,
    line_no: &mut u64,
    until_ms: i64,
    max: usize,
) -> bool {
    while batch.len() < max {
        let Some(generated) = carry.take().or_else(|| generator.next()) else {
            return true;
        };
        if generated.time.as_millisecond() > until_ms {
            *carry = Some(generated);
            return true;
        }
        *line_no += 1;
        batch.push(RawLine::new(generated.time, generated.line, *line_no));
    }
    false
}

/// Sends one batch; `Ok(false)` on shutdown, `Closed` if the receiver is gone.
async fn send(
    tx: &Sender<Vec<RawLine>>,
    shutdown: &CancellationToken,
    batch: Vec<RawLine>,
) -> Result<bool, SourceError> {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => Ok(false),
        sent = tx.send(batch) => sent.map(|_| true).map_err(|_| SourceError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tokio::sync::mpsc;

    use super::*;

    fn config(history_secs: u64) -> SourceConfig {
        SourceConfig {
            kind: crate::config::SourceKind::Demo,
            demo_requests_per_sec: 20.0,
            demo_history_secs: history_secs,
            demo_seed: 42,
            ..SourceConfig::default()
        }
    }

    fn json(line: &RawLine) -> serde_json::Value {
        serde_json::from_str(&line.line).expect("demo lines are JSON")
    }

    #[tokio::test(start_paused = true)]
    async fn history_first_then_paced_live_lines_until_cancelled() {
        let (tx, mut rx) = mpsc::channel(4);
        let shutdown = CancellationToken::new();
        let started = Instant::now();
        let real_start = Timestamp::now();
        let task = tokio::spawn(DemoSource::new(&config(120)).run(tx, shutdown.clone()));

        let mut history = Vec::new();
        let mut live = Vec::new();
        let mut last_no = 0;
        let mut last_time = Timestamp::MIN;
        while let Some(batch) = rx.recv().await {
            assert!(!batch.is_empty() && batch.len() <= HISTORY_BATCH);
            let received_at = started.elapsed();
            for line in batch {
                assert_eq!(line.line_no, last_no + 1, "line numbers count up");
                assert!(line.timestamp >= last_time, "timestamps never go back");
                (last_no, last_time) = (line.line_no, line.timestamp);
                let ahead = line.timestamp.duration_since(real_start).as_secs_f64() - received_at.as_secs_f64();
                assert!(ahead < 1.0, "a line is never sent before its time ({ahead} s early)");
                if line.timestamp <= real_start {
                    assert!(live.is_empty(), "history comes first");
                    history.push(line);
                } else {
                    live.push(line);
                }
            }
            if last_time.duration_since(real_start).as_secs_f64() > 100.0 {
                break;
            }
        }
        // About 120 s of history at 20/s, sent at once, before any virtual time passed.
        assert!((2000..3000).contains(&history.len()), "{} history lines", history.len());
        let first = history[0].timestamp.duration_since(real_start).as_secs_f64();
        assert!((-121.0..-115.0).contains(&first), "history starts {first} s ago");
        // Requests are JSON; the demo app's own log (one line a second) is text and logfmt.
        let requests = |lines: &[RawLine]| -> Vec<serde_json::Value> {
            lines.iter().filter(|l| l.line.starts_with('{')).map(json).collect()
        };
        let app_lines = history.iter().filter(|l| !l.line.starts_with('{')).count();
        assert!((90..150).contains(&app_lines), "{app_lines} application-log lines in 120 s");
        let history_ips: HashSet<String> =
            requests(&history).iter().map(|v| v["remote_addr"].as_str().unwrap().to_string()).collect();
        let history_errors = requests(&history).iter().filter(|v| v["status"].as_u64().unwrap() >= 500).count();
        assert!(history_errors <= 5, "history is clean: {history_errors} server errors");

        // Within the first 100 s of live traffic: a scanner (new client probing dotfiles), an error
        // burst and a never-seen failing endpoint.
        let values = requests(&live);
        let scanner = values.iter().any(|v| {
            let ip = v["remote_addr"].as_str().unwrap();
            let path = v["path"].as_str().unwrap();
            !history_ips.contains(ip) && (path == "/.env" || path.starts_with("/.git") || path.contains("wp-login"))
        });
        assert!(scanner, "a scanner probes in the first 100 s");
        let errors = values.iter().filter(|v| v["status"].as_u64().unwrap() >= 500).count();
        assert!(errors >= 10, "{errors} server errors live");
        assert!(values.iter().any(|v| v["path"] == "/api/v2/checkout"), "the new failing endpoint appears");

        shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops").expect("no panic");
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_receiver_ends_the_source() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let result = DemoSource::new(&config(10)).run(tx, CancellationToken::new()).await;
        assert!(matches!(result, Err(SourceError::Closed)), "{result:?}");
    }

    #[test]
    fn seed_zero_picks_a_random_nonzero_seed() {
        let a = DemoSource::new(&SourceConfig { demo_seed: 0, ..config(0) });
        assert_ne!(a.seed(), 0);
        assert_eq!(DemoSource::new(&config(0)).seed(), 42);
    }
}
