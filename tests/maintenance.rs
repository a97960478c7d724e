//! Maintenance windows as a user meets them: `scan` of a log with incidents, with and without
//! `[[suppress.maintenance]]` windows over some of them. Inside a window nothing is reported (by
//! the lines' own timestamps); outside, the same anomalies as without windows.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anomaly_detector::app::pipeline::{Mode, Pipeline};
use anomaly_detector::config::Config;
use anomaly_detector::metrics::Metrics;
use anomaly_detector::source::demo::{scenario, LineFormat, TrafficGenerator};
use anomaly_detector::source::RawLine;
use jiff::Timestamp;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// `scan --output jsonl` of `log` with the config `toml`; the flagged lines and windows.
fn scan(log: &std::path::Path, toml: &str) -> Vec<serde_json::Value> {
    let conf = log.with_extension(format!("{}.toml", toml.len()));
    std::fs::write(&conf, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
        .args(["scan", "--no-progress", "--output", "jsonl", "--config"])
        .arg(&conf)
        .arg(log)
        .env_remove("RUST_LOG")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn at(a: &serde_json::Value) -> Timestamp {
    ts(a["timestamp"].as_str().unwrap())
}

fn count(found: &[serde_json::Value], endpoint: Option<&str>, from: &str, to: &str) -> usize {
    let (from, to) = (ts(from), ts(to));
    found.iter().filter(|a| endpoint.is_none_or(|e| a["endpoint"] == e)).filter(|a| from < at(a) && at(a) < to).count()
}

/// An anomaly's identity across runs: its line (or, for a window, its end and endpoint).
fn identity(a: &serde_json::Value) -> String {
    format!("{} {} {} {}", a["line"], a["timestamp"], a["endpoint"], a["kind"])
}

#[test]
fn scan_reports_nothing_inside_maintenance_windows_and_the_same_outside() {
    // `mixed` from 2026-11-24T08:00:00Z (a Tuesday); incidents from 08:30: a latency spike on
    // GET /api/products 08:32-08:33, an error burst on GET /api/users 08:35-08:36, a traffic drop on
    // GET /api/products/{id} 08:43-08:46, a latency spike on GET /api/search 08:47-08:48, ...
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        for g in TrafficGenerator::new(scenario("mixed", 31, LineFormat::Combined).unwrap()).unwrap() {
            writeln!(f, "{}", g.line).unwrap();
        }
    }
    let seeded = "[models.isolation_forest]\nseed = 3\n";
    let plain = scan(&log, seeded);
    let windows = format!(
        r#"{seeded}
[[suppress.maintenance]]
name = "products deploy"
start = "2026-11-24T08:31:00Z"
end = "2026-11-24T08:34:00Z"
endpoints = ["^GET /api/products$"]

[[suppress.maintenance]]
name = "tuesday job"
days = ["tue"]
from = "09:42"
to = "09:49"
timezone = "Europe/Berlin"
"#
    );
    let held = scan(&log, &windows);

    // Without windows, the incidents under them are reported...
    assert!(count(&plain, Some("GET /api/products"), "2026-11-24T08:32:00Z", "2026-11-24T08:33:01Z") >= 5);
    assert!(count(&plain, Some("GET /api/products/{id}"), "2026-11-24T08:43:00Z", "2026-11-24T08:46:01Z") >= 1);
    assert!(count(&plain, Some("GET /api/search"), "2026-11-24T08:47:00Z", "2026-11-24T08:48:01Z") >= 5);
    // ...with them, not: the one-off window only for its endpoint, the weekly one (local time in
    // Berlin, UTC+1 in November) for every endpoint, the volume drop included.
    assert_eq!(count(&held, Some("GET /api/products"), "2026-11-24T08:31:00Z", "2026-11-24T08:34:00Z"), 0);
    assert_eq!(count(&held, None, "2026-11-24T08:42:00Z", "2026-11-24T08:49:00Z"), 0, "in the weekly window");
    assert!(count(&held, Some("GET /api/users"), "2026-11-24T08:35:00Z", "2026-11-24T08:36:01Z") >= 5);

    // Outside the windows, exactly what was reported without them.
    let outside = |found: &[serde_json::Value]| -> BTreeSet<String> {
        let hidden = |a: &serde_json::Value| {
            let t = at(a);
            let deploy = a["endpoint"] == "GET /api/products"
                && ts("2026-11-24T08:31:00Z") <= t
                && t < ts("2026-11-24T08:34:00Z");
            deploy || (ts("2026-11-24T08:42:00Z") <= t && t <= ts("2026-11-24T08:49:00Z"))
        };
        found.iter().filter(|a| !hidden(a)).map(identity).collect()
    };
    assert_eq!(outside(&held), outside(&plain));
}

#[test]
fn events_inside_a_window_are_counted_but_not_learned() {
    let mut cfg = Config::default();
    cfg.suppress.maintenance = vec![anomaly_detector::config::MaintenanceConfig {
        start: Some("2026-11-24T00:05:00Z".into()),
        end: Some("2026-11-24T00:10:00Z".into()),
        ..Default::default()
    }];
    cfg.detection.training_events = 50_000; // the window keeps every learned event
    cfg.validate().unwrap();
    let metrics = Arc::new(Metrics::new());
    let mut p = Pipeline::new(&cfg, Mode::LearnOnly, metrics.clone(), Vec::new(), "test");
    let mut traffic = scenario("latency_spike", 5, LineFormat::Json).unwrap();
    traffic.start = ts("2026-11-24T00:00:00Z");
    traffic.duration_secs = Some(900.0);
    let (mut inside, mut all) = (0u64, 0u64);
    let lines: Vec<RawLine> = TrafficGenerator::new(traffic)
        .unwrap()
        .map(|g| {
            all += 1;
            if ts("2026-11-24T00:05:00Z") <= g.time && g.time < ts("2026-11-24T00:10:00Z") {
                inside += 1;
            }
            RawLine::new(g.time, g.line, all)
        })
        .collect();
    p.process(lines);
    assert!(inside > 1000, "{inside}");
    assert_eq!(p.detector().window_len() as u64, all - inside);
    let exposition = metrics.encode();
    let counted = format!("anomaly_detector_suppressed_total{{reason=\"maintenance\"}} {inside}");
    assert!(exposition.contains(&counted), "{counted} not in\n{exposition}");
    assert!(exposition.contains(&format!("anomaly_detector_lines_read_total{{source=\"test\"}} {all}")));
}
