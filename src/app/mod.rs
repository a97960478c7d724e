//! The app: wires source → pipeline → sinks and the HTTP server, owns the schedule and shutdown.

pub mod clock;
pub mod persist;
pub mod pipeline;
pub mod shard;
pub mod state;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceKind};
use crate::detect::engine::MODEL_NAMES;
use crate::metrics::Metrics;
use crate::sink::console::ConsoleSink;
use crate::sink::FindingSink;
use crate::source::{RawLine, SourceError};
use pipeline::{Mode, Pipeline};
use state::{AppState, ModelStatus, PipelineCommand, RecentSink, TrainingStatus};

/// What stops the daemon.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("source failed: {0}")]
    Source(#[from] SourceError),
    #[error("internal task failed: {0}")]
    Task(String),
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
}

impl AppError {
    /// The key and problem when a setting cannot be used (exit code 2).
    pub fn config_error(&self) -> Option<(&str, &str)> {
        match self {
            AppError::Source(SourceError::Config { key, problem }) | AppError::Config { key, problem } => {
                Some((key, problem))
            }
            _ => None,
        }
    }
}

/// What `run` checks before it starts anything, shared with `check-config` so that both say the
/// same: every setting that can only be checked by using it (secret files and `*_env` variables,
/// the Loki client's files, redaction patterns) and whether `state.dir` can hold state.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Why `state.dir` cannot be used, if it cannot: the daemon then runs without persistence.
    pub state_problem: Option<String>,
    /// The redactor of `[redaction]`, built once for the pipeline and every sink.
    pub redactor: Arc<crate::redact::Redactor>,
    /// With `loki.shard_count` > 1: this replica's shard and state directory.
    pub placement: Option<shard::Placement>,
}

impl Preflight {
    /// One line on where this replica stands and what it found (check-config and run say it), and
    /// whether it reports a changed `loki.shard_count` (a warning).
    pub fn describe_shard(&self, cfg: &Config) -> Option<(String, bool)> {
        match &self.placement {
            Some(p) => {
                let from =
                    p.from_hostname.as_ref().map(|h| format!(" (index from the hostname {h:?})")).unwrap_or_default();
                let mut line = format!(
                    "replica: shard {} of {}{from}, state in {}",
                    p.shard.index,
                    p.shard.count,
                    p.state_dir.display()
                );
                if let Some(prev) = &p.previous {
                    line.push_str(&format!(
                        "; loki.shard_count changed ({prev}): this shard starts a new state (a backfill of its streams, new models) and leaves the old one in place"
                    ));
                }
                Some((line, p.previous.is_some()))
            }
            None if cfg.source.kind == SourceKind::Loki => shard::other_assignments(&cfg.state.dir, 1).map(|prev| {
                let line = format!(
                    "loki.shard_count changed ({prev}): this single instance reads every stream with the state in {}",
                    cfg.state.dir.display()
                );
                (line, true)
            }),
            None => None,
        }
    }

    /// The config `run` goes on with: the replica's shard index and state directory filled in.
    pub fn apply(&self, mut cfg: Config) -> Config {
        if let Some(p) = &self.placement {
            cfg.loki.shard_index = Some(p.shard.index);
            cfg.state.dir = p.state_dir.clone();
        }
        cfg
    }
}

/// See [`Preflight`]. Errors name the key (exit code 2); secrets' values are never included.
pub fn preflight(cfg: &Config) -> Result<Preflight, AppError> {
    let redactor = Arc::new(
        crate::redact::Redactor::new(&cfg.redaction)
            .map_err(|e| AppError::Config { key: "redaction.patterns".into(), problem: e.to_string() })?,
    );
    if cfg.alerting.has_channels() {
        for (_, built) in crate::sink::alert::build_channels(&cfg.alerting) {
            match built {
                Ok(_) => {}
                Err(crate::sink::alert::SinkError::Config { key, problem }) => {
                    return Err(AppError::Config { key, problem })
                }
                Err(other) => return Err(AppError::Task(other.to_string())),
            }
        }
    }
    if cfg.source.kind == SourceKind::Loki {
        crate::source::loki::client::LokiClient::new(&cfg.loki, Arc::new(Metrics::new()))?;
    }
    if cfg.outputs.loki_push.enabled {
        let push = cfg.outputs.loki_push.resolved(&cfg.loki);
        for (key, file) in [
            ("outputs.loki_push.password_file", &push.password_file),
            ("outputs.loki_push.bearer_token_file", &push.bearer_token_file),
        ] {
            if let Some(path) = file {
                if let Err(e) = std::fs::read_to_string(path) {
                    return Err(AppError::Config {
                        key: key.into(),
                        problem: format!("cannot read {}: {}", path.display(), e.kind()),
                    });
                }
            }
        }
    }
    let placement =
        if cfg.source.kind == SourceKind::Loki { shard::place(cfg, shard::hostname().as_deref())? } else { None };
    let state_dir = placement.as_ref().map_or(&cfg.state.dir, |p| &p.state_dir);
    let state_problem = (cfg.source.kind != SourceKind::Demo).then(|| state_dir_problem(state_dir)).flatten();
    Ok(Preflight { state_problem, redactor, placement })
}

