//! Sinks: where findings go. Each takes [`Finding`]s without ever blocking detection.
//!
//! - [`metrics`]: the Prometheus registry
//! - [`console`]: one structured log line per incident

pub mod alert;
pub mod console;
pub mod finding;
pub mod loki_push;
pub mod metrics;
pub mod redact;

pub use finding::{Finding, FindingSink};
pub use loki_push::LokiPushSink;
pub use metrics::Metrics;
pub use redact::Redactor;
