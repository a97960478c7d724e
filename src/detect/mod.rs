//! Detect: scores [`FeatureRow`](crate::features::FeatureRow)s with the models and rules and emits
//! [`Anomaly`]s, rolled up into [`Incident`]s.
//!
//! - [`forest`]: the Isolation Forest (`behavioral`)
//! - [`svm`]: the One-Class SVMs (`response_time`, `status_code`)
//! - [`rules`]: known-suspicious requests (`suspicious`)

pub mod forest;
pub mod rules;
pub mod svm;
mod types;

pub use types::{Anomaly, AnomalyKind, FeatureContribution, Incident};
