//! A training round: learn from history that holds incidents without learning the incidents.
//!
//! 1. The baselines screen the window first ([`screen`](crate::features::screen)): latency
//!    spikes and error bursts that are a large share of an endpoint's events, found because they
//!    are concentrated in time, are not learned, and neither baselines nor models see them.
//! 2. The models are fitted on what is left, and the training events are then judged as new
//!    events would be. Flagged events that come together ([`MIN_INCIDENT_EVENTS`] of one kind
//!    on one endpoint within three time buckets) are an incident the screen could not see (a
//!    client pulling huge responses, a spike on a sparse endpoint): every event of that endpoint
//!    there that passes the same evidence gate is dropped, and the round is fitted again. A lone
//!    flagged event stays, so on clean history the second fit never happens and nothing changes.
//!
//! This is what makes a model's threshold (a quantile of its training scores) safe: an incident
//! larger than `anomaly_threshold` of the window would otherwise sit below it.

use std::sync::Arc;

use super::{error_burst, fit_svm, forest_threshold, model_verdicts, rt_far, strongest, DetectError, Detector};
use super::{Fitted, TrainReport, Trained};
use crate::config::Config;
use crate::detect::explain::Verdict;
use crate::detect::forest::IsolationForestParams;
use crate::detect::gates::FOREST_GATE;
use crate::features::screen::bucket_secs;
use crate::features::{Baselines, Features, Screened, TrainingEvent, Vectors};
use crate::hash::FastMap;

/// Flagged training events of one kind on one endpoint, within three buckets, that make an incident.
pub const MIN_INCIDENT_EVENTS: usize = 3;
/// Refits after judging the training events, at most.
const MAX_JUDGED_REFITS: usize = 2;

/// The verdict kinds training events are judged by (rules aside: they do not learn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ResponseTime,
    StatusCode,
    Forest,
}

impl Kind {
    fn of(v: &Verdict) -> Option<Kind> {
        match v {
            Verdict::ResponseTime => Some(Kind::ResponseTime),
            Verdict::StatusCode => Some(Kind::StatusCode),
            Verdict::Forest { .. } => Some(Kind::Forest),
            Verdict::Rule(_) | Verdict::ErrorScanning => None,
        }
    }

    /// The evidence gate of the kind alone (its model's threshold aside).
    fn gate(self, v: &Vectors) -> bool {
        match self {
            Kind::ResponseTime => rt_far(v),
            Kind::StatusCode => error_burst(v),
            Kind::Forest => strongest(&v.forest) >= FOREST_GATE,
        }
    }
}

impl Detector {
    /// Fit baselines and models on the current window (CPU work: call off the async reactor).
    pub fn fit(&mut self) -> Result<TrainReport, DetectError> {
        let need = self.cfg.detection.min_training_events;
        if self.window.len() < need {
            return Err(DetectError::NotEnoughData { have: self.window.len(), need });
        }
        let start = std::time::Instant::now();
        self.fits += 1;
        let seed_base = self.cfg.models.isolation_forest.seed;
        let seed = (seed_base != 0).then(|| seed_base.wrapping_add(self.fits));
        let events: &[TrainingEvent] = self.window.make_contiguous();
        let previous = self.trained.as_ref().map(|t| &t.baselines);
        let mut keep = vec![true; events.len()];
        let mut judged = 0;
        let mut screened = Screened::default();
        let mut refits = 0;
        let (trained, mut report) = loop {
            let (baselines, s) = Baselines::fit_kept(events, &mut keep, self.cfg.features.max_endpoints, previous);
            screened.latency += s.latency;
            screened.errors += s.errors;
            screened.failing += s.failing;
            let (trained, report) = fit_models(&self.cfg, &self.features, events, &keep, baselines, seed);
            if refits == MAX_JUDGED_REFITS {
                break (trained, report);
            }
            let dropped = drop_incidents(&trained, &self.features, events, &mut keep);
            if dropped == 0 {
                break (trained, report);
            }
            judged += dropped;
            refits += 1;
        };
        report.screened = screened;
        report.judged_out = judged;
        report.secs = start.elapsed().as_secs_f64();
        self.rate.seed(&trained.baselines);
        // A re-baselined endpoint with events in the window has its own baseline again.
        self.relearning.retain(|ep, _| !trained.baselines.endpoints.contains_key(ep));
        self.trained = Some(trained);
        Ok(report)
    }
}

