//! Configuration: plain serde structs, one per section, loaded from TOML plus environment overrides
//! (`ANOMALY_DETECTOR__SECTION__KEY`), then checked by [`Config::validate`]. Nothing past start-up
//! re-checks a setting. `config/default.toml` documents every key.

mod alerting;
mod detection;
mod load;
mod patterns;
mod push;
mod sections;
mod server;
mod suppress;

pub use alerting::{
    channel_name_for, AlertingConfig, AlertmanagerChannelConfig, DiscordChannelConfig, EmailChannelConfig,
    SlackChannelConfig, SmtpTls, WebhookChannelConfig,
};
pub use detection::{DetectionConfig, IsolationForestConfig, ModelsConfig, SvmConfig};
pub use load::{load, load_with_base, load_with_env, ConfigError, ENV_PREFIX};
pub use patterns::{PatternsConfig, SessionsConfig};
pub use push::{LokiPushConfig, RedactionConfig};
pub use sections::*;
pub use server::{ServerConfig, ENV_ONLY_KEYS};
pub use suppress::{MaintenanceConfig, SuppressConfig};

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where lines come from.
    pub source: SourceConfig,
    /// The Loki server polled when `source.kind = "loki"`.
    pub loki: LokiConfig,
    /// How lines are parsed.
    pub parse: ParseConfig,
    /// Which features the models see.
    pub features: FeaturesConfig,
    /// Schedule, training and thresholds.
    pub detection: DetectionConfig,
    /// Model hyper-parameters.
    pub models: ModelsConfig,
    /// Rules for known-suspicious requests.
    pub rules: RulesConfig,
    /// What is never scored or never reported.
    pub suppress: SuppressConfig,
    /// The HTTP server (`/metrics`, `/healthz`, `/readyz`, `/api/v1/...`).
    pub server: ServerConfig,
    /// Where state (cursor, models) is kept between runs.
    pub state: StateConfig,
    /// Where incidents are written.
    pub outputs: OutputsConfig,
    /// The detector's own log output.
    pub log: LogConfig,
    /// What is masked before anything leaves the process (Loki pushes, alerts).
    pub redaction: RedactionConfig,
    /// Alert channels and the alerting policy.
    pub alerting: AlertingConfig,
    /// Templates of application-log messages and what is judged on them.
    pub patterns: PatternsConfig,
}

impl Config {
    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.source.validate()?;
        self.loki.validate()?;
        self.parse.validate()?;
        self.features.validate()?;
        self.detection.validate()?;
        self.models.validate()?;
        self.rules.validate()?;
        self.suppress.validate()?;
        self.server.validate()?;
        self.outputs.loki_push.validate()?;
        self.redaction.validate()?;
        self.alerting.validate()?;
        self.patterns.validate()?;
        Ok(())
    }
}

/// Rejects blank entries of a list (`clients = [""]`, `A,,B` or an empty variable): an empty
/// pattern or prefix matches everything, which is never what the list meant.
pub(crate) fn no_empty_entries(key: &str, list: &[String]) -> Result<(), ConfigError> {
    match list.iter().position(|e| e.trim().is_empty()) {
        Some(i) => {
            Err(invalid(&format!("{key}[{i}]"), "is empty; remove it (from the environment, an empty list is `[]`)"))
        }
        None => Ok(()),
    }
}

/// Shorthand for a validation failure.
pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), problem: problem.into() }
}
