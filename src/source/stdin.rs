//! Standard input as a line source (`source.kind = "stdin"`).
//!
//! Lines are split, capped, decoded and numbered exactly as for files (see [`super::file`]).
//! Reading happens on a dedicated OS thread, not `spawn_blocking`: a read on a quiet pipe or
//! terminal can block forever, and a blocked task in tokio's blocking pool would hold up runtime
//! shutdown. The thread hands over every line it has read before each read that may block, and
//! checks the shutdown token there. At shutdown, [`StdinSource::run`] returns once the thread has
//! handed over what it read: when it ends, or at once when it is blocked in such a read (it then
//! ends with the process, still holding its sender, which the pipeline does not wait for). A last
//! line without its newline yet is not a line.
//!
//! Batching: a batch is sent when it has [`BATCH_LINES`](super::file::BATCH_LINES) lines, when it
//! is [`BATCH_MAX_AGE`](super::file::BATCH_MAX_AGE) old, and whenever the read buffer holds no complete
//! line (the next read may block), so lines are never held back while the input is quiet.

use std::io::{self, BufReader, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::file::{Batcher, ReadStats, Splitter};
use super::{RawLine, SourceError};

/// The `source.kind = "stdin"` source.
pub struct StdinSource {
    input: Box<dyn Read + Send>,
    max_line_bytes: usize,
    stats: Arc<ReadStats>,
}

impl StdinSource {
    /// Reads the process's standard input, keeping at most `max_line_bytes` of each line.
    pub fn new(max_line_bytes: usize) -> StdinSource {
        StdinSource::from_reader(Box::new(io::stdin()), max_line_bytes)
    }

    /// Reads any byte stream as if it were standard input (tests, pipes).
    pub fn from_reader(input: Box<dyn Read + Send>, max_line_bytes: usize) -> StdinSource {
        StdinSource { input, max_line_bytes, stats: Arc::default() }
    }

    /// Counters of the running source (lines, lossy lines, truncated lines, bytes).
    pub fn stats(&self) -> Arc<ReadStats> {
        Arc::clone(&self.stats)
    }

    /// Reads until end of input or `shutdown`, sending batches of lines. `Err(Io)` on a read
    /// error, `Err(Closed)` if `tx` is closed.
    pub async fn run(self, tx: mpsc::Sender<Vec<RawLine>>, shutdown: CancellationToken) -> Result<(), SourceError> {
        let (done_tx, mut done_rx) = oneshot::channel();
        let (waiting_tx, mut waiting) = watch::channel(false);
        let token = shutdown.clone();
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                let _ = done_tx.send(self.run_blocking(tx, token, waiting_tx));
            })
            .map_err(|source| SourceError::Io { path: "-".into(), source })?;
        tokio::select! {
            done = &mut done_rx => return done.unwrap_or(Err(SourceError::Closed)),
            () = shutdown.cancelled() => {}
        }
        tokio::select! {
            biased;
            done = done_rx => done.unwrap_or(Err(SourceError::Closed)),
            _ = waiting.wait_for(|w| *w) => Ok(()),
        }
    }

    /// The reader thread. `waiting` is true while it is in a read that may block with every line
    /// it read handed over.
    fn run_blocking(
        self,
        tx: mpsc::Sender<Vec<RawLine>>,
        shutdown: CancellationToken,
        waiting: watch::Sender<bool>,
    ) -> Result<(), SourceError> {
        let mut reader = BufReader::with_capacity(64 * 1024, self.input);
        let mut splitter = Splitter::new(self.max_line_bytes);
        let mut out = Batcher::new(tx, shutdown.clone(), self.stats);
        let io_err = |source| SourceError::Io { path: "-".into(), source };
        loop {
            // No complete line buffered: reading on may block, so do not hold lines back. (The
            // scan stops at the next newline, so it costs one pass over the line.)
            let may_block = !reader.buffer().contains(&b'\n');
            if may_block {
                out.flush()?;
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                waiting.send_replace(true);
            }
            let read = splitter.next_line(&mut reader);
            if may_block {
                waiting.send_replace(false);
            }
            let (line, consumed) = read.map_err(io_err)?;
            out.stats.bytes_read.fetch_add(consumed, Ordering::Relaxed);
            match line {
                Some(d) => out.push(d)?,
                None => {
                    if let Some(d) = splitter.take_partial() {
                        out.push(d)?;
                    }
                    return out.flush();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reads_lines_until_eof() {
        let input = b"one\r\ntwo \xff\n\nlast".to_vec();
        let (tx, mut rx) = mpsc::channel(4);
        let source = StdinSource::from_reader(Box::new(Cursor::new(input)), 1024);
        let stats = source.stats();
        source.run(tx, CancellationToken::new()).await.unwrap();
        let mut got = Vec::new();
        while let Some(batch) = rx.recv().await {
            got.extend(batch.into_iter().map(|l| (l.line_no, l.line)));
        }
        assert_eq!(got, [(1, "one".into()), (2, "two \u{fffd}".into()), (3, "".into()), (4, "last".into())]);
        assert_eq!(stats.lossy_lines.load(Ordering::Relaxed), 1);
        assert_eq!(stats.lines.load(Ordering::Relaxed), 4);
    }

    /// A reader that delivers its chunks one per read and then blocks until dropped.
    struct Trickle {
        chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.chunks.recv() {
                Ok(chunk) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    Ok(n)
                }
                Err(_) => Ok(0),
            }
        }
    }

    #[tokio::test]
    async fn lines_arrive_while_the_writer_is_quiet_and_shutdown_is_prompt() {
        let (chunk_tx, chunks) = std::sync::mpsc::channel();
        let (tx, mut rx) = mpsc::channel(4);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(StdinSource::from_reader(Box::new(Trickle { chunks }), 64).run(tx, shutdown.clone()));
        chunk_tx.send(b"alpha\nbeta\nga".to_vec()).unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(batch.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["alpha", "beta"]);
        chunk_tx.send(b"mma\n".to_vec()).unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!((batch[0].line_no, batch[0].line.as_str()), (3, "gamma"));
        // The reader is now blocked in read(); shutdown still ends `run`.
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("run returns on shutdown").unwrap().unwrap();
        drop(chunk_tx);
    }

    #[tokio::test]
    async fn at_shutdown_every_line_read_is_handed_over_before_run_returns() {
        let (chunk_tx, chunks) = std::sync::mpsc::channel();
        let (tx, mut rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let source = StdinSource::from_reader(Box::new(Trickle { chunks }), 64);
        let stats = source.stats();
        let task = tokio::spawn(source.run(tx, shutdown.clone()));
        let text: String = (1..=2500).map(|i| format!("line {i}\n")).collect();
        chunk_tx.send(text.into_bytes()).unwrap();
        // One batch fills the channel; the reader waits with the next one in hand.
        while stats.lines.load(Ordering::Relaxed) < 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!task.is_finished(), "run returned with lines still in the reader's hands");
        let mut got = Vec::new();
        while got.len() < 2500 {
            let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            got.extend(batch.into_iter().map(|l| l.line_no));
        }
        assert_eq!(got, (1..=2500).collect::<Vec<u64>>());
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("run returns").unwrap().unwrap();
        drop(chunk_tx);
    }
}
