//! A few milliseconds on an endpoint that answers in one is not a latency anomaly: seen in `demo`,
//! where a 6.3 ms `GET /healthz` (p99 4.8 ms) was reported. A response must be at least
//! `RT_MIN_EXCESS_MS` past the endpoint's p99; a real stall on the same endpoint still is reported.

use std::sync::Arc;

use anomaly_detector::app::pipeline::{Mode, Pipeline};
use anomaly_detector::config::Config;
use anomaly_detector::detect::{Anomaly, AnomalyKind};
use anomaly_detector::metrics::Metrics;
use anomaly_detector::source::RawLine;
use jiff::{SignedDuration, Timestamp};

/// Every other line a health check of about 1 ms, the rest API calls of about 40 ms.
fn lines(start: &mut Timestamp, from: u64, n: u64, health_ms: Option<f64>) -> Vec<RawLine> {
    (from..from + n)
        .map(|i| {
            *start += SignedDuration::from_millis(100);
            let jitter = 0.85 + 0.3 * ((i * 7919) % 101) as f64 / 100.0;
            let (path, ms) = if i % 2 == 0 { ("/healthz", health_ms.unwrap_or(1.0)) } else { ("/api/orders", 40.0) };
            let line = format!(
                r#"{{"timestamp":"{start}","method":"GET","path":"{path}","status":200,"response_time_ms":{:.2},"bytes":{},"client_ip":"10.0.0.{}"}}"#,
                ms * if health_ms.is_some() && i % 2 == 0 { 1.0 } else { jitter },
                200 + i % 50,
                i % 20
            );
            RawLine::new(Timestamp::now(), line, i)
        })
        .collect()
}

fn slow_health(found: &[Anomaly]) -> usize {
    found.iter().filter(|a| a.endpoint == "GET /healthz" && a.kind == AnomalyKind::ResponseTime).count()
}

#[test]
fn a_few_milliseconds_on_a_fast_endpoint_are_not_reported_but_a_stall_is() {
    let mut cfg = Config::default();
    cfg.detection.min_training_events = 1000;
    cfg.detection.training_events = 3000;
    let mut p = Pipeline::new(&cfg, Mode::Live, Arc::new(Metrics::new()), Vec::new(), "test");
    let mut t: Timestamp = "2026-11-24T08:00:00Z".parse().unwrap();
    let warm = p.process(lines(&mut t, 0, 3000, None));
    assert_eq!(slow_health(&warm), 0);
    let mut found = Vec::new();
    let mut i = 3000;
    for _ in 0..5 {
        found.extend(p.process(lines(&mut t, i, 2, Some(6.5))));
        found.extend(p.process(lines(&mut t, i + 2, 200, None)));
        i += 202;
    }
    assert_eq!(slow_health(&found), 0, "{found:#?}");
    let stall = p.process(lines(&mut t, i, 2, Some(250.0)));
    assert_eq!(slow_health(&stall), 1, "{stall:#?}");
}
