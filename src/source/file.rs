//! Files (and standard input) as line sources.
//!
//! - [`LineReader`]: a synchronous iterator of [`RawLine`]s over a list of [`Input`]s, used by `scan`.
//! - [`FileSource`]: the async source for `run` with `source.kind = "file"`; reads the files, and
//!   with `follow = true` keeps polling them for appended data like `tail -F`.
//!
//! Both read bytes up to `\n` (a trailing `\r` is stripped), keep at most `max_line_bytes` of a
//! line and discard the rest (so a 1 GB line never sits in memory; the line is flagged
//! [`RawLine::truncated`], cut at a char boundary), decode UTF-8 lossily (counted), number lines
//! from 1 across all inputs in order, and stamp each line with the time it was read.
//!
//! [`FileSource`] reads in a `spawn_blocking` thread with plain `std::fs` and a large `BufReader`:
//! file reads never wait on anything but the disk, `tokio::fs` would hop to the blocking pool for
//! every read anyway, and one thread that owns the files keeps the line loop tight. It checks the
//! shutdown token between lines and polls, and hands lines over in batches; a full channel is
//! waited on (back-pressure), at shutdown too: the pipeline takes what the source read until the
//! source has ended, so the batch in hand is not lost.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Labels, RawLine, SourceError};

mod lines;
#[doc(hidden)]
pub use lines::split_all;

pub(crate) use lines::{Decoded, Splitter};

/// Most lines sent in one batch.
pub const BATCH_LINES: usize = 1000;
/// A batch is sent at the latest this long after its first line was read.
pub const BATCH_MAX_AGE: Duration = Duration::from_millis(200);
/// How often followed files are checked for new data, truncation and rotation.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);
/// Read buffer size.
const READ_BUFFER: usize = 256 * 1024;

/// One input of [`LineReader`]: a file, or standard input (`-` on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    /// `-` is standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    /// A name for messages: the path, or `-`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::Path(p) => p.display().to_string(),
        }
    }
}

/// Counters shared by a running source and whoever reports on it.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Lines delivered.
    pub lines: AtomicU64,
    /// Lines that were not valid UTF-8 and were decoded with replacement characters.
    pub lossy_lines: AtomicU64,
    /// Lines cut at the length cap.
    pub truncated_lines: AtomicU64,
    /// Bytes consumed from the inputs.
    pub bytes_read: AtomicU64,
}

fn open(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::Io { path: path.display().to_string(), source })
}

fn raw_line(d: Decoded, line_no: u64) -> RawLine {
    RawLine { timestamp: d.read_at, labels: Labels::default(), line: d.line, line_no, truncated: d.truncated }
}

/// Synchronous line iterator over files and stdin, in order, for `scan`.
///
/// Yields `Err(SourceError::Io)` for an input that cannot be opened or read, then goes on with the
/// next input.
pub struct LineReader {
    inputs: std::vec::IntoIter<Input>,
    current: Option<(Box<dyn BufRead + Send>, String)>,
    splitter: Splitter,
    line_no: u64,
    bytes_read: u64,
    total_bytes: Option<u64>,
    lossy_lines: u64,
    truncated_lines: u64,
}

impl LineReader {
    /// Reads `inputs` in order, keeping at most `max_line_bytes` of each line.
    pub fn new(inputs: Vec<Input>, max_line_bytes: usize) -> LineReader {
        let total_bytes = inputs.iter().try_fold(0u64, |sum, input| match input {
            Input::Stdin => None,
            Input::Path(p) => std::fs::metadata(p).ok().map(|m| sum + m.len()),
        });
        LineReader {
            inputs: inputs.into_iter(),
            current: None,
            splitter: Splitter::new(max_line_bytes),
            line_no: 0,
            bytes_read: 0,
            total_bytes,
            lossy_lines: 0,
            truncated_lines: 0,
        }
    }

    /// Bytes consumed so far (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Total size of all inputs at start, if known (`None` with stdin or an unreadable file).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Lines that were not valid UTF-8 (decoded with U+FFFD).
    pub fn lossy_lines(&self) -> u64 {
        self.lossy_lines
    }

