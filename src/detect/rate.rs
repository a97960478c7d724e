//! Request-rate baselines per endpoint and window: drops and surges (`volume`, detector `rate`).
//!
//! Counts requests per endpoint in fixed event-time windows of `rate_window_secs`. Each tracked
//! endpoint's expected count is an exponentially weighted average of its past windows, seeded from
//! the training baseline and updated only with windows that were not anomalous — so a slow daily
//! rhythm is followed while an outage does not become the new normal.

use crate::hash::FastMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::{Anomaly, AnomalyKind};
use crate::config::Severity;
use crate::features::{poisson_surprise, Baselines};

/// Expected requests per window below which an endpoint is too quiet to judge.
const MIN_EXPECTED: f64 = 20.0;
/// Weight of the newest window in the average.
const ALPHA: f64 = 0.1;
/// Decades of surprise needed to report.
const MIN_SURPRISE: f64 = 6.0;
/// Longest run of empty windows closed at once (a longer gap restarts the windows).
const MAX_GAP_WINDOWS: i64 = 120;

#[derive(Debug, Clone)]
struct Track {
    expected: f64,
    count: u64,
    /// Seeded during the current window, which was therefore only partly counted: not judged.
    fresh: bool,
}

/// Per-endpoint window counters.
#[derive(Debug)]
pub struct RateTracker {
    window_secs: i64,
    current: Option<i64>,
    tracks: FastMap<Arc<str>, Track>,
}

impl RateTracker {
    pub fn new(window_secs: u64) -> RateTracker {
        RateTracker { window_secs: window_secs as i64, current: None, tracks: FastMap::default() }
    }

    /// (Re)seed the expected counts from freshly trained baselines; keeps learned averages.
    pub fn seed(&mut self, baselines: &Baselines) {
        let w = self.window_secs as f64;
        let mut next = FastMap::default();
        for (ep, b) in &baselines.endpoints {
            let track = match self.tracks.get(ep) {
                Some(t) => t.clone(),
                None => Track { expected: b.rate_per_sec * w, count: 0, fresh: true },
            };
            next.insert(ep.clone(), track);
        }
        self.tracks = next;
    }

    /// Drop an endpoint's track: the next seed starts it afresh from its new baseline.
    pub fn forget(&mut self, endpoint: &str) {
        self.tracks.remove(endpoint);
    }

    /// Count one request at event time `t` (seconds). Returns anomalies of windows it closed.
    pub fn observe(&mut self, t: f64, endpoint: &Arc<str>) -> Vec<Anomaly> {
        let closed = self.advance(t);
        if let Some(track) = self.tracks.get_mut(endpoint) {
            track.count += 1;
        }
        closed
    }

    /// Close every window that ended before `watermark` (seconds).
    pub fn advance(&mut self, watermark: f64) -> Vec<Anomaly> {
        let idx = (watermark / self.window_secs as f64).floor() as i64;
        let Some(cur) = self.current else {
            self.current = Some(idx);
            return Vec::new();
        };
        if idx <= cur {
            return Vec::new();
        }
        if idx - cur > MAX_GAP_WINDOWS {
            // A long silence (or a jump in time): start over rather than report hours of empty windows.
            for t in self.tracks.values_mut() {
                t.count = 0;
            }
            self.current = Some(idx);
            return Vec::new();
        }
        let mut out = Vec::new();
        for w in cur..idx {
            out.extend(self.close(w));
        }
        self.current = Some(idx);
        out
    }

