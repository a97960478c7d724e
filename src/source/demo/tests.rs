//! Behaviour of the generator as its users see it: lines, labels and ground truth.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use regex::Regex;

use super::*;

/// One parsed JSON line.
#[derive(Debug, Clone)]
struct Line {
    time: Timestamp,
    client: String,
    endpoint: String,
    path: String,
    status: u16,
    latency_ms: f64,
    bytes: u64,
    ua: String,
    label: Option<(IncidentKind, u32)>,
}

/// `GET /api/users/4812?x=1` → `GET /api/users/{id}`.
fn endpoint_of(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "{id}" } else { s })
        .collect();
    format!("{method} {}", segments.join("/"))
}

fn parse(g: &Generated) -> Line {
    let v: serde_json::Value = serde_json::from_str(&g.line).unwrap_or_else(|e| panic!("{e}: {}", g.line));
    let time: Timestamp = v["time"].as_str().unwrap().parse().unwrap();
    assert_eq!(time, g.time, "the line's time is the event time");
    let method = v["method"].as_str().unwrap();
    let path = v["path"].as_str().unwrap().to_string();
    Line {
        time,
        client: v["remote_addr"].as_str().unwrap().to_string(),
        endpoint: endpoint_of(method, &path),
        path,
        status: v["status"].as_u64().unwrap() as u16,
        latency_ms: v["response_time_ms"].as_f64().unwrap(),
        bytes: v["bytes"].as_u64().unwrap(),
        ua: v["user_agent"].as_str().unwrap().to_string(),
        label: g.label,
    }
}

fn run(config: TrafficConfig) -> (Vec<Generated>, Vec<IncidentTruth>) {
    let mut generator = TrafficGenerator::new(config).expect("valid config");
    let lines: Vec<Generated> = generator.by_ref().collect();
    (lines, generator.incidents().to_vec())
}

fn run_parsed(name: &str, seed: u64) -> (Vec<Line>, Vec<IncidentTruth>) {
    let (lines, truth) = run(scenario(name, seed, LineFormat::Json).unwrap());
    (lines.iter().map(parse).collect(), truth)
}

