//! Request-rate baselines per endpoint and window: drops and surges (`volume`, detector `rate`).
//!
//! Counts requests per endpoint in fixed event-time windows of `rate_window_secs`. Each tracked
//! endpoint's expected count is an exponentially weighted average of its past windows, seeded from
//! the training baseline and updated only with windows that were not anomalous — so a slow daily
//! rhythm is followed while an outage does not become the new normal.
//!
//! Where there is enough history, the hour of the day decides instead: once an hour has been seen
//! on [`profile::MIN_DAYS`] days, a window is judged against the median of those days (see
//! [`profile`]), so a morning surge or a nightly lull that happens every day is not reported.

mod profile;

use std::sync::Arc;

pub use profile::DailyProfile;
use profile::Expected;

use jiff::Timestamp;

use super::{Anomaly, AnomalyKind};
use crate::config::Severity;
use crate::features::{poisson_surprise, Baselines};
use crate::hash::FastMap;

/// Expected requests per window below which an endpoint is too quiet to judge.
const MIN_EXPECTED: f64 = 20.0;
/// Weight of the newest window in the average.
const ALPHA: f64 = 0.1;
/// Decades of surprise needed to report.
const MIN_SURPRISE: f64 = 6.0;
/// Longest run of empty windows closed at once (a longer gap restarts the windows).
const MAX_GAP_WINDOWS: i64 = 120;
/// Daily profiles kept beyond the tracked endpoints (endpoints that left the top-K may come back).
const MAX_PROFILES: usize = 512;

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
    profiles: FastMap<Arc<str>, DailyProfile>,
}

impl RateTracker {
    pub fn new(window_secs: u64) -> RateTracker {
        RateTracker {
            window_secs: window_secs as i64,
            current: None,
            tracks: FastMap::default(),
            profiles: FastMap::default(),
        }
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
        if self.profiles.len() > MAX_PROFILES {
            self.profiles.retain(|ep, _| self.tracks.contains_key(ep));
        }
    }

    /// Drop an endpoint's track and daily profile: the next seed starts it afresh from its new
    /// baseline.
    pub fn forget(&mut self, endpoint: &str) {
        self.tracks.remove(endpoint);
        self.profiles.remove(endpoint);
    }

    /// The daily profiles, for `models.json`.
    pub fn profiles(&self) -> Vec<(String, DailyProfile)> {
        let mut all: Vec<_> = self.profiles.iter().map(|(ep, p)| (ep.to_string(), p.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Resume the daily profiles saved in `models.json`.
    pub fn restore_profiles(&mut self, saved: Vec<(String, DailyProfile)>) {
        self.profiles = saved.into_iter().take(MAX_PROFILES).map(|(ep, p)| (Arc::from(ep), p)).collect();
    }

    /// Endpoints with at least one hour of the day judged by its daily profile.
    pub fn profiled_endpoints(&self) -> usize {
        self.profiles.values().filter(|p| p.ready_hours() > 0).count()
    }

    /// Forget the current window and its counts: the next event opens a window at its own time.
    pub fn restart(&mut self) {
        self.current = None;
        for t in self.tracks.values_mut() {
            t.count = 0;
        }
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
        let ws = self.window_secs;
        let (start, end) = (window * ws, (window + 1) * ws);
        for (ep, t) in self.tracks.iter_mut() {
            let count = std::mem::take(&mut t.count);
            if std::mem::take(&mut t.fresh) {
                continue;
            }
            let profile = self.profiles.entry(ep.clone()).or_default();
            let by_hour = profile.expected(start, ws);
            profile.add(start, ws, count);
            let Expected { low, high, .. } = by_hour.unwrap_or(Expected { low: t.expected, high: t.expected, days: 0 });
            let k = count as f64;
            let drop = low >= MIN_EXPECTED && k <= 0.3 * low && poisson_surprise_two_sided(k, low) >= MIN_SURPRISE;
            let surge = high >= MIN_EXPECTED
                && k >= 3.0 * high
                && k >= 30.0
                && poisson_surprise_two_sided(k, high) >= MIN_SURPRISE;
            if drop || surge {
                let lambda = if drop { low } else { high };
                let surprise = poisson_surprise_two_sided(k, lambda);
                let ratio = k / lambda;
                let severity = match (drop, ratio) {
                    (true, r) if r < 0.05 => Severity::High,
                    (false, r) if r > 10.0 => Severity::High,
                    _ => Severity::Medium,
                };
                let what = if drop { "dropped" } else { "surged" };
                let basis = match by_hour {
                    Some(e) => format!(" at this hour of the day (median of {} days)", e.days),
                    None => String::new(),
                };
                out.push(Anomaly {
                    line: None,
                    timestamp: Timestamp::from_second(end).unwrap_or(Timestamp::UNIX_EPOCH),
                    kind: AnomalyKind::Volume,
                    detectors: vec!["rate".into()],
                    score: (0.5 + surprise / 40.0).min(1.0),
                    severity,
                    endpoint: ep.to_string(),
                    client: None,
                    session: None,
                    reason: format!("{ep} traffic {what}: {k:.0} requests in {ws}s, expected about {lambda:.0}{basis}"),
                    features: Vec::new(),
                    raw: None,
                });
            } else if t.expected > 0.0 {
                t.expected = (1.0 - ALPHA) * t.expected + ALPHA * k;
            } else {
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

    /// Office hours: 4 requests/s from 09:00 to 17:00 UTC, 1/s otherwise; on day 4 an outage
    /// from 14:00 to 14:10. Feeds days `from..to`, returns the anomalies by day.
    fn office_days(r: &mut RateTracker, ep: &Arc<str>, from: i64, to: i64) -> Vec<Vec<Anomaly>> {
        let mut by_day = vec![Vec::new(); (to - from) as usize];
        for s in from * 86_400..to * 86_400 {
            let (day, second) = (s / 86_400, s % 86_400);
            let outage = day == 4 && (14 * 3600..14 * 3600 + 600).contains(&second);
            let per_sec = if outage {
                0
            } else if (9 * 3600..17 * 3600).contains(&second) {
                4
            } else {
                1
            };
            for i in 0..per_sec {
                by_day[(day - from) as usize].extend(r.observe(s as f64 + i as f64 / 4.0, ep));
            }
            if per_sec == 0 {
                by_day[(day - from) as usize].extend(r.advance(s as f64));
            }
        }
        by_day
    }

    #[test]
    fn a_daily_rhythm_is_learned_by_hour_and_an_outage_still_stands_out() {
        let ep: Arc<str> = Arc::from("GET /busy");
        let mut r = tracker_with(&ep, 1.0);
        let first = office_days(&mut r, &ep, 0, 3);
        // Without history per hour, office hours are a surge the running average never learns
        // (flagged windows are not learned): every office-hours window of the first days.
        assert!(first[0].len() > 400 && first[0].iter().all(|a| a.reason.contains("surged")), "{}", first[0].len());
        // A restart keeps the profiles (they are saved in `models.json`).
        let saved = r.profiles();
        let mut r = tracker_with(&ep, 1.0);
        r.restore_profiles(saved);
        assert_eq!(r.profiled_endpoints(), 1);
        let later = office_days(&mut r, &ep, 3, 5);
        assert!(later[0].is_empty(), "{:?}", later[0]);
        assert_eq!(later[1].len(), 10, "{:?}", later[1]);
        for a in &later[1] {
            assert!(
                a.reason.contains("dropped") && a.reason.contains("at this hour of the day (median of 4 days)"),
                "{}",
                a.reason
            );
        }
    }
}
