//! State shared between the pipeline and the HTTP server: recent anomalies and incidents, and the
//! status `/readyz` and `/api/v1/status` report.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::pipeline::{RebaselineError, Rebaselined};
use crate::config::Config;
use crate::detect::dismiss::Dismissal;
use crate::detect::suppress::{MaintenanceWindow, WindowStatus};
use crate::detect::{Anomaly, Incident};
use crate::metrics::Metrics;
use crate::sink::{Finding, FindingSink};

/// A request from the HTTP server to the pipeline, applied between two batches.
#[derive(Debug)]
pub enum PipelineCommand {
    /// See [`Pipeline::rebaseline`](super::pipeline::Pipeline::rebaseline).
    Rebaseline { endpoint: String, reply: oneshot::Sender<Result<Rebaselined, RebaselineError>> },
    /// See [`Pipeline::dismiss`](super::pipeline::Pipeline::dismiss).
    Dismiss { incident: Arc<Incident>, reply: oneshot::Sender<Dismissal> },
    /// See [`Pipeline::undismiss`](super::pipeline::Pipeline::undismiss).
    Undismiss { id: String, reply: oneshot::Sender<Option<Dismissal>> },
    /// See [`PatternStage::report`](crate::patterns::stage::PatternStage::report).
    Patterns { limit: usize, service: Option<String>, reply: oneshot::Sender<serde_json::Value> },
}

/// Training state as reported.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainingStatus {
    /// `rules_only` until the models are trained, then `models_and_rules`.
    pub mode: &'static str,
    pub trained: bool,
    pub window_events: usize,
    pub min_training_events: usize,
    pub last_fit: Option<Timestamp>,
    pub models: Vec<ModelStatus>,
    pub endpoints_tracked: usize,
    /// Re-baselined endpoints judged by rules only until they are relearned.
    pub relearning: Vec<String>,
    /// Endpoints whose request rate is judged by hour of the day for at least one hour (after
    /// that hour has been seen on 3 days).
    pub endpoints_with_daily_profile: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    pub name: &'static str,
    pub trained: bool,
    pub training_events: usize,
    pub threshold: Option<f64>,
    pub fit_ms: Option<f64>,
}

/// Shared, cheap to lock.
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub started: Timestamp,
    pub source_kind: &'static str,
    /// The source has answered (Loki reachable, file opened, demo started).
    pub source_ready: AtomicBool,
    /// The pipeline task is running.
    pub pipeline_running: AtomicBool,
    pub source_error: Mutex<Option<String>>,
    /// The Loki source's own status, when the source is Loki.
    pub loki: Mutex<Option<Arc<crate::source::loki::SourceStatus>>>,
    pub training: Mutex<TrainingStatus>,
    pub lines_processed: AtomicU64,
    /// Per format, the fields its lines carried (`/api/v1/status` `formats`).
    pub formats: Mutex<serde_json::Value>,
    /// Batches the pipeline has processed, in the order the source sent them (the Loki source's
    /// acknowledgements: its cursor on disk never runs ahead of them).
    pub batches_processed: Arc<AtomicU64>,
    /// Why `state.dir` cannot be used (the daemon then runs without persistence).
    pub state_problem: Mutex<Option<String>>,
    /// The dismissals in force, as the pipeline last reported them.
    pub dismissed: Mutex<Vec<Dismissal>>,
    /// This replica's shard (`loki.shard_count` > 1 only).
    pub shard: Option<crate::source::loki::Shard>,
    /// The configured maintenance windows (for `/api/v1/status`).
    maintenance: Vec<MaintenanceWindow>,
    commands: mpsc::Sender<PipelineCommand>,
    recent: Mutex<VecDeque<Arc<Anomaly>>>,
    incidents: Mutex<VecDeque<Arc<Incident>>>,
    capacity: usize,
}

