//! The detector: keeps the rolling training window, fits baselines and models on a schedule, and
//! scores each new event with the models and rules.
//!
//! Thresholds: each model's score threshold is the quantile of its own scores over the training
//! window such that a fraction `anomaly_threshold` of training events would be flagged. A verdict is
//! reported only when the evidence behind it is also clear (a response time far beyond its
//! endpoint's p99, a burst of 5xx rather than a single one, a feature far outside its baseline), so
//! that every anomaly can say why in a sentence and healthy traffic stays quiet.

pub mod rebaseline;
mod training;

pub use rebaseline::{Reset, RELEARN_EVENTS};

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::Timestamp;

use super::explain;
use super::forest::{IsolationForest, OutlierModel};
use super::gates::{
    BURST_GATE, BURST_MIN_ERRORS, FOREST_GATE, RT_CONTEXT_Z, RT_GATE_IN_SPIKE_Z, RT_GATE_Z, RT_MIN_EXCESS_MS,
    SCAN_GATE, SCAN_MIN_ERRORS,
};
use super::rate::{DailyProfile, RateTracker};
use super::rules::{Rules, ERROR_SCANNING, KNOWN_SCANNER};
use super::site::{KnownScanners, SiteMemory};
use super::suppress::{Hold, Suppressor};
use super::svm::{OneClassSvm, OneClassSvmParams};
use super::{Anomaly, AnomalyKind};
use crate::config::{Config, SvmConfig};
use crate::features::{Baselines, FeatureRow, Features, Screened, TrainingEvent, Vectors};
use crate::hash::FastMap;
use crate::parse::LogEvent;

/// Errors while fitting.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("not enough training events: {have} < {need}")]
    NotEnoughData { have: usize, need: usize },
    #[error("isolation forest: {0}")]
    Forest(String),
    #[error("one-class SVM: {0}")]
    Svm(String),
}

impl DetectError {
    pub fn label(&self) -> &'static str {
        match self {
            DetectError::NotEnoughData { .. } => "not_enough_data",
            DetectError::Forest(_) => "forest",
            DetectError::Svm(_) => "svm",
        }
    }
}

/// A fitted model and its threshold.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Fitted<M> {
    pub model: M,
    pub threshold: f64,
    pub events: usize,
    pub fit_secs: f64,
}

/// Everything learned in one training round.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Trained {
    pub baselines: Baselines,
    pub forest: Option<Fitted<IsolationForest>>,
    pub response_time: Option<Fitted<OneClassSvm>>,
    pub status_code: Option<Fitted<OneClassSvm>>,
    /// Event time of the newest training event (Unix seconds).
    pub trained_through: f64,
    /// Events in the training window (those screened out included).
    pub events: usize,
}

