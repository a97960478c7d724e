//! The demo API of the stack: a few JSON endpoints with realistic latencies, one JSON access-log
//! line per request and the app's own messages (`app_log`) on stdout (what Promtail ships to Loki
//! and the detector reads back); and `traffic`, the generator that drives it.
//!
//! The log line never says whether a request was unusual: finding that is the detector's job.
//!
//! ```text
//! {"time":"2026-11-24T03:00:00.123Z","level":"info","method":"GET","path":"/api/users?page=2","status":200,
//!  "response_time_ms":23.4,"bytes":512,"remote_addr":"10.0.0.7","user_agent":"curl/8.5.0"}
//! ```

mod access_log;
pub mod app_log;
mod handlers;
pub mod traffic;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub use access_log::{AccessLogLine, FileAndStdoutLog, LogWriter, StdoutLog};

/// Settings of the demo app, read from the environment by [`AppConfig::from_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// TCP port (`PORT`, default 5000).
    pub port: u16,
    /// Multiplies every simulated latency (`LATENCY_SCALE`, default 1.0; 0 disables sleeping).
    pub latency_scale: f64,
    /// Also append the access log to this file (`ACCESS_LOG_FILE`; unset = stdout only).
    pub access_log_file: Option<std::path::PathBuf>,
    /// Rotate that file past this size (`ACCESS_LOG_MAX_BYTES`, default 50 MiB; one `.1` is kept).
    pub access_log_max_bytes: u64,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig { port: 5000, latency_scale: 1.0, access_log_file: None, access_log_max_bytes: 50 * 1024 * 1024 }
    }
}

impl AppConfig {
    /// Read `PORT` and `LATENCY_SCALE`; a value that does not parse is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`AppConfig::from_env`] with an explicit variable lookup.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut cfg = AppConfig::default();
        if let Some(p) = var("PORT") {
            cfg.port = p.trim().parse().map_err(|_| format!("PORT must be a port number, got {p:?}"))?;
        }
        if let Some(s) = var("LATENCY_SCALE") {
            let v: f64 = s.trim().parse().map_err(|_| format!("LATENCY_SCALE must be a number, got {s:?}"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("LATENCY_SCALE must be in [0, 100], got {v}"));
            }
            cfg.latency_scale = v;
        }
        if let Some(f) = var("ACCESS_LOG_FILE").filter(|f| !f.trim().is_empty()) {
            cfg.access_log_file = Some(f.trim().into());
        }
        if let Some(s) = var("ACCESS_LOG_MAX_BYTES") {
            cfg.access_log_max_bytes =
                s.trim().parse().map_err(|_| format!("ACCESS_LOG_MAX_BYTES must be a byte count, got {s:?}"))?;
        }
        Ok(cfg)
    }
}

/// `GET /healthz` with a plain TCP client (no curl in the image): on `127.0.0.1:port`, or on the
/// `host:port` of `url` (`http://demo-app:5000`: the traffic service's check of the app it drives).
pub fn healthcheck(port: u16, url: Option<&str>) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    use std::time::Duration;
    let authority = match url {
        None => format!("127.0.0.1:{port}"),
        Some(u) => {
            let rest = u.strip_prefix("http://").ok_or_else(|| format!("{u}: only http:// URLs are checked"))?;
            rest.split('/').next().unwrap_or(rest).to_string()
        }
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: demo-app-healthcheck\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head[9..12] {
        b"200" => Ok(()),
        other => Err(format!("/healthz answered {}", String::from_utf8_lossy(other))),
    }
}

/// The app's background messages until the process ends: a worker heartbeat every 2 s, a cache
/// refresh every 30 s.
pub async fn background_messages(log: Arc<dyn LogWriter>) {
    use rand::Rng;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    for n in 0u64.. {
        tick.tick().await;
        app_log::write(&*log, "debug", "worker", "heartbeat ok");
        if n % 15 == 14 {
            let keys = rand::thread_rng().gen_range(100..150);
            app_log::write(&*log, "info", "cache", &format!("refreshed {keys} keys"));
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) latency_scale: f64,
    pub(crate) log: Arc<dyn LogWriter>,
    pub(crate) next_order_id: Arc<std::sync::atomic::AtomicU64>,
}

/// The whole API, access log included.
pub fn router(cfg: &AppConfig, log: Arc<dyn LogWriter>) -> Router {
    let state = AppState {
        latency_scale: cfg.latency_scale,
        log,
        next_order_id: Arc::new(std::sync::atomic::AtomicU64::new(10_000)),
    };
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/api/users", get(handlers::list_users))
        .route("/api/users/{id}", get(handlers::get_user))
        .route("/api/products", get(handlers::list_products))
        .route("/api/orders", get(handlers::list_orders).post(handlers::create_order))
        .route("/api/suspicious", get(handlers::suspicious).post(handlers::suspicious))
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), access_log::log_request))
        .with_state(state)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment of these pairs only.
    pub(crate) fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn environment_sets_port_latency_and_log_file() {
        assert_eq!(AppConfig::from_vars(vars(&[])).unwrap(), AppConfig::default());
        let cfg = AppConfig::from_vars(vars(&[
            ("PORT", "8080"),
            ("LATENCY_SCALE", "0.5"),
            ("ACCESS_LOG_FILE", "/var/log/demo-app/access.log"),
            ("ACCESS_LOG_MAX_BYTES", "1048576"),
        ]))
        .unwrap();
        assert_eq!((cfg.port, cfg.latency_scale, cfg.access_log_max_bytes), (8080, 0.5, 1_048_576));
        assert_eq!(cfg.access_log_file.as_deref(), Some(std::path::Path::new("/var/log/demo-app/access.log")));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [("PORT", "http"), ("PORT", "70000"), ("LATENCY_SCALE", "-1"), ("ACCESS_LOG_MAX_BYTES", "big")] {
            let err = AppConfig::from_vars(vars(&[(k, v)])).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
    }
}