    /// Lines cut at the length cap.
    pub fn truncated_lines(&self) -> u64 {
        self.truncated_lines
    }

    fn emit(&mut self, d: Decoded) -> RawLine {
        self.line_no += 1;
        self.lossy_lines += u64::from(d.lossy);
        self.truncated_lines += u64::from(d.truncated);
        raw_line(d, self.line_no)
    }
}

impl Iterator for LineReader {
    type Item = Result<RawLine, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((reader, name)) = self.current.as_mut() else {
                let input = self.inputs.next()?;
                let reader: Box<dyn BufRead + Send> = match &input {
                    Input::Stdin => Box::new(BufReader::with_capacity(READ_BUFFER, io::stdin())),
                    Input::Path(p) => match open(p) {
                        Ok(f) => Box::new(BufReader::with_capacity(READ_BUFFER, f)),
                        Err(e) => return Some(Err(e)),
                    },
                };
                self.current = Some((reader, input.name()));
                continue;
            };
            match self.splitter.next_line(reader) {
                Ok((line, consumed)) => {
                    self.bytes_read += consumed;
                    if let Some(d) = line {
                        return Some(Ok(self.emit(d)));
                    }
                    // End of this input: a last line without newline is still a line.
                    self.current = None;
                    if let Some(d) = self.splitter.take_partial() {
                        return Some(Ok(self.emit(d)));
                    }
                }
                Err(source) => {
                    let path = std::mem::take(name);
                    self.current = None;
                    let _ = self.splitter.take_partial();
                    return Some(Err(SourceError::Io { path, source }));
                }
            }
        }
    }
}

/// Collects lines into batches and sends them from a blocking thread.
pub(crate) struct Batcher {
    tx: mpsc::Sender<Vec<RawLine>>,
    shutdown: CancellationToken,
    batch: Vec<RawLine>,
    started: Instant,
    pub(crate) stats: Arc<ReadStats>,
    line_no: u64,
}

impl Batcher {
    pub(crate) fn new(tx: mpsc::Sender<Vec<RawLine>>, shutdown: CancellationToken, stats: Arc<ReadStats>) -> Self {
        Batcher { tx, shutdown, batch: Vec::with_capacity(BATCH_LINES), started: Instant::now(), stats, line_no: 0 }
    }

    /// Numbers and queues a line; sends the batch when it is full or old enough.
    pub(crate) fn push(&mut self, d: Decoded) -> Result<(), SourceError> {
        self.line_no += 1;
        self.stats.lines.fetch_add(1, Ordering::Relaxed);
        if d.lossy {
            self.stats.lossy_lines.fetch_add(1, Ordering::Relaxed);
        }
        if d.truncated {
            self.stats.truncated_lines.fetch_add(1, Ordering::Relaxed);
        }
        if self.batch.is_empty() {
            self.started = Instant::now();
        }
        self.batch.push(raw_line(d, self.line_no));
        if self.batch.len() >= BATCH_LINES || self.started.elapsed() >= BATCH_MAX_AGE {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued, waiting for room while the receiver lives (at shutdown too: the
    /// pipeline drains the channel until the source has ended). `Err(Closed)` if the receiver is
    /// gone, except after shutdown, when the pipeline has stopped taking lines.
    pub(crate) fn flush(&mut self) -> Result<(), SourceError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_LINES));
        match self.tx.blocking_send(batch) {
            Ok(()) => Ok(()),
            Err(_) if self.shutdown.is_cancelled() => Ok(()),
            Err(_) => Err(SourceError::Closed),
        }
    }
}

/// One followed (or read-once) file.
struct Tail {
    path: PathBuf,
    reader: BufReader<File>,
    /// Bytes consumed from the current file.
    pos: u64,
    id: Option<u64>,
    splitter: Splitter,
}

/// The inode of a file (rotation by rename shows up as a new inode at the same path).
fn file_id(meta: &std::fs::Metadata) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

