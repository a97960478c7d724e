//! Slack incoming webhooks: a Block Kit message. Text from log lines is escaped for `mrkdwn`
//! (`&`, `<`, `>`), so no `<!channel>`, `<@U…>` or `<url|label>` survives, and capped to Slack's
//! limits (section text 3000, field 2000, header 150 characters).

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::SinkError;
use super::escape::{one_line, slack_code, slack_text, truncate_chars};
use super::http::post_json;
use super::message::{Body, Event, Notification};
use super::queue::{BoxFuture, Channel};
use crate::config::Severity;

/// Slack's limit on a section's text.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on a section field's text.
pub const FIELD_TEXT_MAX: usize = 2000;
/// Slack's limit on a header block's text.
pub const HEADER_MAX: usize = 150;
/// Slack's limit on a button URL.
pub const URL_MAX: usize = 3000;

/// A Slack incoming webhook.
pub struct SlackChannel {
    pub name: String,
    pub min_severity: Severity,
    pub url: String,
    pub client: reqwest::Client,
}

impl Channel for SlackChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&render(n)).map_err(|e| SinkError::Message(e.to_string()))?;
            post_json(&self.client, &self.url, body, Default::default()).await
        })
    }
}

fn emoji(n: &Notification) -> &'static str {
    match (n.event, n.severity) {
        (Event::Resolved, _) => ":white_check_mark:",
        (Event::Summary, _) => ":hourglass:",
        (Event::Test, _) => ":test_tube:",
        (_, Severity::Critical) => ":rotating_light:",
        (_, Severity::High) => ":red_circle:",
        (_, Severity::Medium) => ":large_orange_circle:",
        (_, Severity::Low) => ":large_blue_circle:",
    }
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate_chars(text, SECTION_TEXT_MAX)})
}

fn field(label: &str, value: &str) -> Value {
    let text = format!("*{label}*\n{}", slack_text(value));
    json!({"type": "mrkdwn", "text": truncate_chars(&text, FIELD_TEXT_MAX)})
}

/// The Block Kit payload for `n`.
pub fn render(n: &Notification) -> Value {
    let title = truncate_chars(&slack_text(&one_line(&n.title())), HEADER_MAX).into_owned();
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}})];
    let fallback = format!("{} {}", emoji(n), slack_text(&n.title()));
    match &n.body {
        Body::Incident(i) => {
            let mut text = format!("{} {}", emoji(n), slack_text(&n.summary()));
            text.push_str(&format!("\n*Reason:* {}", slack_text(&i.reason)));
            blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
            let mut fields = vec![
                field("Severity", n.severity.as_str()),
                field("Kind", &i.kind),
                field("Endpoint", &i.endpoint),
                field("Lines", &i.count.to_string()),
                field("Detectors", &i.detectors.join(", ")),
                field("Score", &format!("{:.2}", i.score)),
            ];
            if let Some(c) = &i.client {
                fields.push(field("Client", c));
            }
            blocks.push(json!({"type": "section", "fields": fields}));
            if !i.examples.is_empty() {
                let head = "*Example lines*";
                // Each example gets an equal share of the section, minus its ``` fences and newline.
                let share = (SECTION_TEXT_MAX - head.len()) / i.examples.len() - 8;
                let mut text = head.to_string();
                for ex in &i.examples {
                    text.push_str("\n```");
                    text.push_str(&truncate_chars(&slack_code(ex), share));
                    text.push_str("```");
                }
                blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
            }
            let context = format!("fingerprint {} · incident {}", slack_text(&i.fingerprint), slack_text(&i.id));
            blocks.push(json!({"type": "context", "elements": [mrkdwn(&context)]}));
        }
        Body::Summary { held, .. } => {
            let mut text = slack_text(&n.summary());
            for h in held {
                text.push_str(&format!(
                    "\n• [{}] {} on {} ({} lines, {})",
                    h.severity.as_str().to_uppercase(),
                    slack_text(&h.kind),
                    slack_text(&h.endpoint),
                    h.count,
                    h.event.as_str()
                ));
            }
            blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
        }
    }
    if let Some(url) = n.explore_url.as_deref().filter(|u| u.len() <= URL_MAX) {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in Grafana Explore"},
            "url": url,
        }]}));
    }
    json!({
        "text": truncate_chars(&fallback, SECTION_TEXT_MAX),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// Builds the channel from its config.
pub fn build(
    name: String,
    cfg: &crate::config::SlackChannelConfig,
    key: &str,
    client: reqwest::Client,
) -> Result<Arc<dyn Channel>, SinkError> {
    let url = super::secret::require_url(key, "webhook_url", &cfg.webhook_url_env, &cfg.webhook_url_file)?;
    Ok(Arc::new(SlackChannel { name, min_severity: cfg.min_severity, url, client }))
}
