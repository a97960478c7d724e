//! The synchronous core shared by `scan` and the daemon: parse → features → detect → incidents,
//! with metrics and sinks. CPU work: the daemon calls it from a blocking task.

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

use super::clock::{self, StreamClock};
use crate::config::Config;
use crate::detect::dismiss::{Dismissal, Dismissals};
use crate::detect::engine::Reset;
use crate::detect::suppress::Hold;
use crate::detect::{Anomaly, AnomalyKind, Detector, Incidents, TrainReport};
use crate::features::FeatureRow;
use crate::hash::{FastMap, FastSet};
use crate::metrics::{
    status_class_index, EndpointLabel, FormatLabel, Metrics, ModelLabel, ReasonLabel, RequestLabels, SourceLabel,
};
use crate::parse::{LogEvent, Parser};
use crate::redact::Redactor;
use crate::sink::{Finding, FindingSink};
use crate::source::RawLine;

/// Before the first models, an endpoint gets a metric label of its own at this many requests.
const LABEL_AFTER_REQUESTS: u32 = 5;

/// How the pipeline learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Daemon: rules only until enough history, then score new events; refit on schedule.
    Live,
    /// `scan` without `--train`: buffer the first `training_events` lines, train, score them all.
    ScanSelfTrained,
    /// `scan --train`: the training file was already learned; score everything.
    ScanPretrained,
    /// Learning only (the `--train` file, or a backfill): nothing is scored or reported.
    LearnOnly,
}

/// What a re-baseline did (the answer of `POST /api/v1/rebaseline`).
#[derive(Debug, Clone, Serialize)]
pub struct Rebaselined {
    /// The endpoint as the detector names it (`*` for every endpoint).
    pub endpoint: String,
    #[serde(flatten)]
    pub reset: Reset,
    /// Open incidents on the endpoint closed (resolved) by the re-baseline.
    pub incidents_closed: usize,
}

/// Why a re-baseline was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RebaselineError {
    #[error("unknown endpoint {endpoint:?}: it has no baseline, training events or open incident")]
    UnknownEndpoint { endpoint: String, known: Vec<String> },
}

/// Parse, detect, roll up and publish.
pub struct Pipeline {
    parser: Parser,
    detector: Detector,
    incidents: Incidents,
    metrics: Arc<Metrics>,
    sinks: Vec<Arc<dyn FindingSink>>,
    source: SourceLabel,
    mode: Mode,
    warmup: Option<Vec<(FeatureRow, Option<Hold>)>>,
    /// While the warm-up buffers: its application-log events, learned as history and judged when
    /// it ends, each with the number of buffered rows before it (so they are reported in line
    /// order with the rest).
    warmup_patterns: Vec<(usize, LogEvent, crate::patterns::stage::Observed)>,
    /// The template stage of application logs.
    patterns: crate::patterns::stage::PatternStage,
    /// Live: the lines learned before the first models, judged by rules only (at most
    /// `detection.min_training_events`); the first models judge them again.
    unjudged: VecDeque<FeatureRow>,
    unjudged_cap: usize,
    training_events: usize,
    per_event_metrics: bool,
    /// Endpoints with a label of their own in `requests_total` and `response_time_seconds`: once
    /// models exist, the learned endpoints with a trusted baseline; before, those seen
    /// [`LABEL_AFTER_REQUESTS`] times. Any other path (a scanner's `/cgi-bin/.%2e/…`) counts
    /// under `other`, so hostile input cannot mint series.
    label_endpoints: FastSet<Arc<str>>,
    /// Before the first models: how often each unlabelled endpoint was seen (bounded).
    label_sightings: FastMap<Arc<str>, u32>,
    labels_learned: bool,
    /// Each endpoint label's `requests_total` counters and latency histogram, looked up in their
    /// families once: a family's lookup allocates its label strings, hashes them and locks, and
    /// these count every request.
    request_series: FastMap<Arc<str>, RequestSeries>,
    max_endpoints: usize,
    watermark: Option<Timestamp>,
    clock: StreamClock,
    /// Called with each training report (for logs and status).
    pub last_report: Option<TrainReport>,
    /// What was learned changed (a fit, a re-baseline) since the state was last saved.
    pub fitted_since_save: bool,
    /// Incidents dismissed as false alarms: what they cover is learned, not reported.
    dismissals: Dismissals,
    /// An incident was opened in the batch being processed.
    incidents_opened: bool,
    /// Where the incidents journal is written (the daemon's state directory).
    journal: Option<std::path::PathBuf>,
    /// While a batch is processed with a journal: its findings, reported once the incidents it
    /// opened are on disk (a crash before that reports nothing that a restart would report again).
    held: Option<Vec<Finding>>,
    columns: Vec<String>,
    /// `lines_parsed` per format and `suppressed` per reason, each looked up once (a family's
    /// lookup allocates and locks; these count every line).
    parsed: [Option<Counter>; crate::parse::Format::ALL.len()],
    /// Which fields each format's lines carried.
    census: crate::parse::census::Census,
    suppressed: [Option<Counter>; 3],
    retimed: [Option<Counter>; 2],
    /// The endpoint label of requests beyond `features.max_endpoints` labelled ones.
    other_label: Arc<str>,
    /// Masks secrets in each finding as it is made ([`Pipeline::redact_with`]: the daemon always,
    /// `scan --redact`); none by default.
    redactor: Option<Arc<Redactor>>,
}

