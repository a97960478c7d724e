//! The template stage inside the pipeline: every line that is not a request and has a message is
//! given a template of its service's [`Miner`], and judged on it. A `pattern` anomaly names one of
//! four detectors:
//!
//! - `pattern:new`: a warning or error template the history never had (or had only inside one
//!   short burst of a long history: an incident learned, not a normal). Every line of it in the
//!   `detection.incident_window_secs` after its first is reported, as one incident; after that it
//!   is learned.
//! - `pattern:rate`: a template's lines in the last `patterns.window_secs` far above both its share
//!   of the service's other lines and its own rate in the history (so neither more traffic nor a
//!   quiet hour is a surge). A rare template arriving at once is the same test.
//! - `pattern:level`: the service's warning and error lines in the window far above both their
//!   share of its lines and their rate in the history. The few unflagged ones just before join.
//! - `pattern:param`: a measure in the message (a duration such as `5012ms` or `3 s`, a number
//!   followed by a unit word) far above every value of its slot in the history (per template, per
//!   slot, on the log scale).
//!
//! What is flagged is not learned; what is dismissed is (the dismissal then covers it). Without a
//! level word, a line counts as an error when its message says so (`error`, `failed`, `refused`,
//! `timeout`, `exception`, …).

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::mask::{classify, tokenize, PieceKind, TokenizeOptions, VarKind};
use super::session::Tk;
use super::{Miner, MinerConfig, TemplateId};
use crate::config::{PatternsConfig, Severity};
use crate::detect::{Anomaly, AnomalyKind};
use crate::hash::FastMap;
use crate::parse::{Level, LogEvent};

/// Lines of a template in the window before its rate can be a surge.
const RATE_MIN_LINES: u32 = 10;
/// Warning and error lines of a service in the window before their share can be a surge.
const LEVEL_MIN_LINES: u32 = 5;
/// Values of a slot learned before it is judged.
const PARAM_MIN_VALUES: u64 = 20;
/// Measure slots kept per template.
const MAX_SLOTS: usize = 4;
/// Unflagged warning and error lines held per service, to join a surge found after them.
const HELD_LINES: usize = 8;
/// A history at least this long (s), in which an error template came at least `BURST_MIN_LINES`
/// times but only inside one span this short (s) and a quarter of the history at most, did not
/// learn it as normal: it was an incident.
const BURST_HISTORY_SECS: i64 = 30 * 60;
const BURST_SPAN_SECS: i64 = 15 * 60;
const BURST_MIN_LINES: u64 = 5;
/// Words that make a line without a level an error line.
const ERROR_WORDS: [&str; 14] = [
    "error",
    "fail",
    "fatal",
    "exception",
    "refused",
    "denied",
    "timeout",
    "timed out",
    "panic",
    "invalid",
    "unreachable",
    "cannot",
    "unable",
    "break-in",
];

/// A count of lines that decays with time constant `patterns.window_secs`: about the lines of
/// the last window, in constant memory (a window of 20,000 lines a second would hold over a
/// million lines).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Decayed {
    count: f64,
    at: i64,
}

impl Decayed {
    fn value(&self, now: i64, tau: f64) -> f64 {
        let dt = (now - self.at).max(0) as f64;
        self.count * (-dt / tau).exp()
    }

    fn add(&mut self, now: i64, tau: f64) {
        self.count = self.value(now, tau) + 1.0;
        self.at = self.at.max(now);
    }
}

/// What one measure slot of a template took in the history (values on the log scale).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Slot {
    n: u64,
    mean: f64,
    m2: f64,
    max: f64,
}

impl Slot {
    fn learn(&mut self, v: f64) {
        let x = v.ln_1p();
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.max = self.max.max(v);
    }

    /// How far above the history `v` is, when it is over three times the usual value: the z-score
    /// on the log scale (the spread floored at 10 %).
    fn excess(&self, v: f64) -> Option<f64> {
        if self.n < PARAM_MIN_VALUES || v <= 3.0 * self.usual().max(1.0) {
            return None;
        }
        let sd = (self.m2 / (self.n - 1) as f64).sqrt().max(0.1);
        let z = (v.ln_1p() - self.mean) / sd;
        (z >= 4.0).then_some(z)
    }

    fn usual(&self) -> f64 {
        self.mean.exp_m1()
    }
}

/// What a service's history says about one template.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stats {
    /// Lines learned (the miner keeps every line's count, first and last time).
    learned: u64,
    /// Span of the learned lines (Unix seconds).
    learned_first: i64,
    learned_last: i64,
    /// Lines per level: none or info and below, warn, error, fatal.
    levels: [u64; 4],
    /// Learned lines that were warnings or errors.
    bad: u64,
    /// Judged as new since (its first line after the history), while it is.
    new_since: Option<i64>,
    /// Lines reported as new.
    new_lines: u64,
    /// Learned only inside one short burst of a long history (see `BURST_*`): judged like new.
    burst_only: bool,
    /// Judged new for a whole incident window: the new normal since.
    #[serde(default)]
    accepted: bool,
    /// Its lines of about the last window.
    #[serde(default)]
    recent: Decayed,
    slots: Vec<Slot>,
}

