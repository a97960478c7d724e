//! Scenarios whose incidents lie inside the history the detector learns from. Production history
//! always holds incidents; every scenario of [`SCENARIOS`](crate::source::demo::SCENARIOS) starts
//! with 30 clean minutes, and these do not:
//!
//! | name | learns from | incidents in what it learns from |
//! |---|---|---|
//! | `dirty_start` | the input's first `training_events` lines (`scan FILE`) | a latency spike from the first line and an error burst, each 30 % of its endpoint's window; a failing new endpoint, large responses, a scanner |
//! | `dirty_train` | another half hour (`scan --train FILE`) | the same kinds, on the endpoints the input's incidents hit, in the last 10,000 lines of the file |
//! | `live_mid_incident` | the daemon's own first lines (`run`, no history) | a spike and a burst in progress when the first models are fitted (40 % of that window) |
//! | `sweep_10k`, `sweep_50k`, `sweep_200k` | the input's first 10,000 / 50,000 / 200,000 lines | 3 h with an incident of some kind every 10 minutes from the first minute |
//!
//! Each also has incidents after its training to find, so the table says both whether the
//! history's incidents were reported and whether the learned normal was still right.

use jiff::Timestamp;

use crate::source::demo::{scenario, IncidentKind, LineFormat, ScheduledIncident, TrafficConfig};
use crate::source::demo::{SCENARIOS, SCENARIO_REQUESTS_PER_SEC};

/// Names accepted by [`setup`] beside [`SCENARIOS`].
pub const HISTORY_SCENARIOS: [&str; 6] =
    ["dirty_start", "dirty_train", "live_mid_incident", "sweep_10k", "sweep_50k", "sweep_200k"];

/// What the detector learns from.
#[derive(Debug, Clone)]
pub enum Learning {
    /// As `scan FILE`: the first `detection.training_events` lines of the input itself.
    SelfTrained,
    /// As `scan --train FILE`: this traffic, learned whole before the input is scored.
    TrainFile(TrafficConfig),
    /// As the daemon (`run`): rules only until `detection.min_training_events`, then fits and
    /// refits on its rolling window while it scores.
    Live,
}

/// A scenario: the traffic scored, what is learned from, and a training size if not the config's.
#[derive(Debug, Clone)]
pub struct Setup {
    pub traffic: TrafficConfig,
    pub learning: Learning,
    pub training_events: Option<usize>,
}

/// 2026-11-24T08:00:00Z, where the incident scenarios start.
const START_SECS: i64 = 1_795_478_400 + 8 * 3600;

fn traffic(seed: u64, format: LineFormat, start_secs: i64, duration_secs: f64) -> TrafficConfig {
    let mut t = TrafficConfig::new(seed, SCENARIO_REQUESTS_PER_SEC);
    t.format = format;
    t.start = Timestamp::from_second(start_secs).expect("valid timestamp");
    t.duration_secs = Some(duration_secs);
    t
}

fn inc(kind: IncidentKind, at: f64, duration: f64, endpoint: Option<&str>) -> ScheduledIncident {
    let i = ScheduledIncident::new(kind, at, duration);
    match endpoint {
        Some(e) => i.on(e),
        None => i,
    }
}

/// Incidents after the training window, to check that what was learned is still the normal.
fn later_incidents(from: f64) -> Vec<ScheduledIncident> {
    use IncidentKind::*;
    vec![
        inc(LatencySpike, from, 60.0, Some("GET /api/products")),
        inc(ErrorBurst, from + 240.0, 60.0, Some("GET /api/users")),
        inc(LargeResponses, from + 420.0, 30.0, Some("GET /api/orders/{id}")),
        inc(NewFailingEndpoint, from + 540.0, 60.0, Some("POST /api/v2/checkout")),
        inc(LatencySpike, from + 720.0, 60.0, Some("GET /api/search")),
        inc(LoneSlow, from + 840.0, 1.0, Some("POST /api/login")),
    ]
}

/// Incidents that fill a 500 s training window (10,000 lines at 20 req/s) from `at`: a spike and
/// an error burst each 150 s (30 % of the window) on busy endpoints, a new endpoint that fails,
/// large responses and a scanner.
fn history_incidents(at: f64) -> Vec<ScheduledIncident> {
    use IncidentKind::*;
    vec![
        inc(LatencySpike, at, 150.0, Some("GET /api/products")),
        inc(NewFailingEndpoint, at + 60.0, 60.0, Some("POST /api/v2/checkout")),
        inc(ErrorBurst, at + 180.0, 150.0, Some("GET /api/users")),
        inc(Scanner, at + 250.0, 20.0, None),
        inc(LargeResponses, at + 360.0, 30.0, Some("GET /api/orders/{id}")),
    ]
}

