//! `[patterns]`: the template stage of application logs (see `crate::patterns::stage`).

use serde::{Deserialize, Serialize};

use super::{invalid, no_empty_entries, ConfigError};

/// `[patterns]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatternsConfig {
    /// Mine templates of the lines that are not requests, and judge them (`pattern` anomalies).
    pub enabled: bool,
    /// Stream labels naming the service a line comes from, first present wins. Lines with none of
    /// them belong to the service `logs`.
    pub service_labels: Vec<String>,
    /// Most services kept apart; lines of later ones share the service `other`.
    pub max_services: usize,
    /// Most templates kept per service (the least recently seen are evicted beyond it).
    pub max_templates: usize,
    /// The window a template's rate and a service's error share are counted over, in seconds.
    pub window_secs: u64,
    /// Lines of a service learned before its templates are judged (the daemon; `scan` judges
    /// after its history).
    pub min_history_lines: u64,
    /// Sessions: lines that carry one id, judged together when they end.
    pub sessions: SessionsConfig,
}

/// `[patterns.sessions]`: off until a key is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// A regular expression finding a session's id in a line (its first capture group, or the
    /// whole match): `blk_-?\d+` for HDFS blocks. Every distinct match of a line counts.
    pub key_regex: String,
    /// A field of JSON or logfmt lines holding the id (`trace_id`), when `key_regex` is empty.
    pub key_field: String,
    /// A session ends when no line named it for this long (event time), or at the end of input.
    pub idle_secs: u64,
    /// Sessions that end before judging starts: the history invariants are mined from.
    pub min_sessions: usize,
    /// Most sessions open at once; beyond it the tenth idle longest end early.
    pub max_open: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            key_regex: String::new(),
            key_field: String::new(),
            idle_secs: 300,
            min_sessions: 1000,
            max_open: 50_000,
        }
    }
}

impl Default for PatternsConfig {
    fn default() -> Self {
        PatternsConfig {
            enabled: true,
            service_labels: ["service_name", "service", "app", "job", "container"].map(String::from).to_vec(),
            max_services: 32,
            max_templates: 10_000,
            window_secs: 60,
            min_history_lines: 1000,
            sessions: SessionsConfig::default(),
        }
    }
}

impl PatternsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        no_empty_entries("patterns.service_labels", &self.service_labels)?;
        if !(1..=1024).contains(&self.max_services) {
            return Err(invalid("patterns.max_services", "must be in 1..=1024"));
        }
        if !(100..=1_000_000).contains(&self.max_templates) {
            return Err(invalid("patterns.max_templates", "must be in 100..=1000000"));
        }
        if !(10..=3600).contains(&self.window_secs) {
            return Err(invalid("patterns.window_secs", "must be in 10..=3600"));
        }
        if self.min_history_lines == 0 {
            return Err(invalid("patterns.min_history_lines", "must be at least 1"));
        }
        self.sessions.validate()
    }
}

impl SessionsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = regex::Regex::new(&self.key_regex) {
            return Err(invalid("patterns.sessions.key_regex", format!("invalid regular expression: {e}")));
        }
        if self.key_field.contains(['"', '=', ' ']) {
            return Err(invalid("patterns.sessions.key_field", "must be a field name (no quotes, `=` or spaces)"));
        }
        if !(1..=86_400).contains(&self.idle_secs) {
            return Err(invalid("patterns.sessions.idle_secs", "must be in 1..=86400"));
        }
        if !(10..=100_000).contains(&self.min_sessions) {
            return Err(invalid("patterns.sessions.min_sessions", "must be in 10..=100000"));
        }
        if !(100..=1_000_000).contains(&self.max_open) {
            return Err(invalid("patterns.sessions.max_open", "must be in 100..=1000000"));
        }
        Ok(())
    }
}
