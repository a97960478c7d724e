//! Sinks: where findings go. Each takes [`Finding`]s without ever blocking detection.
//!
//! - [`metrics`]: the Prometheus registry
//! - [`console`]: one structured log line per incident

pub mod console;
pub mod finding;
pub mod metrics;

pub use finding::{Finding, FindingSink};
pub use metrics::Metrics;
