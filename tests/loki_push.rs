//! The Loki push sink against an in-process receiver that answers with the push responses recorded from a
//! real Loki 3.4.6 (`tests/fixtures/loki/`, copied from our recordings, status codes from `manifest.json`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anomaly_detector::config::{LokiPushConfig, RedactionConfig, Severity};
use anomaly_detector::detect::{Anomaly, AnomalyKind, Incident};
use anomaly_detector::metrics::ChannelOutcomeLabels;
use anomaly_detector::metrics::Metrics;
use anomaly_detector::redact::Redactor;
use anomaly_detector::sink::{Finding, FindingSink, LokiPushSink};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loki/");

/// A recorded Loki answer: status from the manifest, body from the file.
fn recorded(file: &str) -> (u16, String) {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}manifest.json")).unwrap()).unwrap();
    let status = manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .and_then(|e| e["response"]["status"].as_u64())
        .unwrap_or_else(|| panic!("{file} is not in manifest.json")) as u16;
    (status, std::fs::read_to_string(format!("{FIXTURES}{file}")).unwrap())
}

struct Request {
    headers: HeaderMap,
    body: Value,
}

struct Receiver {
    script: Mutex<VecDeque<(u16, String)>>,
    requests: mpsc::UnboundedSender<Request>,
    gate: Option<Arc<Semaphore>>,
}

async fn push(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let body: Value = serde_json::from_str(&body).expect("the sink sends valid JSON");
    let _ = r.requests.send(Request { headers, body });
    if let Some(gate) = &r.gate {
        gate.acquire().await.unwrap().forget();
    }
    let (status, text) = r.script.lock().unwrap().pop_front().unwrap_or_else(|| recorded("push_success_204.txt"));
    (StatusCode::from_u16(status).unwrap(), text)
}