/// A warning or error line no detector flagged, held for a surge found just after it.
#[derive(Debug, Clone)]
struct Held {
    at: i64,
    template: TemplateId,
    anomaly: Anomaly,
}

/// One service's miner and what was learned about its templates.
struct Service {
    name: Arc<str>,
    miner: Miner,
    stats: FastMap<TemplateId, Stats>,
    /// Lines learned, their span, and how many were warnings or errors.
    learned: u64,
    learned_first: i64,
    learned_last: i64,
    learned_bad: u64,
    /// Judging (the history is over).
    armed: bool,
    /// Lines, and warning and error lines, of about the last window.
    recent: Decayed,
    recent_bad: Decayed,
    held: VecDeque<Held>,
    merges_seen: u64,
    new_templates: VecDeque<i64>,
}

/// A saved service (in `models.json`).
#[derive(Serialize, Deserialize)]
pub struct ServiceSnapshot {
    name: String,
    miner: super::Snapshot,
    stats: Vec<(TemplateId, Stats)>,
    learned: u64,
    learned_first: i64,
    learned_last: i64,
    learned_bad: u64,
    armed: bool,
}

/// The stage: services by name.
pub struct PatternStage {
    cfg: PatternsConfig,
    incident_window: i64,
    services: FastMap<Arc<str>, Service>,
    pieces: Vec<super::mask::Piece>,
    /// Lines grouped by an id they carry (`patterns.sessions`); `None` when no key is set.
    sessions: Option<super::session::Sessions>,
}

/// One template, as `/api/v1/patterns` and `scan` list it.
#[derive(Debug, Clone, Serialize)]
pub struct PatternSummary {
    pub service: String,
    pub id: String,
    pub template: String,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Lines by level: `info` (and below, or none), `warn`, `error`, `fatal`.
    pub levels: [u64; 4],
    /// Its first line came after the history.
    pub new: bool,
    pub examples: Vec<String>,
}

fn level_index(l: Option<Level>) -> usize {
    match l {
        Some(Level::Warn) => 1,
        Some(Level::Error) => 2,
        Some(Level::Fatal) => 3,
        _ => 0,
    }
}

/// A warning or an error: by its level, or without one by its words.
fn is_bad(level: Option<Level>, message: &str) -> bool {
    match level {
        Some(l) => l >= Level::Warn,
        None => {
            let head = &message[..super::mask::floor_char_boundary(message, message.len().min(512))];
            let lower = head.to_ascii_lowercase();
            ERROR_WORDS.iter().any(|w| lower.contains(w))
        }
    }
}

