//! The persisted read position: the last timestamp delivered plus the lines already delivered at it.
//!
//! # Invariant
//!
//! For a cursor `{ts, seen}`:
//! - every entry with a timestamp `< ts` has been delivered (or deliberately skipped and counted);
//! - of the entries at exactly `ts`, those delivered are the multiset `seen` (hash of labels + line →
//!   how many times); identical lines at one timestamp are counted, not collapsed, because Loki returns
//!   each copy;
//! - no entry with a timestamp `> ts` has been delivered.
//!
//! The next query starts at `ts - 1` (1 ns back, so a flushed chunk whose last entry sits exactly on
//! `ts` is still returned). Everything it returns below `ts` is dropped by timestamp alone, which is why
//! no hashes of `ts - 1` are kept; at `ts` the first `seen[h]` occurrences of each hash are dropped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::SourceError;

/// File name of the cursor inside `state.dir`.
pub const CURSOR_FILE: &str = "cursor.json";
/// Version written to and expected in `cursor.json`.
pub const CURSOR_VERSION: u32 = 1;

/// FNV-1a 64-bit hash of a line and its labels: stable across runs, platforms and Rust versions.
pub fn line_hash(labels: &BTreeMap<String, String>, line: &str) -> u64 {
    let mut h = crate::hash::Fnv1a::default();
    for (k, v) in labels {
        h.write(k.as_bytes());
        h.write(&[0x1f]);
        h.write(v.as_bytes());
        h.write(&[0x1e]);
    }
    h.write(&[0x1d]);
    h.write(line.as_bytes());
    h.finish()
}

/// Where reading resumes. See the module docs for the invariant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Unix nanoseconds of the newest delivered entry (or the start of the next window).
    pub ts: i64,
    /// Lines already delivered at exactly `ts`: hash → occurrences.
    pub seen: BTreeMap<u64, u32>,
}

impl Cursor {
    /// A cursor before which everything counts as done and at which nothing was delivered.
    pub fn at(ts: i64) -> Self {
        Cursor { ts, seen: BTreeMap::new() }
    }

    /// Lines delivered at `ts` (sum of occurrences).
    pub fn seen_total(&self) -> u64 {
        self.seen.values().map(|c| u64::from(*c)).sum()
    }

    /// Record one delivered entry (entries must come in non-decreasing timestamp order).
    pub fn advance(&mut self, ts: i64, hash: u64) {
        if ts > self.ts {
            self.ts = ts;
            self.seen.clear();
        }
        *self.seen.entry(hash).or_insert(0) += 1;
    }

    /// Move to `ts` with nothing seen there, if that is ahead of the cursor.
    pub fn jump_to(&mut self, ts: i64) {
        if ts > self.ts {
            *self = Cursor::at(ts);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CursorFile {
    version: u32,
    /// Nanoseconds as a decimal string (JSON numbers lose precision above 2^53 in many tools).
    timestamp_ns: String,
    /// The same instant in RFC 3339, for people reading the file.
    #[serde(default)]
    timestamp: String,
    /// The LogQL query the cursor was read with (informational).
    #[serde(default)]
    query: String,
    /// Hex FNV-1a hash → occurrences of the lines delivered at `timestamp_ns`.
    seen: BTreeMap<String, u32>,
}

/// Why a saved cursor could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorLoadError {
    /// No file: a first start.
    #[error("no cursor file")]
    Missing,
    /// The file exists but cannot be read or parsed.
    #[error("unreadable cursor file: {0}")]
    Corrupt(String),
    /// The file has another `version`.
    #[error("cursor file has version {found}, expected {CURSOR_VERSION}")]
    Version { found: u32 },
}

/// Reads and writes `cursor.json` in one directory.
#[derive(Debug, Clone)]
pub struct CursorStore {
    dir: PathBuf,
}

impl CursorStore {
    /// A store in `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Self, SourceError> {
        fs::create_dir_all(dir).map_err(|e| SourceError::Io { path: dir.display().to_string(), source: e })?;
        Ok(CursorStore { dir: dir.to_path_buf() })
    }

    /// Path of `cursor.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CURSOR_FILE)
    }

