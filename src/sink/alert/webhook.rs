//! Generic JSON webhook.
//!
//! Each notification is one `POST` with `Content-Type: application/json` and this body
//! (`schema_version` 1; fields may be added, never renamed):
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "event": "opened | reminder | resolved | summary | test",
//!   "severity": "low | medium | high | critical",
//!   "title": "[HIGH] response_time anomaly on GET /api/products",
//!   "text": "Seen 42 anomalous lines between 2026-01-01 10:00:00 and 2026-01-01 10:04:00 (UTC).",
//!   "sent_at": "2026-01-01T10:05:00Z",
//!   "explore_url": "http://grafana:3000/explore?...",        // or null
//!   "incident": {                                             // null for "summary"
//!     "id": "…", "fingerprint": "…", "kind": "response_time", "severity": "high",
//!     "endpoint": "GET /api/products", "client": "10.0.0.7",   // client only when known
//!     "score": 0.93, "count": 42,
//!     "first_seen": "2026-01-01T10:00:00Z", "last_seen": "2026-01-01T10:04:00Z",
//!     "detectors": ["ocsvm_response_time"], "reason": "…", "examples": ["<raw line>", "…"]
//!   },
//!   "summary": {                                              // null unless "summary"
//!     "total": 12, "since": "2026-01-01T10:00:00Z",
//!     "held": [{"event": "opened", "kind": "…", "severity": "…", "endpoint": "…", "count": 3}]
//!   }
//! }
//! ```
//!
//! Strings from log lines are redacted and capped (examples at 500 characters) but not escaped beyond
//! JSON: receivers must treat them as untrusted text. With `secret_env`/`secret_file` set, the request
//! carries `X-Signature-256: sha256=<lowercase hex HMAC-SHA256 of the exact body bytes>`; verify it
//! with a constant-time comparison before trusting the body.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use sha2::Sha256;

use super::error::SinkError;
use super::http::post_json;
use super::message::{Body, Notification};
use super::queue::{BoxFuture, Channel};
use crate::config::Severity;

/// Version of the body layout above.
pub const SCHEMA_VERSION: u32 = 1;
/// Header carrying the body's HMAC.
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

/// A generic JSON webhook.
pub struct WebhookChannel {
    pub name: String,
    pub min_severity: Severity,
    pub url: String,
    pub secret: Option<String>,
    pub client: reqwest::Client,
}

impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&render(n)).map_err(|e| SinkError::Message(e.to_string()))?;
            let mut headers = HeaderMap::new();
            if let Some(secret) = &self.secret {
                let value =
                    HeaderValue::from_str(&signature(secret.as_bytes(), &body)).expect("hex is a valid header value");
                headers.insert(SIGNATURE_HEADER, value);
            }
            post_json(&self.client, &self.url, body, headers).await
        })
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The JSON body for `n` (schema above).
pub fn render(n: &Notification) -> Value {
    let (incident, summary) = match &n.body {
        Body::Incident(i) => (json!(i), Value::Null),
        Body::Summary { held, total, since } => (Value::Null, json!({"total": total, "since": since, "held": held})),
    };
    json!({
        "schema_version": SCHEMA_VERSION,
        "event": n.event,
        "severity": n.severity,
        "title": n.title(),
        "text": n.summary(),
        "sent_at": n.sent_at,
        "explore_url": n.explore_url,
        "incident": incident,
        "summary": summary,
    })
}

/// Builds the channel from its config.
pub fn build(
    name: String,
    cfg: &crate::config::WebhookChannelConfig,
    key: &str,
    client: reqwest::Client,
) -> Result<Arc<dyn Channel>, SinkError> {
    let url = super::secret::require_url(key, "url", &cfg.url_env, &cfg.url_file)?;
    let secret = super::secret::read_secret(key, "secret", &cfg.secret_env, &cfg.secret_file)?;
    Ok(Arc::new(WebhookChannel { name, min_severity: cfg.min_severity, url, secret, client }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
