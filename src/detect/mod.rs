//! Detect: scores [`FeatureRow`](crate::features::FeatureRow)s with the models and rules and emits
//! [`Anomaly`]s, rolled up into [`Incident`]s.
//!
//! - [`engine`]: the [`Detector`]: training window, fitting schedule, thresholds, scoring
//! - [`forest`]: the Isolation Forest (`behavioral`)
//! - [`svm`]: the One-Class SVMs (`response_time`, `status_code`)
//! - [`rules`]: known-suspicious requests (`suspicious`)
//! - [`attack`]: the attack checks behind the shipped attack rules (SQLi, XSS, traversal, …)
//! - [`site`]: what the rules learn about the site (content it serves, clients known as scanners)
//! - [`rate`]: request-rate windows (`volume`)
//! - [`suppress`]: ignore rules and maintenance windows
//! - [`incident`]: anomalies rolled up into incidents
//! - [`explain`]: reasons, scores and severities

pub mod attack;
pub mod dismiss;
pub mod engine;
pub mod explain;
pub mod forest;
pub mod gates;
pub mod incident;
pub mod rate;
pub mod rules;
pub mod site;
pub mod suppress;
pub mod svm;
mod types;

pub use engine::{DetectError, Detector, TrainReport};
pub use incident::Incidents;
pub use types::{Anomaly, AnomalyKind, FeatureContribution, Incident};
