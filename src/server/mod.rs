//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, the `/api/v1` reads (`anomalies`,
//! `incidents`, `status`) and the mutating routes (`POST /api/v1/rebaseline`). Who may call what
//! is in [`access`]; how much is served at once in [`serve`]; how big an answer gets in [`listing`].

pub mod access;
pub mod listing;
mod routes;
mod serve;

pub use access::{Access, Refusal};
pub use routes::router;
pub use serve::{serve, Limits, Settings};
