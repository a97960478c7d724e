//! STAND-IN
use super::{RawLine, SourceError};
pub struct FileSource;
impl FileSource {
    pub fn new(_cfg: &crate::config::SourceConfig, _max: usize) -> Self {
        FileSource
    }
    pub async fn run(
        self,
        _tx: tokio::sync::mpsc::Sender<Vec<RawLine>>,
        _s: tokio_util::sync::CancellationToken,
    ) -> Result<(), SourceError> {
        todo!()
    }
}
pub enum Input {
    Path(std::path::PathBuf),
    Stdin,
}
pub struct LineReader;
impl LineReader {
    pub fn new(_inputs: Vec<Input>, _max: usize) -> Self {
        LineReader
    }
    pub fn bytes_read(&self) -> u64 {
        0
    }
    pub fn total_bytes(&self) -> Option<u64> {
        None
    }
}
impl Iterator for LineReader {
    type Item = Result<RawLine, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}
