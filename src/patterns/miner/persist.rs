//! Snapshot and restore (feature `persist`).

use super::{Miner, MinerStats, Slot};
use crate::patterns::config::MinerConfig;

/// Version of the [`Snapshot`] layout.
const SNAPSHOT_VERSION: u32 = 1;

/// Serialisable state of a [`Miner`] (feature `persist`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    version: u32,
    config: MinerConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    clock: u64,
    columns: usize,
    learning: bool,
    stats: MinerStats,
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Written by an incompatible version of this crate.
    Version(u32),
    /// Not a valid snapshot document.
    Parse(String),
}
impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Version(v) => write!(f, "snapshot version {v} is not supported"),
            SnapshotError::Parse(e) => write!(f, "invalid snapshot: {e}"),
        }
    }
}
impl std::error::Error for SnapshotError {}

impl Miner {
    /// The whole state (templates, ids, aliases, statistics, learned header)
    /// as plain data; indexes and the cache are rebuilt by [`Miner::restore`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            config: self.cfg.clone(),
            slots: self.slots.clone(),
            free: self.free.clone(),
            live: self.live,
            clock: self.clock,
            columns: self.columns,
            learning: self.learning,
            stats: self.stats,
        }
    }

    /// A miner continuing from `snap`: every id handed out before the
    /// snapshot resolves as it did.
    pub fn restore(snap: Snapshot) -> Result<Miner, SnapshotError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snap.version));
        }
        let mut m = Miner::new(snap.config);
        m.slots = snap.slots;
        m.free = snap.free;
        m.live = snap.live;
        m.clock = snap.clock;
        m.columns = snap.columns;
        m.learning = snap.learning;
        m.stats = snap.stats;
        m.rebuild_indexes();
        Ok(m)
    }

    /// [`Miner::snapshot`] as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.snapshot()).expect("snapshot is plain data")
    }

    /// [`Miner::restore`] from JSON written by [`Miner::to_json`].
    pub fn from_json(json: &str) -> Result<Miner, SnapshotError> {
        let snap: Snapshot = serde_json::from_str(json).map_err(|e| SnapshotError::Parse(e.to_string()))?;
        Miner::restore(snap)
    }
}
