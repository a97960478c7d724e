//! The command line as a user meets it: help, config validation and exit codes, environment
//! overrides end to end.

mod support;

use std::process::Output;

use support::daemon::bin;

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn help_names_every_command() {
    let o = bin().arg("--help").output().unwrap();
    assert!(o.status.success());
    let (out, _) = text(&o);
    for cmd in ["run", "demo", "scan", "check-config", "healthcheck"] {
        assert!(out.contains(cmd), "--help lacks {cmd}:\n{out}");
    }
}

#[test]
fn shipped_config_checks_ok() {
    let o = bin()
        .args(["check-config", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml")])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("ok:"), "{out}");
}

#[test]
fn a_bad_value_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[detection]\nanomaly_threshold = 1.5\n").unwrap();
    let o = bin().args(["check-config", "--config"]).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("detection.anomaly_threshold"), "{}", text(&o).1);
}

#[test]
fn a_bad_maintenance_window_exits_2_and_names_the_exact_key() {
    let dir = tempfile::tempdir().unwrap();
    let window = |body: &str| {
        format!("[[suppress.maintenance]]\nfrom = \"02:00\"\nto = \"04:00\"\n\n[[suppress.maintenance]]\n{body}\n")
    };
    let cases = [
        ("start = \"2026-03-01T22:00:00Z\"\nend = \"2026-03-01T21:00:00Z\"", "suppress.maintenance[1].end"),
        ("start = \"yesterday\"\nend = \"2026-03-01T21:00:00Z\"", "suppress.maintenance[1].start"),
        ("days = [\"sun\", \"sonday\"]\nfrom = \"02:00\"\nto = \"04:00\"", "suppress.maintenance[1].days[1]"),
        ("from = \"2:00 am\"\nto = \"04:00\"", "suppress.maintenance[1].from"),
        ("from = \"02:00\"\nto = \"04:00\"\ntimezone = \"Europe/Atlantis\"", "suppress.maintenance[1].timezone"),
        ("from = \"02:00\"\nto = \"04:00\"\nendpoints = [\"(unclosed\"]", "suppress.maintenance[1].endpoints[0]"),
    ];
    for (i, (body, key)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&p, window(body)).unwrap();
        let o = bin().args(["check-config", "--config"]).arg(&p).output().unwrap();
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains(&format!("{key}:")), "expected {key} in: {err}");
    }
}

#[test]
fn an_unknown_key_exits_2_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typo.toml");
    std::fs::write(&p, "[server]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap();
    let o = bin().args(["run", "--config"]).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("listen_addr"), "{}", text(&o).1);
}

#[test]
fn a_missing_config_file_exits_2() {
    let o = bin().args(["check-config", "--config", "/nonexistent/anomaly.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("/nonexistent/anomaly.toml"));
}

#[test]
fn environment_overrides_reach_the_running_binary() {
    // A valid override is visible in the effective config...
    let o = bin()
        .args(["check-config"])
        .env("ANOMALY_DETECTOR__DETECTION__ANOMALY_THRESHOLD", "0.05")
        .env("ANOMALY_DETECTOR__FEATURES__COLUMNS", "response_time,bytes")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("anomaly_threshold=0.05"), "{out}");
    assert!(out.contains("columns=response_time,bytes"), "{out}");
    // ...and an invalid one fails with the key's name, so a mistyped section cannot pass silently.
    let o = bin().args(["check-config"]).env("ANOMALY_DETECTOR__DETECTION__INTERVAL_SECS", "0").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("detection.interval_secs"), "{}", text(&o).1);
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = bin().args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_replica_takes_its_shard_from_the_hostname_and_check_config_says_what_run_would() {
    let dir = tempfile::tempdir().unwrap();
    let check = |host: &str| {
        bin()
            .args(["check-config", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml")])
            .env("HOSTNAME", host)
            .env("ANOMALY_DETECTOR__LOKI__SHARD_COUNT", "3")
            .env("ANOMALY_DETECTOR__STATE__DIR", dir.path())
            .output()
            .unwrap()
    };
    let o = check("anomaly-detector-1");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains(r#"replica: shard 1 of 3 (index from the hostname "anomaly-detector-1")"#), "{out}");
    assert!(out.contains("shard-1-of-3"), "{out}");
    assert!(!out.contains("changed"), "{out}");

    // A host name without an index, or one past the count: exit 2, naming the key.
    for host in ["anomaly-detector", "anomaly-detector-3"] {
        let o = check(host);
        assert_eq!(o.status.code(), Some(2), "{host}: {}", text(&o).1);
        assert!(text(&o).1.contains("loki.shard_index"), "{}", text(&o).1);
    }

    // The state of another shard_count beside it: the change is said.
    std::fs::create_dir_all(dir.path().join("shard-0-of-2")).unwrap();
    let (out, _) = text(&check("anomaly-detector-1"));
    assert!(out.contains("loki.shard_count changed (state of loki.shard_count = 2 found"), "{out}");
}

#[test]
fn a_missing_input_is_a_usage_error_said_once_before_anything_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, "2026-11-24T08:00:00Z ERROR db: connection refused\n").unwrap();
    let missing = dir.path().join("missing.log");
    for cmd in ["scan", "patterns"] {
        let o = bin().arg(cmd).arg(&good).arg(&missing).output().unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert!(out.is_empty(), "{cmd}: nothing scanned before the check: {out}");
        assert_eq!(err.matches("No such file or directory").count(), 1, "{cmd}: said once: {err}");
        assert!(err.contains("missing.log") && !err.contains("os error"), "{cmd}: {err}");
    }
    let o = bin().args(["scan", "--train"]).arg(dir.path()).arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is a directory"), "{}", text(&o).1);
}

#[test]
fn a_binary_input_is_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bin_file = dir.path().join("core.bin");
    std::fs::write(&bin_file, [0x7fu8, b'E', b'L', b'F', 0, 0, 1, 2, b'\n', 0, 3, b'\n']).unwrap();
    let o = bin().args(["scan", "--no-progress"]).arg(&bin_file).output().unwrap();
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("looks binary"), "{err}");
}

#[test]
fn a_scan_too_short_to_learn_from_says_so_in_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("short.log");
    let lines: String = (0..900)
        .map(|i| {
            format!(
                "{{\"time\":\"2026-11-24T08:{:02}:{:02}Z\",\"method\":\"GET\",\"path\":\"/api/users\",\"status\":200,\"response_time_ms\":{}}}\n",
                i / 60 % 60,
                i % 60,
                40 + i % 7
            )
        })
        .collect();
    std::fs::write(&log, lines).unwrap();
    let o = bin().args(["scan", "--no-progress"]).arg(&log).output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("models not trained: 900 requests, at least 1000 needed (detection.min_training_events)"),
        "{out}"
    );
    let o = bin().args(["scan", "--no-progress", "--output", "jsonl"]).arg(&log).output().unwrap();
    let (out, err) = text(&o);
    assert!(out.is_empty() && err.contains("models not trained"), "stdout stays JSON: {out}\n{err}");
}
