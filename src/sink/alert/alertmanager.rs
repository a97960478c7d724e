//! Prometheus Alertmanager, v2 API: `POST <url>/api/v2/alerts` with one alert per notification, so
//! Alertmanager's routing, grouping, inhibition and silences apply. Labels: `alertname="LogAnomaly"`,
//! `kind`, `severity`, `endpoint`, `fingerprint` (plus the channel's extra `labels`); annotations:
//! `summary`, `description`; `startsAt` is the incident's first line, `endsAt` is set when it resolves
//! (while firing: far enough ahead that it stays firing until the next reminder); `generatorURL` is the
//! Grafana Explore link. Alertmanager throttles by itself, so the global rate limit does not apply and
//! rate-limit summaries are not sent here.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::SignedDuration;
use serde_json::{json, Value};

use super::error::SinkError;
use super::escape::truncate_chars;
use super::http::post_json;
use super::message::{Body, Event, Notification};
use super::queue::{BoxFuture, Channel};
use crate::config::Severity;

/// Alert name of every detector alert.
pub const ALERT_NAME: &str = "LogAnomaly";
/// Alert name of `alert-test`'s sample.
pub const TEST_ALERT_NAME: &str = "LogAnomalyTest";
/// Labels the detector sets; a channel's extra labels may not use them.
pub const RESERVED_LABELS: &[&str] = &["alertname", "kind", "severity", "endpoint", "fingerprint"];
/// Annotation length cap (Alertmanager has none, but receivers such as Slack do).
pub const DESCRIPTION_MAX: usize = 4000;

/// An Alertmanager.
pub struct AlertmanagerChannel {
    pub name: String,
    pub min_severity: Severity,
    /// `<url>/api/v2/alerts`.
    pub endpoint: String,
    pub labels: BTreeMap<String, String>,
    /// How long a firing alert stays firing without news: repeat interval + resolve-after.
    pub firing_ttl: SignedDuration,
    pub client: reqwest::Client,
}

impl Channel for AlertmanagerChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn rate_limited(&self) -> bool {
        false
    }
    fn accepts(&self, event: Event) -> bool {
        event != Event::Summary
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let Some(alerts) = render(n, &self.labels, self.firing_ttl) else { return Ok(()) };
            let body = serde_json::to_vec(&alerts).map_err(|e| SinkError::Message(e.to_string()))?;
            post_json(&self.client, &self.endpoint, body, Default::default()).await
        })
    }
}

/// The `POST /api/v2/alerts` body for `n` (an array of one alert); `None` for a summary.
pub fn render(n: &Notification, extra: &BTreeMap<String, String>, firing_ttl: SignedDuration) -> Option<Value> {
    let Body::Incident(i) = &n.body else { return None };
    let mut labels: BTreeMap<&str, &str> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    labels.insert("alertname", if n.event == Event::Test { TEST_ALERT_NAME } else { ALERT_NAME });
    labels.insert("kind", &i.kind);
    labels.insert("severity", n.severity.as_str());
    labels.insert("endpoint", &i.endpoint);
    labels.insert("fingerprint", &i.fingerprint);
    let mut description = format!("{}\nReason: {}\nDetectors: {}", n.summary(), i.reason, i.detectors.join(", "));
    for ex in &i.examples {
        description.push_str("\nExample: ");
        description.push_str(ex);
    }
    let ends_at = match n.event {
        Event::Resolved => n.sent_at,
        Event::Test => n.sent_at + SignedDuration::from_secs(300),
        _ => n.sent_at + firing_ttl,
    };
    let starts_at = if i.first_seen > ends_at { ends_at } else { i.first_seen };
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": truncate_chars(&format!("{} ({} lines)", n.title(), i.count), 500),
            "description": truncate_chars(&description, DESCRIPTION_MAX),
            "incident_id": i.id,
            "count": i.count.to_string(),
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
    });
    if let Some(url) = &n.explore_url {
        alert["generatorURL"] = json!(url);
    }
    Some(json!([alert]))
}

/// Builds the channel from its config.
pub fn build(
    name: String,
    cfg: &crate::config::AlertmanagerChannelConfig,
    alerting: &crate::config::AlertingConfig,
    client: reqwest::Client,
) -> Result<Arc<dyn Channel>, SinkError> {
    let endpoint = format!("{}/api/v2/alerts", cfg.url.trim_end_matches('/'));
    let firing_ttl = SignedDuration::from_secs((alerting.repeat_interval_secs + alerting.resolve_after_secs) as i64);
    Ok(Arc::new(AlertmanagerChannel {
        name,
        min_severity: cfg.min_severity,
        endpoint,
        labels: cfg.labels.clone(),
        firing_ttl,
        client,
    }))
}
