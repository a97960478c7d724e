//! The Isolation Forest (`behavioral`): a purpose-built, seedable, axis-aligned isolation forest
//! (Liu, Ting & Zhou 2008, i.e. extension level 0) behind the [`OutlierModel`] trait.
//!
//! ```text
//! IsolationForestParams::new().trees(100).sample_size(256).seed(Some(42))
//!     .check()?            // -> IsolationForestValidParams
//!     .fit(&rows)?         // rows: &[Vec<f64>] (anything AsRef<[f64]>), or fit_array(ArrayView2)
//!     .score(&x)           // 2^(-E[h(x)]/c(n)) in [0, 1]; ~0.5 and below is normal
//! ```
//!
//! Scoring is range-aware by default: a value beyond a node's training range shortens the expected
//! path in proportion to how far out it is, so scores keep rising past the edge of the data where a
//! classic forest saturates (`.range_aware(false)` gives the classic algorithm; see `algorithm.rs`).
//!
//! Why not `extended-isolation-forest`: it fixes the feature count at compile time, cannot be
//! seeded, and computes every split as an N-dimensional dot product. `benches/models.rs` compares
//! both on the same data.

mod algorithm;
mod errors;
mod grow;
mod hyperparams;
mod model;
mod serde_repr;

pub use algorithm::IsolationForest;
pub use errors::ForestError;
pub use hyperparams::{IsolationForestParams, IsolationForestValidParams};
pub use model::OutlierModel;

#[cfg(test)]
mod tests;