fn ts(at: i64) -> Timestamp {
    Timestamp::from_second(at).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn hhmm(at: i64) -> String {
    ts(at).strftime("%H:%M").to_string()
}

/// What the miner is given: a text line whole (the miner leaves its header out, learning the
/// header's columns per service), a structured line's message field.
fn mined_text<'a>(e: &'a LogEvent, message: &'a str) -> &'a str {
    match e.format {
        crate::parse::Format::Text => &e.raw.line,
        _ => message,
    }
}

/// An event the stage mined: its service, template, level and measures.
#[derive(Debug, Clone)]
pub struct Observed {
    service: Arc<str>,
    id: TemplateId,
    at: i64,
    level: usize,
    bad: bool,
    values: Vec<f64>,
}

/// A verdict before it becomes an [`Anomaly`].
struct Verdict {
    detector: &'static str,
    score: f64,
    reason: String,
}

impl Service {
    fn new(name: Arc<str>, max_templates: usize) -> Service {
        Service {
            name,
            miner: Miner::new(MinerConfig { max_templates, ..MinerConfig::default() }),
            stats: FastMap::default(),
            learned: 0,
            learned_first: 0,
            learned_last: 0,
            learned_bad: 0,
            armed: false,
            recent: Decayed::default(),
            recent_bad: Decayed::default(),
            held: VecDeque::new(),
            merges_seen: 0,
            new_templates: VecDeque::new(),
        }
    }

    /// Mine `message` and return its template's current id.
    fn mine(&mut self, message: &str, at: i64) -> TemplateId {
        let raw = self.miner.add_at(message, at.max(0) as u64);
        let merged = self.miner.stats().merged;
        if merged != self.merges_seen {
            self.merges_seen = merged;
            self.fold_merged();
        }
        if self.stats.len() > self.miner.config().max_templates + self.miner.config().max_templates / 10 {
            let miner = &self.miner;
            self.stats.retain(|id, _| miner.resolve(*id) == Some(*id));
        }
        self.miner.resolve(raw).unwrap_or(raw)
    }

    /// Templates merged into another: their statistics join the survivor's.
    fn fold_merged(&mut self) {
        let moved: Vec<(TemplateId, TemplateId)> =
            self.stats.keys().filter_map(|&id| self.miner.resolve(id).filter(|&r| r != id).map(|r| (id, r))).collect();
        for (from, to) in moved {
            let Some(s) = self.stats.remove(&from) else { continue };
            let t = self.stats.entry(to).or_default();
            absorb(t, s);
        }
    }

    fn slide(&mut self, now: i64, window: i64) {
        while self.held.front().is_some_and(|h| h.at <= now - window) {
            self.held.pop_front();
        }
        while self.new_templates.front().is_some_and(|&t| t <= now - 3600) {
            self.new_templates.pop_front();
        }
    }

    fn learn(&mut self, id: TemplateId, at: i64, bad: bool, measures: &[f64]) {
        if self.learned == 0 {
            self.learned_first = at;
        }
        self.learned += 1;
        self.learned_first = self.learned_first.min(at);
        self.learned_last = self.learned_last.max(at);
        self.learned_bad += u64::from(bad);
        let s = self.stats.entry(id).or_default();
        if s.learned == 0 {
            s.learned_first = at;
            s.learned_last = at;
        }
        s.learned += 1;
        s.learned_first = s.learned_first.min(at);
        s.learned_last = s.learned_last.max(at);
        s.bad += u64::from(bad);
        for (i, &v) in measures.iter().enumerate() {
            if s.slots.len() <= i {
                s.slots.push(Slot::default());
            }
            s.slots[i].learn(v);
        }
    }

    /// The history is over: what was learned only in one short burst of a long history is not
    /// normal.
    fn arm(&mut self) {
        if self.armed {
            return;
        }
        self.armed = true;
        let span = self.learned_last - self.learned_first;
        if span < BURST_HISTORY_SECS {
            return;
        }
        for s in self.stats.values_mut() {
            let burst = s.learned_last - s.learned_first;
            s.burst_only =
                s.bad * 2 > s.learned && s.learned >= BURST_MIN_LINES && burst <= BURST_SPAN_SECS && burst * 4 <= span;
        }
    }
}

fn absorb(t: &mut Stats, s: Stats) {
    if s.learned > 0 {
        if t.learned == 0 {
            t.learned_first = s.learned_first;
            t.learned_last = s.learned_last;
        }
        t.learned_first = t.learned_first.min(s.learned_first);
        t.learned_last = t.learned_last.max(s.learned_last);
    }
    t.learned += s.learned;
    t.bad += s.bad;
    for i in 0..4 {
        t.levels[i] += s.levels[i];
    }
    t.new_lines += s.new_lines;
    // The survivor is new only if both were.
    if t.learned > 0 {
        t.new_since = None;
        t.burst_only &= s.burst_only;
    } else {
        t.new_since = match (t.new_since, s.new_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if t.slots.is_empty() {
        t.slots = s.slots;
    }
}

/// The measures of a message, in order: durations converted to milliseconds, numbers followed by
/// a unit word as they are.
fn measures(message: &str, pieces: &mut Vec<super::mask::Piece>, out: &mut Vec<f64>) {
    out.clear();
    if !message.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    // The tokenizer reads the first 2,048 bytes only.
    tokenize(message, TokenizeOptions { mask_quoted: false, max_bytes: 2048 }, pieces);
    for (i, p) in pieces.iter().enumerate() {
        if out.len() >= MAX_SLOTS {
            break;
        }
        if p.kind != PieceKind::Var {
            continue;
        }
        let text = p.text(message);
        match classify(text) {
            Some(VarKind::Duration) => {
                if let Some(ms) = crate::parse::values::parse_duration_ms(text) {
                    out.push(ms);
                }
            }
            Some(VarKind::Integer | VarKind::Decimal) => {
                // The tokenizer makes a unit after a number part of the variable (`5012 ms`).
                let unit = pieces.get(i + 1).filter(|n| n.kind != PieceKind::Punct).map(|n| n.text(message));
                let Some(factor) = unit.and_then(unit_factor) else { continue };
                if let Ok(v) = text.parse::<f64>() {
                    if v.is_finite() && v >= 0.0 {
                        out.push(v * factor);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What a unit word after a number multiplies it by (durations to milliseconds).
fn unit_factor(unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ns" => 1e-6,
        "us" | "µs" => 1e-3,
        "ms" | "msec" | "msecs" | "millis" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "min" | "mins" | "minutes" => 60_000.0,
        "hours" => 3_600_000.0,
        "b" | "bytes" | "rows" | "items" | "records" | "retries" | "attempts" => 1.0,
        "kb" | "kib" => 1024.0,
        "mb" | "mib" => 1024.0 * 1024.0,
        "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

impl PatternStage {
    pub fn new(cfg: &PatternsConfig, incident_window_secs: u64) -> PatternStage {
        PatternStage {
            cfg: cfg.clone(),
            incident_window: incident_window_secs as i64,
            services: FastMap::default(),
            pieces: Vec::new(),
            sessions: super::session::Sessions::new(&cfg.sessions),
        }
    }

    /// The event goes through the stage: a line that is not a request, with a message.
    pub fn takes(&self, e: &LogEvent) -> bool {
        self.cfg.enabled && !e.is_request() && e.message.as_deref().is_some_and(|m| !m.trim().is_empty())
    }

    fn service_name(&self, e: &LogEvent) -> Arc<str> {
        let found = self.cfg.service_labels.iter().find_map(|l| e.raw.labels.get(l)).map(String::as_str);
        let name = found.unwrap_or("logs");
        if let Some((k, _)) = self.services.get_key_value(name) {
            return k.clone();
        }
        if self.services.len() >= self.cfg.max_services {
            return Arc::from("other");
        }
        Arc::from(name)
    }

    fn service(&mut self, e: &LogEvent) -> &mut Service {
        let name = self.service_name(e);
        let max = self.cfg.max_templates;
        self.services.entry(name.clone()).or_insert_with(|| Service::new(name, max))
    }

    /// Mine the event and count it as seen (not learned yet).
    pub fn observe(&mut self, e: &LogEvent) -> Option<Observed> {
        let message = e.message.as_deref()?;
        let mined = mined_text(e, message);
        let at = e.time.as_second();
        let mut values = Vec::new();
        measures(message, &mut self.pieces, &mut values);
        let level = level_index(e.level);
        let bad = is_bad(e.level, message);
        let s = self.service(e);
        let id = s.mine(mined, at);
        s.stats.entry(id).or_default().levels[level] += 1;
        let service = s.name.clone();
        if let Some(sessions) = self.sessions.as_mut() {
            let (resolve, render) = template_fns(&self.services, sessions.service_names().to_vec());
            sessions.add(&e.raw.line, &service, id, at, e.raw.line_no, &e.raw.line, &resolve, &render);
        }
        Some(Observed { service, id, at, level, bad, values })
    }

    /// Learn an observed event as history.
    pub fn learn_observed(&mut self, o: &Observed) {
        if let Some(s) = self.services.get_mut(&o.service) {
            s.learn(o.id, o.at, o.bad, &o.values);
        }
    }

    /// Learn the event as history (a training file, a backfill).
    pub fn learn(&mut self, e: &LogEvent) {
        if let Some(o) = self.observe(e) {
            self.learn_observed(&o);
        }
    }

    /// The history is over for every service: judge from now on. `rejudge`: the history's own
    /// sessions are judged too, once there are enough (`scan` without `--train`).
    pub fn arm(&mut self, rejudge: bool) {
        for s in self.services.values_mut() {
            s.arm();
        }
        if let Some(sessions) = self.sessions.as_mut() {
            let (resolve, render) = template_fns(&self.services, sessions.service_names().to_vec());
            sessions.arm(rejudge, &resolve, &render);
        }
    }

    /// Time moved on to `now` (event time) without a line of the stage: sessions idle since end.
    pub fn tick(&mut self, now: Timestamp) {
        if let Some(sessions) = self.sessions.as_mut() {
            let (resolve, render) = template_fns(&self.services, sessions.service_names().to_vec());
            sessions.sweep(now.as_second(), &resolve, &render);
        }
    }

    /// End of input: every open session ends (and is judged, or learned while the history lasts).
    pub fn finish(&mut self) {
        if let Some(sessions) = self.sessions.as_mut() {
            let (resolve, render) = template_fns(&self.services, sessions.service_names().to_vec());
            sessions.finish(&resolve, &render);
        }
    }

    /// The anomalous sessions found since the last call (see [`super::session::Sessions::take_found`]).
    pub fn take_sessions(&mut self, dismissed: impl FnMut(&Anomaly) -> bool) -> Vec<Anomaly> {
        match self.sessions.as_mut() {
            Some(s) => s.take_found(dismissed),
            None => Vec::new(),
        }
    }

    /// Sessions open, ended and flagged; `None` when sessions are off.
    pub fn session_counts(&self) -> Option<(usize, u64, u64)> {
        self.sessions.as_ref().map(|s| (s.open_count(), s.ended, s.flagged))
    }

    /// Judge the event (learning it unless it is flagged): a service's first
    /// `patterns.min_history_lines` lines are learned unjudged. `dismissed` says whether a
    /// dismissal covers an anomaly: a covered one is learned, not returned. Returns the anomalies
    /// found: the event's own, and earlier lines that join it.
    pub fn judge(&mut self, e: &LogEvent, dismissed: impl FnMut(&Anomaly) -> bool) -> Vec<Anomaly> {
        let Some(o) = self.observe(e) else { return Vec::new() };
        let min_history = self.cfg.min_history_lines;
        let Some(s) = self.services.get_mut(&o.service) else { return Vec::new() };
        if !s.armed && s.learned >= min_history {
            s.arm();
        }
        if !s.armed {
            s.learn(o.id, o.at, o.bad, &o.values);
            return Vec::new();
        }
        self.verdicts(e, &o, true, dismissed)
    }

    /// Judge an event of the history after it was learned (`scan` without `--train`: its warm-up
    /// is the history, and what it held that is not normal is reported too).
    pub fn rejudge(&mut self, e: &LogEvent, o: &Observed, dismissed: impl FnMut(&Anomaly) -> bool) -> Vec<Anomaly> {
        self.verdicts(e, o, false, dismissed)
    }

    fn verdicts(
        &mut self,
        e: &LogEvent,
        o: &Observed,
        learn: bool,
        mut dismissed: impl FnMut(&Anomaly) -> bool,
    ) -> Vec<Anomaly> {
        let window = self.cfg.window_secs as i64;
        let incident_window = self.incident_window;
        let Some(s) = self.services.get_mut(&o.service) else { return Vec::new() };
        // Judged later than mined (`rejudge`), the template may have merged since.
        let id = s.miner.resolve(o.id).unwrap_or(o.id);
        let (at, level, bad, values) = (o.at, o.level, o.bad, &o.values);
        let tau = window as f64;
        s.slide(at, window);
        s.recent.add(at, tau);
        if bad {
            s.recent_bad.add(at, tau);
        }
        let st = s.stats.entry(id).or_default();
        st.recent.add(at, tau);
        let c = st.recent.value(at, tau);
        let mut verdicts: Vec<Verdict> = Vec::new();
        // Rendered only where a verdict may need it.
        let template = if bad || !values.is_empty() || c >= f64::from(RATE_MIN_LINES) {
            s.miner.template(id).unwrap_or_default()
        } else {
            String::new()
        };
        let st = s.stats.entry(id).or_default();
        // New: never learned (or only in a burst of the history), for the incident window.
        if (st.learned == 0 && !st.accepted) || st.burst_only {
            let since = *st.new_since.get_or_insert(at);
            if st.new_lines == 0 && st.learned == 0 {
                s.new_templates.push_back(at);
            }
            if at - since <= incident_window {
                if bad {
                    st.new_lines += 1;
                    let what = if st.burst_only {
                        format!("rare message on {}", s.name)
                    } else {
                        format!("new message on {}", s.name)
                    };
                    verdicts.push(Verdict {
                        detector: "pattern:new",
                        score: 0.9,
                        reason: format!(
                            "{what}: \"{template}\" — {} line{} since {}",
                            st.new_lines,
                            if st.new_lines == 1 { "" } else { "s" },
                            hhmm(since)
                        ),
                    });
                }
            } else {
                // It has lasted an incident window: it is the new normal.
                st.new_since = None;
                st.burst_only = false;
                st.accepted = true;
            }
        }
        let st = s.stats.entry(id).or_default();
        // A measure far above its slot's history.
        for (i, &v) in values.iter().enumerate() {
            if let Some(z) = st.slots.get(i).and_then(|slot| slot.excess(v).map(|z| (z, slot))) {
                let (z, slot) = z;
                verdicts.push(Verdict {
                    detector: "pattern:param",
                    score: (0.7 + z / 100.0).min(0.99),
                    reason: format!(
                        "\"{template}\" on {} with {} where it is usually {} (at most {} in the history)",
                        s.name,
                        show(v),
                        show(slot.usual()),
                        show(slot.max)
                    ),
                });
                break;
            }
        }
        let span = (s.learned_last - s.learned_first).max(window) as f64;
        let in_window = s.recent.value(at, tau);
        // The template's rate.
        let mut rate_surge = false;
        if c >= f64::from(RATE_MIN_LINES) && st.learned > 0 {
            let share = (st.learned as f64 + 0.5) / (s.learned as f64 + 1.0);
            let by_share = if share >= 0.999 { f64::INFINITY } else { share / (1.0 - share) * (in_window - c) };
            let by_time = st.learned as f64 / span * window as f64;
            if surge(c, by_share) && surge(c, by_time) {
                rate_surge = true;
                verdicts.push(Verdict {
                    detector: "pattern:rate",
                    score: 0.8,
                    reason: format!(
                        "\"{template}\" on {}: {} lines in about {window} s where {} were expected",
                        s.name,
                        show(c),
                        show(by_share.max(by_time)),
                    ),
                });
            }
        }
        // The service's warnings and errors.
        let mut joined = Vec::new();
        let mut join_detector = "pattern:level";
        // Only a template that contributes to a surge of the service's warnings and errors is
        // flagged with it: one well above its own share of the window.
        let contributes = |s: &Service, t: TemplateId| {
            let (c, learned) = s.stats.get(&t).map_or((0.0, 0.0), |st| (st.recent.value(at, tau), st.learned as f64));
            let expected = (learned + 0.5) / (s.learned as f64 + 1.0) * in_window;
            c >= 2.0 * expected + 2.0
        };
        let e_w = s.recent_bad.value(at, tau);
        if bad && e_w >= f64::from(LEVEL_MIN_LINES) && contributes(s, id) {
            let share = (s.learned_bad as f64 + 0.5) / (s.learned as f64 + 1.0);
            let by_share = share * in_window;
            let by_time = s.learned_bad as f64 / span * window as f64;
            if surge(e_w, by_share) && surge(e_w, by_time) {
                verdicts.push(Verdict {
                    detector: "pattern:level",
                    score: 0.8,
                    reason: format!(
                        "{} warnings and errors on {} in about {window} s ({:.0} % of its lines) where {} were expected ({:.1} %)",
                        show(e_w),
                        s.name,
                        100.0 * e_w / in_window,
                        show(by_share.max(by_time)),
                        100.0 * share
                    ),
                });
                let held: Vec<Held> = s.held.drain(..).collect();
                joined = held.into_iter().filter(|h| contributes(s, h.template)).map(|h| h.anomaly).collect();
            }
        }
        if rate_surge && joined.is_empty() {
            // The template's own warnings and errors just before the surge was found are its start.
            let (mine, rest): (Vec<Held>, Vec<Held>) = s.held.drain(..).partition(|h| h.template == id);
            s.held = rest.into();
            joined = mine.into_iter().map(|h| h.anomaly).collect();
            join_detector = "pattern:rate";
        }
        let Some(first) = verdicts.first() else {
            if learn {
                s.learn(id, at, bad, values);
            }
            if bad {
                if s.held.len() >= HELD_LINES {
                    s.held.pop_front();
                }
                let a = anomaly(e, &s.name, &template, "pattern:level", 0.7, Severity::Medium, String::new());
                s.held.push_back(Held { at, template: id, anomaly: a });
            }
            return Vec::new();
        };
        let severity = match (first.detector, level) {
            (_, 3) => Severity::Critical,
            ("pattern:new", 2) | ("pattern:param", _) => Severity::High,
            (_, 2) => Severity::High,
            _ => Severity::Medium,
        };
        let score = verdicts.iter().map(|v| v.score).fold(0.0, f64::max);
        let mut a = anomaly(e, &s.name, &template, first.detector, score, severity, first.reason.clone());
        for v in &verdicts[1..] {
            if !a.detectors.iter().any(|d| d == v.detector) {
                a.detectors.push(v.detector.to_string());
            }
        }
        let mut out = Vec::new();
        if dismissed(&a) {
            if learn {
                s.learn(id, at, bad, values);
            }
            if let Some(st) = s.stats.get_mut(&id) {
                st.new_since = None;
                st.burst_only = false;
                st.accepted = true;
            }
        } else {
            out.push(a);
        }
        for mut j in joined {
            j.reason = format!("{} (this line came just before)", first.reason);
            j.detectors = vec![join_detector.into()];
            j.endpoint = out.first().map_or(j.endpoint, |a: &Anomaly| a.endpoint.clone());
            if !dismissed(&j) {
                out.push(j);
            }
        }
        out
    }

    /// Templates of every service, most lines first, at most `limit`.
    pub fn summaries(&self, limit: usize) -> Vec<PatternSummary> {
        let mut out: Vec<PatternSummary> = Vec::new();
        for s in self.services.values() {
            for info in s.miner.templates() {
                let st = s.stats.get(&info.id);
                out.push(PatternSummary {
                    service: s.name.to_string(),
                    id: format!("{:x}", info.id.as_u64()),
                    template: info.template,
                    count: info.count,
                    first_seen: ts(info.first_seen as i64),
                    last_seen: ts(info.last_seen as i64),
                    levels: st.map_or([0; 4], |st| st.levels),
                    new: st.is_some_and(|st| st.new_since.is_some() || st.accepted || st.new_lines > 0),
                    examples: info.examples,
                });
            }
        }
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.template.cmp(&b.template)));
        out.truncate(limit);
        out
    }

    /// Per service: templates kept, and new templates in the last hour.
    pub fn counts(&self) -> Vec<(Arc<str>, usize, usize)> {
        let mut v: Vec<_> =
            self.services.values().map(|s| (s.name.clone(), s.miner.len(), s.new_templates.len())).collect();
        v.sort();
        v
    }

    /// `GET /api/v1/patterns`: per service its template count and new templates in the last hour,
    /// the `limit` templates with most lines (of `service` only, when given), and the templates
    /// first seen after the history in the hour before `now`.
    pub fn report(&self, limit: usize, service: Option<&str>, now: Timestamp) -> serde_json::Value {
        let services: Vec<serde_json::Value> = self
            .counts()
            .into_iter()
            .map(|(name, templates, new)| serde_json::json!({"service": &*name, "templates": templates, "new_last_hour": new}))
            .collect();
        let mut all = self.summaries(usize::MAX);
        if let Some(svc) = service {
            all.retain(|p| p.service == svc);
        }
        let hour_ago = now - jiff::SignedDuration::from_secs(3600);
        let mut new: Vec<&PatternSummary> = all.iter().filter(|p| p.new && p.first_seen >= hour_ago).collect();
        new.sort_by_key(|p| std::cmp::Reverse(p.first_seen));
        new.truncate(limit);
        let errors: Vec<&PatternSummary> = all.iter().filter(|p| p.levels[2] + p.levels[3] > 0).take(limit).collect();
        serde_json::json!({
            "services": services,
            "top": &all[..all.len().min(limit)],
            "top_errors": errors,
            "new_last_hour": new,
            "sessions": self.sessions.as_ref().map(|s| serde_json::json!({
                "open": s.open_count(),
                "ended": s.ended,
                "flagged": s.flagged,
                "history": s.history_len(),
                "judging": s.judging(),
            })),
        })
    }

    /// What is saved in `models.json`.
    pub fn snapshot(&self) -> Vec<ServiceSnapshot> {
        self.services
            .values()
            .map(|s| ServiceSnapshot {
                name: s.name.to_string(),
                miner: s.miner.snapshot(),
                stats: s.stats.iter().map(|(k, v)| (*k, v.clone())).collect(),
                learned: s.learned,
                learned_first: s.learned_first,
                learned_last: s.learned_last,
                learned_bad: s.learned_bad,
                armed: s.armed,
            })
            .collect()
    }

    /// The sessions to save, when they are on.
    pub fn sessions_snapshot(&self) -> Option<super::session::SessionsSnapshot> {
        self.sessions.as_ref().map(|s| s.snapshot())
    }

    /// Restore saved sessions (after the services, whose template ids they use).
    pub fn restore_sessions(&mut self, saved: Option<super::session::SessionsSnapshot>) {
        if let (Some(s), Some(saved)) = (self.sessions.as_mut(), saved) {
            s.restore(saved);
        }
    }

    /// Restore what was saved; a service whose miner cannot be restored starts again (logged).
    pub fn restore(&mut self, saved: Vec<ServiceSnapshot>) {
        for snap in saved {
            let miner = match Miner::restore(snap.miner) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(service = %snap.name, error = %e, "Saved templates unusable; this service learns them again");
                    continue;
                }
            };
            let name: Arc<str> = Arc::from(snap.name.as_str());
            let mut s = Service::new(name.clone(), self.cfg.max_templates);
            s.merges_seen = miner.stats().merged;
            s.miner = miner;
            s.stats = snap.stats.into_iter().collect();
            s.learned = snap.learned;
            s.learned_first = snap.learned_first;
            s.learned_last = snap.learned_last;
            s.learned_bad = snap.learned_bad;
            s.armed = snap.armed;
            self.services.insert(name, s);
        }
    }
}

/// How sessions resolve a template of a service (merged since) and render it.
fn template_fns<'a>(
    services: &'a FastMap<Arc<str>, Service>,
    names: Vec<Arc<str>>,
) -> (impl Fn(Tk) -> Tk + 'a, impl Fn(Tk) -> String + 'a) {
    let names2 = names.clone();
    let resolve = move |(svc, id): Tk| {
        let r = names.get(svc as usize).and_then(|n| services.get(n)).and_then(|s| s.miner.resolve(id));
        (svc, r.unwrap_or(id))
    };
    let render = move |(svc, id): Tk| {
        names2
            .get(svc as usize)
            .and_then(|n| services.get(n))
            .and_then(|s| s.miner.template(id))
            .unwrap_or_else(|| "(a template since forgotten)".to_string())
    };
    (resolve, render)
}

/// `c` lines where `expected` were: a surge when well beyond Poisson noise and several times more.
fn surge(c: f64, expected: f64) -> bool {
    c >= 4.0 * expected + 3.0 * expected.sqrt() + 1.0
}

fn show(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn anomaly(
    e: &LogEvent,
    service: &str,
    template: &str,
    detector: &str,
    score: f64,
    severity: Severity,
    reason: String,
) -> Anomaly {
    Anomaly {
        line: (e.raw.line_no > 0).then_some(e.raw.line_no),
        timestamp: e.time,
        kind: AnomalyKind::Pattern,
        detectors: vec![detector.to_string()],
        score,
        severity,
        endpoint: format!("{service}: {template}"),
        client: None,
        session: None,
        reason,
        features: Vec::new(),
        raw: Some(e.raw.line.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(m: &str) -> Vec<f64> {
        let mut pieces = Vec::new();
        let mut out = Vec::new();
        measures(m, &mut pieces, &mut out);
        out
    }

    /// Regression: a message without a level, longer than 512 bytes with a multi-byte character
    /// across byte 512, panicked when its words were read.
    #[test]
    fn a_long_message_without_a_level_is_read_at_a_char_boundary() {
        // `é` takes bytes 511 and 512: a cut at 512 falls inside it.
        let message = format!("{}é failed", "x".repeat(511));
        assert!(!message.is_char_boundary(512));
        assert!(!is_bad(None, &message), "only the first 512 bytes are read");
        assert!(is_bad(None, &format!("{}failed {}", "é".repeat(100), "é".repeat(300))));
    }

    #[test]
    fn measures_are_durations_and_numbers_with_a_unit() {
        assert_eq!(measured("db: query took 5012 ms"), [5012.0]);
        assert_eq!(measured("timed out after 3.5s calling payments"), [3500.0]);
        assert_eq!(measured("order 123456 placed by user 42 in 35ms"), [35.0]);
        assert_eq!(measured("read 2048 bytes in 2 s"), [2048.0, 2000.0]);
        assert!(measured("job 17 done").is_empty(), "an id is not a measure");
    }

    fn event(line: &str, at: i64) -> LogEvent {
        let parser = crate::parse::Parser::new(&crate::config::ParseConfig::default());
        let mut e = parser.parse(crate::source::RawLine::new(Timestamp::from_second(at).unwrap(), line, 1));
        e.time = Timestamp::from_second(at).unwrap();
        e
    }

    fn stage() -> PatternStage {
        PatternStage::new(&PatternsConfig::default(), 300)
    }

    /// Regression: a warm-up event judged after its template merged into another panicked
    /// (its statistics had moved to the survivor).
    #[test]
    fn an_event_judged_after_its_template_merged_is_judged_on_the_merged_one() {
        let mut st = stage();
        let mut observed = Vec::new();
        for (i, user) in ["alice", "bob", "carol", "dave", "erin", "frank"].iter().enumerate() {
            let e = event(
                &format!("2026-11-24T08:00:0{i}Z ERROR auth: login refused for {user}"),
                1_795_507_200 + i as i64,
            );
            let o = st.observe(&e).unwrap();
            st.learn_observed(&o);
            observed.push((e, o));
        }
        st.arm(false);
        let logs = &st.services["logs"];
        assert!(
            observed.iter().any(|(_, o)| logs.miner.resolve(o.id) != Some(o.id)),
            "some of the templates merged into another"
        );
        for (e, o) in &observed {
            assert!(st.rejudge(e, o, |_| false).is_empty(), "learned: not new");
        }
    }

    #[test]
    fn restored_templates_are_known_and_keep_their_ids() {
        let mut st = stage();
        let t0 = 1_795_507_200;
        for i in 0..1200 {
            st.learn(&event(&format!("INFO db: query took {} ms", 10 + i % 20), t0 + i));
            st.learn(&event(&format!("WARN cache: miss for key user:{}", i % 97), t0 + i));
        }
        st.arm(false);
        let json = serde_json::to_string(&st.snapshot()).unwrap();
        let mut back = stage();
        back.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(
            st.summaries(10).iter().map(|p| &p.id).collect::<Vec<_>>(),
            back.summaries(10).iter().map(|p| &p.id).collect::<Vec<_>>()
        );
        let warn = event("WARN cache: miss for key user:5", t0 + 5000);
        assert!(back.judge(&warn, |_| false).is_empty(), "a known warning after a restart is not new");
        let slow = event("INFO db: query took 4000 ms", t0 + 5001);
        let found = back.judge(&slow, |_| false);
        assert_eq!(found.len(), 1, "the slots survived the restart too");
        assert_eq!(found[0].detectors, ["pattern:param"]);
        let new = event("ERROR db: connection to 10.0.0.7:5432 refused", t0 + 5002);
        let found = back.judge(&new, |_| false);
        assert_eq!(found[0].detectors, ["pattern:new"], "{found:?}");
        assert!(found[0].reason.starts_with("new message on logs: "), "{}", found[0].reason);
    }

    #[test]
    fn a_dismissed_new_message_is_learned() {
        let mut st = stage();
        let t0 = 1_795_507_200;
        for i in 0..1200 {
            st.learn(&event(&format!("INFO worker: job {i} done"), t0 + i));
        }
        st.arm(false);
        let e = event("ERROR worker: disk quota exceeded", t0 + 2000);
        assert!(st.judge(&e, |_| true).is_empty(), "covered by a dismissal");
        assert!(st.judge(&e, |_| false).is_empty(), "and learned: not new any more");
    }
}
