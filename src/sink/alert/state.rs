//! `alerts.json`: what was sent per incident fingerprint and which incidents are open, so a restart
//! neither re-notifies nor forgets to resolve. Written atomically (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::SinkError;
use super::message::IncidentInfo;
use crate::config::Severity;

/// Version of the `alerts.json` layout; another version is reported and rebuilt.
pub const STATE_VERSION: u32 = 1;
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
}

impl Default for AlertState {
    fn default() -> Self {
        AlertState { version: STATE_VERSION, incidents: BTreeMap::new() }
    }
}

/// What the sink knows of one fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// The latest state of the incident (redacted, as sent).
    pub info: IncidentInfo,
    /// Still open (no resolved notice sent yet).
    pub open: bool,
    /// When the pipeline last reported on it (wall clock).
    pub updated_at: Timestamp,
    /// When a notification about it was last sent (or summarised by the rate limit).
    #[serde(default)]
    pub last_sent_at: Option<Timestamp>,
    /// The incident's count at that notification.
    #[serde(default)]
    pub last_sent_count: u64,
    /// The severity it was last notified with (decides which channels hear of its resolution).
    #[serde(default)]
    pub notified_severity: Option<Severity>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
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
        Ok(v) if v.version != STATE_VERSION => {
            return (AlertState::default(), Some(format!("version {} (expected {STATE_VERSION})", v.version)))
        }
        Err(e) => return (AlertState::default(), Some(format!("not valid JSON: {e}"))),
        Ok(_) => {}
    }
    match serde_json::from_str::<AlertState>(&text) {
        Ok(s) => (s, None),
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
            last_sent_at: Some(t),
            last_sent_count: 3,
            notified_severity: Some(Severity::High),
            resolved_at,
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
        assert!(text.contains("\"version\": 1"), "{text}");
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
