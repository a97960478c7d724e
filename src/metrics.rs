//! The detector's Prometheus metrics: one typed struct, registered once, shared as `Arc<Metrics>`.
//! Names are a contract with the dashboard (see DESIGN.md); every metric has help text.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::config::Severity;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnomalyLabels {
    pub kind: String,
    pub severity: String,
    pub detector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    pub kind: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelOutcomeLabels {
    pub channel: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub shard: String,
    pub shard_count: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FormatLabel {
    pub format: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn response_time_histogram() -> Histogram {
    // 1 ms .. ~33 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the detector exports.
pub struct Metrics {
    pub registry: Registry,
    pub lines_read: Family<SourceLabel, Counter>,
    pub lines_unparsed: Family<SourceLabel, Counter>,
    pub lines_parsed: Family<FormatLabel, Counter>,
    pub lines_skipped: Family<ReasonLabel, Counter>,
    pub lines_truncated: Counter,
    pub lines_retimed: Family<ReasonLabel, Counter>,
    /// Each anomaly once per detector that found it (a line the forest and a rule both flag: 2).
    pub anomalies: Family<AnomalyLabels, Counter>,
    /// Each anomaly once.
    pub anomalous: Family<IncidentLabels, Counter>,
    pub incidents: Family<IncidentLabels, Counter>,
    pub open_incidents: Gauge,
    /// Templates kept per service (`patterns.max_services` services at most).
    pub patterns: Family<ServiceLabel, Gauge>,
    /// Templates first seen after the history, in the last hour, per service.
    pub patterns_new: Family<ServiceLabel, Gauge>,
    pub loki_requests: Family<OutcomeLabel, Counter>,
    pub loki_request_duration: Histogram,
    pub lag_seconds: Gauge<f64, AtomicU64>,
    pub last_success_timestamp: Gauge<f64, AtomicU64>,
    pub lines_late: Counter,
    pub shard_info: Family<ShardLabels, Gauge>,
    pub model_trained: Family<ModelLabel, Gauge>,
    pub model_training_events: Family<ModelLabel, Gauge>,
    pub model_fit_duration: Family<ModelLabel, Histogram, fn() -> Histogram>,
    pub alerts: Family<ChannelOutcomeLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub response_time: HistogramFamily<EndpointLabel>,
    pub events_scored: Counter,
    pub suppressed: Family<ReasonLabel, Counter>,
    pub ready: Gauge,
    pub state_saves: Counter,
}

/// Anomaly kinds, in the order the dashboard lists them.
pub const KINDS: [&str; 6] = ["behavioral", "response_time", "status_code", "suspicious", "volume", "pattern"];

fn fit_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("anomaly_detector");
        let m = Metrics {
            lines_read: Family::default(),
            lines_unparsed: Family::default(),
            lines_parsed: Family::default(),
            lines_skipped: Family::default(),
            lines_retimed: Family::default(),
            lines_truncated: Counter::default(),
            anomalies: Family::default(),
            anomalous: Family::default(),
            incidents: Family::default(),
            open_incidents: Gauge::default(),
            patterns: Family::default(),
            patterns_new: Family::default(),
            loki_requests: Family::default(),
            loki_request_duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            lag_seconds: Gauge::default(),
            last_success_timestamp: Gauge::default(),
            lines_late: Counter::default(),
            shard_info: Family::default(),
            model_trained: Family::default(),
            model_training_events: Family::default(),
            model_fit_duration: Family::new_with_constructor(fit_histogram as fn() -> Histogram),
            alerts: Family::default(),
            requests: Family::default(),
            response_time: Family::new_with_constructor(response_time_histogram as fn() -> Histogram),
            events_scored: Counter::default(),
            suppressed: Family::default(),
            ready: Gauge::default(),
            state_saves: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "lines_read",
            "Log lines received from the source, after de-duplication",
            m.lines_read.clone(),
        );
        registry.register(
            "lines_unparsed",
            "Lines that looked structured but did not parse; kept and scored as text",
            m.lines_unparsed.clone(),
        );
        registry.register("lines_parsed", "Lines parsed, by detected format", m.lines_parsed.clone());
        registry.register(
            "lines_skipped",
            "Lines not analysed, by reason (truncated, catch_up_limit, too_long, ...)",
            m.lines_skipped.clone(),
        );
        registry.register(
            "lines_retimed",
            "Lines judged at the stream's time instead of their own: dated far ahead of the stream \
             (ahead), or undated and read long after the stream's time (undated)",
            m.lines_retimed.clone(),
        );
        registry.register(
            "lines_truncated",
            "Lines longer than parse.max_line_bytes, cut to that length and still analysed",
            m.lines_truncated.clone(),
        );
        registry.register(
            "anomalies",
            "Anomalous lines or windows, by kind, severity and detector: one anomaly found by two \
             detectors counts once under each (anomalous_total counts it once)",
            m.anomalies.clone(),
        );
        registry.register(
            "anomalous",
            "Anomalous lines or windows, by kind and severity, each counted once",
            m.anomalous.clone(),
        );
        registry.register(
            "incidents",
            "Incidents opened (anomalies rolled up), by kind and severity",
            m.incidents.clone(),
        );
        registry.register("open_incidents", "Incidents currently open", m.open_incidents.clone());
        registry.register(
            "patterns",
            "Message templates kept per service (application logs; bounded by patterns.max_services)",
            m.patterns.clone(),
        );
        registry.register(
            "patterns_new",
            "Message templates first seen after the history, in the last hour, per service",
            m.patterns_new.clone(),
        );
        registry.register("loki_requests", "Requests to Loki, by outcome", m.loki_requests.clone());
        registry.register(
            "loki_request_duration_seconds",
            "Duration of Loki query_range requests",
            m.loki_request_duration.clone(),
        );
        registry.register("lag_seconds", "How far the read cursor is behind now", m.lag_seconds.clone());
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last successful read from the source",
            m.last_success_timestamp.clone(),
        );
        registry.register(
            "loki_late_lines",
            "Lines read after they arrived in Loki late (within loki.lookback_secs)",
            m.lines_late.clone(),
        );
        registry.register(
            "shard_info",
            "1, labelled with the replica's shard (loki.shard_index) and loki.shard_count",
            m.shard_info.clone(),
        );
        registry.register("model_trained", "1 when the model is trained and scoring, else 0", m.model_trained.clone());
        registry.register(
            "model_training_events",
            "Events the model was last trained on",
            m.model_training_events.clone(),
        );
        registry.register("model_fit_duration_seconds", "Time to fit each model", m.model_fit_duration.clone());
        registry.register("alerts", "Alert notifications, by channel and outcome", m.alerts.clone());
        registry.register(
            "requests",
            "Requests seen in the logs, by endpoint (top-K + other) and status class",
            m.requests.clone(),
        );
        registry.register(
            "response_time_seconds",
            "Response times seen in the logs, by endpoint (top-K + other)",
            m.response_time.clone(),
        );
        registry.register("events_scored", "Events scored by the trained models", m.events_scored.clone());
        registry.register(
            "suppressed",
            "Events neither scored nor learned, by reason: endpoint or client (ignore rules), maintenance (window)",
            m.suppressed.clone(),
        );
        registry.register("ready", "1 when the source has answered and the pipeline runs", m.ready.clone());
        registry.register("state_saves", "Saves of models.json (what was learned)", m.state_saves.clone());
        let mut m = m;
        m.registry = registry;
        m.init_label_sets();
        m
    }

    /// Create the fixed label sets at 0 so series exist before the first event.
    fn init_label_sets(&self) {
        for kind in KINDS {
            for sev in Severity::ALL {
                let _ =
                    self.incidents.get_or_create(&IncidentLabels { kind: kind.into(), severity: sev.as_str().into() });
            }
        }
        let detectors = [
            ("behavioral", "isolation_forest"),
            ("response_time", "ocsvm_response_time"),
            ("status_code", "ocsvm_status_code"),
            ("suspicious", "rule"),
            ("volume", "rate"),
            ("pattern", "pattern:new"),
            ("pattern", "pattern:rate"),
            ("pattern", "pattern:level"),
            ("pattern", "pattern:param"),
            ("pattern", "pattern:session"),
        ];
        for kind in ["behavioral", "response_time", "status_code", "suspicious", "volume", "pattern"] {
            for sev in Severity::ALL {
                let _ =
                    self.anomalous.get_or_create(&IncidentLabels { kind: kind.into(), severity: sev.as_str().into() });
            }
        }
        for (kind, det) in detectors {
            for sev in Severity::ALL {
                let _ = self.anomalies.get_or_create(&AnomalyLabels {
                    kind: kind.into(),
                    severity: sev.as_str().into(),
                    detector: det.into(),
                });
            }
        }
        for model in ["isolation_forest", "ocsvm_response_time", "ocsvm_status_code"] {
            let _ = self.model_trained.get_or_create(&ModelLabel { model: model.into() });
            let _ = self.model_training_events.get_or_create(&ModelLabel { model: model.into() });
        }
        for outcome in ["ok", "http_4xx", "http_5xx", "timeout", "connect", "decode"] {
            let _ = self.loki_requests.get_or_create(&OutcomeLabel { outcome: outcome.into() });
        }
        for reason in ["truncated", "catch_up_limit", "backfill_limit", "too_long", "queue_full"] {
            let _ = self.lines_skipped.get_or_create(&ReasonLabel { reason: reason.into() });
        }
        for reason in ["ahead", "undated"] {
            let _ = self.lines_retimed.get_or_create(&ReasonLabel { reason: reason.into() });
        }
        for hold in crate::detect::suppress::Hold::ALL {
            let _ = self.suppressed.get_or_create(&ReasonLabel { reason: hold.label().into() });
        }
    }

    /// Count one anomaly once, and under each of its detectors (`rule:<name>` is exported as `rule`).
    pub fn count_anomaly(&self, kind: &str, severity: Severity, detectors: &[String]) {
        self.anomalous.get_or_create(&IncidentLabels { kind: kind.into(), severity: severity.as_str().into() }).inc();
        for d in detectors {
            let detector = if d.starts_with("rule:") { "rule" } else { d.as_str() };
            self.anomalies
                .get_or_create(&AnomalyLabels {
                    kind: kind.into(),
                    severity: severity.as_str().into(),
                    detector: detector.into(),
                })
                .inc();
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(status: Option<u16>) -> &'static str {
    STATUS_CLASSES[status_class_index(status)]
}

/// The `status_class` label values, in the order of [`status_class_index`].
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// Where `status_class(status)` is in [`STATUS_CLASSES`].
pub fn status_class_index(status: Option<u16>) -> usize {
    match status {
        Some(100..=199) => 0,
        Some(200..=299) => 1,
        Some(300..=399) => 2,
        Some(400..=499) => 3,
        Some(500..=599) => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(exposition: &str, series: &str) -> f64 {
        exposition.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(f64::NAN)
    }

    #[test]
    fn an_anomaly_two_detectors_found_counts_once_in_anomalous_and_under_each_detector() {
        let m = Metrics::new();
        m.count_anomaly("behavioral", Severity::High, &["isolation_forest".into(), "rule:sqli".into()]);
        let text = m.encode();
        assert_eq!(value(&text, r#"anomaly_detector_anomalous_total{kind="behavioral",severity="high"}"#), 1.0);
        let per_detector: f64 = ["isolation_forest", "rule"]
            .iter()
            .map(|d| {
                value(
                    &text,
                    &format!(r#"anomaly_detector_anomalies_total{{kind="behavioral",severity="high",detector="{d}"}}"#),
                )
            })
            .sum();
        assert_eq!(per_detector, 2.0);
    }
}
