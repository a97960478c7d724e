//! [`OneClassSvm`]: the fitted model, scored without linfa.
//!
//! linfa-svm's fitted `Svm` keeps its support vectors and kernel private, but exposes `alpha` (one
//! coefficient per training row, in training order) and `rho` as public fields, and `weighted_sum`
//! (Σ αᵢ k(svᵢ, x)). Its support vectors are exactly the training rows with |αᵢ| > 100·ε, in order,
//! so they are rebuilt from the training matrix and those coefficients; the kernel width is ours.

use linfa::dataset::Pr;
use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_svm::Svm;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{OneClassSvmValidParams, SvmError};
use crate::detect::forest::OutlierModel;

/// Solver stopping tolerance (linfa's default of 1e-7 is needlessly slow for this use).
const SOLVER_EPS: f64 = 1e-3;

/// A fitted one-class SVM with an RBF kernel: `decision(x) = Σ αᵢ exp(-|x - svᵢ|² / w) - ρ`.
/// Serializable for `models.json`; deserializing validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SvmRepr")]
pub struct OneClassSvm {
    n_features: usize,
    /// RBF kernel width `w` (1/gamma).
    kernel_width: f64,
    /// ρ, the offset of the decision function.
    rho: f64,
    /// αᵢ of each support vector (linfa's scale: they sum to nu × training points).
    coefficients: Vec<f64>,
    /// Support vectors, row-major (`coefficients.len() × n_features`).
    support_vectors: Vec<f64>,
    /// Rows the solver saw (after de-duplication and subsampling).
    training_points: usize,
}

/// Deserialized, not yet validated [`OneClassSvm`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SvmRepr {
    n_features: usize,
    kernel_width: f64,
    rho: f64,
    coefficients: Vec<f64>,
    support_vectors: Vec<f64>,
    training_points: usize,
}

impl TryFrom<SvmRepr> for OneClassSvm {
    type Error = SvmError;

    fn try_from(r: SvmRepr) -> Result<Self, SvmError> {
        let bad = |m: &str| Err(SvmError::InvalidModel(m.to_string()));
        if r.n_features == 0 || !(r.kernel_width > 0.0 && r.kernel_width.is_finite()) || !r.rho.is_finite() {
            return bad("no features, or a non-positive kernel width, or a non-finite rho");
        }
        if r.coefficients.len().checked_mul(r.n_features) != Some(r.support_vectors.len()) {
            return bad("support vector matrix does not match the coefficients");
        }
        if !r.coefficients.iter().chain(&r.support_vectors).all(|v| v.is_finite()) {
            return bad("non-finite coefficient or support vector");
        }
        Ok(OneClassSvm {
            n_features: r.n_features,
            kernel_width: r.kernel_width,
            rho: r.rho,
            coefficients: r.coefficients,
            support_vectors: r.support_vectors,
            training_points: r.training_points,
        })
    }
}

impl OneClassSvm {
    /// Fits on the prepared training matrix.
    pub(super) fn fit_records(params: &OneClassSvmValidParams, records: Array2<f64>) -> Result<Self, SvmError> {
        let svm = fit_linfa(params, &records)?;
        Ok(Self::from_linfa(&svm, &records, params.kernel_width))
    }

    /// Copies what scoring needs out of linfa's model.
    pub(super) fn from_linfa(svm: &Svm<f64, bool>, records: &Array2<f64>, kernel_width: f64) -> Self {
        let mut coefficients = Vec::new();
        let mut support_vectors = Vec::new();
        for (alpha, row) in svm.alpha.iter().zip(records.rows()) {
            // linfa's own support-vector criterion (`Svm::nsupport`, `weighted_sum`).
            if alpha.abs() > 100.0 * f64::EPSILON {
                coefficients.push(*alpha);
                support_vectors.extend(row.iter().copied());
            }
        }
        OneClassSvm {
            n_features: records.ncols(),
            kernel_width,
            rho: svm.rho,
            coefficients,
            support_vectors,
            training_points: records.nrows(),
        }
    }

    /// Signed distance-like value: positive inside the learned region, negative outside, 0 on the
    /// boundary (linfa's `weighted_sum(x) - rho`, same arithmetic). A vector with a NaN or infinite
    /// value is infinitely far from every support vector: `-rho`. NaN for a vector of the wrong length.
    pub fn decision(&self, x: &[f64]) -> f64 {
        match self.kernel_sum(x) {
            Some(k) => k - self.rho,
            None => f64::NAN,
        }
    }

    /// Σ αᵢ k(svᵢ, x); `None` for a wrong length, 0 for a non-finite vector.
    fn kernel_sum(&self, x: &[f64]) -> Option<f64> {
        if x.len() != self.n_features {
            return None;
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Some(0.0);
        }
        Some(
            self.support_vectors
                .chunks_exact(self.n_features)
                .zip(&self.coefficients)
                .map(|(sv, a)| {
                    let d2: f64 = sv.iter().zip(x).map(|(s, v)| (s - v) * (s - v)).sum();
                    (-d2 / self.kernel_width).exp() * a
                })
                .sum(),
        )
    }

    /// ρ, the decision offset.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// Number of support vectors.
    pub fn n_support(&self) -> usize {
        self.coefficients.len()
    }

    /// Rows the solver saw (after de-duplication and subsampling).
    pub fn training_points(&self) -> usize {
        self.training_points
    }

    /// Kernel width (1/gamma).
    pub fn kernel_width(&self) -> f64 {
        self.kernel_width
    }
}

impl OutlierModel for OneClassSvm {
    /// ρ / (ρ + Σ αᵢ k(svᵢ, x)), in [0, 1]: 0.5 on the boundary, above it outside (→ 1 far away),
    /// below it inside. 1 for a non-finite vector, NaN for a vector of the wrong length.
    fn score(&self, x: &[f64]) -> f64 {
        let Some(k) = self.kernel_sum(x) else { return f64::NAN };
        let rho = self.rho.max(0.0);
        if rho + k > 0.0 {
            rho / (rho + k)
        } else {
            0.5
        }
    }

    fn n_features(&self) -> usize {
        self.n_features
    }
}

/// Runs linfa-svm's one-class fit; a panic inside linfa becomes [`SvmError::SolverPanic`].
pub(super) fn fit_linfa(params: &OneClassSvmValidParams, records: &Array2<f64>) -> Result<Svm<f64, bool>, SvmError> {
    let checked =
        Svm::<f64, Pr>::params().nu_weight(params.nu).gaussian_kernel(params.kernel_width).eps(SOLVER_EPS).check()?;
    let dataset = DatasetBase::from(records.clone());
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checked.fit(&dataset))) {
        Ok(fitted) => Ok(fitted?),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(SvmError::SolverPanic(msg))
        }
    }
}
