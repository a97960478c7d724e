//! Online log template miner: the *template stage* (issue 15): each message is assigned to a
//! template at once, with bounded memory.
//!
//! ```text
//! raw line ──tokenize+mask──▶ pieces ──key──▶ cache hit? ──▶ TemplateId
//!                                          └─ miss: pattern index ─▶ match | new template
//!                                                                        └─ sibling evidence ─▶ merge
//! ```
//!
//! * [`mask`]: cuts a line into pieces and masks variables (numbers, hex, IPs,
//!   UUIDs, paths, URLs, durations, e-mails, dates, optionally quoted strings).
//! * [`Miner`]: assigns each line to a template at once, merges templates when a
//!   token position shows several values, and evicts the least recently seen
//!   templates beyond [`MinerConfig::max_templates`].
//! * `Miner::snapshot`/`Miner::restore` (serde), so ids survive a restart.
//!
//! ```
//! use anomaly_detector::patterns::{Miner, MinerConfig};
//! let mut m = Miner::new(MinerConfig::default());
//! let a = m.add("2024-01-01 10:00:00 INFO worker: job 17 done in 35ms");
//! let b = m.add("2024-01-01 10:00:01 INFO worker: job 18 done in 12ms");
//! assert_eq!(a, b);
//! assert_eq!(m.template(a).unwrap(), "job <*> done in <*>");
//! ```

pub mod cli;
mod config;
mod key;
pub mod mask;
mod miner;
pub mod session;
pub mod stage;
mod template;

pub use config::MinerConfig;
pub use miner::{Miner, MinerStats, TemplateId, TemplateInfo};
pub use miner::{Snapshot, SnapshotError};

/// The 16 Loghub-2k systems this stage is measured on (`../shared/datasets/loghub-2k`; the
/// accuracy test and `benches/patterns.rs`).
pub const LOGHUB_2K_SYSTEMS: [&str; 16] = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
];
