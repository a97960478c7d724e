//! Discord webhooks: one embed. Mentions never ping (`allowed_mentions: {"parse": []}`, and
//! `@everyone`/`@here` broken with a zero-width space), markdown from log lines is escaped (no masked
//! links), and Discord's limits hold (title 256, description 4096, field 1024, footer 2048, total 6000).

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::SinkError;
use super::escape::{char_len, discord_code, discord_text, truncate_chars};
use super::http::post_json;
use super::message::{Body, Event, Notification};
use super::queue::{BoxFuture, Channel};
use crate::config::Severity;

pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// Discord's limit on all text of all embeds of a message.
pub const TOTAL_MAX: usize = 6000;

/// A Discord webhook.
pub struct DiscordChannel {
    pub name: String,
    pub min_severity: Severity,
    pub url: String,
    pub username: String,
    pub client: reqwest::Client,
}

impl Channel for DiscordChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&render(n, &self.username)).map_err(|e| SinkError::Message(e.to_string()))?;
            post_json(&self.client, &self.url, body, Default::default()).await
        })
    }
}

fn color(n: &Notification) -> u32 {
    match (n.event, n.severity) {
        (Event::Resolved, _) => 0x2EB67D,
        (Event::Summary | Event::Test, _) => 0x808080,
        (_, Severity::Critical) => 0x8B0000,
        (_, Severity::High) => 0xE01E5A,
        (_, Severity::Medium) => 0xECB22E,
        (_, Severity::Low) => 0x439FE0,
    }
}

fn field(name: &str, value: &str, inline: bool) -> (String, String, bool) {
    let value = if value.is_empty() { "-".to_string() } else { discord_text(value) };
    (truncate_chars(name, FIELD_NAME_MAX).into_owned(), truncate_chars(&value, FIELD_VALUE_MAX).into_owned(), inline)
}

/// The webhook payload for `n`.
pub fn render(n: &Notification, username: &str) -> Value {
    let title = truncate_chars(&discord_text(&n.title()), TITLE_MAX).into_owned();
    let mut fields = Vec::new();
    let (mut description, examples, footer) = match &n.body {
        Body::Incident(i) => {
            fields.push(field("Severity", n.severity.as_str(), true));
            fields.push(field("Kind", &i.kind, true));
            fields.push(field("Lines", &i.count.to_string(), true));
            fields.push(field("Endpoint", &i.endpoint, false));
            if let Some(c) = &i.client {
                fields.push(field("Client", c, true));
            }
            fields.push(field("Detectors", &i.detectors.join(", "), true));
            fields.push(field("Score", &format!("{:.2}", i.score), true));
            let desc = format!("{}\n**Reason:** {}", discord_text(&n.summary()), discord_text(&i.reason));
            let footer = format!("fingerprint {}", i.fingerprint);
            (desc, i.examples.iter().map(|e| discord_code(e)).collect::<Vec<_>>(), footer)
        }
        Body::Summary { held, .. } => {
            let mut desc = discord_text(&n.summary());
            for h in held {
                desc.push_str(&format!(
                    "\n• \\[{}\\] {} on {} ({} lines, {})",
                    h.severity.as_str().to_uppercase(),
                    discord_text(&h.kind),
                    discord_text(&h.endpoint),
                    h.count,
                    h.event.as_str()
                ));
            }
            (desc, Vec::new(), "rate limit summary".to_string())
        }
    };
    let footer = truncate_chars(&discord_code(&footer), FOOTER_MAX).into_owned();
    // Everything but the description, counted against the 6000 total; the description gets the rest.
    let fixed: usize =
        char_len(&title) + char_len(&footer) + fields.iter().map(|(k, v, _)| char_len(k) + char_len(v)).sum::<usize>();
    let budget = DESCRIPTION_MAX.min(TOTAL_MAX.saturating_sub(fixed));
    if !examples.is_empty() {
        let head = "\n**Example lines**";
        let remaining = budget.saturating_sub(char_len(&description) + head.len());
        let share = (remaining / examples.len()).saturating_sub(8);
        if share > 20 {
            description.push_str(head);
            for ex in &examples {
                description.push_str("\n```");
                description.push_str(&truncate_chars(ex, share));
                description.push_str("```");
            }
        }
    }
    let description = truncate_chars(&description, budget).into_owned();
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": color(n),
        "fields": fields.iter().map(|(k, v, inline)| json!({"name": k, "value": v, "inline": inline})).collect::<Vec<_>>(),
        "footer": {"text": footer},
        "timestamp": n.sent_at.to_string(),
    });
    if let Some(url) = &n.explore_url {
        embed["url"] = json!(url);
    }
    let mut payload = json!({
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
    });
    if !username.is_empty() {
        payload["username"] = json!(username);
    }
    payload
}

/// Builds the channel from its config.
pub fn build(
    name: String,
    cfg: &crate::config::DiscordChannelConfig,
    key: &str,
    client: reqwest::Client,
) -> Result<Arc<dyn Channel>, SinkError> {
    let url = super::secret::require_url(key, "webhook_url", &cfg.webhook_url_env, &cfg.webhook_url_file)?;
    Ok(Arc::new(DiscordChannel { name, min_severity: cfg.min_severity, url, username: cfg.username.clone(), client }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::alert::message::{IncidentInfo, MAX_EXAMPLE_CHARS, MAX_FIELD_CHARS};

    /// The largest notification the policy can build: every field at its cap, all markdown characters
    /// (which escaping doubles).
    pub(crate) fn worst_case() -> Notification {
        let t: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let field = "*".repeat(MAX_FIELD_CHARS);
        Notification {
            event: Event::Opened,
            severity: Severity::Critical,
            body: Body::Incident(IncidentInfo {
                id: field.clone(),
                fingerprint: field.clone(),
                kind: "behavioral".into(),
                severity: Severity::Critical,
                endpoint: field.clone(),
                client: Some(field.clone()),
                score: 1.0,
                count: u64::MAX,
                first_seen: t,
                last_seen: t,
                detectors: vec!["_".repeat(64); 16],
                reason: field.clone(),
                examples: vec!["`".repeat(MAX_EXAMPLE_CHARS); 3],
            }),
            explore_url: Some("http://grafana/explore".into()),
            sent_at: t,
        }
    }

    #[test]
    fn the_worst_case_stays_within_discord_limits() {
        let v = render(&worst_case(), "");
        let e = &v["embeds"][0];
        let len = |v: &Value| v.as_str().unwrap().chars().count();
        let mut total = len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
        assert!(len(&e["title"]) <= TITLE_MAX && len(&e["description"]) <= DESCRIPTION_MAX);
        for f in e["fields"].as_array().unwrap() {
            assert!(len(&f["name"]) <= FIELD_NAME_MAX && len(&f["value"]) <= FIELD_VALUE_MAX);
            total += len(&f["name"]) + len(&f["value"]);
        }
        assert!(total <= TOTAL_MAX, "{total}");
    }

    #[test]
    fn the_worst_case_stays_within_slack_limits() {
        let v = crate::sink::alert::slack::render(&worst_case());
        for b in v["blocks"].as_array().unwrap() {
            if let Some(t) = b["text"]["text"].as_str() {
                let max = if b["type"] == "header" { 150 } else { 3000 };
                assert!(t.chars().count() <= max, "{} has {}", b["type"], t.chars().count());
                assert_eq!(t.matches("```").count() % 2, 0, "code fences stay balanced");
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
            }
        }
    }
}
