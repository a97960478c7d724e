//! Files in `state.dir` (`cursor.json`, `models.json`, `alerts.json`): written atomically so a crash
//! leaves either the old file or the new one, never half of either. A process killed mid-write
//! leaves its temp file (`.<name>.tmp-<pid>`); [`remove_stale_temps`] clears those at start.

use std::fs;
use std::io::Write;
use std::path::Path;

/// The temp file [`write_atomic`] writes `name` through: `.<name>.tmp-<pid>`.
fn temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.tmp-{pid}")
}

/// The pid of a temp file name of [`temp_name`]'s shape, if it is one.
fn temp_pid(file_name: &str) -> Option<u32> {
    let (stem, pid) = file_name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    if stem.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temp files earlier runs left in `dir` (a process killed between create and rename);
/// only names of [`write_atomic`]'s own shape, never this process's. Returns how many were removed.
/// A missing directory has none.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name.to_str().and_then(temp_pid).is_some_and(|pid| pid != me);
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Write `bytes` to `path` atomically: a temp file in the same directory (created if missing),
/// fsync, rename over `path`, fsync the directory. The temp file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] with the content written by `write` (buffered) as it is made, so a large
/// file (`models.json` with 10,000 templates) is never held in memory whole.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(temp_name(&name, std::process::id()));
    let result = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, fs::File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // So the rename itself survives a crash (not possible on every platform).
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_write_that_fails_halfway_keeps_the_old_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("models.json");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(&[b'x'; 100_000])?;
            Err(std::io::Error::other("serialising failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "serialising failed");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temp_files_of_earlier_runs_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let other = if me == 1 { 2 } else { me - 1 };
        let stale =
            [temp_name("alerts.json", other), temp_name("cursor.json", 99_999_999), temp_name("models.json", 7)];
        let kept = [
            temp_name("alerts.json", me),
            "alerts.json".to_string(),
            ".alerts.json.tmp-".to_string(),
            ".alerts.json.tmp-12x".to_string(),
            "alerts.json.tmp-12".to_string(),
            ".tmp-12".to_string(),
            ".notes.tmp".to_string(),
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        fs::create_dir(dir.path().join(temp_name("dir", other))).unwrap();
        assert_eq!(remove_stale_temps(dir.path()), stale.len());
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut expected: Vec<String> = kept.to_vec();
        expected.push(temp_name("dir", other));
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(remove_stale_temps(&dir.path().join("missing")), 0);
    }
}
