//! `alerts.json`: what was queued and what each channel accepted per incident fingerprint, which
//! incidents are open, and the notifications not yet accepted (the outbox), so a restart neither
//! re-notifies, nor forgets to resolve, nor loses what was still queued. Written atomically (temp
//! file, fsync, rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::SinkError;
use super::message::{Event, IncidentInfo, Notification};
use crate::config::Severity;

/// Version of the `alerts.json` layout; another version is reported and rebuilt. Version 1 (no
/// outbox, `last_sent_*` for what was queued) is read as version 2 with an empty outbox.
pub const STATE_VERSION: u32 = 2;
/// File name inside `state.dir`.
pub const STATE_FILE: &str = "alerts.json";
/// Fingerprints remembered at most (closed ones are forgotten first).
pub const MAX_RECORDS: usize = 10_000;

/// The persisted alert state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub version: u32,
    /// By incident fingerprint.
    pub incidents: BTreeMap<String, IncidentRecord>,
    /// Notifications queued for channels that have not accepted them yet, oldest first. What is
    /// here at shutdown is queued again at the next start.
    #[serde(default)]
    pub pending: Vec<Pending>,
    /// The id the next queued notification gets.
    #[serde(default)]
    pub next_id: u64,
}

impl Default for AlertState {
    fn default() -> Self {
        AlertState { version: STATE_VERSION, incidents: BTreeMap::new(), pending: Vec::new(), next_id: 0 }
    }
}

/// What the sink knows of one fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The latest state of the incident (redacted, as sent).
    pub info: IncidentInfo,
    /// Still open (no resolved notice queued yet).
    pub open: bool,
    /// When the pipeline last reported on it (wall clock).
    pub updated_at: Timestamp,
    /// When a notification about it was last queued (or summarised by the rate limit). Queued is
    /// not sent: see [`IncidentRecord::sent`].
    #[serde(default, alias = "last_sent_at")]
    pub queued_at: Option<Timestamp>,
    /// The incident's count at that notification.
    #[serde(default, alias = "last_sent_count")]
    pub queued_count: u64,
    /// The severity it was last queued with (decides which channels hear of its resolution).
    #[serde(default, alias = "notified_severity")]
    pub queued_severity: Option<Severity>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
    /// By channel name: the last notification about it that the channel accepted (2xx, SMTP
    /// accepted). Only this counts as notified.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent: BTreeMap<String, Sent>,
}

/// A notification a channel accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub event: Event,
    /// The incident's count in it.
    pub count: u64,
    /// When the channel accepted it.
    pub at: Timestamp,
}

/// A queued notification and the channels that have not accepted it yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub id: u64,
    /// Channel names, in configuration order.
    pub channels: Vec<String>,
    pub notification: Notification,
}

impl AlertState {
    /// Forgets closed incidents resolved more than `keep_secs` ago, then the oldest records past
    /// [`MAX_RECORDS`].
    pub fn prune(&mut self, now: Timestamp, keep_secs: i64) {
        self.incidents
            .retain(|_, r| r.open || r.resolved_at.is_none_or(|t| now.as_second() - t.as_second() < keep_secs));
        if self.incidents.len() > MAX_RECORDS {
            let mut by_age: Vec<(bool, Timestamp, String)> =
                self.incidents.iter().map(|(k, r)| (r.open, r.updated_at, k.clone())).collect();
            by_age.sort();
            let excess = self.incidents.len() - MAX_RECORDS;
            for (_, _, k) in by_age.into_iter().take(excess) {
                self.incidents.remove(&k);
            }
        }
    }

    /// Records `n` as queued for `channels`; returns its id.
    pub fn queue(&mut self, n: Notification, channels: Vec<String>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if !channels.is_empty() {
            self.pending.push(Pending { id, channels, notification: n });
        }
        id
    }

    /// `channel` is done with notification `id`: it accepted it at `at` (then it counts as sent
    /// for its incident), or gave up on it (the last try failed). A notification every channel is
    /// done with leaves the outbox.
    pub fn settle(&mut self, id: u64, channel: &str, accepted: Option<Timestamp>) {
        let Some(i) = self.pending.iter().position(|p| p.id == id) else {
            return;
        };
        let p = &mut self.pending[i];
        p.channels.retain(|c| c != channel);
        if let (Some(at), Some(info)) = (accepted, p.notification.incident()) {
            if let Some(r) = self.incidents.get_mut(&info.fingerprint) {
                let sent = Sent { event: p.notification.event, count: info.count, at };
                r.sent.insert(channel.to_string(), sent);
            }
        }
        if p.channels.is_empty() {
            self.pending.remove(i);
        }
    }
}

/// Path of `alerts.json` in `dir`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Reads the state. A missing file is an empty state; an unreadable, corrupt or other-version file
/// is an empty state plus the problem, for the caller to report (it is rebuilt on the next write).
pub fn load(path: &Path) -> (AlertState, Option<String>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (AlertState::default(), None),
        Err(e) => return (AlertState::default(), Some(format!("unreadable: {e}"))),
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    match serde_json::from_str::<Versioned>(&text) {
        Ok(v) if v.version != STATE_VERSION && v.version != 1 => {
            return (AlertState::default(), Some(format!("version {} (expected {STATE_VERSION})", v.version)))
        }
        Err(e) => return (AlertState::default(), Some(format!("not valid JSON: {e}"))),
        Ok(_) => {}
    }
    match serde_json::from_str::<AlertState>(&text) {
        Ok(s) => (AlertState { version: STATE_VERSION, ..s }, None),
        Err(e) => (AlertState::default(), Some(format!("bad layout: {e}"))),
    }
}

