//! Sinks: where findings go.

pub mod metrics;

pub use metrics::Metrics;
