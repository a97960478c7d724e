//! Config that means what it says (issue 11): `check-config` says exactly what `run` would, an
//! unusable `state.dir` never stops the daemon, empty list entries are refused.

mod support;

use std::io::Read;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::daemon::bin;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `run` with `envs` and a closed stdin, for at most `secs`; returns its exit code and stderr.
fn run_briefly(envs: &[(&str, &str)], secs: u64) -> (Option<i32>, String) {
    let mut child = bin()
        .arg("run")
        .envs(envs.iter().copied())
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (code, err)
}

#[test]
fn a_missing_password_file_fails_check_config_as_it_fails_run() {
    // The bug: check-config said ok where run exited 2.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-password");
    let envs = [
        ("ANOMALY_DETECTOR__SOURCE__KIND", "loki"),
        ("ANOMALY_DETECTOR__LOKI__USERNAME", "u"),
        ("ANOMALY_DETECTOR__LOKI__PASSWORD_FILE", missing.to_str().unwrap()),
        ("ANOMALY_DETECTOR__STATE__DIR", dir.path().to_str().unwrap()),
    ];
    let check = bin().arg("check-config").envs(envs).output().unwrap();
    assert_eq!(check.status.code(), Some(2), "{}", stderr(&check));
    assert!(stderr(&check).contains("loki.password_file"), "{}", stderr(&check));
    let (code, err) = run_briefly(&envs, 20);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("loki.password_file"), "{err}");
}

#[test]
fn an_unset_secret_variable_fails_check_config_without_printing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[[alerting.slack]]\nwebhook_url_env = \"NO_SUCH_VARIABLE_FOR_TESTS\"\n").unwrap();
    let check =
        bin().args(["check-config", "--config"]).arg(&cfg).env_remove("NO_SUCH_VARIABLE_FOR_TESTS").output().unwrap();
    assert_eq!(check.status.code(), Some(2), "{}", stderr(&check));
    assert!(stderr(&check).contains("alerting.slack[0].webhook_url_env"), "{}", stderr(&check));
    let set = bin()
        .args(["check-config", "--config"])
        .arg(&cfg)
        .env("NO_SUCH_VARIABLE_FOR_TESTS", "https://hooks.example.invalid/T0/B0/sekrit-value-123")
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let all = format!("{}{}", String::from_utf8_lossy(&set.stdout), stderr(&set));
    assert!(!all.contains("sekrit-value-123"), "{all}");
}

#[test]
fn a_state_dir_that_is_a_file_never_stops_the_loki_source() {
    // The bug: with the Loki source, run exited 1 ("source failed: … File exists").
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state-is-a-file");
    std::fs::write(&file, "x").unwrap();
    let envs = [
        ("ANOMALY_DETECTOR__SOURCE__KIND", "loki"),
        // Nothing listens there: the source keeps retrying, the daemon keeps running.
        ("ANOMALY_DETECTOR__LOKI__URL", "http://127.0.0.1:9"),
        ("ANOMALY_DETECTOR__STATE__DIR", file.to_str().unwrap()),
    ];
    let check = bin().arg("check-config").envs(envs).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stderr(&check).contains("without persistence"), "{}", stderr(&check));
    let (code, err) = run_briefly(&envs, 4);
    assert_eq!(code, None, "run stopped (code {code:?}):\n{err}");
    assert!(err.contains("without persistence"), "{err}");
}

#[test]
fn an_empty_suppress_variable_is_refused_instead_of_suppressing_everything() {
    let o = bin().arg("check-config").env("ANOMALY_DETECTOR__SUPPRESS__CLIENTS", "").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("suppress.clients[0]"), "{}", stderr(&o));
}
