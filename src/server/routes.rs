//! The router and its handlers. The mutating routes share one sub-router behind
//! [`access::require_write`], so a new POST or DELETE route added there is protected like the
//! others; the `/api/v1` reads share one behind [`access::require_read`] and a concurrency limit.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::{access, listing, Limits, Settings};
use crate::app::pipeline::RebaselineError;
use crate::app::state::AppState;
use crate::config::Severity;
use crate::detect::AnomalyKind;

/// Largest request body accepted (the API takes its arguments in the query string).
const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;
/// Items in one list answer at most (`?limit=`), whatever is asked.
const MAX_LIST_LIMIT: usize = 1000;
/// Items in one list answer without `?limit=`.
const DEFAULT_LIST_LIMIT: usize = 100;

/// What the handlers read.
#[derive(Clone)]
struct Ctx {
    state: Arc<AppState>,
    limits: Arc<Limits>,
}

/// Build the router.
pub fn router(state: Arc<AppState>, settings: &Settings) -> Router {
    let ctx = Ctx { state, limits: Arc::new(settings.limits.clone()) };
    let reads = Router::new()
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/status", get(status))
        .route("/api/v1/patterns", get(patterns))
        .route_layer(from_fn_with_state(settings.access.clone(), access::require_read));
    let writes = Router::new()
        .route("/api/v1/rebaseline", post(rebaseline))
        .route("/api/v1/incidents/{id}/dismiss", post(dismiss).delete(undismiss))
        .route_layer(from_fn_with_state(settings.access.clone(), access::require_write));
    // One semaphore for every /api/v1 route; a request beyond it is answered 503 at once.
    let api = reads.merge(writes).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async { busy() }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(settings.limits.max_concurrent_requests)),
    );
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .layer(
            ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY_BYTES))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.limits.request_timeout)),
        )
        .with_state(ctx)
}

fn busy() -> Response {
    let error = "too many API requests at once (server.max_concurrent_requests); retry later";
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], Json(json!({ "error": error }))).into_response()
}

async fn metrics(State(Ctx { state: s, .. }): State<Ctx>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
        .into_response()
}

async fn readyz(State(Ctx { state: s, .. }): State<Ctx>) -> Response {
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

impl ListQuery {
    /// The items (newest first) that pass the `kind` and `severity` filters, at most `limit`
    /// (default [`DEFAULT_LIST_LIMIT`], capped at [`MAX_LIST_LIMIT`]).
    fn select<T>(&self, items: Vec<Arc<T>>, facets: impl Fn(&T) -> (AnomalyKind, Severity)) -> Vec<Arc<T>> {
        let limit = self.limit.unwrap_or(DEFAULT_LIST_LIMIT).min(MAX_LIST_LIMIT);
        items
            .into_iter()
            .filter(|item| {
                let (kind, severity) = facets(item);
                self.kind.as_deref().is_none_or(|k| kind.as_str() == k)
                    && self.severity.as_deref().is_none_or(|v| severity.as_str() == v)
            })
            .take(limit)
            .collect()
    }
}

async fn anomalies(State(Ctx { state, limits }): State<Ctx>, Query(q): Query<ListQuery>) -> Response {
    let list = q.select(state.recent_anomalies(usize::MAX), |a| (a.kind, a.severity));
    let items = list.iter().map(|a| listing::anomaly(a, limits.max_raw_line_bytes));
    listing::body("anomalies", items, limits.max_response_bytes)
}

async fn incidents(State(Ctx { state, limits }): State<Ctx>, Query(q): Query<ListQuery>) -> Response {
    let list = q.select(state.recent_incidents(usize::MAX), |i| (i.kind, i.severity));
    let items = list.iter().map(|i| listing::incident(i, limits.max_raw_line_bytes));
    listing::body("incidents", items, limits.max_response_bytes)
}

async fn status(State(Ctx { state: s, limits }): State<Ctx>) -> Response {
    let training = s.training.lock().expect("not poisoned").clone();
    let incidents = s.recent_incidents(10);
    let recent_incidents: Vec<_> = incidents.iter().map(|i| listing::incident(i, limits.max_raw_line_bytes)).collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started": s.started,
        "ready": s.is_ready(),
        "source": {
            "kind": s.source_kind,
            "ready": s.source_answers(),
            "error": s.last_source_error(),
            "loki": s.loki.lock().expect("not poisoned").as_ref().map(|l| l.snapshot()),
            "shard": s.shard.map(|sh| json!({"index": sh.index, "count": sh.count})),
        },
        "lines_processed": s.lines_processed.load(Ordering::Relaxed),
        "formats": s.formats.lock().expect("not poisoned").clone(),
        "state": {
            "persistent": s.state_problem.lock().expect("not poisoned").is_none(),
            "problem": s.state_problem.lock().expect("not poisoned").clone(),
        },
        "training": training,
        "maintenance": s.maintenance_status(),
        "dismissed": s.dismissed.lock().expect("not poisoned").clone(),
        "recent_incidents": recent_incidents,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct RebaselineQuery {
    endpoint: Option<String>,
}

/// Endpoint names listed with a 404, at most.
const KNOWN_LISTED: usize = 100;

/// `POST /api/v1/rebaseline?endpoint=GET%20/api/products` (`endpoint=*`: everything).
async fn rebaseline(State(Ctx { state: s, .. }): State<Ctx>, Query(q): Query<RebaselineQuery>) -> Response {
    let Some(endpoint) = q.endpoint.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) else {
        let error = "missing query parameter `endpoint`, e.g. ?endpoint=GET%20/api/products (or * for every endpoint)";
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    };
    match s.rebaseline(endpoint).await {
        Some(Ok(done)) => Json(done).into_response(),
        Some(Err(e)) => {
            let RebaselineError::UnknownEndpoint { known, .. } = &e;
            let listed: Vec<&String> = known.iter().take(KNOWN_LISTED).collect();
            (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string(), "known_endpoints": listed }))).into_response()
        }
        None => {
            let error = "the pipeline is not running (the input ended or the daemon is stopping)";
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error }))).into_response()
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct PatternsQuery {
    limit: Option<usize>,
    service: Option<String>,
}

