//! The console sink: one structured log line when an incident opens and one when it closes;
//! the incident's example line and every anomalous line at DEBUG (or INFO with
//! `outputs.console.each_anomaly`), so an INFO log stays readable: an example is a whole request
//! line, often longer than the rest of the line.

use super::finding::{Finding, FindingSink};
use crate::detect::rules::shorten;

/// Characters of a log line shown in the console (the whole line is in the API and in Loki).
const EXAMPLE_CHARS: usize = 300;

/// Writes findings to the detector's log (stderr, text or JSON).
#[derive(Debug, Clone, Default)]
pub struct ConsoleSink {
    each_anomaly: bool,
}

impl ConsoleSink {
    pub fn new(each_anomaly: bool) -> ConsoleSink {
        ConsoleSink { each_anomaly }
    }
}

impl FindingSink for ConsoleSink {
    fn name(&self) -> &'static str {
        "console"
    }

    fn offer(&self, finding: &Finding) {
        match finding {
            Finding::IncidentOpened(i) => {
                tracing::info!(
                    incident = %i.id,
                    kind = i.kind.as_str(),
                    severity = i.severity.as_str(),
                    endpoint = %i.endpoint,
                    client = i.client.as_deref().unwrap_or(""),
                    score = format!("{:.2}", i.score),
                    detectors = %i.detectors.join(","),
                    "Incident opened: {}",
                    i.reason
                );
                if let Some(example) = i.examples.first().and_then(|a| a.raw.as_deref()) {
                    tracing::debug!(incident = %i.id, line = %shorten(example, EXAMPLE_CHARS), "Incident example");
                }
            }
            Finding::IncidentResolved(i) => tracing::info!(
                incident = %i.id,
                kind = i.kind.as_str(),
                severity = i.severity.as_str(),
                endpoint = %i.endpoint,
                client = i.client.as_deref().unwrap_or(""),
                count = i.count,
                first_seen = %i.first_seen,
                last_seen = %i.last_seen,
                "Incident closed after {} anomalous {}: {}",
                i.count,
                if i.count == 1 { "line" } else { "lines" },
                i.reason
            ),
            Finding::IncidentUpdated(_) => {}
            Finding::Anomaly(a) => {
                if self.each_anomaly {
                    tracing::info!(kind = a.kind.as_str(), severity = a.severity.as_str(), score = format!("{:.2}", a.score),
                        detectors = %a.detectors.join(","), line = %a.raw.as_deref().map(|l| shorten(l, EXAMPLE_CHARS)).unwrap_or_default(),
                        "Anomaly: {}", a.reason);
                } else {
                    tracing::debug!(kind = a.kind.as_str(), severity = a.severity.as_str(), score = format!("{:.2}", a.score),
                        detectors = %a.detectors.join(","), line = %a.raw.as_deref().map(|l| shorten(l, EXAMPLE_CHARS)).unwrap_or_default(),
                        "Anomaly: {}", a.reason);
                }
            }
        }
    }
}
