//! What detection emits: [`Anomaly`] (one line or one window) and [`Incident`] (anomalies rolled up).

use jiff::Timestamp;
use serde::Serialize;

use crate::config::Severity;

/// The kind of an anomaly, named after what was abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// The Isolation Forest found the combination of features unusual.
    Behavioral,
    /// Response time far from the endpoint's baseline.
    ResponseTime,
    /// A status code (or a rate of errors) the endpoint does not normally return.
    StatusCode,
    /// A known-suspicious request (rule).
    Suspicious,
    /// Requests per window far from the endpoint's baseline (no single line).
    Volume,
    /// An application-log message unlike the history: a new or rare template, a template or the
    /// share of errors surging, a measure in a message far off its usual values.
    Pattern,
}

impl AnomalyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Behavioral => "behavioral",
            AnomalyKind::ResponseTime => "response_time",
            AnomalyKind::StatusCode => "status_code",
            AnomalyKind::Suspicious => "suspicious",
            AnomalyKind::Volume => "volume",
            AnomalyKind::Pattern => "pattern",
        }
    }
}

/// One anomalous line (or, for `volume`, one window).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Anomaly {
    /// 1-based line number in the input (`scan`); absent for window-level anomalies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub timestamp: Timestamp,
    pub kind: AnomalyKind,
    /// Detector names: `isolation_forest`, `ocsvm_response_time`, `ocsvm_status_code`,
    /// `rule:<name>`, `rate`.
    pub detectors: Vec<String>,
    /// 0–1, higher is more anomalous.
    pub score: f64,
    pub severity: Severity,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The session's id, for `pattern:session` anomalies (a block id, a trace id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// A sentence with the evidence.
    pub reason: String,
    /// For Isolation Forest verdicts: the features that drove it, most important first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<FeatureContribution>,
    /// The original line (absent for window-level anomalies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// How much one feature contributed to an Isolation Forest verdict.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FeatureContribution {
    pub feature: String,
    /// The feature's scaled value (robust z-score against the endpoint baseline).
    pub value: f64,
    /// Share of the isolation attributed to this feature (0–1).
    pub share: f64,
}

/// Anomalies of one kind on one endpoint (and client, for `suspicious`) close together in time.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Incident {
    /// Stable id: fingerprint + start time.
    pub id: String,
    /// Same for every incident of this kind/endpoint/client: used for de-duplication.
    pub fingerprint: String,
    pub kind: AnomalyKind,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Highest severity seen.
    pub severity: Severity,
    /// Highest score seen.
    pub score: f64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Anomalous lines (or windows) in the incident.
    pub count: u64,
    /// Every detector that contributed.
    pub detectors: Vec<String>,
    /// The reason of the most severe anomaly.
    pub reason: String,
    /// The first few anomalies, as examples.
    pub examples: Vec<Anomaly>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: an anomaly without forest contributions (or line, client, raw) was written
    /// without those fields and could not be read back, so `models.json` was rejected at restart.
    #[test]
    fn an_anomaly_with_optional_fields_left_out_round_trips() {
        let a = Anomaly {
            line: None,
            timestamp: Timestamp::UNIX_EPOCH,
            kind: AnomalyKind::Volume,
            detectors: vec!["rate".into()],
            score: 0.7,
            severity: Severity::Medium,
            endpoint: "GET /a".into(),
            client: None,
            session: None,
            reason: "dropped".into(),
            features: Vec::new(),
            raw: None,
        };
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("features"));
        let back: Anomaly = serde_json::from_str(&json).unwrap();
        assert_eq!(back.reason, "dropped");
        assert!(back.features.is_empty() && back.line.is_none() && back.raw.is_none());
    }
}
