//! A restart resumes: the models saved in `state.dir/models.json` score at once, and an incident
//! still going on when the daemon stopped is continued, not reported a second time.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anomaly_detector::source::demo::{
    scenario, IncidentKind, LineFormat, ScheduledIncident, TrafficConfig, TrafficGenerator,
};
use support::daemon::{bin, free_port, get_text, lines_processed};

mod support;

/// Run the daemon over `file` (followed, as a live source), wait until every line is processed,
/// stop it with SIGTERM and return its JSON log lines.
fn run_over(
    file: &std::path::Path,
    lines: u64,
    state: &std::path::Path,
    extra_env: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    run_over_listing(file, lines, state, extra_env).0
}

/// [`run_over`], and `/api/v1/incidents` as it was once every line was processed.
fn run_over_listing(
    file: &std::path::Path,
    lines: u64,
    state: &std::path::Path,
    extra_env: &[(&str, &str)],
) -> (Vec<serde_json::Value>, serde_json::Value) {
    let port = free_port();
    let mut cmd = bin();
    cmd.args(["--log-format", "json", "run"])
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "file")
        .env("ANOMALY_DETECTOR__SOURCE__PATHS", file)
        .env("ANOMALY_DETECTOR__SOURCE__FOLLOW", "true")
        .env("ANOMALY_DETECTOR__STATE__DIR", state)
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ANOMALY_DETECTOR__MODELS__ISOLATION_FOREST__SEED", "5")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child: Child = cmd.spawn().unwrap();
    let start = Instant::now();
    while lines_processed(port) != Some(lines) {
        assert!(start.elapsed() < Duration::from_secs(120), "the daemon did not process {lines} lines in time");
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let listing = serde_json::from_str(&get_text(port, "/api/v1/incidents")).unwrap_or_default();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit: {}", out.status);
    (String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect(), listing)
}

fn opened(log: &[serde_json::Value]) -> Vec<(String, String)> {
    log.iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("Incident opened")))
        .map(|v| (v["kind"].as_str().unwrap_or("").to_string(), v["endpoint"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn a_restart_resumes_scoring_and_does_not_report_an_ongoing_incident_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Latency spikes on GET /api/products (+1920 s), GET /api/users/{id} (+2220 s), GET /api/search (+2520 s).
    // Anchored to now, so the stop falls mid-spike in wall-clock terms too: a live source closes
    // incidents by the clock, and the first spike must still be open when the daemon stops.
    let mut traffic = scenario("latency_spike", 9, LineFormat::Json).unwrap();
    traffic.start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1950);
    let split = jiff::Timestamp::now(); // 30 s into the first spike (which starts at +1920 s)
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (mut fa, mut fb) = (std::fs::File::create(&a).unwrap(), std::fs::File::create(&b).unwrap());
    let (mut na, mut nb) = (0u64, 0u64);
    for g in TrafficGenerator::new(traffic).unwrap() {
        if g.time < split {
            writeln!(fa, "{}", g.line).unwrap();
            na += 1;
        } else {
            writeln!(fb, "{}", g.line).unwrap();
            nb += 1;
        }
    }
    drop((fa, fb));

    let first = run_over(&a, na, &state, &[]);
    let first_opened = opened(&first);
    assert!(
        first_opened.contains(&("response_time".into(), "GET /api/products".into())),
        "the first spike was not reported: {first_opened:?}"
    );
    assert!(state.join("models.json").exists(), "models.json was not written");

    // The second run could not train on its own (it would need a million events): any model verdict
    // comes from the saved models.
    let second = run_over(
        &b,
        nb,
        &state,
        &[
            ("ANOMALY_DETECTOR__DETECTION__MIN_TRAINING_EVENTS", "1000000"),
            ("ANOMALY_DETECTOR__DETECTION__TRAINING_EVENTS", "1000000"),
        ],
    );
    assert!(
        second.iter().any(|v| v["message"].as_str().is_some_and(|m| m.starts_with("Resuming from saved models"))),
        "the second run did not resume: {:?}",
        second.iter().filter(|v| v["level"] == "WARN").take(3).collect::<Vec<_>>()
    );
    let second_opened = opened(&second);
    assert!(
        !second_opened.contains(&("response_time".into(), "GET /api/products".into())),
        "the ongoing spike was reported again after the restart: {second_opened:?}"
    );
    for ep in ["GET /api/users/{id}", "GET /api/search"] {
        assert!(
            second_opened.contains(&("response_time".into(), ep.into())),
            "the saved models did not find the spike on {ep}: {second_opened:?}"
        );
    }
}

/// Writes the generated lines to `path`; returns each line's incident kind, if any.
fn write_log(traffic: TrafficConfig, path: &std::path::Path) -> Vec<Option<IncidentKind>> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    TrafficGenerator::new(traffic)
        .unwrap()
        .map(|g| {
            writeln!(f, "{}", g.line).unwrap();
            g.label.map(|l| l.0)
        })
        .collect()
}