impl Tail {
    fn open(path: &Path, cap: usize) -> Result<Tail, SourceError> {
        let file = open(path)?;
        let id = file.metadata().ok().as_ref().and_then(file_id);
        let reader = BufReader::with_capacity(READ_BUFFER, file);
        Ok(Tail { path: path.to_path_buf(), reader, pos: 0, id, splitter: Splitter::new(cap) })
    }

    fn io_err(&self, source: io::Error) -> SourceError {
        SourceError::Io { path: self.path.display().to_string(), source }
    }

    /// Reads every complete line available. Returns whether anything was read.
    fn drain(&mut self, out: &mut Batcher, shutdown: &CancellationToken) -> Result<bool, SourceError> {
        let mut any = false;
        loop {
            let (line, consumed) = self.splitter.next_line(&mut self.reader).map_err(|e| self.io_err(e))?;
            self.pos += consumed;
            out.stats.bytes_read.fetch_add(consumed, Ordering::Relaxed);
            any |= consumed > 0;
            match line {
                Some(d) => out.push(d)?,
                None => return Ok(any),
            }
            if out.line_no % 1024 == 0 && shutdown.is_cancelled() {
                return Ok(any);
            }
        }
    }

    /// At EOF of a followed file: reopen from the start if the path now names another file
    /// (rotation) or the file shrank below what was read (truncation). A file that is gone for the
    /// moment is waited for.
    fn check_rotation(&mut self, out: &mut Batcher) -> Result<(), SourceError> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Ok(());
        };
        let rotated = self.id.is_some() && file_id(&meta) != self.id;
        if !rotated && meta.len() >= self.pos {
            return Ok(());
        }
        // The old file's unfinished last line will never be completed.
        if let Some(d) = self.splitter.take_partial() {
            out.push(d)?;
        }
        let Ok(file) = File::open(&self.path) else {
            return Ok(()); // replaced between the two calls; try again next poll
        };
        self.id = file.metadata().ok().as_ref().and_then(file_id);
        self.reader = BufReader::with_capacity(READ_BUFFER, file);
        self.pos = 0;
        Ok(())
    }
}

/// The `source.kind = "file"` source: reads `paths` in order, and with `follow` keeps polling them.
pub struct FileSource {
    paths: Vec<PathBuf>,
    follow: bool,
    max_line_bytes: usize,
    poll: Duration,
    stats: Arc<ReadStats>,
}

impl FileSource {
    /// A source over `paths` keeping at most `max_line_bytes` of each line.
    pub fn new(paths: Vec<PathBuf>, follow: bool, max_line_bytes: usize) -> FileSource {
        FileSource { paths, follow, max_line_bytes, poll: FOLLOW_POLL, stats: Arc::default() }
    }

    /// Builds the source from the validated `[source]` and `[parse]` sections.
    pub fn from_config(source: &crate::config::SourceConfig, parse: &crate::config::ParseConfig) -> FileSource {
        FileSource::new(source.paths.clone(), source.follow, parse.max_line_bytes)
    }

    /// Changes how often followed files are polled (default [`FOLLOW_POLL`]).
    pub fn poll_interval(mut self, poll: Duration) -> FileSource {
        self.poll = poll;
        self
    }

    /// Counters of the running source (lines, lossy lines, truncated lines, bytes).
    pub fn stats(&self) -> Arc<ReadStats> {
        Arc::clone(&self.stats)
    }

    /// Reads until the files end (or, when following, until `shutdown`), sending batches of at
    /// most [`BATCH_LINES`] lines, each sent at most [`BATCH_MAX_AGE`] after its first line.
    /// Returns `Err(Io)` if a file cannot be opened or read, `Err(Closed)` if `tx` is closed.
    pub async fn run(self, tx: mpsc::Sender<Vec<RawLine>>, shutdown: CancellationToken) -> Result<(), SourceError> {
        let handle = tokio::task::spawn_blocking(move || self.run_blocking(tx, shutdown));
        handle.await.map_err(|e| SourceError::Io { path: "file reader thread".into(), source: io::Error::other(e) })?
    }

