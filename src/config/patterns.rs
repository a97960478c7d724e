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
        Ok(())
    }
}
