//! Redaction at the source of every output (issue 11, item 3): a secret in a log line reaches
//! neither the API, nor the console's incident line; `scan` shows the user's own lines unless
//! `--redact`, and never writes escape sequences to the terminal.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::daemon::{bin, get_text};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2UifQ.c2lnbmF0dXJlc2lnbmF0dXJl";

/// A probe that the rules flag, carrying a password, a token and a JWT.
fn probe_line(i: usize) -> String {
    format!(
        r#"{{"time":"2026-11-30T10:00:{:02}Z","method":"GET","path":"/api/users?id=1%27%20OR%20%271%27=%271&password=hunter2xyz&token=tok3nvalue99","status":200,"response_time_ms":12,"remote_addr":"203.0.113.7","user_agent":"sqlmap/1.7 {JWT}"}}"#,
        i % 60
    )
}

#[test]
fn secrets_never_reach_the_api_or_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("run")
        .env("ANOMALY_DETECTOR__SOURCE__KIND", "stdin")
        .env("ANOMALY_DETECTOR__SERVER__LISTEN", "127.0.0.1:0")
        .env("ANOMALY_DETECTOR__STATE__DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let port: u16 = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("server address");
        log.push(line.clone());
        if let Some(rest) = line.split("on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    for i in 0..20 {
        writeln!(stdin, "{}", probe_line(i)).unwrap();
    }
    stdin.flush().unwrap();
    // Wait until the anomalies are served.
    let anomalies = loop {
        let body = get_text(port, "/api/v1/anomalies");
        if body.contains("\"count\":20") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let incidents = get_text(port, "/api/v1/incidents");
    drop(stdin);
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    let console = log.join("\n");
    assert!(anomalies.contains("\"count\":20"), "the probes were flagged: {anomalies}");
    assert!(console.contains("Incident opened"), "{console}");
    for (what, text) in [("anomalies", &anomalies), ("incidents", &incidents), ("console", &console)] {
        for secret in ["hunter2xyz", "tok3nvalue99", JWT] {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
        assert!(text.contains("[REDACTED]"), "{what} shows where a secret was:\n{text}");
    }
}

#[test]
fn scan_shows_own_lines_unless_redact_and_escapes_terminal_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.log");
    let mut text: String = (0..5).map(|i| probe_line(i) + "\n").collect();
    // Raw ESC and BEL bytes in the request: an OSC 52 clipboard write and a screen clear.
    text.push_str(
        "203.0.113.8 - - [30/Nov/2026:10:01:00 +0000] \"GET /.env HTTP/1.1\" 404 12 \"-\" \"sqlmap/1 \x1b]52;c;ZXZpbA==\x07\x1b[2J\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let plain = bin().args(["scan", "--no-progress"]).arg(&path).output().unwrap();
    let out = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success());
    assert!(out.contains("hunter2xyz"), "scan shows the user's own lines as they are:\n{out}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "no escape sequence reaches the terminal:\n{out:?}");
    assert!(out.contains("\\x1b]52"), "the sequence is shown escaped:\n{out}");
    let redacted = bin().args(["scan", "--no-progress", "--redact"]).arg(&path).output().unwrap();
    let out = String::from_utf8_lossy(&redacted.stdout);
    assert!(!out.contains("hunter2xyz") && !out.contains(JWT) && out.contains("[REDACTED]"), "{out}");
}
