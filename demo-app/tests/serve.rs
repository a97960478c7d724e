//! The demo app serves its endpoints and writes exactly one parseable access-log line per request,
//! its messages beside them, and misbehaves on `X-Demo-Fault` as its docs say.

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
    start_scaled(0.0).await
}

async fn start_scaled(latency_scale: f64) -> (String, Arc<Captured>) {
    let log = Arc::new(Captured::default());
    let cfg = AppConfig { port: 0, latency_scale, ..AppConfig::default() };
    let app = router(&cfg, log.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

/// The access lines (the ones with a method), each parsed.
fn lines(log: &Captured) -> Vec<AccessLogLine> {
    log.0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(r#""method":"#))
        .map(|l| serde_json::from_str(l).expect("every access line parses"))
        .collect()
}

/// The app's messages: (level, logger, msg).
fn messages(log: &Captured) -> Vec<(String, String, String)> {
    let all = log.0.lock().unwrap().clone();
    all.iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every log line is JSON"))
        .filter(|v| v.get("method").is_none())
        .map(|v| {
            assert!(v["time"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "{v}");
            let field = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")).to_string();
            (field("level"), field("logger"), field("msg"))
        })
        .collect()
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
    let failures = messages(&log).iter().filter(|(l, g, _)| l == "error" && g == "reports").count();
    assert_eq!(failures, got.iter().filter(|l| l.status >= 500).count(), "one error message per failure");
    let sizes: std::collections::BTreeSet<u64> = got.iter().filter(|l| l.status == 200).map(|l| l.bytes).collect();
    assert!(sizes.len() > 1, "payload sizes vary: {sizes:?}");
    assert!(got.iter().filter(|l| l.status >= 500).all(|l| l.level == "error"));
}

#[tokio::test]
async fn healthcheck_succeeds_against_a_running_app_and_fails_without_one() {
    let (base, _log) = start().await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    tokio::task::spawn_blocking(move || demo_app::healthcheck(port, None)).await.unwrap().expect("app is up");
    let url = format!("http://localhost:{port}");
    tokio::task::spawn_blocking(move || demo_app::healthcheck(0, Some(&url))).await.unwrap().expect("by URL");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    assert!(demo_app::healthcheck(dead_port, None).is_err());
    assert!(demo_app::healthcheck(0, Some(&format!("http://127.0.0.1:{dead_port}"))).is_err());
    assert!(demo_app::healthcheck(0, Some("https://example.org")).unwrap_err().contains("http://"));
}

#[tokio::test]
async fn queries_orders_and_misses_write_their_messages() {
    let (base, log) = start().await;
    let http = reqwest::Client::new();
    for path in ["/api/users?page=1", "/api/users/7", "/api/users/9999", "/api/products", "/api/orders"] {
        let _ = http.get(format!("{base}{path}")).send().await.unwrap().bytes().await.unwrap();
    }
    let order = serde_json::json!({"user_id": 3, "items": [{"product_id": 2, "quantity": 2}]});
    let created: serde_json::Value =
        http.post(format!("{base}/api/orders")).json(&order).send().await.unwrap().json().await.unwrap();
    let m = messages(&log);
    let queries = m.iter().filter(|(l, g, msg)| l == "info" && g == "db" && msg.starts_with("query took ")).count();
    assert_eq!(queries, 5, "one query message per query: {m:?}");
    assert!(m.contains(&("warn".into(), "users".into(), "user 9999 not found".into())), "{m:?}");
    let placed = format!("order {} placed by user 3 in 0 ms", created["id"]);
    assert!(m.iter().any(|(l, g, msg)| l == "info" && g == "checkout" && *msg == placed), "{placed} in {m:?}");
}

#[tokio::test]
async fn faults_fail_orders_surge_warnings_and_slow_queries() {
    let (base, log) = start_scaled(0.01).await;
    let http = reqwest::Client::new();
    let order = serde_json::json!({"user_id": 3, "items": [{"product_id": 2, "quantity": 2}]});
    let down = http.post(format!("{base}/api/orders")).header("x-demo-fault", "ledger-down").json(&order);
    assert_eq!(down.send().await.unwrap().status().as_u16(), 503);
    let slow_gw = http.post(format!("{base}/api/orders")).header("x-demo-fault", "gateway-slow").json(&order);
    assert_eq!(slow_gw.send().await.unwrap().status().as_u16(), 201);
    let _ = http.get(format!("{base}/api/orders")).send().await.unwrap().bytes().await;
    let _ =
        http.get(format!("{base}/api/orders")).header("x-demo-fault", "db-slow").send().await.unwrap().bytes().await;
    let m = messages(&log);
    assert!(
        m.iter()
            .any(|(l, g, msg)| l == "error" && g == "checkout" && msg.contains("ledger") && msg.contains("refused")),
        "{m:?}"
    );
    let warnings: Vec<&str> = m.iter().filter(|(_, g, _)| g == "payments").map(|(_, _, msg)| msg.as_str()).collect();
    assert_eq!(warnings.len(), 3, "{m:?}");
    assert!(warnings.iter().all(|w| w.starts_with("gateway slow, retrying (attempt ")));
    let took: Vec<f64> = m
        .iter()
        .filter_map(|(_, g, msg)| {
            (g == "db").then(|| msg.strip_prefix("query took ")?.strip_suffix(" ms")?.parse().ok())?
        })
        .collect();
    assert_eq!(took.len(), 2, "{m:?}");
    // Scaled by 0.01: normal orders queries take 0.3–0.9 ms, slow ones 9–15 ms.
    assert!(took[0] <= 1.0 && took[1] >= 9.0, "{took:?}");
    let statuses: Vec<u16> = lines(&log).iter().map(|l| l.status).collect();
    assert_eq!(statuses, [503, 201, 200, 200]);
}
