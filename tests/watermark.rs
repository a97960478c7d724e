//! One skewed or undated line must not switch volume detection off (issue 11, item 6): the stream
//! clock judges such a line at the stream's time, counts it, and rate windows keep closing.

mod support;

use std::process::Stdio;

use support::daemon::bin;

/// The `traffic_drop` scenario as JSON lines.
fn traffic_drop(dir: &std::path::Path) -> Vec<String> {
    let path = dir.join("drop.log");
    let o = bin()
        .args(["eval", "--scenario", "traffic_drop", "--format", "json", "--dump"])
        .arg(&path)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(&path).unwrap().lines().map(String::from).collect()
}

/// Volume anomalies `scan` reports for `lines`.
fn volume_anomalies(dir: &std::path::Path, name: &str, lines: &[String]) -> usize {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let o = bin().args(["scan", "--no-progress", "--output", "jsonl"]).arg(&path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"] == "volume")
        .count()
}

/// The line at `i` with its `time` moved `hours` ahead.
fn shifted(line: &str, hours: i64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    let t: jiff::Timestamp = v["time"].as_str().unwrap().parse().unwrap();
    v["time"] = (t + jiff::SignedDuration::from_hours(hours)).to_string().into();
    v.to_string()
}

#[test]
fn a_skewed_or_undated_line_leaves_volume_detection_on() {
    let dir = tempfile::tempdir().unwrap();
    let lines = traffic_drop(dir.path());
    let clean = volume_anomalies(dir.path(), "clean.log", &lines);
    assert!(clean >= 1, "the scenario's drop is found on the clean file");

    let mut undated = lines.clone();
    undated.insert(lines.len() / 4, "hello".into());
    assert_eq!(volume_anomalies(dir.path(), "undated.log", &undated), clean, "an undated line in an old file");

    let mut ahead = lines.clone();
    ahead.insert(lines.len() / 4, shifted(&lines[lines.len() / 4], 20));
    assert_eq!(volume_anomalies(dir.path(), "ahead.log", &ahead), clean, "a line stamped 20 h ahead");

    let mut first = lines.clone();
    first.insert(0, shifted(&lines[0], 20));
    assert_eq!(volume_anomalies(dir.path(), "first.log", &first), clean, "the first line stamped 20 h ahead");
}
