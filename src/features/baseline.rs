//! Per-endpoint baselines learned from the training window: latency, size, status mix, rate.
//! Medians and MADs of a screened window (see [`screen`](super::screen)), so the incidents inside
//! the window do not become the new normal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::screen::{screen, Screened};
use super::TrainingEvent;
use crate::hash::FastMap;

/// Smallest robust scale of ln(value), so discrete or constant data does not make every
/// deviation infinite (0.1 = about ±10 %).
const MIN_LOG_SCALE: f64 = 0.1;
/// Endpoints with fewer training events than this get at least [`SPARSE_LOG_SCALE`] as spread.
pub const MIN_ENDPOINT_EVENTS: u64 = 30;
/// Spread of ln(value) assumed for sparse endpoints (about ×1.65 per σ).
pub const SPARSE_LOG_SCALE: f64 = 0.5;

/// What is normal for one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointBaseline {
    pub count: u64,
    /// Median and robust scale (MAD × 1.4826) of ln(response time ms).
    pub log_rt_median: f64,
    pub log_rt_scale: f64,
    #[serde(with = "super::nan_as_null")]
    pub rt_median_ms: f64,
    #[serde(with = "super::nan_as_null")]
    pub rt_p99_ms: f64,
    /// Median and robust scale of ln(1 + bytes).
    pub log_bytes_median: f64,
    pub log_bytes_scale: f64,
    #[serde(with = "super::nan_as_null")]
    pub bytes_median: f64,
    #[serde(with = "super::nan_as_null")]
    pub bytes_p99: f64,
    /// Responses by status code.
    pub status_counts: BTreeMap<u16, u64>,
    /// Fraction of 5xx responses (smoothed toward the global rate).
    pub error_rate: f64,
    /// Requests per second over the training span.
    pub rate_per_sec: f64,
}

/// Baselines of every tracked endpoint, plus a pooled one for the rest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Baselines {
    pub endpoints: FastMap<Arc<str>, EndpointBaseline>,
    /// Pooled over all events (used for endpoints with little or no history).
    pub pooled: EndpointBaseline,
    /// Fraction of 4xx responses per request across all clients.
    pub client_error_rate: f64,
    /// Seconds spanned by the training window.
    pub span_secs: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median and robust scale of the values (sorts them).
fn median_scale(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    values.sort_by(f64::total_cmp);
    let med = quantile(values, 0.5);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile(&dev, 0.5) * 1.4826;
    // With heavy ties the MAD can be 0: fall back to a spread of the central 80 %.
    let spread = (quantile(values, 0.9) - quantile(values, 0.1)) / 2.563;
    (med, mad.max(spread).max(MIN_LOG_SCALE))
}

/// Whether a response's size is judged: 2xx, or no status at all.
pub fn sized(status: Option<u16>) -> bool {
    matches!(status, None | Some(200..=299))
}

fn fit_one<'a>(
    events: impl Iterator<Item = &'a TrainingEvent>,
    span_secs: f64,
    global_error_rate: f64,
) -> EndpointBaseline {
    let mut log_rt = Vec::new();
    let mut rt = Vec::new();
    let mut log_bytes = Vec::new();
    let mut bytes = Vec::new();
    let mut status_counts = BTreeMap::new();
    let mut count = 0u64;
    let mut errors = 0u64;
    let mut with_status = 0u64;
    for e in events {
        count += 1;
        if let Some(r) = e.rt_ms {
            let r = f64::from(r);
            rt.push(r);
            log_rt.push(r.max(0.01).ln());
        }
        // Sizes are learned from successful responses only: error bodies are small by nature.
        if let (Some(b), true) = (e.bytes, sized(e.status)) {
            let b = f64::from(b);
            bytes.push(b);
            log_bytes.push(b.ln_1p());
        }
        if let Some(s) = e.status {
            *status_counts.entry(s).or_insert(0) += 1;
            with_status += 1;
            if s >= 500 {
                errors += 1;
            }
        }
    }
    let (log_rt_median, log_rt_scale) = median_scale(&mut log_rt);
    let (log_bytes_median, log_bytes_scale) = median_scale(&mut log_bytes);
    rt.sort_by(f64::total_cmp);
    bytes.sort_by(f64::total_cmp);
    // Smooth toward the global rate with the weight of 200 pseudo-requests.
    let prior = 200.0;
    let error_rate = (errors as f64 + prior * global_error_rate) / (with_status as f64 + prior);
    let span = span_secs.max(1.0);
    EndpointBaseline {
        count,
        log_rt_median,
        log_rt_scale,
        rt_median_ms: if rt.is_empty() { f64::NAN } else { quantile(&rt, 0.5) },
        rt_p99_ms: if rt.is_empty() { f64::NAN } else { quantile(&rt, 0.99) },
        log_bytes_median,
        log_bytes_scale,
        bytes_median: if bytes.is_empty() { f64::NAN } else { quantile(&bytes, 0.5) },
        bytes_p99: if bytes.is_empty() { f64::NAN } else { quantile(&bytes, 0.99) },
        status_counts,
        error_rate,
        rate_per_sec: count as f64 / span,
    }
}

