//! `[outputs.loki_push]` (incidents and anomalies pushed back to Loki) and `[redaction]` (what is
//! masked before anything leaves the process).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, LokiConfig};

/// `[outputs.loki_push]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiPushConfig {
    /// Push incidents (and anomalous lines) to Loki under `{job="anomaly-detector", kind, severity}`.
    pub enabled: bool,
    /// Base URL of the Loki that receives the pushes (no `/loki/api/v1`); empty = `loki.url`.
    pub url: String,
    /// Tenant sent as `X-Scope-OrgID`; empty = `loki.tenant_id`.
    pub tenant_id: String,
    /// Also push every anomalous line, not only incidents.
    pub include_anomalies: bool,
    /// Most entries in one push request.
    pub batch_size: usize,
    /// Longest time an entry waits for its batch to fill before it is sent, in milliseconds.
    pub batch_wait_ms: u64,
    /// Findings waiting to be pushed; when full, new ones are dropped and counted
    /// (`anomaly_detector_alerts_total{channel="loki_push",outcome="queue_full"}`); detection never waits.
    pub queue_capacity: usize,
    /// Timeout of one push request, in milliseconds.
    pub timeout_ms: u64,
    /// Retries of a batch after 429, 5xx, timeouts or connection errors; then it is dropped and counted.
    pub max_retries: u32,
    /// First wait before a retry, in milliseconds; doubles on each retry.
    pub retry_backoff_ms: u64,
    /// Longest wait between retries, in milliseconds.
    pub max_backoff_ms: u64,
    /// Basic-auth user name; empty (with no bearer token either) = the `[loki]` credentials.
    pub username: String,
    /// Basic-auth password. Prefer `ANOMALY_DETECTOR__OUTPUTS__LOKI_PUSH__PASSWORD` or `password_file`.
    pub password: String,
    /// File holding the basic-auth password.
    pub password_file: Option<PathBuf>,
    /// Bearer token. Prefer the environment or `bearer_token_file`; never logged.
    pub bearer_token: String,
    /// File holding a bearer token.
    pub bearer_token_file: Option<PathBuf>,
}

impl Default for LokiPushConfig {
    fn default() -> Self {
        LokiPushConfig {
            enabled: false,
            url: String::new(),
            tenant_id: String::new(),
            include_anomalies: true,
            batch_size: 100,
            batch_wait_ms: 1000,
            queue_capacity: 10_000,
            timeout_ms: 10_000,
            max_retries: 5,
            retry_backoff_ms: 500,
            max_backoff_ms: 30_000,
            username: String::new(),
            password: String::new(),
            password_file: None,
            bearer_token: String::new(),
            bearer_token_file: None,
        }
    }
}

impl LokiPushConfig {
    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.is_empty() || self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(invalid(
                "outputs.loki_push.url",
                format!("must be empty (use loki.url) or start with http:// or https://, got {:?}", self.url),
            ));
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(invalid("outputs.loki_push.batch_size", "must be in 1..=10000"));
        }
        if self.batch_wait_ms == 0 || self.batch_wait_ms > 60_000 {
            return Err(invalid("outputs.loki_push.batch_wait_ms", "must be in 1..=60000"));
        }
        if self.queue_capacity == 0 || self.queue_capacity > 1_000_000 {
            return Err(invalid("outputs.loki_push.queue_capacity", "must be in 1..=1000000"));
        }
        if self.timeout_ms == 0 {
            return Err(invalid("outputs.loki_push.timeout_ms", "must be positive"));
        }
        if self.max_retries > 100 {
            return Err(invalid("outputs.loki_push.max_retries", "must be at most 100"));
        }
        if self.retry_backoff_ms == 0 || self.max_backoff_ms < self.retry_backoff_ms {
            return Err(invalid(
                "outputs.loki_push.max_backoff_ms",
                "retry_backoff_ms must be positive and max_backoff_ms at least retry_backoff_ms",
            ));
        }
        if !self.password.is_empty() && self.password_file.is_some() {
            return Err(invalid("outputs.loki_push.password_file", "set either password or password_file, not both"));
        }
        if !self.bearer_token.is_empty() && self.bearer_token_file.is_some() {
            return Err(invalid("outputs.loki_push.bearer_token_file", "set either bearer_token or bearer_token_file"));
        }
        Ok(())
    }

    /// This section with its empty `url`, `tenant_id` and credentials taken from `[loki]`.
    pub fn resolved(&self, loki: &LokiConfig) -> LokiPushConfig {
        let mut out = self.clone();
        if out.url.is_empty() {
            out.url = loki.url.clone();
        }
        if out.tenant_id.is_empty() {
            out.tenant_id = loki.tenant_id.clone();
        }
        let own_auth = !out.username.is_empty()
            || !out.password.is_empty()
            || out.password_file.is_some()
            || !out.bearer_token.is_empty()
            || out.bearer_token_file.is_some();
        if !own_auth {
            out.username = loki.username.clone();
            out.password = loki.password.clone();
            out.password_file = loki.password_file.clone();
            out.bearer_token = loki.bearer_token.clone();
            out.bearer_token_file = loki.bearer_token_file.clone();
        }
        out
    }
}

/// `[redaction]`: applied to every text that leaves the process (Loki pushes, alerts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Redact at all.
    pub enabled: bool,
    /// Use the shipped patterns: secrets in query strings and `key=value` pairs (`password`, `token`,
    /// `api_key`, `secret`, `access_token`, ...), `Authorization: Bearer ...`, JWTs, e-mail addresses and
    /// card-like numbers (Luhn-checked).
    pub builtin: bool,
    /// Your own regular expressions; every match is replaced by `replacement`.
    pub patterns: Vec<String>,
    /// Text put in place of a redacted value.
    pub replacement: String,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig { enabled: true, builtin: true, patterns: Vec::new(), replacement: "[REDACTED]".into() }
    }
}

impl RedactionConfig {
    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, p) in self.patterns.iter().enumerate() {
            if p.is_empty() {
                return Err(invalid(&format!("redaction.patterns[{i}]"), "must not be empty"));
            }
            if let Err(e) = regex::Regex::new(p) {
                return Err(invalid(&format!("redaction.patterns[{i}]"), format!("invalid regular expression: {e}")));
            }
        }
        if self.replacement.contains('$') {
            return Err(invalid("redaction.replacement", "must not contain '$' (it would expand capture groups)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_empty_url_falls_back_to_loki() {
        let push = LokiPushConfig::default();
        push.validate().unwrap();
        let loki = LokiConfig {
            url: "http://loki:3100".into(),
            tenant_id: "team-a".into(),
            bearer_token: "t0k".into(),
            ..LokiConfig::default()
        };
        let r = push.resolved(&loki);
        assert_eq!(
            (r.url.as_str(), r.tenant_id.as_str(), r.bearer_token.as_str()),
            ("http://loki:3100", "team-a", "t0k")
        );
        let own = LokiPushConfig { url: "https://push:3100".into(), username: "u".into(), ..push };
        let r = own.resolved(&loki);
        assert_eq!((r.url.as_str(), r.username.as_str(), r.bearer_token.as_str()), ("https://push:3100", "u", ""));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = LokiPushConfig { url: "loki:3100".into(), ..LokiPushConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("outputs.loki_push.url"));
        let bad = LokiPushConfig { batch_size: 0, ..LokiPushConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("outputs.loki_push.batch_size"));
        let bad = RedactionConfig { patterns: vec!["(".into()], ..RedactionConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("redaction.patterns[0]"));
    }
}
