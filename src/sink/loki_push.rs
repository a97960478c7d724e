//! `LokiPushSink`: pushes incidents and anomalous lines back to Loki (`POST /loki/api/v1/push`), so
//! Grafana can list them next to the logs they came from.
//!
//! Each finding becomes one JSON line under a low-cardinality stream
//! `{job="anomaly-detector", kind="…", severity="…"}`; everything per-request (endpoint, client, reason,
//! the original line) stays in the line, redacted first:
//!
//! ```text
//! {"type":"incident","state":"opened","id":"…","kind":"suspicious","severity":"high","score":0.97,
//!  "reason":"…","endpoint":"GET /api/users","client":"203.0.113.9","count":3,"first_seen":"…",
//!  "last_seen":"…","detectors":["rule:sql_injection"],"line":"{\"time\":…}"}
//! ```
//!
//! [`LokiPushSink::offer`] only clones an `Arc` into a bounded queue; when the queue is full the finding
//! is dropped and counted. A background task batches (by size and time), retries 429, 5xx, timeouts and
//! connection errors with capped exponential backoff, never retries a 400 (a partial 400 counts only the
//! entries Loki ignored), and flushes what it holds on shutdown. Entry outcomes are counted in
//! `anomaly_detector_alerts_total{channel="loki_push", outcome="sent|rejected|failed|queue_full"}`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::LokiPushConfig;
use crate::detect::{Anomaly, Incident};
use crate::metrics::{ChannelOutcomeLabels, Metrics};
use crate::redact::Redactor;
use crate::sink::finding::{Finding, FindingSink};

/// The `job` label of every pushed stream.
pub const JOB: &str = "anomaly-detector";
/// The `channel` label of this sink's counts in `anomaly_detector_alerts_total`.
pub const CHANNEL: &str = "loki_push";
/// Outcomes counted per entry.
pub const OUTCOMES: [&str; 4] = ["sent", "rejected", "failed", "queue_full"];
/// Longest original line pushed, in bytes (Loki's default entry limit is 256 KiB).
const MAX_LINE_BYTES: usize = 32 * 1024;
/// Longest response body kept for a log message.
const MAX_ERROR_BODY: usize = 512;

/// Why one push attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("Loki answered {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("Loki is rate limiting (429): {body}")]
    RateLimited { body: String, retry_after: Option<Duration> },
    #[error("Loki answered {status}: {body}")]
    Server { status: u16, body: String },
    #[error("push timed out")]
    Timeout,
    #[error("cannot connect to Loki: {0}")]
    Connect(String),
    #[error("push failed: {0}")]
    Other(String),
}

impl PushError {
    /// Short, bounded label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            PushError::Rejected { .. } => "http_4xx",
            PushError::RateLimited { .. } => "http_429",
            PushError::Server { .. } => "http_5xx",
            PushError::Timeout => "timeout",
            PushError::Connect(_) => "connect",
            PushError::Other(_) => "other",
        }
    }
}

/// A finding as queued (cheap `Arc` clones).
enum Queued {
    Anomaly(Arc<Anomaly>),
    Incident(&'static str, Arc<Incident>),
}

/// The pushed JSON line.
#[derive(Serialize)]
struct PushedLine<'a> {
    #[serde(rename = "type")]
    kind_of: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    kind: &'static str,
    severity: &'static str,
    score: f64,
    reason: Cow<'a, str>,
    endpoint: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<Cow<'a, str>>,
    count: u64,
    first_seen: String,
    last_seen: String,
    detectors: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<Cow<'a, str>>,
}