impl AppState {
    /// From a validated config; `commands` reach the pipeline.
    pub fn new(metrics: Arc<Metrics>, cfg: &Config, commands: mpsc::Sender<PipelineCommand>) -> AppState {
        AppState {
            metrics,
            started: Timestamp::now(),
            source_kind: cfg.source.kind.as_str(),
            source_ready: AtomicBool::new(false),
            pipeline_running: AtomicBool::new(false),
            source_error: Mutex::new(None),
            state_problem: Mutex::new(None),
            loki: Mutex::new(None),
            training: Mutex::new(TrainingStatus {
                mode: "rules_only",
                min_training_events: cfg.detection.min_training_events,
                ..Default::default()
            }),
            lines_processed: AtomicU64::new(0),
            formats: Mutex::new(serde_json::json!({})),
            batches_processed: Arc::new(AtomicU64::new(0)),
            dismissed: Mutex::new(Vec::new()),
            shard: (cfg.source.kind == crate::config::SourceKind::Loki && cfg.loki.shard_count > 1).then(|| {
                crate::source::loki::Shard { index: cfg.loki.shard_index.unwrap_or(0), count: cfg.loki.shard_count }
            }),
            maintenance: cfg.suppress.windows().expect("suppress.maintenance is validated at start-up"),
            commands,
            recent: Mutex::new(VecDeque::new()),
            incidents: Mutex::new(VecDeque::new()),
            capacity: cfg.server.recent_anomalies,
        }
    }

    /// The maintenance windows and whether each is open now.
    pub fn maintenance_status(&self) -> Vec<WindowStatus> {
        let now = Timestamp::now();
        self.maintenance.iter().map(|w| w.status(now)).collect()
    }

    /// Ask the pipeline to re-baseline `endpoint`; `None` when the pipeline is not running.
    pub async fn rebaseline(&self, endpoint: String) -> Option<Result<Rebaselined, RebaselineError>> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(PipelineCommand::Rebaseline { endpoint, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Dismiss the recent incident `id`: `None` when no recent incident has that id, `Some(None)`
    /// when the pipeline is not running.
    pub async fn dismiss(&self, id: &str) -> Option<Option<Dismissal>> {
        let incident = self.incidents.lock().expect("not poisoned").iter().find(|i| i.id == id).cloned()?;
        let (reply, answer) = oneshot::channel();
        if self.commands.send(PipelineCommand::Dismiss { incident, reply }).await.is_err() {
            return Some(None);
        }
        Some(answer.await.ok())
    }

    /// Undo the dismissal of incident `id`: `None` when the pipeline is not running.
    pub async fn undismiss(&self, id: &str) -> Option<Option<Dismissal>> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(PipelineCommand::Undismiss { id: id.to_string(), reply }).await.ok()?;
        answer.await.ok()
    }

    /// The pipeline's templates (`GET /api/v1/patterns`): `None` when the pipeline is not running.
    pub async fn patterns(&self, limit: usize, service: Option<String>) -> Option<serde_json::Value> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(PipelineCommand::Patterns { limit, service, reply }).await.ok()?;
        answer.await.ok()
    }

    /// The source has answered: for Loki, its last request succeeded.
    pub fn source_answers(&self) -> bool {
        match &*self.loki.lock().expect("not poisoned") {
            Some(status) => status.loki_reachable(),
            None => self.source_ready.load(Ordering::Relaxed),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.source_answers() && self.pipeline_running.load(Ordering::Relaxed)
    }

    /// The source's last error, if any.
    pub fn last_source_error(&self) -> Option<String> {
        if let Some(status) = &*self.loki.lock().expect("not poisoned") {
            if let Some(e) = status.last_error() {
                return Some(e);
            }
        }
        self.source_error.lock().expect("not poisoned").clone()
    }

    /// Newest first.
    pub fn recent_anomalies(&self, limit: usize) -> Vec<Arc<Anomaly>> {
        self.recent.lock().expect("not poisoned").iter().rev().take(limit).cloned().collect()
    }

    /// Newest first (by last update).
    pub fn recent_incidents(&self, limit: usize) -> Vec<Arc<Incident>> {
        self.incidents.lock().expect("not poisoned").iter().rev().take(limit).cloned().collect()
    }

    fn upsert_incident(&self, inc: &Arc<Incident>) {
        let mut q = self.incidents.lock().expect("not poisoned");
        if let Some(pos) = q.iter().position(|i| i.id == inc.id) {
            q.remove(pos);
        }
        q.push_back(inc.clone());
        while q.len() > self.capacity {
            q.pop_front();
        }
    }
}

/// Keeps recent findings for the HTTP API.
pub struct RecentSink(pub Arc<AppState>);

impl FindingSink for RecentSink {
    fn name(&self) -> &'static str {
        "api"
    }

    fn offer(&self, finding: &Finding) {
        match finding {
            Finding::Anomaly(a) => {
                let mut q = self.0.recent.lock().expect("not poisoned");
                q.push_back(a.clone());
                while q.len() > self.0.capacity {
                    q.pop_front();
                }
            }
            Finding::IncidentOpened(i) | Finding::IncidentUpdated(i) | Finding::IncidentResolved(i) => {
                self.0.upsert_incident(i)
            }
        }
    }
}
