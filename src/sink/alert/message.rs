//! [`Notification`]: one message, channel-neutral, with everything taken from log lines already
//! redacted and length-capped. Each channel renders (and escapes) it in its own markup.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::escape::truncate_chars;
use crate::config::Severity;
use crate::detect::Incident;
use crate::redact::Redactor;

/// Example lines shown per incident.
pub const MAX_EXAMPLES: usize = 3;
/// Characters kept of one example line (a 10 kB line is cut here, before any channel's own cap).
pub const MAX_EXAMPLE_CHARS: usize = 500;
/// Characters kept of a reason, an endpoint or a client.
pub const MAX_FIELD_CHARS: usize = 300;
/// Incidents listed one by one in a rate-limit summary; the rest are counted.
pub const MAX_HELD_LISTED: usize = 10;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new incident.
    Opened,
    /// An incident still open, notified again after `repeat_interval_secs` (or because its severity rose).
    Reminder,
    /// The incident is over.
    Resolved,
    /// What the global rate limit held back.
    Summary,
    /// `anomaly-detector alert-test`.
    Test,
}

impl Event {
    /// `opened`, `reminder`, `resolved`, `summary`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Opened => "opened",
            Event::Reminder => "reminder",
            Event::Resolved => "resolved",
            Event::Summary => "summary",
            Event::Test => "test",
        }
    }
}

/// The incident a notification is about, redacted and capped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentInfo {
    pub id: String,
    pub fingerprint: String,
    pub kind: String,
    pub severity: Severity,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub score: f64,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub detectors: Vec<String>,
    pub reason: String,
    /// Up to [`MAX_EXAMPLES`] example lines (or reasons, for window-level anomalies).
    pub examples: Vec<String>,
}

impl IncidentInfo {
    /// From a detector incident: redaction applied to everything that came from log lines (again:
    /// the pipeline already redacted it), and hidden format characters (bidirectional overrides,
    /// zero-width text) made visible, for every channel.
    pub fn from_incident(inc: &Incident, redactor: &Redactor) -> IncidentInfo {
        let clean = |s: &str, max: usize| {
            truncate_chars(&crate::text::neutralize_hidden(&redactor.redact(s)), max).into_owned()
        };
        IncidentInfo {
            id: clean(&inc.id, MAX_FIELD_CHARS),
            fingerprint: clean(&inc.fingerprint, MAX_FIELD_CHARS),
            kind: inc.kind.as_str().to_string(),
            severity: inc.severity,
            endpoint: clean(&inc.endpoint, MAX_FIELD_CHARS),
            client: inc.client.as_deref().map(|c| clean(c, MAX_FIELD_CHARS)),
            score: (inc.score * 1000.0).round() / 1000.0,
            count: inc.count,
            first_seen: inc.first_seen,
            last_seen: inc.last_seen,
            detectors: inc.detectors.iter().take(16).map(|d| clean(d, 64)).collect(),
            reason: clean(&inc.reason, MAX_FIELD_CHARS),
            examples: inc
                .examples
                .iter()
                .take(MAX_EXAMPLES)
                .map(|a| clean(a.raw.as_deref().unwrap_or(&a.reason), MAX_EXAMPLE_CHARS))
                .collect(),
        }
    }
}

/// One incident held back by the rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldItem {
    pub event: Event,
    pub kind: String,
    pub severity: Severity,
    pub endpoint: String,
    pub count: u64,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// About one incident (opened, reminder, resolved, test).
    Incident(IncidentInfo),
    /// The rate limit's summary: the first [`MAX_HELD_LISTED`] held notifications and the total.
    Summary { held: Vec<HeldItem>, total: u64, since: Timestamp },
}

/// One message to send, the same for every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub event: Event,
    /// The incident's severity (for a summary: the highest held back).
    pub severity: Severity,
    pub body: Body,
    /// Grafana Explore on the incident's time window, when `alerting.grafana_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore_url: Option<String>,
    pub sent_at: Timestamp,
}

impl Notification {
    /// The incident, unless this is a summary.
    pub fn incident(&self) -> Option<&IncidentInfo> {
        match &self.body {
            Body::Incident(i) => Some(i),
            Body::Summary { .. } => None,
        }
    }

    /// A one-line title in plain text (channels escape it).
    pub fn title(&self) -> String {
        match &self.body {
            Body::Incident(i) => {
                let what = format!("{} anomaly on {}", i.kind, i.endpoint);
                match self.event {
                    Event::Opened => format!("[{}] {what}", self.severity.as_str().to_uppercase()),
                    Event::Reminder => format!("[{}] still open: {what}", self.severity.as_str().to_uppercase()),
                    Event::Resolved => format!("[RESOLVED] {what}"),
                    Event::Test => format!("[TEST] {what}"),
                    Event::Summary => what,
                }
            }
            Body::Summary { total, .. } => format!("{total} alert(s) held back by the rate limit"),
        }
    }