/// What the whole training window says, shared by every endpoint's baseline.
struct Window {
    span_secs: f64,
    global_error_rate: f64,
    client_error_rate: f64,
}

impl Window {
    /// `events` is the whole window (for its span); the rates come from the `kept` ones.
    fn of<'a>(events: &[TrainingEvent], kept: impl Iterator<Item = &'a TrainingEvent>) -> Window {
        let span_secs = match (events.first(), events.last()) {
            (Some(a), Some(b)) => (b.time - a.time).max(1.0),
            _ => 1.0,
        };
        let (mut total_status, mut errors_5xx, mut errors) = (0usize, 0usize, 0usize);
        for e in kept {
            if let Some(s) = e.status {
                total_status += 1;
                errors_5xx += usize::from((500..=599).contains(&s));
                errors += usize::from((400..=499).contains(&s));
            }
        }
        let total_status = total_status.max(1) as f64;
        let global_error_rate = (errors_5xx as f64 + 1.0) / (total_status + 100.0);
        let client_error_rate = (errors as f64 + 1.0) / (total_status + 100.0);
        Window { span_secs, global_error_rate, client_error_rate }
    }
}

/// One endpoint's baseline from its own events.
fn fit_endpoint<'a>(
    events: impl Iterator<Item = &'a TrainingEvent>,
    span_secs: f64,
    global_error_rate: f64,
    pooled: &EndpointBaseline,
) -> EndpointBaseline {
    let mut b = fit_one(events, span_secs, global_error_rate);
    // A feature the endpoint's own events never showed (only error responses, so no sizes; no
    // latency field) is judged against the pooled baseline, not against a centre of 0 and a scale
    // of 1, which made any 1.5 kB answer "1488× its median".
    if b.bytes_median.is_nan() {
        (b.log_bytes_median, b.log_bytes_scale) = (pooled.log_bytes_median, pooled.log_bytes_scale);
        (b.bytes_median, b.bytes_p99) = (pooled.bytes_median, pooled.bytes_p99);
    }
    if b.rt_median_ms.is_nan() {
        (b.log_rt_median, b.log_rt_scale) = (pooled.log_rt_median, pooled.log_rt_scale);
        (b.rt_median_ms, b.rt_p99_ms) = (pooled.rt_median_ms, pooled.rt_p99_ms);
    }
    if b.count < MIN_ENDPOINT_EVENTS {
        // Few events: keep the endpoint's own centre (a rare report endpoint is slow by nature)
        // but do not trust a narrow spread.
        b.log_rt_scale = b.log_rt_scale.max(SPARSE_LOG_SCALE);
        b.log_bytes_scale = b.log_bytes_scale.max(SPARSE_LOG_SCALE);
    }
    b
}

impl Baselines {
    /// Learn baselines from the training events, tracking at most `max_endpoints` endpoints (the
    /// busiest); the rest share the pooled baseline. The window is screened first (see
    /// [`screen`](super::screen)): events of incidents inside it are not learned.
    ///
    /// `previous` baselines are kept for endpoints the new window has fewer events of.
    pub fn fit(events: &[TrainingEvent], max_endpoints: usize, previous: Option<&Baselines>) -> Baselines {
        let mut keep = vec![true; events.len()];
        Baselines::fit_kept(events, &mut keep, max_endpoints, previous).0
    }

