//! Nothing lost in a crash (issue 12, item 2): the daemon reading a backlog from the fake Loki is
//! SIGKILLed at random moments and restarted on the same state; every line is processed at least
//! once, and only lines in flight at a kill are processed twice. Before acknowledged delivery the
//! cursor was saved when a batch was queued, so each kill lost up to 4 batches.
//!
//! Which lines were processed is read from the daemon's own log: every line is a probe the rules
//! flag, and `outputs.console.each_anomaly` logs each flagged line as it is processed. The probes
//! come from 200 clients, one incident each: a line processed again after a kill must update its
//! incident, never open a second one (the incidents journal is written before a batch is
//! acknowledged).

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::daemon::{bin, free_port, lines_processed};
use support::fake_loki::FakeLoki;

const LINES: usize = 6_000;
const PAGE: usize = 100;

fn start(fake: &FakeLoki, state: &Path, log: &Path) -> (Child, u16) {
    let port = free_port();
    let child = bin()
        .args(["--log-format", "json", "run"])
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "loki")
        .env("ANOMALY_DETECTOR__LOKI__URL", fake.url())
        .env("ANOMALY_DETECTOR__LOKI__QUERY", r#"{job="app"}"#)
        .env("ANOMALY_DETECTOR__LOKI__PAGE_LIMIT", PAGE.to_string())
        .env("ANOMALY_DETECTOR__LOKI__QUERY_DELAY_SECS", "0")
        .env("ANOMALY_DETECTOR__DETECTION__INTERVAL_SECS", "1")
        .env("ANOMALY_DETECTOR__OUTPUTS__CONSOLE__EACH_ANOMALY", "true")
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ANOMALY_DETECTOR__STATE__DIR", state)
        .env("LOG_LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap();
    (child, port)
}

/// How many times each line number was processed, from the logs of every run.
fn processed(log: &Path) -> HashMap<usize, usize> {
    let mut seen = HashMap::new();
    for l in std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("Anomaly: ")) {
        if let Some(n) = l.split("probe-").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()) {
            *seen.entry(n.parse::<usize>().unwrap()).or_insert(0) += 1;
        }
    }
    seen
}

/// How many times an incident was opened for each client, from the logs of every run.
fn incidents_opened(log: &Path) -> HashMap<String, usize> {
    let mut opened = HashMap::new();
    for l in std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("Incident opened")) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let fields = if v.get("fields").is_some() { &v["fields"] } else { &v };
        let client = fields["client"].as_str().unwrap_or_default().to_string();
        *opened.entry(client).or_insert(0) += 1;
    }
    opened
}

/// A small seeded generator: kill moments differ between kills but not between runs of the test.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn sigkill_at_random_moments_loses_no_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeLoki::start());
    let now_ns = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap();
    let start_ns = now_ns - 600 * 1_000_000_000;
    let entries: Vec<(i64, String)> = (0..LINES)
        .map(|i| {
            let line = format!(
                r#"{{"method":"GET","path":"/.env","query":"probe-{i}","status":404,"remote_addr":"203.0.113.{}","response_time_ms":3}}"#,
                i % 200
            );
            // Groups of three lines share a nanosecond, so kills also land inside such groups.
            (start_ns + (i / 3) as i64 * 50_000_000, line)
        })
        .collect();
    fake.push(&[("job", "app")], entries);
    fake.flush();

    let dir = tempfile::tempdir().unwrap();
    let (state, log) = (dir.path().join("state"), dir.path().join("daemon.log"));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let kills = 6;
    for _ in 0..kills {
        let (mut child, port) = start(&fake, &state, &log);
        // Let it get going (answering, some lines read), then kill it at a random moment.
        let t0 = Instant::now();
        while lines_processed(port).is_none() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 400));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (mut child, _) = start(&fake, &state, &log);
    let t0 = Instant::now();
    while processed(&log).len() < LINES && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) };
    child.wait().unwrap();

    let seen = processed(&log);
    let missing: Vec<usize> = (0..LINES).filter(|i| !seen.contains_key(i)).collect();
    assert!(missing.is_empty(), "{} lines lost, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    let opened = incidents_opened(&log);
    let again: Vec<_> = opened.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(opened.len(), 200, "one incident per probing client");
    assert!(again.is_empty(), "incidents opened more than once across kills: {again:?}");
    let twice: usize = seen.values().map(|c| c - 1).sum();
    // In flight at a kill: the channel's batches, the one being processed and the one being sent.
    let bound = kills * 6 * PAGE;
    assert!(twice <= bound, "{twice} lines processed again, more than {bound} could have been in flight");
    eprintln!("{kills} kills: {twice} lines processed twice (bound {bound})");
    drop(fake);
}
