//! [`OneClassSvmParams`] (the builder) and [`OneClassSvmValidParams`] (checked, can `fit`).

use std::collections::HashSet;

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{OneClassSvm, SvmError};

/// Largest training subsample: the dense kernel matrix of 10,000 points takes ~785 MB.
const MAX_TRAINING_POINTS: usize = 10_000;

/// Hyperparameters of a [`OneClassSvm`], unchecked. Call [`check`](Self::check) to validate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneClassSvmParams(OneClassSvmValidParams);

/// Checked hyperparameters of a [`OneClassSvm`]; [`fit`](Self::fit) trains one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneClassSvmValidParams {
    /// Upper bound on the fraction of training points outside the learned region, (0, 1].
    pub(super) nu: f64,
    /// RBF kernel width `w` (1/gamma): k(x, y) = exp(-|x - y|² / w).
    pub(super) kernel_width: f64,
    /// Rows kept (after de-duplication) for the fit; a seeded random subsample if more.
    pub(super) max_training_points: usize,
    /// Seed of the subsample; `None` draws one from the OS.
    pub(super) seed: Option<u64>,
    /// Drop exact duplicate rows before subsampling.
    pub(super) deduplicate: bool,
}

impl Default for OneClassSvmParams {
    fn default() -> Self {
        Self::new()
    }
}

impl OneClassSvmParams {
    /// nu 0.05, kernel width 2.0, at most 1,000 training points, de-duplication on, entropy seed.
    pub fn new() -> Self {
        OneClassSvmParams(OneClassSvmValidParams {
            nu: 0.05,
            kernel_width: 2.0,
            max_training_points: 1000,
            seed: None,
            deduplicate: true,
        })
    }

    /// nu: upper bound on the fraction of training points left outside (and lower bound on the
    /// fraction of support vectors). In (0, 1].
    pub fn nu(mut self, nu: f64) -> Self {
        self.0.nu = nu;
        self
    }

    /// RBF kernel width (1/gamma), in the units of the squared feature distance. Positive.
    pub fn kernel_width(mut self, kernel_width: f64) -> Self {
        self.0.kernel_width = kernel_width;
        self
    }

    /// Most rows fitted (the kernel matrix is n×n: 2,000 points ≈ 34 MB). In 1..=10000.
    pub fn max_training_points(mut self, max_training_points: usize) -> Self {
        self.0.max_training_points = max_training_points;
        self
    }

    /// Seed of the training subsample; `None` draws one from the OS (not reproducible).
    pub fn seed(mut self, seed: Option<u64>) -> Self {
        self.0.seed = seed;
        self
    }

    /// Drop exact duplicate rows before subsampling (default on). Discrete features (status
    /// classes) repeat a lot; duplicates add kernel-matrix rows but no new region. With it on,
    /// every distinct point counts once: the SVM learns where the data lies, not how dense it is.
    pub fn deduplicate(mut self, deduplicate: bool) -> Self {
        self.0.deduplicate = deduplicate;
        self
    }

    /// Validates the parameters.
    pub fn check(self) -> Result<OneClassSvmValidParams, SvmError> {
        let p = self.0;
        if !(p.nu > 0.0 && p.nu <= 1.0) {
            return Err(SvmError::InvalidParams { name: "nu", problem: format!("must be in (0, 1], got {}", p.nu) });
        }
        if !(p.kernel_width > 0.0 && p.kernel_width.is_finite()) {
            return Err(SvmError::InvalidParams {
                name: "kernel_width",
                problem: format!("must be a positive number, got {}", p.kernel_width),
            });
        }
        if p.max_training_points == 0 || p.max_training_points > MAX_TRAINING_POINTS {
            return Err(SvmError::InvalidParams {
                name: "max_training_points",
                problem: format!("must be in 1..={MAX_TRAINING_POINTS}, got {}", p.max_training_points),
            });
        }
        Ok(p)
    }
}

impl OneClassSvmValidParams {
    /// nu.
    pub fn nu(&self) -> f64 {
        self.nu
    }

    /// Kernel width (1/gamma).
    pub fn kernel_width(&self) -> f64 {
        self.kernel_width
    }

    /// Most rows fitted.
    pub fn max_training_points(&self) -> usize {
        self.max_training_points
    }

    /// Trains on `rows` (one feature vector per row; `&[Vec<f64>]`, `&[[f64; N]]`, `&[&[f64]]`…).
    ///
    /// Drops duplicate rows (unless turned off), keeps a seeded random subsample of at most
    /// `max_training_points`, fits linfa-svm's one-class SVM (RBF kernel, solver tolerance 1e-3,
    /// f64) and extracts the support vectors. Errors: no rows, zero features, rows of different
    /// lengths, NaN/infinite values (filter them first), or a solver failure.
    pub fn fit<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<OneClassSvm, SvmError> {
        let records = self.training_set(rows)?;
        OneClassSvm::fit_records(self, records)
    }

    /// Like [`fit`](Self::fit), for an `n_rows × n_features` ndarray view.
    pub fn fit_array(&self, rows: ArrayView2<'_, f64>) -> Result<OneClassSvm, SvmError> {
        let rows: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
        self.fit(&rows)
    }

    /// Validates, de-duplicates and subsamples `rows` into the matrix the solver sees.
    pub(super) fn training_set<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Array2<f64>, SvmError> {
        let d = rows.first().ok_or(SvmError::Empty)?.as_ref().len();
        if d == 0 {
            return Err(SvmError::NoFeatures);
        }
        let mut kept: Vec<&[f64]> = Vec::with_capacity(rows.len());
        let mut seen: HashSet<Vec<u64>> = HashSet::new();
        for (row, values) in rows.iter().enumerate() {
            let values = values.as_ref();
            if values.len() != d {
                return Err(SvmError::DimensionMismatch { row, expected: d, found: values.len() });
            }
            if let Some(column) = values.iter().position(|v| !v.is_finite()) {
                return Err(SvmError::NonFinite { row, column });
            }
            // +0.0 and -0.0 are the same point.
            if !self.deduplicate || seen.insert(values.iter().map(|v| (v + 0.0).to_bits()).collect()) {
                kept.push(values);
            }
        }
        if kept.len() > self.max_training_points {
            let mut rng = match self.seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_entropy(),
            };
            let mut idx = rand::seq::index::sample(&mut rng, kept.len(), self.max_training_points).into_vec();
            idx.sort_unstable();
            kept = idx.into_iter().map(|i| kept[i]).collect();
        }
        let flat: Vec<f64> = kept.iter().flat_map(|r| r.iter().copied()).collect();
        Array2::from_shape_vec((kept.len(), d), flat).map_err(|e| SvmError::InvalidModel(e.to_string()))
    }
}
