//! The evidence gates: the tuned numbers a verdict must pass besides its model's threshold, in one
//! home. `engine` applies them; `explain` measures how far past them a verdict went and which
//! features are worth naming.

/// Robust z-score a lone response time must exceed (besides the model's threshold) to be reported.
pub const RT_GATE_Z: f64 = 4.5;
/// ...or, while the endpoint's recent median latency is itself at least `RT_CONTEXT_Z` high, this.
pub const RT_GATE_IN_SPIKE_Z: f64 = 3.0;
pub const RT_CONTEXT_Z: f64 = 2.5;
/// Milliseconds a response must be slower than its endpoint's p99 to be reported: on an endpoint
/// that answers in 1 ms, 6 ms is many robust deviations out but nothing anyone acts on.
pub const RT_MIN_EXCESS_MS: f64 = 10.0;
/// Decades of surprise a 5xx burst must reach to be reported...
pub const BURST_GATE: f64 = 3.0;
/// ...with at least this many recent (decayed) 5xx: two background errors close together are not a burst.
pub const BURST_MIN_ERRORS: f64 = 2.5;
/// Largest |scaled feature| an Isolation Forest verdict needs to be reported.
pub const FOREST_GATE: f64 = 5.0;
/// Client error-burst surprise (decades) and minimum errors for the `error_scanning` rule.
pub const SCAN_GATE: f64 = 6.0;
pub const SCAN_MIN_ERRORS: f64 = 5.0;
/// Scaled distance from its baseline at which a feature is worth naming in a reason.
pub const REMARKABLE_SIGMA: f64 = 2.0;