/// Start a receiver answering `script` in order (then 204); returns its URL and the requests it gets.
async fn receiver(
    script: Vec<(u16, String)>,
    gate: Option<Arc<Semaphore>>,
) -> (String, mpsc::UnboundedReceiver<Request>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(Receiver { script: Mutex::new(script.into()), requests: tx, gate });
    let app = axum::Router::new().route("/loki/api/v1/push", post(push)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

fn config(url: &str) -> LokiPushConfig {
    LokiPushConfig {
        enabled: true,
        url: url.into(),
        retry_backoff_ms: 1,
        max_backoff_ms: 5,
        batch_wait_ms: 60_000,
        ..LokiPushConfig::default()
    }
}

fn anomaly(i: u64) -> Anomaly {
    Anomaly {
        line: Some(i),
        timestamp: jiff::Timestamp::from_second(1_795_489_200 + i as i64).unwrap(),
        kind: AnomalyKind::Suspicious,
        detectors: vec!["rule:sql_injection".into()],
        score: 0.97,
        severity: Severity::High,
        endpoint: "GET /api/users".into(),
        client: Some("203.0.113.9".into()),
        session: None,
        reason: "query contains a SQL injection pattern: ' OR '1'='1".into(),
        features: Vec::new(),
        raw: Some(format!(
            r#"{{"time":"2026-11-24T03:00:0{i}.000Z","method":"GET","path":"/api/users?id=1' OR '1'='1&token=s3cr3t&email=ada@example.com","status":200}}"#
        )),
    }
}

fn incident() -> Incident {
    let a = anomaly(1);
    Incident {
        id: "fp1-1795489201".into(),
        fingerprint: "fp1".into(),
        kind: AnomalyKind::ResponseTime,
        endpoint: "GET /api/suspicious".into(),
        client: None,
        severity: Severity::Critical,
        score: 0.99,
        first_seen: a.timestamp,
        last_seen: jiff::Timestamp::from_second(1_795_489_260).unwrap(),
        count: 12,
        detectors: vec!["ocsvm_response_time".into()],
        reason: "GET /api/suspicious took 2400 ms; its baseline p99 is 71 ms".into(),
        examples: vec![a],
    }
}

fn outcome(m: &Metrics, outcome: &str) -> u64 {
    m.alerts.get_or_create(&ChannelOutcomeLabels { channel: "loki_push".into(), outcome: outcome.into() }).get()
}

struct Running {
    sink: LokiPushSink,
    handle: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
}

fn start(cfg: &LokiPushConfig) -> Running {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let redactor = Arc::new(Redactor::new(&RedactionConfig::default()).unwrap());
    let (sink, handle) = LokiPushSink::spawn(cfg, redactor, metrics.clone(), shutdown.clone());
    Running { sink, handle, shutdown, metrics }
}

impl Running {
    async fn stop(self) -> Arc<Metrics> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle).await.expect("sink stops").unwrap();
        self.metrics
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Request>) -> Request {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a push arrives").unwrap()
}

#[tokio::test]
async fn pushes_valid_low_cardinality_redacted_streams() {
    let (url, mut rx) = receiver(vec![], None).await;
    let cfg = LokiPushConfig { batch_size: 3, tenant_id: "team-a".into(), ..config(&url) };
    let run = start(&cfg);
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(2))));
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(1))));
    run.sink.offer(&Finding::IncidentOpened(Arc::new(incident())));
    // batch_size reached: sent without waiting for shutdown.
    let req = next(&mut rx).await;
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["x-scope-orgid"], "team-a");
    let streams = req.body["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "one stream per (kind, severity): {}", req.body);
    let mut lines = Vec::new();
    for s in streams {
        let labels = s["stream"].as_object().unwrap();
        let mut keys: Vec<&str> = labels.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["job", "kind", "severity"], "only low-cardinality labels");
        assert_eq!(labels["job"], "anomaly-detector");
        let mut last = 0i128;
        for v in s["values"].as_array().unwrap() {
            let ts: i128 = v[0].as_str().unwrap().parse().expect("timestamps are ns strings");
            assert!(ts >= last, "entries of a stream in time order");
            last = ts;
            let line: Value = serde_json::from_str(v[1].as_str().unwrap()).expect("each line is JSON");
            assert_eq!(line["kind"], labels["kind"]);
            assert_eq!(line["severity"], labels["severity"]);
            lines.push(line);
        }
    }
    assert_eq!(lines.len(), 3);
    let anomaly = lines.iter().find(|l| l["type"] == "anomaly").unwrap();
    for key in [
        "kind",
        "severity",
        "score",
        "reason",
        "endpoint",
        "client",
        "count",
        "first_seen",
        "last_seen",
        "detectors",
        "line",
    ] {
        assert!(anomaly.get(key).is_some(), "{key} missing in {anomaly}");
    }
    let raw = anomaly["line"].as_str().unwrap();
    assert!(raw.contains("token=[REDACTED]") && raw.contains("email=[REDACTED]"), "{raw}");
    assert!(!raw.contains("s3cr3t") && !raw.contains("ada@example.com"), "{raw}");
    assert!(raw.contains("OR '1'='1"), "evidence stays: {raw}");
    let inc = lines.iter().find(|l| l["type"] == "incident").unwrap();
    assert_eq!(
        (inc["state"].as_str(), inc["count"].as_u64(), inc["kind"].as_str()),
        (Some("opened"), Some(12), Some("response_time"))
    );
    assert_eq!(inc["first_seen"], "2026-11-24T03:00:01Z");
    assert!(inc["line"].as_str().unwrap().contains("token=[REDACTED]"));
    let m = run.stop().await;
    assert_eq!(outcome(&m, "sent"), 3);
    assert!(m.encode().contains(r#"anomaly_detector_alerts_total{channel="loki_push",outcome="sent"} 3"#));
}

#[tokio::test]
async fn rate_limited_pushes_are_retried_until_accepted() {
    let r429 = recorded("push_error_rate_limited_429.txt");
    assert_eq!(r429.0, 429);
    let (url, mut rx) = receiver(vec![r429.clone(), r429], None).await;
    let run = start(&LokiPushConfig { batch_size: 2, ..config(&url) });
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(1))));
    run.sink.offer(&Finding::IncidentResolved(Arc::new(incident())));
    let first = next(&mut rx).await.body;
    assert_eq!(next(&mut rx).await.body, first, "a retry resends the same batch");
    assert_eq!(next(&mut rx).await.body, first);
    let m = run.stop().await;
    assert_eq!((outcome(&m, "sent"), outcome(&m, "failed"), outcome(&m, "rejected")), (2, 0, 0));
    assert!(rx.try_recv().is_err(), "nothing sent twice once accepted");
}

