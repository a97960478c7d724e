//! [`IsolationForestParams`] (the builder) and [`IsolationForestValidParams`] (checked, can `fit`).

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::{ForestError, IsolationForest};

/// Most trees a forest may have.
const MAX_TREES: usize = 100_000;
/// Largest per-tree sample (the height limit is ceil(log2) of it).
const MAX_SAMPLE_SIZE: usize = 1 << 20;

/// Hyperparameters of an [`IsolationForest`], unchecked. Call [`check`](Self::check) to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationForestParams(IsolationForestValidParams);

/// Checked hyperparameters of an [`IsolationForest`]; [`fit`](Self::fit) trains a forest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationForestValidParams {
    pub(super) trees: usize,
    pub(super) sample_size: usize,
    pub(super) seed: Option<u64>,
    pub(super) range_aware: bool,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    /// The classic defaults: 100 trees of 256 samples each, seeded from entropy; range-aware scoring.
    pub fn new() -> Self {
        IsolationForestParams(IsolationForestValidParams {
            trees: 100,
            sample_size: 256,
            seed: None,
            range_aware: true,
        })
    }

    /// Number of trees (at least 1).
    pub fn trees(mut self, trees: usize) -> Self {
        self.0.trees = trees;
        self
    }

    /// Rows sampled (without replacement) for each tree (at least 2). Training sets smaller than
    /// this use all their rows for every tree.
    pub fn sample_size(mut self, sample_size: usize) -> Self {
        self.0.sample_size = sample_size;
        self
    }

    /// Seed of the random generator; `None` draws one from the OS (not reproducible).
    pub fn seed(mut self, seed: Option<u64>) -> Self {
        self.0.seed = seed;
        self
    }

    /// Range-aware scoring (default `true`): values beyond a node's training range shorten the
    /// expected path in proportion to how far out they are, so scores keep rising past the edge of
    /// the data instead of saturating (see [`IsolationForest`]'s module docs). `false` is the
    /// classic algorithm of Liu et al. (2008). Points within the training ranges score the same.
    pub fn range_aware(mut self, range_aware: bool) -> Self {
        self.0.range_aware = range_aware;
        self
    }

    /// Validates the parameters.
    pub fn check(self) -> Result<IsolationForestValidParams, ForestError> {
        let p = self.0;
        if p.trees == 0 || p.trees > MAX_TREES {
            return Err(ForestError::InvalidParams {
                name: "trees",
                problem: format!("must be in 1..={MAX_TREES}, got {}", p.trees),
            });
        }
        if p.sample_size < 2 || p.sample_size > MAX_SAMPLE_SIZE {
            return Err(ForestError::InvalidParams {
                name: "sample_size",
                problem: format!("must be in 2..={MAX_SAMPLE_SIZE}, got {}", p.sample_size),
            });
        }
        Ok(p)
    }
}

impl IsolationForestValidParams {
    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.trees
    }

    /// Rows sampled for each tree.
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// Seed, if reproducible.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Whether scoring is range-aware.
    pub fn range_aware(&self) -> bool {
        self.range_aware
    }

    /// Trains a forest on `rows` (one feature vector per row, all the same length).
    ///
    /// Accepts `&[Vec<f64>]`, `&[[f64; N]]`, `&[&[f64]]`… The feature count is the first row's
    /// length. Errors: no rows, zero features, rows of different lengths, or any NaN/infinite
    /// value (rejected rather than silently skewing the splits; filter such rows before fitting).
    pub fn fit<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<IsolationForest, ForestError> {
        let n_features = rows.first().ok_or(ForestError::Empty)?.as_ref().len();
        let mut flat = Vec::with_capacity(rows.len() * n_features);
        for (row, values) in rows.iter().enumerate() {
            push_row(&mut flat, row, values.as_ref(), n_features)?;
        }
        IsolationForest::fit_flat(self, &flat, rows.len(), n_features)
    }

    /// Like [`fit`](Self::fit), for an `n_rows × n_features` ndarray view (any memory layout).
    pub fn fit_array(&self, rows: ArrayView2<'_, f64>) -> Result<IsolationForest, ForestError> {
        let (n_rows, n_features) = rows.dim();
        if n_rows == 0 {
            return Err(ForestError::Empty);
        }
        let mut flat = Vec::with_capacity(n_rows * n_features);
        for (row, values) in rows.rows().into_iter().enumerate() {
            for (column, &v) in values.iter().enumerate() {
                if !v.is_finite() {
                    return Err(ForestError::NonFinite { row, column });
                }
                flat.push(v);
            }
        }
        IsolationForest::fit_flat(self, &flat, n_rows, n_features)
    }
}

/// Appends one validated row to the row-major buffer.
fn push_row(flat: &mut Vec<f64>, row: usize, values: &[f64], expected: usize) -> Result<(), ForestError> {
    if values.len() != expected {
        return Err(ForestError::DimensionMismatch { row, expected, found: values.len() });
    }
    if let Some(column) = values.iter().position(|v| !v.is_finite()) {
        return Err(ForestError::NonFinite { row, column });
    }
    flat.extend_from_slice(values);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_out_of_range_parameters() {
        let err = IsolationForestParams::new().trees(0).check().unwrap_err();
        assert_eq!(err.label(), "invalid_params");
        assert!(err.to_string().contains("trees"), "{err}");
        let err = IsolationForestParams::new().sample_size(1).check().unwrap_err();
        assert!(err.to_string().contains("sample_size"), "{err}");
        let ok = IsolationForestParams::new().trees(10).sample_size(64).seed(Some(7)).check().unwrap();
        assert_eq!((ok.trees(), ok.sample_size(), ok.seed()), (10, 64, Some(7)));
    }

    #[test]
    fn fit_rejects_bad_rows_with_clear_errors() {
        let p = IsolationForestParams::new().seed(Some(1)).check().unwrap();
        let empty: Vec<Vec<f64>> = vec![];
        assert_eq!(p.fit(&empty).unwrap_err(), ForestError::Empty);
        assert_eq!(p.fit(&[Vec::<f64>::new()]).unwrap_err(), ForestError::NoFeatures);
        let ragged = vec![vec![1.0, 2.0], vec![1.0]];
        assert_eq!(p.fit(&ragged).unwrap_err(), ForestError::DimensionMismatch { row: 1, expected: 2, found: 1 });
        let nan = vec![vec![1.0, 2.0], vec![3.0, f64::NAN]];
        assert_eq!(p.fit(&nan).unwrap_err(), ForestError::NonFinite { row: 1, column: 1 });
        let inf = ndarray::array![[1.0, f64::INFINITY]];
        assert_eq!(p.fit_array(inf.view()).unwrap_err(), ForestError::NonFinite { row: 0, column: 1 });
    }
}
