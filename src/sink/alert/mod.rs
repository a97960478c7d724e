//! Alerts: incidents to Slack, Discord, generic webhooks, email and Alertmanager.
//!
//! ```text
//! Finding ─offer (try_send, never waits)─▶ policy (dedup, repeat, resolve, rate limit)
//!     ─▶ outbox in alerts.json + one bounded queue per channel
//!     ─▶ worker: deliver, retry with backoff / Retry-After, dead-letter log ─▶ receipt settles the outbox
//! ```
//!
//! A notification counts as sent for a channel only once that channel accepted it. At shutdown the
//! queues drain for `alerting.shutdown_drain_secs`; what is still unaccepted stays in the outbox and
//! is queued again at the next start.
//!
//! - [`policy`]: one notification per incident, deduplicated by fingerprint, repeat interval,
//!   resolved notices, global rate limit with a summary of what was held back
//! - [`queue`]: the [`Channel`] trait, per-channel queues and retrying workers
//! - [`slack`], [`discord`], [`webhook`], [`email`], [`alertmanager`]: rendering and delivery
//! - [`escape`]: per-channel escaping and length caps; [`message`]: the channel-neutral [`Notification`]
//! - [`state`]: `alerts.json`, so a restart neither re-notifies nor loses what was queued

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
use tokio::sync::{mpsc, mpsc::error::TrySendError, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use alertmanager::RESERVED_LABELS;
pub use error::SinkError;
pub use message::{Body, Event, IncidentInfo, Notification};
pub use policy::{Decision, Policy, PolicySettings, Report};
pub use queue::{BoxFuture, Channel, ChannelQueue, Outcome, Queued, Receipt, RetryPolicy};

use crate::config::{channel_name_for, AlertingConfig, Severity};
use crate::metrics::Metrics;
use crate::redact::Redactor;
use crate::sink::finding::{Finding, FindingSink};

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
        let stop = queue::Stop { shutdown: shutdown.clone(), drain_over: CancellationToken::new() };
        let (receipts_tx, receipts) = mpsc::unbounded_channel();
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for (index, ch) in channels.into_iter().enumerate() {
            for outcome in ["sent", "failed", "dropped", "suppressed", "rate_limited"] {
                let _ = metrics.alerts.get_or_create(&crate::metrics::ChannelOutcomeLabels {
                    channel: ch.name().to_string(),
                    outcome: outcome.into(),
                });
            }
            let (q, w) = queue::spawn_channel(
                index,
                ch,
                cfg.queue_capacity,
                retry,
                metrics.clone(),
                receipts_tx.clone(),
                stop.clone(),
            );
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
        inner.requeue_pending();
        let drain = Duration::from_secs(cfg.shutdown_drain_secs);
        tokio::spawn(async move {
            stop.shutdown.cancelled().await;
            tokio::time::sleep(drain).await;
            stop.drain_over.cancel();
        });
        let handle = tokio::spawn(supervise(inner.clone(), workers, receipts, path, shutdown));
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

    /// Puts `n` on `q`; false (counted, logged) when the queue is full.
    fn enqueue(&self, q: &ChannelQueue, id: u64, n: &Arc<Notification>) -> bool {
        match q.tx.try_send(Queued { id, notification: n.clone() }) {
            Ok(()) => true,
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
                false
            }
        }
    }

    /// Queues `n` on `targets` and records it in the outbox for those that took it.
    fn send_to<'a>(&self, policy: &mut Policy, n: Notification, targets: impl Iterator<Item = &'a ChannelQueue>) {
        let n = Arc::new(n);
        let id = policy.state().next_id;
        let took: Vec<String> =
            targets.filter(|q| self.enqueue(q, id, &n)).map(|q| q.channel.name().to_string()).collect();
        policy.state_mut().queue(Arc::unwrap_or_clone(n), took);
    }

    fn eligible(&self, event: Option<Event>, severity: Severity) -> impl Iterator<Item = &ChannelQueue> {
        self.queues
            .iter()
            .filter(move |q| severity >= q.channel.min_severity() && event.is_none_or(|e| q.channel.accepts(e)))
    }

    fn dispatch(&self, policy: &mut Policy, d: Decision) {
        match d {
            Decision::Send(n) => {
                let targets = self.eligible(Some(n.event), n.severity);
                self.send_to(policy, n, targets);
            }
            Decision::Held(n) => {
                let (limited, exempt): (Vec<_>, Vec<_>) =
                    self.eligible(Some(n.event), n.severity).partition(|q| q.channel.rate_limited());
                for q in limited {
                    queue::count(&self.metrics, q.channel.name(), "rate_limited");
                }
                self.send_to(policy, n, exempt.into_iter());
            }
            Decision::Suppressed(sev) => {
                for q in self.eligible(None, sev) {
                    queue::count(&self.metrics, q.channel.name(), "suppressed");
                }
            }
            Decision::Ignore => {}
        }
    }

    /// Queues again what the last run left unaccepted (its outbox), for the channels still
    /// configured; the rest leaves the outbox.
    fn requeue_pending(&self) {
        let mut policy = self.lock_policy();
        let pending = std::mem::take(&mut policy.state_mut().pending);
        if pending.is_empty() {
            return;
        }
        let mut kept = Vec::new();
        for mut p in pending {
            let n = Arc::new(p.notification.clone());
            p.channels.retain(|name| match self.queues.iter().find(|q| q.channel.name() == name) {
                Some(q) => self.enqueue(q, p.id, &n),
                None => {
                    tracing::warn!(channel = %name, event = n.event.as_str(), "Channel no longer configured; its unsent alert is dropped");
                    false
                }
            });
            if !p.channels.is_empty() {
                kept.push(p);
            }
        }
        if !kept.is_empty() {
            tracing::info!(notifications = kept.len(), "Sending the alerts the last run left undelivered");
        }
        policy.state_mut().pending = kept;
        drop(policy);
        self.mark_dirty();
    }

    /// Records a worker's receipt: an accepted notification counts as sent for its channel.
    fn settle(&self, r: Receipt) {
        let Some(q) = self.queues.get(r.queue) else { return };
        let accepted = (r.outcome == Outcome::Accepted).then(|| self.clock.now());
        self.lock_policy().state_mut().settle(r.id, q.channel.name(), accepted);
        self.mark_dirty();
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

async fn supervise(
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
    mut receipts: mpsc::UnboundedReceiver<Receipt>,
    path: PathBuf,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(r) = receipts.recv() => inner.settle(r),
            _ = inner.persist.notified() => inner.save(&path).await,
            _ = tick.tick() => {
                let now = inner.clock.now();
                let mut policy = inner.lock_policy();
                let decisions = policy.on_tick(now);
                let any = !decisions.is_empty();
                for d in decisions {
                    inner.dispatch(&mut policy, d);
                }
                drop(policy);
                if any {
                    inner.mark_dirty();
                }
            }
        }
    }
    // The workers drain their queues (bounded by `shutdown_drain_secs`); each sender of receipts
    // belongs to a worker, so the receipts end when the last worker has.
    while let Some(r) = receipts.recv().await {
        inner.settle(r);
    }
    for w in workers {
        let _ = w.await;
    }
    inner.dirty.store(true, Ordering::Release);
    inner.save(&path).await;
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
        inner.dispatch(&mut policy, decision);
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