/// Why `dir` cannot hold state files (created if missing, then written to), if it cannot.
fn state_dir_problem(dir: &std::path::Path) -> Option<String> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Some(format!("cannot create {}: {e}", dir.display()));
    }
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!("cannot write in {}: {e}", dir.display())),
    }
}

/// Batches in flight between the source and the pipeline (backpressure beyond this).
const CHANNEL_BATCHES: usize = 4;
/// A batch at least this long (a backfill page) is followed by returning freed memory...
const TRIM_AFTER_LINES: u64 = 1000;
/// ...at most this often: `malloc_trim` walks the heap and the pages it returns fault back in, which
/// cost the daemon a fifth of its CPU when it trimmed after every full batch.
const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Requests from the HTTP server waiting for the pipeline.
const CHANNEL_COMMANDS: usize = 8;

/// Run the daemon until `shutdown` is cancelled (or a finite source ends).
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<(), AppError> {
    let checked = preflight(&cfg)?;
    match checked.describe_shard(&cfg) {
        Some((line, true)) => tracing::warn!("{line}"),
        Some((line, false)) => tracing::info!("{line}"),
        None => {}
    }
    let cfg = checked.apply(cfg);
    if let Some(problem) = &checked.state_problem {
        tracing::warn!(dir = %cfg.state.dir.display(), "State directory unusable ({problem}); running without persistence: models, cursor and alert state will not survive a restart");
    }
    let stale = crate::state_file::remove_stale_temps(&cfg.state.dir);
    if stale > 0 {
        tracing::info!(dir = %cfg.state.dir.display(), removed = stale, "Removed temp files an earlier run left behind");
    }
    let metrics = Arc::new(Metrics::new());
    if let Some(p) = &checked.placement {
        let labels =
            crate::metrics::ShardLabels { shard: p.shard.index.to_string(), shard_count: p.shard.count.to_string() };
        metrics.shard_info.get_or_create(&labels).set(1);
    }
    let (commands_tx, commands) = mpsc::channel::<PipelineCommand>(CHANNEL_COMMANDS);
    let state = Arc::new(AppState::new(metrics.clone(), &cfg, commands_tx));
    *state.state_problem.lock().expect("not poisoned") = if cfg.source.kind == SourceKind::Demo {
        Some("the demo regenerates its history at every start and saves no state".into())
    } else {
        checked.state_problem.clone()
    };

    let server_stop = CancellationToken::new();
    let server = if cfg.server.enabled {
        let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
            .await
            .map_err(|source| AppError::Bind { addr: cfg.server.listen.clone(), source })?;
        let addr =
            listener.local_addr().map_err(|source| AppError::Bind { addr: cfg.server.listen.clone(), source })?;
        let settings = crate::server::Settings::new(&cfg.server, addr).map_err(|e| match e {
            crate::config::ConfigError::Invalid { key, problem } => AppError::Config { key, problem },
            other => AppError::Config { key: "server".into(), problem: other.to_string() },
        })?;
        tracing::info!(addr = %addr, "Serving /metrics, /healthz, /readyz and /api/v1 on http://{addr}");
        if !settings.access.writes_enabled() {
            tracing::warn!(
                addr = %addr,
                "Mutating API routes are refused: the server listens beyond loopback and no API token is set \
                 (ANOMALY_DETECTOR__SERVER__API_TOKEN or server.api_token_file)"
            );
        }
        let (st, stop) = (state.clone(), server_stop.clone());
        Some(tokio::spawn(async move {
            if let Err(e) = crate::server::serve(listener, st, settings, stop).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }))
    } else {
        None
    };

    let sink_stop = CancellationToken::new();
    let mut sink_tasks = Vec::new();
    let sinks: Vec<Arc<dyn FindingSink>> = {
        let mut v: Vec<Arc<dyn FindingSink>> = vec![Arc::new(RecentSink(state.clone()))];
        if cfg.outputs.console.enabled {
            v.push(Arc::new(ConsoleSink::new(cfg.outputs.console.each_anomaly)));
        }
        let redactor = checked.redactor.clone();
        if cfg.alerting.has_channels() {
            let mut alerting = cfg.alerting.clone();
            if alerting.explore_query.is_empty() {
                alerting.explore_query = cfg.loki.query.clone();
            }
            let (sink, task) = crate::sink::alert::AlertSink::spawn(
                &alerting,
                &cfg.state.dir,
                redactor.clone(),
                metrics.clone(),
                sink_stop.clone(),
            )
            .map_err(|e| match e {
                crate::sink::alert::SinkError::Config { key, problem } => AppError::Config { key, problem },
                other => AppError::Task(other.to_string()),
            })?;
            v.push(Arc::new(sink));
            sink_tasks.push(task);
        }
        if cfg.outputs.loki_push.enabled {
            let (sink, task) = crate::sink::LokiPushSink::spawn(
                &cfg.outputs.loki_push.resolved(&cfg.loki),
                redactor,
                metrics.clone(),
                sink_stop.clone(),
            );
            v.push(Arc::new(sink));
            sink_tasks.push(task);
        }
        v
    };

    let (tx, rx) = mpsc::channel::<Vec<RawLine>>(CHANNEL_BATCHES);
    let source_stop = shutdown.child_token();
    let source_ended = CancellationToken::new();
    let source = spawn_source(&cfg, tx, source_stop, source_ended.clone(), metrics.clone(), state.clone())?;
    let lag = watermark_lag(&cfg);
    let mut pipeline = Pipeline::new(&cfg, Mode::Live, metrics.clone(), sinks, cfg.source.kind.as_str());
    // Findings are redacted where they are made, so every output carries the same text.
    pipeline.redact_with(checked.redactor.clone());
    // The demo regenerates its history at every start; other sources resume what they learned.
    let state_dir =
        (cfg.source.kind != SourceKind::Demo && checked.state_problem.is_none()).then(|| cfg.state.dir.clone());
    if let Some(dir) = &state_dir {
        pipeline.journal_to(dir.clone());
        if let Some(saved) = persist::load(dir, &cfg.features.columns) {
            tracing::info!(
                trained = saved.trained.is_some(),
                window = saved.window.len(),
                open_incidents = saved.incidents.len(),
                saved_at = %saved.saved_at,
                "Resuming from saved models"
            );
            let models_saved = saved.saved_at;
            pipeline.restore(saved);
            if let Some(j) = persist::load_incidents(dir).filter(|j| j.saved_at > models_saved) {
                tracing::info!(open_incidents = j.incidents.len(), saved_at = %j.saved_at, "Open incidents from the incidents journal");
                pipeline.restore_incidents(j.incidents);
            }
        } else if let Some(j) = persist::load_incidents(dir) {
            tracing::info!(open_incidents = j.incidents.len(), saved_at = %j.saved_at, "Open incidents from the incidents journal");
            pipeline.restore_incidents(j.incidents);
        }
    }
    *state.dismissed.lock().expect("not poisoned") = pipeline.dismissals();
    let stop = Stop { shutdown, source_ended };
    let result = drive(pipeline, rx, commands, stop, state.clone(), lag, &cfg, state_dir).await;

    match source.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Source stopped");
            *state.source_error.lock().expect("not poisoned") = Some(e.to_string());
        }
        Err(e) => tracing::error!(error = %e, "Source task failed"),
    }
    // Sinks flush what they hold, then the server stops.
    sink_stop.cancel();
    for t in sink_tasks {
        let _ = t.await;
    }
    server_stop.cancel();
    if let Some(s) = server {
        let _ = s.await;
    }
    tracing::info!("Stopped");
    result
}