    /// [`fit`](Self::fit) from the events with `keep[i]` set; screening clears `keep` of the
    /// events it finds in incidents, and says how many.
    pub fn fit_kept(
        events: &[TrainingEvent],
        keep: &mut [bool],
        max_endpoints: usize,
        previous: Option<&Baselines>,
    ) -> (Baselines, Screened) {
        let screened = screen(events, keep);
        let kept = || events.iter().zip(keep.iter()).filter(|(_, k)| **k).map(|(e, _)| e);
        let Window { span_secs, global_error_rate, client_error_rate } = Window::of(events, kept());
        let pooled = fit_one(kept(), span_secs, global_error_rate);

        // Request rates count every request, incidents included (volume is judged on its own).
        let mut all_requests: FastMap<&Arc<str>, u64> = FastMap::default();
        for e in events {
            *all_requests.entry(&e.endpoint).or_default() += 1;
        }
        let mut by_endpoint: HashMap<&Arc<str>, Vec<&TrainingEvent>> = HashMap::new();
        for e in kept() {
            by_endpoint.entry(&e.endpoint).or_default().push(e);
        }
        let mut ranked: Vec<(&Arc<str>, Vec<&TrainingEvent>)> = by_endpoint.into_iter().collect();
        ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(max_endpoints);
        let span = span_secs.max(1.0);
        let mut endpoints: FastMap<Arc<str>, EndpointBaseline> = ranked
            .into_iter()
            .map(|(name, evs)| {
                let mut b = fit_endpoint(evs.iter().copied(), span_secs, global_error_rate, &pooled);
                b.rate_per_sec = all_requests.get(name).copied().unwrap_or(b.count) as f64 / span;
                (name.clone(), b)
            })
            .collect();
        if let Some(prev) = previous {
            // A rare endpoint may have few (or no) events in this window, not least because its
            // flagged events are kept out: what was learned from more events is kept.
            for (name, old) in &prev.endpoints {
                let fewer = endpoints.get(name).is_none_or(|b| b.count < old.count.min(MIN_ENDPOINT_EVENTS * 4));
                if fewer && (endpoints.len() < max_endpoints || endpoints.contains_key(name)) {
                    endpoints.insert(name.clone(), old.clone());
                }
            }
        }
        (Baselines { endpoints, pooled, client_error_rate, span_secs }, screened)
    }

    /// The baseline of one endpoint alone, learned from its events among `events` (the training
    /// window), as [`Baselines::fit`] would learn it; `None` when it has no events there (or
    /// only events screening takes for an incident).
    pub fn fit_one_endpoint(events: &[TrainingEvent], endpoint: &str) -> Option<EndpointBaseline> {
        let mut keep: Vec<bool> = events.iter().map(|e| &*e.endpoint == endpoint).collect();
        if !keep.contains(&true) {
            return None;
        }
        // Screened alone, as the whole fit screens each endpoint apart; the window-wide rates
        // come from the whole window, screened too.
        let mut all = vec![true; events.len()];
        screen(events, &mut all);
        screen(events, &mut keep);
        let w = Window::of(events, events.iter().zip(&all).filter(|(_, k)| **k).map(|(e, _)| e));
        let pooled =
            fit_one(events.iter().zip(&all).filter(|(_, k)| **k).map(|(e, _)| e), w.span_secs, w.global_error_rate);
        let mut own = events.iter().zip(&keep).filter(|(_, k)| **k).map(|(e, _)| e).peekable();
        own.peek()?;
        let mut b = fit_endpoint(own, w.span_secs, w.global_error_rate, &pooled);
        b.rate_per_sec = events.iter().filter(|e| &*e.endpoint == endpoint).count() as f64 / w.span_secs.max(1.0);
        Some(b)
    }

    /// The baseline an event on `endpoint` is judged against, and whether the endpoint is known.
    pub fn for_endpoint(&self, endpoint: &str) -> (&EndpointBaseline, bool) {
        match self.endpoints.get(endpoint) {
            Some(b) => (b, true),
            None => (&self.pooled, false),
        }
    }