impl Pipeline {
    pub fn new(
        cfg: &Config,
        mode: Mode,
        metrics: Arc<Metrics>,
        sinks: Vec<Arc<dyn FindingSink>>,
        source: &str,
    ) -> Pipeline {
        Pipeline {
            parser: Parser::new(&cfg.parse),
            detector: Detector::new(cfg),
            incidents: Incidents::new(cfg.detection.incident_window_secs),
            metrics,
            sinks,
            source: SourceLabel { source: source.to_string() },
            warmup: (mode == Mode::ScanSelfTrained).then(Vec::new),
            warmup_patterns: Vec::new(),
            patterns: crate::patterns::stage::PatternStage::new(&cfg.patterns, cfg.detection.incident_window_secs),
            unjudged: VecDeque::new(),
            unjudged_cap: cfg.detection.min_training_events,
            mode,
            training_events: cfg.detection.training_events,
            per_event_metrics: mode == Mode::Live,
            label_endpoints: FastSet::default(),
            label_sightings: FastMap::default(),
            labels_learned: false,
            request_series: FastMap::default(),
            max_endpoints: cfg.features.max_endpoints,
            watermark: None,
            clock: StreamClock::default(),
            last_report: None,
            fitted_since_save: false,
            dismissals: Dismissals::default(),
            incidents_opened: false,
            journal: None,
            held: None,
            columns: cfg.features.columns.clone(),
            parsed: Default::default(),
            census: crate::parse::census::Census::new(cfg.parse.format),
            suppressed: Default::default(),
            retimed: Default::default(),
            other_label: Arc::from("other"),
            redactor: None,
        }
    }