fn median_of(endpoint: &str) -> f64 {
    endpoint_profiles().into_iter().find(|p| p.name == endpoint).unwrap().median_ms
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn in_window(line: &Line, truth: &IncidentTruth) -> bool {
    truth.contains(line.time)
}

#[test]
fn same_seed_same_lines_other_seed_other_lines() {
    let take = |seed| {
        TrafficGenerator::new(scenario("mixed", seed, LineFormat::Combined).unwrap())
            .unwrap()
            .skip(35_000)
            .take(5_000)
            .collect::<Vec<_>>()
    };
    let a = take(9);
    assert_eq!(a, take(9));
    assert_ne!(a, take(10));
    assert!(a.iter().any(|g| g.label.is_some()), "the window covers incidents");
}

#[test]
fn lines_never_hint_at_incidents_and_every_kind_is_labelled() {
    let (lines, truth) = run(scenario("mixed", 5, LineFormat::Json).unwrap());
    for g in &lines {
        let lower = g.line.to_ascii_lowercase();
        for word in ["anomal", "incident", "inject", "spike", "label", "burst", "synthetic"] {
            assert!(!lower.contains(word), "{word:?} in {}", g.line);
        }
    }
    assert!(lines.windows(2).all(|w| w[0].time <= w[1].time), "time never goes back");
    for t in &truth {
        if t.kind.labels_lines() {
            assert!(t.labelled_lines > 0, "{t:?}");
            let counted = lines.iter().filter(|g| g.label == Some((t.kind, t.id))).count() as u64;
            assert_eq!(counted, t.labelled_lines, "{t:?}");
        } else {
            assert_eq!(t.labelled_lines, 0);
            assert!(t.dropped_requests > 0, "{t:?}");
        }
        assert!(t.start <= t.end);
    }
    let kinds: HashSet<_> = lines.iter().filter_map(|g| g.label.map(|(k, _)| k)).collect();
    assert_eq!(kinds.len(), IncidentKind::ALL.len() - 1, "every line-level kind labels lines");
    // Labels only inside their incident's window.
    for g in lines.iter().filter(|g| g.label.is_some()) {
        let (_, id) = g.label.unwrap();
        assert!(truth[id as usize - 1].contains(g.time), "{g:?}");
    }
}

#[test]
fn clean_traffic_follows_the_endpoint_profiles() {
    let mut config = TrafficConfig::new(11, 50.0);
    config.duration_secs = Some(2400.0);
    let (lines, _) = run(config);
    let lines: Vec<Line> = lines.iter().map(parse).collect();
    assert!(lines.iter().all(|l| l.label.is_none()));
    let rate = lines.len() as f64 / 2400.0;
    assert!((48.0..53.0).contains(&rate), "{rate} lines/s");

    let mut by_endpoint: HashMap<&str, Vec<&Line>> = HashMap::new();
    for l in &lines {
        by_endpoint.entry(&l.endpoint).or_default().push(l);
    }
    for profile in endpoint_profiles() {
        let group = by_endpoint.get(profile.name).unwrap_or_else(|| panic!("{} never requested", profile.name));
        if group.len() < 1000 {
            continue;
        }
        let mut latencies: Vec<f64> = group.iter().map(|l| l.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let p50 = percentile(&latencies, 0.5);
        let p999 = percentile(&latencies, 0.999);
        assert!((p50 / profile.median_ms - 1.0).abs() < 0.1, "{}: p50 {p50} vs {}", profile.name, profile.median_ms);
        assert!(p999 < 5.0 * p50, "{}: p99.9 {p999} vs p50 {p50}", profile.name);
        let share = group.len() as f64 / lines.len() as f64;
        assert!(share < 0.25, "{}: {share}", profile.name);
    }
    let unknown: Vec<_> = by_endpoint.keys().filter(|e| !endpoint_profiles().iter().any(|p| p.name == **e)).collect();
    assert!(unknown.is_empty(), "{unknown:?}");

    let rate_of = |endpoint: &str, status: u16| {
        let group = &by_endpoint[endpoint];
        group.iter().filter(|l| l.status == status).count() as f64 / group.len() as f64
    };
    assert!((0.008..0.025).contains(&rate_of("GET /api/users/{id}", 404)));
    assert!((0.02..0.045).contains(&rate_of("POST /api/login", 401)));
    assert!((0.97..1.0).contains(&rate_of("POST /api/orders", 201)));
    assert!((0.25..0.45).contains(&rate_of("GET /static/app.js", 304)));
    let server_errors = lines.iter().filter(|l| l.status >= 500).count() as f64 / lines.len() as f64;
    assert!(server_errors > 0.0 && server_errors < 0.002, "rare background 5xx: {server_errors}");

    // Many clients, Zipf-like: the busiest few send a lot, most send a little.
    let mut per_client: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        *per_client.entry(&l.client).or_default() += 1;
    }
    assert!(per_client.len() > 250, "{} clients", per_client.len());
    let mut counts: Vec<usize> = per_client.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    assert!(counts[0] > 20 * counts[counts.len() / 2], "top {} vs median {}", counts[0], counts[counts.len() / 2]);
    // Probes every 10 s from two nodes; static assets only from browsers.
    let probes = lines.iter().filter(|l| l.endpoint == "GET /healthz").count();
    assert!((470..490).contains(&probes), "{probes} probes in 2400 s");
    assert!(lines.iter().filter(|l| l.endpoint == "GET /healthz").all(|l| l.ua == "kube-probe/1.29"));
    assert!(lines.iter().filter(|l| l.endpoint == "GET /static/app.js").all(|l| l.ua.starts_with("Mozilla/5.0")));
}

#[test]
fn latency_spike_slows_every_request_of_its_endpoint() {
    let (lines, truth) = run_parsed("latency_spike", 21);
    assert_eq!(truth.len(), 3);
    for t in &truth {
        let endpoint = t.endpoint.as_deref().unwrap();
        let median = median_of(endpoint);
        let in_spike: Vec<&Line> = lines.iter().filter(|l| l.endpoint == endpoint && in_window(l, t)).collect();
        assert!(in_spike.len() > 50, "{endpoint}: {}", in_spike.len());
        for l in &in_spike {
            assert_eq!(l.label, Some((IncidentKind::LatencySpike, t.id)), "every request in the window is labelled");
            assert!(l.latency_ms >= 5.0 * median, "{endpoint}: {} ms vs median {median}", l.latency_ms);
        }
    }
}

#[test]
fn unlabelled_lines_are_the_clean_run_lines() {
    let config = scenario("latency_spike", 4, LineFormat::Json).unwrap();
    let clean = TrafficConfig { incidents: Vec::new(), ..config.clone() };
    let (with, _) = run(config);
    let (without, _) = run(clean);
    assert_eq!(with.len(), without.len(), "a spike replaces lines one for one");
    let mut labelled = 0;
    for (a, b) in with.iter().zip(&without) {
        assert_eq!(a.time, b.time);
        match a.label {
            None => assert_eq!(a.line, b.line),
            Some(_) => labelled += 1,
        }
    }
    assert!(labelled > 100);
}

#[test]
fn lone_slow_is_one_request_far_above_its_median() {
    let (lines, truth) = run_parsed("lone_slow", 8);
    assert_eq!(truth.len(), 8);
    for t in &truth {
        let slow: Vec<&Line> = lines.iter().filter(|l| l.label.map(|(_, id)| id) == Some(t.id)).collect();
        assert_eq!(slow.len(), 1, "{t:?}");
        let factor = slow[0].latency_ms / median_of(t.endpoint.as_deref().unwrap());
        assert!((18.0..66.0).contains(&factor), "{factor}× median");
        assert_eq!(slow[0].time, t.start);
        assert_eq!(Some(&slow[0].client), t.client.as_ref());
        assert!(slow[0].status < 400);
    }
}

#[test]
fn error_burst_fails_most_requests_of_one_endpoint() {
    let (lines, truth) = run_parsed("error_burst", 13);
    for t in &truth {
        let endpoint = t.endpoint.as_deref().unwrap();
        let window: Vec<&Line> = lines.iter().filter(|l| l.endpoint == endpoint && in_window(l, t)).collect();
        let labelled: Vec<&&Line> = window.iter().filter(|l| l.label.is_some()).collect();
        assert!(labelled.iter().all(|l| [500, 502, 503].contains(&l.status)));
        let fraction = labelled.len() as f64 / window.len() as f64;
        assert!((0.4..0.97).contains(&fraction), "{endpoint}: {fraction}");
        assert!(labelled.len() >= 15, "{endpoint}: {}", labelled.len());
        // Outside its window the endpoint is healthy.
        let outside = lines.iter().filter(|l| l.endpoint == endpoint && !in_window(l, t) && l.status >= 500).count();
        let total = lines.iter().filter(|l| l.endpoint == endpoint).count();
        assert!((outside as f64) < 0.005 * total as f64, "{endpoint}: {outside} errors outside");
    }
}

#[test]
fn new_failing_endpoint_appears_only_in_its_window_and_mostly_fails() {
    let (lines, truth) = run_parsed("new_failing_endpoint", 17);
    for t in &truth {
        let endpoint = t.endpoint.as_deref().unwrap();
        let seen: Vec<&Line> = lines.iter().filter(|l| l.endpoint == endpoint).collect();
        assert!(seen.len() >= 20, "{endpoint}: {}", seen.len());
        assert!(seen.iter().all(|l| in_window(l, t)), "never seen outside its window");
        let failing = seen.iter().filter(|l| l.status >= 500).count() as f64 / seen.len() as f64;
        assert!(failing > 0.6 && (failing - t.intensity).abs() < 0.2, "{failing} failing at intensity {}", t.intensity);
        for l in seen {
            assert_eq!(l.label.is_some(), l.status >= 500, "exactly the failing lines are labelled");
        }
    }
}

#[test]
fn scanner_is_one_new_client_probing_many_paths() {
    let (lines, truth) = run_parsed("scanner", 19);
    for t in &truth {
        let ip = t.client.as_deref().unwrap();
        let mine: Vec<&Line> = lines.iter().filter(|l| l.label.map(|(_, id)| id) == Some(t.id)).collect();
        assert!(mine.len() >= 60, "{} probes in 20 s", mine.len());
        assert!(mine.iter().all(|l| l.client == ip && (400..500).contains(&l.status)));
        let paths: HashSet<&str> = mine.iter().map(|l| l.path.as_str()).collect();
        assert!(paths.len() >= 15, "{} distinct paths", paths.len());
        // The client shows up nowhere else, and all its lines are labelled.
        assert!(lines.iter().filter(|l| l.client == ip).all(|l| l.label == Some((IncidentKind::Scanner, t.id))));
    }
    let uas: HashSet<&str> = lines.iter().filter(|l| l.label.is_some()).map(|l| l.ua.as_str()).collect();
    assert!(!uas.is_empty());
}

#[test]
fn large_responses_come_from_one_client_on_one_endpoint() {
    let (lines, truth) = run_parsed("large_responses", 23);
    for t in &truth {
        let endpoint = t.endpoint.as_deref().unwrap();
        let mean = endpoint_profiles().into_iter().find(|p| p.name == endpoint).unwrap().bytes_mean;
        let mine: Vec<&Line> = lines.iter().filter(|l| l.label.map(|(_, id)| id) == Some(t.id)).collect();
        assert!(mine.len() >= 8, "{}", mine.len());
        for l in mine {
            assert_eq!((l.endpoint.as_str(), Some(&l.client)), (endpoint, t.client.as_ref()));
            assert!(l.bytes as f64 >= 25.0 * mean, "{} bytes vs mean {mean}", l.bytes);
            assert!(in_window(l, t) && l.status == 200);
        }
    }
}

#[test]
fn traffic_drop_empties_its_endpoint_for_the_window() {
    let config = scenario("traffic_drop", 29, LineFormat::Json).unwrap();
    let clean = TrafficConfig { incidents: Vec::new(), ..config.clone() };
    let (with, truth) = run(config);
    let (without, _) = run(clean);
    let with: Vec<Line> = with.iter().map(parse).collect();
    let without: Vec<Line> = without.iter().map(parse).collect();
    assert!(with.iter().all(|l| l.label.is_none()), "a drop labels no line");
    for t in &truth {
        let endpoint = t.endpoint.as_deref().unwrap();
        let count = |lines: &[Line]| lines.iter().filter(|l| l.endpoint == endpoint && in_window(l, t)).count();
        let (kept, expected) = (count(&with), count(&without));
        assert!(expected > 200, "{endpoint}: {expected}");
        assert!((kept as f64) < 0.2 * expected as f64, "{endpoint}: {kept} of {expected}");
        assert_eq!(t.dropped_requests as usize, expected - kept);
    }
}

#[test]
fn daily_rhythm_makes_nights_quieter() {
    let config = scenario("clean_day", 31, LineFormat::Json).unwrap();
    let (lines, _) = run(TrafficConfig { requests_per_sec: 2.0, ..config });
    let hour_count = |h: i64| {
        lines
            .iter()
            .filter(|g| g.time.as_second().rem_euclid(86_400) / 3600 == h)
            .filter(|g| !g.line.contains("kube-probe") && !g.line.contains("Prometheus"))
            .count() as f64
    };
    let (night, day) = (hour_count(4), hour_count(16));
    assert!((night / day - 0.3).abs() < 0.05, "night {night} vs day {day}");
    assert!(hour_count(10) > night && hour_count(10) < day);
    let background = (0..24).map(hour_count).sum::<f64>() / (86_400.0 * 2.0);
    assert!((0.6..0.7).contains(&background), "mean rate {background} of the peak (0.65 expected)");
}

#[test]
fn combined_lines_match_nginx_combined_with_request_time() {
    let re = Regex::new(concat!(
        r#"^(\S+) - - \[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\] "#,
        r#""([A-Z]+) (\S+) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+\.\d{3})$"#
    ))
    .unwrap();
    let (lines, _) = run(scenario("mixed", 37, LineFormat::Combined).unwrap());
    let (json_lines, _) = run(scenario("mixed", 37, LineFormat::Json).unwrap());
    assert_eq!(lines.len(), json_lines.len());
    for (g, j) in lines.iter().zip(&json_lines) {
        let caps = re.captures(&g.line).unwrap_or_else(|| panic!("not combined: {}", g.line));
        let j = parse(j);
        assert_eq!((&caps[1], &caps[9]), (j.client.as_str(), j.path.as_str()));
        assert_eq!(caps[10].parse::<u16>().unwrap(), j.status);
        assert_eq!(caps[11].parse::<u64>().unwrap(), j.bytes);
        let seconds: f64 = caps[14].parse().unwrap();
        assert!((seconds * 1000.0 - j.latency_ms).abs() <= 0.6, "{seconds} s vs {} ms", j.latency_ms);
        assert_eq!(g.label, j.label);
    }
}

#[test]
fn bad_schedules_are_refused_with_a_reason() {
    let with = |incident: ScheduledIncident| {
        TrafficGenerator::new(TrafficConfig { incidents: vec![incident], ..TrafficConfig::new(1, 10.0) })
            .err()
            .map(|e| e.label())
    };
    use IncidentKind::*;
    assert_eq!(with(ScheduledIncident::new(LatencySpike, 10.0, 5.0).on("GET /nope")), Some("unknown_endpoint"));
    assert_eq!(
        with(ScheduledIncident::new(NewFailingEndpoint, 10.0, 5.0).on("GET /api/users")),
        Some("not_a_new_endpoint")
    );
    assert_eq!(with(ScheduledIncident::new(NewFailingEndpoint, 10.0, 5.0).on("/api/v9")), Some("not_a_new_endpoint"));
    assert_eq!(with(ScheduledIncident::new(Scanner, 10.0, 5.0).on("GET /api/users")), Some("not_applicable"));
    assert_eq!(with(ScheduledIncident::new(ErrorBurst, 10.0, 5.0).from_client("1.2.3.4")), Some("not_applicable"));
    assert_eq!(with(ScheduledIncident::new(ErrorBurst, 10.0, 5.0).with_intensity(1.5)), Some("bad_intensity"));
    assert_eq!(with(ScheduledIncident::new(ErrorBurst, f64::NAN, 5.0)), Some("bad_timing"));
    assert_eq!(with(ScheduledIncident::new(ErrorBurst, 10.0, -1.0)), Some("bad_timing"));
    assert_eq!(with(ScheduledIncident::new(Scanner, 10.0, 5.0).from_client("203.0.113.9")), None);
    let bad_rate = TrafficGenerator::new(TrafficConfig::new(1, 0.0)).err().map(|e| e.label());
    assert_eq!(bad_rate, Some("bad_rate"));

    let mut generator = TrafficGenerator::new(TrafficConfig::new(1, 10.0)).unwrap();
    generator.by_ref().take(200).for_each(drop);
    let late = generator.add_incident(&ScheduledIncident::new(LatencySpike, 1.0, 5.0));
    assert_eq!(late.unwrap_err().label(), "in_the_past");
    let id = generator.add_incident(&ScheduledIncident::new(Scanner, generator.clock_secs() + 1.0, 5.0)).unwrap();
    assert_eq!(id, 1);
    assert!(generator.take(100).any(|g| g.label == Some((Scanner, 1))), "an incident added later still happens");
}

#[test]
fn given_targets_and_intensities_are_used() {
    let incident =
        ScheduledIncident::new(IncidentKind::Scanner, 5.0, 10.0).from_client("198.51.100.7").with_intensity(20.0);
    let mut config = TrafficConfig::new(2, 10.0);
    config.incidents = vec![incident];
    config.duration_secs = Some(30.0);
    let (lines, truth) = run(config);
    assert_eq!(truth[0].client.as_deref(), Some("198.51.100.7"));
    assert_eq!(truth[0].intensity, 20.0);
    let probes = lines.iter().filter(|g| g.label.is_some()).count();
    assert!((120..290).contains(&probes), "{probes} probes at 20/s for 10 s");
    assert!(lines.iter().filter(|g| g.label.is_some()).all(|g| g.line.contains("\"198.51.100.7\"")));
    assert!(lines.last().unwrap().time < truth[0].start.checked_add(jiff::SignedDuration::from_secs(26)).unwrap());
}

/// Rough throughput, for the record: `cargo test --release --lib demo::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let config = scenario("mixed", 1, LineFormat::Json).unwrap();
    let config = TrafficConfig { duration_secs: None, requests_per_sec: 500.0, ..config };
    let started = std::time::Instant::now();
    let bytes: usize = TrafficGenerator::new(config).unwrap().take(1_000_000).map(|g| g.line.len()).sum();
    let secs = started.elapsed().as_secs_f64();
    println!("1M lines ({bytes} bytes) in {secs:.2} s: {:.0} lines/s", 1e6 / secs);
}

