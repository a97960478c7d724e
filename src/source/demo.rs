//! STAND-IN
use super::{RawLine, SourceError};
pub struct DemoSource;
impl DemoSource {
    pub fn new(_cfg: &crate::config::SourceConfig) -> Self {
        DemoSource
    }
    pub async fn run(
        self,
        _tx: tokio::sync::mpsc::Sender<Vec<RawLine>>,
        _s: tokio_util::sync::CancellationToken,
    ) -> Result<(), SourceError> {
        todo!()
    }
}
