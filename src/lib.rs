//! anomaly-detector: finds anomalies in application logs with unsupervised models and rules.
//!
//! The pipeline, one module per stage, each handing the next one owned, typed value:
//!
//! ```text
//! source ──RawLine──▶ parse ──LogEvent──▶ features ──FeatureRow──▶ detect ──Anomaly──▶ sink
//! ```
//!
//! - [`source`]: `file`, `stdin`, `demo`, `loki` → [`source::RawLine`]
//! - [`parse`]: JSON, logfmt, access log, text → [`parse::LogEvent`]
//! - [`features`]: per-endpoint baselines, scaled vectors → [`features::FeatureRow`]
//! - [`detect`]: Isolation Forest, One-Class SVMs, rules, rates → [`detect::Anomaly`], [`detect::Incident`]
//! - [`sink`]: console, Loki push, alerts, API buffer
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `/api/v1/*`
//! - [`metrics`]: the Prometheus registry every stage counts into (a root module, not a sink)
//! - [`redact`]: secrets masked in findings where they are made, so every output carries the same text
//! - [`app`]: wires the stages, owns the schedule and shutdown; [`scan`] runs the pipeline over files

pub mod app;
pub mod config;
pub mod detect;
pub mod eval;
pub mod features;
pub mod hash;
pub mod memory;
pub mod metrics;
pub mod parse;
pub mod patterns;
pub mod redact;
pub mod retry_after;
pub mod scan;
pub mod server;
pub mod sink;
pub mod source;
pub mod state_file;
pub mod telemetry;
pub mod text;
