//! Incident schedules: the live demo's repeating cycle, and named labelled scenarios for tests and
//! evaluation.

use jiff::Timestamp;

use super::format::LineFormat;
use super::incidents::{IncidentKind, ScheduledIncident};
use super::traffic::TrafficConfig;

/// Length of one demo cycle: every kind of incident once, then calm until the next cycle.
pub const DEMO_CYCLE_SECS: f64 = 300.0;

/// Names accepted by [`scenario`].
pub const SCENARIOS: [&str; 10] = [
    "latency_spike",
    "lone_slow",
    "error_burst",
    "new_failing_endpoint",
    "scanner",
    "large_responses",
    "traffic_drop",
    "clean_day",
    "mixed",
    "app_log",
];

/// Background rate of the named scenarios (requests per second; change it on the returned config).
pub const SCENARIO_REQUESTS_PER_SEC: f64 = 20.0;
/// Application-log lines per second of `app_log` (beside its requests).
pub const SCENARIO_APP_LINES_PER_SEC: f64 = 2.0;
/// Clean traffic at the start of every incident scenario, to train on.
pub const SCENARIO_TRAINING_SECS: f64 = 1800.0;

/// Cycle `cycle` of the demo, starting at `cycle_start_offset_secs`: every kind begins within 90 s
/// (lone slow +10 s, scanner +15 s for 15 s, latency spike +30 s for 30 s, error burst +45 s for
/// 30 s, large responses +60 s for 20 s, new failing endpoint +70 s for 20 s, traffic drop +85 s for
/// 90 s; in the application log a new error message +20 s for 60 s, a warning surge +50 s for 30 s,
/// slow queries +75 s for 60 s). Successive cycles rotate the endpoints; incidents running at the same time never share one.
pub fn demo_schedule(cycle: u32, cycle_start_offset_secs: f64) -> Vec<ScheduledIncident> {
    const LONE_SLOW: [&str; 4] = ["GET /api/orders/{id}", "GET /api/cart", "POST /api/login", "GET /api/users/{id}"];
    const SPIKE: [&str; 4] = ["GET /api/products", "GET /api/users", "GET /api/search", "GET /api/products/{id}"];
    const ERRORS: [&str; 4] = ["GET /api/users/{id}", "GET /api/products/{id}", "GET /api/products", "GET /api/users"];
    const LARGE: [&str; 4] = ["GET /api/products", "GET /api/orders/{id}", "GET /api/users", "GET /api/search"];
    const NEW: [&str; 4] = [
        "POST /api/v2/checkout",
        "GET /api/v2/recommendations",
        "POST /api/payments/refund",
        "GET /api/inventory/{id}",
    ];
    const DROP: [&str; 4] = ["GET /api/users", "GET /api/search", "GET /api/users/{id}", "GET /api/products"];
    let i = cycle as usize % 4;
    let at = |offset: f64| cycle_start_offset_secs + offset;
    vec![
        ScheduledIncident::new(IncidentKind::LoneSlow, at(10.0), 1.0).on(LONE_SLOW[i]),
        ScheduledIncident::new(IncidentKind::Scanner, at(15.0), 15.0),
        // The application log's own incidents (the demo writes one line a second of it).
        ScheduledIncident::new(IncidentKind::NewErrorMessage, at(20.0), 60.0),
        ScheduledIncident::new(IncidentKind::LatencySpike, at(30.0), 30.0).on(SPIKE[i]),
        ScheduledIncident::new(IncidentKind::ErrorBurst, at(45.0), 30.0).on(ERRORS[i]),
        ScheduledIncident::new(IncidentKind::ErrorSurge, at(50.0), 30.0),
        ScheduledIncident::new(IncidentKind::LargeResponses, at(60.0), 20.0).on(LARGE[i]),
        ScheduledIncident::new(IncidentKind::NewFailingEndpoint, at(70.0), 20.0).on(NEW[i]),
        ScheduledIncident::new(IncidentKind::SlowMessages, at(75.0), 60.0),
        ScheduledIncident::new(IncidentKind::TrafficDrop, at(85.0), 90.0).on(DROP[i]),
    ]
}

