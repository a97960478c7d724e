//! Re-baselining on request: accept a new normal for one endpoint (after a deploy, say) without
//! training the models from nothing.
//!
//! The endpoint's baseline, its events in the training window and its rate track are dropped; the
//! models and every other endpoint's baseline stay. Until it has [`RELEARN_EVENTS`] new clean
//! events (or the next scheduled refit comes first), only rules judge the endpoint: judged against
//! the pooled baseline instead, a shifted endpoint could be flagged line after line and, flagged
//! lines being kept out of training, never be learned. Then its baseline is learned from those
//! events alone, and the models judge it again.

use std::sync::Arc;

use serde::Serialize;

use super::Detector;
use crate::detect::rate::RateTracker;
use crate::features::Baselines;

/// New events a re-baselined endpoint needs before it has a baseline of its own again.
pub const RELEARN_EVENTS: usize = 100;

/// What a re-baseline dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reset {
    /// Endpoint baselines dropped (0 or 1 for one endpoint).
    pub baselines_dropped: usize,
    /// Events dropped from the training window.
    pub events_dropped: usize,
    /// Clean events needed before the models judge the endpoint again (for everything: before
    /// the models are trained again).
    pub relearn_after_events: usize,
}

impl Detector {
    /// The detector has a baseline, training events or a pending re-baseline for `endpoint`.
    pub fn knows(&self, endpoint: &str) -> bool {
        self.trained.as_ref().is_some_and(|t| t.baselines.endpoints.contains_key(endpoint))
            || self.relearning.contains_key(endpoint)
            || self.window.iter().any(|e| &*e.endpoint == endpoint)
    }

    /// Every endpoint the detector knows, sorted.
    pub fn known_endpoints(&self) -> Vec<String> {
        let mut all: Vec<&Arc<str>> = self.window.iter().map(|e| &e.endpoint).collect();
        if let Some(t) = &self.trained {
            all.extend(t.baselines.endpoints.keys());
        }
        all.extend(self.relearning.keys());
        let mut names: Vec<String> = all.into_iter().map(|e| e.to_string()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Forget what `endpoint` normally looks like; it is relearned from the events that follow.
    pub fn rebaseline(&mut self, endpoint: &str) -> Reset {
        let key: Arc<str> = Arc::from(endpoint);
        let baselines_dropped =
            self.trained.as_mut().map_or(0, |t| usize::from(t.baselines.endpoints.remove(endpoint).is_some()));
        let before = self.window.len();
        self.window.retain(|e| &*e.endpoint != endpoint);
        let events_dropped = before - self.window.len();
        self.rate.forget(endpoint);
        let relearn_after_events = if self.trained.is_some() {
            self.relearning.insert(key, 0);
            RELEARN_EVENTS
        } else {
            0
        };
        Reset { baselines_dropped, events_dropped, relearn_after_events }
    }

    /// Forget everything learned: the models are trained again from the events that follow.
    pub fn rebaseline_all(&mut self) -> Reset {
        let reset = Reset {
            baselines_dropped: self.trained.as_ref().map_or(0, |t| t.baselines.endpoints.len()),
            events_dropped: self.window.len(),
            relearn_after_events: self.cfg.detection.min_training_events,
        };
        self.window.clear();
        self.trained = None;
        self.relearning.clear();
        self.rate = RateTracker::new(self.cfg.detection.rate_window_secs);
        reset
    }

    /// A re-baselined endpoint with enough new events to learn its baseline from.
    pub fn relearn_due(&self) -> Option<Arc<str>> {
        if self.relearning.is_empty() || self.trained.is_none() {
            return None;
        }
        self.relearning.iter().find(|(_, n)| **n >= RELEARN_EVENTS).map(|(e, _)| e.clone())
    }

    /// Learn the baseline of a re-baselined endpoint from its new events; the models judge it again.
    /// Returns the events learned from (0 when no baseline was set: no events, or the top-K of
    /// `features.max_endpoints` is full and the endpoint shares the pooled baseline).
    pub fn relearn(&mut self, endpoint: &str) -> u64 {
        self.relearning.remove(endpoint);
        let events = self.window.make_contiguous();
        let (Some(t), Some(b)) = (self.trained.as_mut(), Baselines::fit_one_endpoint(events, endpoint)) else {
            return 0;
        };
        if t.baselines.endpoints.len() >= self.cfg.features.max_endpoints {
            return 0;
        }
        let count = b.count;
        t.baselines.endpoints.insert(Arc::from(endpoint), b);
        self.rate.seed(&t.baselines);
        count
    }

    /// Endpoints waiting to be relearned (for `models.json`).
    pub fn relearning(&self) -> Vec<String> {
        let mut names: Vec<String> = self.relearning.keys().map(|e| e.to_string()).collect();
        names.sort();
        names
    }

    /// Resume pending re-baselines after [`restore`](Detector::restore): their events in the
    /// window all came after the re-baseline.
    pub fn resume_relearning(&mut self, endpoints: Vec<String>) {
        if self.trained.is_none() {
            return;
        }
        for name in endpoints {
            let n = self.window.iter().filter(|e| *e.endpoint == *name).count();
            self.relearning.insert(Arc::from(name), n);
        }
    }
}