/// How far behind now the rate windows and incidents are closed: `None` = follow event time.
fn watermark_lag(cfg: &Config) -> Option<Duration> {
    match cfg.source.kind {
        SourceKind::Demo => Some(Duration::from_secs(3)),
        SourceKind::Loki => Some(Duration::from_secs(cfg.loki.query_delay_secs + cfg.detection.interval_secs + 5)),
        SourceKind::File if cfg.source.follow => Some(Duration::from_secs(5)),
        SourceKind::File | SourceKind::Stdin => None,
    }
}

/// Spawns the configured source; `ended` is cancelled when its task ends (however it ends).
fn spawn_source(
    cfg: &Config,
    tx: mpsc::Sender<Vec<RawLine>>,
    stop: CancellationToken,
    ended: CancellationToken,
    metrics: Arc<Metrics>,
    state: Arc<AppState>,
) -> Result<tokio::task::JoinHandle<Result<(), SourceError>>, AppError> {
    let spawn = |task: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SourceError>> + Send>>| {
        tokio::spawn(async move {
            let _ended = ended.drop_guard();
            task.await
        })
    };
    let handle = match cfg.source.kind {
        SourceKind::Demo => {
            let src = crate::source::demo::DemoSource::new(&cfg.source);
            state.source_ready.store(true, Ordering::Relaxed);
            spawn(Box::pin(src.run(tx, stop)))
        }
        SourceKind::File => {
            let src = crate::source::file::FileSource::from_config(&cfg.source, &cfg.parse);
            state.source_ready.store(true, Ordering::Relaxed);
            spawn(Box::pin(src.run(tx, stop)))
        }
        SourceKind::Stdin => {
            let src = crate::source::stdin::StdinSource::new(cfg.parse.max_line_bytes);
            state.source_ready.store(true, Ordering::Relaxed);
            spawn(Box::pin(src.run(tx, stop)))
        }
        SourceKind::Loki => {
            let status = Arc::new(crate::source::loki::SourceStatus::new());
            let src = crate::source::loki::LokiSource::new(
                &cfg.loki,
                Duration::from_secs(cfg.detection.interval_secs),
                &cfg.state.dir,
                metrics,
                status.clone(),
            )?
            .with_acks(state.batches_processed.clone());
            *state.loki.lock().expect("not poisoned") = Some(status);
            spawn(Box::pin(src.run(tx, stop)))
        }
    };
    Ok(handle)
}