fn cap_line(s: &str) -> &str {
    if s.len() <= MAX_LINE_BYTES {
        return s;
    }
    let mut end = MAX_LINE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One encoded entry: stream key, timestamp (ns since the epoch) and line.
struct Entry {
    kind: &'static str,
    severity: &'static str,
    ts_ns: i128,
    line: String,
}

fn encode(q: &Queued, redactor: &Redactor) -> Option<Entry> {
    let redact = |s: &'_ str| Cow::Owned(redactor.redact(s).into_owned());
    let (ts, pushed) = match q {
        Queued::Anomaly(a) => (
            a.timestamp,
            PushedLine {
                kind_of: "anomaly",
                state: None,
                id: None,
                kind: a.kind.as_str(),
                severity: a.severity.as_str(),
                score: a.score,
                reason: redact(&a.reason),
                endpoint: redact(&a.endpoint),
                client: a.client.as_deref().map(redact),
                count: 1,
                first_seen: a.timestamp.to_string(),
                last_seen: a.timestamp.to_string(),
                detectors: &a.detectors,
                line: a.raw.as_deref().map(|l| redact(cap_line(l))),
            },
        ),
        Queued::Incident(state, i) => (
            if *state == "opened" { i.first_seen } else { i.last_seen },
            PushedLine {
                kind_of: "incident",
                state: Some(state),
                id: Some(&i.id),
                kind: i.kind.as_str(),
                severity: i.severity.as_str(),
                score: i.score,
                reason: redact(&i.reason),
                endpoint: redact(&i.endpoint),
                client: i.client.as_deref().map(redact),
                count: i.count,
                first_seen: i.first_seen.to_string(),
                last_seen: i.last_seen.to_string(),
                detectors: &i.detectors,
                line: i.examples.iter().find_map(|e| e.raw.as_deref()).map(|l| redact(cap_line(l))),
            },
        ),
    };
    let line = serde_json::to_string(&pushed).ok()?;
    Some(Entry { kind: pushed.kind, severity: pushed.severity, ts_ns: ts.as_nanosecond(), line })
}

/// Entries waiting to be sent, grouped by stream.
#[derive(Default)]
struct Batch {
    streams: BTreeMap<(&'static str, &'static str), Vec<(i128, String)>>,
    len: usize,
}

impl Batch {
    fn push(&mut self, e: Entry) {
        self.streams.entry((e.kind, e.severity)).or_default().push((e.ts_ns, e.line));
        self.len += 1;
    }

    /// The push request body; entries of each stream in time order.
    fn body(&mut self) -> Vec<u8> {
        let streams: Vec<serde_json::Value> = self
            .streams
            .iter_mut()
            .map(|((kind, severity), values)| {
                values.sort_by_key(|(ts, _)| *ts);
                let values: Vec<[String; 2]> = values.iter().map(|(ts, l)| [ts.to_string(), l.clone()]).collect();
                serde_json::json!({
                    "stream": { "job": JOB, "kind": kind, "severity": severity },
                    "values": values,
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap_or_default()
    }
}

/// Entries a 400 says were ignored (`total ignored: N out of M` per stream); `None` if it does not say.
pub fn ignored_entries(body: &str) -> Option<u64> {
    let mut found = None;
    for part in body.split("total ignored: ").skip(1) {
        let n: u64 = part.split_whitespace().next()?.parse().ok()?;
        found = Some(found.unwrap_or(0) + n);
    }
    found
}

/// The push sink: cheap to call, never blocks. Implements [`FindingSink`].
pub struct LokiPushSink {
    tx: mpsc::Sender<Queued>,
    metrics: Arc<Metrics>,
    include_anomalies: bool,
}

impl LokiPushSink {
    /// Start the pushing task. Pass the section already [`resolved`](LokiPushConfig::resolved) against
    /// `[loki]`. The task ends when `shutdown` is cancelled (after flushing what it holds) or when the
    /// sink is dropped.
    pub fn spawn(
        cfg: &LokiPushConfig,
        redactor: Arc<Redactor>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> (LokiPushSink, JoinHandle<()>) {
        for outcome in OUTCOMES {
            let _ = metrics.alerts.get_or_create(&labels(outcome));
        }
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let worker = Worker::new(cfg, redactor, metrics.clone());
        let handle = tokio::spawn(worker.run(rx, shutdown));
        (LokiPushSink { tx, metrics, include_anomalies: cfg.include_anomalies }, handle)
    }
}

impl FindingSink for LokiPushSink {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn offer(&self, finding: &Finding) {
        let q = match finding {
            Finding::Anomaly(a) if self.include_anomalies => Queued::Anomaly(a.clone()),
            Finding::Anomaly(_) => return,
            Finding::IncidentOpened(i) => Queued::Incident("opened", i.clone()),
            Finding::IncidentUpdated(i) => Queued::Incident("updated", i.clone()),
            Finding::IncidentResolved(i) => Queued::Incident("resolved", i.clone()),
        };
        match self.tx.try_send(q) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => count(&self.metrics, "queue_full", 1),
            Err(mpsc::error::TrySendError::Closed(_)) => count(&self.metrics, "failed", 1),
        }
    }
}

fn labels(outcome: &str) -> ChannelOutcomeLabels {
    ChannelOutcomeLabels { channel: CHANNEL.into(), outcome: outcome.into() }
}

fn count(metrics: &Metrics, outcome: &str, n: u64) {
    if n > 0 {
        metrics.alerts.get_or_create(&labels(outcome)).inc_by(n);
    }
}

fn read_secret(value: &str, file: Option<&std::path::Path>, what: &str) -> String {
    match file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s.trim().to_string(),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "Cannot read the Loki push {what} file; pushing without it.");
                String::new()
            }
        },
        None => value.to_string(),
    }
}

struct Worker {
    http: reqwest::Client,
    push_url: String,
    tenant_id: String,
    username: String,
    password: String,
    bearer_token: String,
    batch_size: usize,
    batch_wait: Duration,
    max_retries: u32,
    retry_backoff: Duration,
    max_backoff: Duration,
    redactor: Arc<Redactor>,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn new(cfg: &LokiPushConfig, redactor: Arc<Redactor>, metrics: Arc<Metrics>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
            .user_agent(concat!("anomaly-detector/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "Cannot build the Loki push HTTP client; using the default one.");
                reqwest::Client::new()
            });
        if cfg.url.is_empty() {
            tracing::warn!("outputs.loki_push.url is empty (resolve it against loki.url); every push will fail.");
        }
        Worker {
            http,
            push_url: format!("{}/loki/api/v1/push", cfg.url.trim_end_matches('/')),
            tenant_id: cfg.tenant_id.clone(),
            username: cfg.username.clone(),
            password: read_secret(&cfg.password, cfg.password_file.as_deref(), "password"),
            bearer_token: read_secret(&cfg.bearer_token, cfg.bearer_token_file.as_deref(), "bearer token"),
            batch_size: cfg.batch_size.max(1),
            batch_wait: Duration::from_millis(cfg.batch_wait_ms.max(1)),
            max_retries: cfg.max_retries,
            retry_backoff: Duration::from_millis(cfg.retry_backoff_ms.max(1)),
            max_backoff: Duration::from_millis(cfg.max_backoff_ms.max(cfg.retry_backoff_ms).max(1)),
            redactor,
            metrics,
        }
    }

    async fn run(self, mut rx: mpsc::Receiver<Queued>, shutdown: CancellationToken) {
        let mut batch = Batch::default();
        let mut deadline: Option<Instant> = None;
        loop {
            let wake = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(q) => {
                        self.add(&mut batch, &q);
                        deadline.get_or_insert_with(|| Instant::now() + self.batch_wait);
                        if batch.len >= self.batch_size {
                            self.flush(&mut batch, &shutdown).await;
                            deadline = None;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(wake), if deadline.is_some() => {
                    self.flush(&mut batch, &shutdown).await;
                    deadline = None;
                }
            }
        }
        // Shutdown: take what is queued, send it with no further waiting.
        rx.close();
        while let Ok(q) = rx.try_recv() {
            self.add(&mut batch, &q);
            if batch.len >= self.batch_size {
                self.flush(&mut batch, &shutdown).await;
            }
        }
        self.flush(&mut batch, &shutdown).await;
        tracing::debug!("Loki push sink stopped.");
    }

    fn add(&self, batch: &mut Batch, q: &Queued) {
        match encode(q, &self.redactor) {
            Some(e) => batch.push(e),
            None => count(&self.metrics, "failed", 1),
        }
    }

    /// Send the batch, retrying what can be retried; every entry ends counted under one outcome.
    async fn flush(&self, batch: &mut Batch, shutdown: &CancellationToken) {
        let n = batch.len as u64;
        if n == 0 {
            return;
        }
        let body = batch.body();
        *batch = Batch::default();
        let mut backoff = self.retry_backoff;
        let mut attempt = 0u32;
        loop {
            let err = match self.send(body.clone()).await {
                Ok(()) => return count(&self.metrics, "sent", n),
                Err(e) => e,
            };
            if let PushError::Rejected { status, body } = &err {
                let ignored = if *status == 400 { ignored_entries(body).map(|i| i.min(n)) } else { None };
                let rejected = ignored.unwrap_or(n);
                count(&self.metrics, "sent", n - rejected);
                count(&self.metrics, "rejected", rejected);
                tracing::warn!(status, entries = n, rejected, body = %body, "Loki rejected pushed entries; dropped, not retried.");
                return;
            }
            if attempt >= self.max_retries || shutdown.is_cancelled() {
                count(&self.metrics, "failed", n);
                tracing::warn!(
                    error = err.label(),
                    attempts = attempt + 1,
                    entries = n,
                    "Giving up on a Loki push: {err}."
                );
                return;
            }
            attempt += 1;
            let mut wait = backoff;
            if let PushError::RateLimited { retry_after: Some(ra), .. } = &err {
                wait = wait.max((*ra).min(self.max_backoff));
            }
            tracing::warn!(
                error = err.label(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "Loki push failed, retrying: {err}."
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // One last immediate attempt, then the shutdown check above gives up.
                _ = shutdown.cancelled() => {}
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), PushError> {
        let mut req =
            self.http.post(&self.push_url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        if !self.tenant_id.is_empty() {
            req = req.header("X-Scope-OrgID", &self.tenant_id);
        }
        if !self.bearer_token.is_empty() {
            req = req.bearer_auth(&self.bearer_token);
        } else if !self.username.is_empty() {
            req = req.basic_auth(&self.username, Some(&self.password));
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                PushError::Timeout
            } else if e.is_connect() {
                PushError::Connect(e.to_string())
            } else {
                PushError::Other(e.to_string())
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = crate::retry_after::from_headers(resp.headers());
        let mut text = resp.text().await.unwrap_or_default();
        if text.len() > MAX_ERROR_BODY * 4 {
            text.truncate(cap_at(&text, MAX_ERROR_BODY * 4));
        }
        let body = text.trim_end().to_string();
        Err(match status.as_u16() {
            429 => PushError::RateLimited { body: short(&body), retry_after },
            s @ 500..=599 => PushError::Server { status: s, body: short(&body) },
            s => PushError::Rejected { status: s, body },
        })
    }
}

fn cap_at(s: &str, max: usize) -> usize {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn short(s: &str) -> String {
    s[..cap_at(s, MAX_ERROR_BODY)].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loki/");
        std::fs::read_to_string(format!("{p}{name}")).unwrap()
    }

    #[test]
    fn partial_rejections_count_only_the_ignored_entries() {
        assert_eq!(ignored_entries(&fixture("push_error_partial_too_far_behind_400.txt")), Some(2));
        assert_eq!(ignored_entries(&fixture("push_error_entry_too_far_behind_400.txt")), Some(1));
        assert_eq!(ignored_entries(&fixture("push_error_malformed_json_400.txt")), None);
        assert_eq!(
            ignored_entries("total ignored: 2 out of 3 for stream: {a=\"1\"}\ntotal ignored: 4 out of 4"),
            Some(6)
        );
        assert_eq!(ignored_entries("total ignored: lots"), None);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let s = "é".repeat(MAX_LINE_BYTES);
        let c = cap_line(&s);
        assert!(c.len() <= MAX_LINE_BYTES && c.len() >= MAX_LINE_BYTES - 1);
        assert_eq!(cap_line("short"), "short");
        assert_eq!(short(&"ü".repeat(MAX_ERROR_BODY)).len(), MAX_ERROR_BODY);
    }
}
