//! Re-baselining: after a deploy makes one endpoint persistently slower, `POST /api/v1/rebaseline`
//! (or `anomaly-detector rebaseline`) makes the detector accept the new level for that endpoint
//! only: its lines stop being reported once relearned, another endpoint's anomalies still are, and
//! a restart does not bring the old baseline back. Dismissing: `POST /api/v1/incidents/{id}/dismiss`
//! (or `anomaly-detector dismiss`) marks an incident as a false alarm, so anomalies like it are
//! learned instead of reported, until the dismissal is undone.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anomaly_detector::app::pipeline::{Mode, Pipeline, RebaselineError};
use anomaly_detector::config::Config;
use anomaly_detector::detect::engine::RELEARN_EVENTS;
use anomaly_detector::detect::Anomaly;
use anomaly_detector::metrics::Metrics;
use anomaly_detector::source::RawLine;
use jiff::{SignedDuration, Timestamp};

const PRODUCTS: &str = "GET /api/products";
const USERS: &str = "GET /api/users/{id}";

/// Handwritten traffic: three endpoints at 10 requests per second, small deterministic jitter.
struct Traffic {
    t: Timestamp,
    i: u64,
    /// Latency of GET /api/products (ms): 20 before the "deploy", 200 after.
    products_ms: f64,
}

impl Traffic {
    fn new(start: Timestamp) -> Traffic {
        Traffic { t: start, i: 0, products_ms: 20.0 }
    }

    /// The next line; `users_ms` overrides the latency of a GET /api/users/{id} line.
    fn line(&mut self, users_ms: Option<f64>) -> String {
        self.i += 1;
        self.t += SignedDuration::from_millis(100);
        let jitter = 0.85 + 0.3 * ((self.i * 7919) % 101) as f64 / 100.0;
        let (path, ms) = match self.i % 3 {
            0 => ("/api/products".to_string(), self.products_ms),
            1 => (format!("/api/users/{}", 1000 + self.i % 500), users_ms.unwrap_or(40.0)),
            _ => ("/api/orders".to_string(), 30.0),
        };
        format!(
            r#"{{"timestamp":"{}","method":"GET","path":"{path}","status":200,"response_time_ms":{:.1},"bytes":{},"client_ip":"10.0.{}.{}","user_agent":"shop/1.0"}}"#,
            self.t,
            ms * jitter,
            2000 + self.i % 300,
            self.i % 7,
            self.i % 200
        )
    }

    /// `n` lines, every third one on GET /api/users/{id} at `users_ms` if given.
    fn lines(&mut self, n: usize, users_ms: Option<f64>) -> Vec<String> {
        (0..n).map(|_| self.line(users_ms)).collect()
    }
}

fn config() -> Config {
    let mut cfg = Config::default();
    cfg.detection.min_training_events = 1000;
    cfg.detection.training_events = 3000;
    cfg.models.isolation_forest.seed = 7;
    cfg
}

/// A live pipeline on `cfg`, publishing nowhere.
fn pipeline(cfg: &Config) -> Pipeline {
    Pipeline::new(cfg, Mode::Live, Arc::new(Metrics::new()), Vec::new(), "test")
}

fn feed(p: &mut Pipeline, lines: Vec<String>) -> Vec<Anomaly> {
    p.process(lines.into_iter().map(|l| RawLine::new(Timestamp::now(), l, 0)).collect())
}

fn on(found: &[Anomaly], endpoint: &str) -> usize {
    found.iter().filter(|a| a.endpoint == endpoint).count()
}

