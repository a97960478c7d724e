//! The trait every outlier model implements, so implementations are swappable.

/// An unsupervised model that scores how isolated a feature vector is from the training data.
pub trait OutlierModel: Send + Sync {
    /// Anomaly score in [0, 1] (the classic 2^(-E[h(x)]/c(n))): ~0.5 and below normal, near 1 isolated.
    ///
    /// `x` must have [`n_features`](OutlierModel::n_features) values; implementations return NaN
    /// for a vector of the wrong length rather than panic.
    fn score(&self, x: &[f64]) -> f64;

    /// Number of features the model was trained on.
    fn n_features(&self) -> usize;
}
