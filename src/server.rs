//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, `/api/v1/anomalies`, `/api/v1/incidents`,
//! `/api/v1/status`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::state::AppState;

/// Build the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// Serve until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
        .into_response()
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let training = s.training.lock().expect("not poisoned").clone();
    let body = json!({
        "ready": s.is_ready(),
        "source": s.source_kind,
        "source_ready": s.source_answers(),
        "source_error": s.last_source_error(),
        "mode": training.mode,
        "trained": training.trained,
        "training_events": training.window_events,
        "min_training_events": training.min_training_events,
    });
    let code = if s.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    kind: Option<String>,
    severity: Option<String>,
}

async fn anomalies(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let list: Vec<_> = s
        .recent_anomalies(usize::MAX)
        .into_iter()
        .filter(|a| q.kind.as_deref().is_none_or(|k| a.kind.as_str() == k))
        .filter(|a| q.severity.as_deref().is_none_or(|v| a.severity.as_str() == v))
        .take(limit)
        .collect();
    Json(json!({ "count": list.len(), "anomalies": list })).into_response()
}

async fn incidents(State(s): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let list: Vec<_> = s
        .recent_incidents(usize::MAX)
        .into_iter()
        .filter(|i| q.kind.as_deref().is_none_or(|k| i.kind.as_str() == k))
        .filter(|i| q.severity.as_deref().is_none_or(|v| i.severity.as_str() == v))
        .take(limit)
        .collect();
    Json(json!({ "count": list.len(), "incidents": list })).into_response()
}

async fn status(State(s): State<Arc<AppState>>) -> Response {
    let training = s.training.lock().expect("not poisoned").clone();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": s.started,
        "ready": s.is_ready(),
        "source": {
            "kind": s.source_kind,
            "ready": s.source_answers(),
            "error": s.last_source_error(),
            "loki": s.loki.lock().expect("not poisoned").as_ref().map(|l| l.snapshot()),
        },
        "lines_processed": s.lines_processed.load(Ordering::Relaxed),
        "training": training,
        "recent_incidents": s.recent_incidents(10),
    }))
    .into_response()
}