#[test]
fn a_rebaselined_endpoint_is_relearned_and_the_others_keep_their_baselines() {
    let cfg = config();
    let mut p = pipeline(&cfg);
    let mut traffic = Traffic::new("2026-03-01T10:00:00Z".parse().unwrap());
    assert!(feed(&mut p, traffic.lines(3000, None)).is_empty(), "clean traffic was reported");
    assert!(p.detector().is_trained());
    let users_before = p.detector().trained().unwrap().baselines.endpoints[USERS].clone();

    // The deploy: products are ten times slower from now on, and every such line is reported.
    traffic.products_ms = 200.0;
    let shifted = feed(&mut p, traffic.lines(600, None));
    assert!(on(&shifted, PRODUCTS) >= 150, "the shift was not reported: {} anomalies", on(&shifted, PRODUCTS));

    let unknown = p.rebaseline("GET /api/nothing").unwrap_err();
    let RebaselineError::UnknownEndpoint { known, .. } = unknown;
    assert!(known.contains(&PRODUCTS.to_string()), "{known:?}");

    let done = p.rebaseline(PRODUCTS).unwrap();
    assert_eq!(done.endpoint, PRODUCTS);
    assert_eq!(done.reset.baselines_dropped, 1);
    assert!(done.reset.events_dropped > 500, "{done:?}");
    assert_eq!(done.incidents_closed, 1, "the open response_time incident is resolved");
    assert_eq!(p.detector().relearning(), [PRODUCTS]);

    // Right after: no flood while the endpoint is relearned, and a slow users line is still caught.
    let mut after = feed(&mut p, traffic.lines(3 * RELEARN_EVENTS - 3, None));
    after.extend(feed(&mut p, traffic.lines(3, Some(2000.0))));
    assert!(p.detector().relearning().is_empty(), "not relearned after {RELEARN_EVENTS} events");
    let relearned = &p.detector().trained().unwrap().baselines.endpoints[PRODUCTS];
    assert!((150.0..260.0).contains(&relearned.rt_median_ms), "{}", relearned.rt_median_ms);
    // Once relearned, the new level is normal, and the other endpoints still are judged.
    after.extend(feed(&mut p, traffic.lines(900, None)));
    after.extend(feed(&mut p, traffic.lines(3, Some(2000.0))));
    assert_eq!(on(&after, PRODUCTS), 0, "{:?}", after.iter().find(|a| a.endpoint == PRODUCTS));
    assert_eq!(on(&after, USERS), 2, "{after:?}");
    let users_after = &p.detector().trained().unwrap().baselines.endpoints[USERS];
    assert_eq!(users_after, &users_before, "another endpoint's baseline changed");
}

#[test]
fn a_pending_rebaseline_survives_a_save_and_a_concrete_path_names_its_endpoint() {
    let cfg = config();
    let mut p = pipeline(&cfg);
    let mut traffic = Traffic::new("2026-03-01T10:00:00Z".parse().unwrap());
    feed(&mut p, traffic.lines(3000, None));
    let done = p.rebaseline("get /api/users/77?x=1").unwrap();
    assert_eq!(done.endpoint, USERS);

    let saved: anomaly_detector::app::persist::Snapshot =
        serde_json::from_slice(&serde_json::to_vec(&p.snapshot()).unwrap()).unwrap();
    assert!(!saved.trained.as_ref().unwrap().baselines.endpoints.contains_key(USERS));
    assert!(saved.window.iter().all(|e| &*e.endpoint != USERS));
    assert_eq!(saved.relearning, [USERS]);
    let mut resumed = pipeline(&cfg);
    resumed.restore(saved);
    assert_eq!(resumed.detector().relearning(), [USERS], "a restart brought the old baseline back");
}

#[test]
fn rebaselining_everything_starts_training_again() {
    let cfg = config();
    let mut p = pipeline(&cfg);
    let mut traffic = Traffic::new("2026-03-01T10:00:00Z".parse().unwrap());
    feed(&mut p, traffic.lines(3000, None));
    let done = p.rebaseline("*").unwrap();
    assert_eq!(done.reset.baselines_dropped, 3);
    assert_eq!(done.reset.events_dropped, 3000);
    assert!(!p.detector().is_trained());
    feed(&mut p, traffic.lines(cfg.detection.min_training_events, None));
    assert!(p.detector().is_trained());
}

// --- the daemon, over HTTP and the command line ---

