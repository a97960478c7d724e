//! [`SvmError`]: what can go wrong when configuring, fitting or loading a one-class SVM.

/// Errors of the one-class SVM.
#[derive(Debug, thiserror::Error)]
pub enum SvmError {
    /// A hyperparameter is out of range.
    #[error("invalid one-class SVM parameter `{name}`: {problem}")]
    InvalidParams {
        /// The parameter (`nu`, `kernel_width`, `max_training_points`).
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
    /// linfa-svm rejected the problem.
    #[error("one-class SVM solver failed: {0}")]
    Solver(#[from] linfa_svm::SvmError),
    /// linfa-svm panicked (caught; the model is not trained).
    #[error("one-class SVM solver panicked: {0}")]
    SolverPanic(String),
    /// A deserialized model is inconsistent (a corrupt or hand-edited `models.json`).
    #[error("invalid one-class SVM model: {0}")]
    InvalidModel(String),
}

impl SvmError {
    /// Short, bounded label for metrics (`error="..."`).
    pub fn label(&self) -> &'static str {
        match self {
            SvmError::InvalidParams { .. } => "invalid_params",
            SvmError::Empty => "empty",
            SvmError::NoFeatures => "no_features",
            SvmError::DimensionMismatch { .. } => "dimension_mismatch",
            SvmError::NonFinite { .. } => "non_finite",
            SvmError::Solver(_) => "solver",
            SvmError::SolverPanic(_) => "solver_panic",
            SvmError::InvalidModel(_) => "invalid_model",
        }
    }
}