/// Fit the models on the kept events.
fn fit_models(
    cfg: &Config,
    features: &Features,
    events: &[TrainingEvent],
    keep: &[bool],
    baselines: Baselines,
    seed: Option<u64>,
) -> (Trained, TrainReport) {
    // Only the rows the models take: the vectors' evidence is recomputed where it is needed, so
    // a large window does not hold it for every event at once.
    let (mut forest_rows, mut rt_rows, mut status_rows) = (Vec::new(), Vec::new(), Vec::new());
    for (e, _) in events.iter().zip(keep).filter(|(_, k)| **k) {
        let v = features.vectors(e, &baselines);
        rt_rows.extend(v.response_time.map(|x| x.to_vec()));
        status_rows.extend(v.status.map(|x| x.to_vec()));
        forest_rows.push(v.forest);
    }
    let kept = forest_rows.len();
    let q = cfg.detection.anomaly_threshold;
    let mut report = TrainReport {
        events: kept,
        endpoints: baselines.endpoints.len(),
        models: vec![],
        failures: vec![],
        screened: Screened::default(),
        judged_out: 0,
        secs: 0.0,
    };
    let forest = if cfg.models.isolation_forest.enabled {
        let rows = forest_rows;
        let start = std::time::Instant::now();
        let fitted = IsolationForestParams::new()
            .trees(cfg.models.isolation_forest.trees)
            .sample_size(cfg.models.isolation_forest.sample_size)
            .seed(seed)
            .check()
            .and_then(|p| p.fit(&rows))
            .map_err(|e| DetectError::Forest(e.to_string()));
        match fitted {
            Ok(model) => {
                let threshold = forest_threshold(&model, &rows, q);
                let fit_secs = start.elapsed().as_secs_f64();
                report.models.push(("isolation_forest", rows.len(), fit_secs));
                Some(Fitted { model, threshold, events: rows.len(), fit_secs })
            }
            Err(e) => {
                report.failures.push(("isolation_forest", e.to_string()));
                None
            }
        }
    } else {
        None
    };
    let response_time = fit_svm(&cfg.models.ocsvm_response_time, rt_rows, q, seed, "ocsvm_response_time", &mut report);
    let status_code = fit_svm(&cfg.models.ocsvm_status_code, status_rows, q, seed, "ocsvm_status_code", &mut report);
    let trained_through = events.last().map_or(0.0, |e| e.time);
    // The window's size, screened events included: the schedule refits when the window grows fourfold.
    let window = events.len();
    let trained = Trained { baselines, forest, response_time, status_code, trained_through, events: window };
    (trained, report)
}

/// Judge the kept training events with what was just fitted; where flagged events come together
/// (an incident), clear `keep` for that endpoint's events there that pass the same gate. Returns
/// how many were cleared.
fn drop_incidents(trained: &Trained, features: &Features, events: &[TrainingEvent], keep: &mut [bool]) -> usize {
    let (Some(first), Some(last)) = (events.first(), events.last()) else { return 0 };
    let width = bucket_secs((last.time - first.time).max(1.0));
    let bucket = |e: &TrainingEvent| ((e.time - first.time) / width).floor() as i64;
    let mut flagged: FastMap<(Arc<str>, Kind), FastMap<i64, usize>> = FastMap::default();
    let mut verdicts = Vec::new();
    for (e, _) in events.iter().zip(keep.iter()).filter(|(_, k)| **k) {
        let v = features.vectors(e, &trained.baselines);
        verdicts.clear();
        model_verdicts(trained, &v, false, &mut verdicts);
        for kind in verdicts.iter().filter_map(Kind::of) {
            *flagged.entry((e.endpoint.clone(), kind)).or_default().entry(bucket(e)).or_default() += 1;
        }
    }
    // Buckets (per endpoint and kind) with an incident around them.
    let mut incident: FastMap<(Arc<str>, Kind), Vec<i64>> = FastMap::default();
    for (key, by_bucket) in &flagged {
        let near = |b: i64| (b - 1..=b + 1).map(|k| by_bucket.get(&k).copied().unwrap_or(0)).sum::<usize>();
        let mut hot: Vec<i64> = by_bucket.keys().copied().filter(|&b| near(b) >= MIN_INCIDENT_EVENTS).collect();
        if !hot.is_empty() {
            hot.sort_unstable();
            incident.insert(key.clone(), hot);
        }
    }
    if incident.is_empty() {
        return 0;
    }
    let mut dropped = 0;
    for (i, e) in events.iter().enumerate() {
        if !keep[i] || !incident.keys().any(|(endpoint, _)| *endpoint == e.endpoint) {
            continue;
        }
        let v = features.vectors(e, &trained.baselines);
        let b = bucket(e);
        for ((endpoint, kind), hot) in &incident {
            if *endpoint == e.endpoint && hot.iter().any(|h| (h - b).abs() <= 1) && kind.gate(&v) {
                keep[i] = false;
                dropped += 1;
                break;
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: f64, endpoint: &str, status: u16) -> TrainingEvent {
        TrainingEvent {
            time,
            endpoint: Arc::from(endpoint),
            rt_ms: Some((20.0 + (time * 7.0) % 5.0) as f32),
            status: Some(status),
            bytes: Some(1000.0),
            recent: Default::default(),
            query_len: 0,
        }
    }

    #[test]
    fn a_window_mostly_screened_out_is_not_refitted_at_every_event() {
        // The bug: the schedule compared the window with the events kept, so a window more than
        // half screened out looked as if it had doubled since the fit, and refitted on every event.
        let mut d = Detector::new(&Config::default());
        let mut events: Vec<TrainingEvent> = (0..800).map(|i| ev(f64::from(i) * 0.5, "GET /a", 200)).collect();
        events.extend((0..1200).map(|i| ev(100.0 + f64::from(i) * 0.05, "POST /new", 500)));
        events.sort_by(|a, b| a.time.total_cmp(&b.time));
        d.window.extend(events);
        let report = d.fit().unwrap();
        assert_eq!(report.screened.failing, 1200, "{report:?}");
        assert!(!d.fit_due());
        assert!(!d.trained().unwrap().baselines.endpoints.contains_key("POST /new"));
    }
}
