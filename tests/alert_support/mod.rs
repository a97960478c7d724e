//! Helpers for `tests/alerting.rs`: a recording HTTP receiver, scripted channels, incidents, and the
//! real Alertmanager / aiosmtpd processes.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anomaly_detector::config::Severity;
use anomaly_detector::detect::{Anomaly, AnomalyKind, Incident};
use anomaly_detector::metrics::{ChannelOutcomeLabels, Metrics};
use anomaly_detector::sink::alert::{BoxFuture, Channel, Clock, Event, Notification, SinkError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

/// A scripted reply: status and optional `Retry-After`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
}

#[derive(Default)]
struct RecorderState {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

/// An HTTP server on 127.0.0.1:<free> that records every request and answers 200 (or the next
/// scripted reply).
pub struct Recorder {
    pub addr: SocketAddr,
    state: Arc<RecorderState>,
}

async fn record(State(s): State<Arc<RecorderState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let reply = s.script.lock().unwrap().pop_front().unwrap_or(Reply { status: 200, retry_after: None });
    let recorded = Recorded { path: uri.path().to_string(), headers, body: body.to_vec(), status: reply.status };
    s.requests.lock().unwrap().push(recorded);
    let mut resp = StatusCode::from_u16(reply.status).unwrap().into_response();
    if let Some(ra) = reply.retry_after {
        resp.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    resp
}

impl Recorder {
    pub async fn start() -> Recorder {
        let state = Arc::new(RecorderState::default());
        let app = axum::Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Forgets the replies still scripted: from now on every request is answered 200.
    pub fn clear_script(&self) {
        self.state.script.lock().unwrap().clear();
    }

    /// The requests answered 2xx (the ones a channel counts as accepted).
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| (200..300).contains(&r.status)).collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits (real time, bounded) until `pred` holds on the requests.
    pub async fn wait_until(&self, what: &str, limit: Duration, pred: impl Fn(&[Recorded]) -> bool) -> Vec<Recorded> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let reqs = self.requests();
            if pred(&reqs) {
                return reqs;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}; got {reqs:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A clock that always says the same time (deterministic snapshots).
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// An incident with the given examples as raw lines.
pub fn incident(fp: &str, count: u64, severity: Severity, examples: &[&str]) -> Incident {
    let first = ts("2026-03-01T10:00:00Z");
    let last = ts("2026-03-01T10:04:00Z");
    Incident {
        id: format!("{fp}@2026-03-01T10:00:00Z"),
        fingerprint: fp.to_string(),
        kind: AnomalyKind::ResponseTime,
        endpoint: "GET /api/products".into(),
        client: None,
        severity,
        score: 0.93,
        first_seen: first,
        last_seen: last,
        count,
        detectors: vec!["ocsvm_response_time".into()],
        reason: "GET /api/products took 612 ms; its baseline p99 is 71 ms".into(),
        examples: examples
            .iter()
            .map(|raw| Anomaly {
                line: None,
                timestamp: first,
                kind: AnomalyKind::ResponseTime,
                detectors: vec!["ocsvm_response_time".into()],
                score: 0.93,
                severity,
                endpoint: "GET /api/products".into(),
                client: None,
                session: None,
                reason: "slow".into(),
                features: vec![],
                raw: Some(raw.to_string()),
            })
            .collect(),
    }
}

/// `anomaly_detector_alerts_total{channel, outcome}`.
pub fn alerts(metrics: &Metrics, channel: &str, outcome: &str) -> u64 {
    metrics.alerts.get_or_create(&ChannelOutcomeLabels { channel: channel.into(), outcome: outcome.into() }).get()
}

/// What a [`ScriptedChannel`] does on one attempt.
#[derive(Debug, Clone)]
pub enum Step {
    Ok,
    Fail(u16, Option<Duration>),
    /// Never answers within any timeout.
    Hang,
    ConnectError,
}

/// A channel double driven by a script (then the default step), recording attempts and deliveries.
pub struct ScriptedChannel {
    pub name: String,
    pub min_severity: Severity,
    pub rate_limited: bool,
    pub script: Mutex<VecDeque<Step>>,
    pub default: Mutex<Step>,
    pub attempts: Mutex<Vec<(tokio::time::Instant, Event)>>,
    pub delivered: Mutex<Vec<Notification>>,
}

impl ScriptedChannel {
    pub fn new(name: &str, default: Step) -> Arc<ScriptedChannel> {
        Arc::new(ScriptedChannel {
            name: name.into(),
            min_severity: Severity::Low,
            rate_limited: true,
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            attempts: Mutex::new(Vec::new()),
            delivered: Mutex::new(Vec::new()),
        })
    }
    pub fn with_min(name: &str, min: Severity) -> Arc<ScriptedChannel> {
        let mut c = Arc::into_inner(Self::new(name, Step::Ok)).unwrap();
        c.min_severity = min;
        Arc::new(c)
    }
    pub fn set_default(&self, step: Step) {
        *self.default.lock().unwrap() = step;
    }
    pub fn delivered(&self) -> Vec<Notification> {
        self.delivered.lock().unwrap().clone()
    }
    pub fn events(&self) -> Vec<Event> {
        self.delivered().iter().map(|n| n.event).collect()
    }
    pub fn attempt_times(&self) -> Vec<tokio::time::Instant> {
        self.attempts.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }
}

impl Channel for ScriptedChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn rate_limited(&self) -> bool {
        self.rate_limited
    }
    fn accepts(&self, event: Event) -> bool {
        // Like Alertmanager: a channel exempt from the rate limit takes no summaries.
        self.rate_limited || event != Event::Summary
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.attempts.lock().unwrap().push((tokio::time::Instant::now(), n.event));
            let step = self.script.lock().unwrap().pop_front().unwrap_or_else(|| self.default.lock().unwrap().clone());
            match step {
                Step::Ok => {
                    self.delivered.lock().unwrap().push(n.clone());
                    Ok(())
                }
                Step::Fail(status, retry_after) => Err(SinkError::HttpStatus { status, retry_after }),
                Step::Hang => {
                    tokio::time::sleep(Duration::from_secs(86_400)).await;
                    Ok(())
                }
                Step::ConnectError => Err(SinkError::Connect("connection refused".into())),
            }
        })
    }
}

/// A child process killed on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (real time, bounded) until something accepts TCP connections on the port.
pub async fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        assert!(std::time::Instant::now() < deadline, "{what} did not listen on {port} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The env var's value, or a loud skip message and `None`.
pub fn required_env(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            // Written to the real stderr (not eprintln!, which the test harness captures) so the skip
            // shows in a plain `cargo test`.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! SKIPPED {test}: {var} is not set. Run `eval \"$(scripts/alert-deps.sh)\"` (scripts/test.sh does) \
                 to run it against the real service. !!!\n"
            );
            None
        }
    }
}

