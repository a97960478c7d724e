//! The built-in traffic generator: realistic API access logs with labelled, scheduled incidents.
//!
//! It serves three users:
//! - `anomaly-detector demo`: [`DemoSource`] sends clean history, then live traffic in real time with
//!   every kind of incident within 90 s and again every [`DEMO_CYCLE_SECS`];
//! - tests: [`TrafficGenerator`] is a pure, seeded iterator over lines in virtual time, each
//!   [`Generated`] line carrying its label outside the line;
//! - evaluation: [`scenario`] builds named labelled scenarios, and [`TrafficGenerator::incidents`]
//!   gives each incident's kind, endpoint, client and window ([`IncidentTruth`]).
//!
//! The traffic: a dozen endpoints with lognormal latencies, status mixes and response sizes of their
//! own, 300 clients with Zipf-like activity and ordinary user agents, health probes and metric
//! scrapes on their period, Poisson arrivals optionally following a daily rhythm. Lines are nginx-style
//! JSON or nginx `combined` with a trailing request time ([`LineFormat`]). Nothing in a line marks
//! an incident: the detector has to find them in the data.

mod format;
mod incidents;
mod live;
mod profile;
mod scenarios;
mod traffic;

#[cfg(test)]
mod tests;

pub use format::LineFormat;
pub use incidents::{IncidentKind, IncidentTruth, ScheduleError, ScheduledIncident};
pub use live::DemoSource;
pub use scenarios::{
    demo_schedule, scenario, DEMO_CYCLE_SECS, SCENARIOS, SCENARIO_REQUESTS_PER_SEC, SCENARIO_TRAINING_SECS,
};
pub use traffic::{endpoint_profiles, EndpointProfile, Generated, TrafficConfig, TrafficGenerator};