/// What a training round did, for logs and metrics.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub events: usize,
    pub endpoints: usize,
    pub models: Vec<(&'static str, usize, f64)>,
    pub failures: Vec<(&'static str, String)>,
    /// Events the screen of the window kept out (incidents concentrated in time).
    pub screened: Screened,
    /// Events kept out after judging the training events (flagged events that came together).
    pub judged_out: usize,
    /// Seconds the whole round took (screening, every fit, judging).
    pub secs: f64,
}

/// Model names as exported in metrics and `detectors`.
pub const MODEL_NAMES: [&str; 3] = ["isolation_forest", "ocsvm_response_time", "ocsvm_status_code"];

/// The detector.
pub struct Detector {
    cfg: Config,
    features: Features,
    rules: Rules,
    /// The `error_scanning` rule is on (not in `rules.disabled`).
    error_scanning: bool,
    /// Clients a rule flagged, while `known_scanner` is on.
    scanners: Option<KnownScanners>,
    /// Probes a client sent before it was caught, found when it was: reported after the event
    /// that caught it (see [`take_joined`](Self::take_joined)).
    joined: std::cell::RefCell<Vec<Anomaly>>,
    /// Each endpoint's last few 5xx that no detector flagged: when a burst is found on it, the
    /// ones just before are its start, and join it (see [`join_burst_start`](Self::join_burst_start)).
    quiet_errors: crate::detect::site::HeldRows,
    suppress: Suppressor,
    window: VecDeque<TrainingEvent>,
    trained: Option<Trained>,
    rate: RateTracker,
    fits: u64,
    /// Re-baselined endpoints waiting for a baseline of their own again, with the events learned
    /// since (see [`rebaseline`]).
    relearning: FastMap<Arc<str>, usize>,
}

impl Detector {
    /// Build from a validated configuration.
    pub fn new(cfg: &Config) -> Detector {
        Detector {
            features: Features::new(&cfg.features),
            rules: Rules::new(&cfg.rules),
            error_scanning: cfg.rules.builtin && !cfg.rules.disabled.iter().any(|d| d == ERROR_SCANNING),
            scanners: (cfg.rules.builtin && !cfg.rules.disabled.iter().any(|d| d == KNOWN_SCANNER))
                .then(KnownScanners::default),
            joined: std::cell::RefCell::new(Vec::new()),
            quiet_errors: crate::detect::site::HeldRows::new(BURST_START, MAX_QUIET_ENDPOINTS),
            suppress: Suppressor::new(&cfg.suppress),
            window: VecDeque::with_capacity(cfg.detection.training_events.min(100_000)),
            trained: None,
            rate: RateTracker::new(cfg.detection.rate_window_secs),
            fits: 0,
            relearning: FastMap::default(),
            cfg: cfg.clone(),
        }
    }

    pub fn is_trained(&self) -> bool {
        self.trained.is_some()
    }

    pub fn trained(&self) -> Option<&Trained> {
        self.trained.as_ref()
    }

    pub fn window_len(&self) -> usize {
        self.window.len()
    }

    /// What was learned, and the training window (for `models.json`).
    pub fn export(&self) -> (Option<&Trained>, Vec<TrainingEvent>) {
        (self.trained.as_ref(), self.window.iter().cloned().collect())
    }

    /// The rate tracker's daily profiles (for `models.json`).
    pub fn rate_profiles(&self) -> Vec<(String, DailyProfile)> {
        self.rate.profiles()
    }

    /// Resume the daily profiles saved in `models.json`.
    pub fn restore_rate_profiles(&mut self, saved: Vec<(String, DailyProfile)>) {
        self.rate.restore_profiles(saved);
    }

    /// What the site rules learned (for `models.json`).
    pub fn site_memory(&self) -> SiteMemory {
        SiteMemory {
            content: self.rules.served().learned(),
            scanners: self.scanners.as_ref().map_or_else(Vec::new, KnownScanners::export),
        }
    }

    /// Resume what the site rules learned, saved in `models.json`.
    pub fn restore_site_memory(&mut self, saved: SiteMemory) {
        self.rules.served().restore(saved.content);
        if let Some(s) = &self.scanners {
            s.restore(saved.scanners);
        }
    }

    /// Endpoints whose rate is judged by hour of the day for at least one hour.
    pub fn profiled_endpoints(&self) -> usize {
        self.rate.profiled_endpoints()
    }

    /// Resume from saved state: scoring starts at once.
    pub fn restore(&mut self, trained: Option<Trained>, window: Vec<TrainingEvent>) {
        self.window = window.into_iter().rev().take(self.cfg.detection.training_events).rev().collect();
        if let Some(t) = &trained {
            self.rate.seed(&t.baselines);
        }
        self.trained = trained;
    }

    /// Record an event in the streaming context (the first step for every event).
    pub fn observe(&mut self, event: LogEvent) -> FeatureRow {
        self.features.observe(event)
    }

    /// Why the event is held back (ignore rules, maintenance windows), if it is. A held-back event
    /// is neither scored nor learned; only a maintenance hold still counts in the rate windows.
    /// [`learn`](Self::learn), [`score`](Self::score) and [`count_rate`](Self::count_rate) leave
    /// this check to their caller, which asks once per event.
    pub fn hold(&self, row: &FeatureRow) -> Option<Hold> {
        self.suppress.hold(&row.event)
    }

    /// Whether a window-level (`volume`) anomaly falls in a maintenance window of its endpoint.
    pub fn in_maintenance(&self, a: &Anomaly) -> bool {
        let window = jiff::SignedDuration::from_secs(self.cfg.detection.rate_window_secs as i64);
        a.kind == AnomalyKind::Volume && self.suppress.in_maintenance(&a.endpoint, a.timestamp - window, a.timestamp)
    }

    /// Whether a rule flags the event (suspicious requests are not learned, trained or not).
    pub fn flagged_by_rules(&self, row: &FeatureRow) -> bool {
        !self.rules.check(&row.event).is_empty()
    }

    /// Add a clean event to the training window.
    pub fn learn(&mut self, row: &FeatureRow) {
        if self.window.len() >= self.cfg.detection.training_events {
            self.window.pop_front();
        }
        if let Some(n) = self.relearning.get_mut(&row.summary.endpoint) {
            *n += 1;
        }
        self.window.push_back(row.summary.clone());
    }

    /// Whether a (re)fit is due: enough events and no model yet, or the retrain interval passed.
    pub fn fit_due(&self) -> bool {
        match &self.trained {
            None => self.window.len() >= self.cfg.detection.min_training_events,
            Some(_) if self.window.len() < self.cfg.detection.min_training_events => false,
            Some(t) => {
                // While the window is still filling, refit each time it grows fourfold and once it is
                // full (1,000, 4,000, 10,000 events by default); then on schedule. Doubling cost the
                // daemon 60 % more fitting than this for models a few minutes older.
                let full = self.cfg.detection.training_events;
                let growing = t.events < full && self.window.len() >= (WINDOW_GROWTH * t.events).min(full);
                let newest = self.window.back().map_or(0.0, |e| e.time);
                growing || newest - t.trained_through >= self.cfg.detection.retrain_interval_secs as f64
            }
        }
    }

    /// Score one event: rules always, models once trained (and, on a re-baselined endpoint, once
    /// it has its own baseline again). `None` when nothing is abnormal.
    pub fn score(&self, row: &FeatureRow) -> Option<Anomaly> {
        let e = &row.event;
        let mut verdicts: Vec<explain::Verdict> = self.rules.check(e).into_iter().map(explain::Verdict::Rule).collect();
        let trained = self.trained.as_ref().filter(|_| !self.relearning.contains_key(&row.summary.endpoint));
        if let Some(t) = trained {
            let v = self.features.vectors(&row.summary, &t.baselines);
            model_verdicts(t, &v, self.error_scanning, &mut verdicts);
            self.follow_scanner(row, &mut verdicts);
            let is_5xx = matches!(row.event.status, Some(500..=599));
            if verdicts.is_empty() {
                if is_5xx {
                    self.quiet_errors.hold(&row.summary.endpoint, row, BURST_START_SECS);
                }
                return None;
            }
            let a = explain::anomaly(row, &verdicts, Some(&v), t, self.features.columns());
            if is_5xx && verdicts.iter().any(|v| matches!(v, explain::Verdict::StatusCode)) {
                self.join_burst_start(row, &a.reason, t);
            }
            return Some(a);
        }
        self.follow_scanner(row, &mut verdicts);
        if verdicts.is_empty() {
            return None;
        }
        Some(explain::rules_only(row, &verdicts))
    }

    /// The probes that [`score`](Self::score) found a client had sent before it was caught: each
    /// is reported once, right after the event that caught the client.
    pub fn take_joined(&self) -> Vec<Anomaly> {
        std::mem::take(&mut *self.joined.borrow_mut())
    }

    /// A 5xx burst needs a few errors before it is one, so its first 5xx pass unflagged: they are
    /// held per endpoint (the last [`BURST_START`], for [`BURST_START_SECS`]; see
    /// [`score`](Self::score)), and when `row` finds a burst on the endpoint (`reason` is its
    /// headline) they join its incident, reported right after it ([`take_joined`](Self::take_joined)).
    /// They were learned as normal; that is a handful of errors in a window of thousands, which
    /// the burst screen of the next fit takes out again.
    fn join_burst_start(&self, row: &FeatureRow, reason: &str, t: &Trained) {
        let time = row.summary.time;
        let held = self.quiet_errors.take(&row.summary.endpoint, time, BURST_START_SECS);
        let mut joined = self.joined.borrow_mut();
        for r in held {
            let rv = self.features.vectors(&r.summary, &t.baselines);
            let mut a = explain::anomaly(&r, &[explain::Verdict::StatusCode], Some(&rv), t, self.features.columns());
            a.reason = format!(
                "{} returned {}, the start of the burst found {:.0} s later: {}",
                r.event.endpoint,
                r.event.status.unwrap_or(0),
                (time - r.summary.time).max(0.0),
                shorten_reason(reason)
            );
            joined.push(a);
        }
    }

    /// A client that a path-walking rule flags ([`SCANNER_RULES`], `error_scanning`) becomes a known
    /// scanner; a known scanner's refused request (401, 403, 404, 405, 410) that no rule flagged is
    /// one of its probes (`known_scanner`), so it joins its incident. So are the few refused
    /// requests it sent just before it was caught ([`take_joined`](Self::take_joined)).
    fn follow_scanner(&self, row: &FeatureRow, verdicts: &mut Vec<explain::Verdict>) {
        let (Some(scanners), Some(client)) = (&self.scanners, row.event.client.as_deref()) else { return };
        let window = self.cfg.detection.incident_window_secs as f64;
        // A line the stream clock judged at an earlier time (it was dated ahead of the stream) is
        // still next to the client's other requests in its own time.
        let time = row.event.stated_time.map_or(row.summary.time, |t| t.as_nanosecond() as f64 / 1e9);
        // Only a client caught walking the site's paths is a scanner: an attack in a parameter can
        // come from one user behind an address that many share.
        let caught = verdicts.iter().find_map(|v| match v {
            explain::Verdict::Rule(m) if SCANNER_RULES.contains(&m.name.as_str()) => Some(m.name.as_str()),
            explain::Verdict::ErrorScanning => Some(ERROR_SCANNING),
            _ => None,
        });
        if let Some(rule) = caught {
            // Nothing is held for a client while it is known, so this is its walk before it was.
            let earlier = scanners.take_refused(client, time, window);
            self.joined
                .borrow_mut()
                .extend(earlier.iter().map(|r| explain::rules_only(r, &[probe_of(client, rule, r)])));
            scanners.flagged(client, time, rule, window);
            return;
        }
        if verdicts.iter().any(|v| matches!(v, explain::Verdict::Rule(_))) {
            return;
        }
        // The models may have found the request odd too; it is still one of the scanner's probes.
        if !matches!(row.event.status, Some(401 | 403 | 404 | 405 | 410)) {
            return;
        }
        if let Some(rule) = scanners.known(client, time, window) {
            verdicts.push(probe_of(client, &rule, row));
            scanners.flagged(client, time, &rule, window);
        } else if verdicts.is_empty() {
            scanners.hold_refused(client, row, window);
        }
    }

    /// Count the event in its rate window; returns `volume` anomalies of windows that closed.
    pub fn count_rate(&mut self, row: &FeatureRow) -> Vec<Anomaly> {
        if self.trained.is_none() {
            return Vec::new();
        }
        self.rate.observe(row.summary.time, &row.summary.endpoint)
    }

    /// Forget the rate windows' position in time and their current counts (the clock was rewound).
    pub fn restart_rate_windows(&mut self) {
        self.rate.restart();
    }

    /// Close rate windows that ended before `now` (for quiet periods with no events at all).
    pub fn advance_rate(&mut self, now: Timestamp) -> Vec<Anomaly> {
        if self.trained.is_none() {
            return Vec::new();
        }
        self.rate.advance(now.as_nanosecond() as f64 / 1e9)
    }
}

/// How many unflagged 5xx before a burst join it when it is found, per endpoint, sent at most
/// [`BURST_START_SECS`] before the line that found it...
const BURST_START: usize = 4;
/// ...(a burst is found within a few errors; a 5xx minutes before was the background's)...
const BURST_START_SECS: f64 = 30.0;
/// ...on at most this many endpoints at once.
const MAX_QUIET_ENDPOINTS: usize = 1024;

/// The reason of the line that found a burst, as quoted by the errors that started it.
fn shorten_reason(reason: &str) -> &str {
    reason.split(';').next().unwrap_or(reason)
}

/// How much the window grows between the refits made while it fills.
const WINDOW_GROWTH: usize = 4;

/// The `known_scanner` verdict on a refused request of `client`, a scanner `rule` flagged.
fn probe_of(client: &str, rule: &str, row: &FeatureRow) -> explain::Verdict {
    let target = row.event.path.as_deref().unwrap_or("-");
    explain::Verdict::Rule(crate::detect::rules::RuleMatch {
        name: KNOWN_SCANNER.into(),
        severity: crate::config::Severity::Low,
        reason: format!(
            "probe by client {client}, a scanner flagged by {rule}: {} on {}",
            row.event.status.unwrap_or(0),
            crate::detect::rules::shorten(target, 120)
        ),
    })
}

/// The rules that catch a client walking the site's paths: after one of them, the client's refused
/// requests are its probes.
const SCANNER_RULES: &[&str] = &["sensitive_file_probe", "scanner_user_agent", "unusual_method"];

/// The models' verdicts on one event's vectors (the rules aside), each behind its evidence gate.
/// `error_scanning`: the `error_scanning` rule is on.
fn model_verdicts(t: &Trained, v: &Vectors, error_scanning: bool, verdicts: &mut Vec<explain::Verdict>) {
    let ev = &v.evidence;
    if let (Some(f), Some(x)) = (&t.response_time, v.response_time) {
        // Judged only against the endpoint's own baseline: a pooled one would call a rare,
        // slow-by-nature endpoint slow (and keep it out of training for good).
        let slow = rt_far(v) && ev.known_endpoint && ev.rt_ms.is_some_and(|rt| rt > ev.rt_p99_ms + RT_MIN_EXCESS_MS);
        // The evidence first: it is cheap, and the model is asked only when it could matter.
        if slow && f.model.decision(&x) < f.threshold {
            verdicts.push(explain::Verdict::ResponseTime);
        }
    }
    if let (Some(f), Some(x)) = (&t.status_code, v.status) {
        if error_burst(v) && f.model.decision(&x) < f.threshold {
            verdicts.push(explain::Verdict::StatusCode);
        }
    }
    if error_scanning
        && matches!(ev.status, Some(400..=499))
        && ev.client_error_surprise >= SCAN_GATE
        && ev.client_recent_errors >= SCAN_MIN_ERRORS
        && ev.client_recent_errors >= 0.5 * ev.client_recent
    {
        verdicts.push(explain::Verdict::ErrorScanning);
    }
    if let Some(f) = &t.forest {
        if strongest(&v.forest) >= FOREST_GATE {
            let s = f.model.score(&v.forest);
            if s > f.threshold {
                verdicts.push(explain::Verdict::Forest { score: s, threshold: f.threshold });
            }
        }
    }
}

/// The response time is far off its baseline: alone, or while the endpoint is slow too (a spike).
fn rt_far(v: &Vectors) -> bool {
    let ev = &v.evidence;
    ev.rt_z >= RT_GATE_Z || (ev.rt_z >= RT_GATE_IN_SPIKE_Z && ev.endpoint_latency_z >= RT_CONTEXT_Z)
}

/// A 5xx that is part of a burst on its endpoint.
fn error_burst(v: &Vectors) -> bool {
    let ev = &v.evidence;
    matches!(ev.status, Some(500..=599))
        && ev.endpoint_error_surprise >= BURST_GATE
        && ev.endpoint_recent_errors >= BURST_MIN_ERRORS
}

/// The Isolation Forest threshold: the score above which a fraction `q` of the training rows
/// would be *reported*, i.e. also pass the evidence gate. Rows that can never pass the gate do not
/// push the threshold up; never below 0.5, the score of an unremarkable point.
fn forest_threshold(model: &IsolationForest, rows: &[Vec<f64>], q: f64) -> f64 {
    let mut gated: Vec<f64> = rows.iter().filter(|r| strongest(r) >= FOREST_GATE).map(|r| model.score(r)).collect();
    let allowed = (q * rows.len() as f64).floor() as usize;
    if gated.len() <= allowed {
        return 0.5;
    }
    gated.sort_by(|a, b| b.total_cmp(a));
    gated[allowed].max(0.5)
}

/// Largest |value| of a scaled feature vector.
fn strongest(v: &[f64]) -> f64 {
    v.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
}

/// The value below which a fraction `q` of `scores` lies.
fn lower_quantile(scores: &mut [f64], q: f64) -> f64 {
    scores.sort_by(f64::total_cmp);
    let idx = ((q * scores.len() as f64).floor() as usize).min(scores.len().saturating_sub(1));
    scores.get(idx).copied().unwrap_or(f64::NEG_INFINITY)
}

/// The decision value of every row, each distinct row computed once: training rows repeat a lot
/// (latencies are logged to 0.1 ms, status vectors take a few values per endpoint). In no order.
fn decisions(model: &OneClassSvm, rows: &[Vec<f64>]) -> Vec<f64> {
    let mut sorted: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    sorted.sort_unstable_by(|a, b| {
        a.iter().zip(b.iter()).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(a.len().cmp(&b.len()))
    });
    let mut out = Vec::with_capacity(rows.len());
    let mut last: Option<(&[f64], f64)> = None;
    for r in sorted {
        let d = match last {
            Some((prev, d)) if prev == r => d,
            _ => model.decision(r),
        };
        last = Some((r, d));
        out.push(d);
    }
    out
}

fn fit_svm(
    cfg: &SvmConfig,
    rows: Vec<Vec<f64>>,
    q: f64,
    seed: Option<u64>,
    name: &'static str,
    report: &mut TrainReport,
) -> Option<Fitted<OneClassSvm>> {
    if !cfg.enabled {
        return None;
    }
    if rows.len() < 50 {
        report.failures.push((name, format!("only {} events carry this feature", rows.len())));
        return None;
    }
    let start = std::time::Instant::now();
    let params = OneClassSvmParams::new()
        .nu(cfg.nu)
        .kernel_width(cfg.kernel_width)
        .max_training_points(cfg.max_training_points)
        .seed(seed);
    match params.check().and_then(|p| p.fit(&rows)) {
        Ok(model) => {
            let mut d = decisions(&model, &rows);
            let threshold = lower_quantile(&mut d, q).min(0.0);
            let fit_secs = start.elapsed().as_secs_f64();
            report.models.push((name, rows.len(), fit_secs));
            Some(Fitted { model, threshold, events: rows.len(), fit_secs })
        }
        Err(e) => {
            report.failures.push((name, e.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_of_repeated_rows_match_scoring_each_row() {
        let rows: Vec<Vec<f64>> = (0..600).map(|i| vec![f64::from(i % 37) / 10.0, f64::from(i % 5)]).collect();
        let model = OneClassSvmParams::new().nu(0.05).max_training_points(200).seed(Some(3)).check().unwrap();
        let model = model.fit(&rows).unwrap();
        let mut memo = decisions(&model, &rows);
        let mut each: Vec<f64> = rows.iter().map(|r| model.decision(r)).collect();
        memo.sort_by(f64::total_cmp);
        each.sort_by(f64::total_cmp);
        assert_eq!(memo, each);
    }

    #[test]
    fn quantiles_pick_the_tail_fraction() {
        let mut v: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(lower_quantile(&mut v, 0.01), 10.0);
    }
}