    fn close(&mut self, window: i64) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let end = (window + 1) * self.window_secs;
        for (ep, t) in self.tracks.iter_mut() {
            let k = t.count as f64;
            let lambda = t.expected;
            t.count = 0;
            if std::mem::take(&mut t.fresh) {
                continue;
            }
            let mut flagged = false;
            if lambda >= MIN_EXPECTED {
                let surprise = poisson_surprise_two_sided(k, lambda);
                let drop = k <= 0.3 * lambda;
                let surge = k >= 3.0 * lambda && k >= 30.0;
                if surprise >= MIN_SURPRISE && (drop || surge) {
                    flagged = true;
                    let ratio = k / lambda;
                    let severity = if drop {
                        if ratio < 0.05 {
                            Severity::High
                        } else {
                            Severity::Medium
                        }
                    } else if ratio > 10.0 {
                        Severity::High
                    } else {
                        Severity::Medium
                    };
                    let what = if drop { "dropped" } else { "surged" };
                    out.push(Anomaly {
                        line: None,
                        timestamp: Timestamp::from_second(end).unwrap_or(Timestamp::UNIX_EPOCH),
                        kind: AnomalyKind::Volume,
                        detectors: vec!["rate".into()],
                        score: (0.5 + surprise / 40.0).min(1.0),
                        severity,
                        endpoint: ep.to_string(),
                        client: None,
                        reason: format!(
                            "{ep} traffic {what}: {k:.0} requests in {}s, expected about {lambda:.0}",
                            self.window_secs
                        ),
                        features: Vec::new(),
                        raw: None,
                    });
                }
            }
            if !flagged && lambda > 0.0 {
                t.expected = (1.0 - ALPHA) * lambda + ALPHA * k;
            } else if !flagged {
                t.expected = k;
            }
        }
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        out
    }
}

/// Surprise of `k` against `lambda` on whichever side `k` falls.
fn poisson_surprise_two_sided(k: f64, lambda: f64) -> f64 {
    if k >= lambda {
        poisson_surprise(k, lambda)
    } else {
        // Chernoff bound on the lower tail: the same relative entropy.
        let k = k.max(0.0);
        let nats = if k == 0.0 { lambda } else { lambda - k + k * (k / lambda).ln() };
        (nats / std::f64::consts::LN_10).clamp(0.0, 20.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::TrainingEvent;

    fn tracker_with(ep: &Arc<str>, per_sec: f64) -> RateTracker {
        let events: Vec<TrainingEvent> = (0..(per_sec * 600.0) as usize)
            .map(|i| TrainingEvent {
                time: i as f64 / per_sec,
                endpoint: ep.clone(),
                rt_ms: Some(10.0),
                status: Some(200),
                bytes: None,
                recent: Default::default(),
                query_len: 0,
            })
            .collect();
        let b = Baselines::fit(&events, 10, None);
        let mut r = RateTracker::new(60);
        r.seed(&b);
        r
    }

    #[test]
    fn a_drop_to_almost_nothing_is_reported_once_per_window() {
        let ep: Arc<str> = Arc::from("GET /busy");
        let mut r = tracker_with(&ep, 3.0);
        let mut found = Vec::new();
        // 5 normal minutes, then 2 minutes at 5 %, then normal again.
        let mut t = 0.0;
        while t < 600.0 {
            let rate = if (300.0..420.0).contains(&t) { 0.15 } else { 3.0 };
            found.extend(r.observe(t, &ep));
            t += 1.0 / rate;
        }
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|a| a.kind == AnomalyKind::Volume && a.reason.contains("dropped")));
    }

    #[test]
    fn steady_traffic_with_noise_is_quiet() {
        let ep: Arc<str> = Arc::from("GET /busy");
        let mut r = tracker_with(&ep, 3.0);
        let mut found = Vec::new();
        let mut t = 0.0;
        let mut i = 0u64;
        while t < 7200.0 {
            found.extend(r.observe(t, &ep));
            i += 1;
            // ±50 % jitter around 3/s
            t += (1.0 + 0.5 * ((i * 7919 % 100) as f64 / 100.0 - 0.5)) / 3.0;
        }
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_long_gap_restarts_windows_instead_of_reporting_hours() {
        let ep: Arc<str> = Arc::from("GET /busy");
        let mut r = tracker_with(&ep, 3.0);
        r.observe(0.0, &ep);
        assert!(r.observe(86_400.0, &ep).is_empty());
    }
}
