//! The compose stack's flow without containers (no Docker engine runs here): the real demo-app
//! binary serving and writing its log file, `demo-app traffic` driving it over HTTP with its
//! defaults (the compose `traffic` service's settings), and the detector following that file
//! (`source.kind = "file"`, `follow = true`, polled every 15 s as in compose). Within five minutes
//! of the start the models are trained, every kind of incident is in `/api/v1/incidents`, and the
//! scanner's paths are counted under `endpoint="other"` in `/metrics`.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::{bin, free_port, get_text, Killed};

/// What the stack promises: every kind within this long of `docker compose up`.
const WITHIN: Duration = Duration::from_secs(300);
const KINDS: [&str; 6] = ["volume", "suspicious", "status_code", "behavioral", "response_time", "pattern"];

/// The demo-app binary beside ours in the target directory, built (or brought up to date) first:
/// a binary left from an older checkout would drive the test with old traffic.
fn demo_app() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_anomaly-detector")).with_file_name("demo-app");
    let release = path.parent().is_some_and(|d| d.ends_with("release"));
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "demo-app", "--bin", "demo-app"]);
    if release {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo runs").success(), "building demo-app failed");
    path
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_stack_flow_reports_every_kind_within_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (app_port, port) = (free_port(), free_port());
    let demo = demo_app();
    let started = Instant::now();

    let app = Killed(
        Command::new(&demo)
            .env("PORT", app_port.to_string())
            .env("ACCESS_LOG_FILE", &log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"file\"\npaths = [{log:?}]\nfollow = true\n\
             [detection]\ninterval_secs = 15\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = {state:?}\n",
            state = dir.path().join("state"),
        ),
    )
    .unwrap();
    wait_for("the demo app's log file", Duration::from_secs(20), || log.exists());
    let _detector = Killed(
        bin().args(["run", "--config"]).arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let _traffic = Killed(
        Command::new(&demo)
            .args(["traffic", &format!("http://127.0.0.1:{app_port}")])
            .env("SEED", "11")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let mut first_seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut trained = None;
    while started.elapsed() < WITHIN && first_seen.len() < KINDS.len() {
        std::thread::sleep(Duration::from_secs(5));
        let secs = started.elapsed().as_secs();
        if trained.is_none() {
            let ready: serde_json::Value = serde_json::from_str(&get_text(port, "/readyz")).unwrap_or_default();
            if ready["trained"].as_bool() == Some(true) {
                trained = Some(secs);
            }
        }
        let missing: Vec<&str> = KINDS.into_iter().filter(|k| !first_seen.contains_key(*k)).collect();
        for kind in missing {
            let body: serde_json::Value =
                serde_json::from_str(&get_text(port, &format!("/api/v1/incidents?kind={kind}&limit=1")))
                    .unwrap_or_default();
            if body["incidents"].as_array().is_some_and(|a| !a.is_empty()) {
                first_seen.insert(kind.to_string(), secs);
            }
        }
    }
    let metrics = get_text(port, "/metrics");
    drop(app);
    eprintln!("models trained after {trained:?} s; first incident of each kind (s): {first_seen:?}");
    // The scanner's paths came after training: they count under `other`, not as series of their own.
    let labels: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("anomaly_detector_requests_total{"))
        .filter_map(|l| l.split("endpoint=\"").nth(1)?.split('"').next())
        .collect();
    assert!(labels.contains(&"other"), "probes count under endpoint=\"other\": {labels:?}");
    for probe in [".env", "wp-login", "passwd", "actuator", "server-status"] {
        assert!(!labels.iter().any(|l| l.contains(probe)), "no endpoint label for {probe}: {labels:?}");
    }
    assert!(trained.is_some(), "the models trained within {WITHIN:?}");
    let missing: Vec<_> = KINDS.iter().filter(|k| !first_seen.contains_key(**k)).collect();
    assert!(missing.is_empty(), "kinds missing after {WITHIN:?}: {missing:?} (seen: {first_seen:?})");
}
