//! Evaluation: runs the detector over labelled generated traffic (labels kept outside the lines)
//! and measures what a user feels: line-level precision and recall, incidents found, time to
//! detect, and false alarms on clean traffic. `anomaly-detector eval` prints it as a markdown table.
//!
//! - [`history`]: scenarios whose incidents lie inside the history the detector learns from
//!   (a self-trained file that starts with incidents, a `--train` file holding incidents, a daemon
//!   started as an incident begins, and the training-size sweep).

pub mod history;

pub use history::{setup, Learning, Setup, HISTORY_SCENARIOS};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::app::pipeline::{Mode, Pipeline};
use crate::config::Config;
use crate::detect::{Anomaly, AnomalyKind, Incident};
use crate::metrics::Metrics;
use crate::sink::{Finding, FindingSink};
use crate::source::demo::{IncidentKind, LineFormat, TrafficConfig, TrafficGenerator};
use crate::source::RawLine;

/// One incident of the scenario and whether it was found.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentOutcome {
    pub id: u32,
    pub kind: &'static str,
    pub description: String,
    pub labelled_lines: u64,
    pub flagged_lines: u64,
    pub detected: bool,
    /// Seconds from the incident's start to its first anomaly.
    pub time_to_detect_secs: Option<f64>,
    /// The anomaly kinds reported on its lines (or windows).
    pub reported_as: Vec<String>,
}

/// Results of one scenario run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub format: &'static str,
    pub lines: u64,
    pub labelled_lines: u64,
    pub flagged_lines: u64,
    pub true_positives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub clean_lines: u64,
    pub clean_flagged: u64,
    /// Fraction of clean lines flagged.
    pub clean_flagged_rate: f64,
    /// Clean lines flagged per hour of traffic.
    pub false_positives_per_hour: f64,
    /// Incidents reported by the detector that match no injected incident.
    pub false_incidents: u64,
    pub hours: f64,
    pub incidents: Vec<IncidentOutcome>,
    /// Recall per injected kind: (labelled, flagged).
    pub recall_by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// The first few clean lines flagged: line number, kind, endpoint and reason.
    pub clean_flagged_examples: Vec<String>,
}

#[derive(Default)]
struct Collect(Mutex<Vec<Incident>>);

