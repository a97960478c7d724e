//! `anomaly-detector demo` as a user runs it: within about two minutes every injected kind shows up
//! in `/api/v1/anomalies` and is counted in `/metrics`; `/healthz`, `/readyz` and `/api/v1/status`
//! answer; SIGTERM stops it cleanly.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::{free_port, Killed as Daemon};

fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new().get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
        let code = resp.status().as_u16();
        Some((code, resp.text().await.ok()?))
    })
}

/// Value of `anomaly_detector_anomalies_total` summed over series with `kind="..."`.
fn anomalies_of_kind(metrics: &str, kind: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("anomaly_detector_anomalies_total{") && l.contains(&format!("kind=\"{kind}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn demo_shows_every_injected_kind_within_two_minutes() {
    let port = free_port();
    let state = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("ANOMALY_DETECTOR__STATE__DIR", state.path())
        .env("ANOMALY_DETECTOR__SOURCE__DEMO_SEED", "7")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Daemon(child);
    let base = format!("http://127.0.0.1:{port}");

    let start = Instant::now();
    let wanted = ["behavioral", "response_time", "status_code", "suspicious", "volume", "pattern"];
    let mut seen = BTreeSet::new();
    let mut ready = false;
    while start.elapsed() < Duration::from_secs(170) {
        std::thread::sleep(Duration::from_secs(2));
        if let Some((200, _)) = get(&format!("{base}/readyz")) {
            ready = true;
        }
        if let Some((200, body)) = get(&format!("{base}/api/v1/anomalies?limit=10000")) {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            for a in v["anomalies"].as_array().unwrap() {
                seen.insert(a["kind"].as_str().unwrap().to_string());
                assert!(a["reason"].as_str().is_some_and(|r| !r.is_empty()), "{a}");
            }
        }
        if wanted.iter().all(|k| seen.contains(*k)) {
            break;
        }
    }
    assert!(ready, "/readyz never answered 200");
    let missing: Vec<_> = wanted.iter().filter(|k| !seen.contains(**k)).collect();
    assert!(missing.is_empty(), "kinds never reported: {missing:?} (seen {seen:?})");

    let (code, metrics) = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(code, 200);
    for k in wanted {
        assert!(anomalies_of_kind(&metrics, k) >= 1.0, "/metrics does not count {k}");
    }
    assert!(metrics.contains("anomaly_detector_model_trained{model=\"isolation_forest\"} 1"), "model not trained");
    let (code, status) = get(&format!("{base}/api/v1/status")).unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["training"]["trained"], true, "{status}");
    // Per format, the fields its lines carried: the demo writes JSON with every request field.
    let json = &status["formats"]["json"];
    let lines = json["fields"]["lines"].as_u64().unwrap_or(0);
    assert!(lines > 0 && json["fields"]["latency"] == lines && json["fields"]["status"] == lines, "{status}");
    assert_eq!(json["missing"], serde_json::json!([]), "{status}");
    let (code, incidents) = get(&format!("{base}/api/v1/incidents")).unwrap();
    assert_eq!(code, 200);
    let incidents: serde_json::Value = serde_json::from_str(&incidents).unwrap();
    assert!(incidents["count"].as_u64().unwrap() >= 5, "{incidents}");
    assert_eq!(get(&format!("{base}/healthz")).unwrap().0, 200);
    // The demo app's own log: its templates, with counts, levels and examples.
    let (code, patterns) = get(&format!("{base}/api/v1/patterns?limit=5")).unwrap();
    assert_eq!(code, 200, "{patterns}");
    let patterns: serde_json::Value = serde_json::from_str(&patterns).unwrap();
    assert!(patterns["services"][0]["templates"].as_u64().unwrap() >= 5, "{patterns}");
    let top = patterns["top"].as_array().unwrap();
    assert_eq!(top.len(), 5, "{patterns}");
    assert!(top.iter().all(|p| p["count"].as_u64().unwrap() > 0 && !p["examples"].as_array().unwrap().is_empty()));
    assert!(metrics.contains("anomaly_detector_patterns{service=\"logs\"}"), "no template gauge");

    // Graceful shutdown on SIGTERM.
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}