#[test]
fn a_dismissed_incident_silences_anomalies_like_it_until_undone() {
    let cfg = config();
    let mut p = pipeline(&cfg);
    let mut traffic = Traffic::new("2026-03-01T10:00:00Z".parse().unwrap());
    assert!(feed(&mut p, traffic.lines(3000, None)).is_empty(), "clean traffic was reported");
    // A batch job makes GET /api/users/{id} slow for a while: reported, one incident.
    let slow = feed(&mut p, traffic.lines(90, Some(400.0)));
    assert!(on(&slow, USERS) >= 20, "the slow lines were not reported: {}", on(&slow, USERS));
    let inc = p.open_incidents().into_iter().find(|i| i.endpoint == USERS).expect("an incident on users");

    // The operator says it was expected.
    let d = p.dismiss(&inc);
    assert_eq!((d.endpoint.as_str(), d.lines), (USERS, inc.count));
    assert!(p.open_incidents().iter().all(|i| i.id != inc.id), "the dismissed incident is resolved");
    // The same again is learned, not reported; another endpoint's trouble still is; so is a far
    // worse slowdown of the same endpoint.
    let again = feed(&mut p, traffic.lines(90, Some(350.0)));
    assert_eq!(on(&again, USERS), 0, "{:?}", again.iter().find(|a| a.endpoint == USERS));
    traffic.products_ms = 2000.0;
    let other = feed(&mut p, traffic.lines(30, None));
    traffic.products_ms = 20.0;
    assert!(on(&other, PRODUCTS) >= 5, "another endpoint's anomalies were silenced too");
    assert_eq!(p.dismissals()[0].covered as usize, 30, "every slow users line counted under the dismissal");
    let worse = feed(&mut p, traffic.lines(30, Some(20_000.0)));
    assert!(on(&worse, USERS) >= 5, "a far worse slowdown was silenced: {}", on(&worse, USERS));

    // Saved and restored with the models.
    let mut restored = pipeline(&cfg);
    restored.restore(p.snapshot());
    assert_eq!(restored.dismissals().len(), 1);
    assert_eq!(on(&feed(&mut restored, traffic.lines(30, Some(350.0))), USERS), 0);
    // Undone: reported again.
    assert!(restored.undismiss(&inc.id).is_some());
    assert!(restored.undismiss(&inc.id).is_none());
    let back = feed(&mut restored, traffic.lines(90, Some(2000.0)));
    assert!(on(&back, USERS) >= 20, "after the undo: {}", on(&back, USERS));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(method: reqwest::Method, url: &str) -> Option<(u16, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new().request(method, url).timeout(Duration::from_secs(10)).send().await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.json().await.ok()?))
    })
}

