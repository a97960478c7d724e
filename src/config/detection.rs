//! `[detection]` and `[models.*]`.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[detection]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Seconds between Loki polls (the seed's `detection_interval`).
    pub interval_secs: u64,
    /// Fraction of training events that would score as anomalous; each model's score threshold is
    /// set from it. Raise it to get more anomalies, lower it for fewer. Range (0, 0.2].
    pub anomaly_threshold: f64,
    /// Events needed before the models are trained; until then only rules run.
    pub min_training_events: usize,
    /// Size of the rolling training window (events). `scan` without `--train` learns from this
    /// many first lines. Incidents inside it are screened out; each event costs about 1.2 kB of
    /// peak memory and 300 bytes of `models.json`.
    pub training_events: usize,
    /// Seconds between refits of the models on the rolling window.
    pub retrain_interval_secs: u64,
    /// Anomalies of one kind on one endpoint (and client, for `suspicious`) closer than this
    /// many seconds form one incident.
    pub incident_window_secs: u64,
    /// Width of the request-rate windows, in seconds (volume anomalies).
    pub rate_window_secs: u64,
    /// A minimum score (0–1) below which a model verdict is not reported even past the threshold.
    pub min_score: f64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            interval_secs: 60,
            anomaly_threshold: 0.002,
            min_training_events: 1000,
            training_events: 10_000,
            retrain_interval_secs: 3600,
            incident_window_secs: 300,
            rate_window_secs: 60,
            min_score: 0.0,
        }
    }
}

impl DetectionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval_secs == 0 || self.interval_secs > 86_400 {
            return Err(invalid("detection.interval_secs", "must be in 1..=86400"));
        }
        if !(self.anomaly_threshold > 0.0 && self.anomaly_threshold <= 0.2) {
            return Err(invalid(
                "detection.anomaly_threshold",
                format!("must be in (0, 0.2] (a fraction, 0.002 = 0.2 %), got {}", self.anomaly_threshold),
            ));
        }
        if self.min_training_events < 50 {
            return Err(invalid("detection.min_training_events", "must be at least 50"));
        }
        if self.training_events < self.min_training_events || self.training_events > 1_000_000 {
            return Err(invalid(
                "detection.training_events",
                "must be at least detection.min_training_events and at most 1000000",
            ));
        }
        if self.retrain_interval_secs < 10 {
            return Err(invalid("detection.retrain_interval_secs", "must be at least 10"));
        }
        if self.incident_window_secs == 0 {
            return Err(invalid("detection.incident_window_secs", "must be positive"));
        }
        if self.rate_window_secs < 5 || self.rate_window_secs > 3600 {
            return Err(invalid("detection.rate_window_secs", "must be in 5..=3600"));
        }
        if !(0.0..1.0).contains(&self.min_score) {
            return Err(invalid("detection.min_score", "must be in [0, 1)"));
        }
        Ok(())
    }
}

/// `[models]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The Isolation Forest over the whole feature vector (`behavioral`).
    pub isolation_forest: IsolationForestConfig,
    /// One-Class SVM over response time features (`response_time`).
    pub ocsvm_response_time: SvmConfig,
    /// One-Class SVM over status code features (`status_code`).
    pub ocsvm_status_code: SvmConfig,
}

impl ModelsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.isolation_forest.validate("models.isolation_forest")?;
        self.ocsvm_response_time.validate("models.ocsvm_response_time")?;
        self.ocsvm_status_code.validate("models.ocsvm_status_code")?;
        Ok(())
    }
}

/// `[models.isolation_forest]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolationForestConfig {
    /// Turn the model on or off.
    pub enabled: bool,
    /// Number of trees.
    pub trees: usize,
    /// Points sampled for each tree.
    pub sample_size: usize,
    /// Seed for reproducible forests (0 = random).
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        IsolationForestConfig { enabled: true, trees: 100, sample_size: 256, seed: 0 }
    }
}

impl IsolationForestConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.trees == 0 || self.trees > 1000 {
            return Err(invalid(&format!("{key}.trees"), "must be in 1..=1000"));
        }
        if self.sample_size < 16 || self.sample_size > 4096 {
            return Err(invalid(&format!("{key}.sample_size"), "must be in 16..=4096"));
        }
        Ok(())
    }
}

/// `[models.ocsvm_*]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvmConfig {
    /// Turn the model on or off.
    pub enabled: bool,
    /// nu: upper bound on the fraction of training points outside the learned region.
    pub nu: f64,
    /// RBF kernel width (1/gamma) in the scaled feature space.
    pub kernel_width: f64,
    /// Training points sampled from the window. The kernel matrix is n×n (2,000 points ≈ 34 MB
    /// while fitting), so this bounds fit memory and time.
    pub max_training_points: usize,
}

impl Default for SvmConfig {
    fn default() -> Self {
        SvmConfig { enabled: true, nu: 0.05, kernel_width: 2.0, max_training_points: 500 }
    }
}

impl SvmConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(self.nu > 0.0 && self.nu < 1.0) {
            return Err(invalid(&format!("{key}.nu"), "must be in (0, 1)"));
        }
        if !(self.kernel_width > 0.0 && self.kernel_width.is_finite()) {
            return Err(invalid(&format!("{key}.kernel_width"), "must be a positive number"));
        }
        if self.max_training_points < 50 || self.max_training_points > 4000 {
            return Err(invalid(
                &format!("{key}.max_training_points"),
                "must be in 50..=4000 (the kernel matrix grows with its square)",
            ));
        }
        Ok(())
    }
}
