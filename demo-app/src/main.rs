//! `demo-app`: serves the demo API on `0.0.0.0:$PORT` (default 5000) and writes its JSON access log and
//! messages to stdout (and to `$ACCESS_LOG_FILE` when set). `demo-app healthcheck [URL]` exits 0 if the
//! running app (or the one at URL) answers `/healthz`. `demo-app traffic [URL]` drives a running app (see `traffic`).

use std::net::SocketAddr;
use std::sync::Arc;

use demo_app::traffic::{self, TrafficConfig};
use demo_app::{background_messages, healthcheck, router, AppConfig, FileAndStdoutLog, LogWriter, StdoutLog};

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("traffic") {
        let mut cfg = match TrafficConfig::from_vars(|k| std::env::var(k).ok()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("demo-app traffic: {e}");
                std::process::exit(2);
            }
        };
        if let Some(url) = std::env::args().nth(2) {
            cfg.target = url.trim_end_matches('/').to_string();
        }
        match traffic::run(cfg, shutdown_signal()).await {
            Ok(c) => {
                let sent = c.sent.load(std::sync::atomic::Ordering::Relaxed);
                println!("traffic: done, {sent} requests sent");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("demo-app traffic: {e}");
                std::process::exit(1);
            }
        }
    }
    let cfg = match AppConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo-app: {e}");
            std::process::exit(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        match healthcheck(cfg.port, std::env::args().nth(2).as_deref()) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("demo-app healthcheck: {e}");
                std::process::exit(1);
            }
        }
    }
    let log: Arc<dyn LogWriter> = match &cfg.access_log_file {
        None => Arc::new(StdoutLog),
        Some(path) => match FileAndStdoutLog::open(path.clone(), cfg.access_log_max_bytes) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                eprintln!("demo-app: cannot open ACCESS_LOG_FILE {}: {e}", path.display());
                std::process::exit(1);
            }
        },
    };
    let addr = SocketAddr::from(([0, 0, 0, 0], cfg.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo-app: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("demo-app listening on {addr}");
    tokio::spawn(background_messages(log.clone()));
    let app = router(&cfg, log).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await {
        eprintln!("demo-app: server error: {e}");
        std::process::exit(1);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