/// Writes the state atomically: a temp file in the same directory, fsync, rename, fsync the directory.
pub fn save(path: &Path, state: &AlertState) -> Result<(), SinkError> {
    let err = |problem: String| SinkError::State { path: path.display().to_string(), problem };
    let mut json = serde_json::to_vec_pretty(state).map_err(|e| err(format!("encode: {e}")))?;
    json.push(b'\n');
    crate::state_file::write_atomic(path, &json).map_err(|e| err(format!("write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::message::Body;
    use super::*;

    fn record(open: bool, resolved_at: Option<Timestamp>) -> IncidentRecord {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        IncidentRecord {
            info: IncidentInfo {
                id: "fp@1".into(),
                fingerprint: "fp".into(),
                kind: "response_time".into(),
                severity: Severity::High,
                endpoint: "GET /x".into(),
                client: None,
                score: 0.9,
                count: 3,
                first_seen: t,
                last_seen: t,
                detectors: vec!["ocsvm_response_time".into()],
                reason: "slow".into(),
                examples: vec![],
            },
            open,
            updated_at: t,
            queued_at: Some(t),
            queued_count: 3,
            queued_severity: Some(Severity::High),
            resolved_at,
            sent: BTreeMap::new(),
        }
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path());
        let mut s = AlertState::default();
        s.incidents.insert("fp".into(), record(true, None));
        save(&path, &s).unwrap();
        assert_eq!(load(&path), (s, None));
        assert!(!path.with_extension("json.tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
    }

    #[test]
    fn corrupt_or_other_version_files_are_reported_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path());
        assert_eq!(load(&path), (AlertState::default(), None));
        std::fs::write(&path, "{not json").unwrap();
        let (s, problem) = load(&path);
        assert_eq!(s, AlertState::default());
        assert!(problem.unwrap().contains("not valid JSON"));
        std::fs::write(&path, r#"{"version": 99, "incidents": {}}"#).unwrap();
        assert!(load(&path).1.unwrap().contains("version 99"));
    }

    #[test]
    fn a_version_1_file_is_read_with_what_it_queued_and_an_empty_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path());
        let mut v1 = serde_json::to_value(AlertState {
            incidents: [("fp".to_string(), record(true, None))].into(),
            ..AlertState::default()
        })
        .unwrap();
        v1["version"] = 1.into();
        let r = v1["incidents"]["fp"].as_object_mut().unwrap();
        for (old, new) in [("last_sent_at", "queued_at"), ("last_sent_count", "queued_count")] {
            let v = r.remove(new).unwrap();
            r.insert(old.into(), v);
        }
        let sev = r.remove("queued_severity").unwrap();
        r.insert("notified_severity".into(), sev);
        v1.as_object_mut().unwrap().remove("pending");
        v1.as_object_mut().unwrap().remove("next_id");
        std::fs::write(&path, serde_json::to_string(&v1).unwrap()).unwrap();
        let (s, problem) = load(&path);
        assert_eq!(problem, None);
        assert_eq!(s.version, STATE_VERSION);
        assert_eq!(s.incidents["fp"], record(true, None));
        assert!(s.pending.is_empty());
    }

    #[test]
    fn an_accepted_notification_counts_as_sent_for_its_channel_only() {
        let t: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let mut s = AlertState::default();
        s.incidents.insert("fp".into(), record(true, None));
        let n = Notification {
            event: Event::Opened,
            severity: Severity::High,
            body: Body::Incident(s.incidents["fp"].info.clone()),
            explore_url: None,
            sent_at: t,
        };
        let id = s.queue(n.clone(), vec!["a".into(), "b".into()]);
        s.settle(id, "a", Some(t));
        assert_eq!(s.incidents["fp"].sent["a"], Sent { event: Event::Opened, count: 3, at: t });
        assert_eq!(s.pending[0].channels, ["b"], "still owed to b");
        s.settle(id, "b", None);
        assert!(s.pending.is_empty(), "b gave up: nothing is owed");
        assert!(!s.incidents["fp"].sent.contains_key("b"), "given up is not sent");
        // Settling an id that is no longer pending changes nothing; ids are not reused.
        s.settle(id, "a", Some(t + jiff::SignedDuration::from_secs(1)));
        assert_eq!(s.incidents["fp"].sent["a"].at, t);
        assert_eq!(s.queue(n, vec![]), id + 1);
        assert!(s.pending.is_empty(), "no channel took it: nothing is owed");
    }

    #[test]
    fn prune_forgets_old_closed_incidents_only() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut s = AlertState::default();
        s.incidents.insert("open".into(), record(true, None));
        s.incidents.insert("old".into(), record(false, Some(t)));
        s.incidents.insert("recent".into(), record(false, Some(t + jiff::SignedDuration::from_secs(3000))));
        s.prune(t + jiff::SignedDuration::from_secs(3600), 3600);
        assert_eq!(s.incidents.keys().collect::<Vec<_>>(), vec!["open", "recent"]);
    }
}
