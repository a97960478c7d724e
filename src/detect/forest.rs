//! STAND-IN
pub trait OutlierModel: Send + Sync {
    fn score(&self, x: &[f64]) -> f64;
    fn n_features(&self) -> usize;
}
#[derive(Debug, thiserror::Error)]
#[error("forest")]
pub struct ForestError;
#[derive(Default)]
pub struct IsolationForestParams;
pub struct ValidParams;
#[derive(serde::Serialize, serde::Deserialize)]
pub struct IsolationForest;
impl IsolationForestParams {
    pub fn new() -> Self {
        Self
    }
    pub fn trees(self, _n: usize) -> Self {
        self
    }
    pub fn sample_size(self, _n: usize) -> Self {
        self
    }
    pub fn seed(self, _s: Option<u64>) -> Self {
        self
    }
    pub fn check(self) -> Result<ValidParams, ForestError> {
        Ok(ValidParams)
    }
}
impl ValidParams {
    pub fn fit(&self, _rows: &[Vec<f64>]) -> Result<IsolationForest, ForestError> {
        todo!()
    }
}
impl IsolationForest {
    pub fn score(&self, _x: &[f64]) -> f64 {
        todo!()
    }
    pub fn explain(&self, _x: &[f64]) -> Vec<f64> {
        todo!()
    }
}