fn training_status(p: &Pipeline, cfg: &Config) -> TrainingStatus {
    let d = p.detector();
    let t = d.trained();
    let model = |name: &'static str| -> ModelStatus {
        let fitted = t.and_then(|t| match name {
            "isolation_forest" => t.forest.as_ref().map(|f| (f.events, f.threshold, f.fit_secs)),
            "ocsvm_response_time" => t.response_time.as_ref().map(|f| (f.events, f.threshold, f.fit_secs)),
            _ => t.status_code.as_ref().map(|f| (f.events, f.threshold, f.fit_secs)),
        });
        ModelStatus {
            name,
            trained: fitted.is_some(),
            training_events: fitted.map_or(0, |f| f.0),
            threshold: fitted.map(|f| f.1),
            fit_ms: fitted.map(|f| f.2 * 1000.0),
        }
    };
    TrainingStatus {
        mode: if d.is_trained() { "models_and_rules" } else { "rules_only" },
        trained: d.is_trained(),
        window_events: d.window_len(),
        min_training_events: cfg.detection.min_training_events,
        last_fit: t.and_then(|t| Timestamp::from_nanosecond((t.trained_through * 1e9) as i128).ok()),
        models: MODEL_NAMES.iter().map(|n| model(n)).collect(),
        endpoints_tracked: t.map_or(0, |t| t.baselines.endpoints.len()),
        relearning: d.relearning(),
        endpoints_with_daily_profile: d.profiled_endpoints(),
    }
}

/// Save what the pipeline learned to `models.json`; a failure is logged, never fatal.
fn save_state(dir: &std::path::Path, p: &Pipeline) {
    p.metrics().state_saves.inc();
    if let Err(e) = persist::save(dir, &p.snapshot()) {
        tracing::warn!(dir = %dir.display(), error = %e, "Cannot save models; they will be retrained after a restart");
    }
}

/// Saves after API calls coalesce: at most one per this long. A re-baseline that finds the last one
/// too recent is held back and saved at the first tick (or batch) once due, or at shutdown.
const API_SAVE_EVERY: Duration = Duration::from_secs(10);

/// When `models.json` may be written: each API call asking for a save (a re-baseline rewrites the
/// whole file) must not cost a write of its own.
#[derive(Debug)]
struct SaveGate {
    last_api_save: Option<Instant>,
    /// An API change waits to be saved; until then no save happens before it is due.
    held: bool,
}