/// Models saved a day ago, and a restart into a latency spike and an error burst already under
/// way: the stale models report both, and the refits the restart makes on those minutes do not
/// learn them.
#[test]
fn a_restart_with_yesterdays_models_reports_an_incident_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let now = jiff::Timestamp::now();
    let mut yesterday = TrafficConfig::new(61, 20.0);
    yesterday.duration_secs = Some(1800.0);
    yesterday.start = now - jiff::SignedDuration::from_hours(24);
    let a = dir.path().join("yesterday.log");
    let na = write_log(yesterday, &a).len() as u64;
    run_over(&a, na, &state, &[]);
    assert!(state.join("models.json").exists(), "models.json was not written");

    let mut today = TrafficConfig::new(62, 20.0);
    today.duration_secs = Some(300.0);
    today.start = now - jiff::SignedDuration::from_secs(300);
    today.incidents = vec![
        ScheduledIncident::new(IncidentKind::LatencySpike, 0.0, 240.0).on("GET /api/products"),
        ScheduledIncident::new(IncidentKind::ErrorBurst, 20.0, 200.0).on("GET /api/users"),
    ];
    let b = dir.path().join("today.log");
    let labels = write_log(today, &b);
    let nb = labels.len() as u64;
    let spike = labels.iter().filter(|l| **l == Some(IncidentKind::LatencySpike)).count() as u64;
    // Refit often, so the restart refits on the incident's minutes more than once.
    let (second, listing) =
        run_over_listing(&b, nb, &state, &[("ANOMALY_DETECTOR__DETECTION__RETRAIN_INTERVAL_SECS", "60")]);
    assert!(
        second.iter().any(|v| v["message"].as_str().is_some_and(|m| m.starts_with("Resuming from saved models"))),
        "the second run did not resume"
    );
    let refits = second.iter().filter(|v| v["message"] == "Models trained").count();
    assert!(refits >= 2, "the restart refitted {refits} times");
    let second_opened = opened(&second);
    for (kind, ep) in [("response_time", "GET /api/products"), ("status_code", "GET /api/users")] {
        assert!(second_opened.contains(&(kind.into(), ep.into())), "no {kind} incident on {ep}: {second_opened:?}");
    }
    // The refits on those minutes did not learn the spike: its lines were still flagged to the end.
    let incidents = listing["incidents"].as_array().cloned().unwrap_or_default();
    let found: u64 = incidents
        .iter()
        .filter(|i| i["kind"] == "response_time" && i["endpoint"] == "GET /api/products")
        .map(|i| i["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(found * 10 >= spike * 9, "{found} of the spike's {spike} lines flagged");
}

/// One combined-format line at `t`.
fn access_line(t: jiff::Timestamp, client: &str, target: &str, status: u16) -> String {
    format!(
        "{client} - - [{}] \"GET {target} HTTP/1.1\" {status} 5120 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0\" 0.012",
        t.strftime("%d/%b/%Y:%H:%M:%S +0000")
    )
}

#[test]
fn a_restart_remembers_what_the_site_serves() {
    // A WordPress site: its own /wp-login.php is served to its users, so it is not a probe. After a
    // restart, the first user to log in must not be called a scanner again.
    let dir = tempfile::tempdir().unwrap();
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1800);
    let pages = ["/", "/blog/", "/about/", "/blog/hello-world/"];
    let mut first = String::new();
    let mut n = 0u64;
    for s in 0..1500i64 {
        let t = start + jiff::SignedDuration::from_secs(s);
        // Each login by another of the site's 30 users.
        let (client, target) = if s % 50 == 0 {
            (format!("198.51.100.{}", s / 50 % 30 + 1), "/wp-login.php")
        } else {
            (format!("198.51.100.{}", s % 30 + 1), pages[s as usize % pages.len()])
        };
        first.push_str(&access_line(t, &client, target, 200));
        first.push('\n');
        n += 1;
    }
    let a = dir.path().join("a.log");
    std::fs::write(&a, first).unwrap();
    let later = |name: &str| {
        let p = dir.path().join(name);
        let t = start + jiff::SignedDuration::from_secs(1600);
        std::fs::write(&p, format!("{}\n", access_line(t, "192.0.2.44", "/wp-login.php", 200))).unwrap();
        p
    };
    let probes = |log: &[serde_json::Value]| {
        log.iter()
            .filter(|v| {
                v["message"].as_str().is_some_and(|m| m.starts_with("Incident opened") && m.contains("wp-login.php"))
            })
            .count()
    };
    let probe_opened = |log: &[serde_json::Value]| probes(log) > 0;

    let state = dir.path().join("state");
    let log = run_over(&a, n, &state, &[]);
    // Live, the lines are judged as they come: the first users' logins, before 5 users had one.
    assert!(probes(&log) < 5, "the site's own login page was called a probe for good: {}", probes(&log));
    let saved = std::fs::read_to_string(state.join("models.json")).unwrap();
    assert!(saved.contains("\"/wp-login.php\""), "models.json does not keep the site's content");
    let log = run_over(&later("b.log"), 1, &state, &[]);
    assert!(!probe_opened(&log), "after a restart the site's login page was called a probe again");
    // Without what the first run learned, the same line is a probe: the check above can fail.
    let log = run_over(&later("c.log"), 1, &dir.path().join("fresh"), &[]);
    assert!(probe_opened(&log), "a single client's /wp-login.php is a probe to a detector that never saw the site");
}
