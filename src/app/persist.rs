//! `models.json` in `state.dir`: what was learned (baselines, fitted models, the training window)
//! and the open incidents, so a restart resumes scoring at once and does not report an ongoing
//! incident as new. Versioned and written atomically (temp file, fsync, rename). A file that cannot
//! be used is reported and rebuilt from new events, never a crash.

use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::detect::engine::Trained;
use crate::detect::rate::DailyProfile;
use crate::detect::Incident;
use crate::features::TrainingEvent;

pub const MODELS_FILE: &str = "models.json";
/// Bump when the layout changes; older files are rebuilt.
pub const VERSION: u32 = 1;

/// Everything saved.
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub saved_at: Timestamp,
    /// `features.columns` the models were trained with: other columns make the models unusable.
    pub columns: Vec<String>,
    pub trained: Option<Trained>,
    pub window: Vec<TrainingEvent>,
    pub incidents: Vec<Incident>,
    /// Re-baselined endpoints not relearned yet (absent in files written before re-baselining).
    #[serde(default)]
    pub relearning: Vec<String>,
    /// Per endpoint, its request rate by hour of the day (absent in files written before daily
    /// profiles).
    #[serde(default)]
    pub rate_profiles: Vec<(String, DailyProfile)>,
    /// Incidents dismissed as false alarms, and what each covers.
    #[serde(default)]
    pub dismissed: Vec<crate::detect::dismiss::Dismissal>,
    /// What the site rules learned: paths that are content, clients that are known scanners
    /// (absent in files written before).
    #[serde(default)]
    pub site: crate::detect::site::SiteMemory,
    /// Per service, its templates and what was learned about them (absent in files written
    /// before the template stage).
    #[serde(default)]
    pub patterns: Vec<crate::patterns::stage::ServiceSnapshot>,
    /// Open sessions and the sessions history (absent before sessions, or with them off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<crate::patterns::session::SessionsSnapshot>,
}

/// The open incidents alone, written whenever a batch opened one (before that batch is
/// acknowledged to the source), so that a crash between two saves of `models.json` neither loses an
/// incident nor reports it again when the lines in flight are read a second time.
pub const INCIDENTS_FILE: &str = "incidents.json";

#[derive(Serialize, Deserialize)]
pub struct IncidentJournal {
    pub version: u32,
    pub saved_at: Timestamp,
    pub incidents: Vec<Incident>,
}

pub fn save_incidents(dir: &Path, incidents: Vec<Incident>) -> std::io::Result<()> {
    let journal = IncidentJournal { version: VERSION, saved_at: Timestamp::now(), incidents };
    let body = serde_json::to_vec(&journal).map_err(std::io::Error::other)?;
    crate::state_file::write_atomic(&dir.join(INCIDENTS_FILE), &body)
}

/// The journal, if there is a readable one of this version.
pub fn load_incidents(dir: &Path) -> Option<IncidentJournal> {
    let p = dir.join(INCIDENTS_FILE);
    let text = fs::read(&p).ok()?;
    match serde_json::from_slice::<IncidentJournal>(&text) {
        Ok(j) if j.version == VERSION => Some(j),
        _ => {
            tracing::warn!(file = %p.display(), "Ignoring an unreadable incidents journal; the open incidents come from models.json");
            None
        }
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(MODELS_FILE)
}

/// Write atomically.
pub fn save(dir: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    crate::state_file::write_atomic_with(&path(dir), |w| {
        serde_json::to_writer(w, snapshot).map_err(std::io::Error::other)
    })
}

/// Load, or `None` (with a WARN saying why) when there is nothing usable.
pub fn load(dir: &Path, columns: &[String]) -> Option<Snapshot> {
    let p = path(dir);
    let text = match fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "Cannot read saved models; training from new events");
            return None;
        }
    };
    // Parse once; only when that fails, look at the version to say why.
    let snapshot = match serde_json::from_slice::<Snapshot>(&text) {
        Ok(s) if s.version == VERSION => s,
        Ok(s) => {
            tracing::warn!(file = %p.display(), found = s.version, expected = VERSION, "Saved models have another version; training from new events");
            return None;
        }
        Err(e) => {
            #[derive(Deserialize)]
            struct Version {
                version: u32,
            }
            match serde_json::from_slice::<Version>(&text) {
                Ok(v) if v.version != VERSION => {
                    tracing::warn!(file = %p.display(), found = v.version, expected = VERSION,
                    "Saved models have another version; training from new events")
                }
                _ => {
                    tracing::warn!(file = %p.display(), error = %e, "Saved models are unreadable; training from new events")
                }
            }
            return None;
        }
    };
    if snapshot.columns != columns {
        tracing::warn!(file = %p.display(), saved = %snapshot.columns.join(","), now = %columns.join(","),
            "features.columns changed since the models were saved; training from new events");
        return None;
    }
    Some(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(columns: &[&str]) -> Snapshot {
        Snapshot {
            version: VERSION,
            saved_at: Timestamp::UNIX_EPOCH,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            trained: None,
            window: Vec::new(),
            incidents: Vec::new(),
            relearning: Vec::new(),
            rate_profiles: Vec::new(),
            dismissed: Vec::new(),
            site: Default::default(),
            patterns: Vec::new(),
            sessions: None,
        }
    }

    #[test]
    fn round_trip_leaves_only_the_file() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &empty(&["bytes"])).unwrap();
        assert!(load(dir.path(), &["bytes".to_string()]).is_some());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from(MODELS_FILE)]);
    }

    #[test]
    fn corrupt_old_or_mismatched_files_are_rebuilt_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), b"{not json").unwrap();
        assert!(load(dir.path(), &[]).is_none());
        fs::write(path(dir.path()), br#"{"version": 0}"#).unwrap();
        assert!(load(dir.path(), &[]).is_none());
        save(dir.path(), &empty(&["bytes"])).unwrap();
        assert!(load(dir.path(), &["status".to_string()]).is_none());
    }

    #[test]
    fn daily_profiles_survive_a_restart_and_older_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut profile = DailyProfile::default();
        for w in 0..3 * 1440 + 1 {
            profile.add(w * 60, 60, 100);
        }
        let mut snapshot = empty(&["bytes"]);
        snapshot.rate_profiles = vec![("GET /api/cart".to_string(), profile)];
        save(dir.path(), &snapshot).unwrap();
        let loaded = load(dir.path(), &["bytes".to_string()]).unwrap();
        // What is saved of a profile is its finished hours (the open one is counted again).
        let saved = |p: &[(String, DailyProfile)]| serde_json::to_string(p).unwrap();
        assert_eq!(saved(&loaded.rate_profiles), saved(&snapshot.rate_profiles));
        assert!(loaded.rate_profiles[0].1.expected(3 * 86_400 + 3600, 60).is_some());
        // A file from before daily profiles (no `rate_profiles` key) is used, with no profiles.
        let mut old: serde_json::Value = serde_json::to_value(&snapshot).unwrap();
        old.as_object_mut().unwrap().remove("rate_profiles");
        fs::write(path(dir.path()), serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(load(dir.path(), &["bytes".to_string()]).unwrap().rate_profiles.is_empty());
    }
}