/// Starts a real Alertmanager delivering to `webhook_url` with `group_wait: 1s`.
pub async fn start_alertmanager(bin: &str, dir: &Path, webhook_url: &str) -> (ChildGuard, u16) {
    let config = format!(
        "route:\n  receiver: rec\n  group_by: ['alertname', 'fingerprint']\n  group_wait: 1s\n  group_interval: 1s\n  \
         repeat_interval: 1h\nreceivers:\n  - name: rec\n    webhook_configs:\n      - url: '{webhook_url}'\n        \
         send_resolved: true\n"
    );
    let cfg_path = dir.join("alertmanager.yml");
    std::fs::write(&cfg_path, config).unwrap();
    let port = free_port();
    let mut child = Command::new(bin)
        .arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prometheus-alertmanager");
    wait_for_port(port, "alertmanager", &mut child).await;
    // Ready means the config is loaded.
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/-/ready")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "alertmanager not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (ChildGuard(child), port)
}

/// Starts `python3 -m aiosmtpd` with the Mailbox handler (no AUTH) writing into `maildir`.
pub async fn start_smtp_mailbox(python: &str, pythonpath: &str, maildir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let mut child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .env("PYTHONPATH", pythonpath)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aiosmtpd");
    wait_for_port(port, "aiosmtpd", &mut child).await;
    (ChildGuard(child), port)
}

const AUTH_SERVER: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()

def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password:
        return AuthResult(success=True)
    # handled=False lets aiosmtpd answer 535; handled=True without a reply hangs the client.
    return AuthResult(success=False, handled=False)

controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, authenticator=authenticator,
                        auth_required=True, auth_require_tls=False)
controller.start()
while True:
    time.sleep(3600)
"#;

/// Starts an aiosmtpd that requires login as `user`/`password`.
pub async fn start_smtp_with_auth(
    python: &str,
    pythonpath: &str,
    dir: &Path,
    maildir: &Path,
    user: &str,
    password: &str,
) -> (ChildGuard, u16) {
    let script = dir.join("smtp_auth.py");
    std::fs::write(&script, AUTH_SERVER).unwrap();
    let port = free_port();
    let mut child = Command::new(python)
        .arg(&script)
        .arg(port.to_string())
        .arg(maildir)
        .arg(user)
        .arg(password)
        .env("PYTHONPATH", pythonpath)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aiosmtpd controller");
    wait_for_port(port, "aiosmtpd (auth)", &mut child).await;
    (ChildGuard(child), port)
}

/// Messages in `<maildir>/new`, each decoded by Python's `email` package into
/// `{"headers": [[name, value]...], "subject", "plain", "html"}`.
pub fn read_maildir(python: &str, maildir: &Path) -> Vec<serde_json::Value> {
    let new = maildir.join("new");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&new) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    const DECODE: &str = r#"
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
out = {"headers": [[k, str(v)] for k, v in m.items()], "subject": str(m["subject"]), "plain": None, "html": None}
for part in m.walk():
    if part.get_content_type() == "text/plain": out["plain"] = part.get_content()
    if part.get_content_type() == "text/html": out["html"] = part.get_content()
print(json.dumps(out))
"#;
    files
        .iter()
        .map(|f| {
            let out = Command::new(python).arg("-c").arg(DECODE).arg(f).output().unwrap();
            assert!(out.status.success(), "decode {}: {}", f.display(), String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}

/// Waits (real time, bounded) for `n` messages in the maildir.
pub async fn wait_for_mail(python: &str, maildir: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = std::fs::read_dir(maildir.join("new")).map(|d| d.count()).unwrap_or(0);
        if count >= n {
            return read_maildir(python, maildir);
        }
        assert!(std::time::Instant::now() < deadline, "expected {n} message(s) in {}", maildir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