impl SaveGate {
    fn new() -> SaveGate {
        SaveGate { last_api_save: None, held: false }
    }

    /// May what the pipeline learned be saved now? `api`: an API call changed it.
    fn may_save(&mut self, api: bool, now: Instant) -> bool {
        if !(api || self.held) {
            return true;
        }
        let due = self.last_api_save.is_none_or(|t| now.duration_since(t) >= API_SAVE_EVERY);
        if due {
            self.last_api_save = Some(now);
        }
        self.held = !due;
        due
    }
}

/// Runs `work` on the pipeline in a blocking task, then, still there (serialising the window is CPU
/// work), saves what was learned if it changed (a fit, a re-baseline) and `save_to` is given
/// (otherwise the change stays marked for a later save), and gives freed memory back after a fit
/// or a `big` batch (training buffers, backfill pages).
async fn off_reactor<R: Send + 'static>(
    mut p: Pipeline,
    save_to: Option<std::path::PathBuf>,
    big: bool,
    work: impl FnOnce(&mut Pipeline) -> R + Send + 'static,
) -> Result<(Pipeline, R), AppError> {
    tokio::task::spawn_blocking(move || {
        let result = work(&mut p);
        let learned = p.fitted_since_save;
        if let (Some(dir), true) = (&save_to, learned) {
            save_state(dir, &p);
            p.fitted_since_save = false;
        }
        if learned || big {
            crate::memory::release_free();
        }
        (p, result)
    })
    .await
    .map_err(|e| AppError::Task(e.to_string()))
}

/// How the pipeline loop learns that it should stop.
struct Stop {
    /// SIGTERM / Ctrl-C; the source stops at (a child of) it too.
    shutdown: CancellationToken,
    /// Cancelled when the source's task has ended.
    source_ended: CancellationToken,
}

/// Runs one batch on the pipeline (off the reactor) and publishes the new status.
async fn process_batch(
    p: Pipeline,
    batch: Vec<RawLine>,
    state: &AppState,
    cfg: &Config,
    state_dir: &Option<std::path::PathBuf>,
    trim: bool,
) -> Result<Pipeline, AppError> {
    let n = batch.len() as u64;
    let (p, _) = off_reactor(p, state_dir.clone(), trim, |p| p.process(batch)).await?;
    state.lines_processed.fetch_add(n, Ordering::Relaxed);
    *state.formats.lock().expect("not poisoned") = p.census().to_json();
    p.publish_pattern_metrics();
    // Acknowledged only now that the batch went through the pipeline (and any save after it; the
    // incidents it opened are in the journal before they were reported).
    state.batches_processed.fetch_add(1, Ordering::Release);
    *state.training.lock().expect("not poisoned") = training_status(&p, cfg);
    Ok(p)
}