    /// The saved cursor, or why there is none usable.
    pub fn load(&self) -> Result<Cursor, CursorLoadError> {
        let text = match fs::read_to_string(self.path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CursorLoadError::Missing),
            Err(e) => return Err(CursorLoadError::Corrupt(e.to_string())),
        };
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly = serde_json::from_str(&text).map_err(|e| CursorLoadError::Corrupt(e.to_string()))?;
        if v.version != CURSOR_VERSION {
            return Err(CursorLoadError::Version { found: v.version });
        }
        let f: CursorFile = serde_json::from_str(&text).map_err(|e| CursorLoadError::Corrupt(e.to_string()))?;
        let ts = f
            .timestamp_ns
            .parse::<i64>()
            .map_err(|e| CursorLoadError::Corrupt(format!("timestamp_ns {:?}: {e}", f.timestamp_ns)))?;
        let mut seen = BTreeMap::new();
        for (k, c) in f.seen {
            let h = u64::from_str_radix(&k, 16).map_err(|e| CursorLoadError::Corrupt(format!("hash {k:?}: {e}")))?;
            if c > 0 {
                seen.insert(h, c);
            }
        }
        Ok(Cursor { ts, seen })
    }

    /// Write the cursor atomically: temp file in the same directory, fsync, rename, fsync the directory.
    pub fn save(&self, cursor: &Cursor, query: &str) -> Result<(), SourceError> {
        let file = CursorFile {
            version: CURSOR_VERSION,
            timestamp_ns: cursor.ts.to_string(),
            timestamp: jiff::Timestamp::from_nanosecond(i128::from(cursor.ts))
                .map(|t| t.to_string())
                .unwrap_or_default(),
            query: query.to_string(),
            seen: cursor.seen.iter().map(|(h, c)| (format!("{h:016x}"), *c)).collect(),
        };
        let mut body = serde_json::to_vec_pretty(&file).expect("cursor serializes");
        body.push(b'\n');
        let dest = self.path();
        crate::state_file::write_atomic(&dest, &body)
            .map_err(|e| SourceError::Io { path: dest.display().to_string(), source: e })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// FNV-1a 64 of `job` 0x1f `a` 0x1e 0x1d `x`, computed independently.
    const HASH_JOB_A_X: u64 = 0x3efa_0709_faf4_bcaf;

    #[test]
    fn hash_is_stable_and_separates_labels_from_line() {
        // Pinned value: a change here would make every saved cursor re-deliver its boundary lines.
        assert_eq!(line_hash(&labels(&[("job", "a")]), "x"), line_hash(&labels(&[("job", "a")]), "x"));
        assert_eq!(line_hash(&BTreeMap::new(), ""), 12_638_174_006_416_103_464);
        assert_eq!(line_hash(&labels(&[("job", "a")]), "x"), HASH_JOB_A_X);
        assert_ne!(line_hash(&labels(&[("job", "ab")]), "c"), line_hash(&labels(&[("job", "a")]), "bc"));
        assert_ne!(line_hash(&labels(&[("job", "a")]), "x"), line_hash(&labels(&[("job", "b")]), "x"));
    }

    #[test]
    fn advance_counts_duplicates_and_resets_on_newer_timestamp() {
        let mut c = Cursor::at(10);
        c.advance(10, 7);
        c.advance(10, 7);
        c.advance(10, 8);
        assert_eq!(c.seen.get(&7), Some(&2));
        assert_eq!(c.seen_total(), 3);
        c.advance(11, 9);
        assert_eq!((c.ts, c.seen_total()), (11, 1));
        c.jump_to(5);
        assert_eq!(c.ts, 11, "jump_to never moves back");
        c.jump_to(20);
        assert_eq!(c, Cursor::at(20));
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(&dir.path().join("nested")).unwrap();
        assert_eq!(store.load(), Err(CursorLoadError::Missing));
        let mut c = Cursor::at(1_795_489_809_000_000_000);
        c.advance(c.ts, u64::MAX);
        c.advance(c.ts, u64::MAX);
        c.advance(c.ts, 1);
        store.save(&c, "{job=\"x\"}").unwrap();
        assert_eq!(store.load().unwrap(), c);
        // Overwrite: the newest wins, and only cursor.json remains in the directory.
        let c2 = Cursor::at(c.ts + 5);
        store.save(&c2, "{job=\"x\"}").unwrap();
        assert_eq!(store.load().unwrap(), c2);
        let names: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![CURSOR_FILE.to_string()]);
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"timestamp_ns\": \"1795489809000000005\""), "{text}");
    }

    #[test]
    fn other_version_is_reported_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(dir.path()).unwrap();
        fs::write(store.path(), r#"{"version": 0, "timestamp_ns": "5", "seen": {}}"#).unwrap();
        assert_eq!(store.load(), Err(CursorLoadError::Version { found: 0 }));
        fs::write(store.path(), r#"{"version": 2, "something": "else"}"#).unwrap();
        assert_eq!(store.load(), Err(CursorLoadError::Version { found: 2 }));
    }

    #[test]
    fn corrupt_files_are_reported_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(dir.path()).unwrap();
        for bad in [
            "",
            "{",
            "garbage",
            r#"{"version": 1}"#,
            r#"{"version": 1, "timestamp_ns": "soon", "seen": {}}"#,
            r#"{"version": 1, "timestamp_ns": "5", "seen": {"zz": 1}}"#,
        ] {
            fs::write(store.path(), bad).unwrap();
            assert!(matches!(store.load(), Err(CursorLoadError::Corrupt(_))), "{bad:?} → {:?}", store.load());
        }
    }
}
