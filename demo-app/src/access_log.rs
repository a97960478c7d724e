//! One JSON access-log line per request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::AppState;

/// Where access-log lines go (stdout in the binary, a buffer in tests).
pub trait LogWriter: Send + Sync {
    /// Write one complete line (without the trailing newline).
    fn write_line(&self, line: &str);
}

/// Writes each line to stdout, flushed, so `docker logs` and Promtail see it at once.
pub struct StdoutLog;

impl LogWriter for StdoutLog {
    fn write_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not take the API down; the line is lost either way.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Appends each line to a file as well as stdout, rotating it (one `.1` kept) past `max_bytes`, so a
/// log shipper can tail it from a shared volume without a container-runtime socket.
pub struct FileAndStdoutLog {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<(File, u64)>>,
}

impl FileAndStdoutLog {
    /// Open (or create) `path` for appending; fails if its directory is missing or not writable.
    pub fn open(path: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = f.metadata()?.len();
        Ok(FileAndStdoutLog { path, max_bytes: max_bytes.max(4096), file: Mutex::new(Some((f, len))) })
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, len)) = guard.as_ref() {
            if *len + line.len() as u64 + 1 > self.max_bytes {
                *guard = None;
                let mut rotated = self.path.clone().into_os_string();
                rotated.push(".1");
                std::fs::rename(&self.path, rotated)?;
            }
        }
        if guard.is_none() {
            let f = OpenOptions::new().create(true).append(true).open(&self.path)?;
            *guard = Some((f, 0));
        }
        let (f, len) = guard.as_mut().expect("opened above");
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        *len += line.len() as u64 + 1;
        Ok(())
    }
}

impl LogWriter for FileAndStdoutLog {
    fn write_line(&self, line: &str) {
        StdoutLog.write_line(line);
        if let Err(e) = self.append(line) {
            eprintln!("access log file {}: {e}", self.path.display());
        }
    }
}

/// The fields of one access-log line, in the order they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogLine {
    /// RFC 3339, UTC, millisecond precision.
    pub time: String,
    /// `info` below 400, `warn` for 4xx, `error` for 5xx.
    pub level: String,
    pub method: String,
    /// Path with the query string, as requested.
    pub path: String,
    pub status: u16,
    /// Wall time from request to response head, in milliseconds (3 decimals).
    pub response_time_ms: f64,
    /// Response body size in bytes.
    pub bytes: u64,
    /// First `X-Forwarded-For` address if present (the app normally sits behind a proxy), else the peer.
    pub remote_addr: String,
    pub user_agent: String,
}

fn level_of(status: u16) -> &'static str {
    match status {
        500.. => "error",
        400..=499 => "warn",
        _ => "info",
    }
}

fn client_of(headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64);
    match (forwarded, peer) {
        (Some(f), _) => f.to_string(),
        (None, Some(p)) => p.ip().to_string(),
        (None, None) => "-".to_string(),
    }
}

/// Middleware: time the request, then write its line.
pub(crate) async fn log_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| "/".into());
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let remote_addr = client_of(req.headers(), peer);
    let user_agent =
        req.headers().get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();

    let response: Response<Body> = next.run(req).await;

    let status = response.status().as_u16();
    let bytes = response.body().size_hint().exact().unwrap_or_else(|| response.body().size_hint().lower());
    let elapsed_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let line = AccessLogLine {
        time: format!("{:.3}", jiff::Timestamp::now()),
        level: level_of(status).to_string(),
        method,
        path,
        status,
        response_time_ms: elapsed_ms,
        bytes,
        remote_addr,
        user_agent,
    };
    match serde_json::to_string(&line) {
        Ok(s) => state.log.write_line(&s),
        Err(e) => eprintln!("access log line could not be encoded: {e}"),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_follows_status_class() {
        assert_eq!(level_of(200), "info");
        assert_eq!(level_of(304), "info");
        assert_eq!(level_of(404), "warn");
        assert_eq!(level_of(503), "error");
    }

    #[test]
    fn forwarded_for_wins_over_the_peer_and_is_bounded() {
        let peer: SocketAddr = "172.18.0.5:41000".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(client_of(&h, Some(peer)), "172.18.0.5");
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(client_of(&h, Some(peer)), "203.0.113.9");
        h.insert("x-forwarded-for", "x".repeat(200).parse().unwrap());
        assert_eq!(client_of(&h, Some(peer)), "172.18.0.5");
        assert_eq!(client_of(&HeaderMap::new(), None), "-");
    }

    #[test]
    fn file_log_appends_and_rotates_keeping_every_line() {
        let dir = std::env::temp_dir().join(format!("demo-app-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(dir.join("access.log.1"));
        let log = FileAndStdoutLog::open(path.clone(), 4096).unwrap();
        let line = "y".repeat(99);
        for _ in 0..50 {
            log.append(&line).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(dir.join("access.log.1")).unwrap();
        assert!(current.len() <= 4096 && old.len() <= 4096);
        assert_eq!(old.lines().count(), 40, "rotated once 4096 bytes were reached");
        assert_eq!(current.lines().count(), 10);
        assert!(current.lines().chain(old.lines()).all(|l| l == line));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let ts: jiff::Timestamp = "2026-11-24T03:00:00.123456Z".parse().unwrap();
        assert_eq!(format!("{ts:.3}"), "2026-11-24T03:00:00.123Z");
        let whole: jiff::Timestamp = "2026-11-24T03:00:00Z".parse().unwrap();
        assert_eq!(format!("{whole:.3}"), "2026-11-24T03:00:00.000Z");
    }
}