/// A named, labelled scenario (see [`SCENARIOS`]); `None` for an unknown name.
///
/// Incident scenarios run at [`SCENARIO_REQUESTS_PER_SEC`] from 2026-11-24T08:00:00Z with a flat rate:
/// [`SCENARIO_TRAINING_SECS`] of clean traffic, then a few incidents of the kind on different
/// endpoints, well apart, and a calm tail. `clean_day` is 24 h from midnight with the daily rhythm
/// and no incident; `mixed` has every kind twice. Every config has a `duration_secs`.
pub fn scenario(name: &str, seed: u64, format: LineFormat) -> Option<TrafficConfig> {
    use IncidentKind::*;
    let t = SCENARIO_TRAINING_SECS;
    let inc = |kind, offset: f64, duration: f64, endpoint: Option<&str>| {
        let incident = ScheduledIncident::new(kind, t + offset, duration);
        match endpoint {
            Some(endpoint) => incident.on(endpoint),
            None => incident,
        }
    };
    let (incidents, tail) = match name {
        "latency_spike" => (
            vec![
                inc(LatencySpike, 120.0, 60.0, Some("GET /api/products")),
                inc(LatencySpike, 420.0, 60.0, Some("GET /api/users/{id}")),
                inc(LatencySpike, 720.0, 60.0, Some("GET /api/search")),
            ],
            900.0,
        ),
        "lone_slow" => {
            let endpoints = ["GET /api/users", "GET /api/products/{id}", "POST /api/login", "GET /api/cart"];
            let list = (0..8).map(|k| inc(LoneSlow, 60.0 * (k + 1) as f64, 1.0, Some(endpoints[k % 4]))).collect();
            (list, 600.0)
        }
        "error_burst" => (
            vec![
                inc(ErrorBurst, 120.0, 60.0, Some("GET /api/users")),
                inc(ErrorBurst, 420.0, 60.0, Some("POST /api/orders")),
                inc(ErrorBurst, 720.0, 60.0, Some("GET /api/products/{id}")),
            ],
            900.0,
        ),
        "new_failing_endpoint" => (
            vec![
                inc(NewFailingEndpoint, 120.0, 60.0, Some("POST /api/v2/checkout")),
                inc(NewFailingEndpoint, 420.0, 60.0, Some("GET /api/v2/recommendations")),
            ],
            600.0,
        ),
        "scanner" => (
            vec![inc(Scanner, 120.0, 20.0, None), inc(Scanner, 420.0, 20.0, None), inc(Scanner, 720.0, 20.0, None)],
            900.0,
        ),
        "large_responses" => (
            vec![
                inc(LargeResponses, 120.0, 30.0, Some("GET /api/products")),
                inc(LargeResponses, 420.0, 30.0, Some("GET /api/users")),
                inc(LargeResponses, 720.0, 30.0, Some("GET /api/orders/{id}")),
            ],
            900.0,
        ),
        "traffic_drop" => (
            vec![
                inc(TrafficDrop, 300.0, 180.0, Some("GET /api/products/{id}")),
                inc(TrafficDrop, 900.0, 180.0, Some("GET /api/users/{id}")),
            ],
            1200.0,
        ),
        "mixed" => (
            vec![
                inc(LatencySpike, 120.0, 60.0, Some("GET /api/products")),
                inc(LoneSlow, 240.0, 1.0, Some("GET /api/users/{id}")),
                inc(ErrorBurst, 300.0, 60.0, Some("GET /api/users")),
                inc(Scanner, 420.0, 20.0, None),
                inc(NewFailingEndpoint, 540.0, 60.0, Some("POST /api/v2/checkout")),
                inc(LargeResponses, 660.0, 30.0, Some("GET /api/orders/{id}")),
                inc(TrafficDrop, 780.0, 180.0, Some("GET /api/products/{id}")),
                inc(LatencySpike, 1020.0, 60.0, Some("GET /api/search")),
                inc(LoneSlow, 1140.0, 1.0, Some("POST /api/login")),
                inc(ErrorBurst, 1200.0, 60.0, Some("GET /api/products/{id}")),
                inc(Scanner, 1320.0, 20.0, None),
                inc(NewFailingEndpoint, 1380.0, 60.0, Some("GET /api/v2/recommendations")),
                inc(LargeResponses, 1500.0, 30.0, Some("GET /api/products")),
                inc(TrafficDrop, 1560.0, 180.0, Some("GET /api/users/{id}")),
            ],
            1800.0,
        ),
        "app_log" => (
            vec![
                inc(NewErrorMessage, 120.0, 60.0, None),
                inc(ErrorSurge, 420.0, 60.0, None),
                inc(SlowMessages, 720.0, 60.0, None),
                inc(NewErrorMessage, 1020.0, 60.0, None),
                inc(ErrorSurge, 1320.0, 45.0, None),
                inc(SlowMessages, 1500.0, 60.0, None),
            ],
            1800.0,
        ),
        "clean_day" => {
            let mut config = TrafficConfig::new(seed, SCENARIO_REQUESTS_PER_SEC);
            config.format = format;
            config.daily_rhythm = true;
            config.duration_secs = Some(86_400.0);
            return Some(config);
        }
        _ => return None,
    };
    let mut config = TrafficConfig::new(seed, SCENARIO_REQUESTS_PER_SEC);
    config.format = format;
    config.start = Timestamp::from_second(1_795_478_400 + 8 * 3600).expect("valid timestamp");
    config.incidents = incidents;
    config.duration_secs = Some(t + tail);
    if name == "app_log" {
        config.app_lines_per_sec = SCENARIO_APP_LINES_PER_SEC;
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::source::demo::TrafficGenerator;

    #[test]
    fn every_demo_cycle_has_every_kind_within_90_s() {
        for cycle in 0..8 {
            let offset = 1000.0 + DEMO_CYCLE_SECS * f64::from(cycle);
            let list = demo_schedule(cycle, offset);
            let kinds: BTreeSet<_> = list.iter().map(|i| i.kind).collect();
            assert_eq!(kinds.len(), IncidentKind::ALL.len() + IncidentKind::APP.len());
            for i in &list {
                assert!(i.start_offset_secs >= offset && i.start_offset_secs <= offset + 90.0, "{i:?}");
                assert!(i.start_offset_secs + i.duration_secs <= offset + DEMO_CYCLE_SECS);
            }
            assert!(list.windows(2).all(|w| w[0].start_offset_secs <= w[1].start_offset_secs), "sorted by start");
            // Overlapping incidents never target the same endpoint.
            for (a, b) in list.iter().zip(list.iter().skip(1)).chain(list.iter().zip(list.iter().skip(2))) {
                let overlap = b.start_offset_secs < a.start_offset_secs + a.duration_secs;
                if overlap && a.endpoint.is_some() {
                    assert_ne!(a.endpoint, b.endpoint, "cycle {cycle}");
                }
            }
            TrafficGenerator::new(TrafficConfig { incidents: list, ..TrafficConfig::new(1, 25.0) })
                .expect("the demo schedule is valid");
        }
    }

    #[test]
    fn every_named_scenario_builds_and_unknown_names_do_not() {
        for name in SCENARIOS {
            let config = scenario(name, 3, LineFormat::Json).unwrap_or_else(|| panic!("{name}"));
            assert!(config.duration_secs.is_some(), "{name}");
            let generator = TrafficGenerator::new(config.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let kinds: BTreeSet<_> = generator.incidents().iter().map(|i| i.kind.as_str()).collect();
            match name {
                "clean_day" => assert!(kinds.is_empty() && config.daily_rhythm),
                "mixed" => assert_eq!(kinds.len(), IncidentKind::ALL.len()),
                "app_log" => {
                    let app: BTreeSet<_> = IncidentKind::APP.iter().map(|k| k.as_str()).collect();
                    assert_eq!(kinds, app);
                    assert!(config.app_lines_per_sec > 0.0);
                }
                _ => assert_eq!(kinds.into_iter().collect::<Vec<_>>(), [name]),
            }
            if name != "clean_day" {
                assert!(config.clean_prefix_secs() >= SCENARIO_TRAINING_SECS + 60.0, "{name}");
                let end = config.incidents.iter().map(|i| i.start_offset_secs + i.duration_secs).fold(0.0, f64::max);
                assert!(end < config.duration_secs.unwrap(), "{name}: incidents end before the scenario does");
            }
        }
        assert!(scenario("nope", 1, LineFormat::Json).is_none());
    }
}
