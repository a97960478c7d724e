//! Alerts: incidents to Slack, Discord, generic webhooks, email and Alertmanager.
//!
//! ```text
//! Finding ─offer (try_send, never waits)─▶ policy (dedup, repeat, resolve, rate limit)
//!     ─▶ one bounded queue per channel ─▶ worker: deliver, retry with backoff / Retry-After, dead-letter log
//! ```
//!
//! - [`policy`]: one notification per incident, deduplicated by fingerprint, repeat interval,
//!   resolved notices, global rate limit with a summary of what was held back
//! - [`queue`]: the [`Channel`] trait, per-channel queues and retrying workers
//! - [`slack`], [`discord`], [`webhook`], [`email`], [`alertmanager`]: rendering and delivery
//! - [`escape`]: per-channel escaping and length caps; [`message`]: the channel-neutral [`Notification`]
//! - [`state`]: `alerts.json`, so a restart does not re-notify

pub mod alertmanager;
pub mod discord;
pub mod email;
mod error;
pub mod escape;
pub mod http;
pub mod message;
pub mod policy;
pub mod queue;
pub mod secret;
pub mod slack;
pub mod state;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc::error::TrySendError, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use alertmanager::RESERVED_LABELS;
pub use error::SinkError;
pub use message::{Body, Event, IncidentInfo, Notification};
pub use policy::{Decision, Policy, PolicySettings, Report};
pub use queue::{BoxFuture, Channel, ChannelQueue, RetryPolicy};

use crate::config::{channel_name_for, AlertingConfig, Severity};
use crate::metrics::Metrics;
use crate::sink::finding::{Finding, FindingSink};
use crate::sink::redact::Redactor;

