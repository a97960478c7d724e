//! `scan` end to end on labelled logs the test generates (labels kept outside the lines): the
//! detector must find the incidents and stay quiet on healthy lines, in nginx JSON and combined
//! formats, across seeds.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use anomaly_detector::config::Config;
use anomaly_detector::eval;
use anomaly_detector::source::demo::{scenario, IncidentKind, LineFormat, TrafficGenerator};

fn check(r: &eval::ScenarioResult) {
    let summary = eval::markdown(std::slice::from_ref(r));
    assert!(r.precision >= 0.8, "precision {:.3} < 0.8\n{summary}", r.precision);
    assert!(r.recall >= 0.8, "recall {:.3} < 0.8\n{summary}", r.recall);
    assert!(r.clean_flagged_rate <= 0.01, "{:.3} % of clean lines flagged\n{summary}", r.clean_flagged_rate * 100.0);
}

#[test]
fn mixed_incidents_are_found_in_json_logs_across_seeds() {
    for seed in [101, 202] {
        let r = eval::run(&Config::default(), "mixed", scenario("mixed", seed, LineFormat::Json).unwrap()).unwrap();
        check(&r);
    }
}

#[test]
fn mixed_incidents_are_found_in_combined_logs() {
    let r = eval::run(&Config::default(), "mixed", scenario("mixed", 303, LineFormat::Combined).unwrap()).unwrap();
    check(&r);
}

#[test]
fn a_clean_day_is_almost_silent() {
    let mut traffic = scenario("clean_day", 404, LineFormat::Json).unwrap();
    traffic.requests_per_sec = 5.0;
    let r = eval::run(&Config::default(), "clean_day", traffic).unwrap();
    assert_eq!(r.labelled_lines, 0);
    assert!(r.clean_flagged_rate <= 0.001, "{}", eval::markdown(std::slice::from_ref(&r)));
}

/// The binary, fed a file, writes JSON lines that carry what DESIGN.md promises, and those lines
/// point at the injected incidents.
#[test]
fn scan_binary_jsonl_points_at_the_incidents() {
    let traffic = scenario("mixed", 505, LineFormat::Combined).unwrap();
    let mut gen = TrafficGenerator::new(traffic).unwrap();
    let mut labels: Vec<Option<IncidentKind>> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for g in gen.by_ref() {
            labels.push(g.label.map(|l| l.0));
            writeln!(f, "{}", g.line).unwrap();
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
        .args(["scan", "--output", "jsonl"])
        .arg(&path)
        .env_remove("RUST_LOG")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (mut flagged, mut tp) = (0u64, 0u64);
    let mut kinds: HashMap<String, u64> = HashMap::new();
    let mut volume = 0;
    for l in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        for key in ["timestamp", "kind", "detectors", "score", "severity", "endpoint", "reason"] {
            assert!(v.get(key).is_some(), "missing {key}: {l}");
        }
        let score = v["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{l}");
        assert!(
            jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", v["timestamp"].as_str().unwrap()).is_ok()
                || v["timestamp"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok(),
            "{l}"
        );
        *kinds.entry(v["kind"].as_str().unwrap().to_string()).or_default() += 1;
        match v.get("line").and_then(|n| n.as_u64()) {
            Some(n) => {
                flagged += 1;
                assert_eq!(
                    v["raw"].as_str().unwrap(),
                    std::fs::read_to_string(&path).unwrap().lines().nth(n as usize - 1).unwrap()
                );
                if labels[n as usize - 1].is_some() {
                    tp += 1;
                }
            }
            None => {
                assert_eq!(v["kind"], "volume", "only window-level anomalies lack a line: {l}");
                volume += 1;
            }
        }
    }
    let labelled = labels.iter().filter(|l| l.is_some()).count() as u64;
    let clean = labels.len() as u64 - labelled;
    let precision = tp as f64 / flagged.max(1) as f64;
    let recall = tp as f64 / labelled as f64;
    assert!(precision >= 0.8 && recall >= 0.8, "precision {precision:.3} recall {recall:.3} kinds {kinds:?}");
    assert!((flagged - tp) as f64 <= 0.01 * clean as f64, "{} clean lines flagged of {clean}", flagged - tp);
    for kind in ["response_time", "status_code", "suspicious", "behavioral"] {
        assert!(kinds.contains_key(kind), "no {kind} anomaly reported: {kinds:?}");
    }
    assert!(volume >= 1, "the traffic drops were not reported: {kinds:?}");
}