/// 3 h with an incident every 10 minutes from the first minute, cycling through the kinds and
/// the busy endpoints.
fn sweep_incidents() -> Vec<ScheduledIncident> {
    use IncidentKind::*;
    const SPIKE: [&str; 3] = ["GET /api/products", "GET /api/users/{id}", "GET /api/search"];
    const BURST: [&str; 3] = ["GET /api/users", "GET /api/products/{id}", "GET /api/products"];
    const LARGE: [&str; 3] = ["GET /api/orders/{id}", "GET /api/products", "GET /api/users"];
    const NEW: [&str; 3] = ["POST /api/v2/checkout", "GET /api/v2/recommendations", "POST /api/payments/refund"];
    let mut out = Vec::new();
    for k in 0..18usize {
        let at = 30.0 + 600.0 * k as f64;
        let i = k / 6 % 3;
        out.push(match k % 6 {
            0 => inc(LatencySpike, at, 120.0, Some(SPIKE[i])),
            1 => inc(ErrorBurst, at, 90.0, Some(BURST[i])),
            2 => inc(LargeResponses, at, 30.0, Some(LARGE[i])),
            3 => inc(NewFailingEndpoint, at, 60.0, Some(NEW[i])),
            4 => inc(Scanner, at, 20.0, None),
            _ => inc(LoneSlow, at, 1.0, Some(SPIKE[i])),
        });
    }
    out
}

/// The scenario `name` ([`SCENARIOS`] learn from the input's clean first half hour; see the module
/// for [`HISTORY_SCENARIOS`]); `None` for an unknown name.
pub fn setup(name: &str, seed: u64, format: LineFormat) -> Option<Setup> {
    let self_trained = |traffic, training_events| Setup { traffic, learning: Learning::SelfTrained, training_events };
    let s = match name {
        "dirty_start" => {
            let mut t = traffic(seed, format, START_SECS, 1800.0);
            t.incidents = history_incidents(0.0);
            t.incidents.extend(later_incidents(780.0));
            self_trained(t, None)
        }
        "dirty_train" => {
            // The training file is the half hour before the input, its incidents in its last
            // 500 s (what a 10,000-event window keeps of it), on the endpoints the input's hit.
            let mut train = traffic(seed.wrapping_add(1000), format, START_SECS - 1800, 1800.0);
            train.incidents = history_incidents(1280.0);
            let mut t = traffic(seed, format, START_SECS, 1200.0);
            t.incidents = later_incidents(60.0);
            Setup { traffic: t, learning: Learning::TrainFile(train), training_events: None }
        }
        "live_mid_incident" => {
            use IncidentKind::*;
            // The first models are fitted after 1,000 lines (about 48 s): the spike and the burst
            // are well under way by then, and go on for minutes.
            let mut t = traffic(seed, format, START_SECS, 1500.0);
            t.incidents = vec![
                inc(LatencySpike, 30.0, 240.0, Some("GET /api/products")),
                inc(ErrorBurst, 32.0, 120.0, Some("GET /api/users")),
            ];
            t.incidents.extend(later_incidents(480.0));
            Setup { traffic: t, learning: Learning::Live, training_events: None }
        }
        "sweep_10k" | "sweep_50k" | "sweep_200k" => {
            let mut t = traffic(seed, format, START_SECS, 3.0 * 3600.0);
            t.incidents = sweep_incidents();
            let n = match name {
                "sweep_10k" => 10_000,
                "sweep_50k" => 50_000,
                _ => 200_000,
            };
            self_trained(t, Some(n))
        }
        _ if SCENARIOS.contains(&name) => self_trained(scenario(name, seed, format)?, None),
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::demo::TrafficGenerator;

    #[test]
    fn every_history_scenario_builds_and_has_incidents_from_its_start() {
        for name in HISTORY_SCENARIOS {
            let s = setup(name, 7, LineFormat::Json).unwrap_or_else(|| panic!("{name}"));
            let learned = match &s.learning {
                Learning::TrainFile(train) => train.clone(),
                _ => s.traffic.clone(),
            };
            // Incidents inside what is learned: within its first 10 minutes.
            assert!(learned.clean_prefix_secs() <= 600.0 || matches!(s.learning, Learning::TrainFile(_)), "{name}");
            TrafficGenerator::new(s.traffic.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            TrafficGenerator::new(learned).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(setup("nope", 1, LineFormat::Json).is_none());
        assert!(setup("mixed", 1, LineFormat::Json).is_some());
    }
}