    fn run_blocking(self, tx: mpsc::Sender<Vec<RawLine>>, shutdown: CancellationToken) -> Result<(), SourceError> {
        let mut out = Batcher::new(tx, shutdown.clone(), Arc::clone(&self.stats));
        if !self.follow {
            for path in &self.paths {
                let mut tail = Tail::open(path, self.max_line_bytes)?;
                tail.drain(&mut out, &shutdown)?;
                if shutdown.is_cancelled() {
                    return out.flush();
                }
                if let Some(d) = tail.splitter.take_partial() {
                    out.push(d)?;
                }
            }
            return out.flush();
        }
        let mut tails = self.paths.iter().map(|p| Tail::open(p, self.max_line_bytes)).collect::<Result<Vec<_>, _>>()?;
        loop {
            let mut any = false;
            for tail in &mut tails {
                let got = tail.drain(&mut out, &shutdown)?;
                if !got {
                    tail.check_rotation(&mut out)?;
                }
                any |= got;
            }
            out.flush()?;
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if !any {
                sleep_unless_cancelled(self.poll, &shutdown);
            }
        }
    }
}

/// Sleeps `total`, waking early (within 50 ms) when `shutdown` fires.
fn sleep_unless_cancelled(total: Duration, shutdown: &CancellationToken) {
    let step = Duration::from_millis(50);
    let deadline = Instant::now() + total;
    while !shutdown.is_cancelled() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(step));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn line_reader_numbers_across_files_and_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.log", b"a1\r\na2");
        let b = write(dir.path(), "b.log", b"b1\n\xffb2\n");
        let missing = dir.path().join("missing.log");
        let inputs = vec![Input::Path(a), Input::Path(missing.clone()), Input::Path(b)];
        let mut reader = LineReader::new(inputs, 1024);
        assert_eq!(reader.total_bytes(), None, "a missing file makes the total unknown");
        let mut got = Vec::new();
        let mut errors = Vec::new();
        for item in reader.by_ref() {
            match item {
                Ok(l) => got.push((l.line_no, l.line)),
                Err(SourceError::Io { path, .. }) => errors.push(path),
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(got, [(1, "a1".into()), (2, "a2".into()), (3, "b1".into()), (4, "\u{fffd}b2".into())]);
        assert_eq!(errors, [missing.display().to_string()]);
        assert_eq!(reader.lossy_lines(), 1);
        assert_eq!(reader.bytes_read(), 6 + 7);
    }

    #[test]
    fn line_reader_progress_and_truncation_counts() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}\nshort\n", "y".repeat(5000));
        let p = write(dir.path(), "long.log", long.as_bytes());
        let mut reader = LineReader::new(vec![Input::from_arg(p.to_str().unwrap())], 256);
        assert_eq!(reader.total_bytes(), Some(long.len() as u64));
        let got: Vec<RawLine> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].truncated && got[0].line.len() == 256);
        assert!(!got[1].truncated);
        assert_eq!(reader.truncated_lines(), 1);
        assert_eq!(reader.bytes_read(), long.len() as u64);
        assert_eq!(Input::from_arg("-"), Input::Stdin);
    }

    /// Receives batches until `n` lines arrived, failing after a generous bound.
    async fn recv_lines(rx: &mut mpsc::Receiver<Vec<RawLine>>, n: usize) -> Vec<RawLine> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while out.len() < n {
            let batch = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out with {} of {n} lines: {out:?}", out.len()))
                .expect("source ended early");
            assert!(!batch.is_empty() && batch.len() <= BATCH_LINES);
            out.extend(batch);
        }
        out
    }

    fn texts(lines: &[RawLine]) -> Vec<(u64, &str)> {
        lines.iter().map(|l| (l.line_no, l.line.as_str())).collect()
    }

    #[tokio::test]
    async fn file_source_reads_files_in_batches_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=2500).map(|i| format!("line {i}\n")).collect();
        let a = write(dir.path(), "a.log", body.as_bytes());
        let b = write(dir.path(), "b.log", b"tail line");
        let (tx, mut rx) = mpsc::channel(16);
        let source = FileSource::new(vec![a, b], false, 1024);
        let stats = source.stats();
        let task = tokio::spawn(source.run(tx, CancellationToken::new()));
        let got = recv_lines(&mut rx, 2501).await;
        assert_eq!(got[0].line, "line 1");
        assert_eq!(texts(&got[2499..]), [(2500, "line 2500"), (2501, "tail line")]);
        assert!(got.windows(2).all(|w| w[1].line_no == w[0].line_no + 1));
        task.await.unwrap().unwrap();
        assert!(rx.recv().await.is_none(), "the sender is dropped when the files end");
        assert_eq!(stats.lines.load(Ordering::Relaxed), 2501);
        assert_eq!(stats.bytes_read.load(Ordering::Relaxed), body.len() as u64 + 9);
    }

    #[tokio::test]
    async fn file_source_missing_file_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.log");
        let (tx, _rx) = mpsc::channel(1);
        let err =
            FileSource::new(vec![missing.clone()], true, 1024).run(tx, CancellationToken::new()).await.unwrap_err();
        assert_eq!(err.label(), "io");
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    }

    type Running = tokio::task::JoinHandle<Result<(), SourceError>>;

    /// A followed 5,000-line file read into a channel of one batch: one batch fills it, the
    /// second waits for room; then shutdown is signalled.
    async fn followed_file_with_a_full_channel_then_shutdown(
    ) -> (tempfile::TempDir, mpsc::Receiver<Vec<RawLine>>, Arc<ReadStats>, Running) {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=5000).map(|i| format!("{i}\n")).collect();
        let path = write(dir.path(), "big.log", body.as_bytes());
        let (tx, rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let source = FileSource::new(vec![path], true, 1024);
        let stats = source.stats();
        let task = tokio::spawn(source.run(tx, shutdown.clone()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.lines.load(Ordering::Relaxed) < 2 * BATCH_LINES as u64 {
            assert!(Instant::now() < deadline, "reader never filled the channel");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        (dir, rx, stats, task)
    }

    #[tokio::test]
    async fn at_shutdown_the_batch_in_hand_waits_for_room_and_then_the_source_ends() {
        let (_dir, mut rx, stats, task) = followed_file_with_a_full_channel_then_shutdown().await;
        // Every line read is handed over (the pipeline drains until the source ends), then it ends.
        let mut got = 0u64;
        while let Some(batch) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("ends") {
            got += batch.len() as u64;
        }
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("stops on shutdown").unwrap().unwrap();
        assert_eq!(got, stats.lines.load(Ordering::Relaxed));
        assert!(got >= 2 * BATCH_LINES as u64);
    }

    #[tokio::test]
    async fn after_shutdown_a_receiver_gone_is_not_an_error() {
        let (_dir, rx, _, task) = followed_file_with_a_full_channel_then_shutdown().await;
        drop(rx);
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("stops on shutdown").unwrap().unwrap();
    }

    #[tokio::test]
    async fn follow_picks_up_appends_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "app.log", b"first\n");
        let (tx, mut rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let source = FileSource::new(vec![path.clone()], true, 1024).poll_interval(Duration::from_millis(20));
        let task = tokio::spawn(source.run(tx, shutdown.clone()));
        assert_eq!(texts(&recv_lines(&mut rx, 1).await), [(1, "first")]);

        // Appended data, with a line written in two parts: it is sent once complete.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"second\nthi").unwrap();
        f.flush().unwrap();
        assert_eq!(texts(&recv_lines(&mut rx, 1).await), [(2, "second")]);
        f.write_all(b"rd\n").unwrap();
        f.flush().unwrap();
        assert_eq!(texts(&recv_lines(&mut rx, 1).await), [(3, "third")]);

        // Rotation: the file is renamed away and a new one takes its path.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        write(dir.path(), "app.log", b"new file 1\nnew file 2\n");
        assert_eq!(texts(&recv_lines(&mut rx, 2).await), [(4, "new file 1"), (5, "new file 2")]);

        // Truncation in place: read again from the start.
        std::fs::write(&path, b"after truncate\n").unwrap();
        assert_eq!(texts(&recv_lines(&mut rx, 1).await), [(6, "after truncate")]);

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("stops on shutdown").unwrap().unwrap();
    }
}
