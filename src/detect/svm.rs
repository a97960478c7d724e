//! STAND-IN
#[derive(Debug, thiserror::Error)]
#[error("svm")]
pub struct SvmError;
pub struct OneClassSvmParams {
    pub nu: f64,
    pub kernel_width: f64,
    pub max_training_points: usize,
    pub seed: Option<u64>,
}
#[derive(serde::Serialize, serde::Deserialize)]
pub struct OneClassSvm;
impl OneClassSvmParams {
    pub fn check(self) -> Result<Self, SvmError> {
        Ok(self)
    }
    pub fn fit(&self, _rows: &[Vec<f64>]) -> Result<OneClassSvm, SvmError> {
        todo!()
    }
}
impl OneClassSvm {
    pub fn decision(&self, _x: &[f64]) -> f64 {
        todo!()
    }
}
