//! API access and a bounded server (issue 11): who may call the mutating routes and the reads,
//! how big an answer gets, and what a slow or greedy client can hold. Each test pins one finding
//! of the attack on `anomaly-detector demo`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anomaly_detector::app::pipeline::{Mode, Pipeline};
use anomaly_detector::app::state::{AppState, PipelineCommand, RecentSink};
use anomaly_detector::config::{Config, Severity};
use anomaly_detector::detect::{Anomaly, AnomalyKind, Incident};
use anomaly_detector::metrics::Metrics;
use anomaly_detector::server::Settings;
use anomaly_detector::sink::{Finding, FindingSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// A server on `bind` (port 0) over an [`AppState`] whose re-baselines a real, empty pipeline
/// answers; with `hold`, each answer waits for a permit of `release`.
struct Server {
    /// `http://127.0.0.1:PORT`, whatever address was bound.
    base: String,
    state: Arc<AppState>,
    rebaselines: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
    stop: CancellationToken,
}

impl Server {
    async fn start(cfg: &Config, bind: &str, hold: bool) -> Server {
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut commands) = mpsc::channel::<PipelineCommand>(8);
        let state = Arc::new(AppState::new(Arc::new(Metrics::new()), cfg, tx));
        let (rebaselines, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
        let (count, gate, pipeline_cfg) = (rebaselines.clone(), release.clone(), cfg.clone());
        tokio::spawn(async move {
            let mut p = Pipeline::new(&pipeline_cfg, Mode::Live, Arc::new(Metrics::new()), Vec::new(), "test");
            while let Some(PipelineCommand::Rebaseline { endpoint, reply }) = commands.recv().await {
                if hold {
                    gate.acquire().await.unwrap().forget();
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = reply.send(p.rebaseline(&endpoint));
            }
        });
        let settings = Settings::new(&cfg.server, addr).unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(anomaly_detector::server::serve(listener, state.clone(), settings, stop.clone()));
        Server { base: format!("http://127.0.0.1:{}", addr.port()), state, rebaselines, release, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

const REBASELINE_ALL: &str = "/api/v1/rebaseline?endpoint=*";

async fn json(r: reqwest::Response) -> (u16, serde_json::Value) {
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_text_plain_post_is_refused_and_resets_nothing() {
    // Regression: a page on any site could POST (a "simple" request, no preflight) to the demo
    // on 127.0.0.1 and reset every model.
    let server = Server::start(&Config::default(), "127.0.0.1:0", false).await;
    let attack = client()
        .post(server.url(REBASELINE_ALL))
        .header("origin", "http://evil")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    let (code, body) = json(attack).await;
    assert_eq!(code, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cross-origin"), "{body}");
    let fetch = client().post(server.url(REBASELINE_ALL)).header("sec-fetch-site", "cross-site").send().await;
    assert_eq!(fetch.unwrap().status(), 403);
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 0, "the pipeline was reached");

    // The same request from a local tool (no Origin) is served on a loopback listener.
    let (code, body) = json(client().post(server.url(REBASELINE_ALL)).send().await.unwrap()).await;
    assert_eq!((code, &body["endpoint"]), (200, &serde_json::json!("*")), "{body}");
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_a_non_loopback_listener_refuses_writes_and_says_how_to_enable_them() {
    let server = Server::start(&Config::default(), "0.0.0.0:0", false).await;
    let (code, body) = json(client().post(server.url(REBASELINE_ALL)).send().await.unwrap()).await;
    assert_eq!(code, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ANOMALY_DETECTOR__SERVER__API_TOKEN"), "{body}");
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 0);
    // Reads stay open without a read token.
    assert_eq!(client().get(server.url("/api/v1/status")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_is_required_and_compared() {
    let mut cfg = Config::default();
    cfg.server.api_token = "correct-horse".into();
    let server = Server::start(&cfg, "0.0.0.0:0", false).await;
    let post = || client().post(server.url(REBASELINE_ALL));

    let missing = post().send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = post().bearer_auth("correct-hors").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    // Dismissing and undoing a dismissal are writes too.
    let dismiss = server.url("/api/v1/incidents/abc-1/dismiss");
    assert_eq!(client().post(&dismiss).send().await.unwrap().status(), 401);
    assert_eq!(client().delete(&dismiss).send().await.unwrap().status(), 401);
    let unknown = client().post(&dismiss).bearer_auth("correct-horse").send().await.unwrap();
    assert_eq!(unknown.status(), 404, "no recent incident has that id");
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 0);
    let (code, body) = json(post().bearer_auth("correct-horse").send().await.unwrap()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 1);
    // Even with the token, a cross-site browser request is refused.
    let cross = post().bearer_auth("correct-horse").header("origin", "http://evil").send().await.unwrap();
    assert_eq!(cross.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_guards_api_reads_but_not_metrics_or_health() {
    let mut cfg = Config::default();
    cfg.server.read_token = "reader".into();
    cfg.server.api_token = "writer".into();
    let server = Server::start(&cfg, "127.0.0.1:0", false).await;
    for path in ["/api/v1/anomalies", "/api/v1/incidents", "/api/v1/status"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(client().get(server.url(path)).bearer_auth("nope").send().await.unwrap().status(), 401);
        assert_eq!(client().get(server.url(path)).bearer_auth("reader").send().await.unwrap().status(), 200);
        assert_eq!(client().get(server.url(path)).bearer_auth("writer").send().await.unwrap().status(), 200);
    }
    assert_eq!(client().get(server.url("/metrics")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(server.url("/healthz")).send().await.unwrap().status(), 200);
    let ready = client().get(server.url("/readyz")).send().await.unwrap().status().as_u16();
    assert!(ready == 200 || ready == 503, "{ready}");
    // The read token does not open the mutating routes.
    let r = client().post(server.url(REBASELINE_ALL)).bearer_auth("reader").send().await.unwrap();
    assert_eq!(r.status(), 401);
}

fn anomaly(i: usize, raw_bytes: usize) -> Anomaly {
    Anomaly {
        line: None,
        timestamp: jiff::Timestamp::UNIX_EPOCH,
        kind: AnomalyKind::Suspicious,
        detectors: vec!["rule:long_line".into()],
        score: 0.9,
        severity: Severity::High,
        endpoint: "GET /a".into(),
        client: None,
        session: None,
        reason: format!("anomaly {i}"),
        features: vec![],
        raw: Some("é".repeat(raw_bytes / 2)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_lines_are_shortened_and_list_bodies_stop_at_their_cap() {
    // Regression: 500 kept anomalies of 64 KB lines made a 32.7 MB /api/v1/anomalies body.
    let mut cfg = Config::default();
    cfg.server.max_response_bytes = 512 * 1024;
    let server = Server::start(&cfg, "127.0.0.1:0", false).await;
    let sink = RecentSink(server.state.clone());
    for i in 0..500 {
        sink.offer(&Finding::Anomaly(Arc::new(anomaly(i, 64 * 1024))));
    }
    let examples: Vec<Anomaly> = (0..3).map(|i| anomaly(i, 64 * 1024)).collect();
    let incident = Incident {
        id: "i1".into(),
        fingerprint: "f".into(),
        kind: AnomalyKind::Suspicious,
        endpoint: "GET /a".into(),
        client: None,
        severity: Severity::High,
        score: 0.9,
        first_seen: jiff::Timestamp::UNIX_EPOCH,
        last_seen: jiff::Timestamp::UNIX_EPOCH,
        count: 3,
        detectors: vec!["rule:long_line".into()],
        reason: "long lines".into(),
        examples,
    };
    sink.offer(&Finding::IncidentOpened(Arc::new(incident)));

    let body = client().get(server.url("/api/v1/anomalies?limit=500")).send().await.unwrap().bytes().await.unwrap();
    assert!(body.len() <= cfg.server.max_response_bytes, "{} bytes", body.len());
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["truncated"], true);
    let listed = v["anomalies"].as_array().unwrap();
    assert!(listed.len() > 100 && v["count"] == listed.len(), "{} listed", listed.len());
    for a in listed {
        let raw = a["raw"].as_str().unwrap();
        assert!(raw.len() <= cfg.server.max_raw_line_bytes + 32 && raw.ends_with(" bytes]"), "{}", raw.len());
    }

    let small = client().get(server.url("/api/v1/anomalies?limit=3")).send().await.unwrap();
    let v: serde_json::Value = small.json().await.unwrap();
    assert_eq!((v["count"].as_u64(), &v["truncated"]), (Some(3), &serde_json::json!(false)));

    for path in ["/api/v1/incidents", "/api/v1/status"] {
        let v: serde_json::Value = client().get(server.url(path)).send().await.unwrap().json().await.unwrap();
        let list = if path.ends_with("status") { &v["recent_incidents"] } else { &v["incidents"] };
        let examples = list[0]["examples"].as_array().unwrap();
        assert_eq!(examples.len(), 3, "{path}");
        assert!(examples.iter().all(|e| e["raw"].as_str().unwrap().len() <= 2048 + 32), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_trickling_its_request_head_is_closed() {
    // Regression: 5,000 connections sending headers a byte at a time were held for 60 s and more.
    let mut cfg = Config::default();
    cfg.server.header_read_timeout_secs = 1;
    let server = Server::start(&cfg, "127.0.0.1:0", false).await;
    let mut stream = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a").await.unwrap();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        // The server may answer 408 before closing; read until it closes.
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept a connection whose request head never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_beyond_the_concurrency_limit_are_refused_and_health_stays_served() {
    let mut cfg = Config::default();
    cfg.server.max_concurrent_requests = 1;
    let server = Server::start(&cfg, "127.0.0.1:0", true).await;
    // One re-baseline in flight, held by the pipeline: it holds the only permit.
    let in_flight = tokio::spawn(client().post(server.url(REBASELINE_ALL)).send());
    let busy = loop {
        let r = client().get(server.url("/api/v1/status")).send().await.unwrap();
        if r.status() == 503 {
            break r;
        }
        // The POST has not reached the server yet.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(busy.headers()["retry-after"], "1");
    let (_, body) = json(busy).await;
    assert!(body["error"].as_str().unwrap().contains("server.max_concurrent_requests"), "{body}");
    assert_eq!(client().get(server.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(server.url("/metrics")).send().await.unwrap().status(), 200);

    server.release.add_permits(1);
    assert_eq!(in_flight.await.unwrap().unwrap().status(), 200);
    assert_eq!(client().get(server.url("/api/v1/status")).send().await.unwrap().status(), 200);
}

// --- the daemon: saves, the command line, the config check ---

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_rebaselines_do_not_write_models_json_fifty_times() {
    // Regression: 578 re-baselines in 10 s each rewrote and fsynced a 3.4 MB models.json.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let line = r#"{"timestamp":"2026-03-01T10:00:00Z","method":"GET","path":"/a","status":200,"response_time_ms":5}"#;
    std::fs::write(&log, format!("{line}\n")).unwrap();
    let port = free_port();
    let mut cfg = Config::default();
    cfg.source.kind = anomaly_detector::config::SourceKind::File;
    cfg.source.paths = vec![log];
    cfg.source.follow = true;
    cfg.state.dir = dir.path().join("state");
    cfg.server.listen = format!("127.0.0.1:{port}");
    cfg.outputs.console.enabled = false;
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(anomaly_detector::app::run(cfg, shutdown.clone()));
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let mut answered = 0;
    for _ in 0..600 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..50 {
        let r = http.post(format!("{base}{REBASELINE_ALL}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        answered += 1;
    }
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let saves = metric(&metrics, "anomaly_detector_state_saves_total");
    // One at once, then at most one per 10 s (API_SAVE_EVERY) however long the 50 calls took.
    assert!(saves < 10.0, "{answered} re-baselines wrote models.json {saves} times");
    let before_stop = jiff::Timestamp::now();
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    // The held-back save is done at shutdown.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/models.json")).unwrap()).unwrap();
    let saved_at: jiff::Timestamp = saved["saved_at"].as_str().unwrap().parse().unwrap();
    assert!(saved_at >= before_stop, "saved at {saved_at}, before the stop at {before_stop}");
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_anomaly-detector"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebaseline_command_sends_the_configured_token() {
    let mut cfg = Config::default();
    cfg.server.api_token = "cli-token".into();
    let server = Server::start(&cfg, "0.0.0.0:0", false).await;
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::write(&good, "cli-token\n").unwrap();
    std::fs::write(&bad, "other\n").unwrap();
    let base = server.base.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let url = ["rebaseline", "--url", &base, "*"];
        let with_file =
            |file: &std::path::Path| cli(&[&url[..], &["--token-file", file.to_str().unwrap()]].concat(), &[]);
        (
            cli(&url, &[("ANOMALY_DETECTOR__SERVER__API_TOKEN", "cli-token")]),
            with_file(&good),
            with_file(&bad),
            cli(&url, &[]),
            with_file(&dir.path().join("missing")),
        )
    })
    .await
    .unwrap();
    let (from_env, from_file, wrong, none, missing) = outputs;
    assert!(from_env.status.success(), "{}", String::from_utf8_lossy(&from_env.stderr));
    assert!(from_file.status.success(), "{}", String::from_utf8_lossy(&from_file.stderr));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"), "{}", String::from_utf8_lossy(&wrong.stderr));
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(missing.status.code(), Some(2), "a missing token file is a usage error");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--token-file"));
    assert_eq!(server.rebaselines.load(Ordering::SeqCst), 2);
}

#[test]
fn a_missing_token_file_is_a_config_error_naming_its_key() {
    let out = cli(&["check-config"], &[("ANOMALY_DETECTOR__SERVER__API_TOKEN_FILE", "/nonexistent/api-token")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.api_token_file: cannot read /nonexistent/api-token"), "{err}");
    let out = cli(&["run"], &[("ANOMALY_DETECTOR__SERVER__READ_TOKEN_FILE", "/nonexistent/read-token")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.read_token_file"));
}
