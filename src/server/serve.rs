//! Serving: hyper's HTTP/1 connection with a header-read timeout (a client that trickles its
//! request head is cut off), the router's tower layers for the rest (see [`super::router`]), and a
//! graceful shutdown on the daemon's cancellation token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{router, Access};
use crate::app::state::AppState;
use crate::config::{ConfigError, ServerConfig};

/// How long open connections get to finish their request at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How much the server takes on, from `[server]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_raw_line_bytes: usize,
    pub max_response_bytes: usize,
}

/// Everything the server enforces.
#[derive(Clone)]
pub struct Settings {
    pub access: Arc<Access>,
    pub limits: Limits,
}

impl Settings {
    /// From a validated config; `listen` is the address actually bound.
    pub fn new(cfg: &ServerConfig, listen: SocketAddr) -> Result<Settings, ConfigError> {
        Ok(Settings {
            access: Arc::new(Access::new(cfg.api_token()?, cfg.read_token()?, listen)),
            limits: Limits {
                max_concurrent_requests: cfg.max_concurrent_requests,
                request_timeout: Duration::from_secs(cfg.request_timeout_secs),
                header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs),
                max_raw_line_bytes: cfg.max_raw_line_bytes,
                max_response_bytes: cfg.max_response_bytes,
            },
        })
    }
}

/// Serve until `shutdown` is cancelled, then let open requests finish (for a while).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    settings: Settings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(settings.limits.header_read_timeout);
    let app = router(state, &settings);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "HTTP connections still open at shutdown were dropped");
    }
    Ok(())
}