/// `GET /api/v1/patterns?limit=50&service=checkout`: the templates of application logs (top by
/// lines, top error templates, new in the last hour) and per service their counts.
async fn patterns(State(Ctx { state: s, .. }): State<Ctx>, Query(q): Query<PatternsQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    match s.patterns(limit, q.service).await {
        Some(report) => Json(report).into_response(),
        None => not_running(),
    }
}

fn not_running() -> Response {
    let error = "the pipeline is not running (the input ended or the daemon is stopping)";
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": error }))).into_response()
}

/// `POST /api/v1/incidents/{id}/dismiss`: the incident was a false alarm (see
/// [`crate::detect::dismiss`]).
async fn dismiss(State(Ctx { state: s, .. }): State<Ctx>, Path(id): Path<String>) -> Response {
    match s.dismiss(&id).await {
        Some(Some(d)) => Json(json!({ "dismissed": d })).into_response(),
        Some(None) => not_running(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no recent incident has the id {id:?} (see GET /api/v1/incidents)") })),
        )
            .into_response(),
    }
}

/// `DELETE /api/v1/incidents/{id}/dismiss`: undo a dismissal.
async fn undismiss(State(Ctx { state: s, .. }): State<Ctx>, Path(id): Path<String>) -> Response {
    match s.undismiss(&id).await {
        Some(Some(d)) => Json(json!({ "undone": d })).into_response(),
        Some(None) => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("incident {id:?} is not dismissed") })))
            .into_response(),
        None => not_running(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Anomaly;

    fn anomaly(kind: AnomalyKind, severity: Severity) -> Arc<Anomaly> {
        Arc::new(Anomaly {
            line: None,
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            kind,
            detectors: vec![],
            score: 0.9,
            severity,
            endpoint: "GET /a".into(),
            client: None,
            session: None,
            reason: String::new(),
            features: vec![],
            raw: None,
        })
    }

    #[test]
    fn lists_filter_by_kind_and_severity_then_limit() {
        let items = vec![
            anomaly(AnomalyKind::ResponseTime, Severity::High),
            anomaly(AnomalyKind::Volume, Severity::High),
            anomaly(AnomalyKind::ResponseTime, Severity::Low),
            anomaly(AnomalyKind::ResponseTime, Severity::High),
        ];
        let q = |limit, kind: Option<&str>, severity: Option<&str>| ListQuery {
            limit,
            kind: kind.map(String::from),
            severity: severity.map(String::from),
        };
        let facets = |a: &Anomaly| (a.kind, a.severity);
        assert_eq!(q(None, None, None).select(items.clone(), facets).len(), 4);
        assert_eq!(q(None, Some("response_time"), None).select(items.clone(), facets).len(), 3);
        assert_eq!(q(None, Some("response_time"), Some("high")).select(items.clone(), facets).len(), 2);
        let first = q(Some(1), Some("response_time"), Some("low")).select(items.clone(), facets);
        assert!(Arc::ptr_eq(&first[0], &items[2]));
        assert!(q(None, Some("nope"), None).select(items, facets).is_empty());
    }
}
