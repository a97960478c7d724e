//! Incidents inside the history the detector learns from (issue 13): a self-trained `scan` whose
//! file starts with an incident, `scan --train FILE` where FILE holds incidents, a daemon whose
//! first models are fitted while an incident is under way, and a longer training window that must
//! not find less. Before, each learned its incidents as the normal: a spike 30 % of its endpoint's
//! training lines was 0/531 found, and recall fell from 0.83 to 0.34 as the window grew.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anomaly_detector::config::Config;
use anomaly_detector::eval::{self, Learning, Setup};
use anomaly_detector::source::demo::{IncidentKind, LineFormat, ScheduledIncident, TrafficConfig, TrafficGenerator};
use support::daemon::{bin, free_port, lines_processed};

mod support;

/// What the author checks, on every scenario with incidents in its history.
fn check(r: &eval::ScenarioResult) {
    let summary = eval::markdown(std::slice::from_ref(r));
    assert!(r.precision >= 0.97, "precision {:.3}\n{summary}", r.precision);
    assert!(r.recall >= 0.95, "recall {:.3}\n{summary}", r.recall);
    for i in &r.incidents {
        if i.kind != "traffic_drop" {
            assert!(
                2 * i.flagged_lines >= i.labelled_lines,
                "{}: {}/{}\n{summary}",
                i.description,
                i.flagged_lines,
                i.labelled_lines
            );
        }
    }
    // The 0.02 %. It was 0.05 % while a request as fast as usual, right after a spike,
    // could be flagged on its endpoint's running latency alone.
    assert!(r.clean_flagged_rate <= 0.0002, "{:.3} % of clean lines flagged\n{summary}", r.clean_flagged_rate * 100.0);
}

fn run(name: &str, seed: u64, format: LineFormat) -> eval::ScenarioResult {
    let setup = eval::setup(name, seed, format).unwrap();
    eval::run_setup(&Config::default(), name, setup).unwrap()
}

#[test]
fn a_self_trained_scan_finds_the_incidents_its_first_lines_hold() {
    for (seed, format) in [(21, LineFormat::Json), (22, LineFormat::Combined)] {
        check(&run("dirty_start", seed, format));
    }
}

#[test]
fn a_training_file_with_incidents_teaches_the_normal_not_the_incidents() {
    for (seed, format) in [(31, LineFormat::Combined), (32, LineFormat::Json)] {
        check(&run("dirty_train", seed, format));
    }
}

#[test]
fn the_daemons_first_models_report_an_incident_already_under_way() {
    for (seed, format) in [(41, LineFormat::Json), (42, LineFormat::Combined)] {
        check(&run("live_mid_incident", seed, format));
    }
}

/// An hour with an incident every 8 minutes from the first, learned from 10,000 lines or from
/// 50,000 (most of the hour, every incident of it inside).
#[test]
fn a_longer_training_window_finds_no_less() {
    use IncidentKind::*;
    let mut traffic = TrafficConfig::new(51, 20.0);
    traffic.format = LineFormat::Combined;
    traffic.duration_secs = Some(3600.0);
    let kinds = [LatencySpike, ErrorBurst, LargeResponses, NewFailingEndpoint];
    let spike = ["GET /api/products", "GET /api/users", "GET /api/search"];
    let new = ["POST /api/v2/checkout", "GET /api/v2/recommendations", "POST /api/payments/refund"];
    traffic.incidents = (0..7)
        .map(|k| {
            let at = 20.0 + 480.0 * k as f64;
            let i = ScheduledIncident::new(kinds[k % 4], at, if k % 4 == 2 { 30.0 } else { 90.0 });
            match kinds[k % 4] {
                NewFailingEndpoint => i.on(new[k / 4 % 3]),
                LargeResponses => i.on("GET /api/orders/{id}"),
                _ => i.on(spike[k % 3]),
            }
        })
        .collect();
    let at = |n| {
        let setup = Setup { traffic: traffic.clone(), learning: Learning::SelfTrained, training_events: Some(n) };
        eval::run_setup(&Config::default(), "sweep", setup).unwrap()
    };
    let (small, large) = (at(10_000), at(50_000));
    let table = eval::markdown(&[small.clone(), large.clone()]);
    assert!(small.recall >= 0.95, "{table}");
    assert!(large.recall >= small.recall - 0.002, "more history found less\n{table}");
    assert!(large.clean_flagged <= small.clean_flagged + 2, "more history flagged more healthy lines\n{table}");
}