impl FindingSink for Collect {
    fn name(&self) -> &'static str {
        "eval"
    }
    fn offer(&self, f: &Finding) {
        if let Finding::IncidentResolved(i) = f {
            self.0.lock().expect("not poisoned").push((**i).clone());
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Run one scenario through a fresh detector, as `scan` would (learning from the first
/// `detection.training_events` lines), and score the result against the labels.
pub fn run(cfg: &Config, name: &str, traffic: TrafficConfig) -> Result<ScenarioResult, String> {
    run_setup(cfg, name, Setup { traffic, learning: Learning::SelfTrained, training_events: None })
}

/// Run one scenario as its [`Setup`] says (what the detector learns from, how much), and score
/// the result against the labels of the scored traffic.
pub fn run_setup(cfg: &Config, name: &str, setup: Setup) -> Result<ScenarioResult, String> {
    let Setup { traffic, learning, training_events } = setup;
    let mut cfg = cfg.clone();
    if let Some(n) = training_events {
        cfg.detection.training_events = n;
    }
    let cfg = &cfg;
    let format = match traffic.format {
        LineFormat::Json => "json",
        LineFormat::Combined => "combined",
    };
    let mut generator = TrafficGenerator::new(traffic).map_err(|e| e.to_string())?;
    let collect = Arc::new(Collect::default());
    let mode = match learning {
        Learning::SelfTrained => Mode::ScanSelfTrained,
        Learning::TrainFile(_) => Mode::LearnOnly,
        Learning::Live => Mode::Live,
    };
    let mut pipeline = Pipeline::new(cfg, mode, Arc::new(Metrics::new()), vec![collect.clone()], "eval");
    if let Learning::TrainFile(train) = learning {
        // As `scan --train FILE`: learn the whole file, fit, then score the input.
        let mut batch = Vec::with_capacity(4096);
        for (i, g) in TrafficGenerator::new(train).map_err(|e| e.to_string())?.enumerate() {
            batch.push(RawLine::new(g.time, g.line, i as u64 + 1));
            if batch.len() == 4096 {
                pipeline.process(std::mem::take(&mut batch));
            }
        }
        pipeline.process(batch);
        pipeline.fit();
        pipeline.set_mode(Mode::ScanPretrained);
    }
    let mut labels: Vec<Option<(IncidentKind, u32)>> = Vec::new();
    let mut anomalies: Vec<Anomaly> = Vec::new();
    let (mut first, mut last) = (None, None);
    let mut batch = Vec::with_capacity(4096);
    for (i, g) in generator.by_ref().enumerate() {
        first.get_or_insert(g.time);
        last = Some(g.time);
        labels.push(g.label);
        batch.push(RawLine::new(g.time, g.line, i as u64 + 1));
        if batch.len() == 4096 {
            anomalies.extend(pipeline.process(std::mem::take(&mut batch)));
        }
    }
    anomalies.extend(pipeline.process(batch));
    anomalies.extend(pipeline.finish());
    let truths = generator.incidents().to_vec();
    let reported = std::mem::take(&mut *collect.0.lock().expect("not poisoned"));

    let lines = labels.len() as u64;
    let hours = match (first, last) {
        (Some(a), Some(b)) => ((b.as_second() - a.as_second()) as f64 / 3600.0).max(1.0 / 3600.0),
        _ => 0.0,
    };
    let mut flagged_by_incident: HashMap<u32, (u64, Option<jiff::Timestamp>, Vec<String>)> = HashMap::new();
    let (mut flagged, mut tp, mut clean_flagged) = (0u64, 0u64, 0u64);
    let mut clean_examples = Vec::new();
    let mut recall_by_kind: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for l in labels.iter().flatten() {
        recall_by_kind.entry(l.0.as_str()).or_default().0 += 1;
    }
    for a in &anomalies {
        let Some(line) = a.line else { continue };
        flagged += 1;
        match labels.get(line as usize - 1).copied().flatten() {
            Some((kind, id)) => {
                tp += 1;
                recall_by_kind.entry(kind.as_str()).or_default().1 += 1;
                let e = flagged_by_incident.entry(id).or_default();
                e.0 += 1;
                if e.1.is_none_or(|t| a.timestamp < t) {
                    e.1 = Some(a.timestamp);
                }
                if !e.2.contains(&a.kind.as_str().to_string()) {
                    e.2.push(a.kind.as_str().into());
                }
            }
            None => {
                clean_flagged += 1;
                if clean_examples.len() < 20 {
                    clean_examples.push(format!("line {line} {} {}: {}", a.kind.as_str(), a.endpoint, a.reason));
                }
            }
        }
    }
    // Window-level: a volume anomaly on a dropped endpoint during (or right after) the drop.
    let volume: Vec<&Anomaly> = anomalies.iter().filter(|a| a.kind == AnomalyKind::Volume).collect();
    let slack = jiff::SignedDuration::from_secs(cfg.detection.rate_window_secs as i64 * 2);
    let mut incidents = Vec::new();
    for t in &truths {
        let (flagged_lines, first_seen, reported_as) = if t.kind == IncidentKind::TrafficDrop {
            let hits: Vec<&&Anomaly> = volume
                .iter()
                .filter(|a| {
                    Some(a.endpoint.as_str()) == t.endpoint.as_deref()
                        && a.timestamp >= t.start
                        && a.timestamp <= t.end + slack
                })
                .collect();
            (
                hits.len() as u64,
                hits.iter().map(|a| a.timestamp).min(),
                if hits.is_empty() { vec![] } else { vec!["volume".into()] },
            )
        } else {
            flagged_by_incident.get(&t.id).cloned().unwrap_or_default()
        };
        incidents.push(IncidentOutcome {
            id: t.id,
            kind: t.kind.as_str(),
            description: t.describe(),
            labelled_lines: t.labelled_lines,
            flagged_lines,
            detected: flagged_lines > 0,
            time_to_detect_secs: first_seen.map(|f| (f.as_millisecond() - t.start.as_millisecond()) as f64 / 1000.0),
            reported_as,
        });
    }
    // Detector incidents that overlap no injected incident are false alarms.
    let false_incidents = reported
        .iter()
        .filter(|r| {
            !truths.iter().any(|t| {
                let overlaps = r.first_seen <= t.end + slack && r.last_seen >= t.start;
                let same_target = t.endpoint.as_deref().is_none_or(|e| e == r.endpoint)
                    || t.client.is_some() && t.client == r.client
                    || t.kind == IncidentKind::Scanner;
                overlaps && same_target
            })
        })
        .count() as u64;
    let labelled = labels.iter().filter(|l| l.is_some()).count() as u64;
    let clean = lines - labelled;
    let precision = ratio(tp, flagged);
    let recall = ratio(tp, labelled);
    Ok(ScenarioResult {
        scenario: name.to_string(),
        format,
        lines,
        labelled_lines: labelled,
        flagged_lines: flagged,
        true_positives: tp,
        precision,
        recall,
        f1: if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 },
        clean_lines: clean,
        clean_flagged,
        clean_flagged_rate: if clean == 0 { 0.0 } else { clean_flagged as f64 / clean as f64 },
        false_positives_per_hour: if hours > 0.0 { clean_flagged as f64 / hours } else { 0.0 },
        false_incidents,
        hours,
        incidents,
        recall_by_kind,
        clean_flagged_examples: clean_examples,
    })
}

/// The results as a markdown table (one row per scenario and format), then the incidents missed.
pub fn markdown(results: &[ScenarioResult]) -> String {
    let mut s = String::from(
        "| scenario | format | lines | anomalous lines | precision | recall | F1 | clean lines flagged | FP/hour | incidents found | median time to detect | false incidents |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let found = r.incidents.iter().filter(|i| i.detected).count();
        let mut ttd: Vec<f64> = r.incidents.iter().filter_map(|i| i.time_to_detect_secs).collect();
        ttd.sort_by(f64::total_cmp);
        let median = ttd.get(ttd.len() / 2).map_or("-".into(), |t| format!("{t:.0} s"));
        // Precision and recall mean nothing on traffic with no anomalous line.
        let metric = |x: f64| if r.labelled_lines == 0 { "–".to_string() } else { format!("{x:.3}") };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({:.3} %) | {:.1} | {}/{} | {} | {} |\n",
            r.scenario,
            r.format,
            r.lines,
            r.labelled_lines,
            metric(r.precision),
            metric(r.recall),
            metric(r.f1),
            r.clean_flagged,
            r.clean_flagged_rate * 100.0,
            r.false_positives_per_hour,
            found,
            r.incidents.len(),
            median,
            r.false_incidents
        ));
    }
    let missed: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.incidents
                .iter()
                .filter(|i| !i.detected)
                .map(move |i| format!("- {} ({}): {}", r.scenario, r.format, i.description))
        })
        .collect();
    if !missed.is_empty() {
        s.push_str("\nMissed incidents:\n");
        s.push_str(&missed.join("\n"));
        s.push('\n');
    }
    s
}

/// Write a scenario's lines to `path` and their labels to `path.labels.jsonl`; returns the count.
pub fn dump(traffic: TrafficConfig, path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Write;
    let mut generator = TrafficGenerator::new(traffic).map_err(std::io::Error::other)?;
    let mut lines = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut label_path = path.as_os_str().to_owned();
    label_path.push(".labels.jsonl");
    let mut labels = std::io::BufWriter::new(std::fs::File::create(label_path)?);
    let mut n = 0u64;
    for g in generator.by_ref() {
        n += 1;
        writeln!(lines, "{}", g.line)?;
        if let Some((kind, id)) = g.label {
            writeln!(labels, "{}", serde_json::json!({"line": n, "label": kind.as_str(), "incident": id}))?;
        }
    }
    lines.flush()?;
    labels.flush()?;
    Ok(n)
}