    /// Probability of `status` on this endpoint, smoothed (unseen statuses get a small mass).
    pub fn status_probability(b: &EndpointBaseline, status: u16) -> f64 {
        let seen = b.status_counts.get(&status).copied().unwrap_or(0) as f64;
        let total: u64 = b.status_counts.values().sum();
        (seen + 0.5) / (total as f64 + 1.0 + 0.5 * (b.status_counts.len() as f64 + 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, ep: &str, rt: f32, status: u16) -> TrainingEvent {
        TrainingEvent {
            time: t,
            endpoint: Arc::from(ep),
            rt_ms: Some(rt),
            status: Some(status),
            bytes: Some(1000.0),
            recent: Default::default(),
            query_len: 0,
        }
    }

    #[test]
    fn an_endpoint_seen_only_failing_judges_sizes_against_the_pooled_baseline() {
        // The bug: its size centre was 0 with scale 1, so its first 1.5 kB success was "1488× its median NaN B".
        let mut events: Vec<TrainingEvent> = (0..200).map(|i| ev(i as f64, "GET /a", 20.0, 200)).collect();
        events.push(ev(5.0, "GET /rare", 20.0, 500));
        let b = Baselines::fit(&events, 100, None);
        let rare = &b.endpoints["GET /rare"];
        assert_eq!(rare.log_bytes_median, b.pooled.log_bytes_median);
        assert!(rare.bytes_median.is_finite());
    }

    #[test]
    fn baseline_is_robust_to_a_spike_inside_the_window() {
        let mut events: Vec<TrainingEvent> =
            (0..1000).map(|i| ev(i as f64, "GET /a", 20.0 + (i % 7) as f32, 200)).collect();
        // 5 % of the window is a 10x latency spike: the median must not move much.
        for e in events.iter_mut().skip(500).take(50) {
            e.rt_ms = Some(250.0);
        }
        let b = Baselines::fit(&events, 10, None);
        let a = &b.endpoints[&Arc::<str>::from("GET /a")];
        assert!(a.rt_median_ms > 20.0 && a.rt_median_ms < 26.0, "{}", a.rt_median_ms);
        assert!(a.log_rt_scale < 0.5, "{}", a.log_rt_scale);
    }

    #[test]
    fn a_rare_slow_endpoint_keeps_its_own_latency_and_survives_a_refit_without_events() {
        let mut events: Vec<TrainingEvent> = (0..1000).map(|i| ev(i as f64, "GET /fast", 20.0, 200)).collect();
        for i in 0..10 {
            events.push(ev(i as f64 * 100.0, "GET /report", 1500.0 + i as f32, 200));
        }
        let first = Baselines::fit(&events, 10, None);
        let report = first.for_endpoint("GET /report").0.clone();
        assert!(report.rt_median_ms > 1400.0, "{}", report.rt_median_ms);
        assert!(report.log_rt_scale >= SPARSE_LOG_SCALE);
        // The next window has no report at all: the endpoint is not forgotten.
        let later: Vec<TrainingEvent> = (0..1000).map(|i| ev(2000.0 + i as f64, "GET /fast", 20.0, 200)).collect();
        let second = Baselines::fit(&later, 10, Some(&first));
        assert_eq!(second.for_endpoint("GET /report").0, &report);
    }

    #[test]
    fn baselines_without_latencies_survive_a_json_round_trip() {
        let mut events: Vec<TrainingEvent> = (0..100).map(|i| ev(i as f64, "GET /a", 10.0, 200)).collect();
        for e in &mut events {
            e.rt_ms = None;
            e.recent.endpoint_log_rt = f64::NAN;
        }
        let b = Baselines::fit(&events, 10, None);
        assert!(b.pooled.rt_median_ms.is_nan());
        let back: Baselines = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert!(back.pooled.rt_median_ms.is_nan());
        let e: TrainingEvent = serde_json::from_str(&serde_json::to_string(&events[0]).unwrap()).unwrap();
        assert!(e.recent.endpoint_log_rt.is_nan());
    }

    #[test]
    fn one_endpoint_alone_is_learned_as_the_whole_fit_learns_it() {
        let mut events: Vec<TrainingEvent> =
            (0..600).map(|i| ev(i as f64, "GET /a", 20.0 + (i % 5) as f32, 200)).collect();
        events.extend((0..20).map(|i| ev(i as f64 * 30.0, "GET /b", 300.0, 500)));
        let all = Baselines::fit(&events, 10, None);
        for ep in ["GET /a", "GET /b"] {
            // Compared as JSON: a 5xx-only endpoint has NaN sizes, and NaN != NaN.
            let alone = serde_json::to_value(Baselines::fit_one_endpoint(&events, ep)).unwrap();
            assert_eq!(alone, serde_json::to_value(Some(all.for_endpoint(ep).0)).unwrap(), "{ep}");
        }
        assert!(Baselines::fit_one_endpoint(&events, "GET /c").is_none());
    }

    #[test]
    fn endpoints_beyond_top_k_share_the_pooled_baseline() {
        let mut events = Vec::new();
        for i in 0..300 {
            events.push(ev(i as f64, "GET /busy", 10.0, 200));
        }
        for i in 0..40 {
            events.push(ev(i as f64, "GET /rare", 500.0, 200));
        }
        let b = Baselines::fit(&events, 1, None);
        assert!(b.for_endpoint("GET /busy").1);
        assert!(!b.for_endpoint("GET /rare").1);
    }

    #[test]
    fn unseen_status_is_improbable_and_common_status_is_not() {
        let events: Vec<TrainingEvent> = (0..1000).map(|i| ev(i as f64, "GET /a", 10.0, 200)).collect();
        let b = Baselines::fit(&events, 10, None);
        let a = b.for_endpoint("GET /a").0;
        assert!(Baselines::status_probability(a, 200) > 0.99);
        assert!(Baselines::status_probability(a, 500) < 0.001);
    }
}