/// A generated log and its labels (true: the line belongs to an incident).
fn write_log(traffic: TrafficConfig, path: &std::path::Path) -> Vec<bool> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    TrafficGenerator::new(traffic)
        .unwrap()
        .map(|g| {
            writeln!(f, "{}", g.line).unwrap();
            g.label.is_some()
        })
        .collect()
}

/// The 1-based lines `scan --output jsonl` flags.
fn scan(args: &[&std::ffi::OsStr]) -> Vec<u64> {
    let out = bin().arg("scan").args(["--output", "jsonl", "--no-progress"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["line"].as_u64())
        .collect()
}

#[test]
fn scan_finds_a_latency_spike_in_the_first_minutes_of_the_file_it_learns_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut traffic = TrafficConfig::new(61, 20.0);
    traffic.format = LineFormat::Combined;
    traffic.duration_secs = Some(900.0);
    // From the first line, for a third of what scan learns from.
    traffic.incidents = vec![ScheduledIncident::new(IncidentKind::LatencySpike, 0.0, 160.0).on("GET /api/products")];
    let labels = write_log(traffic, &path);
    let flagged = scan(&[path.as_os_str()]);
    let spike = labels.iter().filter(|l| **l).count();
    let found = flagged.iter().filter(|&&l| labels[l as usize - 1]).count();
    assert!(found * 10 >= spike * 9, "{found} of the spike's {spike} lines flagged");
    assert!(flagged.len() - found <= 3, "{} healthy lines flagged", flagged.len() - found);
}

#[test]
fn scan_with_a_training_file_that_holds_a_spike_and_a_burst_finds_them_in_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let (train, input) = (dir.path().join("yesterday.log"), dir.path().join("today.log"));
    let mut t = TrafficConfig::new(71, 20.0);
    t.duration_secs = Some(600.0);
    t.incidents = vec![
        ScheduledIncident::new(IncidentKind::LatencySpike, 100.0, 150.0).on("GET /api/products"),
        ScheduledIncident::new(IncidentKind::ErrorBurst, 300.0, 150.0).on("GET /api/users"),
    ];
    write_log(t.clone(), &train);
    t.seed = 72;
    t.start += jiff::SignedDuration::from_secs(600);
    t.incidents = vec![
        ScheduledIncident::new(IncidentKind::LatencySpike, 60.0, 60.0).on("GET /api/products"),
        ScheduledIncident::new(IncidentKind::ErrorBurst, 300.0, 60.0).on("GET /api/users"),
    ];
    let labels = write_log(t, &input);
    let flagged = scan(&["--train".as_ref(), train.as_os_str(), input.as_os_str()]);
    let incident = labels.iter().filter(|l| **l).count();
    let found = flagged.iter().filter(|&&l| labels[l as usize - 1]).count();
    assert!(found * 100 >= incident * 95, "{found} of the input's {incident} incident lines flagged");
    assert!(flagged.len() - found <= 3, "{} healthy lines flagged", flagged.len() - found);
}

/// The daemon over a followed file whose first minutes hold a latency spike: it opens an incident
/// for it (the first models judge the lines they were fitted on).
#[test]
fn the_daemon_reports_a_spike_under_way_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut traffic = TrafficConfig::new(81, 20.0);
    traffic.duration_secs = Some(240.0);
    // Anchored to now: a live source closes incidents by the clock.
    traffic.start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(240);
    traffic.incidents = vec![ScheduledIncident::new(IncidentKind::LatencySpike, 30.0, 200.0).on("GET /api/products")];
    let lines = write_log(traffic, &path).len() as u64;
    let port = free_port();
    let mut child: Child = bin()
        .args(["--log-format", "json", "run"])
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "file")
        .env("ANOMALY_DETECTOR__SOURCE__PATHS", &path)
        .env("ANOMALY_DETECTOR__SOURCE__FOLLOW", "true")
        .env("ANOMALY_DETECTOR__STATE__DIR", dir.path().join("state"))
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ANOMALY_DETECTOR__MODELS__ISOLATION_FOREST__SEED", "5")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while lines_processed(port) != Some(lines) {
        assert!(start.elapsed() < Duration::from_secs(120), "the daemon did not process {lines} lines in time");
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let log: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let opened: Vec<(&str, &str)> = log
        .iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("Incident opened")))
        .map(|v| (v["kind"].as_str().unwrap_or(""), v["endpoint"].as_str().unwrap_or("")))
        .collect();
    assert!(opened.contains(&("response_time", "GET /api/products")), "incidents opened: {opened:?}");
}