    /// One sentence: how many lines, over which window (plain text).
    pub fn summary(&self) -> String {
        match &self.body {
            Body::Incident(i) => {
                let lines =
                    if i.count == 1 { "1 anomalous line".to_string() } else { format!("{} anomalous lines", i.count) };
                let client = i.client.as_deref().map(|c| format!(" from {c}")).unwrap_or_default();
                let verb = if self.event == Event::Resolved { "Resolved after" } else { "Seen" };
                format!(
                    "{verb} {lines}{client} between {} and {} (UTC).",
                    short_time(i.first_seen),
                    short_time(i.last_seen)
                )
            }
            Body::Summary { held, total, since } => {
                let listed = held.len() as u64;
                let more =
                    if *total > listed { format!(" ({} more not listed)", total - listed) } else { String::new() };
                format!(
                    "alerting.max_alerts_per_minute held back {total} notification(s) since {}{more}.",
                    short_time(*since)
                )
            }
        }
    }
}

/// `2026-11-24 05:01:02`
pub fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Grafana Explore on `[from - 1 min, to + 1 min]` with the Loki query, or `None` without `grafana_url`.
pub fn explore_url(
    grafana_url: &str,
    datasource_uid: &str,
    query: &str,
    from: Timestamp,
    to: Timestamp,
) -> Option<String> {
    if grafana_url.is_empty() {
        return None;
    }
    let from_ms = from.as_millisecond() - 60_000;
    let to_ms = to.as_millisecond() + 60_000;
    let panes = serde_json::json!({
        "a": {
            "datasource": datasource_uid,
            "queries": [{
                "refId": "A",
                "expr": query,
                "queryType": "range",
                "datasource": {"type": "loki", "uid": datasource_uid},
            }],
            "range": {"from": from_ms.to_string(), "to": to_ms.to_string()},
        }
    });
    let base = format!("{}/explore", grafana_url.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(
        &base,
        &[("schemaVersion", "1"), ("orgId", "1"), ("panes", &panes.to_string())],
    )
    .ok()?;
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_gets_hidden_characters_made_visible() {
        // The bug: U+202E and zero-width characters from log lines reached Slack and Discord as they were.
        let t: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let spoof = "GET /invoice\u{202e}fdp.exe\u{200b}";
        let a = crate::detect::Anomaly {
            line: None,
            timestamp: t,
            kind: crate::detect::AnomalyKind::Suspicious,
            detectors: vec!["rule:x".into()],
            score: 0.9,
            severity: Severity::High,
            endpoint: spoof.into(),
            client: Some("203.0.113.1\u{2066}".into()),
            session: None,
            reason: spoof.into(),
            features: vec![],
            raw: Some(spoof.into()),
        };
        let inc = Incident {
            id: "i".into(),
            fingerprint: "f".into(),
            kind: a.kind,
            endpoint: spoof.into(),
            client: a.client.clone(),
            severity: Severity::High,
            score: 0.9,
            first_seen: t,
            last_seen: t,
            count: 1,
            detectors: a.detectors.clone(),
            reason: spoof.into(),
            examples: vec![a],
        };
        let info = IncidentInfo::from_incident(&inc, &Redactor::disabled());
        let all = format!("{} {} {:?} {:?}", info.endpoint, info.reason, info.client, info.examples);
        assert!(!all.chars().any(crate::text::is_hidden_format), "{all}");
        assert!(info.endpoint.contains("<U+202E>") && info.endpoint.contains("<U+200B>"), "{}", info.endpoint);
    }

    #[test]
    fn explore_url_encodes_the_window_and_query() {
        let from: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let to: Timestamp = "2026-01-01T00:20:00Z".parse().unwrap();
        let u = explore_url("http://grafana:3000/", "loki", "{job=\"app\"}", from, to).unwrap();
        assert!(u.starts_with("http://grafana:3000/explore?schemaVersion=1&orgId=1&panes="), "{u}");
        let parsed = reqwest::Url::parse(&u).unwrap();
        let panes = parsed.query_pairs().find(|(k, _)| k == "panes").unwrap().1.into_owned();
        let v: serde_json::Value = serde_json::from_str(&panes).unwrap();
        assert_eq!(v["a"]["queries"][0]["expr"], "{job=\"app\"}");
        assert_eq!(v["a"]["range"]["from"], (from.as_millisecond() - 60_000).to_string());
        assert_eq!(v["a"]["range"]["to"], (to.as_millisecond() + 60_000).to_string());
        assert!(explore_url("", "loki", "{}", from, to).is_none());
    }
}
