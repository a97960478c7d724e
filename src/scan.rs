//! `scan`: run the pipeline over files or stdin and write what is abnormal.
//!
//! Streams its input (memory does not grow with the file), shows a progress bar on a terminal,
//! and writes either readable text or JSON lines (`--output jsonl`: JSON only on stdout, one object
//! per flagged line, logs on stderr).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::app::pipeline::{Mode, Pipeline};
use crate::config::Config;
use crate::detect::{Anomaly, Incident};
use crate::metrics::Metrics;
use crate::sink::{Finding, FindingSink};
use crate::source::file::{Input, LineReader};
use crate::source::SourceError;
use crate::text::escape_for_terminal;

/// Output format of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanOutput {
    /// One readable line per anomaly, then the incidents.
    Text,
    /// One JSON object per anomaly (stdout carries JSON only).
    Jsonl,
}

/// What `scan` does.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub inputs: Vec<PathBuf>,
    pub train: Option<PathBuf>,
    pub output: ScanOutput,
    pub progress: bool,
    /// Redact findings as the daemon does (`--redact`); by default a scan shows the user's own
    /// lines as they are.
    pub redact: bool,
}

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Totals of a finished scan.
#[derive(Debug, Default, Clone)]
pub struct ScanSummary {
    pub lines: u64,
    pub anomalies: u64,
    pub incidents: Vec<Incident>,
    /// What each format's lines carried, one line per format.
    pub formats: Vec<String>,
}

#[derive(Default)]
struct IncidentCollector(Mutex<Vec<Incident>>);

impl FindingSink for IncidentCollector {
    fn name(&self) -> &'static str {
        "scan"
    }
    fn offer(&self, f: &Finding) {
        if let Finding::IncidentResolved(i) = f {
            self.0.lock().expect("not poisoned").push((**i).clone());
        }
    }
}

fn to_inputs(paths: &[PathBuf]) -> Vec<Input> {
    if paths.is_empty() {
        return vec![Input::Stdin];
    }
    paths.iter().map(|p| if p.as_os_str() == "-" { Input::Stdin } else { Input::Path(p.clone()) }).collect()
}

const BATCH: usize = 4096;

fn write_anomaly(out: &mut impl Write, a: &Anomaly, format: ScanOutput) -> std::io::Result<()> {
    match format {
        ScanOutput::Jsonl => {
            serde_json::to_writer(&mut *out, a).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }
        ScanOutput::Text => {
            let at = a.line.map_or_else(|| "window".to_string(), |l| format!("line {l}"));
            // Lines are written back to a terminal: escape sequences in them are shown, not run.
            writeln!(
                out,
                "{at} {} {:<13} {:<8} {:.2} {}\n    {}",
                a.timestamp,
                a.kind.as_str(),
                a.severity.as_str(),
                a.score,
                escape_for_terminal(&a.reason),
                escape_for_terminal(
                    &a.raw.as_deref().map(|r| crate::detect::rules::shorten(r, 300)).unwrap_or_default()
                )
            )
        }
    }
}

/// Run a scan, writing anomalies to `out`.
pub fn run(cfg: &Config, opts: &ScanOptions, out: &mut impl Write) -> Result<ScanSummary, ScanError> {
    let metrics = Arc::new(Metrics::new());
    let collector = Arc::new(IncidentCollector::default());
    let sinks: Vec<Arc<dyn FindingSink>> = vec![collector.clone()];
    let mode = if opts.train.is_some() { Mode::LearnOnly } else { Mode::ScanSelfTrained };
    let mut pipeline = Pipeline::new(cfg, mode, metrics, sinks, "file");
    if opts.redact {
        // The patterns were validated with the config, so building cannot fail here.
        let redactor =
            crate::redact::Redactor::new(&cfg.redaction).unwrap_or_else(|_| crate::redact::Redactor::disabled());
        pipeline.redact_with(Arc::new(redactor));
    }
    let max = cfg.parse.max_line_bytes;

    if let Some(train) = &opts.train {
        let reader = LineReader::new(vec![Input::Path(train.clone())], max);
        let mut batch = Vec::with_capacity(BATCH);
        for line in reader {
            batch.push(line?);
            if batch.len() == BATCH {
                pipeline.process(std::mem::take(&mut batch));
            }
        }
        pipeline.process(batch);
        if pipeline.fit().is_none() {
            tracing::warn!(file = %train.display(), "Too little training data in --train; scoring with rules only");
        }
        pipeline.set_mode(Mode::ScanPretrained);
    }

    let mut reader = LineReader::new(to_inputs(&opts.inputs), max);
    let bar = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let bar = match reader.total_bytes() {
            Some(total) => indicatif::ProgressBar::new(total),
            None => indicatif::ProgressBar::new_spinner(),
        };
        // Drawn with the other bars, so a warning while scanning is printed above the bar, not through it.
        let bar = crate::telemetry::progress_bars().add(bar);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut summary = ScanSummary::default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let next = reader.next();
        let done = next.is_none();
        if let Some(line) = next {
            batch.push(line?);
            summary.lines += 1;
        }
        if batch.len() == BATCH || (done && !batch.is_empty()) {
            for a in pipeline.process(std::mem::take(&mut batch)) {
                summary.anomalies += 1;
                write_anomaly(out, &a, opts.output)?;
            }
            if let Some(b) = &bar {
                b.set_position(reader.bytes_read());
                b.set_message(format!("{} anomalies", summary.anomalies));
            }
        }
        if done {
            break;
        }
    }
    let finished = pipeline.finish();
    summary.formats = pipeline.census().summary_lines();
    for a in finished {
        summary.anomalies += 1;
        write_anomaly(out, &a, opts.output)?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    summary.incidents = std::mem::take(&mut *collector.0.lock().expect("not poisoned"));
    if opts.output == ScanOutput::Text {
        writeln!(
            out,
            "\n{} lines, {} anomalous, {} incidents",
            summary.lines,
            summary.anomalies,
            summary.incidents.len()
        )?;
        for f in &summary.formats {
            writeln!(out, "{f}")?;
        }
        if let Some(note) = untrained_note(&pipeline, cfg.detection.min_training_events) {
            writeln!(out, "{note}")?;
        }
        for i in &summary.incidents {
            writeln!(
                out,
                "  [{}] {} {} ×{} {} → {}: {}",
                i.severity.as_str(),
                i.kind.as_str(),
                escape_for_terminal(if i.endpoint.is_empty() {
                    i.client.as_deref().unwrap_or("")
                } else {
                    &i.endpoint
                }),
                i.count,
                i.first_seen,
                i.last_seen,
                escape_for_terminal(&i.reason)
            )?;
        }
    }
    if opts.output == ScanOutput::Jsonl {
        for f in &summary.formats {
            tracing::info!("{f}");
        }
        if let Some(note) = untrained_note(&pipeline, cfg.detection.min_training_events) {
            tracing::warn!("{note}");
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Why most detectors said nothing, when the input's requests were too few to learn from.
fn untrained_note(pipeline: &Pipeline, need: usize) -> Option<String> {
    let have = pipeline.detector().window_len();
    (have > 0 && !pipeline.detector().is_trained()).then(|| {
        format!(
            "models not trained: {have} requests, at least {need} needed (detection.min_training_events); \
             only the rules (suspicious requests) and the message templates judged this input. \
             Scan more of the log, or learn from another with --train FILE."
        )
    })
}