#[test]
fn absurd_offsets_do_not_panic() {
    let far = ScheduledIncident::new(IncidentKind::Scanner, 1e300, 1e300);
    let mut generator = TrafficGenerator::new(TrafficConfig { incidents: vec![far], ..TrafficConfig::new(1, 10.0) })
        .expect("far-away incidents are valid");
    assert_eq!(generator.by_ref().take(100).filter(|g| g.label.is_some()).count(), 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any schedule is either refused with a reason or generates ordered lines without panicking.
    #[test]
    fn any_schedule_is_refused_or_generates(
        kind in 0usize..7,
        start in -5.0f64..40.0,
        duration in -1.0f64..30.0,
        intensity in proptest::option::of(-1.0f64..200.0),
        endpoint in proptest::option::of(proptest::sample::select(vec![
            "GET /api/users", "GET /api/users/{id}", "POST /api/v2/checkout", "GET /healthz", "nonsense", "GET /x y",
        ])),
        client in proptest::option::of(proptest::sample::select(vec!["10.1.2.3", "2a02:8108::1", "a\"b"])),
        rate in 0.5f64..50.0,
    ) {
        let incident = ScheduledIncident {
            kind: IncidentKind::ALL[kind],
            start_offset_secs: start,
            duration_secs: duration,
            endpoint: endpoint.map(str::to_string),
            client: client.map(str::to_string),
            intensity,
        };
        let config = TrafficConfig { incidents: vec![incident], duration_secs: Some(60.0), ..TrafficConfig::new(3, rate) };
        if let Ok(generator) = TrafficGenerator::new(config) {
            let lines: Vec<Generated> = generator.collect();
            proptest::prop_assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));
            for g in &lines {
                let parsed = serde_json::from_str::<serde_json::Value>(&g.line);
                proptest::prop_assert!(parsed.is_ok(), "not JSON: {}", g.line);
            }
        }
    }
}