    /// The registry the pipeline counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn set_mode(&mut self, mode: Mode) {
        if self.mode == Mode::LearnOnly && mode != Mode::LearnOnly {
            // The history (a training file, a backfill) is over: templates are judged from now.
            self.patterns.arm(false);
        }
        self.mode = mode;
        if mode == Mode::ScanSelfTrained && self.warmup.is_none() && !self.detector.is_trained() {
            self.warmup = Some(Vec::new());
        }
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Newest event time seen.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.watermark
    }

    fn publish(&mut self, f: Finding) {
        if let Some(held) = self.held.as_mut() {
            held.push(f);
            return;
        }
        for s in &self.sinks {
            s.offer(&f);
        }
    }

    /// Write the incidents journal in `dir` whenever a batch opened an incident, before its findings
    /// are reported (the daemon; `scan` keeps no journal).
    pub fn journal_to(&mut self, dir: std::path::PathBuf) {
        self.journal = Some(dir);
    }

    /// End of a batch with a journal: write it if an incident opened, then report what was held.
    fn release_held(&mut self) {
        let Some(held) = self.held.take() else { return };
        if std::mem::take(&mut self.incidents_opened) {
            if let Some(dir) = &self.journal {
                if let Err(e) = super::persist::save_incidents(dir, self.incidents.export()) {
                    tracing::warn!(dir = %dir.display(), error = %e, "Cannot write the incidents journal; open incidents are saved with the models");
                }
            }
        }
        for f in held {
            for s in &self.sinks {
                s.offer(&f);
            }
        }
    }

    fn record_metrics(&mut self, row: &FeatureRow) {
        let e = &row.event;
        self.count_parsed(e);
        if !self.per_event_metrics || !e.is_request() {
            return;
        }
        self.record_request(row);
    }

    fn count_parsed(&mut self, e: &LogEvent) {
        let format = e.format;
        self.parsed[format as usize]
            .get_or_insert_with(|| {
                self.metrics.lines_parsed.get_or_create(&FormatLabel { format: format.as_str().into() }).clone()
            })
            .inc();
        if e.problem.is_some() {
            self.metrics.lines_unparsed.get_or_create(&self.source).inc();
        }
        if e.truncated {
            self.metrics.lines_truncated.inc();
        }
    }

    fn record_request(&mut self, row: &FeatureRow) {
        let e = &row.event;
        let ep = &row.summary.endpoint;
        let label: &Arc<str> = if self.label_endpoints.contains(ep) {
            ep
        } else if !self.labels_learned && self.label_endpoints.len() < self.max_endpoints && self.sighted(ep) {
            self.label_endpoints.insert(ep.clone());
            ep
        } else {
            &self.other_label
        };
        let metrics = &self.metrics;
        let series = self.request_series.entry(label.clone()).or_insert_with(|| RequestSeries::new(metrics, label));
        let class = status_class_index(e.status);
        series.by_class[class]
            .get_or_insert_with(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        endpoint: label.to_string(),
                        status_class: crate::metrics::STATUS_CLASSES[class].into(),
                    })
                    .clone()
            })
            .inc();
        if let Some(rt) = e.response_time_ms {
            series.response_time.observe(rt / 1000.0);
        }
    }

    /// Counts a sighting of an endpoint without a label before the first models; true at the
    /// [`LABEL_AFTER_REQUESTS`]th. The counts are forgotten when there are too many of them.
    fn sighted(&mut self, ep: &Arc<str>) -> bool {
        if self.label_sightings.len() >= self.max_endpoints * 4 && !self.label_sightings.contains_key(ep) {
            self.label_sightings.clear();
        }
        let seen = self.label_sightings.entry(ep.clone()).or_default();
        *seen += 1;
        *seen >= LABEL_AFTER_REQUESTS
    }

    /// Once models exist, the labelled endpoints are the learned ones with a trusted baseline.
    fn label_learned_endpoints(&mut self) {
        let Some(t) = self.detector.trained() else { return };
        let mut eps: Vec<&Arc<str>> = t
            .baselines
            .endpoints
            .iter()
            .filter(|(_, b)| b.count >= crate::features::baseline::MIN_ENDPOINT_EVENTS)
            .map(|(ep, _)| ep)
            .collect();
        eps.sort();
        self.label_endpoints = eps.into_iter().take(self.max_endpoints).cloned().collect();
        self.label_sightings = FastMap::default();
        self.labels_learned = true;
    }

    /// Fit the models now; logs and records the outcome.
    pub fn fit(&mut self) -> Option<TrainReport> {
        match self.detector.fit() {
            Ok(report) => {
                for (name, events, secs) in &report.models {
                    let l = ModelLabel { model: (*name).into() };
                    self.metrics.model_trained.get_or_create(&l).set(1);
                    self.metrics.model_training_events.get_or_create(&l).set(*events as i64);
                    self.metrics.model_fit_duration.get_or_create(&l).observe(*secs);
                }
                for (name, why) in &report.failures {
                    tracing::warn!(model = name, error = %why, "Model not trained; the others still score");
                }
                self.label_learned_endpoints();
                tracing::info!(
                    events = report.events,
                    endpoints = report.endpoints,
                    screened_latency = report.screened.latency,
                    screened_errors = report.screened.errors,
                    screened_failing = report.screened.failing,
                    judged_out = report.judged_out,
                    fit_ms = format!("{:.0}", report.secs * 1000.0),
                    models = %report.models.iter().map(|m| format!("{}({:.0} ms)", m.0, m.2 * 1000.0)).collect::<Vec<_>>().join(", "),
                    "Models trained"
                );
                self.last_report = Some(report.clone());
                self.fitted_since_save = true;
                Some(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Training skipped");
                None
            }
        }
    }

    /// Redact findings where they are made (`scan --redact`; the daemon always, per `[redaction]`).
    pub fn redact_with(&mut self, redactor: Arc<Redactor>) {
        self.redactor = Some(redactor);
    }

    fn handle_anomaly(&mut self, mut a: Anomaly, out: &mut Vec<Anomaly>) {
        if let Some(r) = &self.redactor {
            r.redact_anomaly(&mut a);
        }
        self.metrics.count_anomaly(a.kind.as_str(), a.severity, &a.detectors);
        let mut closed = Vec::new();
        let finding = self.incidents.add(&a, &mut closed);
        for inc in closed {
            self.publish(Finding::IncidentResolved(Arc::new(inc)));
        }
        if let Finding::IncidentOpened(i) = &finding {
            self.incidents_opened = true;
            self.metrics
                .incidents
                .get_or_create(&crate::metrics::IncidentLabels {
                    kind: i.kind.as_str().into(),
                    severity: i.severity.as_str().into(),
                })
                .inc();
        }
        self.publish(Finding::Anomaly(Arc::new(a.clone())));
        self.publish(finding);
        out.push(a);
    }

    /// Counts the event in its rate window unless an ignore rule holds it back (a maintenance hold
    /// still counts), and reports the windows that closed.
    fn count_rate(&mut self, row: &FeatureRow, hold: Option<Hold>, out: &mut Vec<Anomaly>) {
        if hold.is_none_or(|h| h == Hold::Maintenance) {
            let closed = self.detector.count_rate(row);
            self.handle_windows(closed, out);
        }
    }

    /// Rate windows that closed: reported unless a maintenance window overlaps them.
    fn handle_windows(&mut self, closed: Vec<Anomaly>, out: &mut Vec<Anomaly>) {
        for a in closed {
            if self.detector.in_maintenance(&a) {
                tracing::debug!(endpoint = %a.endpoint, reason = %a.reason, "Volume anomaly in a maintenance window; not reported");
                continue;
            }
            if self.dismissals.covers(&a) {
                self.count_dismissed();
                continue;
            }
            self.handle_anomaly(a, out);
        }
    }

    /// Learn a clean event; a re-baselined endpoint gets its baseline back once it has enough.
    fn learn(&mut self, row: &FeatureRow) {
        self.detector.learn(row);
        if let Some(endpoint) = self.detector.relearn_due() {
            let events = self.detector.relearn(&endpoint);
            tracing::info!(endpoint = %endpoint, events, "Re-baselined endpoint relearned; the models judge it again");
            self.fitted_since_save = true;
        }
    }

    /// Judge the event at the stream clock's time when its own is implausible (see [`StreamClock`]),
    /// and move the watermark.
    fn place_in_time(&mut self, event: &mut LogEvent) {
        let placed = self.clock.place(event.time, event.own_time);
        if let Some(why) = placed.retimed {
            if event.own_time {
                event.stated_time = Some(event.time);
            }
            event.time = placed.time;
            self.retimed[why as usize]
                .get_or_insert_with(|| {
                    self.metrics.lines_retimed.get_or_create(&ReasonLabel { reason: why.label().into() }).clone()
                })
                .inc();
        }
        if placed.rewound {
            // The stream's first lines were the outliers: windows opened at their time restart.
            self.detector.restart_rate_windows();
            self.watermark = Some(placed.time);
        }
        if self.watermark.is_none_or(|w| event.time > w) {
            self.watermark = Some(event.time);
        }
    }

    fn score_row(&mut self, row: FeatureRow, hold: Option<Hold>, out: &mut Vec<Anomaly>) {
        self.count_rate(&row, hold, out);
        if hold.is_some() {
            return;
        }
        if self.detector.is_trained() {
            self.metrics.events_scored.inc();
        }
        let trained = self.detector.is_trained();
        match self.detector.score(&row) {
            Some(a) if self.dismissals.covers(&a) => {
                self.count_dismissed();
                self.learn(&row);
            }
            Some(a) => self.handle_anomaly(a, out),
            None => {
                self.learn(&row);
                if !trained && self.mode == Mode::Live {
                    // Judged by rules alone so far: the first models judge it again.
                    if self.unjudged.len() >= self.unjudged_cap {
                        self.unjudged.pop_front();
                    }
                    self.unjudged.push_back(row);
                }
            }
        }
        self.handle_joined(out);
        if self.detector.fit_due() {
            self.fit();
            if self.detector.is_trained() {
                self.judge_history(out);
            }
        }
    }

    /// The daemon's first models judge the lines it learned them from, which only rules had
    /// judged: an incident under way when the daemon started is reported from its first line.
    fn judge_history(&mut self, out: &mut Vec<Anomaly>) {
        for row in std::mem::take(&mut self.unjudged) {
            if let Some(a) = self.detector.score(&row) {
                self.handle_anomaly(a, out);
                self.handle_joined(out);
            }
        }
    }

    /// The probes a client sent before the line that caught it as a scanner (see
    /// [`Detector::take_joined`]): reported after that line, in its incident.
    fn handle_joined(&mut self, out: &mut Vec<Anomaly>) {
        for a in self.detector.take_joined() {
            if self.dismissals.covers(&a) {
                self.count_dismissed();
                continue;
            }
            self.handle_anomaly(a, out);
        }
    }

    /// Process a batch of lines; returns the anomalies found (per line, and `volume` windows).
    pub fn process(&mut self, lines: Vec<RawLine>) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let n = lines.len() as u64;
        self.metrics.lines_read.get_or_create(&self.source).inc_by(n);
        if self.journal.is_some() {
            self.held = Some(Vec::new());
        }
        if self.clock.wants_lookahead() {
            // Only at the start of a stream: read the times of the first lines ahead, so the very
            // first line cannot set the clock.
            let ahead = &lines[..lines.len().min(clock::SAMPLES)];
            // A copy of the parser reads them, so what it remembers per stream (headers, held
            // parts of container lines) is not read twice.
            let peek = self.parser.clone();
            let upcoming: Vec<Timestamp> =
                ahead.iter().map(|raw| peek.parse(raw.clone())).filter(|e| e.own_time).map(|e| e.time).collect();
            self.clock.prime(&upcoming, ahead.len());
        }
        for raw in lines {
            let mut event = self.parser.parse(raw);
            if event.format == crate::parse::Format::Directive {
                continue;
            }
            self.census.count(&event);
            self.place_in_time(&mut event);
            if self.patterns.takes(&event) {
                // An application-log message: judged on its template, not by the request models.
                self.count_parsed(&event);
                self.judge_pattern(&event, &mut out);
                continue;
            }
            let row = self.detector.observe(event);
            self.record_metrics(&row);
            let hold = self.detector.hold(&row);
            if let Some(h) = hold {
                self.suppressed[h as usize]
                    .get_or_insert_with(|| {
                        self.metrics.suppressed.get_or_create(&ReasonLabel { reason: h.label().into() }).clone()
                    })
                    .inc();
            }
            match self.mode {
                Mode::LearnOnly => {
                    // Learned unscored, but what a rule flags is never normal.
                    if hold.is_none() && !self.detector.flagged_by_rules(&row) {
                        self.learn(&row);
                    }
                    if self.detector.fit_due() && self.detector.is_trained() {
                        self.fit();
                    }
                }
                Mode::ScanSelfTrained if self.warmup.is_some() => {
                    if hold.is_none() && !self.detector.flagged_by_rules(&row) {
                        self.learn(&row);
                    }
                    let buf = self.warmup.as_mut().expect("checked");
                    buf.push((row, hold));
                    if buf.len() + self.warmup_patterns.len() >= self.training_events {
                        self.end_warmup(&mut out);
                    }
                }
                _ => self.score_row(row, hold, &mut out),
            }
        }
        self.release_held();
        out
    }

    /// The template stage: learned during a history (`LearnOnly`), judged otherwise (a service's
    /// first `patterns.min_history_lines` lines are its history then).
    fn judge_pattern(&mut self, event: &LogEvent, out: &mut Vec<Anomaly>) {
        self.judge_pattern_line(event, out);
        self.report_sessions(out);
    }

    /// Sessions that ended and were found unlike normal ones (see `crate::patterns::session`).
    fn report_sessions(&mut self, out: &mut Vec<Anomaly>) {
        let mut dismissed = 0;
        let found = self.patterns.take_sessions(|a| {
            let covered = self.dismissals.covers(a);
            dismissed += usize::from(covered);
            covered
        });
        self.report_patterns(found, dismissed, out);
    }

    fn judge_pattern_line(&mut self, event: &LogEvent, out: &mut Vec<Anomaly>) {
        if self.mode == Mode::LearnOnly {
            self.patterns.learn(event);
            return;
        }
        if let Some(buf) = &self.warmup {
            // Application lines count towards the warm-up's `detection.training_events` lines.
            if let Some(o) = self.patterns.observe(event) {
                self.patterns.learn_observed(&o);
                self.warmup_patterns.push((buf.len(), event.clone(), o));
            }
            if buf.len() + self.warmup_patterns.len() >= self.training_events {
                self.end_warmup(out);
            }
            return;
        }
        let mut dismissed = 0;
        let found = self.patterns.judge(event, |a| {
            let covered = self.dismissals.covers(a);
            dismissed += usize::from(covered);
            covered
        });
        self.report_patterns(found, dismissed, out);
    }

    fn report_patterns(&mut self, found: Vec<Anomaly>, dismissed: usize, out: &mut Vec<Anomaly>) {
        for _ in 0..dismissed {
            self.count_dismissed();
        }
        for a in found {
            self.handle_anomaly(a, out);
        }
    }

    /// The warm-up's application-log events buffered before row `i`, judged against it.
    fn rejudge_patterns(
        &mut self,
        pending: &mut std::iter::Peekable<impl Iterator<Item = (usize, LogEvent, crate::patterns::stage::Observed)>>,
        i: usize,
        out: &mut Vec<Anomaly>,
    ) {
        while let Some((_, e, o)) = pending.next_if(|(before, _, _)| *before <= i) {
            let mut dismissed = 0;
            let found = self.patterns.rejudge(&e, &o, |a| {
                let covered = self.dismissals.covers(a);
                dismissed += usize::from(covered);
                covered
            });
            self.report_patterns(found, dismissed, out);
        }
    }

    fn end_warmup(&mut self, out: &mut Vec<Anomaly>) {
        let Some(buf) = self.warmup.take() else { return };
        if buf.len() >= 50 {
            let _ = self.fit();
        }
        self.patterns.arm(true);
        let mut patterns = std::mem::take(&mut self.warmup_patterns).into_iter().peekable();
        for (i, (row, hold)) in buf.into_iter().enumerate() {
            self.rejudge_patterns(&mut patterns, i, out);
            self.count_rate(&row, hold, out);
            if hold.is_some() {
                continue;
            }
            if let Some(a) = self.detector.score(&row) {
                self.handle_anomaly(a, out);
                self.handle_joined(out);
            }
        }
        self.rejudge_patterns(&mut patterns, usize::MAX, out);
        self.report_sessions(out);
    }

    /// Set the template gauges (one series per service, `patterns.max_services` at most).
    pub fn publish_pattern_metrics(&self) {
        for (service, templates, new) in self.patterns.counts() {
            let label = crate::metrics::ServiceLabel { service: service.to_string() };
            self.metrics.patterns.get_or_create(&label).set(templates as i64);
            self.metrics.patterns_new.get_or_create(&label).set(new as i64);
        }
    }

    /// The template stage (for `/api/v1/patterns`, `scan`'s summary and the metrics).
    pub fn patterns(&self) -> &crate::patterns::stage::PatternStage {
        &self.patterns
    }

    /// What to save in `models.json`.
    pub fn snapshot(&self) -> super::persist::Snapshot {
        let (trained, window) = self.detector.export();
        super::persist::Snapshot {
            version: super::persist::VERSION,
            saved_at: Timestamp::now(),
            columns: self.columns.clone(),
            trained: trained.cloned(),
            window,
            incidents: self.incidents.export(),
            relearning: self.detector.relearning(),
            rate_profiles: self.detector.rate_profiles(),
            dismissed: self.dismissals.list().to_vec(),
            site: self.detector.site_memory(),
            patterns: self.patterns.snapshot(),
            sessions: self.patterns.sessions_snapshot(),
        }
    }

    fn count_dismissed(&self) {
        self.metrics.suppressed.get_or_create(&ReasonLabel { reason: "dismissed".into() }).inc();
    }

    /// Dismiss `inc` as a false alarm (see [`crate::detect::dismiss`]); it is resolved if open.
    pub fn dismiss(&mut self, inc: &crate::detect::Incident) -> Dismissal {
        let d = self.dismissals.add(inc, Timestamp::now());
        for closed in self.incidents.close_where(|i| i.id == inc.id) {
            self.publish(Finding::IncidentResolved(Arc::new(closed)));
        }
        self.metrics.open_incidents.set(self.incidents.open_count() as i64);
        self.fitted_since_save = true;
        tracing::info!(incident = %inc.id, kind = inc.kind.as_str(), endpoint = %inc.endpoint, max_score = inc.score, "Incident dismissed as a false alarm; anomalies like it are learned, not reported");
        d
    }

    /// Undo the dismissal of incident `id`.
    pub fn undismiss(&mut self, id: &str) -> Option<Dismissal> {
        let d = self.dismissals.remove(id)?;
        self.fitted_since_save = true;
        tracing::info!(incident = %id, "Dismissal undone; anomalies like it are reported again");
        Some(d)
    }

    /// The dismissals in force (for `/api/v1/status`).
    pub fn dismissals(&self) -> Vec<Dismissal> {
        self.dismissals.list().to_vec()
    }

    /// The open incidents (for the incidents journal).
    pub fn open_incidents(&self) -> Vec<crate::detect::Incident> {
        self.incidents.export()
    }

    /// Reopen incidents saved in the journal after `models.json` was written.
    pub fn restore_incidents(&mut self, incidents: Vec<crate::detect::Incident>) {
        self.incidents.restore(incidents);
        self.metrics.open_incidents.set(self.incidents.open_count() as i64);
    }

    /// Resume from `models.json`.
    pub fn restore(&mut self, s: super::persist::Snapshot) {
        let trained = s.trained.is_some();
        self.incidents.restore(s.incidents);
        self.dismissals = Dismissals::from_saved(s.dismissed);
        self.detector.restore(s.trained, s.window);
        self.detector.resume_relearning(s.relearning);
        self.detector.restore_rate_profiles(s.rate_profiles);
        self.detector.restore_site_memory(s.site);
        self.patterns.restore(s.patterns);
        self.patterns.restore_sessions(s.sessions);
        if trained {
            self.label_learned_endpoints();
            for name in crate::detect::engine::MODEL_NAMES {
                self.metrics.model_trained.get_or_create(&ModelLabel { model: name.into() }).set(1);
            }
        }
    }

    /// Close rate windows and quiet incidents as of `now` (event time).
    pub fn tick(&mut self, now: Timestamp) -> Vec<Anomaly> {
        let mut out = Vec::new();
        let closed = self.detector.advance_rate(now);
        self.handle_windows(closed, &mut out);
        self.patterns.tick(now);
        self.report_sessions(&mut out);
        for inc in self.incidents.expire(now) {
            self.publish(Finding::IncidentResolved(Arc::new(inc)));
        }
        self.metrics.open_incidents.set(self.incidents.open_count() as i64);
        out
    }

    /// Accept a new normal for `endpoint` (`*`: every endpoint): forget its baseline and training
    /// events, relearn it from the events that follow, and resolve its open incidents. The models
    /// and the other endpoints' baselines are kept. `endpoint` is the detector's name for it
    /// (`GET /api/users/{id}`); a concrete request (`GET /api/users/42`) is mapped to that.
    pub fn rebaseline(&mut self, endpoint: &str) -> Result<Rebaselined, RebaselineError> {
        let endpoint = endpoint.trim();
        let (endpoint, reset) = if endpoint == "*" {
            for name in crate::detect::engine::MODEL_NAMES {
                self.metrics.model_trained.get_or_create(&ModelLabel { model: name.into() }).set(0);
            }
            ("*".to_string(), self.detector.rebaseline_all())
        } else {
            let Some(name) = self.resolve(endpoint) else {
                return Err(RebaselineError::UnknownEndpoint {
                    endpoint: endpoint.to_string(),
                    known: self.detector.known_endpoints(),
                });
            };
            let reset = self.detector.rebaseline(&name);
            (name, reset)
        };
        // Rule incidents (`suspicious`) are about clients, not baselines: they stay.
        let closed = self
            .incidents
            .close_where(|i| i.kind != AnomalyKind::Suspicious && (endpoint == "*" || i.endpoint == endpoint));
        let incidents_closed = closed.len();
        for inc in closed {
            self.publish(Finding::IncidentResolved(Arc::new(inc)));
        }
        self.metrics.open_incidents.set(self.incidents.open_count() as i64);
        self.fitted_since_save = true;
        tracing::info!(
            endpoint = %endpoint,
            baselines_dropped = reset.baselines_dropped,
            events_dropped = reset.events_dropped,
            incidents_closed,
            relearn_after_events = reset.relearn_after_events,
            "Re-baselined; relearning from new events"
        );
        Ok(Rebaselined { endpoint, reset, incidents_closed })
    }

    /// The detector's name for `name`: as given, or the template of a concrete request.
    fn resolve(&self, name: &str) -> Option<String> {
        let known = |e: &str| self.detector.knows(e) || self.incidents.has_endpoint(e);
        if known(name) {
            return Some(name.to_string());
        }
        let (method, target) = name.split_once(' ')?;
        let (path, _) = crate::parse::endpoint::split_target(target);
        let key = crate::parse::endpoint::request_key(Some(&method.to_ascii_uppercase()), path);
        known(&key).then_some(key)
    }

    /// End of input: score what is still buffered and close every incident.
    /// Which fields each format's lines carried.
    pub fn census(&self) -> &crate::parse::census::Census {
        &self.census
    }

    pub fn finish(&mut self) -> Vec<Anomaly> {
        self.census.warn_remaining();
        let mut out = Vec::new();
        if self.warmup.is_some() {
            self.end_warmup(&mut out);
        }
        self.patterns.finish();
        self.report_sessions(&mut out);
        for inc in self.incidents.close_all() {
            self.publish(Finding::IncidentResolved(Arc::new(inc)));
        }
        self.metrics.open_incidents.set(0);
        out
    }
}

/// One endpoint label's request series (see `Pipeline::request_series`).
struct RequestSeries {
    /// By [`status_class_index`]; each made on its class's first request.
    by_class: [Option<Counter>; crate::metrics::STATUS_CLASSES.len()],
    response_time: Histogram,
}

impl RequestSeries {
    fn new(metrics: &Metrics, label: &str) -> RequestSeries {
        RequestSeries {
            by_class: Default::default(),
            response_time: metrics.response_time.get_or_create(&EndpointLabel { endpoint: label.into() }).clone(),
        }
    }
}