#[tokio::test]
async fn a_400_is_not_retried_and_counts_what_loki_ignored() {
    for (file, entries, rejected) in [
        ("push_error_entry_too_far_behind_400.txt", 1, 1),
        ("push_error_partial_too_far_behind_400.txt", 3, 2),
        ("push_error_malformed_json_400.txt", 2, 2),
        ("push_error_invalid_label_name_400.txt", 2, 2),
    ] {
        let answer = recorded(file);
        assert_eq!(answer.0, 400, "{file}");
        let (url, mut rx) = receiver(vec![answer], None).await;
        let run = start(&LokiPushConfig { batch_size: entries, ..config(&url) });
        for i in 0..entries as u64 {
            run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(i))));
        }
        let _ = next(&mut rx).await;
        let m = run.stop().await;
        assert!(rx.try_recv().is_err(), "{file}: a 400 is never retried");
        assert_eq!(outcome(&m, "rejected"), rejected, "{file}");
        assert_eq!(outcome(&m, "sent"), entries as u64 - rejected, "{file}");
    }
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries_and_count_the_loss() {
    let script = vec![(500, "internal error".to_string()); 10];
    let (url, mut rx) = receiver(script, None).await;
    let run = start(&LokiPushConfig { batch_size: 1, max_retries: 2, ..config(&url) });
    run.sink.offer(&Finding::IncidentUpdated(Arc::new(incident())));
    for _ in 0..3 {
        let _ = next(&mut rx).await;
    }
    let m = run.stop().await;
    assert!(rx.try_recv().is_err(), "1 attempt + 2 retries, no more");
    assert_eq!((outcome(&m, "failed"), outcome(&m, "sent")), (1, 0));
}

#[tokio::test]
async fn unreachable_loki_is_counted_not_fatal() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = start(&LokiPushConfig { batch_size: 1, max_retries: 1, ..config(&url) });
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(1))));
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(2))));
    let m = run.stop().await;
    assert_eq!(outcome(&m, "failed"), 2);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let gate = Arc::new(Semaphore::new(0));
    let (url, mut rx) = receiver(vec![], Some(gate.clone())).await;
    let run = start(&LokiPushConfig { batch_size: 1, queue_capacity: 2, ..config(&url) });
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(0))));
    // The worker now waits on Loki with that entry; the queue holds 2 more, the rest is dropped.
    let _ = next(&mut rx).await;
    for i in 1..10 {
        run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(i))));
    }
    assert_eq!(outcome(&run.metrics, "queue_full"), 7);
    gate.add_permits(100);
    let _ = next(&mut rx).await;
    let _ = next(&mut rx).await;
    let m = run.stop().await;
    assert_eq!(outcome(&m, "sent"), 3);
}

#[tokio::test]
async fn shutdown_flushes_a_partial_batch_and_anomalies_can_be_left_out() {
    let (url, mut rx) = receiver(vec![], None).await;
    let run = start(&LokiPushConfig { batch_size: 100, include_anomalies: false, ..config(&url) });
    run.sink.offer(&Finding::Anomaly(Arc::new(anomaly(1))));
    run.sink.offer(&Finding::IncidentOpened(Arc::new(incident())));
    assert_eq!(run.sink.name(), "loki_push");
    let m = run.stop().await;
    let req = next(&mut rx).await;
    let values = req.body["streams"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert!(values[0][1].as_str().unwrap().contains(r#""type":"incident""#));
    assert_eq!(outcome(&m, "sent"), 1);
}
