//! Delivery: one bounded queue and one worker per channel, retries with capped exponential backoff
//! honouring `Retry-After`, and a dead-letter log line after the last try. Detection only ever
//! `try_send`s into these queues. Each worker reports a [`Receipt`] per notification (accepted or
//! given up), so the sink keeps in `alerts.json` exactly what no channel has accepted yet. At
//! shutdown the queues drain for `alerting.shutdown_drain_secs`, retries included.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::error::SinkError;
use super::message::{Event, Notification};
use crate::config::Severity;
use crate::metrics::{ChannelOutcomeLabels, Metrics};

/// A boxed future, as channels return from [`Channel::deliver`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// First wait after a failed try; doubles up to `alerting.max_backoff_secs`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest `Retry-After` honoured; a receiver asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where notifications go: Slack, Discord, webhook, email, Alertmanager (or a test double).
pub trait Channel: Send + Sync {
    /// Name in metrics and logs.
    fn name(&self) -> &str;
    /// Notifications below this severity are not sent here.
    fn min_severity(&self) -> Severity;
    /// Whether the global rate limit applies (Alertmanager throttles by itself: false).
    fn rate_limited(&self) -> bool {
        true
    }
    /// Whether this channel takes notifications of this event (Alertmanager takes no summaries).
    fn accepts(&self, _event: Event) -> bool {
        true
    }
    /// One delivery attempt.
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based) after `err`.
    pub fn wait(&self, retry: u32, err: &SinkError) -> Duration {
        if let Some(ra) = err.retry_after() {
            return ra.min(MAX_RETRY_AFTER);
        }
        let exp = INITIAL_BACKOFF.saturating_mul(1u32 << retry.min(20));
        exp.min(self.max_backoff)
    }
}

/// Counts one alert outcome for a channel.
pub fn count(metrics: &Metrics, channel: &str, outcome: &str) {
    metrics.alerts.get_or_create(&ChannelOutcomeLabels { channel: channel.into(), outcome: outcome.into() }).inc();
}

/// One queued notification; `id` is its entry in the outbox of `alerts.json`.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: u64,
    pub notification: Arc<Notification>,
}

/// What a worker reports about one queued notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The channel accepted it (2xx, SMTP accepted).
    Accepted,
    /// Given up after the last try (or a permanent error): dead-lettered.
    Failed,
}

/// A worker's report, for the sink to settle the outbox.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: u64,
    /// Index of the channel's queue.
    pub queue: usize,
    pub outcome: Outcome,
}

/// The sending half of a channel's queue.
pub struct ChannelQueue {
    pub channel: Arc<dyn Channel>,
    pub tx: mpsc::Sender<Queued>,
    /// Notifications dropped because the queue was full (for log throttling; the metric counts too).
    pub dropped: std::sync::atomic::AtomicU64,
}

/// How a worker stops: at `shutdown` it takes nothing new and delivers what is queued until
/// `drain_over` (shutdown plus `alerting.shutdown_drain_secs`); what is left then stays in the outbox.
#[derive(Clone)]
pub struct Stop {
    pub shutdown: CancellationToken,
    pub drain_over: CancellationToken,
}

/// Creates the queue of channel number `index` and spawns its worker, which reports to `receipts`.
pub fn spawn_channel(
    index: usize,
    channel: Arc<dyn Channel>,
    capacity: usize,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    receipts: mpsc::UnboundedSender<Receipt>,
    stop: Stop,
) -> (ChannelQueue, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let worker = Worker { index, channel: channel.clone(), retry, metrics, receipts, stop };
    (ChannelQueue { channel, tx, dropped: Default::default() }, tokio::spawn(worker.run(rx)))
}

struct Worker {
    index: usize,
    channel: Arc<dyn Channel>,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    receipts: mpsc::UnboundedSender<Receipt>,
    stop: Stop,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Queued>) {
        let mut closing = false;
        let mut left = 0usize;
        loop {
            let q = tokio::select! {
                biased;
                _ = self.stop.drain_over.cancelled() => break,
                _ = self.stop.shutdown.cancelled(), if !closing => {
                    // Nothing new from now on; what is queued is still delivered.
                    rx.close();
                    closing = true;
                    continue;
                }
                q = rx.recv() => match q { Some(q) => q, None => break },
            };
            match deliver_with_retries(self.channel.as_ref(), &q.notification, self.retry, &self.metrics, &self.stop)
                .await
            {
                Some(outcome) => {
                    let _ = self.receipts.send(Receipt { id: q.id, queue: self.index, outcome });
                }
                None => {
                    left += 1;
                    break;
                }
            }
        }
        rx.close();
        while rx.try_recv().is_ok() {
            left += 1;
        }
        if left > 0 {
            tracing::warn!(
                channel = self.channel.name(),
                undelivered = left,
                "Shutting down with alerts undelivered; they are kept in alerts.json and sent at the next start"
            );
        }
    }
}

/// One attempt bounded by the timeout.
pub async fn attempt(channel: &dyn Channel, n: &Notification, timeout: Duration) -> Result<(), SinkError> {
    match tokio::time::timeout(timeout, channel.deliver(n)).await {
        Ok(r) => r,
        Err(_) => Err(SinkError::Timeout),
    }
}

/// Delivers with retries: `Some(outcome)`, or `None` when the shutdown drain ended first (an attempt
/// in flight then is abandoned; it is sent again at the next start).
async fn deliver_with_retries(
    channel: &dyn Channel,
    n: &Notification,
    retry: RetryPolicy,
    metrics: &Metrics,
    stop: &Stop,
) -> Option<Outcome> {
    let fingerprint = n.incident().map(|i| i.fingerprint.as_str()).unwrap_or("");
    let mut tries = 0u32;
    loop {
        tries += 1;
        let result = tokio::select! {
            biased;
            _ = stop.drain_over.cancelled() => return None,
            r = attempt(channel, n, retry.timeout) => r,
        };
        let err = match result {
            Ok(()) => {
                count(metrics, channel.name(), "sent");
                tracing::debug!(channel = channel.name(), event = n.event.as_str(), fingerprint, tries, "Alert sent");
                return Some(Outcome::Accepted);
            }
            Err(e) => e,
        };
        if !err.is_retryable() || tries > retry.max_retries {
            count(metrics, channel.name(), "failed");
            tracing::error!(
                channel = channel.name(),
                event = n.event.as_str(),
                fingerprint,
                tries,
                error = err.label(),
                detail = %err,
                "Alert not delivered after the last try; dropped"
            );
            return Some(Outcome::Failed);
        }
        let wait = retry.wait(tries - 1, &err);
        tracing::warn!(
            channel = channel.name(),
            fingerprint,
            tries,
            error = err.label(),
            wait_secs = wait.as_secs_f64(),
            "Alert delivery failed; retrying"
        );
        tokio::select! {
            biased;
            _ = stop.drain_over.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_retry_after_wins() {
        let r = RetryPolicy { max_retries: 5, max_backoff: Duration::from_secs(10), timeout: Duration::from_secs(1) };
        let e = SinkError::HttpStatus { status: 500, retry_after: None };
        let waits: Vec<u64> = (0..6).map(|i| r.wait(i, &e).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
        let e = SinkError::HttpStatus { status: 429, retry_after: Some(Duration::from_secs(42)) };
        assert_eq!(r.wait(0, &e), Duration::from_secs(42));
        let e = SinkError::HttpStatus { status: 429, retry_after: Some(Duration::from_secs(86_400)) };
        assert_eq!(r.wait(0, &e), MAX_RETRY_AFTER);
    }
}
