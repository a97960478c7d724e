//! [`ForestError`]: what can go wrong when configuring, fitting or loading an isolation forest.

/// Errors of the isolation forest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForestError {
    /// A hyperparameter is out of range.
    #[error("invalid isolation forest parameter `{name}`: {problem}")]
    InvalidParams {
        /// The parameter (`trees`, `sample_size`).
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `fit` was given no rows.
    #[error("no training rows")]
    Empty,
    /// `fit` was given rows with no features.
    #[error("training rows have no features")]
    NoFeatures,
    /// A row's length differs from the first row's.
    #[error("training row {row} has {found} features, expected {expected}")]
    DimensionMismatch {
        /// 0-based row index.
        row: usize,
        /// Features in the first row.
        expected: usize,
        /// Features in this row.
        found: usize,
    },
    /// A training value is NaN or infinite.
    #[error("training row {row}, feature {column} is not a finite number")]
    NonFinite {
        /// 0-based row index.
        row: usize,
        /// 0-based feature index.
        column: usize,
    },
    /// A deserialized forest is inconsistent (a corrupt or hand-edited `models.json`).
    #[error("invalid isolation forest model: {0}")]
    InvalidModel(String),
}

impl ForestError {
    /// Short, bounded label for metrics (`error="..."`).
    pub fn label(&self) -> &'static str {
        match self {
            ForestError::InvalidParams { .. } => "invalid_params",
            ForestError::Empty => "empty",
            ForestError::NoFeatures => "no_features",
            ForestError::DimensionMismatch { .. } => "dimension_mismatch",
            ForestError::NonFinite { .. } => "non_finite",
            ForestError::InvalidModel(_) => "invalid_model",
        }
    }
}