fn wait_for_lines(child: &mut Child, port: u16, lines: u64) {
    let start = Instant::now();
    loop {
        let status = http(reqwest::Method::GET, &format!("http://127.0.0.1:{port}/api/v1/status"));
        if status.and_then(|(_, v)| v["lines_processed"].as_u64()) == Some(lines) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the daemon did not process {lines} lines in time");
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[test]
fn the_daemon_rebaselines_over_http_and_persists_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, state, conf) = (dir.path().join("app.log"), dir.path().join("state"), dir.path().join("c.toml"));
    // Maintenance windows show in /api/v1/status: one always open (for an endpoint that never
    // occurs), one long ahead.
    std::fs::write(
        &conf,
        r#"
[[suppress.maintenance]]
name = "always"
from = "00:00"
to = "24:00"
endpoints = ["^GET /never$"]

[[suppress.maintenance]]
name = "later"
start = "2099-01-01T00:00:00Z"
end = "2099-01-01T01:00:00Z"
"#,
    )
    .unwrap();
    // Timestamps end near now: a followed file is live, and live incidents close by the clock.
    let mut traffic = Traffic::new(Timestamp::now() - SignedDuration::from_secs(400));
    let mut lines = traffic.lines(3000, None);
    traffic.products_ms = 200.0;
    lines.extend(traffic.lines(600, None));
    append(&log, &lines);

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
        .args(["--log-format", "json", "run", "--follow", "--config"])
        .arg(&conf)
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "file")
        .env("ANOMALY_DETECTOR__SOURCE__PATHS", &log)
        .env("ANOMALY_DETECTOR__STATE__DIR", &state)
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ANOMALY_DETECTOR__DETECTION__MIN_TRAINING_EVENTS", "1000")
        .env("ANOMALY_DETECTOR__DETECTION__TRAINING_EVENTS", "3000")
        .env("ANOMALY_DETECTOR__MODELS__ISOLATION_FOREST__SEED", "7")
        .env("LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&mut child, port, 3600);
    let base = format!("http://127.0.0.1:{port}");

    let (code, body) = http(reqwest::Method::POST, &format!("{base}/api/v1/rebaseline")).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("endpoint"), "{body}");
    let (code, body) =
        http(reqwest::Method::POST, &format!("{base}/api/v1/rebaseline?endpoint=GET%20/api/nothing")).unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(body["known_endpoints"].as_array().unwrap().iter().any(|e| e == PRODUCTS), "{body}");

    let out = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
        .args(["rebaseline", "--url", &base, PRODUCTS])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["endpoint"], PRODUCTS, "{answer}");
    assert_eq!(answer["baselines_dropped"], 1, "{answer}");
    assert!(answer["events_dropped"].as_u64().unwrap() > 500, "{answer}");
    assert_eq!(answer["relearn_after_events"], RELEARN_EVENTS, "{answer}");

    // Saved at once: a restart would not resurrect the old baseline.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(state.join("models.json")).unwrap()).unwrap();
    assert!(saved["trained"]["baselines"]["endpoints"].get(PRODUCTS).is_none());
    assert!(saved["trained"]["baselines"]["endpoints"].get(USERS).is_some());
    assert_eq!(saved["relearning"], serde_json::json!([PRODUCTS]));
    let (_, status) = http(reqwest::Method::GET, &format!("{base}/api/v1/status")).unwrap();
    assert_eq!(status["training"]["relearning"], serde_json::json!([PRODUCTS]), "{status}");
    let windows = status["maintenance"].as_array().unwrap();
    assert_eq!((windows[0]["name"].as_str(), windows[0]["active"].as_bool()), (Some("always"), Some(true)));
    assert_eq!((windows[1]["name"].as_str(), windows[1]["active"].as_bool()), (Some("later"), Some(false)));
    assert_eq!(windows[1]["next_start"], "2099-01-01T00:00:00Z");

    // Dismissing: an unknown id is a 404; the products incident (now resolved) is dismissed with the
    // CLI, listed in the status, saved, and undone again.
    let (code, body) = http(reqwest::Method::POST, &format!("{base}/api/v1/incidents/nope/dismiss")).unwrap();
    assert_eq!(code, 404, "{body}");
    let (_, incidents) = http(reqwest::Method::GET, &format!("{base}/api/v1/incidents")).unwrap();
    let id = incidents["incidents"]
        .as_array()
        .or_else(|| incidents.as_array())
        .and_then(|list| list.iter().find(|i| i["endpoint"] == PRODUCTS))
        .and_then(|i| i["id"].as_str())
        .unwrap_or_else(|| panic!("no products incident listed: {incidents}"))
        .to_string();
    let dismiss = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_anomaly-detector"))
            .args(["dismiss", "--url", &base, &id])
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = dismiss(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["dismissed"]["endpoint"], PRODUCTS, "{answer}");
    let (_, status) = http(reqwest::Method::GET, &format!("{base}/api/v1/status")).unwrap();
    assert_eq!(status["dismissed"][0]["incident"], id.as_str(), "{status}");
    // Saves after API calls coalesce (at most one per 10 s): the dismissal is on disk within that.
    let started = Instant::now();
    loop {
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join("models.json")).unwrap()).unwrap();
        if saved["dismissed"][0]["incident"] == id.as_str() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the dismissal was not saved");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = dismiss(&["--undo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = dismiss(&["--undo"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not dismissed"));
    let (_, status) = http(reqwest::Method::GET, &format!("{base}/api/v1/status")).unwrap();
    assert_eq!(status["dismissed"], serde_json::json!([]), "{status}");

    // After the re-baseline: products at the new level, and two slow users lines.
    let mut later = traffic.lines(1200, None);
    later.extend(traffic.lines(6, Some(2000.0)));
    append(&log, &later);
    wait_for_lines(&mut child, port, 3600 + later.len() as u64);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit: {}", out.status);
    let log: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let message = |v: &serde_json::Value, prefix: &str| v["message"].as_str().is_some_and(|m| m.starts_with(prefix));
    let cut = log.iter().position(|v| message(v, "Re-baselined")).expect("the re-baseline is logged");
    assert_eq!(log[cut]["level"], "INFO");
    let opened = |range: &[serde_json::Value]| -> Vec<String> {
        range
            .iter()
            .filter(|v| message(v, "Incident opened"))
            .map(|v| v["endpoint"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(opened(&log[..cut]).contains(&PRODUCTS.to_string()), "the shift was not reported before");
    let after = opened(&log[cut..]);
    assert!(!after.contains(&PRODUCTS.to_string()), "the new normal was reported: {after:?}");
    assert!(after.contains(&USERS.to_string()), "another endpoint's anomaly was missed: {after:?}");
}