/// Wall-clock time as the policy sees it (injected so tests can drive it).
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a given time and advances with tokio's clock, so `tokio::time::pause()` /
/// `advance()` drive it in tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Now is `base`; it advances with `tokio::time::Instant`.
    pub fn starting_at(base: Timestamp) -> Self {
        TokioClock { base, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.start.elapsed();
        self.base + SignedDuration::from_nanos(i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// How often the policy's time-driven work (resolve-after, rate-limit summary) runs.
pub const TICK: Duration = Duration::from_secs(1);

/// The alert sink: takes findings without blocking, applies the policy, and queues notifications for
/// each channel's worker. Cheap to clone.
#[derive(Clone)]
pub struct AlertSink {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Mutex<Policy>,
    queues: Vec<ChannelQueue>,
    metrics: Arc<Metrics>,
    redactor: Arc<Redactor>,
    clock: Arc<dyn Clock>,
    dirty: AtomicBool,
    persist: Notify,
}

/// A channel, or why it could not be built.
pub type BuiltChannel = Result<Arc<dyn Channel>, SinkError>;

/// Builds every configured channel, in [`AlertingConfig::channel_names`] order, each with its name and
/// either the channel or why it could not be built (a missing secret names its key).
pub fn build_channels(cfg: &AlertingConfig) -> Vec<(String, BuiltChannel)> {
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let client = http::client(timeout);
    let mut out: Vec<(String, BuiltChannel)> = Vec::new();
    let with_client = |f: &dyn Fn(reqwest::Client) -> Result<Arc<dyn Channel>, SinkError>| match &client {
        Ok(c) => f(c.clone()),
        Err(e) => Err(SinkError::Config { key: "alerting".into(), problem: e.to_string() }),
    };
    for (i, c) in cfg.slack.iter().enumerate() {
        let name = channel_name_for("slack", &c.name, i);
        let key = format!("alerting.slack[{i}]");
        out.push((name.clone(), with_client(&|cl| slack::build(name.clone(), c, &key, cl))));
    }
    for (i, c) in cfg.discord.iter().enumerate() {
        let name = channel_name_for("discord", &c.name, i);
        let key = format!("alerting.discord[{i}]");
        out.push((name.clone(), with_client(&|cl| discord::build(name.clone(), c, &key, cl))));
    }
    for (i, c) in cfg.webhook.iter().enumerate() {
        let name = channel_name_for("webhook", &c.name, i);
        let key = format!("alerting.webhook[{i}]");
        out.push((name.clone(), with_client(&|cl| webhook::build(name.clone(), c, &key, cl))));
    }
    for (i, c) in cfg.email.iter().enumerate() {
        let name = channel_name_for("email", &c.name, i);
        let key = format!("alerting.email[{i}]");
        out.push((name.clone(), email::build(name.clone(), c, &key, timeout)));
    }
    for (i, c) in cfg.alertmanager.iter().enumerate() {
        let name = channel_name_for("alertmanager", &c.name, i);
        out.push((name.clone(), with_client(&|cl| alertmanager::build(name.clone(), c, cfg, cl))));
    }
    out
}

impl AlertSink {
    /// Builds the configured channels (reading their secrets), loads `alerts.json` from `state_dir`,
    /// and starts one worker per channel plus the policy's timer. The handle ends after `shutdown`,
    /// once the state is saved. Fails if a channel cannot be built (the error names the key).
    pub fn spawn(
        cfg: &AlertingConfig,
        state_dir: &Path,
        redactor: Arc<Redactor>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<(AlertSink, JoinHandle<()>), SinkError> {
        let channels = build_channels(cfg).into_iter().map(|(_, c)| c).collect::<Result<Vec<_>, _>>()?;
        Self::spawn_with(cfg, channels, state_dir, redactor, metrics, Arc::new(SystemClock), shutdown)
    }

    /// Like [`AlertSink::spawn`] with the channels and clock given (tests, custom channels).
    pub fn spawn_with(
        cfg: &AlertingConfig,
        channels: Vec<Arc<dyn Channel>>,
        state_dir: &Path,
        redactor: Arc<Redactor>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Result<(AlertSink, JoinHandle<()>), SinkError> {
        let path = state::state_path(state_dir);
        let (saved, problem) = state::load(&path);
        if let Some(problem) = problem {
            tracing::warn!(path = %path.display(), problem, "Alert state unusable; starting afresh (it is rewritten)");
        }
        let retry = RetryPolicy {
            max_retries: cfg.max_retries,
            max_backoff: Duration::from_secs(cfg.max_backoff_secs),
            timeout: Duration::from_millis(cfg.timeout_ms),
        };
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for ch in channels {
            for outcome in ["sent", "failed", "dropped", "suppressed", "rate_limited"] {
                let _ = metrics.alerts.get_or_create(&crate::metrics::ChannelOutcomeLabels {
                    channel: ch.name().to_string(),
                    outcome: outcome.into(),
                });
            }
            let (q, w) = queue::spawn_channel(ch, cfg.queue_capacity, retry, metrics.clone(), shutdown.clone());
            queues.push(q);
            workers.push(w);
        }
        let inner = Arc::new(Inner {
            policy: Mutex::new(Policy::new(PolicySettings::from_config(cfg), saved)),
            queues,
            metrics,
            redactor,
            clock,
            dirty: AtomicBool::new(false),
            persist: Notify::new(),
        });
        let handle = tokio::spawn(supervise(inner.clone(), workers, path, shutdown));
        Ok((AlertSink { inner }, handle))
    }

    /// Incidents the sink considers open.
    pub fn open_incidents(&self) -> usize {
        self.inner.lock_policy().open_incidents()
    }
}

impl Inner {
    fn lock_policy(&self) -> std::sync::MutexGuard<'_, Policy> {
        // A panic while holding the lock leaves consistent-enough state; keep alerting.
        self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, q: &ChannelQueue, n: &Arc<Notification>) {
        match q.tx.try_send(n.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                queue::count(&self.metrics, q.channel.name(), "dropped");
                let dropped = q.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // The first drop, then every 100th: a flood must not flood the log too.
                if dropped == 1 || dropped % 100 == 0 {
                    tracing::warn!(
                        channel = q.channel.name(),
                        event = n.event.as_str(),
                        dropped_total = dropped,
                        "Alert queue full (channel slow or down); notification dropped"
                    );
                }
            }
        }
    }

    fn eligible(&self, event: Option<Event>, severity: Severity) -> impl Iterator<Item = &ChannelQueue> {
        self.queues
            .iter()
            .filter(move |q| severity >= q.channel.min_severity() && event.is_none_or(|e| q.channel.accepts(e)))
    }

    fn dispatch(&self, d: Decision) {
        match d {
            Decision::Send(n) => {
                let n = Arc::new(n);
                for q in self.eligible(Some(n.event), n.severity) {
                    self.enqueue(q, &n);
                }
            }
            Decision::Held(n) => {
                let n = Arc::new(n);
                for q in self.eligible(Some(n.event), n.severity) {
                    if q.channel.rate_limited() {
                        queue::count(&self.metrics, q.channel.name(), "rate_limited");
                    } else {
                        self.enqueue(q, &n);
                    }
                }
            }
            Decision::Suppressed(sev) => {
                for q in self.eligible(None, sev) {
                    queue::count(&self.metrics, q.channel.name(), "suppressed");
                }
            }
            Decision::Ignore => {}
        }
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.persist.notify_one();
    }

    async fn save(&self, path: &Path) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let snapshot = self.lock_policy().state().clone();
        let p = path.to_path_buf();
        let result = tokio::task::spawn_blocking(move || state::save(&p, &snapshot)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = e.label(), detail = %e, "Could not save alert state; a restart may re-notify");
                self.dirty.store(true, Ordering::Release);
            }
            Err(e) => tracing::error!(detail = %e, "Alert state writer panicked"),
        }
    }
}

