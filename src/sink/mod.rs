//! Sinks: where findings go. Each takes [`Finding`]s without ever blocking detection.
//!
//! - [`console`]: one structured log line per incident

pub mod alert;
pub mod console;
pub mod finding;
pub mod loki_push;

pub use finding::{Finding, FindingSink};
pub use loki_push::LokiPushSink;