/// The daemon fed a file through stdin reports the incidents `scan` of that file reports: the same
/// kinds on the same endpoints from the same second, with as many lines. Before, a backlog read
/// faster than its time passes never closed an incident by the clock, so a second spike on an
/// endpoint replaced the first one unresolved, and the first was lost.
#[test]
fn the_daemon_reading_stdin_reports_what_scan_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut traffic = TrafficConfig::new(91, 20.0);
    traffic.duration_secs = Some(2400.0);
    traffic.incidents = vec![
        ScheduledIncident::new(IncidentKind::LatencySpike, 700.0, 90.0).on("GET /api/products"),
        ScheduledIncident::new(IncidentKind::ErrorBurst, 1100.0, 90.0).on("GET /api/users"),
        ScheduledIncident::new(IncidentKind::LatencySpike, 1500.0, 90.0).on("GET /api/products"),
        ScheduledIncident::new(IncidentKind::Scanner, 1900.0, 30.0),
    ];
    write_log(traffic, &path);

    let out = bin().args(["scan", "--no-progress"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // `  [severity] kind METHOD PATH ×lines first → last: reason`
    let mut from_scan: Vec<(String, String, String, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("  [")?;
            let (_, rest) = rest.split_once("] ")?;
            let (kind, rest) = rest.split_once(' ')?;
            let (endpoint, rest) = rest.split_once(" ×")?;
            let (count, rest) = rest.split_once(' ')?;
            Some((kind.to_string(), endpoint.to_string(), rest.get(..19)?.to_string(), count.parse().ok()?))
        })
        .collect();

    let state = dir.path().join("state");
    let out = bin()
        .args(["--log-format", "json", "run"])
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "stdin")
        .env("ANOMALY_DETECTOR__STATE__DIR", &state)
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", "127.0.0.1:0")
        .env("LOG_LEVEL", "info")
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut from_daemon: Vec<(String, String, String, u64)> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("Incident closed")))
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            (
                s("kind"),
                s("endpoint"),
                s("first_seen").get(..19).unwrap_or("").to_string(),
                v["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // The two learned from different windows (the daemon fits at 1,000 and 4,000 lines before
    // 10,000), so a lone borderline line may be flagged by one only; the incidents are the same.
    // A scanner's incident is labelled with the path of its worst request, which they can rank
    // differently; its kind and start are the same.
    for list in [&mut from_scan, &mut from_daemon] {
        let lone = list.iter().filter(|i| i.3 < 3).count();
        assert!(lone <= 2, "{lone} single-line incidents: {list:?}");
        list.retain(|i| i.3 >= 3);
        for i in list.iter_mut().filter(|i| i.0 == "suspicious") {
            i.1 = "(a client)".into();
        }
        list.sort();
    }
    assert!(from_scan.len() >= 4, "scan found {from_scan:?}");
    assert_eq!(from_daemon, from_scan, "the daemon's incidents (left) against scan's (right)");
}

/// A 5xx burst is found a few errors in; the errors before that line are its start and are
/// reported in its incident too (each burst's first two errors were missed: error_burst recall
/// 0.978), while a background 5xx minutes earlier is not.
#[test]
fn the_first_errors_of_a_burst_are_in_its_incident() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut traffic = TrafficConfig::new(95, 20.0);
    traffic.duration_secs = Some(1500.0);
    traffic.incidents = vec![
        ScheduledIncident::new(IncidentKind::ErrorBurst, 700.0, 60.0).on("GET /api/users"),
        ScheduledIncident::new(IncidentKind::ErrorBurst, 1100.0, 60.0).on("GET /api/products/{id}"),
    ];
    let labels = write_log(traffic, &path);
    let flagged = scan(&[path.as_os_str()]);
    let burst = labels.iter().filter(|l| **l).count();
    let found = flagged.iter().filter(|&&l| labels[l as usize - 1]).count();
    assert_eq!(found, burst, "{found} of the bursts' {burst} error lines flagged");
    assert!(flagged.len() - found <= 1, "{} healthy lines flagged", flagged.len() - found);
}