/// Feed batches to the pipeline (off the reactor), apply the server's commands between batches and
/// tick the windows, until the channel closes or shutdown.
///
/// At shutdown, what the source already read is processed before the state is saved: batches are
/// taken until the source's task has ended (it stops at the same signal, handing over what it holds),
/// then the channel is closed and what is queued in it is taken. Shutdown never waits for every
/// sender to be dropped: a reader thread blocked on quiet input (stdin) may hold one forever.
#[allow(clippy::too_many_arguments)]
async fn drive(
    pipeline: Pipeline,
    mut rx: mpsc::Receiver<Vec<RawLine>>,
    mut commands: mpsc::Receiver<PipelineCommand>,
    stop: Stop,
    state: Arc<AppState>,
    lag: Option<Duration>,
    cfg: &Config,
    state_dir: Option<std::path::PathBuf>,
) -> Result<(), AppError> {
    state.pipeline_running.store(true, Ordering::Relaxed);
    let mut pipeline = pipeline;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saves = SaveGate::new();
    let mut last_trim: Option<Instant> = None;
    let input_ended = loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break true };
                let now = Instant::now();
                let save_to = state_dir.clone().filter(|_| saves.may_save(false, now));
                let trim = batch.len() as u64 >= TRIM_AFTER_LINES
                    && last_trim.is_none_or(|t| now.duration_since(t) >= TRIM_EVERY);
                if trim {
                    last_trim = Some(now);
                }
                pipeline = process_batch(pipeline, batch, &state, cfg, &save_to, trim).await?;
            }
            Some(command) = commands.recv() => {
                // A restart must not bring back what a command changed: saved before the answer,
                // or within API_SAVE_EVERY when commands come in a burst.
                let p = match command {
                    PipelineCommand::Rebaseline { endpoint, reply } => {
                        let (mut p, result) = off_reactor(pipeline, None, false, move |p| p.rebaseline(&endpoint)).await?;
                        if p.fitted_since_save && saves.may_save(true, Instant::now()) {
                            (p, ()) = off_reactor(p, state_dir.clone(), false, |_| ()).await?;
                        }
                        let _ = reply.send(result);
                        p
                    }
                    PipelineCommand::Dismiss { incident, reply } => {
                        let (mut p, d) = off_reactor(pipeline, None, false, move |p| p.dismiss(&incident)).await?;
                        if saves.may_save(true, Instant::now()) {
                            (p, ()) = off_reactor(p, state_dir.clone(), false, |_| ()).await?;
                        }
                        let _ = reply.send(d);
                        p
                    }
                    PipelineCommand::Patterns { limit, service, reply } => {
                        let now = pipeline.watermark().unwrap_or_else(Timestamp::now);
                        let _ = reply.send(pipeline.patterns().report(limit, service.as_deref(), now));
                        pipeline
                    }
                    PipelineCommand::Undismiss { id, reply } => {
                        let (mut p, d) = off_reactor(pipeline, None, false, move |p| p.undismiss(&id)).await?;
                        if p.fitted_since_save && saves.may_save(true, Instant::now()) {
                            (p, ()) = off_reactor(p, state_dir.clone(), false, |_| ()).await?;
                        }
                        let _ = reply.send(d);
                        p
                    }
                };
                *state.dismissed.lock().expect("not poisoned") = p.dismissals();
                *state.training.lock().expect("not poisoned") = training_status(&p, cfg);
                pipeline = p;
            }
            _ = tick.tick() => {
                if saves.held && saves.may_save(false, Instant::now()) {
                    (pipeline, ()) = off_reactor(pipeline, state_dir.clone(), false, |_| ()).await?;
                }
                // Wall time (less the source's delay) closes quiet incidents; while a backlog is read
                // (the Loki source is behind, or batches wait), the lines' own time does, or a restart
                // in the middle of one would close its incidents and open them again.
                let behind = state.loki.lock().expect("not poisoned").as_ref().is_some_and(|l| !l.caught_up())
                    || !rx.is_empty();
                let now = match lag {
                    Some(l) if !behind => Timestamp::now() - jiff::SignedDuration::try_from(l).unwrap_or_default(),
                    _ => match pipeline.watermark() { Some(w) => w, None => continue },
                };
                pipeline.tick(now);
            }
            _ = stop.shutdown.cancelled() => break false,
        }
    };
    if !input_ended {
        loop {
            tokio::select! {
                Some(batch) = rx.recv() => {
                    pipeline = process_batch(pipeline, batch, &state, cfg, &state_dir, false).await?;
                }
                _ = stop.source_ended.cancelled() => break,
            }
        }
        rx.close();
        while let Some(batch) = rx.recv().await {
            pipeline = process_batch(pipeline, batch, &state, cfg, &state_dir, false).await?;
        }
    }
    if lag.is_none() {
        // A finite input ended: close what is open so it is reported.
        pipeline.finish();
    }
    if let Some(dir) = &state_dir {
        save_state(dir, &pipeline);
    }
    state.pipeline_running.store(false, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_api_saves_is_one_save_now_and_one_when_due() {
        let mut gate = SaveGate::new();
        let t0 = Instant::now();
        assert!(gate.may_save(false, t0), "a fit is saved at once");
        assert!(gate.may_save(true, t0), "the first re-baseline is saved at once");
        let burst: Vec<bool> = (1..50).map(|i| gate.may_save(true, t0 + Duration::from_millis(i * 10))).collect();
        assert!(burst.iter().all(|saved| !saved) && gate.held);
        // Held back: a batch does not save it before it is due either.
        assert!(!gate.may_save(false, t0 + Duration::from_secs(1)));
        assert!(gate.may_save(false, t0 + API_SAVE_EVERY));
        assert!(!gate.held);
        assert!(gate.may_save(false, t0 + API_SAVE_EVERY), "without an API change, saves are not held");
    }
}
