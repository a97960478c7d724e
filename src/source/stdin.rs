//! STAND-IN
use super::{RawLine, SourceError};
pub struct StdinSource;
impl StdinSource {
    pub fn new(_max: usize) -> Self {
        StdinSource
    }
    pub async fn run(
        self,
        _tx: tokio::sync::mpsc::Sender<Vec<RawLine>>,
        _s: tokio_util::sync::CancellationToken,
    ) -> Result<(), SourceError> {
        todo!()
    }
}
