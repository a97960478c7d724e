//! The One-Class SVMs (`response_time`, `status_code`): RBF one-class SVMs trained with linfa-svm,
//! then copied into a small self-contained [`OneClassSvm`] (support vectors, coefficients, rho) that
//! scores without linfa and serializes to `models.json`.
//!
//! ```text
//! OneClassSvmParams::new().nu(0.05).kernel_width(2.0).max_training_points(1000).seed(Some(42))
//!     .check()?        // -> OneClassSvmValidParams
//!     .fit(&rows)?     // dedup, seeded subsample, linfa-svm fit -> OneClassSvm
//!     .decision(&x)    // > 0 inside the learned region, < 0 outside
//! ```

mod algorithm;
mod errors;
mod hyperparams;

pub use algorithm::OneClassSvm;
pub use errors::SvmError;
pub use hyperparams::{OneClassSvmParams, OneClassSvmValidParams};

#[cfg(test)]
mod tests;
