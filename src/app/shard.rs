//! Where a replica stands: its shard (`loki.shard_index`, or the `-N` ending of a StatefulSet-style
//! hostname) and its own state directory, `state.dir/shard-<index>-of-<count>`.
//!
//! A state directory per assignment makes a change of `loki.shard_count` safe: the old cursor and
//! models belong to another split of the streams, so the replica starts a new state for the new one
//! (a backfill of its streams' history, models trained on it), says so in one log line, and leaves the
//! old state where it was.

use std::path::{Path, PathBuf};

use super::AppError;
use crate::config::{Config, SourceKind};
use crate::source::loki::Shard;

/// This replica's place, resolved before anything starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub shard: Shard,
    /// `state.dir/shard-<index>-of-<count>`.
    pub state_dir: PathBuf,
    /// The index came from the hostname (`loki.shard_index` unset).
    pub from_hostname: Option<String>,
    /// State of another assignment found beside it (`shard_count` changed), described.
    pub previous: Option<String>,
}

/// The index a StatefulSet-style hostname ends in (`detector-2` → 2).
pub fn index_from_hostname(host: &str) -> Option<u32> {
    let host = host.split('.').next().unwrap_or(host);
    let (_, n) = host.rsplit_once('-')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
}

/// This machine's host name: `$HOSTNAME`, else `gethostname(2)`.
pub fn hostname() -> Option<String> {
    if let Some(h) = std::env::var("HOSTNAME").ok().filter(|h| !h.trim().is_empty()) {
        return Some(h.trim().to_string());
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok().filter(|h| !h.is_empty())
}

/// The replica's placement when `loki.shard_count` > 1 (`None` otherwise). Errors name the key.
pub fn place(cfg: &Config, host: Option<&str>) -> Result<Option<Placement>, AppError> {
    let count = cfg.loki.shard_count;
    if cfg.source.kind != SourceKind::Loki || count <= 1 {
        return Ok(None);
    }
    let (index, from_hostname) = match cfg.loki.shard_index {
        Some(i) => (i, None),
        None => {
            let host = host.unwrap_or("");
            let Some(i) = index_from_hostname(host) else {
                return Err(AppError::Config {
                    key: "loki.shard_index".into(),
                    problem: format!(
                        "loki.shard_count is {count}: set loki.shard_index (0..{}) or run on a host named like name-N (this host: {host:?})",
                        count - 1
                    ),
                });
            };
            (i, Some(host.to_string()))
        }
    };
    if index >= count {
        return Err(AppError::Config {
            key: "loki.shard_index".into(),
            problem: format!(
                "must be below loki.shard_count ({count}), got {index}{}",
                from_hostname.as_ref().map(|h| format!(" (from the hostname {h:?})")).unwrap_or_default()
            ),
        });
    }
    let base = &cfg.state.dir;
    let name = dir_name(index, count);
    Ok(Some(Placement {
        shard: Shard { index, count },
        state_dir: base.join(&name),
        from_hostname,
        previous: other_assignments(base, count),
    }))
}

fn dir_name(index: u32, count: u32) -> String {
    format!("shard-{index}-of-{count}")
}

/// `shard_count` of a state directory name `shard-<i>-of-<n>`.
fn count_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("shard-")?;
    let (i, n) = rest.split_once("-of-")?;
    i.parse::<u32>().ok()?;
    n.parse().ok()
}

/// State left by another split of the streams under `base`: shard directories of another count,
/// or the state of a single instance (`cursor.json` in `base` itself).
pub fn other_assignments(base: &Path, count: u32) -> Option<String> {
    let mut counts: Vec<u32> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(count_of))
        .filter(|&n| n != count)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    if base.join(crate::source::loki::cursor::CURSOR_FILE).exists() && count != 1 {
        counts.insert(0, 1);
    }
    (!counts.is_empty()).then(|| {
        let was: Vec<String> = counts.iter().map(u32::to_string).collect();
        format!("state of loki.shard_count = {} found in {}", was.join(", "), base.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_give_their_trailing_index() {
        assert_eq!(index_from_hostname("anomaly-detector-2"), Some(2));
        assert_eq!(index_from_hostname("detector-10.detector.ns.svc.cluster.local"), Some(10));
        assert_eq!(index_from_hostname("detector"), None);
        assert_eq!(index_from_hostname("detector-"), None);
        assert_eq!(index_from_hostname("detector-2a"), None);
        assert_eq!(index_from_hostname("3f2a9c1b0d4e"), None);
    }

    fn loki_cfg(dir: &Path, count: u32, index: Option<u32>) -> Config {
        let mut cfg = Config::default();
        cfg.source.kind = SourceKind::Loki;
        cfg.loki.shard_count = count;
        cfg.loki.shard_index = index;
        cfg.state.dir = dir.to_path_buf();
        cfg
    }

    #[test]
    fn the_index_comes_from_the_config_or_the_hostname_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(place(&loki_cfg(dir.path(), 1, None), None).unwrap(), None);
        let p = place(&loki_cfg(dir.path(), 3, None), Some("detector-1")).unwrap().unwrap();
        assert_eq!(p.shard, Shard { index: 1, count: 3 });
        assert_eq!(p.state_dir, dir.path().join("shard-1-of-3"));
        assert_eq!(p.from_hostname.as_deref(), Some("detector-1"));
        let p = place(&loki_cfg(dir.path(), 3, Some(2)), Some("detector-1")).unwrap().unwrap();
        assert_eq!(p.shard.index, 2, "the configured index wins");
        for (host, needle) in
            [(Some("detector"), "set loki.shard_index"), (Some("detector-7"), "below loki.shard_count")]
        {
            let e = place(&loki_cfg(dir.path(), 3, None), host).unwrap_err();
            assert_eq!(e.config_error().map(|(k, _)| k), Some("loki.shard_index"));
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn state_of_another_shard_count_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(other_assignments(dir.path(), 3), None);
        std::fs::create_dir(dir.path().join("shard-0-of-2")).unwrap();
        std::fs::create_dir(dir.path().join("shard-1-of-3")).unwrap();
        let found = other_assignments(dir.path(), 3).unwrap();
        assert!(found.contains("loki.shard_count = 2 found"), "{found}");
        std::fs::write(dir.path().join("cursor.json"), "{}").unwrap();
        assert!(other_assignments(dir.path(), 3).unwrap().contains("= 1, 2 found"));
        assert!(other_assignments(dir.path(), 1).unwrap().contains("= 2, 3 found"));
    }
}