async fn supervise(inner: Arc<Inner>, workers: Vec<JoinHandle<()>>, path: PathBuf, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = inner.persist.notified() => inner.save(&path).await,
            _ = tick.tick() => {
                let now = inner.clock.now();
                let mut policy = inner.lock_policy();
                let decisions = policy.on_tick(now);
                let any = !decisions.is_empty();
                for d in decisions {
                    inner.dispatch(d);
                }
                drop(policy);
                if any {
                    inner.mark_dirty();
                }
            }
        }
    }
    inner.dirty.store(true, Ordering::Release);
    inner.save(&path).await;
    for w in workers {
        let _ = w.await;
    }
}

impl FindingSink for AlertSink {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn offer(&self, finding: &Finding) {
        let (report, incident) = match finding {
            Finding::Anomaly(_) => return,
            Finding::IncidentOpened(i) => (Report::Opened, i),
            Finding::IncidentUpdated(i) => (Report::Updated, i),
            Finding::IncidentResolved(i) => (Report::Resolved, i),
        };
        let inner = &self.inner;
        let info = IncidentInfo::from_incident(incident, &inner.redactor);
        let now = inner.clock.now();
        let mut policy = inner.lock_policy();
        let decision = policy.on_report(report, info, now);
        inner.dispatch(decision);
        drop(policy);
        inner.mark_dirty();
    }
}

/// The sample incident `alert-test` sends.
pub fn sample_notification(cfg: &AlertingConfig, now: Timestamp) -> Notification {
    let first = now - SignedDuration::from_secs(240);
    let info = IncidentInfo {
        id: "alert-test".into(),
        fingerprint: "alert-test".into(),
        kind: "response_time".into(),
        severity: Severity::High,
        endpoint: "GET /api/products".into(),
        client: None,
        score: 0.93,
        count: 42,
        first_seen: first,
        last_seen: now,
        detectors: vec!["ocsvm_response_time".into()],
        reason: "GET /api/products took 612 ms; its baseline p99 is 71 ms (test alert, no action needed)".into(),
        examples: vec![r#"{"method":"GET","path":"/api/products","status":200,"response_time_ms":612}"#.into()],
    };
    let settings = PolicySettings::from_config(cfg);
    let explore_url =
        message::explore_url(&settings.grafana_url, &settings.datasource_uid, &settings.explore_query, first, now);
    Notification { event: Event::Test, severity: Severity::High, body: Body::Incident(info), explore_url, sent_at: now }
}

/// `anomaly-detector alert-test`: sends one sample alert through every configured channel (one try
/// each, bounded by `alerting.timeout_ms`, ignoring `min_severity`) and reports each result.
pub async fn send_test_alert(cfg: &AlertingConfig) -> Vec<(String, Result<(), SinkError>)> {
    let n = sample_notification(cfg, Timestamp::now());
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let mut out = Vec::new();
    for (name, channel) in build_channels(cfg) {
        let result = match channel {
            Ok(ch) => queue::attempt(ch.as_ref(), &n, timeout).await,
            Err(e) => Err(e),
        };
        out.push((name, result));
    }
    out
}
