//! Sinks: where findings go. Each takes [`Finding`]s without ever blocking detection.
//!
//! - [`console`]: one structured log line per incident

pub mod alert;
pub mod console;
pub mod finding;
pub mod loki_push;
/// Redaction happens where findings are made ([`crate::redact`]); sinks still see it here.
pub use crate::redact;

pub use finding::{Finding, FindingSink};
pub use loki_push::LokiPushSink;
pub use redact::Redactor;
