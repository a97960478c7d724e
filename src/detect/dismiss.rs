//! "This was not an anomaly": an operator dismisses an incident as a false alarm.
//!
//! A dismissal is a rule made from the incident: anomalies of the same kind on the same endpoint
//! (for `suspicious`: from the same client) whose score is at most the incident's highest
//! score are no longer reported; the events behind them are learned as normal instead (Elastic ML's
//! `skip_result` custom rule, with the model update kept). A larger anomaly of that kind, or the same
//! kind elsewhere, is still reported. Dismissals are kept in `models.json`, listed in
//! `/api/v1/status`, and undone by deleting them (`DELETE /api/v1/incidents/{id}/dismiss`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Anomaly, AnomalyKind, Incident};

/// Most dismissals kept; past it the oldest is dropped (and logged).
pub const MAX_DISMISSALS: usize = 1000;

/// One dismissed incident and what it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dismissal {
    /// The incident's id (what the API and the CLI name).
    pub incident: String,
    pub kind: AnomalyKind,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Anomalies scoring at most this are covered.
    pub max_score: f64,
    /// Anomalous lines the incident held when dismissed.
    pub lines: u64,
    pub dismissed_at: Timestamp,
    /// Anomalies not reported because of it since.
    #[serde(default)]
    pub covered: u64,
}

impl Dismissal {
    fn covers(&self, a: &Anomaly) -> bool {
        // A scanner's incident is its client's, whatever paths it walks.
        let same_source =
            if self.kind == AnomalyKind::Suspicious { a.client == self.client } else { a.endpoint == self.endpoint };
        a.kind == self.kind && same_source && a.score <= self.max_score
    }
}

/// The dismissals in force.
#[derive(Debug, Default, Clone)]
pub struct Dismissals {
    rules: Vec<Dismissal>,
}

impl Dismissals {
    /// Restore saved dismissals.
    pub fn from_saved(rules: Vec<Dismissal>) -> Self {
        Dismissals { rules }
    }

    /// Dismiss `inc`: a rule from it (replacing an earlier one for the same incident).
    pub fn add(&mut self, inc: &Incident, now: Timestamp) -> Dismissal {
        self.rules.retain(|d| d.incident != inc.id);
        if self.rules.len() >= MAX_DISMISSALS {
            let dropped = self.rules.remove(0);
            tracing::warn!(incident = %dropped.incident, "More than {MAX_DISMISSALS} dismissals; the oldest is dropped");
        }
        let d = Dismissal {
            incident: inc.id.clone(),
            kind: inc.kind,
            endpoint: inc.endpoint.clone(),
            client: inc.client.clone(),
            max_score: inc.score,
            lines: inc.count,
            dismissed_at: now,
            covered: 0,
        };
        self.rules.push(d.clone());
        d
    }

    /// Undo the dismissal of incident `id`; `None` when there is none.
    pub fn remove(&mut self, id: &str) -> Option<Dismissal> {
        let i = self.rules.iter().position(|d| d.incident == id)?;
        Some(self.rules.remove(i))
    }

    /// Whether a dismissal covers `a` (and count it there).
    pub fn covers(&mut self, a: &Anomaly) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        match self.rules.iter_mut().find(|d| d.covers(a)) {
            Some(d) => {
                d.covered += 1;
                true
            }
            None => false,
        }
    }

    /// The rules in force, oldest first.
    pub fn list(&self) -> &[Dismissal] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    fn anomaly(kind: AnomalyKind, endpoint: &str, client: Option<&str>, score: f64) -> Anomaly {
        Anomaly {
            line: None,
            timestamp: Timestamp::UNIX_EPOCH,
            kind,
            detectors: vec![],
            score,
            severity: Severity::Medium,
            endpoint: endpoint.into(),
            client: client.map(String::from),
            session: None,
            reason: String::new(),
            features: vec![],
            raw: None,
        }
    }

    fn incident(kind: AnomalyKind, endpoint: &str, client: Option<&str>, score: f64) -> Incident {
        let a = anomaly(kind, endpoint, client, score);
        Incident {
            id: "fp-1".into(),
            fingerprint: "fp".into(),
            kind,
            endpoint: endpoint.into(),
            client: client.map(String::from),
            severity: Severity::Medium,
            score,
            first_seen: Timestamp::UNIX_EPOCH,
            last_seen: Timestamp::UNIX_EPOCH,
            count: 12,
            detectors: vec![],
            reason: String::new(),
            examples: vec![a],
        }
    }

    #[test]
    fn covers_the_same_kind_and_endpoint_up_to_the_dismissed_score() {
        let mut d = Dismissals::default();
        d.add(&incident(AnomalyKind::ResponseTime, "GET /api/report", None, 0.8), Timestamp::UNIX_EPOCH);
        assert!(d.covers(&anomaly(AnomalyKind::ResponseTime, "GET /api/report", None, 0.7)));
        assert!(d.covers(&anomaly(AnomalyKind::ResponseTime, "GET /api/report", None, 0.8)));
        assert!(!d.covers(&anomaly(AnomalyKind::ResponseTime, "GET /api/report", None, 0.95)), "larger");
        assert!(!d.covers(&anomaly(AnomalyKind::StatusCode, "GET /api/report", None, 0.5)), "another kind");
        assert!(!d.covers(&anomaly(AnomalyKind::ResponseTime, "GET /api/other", None, 0.5)), "another endpoint");
        assert_eq!(d.list()[0].covered, 2);
        assert!(d.remove("fp-1").is_some());
        assert!(!d.covers(&anomaly(AnomalyKind::ResponseTime, "GET /api/report", None, 0.7)), "undone");
        assert!(d.remove("fp-1").is_none());
    }

    #[test]
    fn a_dismissed_scanner_is_that_client_only() {
        let mut d = Dismissals::default();
        d.add(&incident(AnomalyKind::Suspicious, "", Some("10.0.0.9"), 1.0), Timestamp::UNIX_EPOCH);
        assert!(d.covers(&anomaly(AnomalyKind::Suspicious, "", Some("10.0.0.9"), 1.0)));
        assert!(!d.covers(&anomaly(AnomalyKind::Suspicious, "", Some("10.0.0.10"), 1.0)));
    }
}
