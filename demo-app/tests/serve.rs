//! The demo app serves its endpoints and writes exactly one parseable access-log line per request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use demo_app::{router, AccessLogLine, AppConfig, LogWriter};

#[derive(Default)]
struct Captured(Mutex<Vec<String>>);

impl LogWriter for Captured {
    fn write_line(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

async fn start() -> (String, Arc<Captured>) {
    let log = Arc::new(Captured::default());
    let cfg = AppConfig { port: 0, latency_scale: 0.0, ..AppConfig::default() };
    let app = router(&cfg, log.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

fn lines(log: &Captured) -> Vec<AccessLogLine> {
    log.0.lock().unwrap().iter().map(|l| serde_json::from_str(l).expect("every log line is JSON")).collect()
}

#[tokio::test]
async fn each_request_writes_one_complete_line() {
    let (base, log) = start().await;
    let http = reqwest::Client::new();
    let requests = [
        ("GET", "/api/users?page=2&per_page=5", 200),
        ("GET", "/api/users/42", 200),
        ("GET", "/api/users/999999", 404),
        ("GET", "/api/users/abc", 400),
        ("GET", "/api/products?q=mo", 200),
        ("GET", "/api/orders", 200),
        ("GET", "/healthz", 200),
        ("GET", "/.env", 404),
    ];
    for (method, path, want) in requests {
        let resp = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("user-agent", "test-agent/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{method} {path}");
        let _ = resp.bytes().await.unwrap();
    }
    let created = http
        .post(format!("{base}/api/orders"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&serde_json::json!({"user_id": 3, "items": [{"product_id": 2, "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["total"], 39.0);
    let bad = http
        .post(format!("{base}/api/orders"))
        .json(&serde_json::json!({"user_id": 3, "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);

    let got = lines(&log);
    assert_eq!(got.len(), requests.len() + 2, "one line per request: {got:#?}");
    for (line, (method, path, status)) in got.iter().zip(requests) {
        assert_eq!((line.method.as_str(), line.path.as_str(), line.status), (method, path, status));
        assert_eq!(line.user_agent, "test-agent/1.0");
        assert_eq!(line.remote_addr, "127.0.0.1");
        assert!(line.time.parse::<jiff::Timestamp>().is_ok() && line.time.ends_with('Z'), "{}", line.time);
        assert!(line.response_time_ms >= 0.0);
        assert!(line.bytes > 0, "JSON bodies are never empty: {line:?}");
    }
    assert_eq!(got[2].level, "warn");
    let post = &got[requests.len()];
    assert_eq!((post.method.as_str(), post.status, post.remote_addr.as_str()), ("POST", 201, "198.51.100.7"));
    for raw in log.0.lock().unwrap().iter() {
        assert!(!raw.to_lowercase().contains("anomal"), "the log must not hint at anomalies: {raw}");
    }
}

#[tokio::test]
async fn suspicious_endpoint_fails_often_with_odd_sizes() {
    let (base, log) = start().await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        let resp = http.get(format!("{base}/api/suspicious")).send().await.unwrap();
        statuses.push(resp.status().as_u16());
        let _ = resp.bytes().await.unwrap();
    }
    // 30 % fail: with 60 tries, P(no failure) = 0.7^60 ≈ 5e-10 and P(no success) ≈ 4e-32.
    assert!(statuses.iter().any(|s| *s >= 500), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let got = lines(&log);
    assert_eq!(got.len(), 60);
    let sizes: std::collections::BTreeSet<u64> = got.iter().filter(|l| l.status == 200).map(|l| l.bytes).collect();
    assert!(sizes.len() > 1, "payload sizes vary: {sizes:?}");
    assert!(got.iter().filter(|l| l.status >= 500).all(|l| l.level == "error"));
}

#[tokio::test]
async fn healthcheck_succeeds_against_a_running_app_and_fails_without_one() {
    let (base, _log) = start().await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    tokio::task::spawn_blocking(move || demo_app::healthcheck(port)).await.unwrap().expect("app is up");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    assert!(demo_app::healthcheck(dead_port).is_err());
}
